/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Gateway source NAT (include/idgate/egw.h): mapping allocation and the
 * address/port rewrite, for egressgw/idgate_gw.bpf.c.
 *
 * Ownership protocol of a mapping, which makes "no two flows ever share
 * a mapping" hold without locks:
 *  - a reverse entry (idg_snat_rev) is claimed by inserting it with
 *    BPF_NOEXIST: of two flows racing for one {dst, egress ip, port},
 *    exactly one insert succeeds;
 *  - the forward entry (idg_snat) goes in after it, so a reverse entry
 *    without its forward entry is a claim in progress: never touched;
 *  - a reverse entry whose forward entry has expired may be taken over by
 *    the one that manages to delete that forward entry (a hash delete
 *    succeeds once); the winner then overwrites the reverse entry. A live
 *    mapping is never taken;
 *  - userspace GC follows the same rule: delete the forward entry, and
 *    only if that delete succeeded delete the reverse entry it maps to.
 *    A reverse entry left without a forward entry (GC interrupted
 *    between the two deletes) is garbage only once it has been seen so in
 *    two GC passes, since in one pass it may be a claim in progress.
 * The only window left: the owner of an expired mapping sending at the
 * instant another flow takes it over may send one more packet with the
 * old mapping; its next packet no longer finds its forward entry and gets
 * a new one.
 */
#ifndef IDGATE_BPF_NAT_H
#define IDGATE_BPF_NAT_H

#include <idgate/bpf/tunnel.h>

static __always_inline int idg_nat_expired(const struct idg_tun_cfg *tun,
					   __u8 proto,
					   const struct idg_snat_val *v,
					   __u64 now)
{
	__u64 timeout = idg_nat_timeout(tun, proto, v->flags);
	__u64 last = v->last_seen_ns;

	/* last may be a hair ahead of now, refreshed on another CPU. */
	return timeout && now > last && now - last > timeout;
}

/* Forward key of a packet that came out of the tunnel from node. */
static __always_inline void idg_snat_key_fill(struct idg_snat_key *k,
					      __be32 node,
					      const struct idg_pkt *p)
{
	k->node_ip = node;
	k->saddr = idg_pkt_v4(p->saddr);
	k->daddr = idg_pkt_v4(p->daddr);
	k->sport = p->sport; /* ICMP echo: the identifier, twice */
	k->dport = p->dport;
	k->proto = p->proto;
}

/* Reverse key the replies of flow fk carry once it is mapped to
 * nat_ip:port. An echo reply carries the identifier in both places. */
static __always_inline void idg_snat_rev_key_fill(struct idg_snat_rev_key *rk,
						  const struct idg_snat_key *fk,
						  __be32 nat_ip, __be16 port)
{
	rk->saddr = fk->daddr;
	rk->daddr = nat_ip;
	rk->sport = fk->proto == IPPROTO_ICMP ? port : fk->dport;
	rk->dport = port;
	rk->proto = fk->proto;
}

/* Forward key of the flow a reverse entry belongs to. */
static __always_inline void idg_snat_owner_key(struct idg_snat_key *k,
					       const struct idg_snat_rev_key *rk,
					       const struct idg_snat_rev_val *rv)
{
	k->node_ip = rv->node_ip;
	k->saddr = rv->orig_saddr;
	k->daddr = rk->saddr;
	k->sport = rv->orig_sport;
	k->dport = rk->proto == IPPROTO_ICMP ? rv->orig_sport : rk->sport;
	k->proto = rk->proto;
}

/* One mapping of a source went (taken over): its count goes down. */
static __always_inline void idg_snat_src_freed(__be32 node, __be32 saddr)
{
	struct idg_snat_src_key sk = { .node_ip = node, .saddr = saddr };
	struct idg_snat_src *s = bpf_map_lookup_elem(&idg_snat_src, &sk);

	if (s)
		__sync_fetch_and_add(&s->frees, 1);
}

/*
 * May the source of flow fk have one more mapping? 0, or
 * IDG_DROP_NAT_SOURCE_QUOTA (counted for the source). CPUs racing for
 * one source's last slots may each pass: the quota may be exceeded by as
 * many as race. Not inlined, as the rest of the allocation: the stack of
 * the deepest call chain must stay within 512 bytes.
 */
static __noinline __u32 idg_snat_src_admit(const struct idg_tun_cfg *tun,
					   const struct idg_snat_key *fk)
{
	struct idg_snat_src_key sk = { .node_ip = fk->node_ip,
				       .saddr = fk->saddr };
	struct idg_snat_src zero = {};
	struct idg_snat_src *s;
	__u64 collected = 0, live, *gc;

	s = bpf_map_lookup_elem(&idg_snat_src, &sk);
	if (!s) {
		bpf_map_update_elem(&idg_snat_src, &sk, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&idg_snat_src, &sk);
		/* Full: more sources than the table has mappings, which
		 * only sources that hold none can cause. */
		if (!s)
			return IDG_DROP_NAT_SOURCE_QUOTA;
	}
	if (!tun->nat_src_quota)
		return 0;
	gc = bpf_map_lookup_elem(&idg_snat_srcgc, &sk);
	if (gc)
		collected = *gc;
	live = s->allocs - s->frees - collected;
	/* A counter read mid-update on another CPU can make this wrap. */
	if ((__s64)live >= (__s64)tun->nat_src_quota) {
		__sync_fetch_and_add(&s->quota_drops, 1);
		return IDG_DROP_NAT_SOURCE_QUOTA;
	}
	return 0;
}

/* A mapping of fk's source was made. */
static __noinline void idg_snat_src_made(const struct idg_snat_key *fk,
					 __u64 now)
{
	struct idg_snat_src_key sk = { .node_ip = fk->node_ip,
				       .saddr = fk->saddr };
	struct idg_snat_src *s = bpf_map_lookup_elem(&idg_snat_src, &sk);

	if (!s)
		return;
	__sync_fetch_and_add(&s->allocs, 1);
	if (s->last_ns != now)
		s->last_ns = now;
}

/*
 * Try to own reverse key rk for the flow described by rv. 1: owned (the
 * reverse entry now holds rv). 0: taken by a live mapping, or by a claim
 * in progress, or lost a race.
 */
static __noinline int idg_snat_claim(const struct idg_tun_cfg *tun,
					  const struct idg_snat_rev_key *rk,
					  const struct idg_snat_rev_val *rv,
					  __u64 now)
{
	struct idg_snat_key ok = {};
	struct idg_snat_rev_val *cur;
	struct idg_snat_val *ov;

	if (!bpf_map_update_elem(&idg_snat_rev, rk, rv, BPF_NOEXIST))
		return 1;
	cur = bpf_map_lookup_elem(&idg_snat_rev, rk);
	if (!cur)
		return 0; /* collected just now: the next try may use it */
	idg_snat_owner_key(&ok, rk, cur);
	ov = bpf_map_lookup_elem(&idg_snat, &ok);
	/* No owner (a claim in progress), an owner mapped elsewhere
	 * (inconsistent: leave it to GC), or a live one: not ours. */
	if (!ov || ov->nat_ip != rk->daddr || ov->nat_port != rk->dport ||
	    !idg_nat_expired(tun, rk->proto, ov, now))
		return 0;
	if (bpf_map_delete_elem(&idg_snat, &ok))
		return 0; /* someone else took it over first */
	idg_snat_src_freed(ok.node_ip, ok.saddr);
	/* Nobody else can own it now: whoever deletes the owner wins. */
	return !bpf_map_update_elem(&idg_snat_rev, rk, rv, BPF_ANY);
}

/* Keeps clang from computing an address off a map value before its NULL
 * check, which the verifier refuses. */
#define idg_barrier_var(x) asm volatile("" : "+r"(x))

/*
 * New mapping for flow fk: the original source port (ICMP: identifier)
 * when free, else up to IDG_SNAT_TRIES ports of [nat_port_min,
 * nat_port_max] from a hash of the flow, within the source's quota.
 * Returns 0 with out->nat_ip and out->nat_port filled, or
 * IDG_DROP_NAT_SOURCE_QUOTA or IDG_DROP_NAT_EXHAUSTED.
 */
/* Where a flow's source goes: the egress IP and the port (ICMP echo:
 * identifier); later is set for a non-first fragment (address only). */
struct idg_nat_out {
	__be32 ip;
	__be16 port;
	__u16 later;
};

/* nat_ip and vni, flags and hash, in one argument each. */
#define IDG_SNAT_IP_VNI(ip, vni) ((__u64)(vni) << 32 | (ip))
#define IDG_SNAT_FLAGS_HASH(flags, hash) ((__u64)(flags) << 32 | (hash))

static __noinline __u32 idg_snat_alloc(const struct idg_tun_cfg *tun,
				       const struct idg_snat_key *fk,
				       __u64 ip_vni, __u64 flags_hash,
				       struct idg_nat_out *out)
{
	__be32 nat_ip = (__be32)ip_vni;
	__u32 vni = ip_vni >> 32, hash = (__u32)flags_hash;
	__u16 flags = flags_hash >> 32;
	__u64 now = bpf_ktime_get_coarse_ns();
	struct idg_snat_rev_key rk = {};
	struct idg_snat_rev_val rv = {};
	struct idg_snat_val fv = {};
	struct idg_snat_val *won;
	__u32 lo = tun->nat_port_min, hi = tun->nat_port_max, n = 0, i;
	__be16 port = fk->sport;
	__u32 reason;
	int got = 0;

	reason = idg_snat_src_admit(tun, fk);
	if (reason)
		return reason;

	rv.node_ip = fk->node_ip;
	rv.orig_saddr = fk->saddr;
	rv.orig_sport = fk->sport;
	rv.vni = vni;
	if (lo && hi >= lo)
		n = hi - lo + 1;

	if (port) {
		idg_snat_rev_key_fill(&rk, fk, nat_ip, port);
		got = idg_snat_claim(tun, &rk, &rv, now);
	}
	for (i = 0; i < IDG_SNAT_TRIES && !got; i++) {
		if (i >= n)
			break;
		port = bpf_htons((__u16)(lo + (hash + i) % n));
		idg_snat_rev_key_fill(&rk, fk, nat_ip, port);
		got = idg_snat_claim(tun, &rk, &rv, now);
	}
	if (!got)
		return IDG_DROP_NAT_EXHAUSTED;

	fv.nat_ip = nat_ip;
	fv.nat_port = port;
	fv.flags = flags;
	fv.vni = vni;
	fv.created_ns = now;
	fv.last_seen_ns = now;
	if (!bpf_map_update_elem(&idg_snat, fk, &fv, BPF_NOEXIST)) {
		idg_snat_src_made(fk, now);
		out->ip = nat_ip;
		out->port = port;
		return 0;
	}
	/* The claim is ours alone (no forward entry points at it): give it
	 * back. Then either another CPU mapped this very flow a moment ago,
	 * and its mapping is the flow's, or the table is full. */
	bpf_map_delete_elem(&idg_snat_rev, &rk);
	won = bpf_map_lookup_elem(&idg_snat, fk);
	if (!won)
		return IDG_DROP_NAT_EXHAUSTED;
	idg_barrier_var(won);
	out->ip = won->nat_ip;
	out->port = won->nat_port;
	return 0;
}

/*
 * The mapping flow fk has, refreshed, its TCP state followed (tcp_flags:
 * byte 13 of the TCP header, 0 for other protocols). 1 with out->ip and
 * out->port filled; 0 when it has none (idg_snat_alloc() makes one).
 */
static __always_inline int idg_snat_find(const struct idg_snat_key *fk,
					 __u8 tcp_flags, __u64 now,
					 struct idg_nat_out *out)
{
	struct idg_snat_val *v = bpf_map_lookup_elem(&idg_snat, fk);

	if (!v)
		return 0;
	if (v->last_seen_ns != now)
		v->last_seen_ns = now;
	if (fk->proto == IPPROTO_TCP) {
		/* A SYN on a known tuple opens a new connection. */
		if ((tcp_flags & (IDG_TCPF_SYN | IDG_TCPF_ACK)) == IDG_TCPF_SYN)
			v->flags = 0;
		else if (tcp_flags & (IDG_TCPF_FIN | IDG_TCPF_RST))
			v->flags |= IDG_NAT_F_TCP_FIN;
	}
	out->ip = v->nat_ip;
	out->port = v->nat_port;
	return 1;
}

/* The flags a new mapping of a flow starts with. */
static __always_inline __u16 idg_snat_new_flags(__u8 proto, __u8 tcp_flags)
{
	return proto == IPPROTO_TCP &&
			       (tcp_flags & (IDG_TCPF_FIN | IDG_TCPF_RST)) ?
		       IDG_NAT_F_TCP_FIN :
		       0;
}

/* A reply went through mapping v: it is alive, and tells the TCP state.
 * A SYN-ACK (or any ACK, for a mapping created mid-connection after a
 * gateway failover) makes it established; FIN or RST closing. */
static __always_inline void idg_snat_reply_seen(struct idg_snat_val *v,
						__u8 proto, __u8 tcp_flags,
						__u64 now)
{
	if (v->last_seen_ns != now)
		v->last_seen_ns = now;
	if (!(v->flags & IDG_NAT_F_REPLIED))
		v->flags |= IDG_NAT_F_REPLIED;
	if (proto != IPPROTO_TCP)
		return;
	if (tcp_flags & (IDG_TCPF_FIN | IDG_TCPF_RST))
		v->flags |= IDG_NAT_F_TCP_FIN;
	else if ((tcp_flags & IDG_TCPF_ACK) && !(v->flags & IDG_NAT_F_TCP_FIN))
		v->flags |= IDG_NAT_F_TCP_EST;
}

/*
 * Rewrite the source (src != 0) or destination address of the IPv4
 * packet at l3_off and, unless it is a later fragment (no L4 header),
 * the matching TCP/UDP port or the ICMP echo identifier at l4_off, with
 * incremental checksum updates: IPv4 header; TCP and UDP over the pseudo
 * header too (a zero UDP checksum stays zero, a result of zero becomes
 * 0xffff); ICMP has no pseudo header. Returns 0 or -1.
 */
static __always_inline int idg_nat_rewrite(struct __sk_buff *skb, __u32 l3_off,
					   __u32 l4_off, __u8 proto, int later,
					   int src, __be32 old_ip,
					   __be32 new_ip, __be16 old_port,
					   __be16 new_port)
{
	__u32 ip_off = l3_off + (src ? offsetof(struct iphdr, saddr) :
				       offsetof(struct iphdr, daddr));
	__u32 csum_off, port_off;
	__u64 l4f;

	if (bpf_l3_csum_replace(skb, l3_off + offsetof(struct iphdr, check),
				old_ip, new_ip, sizeof(new_ip)))
		return -1;
	if (bpf_skb_store_bytes(skb, ip_off, &new_ip, sizeof(new_ip), 0))
		return -1;
	if (later)
		return 0;

	switch (proto) {
	case IPPROTO_TCP:
		csum_off = l4_off + offsetof(struct tcphdr, check);
		port_off = l4_off + (src ? offsetof(struct tcphdr, source) :
					   offsetof(struct tcphdr, dest));
		l4f = BPF_F_PSEUDO_HDR;
		break;
	case IPPROTO_UDP:
		csum_off = l4_off + offsetof(struct udphdr, check);
		port_off = l4_off + (src ? offsetof(struct udphdr, source) :
					   offsetof(struct udphdr, dest));
		l4f = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0;
		break;
	case IPPROTO_ICMP:
		csum_off = l4_off + offsetof(struct idg_icmp_hdr, csum);
		port_off = l4_off + offsetof(struct idg_icmp_hdr, id);
		l4f = 0;
		break;
	default:
		return 0;
	}
	if ((l4f & BPF_F_PSEUDO_HDR) &&
	    bpf_l4_csum_replace(skb, csum_off, old_ip, new_ip,
				l4f | sizeof(new_ip)))
		return -1;
	if (old_port == new_port)
		return 0;
	if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port,
				(l4f & ~BPF_F_PSEUDO_HDR) | sizeof(new_port)))
		return -1;
	if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
		return -1;
	return 0;
}

#endif /* IDGATE_BPF_NAT_H */
