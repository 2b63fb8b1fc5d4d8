/* A Solarman V5 data logger with a Growatt inverter behind it, for the
 * end-to-end tests and the demo. It listens on 127.0.0.1 only and answers V5
 * request frames from two register tables seeded with known values (the same
 * values tests/e2e/test_solarman.c expects).
 *
 *   sim_solarman --port P [--serial N] [--slave N] [--control FILE]
 *                [--heartbeat] [--split] [--at] [--close-after N] [--silent]
 *                [--badsum] [--double-crc] [--profile NAME]
 *
 * Profiles choose the inverter behind the logger: growatt (the default: the
 * Growatt registers above), growatt-hybrid (those plus a Growatt SPH's and a
 * TL-XH's storage registers), deye-hybrid, deye-hybrid-3p, deye-string. The
 * values of the newer profiles are raw words the tests chose, written word by
 * word as the device would send them (tests/e2e/test_evcc_templates.c holds
 * the same words and decodes them as evcc would).
 *
 * Modes, as flags or as words in the control file (re-read before every
 * request; its words are applied over the command line's, so that a test can
 * switch the running server): heartbeat (a heartbeat frame before each
 * answer), split (answers written in small pieces with pauses), at (stray
 * `AT+...` text before each answer), close-after=N (close a connection after
 * N answers), silent (answer nothing), badsum (wrong values with a wrong
 * checksum), double-crc (a second `00 00` CRC, as some Deye units send),
 * serial=N and slave=N (the logger's own serial and the inverter's address).
 * A request for another serial gets the logger error 0x06, one for another
 * slave the logger error 0x05, as real loggers answer.
 *
 * Hostile modes: wrong-value (an FC06 echo with another value, the write not
 * applied), wrong-count (an FC16 echo with another quantity, not applied),
 * wrong-seq (answers carry another sequence byte), delay=MS (sleep before
 * answering, so that the answer comes late; logged "late answer sent"),
 * flood=MS (on a request, send heartbeats as fast as possible for MS ms
 * without reading anything, then close the connection), close-mid (send half
 * an answer, then close), garbage (bytes that are no frame, a false start and
 * a frame header of absurd length before each answer), huge (a frame header
 * claiming 65535 bytes and 65535 filler bytes before each answer).
 *
 * Pass-through tests: pattern (every address the seed leaves alone answers
 * sim_pattern(), tests/sim/sim_pattern.h; holding 60000 and up still answer
 * 02) and fail=ADDR:CODE (a request whose range holds ADDR, of either table,
 * is answered with exception CODE; up to 8 such words).
 *
 * Every request is logged to stdout as one line; so is every connection
 * ("connection N") and every time answer the client sends back. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "mb_error.h"
#include "mbdef.h"
#include "codec_v5.h"
#include "sim_pattern.h"

#define SIM_MAX_CLIENTS 16
#define SIM_RX (V5_MAX_FRAME + 512)
/* Holding addresses from here on answer exception 02, so that tests can see a
 * device exception pass through the bridge. */
#define SIM_NO_SUCH_REG 60000

struct sim_mode {
	int heartbeat, split, at, silent, badsum, double_crc;
	int wrong_value, wrong_count, wrong_seq, close_mid, garbage, huge;
	unsigned delay_ms, flood_ms;
	unsigned close_after;
	uint32_t serial;
	int slave;
	int pattern;
	unsigned nfail;
	uint16_t fail_addr[8];
	uint8_t fail_code[8];
};

struct sim_client {
	int fd;
	unsigned id;
	unsigned answers;
	uint8_t rx[SIM_RX];
	struct v5_stream stream;
};

static uint16_t sim__regs[2][65536]; /* [MAP_HOLDING=0 / MAP_INPUT=1] */
static struct sim_mode sim__base;
static const char *sim__control;
static uint8_t sim__hb_seq;
static time_t sim__started;

static void sim__set32(int table, uint16_t addr, uint32_t v)
{
	sim__regs[table][addr] = (uint16_t)(v >> 16); /* Growatt: high word first */
	sim__regs[table][addr + 1] = (uint16_t)(v & 0xFFFF);
}

static void sim__setstr(int table, uint16_t addr, uint16_t n, const char *s)
{
	size_t len = strlen(s);
	for (uint16_t i = 0; i < n; i++) {
		uint8_t hi = 2 * (size_t)i < len ? (uint8_t)s[2 * i] : 0;
		uint8_t lo = 2 * (size_t)i + 1 < len ? (uint8_t)s[2 * i + 1] : 0;
		sim__regs[table][addr + i] = (uint16_t)(hi << 8 | lo);
	}
}

/* Known values; tests/e2e/test_solarman.c holds the same table. */
static void sim__seed(void)
{
	enum { H = 0, I = 1 };
	sim__regs[I][0] = 1;		  /* inverter_status: normal */
	sim__set32(I, 1, 123456);	  /* ppv 12345.6 W */
	sim__regs[I][3] = 3456;		  /* vpv1 345.6 V */
	sim__regs[I][4] = 52;		  /* ipv1 5.2 A */
	sim__set32(I, 5, 70000);	  /* ppv1 7000.0 W */
	sim__regs[I][7] = 3321;		  /* vpv2 */
	sim__regs[I][8] = 41;		  /* ipv2 */
	sim__set32(I, 9, 53456);	  /* ppv2 */
	sim__set32(I, 35, 118000);	  /* pac */
	sim__regs[I][37] = 5001;	  /* fac 50.01 Hz */
	sim__regs[I][38] = 2301;	  /* vac1 */
	sim__regs[I][39] = 171;		  /* iac1 */
	sim__set32(I, 40, 39330);	  /* pac1 */
	sim__regs[I][42] = 2298;	  /* vac2 */
	sim__regs[I][43] = 170;		  /* iac2 */
	sim__set32(I, 44, 39066);	  /* pac2 */
	sim__regs[I][46] = 2305;	  /* vac3 */
	sim__regs[I][47] = 172;		  /* iac3 */
	sim__set32(I, 48, 39646);	  /* pac3 */
	sim__set32(I, 53, 187);		  /* eac_today 18.7 kWh */
	sim__set32(I, 55, 2345678);	  /* eac_total 234567.8 kWh */
	sim__set32(I, 57, 12345678);	  /* time_total, 0.5 s units */
	sim__regs[I][93] = 412;		  /* temp_inverter 41.2 C */
	sim__regs[I][94] = 455;		  /* temp_ipm */
	sim__regs[I][95] = (uint16_t)-35; /* temp_boost -3.5 C */
	/* State words, each a key of Growatt-Local-Modbus's tables
	 * (device_type/base.py), not a value taken from the map:
	 * tests/e2e/test_maps_growatt.c and test_maps_scada.c hold the same. */
	sim__regs[I][104] = 6;	    /* derating: INVERTER_DERATINGMODES 6 "Tinv" */
	sim__regs[I][105] = 26;	    /* fault: INVERTER_FAULTCODES 26 "PV Isolation Low" */
	sim__regs[I][110] = 0x0001; /* warning: INVERTER_WARNINGCODES 0x0001 "Fan warning" */
	sim__regs[I][111] = 0x0007; /* the second word Growatt-Local discards */
	sim__regs[I][98] = 3801;    /* p_bus_voltage */
	sim__regs[I][99] = 3795;    /* n_bus_voltage */
	sim__regs[I][1013] = 524;   /* vbat 52.4 V */
	sim__regs[I][1014] = 77;    /* soc 77 % */
	sim__regs[I][1040] = (uint16_t)-52;  /* battery_temperature -5.2 C */
	sim__setstr(H, 9, 3, "ABC123");	     /* firmware */
	sim__setstr(H, 23, 5, "SN12345678"); /* serial */
	sim__set32(H, 28, 0x12345678);	     /* model */
	/* the newer serial registers, holding 209..223 (30 characters) */
	sim__setstr(H, 209, 15, "NEWSN0123456789ABCDEFGHIJKLMN");
}

/* Raw words, in the order the device keeps them. */
static void sim__words(int table, uint16_t addr, const uint16_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sim__regs[table][addr + i] = w[i];
}
#define SIM_WORDS(t, a, ...)                                                                       \
	sim__words(t, a, (const uint16_t[]){__VA_ARGS__},                                          \
		   sizeof((const uint16_t[]){__VA_ARGS__}) / sizeof(uint16_t))

/* Growatt SPH storage registers (1000..) and TL-XH registers (3000..): 32-bit
 * values high word first. tests/e2e/test_evcc_templates.c holds the same. */
static void sim__seed_growatt_hybrid(void)
{
	enum { H = 0, I = 1 };
	SIM_WORDS(I, 91, 0x0001, 0x86A0);   /* PV energy total */
	SIM_WORDS(I, 1009, 0x0000, 0x2710); /* discharge power */
	SIM_WORDS(I, 1011, 0x0000, 0x09C4); /* charge power */
	SIM_WORDS(I, 1021, 0x0000, 0x0BB8); /* power to user */
	SIM_WORDS(I, 1029, 0x0000, 0x03E8); /* power to grid */
	SIM_WORDS(I, 1046, 0x0002, 0x0000); /* energy to user total */
	SIM_WORDS(I, 1054, 0x0000, 0x3039); /* discharge energy total */
	SIM_WORDS(H, 1092, 0);		    /* AC charge off */
	SIM_WORDS(H, 1100, 0x0000, 0x173B, 0x0000);
	SIM_WORDS(I, 3005, 0x0000, 0x4E20); /* PV1..PV4 power */
	SIM_WORDS(I, 3009, 0x0000, 0x3A98);
	SIM_WORDS(I, 3013, 0x0000, 0x0000);
	SIM_WORDS(I, 3017, 0x0000, 0x0000);
	SIM_WORDS(I, 3041, 0x0001, 0x0000); /* forward power */
	SIM_WORDS(I, 3043, 0x0000, 0x15A0); /* reverse power */
	SIM_WORDS(I, 3053, 0x0010, 0x0000); /* PV energy total */
	SIM_WORDS(I, 3069, 0x0000, 0x10E1); /* energy to user total */
	SIM_WORDS(I, 3127, 0x0000, 0x03E7); /* discharge energy total */
	SIM_WORDS(I, 3171, 88);		    /* SOC */
	SIM_WORDS(I, 3178, 0x0000, 0x0BB8); /* discharge power */
	SIM_WORDS(I, 3180, 0x0000, 0x0000); /* charge power */
	SIM_WORDS(H, 3038, 0x2000, 0x173B); /* battery first slot 1, off */
	SIM_WORDS(H, 3049, 0);		    /* AC charge off */
	/* TL-XH state and grid energy (Growatt-Local-Modbus keys and its
	 * decoding; tests/e2e/test_maps_scada.c holds the same) */
	SIM_WORDS(I, 3000, 5);		    /* InverterStatus 5 PV_charge */
	SIM_WORDS(I, 3067, 0x0000, 0x00C8); /* to user today 20.0 kWh */
	SIM_WORDS(I, 3071, 0x0001, 0x0000); /* to grid today 6553.6 kWh */
	SIM_WORDS(I, 3073, 0x0002, 0x0010); /* to grid total 13108.8 kWh */
	SIM_WORDS(I, 3105, 29);		    /* INVERTER_FAULTCODES 29 "PV Voltage High" */
	SIM_WORDS(I, 3110, 0x0100, 0x0000); /* bit 8 "PV1 or PV2 circuit short" */
}

/* Deye single-phase hybrid: holding registers, 32-bit values low word first. */
static void sim__seed_deye_hybrid(void)
{
	enum { H = 0 };
	SIM_WORDS(H, 72, 0x2345, 0x0001);	     /* battery charge total */
	SIM_WORDS(H, 74, 0x1111, 0x0002);	     /* battery discharge total */
	SIM_WORDS(H, 78, 0x4000, 5002, 0x0003);	     /* import low, frequency, import high */
	SIM_WORDS(H, 81, 0x0064, 0x0001);	     /* export total */
	SIM_WORDS(H, 96, 0x0010, 0x0002);	     /* PV total */
	SIM_WORDS(H, 169, 0xFF38);		     /* grid power -200 W */
	SIM_WORDS(H, 184, 63);			     /* SOC */
	SIM_WORDS(H, 186, 1200, 1100, 0, 0, 0xFC18); /* PV1..4, battery -1000 W */
	/* State, alarm and fault: keys and bits of ha-solarman's deye_hybrid.yaml,
	 * its multi-register values low word first (test_maps_scada.c) */
	SIM_WORDS(H, 59, 2);			      /* Device State 2 "Normal" */
	SIM_WORDS(H, 101, 0x0000, 0x4000);	      /* Device Alarm bit 30 "Battery loss" */
	SIM_WORDS(H, 103, 0x0040, 0x0004, 0, 0x8000); /* Fault bits 6, 18, 63 */
}

/* Deye three-phase LV hybrid: the three blocks evcc reads, every word set
 * (the undescribed ones too, so that a block read shows them passing). */
static void sim__seed_deye_3p(void)
{
	enum { H = 0 };
	for (uint16_t a = 516; a <= 538; a++)
		sim__regs[H][a] = (uint16_t)(0x5100 + a - 516);
	for (uint16_t a = 588; a <= 625; a++)
		sim__regs[H][a] = (uint16_t)(0x5800 + a - 588);
	for (uint16_t a = 667; a <= 675; a++)
		sim__regs[H][a] = (uint16_t)(0x6600 + a - 667);
	SIM_WORDS(H, 516, 0x0100, 0x0002, 0x0200, 0x0001); /* battery charge, discharge */
	SIM_WORDS(H, 522, 0x1000, 0x0003, 0x2000, 0x0000); /* import, export */
	SIM_WORDS(H, 534, 0x0001, 0x0004);		   /* PV total */
	SIM_WORDS(H, 537, 0x0005, 0x0000);		   /* generator total */
	SIM_WORDS(H, 588, 55, 44, 0x01F4);		   /* SOC, SOC 2, battery 500 W */
	SIM_WORDS(H, 595, 0xFF9C);			   /* battery 2 -100 W */
	SIM_WORDS(H, 598, 2301, 2302, 2303);		   /* voltages */
	SIM_WORDS(H, 613, 0x01F4, 0xFE0C, 0x0064);	   /* currents 5, -5, 1 A */
	SIM_WORDS(H, 625, 0xFC18);			   /* grid -1000 W */
	SIM_WORDS(H, 667, 0x0064, 0, 0, 0, 0);		   /* generator 100 W */
	SIM_WORDS(H, 672, 1500, 1400, 10, 0);		   /* PV1..4 */
	SIM_WORDS(H, 109, 100, 0);			   /* settings */
	SIM_WORDS(H, 127, 20, 60, 0, 0);
	SIM_WORDS(H, 143, 8000, 0, 0, 0x00FF);
	SIM_WORDS(H, 166, 20, 20, 20, 20, 20, 20);
	/* State, alarm and fault: keys and bits of ha-solarman's deye_p3.yaml */
	SIM_WORDS(H, 500, 3);			 /* Device State 3 "Alarm" */
	SIM_WORDS(H, 553, 0x0002, 0x8000);	 /* Alarm bits 1 and 31 */
	SIM_WORDS(H, 555, 0x1000, 0x0008, 0, 0); /* Fault bits 12 and 19 */
}

static void sim__seed_deye_string(void)
{
	enum { H = 0 };
	SIM_WORDS(H, 63, 0x5678, 0x0012); /* total production */
	SIM_WORDS(H, 86, 0x86A0, 0x0001); /* output power */
}

/* The profile's registers; 0, or -1 for an unknown name. */
static int sim__profile(const char *name)
{
	if (strcmp(name, "growatt") == 0)
		sim__seed();
	else if (strcmp(name, "growatt-hybrid") == 0) {
		sim__seed();
		sim__seed_growatt_hybrid();
	} else if (strcmp(name, "deye-hybrid") == 0)
		sim__seed_deye_hybrid();
	else if (strcmp(name, "deye-hybrid-3p") == 0)
		sim__seed_deye_3p();
	else if (strcmp(name, "deye-string") == 0)
		sim__seed_deye_string();
	else
		return -1;
	return 0;
}

/* Apply one mode word ("split", "close-after=3", "serial=99"). */
static int sim__word(struct sim_mode *m, const char *w)
{
	if (strcmp(w, "heartbeat") == 0)
		m->heartbeat = 1;
	else if (strcmp(w, "split") == 0)
		m->split = 1;
	else if (strcmp(w, "at") == 0)
		m->at = 1;
	else if (strcmp(w, "silent") == 0)
		m->silent = 1;
	else if (strcmp(w, "badsum") == 0)
		m->badsum = 1;
	else if (strcmp(w, "double-crc") == 0)
		m->double_crc = 1;
	else if (strcmp(w, "wrong-value") == 0)
		m->wrong_value = 1;
	else if (strcmp(w, "wrong-count") == 0)
		m->wrong_count = 1;
	else if (strcmp(w, "wrong-seq") == 0)
		m->wrong_seq = 1;
	else if (strcmp(w, "close-mid") == 0)
		m->close_mid = 1;
	else if (strcmp(w, "garbage") == 0)
		m->garbage = 1;
	else if (strcmp(w, "huge") == 0)
		m->huge = 1;
	else if (strncmp(w, "delay=", 6) == 0)
		m->delay_ms = (unsigned)strtoul(w + 6, NULL, 10);
	else if (strncmp(w, "flood=", 6) == 0)
		m->flood_ms = (unsigned)strtoul(w + 6, NULL, 10);
	else if (strcmp(w, "normal") == 0)
		;
	else if (strncmp(w, "close-after=", 12) == 0)
		m->close_after = (unsigned)strtoul(w + 12, NULL, 10);
	else if (strncmp(w, "serial=", 7) == 0)
		m->serial = (uint32_t)strtoul(w + 7, NULL, 10);
	else if (strncmp(w, "slave=", 6) == 0)
		m->slave = atoi(w + 6);
	else if (strcmp(w, "pattern") == 0)
		m->pattern = 1;
	else if (strncmp(w, "fail=", 5) == 0 && m->nfail < 8 && strchr(w, ':')) {
		m->fail_addr[m->nfail] = (uint16_t)strtoul(w + 5, NULL, 10);
		m->fail_code[m->nfail++] = (uint8_t)strtoul(strchr(w, ':') + 1, NULL, 10);
	} else
		return -1;
	return 0;
}

static struct sim_mode sim__mode(void)
{
	struct sim_mode m = sim__base;
	FILE *f = sim__control ? fopen(sim__control, "r") : NULL;
	char w[64];
	if (!f)
		return m;
	for (int i = 0; i < 32 && fscanf(f, "%63s", w) == 1; i++)
		if (sim__word(&m, w) < 0)
			printf("control: unknown word %s\n", w);
	fclose(f);
	return m;
}

static void sim__pause(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static uint64_t sim__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Heartbeats as fast as the socket takes them for ms, reading nothing (the
 * bridge's time answers pile up toward us). Returns how many were sent. */
static unsigned long sim__flood(int fd, uint32_t serial, unsigned ms)
{
	uint8_t one[V5_OVERHEAD + 1], batch[64 * sizeof one];
	uint8_t zero = 0;
	unsigned long sent = 0;
	uint64_t end = sim__now_ms() + ms;
	while (sim__now_ms() < end) {
		size_t n = 0;
		for (int i = 0; i < 64; i++) {
			struct v5_frame hb = {.control = V5_CTRL_HEARTBEAT,
					      .seq = sim__hb_seq++,
					      .serial = serial,
					      .payload = &zero,
					      .payload_len = 1};
			int k = codec_v5_encode(one, sizeof one, &hb);
			memcpy(batch + n, one, (size_t)k);
			n += (size_t)k;
		}
		/* A bounded wait, so that the flood ends on time even when the
		 * bridge stops reading. */
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t w = send(fd, batch, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		if (w > 0)
			sent += (unsigned long)w / sizeof one;
	}
	return sent;
}

/* Bytes that are no frame: text, a false start whose end byte is wrong, and
 * a header that claims more than any logger frame holds. */
static int sim__send_garbage(int fd)
{
	uint8_t g[128];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		g[n++] = (uint8_t)(0x20 + i);
	g[n++] = V5_START; /* claims a 5-byte payload: 18 bytes, wrong end */
	g[n++] = 5;
	g[n++] = 0;
	for (int i = 0; i < 24; i++)
		g[n++] = (uint8_t)(0x30 + i);
	g[n++] = V5_START; /* claims 65535 bytes */
	g[n++] = 0xFF;
	g[n++] = 0xFF;
	for (int i = 0; i < 16; i++)
		g[n++] = 0x41;
	return h_send_all(fd, g, n);
}

static int sim__send_huge(int fd)
{
	static uint8_t filler[3 + 65535];
	filler[0] = V5_START;
	filler[1] = 0xFF;
	filler[2] = 0xFF;
	return h_send_all(fd, filler, sizeof filler);
}

/* Split mode: pieces of 1, 2 and 3 bytes first (start byte alone, the length
 * field cut in two), then up to 8 more pieces, 15 ms apart. */
static int sim__send_split(int fd, const uint8_t *p, size_t n)
{
	static const size_t first[] = {1, 2, 3};
	size_t off = 0, rest_piece = n / 8 + 1;
	for (int i = 0; off < n && i < 16; i++) {
		size_t k = i < 3 ? first[i] : rest_piece;
		if (i == 15 || k > n - off)
			k = n - off;
		if (h_send_all(fd, p + off, k) < 0)
			return -1;
		off += k;
		if (off < n)
			sim__pause(15);
	}
	return 0;
}

static int sim__out(int fd, const struct sim_mode *m, const uint8_t *p, size_t n)
{
	return m->split ? sim__send_split(fd, p, n) : h_send_all(fd, p, n);
}

/* The Modbus slave: an RTU answer to an RTU request. */
static int sim__modbus(const struct v5_rtu_request *q, const struct sim_mode *m, uint8_t *out,
		       size_t cap)
{
	uint8_t slave = q->slave;
	for (unsigned i = 0; i < m->nfail; i++)
		if (q->addr <= m->fail_addr[i] && m->fail_addr[i] < (uint32_t)q->addr + q->count)
			return codec_v5_rtu_exception(out, cap, slave, q->fc, m->fail_code[i]);
	switch (q->fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT: {
		int table = q->fc == MB_FC_READ_INPUT ? 1 : 0;
		if (q->count < 1 || q->count > MB_MAX_READ)
			return codec_v5_rtu_exception(out, cap, slave, q->fc, MB_EXC_ILLEGAL_VALUE);
		if ((uint32_t)q->addr + q->count > 65536 ||
		    (table == 0 && (uint32_t)q->addr + q->count > SIM_NO_SUCH_REG))
			return codec_v5_rtu_exception(out, cap, slave, q->fc,
						      MB_EXC_ILLEGAL_ADDRESS);
		return codec_v5_rtu_read_answer(out, cap, slave, q->fc, &sim__regs[table][q->addr],
						q->count);
	}
	case MB_FC_WRITE_SINGLE:
	case MB_FC_WRITE_MULTIPLE:
		if (q->count < 1 || q->count > MB_MAX_WRITE)
			return codec_v5_rtu_exception(out, cap, slave, q->fc, MB_EXC_ILLEGAL_VALUE);
		if ((uint32_t)q->addr + q->count > SIM_NO_SUCH_REG)
			return codec_v5_rtu_exception(out, cap, slave, q->fc,
						      MB_EXC_ILLEGAL_ADDRESS);
		/* A device that did something else than asked: the echo says so. */
		if (m->wrong_value && q->fc == MB_FC_WRITE_SINGLE)
			return codec_v5_rtu_write_answer(
			    out, cap, slave, q->fc, q->addr,
			    (uint16_t)((q->data[0] << 8 | q->data[1]) + 1));
		if (m->wrong_count && q->fc == MB_FC_WRITE_MULTIPLE)
			return codec_v5_rtu_write_answer(out, cap, slave, q->fc, q->addr,
							 (uint16_t)(q->count + 1));
		for (uint16_t i = 0; i < q->count; i++)
			sim__regs[0][q->addr + i] =
			    (uint16_t)(q->data[2 * i] << 8 | q->data[2 * i + 1]);
		if (q->fc == MB_FC_WRITE_SINGLE)
			return codec_v5_rtu_write_answer(out, cap, slave, q->fc, q->addr,
							 sim__regs[0][q->addr]);
		return codec_v5_rtu_write_answer(out, cap, slave, q->fc, q->addr, q->count);
	default:
		return codec_v5_rtu_exception(out, cap, slave, q->fc, MB_EXC_ILLEGAL_FUNCTION);
	}
}

static void sim__log_request(const struct sim_client *c, const struct v5_frame *f,
			     const struct v5_rtu_request *q, int rc)
{
	printf("request conn=%u seq=%02x serial=%u", c->id, f->seq, (unsigned)f->serial);
	if (rc < 0) {
		printf(" bad-rtu=%d\n", rc);
		return;
	}
	printf(" slave=%u fc=%02x addr=%u count=%u", q->slave, q->fc, q->addr, q->count);
	if (q->data) {
		printf(" values=");
		for (uint16_t i = 0; i < q->count; i++)
			printf("%s%u", i ? "," : "",
			       (unsigned)(q->data[2 * i] << 8 | q->data[2 * i + 1]));
	}
	printf("\n");
}

/* Returns -1 when the connection is to be closed. */
static int sim__request(struct sim_client *c, const struct v5_frame *f)
{
	struct sim_mode m = sim__mode();
	struct v5_rtu_request q = {0};
	uint8_t rtu[V5_RTU_MAX + 2], frame[V5_MAX_FRAME];
	int rc = MB_ESHORT, n;

	if (f->payload_len >= V5_REQ_PREFIX)
		rc = codec_v5_rtu_request_decode(f->payload + V5_REQ_PREFIX,
						 f->payload_len - V5_REQ_PREFIX, &q);
	sim__log_request(c, f, &q, rc);
	if (m.silent || rc < 0)
		return 0;
	if (m.flood_ms) {
		unsigned long k = sim__flood(c->fd, m.serial, m.flood_ms);
		printf("flood conn=%u: %lu heartbeats, closing\n", c->id, k);
		return -1;
	}
	if (m.delay_ms)
		sim__pause((int)m.delay_ms);
	if (m.garbage && sim__send_garbage(c->fd) < 0)
		return -1;
	if (m.huge && sim__send_huge(c->fd) < 0)
		return -1;

	if (m.heartbeat) {
		uint8_t zero = 0;
		struct v5_frame hb = {.control = V5_CTRL_HEARTBEAT,
				      .seq = sim__hb_seq++,
				      .seq_hi = 0,
				      .serial = m.serial,
				      .payload = &zero,
				      .payload_len = 1};
		n = codec_v5_encode(frame, sizeof frame, &hb);
		if (n < 0 || sim__out(c->fd, &m, frame, (size_t)n) < 0)
			return -1;
	}
	if (m.at) {
		static const char at[] = "AT+YZTCPMODBUS=1\r\n+ok\r\n";
		if (h_send_all(c->fd, (const uint8_t *)at, sizeof at - 1) < 0)
			return -1;
	}

	if (f->serial != m.serial) {
		rtu[0] = V5_LOGGER_SERIAL;
		rtu[1] = 0x00;
		n = 2;
	} else if (q.slave != m.slave) {
		rtu[0] = V5_LOGGER_SLAVE;
		rtu[1] = 0x00;
		n = 2;
	} else {
		n = sim__modbus(&q, &m, rtu, sizeof rtu - 2);
		if (n < 0)
			return 0;
		if (m.badsum && rtu[2] > 0 &&
		    (q.fc == MB_FC_READ_HOLDING || q.fc == MB_FC_READ_INPUT))
			for (int i = 3; i < 3 + rtu[2]; i++)
				rtu[i] ^= 0x5A; /* wrong values that must never be believed */
		if (m.double_crc) {
			rtu[n++] = 0;
			rtu[n++] = 0;
		}
	}
	n = codec_v5_encode_answer(
	    frame, sizeof frame, m.serial, (uint8_t)(m.wrong_seq ? f->seq + 1 : f->seq),
	    (uint8_t)c->answers, (uint32_t)(time(NULL) - sim__started), rtu, (size_t)n);
	if (n < 0)
		return 0;
	if (m.badsum)
		frame[n - 2] ^= 0xFF;
	if (m.close_mid) {
		h_send_all(c->fd, frame, (size_t)n / 2);
		printf("closing conn=%u mid-frame\n", c->id);
		return -1;
	}
	if (sim__out(c->fd, &m, frame, (size_t)n) < 0)
		return -1;
	if (m.delay_ms)
		printf("late answer sent conn=%u seq=%02x\n", c->id, f->seq);
	c->answers++;
	if (m.close_after && c->answers >= m.close_after) {
		printf("closing conn=%u after %u answers\n", c->id, c->answers);
		return -1;
	}
	return 0;
}

static int sim__frame(struct sim_client *c, const struct v5_frame *f)
{
	if (f->control == V5_CTRL_REQUEST)
		return sim__request(c, f);
	if ((f->control & 0xFF) == 0x10 && (f->control >> 8) >= 0x10 && (f->control >> 8) <= 0x1F) {
		uint32_t t = 0;
		if (f->payload_len >= 6)
			t = (uint32_t)f->payload[2] | (uint32_t)f->payload[3] << 8 |
			    (uint32_t)f->payload[4] << 16 | (uint32_t)f->payload[5] << 24;
		printf("time answer conn=%u control=%04x seq=%02x len=%zu time=%u\n", c->id,
		       f->control, f->seq, f->len, (unsigned)t);
		return 0;
	}
	printf("ignored conn=%u control=%04x\n", c->id, f->control);
	return 0;
}

static void sim__usage(void)
{
	fprintf(stderr, "usage: sim_solarman --port P [--serial N] [--slave N] [--control FILE]\n"
			"       [--heartbeat] [--split] [--at] [--close-after N] [--silent]\n"
			"       [--badsum] [--double-crc] [--profile NAME]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int port = 0;
	const char *profile = "growatt";
	sim__base.serial = 1234567890u;
	sim__base.slave = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int more = i + 1 < argc;
		if (strcmp(a, "--port") == 0 && more)
			port = atoi(argv[++i]);
		else if (strcmp(a, "--serial") == 0 && more)
			sim__base.serial = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(a, "--slave") == 0 && more)
			sim__base.slave = atoi(argv[++i]);
		else if (strcmp(a, "--profile") == 0 && more)
			profile = argv[++i];
		else if (strcmp(a, "--control") == 0 && more)
			sim__control = argv[++i];
		else if (strcmp(a, "--close-after") == 0 && more)
			sim__base.close_after = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strncmp(a, "--", 2) == 0 && sim__word(&sim__base, a + 2) == 0)
			;
		else
			sim__usage();
	}
	if (port <= 0 || port > 65535)
		sim__usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (sim__base.pattern)
		for (uint32_t a = 0; a < 65536; a++)
			for (int t = 0; t < 2; t++)
				sim__regs[t][a] = sim_pattern(t, a);
	if (sim__profile(profile) != 0)
		sim__usage();
	sim__started = time(NULL);

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 8) < 0) {
		perror("sim_solarman: listen");
		return 1;
	}
	printf("listening on 127.0.0.1:%d serial %u slave %d\n", port, (unsigned)sim__base.serial,
	       sim__base.slave);

	static struct sim_client clients[SIM_MAX_CLIENTS];
	unsigned connections = 0;
	for (int i = 0; i < SIM_MAX_CLIENTS; i++)
		clients[i].fd = -1;
	for (;;) {
		struct pollfd pfd[SIM_MAX_CLIENTS + 1];
		int map[SIM_MAX_CLIENTS + 1], n = 0;
		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		map[n++] = -1;
		for (int i = 0; i < SIM_MAX_CLIENTS; i++) {
			if (clients[i].fd < 0)
				continue;
			pfd[n].fd = clients[i].fd;
			pfd[n].events = POLLIN;
			map[n++] = i;
		}
		if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR)
			return 1;
		for (int k = 0; k < n; k++) {
			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (map[k] < 0) {
				int fd = accept(lfd, NULL, NULL);
				int slot = -1;
				for (int i = 0; fd >= 0 && i < SIM_MAX_CLIENTS && slot < 0; i++)
					if (clients[i].fd < 0)
						slot = i;
				if (fd >= 0 && slot < 0) {
					close(fd);
					continue;
				}
				if (fd < 0)
					continue;
				struct sim_client *c = &clients[slot];
				c->fd = fd;
				c->id = ++connections;
				c->answers = 0;
				codec_v5_stream_init(&c->stream, c->rx, sizeof c->rx);
				printf("connection %u\n", c->id);
				continue;
			}
			struct sim_client *c = &clients[map[k]];
			uint8_t buf[2048];
			ssize_t got = recv(c->fd, buf, sizeof buf, 0);
			int drop = got <= 0;
			size_t off = 0;
			while (!drop && off < (size_t)got) {
				struct v5_frame f;
				off +=
				    codec_v5_stream_feed(&c->stream, buf + off, (size_t)got - off);
				while (!drop && codec_v5_stream_next(&c->stream, &f) == 1)
					drop = sim__frame(c, &f) < 0;
			}
			if (drop) {
				printf("closed conn=%u\n", c->id);
				close(c->fd);
				c->fd = -1;
			}
		}
	}
}
