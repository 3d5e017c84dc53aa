/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Conntrack garbage collection: the LRU only evicts under pressure, so
 * entries of flows that ended stay until someone removes them. Idle
 * limits are Cilium's defaults: 6 h for TCP, 60 s for everything else.
 */
#ifndef IDGATE_LOADER_CT_GC_H
#define IDGATE_LOADER_CT_GC_H

#include <stddef.h>
#include <stdint.h>

#define IDG_CT_TCP_IDLE_NS (21600ull * 1000000000ull)
#define IDG_CT_OTHER_IDLE_NS (60ull * 1000000000ull)

struct idg_ct_gc_result {
	size_t removed;
	size_t live;
};

/* now_ns: CLOCK_MONOTONIC_COARSE, the datapath's clock. */
int idg_ct_gc_pass(int ct_fd, uint64_t now_ns, uint64_t tcp_idle_ns,
		   uint64_t other_idle_ns, struct idg_ct_gc_result *res);

#endif
