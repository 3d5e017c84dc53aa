// SPDX-License-Identifier: GPL-2.0
/*
 * Egress gateway, both ends of the tunnel:
 *
 * idgate_tunnel_in, tc ingress on the uplink of every node: GENEVE to this
 * node from a configured node is decapsulated. The VNI is the source
 * identity the sending node claims; it is believed only for an inner
 * source that node hosts (idg_tun_verify()), or for the replies of a flow
 * this node sent into the tunnel toward that node (conntrack). An inner
 * packet for a local endpoint (or this node) is judged by the filter and
 * handed to the stack; on a gateway node the others must be entitled to
 * this gateway by an egress policy, and are source-NATed to the egress IP
 * and redirected toward their destination.
 *
 * idgate_gw_ext_in, tc ingress on the gateway's external interface:
 * replies to a mapping are translated back and sent in GENEVE to the node
 * the flow came from. Everything else is left to the stack.
 *
 * The pieces are BPF-to-BPF functions called one after the other from the
 * program: the verifier's paths through each meet again at its return
 * (inlined, the filter's verdict alone would multiply everything after
 * it), and no chain of calls needs more than 512 bytes of stack. A BPF
 * function takes at most 5 arguments.
 */
/* Its tunnel programs' frames are deep: see IDG_HOT. */
#define IDG_VERDICT_INLINE 0
#define IDG_VERDICT_TUNNEL 1
#include <idgate/bpf/nat.h>

/* reason and direction of a drop, in one argument */
#define IDG_DROP_ARG(reason, dir) ((reason) | (__u32)(dir) << 16)

static __noinline void idg_gw_drop(struct __sk_buff *skb,
				   struct idg_egw_view *v,
				   const struct idg_pkt *p, __u32 reason_dir,
				   __u64 ids)
{
	struct idg_drop_info d = {
		.reason = reason_dir & 0xffff,
		.src_id = ids >> 32,
		.dst_id = (__u32)ids,
		.gen = v->gv.gen,
		.ifindex = skb->ifindex,
		.pkt_len = skb->len,
		.dir = reason_dir >> 16,
	};

	idg_egw_drop(v->gv.cfg, p, &d);
}

/* A tunnel packet refused before its inner packet was looked at. */
static __noinline void idg_gw_drop_outer(struct __sk_buff *skb,
					 struct idg_egw_view *v,
					 const struct idg_geneve_rx *rx,
					 __u32 reason)
{
	struct idg_pkt p = {};

	idg_geneve_outer_pkt(rx, &p);
	idg_gw_drop(skb, v, &p, IDG_DROP_ARG(reason, IDG_DIR_INGRESS),
		    IDG_IDS(idg_ipcache_identity(&v->gv, &p, p.saddr),
			    IDG_ID_HOST));
}

/* Is the inner destination this node or one of its endpoints? */
static __always_inline int idg_is_local(struct idg_egw_view *v,
					const struct idg_pkt *p)
{
	if (idg_pkt_v4(p->daddr) == v->tun->tunnel_ip)
		return 1;
	return idg_ep_lookup(&v->gv, p, p->daddr) != NULL;
}

/* The SNAT of one packet. */
#define idg_gw_nat idg_nat_out

/*
 * Is flow p, sent by the node of c, entitled to this gateway? Its VNI
 * must be the identity of an inner source that node hosts, the policy
 * that sent it here (the same table as on the source node, keyed by the
 * sender's cluster) must have selected that identity and name this
 * gateway, and the packet must be one we can translate. 0 with n->ip the
 * egress IP, or a drop reason.
 */
static __noinline __u32 idg_gw_entitled(struct idg_egw_view *v,
					const struct idg_pkt *p,
					const struct idg_ctx *c,
					struct idg_gw_nat *n)
{
	const struct idg_tun_cfg *tun = v->tun;
	void *egw = idg_gmap(&v->gv, &idg_egw_gens);
	void *gwsets = idg_gmap(&v->gv, &idg_gwset_gens);
	struct idg_egw_key gk = {};
	struct idg_egw_val *ev;
	struct idg_gwset *set;
	__u32 i, reason;

	reason = idg_tun_verify(&v->gv, p, c);
	if (IDG_TUN_REASON(reason))
		return IDG_TUN_REASON(reason);
	/* A source whose data expired is entitled to nothing. */
	if (reason & IDG_PEER_PC_EXPIRED)
		return IDG_DROP_REMOTE_EXPIRED;
	if (!egw || !gwsets)
		return IDG_DROP_GEN_INCOMPLETE;
	gk.prefixlen = IDG_EGW_KEY_FIXED_BITS + 32;
	gk.cluster_id = (__u16)c->tun_cluster;
	gk.src_ip = idg_pkt_v4(p->saddr);
	gk.dst_ip = idg_pkt_v4(p->daddr);
	ev = bpf_map_lookup_elem(egw, &gk);
	if (!ev || (ev->flags & IDG_EGW_F_EXCLUDED) ||
	    ev->identity != c->vni)
		return IDG_DROP_EGW_NOT_SELECTED;
	set = bpf_map_lookup_elem(gwsets, &ev->gwset);
	if (!set)
		return IDG_DROP_EGW_NOT_SELECTED;
	for (i = 0; i < IDG_GW_PER_SET; i++) {
		if (i >= set->n)
			return IDG_DROP_EGW_NOT_SELECTED;
		if (set->tunnel_ip[i] == tun->tunnel_ip)
			break;
	}
	if (i == IDG_GW_PER_SET)
		return IDG_DROP_EGW_NOT_SELECTED;

	n->later = !!(p->flags & IDG_PKT_F_LATER);
	/* TCP, UDP and ICMP echo requests are translated. Anything else
	 * (other ICMP types included) would leave with the workload's own
	 * address, which the destination must never see: dropped. */
	switch (p->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		break;
	case IPPROTO_ICMP:
		if (!n->later &&
		    (bpf_ntohs(p->pol_port) >> 8) != IDG_ICMP_ECHO)
			return IDG_DROP_EGW_NOT_SELECTED;
		break;
	default:
		return IDG_DROP_EGW_NOT_SELECTED;
	}
	n->ip = ev->egress_ip ? ev->egress_ip : tun->egress_ip;
	/* A gateway without an egress IP cannot serve this policy. */
	return n->ip ? 0 : IDG_DROP_NAT_REWRITE;
}

/*
 * The flow's mapping (nat.h), when it has one. A later fragment has no
 * ports to find one by: its address is the policy's egress IP, as its
 * first fragment's, and its port is not rewritten. 1, or 0 when a new
 * mapping must be made (idg_gw_alloc).
 */
static __noinline int idg_gw_mapping(const struct idg_geneve_rx *rx,
				     const struct idg_pkt *p,
				     struct idg_gw_nat *n)
{
	struct idg_snat_key fk = {};

	if (n->later) {
		n->port = p->sport;
		return 1;
	}
	idg_snat_key_fill(&fk, rx->src, p);
	return idg_snat_find(&fk, p->tcp_flags, bpf_ktime_get_coarse_ns(), n);
}

/* A new mapping for the flow (n->ip: the egress IP to use). 0 or a drop
 * reason. Called from the program itself, not from idg_gw_mapping(): the
 * allocation's frames then sit on a short call chain. */
static __noinline __u32 idg_gw_alloc(const struct idg_tun_cfg *tun,
				     const struct idg_geneve_rx *rx,
				     const struct idg_pkt *p,
				     struct idg_gw_nat *n)
{
	struct idg_snat_key fk = {};

	idg_snat_key_fill(&fk, rx->src, p);
	return idg_snat_alloc(tun, &fk, IDG_SNAT_IP_VNI(n->ip, rx->vni),
			      IDG_SNAT_FLAGS_HASH(
				      idg_snat_new_flags(p->proto,
							 p->tcp_flags),
				      idg_flow_hash(p)),
			      n);
}

/* Decapsulate, translate, send toward the destination. 0 (redirect set
 * up) or a drop reason. */
static __noinline __u32 idg_gw_out(struct __sk_buff *skb,
				   const struct idg_tun_cfg *tun,
				   const struct idg_geneve_rx *rx,
				   const struct idg_pkt *p,
				   const struct idg_gw_nat *n)
{
	__u32 reason, l4_off;
	__u8 ihl = 5;

	reason = idg_geneve_decap(skb, rx);
	if (reason)
		return reason;
	bpf_skb_load_bytes(skb, ETH_HLEN, &ihl, 1);
	l4_off = ETH_HLEN + (ihl & 0xf) * 4;
	if (idg_nat_rewrite(skb, ETH_HLEN, l4_off, p->proto, n->later, 1,
			    idg_pkt_v4(p->saddr), n->ip, p->sport, n->port))
		return IDG_DROP_NAT_REWRITE;
	/* The lookup as if forwarded from the uplink; where the kernel must
	 * route itself, the external interface. */
	return idg_fib_redirect(skb, n->ip, idg_pkt_v4(p->daddr), p->proto,
				n->port, p->dport, skb->ifindex,
				tun->external_ifindex);
}

SEC("tc")
int idgate_tunnel_in(struct __sk_buff *skb)
{
	struct idg_egw_view v = {};
	struct idg_geneve_rx rx = {};
	struct idg_node_val *node = NULL;
	struct idg_gw_nat n = {};
	struct idg_ctx c = {};
	struct idg_pkt p = {};
	void *data, *data_end;
	__u32 reason = 0, inner_len;
	int ret, view;

	/* Every frame of the uplink comes here: look before any lookup. */
	if (!idg_geneve_peek(skb, &rx))
		return TC_ACT_OK;
	view = idg_egw_view_get(&v);
	if (view) {
		/* Never configured: no tunnel is ours. An incomplete
		 * generation cannot tell: nothing gets in unchecked. */
		c.pkt_len = skb->len;
		c.ifindex = skb->ifindex;
		idg_geneve_outer_pkt(&rx, &p);
		return idg_reason_is_drop(idg_no_view(view, &p, 0, &c)) ?
			       TC_ACT_SHOT :
			       TC_ACT_OK;
	}
	if (idg_geneve_classify(skb, &v, &rx, &reason, &node) ==
	    IDG_TUN_NOT_OURS)
		return TC_ACT_OK;
	if (reason || !node) {
		idg_gw_drop_outer(skb, &v, &rx,
				  reason ? reason : IDG_DROP_BAD_TUNNEL);
		return TC_ACT_SHOT;
	}

	data = idg_data(skb);
	data_end = idg_data_end(skb);
	inner_len = skb->len - rx.inner_off;
	ret = idg_parse(data + (rx.inner_off & 0x1ff), data_end, inner_len, &p);
	if (ret) {
		/* The inner frame is IPv4 (classify checked): anything but 0
		 * is a malformed inner packet. */
		if (!idg_reason_is_drop(ret))
			ret = IDG_DROP_BAD_TUNNEL;
		idg_gw_drop(skb, &v, &p, IDG_DROP_ARG(ret, IDG_DIR_INGRESS),
			    IDG_IDS(rx.vni, 0));
		return TC_ACT_SHOT;
	}
	c.ifindex = skb->ifindex;
	c.pkt_len = inner_len;
	c.tun_in = 1;
	c.tun_node = rx.src;
	c.tun_cluster = node->cluster_id;
	c.vni = rx.vni;

	if (idg_is_local(&v, &p)) {
		reason = idg_verdict(&p, 0, &c, v.gv.gen);
		if (idg_reason_is_drop(reason))
			return TC_ACT_SHOT;
		reason = idg_geneve_decap(skb, &rx);
		if (reason) {
			idg_gw_drop(skb, &v, &p,
				    IDG_DROP_ARG(reason, IDG_DIR_INGRESS),
				    IDG_IDS(rx.vni, 0));
			return TC_ACT_SHOT;
		}
		idg_pass(IDG_PASS_TUNNEL_DECAP, 0, skb->len);
		return TC_ACT_OK;
	}

	/* Sent to a node that is no gateway: nothing to do with it. */
	reason = IDG_DROP_EGW_NOT_SELECTED;
	if (v.tun->flags & IDG_TUN_F_GATEWAY)
		reason = idg_gw_entitled(&v, &p, &c, &n);
	if (!reason && !idg_gw_mapping(&rx, &p, &n))
		reason = idg_gw_alloc(v.tun, &rx, &p, &n);
	if (!reason)
		reason = idg_gw_out(skb, v.tun, &rx, &p, &n);
	if (reason) {
		idg_gw_drop(skb, &v, &p, IDG_DROP_ARG(reason, IDG_DIR_EGRESS),
			    IDG_IDS(rx.vni,
				    idg_ipcache_identity(&v.gv, &p, p.daddr)));
		return TC_ACT_SHOT;
	}
	idg_pass(IDG_PASS_SNAT, 0, skb->len);
	return TC_ACT_REDIRECT;
}

static __noinline __u32 idg_gw_send(struct __sk_buff *skb,
				    const struct idg_tun_cfg *tun,
				    const struct idg_pkt *p, __be32 node,
				    __u32 vni)
{
	return idg_tunnel_send(skb, tun, p, node, vni);
}

/*
 * Reply p to a mapping (rk, rv): refresh the mapping, translate the
 * destination back. 0 or a drop reason.
 */
static __noinline __u32 idg_gw_unnat(struct __sk_buff *skb,
				     const struct idg_snat_rev_key *rk,
				     const struct idg_snat_rev_val *rv,
				     struct idg_pkt *p)
{
	struct idg_snat_key fk = {};
	struct idg_snat_val *m;
	__u32 l4_off;
	__u8 ihl = 5, tcp_flags = 0;

	bpf_skb_load_bytes(skb, ETH_HLEN, &ihl, 1);
	l4_off = ETH_HLEN + (ihl & 0xf) * 4;
	if (p->proto == IPPROTO_TCP)
		bpf_skb_load_bytes(skb, l4_off + 13, &tcp_flags, 1);
	idg_snat_owner_key(&fk, rk, rv);
	m = bpf_map_lookup_elem(&idg_snat, &fk);
	if (m)
		idg_snat_reply_seen(m, p->proto, tcp_flags,
				    bpf_ktime_get_coarse_ns());

	if (idg_nat_rewrite(skb, ETH_HLEN, l4_off, p->proto, 0, 0, rk->daddr,
			    rv->orig_saddr, rk->dport, rv->orig_sport))
		return IDG_DROP_NAT_REWRITE;
	/* From here on p is the packet as the workload will see it. */
	__builtin_memcpy(p->daddr, &rv->orig_saddr, 4);
	p->dport = rv->orig_sport;
	if (p->proto == IPPROTO_ICMP)
		p->sport = rv->orig_sport;
	return 0;
}

SEC("tc")
int idgate_gw_ext_in(struct __sk_buff *skb)
{
	void *data = idg_data(skb);
	void *data_end = idg_data_end(skb);
	struct idg_egw_view v = {};
	struct idg_snat_rev_key rk = {};
	struct idg_snat_rev_val rv;
	struct idg_snat_rev_val *r;
	struct idg_pkt p = {};
	struct ethhdr *eth;
	__u32 reason, vni;
	int ret, view;

	ret = idg_parse(data, data_end, skb->len, &p);
	if (idg_reason_is_drop(ret) && skb->len > (__u32)(data_end - data)) {
		idg_skb_pull(skb, IDG_TC_PULL_LEN);
		__builtin_memset(&p, 0, sizeof(p));
		data = idg_data(skb);
		data_end = idg_data_end(skb);
		ret = idg_parse(data, data_end, skb->len, &p);
	}
	/* Replies are whole IPv4 packets with ports (a later fragment has
	 * none to find its mapping by: left to the stack), echo replies
	 * among ICMP. */
	if (ret || p.family != IDG_FAM_IPV4 || (p.flags & IDG_PKT_F_LATER))
		return TC_ACT_OK;
	if (p.proto == IPPROTO_ICMP &&
	    (bpf_ntohs(p.pol_port) >> 8) != IDG_ICMP_ECHOREPLY)
		return TC_ACT_OK;
	data = idg_data(skb);
	data_end = idg_data_end(skb);
	eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;

	/* The reverse table first: everything that is no reply to a mapping
	 * (most of what arrives here) costs one lookup. */
	rk.saddr = idg_pkt_v4(p.saddr);
	rk.daddr = idg_pkt_v4(p.daddr);
	rk.sport = p.sport;
	rk.dport = p.dport;
	rk.proto = p.proto;
	r = bpf_map_lookup_elem(&idg_snat_rev, &rk);
	if (!r)
		return TC_ACT_OK;
	rv = *r;
	view = idg_egw_view_get(&v);
	if (view) {
		struct idg_ctx c = { .ifindex = skb->ifindex,
				     .pkt_len = skb->len,
				     .dir = IDG_DIR_INGRESS };

		return idg_reason_is_drop(idg_no_view(view, &p, 0, &c)) ?
			       TC_ACT_SHOT :
			       TC_ACT_OK;
	}
	if (!(v.tun->flags & IDG_TUN_F_GATEWAY))
		return TC_ACT_OK;

	reason = idg_gw_unnat(skb, &rk, &rv, &p);
	if (!reason) {
		/* The identity of the replying side, as this gateway knows
		 * it. */
		vni = idg_vni_of(idg_ipcache_identity(&v.gv, &p, p.saddr));
		reason = idg_gw_send(skb, v.tun, &p, rv.node_ip, vni);
	}
	if (reason) {
		idg_gw_drop(skb, &v, &p, IDG_DROP_ARG(reason, IDG_DIR_INGRESS),
			    IDG_IDS(idg_ipcache_identity(&v.gv, &p, p.saddr),
				    rv.vni));
		return TC_ACT_SHOT;
	}
	idg_pass(IDG_PASS_REV_SNAT, 0, skb->len);
	return TC_ACT_REDIRECT;
}

char LICENSE[] SEC("license") = "GPL";
