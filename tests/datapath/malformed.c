// SPDX-License-Identifier: GPL-2.0
/*
 * Malformed frames, one row each: how the frame is broken and the drop
 * reason the ingress filter must give it. Every row is a test of its own,
 * so one the kernel refuses to run (tc mode) shows as skipped without
 * hiding the others.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "malformed.h"
#include "node.h"

void cut_l4(struct pkt *p, size_t keep)
{
	uint8_t *ip = &p->data[p->l3_off];

	/* The IP length fields stay true, so only the L4 check can fire. */
	p->len = p->l4_off + keep;
	if ((ip[0] >> 4) == 4) {
		uint16_t tot = htons((uint16_t)(p->len - p->l3_off));

		memcpy(ip + 2, &tot, 2);
	} else {
		uint16_t pl = htons((uint16_t)(p->len - p->l3_off - 40));

		memcpy(ip + 4, &pl, 2);
	}
}

static void build(struct pkt *p, const struct pkt_spec *s)
{
	fx_build(p, s);
}

static void udp6_hbh(struct pkt *p)
{
	build(p, &(struct pkt_spec){ .family = AF_INET6, .src = A_V6,
				     .dst = EP_V6, .proto = IPPROTO_UDP,
				     .sport = 1, .dport = 2, .n_ext = 1,
				     .ext = { IPPROTO_HOPOPTS } });
}

static void l4_frame(struct pkt *p, int family, uint8_t proto, int icmp_type)
{
	int v6 = family == AF_INET6;

	build(p, &(struct pkt_spec){ .family = family, .src = v6 ? A_V6 : A_V4,
				     .dst = v6 ? EP_V6 : EP_V4, .proto = proto,
				     .sport = 1, .dport = 2,
				     .icmp_type = icmp_type });
}

static void vlan_cut(struct pkt *p)
{
	build(p, &(struct pkt_spec){ .family = AF_INET, .src = A_V4,
				     .dst = EP_V4, .proto = IPPROTO_TCP,
				     .nvlan = 1, .vlan_id = { 5 } });
	p->len = 16;
}

static void ipv4_cut(struct pkt *p)
{
	*p = tcp4(A_V4, EP_V4, 1, 2);
	p->len = p->l3_off + 19;
}

static void ipv4_version6(struct pkt *p)
{
	*p = tcp4(A_V4, EP_V4, 1, 2);
	p->data[p->l3_off] = 0x65;
}

static void ipv4_ihl4(struct pkt *p)
{
	*p = tcp4(A_V4, EP_V4, 1, 2);
	p->data[p->l3_off] = 0x44;
}

static void ipv4_ihl_past_frame(struct pkt *p)
{
	*p = tcp4(A_V4, EP_V4, 1, 2);
	p->data[p->l3_off] = 0x4f; /* 60-byte header in a 40-byte packet */
}

static void ipv4_total_past_frame(struct pkt *p)
{
	*p = tcp4(A_V4, EP_V4, 1, 2);
	p->data[p->l3_off + 2] = 0x05;
	p->data[p->l3_off + 3] = 0xdc;
}

static void ipv4_total_inside_header(struct pkt *p)
{
	*p = tcp4(A_V4, EP_V4, 1, 2);
	p->data[p->l3_off + 2] = 0;
	p->data[p->l3_off + 3] = 12;
}

static void ipv6_cut(struct pkt *p)
{
	udp6_hbh(p);
	p->len = p->l3_off + 39;
}

static void ipv6_version4(struct pkt *p)
{
	udp6_hbh(p);
	p->data[p->l3_off] = 0x40 | (p->data[p->l3_off] & 0x0f);
}

static void ipv6_payload_past_frame(struct pkt *p)
{
	udp6_hbh(p);
	p->data[p->l3_off + 4] = 0x10;
}

static void ipv6_half_ext(struct pkt *p)
{
	udp6_hbh(p);
	p->len = p->l3_off + 40 + 4;
	p->data[p->l3_off + 4] = 0;
	p->data[p->l3_off + 5] = 4;
}

static void ipv6_ext_past_frame(struct pkt *p)
{
	udp6_hbh(p);
	p->data[p->l3_off + 40 + 1] = 200; /* header claims 1608 bytes */
}

/* The last header the walk reads runs past the payload length, and says
 * another follows: the truncation comes first in the packet, so it is the
 * reason (found by fuzz_parse against tests/lib/refparse.c). */
static void ipv6_last_ext_past_payload(struct pkt *p)
{
	struct pkt_spec s = { .family = AF_INET6, .src = A_V6, .dst = EP_V6,
			      .proto = IPPROTO_UDP, .sport = 1, .dport = 2,
			      .n_ext = IDG_IPV6_EXT_MAX + 1 };

	for (int i = 0; i < s.n_ext; i++)
		s.ext[i] = IPPROTO_DSTOPTS;
	build(p, &s);
	/* 32 bytes where 24 are left */
	p->data[p->l3_off + 40 + 8 * (IDG_IPV6_EXT_MAX - 1) + 1] = 3;
}

static void tcp_cut(struct pkt *p)
{
	*p = tcp4(A_V4, EP_V4, 1, 2);
	cut_l4(p, 19);
}

static void tcp_doff4(struct pkt *p)
{
	*p = tcp4(A_V4, EP_V4, 1, 2);
	p->data[p->l4_off + 12] = 0x40;
}

static void udp_cut(struct pkt *p)
{
	*p = udp4(A_V4, EP_V4, 1, 2);
	cut_l4(p, 7);
}

static void sctp_cut(struct pkt *p)
{
	l4_frame(p, AF_INET, IPPROTO_SCTP, 0);
	cut_l4(p, 11);
}

static void icmp_cut(struct pkt *p)
{
	l4_frame(p, AF_INET, IPPROTO_ICMP, 8);
	cut_l4(p, 7);
}

static void icmp6_cut(struct pkt *p)
{
	l4_frame(p, AF_INET6, IPPROTO_ICMPV6, 128);
	cut_l4(p, 7);
}

/* A later fragment starting inside the TCP header could rewrite the
 * ports the first fragment was judged on (RFC 1858). */
static void frag4_in_tcp_header(struct pkt *p)
{
	build(p, &(struct pkt_spec){ .family = AF_INET, .src = A_V4,
				     .dst = EP_V4, .proto = IPPROTO_TCP,
				     .frag = 1, .frag_offset = 1,
				     .payload_len = 32 });
}

static void frag6_in_tcp_header(struct pkt *p)
{
	build(p, &(struct pkt_spec){ .family = AF_INET6, .src = A_V6,
				     .dst = EP_V6, .proto = IPPROTO_TCP,
				     .frag = 1, .frag_offset = 2,
				     .payload_len = 32 });
}

static void first_frag_cut(struct pkt *p)
{
	build(p, &(struct pkt_spec){ .family = AF_INET, .src = A_V4,
				     .dst = EP_V4, .proto = IPPROTO_TCP,
				     .frag = 1, .more_frags = 1 });
	cut_l4(p, 8);
}

#define ROW(fn, r) { "malformed_" #fn, fn, r }

static const struct malformed_row rows[] = {
	ROW(vlan_cut, IDG_DROP_TRUNC_VLAN),
	ROW(ipv4_cut, IDG_DROP_TRUNC_IPV4),
	ROW(ipv4_version6, IDG_DROP_BAD_IPV4_HDR),
	ROW(ipv4_ihl4, IDG_DROP_BAD_IPV4_HDR),
	ROW(ipv4_ihl_past_frame, IDG_DROP_TRUNC_IPV4),
	ROW(ipv4_total_past_frame, IDG_DROP_BAD_IPV4_LEN),
	ROW(ipv4_total_inside_header, IDG_DROP_BAD_IPV4_LEN),
	ROW(ipv6_cut, IDG_DROP_TRUNC_IPV6),
	ROW(ipv6_version4, IDG_DROP_BAD_IPV6_HDR),
	ROW(ipv6_payload_past_frame, IDG_DROP_BAD_IPV6_HDR),
	ROW(ipv6_half_ext, IDG_DROP_TRUNC_IPV6_EXT),
	ROW(ipv6_ext_past_frame, IDG_DROP_TRUNC_IPV6_EXT),
	ROW(ipv6_last_ext_past_payload, IDG_DROP_TRUNC_IPV6_EXT),
	ROW(tcp_cut, IDG_DROP_TRUNC_TCP),
	ROW(tcp_doff4, IDG_DROP_BAD_TCP_HDR),
	ROW(udp_cut, IDG_DROP_TRUNC_UDP),
	ROW(sctp_cut, IDG_DROP_TRUNC_SCTP),
	ROW(icmp_cut, IDG_DROP_TRUNC_ICMP),
	ROW(icmp6_cut, IDG_DROP_TRUNC_ICMPV6),
	ROW(frag4_in_tcp_header, IDG_DROP_BAD_FRAGMENT),
	ROW(frag6_in_tcp_header, IDG_DROP_BAD_FRAGMENT),
	ROW(first_frag_cut, IDG_DROP_TRUNC_TCP),
};

#undef ROW

/* The row the running test checks: cmocka's per-test state is the fx. */
static const struct malformed_row *cur;

static int row_setup(void **state)
{
	cur = *state;
	return fx_setup(state);
}

/* Dropped with the row's reason, counted once, one drop event that names
 * it and no rule, even with a rule that lets every peer in. A frame the
 * kernel's tc test run refuses shows as skipped (expect_verdict). */
static void test_row(void **state)
{
	struct fx *fx = *state;
	struct pkt p;

	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_IN(.peer = IDG_ID_UNKNOWN, .cookie = 1));
	fx_commit(fx);

	cur->build(&p);
	expect_drop(fx, &p, cur->reason);
	assert_int_equal(fx_poll_events(fx), 1);
	assert_int_equal(fx->events[0].reason, cur->reason);
	assert_int_equal(fx->events[0].cookie, 0);
}

size_t malformed_tests(struct CMUnitTest *out, size_t room)
{
	size_t n = sizeof(rows) / sizeof(rows[0]);

	if (n > room)
		return 0;
	for (size_t i = 0; i < n; i++)
		out[i] = (struct CMUnitTest){
			.name = rows[i].name,
			.test_func = test_row,
			.setup_func = row_setup,
			.teardown_func = fx_teardown,
			.initial_state = (void *)&rows[i],
		};
	return n;
}
