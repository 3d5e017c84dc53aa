/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Limits shared by the BPF programs and userspace. Every one can be
 * overridden with -D at build time; BPF and userspace must agree, so set
 * them through meson (c_args and the BPF generator both read them).
 */
#ifndef IDGATE_CONSTS_H
#define IDGATE_CONSTS_H

/* Capacity of one generation's maps (the loader may size below these). */
#ifndef IDG_IPCACHE_MAX
#define IDG_IPCACHE_MAX (1 << 20)
#endif
#ifndef IDG_ENDPOINTS_MAX
#define IDG_ENDPOINTS_MAX 65536
#endif
#ifndef IDG_POLICY_MAX
#define IDG_POLICY_MAX (1 << 20)
#endif

/* Conntrack: LRUs shared by XDP and tc, not per generation; flows that
 * proved both ends alive, and the rest (datapath.h). */
#ifndef IDG_CT_MAX
#define IDG_CT_MAX (1 << 18)
#endif
#ifndef IDG_CT_NEW_MAX
#define IDG_CT_NEW_MAX (1 << 16)
#endif

/* Datagrams whose first fragment passed, awaiting their later ones. */
#ifndef IDG_FRAG_MAX
#define IDG_FRAG_MAX 8192
#endif

/* Rule cookies index a per-CPU counter array: cookie < IDG_RULES_MAX. */
#ifndef IDG_RULES_MAX
#define IDG_RULES_MAX 65536
#endif

/* Drop-event rate limiter entries (one per recently dropping flow). */
#ifndef IDG_EVENT_RL_MAX
#define IDG_EVENT_RL_MAX 16384
#endif

#ifndef IDG_EVENTS_RINGBUF_BYTES
#define IDG_EVENTS_RINGBUF_BYTES (1 << 20)
#endif

/* IPv6 extension headers walked before giving up (drop, reason). */
#ifndef IDG_IPV6_EXT_MAX
#define IDG_IPV6_EXT_MAX 6
#endif

/* VLAN tags parsed; a frame with more is dropped rather than passed
 * unjudged, so stacking tags cannot be used to slip past the filter. */
#ifndef IDG_VLAN_MAX
#define IDG_VLAN_MAX 2
#endif

/* Both generations live behind map-in-map slots 0 and 1. */
#define IDG_GENERATIONS 2

#endif /* IDGATE_CONSTS_H */
