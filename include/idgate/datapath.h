/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one definition of every map key/value and event struct shared by the
 * BPF programs and userspace. Layout changes here are ABI changes for the
 * pinned maps: bump IDG_ABI_VERSION when a struct changes.
 */
#ifndef IDGATE_DATAPATH_H
#define IDGATE_DATAPATH_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <idgate/consts.h>
#include <idgate/identity.h>
#include <idgate/reasons.h>

#define IDG_ABI_VERSION 3

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
#define IDG_MAP_EP_HOST_GENS "idg_eph_gens"
#define IDG_MAP_POLICY_GENS "idg_pol_gens"
#define IDG_MAP_IPCACHE_HOST_GENS "idg_ipch_gens"
#define IDG_MAP_POLICY_EXACT_GENS "idg_polx_gens"
#define IDG_MAP_POLICY_ANY_GENS "idg_polany_gens"
#define IDG_MAP_PAIR_GENS "idg_pair_gens"
#define IDG_MAP_CT "idg_ct"
#define IDG_MAP_CT_NEW "idg_ct_new"
#define IDG_MAP_FRAG "idg_frag"
#define IDG_MAP_CT_HINT "idg_ct_hint"
#define IDG_MAP_CT_EPOCH "idg_ct_epoch"
#define IDG_MAP_REASON_STATS "idg_reason_st"
#define IDG_MAP_RULE_STATS "idg_rule_st"
#define IDG_MAP_MISC_STATS "idg_misc_st"
#define IDG_MAP_EVENTS "idg_events"
#define IDG_MAP_EVENT_RL "idg_event_rl"
#define IDG_MAP_MON_CFG "idg_mon_cfg"
/* tc's programs that pull a frame's headers into the linear area
 * (tc/idgate_tc.bpf.c). Pinned: a program array that loses its last
 * user reference is emptied by the kernel. */
#define IDG_MAP_TC_PULL "idg_tc_pull"

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
	__u32 flags; /* IDG_CFG_F_* */
	__u32 world_pc; /* IDG_PEER_PC_* of the world identity */
	__u32 host_classes; /* IDG_SUBJ_PC_* of the host subject */
};

/* Frames that are neither IP, ARP nor VLAN-tagged IP are dropped at the
 * uplink instead of passed (spec.interfaces.unknownEtherTypes: drop). */
#define IDG_CFG_F_DROP_NON_IP (1u << 0)
/*
 * What the generation holds, set by the map writer (loader/gen.c) from
 * the entries themselves: a lookup a packet cannot need is skipped. The
 * tries are walked only when the family has prefixes in them (host
 * addresses are in hashes), the uplink's spoof check only when some
 * endpoint is bound to a workload interface.
 */
#define IDG_CFG_F_IPC_PFX4 (1u << 1)
#define IDG_CFG_F_IPC_PFX6 (1u << 2)
#define IDG_CFG_F_EP_PFX4 (1u << 3)
#define IDG_CFG_F_EP_PFX6 (1u << 4)
#define IDG_CFG_F_WORKLOADS (1u << 5)
/* Some ipcache entry is IDG_IPC_F_EXPIRED: the protocol-class shortcut,
 * which denies without looking the peer up, is off, so that every packet
 * judged against expired data says so. */
#define IDG_CFG_F_IPC_EXPIRED (1u << 6)
#define IDG_CFG_F_GEN_MASK                                                \
	(IDG_CFG_F_IPC_PFX4 | IDG_CFG_F_IPC_PFX6 | IDG_CFG_F_EP_PFX4 |     \
	 IDG_CFG_F_EP_PFX6 | IDG_CFG_F_WORKLOADS | IDG_CFG_F_IPC_EXPIRED)

/* The budget is spent in windows of this length: a flood of new flows
 * costs one per-CPU lookup per packet once a window's share is used. */
#define IDG_EV_BUDGET_WINDOW_NS 100000000ull
#define IDG_EV_BUDGET_DEFAULT 1000 /* events per second per CPU */

struct idg_ev_budget {
	__u64 window_start;
	__u64 used;
	__u64 skipped; /* drops since the share was spent */
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
	__u32 flags; /* IDG_IPC_F_* */
	__u32 peer_pc; /* IDG_PEER_PC_*, set by the map writer */
};

/* The entry comes from a cluster mesh's store that has not answered for
 * longer than its TTL (docs/mesh.md): a packet judged with it as its peer
 * is dropped as remote-identity-expired, its flow's entry forgotten. */
#define IDG_IPC_F_EXPIRED (1u << 0)

/*
 * What the rules of every subject say of an identity as their peer: the
 * protocol classes (IDG_PC_*) of its per-peer entries, per direction,
 * with IDG_PEER_PC_KNOWN. A packet from a peer none of whose rules cover
 * its class, to a subject whose any-peer rules do not either, is denied
 * by default without the pair lookup.
 */
#define IDG_PEER_PC_SHIFT(dir) ((dir) ? 8 : 0)
#define IDG_PEER_PC_KNOWN (1u << 31)
/* Never in the map: the datapath's mark on a peer whose ipcache entry is
 * IDG_IPC_F_EXPIRED, put in by arithmetic (no branch for the verifier to
 * walk twice). */
#define IDG_PEER_PC_EXPIRED_SHIFT 30
#define IDG_PEER_PC_EXPIRED (1u << IDG_PEER_PC_EXPIRED_SHIFT)

#define IDG_EP_F_ENFORCE_INGRESS (1u << 0)
#define IDG_EP_F_ENFORCE_EGRESS (1u << 1)
/* Set when deny entries exist for the direction: otherwise the two deny
 * lookups are skipped. */
#define IDG_EP_F_DENY_INGRESS (1u << 2)
#define IDG_EP_F_DENY_EGRESS (1u << 3)
/*
 * Protocol classes the subject's any-peer entries cover, per direction
 * (set by the map writer): a packet of another class skips the any-peer
 * trie, and from a peer without entries of its own it is denied by
 * default without another lookup.
 */
#define IDG_EP_ANY_SHIFT(dir) ((dir) ? 16 : 8)
#define IDG_EP_F_ANY_MASK (0xffu << 8 | 0xffu << 16)

/* Protocol classes: bits of a one-byte mask. A rule for every protocol
 * covers them all. */
#define IDG_PC_TCP (1u << 0)
#define IDG_PC_UDP (1u << 1)
#define IDG_PC_SCTP (1u << 2)
#define IDG_PC_ICMP (1u << 3)
#define IDG_PC_ICMPV6 (1u << 4)
#define IDG_PC_OTHER (1u << 5)
#define IDG_PC_ALL 0x3fu

/* Always inlined: in BPF, a call and its return cost more than the switch. */
static inline __attribute__((always_inline)) __u32 idg_proto_class(__u8 proto)
{
	switch (proto) {
	case 6:
		return IDG_PC_TCP;
	case 17:
		return IDG_PC_UDP;
	case 132:
		return IDG_PC_SCTP;
	case 1:
		return IDG_PC_ICMP;
	case 58:
		return IDG_PC_ICMPV6;
	case 0:
		return IDG_PC_ALL;
	default:
		return IDG_PC_OTHER;
	}
}

struct idg_ep_val {
	__u32 identity;
	__u32 flags; /* IDG_EP_F_* */
	__u32 ep_id; /* loader's endpoint number, for events and CLI */
	/* The workload interface the endpoint sends from (spec.interface):
	 * its addresses are accepted as sources there and nowhere else
	 * among the workload interfaces. 0: bound to none. */
	__u32 ifindex;
	__u32 classes; /* IDG_SUBJ_PC_*, set by the map writer */
};

/*
 * Protocol classes of everything the subject's rules name (every pair's
 * own entries and its any-peer ones), per direction: a packet of another
 * class is denied whoever sends it, without looking the peer up. The
 * verdict reads the packet's direction's classes into bits
 * IDG_EP_F_DIR_PC_SHIFT.. of the flags it works with (never stored).
 */
#define IDG_SUBJ_PC_SHIFT(dir) ((dir) ? 8 : 0)
#define IDG_EP_F_DIR_PC_SHIFT 24

static inline __u32 idg_dir_classes(__u32 classes, __u8 dir)
{
	return ((classes >> IDG_SUBJ_PC_SHIFT(dir)) & 0xff)
	       << IDG_EP_F_DIR_PC_SHIFT;
}

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
	__u32 flags;  /* idg_polx_gens: IDG_POLV_F_* */
};

/*
 * idg_polx_gens holds, for every {subject, peer, dir, proto, port} that
 * an exact per-peer entry names (kind 0 in the key), the whole verdict
 * for that port: the map writer runs the deny-then-allow search over the
 * exact entries and both tries, so a hit ends the packet's judgement.
 */
#define IDG_POLV_F_ALLOW (1u << 0)

/*
 * Rules are stored in two tries: entries for one peer identity in
 * idg_pol_gens, "any peer" entries in idg_polany_gens, and the folded
 * exact hash above. A hash of the {subject, peer, dir} pairs that have
 * entries says which of those a pair can need and which protocol
 * classes its entries (its own and the subject's any-peer ones) cover:
 * a packet of another class is denied by default after that one lookup,
 * whatever the number of rules.
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
#define IDG_PAIR_F_EXACT_ANY (IDG_PAIR_F_EXACT(0) | IDG_PAIR_F_EXACT(1))
/* Protocol classes (IDG_PC_*) of the pair's entries and of the subject's
 * any-peer entries in the direction; and of the pair's own entries only
 * (what the map writer derives the first from). */
#define IDG_PAIR_PC_SHIFT 8
#define IDG_PAIR_OWN_PC_SHIFT 16

/* ---- shared across generations: conntrack ---- */
/*
 * A flow is keyed from the local side: laddr/lport are the local
 * endpoint's (the destination of an ingress packet, the source of an
 * egress one), so both directions of a flow find one entry in one lookup.
 * Two local endpoints talking to each other get an entry each, one per
 * verdict (the sender's egress, the receiver's ingress).
 *
 * kind 0: a flow with ports (or none, for other protocols). ICMP queries
 * (echo, timestamp, information, address mask) are keyed by their
 * identifier and the query's request type, with IDG_CT_K_LOCAL_ASKS when
 * the local side sent the request: a reply matches only the request it
 * answers, and a request from the other side is a flow of its own.
 *
 * tun: the node a tunnelled flow runs through (outer IPv4 of the sender
 * for a packet that came out of GENEVE, the gateway for one that goes
 * into it); 0 for a flow outside the tunnel. An entry made from
 * tunnelled packets matches only packets of the same tunnel.
 */
#define IDG_CT_K_LOCAL_ASKS (1u << 0)

struct idg_ct_key {
	__u8 laddr[16];
	__u8 raddr[16];
	__be16 lport; /* ICMP query: the identifier, on both sides */
	__be16 rport;
	__u8 proto;
	__u8 family;
	__u8 kind;    /* 0, or the ICMP query's request type */
	__u8 kflags;  /* IDG_CT_K_* */
	__be32 tun;
};

/*
 * Two tables. idg_ct_new holds flows that have not proven both ends
 * alive: TCP until the initiator acknowledges the responder's SYN-ACK
 * (by its sequence number, which a blind spoofer cannot guess), other
 * protocols until the responder answers. idg_ct holds the rest. A flood
 * of new flows, spoofed or not, churns only idg_ct_new: the LRU evicts
 * its oldest half-open entries, never a live connection of idg_ct.
 */
#define IDG_CT_F_TCP_SYNACK (1u << 0) /* responder's SYN-ACK seen */
#define IDG_CT_F_FIN_ORIG (1u << 1)   /* FIN from the initiator */
#define IDG_CT_F_FIN_REPLY (1u << 2)  /* FIN from the responder */
#define IDG_CT_F_RST (1u << 3)        /* RST from either side */
#define IDG_CT_F_TCP_STATE                                                \
	(IDG_CT_F_TCP_SYNACK | IDG_CT_F_FIN_ORIG | IDG_CT_F_FIN_REPLY |    \
	 IDG_CT_F_RST)
/* The remote side is a workload of this node, behind a workload
 * interface: none of the flow's packets can come in on the uplink. */
#define IDG_CT_F_LOCAL_PEER (1u << 4)

struct idg_ct_val {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u32 gen;    /* generation whose policy last allowed the flow */
	__u32 cookie; /* rule that allowed it; 0 when not enforced */
	__u8 dir;     /* direction of the initiator's packets */
	__u8 flags;   /* IDG_CT_F_* */
	__be16 pol_port; /* port its policy was judged on, for re-judging */
	__u32 synack_seq; /* host order: the responder's initial sequence */
	__u32 hint_epoch; /* the hint epoch its remote was last marked in */
	__u32 pad;
};

/*
 * Idle time after which an entry is gone (the datapath treats it as
 * absent at once, userspace GC removes it). Half-open TCP and unanswered
 * flows are short so that spraying a port costs the sprayer, closing TCP
 * short after RST or FIN both ways; established TCP as Cilium (6 h).
 */
#ifndef IDG_CT_SYN_NS
#define IDG_CT_SYN_NS (30ull * 1000000000ull)
#endif
#ifndef IDG_CT_TCP_NS
#define IDG_CT_TCP_NS (21600ull * 1000000000ull)
#endif
#ifndef IDG_CT_CLOSE_NS
#define IDG_CT_CLOSE_NS (10ull * 1000000000ull)
#endif
#ifndef IDG_CT_NEW_OTHER_NS
#define IDG_CT_NEW_OTHER_NS (30ull * 1000000000ull)
#endif
#ifndef IDG_CT_OTHER_NS
#define IDG_CT_OTHER_NS (60ull * 1000000000ull)
#endif

/* The one rule, for the datapath and for GC. est: the entry is in idg_ct
 * (not idg_ct_new). */
static inline __u64 idg_ct_timeout_ns(__u8 proto, __u8 flags, int est)
{
	if (proto != 6 /* TCP */)
		return est ? IDG_CT_OTHER_NS : IDG_CT_NEW_OTHER_NS;
	if ((flags & IDG_CT_F_RST) ||
	    (flags & (IDG_CT_F_FIN_ORIG | IDG_CT_F_FIN_REPLY)) ==
		    (IDG_CT_F_FIN_ORIG | IDG_CT_F_FIN_REPLY))
		return IDG_CT_CLOSE_NS;
	return est ? IDG_CT_TCP_NS : IDG_CT_SYN_NS;
}

static inline int idg_ct_expired(const struct idg_ct_val *v, __u8 proto,
				 int est, __u64 now)
{
	/* last may be a hair ahead of now, refreshed on another CPU. */
	return now > v->last_seen_ns &&
	       now - v->last_seen_ns > idg_ct_timeout_ns(proto, v->flags, est);
}

/*
 * Conntrack hints: a packet looks for its flow only when its remote
 * address may have one. A flood of new flows (every packet its own
 * 5-tuple) would otherwise touch a random bucket of both tables per
 * packet, a cache and TLB miss each; the hint is keyed by the remote
 * address alone, so the flood's working set is one bit per source.
 *
 * One bit per remote address hash in a bitmap per epoch. A flow marks its
 * remote in the current epoch and the next when it is created and on its
 * first packet in each new epoch (idg_ct_val.hint_epoch); a lookup tests
 * the current epoch only, one cache line. An epoch lasts at least the
 * longest idle timeout, so a flow still alive was seen in this epoch or
 * the last: its bit is there. Userspace (idgate run) clears the bitmap
 * of the epoch after next, which no program reads or writes during this
 * one (readers use epoch E, writers E and E + 1), then starts the next
 * epoch. A bit of a remote whose flows are gone, or a hash shared with
 * another remote, only costs a lookup that misses.
 *
 * Bits are set under the element's spin lock (no atomic OR before BPF
 * CPU v3, which these objects do not use): a bit lost to a race would
 * hide a live flow.
 */
#define IDG_CT_HINT_EPOCHS 3
#define IDG_CT_HINT_ELEMS 1024 /* per epoch: a power of two */
#define IDG_CT_HINT_WORDS 7    /* an element is one 64-byte cache line */
#define IDG_CT_HINT_EPOCH_NS (IDG_CT_TCP_NS + 60ull * 1000000000ull)

struct idg_ct_hint {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 w[IDG_CT_HINT_WORDS];
};

struct idg_ct_epoch {
	__u32 epoch;
	__u32 seed;       /* of the address hash; random per instance */
	__u64 started_ns; /* CLOCK_MONOTONIC_COARSE; userspace only */
};

/*
 * Fragments: the first fragment of a datagram is judged with its ports;
 * the later ones (no ports) follow its verdict. Key: what reassembly
 * matches on (RFC 791: addresses, protocol, id; RFC 8200: addresses, id,
 * whatever a later fragment claims its next header to be) and the tunnel.
 */
#ifndef IDG_FRAG_NS
#define IDG_FRAG_NS (30ull * 1000000000ull) /* Linux's ipfrag_time */
#endif

struct idg_frag_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be32 id;
	__u8 proto;  /* IPv4 only; 0 for IPv6 */
	__u8 family;
	__u16 pad;
	__be32 tun;
};

struct idg_frag_val {
	__u64 created_ns;
	__u32 reason; /* the first fragment's pass reason */
	__u32 cookie;
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
	IDG_MISC_CT_PROMOTED,          /* flows that proved both ends alive */
	IDG_MISC_FRAG_CREATE_FAILED,
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
