/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The node datapath as userspace sees it: the XDP and tc objects loaded
 * with one shared set of maps, pinned under an instance dir or not at all
 * (tests).
 */
#ifndef IDGATE_LOADER_DP_H
#define IDGATE_LOADER_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <idgate/datapath.h>
#include <idgate/egw.h>

struct idgate_xdp;
struct idgate_tc;

/*
 * The one list of the maps userspace holds an fd of: the field of struct
 * idg_dp, the map in the skeletons (idgate_xdp's; idgate_tc shares them)
 * and its pin name. The fields, their reset, their copy from the loaded
 * skeleton and the pins of an instance are all made from it, in this order.
 */
#define IDG_DP_MAPS(X)                                                    \
	X(gen_fd, idg_gen, IDG_MAP_GEN)                                   \
	X(cfg_gens_fd, idg_cfg_gens, IDG_MAP_CFG_GENS)                    \
	X(ipc_gens_fd, idg_ipc_gens, IDG_MAP_IPCACHE_GENS)                \
	X(ep_gens_fd, idg_ep_gens, IDG_MAP_EP_GENS)                       \
	/* endpoint host entries (hash) */                                \
	X(eph_gens_fd, idg_eph_gens, IDG_MAP_EP_HOST_GENS)                \
	X(pol_gens_fd, idg_pol_gens, IDG_MAP_POLICY_GENS)                 \
	/* ipcache host entries (hash) */                                 \
	X(ipch_gens_fd, idg_ipch_gens, IDG_MAP_IPCACHE_HOST_GENS)         \
	/* per-peer exact port entries (hash) */                          \
	X(polx_gens_fd, idg_polx_gens, IDG_MAP_POLICY_EXACT_GENS)         \
	X(polany_gens_fd, idg_polany_gens, IDG_MAP_POLICY_ANY_GENS)       \
	X(pair_gens_fd, idg_pair_gens, IDG_MAP_PAIR_GENS)                 \
	X(tun_gens_fd, idg_tun_gens, IDG_MAP_TUNCFG_GENS)                 \
	X(egw_gens_fd, idg_egw_gens, IDG_MAP_EGW_GENS)                    \
	X(gwset_gens_fd, idg_gwset_gens, IDG_MAP_GWSET_GENS)              \
	X(node_gens_fd, idg_node_gens, IDG_MAP_NODE_GENS)                 \
	X(gw_health_fd, idg_gw_health, IDG_MAP_GW_HEALTH)                 \
	X(egw_flows_fd, idg_egw_flows, IDG_MAP_EGW_FLOWS)                 \
	X(snat_fd, idg_snat, IDG_MAP_SNAT)                                \
	X(snat_rev_fd, idg_snat_rev, IDG_MAP_SNAT_REV)                    \
	X(snat_src_fd, idg_snat_src, IDG_MAP_SNAT_SRC)                    \
	X(snat_srcgc_fd, idg_snat_srcgc, IDG_MAP_SNAT_SRC_GC)             \
	/* conntrack: flows that proved both ends alive, and the rest */  \
	X(ct_fd, idg_ct, IDG_MAP_CT)                                      \
	X(ct_new_fd, idg_ct_new, IDG_MAP_CT_NEW)                          \
	X(frag_fd, idg_frag, IDG_MAP_FRAG)                                \
	/* conntrack hints and their epoch */                             \
	X(ct_hint_fd, idg_ct_hint, IDG_MAP_CT_HINT)                       \
	X(ct_epoch_fd, idg_ct_epoch, IDG_MAP_CT_EPOCH)                    \
	X(reason_st_fd, idg_reason_st, IDG_MAP_REASON_STATS)              \
	X(rule_st_fd, idg_rule_st, IDG_MAP_RULE_STATS)                    \
	X(misc_st_fd, idg_misc_st, IDG_MAP_MISC_STATS)                    \
	X(events_fd, idg_events, IDG_MAP_EVENTS)                          \
	X(event_rl_fd, idg_event_rl, IDG_MAP_EVENT_RL)                    \
	X(mon_cfg_fd, idg_mon_cfg, IDG_MAP_MON_CFG)

#define IDG_DP_MAP_ONE(field, map, pin) +1
#define IDG_DP_N_MAPS (0 IDG_DP_MAPS(IDG_DP_MAP_ONE))

struct idg_dp {
	struct idgate_xdp *xdp;
	struct idgate_tc *tc;
#define IDG_DP_FIELD(field, map, pin) int field;
	IDG_DP_MAPS(IDG_DP_FIELD)
#undef IDG_DP_FIELD
	int xdp_prog_fd;
	int tc_prog_fd;
	int tc_in_prog_fd; /* the ingress filter for tc mode */
	bool own_fds; /* opened from pins: close the fds ourselves */
};

/*
 * Load both objects. pin_dir NULL: maps are private to this process.
 * Otherwise maps are pinned by name in pin_dir, and reused when already
 * pinned there (a later apply keeps the live state). Returns -errno.
 */
int idg_dp_open(struct idg_dp *dp, const char *pin_dir);
/* Make another (opened, not loaded) object use dp's private maps: how
 * tests and the build-time verifier check load the egress programs. */
struct bpf_object;
int idg_dp_share_into(const struct idg_dp *dp, struct bpf_object *obj);

/* Maps of an instance an earlier apply pinned in pin_dir; no programs.
 * -ENOENT when a map is missing (not applied, or another version). */
int idg_dp_open_pinned(struct idg_dp *dp, const char *pin_dir);
void idg_dp_close(struct idg_dp *dp);
/* Names of the maps an instance pins; returns how many there are. */
size_t idg_dp_map_names(const char **names, size_t max);

int idg_dp_active_gen(const struct idg_dp *dp, __u32 *gen);
/* Entries of a map, walked by key (-1 on error), and of the active
 * generation's inner map behind an outer map. */
long idg_map_count(int fd, size_t key_size);
long idg_map_count_active(int outer_fd, __u32 gen, size_t key_size);
/* The same over two maps that split one table (trie + exact hash). */
long idg_map_count_active2(int fd_a, int fd_b, __u32 gen, size_t key_size);

/* The tunnel settings of the active generation. */
int idg_dp_tun_cfg(const struct idg_dp *dp, struct idg_tun_cfg *tun);

/* Per-CPU counters summed over all possible CPUs. */
int idg_dp_reason_stats(const struct idg_dp *dp, __u32 reason,
			struct idg_counter *sum);
int idg_dp_rule_stats(const struct idg_dp *dp, __u32 cookie,
		      struct idg_counter *sum);
int idg_dp_misc_stat(const struct idg_dp *dp, __u32 idx, __u64 *sum);

#endif /* IDGATE_LOADER_DP_H */
