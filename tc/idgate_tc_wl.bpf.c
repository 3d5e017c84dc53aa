// SPDX-License-Identifier: GPL-2.0
/*
 * tc ingress on the workload-facing interfaces of a source node: what a
 * local endpoint sends is first judged by its egress policy (and allowed
 * flows enter conntrack), exactly as the uplink's tc egress program does;
 * then traffic an egress gateway policy selects is carried in GENEVE to a
 * healthy gateway node of the policy and redirected out the uplink.
 * Everything else continues through the kernel's routing untouched.
 */
#include <idgate/bpf/tunnel.h>

/* As tc/idgate_tc.bpf.c: Ethernet, VLAN tags, IPv6 extension headers
 * and a TCP header with options fit in almost every real packet. */
#define IDG_TC_PULL_LEN 256

static __always_inline int idg_gw_up(__be32 gw)
{
	struct idg_gw_health *h = bpf_map_lookup_elem(&idg_gw_health, &gw);

	/* No entry: no prober has spoken yet, assume healthy. */
	return !h || h->up;
}

_Static_assert((IDG_GW_PER_SET & (IDG_GW_PER_SET - 1)) == 0,
	       "IDG_GW_PER_SET must be a power of two");

/*
 * The gateway of flow p: the one it was sent to before while that one is
 * still in the set and healthy (existing flows stay put), else one of the
 * set's healthy gateways by flow hash, remembered for the flow. Every
 * source node with the same view of health picks the same one. 0: none
 * healthy.
 */
static __noinline __be32 idg_gw_choose(const struct idg_gwset *set,
				       const struct idg_pkt *p, __u32 hash)
{
	__be32 healthy[IDG_GW_PER_SET] = {};
	struct idg_egw_flow nf = {};
	struct idg_ct_key ck = {};
	struct idg_egw_flow *f;
	__u32 n = set->n, nh = 0, i;
	__u64 now = bpf_ktime_get_coarse_ns();
	__be32 gw;

	idg_ct_key_fill(&ck, p, 0);
	if (p->flags & IDG_PKT_F_FRAG)
		ck.sport = ck.dport = 0; /* as the hash: one gateway a datagram */
	if (n > IDG_GW_PER_SET)
		n = IDG_GW_PER_SET;
	f = bpf_map_lookup_elem(&idg_egw_flows, &ck);
	if (f) {
		gw = f->gateway;
		for (i = 0; i < IDG_GW_PER_SET; i++) {
			if (i >= n)
				break;
			if (set->tunnel_ip[i] != gw)
				continue;
			if (!idg_gw_up(gw))
				break;
			if (f->last_seen_ns != now)
				f->last_seen_ns = now;
			return gw;
		}
	}

	for (i = 0; i < IDG_GW_PER_SET; i++) {
		if (i >= n)
			break;
		gw = set->tunnel_ip[i];
		if (gw && idg_gw_up(gw))
			healthy[nh++ & (IDG_GW_PER_SET - 1)] = gw;
	}
	if (!nh)
		return 0;
	gw = healthy[(hash % nh) & (IDG_GW_PER_SET - 1)];
	nf.gateway = gw;
	nf.last_seen_ns = now;
	/* LRU: a full table forgets the oldest flows, which then re-hash to
	 * the same gateway as long as health has not changed. */
	bpf_map_update_elem(&idg_egw_flows, &ck, &nf, BPF_ANY);
	return gw;
}

/*
 * The verifier walks a program path by path. The filter's verdict alone
 * ends in hundreds of distinct states; inlined, every one of them would
 * carry on through the gateway code. Called as BPF-to-BPF functions, their
 * paths meet again at the return. The split also keeps the stack of any
 * chain of calls under 512 bytes: main calls each of them in turn, none
 * calls another (but the gateway choice).
 */
static __noinline __u32 idg_wl_verdict(struct idg_gen_view *gv,
				       struct idg_pkt *p, int parse_ret,
				       __u32 ifindex, __u32 len)
{
	return idg_process_ext(gv, p, parse_ret, IDG_DIR_EGRESS, ifindex, len,
			       0);
}

static __noinline void idg_wl_drop(struct __sk_buff *skb,
				   struct idg_egw_view *v,
				   const struct idg_pkt *p, __u32 reason,
				   __u32 src_id)
{
	struct idg_drop_info d = {
		.reason = reason,
		.src_id = src_id,
		.dst_id = idg_ipcache_identity(&v->gv, p, p->daddr),
		.gen = v->gv.gen,
		.ifindex = skb->ifindex,
		.pkt_len = skb->len,
		.dir = IDG_DIR_EGRESS,
	};

	idg_egw_drop(v->gv.cfg, p, &d);
}

static __noinline __u32 idg_wl_send(struct __sk_buff *skb,
				    const struct idg_tun_cfg *tun,
				    const struct idg_pkt *p, __be32 gw,
				    __u32 vni)
{
	return idg_tunnel_send(skb, tun, p, gw, vni);
}

/* Where an egress gateway policy sends packet p. */
struct idg_wl_route {
	__be32 gw;
	__u32 identity; /* of the source endpoint: the VNI */
};

/*
 * 0: tunnel p to r->gw. Else a drop reason (r->identity filled), or
 * IDG_PASS_NOT_ENDPOINT when no policy selects p (normal routing).
 */
static __noinline __u32 idg_wl_route(struct idg_egw_view *v,
				     const struct idg_pkt *p,
				     struct idg_wl_route *r)
{
	struct idg_egw_key gk = {};
	struct idg_ip_key ek = {};
	struct idg_egw_val *ev;
	struct idg_gwset *set;
	struct idg_ep_val *ep;

	/* The policy table is keyed by source address: only local
	 * endpoints have entries, and the VNI carries their identity. */
	idg_ip_key_fill(&ek, p, p->saddr, v->gv.cfg->cluster_id);
	ep = bpf_map_lookup_elem(v->gv.eps, &ek);
	if (!ep)
		return IDG_PASS_NOT_ENDPOINT;
	r->identity = ep->identity;

	gk.prefixlen = IDG_EGW_KEY_FIXED_BITS + 32;
	gk.cluster_id = (__u16)v->tun->cluster_id;
	gk.src_ip = idg_pkt_v4(p->saddr);
	gk.dst_ip = idg_pkt_v4(p->daddr);
	ev = bpf_map_lookup_elem(v->egw, &gk);
	if (!ev || (ev->flags & IDG_EGW_F_EXCLUDED))
		return IDG_PASS_NOT_ENDPOINT;

	set = bpf_map_lookup_elem(v->gwsets, &ev->gwset);
	r->gw = set ? idg_gw_choose(set, p, idg_flow_hash(p)) : 0;
	return r->gw ? 0 : IDG_DROP_NO_GATEWAY;
}

SEC("tc")
int idgate_tc_wl_ingress(struct __sk_buff *skb)
{
	void *data = idg_data(skb);
	void *data_end = idg_data_end(skb);
	struct idg_wl_route r = {};
	struct idg_egw_view v = {};
	struct idg_pkt p = {};
	struct ethhdr *eth;
	__u32 reason;
	int ret, have;

	ret = idg_parse(data, data_end, skb->len, &p);
	/* Headers may sit in paged data: pull only then, because pulling
	 * unclones (copies) the skb. */
	if (idg_reason_is_drop(ret) && skb->len > (__u32)(data_end - data)) {
		__u32 want = skb->len < IDG_TC_PULL_LEN ? skb->len :
							  IDG_TC_PULL_LEN;

		if (!bpf_skb_pull_data(skb, want)) {
			__builtin_memset(&p, 0, sizeof(p));
			data = idg_data(skb);
			data_end = idg_data_end(skb);
			ret = idg_parse(data, data_end, skb->len, &p);
		}
	}

	have = idg_egw_view_get(&v);
	if (have < 0) {
		/* Never configured: transparent. */
		idg_pass(IDG_PASS_NO_CONFIG, 0, skb->len);
		return TC_ACT_OK;
	}
	/* The endpoint's egress policy, on the same generation as the
	 * gateway tables. */
	reason = idg_wl_verdict(&v.gv, &p, ret, skb->ifindex, skb->len);
	if (idg_reason_is_drop(reason))
		return TC_ACT_SHOT;
	if (have || ret || p.family != IDG_FAM_IPV4)
		return TC_ACT_OK;

	/* Untagged IPv4 only: the encap expects the IPv4 header at 14. */
	data = idg_data(skb);
	data_end = idg_data_end(skb);
	eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;

	reason = idg_wl_route(&v, &p, &r);
	if (reason == IDG_PASS_NOT_ENDPOINT)
		return TC_ACT_OK;
	if (!reason)
		reason = idg_wl_send(skb, v.tun, &p, r.gw, r.identity);
	if (reason) {
		idg_wl_drop(skb, &v, &p, reason, r.identity);
		return TC_ACT_SHOT;
	}
	idg_pass(IDG_PASS_EGW_ENCAP, 0, skb->len);
	return TC_ACT_REDIRECT;
}

char LICENSE[] SEC("license") = "GPL";
