/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet parsing shared by the XDP and tc programs. Works on a linear
 * [data, data_end) window; the caller supplies the full packet length so
 * that tc can tell "truncated" from "not yet pulled".
 */
#ifndef IDGATE_BPF_PARSE_H
#define IDGATE_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <idgate/datapath.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define IDG_PKT_F_FRAG (1u << 0)  /* any fragment */
#define IDG_PKT_F_LATER (1u << 1) /* non-first fragment: no L4 header */
#define IDG_PKT_F_ICMP_REQ (1u << 2) /* ICMP query request (icmp_kind) */
/* An ICMP error quoting a packet its receiver sent: q_* describe it. */
#define IDG_PKT_F_ICMP_ERR (1u << 3)
/* ... and the quoted packet is an ICMP query request. */
#define IDG_PKT_F_Q_REQ (1u << 4)

struct idg_pkt {
	__u8 family; /* IDG_FAM_* */
	__u8 proto;
	__u8 flags;  /* IDG_PKT_F_* */
	__u8 tcp_flags; /* byte 13 of the TCP header */
	__be16 sport; /* conntrack ports (ICMP query: id on both) */
	__be16 dport;
	__be16 pol_port; /* port as policy sees it (ICMP: type << 8 | code) */
	__u8 icmp_kind;  /* ICMP query: the request's type; 0 otherwise */
	__u8 q_kind;     /* the quoted packet's icmp_kind */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 seq;       /* TCP, host order */
	__u32 ack_seq;
	__be32 frag_id;  /* fragments: IPv4 id (16 bits) or IPv6 id */
	/* ICMP error: the packet it quotes, whose source is daddr. */
	__u8 q_daddr[16];
	__be16 q_sport;
	__be16 q_dport;
	__u8 q_proto;
	__u8 pad[3];
};

struct idg_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* linux/icmp.h pulls in libc socket headers, which a BPF build lacks. */
struct idg_icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 csum;
	__be16 id;
	__be16 seq;
};

#define IDG_ICMP_ECHOREPLY 0
#define IDG_ICMP_ECHO 8
#define IDG_ICMPV6_ECHO 128
#define IDG_ICMPV6_ECHOREPLY 129

/*
 * ICMP queries carry an identifier after the checksum: IPv4 echo,
 * timestamp, information and address mask, ICMPv6 echo. Returns the
 * request type of the query a type belongs to (its kind), 0 for any other
 * type; *req tells a request from a reply.
 */
static __always_inline __u8 idg_icmp_query(__u8 family, __u8 type, int *req)
{
	*req = 0;
	if (family == IDG_FAM_IPV6) {
		if (type == IDG_ICMPV6_ECHO || type == IDG_ICMPV6_ECHOREPLY) {
			*req = type == IDG_ICMPV6_ECHO;
			return IDG_ICMPV6_ECHO;
		}
		return 0;
	}
	switch (type) {
	case IDG_ICMP_ECHO:
	case 13:
	case 15:
	case 17:
		*req = 1;
		return type;
	case IDG_ICMP_ECHOREPLY:
		return IDG_ICMP_ECHO;
	case 14:
	case 16:
	case 18:
		return type - 1;
	default:
		return 0;
	}
}

/* ICMP errors quote the IP header and at least 8 bytes of the packet that
 * caused them (RFC 792, RFC 4443 section 2.4). */
static __always_inline int idg_icmp_is_error(__u8 family, __u8 type)
{
	if (family == IDG_FAM_IPV6)
		return type >= 1 && type <= 4;
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

#define IDG_IP_MF 0x2000
#define IDG_IP_OFFSET 0x1fff

struct idg_sctp_hdr {
	__be16 source;
	__be16 dest;
	__be32 vtag;
	__be32 csum;
};

/* Smallest L4 header the first fragment must carry; a later fragment
 * that starts inside it would let an attacker rewrite the ports. */
static __always_inline __u32 idg_l4_min_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_SCTP:
		return sizeof(struct idg_sctp_hdr);
	default:
		return 0;
	}
}

static __always_inline int idg_is_v6_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_AH || nh == 135 /* mobility */;
}

static __always_inline int idg_v6_addr_eq(const void *a, const void *b)
{
	__u64 x[2], y[2];

	__builtin_memcpy(x, a, 16);
	__builtin_memcpy(y, b, 16);
	return x[0] == y[0] && x[1] == y[1];
}

/*
 * The packet an ICMP error quotes, at q (after the 8-byte ICMP header).
 * It is related to a flow only when the error goes back to its sender
 * and its ports (or query id) are there: then IDG_PKT_F_ICMP_ERR and the
 * q_* fields are set. Anything else leaves the error to be judged as
 * ICMP by policy, like any other packet. avail: the bytes of the quote
 * inside the error's IP length; none past it is read (idg_parse_l4).
 */
static __always_inline void idg_parse_quoted(__u8 *q, void *data_end,
					     __u32 avail, struct idg_pkt *p)
{
	__u8 *l4, proto, kind;
	__u32 hlen;
	int req;

	if (p->family == IDG_FAM_IPV4) {
		struct iphdr *ip = (void *)q;
		__be32 sender;

		if ((void *)(ip + 1) > data_end || sizeof(*ip) > avail ||
		    ip->version != 4 || ip->ihl < 5 ||
		    (bpf_ntohs(ip->frag_off) & IDG_IP_OFFSET))
			return;
		__builtin_memcpy(&sender, p->daddr, 4);
		if (ip->saddr != sender)
			return;
		proto = ip->protocol;
		__builtin_memcpy(p->q_daddr, &ip->daddr, 4);
		hlen = ip->ihl * 4;
	} else {
		struct ipv6hdr *ip6 = (void *)q;

		if ((void *)(ip6 + 1) > data_end || sizeof(*ip6) > avail ||
		    ip6->version != 6 || !idg_v6_addr_eq(&ip6->saddr, p->daddr))
			return;
		/* Extension headers in a quote are not walked: such an error
		 * is judged as plain ICMPv6. */
		proto = ip6->nexthdr;
		__builtin_memcpy(p->q_daddr, &ip6->daddr, 16);
		hlen = sizeof(*ip6);
	}
	l4 = q + hlen;
	if ((void *)(l4 + 8) > data_end || hlen + 8 > avail)
		return;
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		__builtin_memcpy(&p->q_sport, l4, 2);
		__builtin_memcpy(&p->q_dport, l4 + 2, 2);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((proto == IPPROTO_ICMP) != (p->family == IDG_FAM_IPV4))
			return;
		kind = idg_icmp_query(p->family, l4[0], &req);
		if (!kind)
			return;
		__builtin_memcpy(&p->q_sport, l4 + 4, 2);
		p->q_dport = p->q_sport;
		p->q_kind = kind;
		if (req)
			p->flags |= IDG_PKT_F_Q_REQ;
		break;
	default:
		return;
	}
	p->q_proto = proto;
	p->flags |= IDG_PKT_F_ICMP_ERR;
}

/*
 * avail: the transport bytes the IP header declares (total or payload
 * length, less the headers before l4). Headers are read only inside both
 * the frame and that length: bytes past it (Ethernet padding, or bytes an
 * attacker appends after a short length) are no part of the packet, and
 * the kernel trims them before any socket sees it.
 */
static __always_inline int idg_parse_l4(__u8 *l4, void *data_end,
					__u32 avail, struct idg_pkt *p)
{
	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = (void *)l4;

		if ((void *)(th + 1) > data_end || sizeof(*th) > avail)
			return IDG_DROP_TRUNC_TCP;
		if (th->doff < 5)
			return IDG_DROP_BAD_TCP_HDR;
		p->tcp_flags = ((__u8 *)th)[13];
		p->seq = bpf_ntohl(th->seq);
		p->ack_seq = bpf_ntohl(th->ack_seq);
		p->sport = th->source;
		p->dport = th->dest;
		p->pol_port = th->dest;
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = (void *)l4;

		if ((void *)(uh + 1) > data_end || sizeof(*uh) > avail)
			return IDG_DROP_TRUNC_UDP;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->pol_port = uh->dest;
		return 0;
	}
	case IPPROTO_SCTP: {
		struct idg_sctp_hdr *sh = (void *)l4;

		if ((void *)(sh + 1) > data_end || sizeof(*sh) > avail)
			return IDG_DROP_TRUNC_SCTP;
		p->sport = sh->source;
		p->dport = sh->dest;
		p->pol_port = sh->dest;
		return 0;
	}
	case IPPROTO_ICMP: {
		struct idg_icmp_hdr *ih = (void *)l4;
		int req;

		/* ICMP in IPv6 (and ICMPv6 in IPv4) is no ICMP of the
		 * packet's family: a protocol without ports, whatever its
		 * bytes say (else IPv4 could carry "neighbour discovery"
		 * past every policy). */
		if (p->family != IDG_FAM_IPV4)
			return 0;
		if ((void *)(ih + 1) > data_end || sizeof(*ih) > avail)
			return IDG_DROP_TRUNC_ICMP;
		p->pol_port = bpf_htons((__u16)ih->type << 8 | ih->code);
		p->icmp_kind = idg_icmp_query(IDG_FAM_IPV4, ih->type, &req);
		if (p->icmp_kind) {
			p->sport = ih->id;
			p->dport = ih->id;
			if (req)
				p->flags |= IDG_PKT_F_ICMP_REQ;
		} else if (idg_icmp_is_error(IDG_FAM_IPV4, ih->type)) {
			idg_parse_quoted(l4 + sizeof(*ih), data_end,
					 avail - sizeof(*ih), p);
		}
		return 0;
	}
	case IPPROTO_ICMPV6: {
		struct icmp6hdr *ih = (void *)l4;
		int req;

		if (p->family != IDG_FAM_IPV6)
			return 0;
		if ((void *)(ih + 1) > data_end || sizeof(*ih) > avail)
			return IDG_DROP_TRUNC_ICMPV6;
		/* Neighbour discovery and router discovery keep the link up:
		 * never judged, like ARP. */
		if (ih->icmp6_type >= 133 && ih->icmp6_type <= 137)
			return IDG_PASS_ND;
		p->pol_port = bpf_htons((__u16)ih->icmp6_type << 8 |
					ih->icmp6_code);
		p->icmp_kind = idg_icmp_query(IDG_FAM_IPV6, ih->icmp6_type,
					      &req);
		if (p->icmp_kind) {
			p->sport = ih->icmp6_identifier;
			p->dport = ih->icmp6_identifier;
			if (req)
				p->flags |= IDG_PKT_F_ICMP_REQ;
		} else if (idg_icmp_is_error(IDG_FAM_IPV6, ih->icmp6_type)) {
			idg_parse_quoted(l4 + sizeof(*ih), data_end,
					 avail - sizeof(*ih), p);
		}
		return 0;
	}
	default:
		return 0;
	}
}

static __always_inline int idg_parse_ipv4(__u8 *l3, void *data_end,
					  __u32 l3_len, struct idg_pkt *p)
{
	struct iphdr *ip = (void *)l3;
	__u32 hlen, tot;
	__u16 frag;

	if ((void *)(ip + 1) > data_end)
		return IDG_DROP_TRUNC_IPV4;
	if (ip->version != 4 || ip->ihl < 5)
		return IDG_DROP_BAD_IPV4_HDR;
	hlen = ip->ihl * 4;
	if ((void *)(l3 + hlen) > data_end)
		return IDG_DROP_TRUNC_IPV4;
	tot = bpf_ntohs(ip->tot_len);
	/* tot may be below l3_len (Ethernet padding) but never above it,
	 * and never below the header itself. */
	if (tot < hlen || tot > l3_len)
		return IDG_DROP_BAD_IPV4_LEN;

	p->family = IDG_FAM_IPV4;
	p->proto = ip->protocol;
	__builtin_memcpy(p->saddr, &ip->saddr, 4);
	__builtin_memcpy(p->daddr, &ip->daddr, 4);

	frag = bpf_ntohs(ip->frag_off);
	if (frag & (IDG_IP_MF | IDG_IP_OFFSET)) {
		p->flags |= IDG_PKT_F_FRAG;
		p->frag_id = ip->id;
		if (frag & IDG_IP_OFFSET) {
			p->flags |= IDG_PKT_F_LATER;
			if ((__u32)(frag & IDG_IP_OFFSET) * 8 <
			    idg_l4_min_len(p->proto))
				return IDG_DROP_BAD_FRAGMENT;
			return 0;
		}
	}
	return idg_parse_l4(l3 + hlen, data_end, tot - hlen, p);
}

static __always_inline int idg_parse_ipv6(__u8 *l3, void *data_end,
					  __u32 l3_len, struct idg_pkt *p)
{
	struct ipv6hdr *ip6 = (void *)l3;
	__u8 *cur = l3 + sizeof(*ip6);
	__u32 plen, used = 0;
	__u8 nh;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return IDG_DROP_TRUNC_IPV6;
	if (ip6->version != 6)
		return IDG_DROP_BAD_IPV6_HDR;
	plen = bpf_ntohs(ip6->payload_len);
	if (plen + sizeof(*ip6) > l3_len)
		return IDG_DROP_BAD_IPV6_HDR;

	p->family = IDG_FAM_IPV6;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	nh = ip6->nexthdr;

#pragma unroll
	for (i = 0; i < IDG_IPV6_EXT_MAX; i++) {
		__u32 len;

		if (!idg_is_v6_ext(nh))
			break;
		/* Within the frame and within the payload length. */
		if ((void *)(cur + 8) > data_end || used + 8 > plen)
			return IDG_DROP_TRUNC_IPV6_EXT;
		if (nh == IPPROTO_FRAGMENT) {
			__u16 off = bpf_ntohs(*(__be16 *)(cur + 2));

			p->flags |= IDG_PKT_F_FRAG;
			__builtin_memcpy(&p->frag_id, cur + 4, 4);
			if (off & 0xfff8) {
				p->flags |= IDG_PKT_F_LATER;
				p->proto = cur[0];
				if ((__u32)(off & 0xfff8) <
				    idg_l4_min_len(p->proto))
					return IDG_DROP_BAD_FRAGMENT;
				return 0;
			}
			len = 8;
		} else if (nh == IPPROTO_AH) {
			len = ((__u32)cur[1] + 2) * 4;
		} else {
			len = ((__u32)cur[1] + 1) * 8;
		}
		nh = cur[0];
		cur += len;
		used += len;
	}
	/* The header chain itself must fit: a chain pointing past the end
	 * hides the real protocol. Checked before the limit: the last
	 * header walked comes before the one the walk cannot reach. */
	if ((void *)cur > data_end || used > plen)
		return IDG_DROP_TRUNC_IPV6_EXT;
	if (idg_is_v6_ext(nh))
		return IDG_DROP_IPV6_EXT_LIMIT;
	p->proto = nh;
	return idg_parse_l4(cur, data_end, plen - used, p);
}

/*
 * Returns 0 for an IP packet filled into *p, a IDG_PASS_* reason for
 * traffic that is never judged (ARP, ND, non-IP), or a IDG_DROP_* reason.
 */
static __always_inline int idg_parse(void *data, void *data_end, __u32 pkt_len,
				     struct idg_pkt *p)
{
	struct ethhdr *eth = data;
	__u8 *cur = data;
	__be16 proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return IDG_DROP_TRUNC_ETH;
	proto = eth->h_proto;
	cur += sizeof(*eth);

#pragma unroll
	for (i = 0; i < IDG_VLAN_MAX; i++) {
		struct idg_vlan_hdr *vh = (void *)cur;

		if (proto != bpf_htons(ETH_P_8021Q) &&
		    proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return IDG_DROP_TRUNC_VLAN;
		proto = vh->proto;
		cur += sizeof(*vh);
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return IDG_DROP_VLAN_DEPTH;

	if (proto == bpf_htons(ETH_P_ARP))
		return IDG_PASS_ARP;
	if (proto == bpf_htons(ETH_P_IP))
		return idg_parse_ipv4(cur, data_end,
				      pkt_len - (__u32)(cur - (__u8 *)data), p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return idg_parse_ipv6(cur, data_end,
				      pkt_len - (__u32)(cur - (__u8 *)data), p);
	return IDG_PASS_NON_IP;
}

#endif /* IDGATE_BPF_PARSE_H */
