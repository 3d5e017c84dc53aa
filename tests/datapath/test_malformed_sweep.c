// SPDX-License-Identifier: GPL-2.0
/*
 * Malformed frames by the thousand through the real ingress program:
 * frames of every shape the builder makes (IPv4 with and without options,
 * IPv6 with extension headers, zero to two VLAN tags, TCP, UDP, SCTP,
 * ICMP, ICMPv6, first and later fragments) cut at every length, cut with
 * their IP lengths made to agree, and with each header byte overwritten
 * by a few values. For each, the reference of tests/lib/refparse.c says
 * which parse drop reason it gets, or none; the program must count exactly
 * that reason, or (none) no parse reason at all. No crash, no verifier
 * trouble, no mismatch. `--ingress-tc` runs the tc ingress program,
 * `--tc-copy` its parse of a copy of the headers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "node.h"
#include "refparse.h"

/* The reasons a header check gives: one of these, or none. */
static const uint32_t parse_reasons[] = {
	IDG_DROP_TRUNC_VLAN,     IDG_DROP_VLAN_DEPTH,
	IDG_DROP_TRUNC_IPV4,     IDG_DROP_BAD_IPV4_HDR,
	IDG_DROP_BAD_IPV4_LEN,   IDG_DROP_TRUNC_IPV6,
	IDG_DROP_BAD_IPV6_HDR,   IDG_DROP_TRUNC_IPV6_EXT,
	IDG_DROP_IPV6_EXT_LIMIT, IDG_DROP_TRUNC_TCP,
	IDG_DROP_BAD_TCP_HDR,    IDG_DROP_TRUNC_UDP,
	IDG_DROP_TRUNC_SCTP,     IDG_DROP_TRUNC_ICMP,
	IDG_DROP_TRUNC_ICMPV6,   IDG_DROP_BAD_FRAGMENT,
};
#define N_PARSE (sizeof(parse_reasons) / sizeof(parse_reasons[0]))

struct tally {
	unsigned long frames, refused, mismatches;
};

static void counts(struct fx *fx, uint64_t *c)
{
	for (size_t i = 0; i < N_PARSE; i++)
		c[i] = fx_reason_pkts(fx, parse_reasons[i]);
}

static void dump(const struct pkt *p)
{
	for (size_t i = 0; i < p->len; i++)
		fprintf(stderr, "%02x%s", p->data[i], i % 32 == 31 ? "\n" : "");
	fprintf(stderr, "\n");
}

/* One frame: the reason the program counted against the reference's. */
static void check(struct fx *fx, const struct pkt *p, const char *what,
		  struct tally *t)
{
	uint64_t before[N_PARSE], after[N_PARSE];
	int want = ref_parse_reason(p->data, p->len), ret;
	uint32_t got = 0;
	int n_got = 0;

	if (want == REF_PARSE_NOT_IP)
		return;
	counts(fx, before);
	ret = fx_run_xdp(fx, p);
	if (ret == FX_REFUSED) {
		t->refused++;
		return;
	}
	t->frames++;
	counts(fx, after);
	for (size_t i = 0; i < N_PARSE; i++)
		if (after[i] != before[i]) {
			got = parse_reasons[i];
			n_got += (int)(after[i] - before[i]);
		}
	if (n_got == (want ? 1 : 0) && got == (uint32_t)want &&
	    (!want || ret == XDP_DROP))
		return;
	if (t->mismatches++ < (getenv("SWEEP_ALL") ? 100000UL : 10UL)) {
		fprintf(stderr, "# %s, %zu bytes: reference %s, program %s (%d counted, ret %d)\n",
			what, p->len, want ? idg_reason_name((uint32_t)want) : "none",
			n_got ? idg_reason_name(got) : "none", n_got, ret);
		dump(p);
	}
}

/* The IP length fields made to agree with a frame cut to len. */
static void lengths_fix(struct pkt *p)
{
	uint8_t *ip = p->data + p->l3_off;
	size_t l3len = p->len - p->l3_off;

	if ((ip[0] >> 4) == 4 && l3len >= 4) {
		ip[2] = (uint8_t)(l3len >> 8);
		ip[3] = (uint8_t)l3len;
	} else if ((ip[0] >> 4) == 6 && l3len >= 40) {
		ip[4] = (uint8_t)((l3len - 40) >> 8);
		ip[5] = (uint8_t)(l3len - 40);
	}
}

static void sweep(struct fx *fx, const struct pkt *base, const char *shape,
		  struct tally *t)
{
	/* Header bytes and lengths of every size class: versions, IHLs,
	 * lengths that land inside each header. */
	static const uint8_t values[] = { 0x00, 0x01, 0x05, 0x08, 0x0c,
					  0x10, 0x14, 0x1c, 0x28, 0x30,
					  0x40, 0x45, 0x4f, 0x60, 0x7f,
					  0x80, 0xff };
	size_t hdr_end = base->payload_off ? base->payload_off : base->len;
	struct pkt p;
	char what[160];

	check(fx, base, shape, t);
	for (size_t len = 14; len < base->len; len++) {
		p = *base;
		p.len = len;
		snprintf(what, sizeof(what), "%s cut", shape);
		check(fx, &p, what, t);
		if (len > base->l3_off) {
			lengths_fix(&p);
			snprintf(what, sizeof(what), "%s cut, lengths fixed",
				 shape);
			check(fx, &p, what, t);
		}
	}
	for (size_t i = 12; i < hdr_end; i++)
		for (size_t v = 0; v < sizeof(values); v++) {
			p = *base;
			if (p.data[i] == values[v])
				continue;
			p.data[i] = values[v];
			snprintf(what, sizeof(what), "%s byte %zu = 0x%02x",
				 shape, i, values[v]);
			check(fx, &p, what, t);
		}
}

static void test_sweep(void **state)
{
	static const uint8_t protos4[] = { IPPROTO_TCP, IPPROTO_UDP, 132,
					   IPPROTO_ICMP };
	static const uint8_t protos6[] = { IPPROTO_TCP, IPPROTO_UDP, 132,
					   IPPROTO_ICMPV6 };
	struct fx *fx = *state;
	struct tally t = { 0 };
	struct pkt base;
	char shape[96];

	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_IN(.peer = IDG_ID_UNKNOWN, .cookie = 1));
	fx_commit(fx);

	for (int fam = 0; fam < 2; fam++)
		for (size_t k = 0; k < 4; k++)
			for (int vl = 0; vl <= 2; vl++)
				for (int var = 0; var < 4; var++) {
					uint8_t proto = fam ? protos6[k] : protos4[k];
					struct pkt_spec s = {
						.family = fam ? AF_INET6 : AF_INET,
						.src = fam ? A_V6 : A_V4,
						.dst = fam ? EP_V6 : EP_V4,
						.proto = proto, .sport = 1000,
						.dport = 80, .nvlan = vl,
						.vlan_id = { 5, 6 },
						.icmp_type = fam ? 128 : 8,
						.payload_len = 4,
					};

					/* 1: options or extension headers,
					 * 2: a first fragment, 3: a later one */
					if (var == 1 && !fam)
						s.ipv4_options = 1;
					if (var == 1 && fam) {
						s.n_ext = 2;
						s.ext[0] = IPPROTO_HOPOPTS;
						s.ext[1] = IPPROTO_DSTOPTS;
					}
					if (var >= 2) {
						s.frag = 1;
						s.more_frags = var == 2;
						s.frag_offset = var == 3 ? 3 : 0;
						s.frag_id = 77;
					}
					fx_build(&base, &s);
					snprintf(shape, sizeof(shape),
						 "%s proto %u, %d VLAN, variant %d",
						 fam ? "IPv6" : "IPv4", proto, vl,
						 var);
					sweep(fx, &base, shape, &t);
				}
	printf("# %lu frames judged, %lu refused by the test run, %lu mismatches\n",
	       t.frames, t.refused, t.mismatches);
	assert_true(t.frames > 10000);
	assert_int_equal(t.mismatches, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sweep, fx_setup,
						fx_teardown),
	};

	if (argc > 1 && !fx_hook_flag(argv[1])) {
		fprintf(stderr, "test_malformed_sweep: bad argument '%s'\n",
			argv[1]);
		return 2;
	}
	return cmocka_run_group_tests_name(!fx_ingress_tc ? "malformed-sweep" :
					   fx_tc_copy ? "malformed-sweep-tc-copy" :
							"malformed-sweep-tc",
					   tests, NULL, NULL);
}
