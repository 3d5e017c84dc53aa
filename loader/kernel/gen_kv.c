// SPDX-License-Identifier: GPL-2.0
/*
 * The entry sets a generation is built in: fixed-size keys and values,
 * unique by key, in insertion order, found through an open-addressing
 * index. An LPM set stores its keys normalised the way the kernel's trie
 * sees them (bits past the prefix cleared), so "the same entry" means the
 * same thing here and in the map.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "util/hash.h"

int idg_kv_init(struct idg_kv *t, uint32_t ksz, uint32_t vsz, uint32_t max,
		bool lpm)
{
	memset(t, 0, sizeof(*t));
	if (!ksz || ksz > 64 || !vsz || !max)
		return -EINVAL;
	t->ksz = ksz;
	t->vsz = vsz;
	t->max = max;
	t->lpm = lpm;
	/* What the kernel map answers when it is full. */
	t->full_err = lpm ? -ENOSPC : -E2BIG;
	return 0;
}

void idg_kv_free(struct idg_kv *t)
{
	free(t->ent);
	free(t->idx);
	t->ent = NULL;
	t->idx = NULL;
	t->n = t->cap = t->idx_mask = 0;
}

int idg_lpm_key_norm(void *key, uint32_t ksz)
{
	uint8_t *data = (uint8_t *)key + sizeof(uint32_t);
	uint32_t plen, bits = (ksz - (uint32_t)sizeof(uint32_t)) * 8;

	memcpy(&plen, key, sizeof(plen));
	if (plen > bits)
		return -EINVAL;
	for (uint32_t b = plen; b < bits;) {
		if (!(b % 8) && b + 8 <= bits) {
			data[b / 8] = 0;
			b += 8;
			continue;
		}
		data[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
		b++;
	}
	return 0;
}

static uint64_t kv_hash(const void *key, uint32_t len)
{
	return idg_hash_final(idg_hash_bytes(IDG_HASH_SEED, key, len));
}

static int kv_reindex(struct idg_kv *t, uint32_t size)
{
	uint32_t *idx = calloc(size, sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	free(t->idx);
	t->idx = idx;
	t->idx_mask = size - 1;
	for (uint32_t i = 0; i < t->n; i++) {
		uint32_t s = (uint32_t)kv_hash(idg_kv_key(t, i), t->ksz) &
			     t->idx_mask;

		while (idx[s])
			s = (s + 1) & t->idx_mask;
		idx[s] = i + 1;
	}
	return 0;
}

/* Keys of a few dozen bytes: compared a word at a time, inline. */
static bool kv_key_eq(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	uint64_t x, y;
	uint32_t u, v;

	for (; n >= 8; n -= 8, a += 8, b += 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return false;
	}
	if (n >= 4) {
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		if (u != v)
			return false;
		n -= 4;
		a += 4;
		b += 4;
	}
	for (; n; n--)
		if (*a++ != *b++)
			return false;
	return true;
}

/* Index slot of key: the entry's, or the free one it would take. */
static uint32_t kv_find(const struct idg_kv *t, const void *key)
{
	uint32_t s = (uint32_t)kv_hash(key, t->ksz) & t->idx_mask;

	while (t->idx[s] &&
	       !kv_key_eq(idg_kv_key(t, t->idx[s] - 1), key, t->ksz))
		s = (s + 1) & t->idx_mask;
	return s;
}

void *idg_kv_get(const struct idg_kv *t, const void *key)
{
	uint8_t norm[64];
	uint32_t s;

	if (!t->n)
		return NULL;
	if (t->lpm) {
		memcpy(norm, key, t->ksz);
		if (idg_lpm_key_norm(norm, t->ksz))
			return NULL;
		key = norm;
	}
	s = kv_find(t, key);
	return t->idx[s] ? idg_kv_val(t, t->idx[s] - 1) : NULL;
}

int idg_kv_reserve(struct idg_kv *t, uint32_t n)
{
	uint32_t size = 64;
	uint8_t *e;

	if (n > t->max)
		n = t->max;
	if (n > t->cap) {
		e = realloc(t->ent, (size_t)n * (t->ksz + t->vsz));
		if (!e)
			return -ENOMEM;
		t->ent = e;
		t->cap = n;
	}
	/* The load factor idg_kv_put keeps: at most 1/2. */
	while (size < 2 * (uint64_t)n)
		size *= 2;
	if (t->idx && size <= t->idx_mask + 1)
		return 0;
	return kv_reindex(t, size);
}

/* The entry of key: found, or added with value v (*added set). Its
 * number, or -errno. */
static int64_t kv_entry(struct idg_kv *t, const void *key, const void *v,
			bool *added)
{
	uint8_t norm[64];
	uint32_t s;
	int err;

	*added = false;
	if (t->lpm) {
		memcpy(norm, key, t->ksz);
		err = idg_lpm_key_norm(norm, t->ksz);
		if (err)
			return err;
		key = norm;
	}
	/* Load factor at most 1/2. */
	if (!t->idx || (t->n + 1) * 2 > t->idx_mask + 1) {
		err = kv_reindex(t, t->idx ? (t->idx_mask + 1) * 2 : 64);
		if (err)
			return err;
	}
	s = kv_find(t, key);
	if (t->idx[s])
		return t->idx[s] - 1;
	if (t->n >= t->max)
		return t->full_err;
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 64;
		uint8_t *e = realloc(t->ent, (size_t)cap * (t->ksz + t->vsz));

		if (!e)
			return -ENOMEM;
		t->ent = e;
		t->cap = cap;
	}
	memcpy(idg_kv_key(t, t->n), key, t->ksz);
	memcpy(idg_kv_val(t, t->n), v, t->vsz);
	t->idx[s] = ++t->n;
	*added = true;
	return t->n - 1;
}

int idg_kv_put(struct idg_kv *t, const void *key, const void *v,
	       bool keep_old)
{
	bool added;
	int64_t i = kv_entry(t, key, v, &added);

	if (i < 0)
		return (int)i;
	if (!added && !keep_old)
		memcpy(idg_kv_val(t, (uint32_t)i), v, t->vsz);
	return added;
}

void *idg_kv_upsert(struct idg_kv *t, const void *key, const void *v,
		    int *res)
{
	bool added;
	int64_t i = kv_entry(t, key, v, &added);

	*res = i < 0 ? (int)i : added;
	return i < 0 ? NULL : idg_kv_val(t, (uint32_t)i);
}
