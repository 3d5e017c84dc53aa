// SPDX-License-Identifier: GPL-2.0
/*
 * tc egress on the uplink: judges packets leaving local endpoints by their
 * egress policy and records allowed flows in conntrack, so that the XDP
 * program lets their replies in. The same object carries the ingress
 * filter for interfaces that take it at tc rather than XDP.
 */
#include <linux/pkt_cls.h>
/* The whole verdict inlined, as in the XDP program: see IDG_HOT in
 * verdict.h, and idg_tc_judge below for what makes room for it. */
#define IDG_VERDICT_INLINE 3
#include <idgate/bpf/tunnel.h>

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
 * A program parses the skb's linear area first. When that failed on a
 * frame with paged data, the headers are parsed from a copy of the first
 * IDG_PARSE_COPY_MAX bytes instead (struct idg_copy in parse.h says why a
 * copy, not a pull). That parse is a program of its own, reached by a tail call: two
 * parses in one program double the states the verifier walks through the
 * verdict after them (about 800 000 instructions at tc ingress with the
 * verdict inlined), one keeps it near the XDP program's.
 */
#define IDG_VERDICT_COPY 0xffffffffu

/* The copies, one per CPU and direction. A tc program runs with bottom
 * halves off and to its end, so nothing else on the CPU writes its copy
 * while it parses. */
struct idg_tc_copy_buf {
	__u8 b[IDG_PARSE_COPY_BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct idg_tc_copy_buf);
} idg_tc_copy SEC(".maps");

static __always_inline __u32 idg_tc_judge(struct __sk_buff *skb, __u8 dir,
					  int copied)
{
	void *data, *data_end;
	struct idg_pkt p = {};
	__u32 reason;
	int ret;

	if (copied) {
		struct idg_copy c = {};
		struct idg_tc_copy_buf *buf;
		__u32 key = dir, want;

		buf = bpf_map_lookup_elem(&idg_tc_copy, &key);
		if (!buf) {
			/* Never: the array has both directions. */
			idg_count(&idg_reason_st, IDG_DROP_GEN_INCOMPLETE,
				  skb->len);
			return IDG_DROP_GEN_INCOMPLETE;
		}
		want = skb->len < IDG_PARSE_COPY_MAX ? skb->len :
						       IDG_PARSE_COPY_MAX;
		/* Shorter than an Ethernet header, nothing is copied and the
		 * parse says the frame is cut short, as the frame's own parse
		 * did. A lower bound, unlike want != 0, is what 6.1's
		 * verifier carries on to the helper's size argument. */
		if (want >= sizeof(struct ethhdr) &&
		    !bpf_skb_load_bytes(skb, 0, buf->b + IDG_PARSE_COPY_AT,
					want))
			c.len = want;
		c.data = buf->b + IDG_PARSE_COPY_AT;
		ret = idg_parse_copy(&c, skb->len, &p);
	} else {
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		ret = idg_parse(data, data_end, skb->len, &p);
		if (idg_reason_is_drop(ret) && ret != IDG_DROP_POLICY_DENY &&
		    skb->len > (__u32)(data_end - data))
			return IDG_VERDICT_COPY;
	}
	if (dir == IDG_DIR_EGRESS && !ret && idg_geneve_forged(&p))
		ret = IDG_DROP_TUNNEL_FORGED;
	reason = idg_process(&p, ret, dir, skb->ifindex, skb->len);
	idg_trace_event(&p, reason, dir, skb->ifindex, skb->len);
	return reason;
}

int idgate_tc_egress_copy(struct __sk_buff *skb);
int idgate_tc_ingress_copy(struct __sk_buff *skb);

/* The programs that parse a copy, then judge: index = direction.
 * Pinned (IDG_MAP_TC_PULL, named after the pull these programs once
 * made): the kernel empties a program array when its last user reference
 * goes, which would be the loader's exit. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, int(struct __sk_buff *));
} idg_tc_pull SEC(".maps") = {
	.values = {
		[IDG_DIR_INGRESS] = (void *)&idgate_tc_ingress_copy,
		[IDG_DIR_EGRESS] = (void *)&idgate_tc_egress_copy,
	},
};

/* The verdict on skb in dir: its reason. A frame whose headers are not
 * all in the linear area goes on in the program that copies them. */
static __always_inline __u32 idg_tc_verdict(struct __sk_buff *skb, __u8 dir)
{
	__u32 reason = idg_tc_judge(skb, dir, 0);

	if (reason != IDG_VERDICT_COPY)
		return reason;
	bpf_tail_call(skb, &idg_tc_pull, dir);
	/* Only a program array emptied by hand gets here: the datapath is
	 * not whole, and the frame is dropped as it would be for any other
	 * missing part of it (a second verdict here would undo the room the
	 * tail call makes). */
	idg_count(&idg_reason_st, IDG_DROP_GEN_INCOMPLETE, skb->len);
	return IDG_DROP_GEN_INCOMPLETE;
}

/*
 * The tc action for a verdict. A pass at ingress is TC_ACT_UNSPEC so that
 * the next filter on the hook (the tunnel program on an egress-gateway
 * uplink) still runs.
 */
static __always_inline int idg_tc_act(__u32 reason, __u8 dir)
{
	if (idg_reason_is_drop(reason))
		return TC_ACT_SHOT;
	return dir == IDG_DIR_INGRESS ? TC_ACT_UNSPEC : TC_ACT_OK;
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
	return idg_tc_act(idg_tc_verdict(skb, IDG_DIR_EGRESS), IDG_DIR_EGRESS);
}

SEC("tc")
int idgate_tc_egress_copy(struct __sk_buff *skb)
{
	return idg_tc_act(idg_tc_judge(skb, IDG_DIR_EGRESS, 1), IDG_DIR_EGRESS);
}

/* The XDP filter's verdict at tc ingress, for interfaces where native
 * XDP costs more than it saves (veth: see docs/benchmarks.md). */
SEC("tc")
int idgate_tc_ingress(struct __sk_buff *skb)
{
	return idg_tc_act(idg_tc_verdict(skb, IDG_DIR_INGRESS),
			  IDG_DIR_INGRESS);
}

SEC("tc")
int idgate_tc_ingress_copy(struct __sk_buff *skb)
{
	return idg_tc_act(idg_tc_judge(skb, IDG_DIR_INGRESS, 1),
			  IDG_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
