/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cross-cluster egress gateway: the one definition of its map keys/values,
 * shared by the BPF programs (tc/, egressgw/) and userspace. IPv4 only,
 * like Cilium's egress gateway. Network byte order for every address and
 * port field (be32/be16), host order for everything else.
 *
 * Packet path (docs/egress-gateway.md):
 *   source node, tc ingress on a workload-facing interface:
 *     {cluster, src ip, dst ip} -> idg_egw policy (LPM) -> gateway set
 *     -> healthy gateway by flow hash (pinned per flow in idg_egw_flows)
 *     -> GENEVE encap (VNI = source identity) -> FIB redirect out uplink
 *   gateway node, tc ingress on the uplink:
 *     GENEVE from a known node -> decap -> check the flow is entitled to
 *     this gateway (same policy lookup with the VNI's cluster) -> SNAT to
 *     the egress IP (idg_snat / idg_snat_rev) -> FIB redirect out external
 *   gateway node, tc ingress on the external interface:
 *     reverse SNAT -> GENEVE encap back to the originating node -> uplink
 *   source node, tc ingress on the uplink:
 *     GENEVE from a known node -> decap -> the kernel routes the inner
 *     packet to the workload
 */
#ifndef IDGATE_EGW_H
#define IDGATE_EGW_H

#include <linux/types.h>

#define IDG_GENEVE_PORT 6081
/* Outer Ethernet 14 + IPv4 20 + UDP 8 + GENEVE 8 (no options). */
#define IDG_TUNNEL_OVERHEAD 50
#define IDG_GENEVE_PROTO_ETH 0x6558 /* inner frame is Ethernet */
/*
 * skb->mark of a frame idgate encapsulated, from the encap to the
 * uplink's tc egress, which clears it. A packet from another namespace
 * arrives with its mark scrubbed, so a workload cannot set it.
 */
#define IDG_SKB_MARK_TUNNEL 0x1d6e0e6eu

#ifndef IDG_GW_PER_SET
#define IDG_GW_PER_SET 8
#endif
#ifndef IDG_EGW_POLICY_MAX
#define IDG_EGW_POLICY_MAX 16384
#endif
#ifndef IDG_GWSET_MAX
#define IDG_GWSET_MAX 256
#endif
#ifndef IDG_NODES_MAX
#define IDG_NODES_MAX 4096
#endif
#ifndef IDG_EGW_FLOWS_MAX
#define IDG_EGW_FLOWS_MAX (1 << 17)
#endif
#ifndef IDG_SNAT_MAX
#define IDG_SNAT_MAX (1 << 17)
#endif
/* Mappings one source (node, address) may hold at once, unless its
 * gateway node says otherwise (spec.egress.maxMappingsPerSource): one
 * workload cannot take the table from the others. */
#ifndef IDG_SNAT_SRC_QUOTA_DEFAULT
#define IDG_SNAT_SRC_QUOTA_DEFAULT (IDG_SNAT_MAX / 8)
#endif
/* Ports tried when the original source port is taken. */
#ifndef IDG_SNAT_TRIES
#define IDG_SNAT_TRIES 32
#endif

#define IDG_MAP_EGW_GENS "idg_egw_gens"
#define IDG_MAP_GWSET_GENS "idg_gwset_gens"
#define IDG_MAP_NODE_GENS "idg_node_gens"
#define IDG_MAP_TUNCFG_GENS "idg_tun_gens"
#define IDG_MAP_GW_HEALTH "idg_gw_health"
#define IDG_MAP_EGW_FLOWS "idg_egw_flows"
#define IDG_MAP_SNAT "idg_snat"
#define IDG_MAP_SNAT_REV "idg_snat_rev"
#define IDG_MAP_SNAT_SRC "idg_snat_src"
#define IDG_MAP_SNAT_SRC_GC "idg_snat_srcgc"

/* ---- per generation ---- */

/*
 * Tunnel and gateway settings of this node (ARRAY, 1 entry). Kept apart
 * from struct idg_cfg so that the filter's layout does not change with
 * the gateway's needs.
 */
#define IDG_TUN_F_GATEWAY (1u << 0) /* this node SNATs for others */

struct idg_tun_cfg {
	__be32 tunnel_ip;       /* outer source address of this node */
	__u32 uplink_ifindex;   /* where GENEVE leaves */
	__u32 uplink_mtu;
	__u32 external_ifindex; /* gateway: toward the destinations */
	__be32 egress_ip;       /* gateway: default SNAT address */
	__u16 nat_port_min;     /* gateway: ports handed out on collision */
	__u16 nat_port_max;
	__u32 flags;            /* IDG_TUN_F_* */
	__u32 cluster_id;       /* this node's cluster */
	__u32 nat_src_quota;    /* gateway: mappings per source; 0 = none */
	/* Idle time after which a mapping may be taken over (nat.h). 0:
	 * never expires. */
	__u64 nat_tcp_timeout_ns;   /* established TCP */
	__u64 nat_other_timeout_ns; /* answered UDP and ICMP */
	__u64 nat_new_timeout_ns;   /* TCP handshake, unanswered UDP, ICMP */
	__u64 nat_close_timeout_ns; /* TCP after FIN or RST */
};

/*
 * Egress policy (LPM). Exact part: cluster id (16 bits), pad (16), source
 * IP (32); then the destination prefix. An excluded CIDR is an entry with
 * IDG_EGW_F_EXCLUDED: being longer than the destination CIDR it covers,
 * it wins the lookup.
 */
#define IDG_EGW_KEY_FIXED_BITS 64

struct idg_egw_key {
	__u32 prefixlen;
	__u16 cluster_id;
	__u16 pad;
	__be32 src_ip;
	__be32 dst_ip;
};

#define IDG_EGW_F_EXCLUDED (1u << 0)

struct idg_egw_val {
	__u32 gwset;      /* index into idg_gwset_gens */
	__be32 egress_ip; /* the policy's egressIP; 0 = the gateway's own */
	__u32 flags;      /* IDG_EGW_F_* */
	__u32 policy_id;  /* loader's policy number, for events and CLI */
	/* The identity of the source the policy selected at src_ip: a
	 * gateway serves a tunnelled flow only when its VNI is this. */
	__u32 identity;
};

/* Gateway set (ARRAY, IDG_GWSET_MAX entries): the nodes serving one
 * gatewayName, in a fixed order so that every node hashes alike. */
struct idg_gwset {
	__u32 n;
	__be32 tunnel_ip[IDG_GW_PER_SET];
};

/* Nodes allowed to send GENEVE here (HASH, key: tunnel IP, be32). */
struct idg_node_val {
	__u32 cluster_id;
	__u32 flags;
};

/* ---- shared across generations ---- */

/* Gateway health (HASH, key: gateway tunnel IP, be32). No entry:
 * healthy (no prober has spoken yet). Written by the health prober. */
struct idg_gw_health {
	__u32 up;           /* 1 up, 0 down */
	__u32 pad;
	__u64 changed_ns;   /* CLOCK_MONOTONIC of the last change */
};

/* Source node: the gateway a flow went to (LRU, key: struct idg_ct_key
 * of the original direction). Existing flows stay on their gateway. */
struct idg_egw_flow {
	__be32 gateway;
	__u32 pad;
	__u64 last_seen_ns;
};

/*
 * Gateway SNAT. Forward key: the flow as it arrived from the tunnel,
 * plus the node it came from (pod addresses of two clusters may overlap).
 * ICMP echo: sport = dport = the identifier.
 */
struct idg_snat_key {
	__be32 node_ip; /* originating node's tunnel IP */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

#define IDG_NAT_F_TCP_EST (1u << 0) /* saw the reply's SYN-ACK */
#define IDG_NAT_F_TCP_FIN (1u << 1) /* FIN or RST seen: short timeout */
#define IDG_NAT_F_REPLIED (1u << 2) /* a reply came back (any protocol) */

struct idg_snat_val {
	__be32 nat_ip;
	__be16 nat_port;
	__u16 flags;     /* IDG_NAT_F_* */
	__u32 vni;       /* source identity, from the tunnel */
	__u32 pad;
	__u64 created_ns;
	__u64 last_seen_ns;
};

/*
 * The idle timeout of a mapping, for the datapath (takeover) and its
 * garbage collector alike: a spray of SYNs or unanswered datagrams holds
 * ports only briefly, an answered flow longer, established TCP longest.
 */
static inline __u64 idg_nat_timeout(const struct idg_tun_cfg *tun, __u8 proto,
				    __u16 flags)
{
	if (proto == 6 /* TCP */) {
		if (flags & IDG_NAT_F_TCP_FIN)
			return tun->nat_close_timeout_ns;
		return (flags & IDG_NAT_F_TCP_EST) ? tun->nat_tcp_timeout_ns :
						     tun->nat_new_timeout_ns;
	}
	return (flags & IDG_NAT_F_REPLIED) ? tun->nat_other_timeout_ns :
					     tun->nat_new_timeout_ns;
}

/*
 * Per-source accounting of the gateway's mappings. A source is the
 * workload address on the node it came from. The datapath counts what it
 * makes and what it takes over (idg_snat_src, atomic adds); the garbage
 * collector counts what it removes in a map of its own (idg_snat_srcgc,
 * one u64 a source), so no counter has two writers. Live mappings of a
 * source: allocs - frees - collected.
 */
struct idg_snat_src_key {
	__be32 node_ip;
	__be32 saddr;
};

struct idg_snat_src {
	__u64 allocs;      /* mappings made */
	__u64 frees;       /* ... taken over by another flow once expired */
	__u64 quota_drops; /* new flows refused at the quota */
	__u64 last_ns;     /* when the last one was made */
};

/* Reverse key: a reply as it arrives on the external interface. */
struct idg_snat_rev_key {
	__be32 saddr; /* the destination of the original flow */
	__be32 daddr; /* the egress IP */
	__be16 sport;
	__be16 dport; /* the allocated port */
	__u8 proto;
	__u8 pad[3];
};

struct idg_snat_rev_val {
	__be32 node_ip;  /* send the reply back to this node */
	__be32 orig_saddr;
	__be16 orig_sport;
	__u16 pad;
	__u32 vni;
};

#endif /* IDGATE_EGW_H */
