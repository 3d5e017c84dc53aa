/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A string-keyed hash map for the compiler's lookups by name (earlier
 * numbers in the state, rule keys, label pairs): one hash and usually one
 * strcmp per lookup, where a sorted array costs a sort and a bisection of
 * long common prefixes. Keys are not copied: they must outlive the map.
 */
#ifndef IDGATE_LOADER_STRMAP_H
#define IDGATE_LOADER_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idg_strmap_slot {
	const char *key;  /* NULL: free */
	const char *key2; /* second half of a pair key (may be NULL) */
	/* The key's hash: a probe past another key costs no strcmp, and
	 * growing rehashes no string. */
	uint64_t hash;
	size_t val;
};

/* One slot holds all a probe reads: a lookup in a table too large for
 * the cache misses once, not once per array. */
struct idg_strmap {
	struct idg_strmap_slot *slot;
	size_t mask;
	size_t n;
};

/* Room for about n keys before it grows. */
int idg_strmap_init(struct idg_strmap *m, size_t n);
void idg_strmap_free(struct idg_strmap *m);

/* A key of two strings (k2 may be NULL: a plain key). */
uint64_t idg_str_hash(const char *k, const char *k2);

/*
 * The value of (k, k2), inserted as v when absent. Returns 1 when
 * inserted, 0 when it was there (*out is its value either way), -ENOMEM.
 */
int idg_strmap_put2(struct idg_strmap *m, const char *k, const char *k2,
		    size_t v, size_t *out);
/* Pointer to the value of (k, k2), or NULL. */
size_t *idg_strmap_get2(const struct idg_strmap *m, const char *k,
			const char *k2);
/* The slot of (k, k2), or NULL: its key pointers may be set to other
 * strings of the same bytes (when the ones it has are about to go). */
struct idg_strmap_slot *idg_strmap_slot2(const struct idg_strmap *m,
					 const char *k, const char *k2);
/* Removes (k, k2); absent is not an error. */
void idg_strmap_del2(struct idg_strmap *m, const char *k, const char *k2);
/* dst becomes a copy of src (the same key pointers). Negative errno. */
int idg_strmap_dup(struct idg_strmap *dst, const struct idg_strmap *src);

static inline int idg_strmap_put(struct idg_strmap *m, const char *k,
				 size_t v, size_t *out)
{
	return idg_strmap_put2(m, k, NULL, v, out);
}

static inline size_t *idg_strmap_get(const struct idg_strmap *m,
				     const char *k)
{
	return idg_strmap_get2(m, k, NULL);
}

#endif
