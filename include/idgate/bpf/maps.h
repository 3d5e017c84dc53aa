/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every map of the node datapath, defined once. The XDP and tc objects
 * both include this header; LIBBPF_PIN_BY_NAME makes the second object to
 * load reuse the first one's maps from the instance's pin dir.
 */
#ifndef IDGATE_BPF_MAPS_H
#define IDGATE_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <idgate/datapath.h>
#include <idgate/egw.h>

/*
 * Inner map templates: userspace creates maps of exactly these shapes.
 * Sizes, not BTF types: clang emits only forward declarations for types
 * reached through a nested map definition, which libbpf cannot size.
 */
struct idg_cfg_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct idg_cfg));
};

struct idg_ipcache_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_IPCACHE_MAX);
	__uint(key_size, sizeof(struct idg_ip_key));
	__uint(value_size, sizeof(struct idg_ipcache_val));
};

/* Host addresses (full-length keys) of the ipcache: one hash lookup
 * instead of a trie walk; idg_ipcache_inner keeps the shorter prefixes. */
struct idg_ipcache_host_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_IPCACHE_MAX);
	__uint(key_size, sizeof(struct idg_ip_key));
	__uint(value_size, sizeof(struct idg_ipcache_val));
};

struct idg_ep_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_ENDPOINTS_MAX);
	__uint(key_size, sizeof(struct idg_ip_key));
	__uint(value_size, sizeof(struct idg_ep_val));
};

/* Host addresses of the local endpoints, as for the ipcache. */
struct idg_ep_host_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_ENDPOINTS_MAX);
	__uint(key_size, sizeof(struct idg_ip_key));
	__uint(value_size, sizeof(struct idg_ep_val));
};

struct idg_policy_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_POLICY_MAX);
	__uint(key_size, sizeof(struct idg_policy_key));
	__uint(value_size, sizeof(struct idg_policy_val));
};

/* Per-peer entries of one protocol and port (prefixlen
 * IDG_POL_PREFIX_FULL), folded into one verdict per port (datapath.h);
 * the per-peer trie keeps the rest. */
struct idg_policy_exact_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_POLICY_MAX);
	__uint(key_size, sizeof(struct idg_policy_key));
	__uint(value_size, sizeof(struct idg_policy_val));
};

struct idg_policy_any_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_POLICY_MAX);
	__uint(key_size, sizeof(struct idg_policy_key));
	__uint(value_size, sizeof(struct idg_policy_val));
};

struct idg_pair_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_POLICY_MAX);
	__uint(key_size, sizeof(struct idg_pair_key));
	__uint(value_size, sizeof(__u32));
};

struct idg_tun_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct idg_tun_cfg));
};

struct idg_egw_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_EGW_POLICY_MAX);
	__uint(key_size, sizeof(struct idg_egw_key));
	__uint(value_size, sizeof(struct idg_egw_val));
};

struct idg_gwset_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IDG_GWSET_MAX);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct idg_gwset));
};

struct idg_node_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_NODES_MAX);
	__uint(key_size, sizeof(__be32));
	__uint(value_size, sizeof(struct idg_node_val));
};

/*
 * A per-generation map: two map-in-map slots of inner maps shaped like
 * the template, one read per packet (slot = generation & 1).
 */
#define IDG_GEN_MAP(name, inner)                                  \
	struct {                                                  \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);         \
		__uint(max_entries, IDG_GENERATIONS);             \
		__type(key, __u32);                               \
		__uint(pinning, LIBBPF_PIN_BY_NAME);              \
		__array(values, inner);                           \
	} name SEC(".maps")

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_gen SEC(".maps");

IDG_GEN_MAP(idg_tun_gens, struct idg_tun_inner);

IDG_GEN_MAP(idg_egw_gens, struct idg_egw_inner);

IDG_GEN_MAP(idg_gwset_gens, struct idg_gwset_inner);

IDG_GEN_MAP(idg_node_gens, struct idg_node_inner);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_NODES_MAX);
	__type(key, __be32);
	__type(value, struct idg_gw_health);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_gw_health SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, IDG_EGW_FLOWS_MAX);
	__type(key, struct idg_ct_key);
	__type(value, struct idg_egw_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_egw_flows SEC(".maps");

/* Not LRU: a live mapping must never be evicted silently; exhaustion is
 * a counted drop and expired entries are collected by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_SNAT_MAX);
	__type(key, struct idg_snat_key);
	__type(value, struct idg_snat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_snat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_SNAT_MAX);
	__type(key, struct idg_snat_rev_key);
	__type(value, struct idg_snat_rev_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_snat_rev SEC(".maps");

/* Per-source accounting (egw.h): one entry per source that holds or
 * held mappings, so never more sources than mappings the table holds. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_SNAT_MAX);
	__type(key, struct idg_snat_src_key);
	__type(value, struct idg_snat_src);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_snat_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_SNAT_MAX);
	__type(key, struct idg_snat_src_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_snat_srcgc SEC(".maps");

IDG_GEN_MAP(idg_cfg_gens, struct idg_cfg_inner);

IDG_GEN_MAP(idg_ipc_gens, struct idg_ipcache_inner);

IDG_GEN_MAP(idg_ep_gens, struct idg_ep_inner);

IDG_GEN_MAP(idg_eph_gens, struct idg_ep_host_inner);

IDG_GEN_MAP(idg_pol_gens, struct idg_policy_inner);

IDG_GEN_MAP(idg_ipch_gens, struct idg_ipcache_host_inner);

IDG_GEN_MAP(idg_polx_gens, struct idg_policy_exact_inner);

IDG_GEN_MAP(idg_polany_gens, struct idg_policy_any_inner);

IDG_GEN_MAP(idg_pair_gens, struct idg_pair_inner);

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, IDG_CT_MAX);
	__type(key, struct idg_ct_key);
	__type(value, struct idg_ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, IDG_CT_NEW_MAX);
	__type(key, struct idg_ct_key);
	__type(value, struct idg_ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_ct_new SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IDG_CT_HINT_EPOCHS * IDG_CT_HINT_ELEMS);
	__type(key, __u32);
	__type(value, struct idg_ct_hint);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_ct_hint SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct idg_ct_epoch);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_ct_epoch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, IDG_FRAG_MAX);
	__type(key, struct idg_frag_key);
	__type(value, struct idg_frag_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_frag SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IDG_REASON_MAX);
	__type(key, __u32);
	__type(value, struct idg_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_reason_st SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IDG_RULES_MAX);
	__type(key, __u32);
	__type(value, struct idg_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_rule_st SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IDG_MISC_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_misc_st SEC(".maps");

/* Per-CPU event budget (struct idg_ev_budget); private to each object. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct idg_ev_budget);
} idg_ev_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, IDG_EVENTS_RINGBUF_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, IDG_EVENT_RL_MAX);
	__type(key, struct idg_ct_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_event_rl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_mon_cfg SEC(".maps");

/* Verdict of a trace run: private to each loaded object, never pinned. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct idg_trace_res);
} idg_trace_out SEC(".maps");

#endif /* IDGATE_BPF_MAPS_H */
