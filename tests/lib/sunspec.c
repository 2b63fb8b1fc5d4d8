/* A SunSpec client's walk of the model chain (sunspec.h). */
#include "sunspec.h"

#include "harness.h"

int ss_walk(modbus_t *mb, struct ss_model *out, int max)
{
	uint16_t w[2];
	if (h_read_retry(mb, 40000, 2, w) != 0 || w[0] != 0x5375 || w[1] != 0x6E53)
		return -1;
	int addr = 40002, n = 0;
	for (int guard = 0; guard < 16; guard++) {
		if (h_read_retry(mb, addr, 2, w) != 0)
			return -1;
		if (w[0] == 0xFFFF)
			return n;
		if (n == max || w[1] > 125)
			return -1;
		out[n].id = w[0];
		out[n].len = w[1];
		out[n].addr = addr;
		if (h_read_retry(mb, addr + 2, w[1], out[n].body) != 0)
			return -1;
		addr += 2 + w[1];
		n++;
	}
	return -1;
}

const struct ss_model *ss_find(const struct ss_model *m, int n, uint16_t id)
{
	for (int i = 0; i < n; i++)
		if (m[i].id == id)
			return &m[i];
	return NULL;
}

void ss_string(const uint16_t *w, int n, char *out)
{
	for (int i = 0; i < n; i++) {
		out[2 * i] = (char)(w[i] >> 8);
		out[2 * i + 1] = (char)(w[i] & 0xFF);
	}
	out[2 * n] = 0;
}
