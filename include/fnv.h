/* FNV-1a, 64 bits: the one hash of the daemon's own tables and
 * fingerprints (the exporters' change fingerprint, the MQTT link's topic
 * index, the config loader's same-peer check). Not for anything a peer
 * could aim collisions at to cost more than a longer chain: every user
 * compares in full after the hash agrees. */
#ifndef FNV_H
#define FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV_INIT 14695981039346656037ull

/* h with the n bytes at p added. */
static inline uint64_t fnv_add(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

#endif
