/* Modbus constants shared by the server, the device model and the transports. */
#ifndef MBDEF_H
#define MBDEF_H

enum mb_fc {
	MB_FC_READ_HOLDING = 0x03,
	MB_FC_READ_INPUT = 0x04,
	MB_FC_WRITE_SINGLE = 0x06,
	MB_FC_WRITE_MULTIPLE = 0x10,
	MB_FC_MEI = 0x2B,
};

/* Exception codes (docs/design.md, "Modbus exception codes"). */
enum mb_exc {
	MB_EXC_NONE = 0,
	MB_EXC_ILLEGAL_FUNCTION = 0x01,
	MB_EXC_ILLEGAL_ADDRESS = 0x02,
	MB_EXC_ILLEGAL_VALUE = 0x03,
	MB_EXC_DEVICE_FAILURE = 0x04,
	MB_EXC_GATEWAY_PATH = 0x0A,
	MB_EXC_GATEWAY_TARGET = 0x0B,
};

#define MB_MAX_READ 125	 /* registers in one FC03/FC04 answer */
#define MB_MAX_WRITE 123 /* registers in one FC16 request */

#endif
