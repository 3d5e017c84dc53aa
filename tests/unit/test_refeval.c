// SPDX-License-Identifier: GPL-2.0
/*
 * The reference evaluator of the differential test (tests/lib/refeval.c)
 * against verdicts worked out by hand from the policy semantics: the
 * differential test only shows that the datapath and the reference
 * agree, these cases show that the reference says the right thing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "compile_test.h"
#include "refeval.h"

#define NODE(enf)                                                        \
	"apiVersion: idgate.io/v1\n"                                     \
	"kind: Node\n"                                                   \
	"metadata: {name: n1}\n"                                         \
	"spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.1,\n"       \
	"       policyEnforcement: " enf ", interfaces: {uplink: eth0}}\n" \
	"---\n"                                                          \
	"apiVersion: idgate.io/v1\n"                                     \
	"kind: Node\n"                                                   \
	"metadata: {name: n2}\n"                                         \
	"spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.2,\n"       \
	"       interfaces: {uplink: eth0}}\n"

/* srv (on n1) takes: everything from cli; TCP 64-127, 80-95, 80 and
 * twice 8080 from anyone; nothing from 192.0.2.0/24. */
#define SRV_CONFIG(enf)                                                  \
	NODE(enf)                                                        \
	EP("srv", "prod", "{app: srv}", "n1", "[10.0.0.10, \"fd00::10\"]") \
	EP("cli", "prod", "{app: cli}", "n2", "[10.0.1.10]")            \
	EP("other", "prod", "{app: other}", "n2", "[10.0.1.11]")        \
	CNP("p", "prod",                                                 \
	    "  endpointSelector: {matchLabels: {app: srv}}\n"            \
	    "  ingress:\n"                                               \
	    "  - fromEndpoints: [{matchLabels: {app: cli}}]\n"           \
	    "  - toPorts: [{ports: [{port: \"64\", endPort: 127, protocol: TCP}]}]\n" \
	    "  - toPorts: [{ports: [{port: \"80\", endPort: 95, protocol: TCP}]}]\n" \
	    "  - toPorts: [{ports: [{port: \"80\", protocol: TCP}]}]\n"  \
	    "  - toPorts: [{ports: [{port: \"8080\", protocol: TCP}]}]\n" \
	    "  - toPorts: [{ports: [{port: \"8080\", protocol: TCP}]}]\n" \
	    "  ingressDeny:\n"                                           \
	    "  - fromCIDR: [192.0.2.0/24]\n")

static uint32_t cookie_of(const struct fx *f, const char *policy,
			  enum idg_rule_set set, size_t index)
{
	for (size_t i = 0; i < f->c.n_cookies; i++) {
		const struct idg_cookie *c = &f->c.cookies[i];

		if (!strcmp(c->policy->name, policy) && c->set == set &&
		    c->rule_index == index)
			return c->cookie;
	}
	fail_msg("no cookie for %s set %d rule %zu", policy, set, index);
	return 0;
}

static struct ref_pkt pkt(uint8_t dir, const char *src, const char *dst,
			  uint8_t proto, uint16_t dport)
{
	struct ref_pkt p;
	int af = strchr(src, ':') ? AF_INET6 : AF_INET;

	memset(&p, 0, sizeof(p));
	p.family = af == AF_INET ? IDG_FAM_IPV4 : IDG_FAM_IPV6;
	assert_int_equal(inet_pton(af, src, p.saddr), 1);
	assert_int_equal(inet_pton(af, dst, p.daddr), 1);
	p.dir = dir;
	p.proto = proto;
	p.sport = 40000;
	p.dport = dport;
	return p;
}

static struct ref_verdict judge(const struct fx *f, enum ref_attribution a,
				const struct ref_pkt *p,
				const struct ref_verdict *first)
{
	struct ref_model m = { .c = &f->c, .attribution = a };
	struct ref_verdict v;

	ref_judge(&m, p, first, &v);
	return v;
}

#define expect(f, p, reason_, cookie_)                                    \
	do {                                                              \
		struct ref_pkt p_ = (p);                                  \
		struct ref_verdict v_ =                                   \
			judge((f), REF_ATTR_IDGATE, &p_, NULL);           \
		assert_string_equal(idg_reason_name(v_.reason),           \
				    idg_reason_name(reason_));            \
		assert_int_equal(v_.cookie, (cookie_));                   \
	} while (0)

#define IN IDG_DIR_INGRESS
#define OUT IDG_DIR_EGRESS

static void test_verdicts(void **state)
{
	struct fx f;

	(void)state;
	fx_compile(&f, SRV_CONFIG("default"), "n1");
	/* Deny wins over the allow of the any-peer port rule. */
	expect(&f, pkt(IN, "192.0.2.5", "10.0.0.10", IPPROTO_TCP, 80),
	       IDG_DROP_POLICY_DENY, cookie_of(&f, "p", IDG_RS_INGRESS_DENY, 0));
	/* No allow for UDP from other. */
	expect(&f, pkt(IN, "10.0.1.11", "10.0.0.10", IPPROTO_UDP, 80),
	       IDG_DROP_POLICY_DEFAULT, 0);
	/* L3-only from cli: ICMP too. */
	expect(&f, pkt(IN, "10.0.1.10", "10.0.0.10", IPPROTO_ICMP, 0),
	       IDG_PASS_POLICY, cookie_of(&f, "p", IDG_RS_INGRESS, 0));
	/* Egress of srv: no policy turns it on. */
	expect(&f, pkt(OUT, "10.0.0.10", "10.0.1.11", IPPROTO_TCP, 80),
	       IDG_PASS_UNENFORCED, 0);
	/* Not an address of a local endpoint (cli lives on n2). */
	expect(&f, pkt(IN, "10.0.0.10", "10.0.1.10", IPPROTO_TCP, 80),
	       IDG_PASS_NOT_ENDPOINT, 0);
	fx_free(&f);
}

/* Which rule gets the credit when several allow the packet. */
static void test_attribution(void **state)
{
	struct ref_pkt p;
	struct ref_verdict v;
	struct fx f;

	(void)state;
	fx_compile(&f, SRV_CONFIG("default"), "n1");
	/* The peer's own rule before any-peer ones, however specific... */
	p = pkt(IN, "10.0.1.10", "10.0.0.10", IPPROTO_TCP, 80);
	v = judge(&f, REF_ATTR_IDGATE, &p, NULL);
	assert_int_equal(v.cookie, cookie_of(&f, "p", IDG_RS_INGRESS, 0));
	/* ... where Cilium credits the longer port prefix. */
	v = judge(&f, REF_ATTR_CILIUM, &p, NULL);
	assert_int_equal(v.cookie, cookie_of(&f, "p", IDG_RS_INGRESS, 3));
	/* Among any-peer rules: the single port... */
	expect(&f, pkt(IN, "10.0.1.11", "10.0.0.10", IPPROTO_TCP, 80),
	       IDG_PASS_POLICY, cookie_of(&f, "p", IDG_RS_INGRESS, 3));
	/* ... else the smaller block around the port, though written
	 * later: 80-95 within 64-127... */
	expect(&f, pkt(IN, "10.0.1.11", "10.0.0.10", IPPROTO_TCP, 85),
	       IDG_PASS_POLICY, cookie_of(&f, "p", IDG_RS_INGRESS, 2));
	/* ... and past it the wider range. */
	expect(&f, pkt(IN, "10.0.1.11", "10.0.0.10", IPPROTO_TCP, 96),
	       IDG_PASS_POLICY, cookie_of(&f, "p", IDG_RS_INGRESS, 1));
	expect(&f, pkt(IN, "10.0.1.11", "10.0.0.10", IPPROTO_TCP, 128),
	       IDG_DROP_POLICY_DEFAULT, 0);
	/* Two identical rules: the first one. */
	expect(&f, pkt(IN, "10.0.1.11", "10.0.0.10", IPPROTO_TCP, 8080),
	       IDG_PASS_POLICY, cookie_of(&f, "p", IDG_RS_INGRESS, 4));
	fx_free(&f);
}

static void test_fragments_and_parser(void **state)
{
	struct ref_pkt p;
	struct ref_verdict first, v;
	struct fx f;

	(void)state;
	fx_compile(&f, SRV_CONFIG("default"), "n1");
	p = pkt(IN, "10.0.1.11", "10.0.0.10", IPPROTO_TCP, 85);
	p.frag = REF_FRAG_FIRST;
	first = judge(&f, REF_ATTR_IDGATE, &p, NULL);
	assert_int_equal(first.reason, IDG_PASS_POLICY);
	p.frag = REF_FRAG_LATER;
	p.frag_off = 185;
	v = judge(&f, REF_ATTR_IDGATE, &p, &first);
	assert_int_equal(v.reason, IDG_PASS_FRAG);
	assert_int_equal(v.cookie, first.cookie);
	/* Alone, or after a first fragment that was dropped. */
	v = judge(&f, REF_ATTR_IDGATE, &p, NULL);
	assert_int_equal(v.reason, IDG_DROP_FRAG_NO_FIRST);
	p.sport = 1;
	p.dport = 128;
	p.frag = REF_FRAG_FIRST;
	first = judge(&f, REF_ATTR_IDGATE, &p, NULL);
	assert_int_equal(first.reason, IDG_DROP_POLICY_DEFAULT);
	p.frag = REF_FRAG_LATER;
	v = judge(&f, REF_ATTR_IDGATE, &p, &first);
	assert_int_equal(v.reason, IDG_DROP_FRAG_NO_FIRST);
	/* Starting inside the TCP header it would rewrite. */
	p.frag_off = 2;
	v = judge(&f, REF_ATTR_IDGATE, &p, NULL);
	assert_int_equal(v.reason, IDG_DROP_BAD_FRAGMENT);
	/* Neighbour discovery is never judged. */
	p = pkt(IN, "fd00::99", "fd00::10", IPPROTO_ICMPV6, 0);
	p.icmp_type = 135;
	v = judge(&f, REF_ATTR_IDGATE, &p, NULL);
	assert_int_equal(v.reason, IDG_PASS_ND);
	/* GENEVE to a node, not made by idgate. */
	p = pkt(OUT, "10.0.0.10", "10.255.0.2", IPPROTO_UDP, 6081);
	v = judge(&f, REF_ATTR_IDGATE, &p, NULL);
	assert_int_equal(v.reason, IDG_DROP_TUNNEL_FORGED);
	fx_free(&f);
}

static void test_host(void **state)
{
	struct idg_cidr up = { .family = IDG_FAM_IPV4, .plen = 32,
			       .addr = { 10, 255, 0, 1 } };
	struct ref_model m = { .host = &up, .n_host = 1 };
	struct ref_pkt p;
	struct ref_verdict v;
	struct fx f;

	(void)state;
	/* always: anything not an endpoint is the host, ingress enforced. */
	fx_compile(&f, SRV_CONFIG("always"), "n1");
	expect(&f, pkt(IN, "10.0.1.10", "10.9.9.9", IPPROTO_TCP, 22),
	       IDG_DROP_POLICY_DEFAULT, 0);
	expect(&f, pkt(OUT, "10.9.9.9", "10.0.1.10", IPPROTO_TCP, 22),
	       IDG_PASS_UNENFORCED, 0);
	fx_free(&f);

	/* default with a host policy: the uplink's addresses are the host. */
	fx_compile(&f, SRV_CONFIG("default")
		       CCNP("h", "  nodeSelector: {}\n"
				 "  ingress: [{fromEntities: [cluster]}]\n"),
		   "n1");
	m.c = &f.c;
	p = pkt(IN, "192.0.2.9", "10.255.0.1", IPPROTO_TCP, 22);
	ref_judge(&m, &p, NULL, &v);
	assert_int_equal(v.reason, IDG_DROP_POLICY_DEFAULT);
	assert_int_equal(v.subject, IDG_ID_HOST);
	p = pkt(IN, "10.0.1.10", "10.255.0.1", IPPROTO_TCP, 22);
	ref_judge(&m, &p, NULL, &v);
	assert_int_equal(v.reason, IDG_PASS_POLICY);
	assert_int_equal(v.cookie, cookie_of(&f, "h", IDG_RS_INGRESS, 0));
	/* Without the uplink's addresses nothing is the host here. */
	m.n_host = 0;
	ref_judge(&m, &p, NULL, &v);
	assert_int_equal(v.reason, IDG_PASS_NOT_ENDPOINT);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_attribution),
		cmocka_unit_test(test_fragments_and_parser),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
