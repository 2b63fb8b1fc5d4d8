/* Solarman V5 codec (see include/codec_v5.h for the frame layout). Pure functions
 * over caller-owned buffers. */
#include "codec_v5.h"

#include <string.h>

#include "codec_crc16.h"
#include "mb_error.h"
#include "mbdef.h"
#include "codec_pdu.h"

static void codec_v5__put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v & 0xFF);
	p[1] = (uint8_t)(v >> 8);
}

static void codec_v5__put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t codec_v5__get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t codec_v5__get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint8_t codec_v5_sum(const uint8_t *buf, size_t len)
{
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += buf[i];
	return (uint8_t)(sum & 0xFF);
}

int codec_v5_encode(uint8_t *out, size_t cap, const struct v5_frame *f)
{
	if (f->payload_len > 0xFFFF || cap < V5_OVERHEAD + f->payload_len)
		return MB_ETOOBIG;
	size_t n = V5_OVERHEAD + f->payload_len;
	out[0] = V5_START;
	codec_v5__put16(out + 1, (uint16_t)f->payload_len);
	codec_v5__put16(out + 3, f->control);
	out[5] = f->seq;
	out[6] = f->seq_hi;
	codec_v5__put32(out + 7, f->serial);
	if (f->payload_len)
		memmove(out + V5_HEADER, f->payload, f->payload_len);
	/* The checksum covers everything between start and checksum. */
	out[n - 2] = codec_v5_sum(out + 1, n - 3);
	out[n - 1] = V5_END;
	return (int)n;
}

int codec_v5_encode_request(uint8_t *out, size_t cap, uint32_t serial, uint8_t seq,
			    const uint8_t *rtu, size_t rtu_len)
{
	uint8_t payload[V5_REQ_PREFIX + V5_RTU_MAX];
	if (rtu_len > V5_RTU_MAX)
		return MB_ETOOBIG;
	/* Frame type 0x02 (the inverter), sensor type and the three times zero,
	 * as every public client sends them. */
	memset(payload, 0, V5_REQ_PREFIX);
	payload[0] = 0x02;
	memcpy(payload + V5_REQ_PREFIX, rtu, rtu_len);
	struct v5_frame f = {.control = V5_CTRL_REQUEST,
			     .seq = seq,
			     .seq_hi = 0,
			     .serial = serial,
			     .payload = payload,
			     .payload_len = V5_REQ_PREFIX + rtu_len};
	return codec_v5_encode(out, cap, &f);
}

int codec_v5_encode_answer(uint8_t *out, size_t cap, uint32_t serial, uint8_t seq, uint8_t seq_hi,
			   uint32_t uptime, const uint8_t *rtu, size_t rtu_len)
{
	uint8_t payload[V5_ANS_PREFIX + V5_RTU_MAX];
	if (rtu_len > V5_RTU_MAX)
		return MB_ETOOBIG;
	payload[0] = 0x02;		      /* frame type: the inverter */
	payload[1] = 0x01;		      /* status: real-time data */
	codec_v5__put32(payload + 2, uptime); /* total working time */
	codec_v5__put32(payload + 6, uptime); /* power-on time */
	codec_v5__put32(payload + 10, 0);     /* offset time */
	memcpy(payload + V5_ANS_PREFIX, rtu, rtu_len);
	struct v5_frame f = {.control = V5_CTRL_ANSWER,
			     .seq = seq,
			     .seq_hi = seq_hi,
			     .serial = serial,
			     .payload = payload,
			     .payload_len = V5_ANS_PREFIX + rtu_len};
	return codec_v5_encode(out, cap, &f);
}

int codec_v5_decode(const uint8_t *buf, size_t len, struct v5_frame *f)
{
	if (len < 1)
		return MB_ESHORT;
	if (buf[0] != V5_START)
		return MB_EPARSE;
	if (len < 3)
		return MB_ESHORT;
	size_t plen = codec_v5__get16(buf + 1);
	/* As the stream parser judges it: no logger sends more, and a frame
	 * decoded here is re-encoded into V5_MAX_FRAME bytes. */
	if (plen > V5_MAX_PAYLOAD)
		return MB_EPARSE;
	size_t flen = plen + V5_OVERHEAD;
	if (len < flen)
		return MB_ESHORT;
	if (buf[flen - 1] != V5_END)
		return MB_EPARSE;
	if (buf[flen - 2] != codec_v5_sum(buf + 1, flen - 3))
		return MB_ECRC;
	f->control = codec_v5__get16(buf + 3);
	f->seq = buf[5];
	f->seq_hi = buf[6];
	f->serial = codec_v5__get32(buf + 7);
	f->payload = buf + V5_HEADER;
	f->payload_len = plen;
	f->len = flen;
	return 0;
}

bool codec_v5_is_unsolicited(const struct v5_frame *f)
{
	/* Loggers use `10 4x` for what they send on their own; `10 45` is ours. */
	return (f->control & 0xFF) == 0x10 && (f->control >> 8) >= 0x40 &&
	       (f->control >> 8) <= 0x4F && f->control != V5_CTRL_REQUEST;
}

int codec_v5_encode_time_answer(uint8_t *out, size_t cap, const struct v5_frame *f,
				uint32_t unix_time)
{
	/* Layout from the public descriptions of the protocol: the pysolarmanv5
	 * documentation and source (its time response frame) and the
	 * node-red-sofar-inverter message notes (decode_srv-response.md). The
	 * answer code is the request code - 0x30 in the second byte (47 -> 17),
	 * byte 5 is the logger's + 1 and byte 6 echoed, and the 10-byte payload
	 * is frame type 0x00, status 0x01, the unix time and a zero offset. */
	if ((f->control >> 8) < 0x30)
		return MB_EINVAL;
	uint8_t payload[10];
	payload[0] = 0x00;
	payload[1] = 0x01;
	codec_v5__put32(payload + 2, unix_time);
	codec_v5__put32(payload + 6, 0);
	struct v5_frame a = {.control = (uint16_t)(f->control - 0x3000),
			     .seq = (uint8_t)(f->seq + 1),
			     .seq_hi = f->seq_hi,
			     .serial = f->serial,
			     .payload = payload,
			     .payload_len = sizeof payload};
	return codec_v5_encode(out, cap, &a);
}

int codec_v5_check_answer(const struct v5_frame *f, uint32_t serial, uint8_t seq,
			  struct v5_answer *a)
{
	if (f->control != V5_CTRL_ANSWER)
		return MB_EPROTO;
	if (f->payload_len < V5_ANS_PREFIX + 2)
		return MB_EPARSE;
	if (f->seq != seq)
		return MB_EID;
	a->rtu = f->payload + V5_ANS_PREFIX;
	a->rtu_len = f->payload_len - V5_ANS_PREFIX;
	a->logger_error = 0;
	if (a->rtu_len == 2) {
		/* The logger's own refusal. It carries the logger's serial, which is
		 * exactly what differs when it reports a serial mismatch, so the
		 * sequence byte alone ties it to our request. */
		a->logger_error = a->rtu[0] ? a->rtu[0] : 0xFF;
		return 0;
	}
	if (f->serial != serial)
		return MB_EID;
	if (a->rtu_len < 5)
		return MB_EPARSE;
	return 0;
}

/* --- stream parser --------------------------------------------------------- */

int codec_v5_stream_init(struct v5_stream *s, uint8_t *buf, size_t cap)
{
	memset(s, 0, sizeof *s);
	if (!buf || cap < V5_MAX_FRAME)
		return MB_EINVAL;
	s->buf = buf;
	s->cap = cap;
	return 0;
}

void codec_v5_stream_reset(struct v5_stream *s)
{
	s->used = s->head = 0;
}

static void codec_v5__compact(struct v5_stream *s)
{
	if (s->head == 0)
		return;
	memmove(s->buf, s->buf + s->head, s->used - s->head);
	s->used -= s->head;
	s->head = 0;
}

size_t codec_v5_stream_feed(struct v5_stream *s, const uint8_t *data, size_t len)
{
	codec_v5__compact(s);
	size_t room = s->cap - s->used;
	size_t n = len < room ? len : room;
	memcpy(s->buf + s->used, data, n);
	s->used += n;
	return n;
}

int codec_v5_stream_next(struct v5_stream *s, struct v5_frame *f)
{
	for (;;) {
		size_t avail = s->used - s->head;
		const uint8_t *p = s->buf + s->head;
		if (avail == 0) {
			s->used = s->head = 0;
			return 0;
		}
		if (p[0] != V5_START) {
			const uint8_t *a = memchr(p, V5_START, avail);
			size_t skip = a ? (size_t)(a - p) : avail;
			s->head += skip;
			s->dropped_bytes += skip;
			continue;
		}
		if (avail < 3) {
			codec_v5__compact(s);
			return 0;
		}
		size_t plen = codec_v5__get16(p + 1);
		if (plen > V5_MAX_PAYLOAD) {
			s->head++;
			s->dropped_bytes++;
			continue;
		}
		size_t flen = plen + V5_OVERHEAD;
		if (avail < flen) {
			/* The buffer holds V5_MAX_FRAME, so the rest will fit. */
			codec_v5__compact(s);
			return 0;
		}
		int rc = codec_v5_decode(p, flen, f);
		if (rc == 0) {
			s->head += flen;
			return 1;
		}
		if (rc == MB_ECRC) {
			/* Start, length and end agree: a real frame that got damaged.
			 * Skip it whole rather than hunt for starts inside it. */
			s->head += flen;
			s->dropped_frames++;
		} else {
			/* A 0xA5 that only looked like a start (stray text, data). */
			s->head++;
			s->dropped_bytes++;
		}
	}
}

/* --- Modbus RTU ------------------------------------------------------------- */

/* An RTU frame around a PDU already built at out + 1 (pdulen, or the
 * builder's error): the slave address in front, the CRC behind. */
static int codec_v5__rtu(uint8_t *out, uint8_t slave, int pdulen)
{
	if (pdulen < 0)
		return pdulen;
	out[0] = slave;
	return (int)codec_crc16_append(out, 1 + (size_t)pdulen);
}

/* Room for the PDU after the slave byte and before the CRC. */
static size_t codec_v5__pdu_cap(size_t cap)
{
	return cap > 3 ? cap - 3 : 0;
}

int codec_v5_rtu_read(uint8_t *out, size_t cap, uint8_t slave, uint8_t fc, uint16_t addr,
		      uint16_t count)
{
	if (fc != MB_FC_READ_HOLDING && fc != MB_FC_READ_INPUT)
		return MB_EINVAL;
	return codec_v5__rtu(
	    out, slave, codec_pdu_request(out + 1, codec_v5__pdu_cap(cap), fc, addr, count, NULL));
}

int codec_v5_rtu_write_single(uint8_t *out, size_t cap, uint8_t slave, uint16_t addr,
			      uint16_t value)
{
	return codec_v5__rtu(out, slave,
			     codec_pdu_request(out + 1, codec_v5__pdu_cap(cap), MB_FC_WRITE_SINGLE,
					       addr, 1, &value));
}

int codec_v5_rtu_write_multiple(uint8_t *out, size_t cap, uint8_t slave, uint16_t addr,
				uint16_t count, const uint16_t *words)
{
	return codec_v5__rtu(out, slave,
			     codec_pdu_request(out + 1, codec_v5__pdu_cap(cap),
					       MB_FC_WRITE_MULTIPLE, addr, count, words));
}

int codec_v5_rtu_request_decode(const uint8_t *rtu, size_t len, struct v5_rtu_request *r)
{
	size_t want;
	memset(r, 0, sizeof *r);
	if (len < 4)
		return MB_ESHORT;
	r->slave = rtu[0];
	r->fc = rtu[1];
	switch (r->fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
	case MB_FC_WRITE_SINGLE:
		want = 8;
		break;
	case MB_FC_WRITE_MULTIPLE:
		if (len < 9)
			return MB_ESHORT;
		want = 9 + (size_t)rtu[6];
		break;
	default:
		/* Unknown function: only the CRC over what came can be checked;
		 * the caller answers it with exception 01. */
		want = len;
		break;
	}
	if (len < want)
		return MB_ESHORT;
	if (len > want)
		return MB_EPARSE;
	if (!codec_crc16_ok(rtu, len))
		return MB_ECRC;
	if (r->fc == MB_FC_READ_HOLDING || r->fc == MB_FC_READ_INPUT ||
	    r->fc == MB_FC_WRITE_MULTIPLE) {
		r->addr = codec_pdu_get16(rtu + 2);
		r->count = codec_pdu_get16(rtu + 4);
	} else if (r->fc == MB_FC_WRITE_SINGLE) {
		r->addr = codec_pdu_get16(rtu + 2);
		r->count = 1;
		r->data = rtu + 4;
	}
	if (r->fc == MB_FC_WRITE_MULTIPLE) {
		if (rtu[6] != 2 * r->count)
			return MB_EPARSE;
		r->data = rtu + 7;
	}
	return 0;
}

int codec_v5_rtu_read_answer(uint8_t *out, size_t cap, uint8_t slave, uint8_t fc,
			     const uint16_t *words, uint16_t count)
{
	return codec_v5__rtu(
	    out, slave, codec_pdu_read_answer(out + 1, codec_v5__pdu_cap(cap), fc, words, count));
}

int codec_v5_rtu_write_answer(uint8_t *out, size_t cap, uint8_t slave, uint8_t fc, uint16_t addr,
			      uint16_t value_or_count)
{
	return codec_v5__rtu(
	    out, slave,
	    codec_pdu_write_answer(out + 1, codec_v5__pdu_cap(cap), fc, addr, value_or_count));
}

int codec_v5_rtu_exception(uint8_t *out, size_t cap, uint8_t slave, uint8_t fc, uint8_t code)
{
	if (cap < 5)
		return MB_ETOOBIG;
	out[0] = slave;
	out[1] = (uint8_t)(fc | 0x80);
	out[2] = code;
	return (int)codec_crc16_append(out, 3);
}

int codec_v5_rtu_answer_decode(const uint8_t *rtu, size_t len, struct v5_rtu_answer *a)
{
	size_t want;
	memset(a, 0, sizeof *a);
	if (len < 5)
		return MB_ESHORT;
	a->slave = rtu[0];
	a->fc = rtu[1] & 0x7F;
	if (rtu[1] & 0x80) {
		want = 5;
	} else if (a->fc == MB_FC_READ_HOLDING || a->fc == MB_FC_READ_INPUT) {
		if (rtu[2] & 1)
			return MB_EPARSE;
		want = 5 + (size_t)rtu[2];
	} else if (a->fc == MB_FC_WRITE_SINGLE || a->fc == MB_FC_WRITE_MULTIPLE) {
		want = 8;
	} else {
		return MB_EPARSE;
	}
	if (len < want)
		return MB_ESHORT;
	if (len == want + 2 && rtu[want] == 0 && rtu[want + 1] == 0) {
		/* Some Deye units append a second, zero CRC. */
		a->double_crc = 1;
	} else if (len != want) {
		return MB_EPARSE;
	}
	if (!codec_crc16_ok(rtu, want))
		return MB_ECRC;
	if (rtu[1] & 0x80) {
		a->exception = rtu[2];
		if (a->exception == 0)
			return MB_EPARSE;
	} else if (a->fc == MB_FC_READ_HOLDING || a->fc == MB_FC_READ_INPUT) {
		a->nbytes = rtu[2];
		a->data = rtu + 3;
	} else {
		a->addr = codec_pdu_get16(rtu + 2);
		a->value = codec_pdu_get16(rtu + 4);
	}
	return 0;
}
