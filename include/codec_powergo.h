/* PowerGo MQTT frames (the PowerGo MQTT interface document, section 2.2;
 * docs/design.md, "Known errors in the vendor documents"). A frame is a 9-byte header — the
 * 4-byte source ID, the 4-byte destination ID, the byte 0x03 — followed by a
 * Modbus RTU message with slave address 0x51 whose CRC-16/MODBUS covers the
 * RTU part only (from 0x51), low byte first.
 *
 * Pure functions over buffers: no I/O, no globals. They return a length or
 * 0 on success, a negative MB_E* code on failure; each way an answer can be
 * wrong has its own code so that the transport can count and log it. */
#ifndef CODEC_POWERGO_H
#define CODEC_POWERGO_H

#include <stddef.h>
#include <stdint.h>

#define POWERGO_HDR_LEN 9     /* source ID, destination ID, 0x03 */
#define POWERGO_MQTT_FC 0x03  /* "transparent transmission" marker, byte 8 */
#define POWERGO_RTU_ADDR 0x51 /* the RTU slave address, byte 9 */
#define POWERGO_MAX_FRAME 100 /* section 4: no instruction exceeds 100 bytes */

/* Registers per instruction so that neither the instruction nor its answer
 * exceeds 100 bytes:
 *   read answer  = 9 header + 0x51 + fc + byte count + 2n + 2 CRC = 14 + 2n <= 100 -> n <= 43
 *   (the read instruction itself is always 9 + 1 + 1 + 4 + 2 = 17 bytes);
 *   FC16 instruction = 9 + 0x51 + fc + addr(2) + count(2) + byte count + 2n + 2 CRC
 *                    = 18 + 2n <= 100 -> n <= 41 (its echo answer is 17 bytes). */
#define POWERGO_MAX_READ 43
#define POWERGO_MAX_WRITE 41

/* Longest request or answer the codec builds or accepts: a full Modbus PDU
 * (125 registers) with the header, for callers that do not care about the
 * 100-byte rule (the simulator checks it separately). */
#define POWERGO_BUF_LEN (POWERGO_HDR_LEN + 1 + 1 + 4 + 1 + 2 * 125 + 2)

/* An ID string as the config and the topics carry it: exactly 8 hex digits
 * (either case). 0 or MB_EINVAL. */
int codec_powergo_parse_id(const char *s, uint32_t *id);
/* The topic form of an ID: 8 upper-case hex digits and a NUL. */
void codec_powergo_format_id(uint32_t id, char out[9]);

/* Wrap a PDU (function code + data) into a frame from src to dst: header,
 * 0x51, the PDU, the CRC. Returns the frame length, MB_ETOOBIG if it does not
 * fit buflen, MB_EINVAL for an empty PDU. */
int codec_powergo_frame(uint32_t src, uint32_t dst, const uint8_t *pdu, size_t pdulen, uint8_t *buf,
			size_t buflen);

/* A request from the application to the device. */
struct powergo_req {
	uint32_t app, device;  /* source and destination of the request */
	uint8_t fc;	       /* 0x03, 0x04 (reads), 0x06, 0x10 (writes) */
	uint16_t addr, count;  /* FC06: count is 1 */
	const uint16_t *words; /* writes: count values */
};

/* Build the request frame. Returns its length; MB_EINVAL for an unknown
 * function code or a count of 0, over 125 (reads) / 123 (FC16) or not 1
 * (FC06); MB_ETOOBIG if buflen is too small. The 100-byte rule is the
 * caller's (POWERGO_MAX_READ/POWERGO_MAX_WRITE). */
int codec_powergo_encode_request(const struct powergo_req *r, uint8_t *buf, size_t buflen);

/* A decoded answer to a request. */
struct powergo_answer {
	uint8_t fc;	   /* the function code answered */
	uint8_t exception; /* the device's Modbus exception code, 0 if none */
	uint16_t count;	   /* reads: words in words[] */
	uint16_t words[125];
};

/* Decode buf as the answer to req. Checks, in this order:
 *   shorter than the shortest answer (14 bytes)       MB_ESHORT
 *   byte 8 is not 0x03                                MB_EPROTO
 *   source != req->device or destination != req->app  MB_EID
 *   RTU address is not 0x51                           MB_EADDR
 *   CRC over the RTU part                             MB_ECRC
 *   function code is neither req->fc nor req->fc|0x80 MB_EFUNC
 *   byte count != 2 * req->count (reads)              MB_ERANGE
 *   frame shorter / longer than its content says      MB_ESHORT / MB_ETOOBIG
 *   write echo with another address, value or count,
 *   or an exception answer with code 0                MB_EPARSE
 * A device exception (fc|0x80, code) decodes to 0 with out->exception set. */
int codec_powergo_decode_answer(const struct powergo_req *req, const uint8_t *buf, size_t len,
				struct powergo_answer *out);

/* --- the device side (simulator, fuzzing) ------------------------------- */

/* A request as the device sees it. */
struct powergo_request_in {
	uint32_t src, dst;
	uint8_t fc;
	uint16_t addr, count;
	uint16_t words[123]; /* writes */
};

/* Decode a request addressed to device (any destination if device is 0).
 * Errors as codec_powergo_decode_answer; an unsupported function code is
 * MB_EFUNC, a count of 0 or over 125/123 (or an FC16 byte count that does
 * not match) MB_ERANGE. */
int codec_powergo_decode_request(const uint8_t *buf, size_t len, uint32_t device,
				 struct powergo_request_in *out);
/* Answers from device to app: a read (fc 03/04, count words), a write echo
 * (FC06: addr, value; FC16: addr, count), an exception. Frame length or
 * MB_ETOOBIG / MB_EINVAL. */
int codec_powergo_encode_read_answer(uint32_t device, uint32_t app, uint8_t fc,
				     const uint16_t *words, uint16_t count, uint8_t *buf,
				     size_t buflen);
int codec_powergo_encode_write_answer(uint32_t device, uint32_t app, uint8_t fc, uint16_t addr,
				      uint16_t value_or_count, uint8_t *buf, size_t buflen);
int codec_powergo_encode_exception(uint32_t device, uint32_t app, uint8_t fc, uint8_t code,
				   uint8_t *buf, size_t buflen);

#endif
