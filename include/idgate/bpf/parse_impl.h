/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The packet parser's body, included by parse.h once per kind of window
 * (no include guard): IDG_PARSE_FN names a function of this kind,
 * IDG_WIN_T is the window, IDG_POS_T a position in it, IDG_FITS(w, pos, n)
 * says whether n bytes at pos are in the window and IDG_PTR(w, pos) points
 * at them once they are. Include parse.h, not this file.
 */

/*
 * The packet an ICMP error quotes, at q (after the 8-byte ICMP header).
 * It is related to a flow only when the error goes back to its sender
 * and its ports (or query id) are there: then IDG_PKT_F_ICMP_ERR and the
 * q_* fields are set. Anything else leaves the error to be judged as
 * ICMP by policy, like any other packet. avail: the bytes of the quote
 * inside the error's IP length; none past it is read (idg_parse_l4).
 */
static __always_inline void IDG_PARSE_FN(idg_parse_quoted)(IDG_WIN_T w,
							   IDG_POS_T q,
							   __u32 avail,
							   struct idg_pkt *p)
{
	__u8 *l4, proto, kind;
	__u32 hlen;
	int req;

	if (p->family == IDG_FAM_IPV4) {
		struct iphdr *ip;
		__be32 sender;

		if (!IDG_FITS(w, q, sizeof(*ip)) || sizeof(*ip) > avail)
			return;
		ip = IDG_PTR(w, q);
		if (ip->version != 4 || ip->ihl < 5 ||
		    (bpf_ntohs(ip->frag_off) & IDG_IP_OFFSET))
			return;
		__builtin_memcpy(&sender, p->daddr, 4);
		if (ip->saddr != sender)
			return;
		proto = ip->protocol;
		__builtin_memcpy(p->q_daddr, &ip->daddr, 4);
		hlen = ip->ihl * 4;
	} else {
		struct ipv6hdr *ip6;

		if (!IDG_FITS(w, q, sizeof(*ip6)) || sizeof(*ip6) > avail)
			return;
		ip6 = IDG_PTR(w, q);
		if (ip6->version != 6 || !idg_v6_addr_eq(&ip6->saddr, p->daddr))
			return;
		/* Extension headers in a quote are not walked: such an error
		 * is judged as plain ICMPv6. */
		proto = ip6->nexthdr;
		__builtin_memcpy(p->q_daddr, &ip6->daddr, 16);
		hlen = sizeof(*ip6);
	}
	if (!IDG_FITS(w, q + hlen, 8) || hlen + 8 > avail)
		return;
	l4 = IDG_PTR(w, q + hlen);
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
static __always_inline int IDG_PARSE_FN(idg_parse_l4)(IDG_WIN_T w, IDG_POS_T l4,
						      __u32 avail,
						      struct idg_pkt *p)
{
	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th;

		if (!IDG_FITS(w, l4, sizeof(*th)) || sizeof(*th) > avail)
			return IDG_DROP_TRUNC_TCP;
		th = IDG_PTR(w, l4);
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
		struct udphdr *uh;

		if (!IDG_FITS(w, l4, sizeof(*uh)) || sizeof(*uh) > avail)
			return IDG_DROP_TRUNC_UDP;
		uh = IDG_PTR(w, l4);
		p->sport = uh->source;
		p->dport = uh->dest;
		p->pol_port = uh->dest;
		return 0;
	}
	case IPPROTO_SCTP: {
		struct idg_sctp_hdr *sh;

		if (!IDG_FITS(w, l4, sizeof(*sh)) || sizeof(*sh) > avail)
			return IDG_DROP_TRUNC_SCTP;
		sh = IDG_PTR(w, l4);
		p->sport = sh->source;
		p->dport = sh->dest;
		p->pol_port = sh->dest;
		return 0;
	}
	case IPPROTO_ICMP: {
		struct idg_icmp_hdr *ih;
		int req;

		/* ICMP in IPv6 (and ICMPv6 in IPv4) is no ICMP of the
		 * packet's family: a protocol without ports, whatever its
		 * bytes say (else IPv4 could carry "neighbour discovery"
		 * past every policy). */
		if (p->family != IDG_FAM_IPV4)
			return 0;
		if (!IDG_FITS(w, l4, sizeof(*ih)) || sizeof(*ih) > avail)
			return IDG_DROP_TRUNC_ICMP;
		ih = IDG_PTR(w, l4);
		p->pol_port = bpf_htons((__u16)ih->type << 8 | ih->code);
		p->icmp_kind = idg_icmp_query(IDG_FAM_IPV4, ih->type, &req);
		if (p->icmp_kind) {
			p->sport = ih->id;
			p->dport = ih->id;
			if (req)
				p->flags |= IDG_PKT_F_ICMP_REQ;
		} else if (idg_icmp_is_error(IDG_FAM_IPV4, ih->type)) {
			IDG_PARSE_FN(idg_parse_quoted)(w, l4 + sizeof(*ih),
						       avail - sizeof(*ih), p);
		}
		return 0;
	}
	case IPPROTO_ICMPV6: {
		struct icmp6hdr *ih;
		int req;

		if (p->family != IDG_FAM_IPV6)
			return 0;
		if (!IDG_FITS(w, l4, sizeof(*ih)) || sizeof(*ih) > avail)
			return IDG_DROP_TRUNC_ICMPV6;
		ih = IDG_PTR(w, l4);
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
			IDG_PARSE_FN(idg_parse_quoted)(w, l4 + sizeof(*ih),
						       avail - sizeof(*ih), p);
		}
		return 0;
	}
	default:
		return 0;
	}
}

static __always_inline int IDG_PARSE_FN(idg_parse_ipv4)(IDG_WIN_T w,
							IDG_POS_T l3,
							__u32 l3_len,
							struct idg_pkt *p)
{
	struct iphdr *ip;
	__u32 hlen, tot;
	__u16 frag;

	if (!IDG_FITS(w, l3, sizeof(*ip)))
		return IDG_DROP_TRUNC_IPV4;
	ip = IDG_PTR(w, l3);
	if (ip->version != 4 || ip->ihl < 5)
		return IDG_DROP_BAD_IPV4_HDR;
	hlen = ip->ihl * 4;
	if (!IDG_FITS(w, l3, hlen))
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
	return IDG_PARSE_FN(idg_parse_l4)(w, l3 + hlen, tot - hlen, p);
}

static __always_inline int IDG_PARSE_FN(idg_parse_ipv6)(IDG_WIN_T w,
							IDG_POS_T l3,
							__u32 l3_len,
							struct idg_pkt *p)
{
	IDG_POS_T cur = l3 + sizeof(struct ipv6hdr);
	__u32 plen, used = 0;
	struct ipv6hdr *ip6;
	__u8 nh;
	int i;

	if (!IDG_FITS(w, l3, sizeof(*ip6)))
		return IDG_DROP_TRUNC_IPV6;
	ip6 = IDG_PTR(w, l3);
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
		__u8 *ext;
		__u32 len;

		if (!idg_is_v6_ext(nh))
			break;
		/* Within the frame and within the payload length. */
		if (!IDG_FITS(w, cur, 8) || used + 8 > plen)
			return IDG_DROP_TRUNC_IPV6_EXT;
		ext = IDG_PTR(w, cur);
		if (nh == IPPROTO_FRAGMENT) {
			__u16 off = bpf_ntohs(*(__be16 *)(ext + 2));

			p->flags |= IDG_PKT_F_FRAG;
			__builtin_memcpy(&p->frag_id, ext + 4, 4);
			if (off & 0xfff8) {
				p->flags |= IDG_PKT_F_LATER;
				p->proto = ext[0];
				if ((__u32)(off & 0xfff8) <
				    idg_l4_min_len(p->proto))
					return IDG_DROP_BAD_FRAGMENT;
				return 0;
			}
			len = 8;
		} else if (nh == IPPROTO_AH) {
			len = ((__u32)ext[1] + 2) * 4;
		} else {
			len = ((__u32)ext[1] + 1) * 8;
		}
		nh = ext[0];
		cur += len;
		used += len;
	}
	/* The header chain itself must fit: a chain pointing past the end
	 * hides the real protocol. Checked before the limit: the last
	 * header walked comes before the one the walk cannot reach. */
	if (!IDG_FITS(w, cur, 0) || used > plen)
		return IDG_DROP_TRUNC_IPV6_EXT;
	if (idg_is_v6_ext(nh))
		return IDG_DROP_IPV6_EXT_LIMIT;
	p->proto = nh;
	return IDG_PARSE_FN(idg_parse_l4)(w, cur, plen - used, p);
}

/* idg_parse() from start, the frame's first byte. */
static __always_inline int IDG_PARSE_FN(idg_parse_from)(IDG_WIN_T w,
							IDG_POS_T start,
							__u32 pkt_len,
							struct idg_pkt *p)
{
	IDG_POS_T cur = start;
	struct ethhdr *eth;
	__be16 proto;
	int i;

	if (!IDG_FITS(w, cur, sizeof(*eth)))
		return IDG_DROP_TRUNC_ETH;
	eth = IDG_PTR(w, cur);
	proto = eth->h_proto;
	cur += sizeof(*eth);

#pragma unroll
	for (i = 0; i < IDG_VLAN_MAX; i++) {
		struct idg_vlan_hdr *vh;

		if (proto != bpf_htons(ETH_P_8021Q) &&
		    proto != bpf_htons(ETH_P_8021AD))
			break;
		if (!IDG_FITS(w, cur, sizeof(*vh)))
			return IDG_DROP_TRUNC_VLAN;
		vh = IDG_PTR(w, cur);
		proto = vh->proto;
		cur += sizeof(*vh);
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return IDG_DROP_VLAN_DEPTH;

	if (proto == bpf_htons(ETH_P_ARP))
		return IDG_PASS_ARP;
	if (proto == bpf_htons(ETH_P_IP))
		return IDG_PARSE_FN(idg_parse_ipv4)(w, cur,
						    pkt_len - (__u32)(cur - start),
						    p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return IDG_PARSE_FN(idg_parse_ipv6)(w, cur,
						    pkt_len - (__u32)(cur - start),
						    p);
	return IDG_PASS_NON_IP;
}

