/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Building one generation of datapath state beside the live one and
 * switching to it atomically.
 *
 *   struct idg_gen g;
 *   idg_gen_create(&g, NULL);
 *   idg_gen_ipcache_add(&g, ...); idg_gen_ep_add(&g, ...);
 *   idg_gen_policy_add(&g, ...);
 *   idg_gen_commit(&dp, &g, &gen);   // packets now read the new set
 *   idg_gen_destroy(&g);
 */
#ifndef IDGATE_LOADER_GEN_H
#define IDGATE_LOADER_GEN_H

#include <stdint.h>
#include <idgate/datapath.h>
#include <idgate/egw.h>

#include "dp.h"

struct idg_gen_limits {
	uint32_t ipcache;
	uint32_t endpoints;
	uint32_t policy;
};

struct idg_gen {
	int cfg_fd;
	int ipc_fd;
	int ep_fd;
	int pol_fd;    /* entries for one peer identity */
	int polany_fd; /* entries for any peer */
	int pair_fd;   /* {subject, peer, dir} -> kinds present in pol_fd */
	/* Egress gateway (include/idgate/egw.h). */
	int tun_fd;
	int egw_fd;
	int gwset_fd;
	int node_fd;
	struct idg_cfg cfg; /* written at commit; fill before */
	struct idg_tun_cfg tun; /* written at commit; fill before */
	uint32_t n_ipcache;
	uint32_t n_endpoints;
	uint32_t n_policy; /* LPM entries, after port-range expansion */
};

/* One policy rule as the datapath sees it, before port-range expansion. */
struct idg_rule_entry {
	uint32_t subject;  /* local endpoint identity */
	uint32_t peer;     /* 0: any peer */
	uint8_t dir;       /* IDG_DIR_* */
	uint8_t kind;      /* IDG_RULE_* */
	uint8_t proto;     /* 0: every protocol (an L3-only rule) */
	uint16_t port;     /* TCP/UDP/SCTP: 0 = every port */
	uint16_t end_port; /* last port of a range; <= port: just port */
	int icmp_type;     /* ICMP/ICMPv6: -1 = every type */
	uint32_t cookie;   /* < IDG_RULES_MAX; 0 means "no counter" */
};

/* NULL limits: the capacities of include/idgate/consts.h. */
int idg_gen_create(struct idg_gen *g, const struct idg_gen_limits *lim);
void idg_gen_destroy(struct idg_gen *g);

/* family is IDG_FAM_IPV4/IPV6, addr 4 or 16 bytes in network order. */
int idg_ip_key_make(struct idg_ip_key *k, int family, const void *addr,
		    unsigned int plen, uint16_t cluster_id);

int idg_gen_ipcache_add(struct idg_gen *g, const struct idg_ip_key *k,
			const struct idg_ipcache_val *v);
int idg_gen_ep_add(struct idg_gen *g, const struct idg_ip_key *k,
		   const struct idg_ep_val *v);
/* Adds the LPM entries of one rule. An entry already present keeps its
 * first cookie: the earlier rule is credited. */
int idg_gen_policy_add(struct idg_gen *g, const struct idg_rule_entry *r);

/* Egress gateway entries; gwset index < IDG_GWSET_MAX. */
int idg_gen_egw_add(struct idg_gen *g, const struct idg_egw_key *k,
		    const struct idg_egw_val *v);
int idg_gen_gwset_set(struct idg_gen *g, uint32_t index,
		      const struct idg_gwset *set);
int idg_gen_node_add(struct idg_gen *g, __be32 tunnel_ip,
		     const struct idg_node_val *v);

/*
 * Make g the active generation. Slot (G+1)&1 gets g's maps, then the
 * active number becomes G+1, then we wait until no program can still be
 * running with G, so the next commit may replace that slot. On failure
 * the active generation is unchanged.
 */
int idg_gen_commit(const struct idg_dp *dp, struct idg_gen *g,
		   uint32_t *new_gen);

#endif /* IDGATE_LOADER_GEN_H */
