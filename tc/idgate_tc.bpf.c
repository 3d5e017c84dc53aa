// SPDX-License-Identifier: GPL-2.0
/*
 * tc egress on the uplink: judges packets leaving local endpoints by their
 * egress policy and records allowed flows in conntrack, so that the XDP
 * program lets their replies in. The same object carries the ingress
 * filter for interfaces that take it at tc rather than XDP.
 */
#include <linux/pkt_cls.h>
#include <idgate/bpf/tunnel.h>

/* Enough for Ethernet, two VLAN tags, IPv6 with its extension headers
 * walk limit and a TCP header in almost every real packet. */
#define IDG_TC_PULL_LEN 256

/*
 * GENEVE to a node of the mesh that idgate did not encapsulate (its own
 * frames never get here: see idgate_tc_egress): a local process, or a
 * packet routed through this node, posing as the tunnel, whose VNI the
 * other node would take for this node's word.
 */
static __always_inline int idg_geneve_forged(const struct idg_pkt *p)
{
	struct idg_gen_view v = {};
	void *nodes;
	__be32 dst;

	if (p->family != IDG_FAM_IPV4 || p->proto != IPPROTO_UDP ||
	    (p->flags & IDG_PKT_F_LATER) ||
	    p->dport != bpf_htons(IDG_GENEVE_PORT))
		return 0;
	/* An incomplete generation drops the packet anyway. */
	if (idg_gen_view_get(&v))
		return 0;
	nodes = idg_gmap(&v, &idg_node_gens);
	dst = idg_pkt_v4(p->daddr);
	return nodes && bpf_map_lookup_elem(nodes, &dst) != NULL;
}

/*
 * Parse, pulling headers into the linear area only when they are in paged
 * data: pulling unclones (copies) the skb, e.g. every TCP segment.
 */
static __always_inline __u32 idg_tc_judge(struct __sk_buff *skb, __u8 dir)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct idg_pkt p = {};
	__u32 reason;
	int ret;

	ret = idg_parse(data, data_end, skb->len, &p);
	if (idg_reason_is_drop(ret) && ret != IDG_DROP_POLICY_DENY &&
	    skb->len > (__u32)(data_end - data)) {
		__u32 want = skb->len < IDG_TC_PULL_LEN ? skb->len :
							  IDG_TC_PULL_LEN;

		if (!bpf_skb_pull_data(skb, want)) {
			__builtin_memset(&p, 0, sizeof(p));
			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			ret = idg_parse(data, data_end, skb->len, &p);
		}
	}
	if (dir == IDG_DIR_EGRESS && !ret && idg_geneve_forged(&p))
		ret = IDG_DROP_TUNNEL_FORGED;
	reason = idg_process(&p, ret, dir, skb->ifindex, skb->len);
	idg_trace_event(&p, reason, dir, skb->ifindex, skb->len);
	return reason;
}

SEC("tc")
int idgate_tc_egress(struct __sk_buff *skb)
{
	/* GENEVE idgate made: the inner packet was judged where it entered
	 * (a workload interface, or the gateway's external interface). */
	if (skb->mark == IDG_SKB_MARK_TUNNEL) {
		skb->mark = 0;
		return TC_ACT_OK;
	}
	return idg_reason_is_drop(idg_tc_judge(skb, IDG_DIR_EGRESS)) ?
		       TC_ACT_SHOT :
		       TC_ACT_OK;
}

/*
 * The XDP filter's verdict at tc ingress, for interfaces where native XDP
 * costs more than it saves (veth: see docs/benchmarks.md). A pass is
 * TC_ACT_UNSPEC so that the next filter on the hook (the tunnel program
 * on an egress-gateway uplink) still runs.
 */
SEC("tc")
int idgate_tc_ingress(struct __sk_buff *skb)
{
	return idg_reason_is_drop(idg_tc_judge(skb, IDG_DIR_INGRESS)) ?
		       TC_ACT_SHOT :
		       TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
