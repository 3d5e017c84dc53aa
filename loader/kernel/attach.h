/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Attaching the programs to the uplink: XDP through libxdp's dispatcher
 * (other XDP programs can share the interface), tc egress as the first
 * cls_bpf filter of clsact.
 */
#ifndef IDGATE_LOADER_ATTACH_H
#define IDGATE_LOADER_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

#include <bpf/libbpf.h>

/*
 * tc filter identity: one idgate filter per interface, direction and
 * priority. The ingress filter of tc mode runs first (it may drop), the
 * tunnel and encap programs after it.
 */
#define IDG_TC_HANDLE 0x1d9
#define IDG_TC_PRIO_FILTER 1
#define IDG_TC_PRIO 2

/*
 * obj: the XDP object opened (not loaded) with the instance's pin root,
 * so its maps are the pinned ones. libxdp loads and attaches it. For
 * IDG_XDP_AUTO native is tried first, then generic (skb) mode; *used
 * tells which one took ("native" or "skb").
 */
int idg_xdp_attach(struct bpf_object *obj, int ifindex, enum idg_xdp_mode mode,
		   const char **used, char *errbuf, size_t errlen);
/* Detach idgate's XDP program (found by name) from ifindex; 0 when none. */
int idg_xdp_detach(int ifindex);
/*
 * Program id of idgate's XDP program on ifindex and its mode, or 0.
 * *alone: attached without libxdp's dispatcher (the kernel cannot load
 * freplace programs), so no other XDP program can share the interface.
 */
uint32_t idg_xdp_attached(int ifindex, const char **mode, bool *alone);

/* Creates the clsact qdisc when missing (*created tells) and attaches
 * idgate's filter at BPF_TC_INGRESS or BPF_TC_EGRESS. */
int idg_tc_attach(int prog_fd, int ifindex, enum bpf_tc_attach_point at,
		  uint32_t prio,
		  bool *created);
int idg_tc_detach(int ifindex, enum bpf_tc_attach_point at, uint32_t prio);
/* Remove ifindex's clsact qdisc; one already gone is no error. libbpf's
 * messages are shown only on failure. */
int idg_tc_clsact_destroy(int ifindex);
/* Program id of idgate's tc filter on ifindex at that point, or 0. */
uint32_t idg_tc_attached(int ifindex, enum bpf_tc_attach_point at,
			 uint32_t prio);

/* One tc program idgate attached. */
struct idg_tc_att {
	char ifname[16];
	int ifindex;
	uint32_t point;      /* BPF_TC_INGRESS or BPF_TC_EGRESS */
	char prog[32];       /* its pin name in the pin dir */
	bool clsact_created; /* we made the qdisc: remove it on unload */
};

#endif
