/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The GENEVE tunnel of the egress gateway (include/idgate/egw.h), shared
 * by tc/idgate_tc_wl.bpf.c and egressgw/idgate_gw.bpf.c: the generation
 * view with the egress tables, the flow hash, MSS clamp and MTU check,
 * encapsulation, GENEVE parsing and decapsulation, and the FIB redirect.
 * IPv4 outside and inside, Ethernet inside (protocol 0x6558), no options
 * sent.
 *
 * Every program using this runs at tc ingress. There skb->data starts at
 * the Ethernet header, but a CHECKSUM_COMPLETE skb->csum covers only what
 * follows it. Bytes after the Ethernet header are therefore written with
 * BPF_F_RECOMPUTE_CSUM (the tunnel header), or without it where a
 * checksum field of the packet changes by the opposite amount through the
 * csum_replace helpers (NAT, MSS clamp, ECN); the Ethernet header always
 * without. Nothing writes through packet pointers: a direct write makes
 * the verifier add a prologue that unclones every cloned skb, also the
 * many this code leaves alone, while the store and csum helpers make
 * writable only the bytes they touch.
 *
 * Helpers used all exist in 5.15: bpf_skb_adjust_room (encap flags 5.2),
 * bpf_fib_lookup (4.18), bpf_redirect_neigh with a next hop (5.10),
 * bpf_ktime_get_coarse_ns (5.11), __sk_buff.gso_size (5.7).
 */
#ifndef IDGATE_BPF_TUNNEL_H
#define IDGATE_BPF_TUNNEL_H

#include <linux/pkt_cls.h>
#include <idgate/bpf/verdict.h>

#ifndef AF_INET
#define AF_INET 2
#endif

#define IDG_IP_DF 0x4000
#define IDG_TUNNEL_TTL 64
/* Outer UDP source ports come from the inner flow hash, in the dynamic
 * range (RFC 8926 section 3.3), so that ECMP and RSS spread flows. */
#define IDG_TUNNEL_SPORT_BASE 49152
#define IDG_TUNNEL_SPORT_MASK 0x3fff
/* Inner IPv4 + TCP headers without options: the MSS clamp leaves room
 * for the tunnel and these. */
#define IDG_MSS_HDRS 40

/* GENEVE base header (RFC 8926 section 3.4). */
#define IDG_GENEVE_VER_MASK 0xc0
#define IDG_GENEVE_OPTLEN_MASK 0x3f
#define IDG_GENEVE_F_OAM 0x80      /* O: control message */
#define IDG_GENEVE_F_CRITICAL 0x40 /* C: critical options present */

struct idg_geneve_hdr {
	__u8 ver_optlen; /* version (2 bits), option length in words (6) */
	__u8 flags;      /* O, C, 6 reserved bits */
	__be16 proto;
	__be32 vni_rsvd; /* VNI in the top 24 bits */
};

/* Everything encapsulation inserts after the outer Ethernet header. */
struct idg_encap_hdr {
	struct iphdr ip;
	struct udphdr udp;
	struct idg_geneve_hdr gnv;
	struct ethhdr inner_eth;
} __attribute__((packed));

/* The overhead: what goes between the outer Ethernet header and the inner
 * IPv4 header, the outer Ethernet header being the frame's own. */
_Static_assert(sizeof(struct idg_encap_hdr) == IDG_TUNNEL_OVERHEAD,
	       "tunnel header layout");

/*
 * The flags measured to keep TSO/GSO working (issue 4): without
 * ENCAP_L4_UDP the stack cannot segment the result, without FIXED_GSO
 * gso_size would shrink by the overhead although the inner segments do
 * not change.
 */
#define IDG_ENCAP_FLAGS                                                   \
	(BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |      \
	 BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN) | BPF_F_ADJ_ROOM_ENCAP_L2_ETH | \
	 BPF_F_ADJ_ROOM_FIXED_GSO)
/*
 * Decap: FIXED_GSO only. BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1 << 7, 6.3+) only
 * rewrites skb->protocol when the outer and inner families differ; both
 * are IPv4 here, so it would change nothing on 6.3+ and make kernels
 * before 6.3 reject the call with -EINVAL.
 */
#define IDG_DECAP_FLAGS BPF_F_ADJ_ROOM_FIXED_GSO

/* ---- generation view ---- */

/* The filter's view plus this node's tunnel settings, of one generation;
 * the egress tables are found through the slot (idg_gmap). */
struct idg_egw_view {
	struct idg_gen_view gv;
	struct idg_tun_cfg *tun;
};

/*
 * 0: configured, every table present. 1: never configured. -1: a
 * generation is active but a table is missing: the callers drop what
 * they would have judged. The gateway code reads the filter's tables
 * without a check at each use, so all of them are checked here.
 */
static __always_inline int idg_egw_view_get(struct idg_egw_view *v)
{
	__u32 zero = 0;
	void *m;
	int r;

	r = idg_gen_view_get(&v->gv);
	if (r)
		return r;
	if (!idg_gen_view_complete(&v->gv))
		return -1;
	m = idg_gmap(&v->gv, &idg_tun_gens);
	if (!m)
		return -1;
	v->tun = bpf_map_lookup_elem(m, &zero);
	if (!v->tun || !idg_gmap(&v->gv, &idg_egw_gens) ||
	    !idg_gmap(&v->gv, &idg_gwset_gens) ||
	    !idg_gmap(&v->gv, &idg_node_gens))
		return -1;
	return 0;
}


/* A drop decided by the egress gateway code: counted, with an event, as
 * the filter's drops. The programs call it through one non-inlined
 * wrapper each (BPF-to-BPF calls take at most 5 arguments, hence d). */
static __always_inline __u32 idg_egw_drop(const struct idg_cfg *cfg,
					  const struct idg_pkt *p,
					  struct idg_drop_info *d)
{
	return idg_drop(cfg, p, d);
}

/* ---- small helpers ---- */

/*
 * skb->data and data_end, read right where they are used. A plain read
 * lets clang merge it with an earlier one from another branch and then
 * zero-extend the merged value, an ALU operation on a packet pointer that
 * the verifier refuses.
 */
static __always_inline void *idg_data(const struct __sk_buff *skb)
{
	return (void *)(long)*(volatile const __u32 *)&skb->data;
}

static __always_inline void *idg_data_end(const struct __sk_buff *skb)
{
	return (void *)(long)*(volatile const __u32 *)&skb->data_end;
}

static __always_inline __be32 idg_pkt_v4(const __u8 *addr)
{
	__be32 a;

	__builtin_memcpy(&a, addr, 4);
	return a;
}

/* Identity to put in a VNI: node-local (CIDR) identities mean nothing on
 * another node and do not fit 24 bits; they travel as world. */
static __always_inline __u32 idg_vni_of(__u32 identity)
{
	if (identity & ~0xffffffu)
		return IDG_ID_WORLD;
	return identity;
}

/* Integer finaliser ("lowbias32", public domain): good avalanche from
 * two multiplies, so nearby tuples land on unrelated gateways/ports. */
static __always_inline __u32 idg_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

/*
 * Hash of an IPv4 5-tuple. Every node runs the same code, so the same
 * flow hashes alike everywhere. Fragments hash without ports: the later
 * fragments of a datagram carry none, and all of its pieces must take
 * the same gateway.
 */
static __always_inline __u32 idg_flow_hash(const struct idg_pkt *p)
{
	__u32 ports = 0, h;

	if (!(p->flags & IDG_PKT_F_FRAG))
		ports = (__u32)p->sport << 16 | p->dport;
	h = idg_mix32(idg_pkt_v4(p->saddr) ^ 0x9e3779b9u);
	h = idg_mix32(h ^ idg_pkt_v4(p->daddr));
	h = idg_mix32(h ^ ports);
	return idg_mix32(h ^ p->proto);
}

static __always_inline __u16 idg_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Checksum of a 20-byte IPv4 header (0 when the header's own checksum
 * is right). The sum of 16-bit words in memory order, stored back in
 * memory order, is right on either byte order. */
static __always_inline __sum16 idg_ipv4_csum(const void *hdr)
{
	const __u16 *w = hdr;
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)sizeof(struct iphdr) / 2; i++)
		sum += w[i];
	return idg_csum_fold(sum);
}

/* What the programs that rewrite frames pull of paged headers: Ethernet,
 * VLAN tags, IPv6 extension headers and a TCP header with options fit in
 * almost every real packet. */
#define IDG_TC_PULL_LEN 256

/*
 * Make the first [want] bytes (at most the packet) linear. Only when they
 * are not already: pulling unclones, i.e. copies, the skb.
 */
static __always_inline void idg_skb_pull(struct __sk_buff *skb, __u32 want)
{
	if (want > skb->len)
		want = skb->len;
	if ((__u32)(skb->data_end - skb->data) < want)
		bpf_skb_pull_data(skb, want);
}

/* ---- MTU ---- */

/*
 * TCP SYN or SYN-ACK about to enter the tunnel: lower its MSS option to
 * what fits, so that TCP never needs the TOO_BIG drop below. l4_off is
 * the TCP header's offset in the frame. Walks at most 12 options; a real
 * SYN carries 5 or 6 (MSS first), so a longer walk only costs verifier
 * states. Returns 1 when the option was rewritten.
 */
#define IDG_TCP_OPT_WALK 12

static __always_inline int idg_mss_clamp(struct __sk_buff *skb, __u32 l4_off,
					 __u32 mss_max)
{
	void *data = idg_data(skb);
	void *data_end = idg_data_end(skb);
	struct tcphdr *th;
	__u32 hlen, off = sizeof(struct tcphdr);
	__u16 old_mss, new_mss;
	__be16 old_be, new_be;
	__u8 *o;
	int i;

	l4_off &= 0xff; /* bounded for the verifier; always < 256 */
	th = data + l4_off;
	if ((void *)(th + 1) > data_end || !th->syn)
		return 0;
	hlen = th->doff * 4;

	for (i = 0; i < IDG_TCP_OPT_WALK; i++) {
		__u8 kind, len;

		if (off + 2 > hlen)
			return 0;
		o = data + l4_off + (off & 0x3f);
		if ((void *)(o + 2) > data_end)
			return 0;
		kind = o[0];
		if (kind == 0) /* end of options */
			return 0;
		if (kind == 1) { /* NOP */
			off++;
			continue;
		}
		len = o[1];
		if (len < 2 || off + len > hlen)
			return 0;
		if (kind == 2 && len == 4)
			goto found;
		off += len;
	}
	return 0;

found:
	if ((void *)(o + 4) > data_end)
		return 0;
	old_mss = (__u16)o[2] << 8 | o[3];
	if (old_mss <= mss_max)
		return 0;
	new_mss = (__u16)mss_max;
	old_be = bpf_htons(old_mss);
	new_be = bpf_htons(new_mss);
	/* The checksum adds 16-bit words from the start of the TCP header:
	 * a value at an odd offset straddles two words, which amounts to
	 * adding it byte-swapped. */
	if (off & 1) {
		old_be = bpf_htons(old_be);
		new_be = bpf_htons(new_be);
	}
	if (bpf_l4_csum_replace(skb, l4_off + offsetof(struct tcphdr, check),
				old_be, new_be, sizeof(__u16)))
		return 0;
	new_be = bpf_htons(new_mss);
	/* No BPF_F_RECOMPUTE_CSUM: with the checksum field changed by the
	 * opposite amount, a CHECKSUM_COMPLETE sum stays right. */
	bpf_skb_store_bytes(skb, l4_off + off + 2, &new_be, sizeof(new_be), 0);
	return 1;
}

/*
 * Does the packet still fit the uplink once tunnelled? l3_len is the IPv4
 * total length, l34_hdr its IP + L4 header bytes. A GSO packet is cut by
 * the stack into gso_size payloads after the encap, so each segment must
 * fit; the MSS clamp makes that true for TCP. A packet without DF fails
 * as well: after the redirect nothing fragments it (neither the inner
 * packet, which BPF cannot split, nor the outer one, which carries DF),
 * so the device would drop it without a word. mtu 0: not configured.
 */
static __always_inline int idg_tunnel_fits(struct __sk_buff *skb, __u32 mtu,
					   __u32 l3_len, __u32 l34_hdr)
{
	__u32 gso = skb->gso_size;

	if (!mtu)
		return 1;
	if (gso)
		return gso + l34_hdr + IDG_TUNNEL_OVERHEAD <= mtu;
	return l3_len + IDG_TUNNEL_OVERHEAD <= mtu;
}

/* ---- encap ---- */

/*
 * Prepend outer IPv4/UDP/GENEVE after the frame's Ethernet header, which
 * is copied to become the inner one; the outer Ethernet header keeps the
 * old addresses until the redirect below writes them. The frame must be
 * Ethernet + IPv4 (skb->protocol IPv4). Returns 0 or a drop reason.
 */
static __always_inline __u32 idg_geneve_encap(struct __sk_buff *skb,
					      __be32 saddr, __be32 daddr,
					      __u32 vni, __u32 hash)
{
	struct idg_encap_hdr h = {};
	__u32 len;
	__u8 tos;

	if (bpf_skb_load_bytes(skb, 0, &h.inner_eth, sizeof(h.inner_eth)) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, tos),
			       &tos, 1))
		return IDG_DROP_ENCAP;
	/* Fails with -EALREADY on an skb still marked encapsulated, e.g. one
	 * decapsulated at tc earlier on its way: never the case here, every
	 * encap is of a packet that came in from a workload or the
	 * external network. */
	if (bpf_skb_adjust_room(skb, IDG_TUNNEL_OVERHEAD, BPF_ADJ_ROOM_MAC,
				IDG_ENCAP_FLAGS))
		return IDG_DROP_ENCAP;

	len = skb->len - ETH_HLEN;
	/* A GSO packet is longer than an IPv4 length; the stack rewrites
	 * both lengths in every segment it cuts. */
	if (len > 0xffff)
		len = 0xffff;
	h.ip.version = 4;
	h.ip.ihl = 5;
	/* DSCP and ECN inherited (RFC 6040 normal mode); decap gives a CE
	 * mark set on the way back to the inner header. */
	h.ip.tos = tos;
	h.ip.tot_len = bpf_htons(len);
	h.ip.id = 0; /* DF set: no fragment to reassemble (RFC 6864) */
	h.ip.frag_off = bpf_htons(IDG_IP_DF);
	h.ip.ttl = IDG_TUNNEL_TTL;
	h.ip.protocol = IPPROTO_UDP;
	h.ip.saddr = saddr;
	h.ip.daddr = daddr;
	h.ip.check = idg_ipv4_csum(&h); /* the IPv4 header comes first */
	h.udp.source = bpf_htons(IDG_TUNNEL_SPORT_BASE |
				 (hash & IDG_TUNNEL_SPORT_MASK));
	h.udp.dest = bpf_htons(IDG_GENEVE_PORT);
	h.udp.len = bpf_htons(len - sizeof(struct iphdr));
	h.udp.check = 0; /* allowed for UDP tunnels over IPv4 (RFC 8926) */
	h.gnv.proto = bpf_htons(IDG_GENEVE_PROTO_ETH);
	h.gnv.vni_rsvd = bpf_htonl((vni & 0xffffff) << 8);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h),
				BPF_F_RECOMPUTE_CSUM))
		return IDG_DROP_ENCAP;
	return 0;
}

/*
 * Send the frame (Ethernet + IPv4 at offset 14) toward daddr: FIB lookup,
 * MACs, redirect. lookup_ifindex is the device the lookup is made for
 * (forwarding must be enabled on it); fallback_ifindex is where the packet
 * goes when the kernel has to route it itself.
 *   SUCCESS       MACs from the FIB, bpf_redirect to its device
 *   NO_NEIGH      bpf_redirect_neigh to the FIB's device and next hop:
 *                 the kernel resolves the neighbour (BPF traffic alone
 *                 never triggers ARP)
 *   FWD_DISABLED  bpf_redirect_neigh(fallback) without a next hop: the
 *                 kernel routes at transmit time
 *   FRAG_NEEDED   too big for the route: IDG_DROP_TOO_BIG
 *   anything else no usable route: IDG_DROP_FIB
 * The neighbour paths zero the MACs: the kernel writes the real ones and
 * refuses a multicast destination, which a copied header might hold.
 * Returns 0 with the redirect set up (the program returns
 * TC_ACT_REDIRECT), or a drop reason.
 */
static __always_inline __u32 idg_fib_redirect(struct __sk_buff *skb,
					      __be32 saddr, __be32 daddr,
					      __u8 proto, __be16 sport,
					      __be16 dport,
					      __u32 lookup_ifindex,
					      __u32 fallback_ifindex)
{
	struct bpf_fib_lookup fib = {};
	struct bpf_redir_neigh nh = {};
	__u8 macs[2 * ETH_ALEN] = {};
	long rc;

	fib.family = AF_INET;
	fib.l4_protocol = proto;
	fib.sport = sport;
	fib.dport = dport;
	fib.ipv4_src = saddr;
	fib.ipv4_dst = daddr;
	fib.ifindex = lookup_ifindex;
	/* tot_len 0: the kernel checks the skb against the egress device's
	 * MTU, GSO packets excepted. */
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		__builtin_memcpy(macs, fib.dmac, ETH_ALEN);
		__builtin_memcpy(macs + ETH_ALEN, fib.smac, ETH_ALEN);
		if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0))
			return IDG_DROP_FIB;
		rc = bpf_redirect(fib.ifindex, 0);
		break;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		nh.nh_family = AF_INET;
		nh.ipv4_nh = fib.ipv4_dst; /* the gateway when there is one */
		if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0))
			return IDG_DROP_FIB;
		rc = bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
		break;
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		if (!fallback_ifindex)
			return IDG_DROP_FIB;
		if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0))
			return IDG_DROP_FIB;
		rc = bpf_redirect_neigh(fallback_ifindex, NULL, 0, 0);
		break;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return IDG_DROP_TOO_BIG;
	default:
		return IDG_DROP_FIB;
	}
	return rc == TC_ACT_REDIRECT ? 0 : IDG_DROP_FIB;
}

/*
 * The common tail of both encapsulating programs, for a frame that is
 * Ethernet + IPv4 (header at 14): clamp a SYN's MSS,
 * check the size, encapsulate toward daddr with the VNI, redirect out the
 * uplink. p is the parsed inner packet (for the hash and the L4 header
 * size). Returns 0 (redirect set up) or a drop reason; on a drop the
 * frame may already be modified.
 */
static __always_inline __u32 idg_tunnel_send(struct __sk_buff *skb,
					     const struct idg_tun_cfg *tun,
					     const struct idg_pkt *p,
					     __be32 daddr, __u32 vni)
{
	void *data, *data_end;
	struct iphdr *ip;
	__u32 l3_len, l34 = 0, hash, reason, l4_off;
	__u8 ihl = 5;
	__be16 sport;

	bpf_skb_load_bytes(skb, ETH_HLEN, &ihl, 1);
	l4_off = ETH_HLEN + (ihl & 0xf) * 4;
	if (p->proto == IPPROTO_TCP && !(p->flags & IDG_PKT_F_LATER) &&
	    tun->uplink_mtu > IDG_TUNNEL_OVERHEAD + IDG_MSS_HDRS)
		idg_mss_clamp(skb, l4_off,
			      tun->uplink_mtu - IDG_TUNNEL_OVERHEAD -
				      IDG_MSS_HDRS);

	data = idg_data(skb);
	data_end = idg_data_end(skb);
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return IDG_DROP_ENCAP;
	l3_len = bpf_ntohs(ip->tot_len);
	if (skb->gso_size) {
		/* Only GSO packets need the header size: TCP or UDP. */
		l34 = l4_off - ETH_HLEN + sizeof(struct udphdr);
		if (p->proto == IPPROTO_TCP) {
			struct tcphdr *th = data + (l4_off & 0xff);

			if ((void *)(th + 1) > data_end)
				return IDG_DROP_ENCAP;
			l34 = l4_off - ETH_HLEN + th->doff * 4;
		}
	}
	if (!idg_tunnel_fits(skb, tun->uplink_mtu, l3_len, l34))
		return IDG_DROP_TOO_BIG;

	hash = idg_flow_hash(p);
	reason = idg_geneve_encap(skb, tun->tunnel_ip, daddr, vni, hash);
	if (reason)
		return reason;
	/* The uplink's egress program lets only GENEVE marked so leave for
	 * another node: anything else to port 6081 was not made here. */
	skb->mark = IDG_SKB_MARK_TUNNEL;
	sport = bpf_htons(IDG_TUNNEL_SPORT_BASE | (hash & IDG_TUNNEL_SPORT_MASK));
	return idg_fib_redirect(skb, tun->tunnel_ip, daddr, IPPROTO_UDP, sport,
				bpf_htons(IDG_GENEVE_PORT),
				tun->uplink_ifindex, tun->uplink_ifindex);
}

/* ---- GENEVE in ---- */

/* What the outer headers of a frame say. */
#define IDG_TUN_NOT_OURS 0 /* not GENEVE to this node: leave it alone */
#define IDG_TUN_GENEVE 1   /* GENEVE for this node: see reason/fields */

struct idg_geneve_rx {
	__be32 src;            /* sending node */
	__be32 dst;            /* this node */
	__be16 sport;          /* outer UDP source port */
	__u8 outer_tos;
	__u8 pad;
	__u32 vni;
	__u32 decap_len;       /* bytes to remove after the outer Ethernet */
	__u32 inner_off;       /* offset of the inner Ethernet header */
};

/* The outer packet as an event describes it. */
static __always_inline void idg_geneve_outer_pkt(const struct idg_geneve_rx *rx,
						 struct idg_pkt *p)
{
	p->family = IDG_FAM_IPV4;
	p->proto = IPPROTO_UDP;
	p->sport = rx->sport;
	p->dport = bpf_htons(IDG_GENEVE_PORT);
	__builtin_memcpy(p->saddr, &rx->src, 4);
	__builtin_memcpy(p->daddr, &rx->dst, 4);
}

/*
 * First look at a frame arriving on the uplink, without a map lookup
 * (every frame of the uplink comes here): untagged IPv4 without options,
 * UDP to the GENEVE port, not a later fragment (no UDP header to see).
 * Fills the outer fields of rx. 1: may be GENEVE; 0: not ours.
 */
static __always_inline int idg_geneve_peek(struct __sk_buff *skb,
					   struct idg_geneve_rx *rx)
{
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *uh;

	idg_skb_pull(skb, ETH_HLEN + sizeof(*ip) + sizeof(*uh));
	data = idg_data(skb);
	data_end = idg_data_end(skb);
	eth = data;
	ip = data + ETH_HLEN;
	uh = (void *)(ip + 1);
	if ((void *)(uh + 1) > data_end)
		return 0;
	/* Options would move the UDP header; idgate never sends them, so
	 * such a packet is no tunnel packet of ours. */
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->version != 4 ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
	    (bpf_ntohs(ip->frag_off) & IDG_IP_OFFSET) ||
	    uh->dest != bpf_htons(IDG_GENEVE_PORT))
		return 0;
	rx->src = ip->saddr;
	rx->dst = ip->daddr;
	rx->sport = uh->source;
	rx->outer_tos = ip->tos;
	return 1;
}

/*
 * Classify a frame idg_geneve_peek() accepted. Returns IDG_TUN_NOT_OURS
 * (not addressed to this node), or IDG_TUN_GENEVE with *reason 0
 * (well-formed, rx complete, *node its sender) or a drop reason. The
 * sender is checked before the header is looked at: strangers get
 * IDG_DROP_TUNNEL_UNKNOWN_NODE whatever they send. v is the
 * generation (its node table and this node's address).
 */
static __always_inline int idg_geneve_classify(struct __sk_buff *skb,
					       const struct idg_egw_view *v,
					       struct idg_geneve_rx *rx,
					       __u32 *reason,
					       struct idg_node_val **node)
{
	void *nodes = idg_gmap(&v->gv, &idg_node_gens);
	__be32 tunnel_ip = v->tun->tunnel_ip;
	void *data, *data_end;
	struct iphdr *ip;
	struct udphdr *uh;
	struct idg_geneve_hdr *gh;
	struct ethhdr *ieth;
	__u32 optlen, need, udp_len, ip_len;

	*reason = 0;
	if (!tunnel_ip || rx->dst != tunnel_ip)
		return IDG_TUN_NOT_OURS;
	/* This node is in its own node table, but never sends itself
	 * GENEVE over the underlay: who claims to is not it. */
	*node = nodes && rx->src != tunnel_ip ?
			bpf_map_lookup_elem(nodes, &rx->src) :
			NULL;
	if (!*node) {
		*reason = IDG_DROP_TUNNEL_UNKNOWN_NODE;
		return IDG_TUN_GENEVE;
	}

	*reason = IDG_DROP_BAD_TUNNEL;
	data = idg_data(skb);
	data_end = idg_data_end(skb);
	ip = data + ETH_HLEN;
	uh = (void *)(ip + 1);
	if ((void *)(uh + 1) > data_end)
		return IDG_TUN_GENEVE;
	/* We send DF; a fragmented tunnel packet cannot be decapsulated
	 * here (the first piece lacks the rest of the inner frame). */
	if ((bpf_ntohs(ip->frag_off) & IDG_IP_MF) || idg_ipv4_csum(ip) != 0)
		return IDG_TUN_GENEVE;
	/* Read now: pulling below invalidates every packet pointer. */
	udp_len = bpf_ntohs(uh->len);
	ip_len = bpf_ntohs(ip->tot_len);

	idg_skb_pull(skb, ETH_HLEN + sizeof(*ip) + sizeof(*uh) + sizeof(*gh));
	data = idg_data(skb);
	data_end = idg_data_end(skb);
	gh = data + ETH_HLEN + sizeof(*ip) + sizeof(*uh);
	if ((void *)(gh + 1) > data_end)
		return IDG_TUN_GENEVE;
	/* Version 0 only; O (control) messages are not ours to forward and
	 * idgate sends none (health probes use their own UDP port); critical
	 * options are options we would have to understand. */
	if ((gh->ver_optlen & IDG_GENEVE_VER_MASK) ||
	    (gh->flags & (IDG_GENEVE_F_OAM | IDG_GENEVE_F_CRITICAL)) ||
	    gh->proto != bpf_htons(IDG_GENEVE_PROTO_ETH))
		return IDG_TUN_GENEVE;
	optlen = (gh->ver_optlen & IDG_GENEVE_OPTLEN_MASK) * 4;
	rx->vni = bpf_ntohl(gh->vni_rsvd) >> 8;
	rx->decap_len = IDG_TUNNEL_OVERHEAD + optlen;
	rx->inner_off = ETH_HLEN + sizeof(*ip) + sizeof(*uh) + sizeof(*gh) +
			optlen;
	/* The UDP length must cover what we strip plus an inner IPv4 header. */
	need = sizeof(*uh) + sizeof(*gh) + optlen + ETH_HLEN +
	       sizeof(struct iphdr);
	if (udp_len < need || ip_len < sizeof(*ip) + need)
		return IDG_TUN_GENEVE;

	/* Inner Ethernet + the inner headers the callers parse. */
	idg_skb_pull(skb, rx->inner_off + ETH_HLEN + 120);
	data = idg_data(skb);
	data_end = idg_data_end(skb);
	ieth = data + (rx->inner_off & 0x1ff);
	if ((void *)(ieth + 1) > data_end)
		return IDG_TUN_GENEVE;
	/* Only IPv4 travels in the tunnel. */
	if (ieth->h_proto != bpf_htons(ETH_P_IP))
		return IDG_TUN_GENEVE;
	*reason = 0;
	return IDG_TUN_GENEVE;
}

/*
 * Strip outer IPv4/UDP/GENEVE and the inner Ethernet header, keeping the
 * outer Ethernet header (addressed to this node, type IPv4, like the
 * inner one): the result is the inner IPv4 packet as if it had arrived
 * on this device. A CE mark of the outer header is carried into an
 * ECN-capable inner one (RFC 6040).
 *
 * skb->encapsulation and the UDP-tunnel GSO bit stay set after this on
 * current kernels (bpf_skb_adjust_room has no way to clear them before
 * BPF_F_ADJ_ROOM_DECAP_L4_UDP in bpf-next): harmless for local delivery
 * and for TCP, but such an skb cannot be encapsulated again (-EALREADY)
 * and GSO UDP (UDP_SEGMENT) aggregates are not segmented correctly when
 * forwarded. The gateway never re-encapsulates a decapsulated skb: the
 * replies it encapsulates are other skbs, from the external interface.
 */
static __always_inline __u32 idg_geneve_decap(struct __sk_buff *skb,
					      const struct idg_geneve_rx *rx)
{
	__u8 w[2];
	__be16 old, new;

	if (bpf_skb_adjust_room(skb, -(__s32)rx->decap_len, BPF_ADJ_ROOM_MAC,
				IDG_DECAP_FLAGS))
		return IDG_DROP_DECAP;
	if ((rx->outer_tos & 3) != 3)
		return 0;
	/* The 16-bit word holding version/IHL and TOS, as the IPv4 header
	 * checksum sees it. */
	if (bpf_skb_load_bytes(skb, ETH_HLEN, w, sizeof(w)))
		return 0;
	if ((w[1] & 3) != 1 && (w[1] & 3) != 2)
		return 0;
	__builtin_memcpy(&old, w, sizeof(old));
	w[1] |= 3;
	__builtin_memcpy(&new, w, sizeof(new));
	if (!bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check),
				 old, new, sizeof(__u16)))
		bpf_skb_store_bytes(skb, ETH_HLEN + 1, &w[1], 1, 0);
	return 0;
}

#endif /* IDGATE_BPF_TUNNEL_H */
