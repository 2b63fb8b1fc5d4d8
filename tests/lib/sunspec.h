/* A SunSpec client's walk of the bridge's model chain, for the e2e tests
 * that read a battery as SunSpec clients do (docs/design.md, SunSpec). */
#ifndef SUNSPEC_H
#define SUNSPEC_H

#include <stdint.h>

#include <modbus.h>

struct ss_model {
	uint16_t id, len;
	int addr; /* of its ID */
	uint16_t body[125];
};

/* Walk the models from 40000 as a SunSpec client does (the "SunS" marker,
 * then ID and length of each model up to the 0xFFFF end marker; every
 * read through h_read_retry): how many models were found before the end
 * marker (at most max, into out), or -1 when the walk failed. */
int ss_walk(modbus_t *mb, struct ss_model *out, int max);
/* The model with this ID among the n in m, or NULL. */
const struct ss_model *ss_find(const struct ss_model *m, int n, uint16_t id);
/* A string point of n registers into out (2 n + 1 bytes): two characters
 * per register, high byte first. */
void ss_string(const uint16_t *w, int n, char *out);

/* A point of model 802 by its offset in the model (ID = 0), as the body
 * starts at offset 2. */
#define SS_P802(m, off) ((m)->body[(off)-2])
/* Offsets in model 802 (sunspec/models, json/model_802.json). */
enum {
	SS802_SOCRSVMIN = 10,
	SS802_SOC = 11,
	SS802_SOH = 13,
	SS802_CHAST = 16,
	SS802_TYP = 21,
	SS802_STATE = 22,
	SS802_V = 34,
	SS802_W = 47,
	SS802_SOC_SF = 56,
	SS802_SOH_SF = 58,
	SS802_V_SF = 59,
	SS802_W_SF = 63
};

#endif
