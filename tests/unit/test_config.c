// SPDX-License-Identifier: GPL-2.0
/*
 * Unit test of the config parser (loader/config*.c): a full valid mesh
 * down to exact model values, then one case per bad input, each checked
 * for its message and its FILE:LINE:COL.
 *
 * YAML is written one line per C string with the line number beside it,
 * so an expected position can be read off the source.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "config_int.h"
#include "model.h"
#include "seed_dump.h"

#define FILE_NAME "test.yaml"

static int load(const char *yaml, struct idg_config *cfg, struct idg_diags *d)
{
	memset(d, 0, sizeof(*d));
	seed_dump(yaml);
	return idg_config_load_string(FILE_NAME, yaml, cfg, d);
}

static const struct idg_diag *find(const struct idg_diags *d,
				   enum idg_diag_level level,
				   const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].level == level && d->v[i].msg &&
		    strstr(d->v[i].msg, needle))
			return &d->v[i];
	return NULL;
}

/*
 * yaml must give a diagnostic of level containing needle at line:col.
 * n_errors >= 0 also pins the number of errors, so one mistake does not
 * hide behind cascades of others.
 */
static void expect(const char *yaml, enum idg_diag_level level,
		   const char *needle, int line, int col, int n_errors)
{
	struct idg_config cfg;
	struct idg_diags d;
	int rc = load(yaml, &cfg, &d);
	const struct idg_diag *e = find(&d, level, needle);

	if (!e || e->pos.line != line || e->pos.col != col ||
	    (n_errors >= 0 && d.n_errors != (size_t)n_errors)) {
		fprintf(stderr, "expected %s '%s' at %d:%d (%d errors), got:\n",
			level == IDG_DIAG_ERROR ? "error" : "warning", needle,
			line, col, n_errors);
		idg_diags_print(&d, stderr);
		fail();
	}
	assert_string_equal(e->pos.file, FILE_NAME);
	if (level == IDG_DIAG_ERROR) {
		assert_int_equal(rc, -EINVAL);
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(d.n_errors, 0);
	}
	idg_config_free(&cfg);
	idg_diags_free(&d);
}

static void expect_err(const char *yaml, const char *needle, int line,
		       int col)
{
	expect(yaml, IDG_DIAG_ERROR, needle, line, col, 1);
}

static void expect_warn(const char *yaml, const char *needle, int line,
			int col)
{
	expect(yaml, IDG_DIAG_WARNING, needle, line, col, 0);
}

/* Loads yaml that must be clean: no error, no warning. */
static void load_clean(const char *yaml, struct idg_config *cfg)
{
	struct idg_diags d;
	int rc = load(yaml, cfg, &d);

	if (rc || d.n) {
		idg_diags_print(&d, stderr);
		fail();
	}
	idg_diags_free(&d);
}

static void assert_label(const struct idg_labels *l, size_t i,
			 const char *key, const char *value)
{
	assert_true(i < l->n);
	assert_string_equal(l->v[i].key, key);
	assert_string_equal(l->v[i].value, value);
}

static void assert_cidr(const struct idg_cidr *c, const char *addr,
			unsigned int plen)
{
	uint8_t want[16] = { 0 };
	int af = strchr(addr, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(af, addr, want), 1);
	assert_int_equal(c->family, af == AF_INET ? IDG_FAM_IPV4 : IDG_FAM_IPV6);
	assert_memory_equal(c->addr, want, 16);
	assert_int_equal(c->plen, plen);
}

static void assert_pos(struct idg_pos pos, int line, int col)
{
	assert_string_equal(pos.file, FILE_NAME);
	assert_int_equal(pos.line, line);
	assert_int_equal(pos.col, col);
}

/* ------------------------------------------------------------------ */

static const char mesh[] =
	"# two clusters, a gateway node, scenarios A and B\n"	/* 1 */
	"apiVersion: idgate.io/v1\n"				/* 2 */
	"kind: Node\n"						/* 3 */
	"metadata:\n"						/* 4 */
	"  name: node-a1\n"					/* 5 */
	"  labels:\n"						/* 6 */
	"    zone: a\n"						/* 7 */
	"    role: worker\n"					/* 8 */
	"spec:\n"						/* 9 */
	"  cluster: cluster-a\n"				/* 10 */
	"  clusterID: 1\n"					/* 11 */
	"  tunnelIP: 192.168.50.1\n"				/* 12 */
	"  interfaces:\n"					/* 13 */
	"    uplink: eth0\n"					/* 14 */
	"    endpoints: [veth-a1, veth-a2]\n"			/* 15 */
	"  xdpMode: native\n"					/* 16 */
	"---\n"							/* 17 */
	"apiVersion: idgate.io/v1\n"				/* 18 */
	"kind: Node\n"						/* 19 */
	"metadata:\n"						/* 20 */
	"  name: gw-b1\n"					/* 21 */
	"  labels: {role: gateway}\n"				/* 22 */
	"  annotations:\n"					/* 23 */
	"    egress.cilium.io/gateway-name: egress-b\n"		/* 24 */
	"spec:\n"						/* 25 */
	"  cluster: cluster-b\n"				/* 26 */
	"  clusterID: 2\n"					/* 27 */
	"  tunnelIP: fd00::2\n"					/* 28 */
	"  interfaces:\n"					/* 29 */
	"    uplink: eth0\n"					/* 30 */
	"    external: eth1\n"					/* 31 */
	"  egress:\n"						/* 32 */
	"    ip: 172.18.0.100\n"				/* 33 */
	"  xdpMode: skb\n"					/* 34 */
	"  policyEnforcement: always\n"				/* 35 */
	"---\n"							/* 36 */
	"apiVersion: idgate.io/v1\n"				/* 37 */
	"kind: Node\n"						/* 38 */
	"metadata:\n"						/* 39 */
	"  name: node-b2\n"					/* 40 */
	"spec:\n"						/* 41 */
	"  cluster: cluster-b\n"				/* 42 */
	"  clusterID: 2\n"					/* 43 */
	"  interfaces: {uplink: ens3}\n"			/* 44 */
	"---\n"							/* 45 */
	"---\n"							/* 46 */
	"apiVersion: idgate.io/v1\n"				/* 47 */
	"kind: Endpoint\n"					/* 48 */
	"metadata:\n"						/* 49 */
	"  name: billing-api\n"					/* 50 */
	"  namespace: production\n"				/* 51 */
	"  labels:\n"						/* 52 */
	"    tier: backend\n"					/* 53 */
	"    app: billing-api\n"				/* 54 */
	"spec: {interface: veth-a1,\n"				/* 55 */
	"  node: node-a1,\n"					/* 56 */
	"  ips: [10.0.1.10, \"fd00:1::10/128\"],\n"		/* 57 */
	"  identity: 300}\n"					/* 58 */
	"---\n"							/* 59 */
	"apiVersion: idgate.io/v1\n"				/* 60 */
	"kind: Endpoint\n"					/* 61 */
	"metadata:\n"						/* 62 */
	"  name: frontend\n"					/* 63 */
	"  namespace: production\n"				/* 64 */
	"  labels: {app: frontend}\n"				/* 65 */
	"spec: {node: node-a1,\n"				/* 66 */
	"  interface: veth-a2,\n"				/* 67 */
	"  ips: [10.0.1.20/32]}\n"				/* 68 */
	"---\n"							/* 69 */
	"apiVersion: idgate.io/v1\n"				/* 70 */
	"kind: Endpoint\n"					/* 71 */
	"metadata:\n"						/* 72 */
	"  name: data-processor\n"				/* 73 */
	"  labels: {app: data-processor, team: \"\"}\n"		/* 74 */
	"spec:\n"						/* 75 */
	"  node: node-b2\n"					/* 76 */
	"  ips: [10.0.1.10]\n"					/* 77 */
	"---\n"							/* 78 */
	"apiVersion: cilium.io/v2\n"				/* 79 */
	"kind: CiliumNetworkPolicy\n"				/* 80 */
	"metadata:\n"						/* 81 */
	"  name: billing-api\n"					/* 82 */
	"  namespace: production\n"				/* 83 */
	"spec:\n"						/* 84 */
	"  endpointSelector:\n"					/* 85 */
	"    matchLabels:\n"					/* 86 */
	"      app: billing-api\n"				/* 87 */
	"  ingress:\n"						/* 88 */
	"  - fromEndpoints:\n"					/* 89 */
	"    - matchLabels:\n"					/* 90 */
	"        app: frontend\n"				/* 91 */
	"    - matchLabels:\n"					/* 92 */
	"        k8s:app: batch-processor\n"			/* 93 */
	"    toPorts:\n"					/* 94 */
	"    - ports:\n"					/* 95 */
	"      - port: \"8080\"\n"				/* 96 */
	"        protocol: TCP\n"				/* 97 */
	"  egress: []\n"					/* 98 */
	"---\n"							/* 99 */
	"apiVersion: cilium.io/v2\n"				/* 100 */
	"kind: CiliumClusterwideNetworkPolicy\n"		/* 101 */
	"metadata:\n"						/* 102 */
	"  name: baseline\n"					/* 103 */
	"spec:\n"						/* 104 */
	"  description: keep the world out of ssh\n"		/* 105 */
	"  endpointSelector: {}\n"				/* 106 */
	"  enableDefaultDeny: {ingress: false}\n"		/* 107 */
	"  ingressDeny:\n"					/* 108 */
	"  - fromCIDRSet:\n"					/* 109 */
	"    - cidr: 0.0.0.0/0\n"				/* 110 */
	"      except: [10.0.0.0/8, 192.168.0.0/16]\n"		/* 111 */
	"    toPorts:\n"					/* 112 */
	"    - ports: [{port: 22, protocol: TCP}]\n"		/* 113 */
	"  ingress:\n"						/* 114 */
	"  - fromEntities: [cluster, host]\n"			/* 115 */
	"  - icmps:\n"						/* 116 */
	"    - fields:\n"					/* 117 */
	"      - type: EchoRequest\n"				/* 118 */
	"      - {type: 128, family: IPv6}\n"			/* 119 */
	"  egress:\n"						/* 120 */
	"  - toEndpoints:\n"					/* 121 */
	"    - matchExpressions:\n"				/* 122 */
	"      - {key: k8s:io.cilium.k8s.policy.cluster, operator: In, values: [cluster-a, cluster-b]}\n" /* 123 */
	"      - {key: tier, operator: DoesNotExist}\n"		/* 124 */
	"    toPorts:\n"					/* 125 */
	"    - ports:\n"					/* 126 */
	"      - {port: 5000, endPort: 5100, protocol: UDP}\n"	/* 127 */
	"      - {port: 443}\n"					/* 128 */
	"  - toEntities: [world]\n"				/* 129 */
	"  egressDeny:\n"					/* 130 */
	"  - toCIDR: [\"2001:db8::/32\"]\n"			/* 131 */
	"  labels: [{key: owner, value: netops}]\n"		/* 132 */
	"---\n"							/* 133 */
	"apiVersion: cilium.io/v2alpha1\n"			/* 134 */
	"kind: CiliumEgressGatewayPolicy\n"			/* 135 */
	"metadata:\n"						/* 136 */
	"  name: legacy-db\n"					/* 137 */
	"spec:\n"						/* 138 */
	"  selectors:\n"					/* 139 */
	"  - podSelector:\n"					/* 140 */
	"      matchLabels: {app: data-processor}\n"		/* 141 */
	"    namespaceSelector:\n"				/* 142 */
	"      matchLabels: {kubernetes.io/metadata.name: default}\n" /* 143 */
	"  destinationCIDRs: [172.18.200.10/32, 172.18.201.0/24]\n" /* 144 */
	"  excludedCIDRs: [172.18.201.128/25]\n"		/* 145 */
	"  egressGateway:\n"					/* 146 */
	"    gatewayName: egress-b\n"				/* 147 */
	"    clusterName: cluster-b\n"				/* 148 */
	"    egressIP: 172.18.0.100\n"				/* 149 */
	"    interface: eth1\n";				/* 150 */

static void check_nodes(const struct idg_config *cfg)
{
	const struct idg_node *a, *gw, *b2;

	assert_int_equal(cfg->n_nodes, 3);
	a = idg_config_node(cfg, "node-a1");
	gw = idg_config_node(cfg, "gw-b1");
	b2 = idg_config_node(cfg, "node-b2");
	assert_ptr_equal(a, &cfg->nodes[0]);
	assert_ptr_equal(gw, &cfg->nodes[1]);
	assert_ptr_equal(b2, &cfg->nodes[2]);
	assert_null(idg_config_node(cfg, "node-x"));

	assert_pos(a->pos, 2, 1);
	assert_int_equal(a->labels.n, 2);
	assert_label(&a->labels, 0, "role", "worker"); /* sorted by key */
	assert_label(&a->labels, 1, "zone", "a");
	assert_int_equal(a->annotations.n, 0);
	assert_null(a->gateway_name);
	assert_string_equal(a->cluster, "cluster-a");
	assert_int_equal(a->cluster_id, 1);
	assert_true(a->has_tunnel_ip);
	assert_cidr(&a->tunnel_ip, "192.168.50.1", 32);
	assert_string_equal(a->uplink, "eth0");
	assert_int_equal(a->n_endpoint_ifaces, 2);
	assert_string_equal(a->endpoint_ifaces[0], "veth-a1");
	assert_string_equal(a->endpoint_ifaces[1], "veth-a2");
	assert_null(a->external);
	assert_false(a->has_egress_ip);
	assert_int_equal(a->xdp_mode, IDG_XDP_NATIVE);
	assert_int_equal(a->enforcement, IDG_ENF_DEFAULT);

	assert_pos(gw->pos, 18, 1);
	assert_label(&gw->labels, 0, "role", "gateway");
	assert_int_equal(gw->annotations.n, 1);
	assert_label(&gw->annotations, 0, IDG_ANNOTATION_GATEWAY, "egress-b");
	assert_string_equal(gw->gateway_name, "egress-b");
	assert_string_equal(gw->cluster, "cluster-b");
	assert_int_equal(gw->cluster_id, 2);
	assert_cidr(&gw->tunnel_ip, "fd00::2", 128);
	assert_string_equal(gw->external, "eth1");
	assert_int_equal(gw->n_endpoint_ifaces, 0);
	assert_true(gw->has_egress_ip);
	assert_cidr(&gw->egress_ip, "172.18.0.100", 32);
	assert_int_equal(gw->xdp_mode, IDG_XDP_SKB);
	assert_int_equal(gw->enforcement, IDG_ENF_ALWAYS);

	assert_false(b2->has_tunnel_ip);
	assert_string_equal(b2->uplink, "ens3");
	assert_int_equal(b2->xdp_mode, IDG_XDP_AUTO);
	assert_int_equal(b2->labels.n, 0);
}

static void check_endpoints(const struct idg_config *cfg)
{
	const struct idg_endpoint *ep;

	assert_int_equal(cfg->n_endpoints, 3);
	ep = &cfg->endpoints[0];
	assert_pos(ep->pos, 47, 1);
	assert_string_equal(ep->name, "billing-api");
	assert_string_equal(ep->namespace, "production");
	assert_int_equal(ep->labels.n, 2);
	assert_label(&ep->labels, 0, "app", "billing-api");
	assert_label(&ep->labels, 1, "tier", "backend");
	assert_string_equal(ep->node, "node-a1");
	assert_int_equal(ep->n_ips, 2);
	assert_cidr(&ep->ips[0], "10.0.1.10", 32);
	assert_pos(ep->ips[0].pos, 57, 9);
	assert_cidr(&ep->ips[1], "fd00:1::10", 128);
	assert_int_equal(ep->pinned_identity, 300);
	assert_string_equal(ep->interface, "veth-a1");
	assert_pos(ep->interface_pos, 55, 19);

	ep = &cfg->endpoints[1];
	assert_string_equal(ep->name, "frontend");
	assert_cidr(&ep->ips[0], "10.0.1.20", 32);
	assert_int_equal(ep->pinned_identity, 0);
	assert_string_equal(ep->interface, "veth-a2");

	ep = &cfg->endpoints[2];
	assert_string_equal(ep->name, "data-processor");
	assert_string_equal(ep->namespace, "default");
	assert_label(&ep->labels, 0, "app", "data-processor");
	assert_label(&ep->labels, 1, "team", "");
	assert_string_equal(ep->node, "node-b2");
	/* the same IP as billing-api, in another cluster: fine */
	assert_cidr(&ep->ips[0], "10.0.1.10", 32);
}

static void check_cnp(const struct idg_policy *pol)
{
	const struct idg_rule *r;

	assert_pos(pol->pos, 79, 1);
	assert_string_equal(pol->name, "billing-api");
	assert_string_equal(pol->namespace, "production");
	assert_false(pol->clusterwide);
	assert_false(pol->node_selector);
	assert_int_equal(pol->subject.match_labels.n, 1);
	assert_label(&pol->subject.match_labels, 0, "app", "billing-api");
	assert_int_equal(pol->subject.n_exprs, 0);
	assert_int_equal(pol->default_deny[0], -1);
	assert_int_equal(pol->default_deny[1], -1);
	assert_true(pol->present[IDG_RS_INGRESS]);
	assert_true(pol->present[IDG_RS_EGRESS]); /* egress: [] */
	assert_false(pol->present[IDG_RS_INGRESS_DENY]);
	assert_false(pol->present[IDG_RS_EGRESS_DENY]);
	assert_int_equal(pol->n_rules[IDG_RS_INGRESS], 1);
	assert_int_equal(pol->n_rules[IDG_RS_EGRESS], 0);

	r = &pol->rules[IDG_RS_INGRESS][0];
	assert_pos(r->pos, 89, 5);
	assert_true(r->has_endpoints);
	assert_int_equal(r->n_endpoints, 2);
	assert_label(&r->endpoints[0].match_labels, 0, "app", "frontend");
	/* the k8s: source prefix is dropped */
	assert_label(&r->endpoints[1].match_labels, 0, "app",
		     "batch-processor");
	assert_false(r->has_cidrs);
	assert_false(r->has_entities);
	assert_int_equal(r->n_ports, 1);
	assert_int_equal(r->ports[0].port, 8080);
	assert_int_equal(r->ports[0].end_port, 0);
	assert_int_equal(r->ports[0].proto, IPPROTO_TCP);
	assert_pos(r->ports[0].pos, 96, 9);
	assert_int_equal(r->n_icmps, 0);
}

static void check_ccnp(const struct idg_policy *pol)
{
	const struct idg_rule *r;
	const struct idg_sel_expr *e;

	assert_string_equal(pol->name, "baseline");
	assert_null(pol->namespace);
	assert_true(pol->clusterwide);
	assert_false(pol->node_selector);
	/* {}: present and empty, matches everything */
	assert_int_equal(pol->subject.match_labels.n, 0);
	assert_int_equal(pol->subject.n_exprs, 0);
	assert_pos(pol->subject.pos, 106, 21);
	assert_int_equal(pol->default_deny[0], 0);
	assert_int_equal(pol->default_deny[1], -1);

	assert_int_equal(pol->n_rules[IDG_RS_INGRESS_DENY], 1);
	r = &pol->rules[IDG_RS_INGRESS_DENY][0];
	assert_true(r->has_cidrs);
	assert_false(r->has_endpoints);
	assert_int_equal(r->n_cidrs, 1);
	assert_cidr(&r->cidrs[0].cidr, "0.0.0.0", 0);
	assert_int_equal(r->cidrs[0].n_except, 2);
	assert_cidr(&r->cidrs[0].except[0], "10.0.0.0", 8);
	assert_cidr(&r->cidrs[0].except[1], "192.168.0.0", 16);
	assert_int_equal(r->n_ports, 1);
	assert_int_equal(r->ports[0].port, 22);
	assert_int_equal(r->ports[0].proto, IPPROTO_TCP);

	assert_int_equal(pol->n_rules[IDG_RS_INGRESS], 2);
	r = &pol->rules[IDG_RS_INGRESS][0];
	assert_true(r->has_entities);
	assert_int_equal(r->entities, IDG_ENT_CLUSTER | IDG_ENT_HOST);
	assert_int_equal(r->n_ports, 0);
	r = &pol->rules[IDG_RS_INGRESS][1];
	assert_false(r->has_entities || r->has_endpoints || r->has_cidrs);
	assert_int_equal(r->n_icmps, 2);
	assert_int_equal(r->icmps[0].family, IDG_FAM_IPV4);
	assert_int_equal(r->icmps[0].type, 8);
	assert_int_equal(r->icmps[1].family, IDG_FAM_IPV6);
	assert_int_equal(r->icmps[1].type, 128);

	assert_int_equal(pol->n_rules[IDG_RS_EGRESS], 2);
	r = &pol->rules[IDG_RS_EGRESS][0];
	assert_int_equal(r->n_endpoints, 1);
	assert_int_equal(r->endpoints[0].match_labels.n, 0);
	assert_int_equal(r->endpoints[0].n_exprs, 2);
	e = &r->endpoints[0].exprs[0];
	assert_string_equal(e->key, IDG_LABEL_CLUSTER);
	assert_int_equal(e->op, IDG_SEL_IN);
	assert_int_equal(e->n_values, 2);
	assert_string_equal(e->values[0], "cluster-a");
	assert_string_equal(e->values[1], "cluster-b");
	assert_pos(e->pos, 123, 9);
	e = &r->endpoints[0].exprs[1];
	assert_string_equal(e->key, "tier");
	assert_int_equal(e->op, IDG_SEL_DOES_NOT_EXIST);
	assert_int_equal(e->n_values, 0);
	assert_int_equal(r->n_ports, 2);
	assert_int_equal(r->ports[0].port, 5000);
	assert_int_equal(r->ports[0].end_port, 5100);
	assert_int_equal(r->ports[0].proto, IPPROTO_UDP);
	assert_int_equal(r->ports[1].port, 443);
	assert_int_equal(r->ports[1].proto, 0); /* ANY */
	r = &pol->rules[IDG_RS_EGRESS][1];
	assert_int_equal(r->entities, IDG_ENT_WORLD);

	assert_int_equal(pol->n_rules[IDG_RS_EGRESS_DENY], 1);
	r = &pol->rules[IDG_RS_EGRESS_DENY][0];
	assert_int_equal(r->n_cidrs, 1);
	assert_cidr(&r->cidrs[0].cidr, "2001:db8::", 32);
	assert_int_equal(r->cidrs[0].n_except, 0);
}

static void check_egw(const struct idg_config *cfg)
{
	const struct idg_egw_policy *egw;
	const struct idg_egw_gateway *gw;

	assert_int_equal(cfg->n_egw_policies, 1);
	egw = &cfg->egw_policies[0];
	assert_string_equal(egw->name, "legacy-db");
	assert_pos(egw->pos, 134, 1);
	assert_int_equal(egw->n_selectors, 1);
	assert_label(&egw->selectors[0].pod.match_labels, 0, "app",
		     "data-processor");
	assert_true(egw->selectors[0].has_namespace);
	assert_label(&egw->selectors[0].ns.match_labels, 0,
		     "kubernetes.io/metadata.name", "default");
	assert_int_equal(egw->n_destinations, 2);
	assert_cidr(&egw->destinations[0], "172.18.200.10", 32);
	assert_cidr(&egw->destinations[1], "172.18.201.0", 24);
	assert_int_equal(egw->n_excluded, 1);
	assert_cidr(&egw->excluded[0], "172.18.201.128", 25);
	assert_int_equal(egw->n_gateways, 1);
	gw = &egw->gateways[0];
	assert_string_equal(gw->gateway_name, "egress-b");
	assert_string_equal(gw->cluster_name, "cluster-b");
	assert_false(gw->has_node_selector);
	assert_string_equal(gw->interface, "eth1");
	assert_true(gw->has_egress_ip);
	assert_cidr(&gw->egress_ip, "172.18.0.100", 32);
	assert_pos(gw->pos, 147, 5);
}

static void test_full_mesh(void **state)
{
	struct idg_config cfg;

	(void)state;
	load_clean(mesh, &cfg);
	assert_string_equal(cfg.file, FILE_NAME);
	check_nodes(&cfg);
	check_endpoints(&cfg);
	assert_int_equal(cfg.n_policies, 2);
	check_cnp(&cfg.policies[0]);
	check_ccnp(&cfg.policies[1]);
	check_egw(&cfg);
	idg_config_free(&cfg);
	/* freeing twice is harmless: free leaves an empty config */
	idg_config_free(&cfg);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/idgate-test-config-XXXXXX";
	struct idg_config cfg;
	struct idg_diags d = { 0 };
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, mesh, sizeof(mesh) - 1),
			 (ssize_t)(sizeof(mesh) - 1));
	close(fd);
	assert_int_equal(idg_config_load(path, &cfg, &d), 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(cfg.file, path);
	assert_int_equal(cfg.n_nodes, 3);
	assert_string_equal(cfg.nodes[2].name, "node-b2");
	assert_string_equal(cfg.policies[0].rules[IDG_RS_INGRESS][0].pos.file,
			    path);
	idg_config_free(&cfg);
	unlink(path);

	assert_int_equal(idg_config_load(path, &cfg, &d), -ENOENT);
	assert_int_equal(d.n_errors, 1);
	assert_string_equal(d.v[0].pos.file, path);
	assert_non_null(strstr(d.v[0].msg, "cannot open"));
	idg_config_free(&cfg);
	idg_diags_free(&d);
}

/* ---- a config directory ---- */

#define DIR_NODE(name, id)                                                \
	"apiVersion: idgate.io/v1\nkind: Node\nmetadata:\n  name: " name \
	"\nspec:\n  cluster: c" id "\n  clusterID: " id                  \
	"\n  tunnelIP: 192.168.9." id "\n  interfaces:\n    uplink: eth0\n"

static void dir_put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void dir_rm(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(remove(path), 0);
}

static void test_load_dir(void **state)
{
	char dir[] = "/tmp/idgate-test-cfgdir-XXXXXX", sub[300], want[300];
	struct idg_config cfg;
	struct idg_diags d = { 0 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* Empty: an error, not an empty policy. */
	assert_int_equal(idg_config_load(dir, &cfg, &d), -EINVAL);
	assert_true(idg_diags_has(&d, IDG_DIAG_ERROR, "no *.yaml files"));
	idg_config_free(&cfg);
	idg_diags_free(&d);

	/* Read in name order, whatever the creation order; hidden files,
	 * other suffixes and directories are not config. */
	dir_put(dir, "b.yaml", DIR_NODE("node-b", "2") "---\n"
			       "apiVersion: idgate.io/v1\nkind: Endpoint\n"
			       "metadata:\n  name: web\n"
			       "spec:\n  node: node-a\n  ips: [10.0.0.1]\n");
	dir_put(dir, "a.yaml", DIR_NODE("node-a", "1"));
	dir_put(dir, ".b.yaml.swp", "not: [yaml");
	dir_put(dir, "notes.txt", "not: [yaml");
	dir_put(dir, "old.yml", "not: [yaml");
	snprintf(sub, sizeof(sub), "%s/sub.yaml", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(idg_config_load(dir, &cfg, &d), 0);
	assert_int_equal(d.n_errors, 0);
	assert_true(idg_diags_has(&d, IDG_DIAG_WARNING,
				  "old.yml ignored: a config directory"));
	assert_string_equal(cfg.file, dir);
	assert_int_equal(cfg.n_nodes, 2);
	assert_string_equal(cfg.nodes[0].name, "node-a");
	assert_string_equal(cfg.nodes[1].name, "node-b");
	assert_int_equal(cfg.n_endpoints, 1);
	snprintf(want, sizeof(want), "%s/b.yaml", dir);
	assert_string_equal(cfg.endpoints[0].pos.file, want);
	assert_int_equal(cfg.endpoints[0].pos.line, 12);
	/* The bytes parsed, kept per file in name order (what apply saves). */
	assert_true(cfg.dir);
	assert_int_equal(cfg.n_texts, 2);
	assert_int_equal(cfg.text_lens[0], strlen(DIR_NODE("node-a", "1")));
	assert_memory_equal(cfg.texts[0], DIR_NODE("node-a", "1"), cfg.text_lens[0]);
	idg_config_free(&cfg);
	idg_diags_free(&d);

	/* An error names its own file and line; one across files names
	 * the other file. */
	dir_put(dir, "c.yaml", "# a comment\n" DIR_NODE("node-a", "1"));
	assert_int_equal(idg_config_load(dir, &cfg, &d), -EINVAL);
	assert_int_equal(d.n_errors, 1);
	snprintf(want, sizeof(want), "%s/c.yaml", dir);
	assert_string_equal(d.v[d.n - 1].pos.file, want);
	assert_int_equal(d.v[d.n - 1].pos.line, 2);
	snprintf(want, sizeof(want), "first defined at %s/a.yaml:1", dir);
	assert_true(idg_diags_has(&d, IDG_DIAG_ERROR, want));
	idg_config_free(&cfg);
	idg_diags_free(&d);
	dir_put(dir, "c.yaml", "kind: [broken\n");
	assert_int_equal(idg_config_load(dir, &cfg, &d), -EINVAL);
	snprintf(want, sizeof(want), "%s/c.yaml", dir);
	assert_string_equal(d.v[d.n - 1].pos.file, want);
	idg_config_free(&cfg);
	idg_diags_free(&d);

	dir_rm(dir, "c.yaml");
	dir_rm(dir, "a.yaml");
	dir_rm(dir, "b.yaml");
	dir_rm(dir, ".b.yaml.swp");
	dir_rm(dir, "notes.txt");
	dir_rm(dir, "old.yml");
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_empty_documents(void **state)
{
	struct idg_config cfg;

	(void)state;
	load_clean("", &cfg);
	assert_int_equal(cfg.n_nodes + cfg.n_policies, 0);
	idg_config_free(&cfg);
	load_clean("# nothing\n---\n---\n# still nothing\n...\n", &cfg);
	idg_config_free(&cfg);
	/* An empty mapping or sequence closing before any other one
	 * (found by fuzz_config: the composer copied from NULL). */
	expect_err("{}\n", "missing field 'kind' in the document", 1, 1);
	expect_err("[]\n", "a document must be a mapping", 1, 1);
}

/* ---- scenario A: the article's billing-api policy ---- */

#define BILLING_L4 \
	"apiVersion: \"cilium.io/v2\"\n"		/* 1 */ \
	"kind: CiliumNetworkPolicy\n"			/* 2 */ \
	"metadata:\n"					/* 3 */ \
	"  name: \"billing-api-policy\"\n"		/* 4 */ \
	"  namespace: production\n"			/* 5 */ \
	"spec:\n"					/* 6 */ \
	"  endpointSelector:\n"				/* 7 */ \
	"    matchLabels:\n"				/* 8 */ \
	"      app: billing-api\n"			/* 9 */ \
	"  ingress:\n"					/* 10 */ \
	"  - fromEndpoints:\n"				/* 11 */ \
	"    - matchLabels:\n"				/* 12 */ \
	"        app: frontend\n"			/* 13 */ \
	"    - matchLabels:\n"				/* 14 */ \
	"        app: batch-processor\n"		/* 15 */ \
	"    toPorts:\n"				/* 16 */ \
	"    - ports:\n"				/* 17 */ \
	"      - port: \"8080\"\n"			/* 18 */ \
	"        protocol: TCP\n"			/* 19 */

static void test_billing_api_l4(void **state)
{
	struct idg_config cfg;
	const struct idg_rule *r;

	(void)state;
	load_clean(BILLING_L4, &cfg);
	assert_int_equal(cfg.n_policies, 1);
	assert_string_equal(cfg.policies[0].name, "billing-api-policy");
	assert_string_equal(cfg.policies[0].namespace, "production");
	assert_label(&cfg.policies[0].subject.match_labels, 0, "app",
		     "billing-api");
	assert_int_equal(cfg.policies[0].n_rules[IDG_RS_INGRESS], 1);
	r = &cfg.policies[0].rules[IDG_RS_INGRESS][0];
	assert_int_equal(r->n_endpoints, 2);
	assert_label(&r->endpoints[0].match_labels, 0, "app", "frontend");
	assert_label(&r->endpoints[1].match_labels, 0, "app",
		     "batch-processor");
	assert_int_equal(r->n_ports, 1);
	assert_int_equal(r->ports[0].port, 8080);
	assert_int_equal(r->ports[0].proto, IPPROTO_TCP);
	idg_config_free(&cfg);
}

/* A policy whose one toPorts entry has the ports given and HTTP rules. */
#define CNP_L7_PORTS(ports) \
	"apiVersion: cilium.io/v2\n"			/* 1 */ \
	"kind: CiliumNetworkPolicy\n"			/* 2 */ \
	"metadata:\n"					/* 3 */ \
	"  name: p\n"					/* 4 */ \
	"  namespace: production\n"			/* 5 */ \
	"spec:\n"					/* 6 */ \
	"  endpointSelector:\n"				/* 7 */ \
	"    matchLabels: {app: billing-api}\n"		/* 8 */ \
	"  ingress:\n"					/* 9 */ \
	"  - toPorts:\n"				/* 10 */ \
	"    - ports:\n"				/* 11 */ \
	"      - " ports "\n"				/* 12 */ \
	"      rules:\n"				/* 13 */ \
	"        http: [{method: GET}]\n"		/* 14 */

/* The article's L7 policy: its rules section after BILLING_L4. */
#define BILLING_L7 \
	BILLING_L4 \
	"      rules:\n"					/* 20 */ \
	"        http:\n"				/* 21 */ \
	"        - method: \"GET\"\n"			/* 22 */ \
	"          path: \"/api/v1/users/.*\"\n"		/* 23 */ \
	"        - method: \"POST\"\n"			/* 24 */ \
	"          path: \"/api/internal/process-batch\"\n" /* 25 */ \
	"          host: \"billing\\\\.internal(:8080)?\"\n" /* 26 */ \
	"          headers: [\"X-Batch: nightly run\", X-Trace]\n" /* 27 */ \
	"          headerMatches:\n"			/* 28 */ \
	"          - {name: X-Env, value: prod}\n"	/* 29 */ \
	"          - {name: X-Req}\n"			/* 30 */ \
	"        - {}\n"				/* 31 */

/* The rules read into the model with Cilium's meaning. */
static void test_billing_api_l7(void **state)
{
	struct idg_config cfg;
	const struct idg_rule *r;
	const struct idg_http_rule *h;

	(void)state;
	load_clean(BILLING_L7, &cfg);
	r = &cfg.policies[0].rules[IDG_RS_INGRESS][0];
	assert_int_equal(r->n_ports, 1);
	assert_int_equal(r->ports[0].l7, 0);
	assert_int_equal(r->n_l7, 1);
	assert_pos(r->l7[0].pos, 20, 7);
	assert_int_equal(r->l7[0].n_http, 3);
	h = &r->l7[0].http[0];
	assert_string_equal(h->method, "GET");
	assert_string_equal(h->path, "/api/v1/users/.*");
	assert_null(h->host);
	assert_int_equal(h->n_headers, 0);
	assert_pos(h->pos, 22, 11);
	h = &r->l7[0].http[1];
	assert_string_equal(h->method, "POST");
	assert_string_equal(h->path, "/api/internal/process-batch");
	assert_string_equal(h->host, "billing\\.internal(:8080)?");
	assert_int_equal(h->n_headers, 4);
	/* Split at the first space, the name's colon dropped. */
	assert_string_equal(h->headers[0].name, "X-Batch");
	assert_string_equal(h->headers[0].value, "nightly run");
	assert_string_equal(h->headers[1].name, "X-Trace");
	assert_null(h->headers[1].value);
	assert_string_equal(h->headers[2].name, "X-Env");
	assert_string_equal(h->headers[2].value, "prod");
	assert_string_equal(h->headers[3].name, "X-Req");
	assert_null(h->headers[3].value);
	/* An empty entry: every request. */
	h = &r->l7[0].http[2];
	assert_null(h->method);
	assert_null(h->path);
	assert_null(h->host);
	assert_int_equal(h->n_headers, 0);
	idg_config_free(&cfg);
}

/* An empty rules section is no L7 rule, as in Cilium: the ports alone. */
static void test_l7_empty_is_l4(void **state)
{
	static const char *const empty[] = { "      rules: {}\n",
					     "      rules: {http: []}\n",
					     "      rules:\n" };
	struct idg_config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(empty) / sizeof(*empty); i++) {
		char yaml[4096];

		snprintf(yaml, sizeof(yaml), "%s%s", BILLING_L4, empty[i]);
		load_clean(yaml, &cfg);
		assert_int_equal(cfg.policies[0].rules[IDG_RS_INGRESS][0].n_l7,
				 0);
		assert_int_equal(cfg.policies[0].rules[IDG_RS_INGRESS][0].ports[0].l7,
				 -1);
		idg_config_free(&cfg);
	}
}

/* Each is refused with its own message. */
static const struct {
	const char *rules; /* from line 20 on, after BILLING_L4 */
	const char *needle;
	int line, col;
} l7_refuses[] = {
	{ "      rules:\n        http: [{method: \"GET(\"}]\n",
	  "rules.http.method: bad regex 'GET(': missing closing parenthesis (at offset 4)", 21, 25 },
	{ "      rules:\n        http: [{path: \"/a/(?!admin).*\"}]\n",
	  "rules.http.path: bad regex '/a/(?!admin).*': (?!a is not in RE2's syntax", 21, 23 },
	{ "      rules:\n        http: [{host: \"(a)\\\\1\"}]\n",
	  "backreference", 21, 23 },
	{ "      rules:\n        http: [{headers: [\"Bad:Name x\"]}]\n",
	  "rules.http.headers: 'Bad:Name' does not start with a header name idgate can match", 21, 27 },
	{ "      rules:\n        http: [{headers: [\"X-A:  two spaces\"]}]\n",
	  "the value of 'X-A' has a control character or surrounding spaces", 21, 27 },
	{ "      rules:\n        http: [{headers: [\"X#A\"]}]\n",
	  "'X#A' does not start with a header name idgate can match", 21, 27 },
	{ "      rules:\n        http: [{headerMatches: [{name: X-A, value: \"b \"}]}]\n",
	  "rules.http.headerMatches.value: a control character or surrounding spaces", 21, 52 },
	{ "      rules:\n        http: [{path: \"/a\\nb\"}]\n",
	  "rules.http.path: regex '/a\nb' holds a control character", 21, 23 },
	{ "      rules:\n        http: [{headerMatches: [{value: x}]}]\n",
	  "missing field 'name'", 21, 33 },
	{ "      rules:\n        http: [{headerMatches: [{name: X-A, secret: {name: s}}]}]\n",
	  "secret is not supported: idgate has no Kubernetes secrets", 21, 45 },
	{ "      rules:\n        http: [{headerMatches: [{name: X-A, value: b, mismatch: LOG}]}]\n",
	  "mismatch is not supported", 21, 55 },
	{ "      rules:\n        http: [{verb: GET}]\n",
	  "unknown field 'verb' in rules.http", 21, 17 },
};

static void test_l7_refuses(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(l7_refuses) / sizeof(*l7_refuses); i++) {
		char yaml[4096];

		snprintf(yaml, sizeof(yaml), "%s%s", BILLING_L4,
			 l7_refuses[i].rules);
		expect_err(yaml, l7_refuses[i].needle, l7_refuses[i].line,
			   l7_refuses[i].col);
	}
	/* Other L7 kinds. */
	expect_err(BILLING_L4
		   "      rules:\n"				/* 20 */
		   "        kafka: [{topic: invoices}]\n",	/* 21 */
		   "Kafka rules (rules.kafka) are not supported", 21, 9);
	expect_err(BILLING_L4
		   "      rules:\n"				/* 20 */
		   "        dns: [{matchPattern: \"*\"}]\n",	/* 21 */
		   "DNS rules (rules.dns)", 21, 9);
}

/* Cilium's PortRule checks: L7 on TCP ports other than 0 only. */
static void test_l7_ports(void **state)
{
	struct idg_config cfg;

	(void)state;
	expect_err(CNP_L7_PORTS("{port: \"80\"}"),
		   "L7 rules can only apply to TCP (not ANY)", 12, 9);
	expect_err(CNP_L7_PORTS("{port: \"53\", protocol: UDP}"),
		   "L7 rules can only apply to TCP (not UDP)", 12, 9);
	expect_err(CNP_L7_PORTS("{port: \"0\", protocol: TCP}"),
		   "L7 rules can not be used when a port is 0", 12, 9);
	/* A range is Cilium's too. */
	load_clean(CNP_L7_PORTS("{port: \"80\", endPort: 90, protocol: TCP}"),
		   &cfg);
	assert_int_equal(cfg.policies[0].rules[IDG_RS_INGRESS][0].ports[0].l7, 0);
	idg_config_free(&cfg);
}

/* ---- bad input: YAML and document structure ---- */

#define CNP_HEAD \
	"apiVersion: cilium.io/v2\n"			/* 1 */ \
	"kind: CiliumNetworkPolicy\n"			/* 2 */ \
	"metadata:\n"					/* 3 */ \
	"  name: p\n"					/* 4 */ \
	"  namespace: production\n"			/* 5 */ \
	"spec:\n"					/* 6 */ \
	"  endpointSelector:\n"				/* 7 */ \
	"    matchLabels: {app: billing-api}\n"		/* 8 */

#define NODE_A \
	"apiVersion: idgate.io/v1\n"			/* 1 */ \
	"kind: Node\n"					/* 2 */ \
	"metadata: {name: node-a}\n"			/* 3 */ \
	"spec:\n"					/* 4 */ \
	"  cluster: cluster-a\n"			/* 5 */ \
	"  clusterID: 1\n"				/* 6 */ \
	"  interfaces: {uplink: eth0}\n"		/* 7 */

/*
 * What Cilium's API refuses (its CRD schema and the Sanitize() methods of
 * its policy API), one row each: the spec lines after CNP_HEAD (line 9
 * on), the message and where it points. docs/config.md lists them.
 */
static const struct {
	const char *spec;
	const char *needle;
	int line, col;
} cilium_refuses[] = {
	{ "", "has none of ingress, ingressDeny, egress and egressDeny", 7, 3 },
	{ "  enableDefaultDeny: {ingress: true}\n",
	  "has none of ingress, ingressDeny, egress and egressDeny", 7, 3 },
	{ "  ingress:\n  - toPorts:\n    - ports:\n      - port: \"010\"\n",
	  "leading zero, which Cilium reads as octal", 12, 15 },
	{ "  ingress:\n  - icmps:\n    - fields:\n      - type: \"008\"\n",
	  "ICMP type '008': write the number in decimal", 12, 15 },
	{ "  ingress:\n  - icmps:\n    - fields:\n      - type: \"+8\"\n",
	  "ICMP type '+8'", 12, 15 },
	{ "  ingress:\n  - fromEndpoints: [{matchLabels: {app: 'a b'}}]\n",
	  "value 'a b' of label 'app' is not valid in Kubernetes", 10, 41 },
	{ "  ingress:\n  - fromEndpoints: [{matchLabels: {app: ab-}}]\n",
	  "value 'ab-' of label 'app'", 10, 41 },
	{ "  ingress:\n  - fromEndpoints: [{matchLabels: {app: "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}]\n",
	  "of label 'app' is not valid", 10, 41 },
	{ "  ingress:\n  - fromEndpoints: [{matchLabels: {'a b': x}}]\n",
	  "label key 'a b' is not valid in Kubernetes: its name", 10, 36 },
	{ "  ingress:\n  - fromEndpoints: [{matchLabels: {'Example.com/app': x}}]\n",
	  "label key 'Example.com/app' is not valid in Kubernetes: its prefix", 10, 36 },
	{ "  ingress:\n  - fromEndpoints:\n    - matchExpressions:\n"
	  "      - {key: 'a/b/c', operator: Exists}\n",
	  "matchExpressions key: label key 'a/b/c'", 12, 15 },
	{ "  ingress:\n  - fromEndpoints:\n    - matchExpressions:\n"
	  "      - {key: app, operator: In, values: ['a=b']}\n",
	  "value 'a=b' of label 'app'", 12, 43 },
	{ "  egress:\n  - toCIDR: [192.0.2.1]\n",
	  "toCIDR: '192.0.2.1' has no prefix length: Cilium takes a CIDR here (write 192.0.2.1/32)",
	  10, 14 },
	{ "  egress:\n  - toCIDRSet: [{cidr: '2001:db8::1'}]\n",
	  "has no prefix length", 10, 24 },
	{ "  egress:\n  - toCIDRSet: [{cidr: 192.0.2.0/24, except: [192.0.2.1]}]\n",
	  "except: '192.0.2.1' has no prefix length", 10, 47 },
};

static void test_cilium_refuses(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cilium_refuses) / sizeof(*cilium_refuses);
	     i++) {
		char yaml[4096];

		snprintf(yaml, sizeof(yaml), "%s%s", CNP_HEAD,
			 cilium_refuses[i].spec);
		expect_err(yaml, cilium_refuses[i].needle,
			   cilium_refuses[i].line, cilium_refuses[i].col);
	}
}

/* Cilium's limit of 40 ports in one toPorts entry and 40 fields in one
 * icmps entry. */
static void test_cilium_list_limits(void **state)
{
	char yaml[8192];
	size_t n;

	(void)state;
	n = (size_t)snprintf(yaml, sizeof(yaml), "%s", CNP_HEAD
			     "  ingress:\n  - toPorts:\n    - ports:\n");
	for (int i = 0; i < 41; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
				      "      - port: \"%d\"\n", 1000 + i);
	expect_err(yaml, "toPorts entry with 41 ports: Cilium takes at most 40", 12, 7);
	/* 40 is fine */
	n = (size_t)snprintf(yaml, sizeof(yaml), "%s", CNP_HEAD
			     "  ingress:\n  - toPorts:\n    - ports:\n");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
				      "      - port: \"%d\"\n", 1000 + i);
	{
		struct idg_config cfg;

		load_clean(yaml, &cfg);
		idg_config_free(&cfg);
	}
	n = (size_t)snprintf(yaml, sizeof(yaml), "%s", CNP_HEAD
			     "  ingress:\n  - icmps:\n    - fields:\n");
	for (int i = 0; i < 41; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
				      "      - type: %d\n", i);
	expect_err(yaml, "icmps entry with 41 fields: Cilium takes at most 40", 12, 7);
}

/* Kubernetes' label rules hold for config objects' labels too, and a
 * namespace is a DNS label; annotations' values are free. */
static void test_k8s_names(void **state)
{
	struct idg_config cfg;

	(void)state;
	/* (The missing Node is an error too: -1, any number of errors.) */
	expect("apiVersion: idgate.io/v1\n"
	       "kind: Endpoint\n"
	       "metadata: {name: e, namespace: prod, labels: {app: 'x,b=y'}}\n"
	       "spec: {node: n1, ips: [10.0.0.1]}\n", IDG_DIAG_ERROR,
	       "value 'x,b=y' of label 'app' is not valid in Kubernetes", 3, 52,
	       -1);
	expect("apiVersion: idgate.io/v1\n"
	       "kind: Endpoint\n"
	       "metadata: {name: e, namespace: Prod}\n"
	       "spec: {node: n1, ips: [10.0.0.1]}\n", IDG_DIAG_ERROR,
	       "metadata.namespace 'Prod' is not a Kubernetes namespace name", 3,
	       32, -1);
	load_clean("apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata:\n"
		   "  name: n1\n"
		   "  labels: {kubernetes.io/hostname: n1, example.com/zone: eu-1}\n"
		   "  annotations: {note: 'free text, with = and spaces'}\n"
		   "spec: {cluster: c, clusterID: 1, interfaces: {uplink: eth0}}\n",
		   &cfg);
	idg_config_free(&cfg);
}

static void test_malformed_yaml(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromEndpoints: [{matchLabels: {app: x}}\n" /* 10 */
		   "  egress: []\n",				/* 11 */
		   "did not find expected ',' or ']'", 11, 3);
	expect_err("a: b\n"
		   "  c: d\n",
		   "mapping values are not allowed in this context", 2, 4);
	expect_err("kind: [\n", "did not find expected node content", 2, 1);
	expect_err("a: *nothing\n", "found undefined alias", 1, 4);
}

static void test_keeps_going(void **state)
{
	struct idg_config cfg;
	struct idg_diags d;

	(void)state;
	/* errors in two documents are both reported */
	assert_int_equal(load(CNP_HEAD
			      "  ingres: []\n"			/* 9 */
			      "---\n"				/* 10 */
			      "kind: Nodes\n",			/* 11 */
			      &cfg, &d),
			 -EINVAL);
	assert_int_equal(d.n_errors, 2);
	assert_non_null(find(&d, IDG_DIAG_ERROR, "unknown field 'ingres'"));
	assert_non_null(find(&d, IDG_DIAG_ERROR, "unknown kind 'Nodes'"));
	idg_config_free(&cfg);
	idg_diags_free(&d);
}

static void test_unknown_kind(void **state)
{
	(void)state;
	expect_err("apiVersion: cilium.io/v2\n"
		   "kind: CiliumNetworkPolice\n"
		   "metadata: {name: p}\n"
		   "spec: {endpointSelector: {}, ingress: []}\n",
		   "unknown kind 'CiliumNetworkPolice'", 2, 7);
	expect_err("apiVersion: cilium.io/v1\n"
		   "kind: CiliumNetworkPolicy\n"
		   "metadata: {name: p}\n"
		   "spec: {endpointSelector: {}, ingress: []}\n",
		   "kind CiliumNetworkPolicy needs apiVersion cilium.io/v2, not 'cilium.io/v1'",
		   1, 13);
	expect_err("kind: CiliumNetworkPolicy\n"
		   "metadata: {name: p}\n"
		   "spec: {endpointSelector: {}, ingress: []}\n",
		   "missing field 'apiVersion'", 1, 1);
	expect_err("apiVersion: cilium.io/v2\n"
		   "metadata: {name: p}\n",
		   "missing field 'kind'", 1, 1);
	expect_err("apiVersion: cilium.io/v2\n"
		   "kind: CiliumNetworkPolicy\n"
		   "metadata: {namespace: x}\n"
		   "spec: {endpointSelector: {}, ingress: []}\n",
		   "missing field 'name' in metadata", 3, 11);
	expect_err("- 1\n- 2\n", "a document must be a mapping", 1, 1);
}

static void test_unknown_field(void **state)
{
	(void)state;
	/* top level */
	expect(CNP_HEAD
	       "  ingress: []\n"					/* 9 */
	       "status: {}\n",					/* 10 */
	       IDG_DIAG_ERROR, "unknown field 'status' in the document", 10,
	       1, 1);
	/* metadata */
	expect_err("apiVersion: cilium.io/v2\n"
		   "kind: CiliumNetworkPolicy\n"
		   "metadata: {name: p, uid: 1234}\n"
		   "spec: {endpointSelector: {}, ingress: []}\n",
		   "unknown field 'uid' in metadata", 3, 21);
	/* spec */
	expect_err(CNP_HEAD
		   "  ingres: []\n",				/* 9 */
		   "unknown field 'ingres' in CiliumNetworkPolicy spec", 9, 3);
	/* rule */
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromEndpoint: [{}]\n",			/* 10 */
		   "unknown field 'fromEndpoint' in ingress rule", 10, 5);
	/* toPorts */
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports: [{port: \"80\"}]\n"		/* 11 */
		   "      rule: {}\n",				/* 12 */
		   "unknown field 'rule' in toPorts", 12, 7);
	/* toPorts.ports */
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports:\n"				/* 11 */
		   "      - port: \"80\"\n"			/* 12 */
		   "        proto: TCP\n",			/* 13 */
		   "unknown field 'proto' in toPorts.ports", 13, 9);
	/* Node spec */
	expect_err(NODE_A
		   "  mtu: 1500\n",				/* 8 */
		   "unknown field 'mtu' in Node spec", 8, 3);
	/* selector */
	expect_err(CNP_HEAD
		   "    matchLabel: {a: b}\n",			/* 9 */
		   "unknown field 'matchLabel' in endpointSelector", 9, 5);
}

static void test_duplicate_key(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress: []\n"				/* 9 */
		   "  ingress:\n"				/* 10 */
		   "  - {}\n",					/* 11 */
		   "duplicate key 'ingress' (first given at line 9)", 10, 3);
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress: {}\n",				/* 9 */
		   "ingress: expected a list, got a mapping", 9, 12);
	expect_err("apiVersion: cilium.io/v2\n"
		   "kind: CiliumNetworkPolicy\n"
		   "metadata: {name: p}\n"
		   "spec:\n"
		   "  endpointSelector: []\n",
		   "endpointSelector: expected a mapping, got a list", 5, 21);
	expect_err("apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata: {name: node-a}\n"
		   "spec:\n"
		   "  cluster: cluster-a\n"
		   "  clusterID: \"1\"\n"
		   "  interfaces: {uplink: eth0}\n",
		   "clusterID: expected an integer, got '1'", 6, 14);
	expect_err(CNP_HEAD
		   "  enableDefaultDeny: {ingress: yes please}\n", /* 9 */
		   "enableDefaultDeny.ingress: expected a boolean", 9, 32);
}

/* ---- bad input: nodes and endpoints ---- */

static void test_cluster_id_range(void **state)
{
	(void)state;
	expect_err("apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata: {name: node-a}\n"
		   "spec:\n"
		   "  cluster: cluster-a\n"
		   "  clusterID: 0\n"
		   "  interfaces: {uplink: eth0}\n",
		   "clusterID 0 out of range 1..255", 6, 14);
	expect_err("apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata: {name: node-a}\n"
		   "spec:\n"
		   "  cluster: cluster-a\n"
		   "  clusterID: 256\n"
		   "  interfaces: {uplink: eth0}\n",
		   "clusterID 256 out of range 1..255", 6, 14);
}

static void test_cluster_id_conflicts(void **state)
{
	(void)state;
	expect_err(NODE_A
		   "---\n"					/* 8 */
		   "apiVersion: idgate.io/v1\n"			/* 9 */
		   "kind: Node\n"				/* 10 */
		   "metadata: {name: node-b}\n"			/* 11 */
		   "spec:\n"					/* 12 */
		   "  cluster: cluster-a\n"			/* 13 */
		   "  clusterID: 7\n"				/* 14 */
		   "  interfaces: {uplink: eth0}\n",		/* 15 */
		   "cluster 'cluster-a' has clusterID 1 on Node 'node-a' (line 6), not 7",
		   14, 14);
	expect_err(NODE_A
		   "---\n"					/* 8 */
		   "apiVersion: idgate.io/v1\n"			/* 9 */
		   "kind: Node\n"				/* 10 */
		   "metadata: {name: node-b}\n"			/* 11 */
		   "spec:\n"					/* 12 */
		   "  cluster: cluster-b\n"			/* 13 */
		   "  clusterID: 1\n"				/* 14 */
		   "  interfaces: {uplink: eth0}\n",		/* 15 */
		   "clusterID 1 is already used by cluster 'cluster-a'", 14,
		   14);
}

static void test_node_fields(void **state)
{
	(void)state;
	expect_err(NODE_A
		   "  tunnelIP: 10.0.0.1/24\n",			/* 8 */
		   "spec.tunnelIP: expected an IP address without a prefix length",
		   8, 13);
	expect_err("apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata: {name: node-a}\n"
		   "spec:\n"
		   "  cluster: cluster-a\n"
		   "  clusterID: 1\n"
		   "  interfaces: {uplink: eth0/1}\n",
		   "invalid interface name 'eth0/1'", 7, 24);
	expect_err("apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata: {name: node-a}\n"
		   "spec:\n"
		   "  cluster: cluster-a\n"
		   "  clusterID: 1\n"
		   "  interfaces: {external: eth1}\n",
		   "missing field 'uplink' in spec.interfaces", 7, 15);
	expect_err(NODE_A
		   "  xdpMode: offload\n",			/* 8 */
		   "spec.xdpMode: unknown value 'offload' (expected auto, native, skb or tc)",
		   8, 12);
	expect_err("apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata: {name: node-a}\n"
		   "spec: {clusterID: 1, interfaces: {uplink: eth0}}\n",
		   "missing field 'cluster' in Node spec", 4, 7);
}

/* A Node named name, the name given on line 3 at column 18. */
static void node_named(const char *name, char *buf, size_t len)
{
	snprintf(buf, len,
		 "apiVersion: idgate.io/v1\n"
		 "kind: Node\n"
		 "metadata: {name: %s}\n"
		 "spec: {cluster: c, clusterID: 1, interfaces: {uplink: eth0}}\n",
		 name);
}

/*
 * A node name is a directory under the pin and state roots: Kubernetes'
 * DNS subdomain rule keeps ".", ".." and '/' out.
 */
static void test_node_name(void **state)
{
	static const char *const bad[] = {
		".", "..", "'../x'", "a/b", "''", "Node-A", "node_a",
		"-a", "a-", "a.", ".a", "a..b", "a.-b", "a-.b", "'a b'",
	};
	static const char *const good[] = {
		"a", "0", "node-a", "a--b", "node-a.example.com", "1.2.3",
	};
	char long_name[IDG_NODE_NAME_MAX + 2], yaml[512];
	struct idg_config cfg;

	(void)state;
	for (size_t i = 0; i < YC_ARRAY_SIZE(bad); i++) {
		node_named(bad[i], yaml, sizeof(yaml));
		expect_err(yaml, "metadata.name: invalid node name", 3, 18);
	}
	for (size_t i = 0; i < YC_ARRAY_SIZE(good); i++) {
		node_named(good[i], yaml, sizeof(yaml));
		load_clean(yaml, &cfg);
		assert_string_equal(cfg.nodes[0].name, good[i]);
		idg_config_free(&cfg);
	}
	memset(long_name, 'a', IDG_NODE_NAME_MAX);
	long_name[IDG_NODE_NAME_MAX] = '\0';
	node_named(long_name, yaml, sizeof(yaml));
	load_clean(yaml, &cfg);
	idg_config_free(&cfg);
	strcat(long_name, "a");
	node_named(long_name, yaml, sizeof(yaml));
	expect_err(yaml, "metadata.name: invalid node name", 3, 18);
	/* Other kinds keep their own, looser rule. */
	load_clean("apiVersion: cilium.io/v2\n"
		   "kind: CiliumNetworkPolicy\n"
		   "metadata: {name: Allow_All}\n"
		   "spec: {endpointSelector: {}, ingress: []}\n",
		   &cfg);
	assert_string_equal(cfg.policies[0].name, "Allow_All");
	idg_config_free(&cfg);
}

#define EP(name, ns, node, ip) \
	"---\n" \
	"apiVersion: idgate.io/v1\n" \
	"kind: Endpoint\n" \
	"metadata: {name: " name ", namespace: " ns "}\n" \
	"spec: {node: " node ", ips: [" ip "]}\n"

static void test_duplicate_endpoint(void **state)
{
	(void)state;
	expect_err(NODE_A					/* 1-7 */
		   EP("web", "shop", "node-a", "10.0.0.1")	/* 8-12 */
		   EP("db", "shop", "node-a", "10.0.0.2")	/* 13-17 */
		   EP("web", "shop", "node-a", "10.0.0.3"),	/* 18-22 */
		   "duplicate Endpoint 'shop/web' in cluster cluster-a (first defined at line 9)",
		   19, 1);
	/* the same name in two namespaces is two endpoints */
	struct idg_config cfg;

	load_clean(NODE_A EP("web", "shop", "node-a", "10.0.0.1")
			  EP("web", "test", "node-a", "10.0.0.2"),
		   &cfg);
	assert_int_equal(cfg.n_endpoints, 2);
	idg_config_free(&cfg);
	/* ... and in two clusters too, as pods of two clusters may be */
	load_clean(NODE_A "---\n"
		   "apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata: {name: node-c}\n"
		   "spec: {cluster: cluster-b, clusterID: 2, interfaces: {uplink: eth0}}\n"
		   EP("web", "shop", "node-a", "10.0.0.1")
		   EP("web", "shop", "node-c", "10.0.0.1"),
		   &cfg);
	assert_int_equal(cfg.n_endpoints, 2);
	idg_config_free(&cfg);
}

static void test_duplicate_node_and_policy(void **state)
{
	(void)state;
	expect_err(NODE_A "---\n" NODE_A,
		   "duplicate Node 'node-a' (first defined at line 1)", 9, 1);
	expect_err(CNP_HEAD "  ingress: []\n---\n" CNP_HEAD "  ingress: []\n",
		   "duplicate CiliumNetworkPolicy 'production/p' (first defined at line 1)",
		   11, 1);
}

static void test_endpoint_fields(void **state)
{
	(void)state;
	expect_err(NODE_A EP("web", "shop", "node-x", "10.0.0.1"), /* 8-12 */
		   "spec.node: no Node named 'node-x' in the config", 12, 14);
	expect_err(NODE_A
		   "---\n"					/* 8 */
		   "apiVersion: idgate.io/v1\n"			/* 9 */
		   "kind: Endpoint\n"				/* 10 */
		   "metadata: {name: web}\n"			/* 11 */
		   "spec: {node: node-a, ips: []}\n",		/* 12 */
		   "spec.ips: must not be empty", 12, 27);
	expect_err(NODE_A
		   "---\n"					/* 8 */
		   "apiVersion: idgate.io/v1\n"			/* 9 */
		   "kind: Endpoint\n"				/* 10 */
		   "metadata: {name: web}\n"			/* 11 */
		   "spec: {node: node-a, ips: [10.0.0.1], identity: 255}\n", /* 12 */
		   "spec.identity 255 out of range 256..65535", 12, 49);
	/* 10.0.0.5/24 is how `ip addr` writes an address: not a subnet */
	expect_err(NODE_A EP("web", "shop", "node-a", "10.0.0.5/24"), /* 8-12 */
		   "spec.ips: '10.0.0.5/24' has host bits set: write the address alone for one address, or 10.0.0.0/24 for the subnet",
		   12, 28);
	expect_err(NODE_A					/* 1-7 */
		   EP("web", "shop", "node-a", "10.0.0.1")	/* 8-12 */
		   EP("db", "shop", "node-a", "\"fd00::1\", 10.0.0.1"), /* 13-17 */
		   "10.0.0.1/32 is already used by Endpoint 'shop/web' (line 9) in cluster 'cluster-a'",
		   17, 39);
}

/* A workload interface accepts the addresses of the endpoints bound to
 * it (spec.interface) and no others. */
#define NODE_WL(ifaces)                                                     \
	"apiVersion: idgate.io/v1\n"			/* 1 */             \
	"kind: Node\n"					/* 2 */             \
	"metadata: {name: node-a}\n"			/* 3 */             \
	"spec:\n"					/* 4 */             \
	"  cluster: cluster-a\n"			/* 5 */             \
	"  clusterID: 1\n"				/* 6 */             \
	"  interfaces: {uplink: eth0, endpoints: [" ifaces "]}\n" /* 7 */
#define EP_IF(name, iface, ip)                                              \
	"---\n"                                                             \
	"apiVersion: idgate.io/v1\n"                                        \
	"kind: Endpoint\n"                                                  \
	"metadata: {name: " name "}\n"                                      \
	"spec: {node: node-a, interface: " iface ", ips: [" ip "]}\n"

static void test_endpoint_interface(void **state)
{
	struct idg_config cfg;

	(void)state;
	load_clean(NODE_WL("wl0, wl1") EP_IF("a", "wl0", "10.0.0.1")
		   EP_IF("b", "wl0", "10.0.0.2") EP_IF("c", "wl1", "10.0.0.3"),
		   &cfg);
	assert_string_equal(cfg.endpoints[1].interface, "wl0");
	assert_string_equal(cfg.endpoints[2].interface, "wl1");
	idg_config_free(&cfg);
	expect_err(NODE_WL("wl0") EP_IF("a", "wl0", "10.0.0.1")	/* 1-12 */
		   EP_IF("b", "eth0", "10.0.0.2"),		/* 13-17 */
		   "spec.interface: 'eth0' is not one of node node-a's workload interfaces (spec.interfaces.endpoints)",
		   17, 33);
	expect_err(NODE_WL("wl0, wl1") EP_IF("a", "wl0", "10.0.0.1"),
		   "node node-a: workload interface wl1 has no endpoint (spec.interface: wl1 on an Endpoint of this node): every packet from it would be dropped as a spoofed source",
		   1, 1);
	/* Also: wl0 is left without an endpoint, a second error. */
	expect(NODE_WL("wl0") EP_IF("a", "wl/0", "10.0.0.1"), IDG_DIAG_ERROR,
	       "spec.interface: invalid interface name 'wl/0'", 12, 33, 2);
	/* A node without a name (found by fuzz_config): its workload
	 * interfaces are not checked against endpoints, which used to
	 * compare the endpoints' node with its NULL name. The endpoint's
	 * node is not found: the second error. */
	expect("apiVersion: idgate.io/v1\n"
	       "kind: Node\n"
	       "metadata: {labels: {a: b}}\n"
	       "spec:\n"
	       "  cluster: cluster-a\n"
	       "  clusterID: 1\n"
	       "  interfaces: {uplink: eth0, endpoints: [wl0]}\n"
	       EP_IF("a", "wl0", "10.0.0.1"), IDG_DIAG_ERROR,
	       "missing field 'name' in metadata", 3, 11, 2);
}

static void test_unknown_ethertypes(void **state)
{
	struct idg_config cfg;

	(void)state;
	load_clean(NODE_A, &cfg);
	assert_false(cfg.nodes[0].drop_unknown_ethertypes);
	idg_config_free(&cfg);
	load_clean("apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata: {name: node-a}\n"
		   "spec:\n"
		   "  cluster: cluster-a\n"
		   "  clusterID: 1\n"
		   "  interfaces: {uplink: eth0, unknownEtherTypes: drop}\n",
		   &cfg);
	assert_true(cfg.nodes[0].drop_unknown_ethertypes);
	idg_config_free(&cfg);
	expect_err("apiVersion: idgate.io/v1\n"
		   "kind: Node\n"
		   "metadata: {name: node-a}\n"
		   "spec:\n"
		   "  cluster: cluster-a\n"
		   "  clusterID: 1\n"
		   "  interfaces: {uplink: eth0, unknownEtherTypes: reject}\n",
		   "spec.interfaces.unknownEtherTypes: unknown value 'reject' (expected pass or drop)",
		   7, 49);
}

static void test_nat_port_range(void **state)
{
	struct idg_config cfg;

	(void)state;
	load_clean(NODE_A "  egress: {ip: 192.0.2.1}\n", &cfg);
	assert_int_equal(cfg.nodes[0].nat_port_min, 0);
	assert_int_equal(cfg.nodes[0].nat_port_max, 0);
	idg_config_free(&cfg);
	load_clean(NODE_A
		   "  egress: {ip: 192.0.2.1, natPortRange: {min: 20000, max: 20000}}\n",
		   &cfg);
	assert_int_equal(cfg.nodes[0].nat_port_min, 20000);
	assert_int_equal(cfg.nodes[0].nat_port_max, 20000);
	idg_config_free(&cfg);
	expect_err(NODE_A
		   "  egress: {ip: 192.0.2.1, natPortRange: {min: 30000, max: 20000}}\n",
		   "spec.egress.natPortRange: max 20000 is below min 30000", 8, 59);
	expect_err(NODE_A
		   "  egress: {ip: 192.0.2.1, natPortRange: {min: 0, max: 20000}}\n",
		   "spec.egress.natPortRange.min", 8, 47);
	expect_err(NODE_A
		   "  egress: {ip: 192.0.2.1, natPortRange: {min: 1, max: 65536}}\n",
		   "spec.egress.natPortRange.max", 8, 55);
	expect_err(NODE_A
		   "  egress: {ip: 192.0.2.1, natPortRange: {min: 1024}}\n",
		   "missing field 'max' in spec.egress.natPortRange", 8, 41);
}

/* ---- bad input: policies ---- */

static void test_bad_cidr(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromCIDR: [10.0.0.0/33]\n",		/* 10 */
		   "fromCIDR: invalid CIDR '10.0.0.0/33': prefix length out of range (0..32 for IPv4)",
		   10, 16);
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toCIDR:\n"				/* 10 */
		   "    - 10.0.0.300/8\n",			/* 11 */
		   "toCIDR: invalid CIDR '10.0.0.300/8': '10.0.0.300' is not an IP address",
		   11, 7);
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toCIDRSet: [{cidr: banana}]\n",		/* 10 */
		   "invalid CIDR 'banana'", 10, 24);
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toCIDR: [\"2001:db8::/129\"]\n",	/* 10 */
		   "prefix length out of range (0..128 for IPv6)", 10, 14);
}

static void test_except_outside_cidr(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromCIDRSet:\n"				/* 10 */
		   "    - cidr: 10.0.0.0/8\n"			/* 11 */
		   "      except:\n"				/* 12 */
		   "      - 10.1.0.0/16\n"			/* 13 */
		   "      - 192.168.0.0/16\n",			/* 14 */
		   "except 192.168.0.0/16 is not inside cidr 10.0.0.0/8", 14,
		   9);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromCIDRSet:\n"				/* 10 */
		   "    - cidr: 10.0.0.0/16\n"			/* 11 */
		   "      except: [10.0.0.0/8]\n",		/* 12 */
		   "except 10.0.0.0/8 is not inside cidr 10.0.0.0/16", 12, 16);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromCIDRSet:\n"				/* 10 */
		   "    - cidr: 10.0.0.0/8\n"			/* 11 */
		   "      cidrGroupRef: office\n",		/* 12 */
		   "cidrGroupRef is not supported", 12, 7);
}

static void test_port_out_of_range(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports:\n"				/* 11 */
		   "      - port: \"65536\"\n"			/* 12 */
		   "        protocol: TCP\n",			/* 13 */
		   "port 65536 out of range 0..65535", 12, 15);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports:\n"				/* 11 */
		   "      - {port: 80, endPort: 70000}\n",	/* 12 */
		   "endPort 70000 out of range 0..65535", 12, 29);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports:\n"				/* 11 */
		   "      - {port: 0, endPort: 100}\n",		/* 12 */
		   "endPort 100 needs a port other than 0", 12, 28);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports: []\n",				/* 11 */
		   "toPorts entry without ports matches nothing", 11, 14);
}

static void test_named_port(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports:\n"				/* 11 */
		   "      - port: http\n",			/* 12 */
		   "named ports are not supported (port 'http')", 12, 15);
}

static void test_protocol(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports:\n"				/* 11 */
		   "      - port: \"53\"\n"			/* 12 */
		   "        protocol: QUIC\n",			/* 13 */
		   "unknown protocol 'QUIC' (expected TCP, UDP, SCTP or ANY)",
		   13, 19);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports:\n"				/* 11 */
		   "      - port: \"53\"\n"			/* 12 */
		   "        protocol: tcp\n",			/* 13 */
		   "unknown protocol 'tcp'", 13, 19);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports:\n"				/* 11 */
		   "      - port: \"0\"\n"			/* 12 */
		   "        protocol: ICMP\n",			/* 13 */
		   "protocol ICMP is not allowed in toPorts: use an icmps section",
		   13, 19);
}

static void test_icmps(void **state)
{
	struct idg_config cfg;
	const struct idg_rule *r;

	(void)state;
	load_clean(CNP_HEAD
		   "  ingress:\n"
		   "  - icmps:\n"
		   "    - fields:\n"
		   "      - {type: TimeExceeded}\n"
		   "      - {type: TimeExceeded, family: IPv6}\n"
		   "      - {type: NeighborSolicitation, family: IPv6}\n"
		   "      - {type: Redirect, family: IPv6}\n"
		   "      - {type: \"3\"}\n",
		   &cfg);
	r = &cfg.policies[0].rules[IDG_RS_INGRESS][0];
	assert_int_equal(r->n_icmps, 5);
	assert_int_equal(r->icmps[0].type, 11);
	assert_int_equal(r->icmps[1].type, 3);
	assert_int_equal(r->icmps[2].type, 135);
	assert_int_equal(r->icmps[3].type, 137);
	assert_int_equal(r->icmps[4].type, 3);
	assert_int_equal(r->icmps[4].family, IDG_FAM_IPV4);
	idg_config_free(&cfg);

	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - icmps:\n"				/* 10 */
		   "    - fields:\n"				/* 11 */
		   "      - {type: PacketTooBig}\n",		/* 12 */
		   "unknown ICMP type 'PacketTooBig' for family IPv4", 12, 16);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - icmps:\n"				/* 10 */
		   "    - fields:\n"				/* 11 */
		   "      - {type: 256}\n",			/* 12 */
		   "ICMP type 256 out of range 0..255", 12, 16);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - icmps:\n"				/* 10 */
		   "    - fields:\n"				/* 11 */
		   "      - {type: 8, family: ipv4}\n",		/* 12 */
		   "unknown ICMP family 'ipv4'", 12, 27);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - icmps: [{fields: [{type: 8}]}]\n"	/* 10 */
		   "    toPorts: [{ports: [{port: \"80\"}]}]\n", /* 11 */
		   "icmps and toPorts cannot be combined in one rule", 10, 5);
}

static void test_wrong_case_operator(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "    matchExpressions:\n"			/* 9 */
		   "    - key: env\n"				/* 10 */
		   "      operator: in\n"			/* 11 */
		   "      values: [prod]\n",			/* 12 */
		   "unknown matchExpressions operator 'in' (operators are case-sensitive: In, NotIn, Exists, DoesNotExist)",
		   11, 17);
	expect_err(CNP_HEAD
		   "    matchExpressions:\n"			/* 9 */
		   "    - {key: env, operator: NotIn}\n",	/* 10 */
		   "operator NotIn needs a non-empty values list", 10, 7);
	expect_err(CNP_HEAD
		   "    matchExpressions:\n"			/* 9 */
		   "    - {key: env, operator: Exists, values: [a]}\n", /* 10 */
		   "operator Exists takes no values", 10, 44);
}

static void test_selector_keys(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromEndpoints:\n"			/* 10 */
		   "    - matchLabels: {reserved:host: \"\"}\n",	/* 11 */
		   "label 'reserved:host' names a reserved identity: use fromEntities/toEntities (e.g. 'host') instead",
		   11, 21);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromEndpoints:\n"			/* 10 */
		   "    - matchExpressions: [{key: \"cidr:10.0.0.0/8\", operator: Exists}]\n", /* 11 */
		   "label source 'cidr'", 11, 32);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromEndpoints:\n"			/* 10 */
		   "    - matchLabels: {app: a, any:app: b}\n",	/* 11 */
		   "label 'app' given twice", 11, 20);
}

static void test_entities(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromEntities: [world, health]\n",	/* 10 */
		   "entity 'health' is not supported", 10, 27);
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toEntities:\n"				/* 10 */
		   "    - kube-apiserver\n",			/* 11 */
		   "entity 'kube-apiserver' is not supported", 11, 7);
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toEntities: [World]\n",			/* 10 */
		   "unknown entity 'World'", 10, 18);
}

static void test_unsupported_fields(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toFQDNs:\n"				/* 10 */
		   "    - matchName: api.example.com\n",	/* 11 */
		   "toFQDNs is not supported", 10, 5);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromRequires: [{matchLabels: {a: b}}]\n", /* 10 */
		   "fromRequires is not supported", 10, 5);
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toServices: [{k8sService: {serviceName: x}}]\n", /* 10 */
		   "toServices is not supported", 10, 5);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromEndpoints: [{}]\n"			/* 10 */
		   "    authentication: {mode: required}\n",	/* 11 */
		   "authentication is not supported", 11, 5);
	expect_err(CNP_HEAD
		   "  egress:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports: [{port: \"443\"}]\n"		/* 11 */
		   "      serverNames: [example.com]\n",	/* 12 */
		   "serverNames is not supported", 12, 7);
	expect_err("apiVersion: cilium.io/v2\n"
		   "kind: CiliumNetworkPolicy\n"
		   "metadata: {name: p}\n"
		   "specs:\n"
		   "- endpointSelector: {}\n",
		   "specs (a list of rules) is not supported: write one policy document per spec",
		   4, 1);
}

static void test_wrong_direction(void **state)
{
	(void)state;
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - toEndpoints: [{}]\n",			/* 10 */
		   "toEndpoints is an egress field: not allowed in an ingress rule",
		   10, 5);
	expect_err(CNP_HEAD
		   "  egressDeny:\n"				/* 9 */
		   "  - fromCIDR: [10.0.0.0/8]\n",		/* 10 */
		   "fromCIDR is an ingress field: not allowed in an egressDeny rule",
		   10, 5);
	expect_err(CNP_HEAD
		   "  ingress:\n"				/* 9 */
		   "  - fromEndpoints: [{}]\n"			/* 10 */
		   "    fromCIDR: [10.0.0.0/8]\n",		/* 11 */
		   "combining fromEndpoints and fromCIDR in one rule is not supported",
		   11, 5);
	expect_err(CNP_HEAD
		   "  ingressDeny:\n"				/* 9 */
		   "  - toPorts:\n"				/* 10 */
		   "    - ports: [{port: \"80\"}]\n"		/* 11 */
		   "      rules: {http: [{}]}\n",		/* 12 */
		   "rules is not allowed in a deny rule", 12, 7);
}

static void test_policy_scope(void **state)
{
	(void)state;
	expect_err("apiVersion: cilium.io/v2\n"
		   "kind: CiliumClusterwideNetworkPolicy\n"
		   "metadata: {name: p, namespace: production}\n"
		   "spec: {endpointSelector: {}, ingress: []}\n",
		   "metadata.namespace is not allowed: a CiliumClusterwideNetworkPolicy is not namespaced",
		   3, 32);
	expect_err(CNP_HEAD
		   "  nodeSelector: {}\n",			/* 9 */
		   "nodeSelector is only allowed in a CiliumClusterwideNetworkPolicy",
		   9, 3);
	expect_err("apiVersion: cilium.io/v2\n"
		   "kind: CiliumClusterwideNetworkPolicy\n"
		   "metadata: {name: p}\n"
		   "spec:\n"
		   "  endpointSelector: {}\n"
		   "  nodeSelector: {}\n",
		   "endpointSelector and nodeSelector are mutually exclusive", 6,
		   3);
	expect_err("apiVersion: cilium.io/v2\n"
		   "kind: CiliumNetworkPolicy\n"
		   "metadata: {name: p}\n"
		   "spec:\n"
		   "  ingress: []\n",
		   "missing field 'endpointSelector' in CiliumNetworkPolicy spec",
		   5, 3);
	expect_err("apiVersion: cilium.io/v2\n"
		   "kind: CiliumNetworkPolicy\n"
		   "metadata: {name: p}\n",
		   "missing field 'spec' in CiliumNetworkPolicy", 1, 1);

	struct idg_config cfg;

	load_clean("apiVersion: cilium.io/v2\n"
		   "kind: CiliumClusterwideNetworkPolicy\n"
		   "metadata: {name: hosts}\n"
		   "spec:\n"
		   "  nodeSelector: {matchLabels: {role: gateway}}\n"
		   "  ingress: [{fromEntities: [remote-node]}]\n"
		   "---\n"
		   "apiVersion: cilium.io/v2\n"
		   "kind: CiliumNetworkPolicy\n"
		   "metadata: {name: hosts}\n"
		   "spec: {endpointSelector: {}, ingress: []}\n",
		   &cfg);
	assert_int_equal(cfg.n_policies, 2);
	assert_true(cfg.policies[0].node_selector);
	assert_label(&cfg.policies[0].subject.match_labels, 0, "role",
		     "gateway");
	assert_int_equal(cfg.policies[0].rules[IDG_RS_INGRESS][0].entities,
			 IDG_ENT_REMOTE_NODE);
	/* a CNP of the same name is another object; default namespace */
	assert_string_equal(cfg.policies[1].namespace, "default");
	idg_config_free(&cfg);
}

/* {} selects everything, a missing field selects every peer, [] none. */
static void test_empty_vs_missing(void **state)
{
	struct idg_config cfg;
	const struct idg_policy *pol;
	const struct idg_rule *r;

	(void)state;
	load_clean(CNP_HEAD
		   "  ingress:\n"
		   "  - fromEndpoints: [{}]\n"
		   "  - {}\n"
		   "  - fromEndpoints: []\n"
		   "  - toPorts: [{ports: [{port: \"53\", protocol: UDP}]}]\n"
		   "  egressDeny: []\n",
		   &cfg);
	pol = &cfg.policies[0];
	assert_int_equal(pol->n_rules[IDG_RS_INGRESS], 4);
	r = pol->rules[IDG_RS_INGRESS];
	assert_true(r[0].has_endpoints);
	assert_int_equal(r[0].n_endpoints, 1);
	assert_int_equal(r[0].endpoints[0].match_labels.n, 0);
	assert_int_equal(r[0].endpoints[0].n_exprs, 0);
	assert_false(r[1].has_endpoints || r[1].has_cidrs ||
		     r[1].has_entities);
	assert_int_equal(r[1].n_ports + r[1].n_icmps, 0);
	assert_true(r[2].has_endpoints);
	assert_int_equal(r[2].n_endpoints, 0);
	assert_false(r[3].has_endpoints);
	assert_int_equal(r[3].n_ports, 1);
	assert_true(pol->present[IDG_RS_EGRESS_DENY]);
	assert_int_equal(pol->n_rules[IDG_RS_EGRESS_DENY], 0);
	assert_false(pol->present[IDG_RS_EGRESS]);
	idg_config_free(&cfg);
}

/* ---- inputs Cilium accepts that look wrong: warnings ---- */

static void test_warn_port_zero(void **state)
{
	(void)state;
	expect_warn(CNP_HEAD
		    "  ingress:\n"				/* 9 */
		    "  - toPorts:\n"				/* 10 */
		    "    - ports:\n"				/* 11 */
		    "      - port: \"0\"\n"			/* 12 */
		    "        protocol: TCP\n",			/* 13 */
		    "port 0 means every port", 12, 15);
}

static void test_warn_end_port_below(void **state)
{
	struct idg_config cfg;
	struct idg_diags d;

	(void)state;
	expect_warn(CNP_HEAD
		    "  ingress:\n"				/* 9 */
		    "  - toPorts:\n"				/* 10 */
		    "    - ports:\n"				/* 11 */
		    "      - port: \"8080\"\n"			/* 12 */
		    "        endPort: 80\n",			/* 13 */
		    "endPort 80 is below port 8080: only port 8080 is matched",
		    13, 18);
	assert_int_equal(load(CNP_HEAD
			      "  ingress:\n"
			      "  - toPorts: [{ports: [{port: 8080, endPort: 80}]}]\n",
			      &cfg, &d),
			 0);
	assert_int_equal(cfg.policies[0].rules[IDG_RS_INGRESS][0].ports[0].end_port,
			 80);
	idg_config_free(&cfg);
	idg_diags_free(&d);
}

static void test_warn_host_bits(void **state)
{
	struct idg_config cfg;
	struct idg_diags d;

	(void)state;
	expect_warn(CNP_HEAD
		    "  ingress:\n"				/* 9 */
		    "  - fromCIDR:\n"				/* 10 */
		    "    - 10.1.2.3/8\n",			/* 11 */
		    "fromCIDR: CIDR '10.1.2.3/8' has host bits set: using 10.0.0.0/8",
		    11, 7);
	assert_int_equal(load(CNP_HEAD
			      "  ingress:\n"
			      "  - fromCIDR: [\"2001:db8::1/32\"]\n",
			      &cfg, &d),
			 0);
	assert_cidr(&cfg.policies[0].rules[IDG_RS_INGRESS][0].cidrs[0].cidr,
		    "2001:db8::", 32);
	idg_config_free(&cfg);
	idg_diags_free(&d);
}

/* ---- CiliumEgressGatewayPolicy ---- */

#define GW_NODE \
	"apiVersion: idgate.io/v1\n"			/* 1 */ \
	"kind: Node\n"					/* 2 */ \
	"metadata:\n"					/* 3 */ \
	"  name: gw-b1\n"				/* 4 */ \
	"  annotations: {egress.cilium.io/gateway-name: egress-b}\n" /* 5 */ \
	"spec:\n"					/* 6 */ \
	"  cluster: cluster-b\n"			/* 7 */ \
	"  clusterID: 2\n"				/* 8 */ \
	"  interfaces: {uplink: eth0, external: eth1}\n" /* 9 */ \
	"---\n"						/* 10 */ \
	"apiVersion: cilium.io/v2\n"			/* 11 */ \
	"kind: CiliumEgressGatewayPolicy\n"		/* 12 */ \
	"metadata: {name: db}\n"			/* 13 */ \
	"spec:\n"					/* 14 */ \
	"  selectors: [{podSelector: {matchLabels: {app: x}}}]\n" /* 15 */

static void test_egress_gateway(void **state)
{
	struct idg_config cfg;

	(void)state;
	load_clean(GW_NODE
		   "  destinationCIDRs: [172.18.200.10/32]\n"
		   "  egressGateways:\n"
		   "  - gatewayName: egress-b\n"
		   "  - nodeSelector: {matchLabels: {role: gateway}}\n"
		   "    egressIP: \"2001:db8::10\"\n",
		   &cfg);
	assert_int_equal(cfg.egw_policies[0].n_gateways, 2);
	assert_null(cfg.egw_policies[0].gateways[0].cluster_name);
	assert_true(cfg.egw_policies[0].gateways[1].has_node_selector);
	assert_cidr(&cfg.egw_policies[0].gateways[1].egress_ip, "2001:db8::10",
		    128);
	assert_false(cfg.egw_policies[0].selectors[0].has_namespace);
	idg_config_free(&cfg);

	expect_err(GW_NODE
		   "  destinationCIDRs: [172.18.200.10/32]\n"	/* 16 */
		   "  egressGateway: {gatewayName: egress-c}\n",	/* 17 */
		   "gatewayName 'egress-c': no Node is annotated egress.cilium.io/gateway-name: egress-c",
		   17, 32);
	expect_err(GW_NODE
		   "  destinationCIDRs: [172.18.200.10/32]\n"	/* 16 */
		   "  egressGateway: {gatewayName: egress-b, clusterName: cluster-a}\n", /* 17 */
		   "clusterName 'cluster-a': no Node in the config is in that cluster",
		   17, 18);
	expect_err(GW_NODE
		   "  destinationCIDRs: [172.18.200.10/32]\n"	/* 16 */
		   "  egressGateway: {egressIP: 172.18.0.100}\n",	/* 17 */
		   "egressGateway needs gatewayName or nodeSelector", 17, 18);
	expect_err(GW_NODE
		   "  destinationCIDRs: [172.18.200.10/32]\n"	/* 16 */
		   "  egressGateway: {gatewayName: egress-b}\n"	/* 17 */
		   "  egressGateways: [{gatewayName: egress-b}]\n", /* 18 */
		   "either egressGateway or egressGateways, not both", 18, 3);
	expect_err(GW_NODE
		   "  egressGateway: {gatewayName: egress-b}\n",	/* 16 */
		   "missing field 'destinationCIDRs'", 15, 3);
	expect_err(GW_NODE
		   "  destinationCIDRs: [172.18.200.10/32]\n"	/* 16 */
		   "  egressGateway: {gatewayName: egress-b, egressIP: 172.18.0.0/24}\n", /* 17 */
		   "egressIP: expected an IP address without a prefix length",
		   17, 52);
	expect_warn(GW_NODE
		    "  destinationCIDRs: [172.18.200.0/24]\n"	/* 16 */
		    "  excludedCIDRs: [172.18.201.5/32]\n"	/* 17 */
		    "  egressGateway: {gatewayName: egress-b}\n", /* 18 */
		    "172.18.201.5/32 is inside no destinationCIDRs entry", 17,
		    19);
}

static void test_alias_loop(void **state)
{
	(void)state;
	expect_err("a: &a [*a]\n", "alias refers to itself", 1, 4);
}

#define N_ANCHORS 20000

/*
 * A policy whose first rule anchors N_ANCHORS selectors (&s0 on line 8,
 * &sI on line 8 + I) and whose second rule aliases all of them in
 * reverse order (*sI on line 2 * N_ANCHORS + 8 - I), then tail.
 */
static char *anchors_yaml(const char *tail)
{
	size_t len = (size_t)N_ANCHORS * 64 + strlen(tail) + 512;
	char *y = malloc(len), *p = y;

	assert_non_null(y);
	p += sprintf(p, "apiVersion: cilium.io/v2\n"
			"kind: CiliumClusterwideNetworkPolicy\n"
			"metadata: {name: p}\n"
			"spec:\n"
			"  endpointSelector: {}\n"
			"  ingress:\n"
			"  - fromEndpoints:\n");
	for (int i = 0; i < N_ANCHORS; i++)
		p += sprintf(p, "    - &s%d {matchLabels: {app: a%d}}\n", i, i);
	p += sprintf(p, "  - fromEndpoints:\n");
	for (int i = N_ANCHORS - 1; i >= 0; i--)
		p += sprintf(p, "    - *s%d\n", i);
	strcpy(p, tail);
	return y;
}

/* Many anchors and aliases: each alias finds its own anchor, and the
 * errors about anchors keep their message and position. */
static void test_many_anchors(void **state)
{
	const int end = 2 * N_ANCHORS + 9; /* the line after the aliases */
	struct idg_config cfg;
	const struct idg_rule *r;
	char want[32], *y;

	(void)state;
	y = anchors_yaml("");
	load_clean(y, &cfg);
	free(y);
	assert_int_equal(cfg.n_policies, 1);
	r = cfg.policies[0].rules[IDG_RS_INGRESS];
	assert_int_equal(cfg.policies[0].n_rules[IDG_RS_INGRESS], 2);
	assert_int_equal(r[0].n_endpoints, N_ANCHORS);
	assert_int_equal(r[1].n_endpoints, N_ANCHORS);
	for (int i = 0; i < N_ANCHORS; i++) {
		snprintf(want, sizeof(want), "a%d", i);
		assert_label(&r[0].endpoints[i].match_labels, 0, "app", want);
		snprintf(want, sizeof(want), "a%d", N_ANCHORS - 1 - i);
		assert_label(&r[1].endpoints[i].match_labels, 0, "app", want);
		/* The alias's node is the anchor's: same position. */
		assert_int_equal(r[1].endpoints[i].pos.line,
				 8 + N_ANCHORS - 1 - i);
	}
	idg_config_free(&cfg);

	y = anchors_yaml("    - *nope\n");
	expect_err(y, "found undefined alias", end, 7);
	free(y);
	y = anchors_yaml("    - &s5 {matchLabels: {app: again}}\n");
	expect_err(y, "second occurrence (found duplicate anchor; first occurrence at line 13, column 7)",
		   end, 7);
	free(y);
	/* Anchors belong to their document: the next one may define the
	 * same name again, and cannot refer to the earlier one. */
	y = anchors_yaml("---\n"
			 "apiVersion: cilium.io/v2\n"
			 "kind: CiliumClusterwideNetworkPolicy\n"
			 "metadata: {name: q}\n"
			 "spec:\n"
			 "  endpointSelector: &s0 {}\n"
			 "  ingress: [{fromEndpoints: [*s1]}]\n");
	expect_err(y, "found undefined alias", end + 6, 30);
	free(y);
}

static bool mark_eq(yaml_mark_t a, yaml_mark_t b)
{
	return a.index == b.index && a.line == b.line && a.column == b.column;
}

static void node_eq(const yaml_node_t *x, const yaml_node_t *y)
{
	assert_int_equal(x->type, y->type);
	assert_string_equal((const char *)x->tag, (const char *)y->tag);
	assert_true(mark_eq(x->start_mark, y->start_mark));
	assert_true(mark_eq(x->end_mark, y->end_mark));
	switch (x->type) {
	case YAML_SCALAR_NODE:
		assert_int_equal(x->data.scalar.length, y->data.scalar.length);
		assert_memory_equal(x->data.scalar.value, y->data.scalar.value,
				    x->data.scalar.length + 1);
		assert_int_equal(x->data.scalar.style, y->data.scalar.style);
		break;
	case YAML_SEQUENCE_NODE:
		assert_int_equal(x->data.sequence.style, y->data.sequence.style);
		assert_int_equal(x->data.sequence.items.top -
					 x->data.sequence.items.start,
				 y->data.sequence.items.top -
					 y->data.sequence.items.start);
		for (int i = 0; i < x->data.sequence.items.top -
					    x->data.sequence.items.start;
		     i++)
			assert_int_equal(x->data.sequence.items.start[i],
					 y->data.sequence.items.start[i]);
		break;
	case YAML_MAPPING_NODE:
		assert_int_equal(x->data.mapping.style, y->data.mapping.style);
		assert_int_equal(x->data.mapping.pairs.top -
					 x->data.mapping.pairs.start,
				 y->data.mapping.pairs.top -
					 y->data.mapping.pairs.start);
		for (int i = 0; i < x->data.mapping.pairs.top -
					    x->data.mapping.pairs.start;
		     i++) {
			assert_int_equal(x->data.mapping.pairs.start[i].key,
					 y->data.mapping.pairs.start[i].key);
			assert_int_equal(x->data.mapping.pairs.start[i].value,
					 y->data.mapping.pairs.start[i].value);
		}
		break;
	default:
		fail();
	}
}

/* The parser's own composer builds libyaml's tree node for node, and
 * fails where libyaml's fails, with the same message and marks. */
static void test_composer_matches_libyaml(void **state)
{
	static const char *const cases[] = {
		"",
		"# only a comment\n",
		"a: b\n",
		"---\n---\na: [1, {b: c}]\n...\n",
		"a: &m {k: v}\nb: *m\nc: [*m, *m]\n",
		"a: &a [*a]\n",
		"- !!str 1\n- !foo bar\n- !<tag:x> {a: b}\n- ! baz\n",
		"%YAML 1.1\n%TAG !e! tag:e.com,2000:\n--- !e!x\na: 1\n",
		"a:\n  - b\n  -\n  - {x: , y: z}\n? complex\n: value\n? [k]\n: v\n",
		"a: |\n  lit\n  x\nb: >\n  fold\nc: 'q'\nd: \"dq\"\n",
		"---\na: &x 1\n--- &r\nb: *r\n---\nc: &x 2\n",
		"- - - - - x\n",
		"{a: 1, a: 2}\n",
		"&a a: &b b\n*a : *b\n",
		"--- >\n  text\n...\n--- |\n x\n",
		/* errors: the composer's and the scanner's */
		"a: &x 1\nb: &x 2\n",
		"a: *nothing\n",
		"a: [1, *x]\n",
		"a: b\n  c: d\n",
		"kind: [\n",
		"a: 1\n---\nb: [\n",
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const unsigned char *in = (const unsigned char *)cases[c];
		struct yc_composer *comp = yc_composer_new();
		yaml_parser_t a, b;
		yaml_document_t da, db;

		assert_non_null(comp);
		assert_true(yaml_parser_initialize(&a));
		assert_true(yaml_parser_initialize(&b));
		yaml_parser_set_input_string(&a, in, strlen(cases[c]));
		yaml_parser_set_input_string(&b, in, strlen(cases[c]));
		for (;;) {
			int ra = yaml_parser_load(&a, &da);
			int rb = yc_compose(comp, &b, &db);
			yaml_node_t *root;
			long n;

			assert_int_equal(ra, rb);
			if (!ra) {
				assert_int_equal(a.error, b.error);
				assert_string_equal(a.problem, b.problem);
				assert_true(mark_eq(a.problem_mark,
						    b.problem_mark));
				if (a.context)
					assert_string_equal(a.context,
							    b.context);
				else
					assert_null(b.context);
				assert_true(mark_eq(a.context_mark,
						    b.context_mark));
				break;
			}
			root = yaml_document_get_root_node(&da);
			assert_true(!root == !yaml_document_get_root_node(&db));
			if (!root) {
				yaml_document_delete(&da);
				break;
			}
			n = da.nodes.top - da.nodes.start;
			assert_int_equal(n, db.nodes.top - db.nodes.start);
			for (long i = 0; i < n; i++)
				node_eq(&da.nodes.start[i], &db.nodes.start[i]);
			assert_true(mark_eq(da.start_mark, db.start_mark));
			assert_true(mark_eq(da.end_mark, db.end_mark));
			assert_int_equal(da.start_implicit, db.start_implicit);
			assert_int_equal(da.end_implicit, db.end_implicit);
			yaml_document_delete(&da);
		}
		yaml_parser_delete(&a);
		yaml_parser_delete(&b);
		yc_composer_free(comp);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_mesh),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_empty_documents),
		cmocka_unit_test(test_billing_api_l4),
		cmocka_unit_test(test_billing_api_l7),
		cmocka_unit_test(test_l7_empty_is_l4),
		cmocka_unit_test(test_l7_refuses),
		cmocka_unit_test(test_l7_ports),
		cmocka_unit_test(test_malformed_yaml),
		cmocka_unit_test(test_cilium_refuses),
		cmocka_unit_test(test_cilium_list_limits),
		cmocka_unit_test(test_k8s_names),
		cmocka_unit_test(test_keeps_going),
		cmocka_unit_test(test_unknown_kind),
		cmocka_unit_test(test_unknown_field),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_cluster_id_range),
		cmocka_unit_test(test_cluster_id_conflicts),
		cmocka_unit_test(test_node_fields),
		cmocka_unit_test(test_node_name),
		cmocka_unit_test(test_duplicate_endpoint),
		cmocka_unit_test(test_duplicate_node_and_policy),
		cmocka_unit_test(test_endpoint_fields),
		cmocka_unit_test(test_endpoint_interface),
		cmocka_unit_test(test_unknown_ethertypes),
		cmocka_unit_test(test_nat_port_range),
		cmocka_unit_test(test_bad_cidr),
		cmocka_unit_test(test_except_outside_cidr),
		cmocka_unit_test(test_port_out_of_range),
		cmocka_unit_test(test_named_port),
		cmocka_unit_test(test_protocol),
		cmocka_unit_test(test_icmps),
		cmocka_unit_test(test_wrong_case_operator),
		cmocka_unit_test(test_selector_keys),
		cmocka_unit_test(test_entities),
		cmocka_unit_test(test_unsupported_fields),
		cmocka_unit_test(test_wrong_direction),
		cmocka_unit_test(test_policy_scope),
		cmocka_unit_test(test_empty_vs_missing),
		cmocka_unit_test(test_warn_port_zero),
		cmocka_unit_test(test_warn_end_port_below),
		cmocka_unit_test(test_warn_host_bits),
		cmocka_unit_test(test_egress_gateway),
		cmocka_unit_test(test_alias_loop),
		cmocka_unit_test(test_many_anchors),
		cmocka_unit_test(test_composer_matches_libyaml),
		cmocka_unit_test(test_load_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
