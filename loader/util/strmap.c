// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

uint64_t idg_str_hash(const char *k, const char *k2)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)k; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	if (k2) {
		/* A separator no string holds keeps ("ab", "c") and
		 * ("a", "bc") apart. */
		h = (h ^ 0x100) * 0x100000001b3ull;
		for (const unsigned char *p = (const unsigned char *)k2; *p;
		     p++)
			h = (h ^ *p) * 0x100000001b3ull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

static bool key_eq(const char *a, const char *a2, const char *b,
		   const char *b2)
{
	if (strcmp(a, b))
		return false;
	if (!a2 || !b2)
		return !a2 && !b2;
	return !strcmp(a2, b2);
}

static int alloc_table(struct idg_strmap *m, size_t size)
{
	m->key = calloc(size, sizeof(*m->key));
	m->key2 = calloc(size, sizeof(*m->key2));
	m->hash = calloc(size, sizeof(*m->hash));
	m->val = calloc(size, sizeof(*m->val));
	if (!m->key || !m->key2 || !m->hash || !m->val) {
		free(m->key);
		free(m->key2);
		free(m->hash);
		free(m->val);
		m->key = m->key2 = NULL;
		m->hash = NULL;
		m->val = NULL;
		return -ENOMEM;
	}
	m->mask = size - 1;
	m->n = 0;
	return 0;
}

int idg_strmap_init(struct idg_strmap *m, size_t n)
{
	size_t size = 16;

	memset(m, 0, sizeof(*m));
	while (size < n * 2 + 2)
		size *= 2;
	return alloc_table(m, size);
}

void idg_strmap_free(struct idg_strmap *m)
{
	free(m->key);
	free(m->key2);
	free(m->hash);
	free(m->val);
	memset(m, 0, sizeof(*m));
}

static size_t find(const struct idg_strmap *m, const char *k, const char *k2,
		   uint64_t h)
{
	size_t s = (size_t)h & m->mask;

	while (m->key[s] &&
	       (m->hash[s] != h || !key_eq(m->key[s], m->key2[s], k, k2)))
		s = (s + 1) & m->mask;
	return s;
}

static int grow(struct idg_strmap *m)
{
	struct idg_strmap old = *m;
	int err = alloc_table(m, (old.mask + 1) * 2);

	if (err) {
		*m = old;
		return err;
	}
	for (size_t i = 0; i <= old.mask; i++) {
		size_t s;

		if (!old.key[i])
			continue;
		/* Keys are distinct: the first free slot is theirs. */
		s = (size_t)old.hash[i] & m->mask;
		while (m->key[s])
			s = (s + 1) & m->mask;
		m->key[s] = old.key[i];
		m->key2[s] = old.key2[i];
		m->hash[s] = old.hash[i];
		m->val[s] = old.val[i];
		m->n++;
	}
	idg_strmap_free(&old);
	return 0;
}

int idg_strmap_put2(struct idg_strmap *m, const char *k, const char *k2,
		    size_t v, size_t *out)
{
	uint64_t h = idg_str_hash(k, k2);
	size_t s;
	int err;

	if ((m->n + 1) * 2 > m->mask + 1) {
		err = grow(m);
		if (err)
			return err;
	}
	s = find(m, k, k2, h);
	if (m->key[s]) {
		if (out)
			*out = m->val[s];
		return 0;
	}
	m->key[s] = k;
	m->key2[s] = k2;
	m->hash[s] = h;
	m->val[s] = v;
	m->n++;
	if (out)
		*out = v;
	return 1;
}

size_t *idg_strmap_get2(const struct idg_strmap *m, const char *k,
			const char *k2)
{
	size_t s;

	if (!m->key)
		return NULL;
	s = find(m, k, k2, idg_str_hash(k, k2));
	return m->key[s] ? &m->val[s] : NULL;
}
