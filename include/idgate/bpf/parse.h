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

struct idg_pkt {
	__u8 family; /* IDG_FAM_* */
	__u8 proto;
	__u8 flags;  /* IDG_PKT_F_* */
	__u8 pad;
	__be16 sport; /* conntrack ports (ICMP echo: id on both) */
	__be16 dport;
	__be16 pol_port; /* port as policy sees it (ICMP: type << 8 | code) */
	__u16 pad2;
	__u8 saddr[16];
	__u8 daddr[16];
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

static __always_inline int idg_parse_l4(__u8 *l4, void *data_end,
					struct idg_pkt *p)
{
	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = (void *)l4;

		if ((void *)(th + 1) > data_end)
			return IDG_DROP_TRUNC_TCP;
		if (th->doff < 5)
			return IDG_DROP_BAD_TCP_HDR;
		p->sport = th->source;
		p->dport = th->dest;
		p->pol_port = th->dest;
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = (void *)l4;

		if ((void *)(uh + 1) > data_end)
			return IDG_DROP_TRUNC_UDP;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->pol_port = uh->dest;
		return 0;
	}
	case IPPROTO_SCTP: {
		struct idg_sctp_hdr *sh = (void *)l4;

		if ((void *)(sh + 1) > data_end)
			return IDG_DROP_TRUNC_SCTP;
		p->sport = sh->source;
		p->dport = sh->dest;
		p->pol_port = sh->dest;
		return 0;
	}
	case IPPROTO_ICMP: {
		struct idg_icmp_hdr *ih = (void *)l4;

		if ((void *)(ih + 1) > data_end)
			return IDG_DROP_TRUNC_ICMP;
		p->pol_port = bpf_htons((__u16)ih->type << 8 | ih->code);
		if (ih->type == IDG_ICMP_ECHO ||
		    ih->type == IDG_ICMP_ECHOREPLY) {
			p->sport = ih->id;
			p->dport = ih->id;
		}
		return 0;
	}
	case IPPROTO_ICMPV6: {
		struct icmp6hdr *ih = (void *)l4;

		if ((void *)(ih + 1) > data_end)
			return IDG_DROP_TRUNC_ICMPV6;
		/* Neighbour discovery and router discovery keep the link up:
		 * never judged, like ARP. */
		if (ih->icmp6_type >= 133 && ih->icmp6_type <= 137)
			return IDG_PASS_ND;
		p->pol_port = bpf_htons((__u16)ih->icmp6_type << 8 |
					ih->icmp6_code);
		if (ih->icmp6_type == ICMPV6_ECHO_REQUEST ||
		    ih->icmp6_type == ICMPV6_ECHO_REPLY) {
			p->sport = ih->icmp6_identifier;
			p->dport = ih->icmp6_identifier;
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
		if (frag & IDG_IP_OFFSET) {
			p->flags |= IDG_PKT_F_LATER;
			if ((__u32)(frag & IDG_IP_OFFSET) * 8 <
			    idg_l4_min_len(p->proto))
				return IDG_DROP_BAD_FRAGMENT;
			return 0;
		}
	}
	return idg_parse_l4(l3 + hlen, data_end, p);
}

static __always_inline int idg_parse_ipv6(__u8 *l3, void *data_end,
					  __u32 l3_len, struct idg_pkt *p)
{
	struct ipv6hdr *ip6 = (void *)l3;
	__u8 *cur = l3 + sizeof(*ip6);
	__u8 nh;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return IDG_DROP_TRUNC_IPV6;
	if (ip6->version != 6)
		return IDG_DROP_BAD_IPV6_HDR;
	if (bpf_ntohs(ip6->payload_len) + sizeof(*ip6) > l3_len)
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
		if ((void *)(cur + 8) > data_end)
			return IDG_DROP_TRUNC_IPV6_EXT;
		if (nh == IPPROTO_FRAGMENT) {
			__u16 off = bpf_ntohs(*(__be16 *)(cur + 2));

			p->flags |= IDG_PKT_F_FRAG;
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
	}
	if (idg_is_v6_ext(nh))
		return IDG_DROP_IPV6_EXT_LIMIT;
	/* The header chain itself must fit: a chain pointing past the end
	 * hides the real protocol. */
	if ((void *)cur > data_end)
		return IDG_DROP_TRUNC_IPV6_EXT;
	p->proto = nh;
	return idg_parse_l4(cur, data_end, p);
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
