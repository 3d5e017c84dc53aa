/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Garbage collection of the gateway's SNAT table, following the
 * ownership rule of include/idgate/bpf/nat.h: a forward entry is deleted
 * when idle past its timeout, and its reverse entry only if that delete
 * succeeded; a reverse entry without a forward entry is removed once two
 * passes in a row found it so (in one pass it may be a claim in progress).
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
};

/* now_ns: CLOCK_MONOTONIC_COARSE, the datapath's clock. Timeouts of 0
 * never expire. Returns 0 or -errno. */
int idg_nat_gc_pass(int fwd_fd, int rev_fd, const struct idg_tun_cfg *tun,
		    uint64_t now_ns, struct idg_nat_gc *st,
		    struct idg_nat_gc_result *res);
void idg_nat_gc_free(struct idg_nat_gc *st);

#endif
