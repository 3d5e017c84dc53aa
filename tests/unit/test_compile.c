// SPDX-License-Identifier: GPL-2.0
/*
 * The policy compiler against Cilium's documented semantics: one case a
 * behaviour, each an inline config compiled for one node.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compile_test.h"

#define IN IDG_DIR_INGRESS
#define OUT IDG_DIR_EGRESS
#define ALLOW IDG_RULE_ALLOW
#define DENY IDG_RULE_DENY

/* web (prod, n1), client (prod, n2), other (dev, n1), remote (prod, in
 * cluster b): the cast of most cases. */
#define CAST                                                              \
	NODES                                                             \
	EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")               \
	EP("client", "prod", "{app: client}", "n2", "[10.0.0.2]")         \
	EP("other", "dev", "{app: client}", "n1", "[10.0.1.1]")           \
	EP("remote", "prod", "{app: client}", "nb", "[10.1.0.1]")

#define WEB_SEL "  endpointSelector: {matchLabels: {app: web}}\n"

/* ---- peers ---- */

static void test_namespaced_empty_selector_is_own_namespace(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{}]\n"), "n1");
	web = fx_id(&f, "web");
	assert_true(fx_has(&f, web, IN, ALLOW, fx_id(&f, "client")));
	assert_true(fx_has(&f, web, IN, ALLOW, web));
	/* not another namespace, not another cluster, never world, host
	 * or "any" */
	assert_false(fx_has(&f, web, IN, ALLOW, fx_id(&f, "other")));
	assert_false(fx_has(&f, web, IN, ALLOW, fx_id(&f, "remote")));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_WORLD));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_HOST));
	assert_false(fx_has(&f, web, IN, ALLOW, 0));
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, -1, -1), 2);
	assert_int_equal(fx_flags(&f, "web"), IDG_EP_F_ENFORCE_INGRESS);
	assert_int_equal(fx_flags(&f, "other"), 0);
	fx_free(&f);
}

static void test_namespace_named_in_selector(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	/* Naming the namespace (here through an expression) replaces the
	 * implicit one. */
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints:\n"
		"    - matchExpressions:\n"
		"      - {key: io.kubernetes.pod.namespace, operator: In, values: [dev]}\n"),
		"n1");
	web = fx_id(&f, "web");
	assert_true(fx_has(&f, web, IN, ALLOW, fx_id(&f, "other")));
	assert_false(fx_has(&f, web, IN, ALLOW, fx_id(&f, "client")));
	fx_free(&f);
}

/*
 * Cilium (pkg/k8s/apis/cilium.io/utils getEndpointSelector) adds the
 * policy's namespace to a peer selector only when the selector names no
 * namespace key at all, in matchLabels or matchExpressions; any operator
 * on the key replaces it. Its default local-cluster term (a selector that
 * names no cluster gets cluster = local) still holds, and world, host and
 * remote-node have no cluster label: NotIn and DoesNotExist on the
 * namespace never reach them.
 */
static void test_namespace_operators_in_peer_selector(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	/* NotIn: every namespace but the listed ones, this cluster only */
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints:\n"
		"    - matchExpressions:\n"
		"      - {key: io.kubernetes.pod.namespace, operator: NotIn, values: [prod]}\n"),
		"n1");
	web = fx_id(&f, "web");
	assert_true(fx_has(&f, web, IN, ALLOW, fx_id(&f, "other")));
	assert_false(fx_has(&f, web, IN, ALLOW, fx_id(&f, "client")));
	assert_false(fx_has(&f, web, IN, ALLOW, fx_id(&f, "remote")));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_WORLD));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_HOST));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_REMOTE_NODE));
	assert_false(fx_has(&f, web, IN, ALLOW, 0));
	fx_free(&f);

	/* Exists: every namespace of this cluster */
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints:\n"
		"    - matchExpressions:\n"
		"      - {key: io.kubernetes.pod.namespace, operator: Exists}\n"),
		"n1");
	web = fx_id(&f, "web");
	assert_true(fx_has(&f, web, IN, ALLOW, fx_id(&f, "other")));
	assert_true(fx_has(&f, web, IN, ALLOW, fx_id(&f, "client")));
	assert_false(fx_has(&f, web, IN, ALLOW, fx_id(&f, "remote")));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_WORLD));
	fx_free(&f);

	/* DoesNotExist: every endpoint has a namespace, and the identities
	 * without one (world, host, remote-node) have no cluster: nothing */
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints:\n"
		"    - matchExpressions:\n"
		"      - {key: io.kubernetes.pod.namespace, operator: DoesNotExist}\n"),
		"n1");
	web = fx_id(&f, "web");
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, -1, -1), 0);
	assert_int_equal(fx_flags(&f, "web"), IDG_EP_F_ENFORCE_INGRESS);
	fx_free(&f);

	/* The same in a clusterwide policy (no namespace to add) */
	fx_compile(&f, CAST CCNP("p", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints:\n"
		"    - matchExpressions:\n"
		"      - {key: io.kubernetes.pod.namespace, operator: NotIn, values: [dev]}\n"),
		"n1");
	web = fx_id(&f, "web");
	assert_true(fx_has(&f, web, IN, ALLOW, fx_id(&f, "client")));
	assert_false(fx_has(&f, web, IN, ALLOW, fx_id(&f, "other")));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_WORLD));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_HOST));
	fx_free(&f);
}

/* A namespaced policy's subject is in its namespace whatever the
 * selector says: Cilium adds namespace = the policy's to it, so a
 * selector that names another namespace selects nothing. */
static void test_namespaced_subject_naming_another_namespace(void **state)
{
	struct fx f;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod",
		"  endpointSelector:\n"
		"    matchLabels: {app: client, io.kubernetes.pod.namespace: dev}\n"
		"  ingress: [{}]\n"), "n1");
	assert_int_equal(fx_flags(&f, "other"), 0);
	assert_int_equal(fx_flags(&f, "web"), 0);
	fx_free(&f);
	fx_compile(&f, CAST CNP("p", "prod",
		"  endpointSelector:\n"
		"    matchExpressions:\n"
		"      - {key: io.kubernetes.pod.namespace, operator: NotIn, values: [prod]}\n"
		"  ingress: [{}]\n"), "n1");
	assert_int_equal(fx_flags(&f, "other"), 0);
	assert_int_equal(fx_flags(&f, "web"), 0);
	fx_free(&f);
}

static void test_clusterwide_empty_selector_is_every_endpoint(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, CAST CCNP("p", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{}]\n"), "n1");
	web = fx_id(&f, "web");
	assert_true(fx_has(&f, web, IN, ALLOW, fx_id(&f, "client")));
	assert_true(fx_has(&f, web, IN, ALLOW, fx_id(&f, "other")));
	assert_true(fx_has(&f, web, IN, ALLOW, web));
	assert_false(fx_has(&f, web, IN, ALLOW, fx_id(&f, "remote")));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_WORLD));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_HOST));
	assert_false(fx_has(&f, web, IN, ALLOW, IDG_ID_REMOTE_NODE));
	assert_false(fx_has(&f, web, IN, ALLOW, 0));
	fx_free(&f);
}

static void test_clusterwide_subject_every_namespace(void **state)
{
	struct fx f;

	(void)state;
	fx_compile(&f, CAST CCNP("p",
		"  endpointSelector: {matchLabels: {app: client}}\n"
		"  ingress: [{}]\n"), "n1");
	/* "other" (dev) is selected by a clusterwide policy */
	assert_int_equal(fx_flags(&f, "other"), IDG_EP_F_ENFORCE_INGRESS);
	assert_int_equal(fx_flags(&f, "web"), 0);
	fx_free(&f);
}

static void test_namespaced_subject_own_namespace_only(void **state)
{
	struct fx f;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod",
		"  endpointSelector: {matchLabels: {app: client}}\n"
		"  ingress: [{}]\n"), "n1");
	/* other has app=client but lives in dev */
	assert_int_equal(fx_flags(&f, "other"), 0);
	fx_free(&f);
}

static void test_no_peer_rule_is_any_peer(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - toPorts: [{ports: [{port: \"80\", protocol: TCP}]}]\n"),
		"n1");
	web = fx_id(&f, "web");
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, -1, -1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, 0, IPPROTO_TCP, 80), 1);
	fx_free(&f);
}

static void test_empty_rule_enforces_without_entries(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress: [{}]\n"), "n1");
	web = fx_id(&f, "web");
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, -1, -1), 0);
	assert_int_equal(f.c.n_rules, 0);
	assert_int_equal(fx_flags(&f, "web"), IDG_EP_F_ENFORCE_INGRESS);
	fx_free(&f);
}

static void test_empty_section_does_not_enforce(void **state)
{
	struct fx f;

	(void)state;
	/* "If omitted or empty, this rule does not apply at ingress." */
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress: []\n"), "n1");
	assert_int_equal(fx_flags(&f, "web"), 0);
	fx_free(&f);
}

static void test_deny_only_policy_enforces(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingressDeny:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"), "n1");
	web = fx_id(&f, "web");
	assert_true(fx_has(&f, web, IN, DENY, fx_id(&f, "client")));
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, -1, -1), 0);
	assert_int_equal(fx_flags(&f, "web"),
			 IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_DENY_INGRESS);
	fx_free(&f);
}

/* ---- L4 ---- */

static void test_any_protocol_is_tcp_udp_sctp(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"
		"    toPorts: [{ports: [{port: \"53\", protocol: ANY}]}]\n"
		"  - fromEndpoints: [{matchLabels: {app: web}}]\n"
		"    toPorts: [{ports: [{port: \"54\"}]}]\n"), "n1");
	web = fx_id(&f, "web");
	for (int i = 0; i < 2; i++) {
		uint32_t peer = i ? web : fx_id(&f, "client");
		int port = i ? 54 : 53;

		assert_int_equal(fx_count(&f, web, IN, ALLOW, peer, -1, -1), 3);
		assert_int_equal(fx_count(&f, web, IN, ALLOW, peer,
					  IPPROTO_TCP, port), 1);
		assert_int_equal(fx_count(&f, web, IN, ALLOW, peer,
					  IPPROTO_UDP, port), 1);
		assert_int_equal(fx_count(&f, web, IN, ALLOW, peer,
					  IPPROTO_SCTP, port), 1);
		assert_int_equal(fx_count(&f, web, IN, ALLOW, peer,
					  IPPROTO_ICMP, -1), 0);
		assert_int_equal(fx_count(&f, web, IN, ALLOW, peer, 0, -1), 0);
	}
	fx_free(&f);
}

static void test_l3_only_rule_every_protocol(void **state)
{
	const struct idg_rule_entry *r;
	struct fx f;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"), "n1");
	assert_int_equal(f.c.n_rules, 1);
	r = &f.c.rules[0];
	assert_int_equal(r->subject, fx_id(&f, "web"));
	assert_int_equal(r->peer, fx_id(&f, "client"));
	assert_int_equal(r->proto, 0);
	assert_int_equal(r->port, 0);
	assert_int_equal(r->icmp_type, -1);
	assert_int_equal(r->dir, IN);
	assert_int_equal(r->kind, ALLOW);
	fx_free(&f);
}

static void test_icmps(void **state)
{
	struct fx f;
	uint32_t web;
	size_t n4 = 0, n6 = 0;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - icmps:\n"
		"    - fields: [{type: 8}, {type: EchoRequest, family: IPv6}]\n"),
		"n1");
	web = fx_id(&f, "web");
	assert_int_equal(f.c.n_rules, 2);
	for (size_t i = 0; i < f.c.n_rules; i++) {
		const struct idg_rule_entry *r = &f.c.rules[i];

		assert_int_equal(r->subject, web);
		assert_int_equal(r->peer, 0);
		if (r->proto == IPPROTO_ICMP && r->icmp_type == 8)
			n4++;
		if (r->proto == IPPROTO_ICMPV6 && r->icmp_type == 128)
			n6++;
	}
	assert_int_equal(n4, 1);
	assert_int_equal(n6, 1);
	fx_free(&f);
}

static void test_port_zero_and_ranges(void **state)
{
	struct fx f;
	uint32_t web;
	size_t found = 0;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - toPorts: [{ports: [{port: \"0\", protocol: TCP},\n"
		"                       {port: \"8000\", endPort: 8080, protocol: UDP}]}]\n"),
		"n1");
	web = fx_id(&f, "web");
	assert_int_equal(fx_count(&f, web, IN, ALLOW, 0, IPPROTO_TCP, 0), 1);
	for (size_t i = 0; i < f.c.n_rules; i++)
		if (f.c.rules[i].proto == IPPROTO_UDP &&
		    f.c.rules[i].port == 8000 && f.c.rules[i].end_port == 8080)
			found++;
	assert_int_equal(found, 1);
	fx_free(&f);
}

/* ---- CIDR ---- */

static void test_cidr_never_selects_endpoints(void **state)
{
	const struct idg_ipcache_entry *e;
	struct fx f;
	uint32_t web, c8;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  egress:\n"
		"  - toCIDR: [10.0.0.0/8]\n"), "n1");
	web = fx_id(&f, "web");
	c8 = fx_cidr_id(&f, "10.0.0.0/8");
	assert_int_not_equal(c8, 0);
	assert_true(c8 & IDG_ID_SCOPE_LOCAL);
	assert_true(fx_has(&f, web, OUT, ALLOW, c8));
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, -1, -1, -1), 1);
	assert_false(fx_has(&f, web, OUT, ALLOW, fx_id(&f, "client")));
	assert_false(fx_has(&f, web, OUT, ALLOW, IDG_ID_WORLD));
	/* the endpoint keeps its own, longer ipcache entry */
	e = fx_ipc(&f, "10.0.0.2/32", 1);
	assert_non_null(e);
	assert_int_equal(e->identity, fx_id(&f, "client"));
	e = fx_ipc(&f, "10.0.0.0/8", 1);
	assert_non_null(e);
	assert_int_equal(e->identity, c8);
	fx_free(&f);
}

static void test_cidr_inside_endpoint_prefix(void **state)
{
	struct fx f;

	(void)state;
	/* An endpoint owning a prefix keeps every address in it, even
	 * against a longer CIDR of a policy. */
	fx_compile(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		EP("pool", "prod", "{app: pool}", "n2", "[10.0.0.64/26]")
		CNP("p", "prod", WEB_SEL
		"  egress:\n"
		"  - toCIDR: [10.0.0.96/27, 10.0.0.0/24]\n"), "n1");
	assert_null(fx_ipc(&f, "10.0.0.96/27", 1));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING,
				  "10.0.0.96/27 lies inside the addresses of endpoint pool"));
	assert_int_equal(fx_ipc(&f, "10.0.0.64/26", 1)->identity,
			 fx_id(&f, "pool"));
	assert_int_equal(fx_ipc(&f, "10.0.0.0/24", 1)->identity,
			 fx_cidr_id(&f, "10.0.0.0/24"));
	assert_false(fx_has(&f, fx_id(&f, "web"), OUT, ALLOW, fx_id(&f, "pool")));
	fx_free(&f);
}

static void test_cidr_zero_is_world(void **state)
{
	struct fx f;
	uint32_t web, c16;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  egress:\n"
		"  - toCIDR: [0.0.0.0/0]\n"
		"  - toCIDR: ['::/0']\n"
		"    toPorts: [{ports: [{port: \"443\", protocol: TCP}]}]\n"
		"  - toCIDR: [192.168.0.0/16]\n"
		"    toPorts: [{ports: [{port: \"22\", protocol: TCP}]}]\n"),
		"n1");
	web = fx_id(&f, "web");
	c16 = fx_cidr_id(&f, "192.168.0.0/16");
	assert_int_equal(fx_cidr_id(&f, "0.0.0.0/0"), 0);
	assert_int_equal(fx_cidr_id(&f, "::/0"), 0);
	assert_true(fx_has(&f, web, OUT, ALLOW, IDG_ID_WORLD));
	assert_false(fx_has(&f, web, OUT, ALLOW, 0));
	/* 0.0.0.0/0 covers narrower v4 prefixes that are identities of
	 * their own; ::/0 does not */
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, c16, 0, -1), 1);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, c16, IPPROTO_TCP, 443), 0);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, IDG_ID_WORLD,
				  IPPROTO_TCP, 443), 1);
	assert_false(fx_has(&f, web, OUT, ALLOW, fx_id(&f, "client")));
	assert_null(fx_ipc(&f, "0.0.0.0/0", 1));
	fx_free(&f);
}

static void test_broad_cidr_deny_beats_narrow_allow(void **state)
{
	struct fx f;
	uint32_t web, c8, c16;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  egress:\n"
		"  - toCIDR: [10.1.0.0/16]\n"
		"  egressDeny:\n"
		"  - toCIDR: [10.0.0.0/8]\n"), "n1");
	web = fx_id(&f, "web");
	c8 = fx_cidr_id(&f, "10.0.0.0/8");
	c16 = fx_cidr_id(&f, "10.1.0.0/16");
	assert_true(fx_has(&f, web, OUT, ALLOW, c16));
	assert_false(fx_has(&f, web, OUT, ALLOW, c8));
	/* the deny reaches the narrower identity: the datapath sees deny
	 * and allow for the same peer, and deny wins */
	assert_true(fx_has(&f, web, OUT, DENY, c16));
	assert_true(fx_has(&f, web, OUT, DENY, c8));
	assert_int_equal(fx_flags(&f, "web"),
			 IDG_EP_F_ENFORCE_EGRESS | IDG_EP_F_DENY_EGRESS);
	fx_free(&f);
}

static void test_cidr_except_selects_nothing_inside(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  egress:\n"
		"  - toCIDRSet: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]\n"
		"  - toCIDR: [10.1.2.0/24, 10.2.0.0/16]\n"
		"    toPorts: [{ports: [{port: \"1\", protocol: TCP}]}]\n"
		"  - toCIDRSet: [{cidr: 0.0.0.0/0, except: [172.16.0.0/12]}]\n"
		"    toPorts: [{ports: [{port: \"2\", protocol: TCP}]}]\n"),
		"n1");
	web = fx_id(&f, "web");
	/* the L3 rule (first): 10/8 and 10.2/16, nothing inside 10.1/16 */
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, fx_cidr_id(&f, "10.0.0.0/8"), 0, -1), 1);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, fx_cidr_id(&f, "10.2.0.0/16"), 0, -1), 1);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, fx_cidr_id(&f, "10.1.0.0/16"), 0, -1), 0);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, fx_cidr_id(&f, "10.1.2.0/24"), 0, -1), 0);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, IDG_ID_WORLD, 0, -1), 0);
	/* 0/0 except 172.16/12: world and every prefix but the except */
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, IDG_ID_WORLD, IPPROTO_TCP, 2), 1);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, fx_cidr_id(&f, "172.16.0.0/12"), -1, -1), 0);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, fx_cidr_id(&f, "10.1.0.0/16"), IPPROTO_TCP, 2), 1);
	/* the except is an identity of its own, so its addresses stop
	 * being "world" */
	assert_non_null(fx_ipc(&f, "172.16.0.0/12", 1));
	fx_free(&f);
}

/* ---- entities ---- */

static void test_entities(void **state)
{
	struct fx f;
	uint32_t web, c8;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEntities: [cluster]\n"
		"  - fromEntities: [world]\n"
		"    toPorts: [{ports: [{port: \"1\", protocol: TCP}]}]\n"
		"  - fromEntities: [host, remote-node]\n"
		"    toPorts: [{ports: [{port: \"2\", protocol: TCP}]}]\n"
		"  - fromEntities: [all, world]\n"
		"    toPorts: [{ports: [{port: \"3\", protocol: TCP}]}]\n"
		"  egress:\n"
		"  - toCIDR: [10.0.0.0/8]\n"), "n1");
	web = fx_id(&f, "web");
	c8 = fx_cidr_id(&f, "10.0.0.0/8");
	/* cluster: every endpoint of the local cluster, host, remote-node */
	assert_int_equal(fx_count(&f, web, IN, ALLOW, fx_id(&f, "client"), 0, -1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, fx_id(&f, "other"), 0, -1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, IDG_ID_HOST, 0, -1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, IDG_ID_REMOTE_NODE, 0, -1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, fx_id(&f, "remote"), -1, -1), 0);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, IDG_ID_WORLD, 0, -1), 0);
	/* world: world and the CIDR identities */
	assert_int_equal(fx_count(&f, web, IN, ALLOW, IDG_ID_WORLD, IPPROTO_TCP, 1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, c8, IPPROTO_TCP, 1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, IPPROTO_TCP, 1), 2);
	/* host, remote-node */
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, IPPROTO_TCP, 2), 2);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, IDG_ID_HOST, IPPROTO_TCP, 2), 1);
	/* all: any peer, which covers the rest of the rule */
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, IPPROTO_TCP, 3), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, 0, IPPROTO_TCP, 3), 1);
	fx_free(&f);
}

/* ---- selectors ---- */

static void test_notin_doesnotexist_match_missing_key(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		EP("fe", "prod", "{app: x, tier: fe}", "n1", "[10.0.0.2]")
		EP("bare", "prod", "{app: y}", "n1", "[10.0.0.3]")
		EP("be", "prod", "{app: z, tier: be}", "n1", "[10.0.0.4]")
		CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints:\n"
		"    - matchExpressions: [{key: tier, operator: NotIn, values: [fe]}]\n"
		"    toPorts: [{ports: [{port: \"1\", protocol: TCP}]}]\n"
		"  - fromEndpoints:\n"
		"    - matchExpressions: [{key: tier, operator: DoesNotExist}]\n"
		"    toPorts: [{ports: [{port: \"2\", protocol: TCP}]}]\n"
		"  - fromEndpoints:\n"
		"    - matchExpressions: [{key: tier, operator: Exists}]\n"
		"    toPorts: [{ports: [{port: \"3\", protocol: TCP}]}]\n"),
		"n1");
	web = fx_id(&f, "web");
	/* NotIn [fe]: bare (no tier), be, and web itself (no tier) */
	assert_int_equal(fx_count(&f, web, IN, ALLOW, fx_id(&f, "bare"), IPPROTO_TCP, 1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, fx_id(&f, "be"), IPPROTO_TCP, 1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, web, IPPROTO_TCP, 1), 1);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, fx_id(&f, "fe"), IPPROTO_TCP, 1), 0);
	/* DoesNotExist: bare and web */
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, IPPROTO_TCP, 2), 2);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, fx_id(&f, "bare"), IPPROTO_TCP, 2), 1);
	/* Exists: fe and be */
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, IPPROTO_TCP, 3), 2);
	assert_int_equal(fx_count(&f, web, IN, ALLOW, fx_id(&f, "fe"), IPPROTO_TCP, 3), 1);
	fx_free(&f);
}

static void test_values_are_case_sensitive(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		EP("big", "prod", "{app: Client}", "n1", "[10.0.0.2]")
		CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"
		"  - fromEndpoints:\n"
		"    - matchExpressions: [{key: app, operator: In, values: [client]}]\n"
		"  - fromEndpoints: [{matchLabels: {App: Client}}]\n"), "n1");
	web = fx_id(&f, "web");
	assert_int_equal(fx_count(&f, web, IN, ALLOW, -1, -1, -1), 0);
	assert_int_equal(fx_flags(&f, "web"), IDG_EP_F_ENFORCE_INGRESS);
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING,
				  "matches no endpoint"));
	fx_free(&f);
}

static size_t errors_saying(const struct idg_diags *d, const char *text)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += d->v[i].level == IDG_DIAG_ERROR && d->v[i].msg &&
		     strstr(d->v[i].msg, text);
	return n;
}

/* Compile yaml after naming every policy "p" (the loader refuses a
 * config that does so itself: this is the compiler's own guard). */
static void fx_compile_renamed(struct fx *f, const char *yaml)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(idg_config_load_string("test.yaml", yaml, &f->cfg,
						&f->d), 0);
	for (size_t i = 0; i < f->cfg.n_policies; i++) {
		free(f->cfg.policies[i].name);
		f->cfg.policies[i].name = strdup("p");
		assert_non_null(f->cfg.policies[i].name);
	}
	f->err = idg_compile(&f->cfg, "n1", NULL, &f->c, &f->d);
	fx_dump(f);
}

/* Two policies of one name share state keys (cookies) where both have a
 * rule at the same place: each such rule of a later one is an error; a
 * clusterwide policy of that name is another name. */
static void test_policy_defined_twice(void **state)
{
	struct fx f;

	(void)state;
	fx_compile_renamed(&f, CAST
		CNP("a", "prod", "  endpointSelector: {}\n"
			"  ingress: [{}, {}, {}]\n")
		CCNP("b", "  endpointSelector: {}\n"
			"  ingress: [{}, {}]\n")
		CNP("c", "prod", "  endpointSelector: {}\n"
			"  ingress: [{}, {}]\n"
			"  egress: [{}]\n")
		CNP("d", "prod", "  endpointSelector: {}\n"
			"  ingress: [{}, {}, {}, {}]\n"
			"  egress: [{}]\n"));
	assert_int_equal(f.err, -EINVAL);
	/* c: 2 ingress; d: 3 of its 4 ingress, its egress */
	assert_int_equal(errors_saying(&f.d, "policy prod/p is defined twice"),
			 2 + 3 + 1);
	assert_int_equal(errors_saying(&f.d, "is defined twice"), 6);
	fx_free(&f);

	/* One name, rules at no common place: no shared key. */
	fx_compile_renamed(&f, CAST
		CNP("a", "prod", "  endpointSelector: {}\n"
			"  ingress: [{}]\n")
		CNP("b", "prod", "  endpointSelector: {}\n"
			"  egress: [{}]\n"));
	assert_int_equal(f.err, 0);
	assert_int_equal(errors_saying(&f.d, "is defined twice"), 0);
	fx_free(&f);
}

static void test_subject_matching_nothing_warns(void **state)
{
	struct fx f;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod",
		"  endpointSelector: {matchLabels: {app: wbe}}\n"
		"  ingress: [{}]\n"), "n1");
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING,
				  "endpointSelector matches no endpoint"));
	assert_int_equal(f.d.n_errors, 0);
	fx_free(&f);
}

/* Enforced endpoints behind no workload interface: idgate judges them
 * at the uplink only, and says so once for the node. */
static void test_unbound_endpoints_warn(void **state)
{
	static const char *const nodes_wl =
		"apiVersion: idgate.io/v1\n"
		"kind: Node\n"
		"metadata: {name: n1}\n"
		"spec: {cluster: a, clusterID: 1,\n"
		"       interfaces: {uplink: eth0, endpoints: [wl0]}}\n";
	char yaml[2048];
	struct fx f;

	(void)state;
	fx_compile(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		EP("db", "prod", "{app: db}", "n1", "[10.0.0.2]")
		EP("idle", "prod", "{app: idle}", "n1", "[10.0.0.3]")
		CNP("p", "prod", "  endpointSelector: {}\n"
			"  ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]\n"
			"  egressDeny: [{toEntities: [world]}]\n"), "n1");
	assert_int_equal(f.err, 0);
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING,
				  "endpoint web and 2 others are enforced only for traffic crossing the uplink eth0"));
	fx_free(&f);

	/* Bound to a workload interface: judged there too, no warning;
	 * nor for an endpoint nothing enforces. */
	snprintf(yaml, sizeof(yaml), "%s%s", nodes_wl,
		 "---\n"
		 "apiVersion: idgate.io/v1\n"
		 "kind: Endpoint\n"
		 "metadata: {name: web, namespace: prod, labels: {app: web}}\n"
		 "spec: {node: n1, interface: wl0, ips: [10.0.0.1]}\n"
		 EP("idle", "prod", "{app: idle}", "n1", "[10.0.0.3]")
		 CNP("p", "prod", "  endpointSelector: {matchLabels: {app: web}}\n"
			"  ingress: [{}]\n"));
	fx_compile(&f, yaml, "n1");
	assert_int_equal(f.err, 0);
	assert_false(idg_diags_has(&f.d, IDG_DIAG_WARNING,
				   "enforced only for traffic crossing"));
	fx_free(&f);
}

/* ---- clusters ---- */

static void test_cross_cluster_needs_cluster_label(void **state)
{
	struct fx f;
	uint32_t web, db_a, db_b;

	(void)state;
	fx_compile(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		EP("db-a", "prod", "{app: db}", "n2", "[10.0.0.9]")
		EP("db-b", "prod", "{app: db}", "nb", "[10.1.0.9]")
		EP("only-b", "prod", "{app: cache}", "nb", "[10.1.0.8]")
		CNP("p", "prod", WEB_SEL
		"  egress:\n"
		"  - toEndpoints: [{matchLabels: {app: db}}]\n"
		"    toPorts: [{ports: [{port: \"1\", protocol: TCP}]}]\n"
		"  - toEndpoints:\n"
		"    - matchLabels: {app: db, io.cilium.k8s.policy.cluster: b}\n"
		"    toPorts: [{ports: [{port: \"2\", protocol: TCP}]}]\n"
		"  - toEndpoints: [{matchLabels: {app: cache}}]\n"
		"    toPorts: [{ports: [{port: \"3\", protocol: TCP}]}]\n"),
		"n1");
	web = fx_id(&f, "web");
	db_a = fx_id(&f, "db-a");
	db_b = fx_id(&f, "db-b");
	assert_int_not_equal(db_a, db_b);
	assert_int_equal(IDG_ID_CLUSTER(db_a), 1);
	assert_int_equal(IDG_ID_CLUSTER(db_b), 2);
	/* no cluster label: the local cluster only */
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, -1, IPPROTO_TCP, 1), 1);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, db_a, IPPROTO_TCP, 1), 1);
	/* with it: that cluster */
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, -1, IPPROTO_TCP, 2), 1);
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, db_b, IPPROTO_TCP, 2), 1);
	/* only in the other cluster: nothing, and a hint */
	assert_int_equal(fx_count(&f, web, OUT, ALLOW, -1, IPPROTO_TCP, 3), 0);
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING, "another cluster"));
	fx_free(&f);
}

static void test_policy_applies_in_each_cluster(void **state)
{
	struct fx f;
	uint32_t wb;

	(void)state;
	/* The same file on a node of cluster b: the policy's subjects and
	 * its label-less peers are cluster b's. */
	fx_compile(&f, NODES
		EP("web-b", "prod", "{app: web}", "nb", "[10.1.0.1]")
		EP("db-a", "prod", "{app: db}", "n2", "[10.0.0.9]")
		EP("db-b", "prod", "{app: db}", "nb", "[10.1.0.9]")
		CNP("p", "prod", WEB_SEL
		"  egress:\n"
		"  - toEndpoints: [{matchLabels: {app: db}}]\n"), "nb");
	wb = fx_id(&f, "web-b");
	assert_int_equal(f.c.cluster_id, 2);
	assert_int_equal(fx_flags(&f, "web-b"), IDG_EP_F_ENFORCE_EGRESS);
	assert_true(fx_has(&f, wb, OUT, ALLOW, fx_id(&f, "db-b")));
	assert_false(fx_has(&f, wb, OUT, ALLOW, fx_id(&f, "db-a")));
	fx_free(&f);
}

/* ---- enforcement ---- */

static void test_enable_default_deny(void **state)
{
	struct fx f;
	uint32_t web, cl;

	(void)state;
	fx_compile(&f, CAST
		/* rules, but no default deny: the allow changes nothing */
		CNP("a", "prod", WEB_SEL
		"  enableDefaultDeny: {ingress: false}\n"
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n")
		/* default deny without rules */
		CNP("b", "prod", WEB_SEL
		"  enableDefaultDeny: {egress: true}\n"
		"  egress: []\n")
		/* deny rules without default deny: they deny, the rest
		 * passes */
		CNP("c", "prod",
		"  endpointSelector: {matchLabels: {app: client}}\n"
		"  enableDefaultDeny: {ingress: false}\n"
		"  ingressDeny:\n"
		"  - fromEndpoints: [{matchLabels: {app: web}}]\n"), "n2");
	web = fx_id(&f, "web");
	cl = fx_id(&f, "client");
	assert_int_equal(fx_flags(&f, "client"),
			 IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_DENY_INGRESS);
	assert_true(fx_has(&f, cl, IN, DENY, web));
	/* everything else is allowed by an entry of no rule (cookie 0) */
	assert_int_equal(fx_count(&f, cl, IN, ALLOW, -1, -1, -1), 1);
	assert_int_equal(fx_count(&f, cl, IN, ALLOW, 0, 0, 0), 1);
	for (size_t i = 0; i < f.c.n_rules; i++)
		if (f.c.rules[i].kind == ALLOW && f.c.rules[i].subject == cl)
			assert_int_equal(f.c.rules[i].cookie, 0);
	fx_free(&f);

	fx_compile(&f, CAST
		CNP("a", "prod", WEB_SEL
		"  enableDefaultDeny: {ingress: false}\n"
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n")
		CNP("b", "prod", WEB_SEL
		"  enableDefaultDeny: {egress: true}\n"
		"  egress: []\n"), "n1");
	web = fx_id(&f, "web");
	assert_int_equal(fx_flags(&f, "web"), IDG_EP_F_ENFORCE_EGRESS);
	assert_true(fx_has(&f, web, IN, ALLOW, fx_id(&f, "client")));
	fx_free(&f);

	/* another policy that does turn it on wins */
	fx_compile(&f, CAST
		CNP("a", "prod", WEB_SEL
		"  enableDefaultDeny: {ingress: false}\n"
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n")
		CNP("b", "prod", WEB_SEL
		"  ingress: [{}]\n"), "n1");
	assert_int_equal(fx_flags(&f, "web"), IDG_EP_F_ENFORCE_INGRESS);
	fx_free(&f);
}

#define NODE_N1(enf)                                                     \
	"apiVersion: idgate.io/v1\n"                                     \
	"kind: Node\n"                                                   \
	"metadata: {name: n1, labels: {role: gw}}\n"                     \
	"spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.1,\n"       \
	"       policyEnforcement: " enf ", interfaces: {uplink: eth0}}\n" \
	EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")               \
	EP("idle", "prod", "{app: idle}", "n1", "[10.0.0.2]")

static void test_enforcement_always(void **state)
{
	struct fx f;

	(void)state;
	fx_compile(&f, NODE_N1("always"), "n1");
	assert_int_equal(f.c.enforcement, IDG_ENFORCE_ALWAYS);
	assert_int_equal(fx_flags(&f, "idle"),
			 IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_ENFORCE_EGRESS);
	assert_int_equal(f.c.host_flags, IDG_EP_F_ENFORCE_INGRESS);
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING, "no host policy"));
	fx_free(&f);

	fx_compile(&f, NODE_N1("always")
		CCNP("host", "  nodeSelector: {matchLabels: {role: gw}}\n"
		"  ingress:\n"
		"  - toPorts: [{ports: [{port: \"22\", protocol: TCP}]}]\n"
		"  egress:\n"
		"  - toEntities: [world]\n"), "n1");
	assert_int_equal(f.c.host_flags,
			 IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_ENFORCE_EGRESS);
	assert_false(idg_diags_has(&f.d, IDG_DIAG_WARNING, "no host policy"));
	assert_int_equal(fx_count(&f, IDG_ID_HOST, IN, ALLOW, 0, IPPROTO_TCP, 22), 1);
	assert_int_equal(fx_count(&f, IDG_ID_HOST, OUT, ALLOW, IDG_ID_WORLD, 0, 0), 1);
	fx_free(&f);
}

static void test_enforcement_never(void **state)
{
	struct fx f;

	(void)state;
	fx_compile(&f, NODE_N1("never")
		CNP("p", "prod", WEB_SEL
		"  ingressDeny:\n"
		"  - fromEntities: [world]\n"
		"  egress: [{}]\n")
		CCNP("host", "  nodeSelector: {}\n"
		"  ingress: [{}]\n"), "n1");
	assert_int_equal(f.c.enforcement, IDG_ENFORCE_NEVER);
	assert_int_equal(fx_flags(&f, "web"), 0);
	assert_int_equal(fx_flags(&f, "idle"), 0);
	assert_int_equal(f.c.host_flags, 0);
	fx_free(&f);
}

/* The diagnostics of level that contain needle; *last is the last one. */
static size_t diags_count(const struct idg_diags *d, enum idg_diag_level level,
			  const char *needle, const char **last)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].level == level && strstr(d->v[i].msg, needle)) {
			n++;
			if (last)
				*last = d->v[i].msg;
		}
	return n;
}

#define ONE_FAMILY "selected by policies list"

/* Endpoints of n1 under a web policy: five IPv4 only, one dual-stack,
 * one IPv6 only; one IPv4-only endpoint no policy selects, one on n2. */
#define MIXED(enf, policy)                                               \
	"apiVersion: idgate.io/v1\n"                                     \
	"kind: Node\n"                                                   \
	"metadata: {name: n1}\n"                                         \
	"spec: {cluster: a, clusterID: 1, policyEnforcement: " enf ",\n" \
	"       interfaces: {uplink: eth0}}\n"                           \
	"---\n"                                                          \
	"apiVersion: idgate.io/v1\n"                                     \
	"kind: Node\n"                                                   \
	"metadata: {name: n2}\n"                                         \
	"spec: {cluster: a, clusterID: 1, interfaces: {uplink: eth0}}\n" \
	EP("w1", "prod", "{app: web}", "n1", "[10.0.0.1]")                \
	EP("w2", "prod", "{app: web}", "n1", "[10.0.0.2, 10.0.2.0/24]")   \
	EP("w3", "prod", "{app: web}", "n1", "[10.0.0.3]")                \
	EP("w4", "prod", "{app: web}", "n1", "[10.0.0.4]")                \
	EP("w5", "prod", "{app: web}", "n1", "[10.0.0.5]")                \
	EP("dual", "prod", "{app: web}", "n1", "[10.0.0.6, 'fd00::6']")   \
	EP("six", "prod", "{app: web}", "n1", "['fd00::7']")              \
	EP("idle", "prod", "{app: idle}", "n1", "[10.0.0.8]")             \
	EP("away", "prod", "{app: web}", "n2", "[10.0.1.1]")              \
	CNP("p", "prod", WEB_SEL policy)

/*
 * An enforced endpoint listed by one family only: the workload's traffic
 * of the other family is not the endpoint's, so not enforced. One
 * summary line for each family, not one per endpoint.
 */
static void test_single_family_endpoints_warn(void **state)
{
	const char *msg = NULL;
	struct fx f;

	(void)state;
	fx_compile(&f, MIXED("default", "  ingress: [{}]\n"), "n1");
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING, ONE_FAMILY, NULL),
			 2);
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING,
				     "5 endpoints selected by policies list only IPv4 addresses (prod/w1, prod/w2, prod/w3 and 2 more): if a workload also has IPv6 addresses",
				     &msg),
			 1);
	assert_non_null(strstr(msg, "policyEnforcement: always on node n1"));
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING,
				     "1 endpoint selected by policies lists only IPv6 addresses (prod/six): if a workload also has IPv4 addresses",
				     NULL),
			 1);
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING, "idle", NULL), 0);
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING, "away", NULL), 0);
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING, "dual", NULL), 0);
	fx_free(&f);

	/* Egress or deny rules alone enforce too. */
	fx_compile(&f, MIXED("default", "  egressDeny: [{toEntities: [world]}]\n"
				"  enableDefaultDeny: {egress: false}\n"), "n1");
	assert_int_equal(fx_flags(&f, "w1"),
			 IDG_EP_F_ENFORCE_EGRESS | IDG_EP_F_DENY_EGRESS);
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING, ONE_FAMILY, NULL),
			 2);
	fx_free(&f);

	/* Selected but enforced in no direction: nothing to bypass. */
	fx_compile(&f, MIXED("default", "  ingress: [{}]\n"
				"  enableDefaultDeny: {ingress: false}\n"), "n1");
	assert_int_equal(fx_flags(&f, "w1"), 0);
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING, ONE_FAMILY, NULL),
			 0);
	fx_free(&f);

	/* always judges unknown local traffic as the host; never enforces
	 * nothing at all. */
	fx_compile(&f, MIXED("always", "  ingress: [{}]\n"), "n1");
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING, ONE_FAMILY, NULL),
			 0);
	fx_free(&f);
	fx_compile(&f, MIXED("never", "  ingress: [{}]\n"), "n1");
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING, ONE_FAMILY, NULL),
			 0);
	fx_free(&f);

	/* Exactly three: no "more". */
	fx_compile(&f, NODES
		   EP("a", "prod", "{app: web}", "n1", "[10.0.0.1]")
		   EP("b", "prod", "{app: web}", "n1", "[10.0.0.2]")
		   EP("c", "dev", "{app: web}", "n1", "[10.0.0.3]")
		   CCNP("p", WEB_SEL "  ingress: [{}]\n"), "n1");
	assert_int_equal(diags_count(&f.d, IDG_DIAG_WARNING,
				     "3 endpoints selected by policies list only IPv4 addresses (prod/a, prod/b, dev/c): ",
				     NULL),
			 1);
	fx_free(&f);
}

static void test_host_policy_node_selector(void **state)
{
	struct fx f;
	const char *yaml = CAST
		CCNP("host", "  nodeSelector: {matchLabels: {role: gw}}\n"
		"  ingress:\n"
		"  - fromEntities: [cluster]\n"
		"    toPorts: [{ports: [{port: \"22\", protocol: TCP}]}]\n");

	(void)state;
	fx_compile(&f, yaml, "n1");
	assert_int_equal(f.c.host_flags, IDG_EP_F_ENFORCE_INGRESS);
	assert_true(fx_has(&f, IDG_ID_HOST, IN, ALLOW, fx_id(&f, "client")));
	assert_true(fx_has(&f, IDG_ID_HOST, IN, ALLOW, IDG_ID_REMOTE_NODE));
	/* a host policy does not select endpoints */
	assert_int_equal(fx_flags(&f, "web"), 0);
	fx_free(&f);

	/* n2 has no role=gw */
	fx_compile(&f, yaml, "n2");
	assert_int_equal(f.c.host_flags, 0);
	assert_int_equal(fx_count(&f, IDG_ID_HOST, IN, ALLOW, -1, -1, -1), 0);
	fx_free(&f);
}

static void test_shared_identity_emitted_once(void **state)
{
	struct fx f;
	uint32_t web;

	(void)state;
	fx_compile(&f, NODES
		EP("web1", "prod", "{app: web}", "n1", "[10.0.0.1, 10.0.0.11]")
		EP("web2", "prod", "{app: web}", "n1", "[10.0.0.2]")
		CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEntities: [world]\n"), "n1");
	web = fx_id(&f, "web1");
	assert_int_equal(web, fx_id(&f, "web2"));
	assert_int_equal(f.c.n_eps, 3);
	assert_int_equal(f.c.n_rules, 1);
	for (size_t i = 0; i < f.c.n_eps; i++)
		assert_int_equal(f.c.eps[i].flags, IDG_EP_F_ENFORCE_INGRESS);
	fx_free(&f);
}

/* ---- cookies ---- */

static void test_cookies_map_back_to_rules(void **state)
{
	struct fx f;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"
		"  - fromEntities: [world]\n"
		"  egressDeny:\n"
		"  - toEntities: [world]\n")
		CCNP("q", WEB_SEL "  ingress: [{}]\n"), "n1");
	assert_int_equal(f.c.n_cookies, 4);
	for (size_t i = 0; i < f.c.n_rules; i++) {
		const struct idg_rule_entry *r = &f.c.rules[i];
		const struct idg_cookie *c = idg_compiled_cookie(&f.c, r->cookie);

		assert_non_null(c);
		assert_string_equal(c->policy->name, "p");
		if (r->kind == DENY) {
			assert_int_equal(c->set, IDG_RS_EGRESS_DENY);
			assert_int_equal(c->rule_index, 0);
		} else if (r->peer == IDG_ID_WORLD) {
			assert_int_equal(c->set, IDG_RS_INGRESS);
			assert_int_equal(c->rule_index, 1);
		}
	}
	for (size_t i = 1; i < f.c.n_cookies; i++)
		assert_true(f.c.cookies[i - 1].cookie < f.c.cookies[i].cookie);
	assert_null(idg_compiled_cookie(&f.c, 0));
	fx_free(&f);
}

static uint32_t cookie_of(const struct fx *f, const char *pol,
			  enum idg_rule_set set, size_t index)
{
	for (size_t i = 0; i < f->c.n_cookies; i++)
		if (!strcmp(f->c.cookies[i].policy->name, pol) &&
		    f->c.cookies[i].set == set &&
		    f->c.cookies[i].rule_index == index)
			return f->c.cookies[i].cookie;
	fail_msg("no cookie for %s", pol);
	return 0;
}

static void test_cookies_stable_with_state(void **state)
{
	struct idg_state st = { 0 };
	uint32_t a0, a1, b0;
	struct fx f;

	(void)state;
	fx_compile_st(&f, CAST
		CNP("a", "prod", WEB_SEL
		"  ingress: [{fromEntities: [world]}, {fromEntities: [host]}]\n")
		CNP("b", "prod", WEB_SEL
		"  egress: [{toEntities: [world]}]\n"), "n1", &st);
	assert_int_equal(f.err, 0);
	a0 = cookie_of(&f, "a", IDG_RS_INGRESS, 0);
	a1 = cookie_of(&f, "a", IDG_RS_INGRESS, 1);
	b0 = cookie_of(&f, "b", IDG_RS_EGRESS, 0);
	assert_int_equal(st.n_cookies, 3);
	fx_free(&f);

	/* a loses its second rule, c comes before b: b keeps its cookie,
	 * c takes the smallest free one (a1's) */
	fx_compile_st(&f, CAST
		CNP("a", "prod", WEB_SEL
		"  ingress: [{fromEntities: [world]}]\n")
		CNP("c", "prod", WEB_SEL
		"  ingress: [{fromEntities: [cluster]}]\n")
		CNP("b", "prod", WEB_SEL
		"  egress: [{toEntities: [world]}]\n"), "n1", &st);
	assert_int_equal(f.err, 0);
	assert_int_equal(cookie_of(&f, "a", IDG_RS_INGRESS, 0), a0);
	assert_int_equal(cookie_of(&f, "b", IDG_RS_EGRESS, 0), b0);
	assert_int_equal(cookie_of(&f, "c", IDG_RS_INGRESS, 0), a1);
	fx_free(&f);
	idg_state_free(&st);
}

static void test_cookie_space_exhausted(void **state)
{
	struct idg_config cfg = { 0 };
	struct idg_node node = { 0 };
	struct idg_policy pol = { 0 };
	struct idg_diags d = { 0 };
	struct idg_compiled c;
	int err;

	(void)state;
	/* By hand: 65536 rules of YAML would only test the parser. */
	cfg.file = "hand.yaml";
	node.name = "n1";
	node.cluster = "a";
	node.cluster_id = 1;
	pol.name = "big";
	pol.namespace = "prod";
	pol.default_deny[0] = pol.default_deny[1] = -1;
	pol.n_rules[IDG_RS_INGRESS] = IDG_RULES_MAX;
	pol.rules[IDG_RS_INGRESS] = calloc(IDG_RULES_MAX, sizeof(struct idg_rule));
	assert_non_null(pol.rules[IDG_RS_INGRESS]);
	cfg.nodes = &node;
	cfg.n_nodes = 1;
	cfg.policies = &pol;
	cfg.n_policies = 1;
	err = idg_compile(&cfg, "n1", NULL, &c, &d);
	assert_int_equal(err, -EINVAL);
	assert_true(idg_diags_has(&d, IDG_DIAG_ERROR, "exhausted"));
	idg_diags_free(&d);

	/* one fewer fits */
	pol.n_rules[IDG_RS_INGRESS] = IDG_RULES_MAX - 1;
	err = idg_compile(&cfg, "n1", NULL, &c, &d);
	assert_int_equal(err, 0);
	assert_int_equal(c.n_cookies, IDG_RULES_MAX - 1);
	assert_int_equal(c.cookies[c.n_cookies - 1].cookie, IDG_RULES_MAX - 1);
	idg_compiled_free(&c);
	idg_diags_free(&d);
	free(pol.rules[IDG_RS_INGRESS]);
}

/* ---- errors ---- */

static void test_unknown_node(void **state)
{
	struct fx f;

	(void)state;
	fx_compile_st(&f, CAST, "n9", NULL);
	assert_int_equal(f.err, -EINVAL);
	assert_true(idg_diags_has(&f.d, IDG_DIAG_ERROR, "unknown node n9"));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_ERROR, "n1, n2, nb"));
	assert_null(f.c.ids);
	fx_free(&f);
}

/* ---- L7 (l7.c) ---- */

/* method path [host] from peer to web's port: allowed? (-1: the sender
 * has no grant there at all). */
static int l7_req(const struct idg_l7_table *t, uint32_t web, uint16_t port,
		  uint32_t peer, const char *method, const char *path,
		  const struct idg_http_kv *hdrs, size_t n_hdrs)
{
	const struct idg_l7_port *lp = idg_l7_find(t, web, IN, port);
	struct idg_http_req req = { .method = method, .path = path,
				    .host = "web:8080", .headers = hdrs,
				    .n_headers = n_hdrs };
	struct idg_l7_verdict v;

	assert_non_null(lp);
	assert_int_equal(idg_l7_judge(lp, peer, &req, &v), 0);
	if (!v.by)
		return -1;
	return v.allowed;
}

/* The article's policy: each sender its own requests; the port only
 * through the proxy; other ports are not L7. */
static void test_l7_article_policy(void **state)
{
	const struct idg_l7_table *t;
	struct fx f;
	uint32_t web, client, other;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"
		"    toPorts:\n"
		"    - ports: [{port: \"8080\", protocol: TCP}]\n"
		"      rules:\n"
		"        http:\n"
		"        - {method: GET, path: \"/api/v1/users/.*\"}\n"
		"  - fromEndpoints: [{matchLabels: {app: web}}]\n"
		"    toPorts:\n"
		"    - ports: [{port: \"8080\", protocol: TCP}]\n"
		"      rules:\n"
		"        http:\n"
		"        - {method: POST, path: /api/internal/process-batch}\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"
		"    toPorts: [{ports: [{port: \"8081\", protocol: TCP}]}]\n"),
		"n1");
	web = fx_id(&f, "web");
	client = fx_id(&f, "client");
	other = fx_id(&f, "other");
	t = &f.c.l7;
	assert_int_equal(t->n, 1);
	assert_null(idg_l7_find(t, web, IN, 8081));
	assert_null(idg_l7_find(t, web, OUT, 8080));
	assert_int_equal(l7_req(t, web, 8080, client, "GET", "/api/v1/users/42", NULL, 0), 1);
	/* The query is part of what the path regex sees, as Envoy's :path. */
	assert_int_equal(l7_req(t, web, 8080, client, "GET", "/api/v1/users/42?full=1", NULL, 0), 1);
	assert_int_equal(l7_req(t, web, 8080, client, "GET", "/api/v1/admin/metrics", NULL, 0), 0);
	assert_int_equal(l7_req(t, web, 8080, client, "POST", "/api/v1/users/42", NULL, 0), 0);
	assert_int_equal(l7_req(t, web, 8080, client, "get", "/api/v1/users/42", NULL, 0), 0);
	assert_int_equal(l7_req(t, web, 8080, client, "POST", "/api/internal/process-batch", NULL, 0), 0);
	assert_int_equal(l7_req(t, web, 8080, web, "POST", "/api/internal/process-batch", NULL, 0), 1);
	assert_int_equal(l7_req(t, web, 8080, web, "POST", "/api/internal/process-batch?x", NULL, 0), 0);
	assert_int_equal(l7_req(t, web, 8080, web, "GET", "/api/v1/users/1", NULL, 0), 0);
	assert_int_equal(l7_req(t, web, 8080, other, "GET", "/api/v1/users/1", NULL, 0), -1);
	fx_free(&f);
}

/* Every allow rule covering an L7 port admits every request of its own
 * peers when it has no HTTP rules: L4 only, port 0, L3 only, and the
 * same port without rules in the same rule. */
static void test_l7_port_is_redirected_whole(void **state)
{
	const struct idg_l7_table *t;
	struct fx f;
	uint32_t web, client, other;

	(void)state;
	fx_compile(&f, CAST
		CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"
		"    toPorts:\n"
		"    - ports: [{port: \"8080\", protocol: TCP}]\n"
		"      rules: {http: [{method: GET}]}\n"
		"  - fromEndpoints: [{matchLabels: {app: web}}]\n"
		"    toPorts: [{ports: [{port: \"8080\", protocol: TCP}]}]\n")
		CNP("q", "dev", "  endpointSelector: {}\n"
		"  ingress:\n"
		"  - fromEndpoints: [{}]\n"),
		"n1");
	web = fx_id(&f, "web");
	client = fx_id(&f, "client");
	other = fx_id(&f, "other");
	t = &f.c.l7;
	assert_int_equal(l7_req(t, web, 8080, client, "GET", "/", NULL, 0), 1);
	assert_int_equal(l7_req(t, web, 8080, client, "PUT", "/", NULL, 0), 0);
	/* L4 only on the same port. */
	assert_int_equal(l7_req(t, web, 8080, web, "PUT", "/", NULL, 0), 1);
	fx_free(&f);

	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"
		"    toPorts:\n"
		"    - ports: [{port: \"8080\", protocol: TCP}]\n"
		"      rules: {http: [{method: GET}]}\n"
		"    - ports: [{port: \"8080\", protocol: TCP}]\n"
		"  - fromEndpoints: [{matchLabels: {app: web}}]\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"
		"    toPorts: [{ports: [{port: \"0\", protocol: TCP}]}]\n"
		"  - toPorts:\n"
		"    - ports: [{port: \"8000\", endPort: 8002, protocol: TCP}]\n"
		"      rules: {http: [{path: /public/.*}]}\n"),
		"n1");
	web = fx_id(&f, "web");
	client = fx_id(&f, "client");
	other = fx_id(&f, "other");
	t = &f.c.l7;
	/* The same port without rules in the same rule. */
	assert_int_equal(l7_req(t, web, 8080, client, "PUT", "/", NULL, 0), 1);
	/* L3 only. */
	assert_int_equal(l7_req(t, web, 8080, web, "DELETE", "/", NULL, 0), 1);
	/* A range: every port of it; no fromEndpoints: any peer. */
	assert_int_equal(t->n, 4);
	assert_int_equal(l7_req(t, web, 8001, other, "GET", "/public/a", NULL, 0), 1);
	assert_int_equal(l7_req(t, web, 8002, other, "GET", "/private", NULL, 0), 0);
	/* Port 0 for client: every request on the range too. */
	assert_int_equal(l7_req(t, web, 8002, client, "GET", "/private", NULL, 0), 1);
	fx_free(&f);
}

/* Alternatives, host and headers as Cilium documents them. */
static void test_l7_http_fields(void **state)
{
	const struct idg_http_kv token[] = { { "x-token", "abc" } },
				 wrong[] = { { "X-Token", "abcd" } },
				 both[] = { { "X-Token", "zzz" },
					    { "X-TOKEN", "abc" } };
	const struct idg_l7_table *t;
	struct fx f;
	uint32_t web, client;

	(void)state;
	fx_compile(&f, CAST CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromEndpoints: [{matchLabels: {app: client}}]\n"
		"    toPorts:\n"
		"    - ports: [{port: \"8080\", protocol: TCP}]\n"
		"      rules:\n"
		"        http:\n"
		"        - {method: GET, headers: [\"X-Token: abc\"]}\n"
		"        - {method: POST, host: \"web:[0-9]+\"}\n"
		"        - {method: PUT, host: \"other\"}\n"
		"        - {method: HEAD, headerMatches: [{name: X-Token}]}\n"),
		"n1");
	web = fx_id(&f, "web");
	client = fx_id(&f, "client");
	t = &f.c.l7;
	assert_int_equal(l7_req(t, web, 8080, client, "GET", "/", token, 1), 1);
	assert_int_equal(l7_req(t, web, 8080, client, "GET", "/", wrong, 1), 0);
	assert_int_equal(l7_req(t, web, 8080, client, "GET", "/", NULL, 0), 0);
	assert_int_equal(l7_req(t, web, 8080, client, "GET", "/", both, 2), 1);
	assert_int_equal(l7_req(t, web, 8080, client, "POST", "/", NULL, 0), 1);
	assert_int_equal(l7_req(t, web, 8080, client, "PUT", "/", NULL, 0), 0);
	assert_int_equal(l7_req(t, web, 8080, client, "HEAD", "/", wrong, 1), 1);
	assert_int_equal(l7_req(t, web, 8080, client, "HEAD", "/", NULL, 0), 0);
	fx_free(&f);
}

/* Endpoints marked expired (a silent mesh store) mark their ipcache
 * entries, under every cluster key; the node's own never are, nor are
 * node and CIDR entries. */
static void test_expired_endpoints_marked(void **state)
{
	struct fx f;
	size_t far = 0;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(idg_config_load_string("test.yaml", CAST
		CNP("p", "prod", WEB_SEL
		"  ingress:\n"
		"  - fromCIDR: [192.0.2.0/24]\n"), &f.cfg, &f.d), 0);
	for (size_t i = 0; i < f.cfg.n_endpoints; i++)
		f.cfg.endpoints[i].expired = true;
	assert_int_equal(idg_compile(&f.cfg, "n1", NULL, &f.c, &f.d), 0);
	for (size_t i = 0; i < f.c.n_ipcache; i++) {
		const struct idg_ipcache_entry *e = &f.c.ipcache[i];
		bool own = e->node && !strcmp(e->node, "n1");

		assert_int_equal(e->expired, e->endpoint && !own);
		far += e->endpoint && !strcmp(e->endpoint, "remote");
	}
	/* Its own cluster's key and the flat one under ours. */
	assert_int_equal(far, 2);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_namespaced_empty_selector_is_own_namespace),
		cmocka_unit_test(test_namespace_named_in_selector),
		cmocka_unit_test(test_namespace_operators_in_peer_selector),
		cmocka_unit_test(test_namespaced_subject_naming_another_namespace),
		cmocka_unit_test(test_clusterwide_empty_selector_is_every_endpoint),
		cmocka_unit_test(test_clusterwide_subject_every_namespace),
		cmocka_unit_test(test_namespaced_subject_own_namespace_only),
		cmocka_unit_test(test_no_peer_rule_is_any_peer),
		cmocka_unit_test(test_empty_rule_enforces_without_entries),
		cmocka_unit_test(test_empty_section_does_not_enforce),
		cmocka_unit_test(test_deny_only_policy_enforces),
		cmocka_unit_test(test_any_protocol_is_tcp_udp_sctp),
		cmocka_unit_test(test_l3_only_rule_every_protocol),
		cmocka_unit_test(test_icmps),
		cmocka_unit_test(test_port_zero_and_ranges),
		cmocka_unit_test(test_l7_article_policy),
		cmocka_unit_test(test_l7_port_is_redirected_whole),
		cmocka_unit_test(test_l7_http_fields),
		cmocka_unit_test(test_cidr_never_selects_endpoints),
		cmocka_unit_test(test_cidr_inside_endpoint_prefix),
		cmocka_unit_test(test_cidr_zero_is_world),
		cmocka_unit_test(test_broad_cidr_deny_beats_narrow_allow),
		cmocka_unit_test(test_cidr_except_selects_nothing_inside),
		cmocka_unit_test(test_entities),
		cmocka_unit_test(test_notin_doesnotexist_match_missing_key),
		cmocka_unit_test(test_values_are_case_sensitive),
		cmocka_unit_test(test_policy_defined_twice),
		cmocka_unit_test(test_subject_matching_nothing_warns),
		cmocka_unit_test(test_cross_cluster_needs_cluster_label),
		cmocka_unit_test(test_policy_applies_in_each_cluster),
		cmocka_unit_test(test_enable_default_deny),
		cmocka_unit_test(test_enforcement_always),
		cmocka_unit_test(test_enforcement_never),
		cmocka_unit_test(test_single_family_endpoints_warn),
		cmocka_unit_test(test_host_policy_node_selector),
		cmocka_unit_test(test_shared_identity_emitted_once),
		cmocka_unit_test(test_cookies_map_back_to_rules),
		cmocka_unit_test(test_cookies_stable_with_state),
		cmocka_unit_test(test_cookie_space_exhausted),
		cmocka_unit_test(test_unknown_node),
		cmocka_unit_test(test_unbound_endpoints_warn),
		cmocka_unit_test(test_expired_endpoints_marked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
