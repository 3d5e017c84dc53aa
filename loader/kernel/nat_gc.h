/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Garbage collection of the gateway's SNAT table, following the
 * ownership rule of include/idgate/bpf/nat.h: a forward entry is deleted
 * when idle past its timeout, and its reverse entry only if that delete
 * succeeded; a reverse entry without a forward entry is removed once two
 * passes in a row found it so (in one pass it may be a claim in progress).
 * Each mapping removed is counted for its source (idg_snat_srcgc), and
 * the accounting of sources that hold nothing is dropped after a while.
 */
#ifndef IDGATE_LOADER_NAT_GC_H
#define IDGATE_LOADER_NAT_GC_H

#include <stddef.h>
#include <stdint.h>
#include <idgate/egw.h>

struct idg_nat_gc {
	struct idg_snat_rev_key *orphans; /* seen without forward last pass */
	size_t n_orphans;
};

struct idg_nat_gc_result {
	size_t expired;  /* mappings removed for idleness */
	size_t orphans;  /* reverse entries removed without a forward one */
	size_t live;     /* mappings left */
	size_t sources;  /* sources holding mappings (or lately) */
};

/* The gateway's NAT maps (-1: absent, for the accounting ones). */
struct idg_nat_maps {
	int fwd;    /* idg_snat */
	int rev;    /* idg_snat_rev */
	int src;    /* idg_snat_src */
	int src_gc; /* idg_snat_srcgc */
};

/* now_ns: CLOCK_MONOTONIC_COARSE, the datapath's clock. Timeouts of 0
 * never expire. Returns 0 or -errno. */
int idg_nat_gc_pass(const struct idg_nat_maps *m, const struct idg_tun_cfg *tun,
		    uint64_t now_ns, struct idg_nat_gc *st,
		    struct idg_nat_gc_result *res);
void idg_nat_gc_free(struct idg_nat_gc *st);

#endif
