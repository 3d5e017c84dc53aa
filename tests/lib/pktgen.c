// SPDX-License-Identifier: GPL-2.0
/*
 * Test frame builder for the idgate datapath tests.
 *
 * Headers are filled in as local UAPI structs and memcpy()d into the frame:
 * after a 14-byte Ethernet header the IP fields are misaligned, and UBSan
 * would (rightly) object to accessing them through struct pointers.
 */
#include "pktgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>

/* not provided by the UAPI headers this file limits itself to */
#define IPV4_DF		0x4000
#define IPV4_MF		0x2000
#define IPV4_OFFSET	0x1fff
#define IPV4_OPT_EOL	0
#define IPV4_OPT_NOP	1
#define IPV6_OPT_PADN	1
#define IPV6_FRAG_HLEN	8
#define IPV6_FRAG_MF	0x0001
#define ICMP6_ND_RS	133
#define ICMP6_ND_RA	134
#define ICMP6_ND_NS	135
#define ICMP6_ND_NA	136
#define ICMP6_ND_REDIR	137
#define ND_NA_OVERRIDE	0x20
#define ARP_HTYPE_ETHER	1
#define ARP_OP_REQUEST	1
#define ARP_LEN		28
#define SCTP_COMMON_LEN	12
#define SCTP_CHUNK_LEN	4
#define SCTP_CSUM_OFF	8
#define SCTP_CHUNK_INIT	1
#define ECHO_HDR_LEN	8
/* header walks are bounded like the BPF parsers'; tests never nest deeper */
#define MAX_VLAN_WALK	8
#define MAX_EXT_WALK	16

const uint8_t pkt_dst_mac[PKT_ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };
const uint8_t pkt_src_mac[PKT_ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };

static void put_be16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)(v & 0xff);
}

static void put_be32(uint8_t *b, uint32_t v)
{
	put_be16(b, (uint16_t)(v >> 16));
	put_be16(b + 2, v & 0xffff);
}

static uint16_t get_be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void put_le32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v & 0xff);
	b[1] = (uint8_t)((v >> 8) & 0xff);
	b[2] = (uint8_t)((v >> 16) & 0xff);
	b[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

/* A typo in a test's address is a test bug, not a case to handle. */
static void parse_addr(int family, const char *txt, void *dst)
{
	if (!txt || inet_pton(family, txt, dst) != 1) {
		fprintf(stderr, "pktgen: bad %s address '%s'\n",
			family == AF_INET ? "IPv4" : "IPv6",
			txt ? txt : "(null)");
		abort();
	}
}

uint32_t pkt_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *b = buf;
	uint64_t acc = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		acc += (uint32_t)b[len - 1] << 8;
	/* end-around carry keeps the one's complement sum exact in 32 bits */
	while (acc >> 32)
		acc = (acc & 0xffffffff) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t crc32c_update(uint32_t crc, const uint8_t *b, size_t len)
{
	size_t i;
	int k;

	/* bitwise: speed is irrelevant for test frames, a table is not */
	for (i = 0; i < len; i++) {
		crc ^= b[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return crc;
}

uint32_t pkt_crc32c(const void *buf, size_t len)
{
	return ~crc32c_update(0xffffffffu, buf, len);
}

/* SCTP computes the CRC with its own checksum field taken as zero. */
static uint32_t sctp_crc(const uint8_t *l4, size_t len)
{
	static const uint8_t zero[4];
	uint32_t crc = 0xffffffffu;

	crc = crc32c_update(crc, l4, SCTP_CSUM_OFF);
	crc = crc32c_update(crc, zero, sizeof(zero));
	crc = crc32c_update(crc, l4 + SCTP_CSUM_OFF + 4,
			    len - SCTP_CSUM_OFF - 4);
	return ~crc;
}

static uint32_t pseudo_sum(int family, const uint8_t *l3, uint8_t proto,
			   size_t l4_len)
{
	uint8_t tail[8] = { 0 };
	uint32_t sum;

	if (family == AF_INET) {
		sum = pkt_csum_partial(l3 + offsetof(struct iphdr, saddr), 8, 0);
		tail[1] = proto;
		put_be16(tail + 2, (uint16_t)l4_len);
		return pkt_csum_partial(tail, 4, sum);
	}
	/*
	 * The final destination belongs here; the routing headers built by
	 * this library have no segments left, so that is the IPv6 daddr.
	 */
	sum = pkt_csum_partial(l3 + offsetof(struct ipv6hdr, saddr), 32, 0);
	put_be32(tail, (uint32_t)l4_len);
	tail[7] = proto;
	return pkt_csum_partial(tail, 8, sum);
}

static void fix_ipv4_hdr(uint8_t *ip)
{
	size_t hlen = (ip[0] & 0x0f) * 4;
	uint8_t *check = ip + offsetof(struct iphdr, check);

	put_be16(check, 0);
	put_be16(check, pkt_csum_fold(pkt_csum_partial(ip, hlen, 0)));
}

/* checksum-relevant view of a frame, found by walking its headers */
enum l4_state {
	L4_NONE,	/* nothing to checksum above IP */
	L4_OK,		/* known L4 header that fits the datagram */
	L4_BAD,		/* lengths are inconsistent with the frame */
};

struct parsed {
	int family;		/* 0 when the frame is not IPv4/IPv6 */
	size_t l3_off;		/* first byte after the ethertype */
	int l3_ok;		/* the IP header itself lies inside the frame */
	uint8_t proto;		/* protocol after all extension headers */
	size_t upper_off;	/* first byte after IP + extension headers */
	size_t l4_len;		/* bytes from upper_off to end of datagram */
	enum l4_state l4;
};

static int l4_known(int family, uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		return 1;
	case IPPROTO_ICMP:
		return family == AF_INET;
	case IPPROTO_ICMPV6:
		return family == AF_INET6;
	}
	return 0;
}

/* least bytes needed to reach the checksum field and cover it */
static size_t l4_min_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_SCTP:
		return SCTP_COMMON_LEN;
	}
	return 4;
}

/* header length as the builders lay it out */
static size_t l4_build_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_SCTP:
		return SCTP_COMMON_LEN + SCTP_CHUNK_LEN;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return ECHO_HDR_LEN;
	}
	return 0;
}

static void set_l4_state(struct parsed *ps, int nonfirst_frag)
{
	if (nonfirst_frag || !l4_known(ps->family, ps->proto))
		ps->l4 = L4_NONE;
	else if (ps->l4_len < l4_min_len(ps->proto))
		ps->l4 = L4_BAD;
	else
		ps->l4 = L4_OK;
}

static void parse_ipv4(const uint8_t *d, size_t len, struct parsed *ps)
{
	const uint8_t *ip = d + ps->l3_off;
	size_t hlen, tot;

	if (ps->l3_off + sizeof(struct iphdr) > len)
		return;
	hlen = (ip[0] & 0x0f) * 4;
	if (hlen < sizeof(struct iphdr) || ps->l3_off + hlen > len)
		return;
	ps->l3_ok = 1;
	ps->proto = ip[offsetof(struct iphdr, protocol)];
	ps->upper_off = ps->l3_off + hlen;
	tot = get_be16(ip + offsetof(struct iphdr, tot_len));
	if (tot < hlen || ps->l3_off + tot > len)
		return;
	ps->l4_len = tot - hlen;
	set_l4_state(ps, get_be16(ip + offsetof(struct iphdr, frag_off)) &
			 IPV4_OFFSET);
}

static void parse_ipv6(const uint8_t *d, size_t len, struct parsed *ps)
{
	const uint8_t *ip6 = d + ps->l3_off;
	size_t cur, end, hlen;
	int nonfirst = 0, i;
	uint8_t nh;

	if (ps->l3_off + sizeof(struct ipv6hdr) > len)
		return;
	ps->l3_ok = 1;
	cur = ps->l3_off + sizeof(struct ipv6hdr);
	end = cur + get_be16(ip6 + offsetof(struct ipv6hdr, payload_len));
	if (end > len)
		return;
	nh = ip6[offsetof(struct ipv6hdr, nexthdr)];
	for (i = 0; i < MAX_EXT_WALK; i++) {
		if (cur + 8 > end)
			break;
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			hlen = ((size_t)d[cur + 1] + 1) * 8;
			break;
		case IPPROTO_FRAGMENT:
			hlen = IPV6_FRAG_HLEN;
			if (get_be16(d + cur + 2) >> 3)
				nonfirst = 1;
			break;
		case IPPROTO_AH:
			hlen = ((size_t)d[cur + 1] + 2) * 4;
			break;
		default:
			goto upper;
		}
		if (cur + hlen > end)
			return;
		nh = d[cur];
		cur += hlen;
		/* past a non-first fragment header lies opaque payload */
		if (nonfirst)
			goto upper;
	}
	/* an extension header that is still pending did not fit */
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_FRAGMENT:
	case IPPROTO_AH:
		return;
	}
upper:
	ps->proto = nh;
	ps->upper_off = cur;
	ps->l4_len = end - cur;
	set_l4_state(ps, nonfirst);
}

static void parse(const struct pkt *p, struct parsed *ps)
{
	const uint8_t *d = p->data;
	size_t len = p->len, off = 2 * PKT_ETH_ALEN;
	uint16_t type;
	int tags;

	memset(ps, 0, sizeof(*ps));
	if (len > PKT_MAX || len < ETH_HLEN)
		return;
	type = get_be16(d + off);
	for (tags = 0; tags < MAX_VLAN_WALK; tags++) {
		if (type != ETH_P_8021Q && type != ETH_P_8021AD)
			break;
		off += 4;
		if (off + 2 > len)
			return;
		type = get_be16(d + off);
	}
	off += 2;
	ps->l3_off = off;
	/* assume broken until the walk below proves otherwise */
	ps->l4 = L4_BAD;
	if (type == ETH_P_IP) {
		ps->family = AF_INET;
		parse_ipv4(d, len, ps);
	} else if (type == ETH_P_IPV6) {
		ps->family = AF_INET6;
		parse_ipv6(d, len, ps);
	} else {
		ps->l4 = L4_NONE;
	}
}

/* UDP's own length decides coverage; fall back when a test mangled it */
static size_t udp_cover(const uint8_t *l4, size_t l4_len)
{
	size_t ulen = get_be16(l4 + offsetof(struct udphdr, len));

	if (ulen < sizeof(struct udphdr) || ulen > l4_len)
		return l4_len;
	return ulen;
}

static size_t inet_csum_off(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return offsetof(struct tcphdr, check);
	case IPPROTO_UDP:
		return offsetof(struct udphdr, check);
	case IPPROTO_ICMP:
		return offsetof(struct icmphdr, checksum);
	}
	return offsetof(struct icmp6hdr, icmp6_cksum);
}

/* folded sum over pseudo header + segment, including the stored checksum */
static uint16_t inet_l4_fold(const uint8_t *d, const struct parsed *ps,
			     size_t cover)
{
	uint32_t sum = 0;

	if (ps->proto != IPPROTO_ICMP)
		sum = pseudo_sum(ps->family, d + ps->l3_off, ps->proto, cover);
	return pkt_csum_fold(pkt_csum_partial(d + ps->upper_off, cover, sum));
}

static void fix_l4(struct pkt *p, const struct parsed *ps)
{
	uint8_t *l4 = p->data + ps->upper_off;
	size_t cover = ps->l4_len, off;
	uint16_t csum;

	if (ps->proto == IPPROTO_SCTP) {
		put_le32(l4 + SCTP_CSUM_OFF, sctp_crc(l4, ps->l4_len));
		return;
	}
	if (ps->proto == IPPROTO_UDP)
		cover = udp_cover(l4, ps->l4_len);
	off = inet_csum_off(ps->proto);
	put_be16(l4 + off, 0);
	csum = inet_l4_fold(p->data, ps, cover);
	/* zero on the wire would mean "no checksum" for UDP */
	if (ps->proto == IPPROTO_UDP && csum == 0)
		csum = 0xffff;
	put_be16(l4 + off, csum);
}

void pkt_fix_csums(struct pkt *p)
{
	struct parsed ps;

	if (!p)
		return;
	parse(p, &ps);
	if (ps.family == AF_INET && ps.l3_ok)
		fix_ipv4_hdr(p->data + ps.l3_off);
	if (ps.l4 == L4_OK)
		fix_l4(p, &ps);
}

int pkt_verify_csums(const struct pkt *p)
{
	const uint8_t *l3, *l4;
	struct parsed ps;
	size_t cover;

	if (!p || p->len > PKT_MAX)
		return -EINVAL;
	parse(p, &ps);
	if (!ps.family)
		return 0;
	if (!ps.l3_ok)
		return -EBADMSG;
	l3 = p->data + ps.l3_off;
	if (ps.family == AF_INET &&
	    pkt_csum_fold(pkt_csum_partial(l3, (l3[0] & 0x0f) * 4, 0)))
		return -EBADMSG;
	if (ps.l4 == L4_NONE)
		return 0;
	if (ps.l4 == L4_BAD)
		return -EBADMSG;

	l4 = p->data + ps.upper_off;
	cover = ps.l4_len;
	switch (ps.proto) {
	case IPPROTO_SCTP:
		if (get_le32(l4 + SCTP_CSUM_OFF) != sctp_crc(l4, ps.l4_len))
			return -EBADMSG;
		return 0;
	case IPPROTO_UDP:
		if (!get_be16(l4 + offsetof(struct udphdr, check)))
			return ps.family == AF_INET ? 0 : -EBADMSG;
		cover = udp_cover(l4, ps.l4_len);
		break;
	}
	return inet_l4_fold(p->data, &ps, cover) ? -EBADMSG : 0;
}

int pkt_load(struct pkt *p, const void *buf, size_t len)
{
	struct parsed ps;
	size_t hlen;

	if (!p || (!buf && len))
		return -EINVAL;
	if (len > PKT_MAX)
		return -E2BIG;
	memset(p, 0, sizeof(*p));
	if (len)
		memcpy(p->data, buf, len);
	p->len = len;
	parse(p, &ps);
	/* also for ARP, matching what pkt_build_arp reports */
	p->l3_off = ps.l3_off;
	if (!ps.family)
		return 0;
	if (ps.l4 == L4_NONE) {
		p->payload_off = ps.upper_off;
	} else if (ps.l4 == L4_OK) {
		p->l4_off = ps.upper_off;
		hlen = l4_build_len(ps.proto);
		if (ps.proto == IPPROTO_TCP)
			hlen = (p->data[ps.upper_off + 12] >> 4) * 4;
		p->payload_off = ps.upper_off + hlen;
		if (p->payload_off > len)
			p->payload_off = len;
	}
	return 0;
}

static size_t put_eth(uint8_t *b, int nvlan, const uint16_t *vlan_id,
		      uint16_t proto)
{
	size_t off = 2 * PKT_ETH_ALEN;
	int i;

	memcpy(b, pkt_dst_mac, PKT_ETH_ALEN);
	memcpy(b + PKT_ETH_ALEN, pkt_src_mac, PKT_ETH_ALEN);
	for (i = 0; i < nvlan; i++) {
		/* 802.1ad: the service tag goes outside the customer tag */
		put_be16(b + off, nvlan == 2 && i == 0 ? ETH_P_8021AD :
							  ETH_P_8021Q);
		put_be16(b + off + 2, vlan_id[i]);
		off += 4;
	}
	put_be16(b + off, proto);
	return off + 2;
}

static void put_ipv4(uint8_t *b, const struct pkt_spec *s,
		     const struct in_addr *src, const struct in_addr *dst,
		     size_t hlen, size_t tot_len)
{
	struct iphdr ip = { 0 };
	uint16_t frag = IPV4_DF;

	ip.version = 4;
	ip.ihl = (hlen / 4) & 0x0f;
	ip.tot_len = htons((uint16_t)tot_len);
	ip.id = htons(s->frag_id & 0xffff);
	if (s->frag)
		frag = s->frag_offset | (s->more_frags ? IPV4_MF : 0);
	ip.frag_off = htons(frag);
	ip.ttl = PKT_TTL;
	ip.protocol = s->proto;
	memcpy(&ip.saddr, src, sizeof(*src));
	memcpy(&ip.daddr, dst, sizeof(*dst));
	memcpy(b, &ip, sizeof(ip));
	if (hlen > sizeof(ip)) {
		b[20] = IPV4_OPT_NOP;
		b[21] = IPV4_OPT_NOP;
		b[22] = IPV4_OPT_NOP;
		b[23] = IPV4_OPT_EOL;
	}
	fix_ipv4_hdr(b);
}

static void put_ipv6(uint8_t *b, const struct in6_addr *src,
		     const struct in6_addr *dst, uint8_t nexthdr,
		     size_t payload_len, uint8_t hop_limit)
{
	struct ipv6hdr ip6 = { 0 };

	ip6.version = 6;
	ip6.payload_len = htons((uint16_t)payload_len);
	ip6.nexthdr = nexthdr;
	ip6.hop_limit = hop_limit;
	ip6.saddr = *src;
	ip6.daddr = *dst;
	memcpy(b, &ip6, sizeof(ip6));
}

static void put_ext(uint8_t *b, uint8_t type, uint8_t next,
		    const struct pkt_spec *s)
{
	memset(b, 0, 8);
	b[0] = next;
	switch (type) {
	case IPPROTO_FRAGMENT:
		put_be16(b + 2, (uint16_t)(s->frag_offset << 3) |
				(s->more_frags ? IPV6_FRAG_MF : 0));
		put_be32(b + 4, s->frag_id);
		break;
	case IPPROTO_ROUTING:
		/* type 0 with no segments left: parsed, then ignored */
		break;
	default:
		/* the 6 option bytes must hold a valid option: one PadN */
		b[2] = IPV6_OPT_PADN;
		b[3] = 4;
		break;
	}
}

static void put_l4(uint8_t *b, const struct pkt_spec *s)
{
	switch (s->proto) {
	case IPPROTO_TCP: {
		struct tcphdr th = { 0 };
		uint8_t flags = s->tcp_flags ? s->tcp_flags : PKT_TCP_SYN;

		th.source = htons(s->sport);
		th.dest = htons(s->dport);
		th.seq = htonl(PKT_TCP_SEQ);
		if (flags & PKT_TCP_ACK)
			th.ack_seq = htonl(PKT_TCP_ACK_SEQ);
		th.doff = sizeof(th) / 4;
		th.window = htons(65535);
		memcpy(b, &th, sizeof(th));
		/* tcp_flags is defined as byte 13, so copy it as a whole */
		b[13] = flags;
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr uh = { 0 };

		uh.source = htons(s->sport);
		uh.dest = htons(s->dport);
		uh.len = htons((uint16_t)(sizeof(uh) + s->payload_len));
		memcpy(b, &uh, sizeof(uh));
		break;
	}
	case IPPROTO_SCTP:
		put_be16(b, s->sport);
		put_be16(b + 2, s->dport);
		b[SCTP_COMMON_LEN] = SCTP_CHUNK_INIT;
		put_be16(b + SCTP_COMMON_LEN + 2,
			 (uint16_t)(SCTP_CHUNK_LEN + s->payload_len));
		break;
	case IPPROTO_ICMP: {
		struct icmphdr ic = { 0 };

		ic.type = s->icmp_type;
		ic.code = s->icmp_code;
		if (ic.type == ICMP_ECHO || ic.type == ICMP_ECHOREPLY) {
			ic.un.echo.id = htons(s->icmp_id);
			ic.un.echo.sequence = htons(PKT_ICMP_SEQ);
		}
		memcpy(b, &ic, sizeof(ic));
		break;
	}
	case IPPROTO_ICMPV6: {
		struct icmp6hdr ic6 = { 0 };

		ic6.icmp6_type = s->icmp_type;
		ic6.icmp6_code = s->icmp_code;
		if (ic6.icmp6_type == ICMPV6_ECHO_REQUEST ||
		    ic6.icmp6_type == ICMPV6_ECHO_REPLY) {
			ic6.icmp6_identifier = htons(s->icmp_id);
			ic6.icmp6_sequence = htons(PKT_ICMP_SEQ);
		}
		memcpy(b, &ic6, sizeof(ic6));
		break;
	}
	}
}

static int spec_valid(const struct pkt_spec *s)
{
	int i;

	if (s->family != AF_INET && s->family != AF_INET6)
		return 0;
	if (s->nvlan < 0 || s->nvlan > 2)
		return 0;
	if (s->n_ext < 0 || s->n_ext > (int)sizeof(s->ext))
		return 0;
	if (s->frag && s->frag_offset > IPV4_OFFSET)
		return 0;
	if (s->family == AF_INET && (s->n_ext || s->proto == IPPROTO_ICMPV6))
		return 0;
	if (s->family == AF_INET6 && (s->ipv4_options ||
				      s->proto == IPPROTO_ICMP))
		return 0;
	for (i = 0; i < s->n_ext; i++) {
		if (s->ext[i] != IPPROTO_HOPOPTS &&
		    s->ext[i] != IPPROTO_ROUTING &&
		    s->ext[i] != IPPROTO_DSTOPTS)
			return 0;
	}
	return 1;
}

/* checksum a frame whose layout the caller just wrote */
static void csum_built(struct pkt *p, int family, uint8_t proto)
{
	struct parsed ps = {
		.family = family,
		.l3_off = p->l3_off,
		.l3_ok = 1,
		.proto = proto,
		.upper_off = p->l4_off,
		.l4_len = p->len - p->l4_off,
		.l4 = L4_OK,
	};

	fix_l4(p, &ps);
}

int pkt_build(const struct pkt_spec *s, struct pkt *out)
{
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} src, dst;
	uint8_t chain[sizeof(s->ext) + 2];
	size_t l3_len, l4_len, total, off;
	int nchain = 0, i, has_l4;
	size_t j;

	if (!s || !out || !spec_valid(s))
		return -EINVAL;
	parse_addr(s->family, s->src, &src);
	parse_addr(s->family, s->dst, &dst);

	if (s->family == AF_INET) {
		l3_len = sizeof(struct iphdr) + (s->ipv4_options ? 4 : 0);
	} else {
		for (i = 0; i < s->n_ext; i++)
			chain[nchain++] = s->ext[i];
		if (s->frag)
			chain[nchain++] = IPPROTO_FRAGMENT;
		chain[nchain++] = s->proto;
		l3_len = sizeof(struct ipv6hdr) + 8 * (size_t)(nchain - 1);
	}
	/* a non-first fragment carries only the middle of the datagram */
	has_l4 = l4_known(s->family, s->proto) &&
		 !(s->frag && s->frag_offset);
	l4_len = has_l4 ? l4_build_len(s->proto) : 0;
	if (s->payload_len > PKT_MAX)
		return -E2BIG;
	total = ETH_HLEN + 4 * (size_t)s->nvlan + l3_len + l4_len +
		s->payload_len;
	if (total > PKT_MAX)
		return -E2BIG;

	memset(out, 0, sizeof(*out));
	out->len = total;
	off = put_eth(out->data, s->nvlan, s->vlan_id,
		      s->family == AF_INET ? ETH_P_IP : ETH_P_IPV6);
	out->l3_off = off;
	if (s->family == AF_INET) {
		put_ipv4(out->data + off, s, &src.v4, &dst.v4, l3_len,
			 total - off);
		off += l3_len;
	} else {
		put_ipv6(out->data + off, &src.v6, &dst.v6, chain[0],
			 total - off - sizeof(struct ipv6hdr), PKT_TTL);
		off += sizeof(struct ipv6hdr);
		for (i = 0; i + 1 < nchain; i++) {
			put_ext(out->data + off, chain[i], chain[i + 1], s);
			off += 8;
		}
	}
	if (has_l4) {
		out->l4_off = off;
		put_l4(out->data + off, s);
		off += l4_len;
	}
	out->payload_off = off;
	for (j = 0; j < s->payload_len; j++)
		out->data[off + j] = pkt_payload_byte(j);
	if (has_l4)
		csum_built(out, s->family, s->proto);
	return 0;
}

int pkt_build_arp(struct pkt *out, const char *sender_ip,
		  const char *target_ip, int nvlan, const uint16_t *vlan_id)
{
	struct in_addr spa, tpa;
	uint8_t *arp;
	size_t off;

	if (!out || nvlan < 0 || nvlan > 2 || (nvlan && !vlan_id))
		return -EINVAL;
	parse_addr(AF_INET, sender_ip, &spa);
	parse_addr(AF_INET, target_ip, &tpa);

	memset(out, 0, sizeof(*out));
	off = put_eth(out->data, nvlan, vlan_id, ETH_P_ARP);
	out->l3_off = off;
	arp = out->data + off;
	put_be16(arp, ARP_HTYPE_ETHER);
	put_be16(arp + 2, ETH_P_IP);
	arp[4] = PKT_ETH_ALEN;
	arp[5] = sizeof(spa);
	put_be16(arp + 6, ARP_OP_REQUEST);
	memcpy(arp + 8, pkt_src_mac, PKT_ETH_ALEN);
	memcpy(arp + 14, &spa, sizeof(spa));
	/* target hardware address stays zero: that is what is being asked */
	memcpy(arp + 24, &tpa, sizeof(tpa));
	out->len = off + ARP_LEN;
	return 0;
}

int pkt_build_nd(struct pkt *out, uint8_t icmp6_type, const char *src,
		 const char *dst)
{
	struct in6_addr saddr, daddr;
	size_t off, icmp_len;
	uint8_t *icmp;

	if (!out)
		return -EINVAL;
	switch (icmp6_type) {
	case ICMP6_ND_RS:
		icmp_len = 8;
		break;
	case ICMP6_ND_RA:
		icmp_len = 16;
		break;
	case ICMP6_ND_NS:
	case ICMP6_ND_NA:
		icmp_len = 24;
		break;
	case ICMP6_ND_REDIR:
		icmp_len = 40;
		break;
	default:
		return -EINVAL;
	}
	parse_addr(AF_INET6, src, &saddr);
	parse_addr(AF_INET6, dst, &daddr);

	memset(out, 0, sizeof(*out));
	off = put_eth(out->data, 0, NULL, ETH_P_IPV6);
	out->l3_off = off;
	/* RFC 4861 receivers drop ND that did not arrive with hop limit 255 */
	put_ipv6(out->data + off, &saddr, &daddr, IPPROTO_ICMPV6, icmp_len,
		 PKT_ND_HOPLIMIT);
	off += sizeof(struct ipv6hdr);
	out->l4_off = off;
	out->payload_off = off + 8;
	out->len = off + icmp_len;

	icmp = out->data + off;
	icmp[0] = icmp6_type;
	switch (icmp6_type) {
	case ICMP6_ND_RA:
		icmp[4] = PKT_TTL;		/* cur hop limit */
		put_be16(icmp + 6, 1800);	/* router lifetime, seconds */
		break;
	case ICMP6_ND_NA:
		icmp[4] = ND_NA_OVERRIDE;
		/* fall through */
	case ICMP6_ND_NS:
		memcpy(icmp + 8, &daddr, sizeof(daddr));
		break;
	case ICMP6_ND_REDIR:
		memcpy(icmp + 8, &daddr, sizeof(daddr));
		memcpy(icmp + 24, &daddr, sizeof(daddr));
		break;
	}
	csum_built(out, AF_INET6, IPPROTO_ICMPV6);
	return 0;
}
