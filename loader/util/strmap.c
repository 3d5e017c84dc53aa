// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "strmap.h"

uint64_t idg_str_hash(const char *k, const char *k2)
{
	uint64_t h = idg_hash_bytes(IDG_HASH_SEED, k, strlen(k));

	/* A pair hashes apart from the plain key of the same bytes. */
	if (k2)
		h = idg_hash_bytes(idg_hash_mix(h, 0x100), k2, strlen(k2));
	return idg_hash_final(h);
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
	m->slot = calloc(size, sizeof(*m->slot));
	if (!m->slot)
		return -ENOMEM;
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
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

static size_t find(const struct idg_strmap *m, const char *k, const char *k2,
		   uint64_t h)
{
	size_t s = (size_t)h & m->mask;
	const struct idg_strmap_slot *e;

	while ((e = &m->slot[s])->key &&
	       (e->hash != h || !key_eq(e->key, e->key2, k, k2)))
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

		if (!old.slot[i].key)
			continue;
		/* Keys are distinct: the first free slot is theirs. */
		s = (size_t)old.slot[i].hash & m->mask;
		while (m->slot[s].key)
			s = (s + 1) & m->mask;
		m->slot[s] = old.slot[i];
		m->n++;
	}
	idg_strmap_free(&old);
	return 0;
}

int idg_strmap_put2(struct idg_strmap *m, const char *k, const char *k2,
		    size_t v, size_t *out)
{
	uint64_t h = idg_str_hash(k, k2);
	struct idg_strmap_slot *e;
	int err;

	if ((m->n + 1) * 2 > m->mask + 1) {
		err = grow(m);
		if (err)
			return err;
	}
	e = &m->slot[find(m, k, k2, h)];
	if (e->key) {
		if (out)
			*out = e->val;
		return 0;
	}
	*e = (struct idg_strmap_slot){ .key = k, .key2 = k2, .hash = h,
				       .val = v };
	m->n++;
	if (out)
		*out = v;
	return 1;
}

size_t *idg_strmap_get2(const struct idg_strmap *m, const char *k,
			const char *k2)
{
	struct idg_strmap_slot *e;

	if (!m->slot)
		return NULL;
	e = &m->slot[find(m, k, k2, idg_str_hash(k, k2))];
	return e->key ? &e->val : NULL;
}

struct idg_strmap_slot *idg_strmap_slot2(const struct idg_strmap *m,
					 const char *k, const char *k2)
{
	struct idg_strmap_slot *e;

	if (!m->slot)
		return NULL;
	e = &m->slot[find(m, k, k2, idg_str_hash(k, k2))];
	return e->key ? e : NULL;
}

void idg_strmap_del2(struct idg_strmap *m, const char *k, const char *k2)
{
	size_t i, j;

	if (!m->slot)
		return;
	i = find(m, k, k2, idg_str_hash(k, k2));
	if (!m->slot[i].key)
		return;
	/* Linear probing: the keys after the hole move back into it when
	 * their home slot is not between the hole and them. */
	for (j = (i + 1) & m->mask; m->slot[j].key; j = (j + 1) & m->mask) {
		size_t home = (size_t)m->slot[j].hash & m->mask;

		if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
			m->slot[i] = m->slot[j];
			i = j;
		}
	}
	memset(&m->slot[i], 0, sizeof(m->slot[i]));
	m->n--;
}

int idg_strmap_dup(struct idg_strmap *dst, const struct idg_strmap *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src->slot)
		return 0;
	dst->slot = malloc((src->mask + 1) * sizeof(*dst->slot));
	if (!dst->slot)
		return -ENOMEM;
	memcpy(dst->slot, src->slot, (src->mask + 1) * sizeof(*dst->slot));
	dst->mask = src->mask;
	dst->n = src->n;
	return 0;
}
