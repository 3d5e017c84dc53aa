// SPDX-License-Identifier: GPL-2.0
/*
 * The checks across files of nodes and endpoints (config_check.c), for a
 * change to files of endpoints only: instead of sorting every endpoint's
 * name and address again, the hashes of those the last clean check saw
 * are kept with their counts, the files gone take theirs away and the
 * new files' must find none. Whatever could give a message (a name or
 * address taken, an unknown node, a workload interface, or two keys
 * sharing a hash) sends the load to the full check, which says it
 * exactly as a fresh load does: a patch only ever proves there is
 * nothing to say.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_cache.h"
#include "config_int.h"
#include "util/hash.h"

/* Hashes with a count, open addressing; 0 is no key. */
struct idg_keycount {
	uint64_t *key;
	uint32_t *count;
	size_t mask, n;
};

void idg_keycount_free(struct idg_keycount *k)
{
	if (!k)
		return;
	free(k->key);
	free(k->count);
	free(k);
}

static struct idg_keycount *kc_new(size_t n)
{
	struct idg_keycount *k = calloc(1, sizeof(*k));
	size_t size = 64;

	while (size < 2 * n + 2)
		size *= 2;
	if (k) {
		k->key = calloc(size, sizeof(*k->key));
		k->count = calloc(size, sizeof(*k->count));
		k->mask = size - 1;
	}
	if (!k || !k->key || !k->count) {
		idg_keycount_free(k);
		return NULL;
	}
	return k;
}

static size_t kc_slot(const struct idg_keycount *k, uint64_t h)
{
	size_t s = (size_t)h & k->mask;

	while (k->key[s] && k->key[s] != h)
		s = (s + 1) & k->mask;
	return s;
}

/* Its count after adding d (1 or -1); -ENOSPC when full. A key whose
 * count drops to 0 keeps its slot: probes never break. */
static int64_t kc_add(struct idg_keycount *k, uint64_t h, int d)
{
	size_t s;

	if (!h)
		h = 1;
	s = kc_slot(k, h);
	if (!k->key[s]) {
		if (d < 0 || (k->n + 1) * 2 > k->mask + 1)
			return -ENOSPC;
		k->key[s] = h;
		k->n++;
	}
	k->count[s] = (uint32_t)((int64_t)k->count[s] + d);
	return k->count[s];
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	/* NULL and "" apart, as the checks compare them. */
	if (!s)
		return idg_hash_mix(h, 0x5a5a);
	return idg_hash_bytes(h, s, strlen(s) + 1);
}

/* What check_duplicates() compares of an endpoint. */
static uint64_t name_key(const struct idg_node *nd,
			 const struct idg_endpoint *ep)
{
	uint64_t h = idg_hash_mix(IDG_HASH_SEED, 'E');

	h = hash_str(h, nd ? nd->cluster : NULL);
	h = hash_str(h, ep->namespace);
	return idg_hash_final(hash_str(h, ep->name));
}

/* What check_endpoint_ips() compares of an address. */
static uint64_t ip_key(const struct idg_node *nd, const struct idg_cidr *ip)
{
	uint64_t h = hash_str(idg_hash_mix(IDG_HASH_SEED, 'I'), nd->cluster);

	h = idg_hash_mix(h, (uint64_t)ip->family << 8 | ip->plen);
	return idg_hash_final(idg_hash_bytes(h, ip->addr, sizeof(ip->addr)));
}

/* The keys of one endpoint added (d 1) or taken away (d -1); false
 * where the full check could have something to say. */
static bool ep_keys(struct idg_keycount *k, const struct idg_config *cfg,
		    const struct idg_endpoint *ep, int d)
{
	const struct idg_node *nd = ep->node ? idg_config_node(cfg, ep->node) :
					       NULL;
	int64_t c;

	if (!nd || ep->interface || !ep->name)
		return false;
	c = kc_add(k, name_key(nd, ep), d);
	if (c < 0 || (d > 0 && c != 1))
		return false;
	for (size_t i = 0; nd->cluster && i < ep->n_ips; i++) {
		c = kc_add(k, ip_key(nd, &ep->ips[i]), d);
		if (c < 0 || (d > 0 && c != 1))
			return false;
	}
	return true;
}

struct idg_keycount *idg_ident_keys_of(const struct idg_config *cfg)
{
	struct idg_keycount *k = kc_new(2 * cfg->n_endpoints + 64);

	for (size_t i = 0; k && i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];

		/* A config with workload interfaces is checked in full. */
		if (!ep_keys(k, cfg, ep, 1)) {
			idg_keycount_free(k);
			return NULL;
		}
	}
	return k;
}

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a;
	uintptr_t y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* The endpoints of the files in a (sorted) and not in b (sorted). */
static bool files_keys(struct idg_keycount *k, const struct idg_config *cfg,
		       struct idg_cfg_frag **a, size_t na,
		       struct idg_cfg_frag **b, size_t nb, int d)
{
	for (size_t i = 0, j = 0; i < na; i++) {
		while (j < nb && ptr_cmp(&b[j], &a[i]) < 0)
			j++;
		if (j < nb && b[j] == a[i])
			continue;
		for (size_t e = 0; e < idg_cfg_frag_endpoints(a[i]); e++)
			if (!ep_keys(k, cfg, idg_cfg_frag_endpoint(a[i], e), d))
				return false;
	}
	return true;
}

bool idg_ident_keys_patch(struct idg_keycount *k,
			  struct idg_cfg_frag *const *checked,
			  size_t n_checked, const struct idg_config *cfg)
{
	struct idg_cfg_frag **nf = NULL, **old = NULL;
	size_t n_nf = 0;
	bool ok, room;

	if (!k || !n_checked || idg_config_ident_files(cfg, &nf, &n_nf) ||
	    !n_nf) {
		idg_cfg_frags_drop(nf, n_nf);
		return false;
	}
	/* Nodes the same: their names, clusters and interfaces too. */
	ok = idg_cfg_frags_same_nodes(checked, n_checked, nf, n_nf);
	old = ok ? malloc(n_checked * sizeof(*old)) : NULL;
	if (old) {
		memcpy(old, checked, n_checked * sizeof(*old));
		qsort(old, n_checked, sizeof(*old), ptr_cmp);
		qsort(nf, n_nf, sizeof(*nf), ptr_cmp);
		/* Gone first: a name may move from one file to another. */
		ok = files_keys(k, cfg, old, n_checked, nf, n_nf, -1) &&
		     files_keys(k, cfg, nf, n_nf, old, n_checked, 1);
	}
	room = old != NULL;
	free(old);
	idg_cfg_frags_drop(nf, n_nf);
	return room && ok;
}
