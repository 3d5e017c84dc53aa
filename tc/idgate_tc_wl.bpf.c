// SPDX-License-Identifier: GPL-2.0
/*
 * The workload-facing interfaces of a node (spec.interfaces.endpoints).
 *
 * tc ingress, what a workload sends: its source address must be one of
 * the endpoints bound to this interface (spec.interface), else it is a
 * spoof; then the endpoint's egress policy judges it (and allowed flows
 * enter conntrack), exactly as the uplink's tc egress program does; then
 * traffic an egress gateway policy selects is carried in GENEVE to a
 * healthy gateway node of the policy and redirected out the uplink.
 * Everything else continues through the kernel's routing untouched.
 *
 * tc egress, what reaches a workload without crossing the uplink's
 * filter (another workload of this node, the node itself, another
 * interface): the destination endpoint's ingress policy.
 */
/* Its frames are deeper than the uplink's: see IDG_HOT. */
#define IDG_VERDICT_INLINE 1
#include <idgate/bpf/tunnel.h>

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
 * set's healthy gateways by flow hash. Every source node with the same
 * view of health picks the same one. 0: none healthy. *fresh: a new
 * choice, to be remembered (idg_gw_remember) once the flow is allowed.
 */
static __noinline __be32 idg_gw_choose(const struct idg_gwset *set,
				       const struct idg_pkt *p, __u32 hash,
				       __u32 *fresh)
{
	__be32 healthy[IDG_GW_PER_SET] = {};
	struct idg_ct_key ck = {};
	struct idg_egw_flow *f;
	__u32 n = set->n, nh = 0, i;
	__u64 now = bpf_ktime_get_coarse_ns();
	__be32 gw;

	*fresh = 0;
	idg_egw_flow_key(&ck, p);
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
	*fresh = 1;
	return healthy[(hash % nh) & (IDG_GW_PER_SET - 1)];
}

/* LRU: a full table forgets the oldest flows, which then re-hash to the
 * same gateway as long as health has not changed. */
static __noinline void idg_gw_remember(const struct idg_pkt *p,
					    __be32 gw)
{
	struct idg_egw_flow nf = { .gateway = gw,
				   .last_seen_ns = bpf_ktime_get_coarse_ns() };
	struct idg_ct_key ck = {};

	idg_egw_flow_key(&ck, p);
	bpf_map_update_elem(&idg_egw_flows, &ck, &nf, BPF_ANY);
}

/*
 * The verifier walks a program path by path. The filter's verdict alone
 * ends in hundreds of distinct states; inlined, every one of them would
 * carry on through the gateway code. Called as BPF-to-BPF functions, their
 * paths meet again at the return. The split also keeps the stack of any
 * chain of calls under 512 bytes: main calls each of them in turn, none
 * calls another (but the gateway choice).
 */
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
	__u32 fresh;    /* gw is a new choice for the flow */
};

/*
 * 0: tunnel p to r->gw. Else a drop reason (r->identity filled), or
 * IDG_PASS_NOT_ENDPOINT when no policy selects p (normal routing).
 */
static __noinline __u32 idg_wl_route(struct idg_egw_view *v,
				     const struct idg_pkt *p,
				     struct idg_wl_route *r)
{
	void *egw = idg_gmap(&v->gv, &idg_egw_gens);
	void *gwsets = idg_gmap(&v->gv, &idg_gwset_gens);
	struct idg_egw_key gk = {};
	struct idg_egw_val *ev;
	struct idg_gwset *set;
	struct idg_ep_val *ep;

	if (!egw || !gwsets)
		return IDG_DROP_GEN_INCOMPLETE;
	/* The policy table is keyed by source address: only local
	 * endpoints have entries, and the VNI carries their identity (the
	 * source address is bound to this interface: idg_wl_bound()). */
	ep = idg_ep_lookup(&v->gv, p, p->saddr);
	if (!ep)
		return IDG_PASS_NOT_ENDPOINT;
	r->identity = ep->identity;

	gk.prefixlen = IDG_EGW_KEY_FIXED_BITS + 32;
	gk.cluster_id = (__u16)v->tun->cluster_id;
	gk.src_ip = idg_pkt_v4(p->saddr);
	gk.dst_ip = idg_pkt_v4(p->daddr);
	ev = bpf_map_lookup_elem(egw, &gk);
	if (!ev || (ev->flags & IDG_EGW_F_EXCLUDED) ||
	    ev->identity != ep->identity)
		return IDG_PASS_NOT_ENDPOINT;

	set = bpf_map_lookup_elem(gwsets, &ev->gwset);
	r->gw = set ? idg_gw_choose(set, p, idg_flow_hash(p), &r->fresh) : 0;
	return r->gw ? 0 : IDG_DROP_NO_GATEWAY;
}

/* Sources that never leave the link: IPv6 link-local and unspecified
 * (neighbour and multicast listener discovery, DHCPv6), IPv4 0.0.0.0
 * (DHCP). Routers do not forward them, and they are no endpoint's. */
static __always_inline int idg_link_scope_source(const struct idg_pkt *p)
{
	__u32 w[4];

	__builtin_memcpy(w, p->saddr, 16);
	if (p->family == IDG_FAM_IPV4)
		return !w[0];
	return (w[0] & bpf_htonl(0xffc00000)) == bpf_htonl(0xfe800000) ||
	       !(w[0] | w[1] | w[2] | w[3]);
}

/*
 * A workload sends only from its own addresses: the source must be an
 * endpoint bound to the interface the packet came in on (or a link-scope
 * address). 0 or a drop reason.
 */
static __noinline __u32 idg_wl_bound(const struct idg_gen_view *v,
				     const struct idg_pkt *p, __u32 ifindex)
{
	struct idg_ep_val *ep;

	if (idg_link_scope_source(p))
		return 0;
	ep = idg_ep_lookup(v, p, p->saddr);

	if (!ep || !ep->ifindex || ep->ifindex != ifindex)
		return IDG_DROP_SPOOFED_SOURCE;
	return 0;
}

/* Parse, pulling headers into the linear area only when they are in
 * paged data: pulling unclones (copies) the skb. */
static __always_inline int idg_wl_parse(struct __sk_buff *skb,
					struct idg_pkt *p)
{
	void *data = idg_data(skb);
	void *data_end = idg_data_end(skb);
	int ret;

	ret = idg_parse(data, data_end, skb->len, p);
	if (idg_reason_is_drop(ret) && skb->len > (__u32)(data_end - data)) {
		__u32 want = skb->len < IDG_TC_PULL_LEN ? skb->len :
							  IDG_TC_PULL_LEN;

		if (!bpf_skb_pull_data(skb, want)) {
			__builtin_memset(p, 0, sizeof(*p));
			data = idg_data(skb);
			data_end = idg_data_end(skb);
			ret = idg_parse(data, data_end, skb->len, p);
		}
	}
	return ret;
}

SEC("tc")
int idgate_tc_wl_ingress(struct __sk_buff *skb)
{
	struct idg_ctx c = { .ifindex = skb->ifindex, .pkt_len = skb->len,
			     .dir = IDG_DIR_EGRESS };
	struct idg_wl_route r = {};
	struct idg_egw_view v = {};
	struct idg_pkt p = {};
	__u32 reason, route = IDG_PASS_NOT_ENDPOINT;
	int ret, view;

	ret = idg_wl_parse(skb, &p);
	view = idg_egw_view_get(&v);
	if (view)
		return idg_reason_is_drop(idg_no_view(view, &p, ret, &c)) ?
			       TC_ACT_SHOT :
			       TC_ACT_OK;
	if (!ret) {
		reason = idg_wl_bound(&v.gv, &p, skb->ifindex);
		if (reason) {
			idg_wl_drop(skb, &v, &p, reason, IDG_ID_UNKNOWN);
			return TC_ACT_SHOT;
		}
	}
	/* Which gateway, if any, first: conntrack binds the flow to it. The
	 * encap expects untagged IPv4 (the IPv4 header at 14). */
	if (!ret && p.family == IDG_FAM_IPV4) {
		void *data = idg_data(skb);
		void *data_end = idg_data_end(skb);
		struct ethhdr *eth = data;

		if ((void *)(eth + 1) <= data_end &&
		    eth->h_proto == bpf_htons(ETH_P_IP))
			route = idg_wl_route(&v, &p, &r);
	}
	c.tun_node = route ? 0 : r.gw;
	/* The endpoint's egress policy, on the same generation as the
	 * gateway tables. */
	reason = idg_verdict(&p, ret, &c, v.gv.gen);
	if (idg_reason_is_drop(reason))
		return TC_ACT_SHOT;
	if (route == IDG_PASS_NOT_ENDPOINT)
		return TC_ACT_OK;
	if (!route) {
		if (r.fresh)
			idg_gw_remember(&p, r.gw);
		route = idg_wl_send(skb, v.tun, &p, r.gw, r.identity);
	}
	if (route) {
		idg_wl_drop(skb, &v, &p, route, r.identity);
		return TC_ACT_SHOT;
	}
	idg_pass(IDG_PASS_EGW_ENCAP, 0, skb->len);
	return TC_ACT_REDIRECT;
}

SEC("tc")
int idgate_tc_wl_egress(struct __sk_buff *skb)
{
	struct idg_ctx c = { .ifindex = skb->ifindex, .pkt_len = skb->len,
			     .dir = IDG_DIR_INGRESS };
	struct idg_egw_view v = {};
	struct idg_pkt p = {};
	int ret, view;

	ret = idg_wl_parse(skb, &p);
	view = idg_egw_view_get(&v);
	/* Judged at the uplink already (its filter, or the tunnel's). */
	if (!view && skb->ingress_ifindex &&
	    skb->ingress_ifindex == v.tun->uplink_ifindex)
		return TC_ACT_OK;
	if (view)
		return idg_reason_is_drop(idg_no_view(view, &p, ret, &c)) ?
			       TC_ACT_SHOT :
			       TC_ACT_OK;
	/* Sent by the node itself: the host identity, as in Cilium. */
	if (!skb->ingress_ifindex)
		c.peer_id = IDG_ID_HOST;
	return idg_reason_is_drop(idg_verdict(&p, ret, &c, v.gv.gen)) ?
		       TC_ACT_SHOT :
		       TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
