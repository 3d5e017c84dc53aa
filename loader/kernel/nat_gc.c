// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "nat_gc.h"

static int push(void **v, size_t *n, size_t *cap, const void *e, size_t sz)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		void *nv = realloc(*v, c * sz);

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	memcpy((char *)*v + *n * sz, e, sz);
	(*n)++;
	return 0;
}

/* A source's entries go once it holds nothing and made nothing for this
 * long: the datapath then has no reason to touch them. */
#define SRC_IDLE_NS (120ull * 1000000000ull)

/* One more of the source's mappings collected (only GC writes this). */
static void src_collected(int gc_fd, const struct idg_snat_key *k)
{
	struct idg_snat_src_key sk = { .node_ip = k->node_ip,
				       .saddr = k->saddr };
	uint64_t n = 0;

	if (gc_fd < 0)
		return;
	bpf_map_lookup_elem(gc_fd, &sk, &n);
	n++;
	bpf_map_update_elem(gc_fd, &sk, &n, BPF_ANY);
}

/* Drop the accounting of sources that hold no mapping and made none
 * for a while; count the others. */
static int src_sweep(const struct idg_nat_maps *m, uint64_t now,
		     struct idg_nat_gc_result *res)
{
	struct idg_snat_src_key k, next, *prev = NULL, *gone = NULL;
	size_t n = 0, cap = 0;
	struct idg_snat_src v;
	int err = 0;

	if (m->src < 0)
		return 0;
	while (!err && !bpf_map_get_next_key(m->src, prev, &next)) {
		uint64_t collected = 0;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(m->src, &k, &v))
			continue;
		if (m->src_gc >= 0)
			bpf_map_lookup_elem(m->src_gc, &k, &collected);
		if (v.allocs - v.frees - collected ||
		    (now > v.last_ns && now - v.last_ns < SRC_IDLE_NS)) {
			res->sources++;
			continue;
		}
		err = push((void **)&gone, &n, &cap, &k, sizeof(k));
	}
	for (size_t i = 0; !err && i < n; i++) {
		if (!bpf_map_delete_elem(m->src, &gone[i]) && m->src_gc >= 0)
			bpf_map_delete_elem(m->src_gc, &gone[i]);
	}
	free(gone);
	return err;
}

static bool was_orphan(const struct idg_nat_gc *st,
		       const struct idg_snat_rev_key *k)
{
	for (size_t i = 0; i < st->n_orphans; i++)
		if (!memcmp(&st->orphans[i], k, sizeof(*k)))
			return true;
	return false;
}

int idg_nat_gc_pass(const struct idg_nat_maps *m, const struct idg_tun_cfg *tun,
		    uint64_t now_ns, struct idg_nat_gc *st,
		    struct idg_nat_gc_result *res)
{
	int fwd_fd = m->fwd, rev_fd = m->rev;
	struct idg_snat_key fk, fnext, *fprev = NULL, *dead = NULL;
	struct idg_snat_rev_key rk, rnext, *rprev = NULL, *orph = NULL;
	size_t n_dead = 0, cap_dead = 0, n_orph = 0, cap_orph = 0;
	struct idg_snat_val v;
	int err = 0;

	memset(res, 0, sizeof(*res));
	/* Collect first: deleting while walking a hash can skip entries. */
	while (!err && !bpf_map_get_next_key(fwd_fd, fprev, &fnext)) {
		uint64_t t;

		fk = fnext;
		fprev = &fk;
		if (bpf_map_lookup_elem(fwd_fd, &fk, &v))
			continue;
		t = idg_nat_timeout(tun, fk.proto, v.flags);
		if (t && now_ns > v.last_seen_ns && now_ns - v.last_seen_ns > t)
			err = push((void **)&dead, &n_dead, &cap_dead, &fk,
				   sizeof(fk));
		else
			res->live++;
	}
	for (size_t i = 0; !err && i < n_dead; i++) {
		struct idg_snat_rev_key r = { .proto = dead[i].proto };

		if (bpf_map_lookup_elem(fwd_fd, &dead[i], &v))
			continue;
		/* Only the one whose delete succeeds owns the mapping: the
		 * datapath may have taken it over in between. */
		if (bpf_map_delete_elem(fwd_fd, &dead[i]))
			continue;
		src_collected(m->src_gc, &dead[i]);
		r.saddr = dead[i].daddr;
		r.daddr = v.nat_ip;
		r.sport = dead[i].dport;
		r.dport = v.nat_port;
		bpf_map_delete_elem(rev_fd, &r);
		res->expired++;
	}

	while (!err && !bpf_map_get_next_key(rev_fd, rprev, &rnext)) {
		struct idg_snat_rev_val rv;
		struct idg_snat_key f = { .proto = rnext.proto };

		rk = rnext;
		rprev = &rk;
		if (bpf_map_lookup_elem(rev_fd, &rk, &rv))
			continue;
		f.node_ip = rv.node_ip;
		f.saddr = rv.orig_saddr;
		f.daddr = rk.saddr;
		f.sport = rv.orig_sport;
		f.dport = rk.sport;
		if (!bpf_map_lookup_elem(fwd_fd, &f, &v) &&
		    v.nat_ip == rk.daddr && v.nat_port == rk.dport)
			continue;
		err = push((void **)&orph, &n_orph, &cap_orph, &rk, sizeof(rk));
	}
	for (size_t i = 0; !err && i < n_orph; i++) {
		if (!was_orphan(st, &orph[i]))
			continue;
		if (!bpf_map_delete_elem(rev_fd, &orph[i]))
			res->orphans++;
	}
	free(dead);
	if (!err)
		err = src_sweep(m, now_ns, res);
	if (err) {
		free(orph);
		return err;
	}
	free(st->orphans);
	st->orphans = orph;
	st->n_orphans = n_orph;
	return 0;
}

void idg_nat_gc_free(struct idg_nat_gc *st)
{
	free(st->orphans);
	memset(st, 0, sizeof(*st));
}
