// SPDX-License-Identifier: GPL-2.0
/*
 * Unit test of the pktgen frame builder.
 *
 * Fields are checked at raw byte offsets and checksums against a naive
 * reference sum kept in this file, so that a bug shared by the builder and
 * pkt_verify_csums() cannot make the tests agree with themselves.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/wait.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "pktgen.h"

#define ETH_LEN		14
#define IP4_LEN		20
#define IP6_LEN		40
#define PAYLOAD		33	/* odd, so the trailing-byte path is exercised */

static uint16_t be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/* deliberately the most literal RFC 1071 sum, nothing shared with pktgen */
static uint16_t ref_csum(const uint8_t *b, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < len; i += 2)
		sum += (uint32_t)b[i] << 8 | (i + 1 < len ? b[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* pseudo header + segment laid out contiguously, then summed */
static int ref_l4_ok(const struct pkt *p, int family, uint8_t proto,
		     size_t l4_len)
{
	uint8_t buf[PKT_MAX + 40];
	const uint8_t *l3 = p->data + p->l3_off;
	size_t n = 0;

	if (proto == IPPROTO_SCTP) {
		uint8_t seg[PKT_MAX];
		uint32_t crc;

		memcpy(seg, p->data + p->l4_off, l4_len);
		memset(seg + 8, 0, 4);
		crc = pkt_crc32c(seg, l4_len);
		/* SCTP stores the CRC least significant byte first */
		return p->data[p->l4_off + 8] == (crc & 0xff) &&
		       p->data[p->l4_off + 9] == ((crc >> 8) & 0xff) &&
		       p->data[p->l4_off + 10] == ((crc >> 16) & 0xff) &&
		       p->data[p->l4_off + 11] == crc >> 24;
	}
	if (family == AF_INET && proto != IPPROTO_ICMP) {
		memcpy(buf, l3 + 12, 8);
		buf[8] = 0;
		buf[9] = proto;
		buf[10] = l4_len >> 8;
		buf[11] = l4_len & 0xff;
		n = 12;
	} else if (family == AF_INET6) {
		memcpy(buf, l3 + 8, 32);
		buf[32] = 0;
		buf[33] = 0;
		buf[34] = l4_len >> 8;
		buf[35] = l4_len & 0xff;
		buf[36] = 0;
		buf[37] = 0;
		buf[38] = 0;
		buf[39] = proto;
		n = 40;
	}
	memcpy(buf + n, p->data + p->l4_off, l4_len);
	return ref_csum(buf, n + l4_len) == 0;
}

static struct pkt_spec spec_for(int family, uint8_t proto)
{
	struct pkt_spec s = {
		.family = family,
		.src = family == AF_INET ? "192.0.2.1" : "2001:db8::1",
		.dst = family == AF_INET ? "198.51.100.2" : "2001:db8:0:1::2",
		.proto = proto,
		.sport = 40000,
		.dport = 443,
		.payload_len = PAYLOAD,
	};

	if (proto == IPPROTO_ICMP)
		s.icmp_type = 8;	/* echo request */
	if (proto == IPPROTO_ICMPV6)
		s.icmp_type = 128;	/* echo request */
	s.icmp_id = 0x4242;
	return s;
}

static void check_macs(const struct pkt *p)
{
	static const uint8_t dst[6] = { 2, 0, 0, 0, 0, 2 };
	static const uint8_t src[6] = { 2, 0, 0, 0, 0, 1 };

	assert_memory_equal(p->data, dst, 6);
	assert_memory_equal(p->data + 6, src, 6);
}

static void check_addrs(const struct pkt *p, const struct pkt_spec *s)
{
	uint8_t a[16];
	size_t alen = s->family == AF_INET ? 4 : 16;
	size_t soff = s->family == AF_INET ? 12 : 8;

	assert_int_equal(inet_pton(s->family, s->src, a), 1);
	assert_memory_equal(p->data + p->l3_off + soff, a, alen);
	assert_int_equal(inet_pton(s->family, s->dst, a), 1);
	assert_memory_equal(p->data + p->l3_off + soff + alen, a, alen);
}

static void check_payload(const struct pkt *p, size_t n)
{
	size_t i;

	assert_int_equal(p->payload_off + n, p->len);
	for (i = 0; i < n; i++)
		assert_int_equal(p->data[p->payload_off + i], (uint8_t)i);
}

/* flip one bit, expect failure; fix, expect success again */
static void check_corruption(struct pkt *p, size_t off)
{
	assert_int_equal(pkt_verify_csums(p), 0);
	p->data[off] ^= 0x10;
	assert_int_equal(pkt_verify_csums(p), -EBADMSG);
	pkt_fix_csums(p);
	assert_int_equal(pkt_verify_csums(p), 0);
}

static size_t l4_hdr_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
		return 8;
	case IPPROTO_SCTP:
		return 16;
	}
	return 8;
}

static void check_l4_kind(int family, uint8_t proto)
{
	struct pkt_spec s = spec_for(family, proto);
	size_t l3_len = family == AF_INET ? IP4_LEN : IP6_LEN;
	size_t hl = l4_hdr_len(proto);
	const uint8_t *l3, *l4;
	struct pkt p;

	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(p.len, ETH_LEN + l3_len + hl + PAYLOAD);
	assert_int_equal(p.l3_off, ETH_LEN);
	assert_int_equal(p.l4_off, ETH_LEN + l3_len);
	assert_int_equal(p.payload_off, ETH_LEN + l3_len + hl);
	check_macs(&p);
	check_addrs(&p, &s);
	check_payload(&p, PAYLOAD);
	l3 = p.data + p.l3_off;
	l4 = p.data + p.l4_off;

	if (family == AF_INET) {
		assert_int_equal(be16(p.data + 12), 0x0800);
		assert_int_equal(l3[0], 0x45);
		assert_int_equal(be16(l3 + 2), l3_len + hl + PAYLOAD);
		assert_int_equal(be16(l3 + 6), 0x4000);	/* DF */
		assert_int_equal(l3[8], 64);
		assert_int_equal(l3[9], proto);
		assert_int_equal(ref_csum(l3, IP4_LEN), 0);
	} else {
		assert_int_equal(be16(p.data + 12), 0x86dd);
		assert_int_equal(l3[0] >> 4, 6);
		assert_int_equal(be16(l3 + 4), hl + PAYLOAD);
		assert_int_equal(l3[6], proto);
		assert_int_equal(l3[7], 64);
	}

	switch (proto) {
	case IPPROTO_TCP:
		assert_int_equal(be16(l4), 40000);
		assert_int_equal(be16(l4 + 2), 443);
		assert_int_equal(be32(l4 + 4), 1);	/* seq */
		assert_int_equal(be32(l4 + 8), 0);	/* no ACK, no ack seq */
		assert_int_equal(l4[12], 0x50);	/* data offset 5 */
		assert_int_equal(l4[13], 0x02);	/* tcp_flags 0 means SYN */
		assert_int_equal(be16(l4 + 14), 65535);
		break;
	case IPPROTO_UDP:
		assert_int_equal(be16(l4), 40000);
		assert_int_equal(be16(l4 + 2), 443);
		assert_int_equal(be16(l4 + 4), 8 + PAYLOAD);
		assert_int_not_equal(be16(l4 + 6), 0);
		break;
	case IPPROTO_SCTP:
		assert_int_equal(be16(l4), 40000);
		assert_int_equal(be16(l4 + 2), 443);
		assert_int_equal(be32(l4 + 4), 0);	/* INIT: vtag 0 */
		assert_int_equal(l4[12], 1);		/* INIT */
		assert_int_equal(l4[13], 0);
		assert_int_equal(be16(l4 + 14), 4 + PAYLOAD);
		break;
	default:
		assert_int_equal(l4[0], family == AF_INET ? 8 : 128);
		assert_int_equal(l4[1], 0);
		assert_int_equal(be16(l4 + 4), 0x4242);
		assert_int_equal(be16(l4 + 6), 1);
		break;
	}

	assert_true(ref_l4_ok(&p, family, proto, hl + PAYLOAD));
	check_corruption(&p, p.payload_off + 7);
	assert_true(ref_l4_ok(&p, family, proto, hl + PAYLOAD));
	/* a header byte, not just payload, is covered as well */
	check_corruption(&p, p.l4_off + 1);
	if (family == AF_INET) {
		check_corruption(&p, p.l3_off + 8);	/* TTL */
		assert_int_equal(ref_csum(l3, IP4_LEN), 0);
	} else if (proto != IPPROTO_SCTP) {
		/* the pseudo header makes the addresses count (not for SCTP) */
		check_corruption(&p, p.l3_off + 39);
	}
	assert_true(ref_l4_ok(&p, family, proto, hl + PAYLOAD));
}

static void test_v4_tcp(void **state)
{
	(void)state;
	check_l4_kind(AF_INET, IPPROTO_TCP);
}

static void test_v4_udp(void **state)
{
	(void)state;
	check_l4_kind(AF_INET, IPPROTO_UDP);
}

static void test_v4_sctp(void **state)
{
	(void)state;
	check_l4_kind(AF_INET, IPPROTO_SCTP);
}

static void test_v4_icmp(void **state)
{
	(void)state;
	check_l4_kind(AF_INET, IPPROTO_ICMP);
}

static void test_v6_tcp(void **state)
{
	(void)state;
	check_l4_kind(AF_INET6, IPPROTO_TCP);
}

static void test_v6_udp(void **state)
{
	(void)state;
	check_l4_kind(AF_INET6, IPPROTO_UDP);
}

static void test_v6_sctp(void **state)
{
	(void)state;
	check_l4_kind(AF_INET6, IPPROTO_SCTP);
}

static void test_v6_icmp6(void **state)
{
	(void)state;
	check_l4_kind(AF_INET6, IPPROTO_ICMPV6);
}

/* RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 */
static void test_csum_rfc1071(void **state)
{
	static const uint8_t b[] = {
		0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7
	};
	uint32_t sum;

	(void)state;
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(b, sizeof(b), 0)),
			 (uint16_t)~0xddf2);
	/* chained over two chunks, even-length first */
	sum = pkt_csum_partial(b, 4, 0);
	sum = pkt_csum_partial(b + 4, 4, sum);
	assert_int_equal(pkt_csum_fold(sum), 0x220d);
	/*
	 * 0xffffffff is one's complement "negative zero", so carrying it in
	 * must not change the result, only exercise the carry folding
	 */
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(b, sizeof(b),
							0xffffffffu)),
			 0x220d);
	/* odd length: the last byte is the high half of a zero-padded word */
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(b, 3, 0)),
			 (uint16_t)~(0x0001 + 0xf200));
}

/*
 * A commonly quoted IPv4 header:
 *   4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7
 * By hand, without the checksum word:
 *   4500+0073+0000+4000+4011+c0a8+0001+c0a8+00c7 = 0x2479c
 *   fold: 0x479c + 0x2 = 0x479e, complement = 0xb861
 */
static const uint8_t known_ip4[20] = {
	0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
};

static void test_csum_known_ipv4_header(void **state)
{
	uint8_t h[20];

	(void)state;
	memcpy(h, known_ip4, sizeof(h));
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(h, 20, 0)), 0);
	h[10] = 0;
	h[11] = 0;
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(h, 20, 0)), 0xb861);
	assert_int_equal(ref_csum(h, 20), 0xb861);
}

/* the same header must come out of the builder: tot_len 0x73 = 20+8+87 */
static void test_build_known_ipv4_header(void **state)
{
	struct pkt_spec s = {
		.family = AF_INET,
		.src = "192.168.0.1",
		.dst = "192.168.0.199",
		.proto = IPPROTO_UDP,
		.sport = 1,
		.dport = 2,
		.payload_len = 87,
	};
	struct pkt p;

	(void)state;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_memory_equal(p.data + p.l3_off, known_ip4, sizeof(known_ip4));
	assert_int_equal(pkt_verify_csums(&p), 0);
}

/*
 * UDP 10.0.0.1:1234 -> 10.0.0.2:80 with payload 00 01 (the pattern):
 *   pseudo: 0a00+0001+0a00+0002+0011+000a = 0x141e
 *   udp:    04d2+0050+000a+0000+0001      = 0x052d
 *   total 0x194b, complement 0xe6b4
 */
static void test_build_known_udp_csum(void **state)
{
	struct pkt_spec s = {
		.family = AF_INET,
		.src = "10.0.0.1",
		.dst = "10.0.0.2",
		.proto = IPPROTO_UDP,
		.sport = 1234,
		.dport = 80,
		.payload_len = 2,
	};
	struct pkt p;

	(void)state;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(be16(p.data + p.l4_off + 6), 0xe6b4);
}

/*
 * ICMP echo request, id 0x4242, seq 1, no payload:
 *   0800+0000+4242+0001 = 0x4a43, complement 0xb5bc
 */
static void test_build_known_icmp_csum(void **state)
{
	struct pkt_spec s = spec_for(AF_INET, IPPROTO_ICMP);
	struct pkt p;

	(void)state;
	s.payload_len = 0;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(be16(p.data + p.l4_off + 2), 0xb5bc);
}

/* RFC 3720 B.4 vectors (bytes as transmitted) and the usual check value */
static void test_crc32c_vectors(void **state)
{
	uint8_t b[32];
	int i;

	(void)state;
	assert_int_equal(pkt_crc32c("123456789", 9), 0xe3069283);
	memset(b, 0, sizeof(b));
	assert_int_equal(pkt_crc32c(b, 32), 0x8a9136aa);	/* aa 36 91 8a */
	memset(b, 0xff, sizeof(b));
	assert_int_equal(pkt_crc32c(b, 32), 0x62a8ab43);	/* 43 ab a8 62 */
	for (i = 0; i < 32; i++)
		b[i] = i;
	assert_int_equal(pkt_crc32c(b, 32), 0x46dd794e);	/* 4e 79 dd 46 */
}

static void test_tcp_flags(void **state)
{
	struct pkt_spec s = spec_for(AF_INET6, IPPROTO_TCP);
	struct pkt p;

	(void)state;
	s.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(p.data[p.l4_off + 13], 0x12);
	assert_int_equal(be32(p.data + p.l4_off + 8), 1);
	assert_int_equal(pkt_verify_csums(&p), 0);

	s.tcp_flags = PKT_TCP_RST;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(p.data[p.l4_off + 13], 0x04);
	assert_int_equal(be32(p.data + p.l4_off + 8), 0);
}

static void test_vlan(void **state)
{
	struct pkt_spec s = spec_for(AF_INET, IPPROTO_UDP);
	struct pkt p;

	(void)state;
	s.nvlan = 1;
	s.vlan_id[0] = 100;
	assert_int_equal(pkt_build(&s, &p), 0);
	check_macs(&p);
	assert_int_equal(be16(p.data + 12), 0x8100);
	assert_int_equal(be16(p.data + 14), 100);
	assert_int_equal(be16(p.data + 16), 0x0800);
	assert_int_equal(p.l3_off, 18);
	assert_int_equal(p.l4_off, 38);
	assert_int_equal(p.len, 18 + 20 + 8 + PAYLOAD);
	assert_true(ref_l4_ok(&p, AF_INET, IPPROTO_UDP, 8 + PAYLOAD));
	check_corruption(&p, p.payload_off);
}

static void test_qinq(void **state)
{
	struct pkt_spec s = spec_for(AF_INET6, IPPROTO_TCP);
	struct pkt p;

	(void)state;
	s.nvlan = 2;
	s.vlan_id[0] = 0xa00 | 10;	/* PCP 5 on the S-tag */
	s.vlan_id[1] = 20;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(be16(p.data + 12), 0x88a8);
	assert_int_equal(be16(p.data + 14), 0xa0a);
	assert_int_equal(be16(p.data + 16), 0x8100);
	assert_int_equal(be16(p.data + 18), 20);
	assert_int_equal(be16(p.data + 20), 0x86dd);
	assert_int_equal(p.l3_off, 22);
	assert_int_equal(p.l4_off, 62);
	assert_int_equal(p.len, 22 + 40 + 20 + PAYLOAD);
	assert_true(ref_l4_ok(&p, AF_INET6, IPPROTO_TCP, 20 + PAYLOAD));
	check_corruption(&p, p.l4_off + 4);
}

static void test_ipv4_options(void **state)
{
	struct pkt_spec s = spec_for(AF_INET, IPPROTO_TCP);
	static const uint8_t opts[4] = { 1, 1, 1, 0 };
	struct pkt p;

	(void)state;
	s.ipv4_options = 1;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(p.data[p.l3_off], 0x46);
	assert_memory_equal(p.data + p.l3_off + 20, opts, 4);
	assert_int_equal(p.l4_off, ETH_LEN + 24);
	assert_int_equal(be16(p.data + p.l3_off + 2), 24 + 20 + PAYLOAD);
	assert_int_equal(ref_csum(p.data + p.l3_off, 24), 0);
	assert_true(ref_l4_ok(&p, AF_INET, IPPROTO_TCP, 20 + PAYLOAD));
	/* an option byte sits in the header checksum too */
	check_corruption(&p, p.l3_off + 21);
}

static void test_ipv6_ext_headers(void **state)
{
	struct pkt_spec s = spec_for(AF_INET6, IPPROTO_UDP);
	const uint8_t *l3, *e;
	struct pkt p;

	(void)state;
	s.n_ext = 3;
	s.ext[0] = IPPROTO_HOPOPTS;
	s.ext[1] = IPPROTO_ROUTING;
	s.ext[2] = IPPROTO_DSTOPTS;
	assert_int_equal(pkt_build(&s, &p), 0);
	l3 = p.data + p.l3_off;
	e = l3 + 40;
	assert_int_equal(p.len, ETH_LEN + 40 + 24 + 8 + PAYLOAD);
	assert_int_equal(be16(l3 + 4), 24 + 8 + PAYLOAD);
	assert_int_equal(l3[6], 0);		/* -> hop-by-hop */
	assert_int_equal(e[0], 43);		/* HBH -> routing */
	assert_int_equal(e[1], 0);
	assert_int_equal(e[2], 1);		/* PadN */
	assert_int_equal(e[3], 4);
	assert_int_equal(e[8], 60);		/* routing -> dest opts */
	assert_int_equal(e[9], 0);
	assert_int_equal(e[10], 0);		/* type 0 */
	assert_int_equal(e[11], 0);		/* segments left */
	assert_int_equal(e[16], 17);		/* dest opts -> UDP */
	assert_int_equal(e[18], 1);
	assert_int_equal(e[19], 4);
	assert_int_equal(p.l4_off, ETH_LEN + 40 + 24);
	assert_int_equal(be16(p.data + p.l4_off + 4), 8 + PAYLOAD);
	assert_true(ref_l4_ok(&p, AF_INET6, IPPROTO_UDP, 8 + PAYLOAD));
	check_corruption(&p, p.payload_off + PAYLOAD - 1);
	/* a wrong chain leaves no UDP to verify, rather than a bogus one */
	p.data[p.l3_off + 40 + 16] = 59;	/* no next header */
	assert_int_equal(pkt_verify_csums(&p), 0);
}

static void check_load_matches(const struct pkt *p);

static void test_ipv4_fragments(void **state)
{
	struct pkt_spec s = spec_for(AF_INET, IPPROTO_UDP);
	const uint8_t *l3;
	struct pkt p;

	(void)state;
	s.frag_id = 0x77;
	assert_int_equal(pkt_build(&s, &p), 0);
	l3 = p.data + p.l3_off;
	assert_int_equal(be16(l3 + 4), 0x77);
	assert_int_equal(be16(l3 + 6), 0x4000);

	/* first fragment: L4 header present, no DF */
	s.frag = 1;
	s.more_frags = 1;
	s.frag_id = 0x1234;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(be16(l3 + 4), 0x1234);
	assert_int_equal(be16(l3 + 6), 0x2000);
	assert_int_equal(p.l4_off, ETH_LEN + 20);
	assert_true(ref_l4_ok(&p, AF_INET, IPPROTO_UDP, 8 + PAYLOAD));
	check_corruption(&p, p.payload_off + 3);

	/* non-first fragment: payload only */
	s.frag_offset = 185;
	s.more_frags = 0;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(be16(l3 + 6), 185);
	assert_int_equal(p.l4_off, 0);
	assert_int_equal(p.payload_off, ETH_LEN + 20);
	assert_int_equal(p.len, ETH_LEN + 20 + PAYLOAD);
	assert_int_equal(be16(l3 + 2), 20 + PAYLOAD);
	check_payload(&p, PAYLOAD);
	assert_int_equal(ref_csum(l3, 20), 0);
	check_corruption(&p, p.l3_off + 7);
	/* payload is not checksummed by anyone here */
	p.data[p.payload_off] ^= 0xff;
	assert_int_equal(pkt_verify_csums(&p), 0);
}

static void test_ipv6_fragments(void **state)
{
	struct pkt_spec s = spec_for(AF_INET6, IPPROTO_TCP);
	const uint8_t *l3, *f;
	struct pkt p;

	(void)state;
	s.frag = 1;
	s.more_frags = 1;
	s.frag_id = 0xdeadbeef;
	s.n_ext = 1;
	s.ext[0] = IPPROTO_HOPOPTS;
	assert_int_equal(pkt_build(&s, &p), 0);
	l3 = p.data + p.l3_off;
	f = l3 + 48;
	assert_int_equal(l3[6], 0);
	assert_int_equal(l3[40], 44);		/* HBH -> fragment */
	assert_int_equal(f[0], 6);		/* fragment -> TCP */
	assert_int_equal(f[1], 0);
	assert_int_equal(be16(f + 2), 0x0001);	/* offset 0, M */
	assert_int_equal(be32(f + 4), 0xdeadbeef);
	assert_int_equal(p.l4_off, ETH_LEN + 56);
	assert_int_equal(be16(l3 + 4), 16 + 20 + PAYLOAD);
	assert_true(ref_l4_ok(&p, AF_INET6, IPPROTO_TCP, 20 + PAYLOAD));
	check_corruption(&p, p.l4_off + 13);

	s.frag_offset = 100;
	s.more_frags = 0;
	s.n_ext = 0;
	assert_int_equal(pkt_build(&s, &p), 0);
	f = l3 + 40;
	assert_int_equal(l3[6], 44);
	assert_int_equal(f[0], 6);
	assert_int_equal(be16(f + 2), 100 << 3);
	assert_int_equal(p.l4_off, 0);
	assert_int_equal(p.payload_off, ETH_LEN + 48);
	assert_int_equal(be16(l3 + 4), 8 + PAYLOAD);
	check_payload(&p, PAYLOAD);
	assert_int_equal(pkt_verify_csums(&p), 0);
	/* what follows a non-first fragment header is never parsed */
	p.data[p.l3_off + 40] = IPPROTO_DSTOPTS;
	assert_int_equal(pkt_verify_csums(&p), 0);
	check_load_matches(&p);
}

static void test_unknown_proto(void **state)
{
	struct pkt_spec s = spec_for(AF_INET, 47);	/* GRE */
	struct pkt p;

	(void)state;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(p.l4_off, 0);
	assert_int_equal(p.payload_off, ETH_LEN + 20);
	assert_int_equal(p.data[p.l3_off + 9], 47);
	check_payload(&p, PAYLOAD);
	check_corruption(&p, p.l3_off + 4);

	s = spec_for(AF_INET6, 59);
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(p.l4_off, 0);
	assert_int_equal(p.len, ETH_LEN + 40 + PAYLOAD);
	assert_int_equal(pkt_verify_csums(&p), 0);
}

static void test_arp(void **state)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	static const uint8_t zero[6];
	uint16_t vids[2] = { 30, 40 };
	const uint8_t *a;
	struct pkt p;

	(void)state;
	assert_int_equal(pkt_build_arp(&p, "192.0.2.1", "192.0.2.9", 0, NULL),
			 0);
	check_macs(&p);
	assert_int_equal(p.len, 42);
	assert_int_equal(be16(p.data + 12), 0x0806);
	assert_int_equal(p.l3_off, 14);
	assert_int_equal(p.l4_off, 0);
	a = p.data + 14;
	assert_int_equal(be16(a), 1);
	assert_int_equal(be16(a + 2), 0x0800);
	assert_int_equal(a[4], 6);
	assert_int_equal(a[5], 4);
	assert_int_equal(be16(a + 6), 1);
	assert_memory_equal(a + 8, mac, 6);
	assert_int_equal(be32(a + 14), 0xc0000201);
	assert_memory_equal(a + 18, zero, 6);
	assert_int_equal(be32(a + 24), 0xc0000209);
	assert_int_equal(pkt_verify_csums(&p), 0);

	assert_int_equal(pkt_build_arp(&p, "10.1.1.1", "10.1.1.2", 2, vids), 0);
	assert_int_equal(p.len, 50);
	assert_int_equal(be16(p.data + 12), 0x88a8);
	assert_int_equal(be16(p.data + 14), 30);
	assert_int_equal(be16(p.data + 16), 0x8100);
	assert_int_equal(be16(p.data + 18), 40);
	assert_int_equal(be16(p.data + 20), 0x0806);
	assert_int_equal(p.l3_off, 22);

	assert_int_equal(pkt_build_arp(&p, "10.1.1.1", "10.1.1.2", 1, vids), 0);
	assert_int_equal(be16(p.data + 12), 0x8100);
	assert_int_equal(be16(p.data + 16), 0x0806);
	assert_int_equal(p.len, 46);

	assert_int_equal(pkt_build_arp(&p, "10.1.1.1", "10.1.1.2", 1, NULL),
			 -EINVAL);
	assert_int_equal(pkt_build_arp(&p, "10.1.1.1", "10.1.1.2", 3, vids),
			 -EINVAL);
}

static void test_nd(void **state)
{
	static const struct {
		uint8_t type;
		size_t icmp_len;
	} kinds[] = {
		{ 133, 8 }, { 134, 16 }, { 135, 24 }, { 136, 24 }, { 137, 40 },
	};
	uint8_t dst[16];
	struct pkt p;
	size_t i;

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "fe80::2", dst), 1);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const uint8_t *l3, *icmp;

		assert_int_equal(pkt_build_nd(&p, kinds[i].type, "fe80::1",
					      "fe80::2"), 0);
		l3 = p.data + p.l3_off;
		icmp = p.data + p.l4_off;
		assert_int_equal(p.len, ETH_LEN + 40 + kinds[i].icmp_len);
		assert_int_equal(be16(p.data + 12), 0x86dd);
		assert_int_equal(p.l4_off, ETH_LEN + 40);
		assert_int_equal(be16(l3 + 4), kinds[i].icmp_len);
		assert_int_equal(l3[6], 58);
		assert_int_equal(l3[7], 255);
		assert_int_equal(icmp[0], kinds[i].type);
		assert_int_equal(icmp[1], 0);
		if (kinds[i].type == 135 || kinds[i].type == 136)
			assert_memory_equal(icmp + 8, dst, 16);
		assert_true(ref_l4_ok(&p, AF_INET6, IPPROTO_ICMPV6,
				      kinds[i].icmp_len));
		check_corruption(&p, p.len - 1);
	}
	assert_int_equal(pkt_build_nd(&p, 132, "fe80::1", "fe80::2"), -EINVAL);
	assert_int_equal(pkt_build_nd(&p, 138, "fe80::1", "fe80::2"), -EINVAL);
}

static void test_errors(void **state)
{
	struct pkt_spec s = spec_for(AF_INET, IPPROTO_UDP);
	struct pkt p;

	(void)state;
	/* 14 + 20 + 8 + 2006 is exactly PKT_MAX */
	s.payload_len = 2006;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(p.len, PKT_MAX);
	assert_int_equal(pkt_verify_csums(&p), 0);
	s.payload_len = 2007;
	assert_int_equal(pkt_build(&s, &p), -E2BIG);
	s.payload_len = SIZE_MAX;
	assert_int_equal(pkt_build(&s, &p), -E2BIG);
	s = spec_for(AF_INET6, IPPROTO_TCP);
	s.n_ext = 8;
	memset(s.ext, IPPROTO_DSTOPTS, sizeof(s.ext));
	s.frag = 1;
	s.payload_len = PKT_MAX - 14 - 40 - 72 - 20;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(pkt_verify_csums(&p), 0);
	s.nvlan = 1;
	assert_int_equal(pkt_build(&s, &p), -E2BIG);

	s = spec_for(AF_INET, IPPROTO_UDP);
	s.family = AF_UNIX;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_for(AF_INET, IPPROTO_UDP);
	s.nvlan = 3;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_for(AF_INET, IPPROTO_UDP);
	s.n_ext = 1;
	s.ext[0] = IPPROTO_HOPOPTS;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_for(AF_INET6, IPPROTO_UDP);
	s.n_ext = 1;
	s.ext[0] = IPPROTO_TCP;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_for(AF_INET6, IPPROTO_UDP);
	s.n_ext = 9;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_for(AF_INET6, IPPROTO_UDP);
	s.ipv4_options = 1;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_for(AF_INET6, IPPROTO_ICMP);
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_for(AF_INET, IPPROTO_ICMPV6);
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_for(AF_INET, IPPROTO_UDP);
	s.frag = 1;
	s.frag_offset = 0x2000;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	assert_int_equal(pkt_build(NULL, &p), -EINVAL);
	assert_int_equal(pkt_build(&s, NULL), -EINVAL);
	assert_int_equal(pkt_verify_csums(NULL), -EINVAL);
}

/* each spec with an unparsable address must abort the process */
static void test_bad_address_aborts(void **state)
{
	static const struct {
		int family;
		const char *src;
	} bad[] = {
		{ AF_INET, "300.1.1.1" },
		{ AF_INET, "2001:db8::1" },	/* right syntax, wrong family */
		{ AF_INET6, "192.0.2.1" },
		{ AF_INET6, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pkt_spec s = spec_for(bad[i].family, IPPROTO_UDP);
		int status;
		pid_t pid;

		s.src = bad[i].src;
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			static struct pkt p;
			int fd = open("/dev/null", O_WRONLY);

			/* keep the expected complaint out of the test log */
			if (fd >= 0)
				dup2(fd, STDERR_FILENO);
			pkt_build(&s, &p);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGABRT);
	}
}

static void test_udp_zero_csum(void **state)
{
	struct pkt_spec s = spec_for(AF_INET, IPPROTO_UDP);
	struct pkt p;

	(void)state;
	assert_int_equal(pkt_build(&s, &p), 0);
	p.data[p.l4_off + 6] = 0;
	p.data[p.l4_off + 7] = 0;
	assert_int_equal(pkt_verify_csums(&p), 0);

	s = spec_for(AF_INET6, IPPROTO_UDP);
	assert_int_equal(pkt_build(&s, &p), 0);
	p.data[p.l4_off + 6] = 0;
	p.data[p.l4_off + 7] = 0;
	assert_int_equal(pkt_verify_csums(&p), -EBADMSG);
	pkt_fix_csums(&p);
	assert_int_equal(pkt_verify_csums(&p), 0);
}

static void test_malformed(void **state)
{
	struct pkt_spec s = spec_for(AF_INET, IPPROTO_TCP);
	struct pkt p, q;

	(void)state;
	assert_int_equal(pkt_build(&s, &p), 0);

	q = p;
	q.len = p.l4_off + 10;		/* TCP header cut short */
	assert_int_equal(pkt_verify_csums(&q), -EBADMSG);
	q = p;
	q.data[q.l3_off + 2] = 0x07;	/* tot_len beyond the frame */
	pkt_fix_csums(&q);
	assert_int_equal(pkt_verify_csums(&q), -EBADMSG);
	q = p;
	q.data[q.l3_off] = 0x4f;	/* IHL 15 */
	assert_int_equal(pkt_verify_csums(&q), -EBADMSG);
	q = p;
	q.data[q.l3_off] = 0x44;	/* IHL below minimum */
	pkt_fix_csums(&q);
	assert_int_equal(pkt_verify_csums(&q), -EBADMSG);
	q = p;
	q.len = 13;			/* not even an Ethernet header */
	assert_int_equal(pkt_verify_csums(&q), 0);
	q.len = PKT_MAX + 1;
	assert_int_equal(pkt_verify_csums(&q), -EINVAL);
	pkt_fix_csums(&q);

	s = spec_for(AF_INET6, IPPROTO_UDP);
	s.n_ext = 1;
	s.ext[0] = IPPROTO_DSTOPTS;
	assert_int_equal(pkt_build(&s, &p), 0);
	q = p;
	q.data[q.l3_off + 41] = 200;	/* ext header runs past the end */
	assert_int_equal(pkt_verify_csums(&q), -EBADMSG);
	pkt_fix_csums(&q);
	assert_int_equal(pkt_verify_csums(&q), -EBADMSG);
}

/* every truncation and every byte value stomp must be handled in bounds */
static void test_parser_fuzz(void **state)
{
	struct pkt_spec s = spec_for(AF_INET6, IPPROTO_SCTP);
	struct pkt p, q;
	size_t len, off;

	(void)state;
	s.nvlan = 2;
	s.n_ext = 2;
	s.ext[0] = IPPROTO_HOPOPTS;
	s.ext[1] = IPPROTO_ROUTING;
	s.frag = 1;
	assert_int_equal(pkt_build(&s, &p), 0);
	for (len = 0; len <= p.len; len++) {
		q = p;
		q.len = len;
		pkt_fix_csums(&q);
		(void)pkt_verify_csums(&q);
	}
	for (off = 0; off < p.len; off++) {
		q = p;
		q.data[off] = 0xff;
		pkt_fix_csums(&q);
		(void)pkt_verify_csums(&q);
		assert_int_equal(pkt_load(&q, q.data, q.len), 0);
		assert_true(q.payload_off <= q.len);
		assert_true(q.l4_off <= q.len);
	}
}

static void check_load_matches(const struct pkt *p)
{
	struct pkt q;

	assert_int_equal(pkt_load(&q, p->data, p->len), 0);
	assert_int_equal(q.len, p->len);
	assert_memory_equal(q.data, p->data, p->len);
	assert_int_equal(q.l3_off, p->l3_off);
	assert_int_equal(q.l4_off, p->l4_off);
	assert_int_equal(q.payload_off, p->payload_off);
}

static void test_load_roundtrip(void **state)
{
	static const uint8_t protos[] = {
		IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, 47,
	};
	static uint8_t big[PKT_MAX + 1];
	uint16_t vids[2] = { 1, 2 };
	struct pkt_spec s;
	struct pkt p;
	size_t i;
	int fam, t;

	(void)state;
	for (fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;

		for (i = 0; i < sizeof(protos); i++) {
			s = spec_for(family, protos[i]);
			s.nvlan = (int)i % 3;
			if (family == AF_INET6) {
				s.n_ext = 1;
				s.ext[0] = IPPROTO_DSTOPTS;
			} else {
				s.ipv4_options = (int)i & 1;
			}
			assert_int_equal(pkt_build(&s, &p), 0);
			check_load_matches(&p);
			s.frag = 1;
			s.frag_offset = 10;
			assert_int_equal(pkt_build(&s, &p), 0);
			check_load_matches(&p);
		}
		s = spec_for(family, fam ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
		assert_int_equal(pkt_build(&s, &p), 0);
		check_load_matches(&p);
	}
	for (t = 133; t <= 137; t++) {
		assert_int_equal(pkt_build_nd(&p, t, "fe80::1", "ff02::1"), 0);
		check_load_matches(&p);
	}
	assert_int_equal(pkt_build_arp(&p, "10.0.0.1", "10.0.0.2", 2, vids), 0);
	check_load_matches(&p);
	assert_int_equal(pkt_load(&p, big, sizeof(big)), -E2BIG);
	assert_int_equal(pkt_load(&p, NULL, 1), -EINVAL);
	assert_int_equal(pkt_load(&p, NULL, 0), 0);
	assert_int_equal(p.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_rfc1071),
		cmocka_unit_test(test_csum_known_ipv4_header),
		cmocka_unit_test(test_build_known_ipv4_header),
		cmocka_unit_test(test_build_known_udp_csum),
		cmocka_unit_test(test_build_known_icmp_csum),
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_v4_tcp),
		cmocka_unit_test(test_v4_udp),
		cmocka_unit_test(test_v4_sctp),
		cmocka_unit_test(test_v4_icmp),
		cmocka_unit_test(test_v6_tcp),
		cmocka_unit_test(test_v6_udp),
		cmocka_unit_test(test_v6_sctp),
		cmocka_unit_test(test_v6_icmp6),
		cmocka_unit_test(test_tcp_flags),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_qinq),
		cmocka_unit_test(test_ipv4_options),
		cmocka_unit_test(test_ipv6_ext_headers),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_ipv6_fragments),
		cmocka_unit_test(test_unknown_proto),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_nd),
		cmocka_unit_test(test_udp_zero_csum),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_parser_fuzz),
		cmocka_unit_test(test_load_roundtrip),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bad_address_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
