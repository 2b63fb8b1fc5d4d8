/* Solarman V5: the framing that Solarman (IGEN-Tech) data loggers put around
 * Modbus RTU on TCP port 8899 (docs/design.md, "Vendor documents" and "Known
 * errors in the vendor documents"). Pure codec: functions over caller-owned buffers, no I/O, no
 * globals, so that the unit tests and fuzzers can drive it alone.
 *
 * Frame layout (every header field little-endian):
 *   0      start 0xA5
 *   1..2   payload length (= frame length - 13)
 *   3..4   control code, on the wire `10 45` (request), `10 15` (answer) ...
 *   5      sequence: the client's byte, echoed by the logger
 *   6      second sequence byte (0 from us; the logger puts its own there)
 *   7..10  logger serial
 *   11..   payload
 *   n-2    checksum: sum of bytes 1..n-3, & 0xFF
 *   n-1    end 0x15
 * Request payload: frame type 0x02, sensor type (2), three times (4 each), RTU.
 * Answer payload:  frame type, status, three times (4 each), RTU. */
#ifndef CODEC_V5_H
#define CODEC_V5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define V5_START 0xA5
#define V5_END 0x15
#define V5_HEADER 11	 /* start .. serial */
#define V5_OVERHEAD 13	 /* header + checksum + end */
#define V5_REQ_PREFIX 15 /* request payload before the RTU frame */
#define V5_ANS_PREFIX 14 /* answer payload before the RTU frame */
/* Largest payload the stream parser accepts. Modbus answers need at most
 * 14 + 257 bytes; logger data pushes (10 42) are a few hundred. A start byte
 * that claims more is taken for garbage. */
#define V5_MAX_PAYLOAD 1024
#define V5_MAX_FRAME (V5_OVERHEAD + V5_MAX_PAYLOAD)
/* An RTU frame holds at most 256 bytes (+2 for a doubled CRC). */
#define V5_RTU_MAX 258
/* A logger error answer: 29 bytes in all, an RTU part of 2 bytes. */
#define V5_LOGGER_ERROR_LEN 29
#define V5_TIME_ANSWER_LEN 23

/* Control codes as the little-endian value of bytes 3..4 (`10 45` = 0x4510). */
enum v5_control {
	V5_CTRL_HANDSHAKE = 0x4110, /* logger -> server after connecting */
	V5_CTRL_DATA = 0x4210,	    /* logger's periodic data push */
	V5_CTRL_INFO = 0x4310,	    /* logger firmware, IP, SSID */
	V5_CTRL_REQUEST = 0x4510,   /* client -> logger: Modbus RTU request */
	V5_CTRL_HEARTBEAT = 0x4710, /* logger keep-alive */
	V5_CTRL_REPORT = 0x4810,    /* logger status report */
	V5_CTRL_ANSWER = 0x1510,    /* logger -> client: Modbus RTU answer */
};

/* What the logger said when it could not pass a request on (first byte of
 * the 2-byte RTU part of a logger error answer). */
enum v5_logger_error {
	V5_LOGGER_SLAVE = 0x05,	 /* no answer from that slave address */
	V5_LOGGER_SERIAL = 0x06, /* the request named another logger's serial */
};

/* A decoded frame. payload points into the buffer that was decoded and is
 * valid as long as it is. */
struct v5_frame {
	uint16_t control;
	uint8_t seq;	/* byte 5 */
	uint8_t seq_hi; /* byte 6 */
	uint32_t serial;
	const uint8_t *payload;
	size_t payload_len;
	size_t len; /* whole frame */
};

/* The sum every V5 checksum uses: bytes [0, len) added, & 0xFF. */
uint8_t codec_v5_sum(const uint8_t *buf, size_t len);

/* Encode f (control, seq, seq_hi, serial, payload) with length, checksum and
 * end. Returns the frame length or MB_ETOOBIG. */
int codec_v5_encode(uint8_t *out, size_t cap, const struct v5_frame *f);

/* A request frame around an RTU request (frame type 0x02, sensor type and
 * times zero, sequence bytes `seq 00`). Returns the length or MB_ETOOBIG. */
int codec_v5_encode_request(uint8_t *out, size_t cap, uint32_t serial, uint8_t seq,
			    const uint8_t *rtu, size_t rtu_len);

/* An answer frame around an RTU answer (frame type 0x02, status 0x01, times
 * as given); for simulators and tests. rtu may be a 2-byte logger error. */
int codec_v5_encode_answer(uint8_t *out, size_t cap, uint32_t serial, uint8_t seq, uint8_t seq_hi,
			   uint32_t uptime, const uint8_t *rtu, size_t rtu_len);

/* Decode one complete frame at buf[0..len): start, length (payload length =
 * frame length - 13; len may be longer than the frame), checksum and end.
 * Returns 0, MB_ESHORT (not all of it yet), MB_EPARSE (start, end, or a
 * length over V5_MAX_PAYLOAD, which the stream parser drops too) or
 * MB_ECRC (checksum). */
int codec_v5_decode(const uint8_t *buf, size_t len, struct v5_frame *f);

/* Is f a frame the logger sends of its own accord (heartbeat, handshake,
 * data, info, report, or any other `10 4x` code but a request)? */
bool codec_v5_is_unsolicited(const struct v5_frame *f);

/* The time answer a logger expects for an unsolicited frame f (23 bytes):
 * control = f's control - 0x3000 (`10 47` -> `10 17`), sequence byte 5 = f's
 * + 1 and byte 6 echoed, f's serial, payload `00 01` (frame type, status),
 * unix time LE, 4 zero bytes. Returns the length or MB_ETOOBIG / MB_EINVAL. */
int codec_v5_encode_time_answer(uint8_t *out, size_t cap, const struct v5_frame *f,
				uint32_t unix_time);

/* An answer to one of our requests, checked. */
struct v5_answer {
	const uint8_t *rtu; /* the RTU frame inside (a doubled CRC is kept here) */
	size_t rtu_len;
	uint8_t logger_error; /* enum v5_logger_error (or another code), 0 = none */
};

/* Check that f answers request (serial, seq): control `10 15`, sequence byte,
 * serial, a payload long enough. A logger error answer (RTU part of 2 bytes)
 * is accepted on the sequence alone, because a serial mismatch is what it may
 * report. Returns 0, MB_EPROTO (control), MB_EID (sequence or serial) or
 * MB_EPARSE (payload). */
int codec_v5_check_answer(const struct v5_frame *f, uint32_t serial, uint8_t seq,
			  struct v5_answer *a);

/* --- stream parser --------------------------------------------------------- */

/* Reassembles frames from arbitrary TCP chunks in a caller-owned buffer of at
 * least V5_MAX_FRAME bytes. Bytes that cannot start a valid frame (stray
 * `AT+...` text, broken frames) are skipped and counted. */
struct v5_stream {
	uint8_t *buf;
	size_t cap, used, head;
	uint64_t dropped_bytes;	 /* garbage skipped */
	uint64_t dropped_frames; /* complete-looking frames with bad checksum/end */
};

/* 0, or MB_EINVAL when cap < V5_MAX_FRAME. */
int codec_v5_stream_init(struct v5_stream *s, uint8_t *buf, size_t cap);
/* Forget everything buffered (after a reconnect or an abandoned request). */
void codec_v5_stream_reset(struct v5_stream *s);
/* Append up to len bytes; returns how many were taken (fewer when the buffer
 * is full: call codec_v5_stream_next until it returns 0, then feed the rest). */
size_t codec_v5_stream_feed(struct v5_stream *s, const uint8_t *data, size_t len);
/* The next complete frame: 1 (f filled, valid until the next feed/next/reset
 * call) or 0 (need more bytes). Never fails: garbage is skipped. */
int codec_v5_stream_next(struct v5_stream *s, struct v5_frame *f);

/* --- Modbus RTU inside ------------------------------------------------------ */

/* RTU requests, CRC-16/MODBUS low byte first. Return the length or MB_ETOOBIG
 * / MB_EINVAL (count out of range). */
int codec_v5_rtu_read(uint8_t *out, size_t cap, uint8_t slave, uint8_t fc, uint16_t addr,
		      uint16_t count);
int codec_v5_rtu_write_single(uint8_t *out, size_t cap, uint8_t slave, uint16_t addr,
			      uint16_t value);
int codec_v5_rtu_write_multiple(uint8_t *out, size_t cap, uint8_t slave, uint16_t addr,
				uint16_t count, const uint16_t *words);

/* A decoded RTU request (for simulators). */
struct v5_rtu_request {
	uint8_t slave, fc;
	uint16_t addr, count; /* FC06: count 1 */
	const uint8_t *data;  /* FC06/FC16: count big-endian words */
};
/* Returns 0, MB_ESHORT, MB_EPARSE (length, byte count, function) or MB_ECRC. */
int codec_v5_rtu_request_decode(const uint8_t *rtu, size_t len, struct v5_rtu_request *r);

/* RTU answers (for simulators and tests). */
int codec_v5_rtu_read_answer(uint8_t *out, size_t cap, uint8_t slave, uint8_t fc,
			     const uint16_t *words, uint16_t count);
int codec_v5_rtu_write_answer(uint8_t *out, size_t cap, uint8_t slave, uint8_t fc, uint16_t addr,
			      uint16_t value_or_count);
int codec_v5_rtu_exception(uint8_t *out, size_t cap, uint8_t slave, uint8_t fc, uint8_t code);

/* A decoded RTU answer. */
struct v5_rtu_answer {
	uint8_t slave, fc;   /* fc without the exception bit */
	uint8_t exception;   /* Modbus exception code, 0 = none */
	const uint8_t *data; /* reads: nbytes of big-endian words */
	uint16_t nbytes;
	uint16_t addr, value; /* writes: echoed address and value (06) / quantity (16) */
	int double_crc;	      /* a trailing `00 00` after the CRC was dropped */
};
/* Decode an RTU answer: length from the function code (and byte count), CRC,
 * and a trailing `00 00` second CRC that some Deye units append. Returns 0,
 * MB_ESHORT, MB_EPARSE or MB_ECRC. */
int codec_v5_rtu_answer_decode(const uint8_t *rtu, size_t len, struct v5_rtu_answer *a);

#endif
