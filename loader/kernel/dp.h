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

struct idg_dp {
	struct idgate_xdp *xdp;
	struct idgate_tc *tc;
	int gen_fd;
	int cfg_gens_fd;
	int ipc_gens_fd;
	int ep_gens_fd;
	int pol_gens_fd;
	int polany_gens_fd;
	int pair_gens_fd;
	int tun_gens_fd;
	int egw_gens_fd;
	int gwset_gens_fd;
	int node_gens_fd;
	int gw_health_fd;
	int egw_flows_fd;
	int snat_fd;
	int snat_rev_fd;
	int snat_src_fd;
	int snat_srcgc_fd;
	int ct_fd;     /* conntrack: flows that proved both ends alive */
	int ct_new_fd; /* ... and the rest (datapath.h) */
	int frag_fd;
	int ct_hint_fd;  /* conntrack hints and their epoch */
	int ct_epoch_fd;
	int reason_st_fd;
	int rule_st_fd;
	int misc_st_fd;
	int events_fd;
	int event_rl_fd;
	int mon_cfg_fd;
	int xdp_prog_fd;
	int ipch_gens_fd;  /* ipcache host entries (hash) */
	int polx_gens_fd;  /* per-peer exact port entries (hash) */
	int eph_gens_fd;   /* endpoint host entries (hash) */
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
