/* SPDX-License-Identifier: GPL-2.0 */
/* The egress gateway's tc programs: where they go, loading them. */
#ifndef IDGATE_LOADER_EGW_PROGS_H
#define IDGATE_LOADER_EGW_PROGS_H

#include <stddef.h>

#include "attach.h"
#include "compile.h"
#include "dp.h"
#include "instance.h"
#include "netlink.h"

/*
 * Append the tc attachments of the workload interfaces and the egress
 * gateway on this node to want[] (at most max in all): on every
 * workload-facing interface, the source check, egress policy and encap
 * program at ingress and the ingress policy program at egress; the
 * tunnel program at the uplink's ingress on any node that sends or
 * serves; the reverse-SNAT program at a gateway's external interface.
 */
int idg_egw_wanted(const struct idg_compiled *c, const struct idg_iface *uplink,
		   const struct idg_iface *external,
		   struct idg_tc_att *want, size_t *n, size_t max);

/* Load the object that holds the program pinned as name, against the
 * maps pinned in pin_dir, and pin its programs there. */
int idg_egw_progs_load(const char *pin_dir, const char *name);

/* The egress objects loaded against dp's private maps (no pins). */
struct idgate_tc_wl;
struct idgate_gw;
struct idg_egw_objs {
	struct idgate_tc_wl *wl;
	struct idgate_gw *gw;
	int wl_fd;     /* idgate_tc_wl_ingress */
	int wl_egress_fd; /* idgate_tc_wl_egress */
	int tunnel_fd; /* idgate_tunnel_in */
	int ext_fd;    /* idgate_gw_ext_in */
};

int idg_egw_objs_open(struct idg_egw_objs *o, const struct idg_dp *dp);
void idg_egw_objs_close(struct idg_egw_objs *o);

#endif
