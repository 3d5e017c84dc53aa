/* SPDX-License-Identifier: GPL-2.0 */
/*
 * apply: one compiled config into the kernel. The first apply of an
 * instance loads, pins and attaches; every later one only fills the idle
 * generation and switches to it (never detaches, no open window).
 */
#ifndef IDGATE_LOADER_APPLY_H
#define IDGATE_LOADER_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attach.h"
#include "compile.h"
#include "gen.h"
#include "instance.h"
#include "netlink.h"

#define IDG_META_TC_MAX 16

/*
 * What an instance remembers about its attachments (state dir). The first
 * apply writes it before attaching anything, listing all it will attach,
 * and again once attached: unload can always undo what a killed apply did.
 */
struct idg_meta {
	char uplink[16];
	int uplink_ifindex;
	char xdp_mode[16];   /* native | skb | tc; auto until first attached */
	size_t n_tc;
	struct idg_tc_att tc[IDG_META_TC_MAX];
	/* IDG_ABI_VERSION of the idgate that pinned the maps; a meta
	 * without one is from ABI 1. */
	unsigned int abi;
};

int idg_meta_load(const char *state_dir, struct idg_meta *m);
int idg_meta_save(const char *state_dir, const struct idg_meta *m);
/* The tc priority an attachment uses (the ingress filter runs first). */
uint32_t idg_tc_att_prio(const struct idg_tc_att *t);

struct idg_apply_opts {
	uint64_t drop_event_interval_ns;
	/* Bit per cookie the previous apply used (NULL: none). Counters of
	 * the other cookies are zeroed, so a number handed to a new rule
	 * never shows an old rule's packets. */
	const uint8_t *known_cookies;
	/* The host's own addresses (the uplink's): judged as the host
	 * identity when a host policy or enforcement mode asks for it. */
	const struct idg_iface *host;
	/* Egress gateway: the uplink (tunnel) and, on a gateway, the
	 * external interface (NULL when the node has none). */
	const struct idg_iface *uplink;
	const struct idg_iface *external;
	/* A grace period started before the compile (idg_gen_quiesce_start);
	 * NULL: the commit waits for one itself when it must. */
	struct idg_gen_quiesce *quiesce;
};

struct idg_apply_result {
	uint32_t gen;
	bool first;
	bool reattached; /* a program was missing and was put back */
	double fill_ms;   /* the generation built in memory */
	double switch_ms; /* from then until packets see it */
	double quiesce_wait_ms; /* of switch_ms: waiting for the grace period */
	struct idg_gen_commit_stats commit;
	const char *xdp_mode;
	bool xdp_alone; /* no libxdp dispatcher: see idg_xdp_attached() */
	size_t n_tc;    /* tc programs attached now */
	struct idg_gen_counts {
		uint32_t ipcache, endpoints, policy;
	} counts;
};

/* Fill a fresh generation from c (no kernel state touched but g's maps). */
int idg_gen_fill(struct idg_gen *g, const struct idg_compiled *c,
		 const struct idg_apply_opts *o);

/*
 * The caller holds the instance lock and has checked the uplink. On
 * failure the previous generation keeps enforcing (later apply) or
 * nothing stays attached or pinned (first apply); errbuf says why.
 */
int idg_apply(struct idg_instance *in, const struct idg_compiled *c,
	      const struct idg_iface *uplink, const struct idg_apply_opts *o,
	      struct idg_apply_result *res, char *errbuf, size_t errlen);

/* Detach and unpin everything of the instance; remove its state. */
int idg_unload(struct idg_instance *in, char *errbuf, size_t errlen);

#endif
