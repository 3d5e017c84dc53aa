/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Conntrack garbage collection: the LRUs only evict under pressure, so
 * entries of flows that ended stay until someone removes them. The
 * datapath already ignores an expired entry; this frees its slot. The
 * idle limits are the datapath's own (idg_ct_timeout_ns() in
 * include/idgate/datapath.h).
 */
#ifndef IDGATE_LOADER_CT_GC_H
#define IDGATE_LOADER_CT_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idg_ct_gc_result {
	size_t removed;
	size_t live;
};

/* One conntrack table: est is 1 for idg_ct, 0 for idg_ct_new. now_ns:
 * CLOCK_MONOTONIC_COARSE, the datapath's clock. Adds to res. */
int idg_ct_gc_pass(int ct_fd, int est, uint64_t now_ns,
		   struct idg_ct_gc_result *res);

/*
 * Conntrack hints (include/idgate/datapath.h). init gives a fresh
 * instance its seed, once. rotate starts the next epoch when the current
 * one has lasted IDG_CT_HINT_EPOCH_NS, clearing the bitmap it will use;
 * *rotated says whether it did. Without rotation the bitmaps only fill
 * up: lookups are then skipped less often, never wrongly.
 */
int idg_ct_hint_init(int epoch_fd, uint64_t now_ns);
int idg_ct_hint_rotate(int hint_fd, int epoch_fd, uint64_t now_ns,
		       bool *rotated);

#endif
