/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one definition of every map key/value and event struct shared by the
 * BPF programs and userspace. Layout changes here are ABI changes for the
 * pinned maps: bump IDG_ABI_VERSION when a struct changes.
 */
#ifndef IDGATE_DATAPATH_H
#define IDGATE_DATAPATH_H

#include <linux/types.h>
#include <idgate/consts.h>
#include <idgate/identity.h>
#include <idgate/reasons.h>

#define IDG_ABI_VERSION 1

/* Address families as stored in keys (not AF_*: keep BPF free of libc). */
#define IDG_FAM_IPV4 4
#define IDG_FAM_IPV6 6

#define IDG_DIR_INGRESS 0
#define IDG_DIR_EGRESS 1

/*
 * Map names, pinned under the instance's pin dir. BPF object names are
 * limited to 15 characters.
 */
#define IDG_MAP_GEN "idg_gen"
#define IDG_MAP_CFG_GENS "idg_cfg_gens"
#define IDG_MAP_IPCACHE_GENS "idg_ipc_gens"
#define IDG_MAP_EP_GENS "idg_ep_gens"
#define IDG_MAP_POLICY_GENS "idg_pol_gens"
#define IDG_MAP_IPCACHE_HOST_GENS "idg_ipch_gens"
#define IDG_MAP_POLICY_EXACT_GENS "idg_polx_gens"
#define IDG_MAP_POLICY_ANY_GENS "idg_polany_gens"
#define IDG_MAP_PAIR_GENS "idg_pair_gens"
#define IDG_MAP_CT "idg_ct"
#define IDG_MAP_REASON_STATS "idg_reason_st"
#define IDG_MAP_RULE_STATS "idg_rule_st"
#define IDG_MAP_MISC_STATS "idg_misc_st"
#define IDG_MAP_EVENTS "idg_events"
#define IDG_MAP_EVENT_RL "idg_event_rl"
#define IDG_MAP_MON_CFG "idg_mon_cfg"

/* idg_mon_cfg[0]: what running monitors ask the datapath for. */
#define IDG_MON_F_TRACE (1u << 0)

/*
 * Generations. idg_gen[0] holds the active generation number G; the maps a
 * packet reads are slot (G & 1) of every *_gens outer map. G == 0 means
 * "never configured". Userspace brings the inner maps of slot
 * ((G + 1) & 1), which no program reads any more, to the new generation's
 * content, then writes G + 1. A packet reads G once, so it is judged by one
 * generation from start to end. cfg.gen is the generation a slot holds;
 * the datapath does not read it.
 */
#define IDG_GEN_SLOT(g) ((g)&1u)

/* ---- per-generation: node configuration (ARRAY, 1 entry) ---- */
#define IDG_ENFORCE_DEFAULT 0 /* endpoints selected by a policy are enforced */
#define IDG_ENFORCE_ALWAYS 1  /* every endpoint, and the host, default-deny */
#define IDG_ENFORCE_NEVER 2   /* nothing enforced (flags are all clear) */

struct idg_cfg {
	__u32 gen;          /* generation number this set was built for */
	__u32 cluster_id;   /* cluster id used in ipcache/endpoint lookups */
	__u32 enforcement;  /* IDG_ENFORCE_* */
	__u32 host_flags;   /* IDG_EP_F_* for traffic to non-endpoints (ALWAYS) */
	__u64 drop_event_interval_ns; /* per flow; 0 = an event for every drop */
	__u32 events_per_s_cpu; /* drop/verdict event budget per CPU; 0 = none */
	__u32 pad;
};

/* The budget is spent in windows of this length: a flood of new flows
 * costs one per-CPU lookup per packet once a window's share is used. */
#define IDG_EV_BUDGET_WINDOW_NS 100000000ull
#define IDG_EV_BUDGET_DEFAULT 1000 /* events per second per CPU */

struct idg_ev_budget {
	__u64 window_start;
	__u64 used;
};

/* ---- per-generation: ipcache and local endpoints (LPM tries) ---- */
/*
 * prefixlen counts bits after the prefixlen field: the 32 bits of
 * cluster_id/family/pad always match exactly, then the address prefix.
 */
#define IDG_IP_KEY_FIXED_BITS 32

struct idg_ip_key {
	__u32 prefixlen;
	__u16 cluster_id;
	__u8 family; /* IDG_FAM_* */
	__u8 pad;
	__u8 addr[16]; /* IPv4 in the first 4 bytes, rest zero */
};

struct idg_ipcache_val {
	__u32 identity;
	__u32 tunnel_ip; /* IPv4 (network order) of the node hosting it; 0 = none */
	__u32 flags;
	__u32 pad;
};

#define IDG_EP_F_ENFORCE_INGRESS (1u << 0)
#define IDG_EP_F_ENFORCE_EGRESS (1u << 1)
/* Set when deny entries exist for the direction: otherwise the two deny
 * lookups are skipped. */
#define IDG_EP_F_DENY_INGRESS (1u << 2)
#define IDG_EP_F_DENY_EGRESS (1u << 3)

struct idg_ep_val {
	__u32 identity;
	__u32 flags; /* IDG_EP_F_* */
	__u32 ep_id; /* loader's endpoint number, for events and CLI */
	__u32 pad;
};

/* ---- per-generation: policy (LPM trie) ---- */
/*
 * Exact part: subject, peer, dir, kind, pad (88 bits). Then proto (8 bits)
 * and port (16 bits, network order, so a port range is a handful of
 * prefixes). A wildcard protocol ends the prefix at 88 bits, a wildcard
 * port at 96. peer IDG_ID_UNKNOWN (0) is "any peer".
 * For ICMP/ICMPv6, port holds (type << 8 | code) and rules match the type
 * with a 104-bit prefix.
 */
#define IDG_POL_PREFIX_EXACT 88
#define IDG_POL_PREFIX_PROTO 96
#define IDG_POL_PREFIX_FULL 112

#define IDG_RULE_DENY 0
#define IDG_RULE_ALLOW 1

struct idg_policy_key {
	__u32 prefixlen;
	__u32 subject; /* identity of the local endpoint the rule applies to */
	__u32 peer;    /* identity of the other side; 0 = any */
	__u8 dir;      /* IDG_DIR_* */
	__u8 kind;     /* IDG_RULE_* */
	__u8 pad;
	__u8 proto;    /* IPPROTO_*; only meaningful when prefixlen > 88 */
	__be16 port;
	__u16 pad2;
};

struct idg_policy_val {
	__u32 cookie; /* index into idg_rule_st; userspace maps it to policy+rule */
	__u32 flags;
};

/*
 * Rules are stored in two tries: entries for one peer identity in
 * idg_pol_gens, "any peer" entries in idg_polany_gens. A hash of the
 * {subject, peer, dir} pairs that have entries lets a packet from a peer
 * without rules skip the big trie: a new flow then costs one hash lookup
 * plus the small any-peer trie, whatever the number of rules.
 */
struct idg_pair_key {
	__u32 subject;
	__u32 peer;
	__u8 dir;
	__u8 pad[3];
};

/*
 * Value of idg_pair_gens: which kinds of entries the pair has, in the
 * per-peer trie (ranges, wildcards) and in the exact hash (one protocol
 * and port, the common rule): the hash costs the same whatever the number
 * of rules, a trie walk grows with it.
 */
#define IDG_PAIR_F_DENY (1u << IDG_RULE_DENY)
#define IDG_PAIR_F_ALLOW (1u << IDG_RULE_ALLOW)
#define IDG_PAIR_EXACT_SHIFT 4
#define IDG_PAIR_F_EXACT(kind) (1u << (IDG_PAIR_EXACT_SHIFT + (kind)))

/* ---- shared across generations ---- */
struct idg_ct_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport; /* ICMP echo: the identifier, on both sides */
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

struct idg_ct_val {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u32 gen;    /* generation whose policy last allowed the flow */
	__u32 cookie; /* rule that allowed it; 0 when not enforced */
	__u8 dir;     /* direction of the packet that created it */
	__u8 flags;
	__be16 pol_port; /* port its policy was judged on, for re-judging */
	__u32 pad;
};

struct idg_counter {
	__u64 packets;
	__u64 bytes;
};

enum idg_misc_stat {
	IDG_MISC_EVENTS_LOST = 0,      /* ring buffer full */
	IDG_MISC_EVENTS_SUPPRESSED,    /* over the CPU budget or flow limit */
	IDG_MISC_CT_CREATE_FAILED,
	IDG_MISC_CT_REJUDGED,          /* flows re-checked after a flip */
	IDG_MISC_CT_REVOKED,           /* ... and denied by the new policy */
	IDG_MISC_MAX,
};

/* ---- policy trace (idgate policy trace), one entry, not pinned ---- */
struct idg_trace_res {
	__u32 runs;   /* verdicts recorded: the program did judge */
	__u32 reason; /* enum idg_reason */
	__u32 cookie; /* deciding rule, 0 = none */
	__u32 pad;
};

/* ---- events (ring buffer) ---- */
#define IDG_EV_DROP 1
#define IDG_EV_POLICY_VERDICT 2 /* a new flow allowed by a rule */
#define IDG_EV_TRACE 3          /* a packet passed, while a monitor asks */

#define IDG_EV_F_FRAGMENT (1u << 0) /* non-first fragment: no ports */

struct idg_event {
	__u64 ts_ns;
	__u8 type;   /* IDG_EV_* */
	__u8 reason; /* enum idg_reason */
	__u8 dir;    /* IDG_DIR_* */
	__u8 family; /* IDG_FAM_*, 0 when not IP */
	__u8 proto;
	__u8 flags;  /* IDG_EV_F_* */
	__u16 pad;
	__u32 ifindex;
	__u32 src_id;
	__u32 dst_id;
	__u32 cookie; /* deciding rule; 0 = default deny or not a policy drop */
	__u32 gen;
	__u32 pkt_len;
	__be16 sport;
	__be16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

#endif /* IDGATE_DATAPATH_H */
