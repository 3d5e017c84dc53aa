/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The identity verdict shared by XDP ingress and tc egress: generation
 * view, identity lookups, conntrack, policy, counters and drop events.
 * One function, idg_process(), returns an enum idg_reason; the caller
 * turns pass/drop into its own return codes.
 */
#ifndef IDGATE_BPF_VERDICT_H
#define IDGATE_BPF_VERDICT_H

#include <idgate/bpf/maps.h>
#include <idgate/bpf/parse.h>

/*
 * Trace mode, for `idgate policy trace`: set before load in a second copy
 * of the program that only BPF_PROG_TEST_RUN ever runs. It reads the live
 * maps and writes none of them (no conntrack entry, counter or event);
 * its verdict goes to idg_trace_out. In the enforcing copy it is 0, a
 * read-only constant, so the verifier removes every branch on it.
 */
const volatile __u32 idg_trace = 0;

struct idg_gen_view {
	__u32 gen;
	struct idg_cfg *cfg;
	void *ipcache;
	void *ipcache_host;
	void *eps;
	void *policy;
	void *policy_exact;
	void *policy_any;
	void *pairs;
};

/* The active generation is read once per packet: every lookup below goes
 * to the same slot, so a packet never sees a mix of two generations. */
static __always_inline int idg_gen_view_get(struct idg_gen_view *v)
{
	__u32 zero = 0, slot;
	__u32 *g;
	void *m;

	g = bpf_map_lookup_elem(&idg_gen, &zero);
	if (!g)
		return -1;
	v->gen = *(volatile __u32 *)g;
	if (!v->gen)
		return -1;
	slot = IDG_GEN_SLOT(v->gen);
	m = bpf_map_lookup_elem(&idg_cfg_gens, &slot);
	if (!m)
		return -1;
	v->cfg = bpf_map_lookup_elem(m, &zero);
	v->ipcache = bpf_map_lookup_elem(&idg_ipc_gens, &slot);
	v->ipcache_host = bpf_map_lookup_elem(&idg_ipch_gens, &slot);
	v->eps = bpf_map_lookup_elem(&idg_ep_gens, &slot);
	v->policy = bpf_map_lookup_elem(&idg_pol_gens, &slot);
	v->policy_exact = bpf_map_lookup_elem(&idg_polx_gens, &slot);
	v->policy_any = bpf_map_lookup_elem(&idg_polany_gens, &slot);
	v->pairs = bpf_map_lookup_elem(&idg_pair_gens, &slot);
	if (!v->cfg || !v->ipcache || !v->ipcache_host || !v->eps ||
	    !v->policy || !v->policy_exact || !v->policy_any || !v->pairs)
		return -1;
	return 0;
}

static __always_inline void idg_count(void *map, __u32 idx, __u32 len)
{
	struct idg_counter *c;

	if (idg_trace)
		return;
	c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline void idg_misc_inc(__u32 idx)
{
	__u64 *c;

	if (idg_trace)
		return;
	c = bpf_map_lookup_elem(&idg_misc_st, &idx);

	if (c)
		(*c)++;
}

static __always_inline void idg_ip_key_fill(struct idg_ip_key *k,
					    const struct idg_pkt *p,
					    const __u8 *addr, __u32 cluster)
{
	k->prefixlen = IDG_IP_KEY_FIXED_BITS +
		       (p->family == IDG_FAM_IPV4 ? 32 : 128);
	k->cluster_id = cluster;
	k->family = p->family;
	__builtin_memcpy(k->addr, addr, 16);
}

static __always_inline __u32 idg_ipcache_identity(struct idg_gen_view *v,
						  const struct idg_pkt *p,
						  const __u8 *addr)
{
	struct idg_ip_key k = {};
	struct idg_ipcache_val *val;

	idg_ip_key_fill(&k, p, addr, v->cfg->cluster_id);
	/* A host entry is the longest match there can be. */
	val = bpf_map_lookup_elem(v->ipcache_host, &k);
	if (!val)
		val = bpf_map_lookup_elem(v->ipcache, &k);
	return val ? val->identity : IDG_ID_WORLD;
}

static __always_inline void idg_ct_key_fill(struct idg_ct_key *k,
					    const struct idg_pkt *p, int rev)
{
	if (!rev) {
		__builtin_memcpy(k->saddr, p->saddr, 16);
		__builtin_memcpy(k->daddr, p->daddr, 16);
		k->sport = p->sport;
		k->dport = p->dport;
	} else {
		__builtin_memcpy(k->saddr, p->daddr, 16);
		__builtin_memcpy(k->daddr, p->saddr, 16);
		k->sport = p->dport;
		k->dport = p->sport;
	}
	k->proto = p->proto;
	k->family = p->family;
}

/* Deny or allow entry of one kind for the peer, else for any peer. */
static __always_inline struct idg_policy_val *
idg_policy_find(struct idg_gen_view *v, struct idg_policy_key *k,
		__u32 pair_flags, __u8 kind)
{
	struct idg_policy_val *pv = NULL;
	__u32 peer = k->peer;

	k->kind = kind;
	/* An exact port entry is the longest match the trie could give. */
	if ((pair_flags & IDG_PAIR_F_EXACT(kind)) &&
	    k->prefixlen == IDG_POL_PREFIX_FULL)
		pv = bpf_map_lookup_elem(v->policy_exact, k);
	if (!pv && (pair_flags & (1u << kind)))
		pv = bpf_map_lookup_elem(v->policy, k);
	if (!pv) {
		k->peer = IDG_ID_UNKNOWN;
		pv = bpf_map_lookup_elem(v->policy_any, k);
		k->peer = peer;
	}
	return pv;
}

/*
 * Policy verdict for one flow direction. Deny entries are looked up first
 * so that a deny anywhere beats an allow; the LPM on proto+port and the
 * pair hash keep the cost independent of the rule count.
 */
static __always_inline __u32 idg_judge(struct idg_gen_view *v, __u32 subject,
				       __u32 ep_flags, __u32 peer, __u8 dir,
				       __u8 proto, __be16 port, __u32 plen,
				       __u32 *cookie)
{
	__u32 enforce = dir == IDG_DIR_INGRESS ? IDG_EP_F_ENFORCE_INGRESS :
						 IDG_EP_F_ENFORCE_EGRESS;
	__u32 has_deny = dir == IDG_DIR_INGRESS ? IDG_EP_F_DENY_INGRESS :
						  IDG_EP_F_DENY_EGRESS;
	struct idg_pair_key pk = {};
	struct idg_policy_key k = {};
	struct idg_policy_val *pv;
	__u32 pair_flags = 0, *pf;

	*cookie = 0;
	if (!(ep_flags & enforce))
		return IDG_PASS_UNENFORCED;

	pk.subject = subject;
	pk.peer = peer;
	pk.dir = dir;
	pf = bpf_map_lookup_elem(v->pairs, &pk);
	if (pf)
		pair_flags = *pf;

	k.prefixlen = plen;
	k.subject = subject;
	k.peer = peer;
	k.dir = dir;
	k.proto = proto;
	k.port = port;
	if (ep_flags & has_deny) {
		pv = idg_policy_find(v, &k, pair_flags, IDG_RULE_DENY);
		if (pv) {
			*cookie = pv->cookie;
			return IDG_DROP_POLICY_DENY;
		}
	}
	pv = idg_policy_find(v, &k, pair_flags, IDG_RULE_ALLOW);
	if (pv) {
		*cookie = pv->cookie;
		return IDG_PASS_POLICY;
	}
	return IDG_DROP_POLICY_DEFAULT;
}

struct idg_drop_info {
	__u32 reason;
	__u32 src_id;
	__u32 dst_id;
	__u32 cookie;
	__u32 gen;
	__u32 ifindex;
	__u32 pkt_len;
	__u8 dir;
};

/*
 * Spend one event of this CPU's budget. Checked before the per-flow limit
 * so that a flood of distinct flows never reaches its LRU map or the ring.
 */
static __always_inline int idg_ev_budget_take(const struct idg_cfg *cfg,
					       __u64 now)
{
	__u64 share = cfg->events_per_s_cpu / (1000000000ull /
					       IDG_EV_BUDGET_WINDOW_NS);
	struct idg_ev_budget *b;
	__u32 zero = 0;

	b = bpf_map_lookup_elem(&idg_ev_budget, &zero);
	if (!b)
		return 0;
	if (now - b->window_start >= IDG_EV_BUDGET_WINDOW_NS) {
		b->window_start = now;
		b->used = 0;
	}
	if (b->used >= (share ? share : 1))
		return 0;
	b->used++;
	return 1;
}

/*
 * One event per drop (and per new flow a rule allowed), within the node's
 * per-CPU budget, and at most one per flow per interval when the config
 * asks for that. Every event not written is counted: suppressed (budget
 * or per-flow limit) or lost (ring buffer full). Trace events, asked for
 * by a monitor, skip both limits.
 */
static __always_inline void idg_emit(const struct idg_cfg *cfg,
				     const struct idg_pkt *p,
				     const struct idg_drop_info *d, __u8 type)
{
	struct idg_event *e;
	__u64 now;

	if (idg_trace)
		return;
	now = bpf_ktime_get_ns();
	if (cfg && cfg->events_per_s_cpu && !idg_ev_budget_take(cfg, now)) {
		idg_misc_inc(IDG_MISC_EVENTS_SUPPRESSED);
		return;
	}
	if (cfg && cfg->drop_event_interval_ns) {
		struct idg_ct_key k = {};
		__u64 *last;

		idg_ct_key_fill(&k, p, 0);
		last = bpf_map_lookup_elem(&idg_event_rl, &k);
		if (last && now - *last < cfg->drop_event_interval_ns) {
			idg_misc_inc(IDG_MISC_EVENTS_SUPPRESSED);
			return;
		}
		if (last)
			*last = now;
		else
			bpf_map_update_elem(&idg_event_rl, &k, &now, BPF_ANY);
	}

	e = bpf_ringbuf_reserve(&idg_events, sizeof(*e), 0);
	if (!e) {
		idg_misc_inc(IDG_MISC_EVENTS_LOST);
		return;
	}
	e->ts_ns = now;
	e->type = type;
	e->reason = d->reason;
	e->dir = d->dir;
	e->family = p->family;
	e->proto = p->proto;
	e->flags = (p->flags & IDG_PKT_F_LATER) ? IDG_EV_F_FRAGMENT : 0;
	e->pad = 0;
	e->ifindex = d->ifindex;
	e->src_id = d->src_id;
	e->dst_id = d->dst_id;
	e->cookie = d->cookie;
	e->gen = d->gen;
	e->pkt_len = d->pkt_len;
	e->sport = p->sport;
	e->dport = p->dport;
	__builtin_memcpy(e->saddr, p->saddr, 16);
	__builtin_memcpy(e->daddr, p->daddr, 16);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void idg_trace_note(__u32 reason, __u32 cookie)
{
	__u32 zero = 0;
	struct idg_trace_res *t;

	if (!idg_trace)
		return;
	t = bpf_map_lookup_elem(&idg_trace_out, &zero);
	if (t) {
		t->runs++;
		t->reason = reason;
		t->cookie = cookie;
	}
}

static __always_inline __u32 idg_drop(const struct idg_cfg *cfg,
				      const struct idg_pkt *p,
				      struct idg_drop_info *d)
{
	idg_trace_note(d->reason, d->cookie);
	idg_count(&idg_reason_st, d->reason, d->pkt_len);
	if (d->cookie)
		idg_count(&idg_rule_st, d->cookie, d->pkt_len);
	idg_emit(cfg, p, d, IDG_EV_DROP);
	return d->reason;
}

/* Per-packet trace notifications, only while `idgate monitor --type
 * trace` asks for them through idg_mon_cfg: one array lookup otherwise. */
static __always_inline void idg_trace_event(const struct idg_pkt *p,
					    __u32 reason, __u8 dir,
					    __u32 ifindex, __u32 len)
{
	struct idg_drop_info d = { .reason = reason, .dir = dir,
				   .ifindex = ifindex, .pkt_len = len };
	__u32 zero = 0, *f;

	if (idg_trace || idg_reason_is_drop(reason))
		return;
	f = bpf_map_lookup_elem(&idg_mon_cfg, &zero);
	if (f && (*f & IDG_MON_F_TRACE))
		idg_emit(NULL, p, &d, IDG_EV_TRACE);
}

static __always_inline __u32 idg_pass(__u32 reason, __u32 cookie, __u32 len)
{
	idg_trace_note(reason, cookie);
	idg_count(&idg_reason_st, reason, len);
	if (cookie)
		idg_count(&idg_rule_st, cookie, len);
	return reason;
}

/*
 * dir is the direction relative to the local endpoint: XDP on the uplink
 * sees ingress (destination is the endpoint), tc egress sees egress.
 * parse_ret is idg_parse()'s result for p.
 *
 * idg_process_ext() is the verdict on a generation view the caller already
 * holds, so that a program doing more than the verdict (the egress gateway)
 * reads one generation for the whole packet; peer_id, when not 0, is the
 * identity of the other side as the packet states it (a GENEVE VNI from a
 * configured node) instead of the ipcache lookup of its address.
 */

static __always_inline __u32 idg_process_ext(struct idg_gen_view *v,
					     struct idg_pkt *p, int parse_ret,
					     __u8 dir, __u32 ifindex,
					     __u32 pkt_len, __u32 peer_id)
{
	struct idg_drop_info d = { .dir = dir, .ifindex = ifindex,
				   .pkt_len = pkt_len };
	struct idg_ip_key ek = {};
	struct idg_ct_key ck = {};
	struct idg_ep_val *ep;
	struct idg_ct_val *ct;
	__u32 subject, ep_flags, peer, reason, cookie, plen;
	const __u8 *local, *remote;
	__u64 now;

	d.gen = v->gen;

	if (parse_ret) {
		if (!idg_reason_is_drop(parse_ret))
			return idg_pass(parse_ret, 0, pkt_len);
		d.reason = parse_ret;
		return idg_drop(v->cfg, p, &d);
	}

	local = dir == IDG_DIR_INGRESS ? p->daddr : p->saddr;
	remote = dir == IDG_DIR_INGRESS ? p->saddr : p->daddr;

	/* Conntrack first: an established flow, the common case, then costs
	 * no trie walk at all. Coarse (jiffies) time is plenty for flow
	 * ageing and much cheaper than a clocksource read. */
	now = bpf_ktime_get_coarse_ns();
	ct = NULL;
	if (!(p->flags & IDG_PKT_F_LATER)) {
		idg_ct_key_fill(&ck, p, 0);
		ct = bpf_map_lookup_elem(&idg_ct, &ck);
		if (!ct) {
			idg_ct_key_fill(&ck, p, 1);
			ct = bpf_map_lookup_elem(&idg_ct, &ck);
		}
		if (ct && ct->gen == v->gen) {
			if (!idg_trace)
				ct->last_seen_ns = now;
			return idg_pass(IDG_PASS_CT, ct->cookie, pkt_len);
		}
	}

	idg_ip_key_fill(&ek, p, local, v->cfg->cluster_id);
	ep = bpf_map_lookup_elem(v->eps, &ek);
	if (ep) {
		subject = ep->identity;
		ep_flags = ep->flags;
	} else if (v->cfg->enforcement == IDG_ENFORCE_ALWAYS) {
		subject = IDG_ID_HOST;
		ep_flags = v->cfg->host_flags;
	} else {
		/* The endpoint went away with the last switch. */
		if (ct && !idg_trace)
			bpf_map_delete_elem(&idg_ct, &ck);
		return idg_pass(IDG_PASS_NOT_ENDPOINT, 0, pkt_len);
	}

	if (ct) {
		/* Allowed under an older generation: judge the flow again,
		 * in the direction and on the port it was first seen. */
		idg_misc_inc(IDG_MISC_CT_REJUDGED);
		peer = peer_id ? peer_id : idg_ipcache_identity(v, p, remote);
		reason = idg_judge(v, subject, ep_flags, peer, ct->dir,
				   p->proto, ct->pol_port, IDG_POL_PREFIX_FULL,
				   &cookie);
		if (!idg_reason_is_drop(reason)) {
			if (!idg_trace) {
				ct->gen = v->gen;
				ct->cookie = cookie;
				ct->last_seen_ns = now;
			}
			return idg_pass(IDG_PASS_CT, cookie, pkt_len);
		}
		if (!idg_trace)
			bpf_map_delete_elem(&idg_ct, &ck);
		idg_misc_inc(IDG_MISC_CT_REVOKED);
		goto drop;
	}

	peer = peer_id ? peer_id : idg_ipcache_identity(v, p, remote);
	/* A later fragment has no ports: only port-wildcard rules apply. */
	plen = (p->flags & IDG_PKT_F_LATER) ? IDG_POL_PREFIX_PROTO :
					      IDG_POL_PREFIX_FULL;
	reason = idg_judge(v, subject, ep_flags, peer, dir, p->proto,
			   p->pol_port, plen, &cookie);
	if (idg_reason_is_drop(reason))
		goto drop;

	if (!(p->flags & IDG_PKT_F_LATER) && !idg_trace) {
		struct idg_ct_val nv = {
			.created_ns = now,
			.last_seen_ns = now,
			.gen = v->gen,
			.cookie = cookie,
			.dir = dir,
			.pol_port = p->pol_port,
		};

		idg_ct_key_fill(&ck, p, 0);
		if (bpf_map_update_elem(&idg_ct, &ck, &nv, BPF_ANY))
			idg_misc_inc(IDG_MISC_CT_CREATE_FAILED);
	}
	/* A policy verdict notification: which rule let a new flow in. */
	if (reason == IDG_PASS_POLICY) {
		d.reason = reason;
		d.cookie = cookie;
		d.src_id = dir == IDG_DIR_INGRESS ? peer : subject;
		d.dst_id = dir == IDG_DIR_INGRESS ? subject : peer;
		idg_emit(v->cfg, p, &d, IDG_EV_POLICY_VERDICT);
	}
	return idg_pass(reason, cookie, pkt_len);

drop:
	d.reason = reason;
	d.cookie = cookie;
	d.src_id = dir == IDG_DIR_INGRESS ? peer : subject;
	d.dst_id = dir == IDG_DIR_INGRESS ? subject : peer;
	return idg_drop(v->cfg, p, &d);
}

static __always_inline __u32 idg_process(struct idg_pkt *p, int parse_ret,
					 __u8 dir, __u32 ifindex, __u32 pkt_len)
{
	struct idg_gen_view v = {};

	/* An instance that was never configured is transparent. */
	if (idg_gen_view_get(&v))
		return idg_pass(IDG_PASS_NO_CONFIG, 0, pkt_len);
	return idg_process_ext(&v, p, parse_ret, dir, ifindex, pkt_len, 0);
}

#endif /* IDGATE_BPF_VERDICT_H */
