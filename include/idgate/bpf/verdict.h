/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The identity verdict shared by every program that judges a packet:
 * generation view, identity lookups, conntrack, fragments, the tunnel's
 * identity check, policy, counters and drop events. idg_process()
 * returns an enum idg_reason; the caller turns pass/drop into its own
 * return codes.
 *
 * The verifier walks a program path by path, and the stack of the
 * deepest chain of calls must stay within 512 bytes. So the verdict is
 * a spine (idg_process_ext) of scalars calling small functions, each
 * with its own frame for its keys: the verifier walks each once per
 * distinct state at its entry, and their paths meet again at their
 * return. Those on the paths most packets take are inlined where a
 * program's stack allows it (IDG_HOT below).
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

/*
 * The verdict's steps on the paths most packets take are inlined into
 * it: a call between BPF functions costs about 10 ns here (frame set-up,
 * spills, and a return through this kernel's return thunk), and a denied
 * packet made five. Each inlined step grows the verdict's frame, and the
 * deepest chain of calls of a program must keep within the verifier's
 * 512 bytes of stack, so a program whose own frame is deep says how much
 * it can afford before including this, in IDG_VERDICT_INLINE:
 *   3 (the uplink's XDP and tc programs): the whole verdict
 *     (idg_verdict());
 *   2: IDG_HOT and IDG_HOT2 steps inlined;
 *   1 (the workload interfaces'): IDG_HOT steps only (conntrack lookup
 *     and update, the subject, the protocol-class deny);
 *   0 (the egress gateway's): none.
 */
#ifndef IDG_VERDICT_INLINE
#define IDG_VERDICT_INLINE 2
#endif
/* 1 in the programs that judge packets out of the tunnel (idg_ctx.tun_in,
 * the egress gateway's): the others leave the tunnel's identity check out
 * of their verdict, and its room on their stack. */
#ifndef IDG_VERDICT_TUNNEL
#define IDG_VERDICT_TUNNEL 0
#endif
#if IDG_VERDICT_INLINE >= 1
#define IDG_HOT __always_inline
#else
#define IDG_HOT __noinline
#endif
#if IDG_VERDICT_INLINE >= 2
#define IDG_HOT2 __always_inline
#else
#define IDG_HOT2 __noinline
#endif

/*
 * The generation a packet is judged by. Its maps are found through the
 * slot when needed (idg_gmap), not held here: the view stays small on
 * every frame that carries it. The same slot gives the same maps for
 * the whole packet: userspace rewrites a slot only after a grace period
 * that follows the switch away from it.
 */
struct idg_gen_view {
	__u32 gen;
	__u32 slot;
	struct idg_cfg *cfg;
};

static __always_inline void *idg_gmap(const struct idg_gen_view *v,
				      void *outer)
{
	return bpf_map_lookup_elem(outer, &v->slot);
}

/*
 * The active generation is read once per packet: every lookup goes to
 * the same slot, so a packet never sees a mix of two generations.
 * 0: configured. 1: never configured (the instance is transparent).
 * -1: a generation is active but its cfg is missing, which only a broken
 * loader or a hand-edited pin dir can cause: the callers drop rather than
 * let traffic through unjudged. The slot's other maps are checked where a
 * packet reads them (a missing one drops it as IDG_DROP_GEN_INCOMPLETE):
 * each slot is a cache line of its own, and a denied packet needs few.
 */
static __always_inline int idg_gen_view_at(struct idg_gen_view *v, __u32 gen)
{
	__u32 zero = 0;
	void *m;

	v->gen = gen;
	if (!v->gen)
		return 1;
	v->slot = IDG_GEN_SLOT(v->gen);
	m = idg_gmap(v, &idg_cfg_gens);
	if (!m)
		return -1;
	v->cfg = bpf_map_lookup_elem(m, &zero);
	return v->cfg ? 0 : -1;
}

/* Are all of the filter's maps of v's slot there? For programs that
 * read them without a check at each use (the egress gateway's). */
static __always_inline int idg_gen_view_complete(const struct idg_gen_view *v)
{
	return idg_gmap(v, &idg_ipc_gens) && idg_gmap(v, &idg_ipch_gens) &&
	       idg_gmap(v, &idg_ep_gens) && idg_gmap(v, &idg_eph_gens) &&
	       idg_gmap(v, &idg_pol_gens) && idg_gmap(v, &idg_polx_gens) &&
	       idg_gmap(v, &idg_polany_gens) && idg_gmap(v, &idg_pair_gens);
}

static __always_inline int idg_gen_view_get(struct idg_gen_view *v)
{
	__u32 zero = 0, *g;

	g = bpf_map_lookup_elem(&idg_gen, &zero);
	if (!g)
		return -1;
	return idg_gen_view_at(v, *(volatile __u32 *)g);
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

/* Does the generation have prefixes of p's family in a trie (pfx4 and
 * pfx6 are its IDG_CFG_F_* bits)? Host entries are in hashes. */
static __always_inline int idg_has_prefixes(const struct idg_gen_view *v,
					    const struct idg_pkt *p,
					    __u32 pfx4, __u32 pfx6)
{
	return v->cfg->flags & (p->family == IDG_FAM_IPV4 ? pfx4 : pfx6);
}

/*
 * The ipcache entry of addr as keyed by cluster (NULL: none). *missing is
 * set when the generation lacks a map the lookup needed: the trie only
 * when the host hash missed and the generation has prefixes.
 */
static IDG_HOT2 struct idg_ipcache_val *
idg_ipcache_lookup(const struct idg_gen_view *v, const struct idg_pkt *p,
		   const __u8 *addr, __u32 cluster, __u32 *missing)
{
	void *host = idg_gmap(v, &idg_ipch_gens);
	struct idg_ip_key k = {};
	struct idg_ipcache_val *val;
	void *lpm;

	if (!host)
		goto missing;
	idg_ip_key_fill(&k, p, addr, cluster);
	/* A host entry is the longest match there can be. */
	val = bpf_map_lookup_elem(host, &k);
	if (val || !idg_has_prefixes(v, p, IDG_CFG_F_IPC_PFX4,
				     IDG_CFG_F_IPC_PFX6))
		return val;
	lpm = idg_gmap(v, &idg_ipc_gens);
	if (!lpm)
		goto missing;
	return bpf_map_lookup_elem(lpm, &k);
missing:
	*missing = 1;
	return NULL;
}

/* The identity of a peer address in *id, and in *pcs what the rules say
 * of it as a peer (IDG_PEER_PC_*). -1: the generation lacks an ipcache
 * map (the caller drops). An expired entry (IDG_IPC_F_EXPIRED) adds
 * IDG_PEER_PC_EXPIRED to *pcs: the judge drops it (IDG_JQ_EXPIRED). */
static __always_inline int idg_ipcache_peer(const struct idg_gen_view *v,
					    const struct idg_pkt *p,
					    const __u8 *addr, __u32 *id,
					    __u32 *pcs)
{
	__u32 missing = 0;
	struct idg_ipcache_val *val =
		idg_ipcache_lookup(v, p, addr, v->cfg->cluster_id, &missing);

	if (missing)
		return -1;
	if (!val) {
		*pcs = v->cfg->world_pc;
		*id = IDG_ID_WORLD;
		return 0;
	}
	*pcs = val->peer_pc | (val->flags & IDG_IPC_F_EXPIRED)
					<< IDG_PEER_PC_EXPIRED_SHIFT;
	*id = val->identity;
	return 0;
}

/* The identity of addr, for an event about a packet already dropped, or
 * under a view whose maps are all there (idg_gen_view_complete()). */
static __always_inline __u32 idg_ipcache_identity(const struct idg_gen_view *v,
						  const struct idg_pkt *p,
						  const __u8 *addr)
{
	__u32 id = IDG_ID_WORLD, pcs;

	idg_ipcache_peer(v, p, addr, &id, &pcs);
	return id;
}

/* The local endpoint entry of addr in *ep (NULL: none). -1: the
 * generation lacks an endpoint map the lookup needed (the caller drops). */
static __always_inline int idg_ep_find(const struct idg_gen_view *v,
				       const struct idg_pkt *p,
				       const __u8 *addr, struct idg_ep_val **ep)
{
	void *host = idg_gmap(v, &idg_eph_gens);
	struct idg_ip_key k = {};
	void *lpm;

	*ep = NULL;
	if (!host)
		return -1;
	idg_ip_key_fill(&k, p, addr, v->cfg->cluster_id);
	*ep = bpf_map_lookup_elem(host, &k);
	if (*ep || !idg_has_prefixes(v, p, IDG_CFG_F_EP_PFX4,
				     IDG_CFG_F_EP_PFX6))
		return 0;
	lpm = idg_gmap(v, &idg_ep_gens);
	if (!lpm)
		return -1;
	*ep = bpf_map_lookup_elem(lpm, &k);
	return 0;
}

/* The local endpoint entry of addr (NULL: none), under a view whose maps
 * are all there (idg_gen_view_complete()). */
static __always_inline struct idg_ep_val *
idg_ep_lookup(const struct idg_gen_view *v, const struct idg_pkt *p,
	      const __u8 *addr)
{
	struct idg_ep_val *ep;

	idg_ep_find(v, p, addr, &ep);
	return ep;
}

/*
 * What the verdict knows about a packet beyond its headers: where it is
 * going relative to the local endpoint, and the tunnel. A packet that
 * came out of GENEVE (tun_in) claims the source identity vni; tun_node
 * is the node that sent it. A packet about to go into GENEVE has
 * tun_node set to its gateway and tun_in 0.
 */
struct idg_ctx {
	__u32 ifindex;
	__u32 pkt_len;
	__u8 dir;    /* IDG_DIR_* */
	__u8 tun_in;
	__u8 uplink; /* the uplink's ingress filter (XDP or tc) */
	__u8 pad;
	__be32 tun_node;
	__u32 tun_cluster; /* tun_in: the sending node's cluster id */
	__u32 vni;         /* tun_in: the identity the sender claims */
	/* Not tun_in: the source's identity as the hook knows it (the host,
	 * for a packet the node itself sent), instead of the ipcache's. */
	__u32 peer_id;
};

/* The conntrack key of p as seen from the local side (datapath.h). */
static __always_inline void idg_ct_key_fill(struct idg_ct_key *k,
					    const struct idg_pkt *p, __u8 dir,
					    __be32 tun)
{
	if (dir == IDG_DIR_INGRESS) {
		__builtin_memcpy(k->laddr, p->daddr, 16);
		__builtin_memcpy(k->raddr, p->saddr, 16);
		k->lport = p->dport;
		k->rport = p->sport;
	} else {
		__builtin_memcpy(k->laddr, p->saddr, 16);
		__builtin_memcpy(k->raddr, p->daddr, 16);
		k->lport = p->sport;
		k->rport = p->dport;
	}
	k->proto = p->proto;
	k->family = p->family;
	k->kind = p->icmp_kind;
	/* The local side asks when it sends a request or gets a reply. */
	k->kflags = p->icmp_kind &&
				    ((p->flags & IDG_PKT_F_ICMP_REQ) ?
					     dir == IDG_DIR_EGRESS :
					     dir == IDG_DIR_INGRESS) ?
			    IDG_CT_K_LOCAL_ASKS :
			    0;
	k->tun = tun;
}

/* The key of idg_egw_flows: the flow as its source sends it; every
 * fragment of a datagram (no ports in the later ones) takes one gateway. */
static __always_inline void idg_egw_flow_key(struct idg_ct_key *k,
					     const struct idg_pkt *p)
{
	idg_ct_key_fill(k, p, IDG_DIR_EGRESS, 0);
	if (p->flags & IDG_PKT_F_FRAG)
		k->lport = k->rport = 0;
}

/*
 * The key of the flow an ICMP error quotes (IDG_PKT_F_ICMP_ERR). The
 * quoted packet went the other way: it was sent by p's destination.
 * Written out like idg_ct_key_fill() rather than sharing a helper that
 * takes addresses by pointer: clang then spills enough to push the
 * deepest call chain past the 512-byte stack limit.
 */
static __always_inline void idg_ct_key_quoted(struct idg_ct_key *k,
					      const struct idg_pkt *p,
					      __u8 dir, __be32 tun)
{
	__u8 qdir = dir == IDG_DIR_INGRESS ? IDG_DIR_EGRESS : IDG_DIR_INGRESS;

	if (qdir == IDG_DIR_EGRESS) {
		__builtin_memcpy(k->laddr, p->daddr, 16);
		__builtin_memcpy(k->raddr, p->q_daddr, 16);
		k->lport = p->q_sport;
		k->rport = p->q_dport;
	} else {
		__builtin_memcpy(k->laddr, p->q_daddr, 16);
		__builtin_memcpy(k->raddr, p->daddr, 16);
		k->lport = p->q_dport;
		k->rport = p->q_sport;
	}
	k->proto = p->q_proto;
	k->family = p->family;
	k->kind = p->q_kind;
	k->kflags = p->q_kind && ((p->flags & IDG_PKT_F_Q_REQ) ?
					  qdir == IDG_DIR_EGRESS :
					  qdir == IDG_DIR_INGRESS) ?
			    IDG_CT_K_LOCAL_ASKS :
			    0;
	k->tun = tun;
}

/*
 * The packet's time, read once and only when needed: a packet that finds
 * no flow and starts none (a denied one) never reads the clock. Coarse
 * (jiffies) time is plenty for flow ageing and much cheaper than a
 * clocksource read.
 */
static __always_inline __u64 idg_now(__u64 *now)
{
	if (!*now)
		*now = bpf_ktime_get_coarse_ns();
	return *now;
}

/*
 * The live entry of key k: established flows first, then new ones; *est
 * says which table. An expired entry is no entry (and goes, except in
 * the trace copy, which writes nothing).
 */
static __always_inline struct idg_ct_val *
idg_ct_lookup(const struct idg_ct_key *k, __u64 *now, int *est)
{
	struct idg_ct_val *ct;

	*est = 1;
	ct = bpf_map_lookup_elem(&idg_ct, k);
	if (ct && idg_ct_expired(ct, k->proto, 1, idg_now(now))) {
		if (!idg_trace)
			bpf_map_delete_elem(&idg_ct, k);
		ct = NULL;
	}
	if (ct)
		return ct;
	*est = 0;
	ct = bpf_map_lookup_elem(&idg_ct_new, k);
	if (ct && idg_ct_expired(ct, k->proto, 0, idg_now(now))) {
		if (!idg_trace)
			bpf_map_delete_elem(&idg_ct_new, k);
		ct = NULL;
	}
	return ct;
}

/* The conntrack hint (datapath.h) of a remote address: its epoch and
 * its bit, from one hash of the address. */
struct idg_hint_pos {
	__u32 epoch;
	__u32 hash;
};

static __always_inline void idg_ct_hint_pos(struct idg_hint_pos *h,
					    const struct idg_ct_epoch *ep,
					    const __u8 *raddr)
{
	__u32 w[4], x = ep->seed;

	__builtin_memcpy(w, raddr, 16);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		x ^= w[i];
		x *= 0x9e3779b1u;
		x ^= x >> 15;
	}
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	h->epoch = ep->epoch;
	h->hash = x;
}

/* The element, word and bit of h in the bitmap of epoch e. */
static __always_inline struct idg_ct_hint *
idg_ct_hint_at(const struct idg_hint_pos *h, __u32 e, __u32 *word,
	       __u64 *bit)
{
	__u32 idx = (e % IDG_CT_HINT_EPOCHS) * IDG_CT_HINT_ELEMS +
		    (h->hash & (IDG_CT_HINT_ELEMS - 1));
	/* Eight hash bits scaled to 0..6 without a branch: the verifier
	 * bounds a multiply and a shift on every kernel, while clang turned
	 * a ">= 7" test into "== 7", which kernels before 6.8 do not narrow
	 * a range on (6.1 refused the load). The barrier keeps clang from
	 * merging the shift with the index's "* 8" into a mask the verifier
	 * bounds less tightly. */
	__u32 wi = (((h->hash >> 16) & 0xff) * IDG_CT_HINT_WORDS) >> 8;

	asm volatile("" : "+r"(wi));
	*word = wi;
	*bit = 1ull << ((h->hash >> 24) & 63);
	return bpf_map_lookup_elem(&idg_ct_hint, &idx);
}

/* May the remote have a flow? 1 also when the hint cannot be read. */
static __always_inline int idg_ct_hint_test(const struct idg_hint_pos *h)
{
	struct idg_ct_hint *el;
	__u32 wi;
	__u64 bit;

	el = idg_ct_hint_at(h, h->epoch, &wi, &bit);
	return !el || (el->w[wi] & bit);
}

static __always_inline int idg_ct_hint_set(const struct idg_hint_pos *h,
					   __u32 e)
{
	struct idg_ct_hint *el;
	__u32 wi;
	__u64 bit;

	el = idg_ct_hint_at(h, e, &wi, &bit);
	if (!el)
		return -1;
	if (el->w[wi] & bit)
		return 0;
	bpf_spin_lock(&el->lock);
	el->w[wi] |= bit;
	bpf_spin_unlock(&el->lock);
	return 0;
}

/* Mark the remote in the current epoch and the next. 0, or -1 when the
 * bitmap cannot be written (then no flow may be created). */
static __always_inline int idg_ct_hint_mark(const struct idg_hint_pos *h)
{
	if (idg_ct_hint_set(h, h->epoch))
		return -1;
	return idg_ct_hint_set(h, h->epoch + 1);
}

/* The entry of p's flow, as seen by the hook of c. */
static IDG_HOT struct idg_ct_val *idg_ct_find(const struct idg_pkt *p,
					      const struct idg_ctx *c,
					      __u64 *now, int *est)
{
	struct idg_ct_epoch *ep;
	struct idg_ct_key k = {};
	struct idg_hint_pos h;
	struct idg_ct_val *ct;
	__u32 zero = 0;

	idg_ct_key_fill(&k, p, c->dir, c->tun_node);
	ep = bpf_map_lookup_elem(&idg_ct_epoch, &zero);
	if (!ep)
		return idg_ct_lookup(&k, now, est);
	idg_ct_hint_pos(&h, ep, k.raddr);
	if (!idg_ct_hint_test(&h))
		return NULL;
	ct = idg_ct_lookup(&k, now, est);
	/* First packet of the flow in this epoch: mark its remote again. */
	if (ct && ct->hint_epoch != h.epoch && !idg_trace &&
	    !idg_ct_hint_mark(&h))
		ct->hint_epoch = h.epoch;
	return ct;
}

/* Remove p's flow from the table it was found in. */
static __noinline void idg_ct_forget(const struct idg_pkt *p,
				     const struct idg_ctx *c, int est)
{
	struct idg_ct_key k = {};

	if (idg_trace)
		return;
	idg_ct_key_fill(&k, p, c->dir, c->tun_node);
	bpf_map_delete_elem(est ? (void *)&idg_ct : (void *)&idg_ct_new, &k);
}

/*
 * An ICMP error about a flow allowed under this generation passes with
 * it: path MTU discovery and connection errors need it. 1 with *cookie
 * the flow's rule.
 */
static __noinline int idg_ct_related(const struct idg_pkt *p,
				     const struct idg_ctx *c, __u32 gen,
				     __u64 *now, __u32 *cookie)
{
	struct idg_ct_key k = {};
	struct idg_ct_val *ct;
	int est;

	idg_ct_key_quoted(&k, p, c->dir, c->tun_node);
	ct = idg_ct_lookup(&k, now, &est);
	if (!ct || ct->gen != gen)
		return 0;
	*cookie = ct->cookie;
	return 1;
}

/* Trie entry of one kind for the peer, else for any peer. The exact
 * hash, which holds whole verdicts, was consulted before. */
static __always_inline struct idg_policy_val *
idg_policy_find(void *policy, void *any, struct idg_policy_key *k,
		__u32 pair_flags, int any_has, __u8 kind)
{
	struct idg_policy_val *pv = NULL;
	__u32 peer = k->peer;

	k->kind = kind;
	if (pair_flags & (1u << kind))
		pv = bpf_map_lookup_elem(policy, k);
	if (!pv && any_has) {
		k->peer = IDG_ID_UNKNOWN;
		pv = bpf_map_lookup_elem(any, k);
		k->peer = peer;
	}
	return pv;
}

/* The question of idg_judge() beyond subject, flags and peer, in one
 * argument (a BPF function takes at most five). */
#define IDG_JQ(dir, proto, port, plen)                                 \
	((__u64)(dir) << 40 | (__u64)(proto) << 32 |                   \
	 (__u64)(__u16)(port) << 16 | (plen))
/* ... and, when known, the classes of the peer's rules in dir (from
 * IDG_PEER_PC_* bits pcs). */
#define IDG_JQ_PEER(pcs, dir)                                          \
	(((pcs) & IDG_PEER_PC_KNOWN) ?                                 \
		 ((__u64)((((pcs) >> IDG_PEER_PC_SHIFT(dir)) & 0xff) | \
			  0x100)                                       \
		  << 48) :                                             \
		 0)
/* ... and the peer's ipcache entry has expired (IDG_IPC_F_EXPIRED): an
 * enforced direction drops it before any rule. From IDG_PEER_PC_* bits
 * pcs without a branch. */
#define IDG_JQ_EXPIRED (1ull << 57)
#define IDG_JQ_EXP(pcs)                                                \
	((__u64)((pcs) & IDG_PEER_PC_EXPIRED)                          \
	 << (57 - IDG_PEER_PC_EXPIRED_SHIFT))
/* A verdict and the rule behind it, in one return value. */
#define IDG_RC(reason, cookie) ((__u64)(cookie) << 32 | (reason))
#define IDG_IDS(src, dst) ((__u64)(src) << 32 | (dst))

/*
 * Policy verdict for one flow direction: may peer talk to subject in
 * dir on proto/port? Deny beats allow. The pair's entry says which
 * tables can hold an answer: none of its protocol classes, default deny
 * after that one lookup; an exact port, the folded verdict in one more;
 * only ranges and wildcards walk the tries (deny first). No lookup walks
 * the rules, so the cost does not grow with their number.
 * Returns IDG_RC(reason, rule).
 *
 * A global function on scalars (slot: the generation's): the verifier
 * walks it once, not once for every state its callers reach it in (a
 * static function is walked again for each): the XDP program's walk went
 * from 377 000 to about 260 000 instructions on 6.18.
 */
__noinline __u64 idg_judge(__u32 slot, __u32 subject, __u32 ep_flags,
			   __u32 peer, __u64 jq)
{
	__u8 dir = jq >> 40;
	__u32 enforce = dir == IDG_DIR_INGRESS ? IDG_EP_F_ENFORCE_INGRESS :
						 IDG_EP_F_ENFORCE_EGRESS;
	__u32 has_deny = dir == IDG_DIR_INGRESS ? IDG_EP_F_DENY_INGRESS :
						  IDG_EP_F_DENY_EGRESS;
	void *pairs = bpf_map_lookup_elem(&idg_pair_gens, &slot);
	void *policy = bpf_map_lookup_elem(&idg_pol_gens, &slot);
	void *exact = bpf_map_lookup_elem(&idg_polx_gens, &slot);
	void *any = bpf_map_lookup_elem(&idg_polany_gens, &slot);
	__u32 pair_flags = 0, classes, pc, *pf;
	struct idg_pair_key pk = {};
	struct idg_policy_key k = {};
	struct idg_policy_val *pv;
	int any_has;

	if (!(ep_flags & enforce))
		return IDG_PASS_UNENFORCED;
	if (jq & IDG_JQ_EXPIRED)
		return IDG_DROP_REMOTE_EXPIRED;
	if (!pairs || !policy || !exact || !any)
		return IDG_DROP_GEN_INCOMPLETE;

	pc = idg_proto_class((__u8)(jq >> 32));
	any_has = (ep_flags >> IDG_EP_ANY_SHIFT(dir)) & pc;
	/* Nothing any subject allows or denies this peer covers the class,
	 * and the subject's any-peer rules do not either. */
	if (((jq >> 56) & 1) && !any_has && !((jq >> 48) & pc))
		return IDG_DROP_POLICY_DEFAULT;
	pk.subject = subject;
	pk.peer = peer;
	pk.dir = dir;
	pf = bpf_map_lookup_elem(pairs, &pk);
	if (pf)
		pair_flags = *pf;
	/* A pair's classes include the subject's any-peer ones. */
	classes = pf ? pair_flags >> IDG_PAIR_PC_SHIFT : any_has;
	if (!(classes & pc))
		return IDG_DROP_POLICY_DEFAULT;

	k.prefixlen = (__u32)(jq & 0xffff);
	k.subject = subject;
	k.peer = peer;
	k.dir = dir;
	k.proto = (__u8)(jq >> 32);
	k.port = (__be16)(jq >> 16);
	if ((pair_flags & IDG_PAIR_F_EXACT_ANY) &&
	    k.prefixlen == IDG_POL_PREFIX_FULL) {
		pv = bpf_map_lookup_elem(exact, &k);
		if (pv)
			return IDG_RC((pv->flags & IDG_POLV_F_ALLOW) ?
					      IDG_PASS_POLICY :
					      IDG_DROP_POLICY_DENY,
				      pv->cookie);
	}
	if (ep_flags & has_deny) {
		pv = idg_policy_find(policy, any, &k, pair_flags, any_has,
				     IDG_RULE_DENY);
		if (pv)
			return IDG_RC(IDG_DROP_POLICY_DENY, pv->cookie);
	}
	pv = idg_policy_find(policy, any, &k, pair_flags, any_has,
			     IDG_RULE_ALLOW);
	if (pv)
		return IDG_RC(IDG_PASS_POLICY, pv->cookie);
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
 * Once the window's share is spent, only every IDG_EV_BUDGET_PEEK-th
 * packet looks at the clock for the next window: the rest cost this one
 * per-CPU lookup. Spending a share takes at least share drops per
 * window, so the next window is noticed within a few of them.
 */
#define IDG_EV_BUDGET_PEEK 16

static __always_inline int idg_ev_budget_take(const struct idg_cfg *cfg)
{
	__u64 share = cfg->events_per_s_cpu / (1000000000ull /
					       IDG_EV_BUDGET_WINDOW_NS);
	struct idg_ev_budget *b;
	__u32 zero = 0;
	__u64 now;

	b = bpf_map_lookup_elem(&idg_ev_budget, &zero);
	if (!b)
		return 0;
	if (!share)
		share = 1;
	if (b->used >= share && (++b->skipped % IDG_EV_BUDGET_PEEK))
		return 0;
	now = bpf_ktime_get_coarse_ns();
	if (now - b->window_start >= IDG_EV_BUDGET_WINDOW_NS) {
		b->window_start = now;
		b->used = 0;
	}
	if (b->used >= share)
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
/* The per-flow interval, once the budget allowed the event. */
static __noinline __u64 idg_emit_flow_allowed(const struct idg_cfg *cfg,
					      const struct idg_pkt *p,
					      __u8 dir)
{
	__u64 now = bpf_ktime_get_ns();

	if (cfg && cfg->drop_event_interval_ns) {
		struct idg_ct_key k = {};
		__u64 *last;

		idg_ct_key_fill(&k, p, dir, 0);
		last = bpf_map_lookup_elem(&idg_event_rl, &k);
		if (last && now - *last < cfg->drop_event_interval_ns) {
			idg_misc_inc(IDG_MISC_EVENTS_SUPPRESSED);
			return 0;
		}
		if (last)
			*last = now;
		else
			bpf_map_update_elem(&idg_event_rl, &k, &now, BPF_ANY);
	}
	return now;
}

/* May an event about p go out now? Spends the budget and the flow's
 * interval when it may; counts it suppressed when not. Returns the time
 * for the event, 0 for none. The budget is checked inline, so that a
 * flood past it costs no call (IDG_HOT). */
static __always_inline __u64 idg_emit_allowed(const struct idg_cfg *cfg,
					      const struct idg_pkt *p, __u8 dir)
{
	if (idg_trace)
		return 0;
	if (cfg && cfg->events_per_s_cpu && !idg_ev_budget_take(cfg)) {
		idg_misc_inc(IDG_MISC_EVENTS_SUPPRESSED);
		return 0;
	}
	return idg_emit_flow_allowed(cfg, p, dir);
}

static __noinline void idg_emit_write(const struct idg_pkt *p,
				      const struct idg_drop_info *d,
				      __u8 type, __u64 now)
{
	struct idg_event *e;

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

static __always_inline void idg_emit(const struct idg_cfg *cfg,
				     const struct idg_pkt *p,
				     const struct idg_drop_info *d, __u8 type)
{
	__u64 now = idg_emit_allowed(cfg, p, d->dir);

	if (now)
		idg_emit_write(p, d, type, now);
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

/* A drop decided by the verdict: ids is IDG_IDS(source, destination). */
static IDG_HOT2 __u32 idg_verdict_drop(const struct idg_gen_view *v,
				       const struct idg_pkt *p,
				       const struct idg_ctx *c, __u64 rc,
				       __u64 ids)
{
	struct idg_drop_info d = {
		.reason = (__u32)rc,
		.cookie = rc >> 32,
		.src_id = ids >> 32,
		.dst_id = (__u32)ids,
		.gen = v->gen,
		.ifindex = c->ifindex,
		.pkt_len = c->pkt_len,
		.dir = c->dir,
	};

	return idg_drop(v->cfg, p, &d);
}

/*
 * A default deny decided before the peer's identity was looked up:
 * nothing the subject allows or denies covers the packet's protocol
 * class. The identity is looked up only for an event that goes out.
 */
static IDG_HOT __u32 idg_verdict_drop_nopeer(const struct idg_gen_view *v,
					     const struct idg_pkt *p,
					     const struct idg_ctx *c,
					     __u32 subject)
{
	struct idg_drop_info d = {
		.reason = IDG_DROP_POLICY_DEFAULT,
		.gen = v->gen,
		.ifindex = c->ifindex,
		.pkt_len = c->pkt_len,
		.dir = c->dir,
	};
	__u32 peer;
	__u64 now;

	idg_trace_note(d.reason, 0);
	idg_count(&idg_reason_st, d.reason, d.pkt_len);
	now = idg_emit_allowed(v->cfg, p, d.dir);
	if (!now)
		return d.reason;
	peer = idg_ipcache_identity(v, p, d.dir == IDG_DIR_INGRESS ? p->saddr :
								     p->daddr);
	d.src_id = d.dir == IDG_DIR_INGRESS ? peer : subject;
	d.dst_id = d.dir == IDG_DIR_INGRESS ? subject : peer;
	idg_emit_write(p, &d, IDG_EV_DROP, now);
	return d.reason;
}

/* A policy verdict notification: which rule let a new flow in. */
static __noinline void idg_verdict_event(const struct idg_gen_view *v,
					 const struct idg_pkt *p,
					 const struct idg_ctx *c, __u32 cookie,
					 __u64 ids)
{
	struct idg_drop_info d = {
		.reason = IDG_PASS_POLICY,
		.cookie = cookie,
		.src_id = ids >> 32,
		.dst_id = (__u32)ids,
		.gen = v->gen,
		.ifindex = c->ifindex,
		.pkt_len = c->pkt_len,
		.dir = c->dir,
	};

	idg_emit(v->cfg, p, &d, IDG_EV_POLICY_VERDICT);
}

/* TCP flags, byte 13 of the header. */
#define IDG_TCPF_FIN 0x01
#define IDG_TCPF_SYN 0x02
#define IDG_TCPF_RST 0x04
#define IDG_TCPF_ACK 0x10

/* A flow proved both ends alive: into the table a flood cannot churn. */
static __noinline void idg_ct_promote(const struct idg_ct_val *ct,
				      const struct idg_pkt *p,
				      const struct idg_ctx *c)
{
	struct idg_ct_key k = {};
	struct idg_ct_val nv = *ct;

	idg_ct_key_fill(&k, p, c->dir, c->tun_node);
	nv.flags &= ~IDG_CT_F_TCP_SYNACK;
	if (bpf_map_update_elem(&idg_ct, &k, &nv, BPF_ANY)) {
		idg_misc_inc(IDG_MISC_CT_CREATE_FAILED);
		return;
	}
	bpf_map_delete_elem(&idg_ct_new, &k);
	idg_misc_inc(IDG_MISC_CT_PROMOTED);
}

/*
 * A packet of a known flow, from its initiator or its responder: refresh
 * the entry and follow the flow's state (datapath.h). Only what changes
 * is written: the entry is shared by every CPU.
 */
static IDG_HOT void idg_ct_seen(struct idg_ct_val *ct,
				const struct idg_pkt *p,
				const struct idg_ctx *c, int est,
				__u64 now)
{
	int orig = ct->dir == c->dir;
	__u8 f = p->tcp_flags, nf;

	if (idg_trace)
		return;
	if (ct->last_seen_ns != now)
		ct->last_seen_ns = now;
	if (p->proto != IPPROTO_TCP) {
		/* The responder answered. */
		if (!est && !orig)
			idg_ct_promote(ct, p, c);
		return;
	}
	nf = ct->flags;
	/* A SYN on a closed tuple opens the next connection. */
	if ((f & (IDG_TCPF_SYN | IDG_TCPF_ACK)) == IDG_TCPF_SYN && orig &&
	    (nf & (IDG_CT_F_RST | IDG_CT_F_FIN_ORIG | IDG_CT_F_FIN_REPLY)))
		nf &= ~IDG_CT_F_TCP_STATE;
	if (f & IDG_TCPF_RST)
		nf |= IDG_CT_F_RST;
	if (f & IDG_TCPF_FIN)
		nf |= orig ? IDG_CT_F_FIN_ORIG : IDG_CT_F_FIN_REPLY;
	if (!est && !orig &&
	    (f & (IDG_TCPF_SYN | IDG_TCPF_ACK)) ==
		    (IDG_TCPF_SYN | IDG_TCPF_ACK)) {
		nf |= IDG_CT_F_TCP_SYNACK;
		if (ct->synack_seq != p->seq)
			ct->synack_seq = p->seq;
	}
	if (nf != ct->flags)
		ct->flags = nf;
	/* The initiator acknowledges the SYN-ACK it really received. */
	if (!est && orig && (nf & IDG_CT_F_TCP_SYNACK) &&
	    !(nf & IDG_CT_F_RST) &&
	    (f & (IDG_TCPF_SYN | IDG_TCPF_ACK | IDG_TCPF_RST)) == IDG_TCPF_ACK &&
	    p->ack_seq == ct->synack_seq + 1)
		idg_ct_promote(ct, p, c);
}

/*
 * Should an allowed packet with no entry start one? Only a packet that
 * opens a flow: a TCP SYN (a lone ACK or FIN opens nothing), an ICMP
 * query request, anything of a protocol without handshake; never an ICMP
 * error or another ICMP message. And only when an entry is of use: the
 * subject enforces a direction (replies or the rest of the flow skip the
 * policy), or the flow goes through the tunnel (its replies carry an
 * identity that only the entry vouches for).
 */
static __always_inline int idg_ct_wanted(const struct idg_pkt *p,
					 __u32 ep_flags,
					 const struct idg_ctx *c)
{
	if (!(ep_flags & (IDG_EP_F_ENFORCE_INGRESS |
			  IDG_EP_F_ENFORCE_EGRESS)) &&
	    !c->tun_node)
		return 0;
	switch (p->proto) {
	case IPPROTO_TCP:
		return (p->tcp_flags & (IDG_TCPF_SYN | IDG_TCPF_ACK |
					IDG_TCPF_RST | IDG_TCPF_FIN)) ==
		       IDG_TCPF_SYN;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return p->icmp_kind && (p->flags & IDG_PKT_F_ICMP_REQ);
	default:
		return 1;
	}
}

/* Is addr a workload of this node, behind a workload interface? -1:
 * the generation lacks an endpoint map. */
static __always_inline int idg_local_workload(const struct idg_gen_view *v,
					      const struct idg_pkt *p,
					      const __u8 *addr)
{
	struct idg_ep_val *ep;

	if (idg_ep_find(v, p, addr, &ep))
		return -1;
	return ep && ep->ifindex;
}

/* A new flow, in the table of those not proven alive yet. */
static __noinline void idg_ct_create(const struct idg_gen_view *v,
				     const struct idg_pkt *p,
				     const struct idg_ctx *c, __u32 cookie,
				     __u64 now)
{
	struct idg_ct_key k = {};
	struct idg_ct_val nv = {
		.created_ns = now,
		.last_seen_ns = now,
		.gen = v->gen,
		.cookie = cookie,
		.dir = c->dir,
		.pol_port = p->pol_port,
	};
	struct idg_ct_epoch *ep;
	struct idg_hint_pos h;
	__u32 zero = 0;

	if (idg_local_workload(v, p, c->dir == IDG_DIR_INGRESS ? p->saddr :
								  p->daddr) > 0)
		nv.flags = IDG_CT_F_LOCAL_PEER;
	idg_ct_key_fill(&k, p, c->dir, c->tun_node);
	/* The remote's hint first: an entry without it could not be found. */
	ep = bpf_map_lookup_elem(&idg_ct_epoch, &zero);
	if (ep) {
		idg_ct_hint_pos(&h, ep, k.raddr);
		if (idg_ct_hint_mark(&h)) {
			idg_misc_inc(IDG_MISC_CT_CREATE_FAILED);
			return;
		}
		nv.hint_epoch = h.epoch;
	}
	if (bpf_map_update_elem(&idg_ct_new, &k, &nv, BPF_ANY))
		idg_misc_inc(IDG_MISC_CT_CREATE_FAILED);
}

/*
 * A packet out of the tunnel from node c->tun_node claims identity
 * c->vni. Believed only when it is a non-reserved identity of that
 * node's cluster and the ipcache, keyed by that cluster, says the inner
 * source is an endpoint that very node hosts, with that identity. A drop
 * reason (IDG_TUN_REASON), or IDG_PEER_PC_EXPIRED when the source's entry
 * has expired (a silent mesh store, docs/mesh.md), or 0.
 */
#define IDG_TUN_REASON(r) ((r) & 0xffff)
static __noinline __u32 idg_tun_verify(const struct idg_gen_view *v,
				       const struct idg_pkt *p,
				       const struct idg_ctx *c)
{
	struct idg_ipcache_val *src;
	__u32 vni = c->vni, missing = 0;

	if ((vni >> 24) || IDG_ID_CLUSTER(vni) != c->tun_cluster ||
	    (vni & 0xffff) < IDG_ID_LOCAL_MIN)
		return IDG_DROP_TUNNEL_BAD_VNI;
	/* Its callers' view has every map (idg_egw_view_get()); without
	 * the ipcache, no source would be vouched for anyway. */
	src = idg_ipcache_lookup(v, p, p->saddr, c->tun_cluster, &missing);
	if (!src || !src->tunnel_ip || src->tunnel_ip != c->tun_node)
		return IDG_DROP_TUNNEL_SPOOFED_SRC;
	if (src->identity != vni)
		return IDG_DROP_TUNNEL_BAD_VNI;
	/* Expired: said by arithmetic. A drop reason of its own here would
	 * be one more walk of the callers' drop paths for the verifier (6.1:
	 * 520 000 -> 880 000 instructions for the tunnel's program); the
	 * judge drops it instead (IDG_JQ_EXP). */
	return (src->flags & IDG_IPC_F_EXPIRED) << IDG_PEER_PC_EXPIRED_SHIFT;
}

static __always_inline void idg_frag_key_fill(struct idg_frag_key *k,
					      const struct idg_pkt *p,
					      __be32 tun)
{
	__builtin_memcpy(k->saddr, p->saddr, 16);
	__builtin_memcpy(k->daddr, p->daddr, 16);
	k->id = p->frag_id;
	/* An IPv6 later fragment's next header is whatever its sender
	 * wrote: reassembly ignores it, and so does the key. */
	k->proto = p->family == IDG_FAM_IPV4 ? p->proto : 0;
	k->family = p->family;
	k->pad = 0;
	k->tun = tun;
}

/* A first fragment passed: its datagram's later fragments may follow. */
static __noinline void idg_frag_note(const struct idg_pkt *p,
				     const struct idg_ctx *c, __u32 reason,
				     __u32 cookie, __u64 now)
{
	struct idg_frag_key k = {};
	struct idg_frag_val fv = { .created_ns = now, .reason = reason,
				   .cookie = cookie };

	if (idg_trace)
		return;
	idg_frag_key_fill(&k, p, c->tun_node);
	if (bpf_map_update_elem(&idg_frag, &k, &fv, BPF_ANY))
		idg_misc_inc(IDG_MISC_FRAG_CREATE_FAILED);
}

/* The local subject of p in dir, and its flags. 0: none (the packet is
 * not for or from a local endpoint, and the host is not enforced). -1:
 * the generation lacks an endpoint map (the caller drops). */
static IDG_HOT int idg_subject(const struct idg_gen_view *v,
			       const struct idg_pkt *p, __u8 dir,
			       __u32 *subject, __u32 *ep_flags)
{
	struct idg_ep_val *ep;

	if (idg_ep_find(v, p, dir == IDG_DIR_INGRESS ? p->daddr : p->saddr,
			&ep))
		return -1;
	if (ep) {
		*subject = ep->identity;
		*ep_flags = ep->flags | idg_dir_classes(ep->classes, dir);
		return 1;
	}
	if (v->cfg->enforcement == IDG_ENFORCE_ALWAYS) {
		*subject = IDG_ID_HOST;
		*ep_flags = v->cfg->host_flags |
			    idg_dir_classes(v->cfg->host_classes, dir);
		return 1;
	}
	return 0;
}

/*
 * A later fragment has no ports and no L4 header: it follows the verdict
 * of its datagram's first fragment, whatever protocol it claims. Where
 * nothing is enforced it passes as any packet there would, except out
 * of the tunnel, where only a verified first fragment vouches for it.
 * Returns IDG_RC(pass reason, rule), or IDG_RC(IDG_DROP_FRAG_NO_FIRST,
 * the local subject) for the caller to drop.
 */
static __noinline __u64 idg_frag_later(const struct idg_gen_view *v,
				       const struct idg_pkt *p,
				       const struct idg_ctx *c, __u64 now)
{
	__u32 subject = 0, ep_flags = 0, enforce;
	struct idg_frag_key k = {};
	struct idg_frag_val *fv;
	int have;

	enforce = c->dir == IDG_DIR_INGRESS ? IDG_EP_F_ENFORCE_INGRESS :
					      IDG_EP_F_ENFORCE_EGRESS;
	have = idg_subject(v, p, c->dir, &subject, &ep_flags);
	if (have < 0)
		return IDG_DROP_GEN_INCOMPLETE;
	if (!c->tun_in) {
		if (!have)
			return IDG_PASS_NOT_ENDPOINT;
		if (!(ep_flags & enforce))
			return IDG_PASS_UNENFORCED;
	}
	idg_frag_key_fill(&k, p, c->tun_node);
	fv = bpf_map_lookup_elem(&idg_frag, &k);
	if (fv && now - fv->created_ns <= IDG_FRAG_NS)
		return IDG_RC(IDG_PASS_FRAG, fv->cookie);
	return IDG_RC(IDG_DROP_FRAG_NO_FIRST, subject);
}

static __noinline int idg_uplink_spoof_lookup(const struct idg_gen_view *v,
					      const struct idg_pkt *p)
{
	return idg_local_workload(v, p, p->saddr);
}

/* Does p claim the source of a workload of this node? -1: the
 * generation lacks an endpoint map. The flag is tested inline, without
 * a call (IDG_HOT): most nodes bind no endpoint to a workload interface. */
static __always_inline int idg_uplink_spoof(const struct idg_gen_view *v,
					    const struct idg_pkt *p)
{
	if (!(v->cfg->flags & IDG_CFG_F_WORKLOADS))
		return 0;
	return idg_uplink_spoof_lookup(v, p);
}

/*
 * The verdict on a generation view the caller holds (so that a program
 * doing more than the verdict, the egress gateway, reads one generation
 * for the whole packet). c->dir is the direction relative to the local
 * endpoint: the uplink's ingress filter sees ingress (the destination is
 * the endpoint), tc egress sees egress. parse_ret is idg_parse()'s
 * result for p.
 */
static __always_inline __u32 idg_process_ext(const struct idg_gen_view *v,
					     struct idg_pkt *p, int parse_ret,
					     const struct idg_ctx *c)
{
	__u32 subject = 0, ep_flags = 0, peer = 0, reason, cookie = 0;
	__u32 peer_pc = 0;
	__u8 dir = c->dir;
	struct idg_ct_val *ct;
	int est = 0, r;
	__u64 now = 0, rc;

	if (parse_ret) {
		if (parse_ret == IDG_PASS_NON_IP &&
		    (v->cfg->flags & IDG_CFG_F_DROP_NON_IP))
			parse_ret = IDG_DROP_UNKNOWN_ETHERTYPE;
		if (!idg_reason_is_drop(parse_ret))
			return idg_pass(parse_ret, 0, c->pkt_len);
		return idg_verdict_drop(v, p, c, parse_ret, 0);
	}

	if (p->flags & IDG_PKT_F_LATER) {
		rc = idg_frag_later(v, p, c, idg_now(&now));
		reason = (__u32)rc;
		if (!idg_reason_is_drop(reason))
			return idg_pass(reason, rc >> 32, c->pkt_len);
		subject = rc >> 32;
		peer = c->tun_in ? c->vni :
				   idg_ipcache_identity(v, p,
							dir == IDG_DIR_INGRESS ?
								p->saddr :
								p->daddr);
		cookie = 0;
		goto drop;
	}

	/* Conntrack first: an established flow, the common case, then costs
	 * no trie walk at all. */
	ct = idg_ct_find(p, c, &now, &est);
	/* A workload of this node behind a workload interface sends from
	 * there, never in through the uplink: a packet that claims to, from
	 * the underlay, is a spoof (also one that would ride an entry of a
	 * flow between two workloads of the node). */
	if (c->uplink && !c->tun_in) {
		r = ct ? !!(ct->flags & IDG_CT_F_LOCAL_PEER) :
			 idg_uplink_spoof(v, p);
		if (r)
			return idg_verdict_drop(v, p, c,
						r < 0 ? IDG_DROP_GEN_INCOMPLETE :
							IDG_DROP_SPOOFED_SOURCE,
						0);
	}
	if (!ct && (p->flags & IDG_PKT_F_ICMP_ERR) &&
	    idg_ct_related(p, c, v->gen, &now, &cookie)) {
		reason = IDG_PASS_CT_RELATED;
		goto pass;
	}
	if (ct && ct->gen == v->gen) {
		idg_ct_seen(ct, p, c, est, idg_now(&now));
		reason = IDG_PASS_CT;
		cookie = ct->cookie;
		goto pass;
	}

	/* Out of the tunnel, the source's packets carry the identity the
	 * sending node claims: checked before anything is believed, also
	 * for traffic to non-endpoints. Replies of a flow this node sent
	 * into the tunnel are vouched for by its entry alone. */
	if (IDG_VERDICT_TUNNEL && c->tun_in && (!ct || ct->dir == dir)) {
		reason = idg_tun_verify(v, p, c);
		if (IDG_TUN_REASON(reason))
			return idg_verdict_drop(v, p, c,
						IDG_TUN_REASON(reason),
						IDG_IDS(c->vni, 0));
		peer = c->vni;
		peer_pc = reason & IDG_PEER_PC_EXPIRED;
	}

	r = idg_subject(v, p, dir, &subject, &ep_flags);
	if (r < 0)
		return idg_verdict_drop(v, p, c, IDG_DROP_GEN_INCOMPLETE, 0);
	if (!r) {
		/* The endpoint went away with the last switch. */
		if (ct)
			idg_ct_forget(p, c, est);
		reason = IDG_PASS_NOT_ENDPOINT;
		goto pass;
	}
	/* Nothing the subject has covers the class: denied whoever the
	 * peer is, so a flood of it never reaches the ipcache. Not while
	 * some peers' data has expired: their packets say so instead. */
	if (!ct && !peer && !c->peer_id &&
	    (ep_flags & (dir == IDG_DIR_INGRESS ? IDG_EP_F_ENFORCE_INGRESS :
						  IDG_EP_F_ENFORCE_EGRESS)) &&
	    !((ep_flags >> IDG_EP_F_DIR_PC_SHIFT) & idg_proto_class(p->proto)) &&
	    !(v->cfg->flags & IDG_CFG_F_IPC_EXPIRED))
		return idg_verdict_drop_nopeer(v, p, c, subject);
	if (!peer && c->peer_id && (!ct || ct->dir == dir)) {
		peer = c->peer_id;
	} else if (!peer && idg_ipcache_peer(v, p,
					     dir == IDG_DIR_INGRESS ? p->saddr :
								      p->daddr,
					     &peer, &peer_pc)) {
		reason = IDG_DROP_GEN_INCOMPLETE;
		goto drop;
	}

	/* A flow allowed under an older generation is judged again, in the
	 * direction and on the port it was first seen. One call for both:
	 * the verdict's frame has no room for a second. */
	rc = idg_judge(v->slot, subject, ep_flags, peer,
		       (ct ? IDG_JQ(ct->dir, p->proto, ct->pol_port,
				    IDG_POL_PREFIX_FULL) :
			     IDG_JQ(dir, p->proto, p->pol_port,
				    IDG_POL_PREFIX_FULL) |
				     IDG_JQ_PEER(peer_pc, dir)) |
			       IDG_JQ_EXP(peer_pc));
	reason = (__u32)rc;
	cookie = rc >> 32;
	if (ct) {
		idg_misc_inc(IDG_MISC_CT_REJUDGED);
		if (!idg_reason_is_drop(reason)) {
			if (!idg_trace) {
				ct->gen = v->gen;
				ct->cookie = cookie;
			}
			idg_ct_seen(ct, p, c, est, idg_now(&now));
			reason = IDG_PASS_CT;
			goto pass;
		}
		idg_ct_forget(p, c, est);
		idg_misc_inc(IDG_MISC_CT_REVOKED);
		goto drop;
	}
	if (idg_reason_is_drop(reason))
		goto drop;
	if (!idg_trace && idg_ct_wanted(p, ep_flags, c))
		idg_ct_create(v, p, c, cookie, idg_now(&now));
	if (reason == IDG_PASS_POLICY)
		idg_verdict_event(v, p, c, cookie,
				  dir == IDG_DIR_INGRESS ?
					  IDG_IDS(peer, subject) :
					  IDG_IDS(subject, peer));
pass:
	/* The later fragments of this datagram follow its first. Not needed
	 * where they would pass anyway (nothing enforced, not tunnelled). */
	if ((p->flags & IDG_PKT_F_FRAG) &&
	    (c->tun_in || (reason != IDG_PASS_NOT_ENDPOINT &&
			   reason != IDG_PASS_UNENFORCED)))
		idg_frag_note(p, c, reason, cookie, idg_now(&now));
	return idg_pass(reason, cookie, c->pkt_len);

drop:
	return idg_verdict_drop(v, p, c, IDG_RC(reason, cookie),
				dir == IDG_DIR_INGRESS ?
					IDG_IDS(peer, subject) :
					IDG_IDS(subject, peer));
}

/*
 * A generation view that is not there: transparent when nothing was
 * ever applied; otherwise IP traffic is dropped (ARP, ND and the like
 * still pass: a filter that cuts the box off helps no one repair it).
 */
static __noinline __u32 idg_no_view(int view, const struct idg_pkt *p,
				    int parse_ret, const struct idg_ctx *c)
{
	struct idg_drop_info d = { .reason = IDG_DROP_GEN_INCOMPLETE,
				   .dir = c->dir, .ifindex = c->ifindex,
				   .pkt_len = c->pkt_len };

	if (view > 0)
		return idg_pass(IDG_PASS_NO_CONFIG, 0, c->pkt_len);
	if (parse_ret && !idg_reason_is_drop(parse_ret) &&
	    parse_ret != IDG_PASS_NON_IP)
		return idg_pass(parse_ret, 0, c->pkt_len);
	return idg_drop(NULL, p, &d);
}

/*
 * The whole verdict, on generation gen (0: the active one, read here).
 * A global function: the verifier checks it once, for any packet, instead
 * of once for every state the parser can leave behind in its caller (a
 * known family, protocol, flag...). Its arguments must therefore hold no
 * pointers, and it gets the generation by number: a caller that reads
 * more tables (the egress gateway) passes the number it read them by.
 * The uplink's XDP and tc programs, whose parsers leave few states,
 * inline it instead (IDG_VERDICT_INLINE 3): 363 000 instructions
 * verified on 6.1 for the XDP program, for 5-10 ns less a packet; tc
 * needed its second parse (after a pull) moved to a program of its own
 * for that (tc/idgate_tc.bpf.c).
 */
#if IDG_VERDICT_INLINE >= 3
static __always_inline
#else
__noinline
#endif
__u32 idg_verdict(struct idg_pkt *p, int parse_ret, const struct idg_ctx *c,
		  __u32 gen)
{
	struct idg_gen_view v = {};
	int view;

	if (!p || !c)
		return IDG_DROP_GEN_INCOMPLETE;
	view = gen ? idg_gen_view_at(&v, gen) : idg_gen_view_get(&v);
	if (view)
		return idg_no_view(view, p, parse_ret, c);
	return idg_process_ext(&v, p, parse_ret, c);
}

static __always_inline __u32 idg_process(struct idg_pkt *p, int parse_ret,
					 __u8 dir, __u32 ifindex, __u32 pkt_len)
{
	/* Called by the uplink's programs: its ingress filter and its tc
	 * egress. */
	struct idg_ctx c = { .ifindex = ifindex, .pkt_len = pkt_len,
			     .dir = dir, .uplink = dir == IDG_DIR_INGRESS };

	return idg_verdict(p, parse_ret, &c, 0);
}

#endif /* IDGATE_BPF_VERDICT_H */
