/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One 64-bit hash for the loader's tables and content checks: eight
 * bytes a step (a byte-at-a-time hash of long label strings and rule
 * keys was a visible part of a reload). Not for anything an attacker
 * chooses to collide: the tables it indexes compare keys in full.
 */
#ifndef IDGATE_LOADER_HASH_H
#define IDGATE_LOADER_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define IDG_HASH_SEED 0x9e3779b97f4a7c15ull

static inline uint64_t idg_hash_mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 32);
}

/* n bytes at p into h; the length goes in first, so ("ab", "c") and
 * ("a", "bc") hashed one after the other differ. */
static inline uint64_t idg_hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t w;

	h = idg_hash_mix(h, n);
	for (; n >= 8; n -= 8, b += 8) {
		memcpy(&w, b, 8);
		h = idg_hash_mix(h, w);
	}
	if (n) {
		unsigned char *t = (unsigned char *)&w;

		/* Fixed-size copies: no call for a short tail. */
		w = 0;
		if (n & 4) {
			memcpy(t, b, 4);
			t += 4;
			b += 4;
		}
		if (n & 2) {
			memcpy(t, b, 2);
			t += 2;
			b += 2;
		}
		if (n & 1)
			*t = *b;
		h = idg_hash_mix(h, w);
	}
	return h;
}

/* Every input bit into the low bits a table takes its slot from. */
static inline uint64_t idg_hash_final(uint64_t h)
{
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

#endif
