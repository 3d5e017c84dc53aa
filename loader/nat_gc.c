// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "nat_gc.h"

/* The datapath's rule (idg_nat_timeout() in nat.h). */
static uint64_t timeout_of(const struct idg_tun_cfg *tun, uint8_t proto,
			   uint16_t flags)
{
	if (proto == IPPROTO_TCP && (flags & IDG_NAT_F_TCP_EST) &&
	    !(flags & IDG_NAT_F_TCP_FIN))
		return tun->nat_tcp_timeout_ns;
	return tun->nat_other_timeout_ns;
}

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

static bool was_orphan(const struct idg_nat_gc *st,
		       const struct idg_snat_rev_key *k)
{
	for (size_t i = 0; i < st->n_orphans; i++)
		if (!memcmp(&st->orphans[i], k, sizeof(*k)))
			return true;
	return false;
}

int idg_nat_gc_pass(int fwd_fd, int rev_fd, const struct idg_tun_cfg *tun,
		    uint64_t now_ns, struct idg_nat_gc *st,
		    struct idg_nat_gc_result *res)
{
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
		t = timeout_of(tun, fk.proto, v.flags);
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
