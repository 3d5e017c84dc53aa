// SPDX-License-Identifier: GPL-2.0
/*
 * Random configs (as YAML text, for the real loader to parse and compile)
 * and random packets drawn mostly from the addresses, ports and ICMP types
 * the config names, and from the edges of its CIDRs, where an off-by-one
 * in a prefix or a port range would show.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffgen.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* ---- the generator: splitmix64, one stream per config ---- */

uint64_t dg_next(struct dg_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void dg_seed(struct dg_rng *r, uint64_t seed, uint64_t stream)
{
	r->s = seed;
	r->s = dg_next(r) ^ (stream + 1) * 0xd6e8feb86659fd93ull;
	dg_next(r);
}

uint32_t dg_below(struct dg_rng *r, uint32_t n)
{
	return (uint32_t)(((dg_next(r) >> 32) * n) >> 32);
}

bool dg_pct(struct dg_rng *r, unsigned int pct)
{
	return dg_below(r, 100) < pct;
}

#define PICK(r, arr) ((arr)[dg_below((r), sizeof(arr) / sizeof((arr)[0]))])

/* ---- addresses ---- */

static unsigned int fam_bits(int family)
{
	return family == IDG_FAM_IPV4 ? 32 : 128;
}

static int fam_idx(int family)
{
	return family == IDG_FAM_IPV6;
}

static void cidr_mask(struct idg_cidr *c)
{
	for (unsigned int b = c->plen; b < fam_bits(c->family); b++)
		c->addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
}

static struct idg_cidr cidr_make(int family, const uint8_t *addr,
				 unsigned int plen)
{
	struct idg_cidr c;

	memset(&c, 0, sizeof(c));
	c.family = family;
	memcpy(c.addr, addr, family == IDG_FAM_IPV4 ? 4 : 16);
	c.plen = plen;
	cidr_mask(&c);
	return c;
}

static struct idg_cidr v4(unsigned int a, unsigned int b, unsigned int c,
			  unsigned int d, unsigned int plen)
{
	uint8_t x[4] = { (uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d };

	return cidr_make(IDG_FAM_IPV4, x, plen);
}

/* fd00:A:0:B::C and friends: w[] are the eight 16-bit groups. */
static struct idg_cidr v6(const uint16_t w[8], unsigned int plen)
{
	uint8_t x[16];

	for (int i = 0; i < 8; i++) {
		x[2 * i] = (uint8_t)(w[i] >> 8);
		x[2 * i + 1] = (uint8_t)w[i];
	}
	return cidr_make(IDG_FAM_IPV6, x, plen);
}

static void addr_text(const struct idg_cidr *c, char *buf, size_t len)
{
	inet_ntop(c->family == IDG_FAM_IPV4 ? AF_INET : AF_INET6, c->addr, buf,
		  (socklen_t)len);
}

/* As YAML wants it: IPv6 quoted (colons), with /len unless full. */
static void cidr_yaml(const struct idg_cidr *c, bool with_len, char *buf,
		      size_t len)
{
	char a[INET6_ADDRSTRLEN];
	bool q = c->family == IDG_FAM_IPV6;

	addr_text(c, a, sizeof(a));
	if (with_len || c->plen != fam_bits(c->family))
		snprintf(buf, len, "%s%s/%u%s", q ? "\"" : "", a, c->plen,
			 q ? "\"" : "");
	else
		snprintf(buf, len, "%s%s%s", q ? "\"" : "", a, q ? "\"" : "");
}

static bool cidr_contains(const struct idg_cidr *a, const struct idg_cidr *b)
{
	struct idg_cidr m = *b;

	if (a->family != b->family || b->plen < a->plen)
		return false;
	m.plen = a->plen;
	cidr_mask(&m);
	return !memcmp(m.addr, a->addr, 16);
}

static void addr_step(struct idg_cidr *c, int delta)
{
	int i = c->family == IDG_FAM_IPV4 ? 3 : 15;

	for (; i >= 0; i--) {
		if (delta > 0 && ++c->addr[i] != 0)
			return;
		if (delta < 0 && c->addr[i]-- != 0)
			return;
	}
}

static void pool_add(struct dg_pool *p, const struct idg_cidr *c)
{
	if (p->n < DG_POOL_MAX) {
		p->a[p->n] = *c;
		p->a[p->n].plen = fam_bits(c->family);
		p->n++;
	}
}

/* The addresses of a prefix worth a packet: its first and last, a
 * random one inside and, outside, the neighbours of both ends. */
static void pool_add_edges(struct dg_rng *r, struct dg_pool *p,
			   const struct idg_cidr *c, bool outside)
{
	struct idg_cidr x = *c, last = *c;
	unsigned int bits = fam_bits(c->family);

	pool_add(p, c);
	if (c->plen == bits)
		return;
	for (unsigned int b = c->plen; b < bits; b++)
		last.addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	pool_add(p, &last);
	for (unsigned int b = c->plen; b < bits; b++)
		if (dg_pct(r, 50))
			x.addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	pool_add(p, &x);
	if (!outside || !c->plen)
		return;
	x = *c;
	addr_step(&x, -1);
	pool_add(p, &x);
	addr_step(&last, 1);
	pool_add(p, &last);
}

/* ---- the config being written ---- */

#define N_CLUSTERS_MAX 3
#define N_NODES_MAX 6
#define N_EPS_MAX 14
#define N_KEYS_MAX 64

static const char *const namespaces[] = { "default", "prod", "dev" };
static const char *const apps[] = { "web", "api", "db", "cache" };
static const char *const tiers[] = { "fe", "be" };
static const char *const envs[] = { "live", "staging" };

struct gen {
	struct dg_rng *r;
	struct dg_config *g;
	FILE *y;
	int n_cl;
	unsigned int cl_id[N_CLUSTERS_MAX];
	int n_nodes;
	int node_cl[N_NODES_MAX];
	/* endpoint addresses taken, per cluster: no two endpoints share one */
	struct idg_cidr taken[N_CLUSTERS_MAX][N_KEYS_MAX];
	int n_taken[N_CLUSTERS_MAX];
};

static void nodes_emit(struct gen *x)
{
	static const unsigned int ids[] = { 1, 2, 3, 7, 42, 200, 255 };
	static const char *const enf[] = {
		"default", "default", "default", "default", "default", "default",
		"always", "always", "always", "always", "always", "never"
	};
	struct dg_rng *r = x->r;
	struct dg_config *g = x->g;
	char t[80];

	x->n_cl = 1 + (int)dg_below(r, N_CLUSTERS_MAX);
	for (int c = 0; c < x->n_cl; c++) {
		bool dup;

		do {
			x->cl_id[c] = PICK(r, ids);
			dup = false;
			for (int k = 0; k < c; k++)
				dup |= x->cl_id[k] == x->cl_id[c];
		} while (dup);
	}
	x->n_nodes = 0;
	for (int c = 0; c < x->n_cl; c++) {
		int n = 1 + (int)dg_below(r, 2);

		for (int k = 0; k < n && x->n_nodes < N_NODES_MAX; k++) {
			int i = x->n_nodes++;
			struct idg_cidr tip;
			bool has_tip = dg_pct(r, 90), tip6 = dg_pct(r, 10);

			x->node_cl[i] = c;
			if (tip6) {
				uint16_t w[8] = { 0xfd99, 0, 0, 0, 0, 0,
						  (uint16_t)c, (uint16_t)(k + 1) };

				tip = v6(w, 128);
			} else {
				tip = v4(192, 168, (unsigned int)c,
					 (unsigned int)k + 1, 32);
			}
			fprintf(x->y,
				"---\napiVersion: idgate.io/v1\nkind: Node\n"
				"metadata: {name: n%d, labels: {role: %s}}\n"
				"spec: {cluster: c%d, clusterID: %u, ",
				i, dg_pct(r, 50) ? "gw" : "worker", c,
				x->cl_id[c]);
			if (has_tip) {
				cidr_yaml(&tip, false, t, sizeof(t));
				fprintf(x->y, "tunnelIP: %s, ", t);
				pool_add(&g->any[fam_idx(tip.family)], &tip);
			}
			if (!i)
				fprintf(x->y, "policyEnforcement: %s, ",
					PICK(r, enf));
			fprintf(x->y, "interfaces: {uplink: eth0}}\n");
			/* The uplink's addresses: the tunnel IP and one that
			 * the config does not name. */
			if (!i) {
				uint16_t w[8] = { 0xfd99, 0, 0, 0, 0, 0, 0xff,
						  1 };

				if (has_tip)
					g->host[g->n_host++] = tip;
				if (dg_pct(r, 50))
					g->host[g->n_host++] = v6(w, 128);
			}
		}
	}
	for (size_t i = 0; i < g->n_host; i++) {
		pool_add(&g->local[fam_idx(g->host[i].family)], &g->host[i]);
		pool_add(&g->any[fam_idx(g->host[i].family)], &g->host[i]);
	}
}

/* Take c for an endpoint of cluster cl; false when another has it. */
static bool claim(struct gen *x, int cl, const struct idg_cidr *c)
{
	for (int i = 0; i < x->n_taken[cl]; i++) {
		const struct idg_cidr *t = &x->taken[cl][i];

		if (t->family == c->family && t->plen == c->plen &&
		    !memcmp(t->addr, c->addr, 16))
			return false;
	}
	if (x->n_taken[cl] < N_KEYS_MAX)
		x->taken[cl][x->n_taken[cl]++] = *c;
	return true;
}

/* An endpoint address: 10.A.B.C or fd00:A:0:B::C, a /28 (/124) now and
 * then: endpoints of the clusters share one small space, so that
 * clusters overlap and CIDRs cover endpoints. */
static struct idg_cidr ep_addr(int family, unsigned int a, unsigned int b,
			       unsigned int c, bool wide)
{
	uint16_t w[8] = { 0xfd00, (uint16_t)a, 0, (uint16_t)b,
			  0, 0, 0, (uint16_t)c };

	if (family == IDG_FAM_IPV4)
		return v4(10, a, b, c, wide ? 28 : 32);
	return v6(w, wide ? 124 : 128);
}

static void labels_emit(struct gen *x)
{
	struct dg_rng *r = x->r;
	const char *sep = "";

	fprintf(x->y, "labels: {");
	if (dg_pct(r, 90)) {
		fprintf(x->y, "app: %s", PICK(r, apps));
		sep = ", ";
	}
	if (dg_pct(r, 50)) {
		fprintf(x->y, "%stier: %s", sep, PICK(r, tiers));
		sep = ", ";
	}
	if (dg_pct(r, 30))
		fprintf(x->y, "%senv: %s", sep, PICK(r, envs));
	fprintf(x->y, "}");
}

static void endpoints_emit(struct gen *x)
{
	struct dg_rng *r = x->r;
	struct dg_config *g = x->g;
	int n = 2 + (int)dg_below(r, N_EPS_MAX - 1);

	for (int i = 0; i < n; i++) {
		int node = i < 2 || dg_pct(r, 40) ?
				   0 :
				   (int)dg_below(r, (uint32_t)x->n_nodes);
		int cl = x->node_cl[node], kind = (int)dg_below(r, 100);
		unsigned int a = dg_below(r, 2), b = dg_below(r, 4);
		unsigned int c = 1 + dg_below(r, 40);
		bool wide = dg_pct(r, 15);
		struct idg_cidr ips[2];
		int n_ips = 0;
		char t[80];

		if (kind < 85) /* IPv4, and IPv6 too for most */
			ips[n_ips++] = ep_addr(IDG_FAM_IPV4, a, b, c, wide);
		if (kind >= 40)
			ips[n_ips++] = ep_addr(IDG_FAM_IPV6, a, b, c,
					       wide && dg_pct(r, 50));
		fprintf(x->y,
			"---\napiVersion: idgate.io/v1\nkind: Endpoint\n"
			"metadata: {name: e%d, namespace: %s, ",
			i, PICK(r, namespaces));
		labels_emit(x);
		fprintf(x->y, "}\nspec: {node: n%d, ips: [", node);
		for (int k = 0; k < n_ips; k++)
			if (!claim(x, cl, &ips[k]))
				ips[k--] = ips[--n_ips];
		/* Every address it drew is taken: one that nobody has. */
		if (!n_ips)
			ips[n_ips++] = v4(10, 99, (unsigned int)cl,
					  (unsigned int)i, 32);
		for (int k = 0; k < n_ips; k++) {
			cidr_yaml(&ips[k], false, t, sizeof(t));
			fprintf(x->y, "%s%s", k ? ", " : "", t);
			if (!node)
				pool_add_edges(r, &g->local[fam_idx(ips[k].family)],
					       &ips[k], false);
			pool_add_edges(r, &g->any[fam_idx(ips[k].family)],
				       &ips[k], false);
		}
		fprintf(x->y, "]}\n");
	}
}

/* A prefix for a CIDR rule: over the endpoints, the nodes, the world, or
 * everything. */
static struct idg_cidr cidr_pick(struct dg_rng *r, int family)
{
	unsigned int a = dg_below(r, 2), b = dg_below(r, 4);
	unsigned int c = 1 + dg_below(r, 40), k = dg_below(r, 100);

	if (family == IDG_FAM_IPV4) {
		if (k < 5)
			return v4(0, 0, 0, 0, 0);
		if (k < 12)
			return v4(10, 0, 0, 0, 8);
		if (k < 22)
			return v4(10, a, 0, 0, 16);
		if (k < 37)
			return v4(10, a, b, 0, 24 + dg_below(r, 3));
		if (k < 47)
			return v4(10, a, b, c, 26 + dg_below(r, 5));
		if (k < 57)
			return v4(10, a, b, c, 32);
		if (k < 65)
			return v4(192, 168, 0, 0, 16 + 8 * dg_below(r, 3));
		if (k < 72)
			return v4(172, 16, 0, 0, 12);
		if (k < 86)
			return v4(198, 51, 100, dg_below(r, 256),
				  20 + dg_below(r, 13));
		return v4(203, 0, 113, dg_below(r, 256), 24 + dg_below(r, 9));
	}
	{
		uint16_t ep[8] = { 0xfd00, (uint16_t)a, 0, (uint16_t)b,
				   0, 0, 0, (uint16_t)c };
		uint16_t doc[8] = { 0x2001, 0xdb8, (uint16_t)dg_below(r, 4), 0,
				    0, 0, 0, (uint16_t)dg_below(r, 65536) };
		uint16_t node[8] = { 0xfd99, 0, 0, 0, 0, 0, 0, 0 };

		if (k < 5)
			return v6(ep, 0);
		if (k < 15)
			return v6(ep, 16);
		if (k < 30)
			return v6(ep, 32);
		if (k < 45)
			return v6(ep, 64);
		if (k < 55)
			return v6(ep, 120 + dg_below(r, 9));
		if (k < 65)
			return v6(node, 16 + 48 * dg_below(r, 2));
		return v6(doc, 32 + 16 * dg_below(r, 6));
	}
}

static void cidr_note(struct gen *x, const struct idg_cidr *c)
{
	pool_add_edges(x->r, &x->g->any[fam_idx(c->family)], c, true);
}

/* An except inside c: another pick when one falls inside, else c with
 * random bits after its prefix. */
static bool except_pick(struct dg_rng *r, const struct idg_cidr *c,
			struct idg_cidr *out)
{
	unsigned int bits = fam_bits(c->family);

	if (c->plen == bits)
		return false;
	for (int i = 0; i < 8; i++) {
		*out = cidr_pick(r, c->family);
		if (out->plen > c->plen && cidr_contains(c, out))
			return true;
	}
	*out = *c;
	out->plen = c->plen + 1 + dg_below(r, bits - c->plen < 8 ?
						     bits - c->plen : 8);
	for (unsigned int b = c->plen; b < out->plen; b++)
		if (dg_pct(r, 50))
			out->addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	return true;
}

/* ---- selectors ---- */

static const char *label_value(struct dg_rng *r, const char *key)
{
	if (!strcmp(key, "app"))
		return PICK(r, apps);
	if (!strcmp(key, "tier"))
		return PICK(r, tiers);
	if (!strcmp(key, "env"))
		return PICK(r, envs);
	return PICK(r, namespaces);
}

static void exprs_emit(struct gen *x, bool peer)
{
	static const char *const keys[] = { "app", "tier", "env", "app" };
	static const char *const ops[] = { "In", "NotIn", "Exists",
					   "DoesNotExist" };
	struct dg_rng *r = x->r;
	int n = 1 + (int)dg_below(r, 2);

	fprintf(x->y, "matchExpressions: [");
	for (int i = 0; i < n; i++) {
		const char *key = peer && dg_pct(r, 15) ?
					  "io.kubernetes.pod.namespace" :
					  PICK(r, keys);
		const char *op = PICK(r, ops);

		fprintf(x->y, "%s{key: %s, operator: %s", i ? ", " : "", key,
			op);
		if (op[0] == 'I' || op[0] == 'N') {
			fprintf(x->y, ", values: [%s", label_value(r, key));
			if (dg_pct(r, 40))
				fprintf(x->y, ", %s", label_value(r, key));
			fprintf(x->y, "]");
		}
		fprintf(x->y, "}");
	}
	fprintf(x->y, "]");
}

static void selector_emit(struct gen *x, bool peer)
{
	struct dg_rng *r = x->r;
	unsigned int k = dg_below(r, 100);
	const char *sep = "";

	if (k < 25) {
		fprintf(x->y, "{}");
		return;
	}
	fprintf(x->y, "{");
	if (k < 80) {
		fprintf(x->y, "matchLabels: {");
		if (dg_pct(r, 85)) {
			fprintf(x->y, "%sapp: %s", dg_pct(r, 10) ? "k8s:" : "",
				PICK(r, apps));
			sep = ", ";
		}
		if (dg_pct(r, 30)) {
			fprintf(x->y, "%stier: %s", sep, PICK(r, tiers));
			sep = ", ";
		}
		if (peer && dg_pct(r, 20)) {
			fprintf(x->y, "%sio.cilium.k8s.policy.cluster: c%u",
				sep, dg_below(r, (uint32_t)x->n_cl));
			sep = ", ";
		}
		if (peer && dg_pct(r, 15))
			fprintf(x->y, "%sio.kubernetes.pod.namespace: %s", sep,
				PICK(r, namespaces));
		fprintf(x->y, "}");
		if (k < 70) {
			fprintf(x->y, "}");
			return;
		}
		fprintf(x->y, ", ");
	}
	exprs_emit(x, peer);
	fprintf(x->y, "}");
}

/* ---- rules ---- */

static void port_note(struct dg_config *g, int port)
{
	if (port >= 0 && port <= 65535 && g->n_ports < DG_PORTS_MAX)
		g->ports[g->n_ports++] = (uint16_t)port;
}

static uint16_t port_pick(struct dg_rng *r, const struct dg_config *g)
{
	static const uint16_t known[] = { 22, 53, 80, 443, 5432, 8080, 8443,
					  6081, 65535 };
	unsigned int k = dg_below(r, 100);

	if (k < 35)
		return PICK(r, known);
	if (k < 65 && g->n_ports)
		return (uint16_t)(g->ports[dg_below(r, (uint32_t)g->n_ports)] +
				  dg_below(r, 5) - 2);
	return (uint16_t)(1 + dg_below(r, 65535));
}


/* The ports of a rule and their edges, for packets. */
static void range_note(struct dg_rng *r, struct dg_config *g, int port,
		       int end)
{
	port_note(g, port);
	port_note(g, port - 1);
	port_note(g, port + 1);
	if (end <= port)
		return;
	port_note(g, end);
	port_note(g, end + 1);
	port_note(g, port + (int)dg_below(r, (uint32_t)(end - port + 1)));
}

static void ports_emit(struct gen *x, const char *lead)
{
	static const char *const protos[] = { NULL, NULL, "ANY", "TCP", "TCP",
					      "TCP", "UDP", "UDP", "SCTP" };
	struct dg_rng *r = x->r;
	struct dg_config *g = x->g;
	int n_entries = 1 + (int)dg_below(r, 2);

	fprintf(x->y, "%stoPorts:\n", lead);
	for (int e = 0; e < n_entries; e++) {
		int n = 1 + (int)dg_below(r, 3);

		fprintf(x->y, "    - ports: [");
		for (int i = 0; i < n; i++) {
			const char *proto = PICK(r, protos);
			int port = dg_pct(r, 5) ? 0 : port_pick(r, g), end = 0;
			const char *q = dg_pct(r, 50) ? "\"" : "";

			/* Wide and narrow ranges, and now and then one that
			 * ends below its start (it means the port alone). */
			if (port && dg_pct(r, 30))
				end = port + 1 +
				      (int)dg_below(r, dg_pct(r, 50) ? 16 : 700);
			else if (port > 1 && dg_pct(r, 4))
				end = 1 + (int)dg_below(r, (uint32_t)port - 1);
			if (end > 65535)
				end = 65535;
			fprintf(x->y, "%s{port: %s%d%s", i ? ", " : "", q, port,
				q);
			if (end)
				fprintf(x->y, ", endPort: %d", end);
			if (proto)
				fprintf(x->y, ", protocol: %s", proto);
			fprintf(x->y, "}");
			range_note(r, g, port, end);
		}
		fprintf(x->y, "]\n");
	}
}

static void icmps_emit(struct gen *x, const char *lead)
{
	static const uint8_t types4[] = { 0, 3, 5, 8, 11, 13, 14 };
	static const uint8_t types6[] = { 1, 2, 3, 128, 129, 130, 135, 136 };
	static const char *const names[] = { "EchoRequest", "EchoReply",
					     "DestinationUnreachable",
					     "TimeExceeded" };
	struct dg_rng *r = x->r;
	struct dg_config *g = x->g;
	int n = 1 + (int)dg_below(r, 2);

	fprintf(x->y, "%sicmps: [{fields: [", lead);
	for (int i = 0; i < n; i++) {
		int f = dg_pct(r, 40);
		const char *name = dg_pct(r, 25) ? PICK(r, names) : NULL;
		int type = f ? PICK(r, types6) : PICK(r, types4);

		if (dg_pct(r, 15))
			type = (int)dg_below(r, 256);
		fprintf(x->y, "%s{type: ", i ? ", " : "");
		if (name) {
			fprintf(x->y, "%s", name);
			/* The reference needs no names: the packets only
			 * want types the rules might name. */
			type = !strcmp(name, "EchoRequest") ? (f ? 128 : 8) :
			       !strcmp(name, "EchoReply")   ? (f ? 129 : 0) :
			       !strcmp(name, "TimeExceeded") ? (f ? 3 : 11) :
							       (f ? 1 : 3);
		} else {
			fprintf(x->y, "%d", type);
		}
		if (f || dg_pct(r, 50))
			fprintf(x->y, ", family: %s", f ? "IPv6" : "IPv4");
		fprintf(x->y, "}");
		if (g->n_icmp[f] < DG_ICMP_MAX)
			g->icmp[f][g->n_icmp[f]++] = (uint8_t)type;
	}
	fprintf(x->y, "]}]\n");
}

static void cidrs_emit(struct gen *x, const char *key, bool sets)
{
	struct dg_rng *r = x->r;
	int n = 1 + (int)dg_below(r, 2);
	char t[80];

	fprintf(x->y, "%s: [", key);
	for (int i = 0; i < n; i++) {
		struct idg_cidr c = cidr_pick(r, dg_pct(r, 30) ? IDG_FAM_IPV6 :
								 IDG_FAM_IPV4);
		int n_ex = sets ? (int)dg_below(r, 3) : 0;

		cidr_note(x, &c);
		/* Cilium's CIDR fields take ADDR/LEN only; the draw stays so
		 * that a seed makes the same configs as before. */
		(void)dg_pct(r, 80);
		cidr_yaml(&c, true, t, sizeof(t));
		fprintf(x->y, "%s", i ? ", " : "");
		if (!sets) {
			fprintf(x->y, "%s", t);
			continue;
		}
		fprintf(x->y, "{cidr: %s", t);
		if (n_ex)
			fprintf(x->y, ", except: [");
		for (int k = 0; k < n_ex; k++) {
			struct idg_cidr e;

			if (!except_pick(r, &c, &e))
				break;
			cidr_note(x, &e);
			cidr_yaml(&e, true, t, sizeof(t));
			fprintf(x->y, "%s%s", k ? ", " : "", t);
		}
		fprintf(x->y, "%s}", n_ex ? "]" : "");
	}
	fprintf(x->y, "]");
}

static void entities_emit(struct gen *x, const char *key)
{
	static const char *const ents[] = { "world", "all", "cluster", "host",
					    "remote-node" };
	struct dg_rng *r = x->r;
	int n = 1 + (int)dg_below(r, 2);

	fprintf(x->y, "%s: [", key);
	for (int i = 0; i < n; i++)
		fprintf(x->y, "%s%s", i ? ", " : "", PICK(r, ents));
	fprintf(x->y, "]");
}

/* One rule of a list, as "  - ..." lines. */
static void rule_emit(struct gen *x, bool in)
{
	struct dg_rng *r = x->r;
	unsigned int peer = dg_below(r, 100), l4 = dg_below(r, 100);

	if (peer >= 95) { /* the empty rule: allows nothing */
		fprintf(x->y, "  - {}\n");
		return;
	}
	/* A rule with no peer needs an L4 part to be more than {}. */
	if (peer < 12 && l4 < 40)
		l4 = 40 + dg_below(r, 60);
	if (peer >= 12 && peer < 40) {
		int n = dg_pct(r, 5) ? 0 : 1 + (int)dg_below(r, 2);

		fprintf(x->y, "  - %s: [", in ? "fromEndpoints" : "toEndpoints");
		for (int i = 0; i < n; i++) {
			fprintf(x->y, "%s", i ? ", " : "");
			selector_emit(x, true);
		}
		fprintf(x->y, "]\n");
	} else if (peer >= 12 && peer < 55) {
		fprintf(x->y, "  - ");
		cidrs_emit(x, in ? "fromCIDR" : "toCIDR", false);
		fprintf(x->y, "\n");
	} else if (peer >= 12 && peer < 72) {
		fprintf(x->y, "  - ");
		cidrs_emit(x, in ? "fromCIDRSet" : "toCIDRSet", true);
		fprintf(x->y, "\n");
	} else if (peer >= 12) {
		fprintf(x->y, "  - ");
		entities_emit(x, in ? "fromEntities" : "toEntities");
		fprintf(x->y, "\n");
	}
	if (l4 < 40)
		return;
	if (l4 < 85)
		ports_emit(x, peer < 12 ? "  - " : "    ");
	else
		icmps_emit(x, peer < 12 ? "  - " : "    ");
}

static void policy_emit(struct gen *x, int i)
{
	static const char *const sets[] = { "ingress", "egress", "ingressDeny",
					    "egressDeny" };
	static const unsigned int set_pct[] = { 60, 45, 25, 20 };
	struct dg_rng *r = x->r;
	bool cw = dg_pct(r, 35), host = cw && dg_pct(r, 35);
	int sets_emitted = 0;

	fprintf(x->y, "---\napiVersion: cilium.io/v2\n");
	if (cw)
		fprintf(x->y,
			"kind: CiliumClusterwideNetworkPolicy\n"
			"metadata: {name: p%d}\n",
			i);
	else
		fprintf(x->y,
			"kind: CiliumNetworkPolicy\n"
			"metadata: {name: p%d, namespace: %s}\n",
			i, PICK(r, namespaces));
	fprintf(x->y, "spec:\n");
	if (host) {
		static const char *const nsel[] = {
			"{}", "{matchLabels: {role: gw}}",
			"{matchLabels: {role: worker}}"
		};

		fprintf(x->y, "  nodeSelector: %s\n", PICK(r, nsel));
	} else {
		fprintf(x->y, "  endpointSelector: ");
		selector_emit(x, false);
		fprintf(x->y, "\n");
	}
	if (dg_pct(r, 15))
		fprintf(x->y, "  enableDefaultDeny: {ingress: %s, egress: %s}\n",
			dg_pct(r, 50) ? "true" : "false",
			dg_pct(r, 50) ? "true" : "false");
	for (int s = 0; s < 4; s++) {
		int n;

		if (!dg_pct(r, set_pct[s]))
			continue;
		n = dg_pct(r, 8) ? 0 : 1 + (int)dg_below(r, 3);
		fprintf(x->y, "  %s:%s\n", sets[s], n ? "" : " []");
		for (int k = 0; k < n; k++)
			rule_emit(x, s == 0 || s == 2);
		sets_emitted++;
	}
	/* Cilium requires one rule list; an empty one changes nothing. */
	if (!sets_emitted)
		fprintf(x->y, "  ingress: []\n");
}

/* Addresses nobody names: the world. */
static void world_add(struct dg_rng *r, struct dg_config *g)
{
	for (int i = 0; i < 8; i++) {
		uint16_t w[8];
		struct idg_cidr c;

		c = v4(dg_below(r, 224), dg_below(r, 256), dg_below(r, 256),
		       dg_below(r, 256), 32);
		pool_add(&g->any[0], &c);
		for (int k = 0; k < 8; k++)
			w[k] = (uint16_t)dg_below(r, 65536);
		w[0] = 0x2000 | (w[0] & 0x0fff);
		c = v6(w, 128);
		pool_add(&g->any[1], &c);
	}
}

int dg_config_make(struct dg_rng *r, struct dg_config *out)
{
	struct gen x = { .r = r, .g = out };
	int n_pol;

	memset(out, 0, sizeof(*out));
	x.y = open_memstream(&out->yaml, &out->yaml_len);
	if (!x.y)
		return -1;
	nodes_emit(&x);
	endpoints_emit(&x);
	n_pol = dg_pct(r, 8) ? 0 : dg_pct(r, 10) ? 8 + (int)dg_below(r, 9) :
						    1 + (int)dg_below(r, 6);
	for (int i = 0; i < n_pol; i++)
		policy_emit(&x, i);
	world_add(r, out);
	if (fclose(x.y))
		return -1;
	return 0;
}

void dg_config_free(struct dg_config *g)
{
	free(g->yaml);
	g->yaml = NULL;
}

/* ---- packets ---- */

static const struct idg_cidr *pool_pick(struct dg_rng *r,
					const struct dg_pool *p)
{
	return &p->a[dg_below(r, (uint32_t)p->n)];
}

static uint8_t icmp_type_pick(struct dg_rng *r, const struct dg_config *g,
			      int f)
{
	static const uint8_t t4[] = { 0, 3, 4, 5, 8, 11, 12, 13, 14, 17 };
	static const uint8_t t6[] = { 1, 2, 3, 4, 128, 129, 130, 133, 135, 136 };

	if (g->n_icmp[f] && dg_pct(r, 50))
		return g->icmp[f][dg_below(r, (uint32_t)g->n_icmp[f])];
	if (dg_pct(r, 15))
		return (uint8_t)dg_below(r, 256);
	return f ? PICK(r, t6) : PICK(r, t4);
}

/* The L3/L4 essentials of a packet, before its frame is made. */
struct choice {
	int f; /* 0 IPv4, 1 IPv6 */
	uint8_t dir;
	struct idg_cidr local, remote;
	uint8_t proto;
	uint16_t dport;
	uint8_t icmp_type, icmp_code;
};

static uint8_t icmp_proto(int f)
{
	return f ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
}

static void choice_random(struct dg_rng *r, const struct dg_config *g,
			  struct choice *ch)
{
	int f = dg_pct(r, 30);
	unsigned int k;

	if (!g->local[f].n && !g->any[f].n)
		f = !f;
	ch->f = f;
	ch->dir = (uint8_t)dg_below(r, 2);
	ch->local = g->local[f].n && dg_pct(r, 85) ?
			    *pool_pick(r, &g->local[f]) :
			    *pool_pick(r, &g->any[f]);
	ch->remote = *pool_pick(r, &g->any[f]);
	k = dg_below(r, 100);
	ch->proto = k < 30 ? IPPROTO_TCP : k < 55 ? IPPROTO_UDP :
		    k < 68 ? IPPROTO_SCTP : k < 93 ? icmp_proto(f) :
						     47 /* GRE: no ports */;
	ch->dport = g->n_ports && dg_pct(r, 65) ?
			    g->ports[dg_below(r, (uint32_t)g->n_ports)] :
			    (uint16_t)dg_below(r, 65536);
	ch->icmp_type = icmp_type_pick(r, g, f);
	ch->icmp_code = dg_pct(r, 70) ? 0 : (uint8_t)dg_below(r, 16);
}

/* An address of a prefix: an end of it or one inside. */
static struct idg_cidr addr_in(struct dg_rng *r, const struct idg_cidr *c)
{
	struct dg_pool p = { .n = 0 };

	pool_add_edges(r, &p, c, false);
	return *pool_pick(r, &p);
}

/* Aim at rule entry e: its subject and direction, an address of its peer,
 * its protocol, the edges of its ports. The verdict is still anyone's:
 * other rules, deny rules, other clusters' entries may decide. */
static void choice_aim(struct dg_rng *r, const struct dg_config *g,
		       const struct idg_compiled *c,
		       const struct idg_rule_entry *e, struct choice *ch)
{
	size_t cand[64], n = 0;
	int f = -1;

	ch->dir = e->dir;
	if (e->proto == IPPROTO_ICMP || e->proto == IPPROTO_ICMPV6)
		f = e->proto == IPPROTO_ICMPV6;
	for (size_t i = 0; i < c->n_eps && n < 64; i++)
		if (c->eps[i].identity == e->subject &&
		    (f < 0 || fam_idx(c->eps[i].cidr.family) == f))
			cand[n++] = i;
	if (n) {
		ch->local = addr_in(r, &c->eps[cand[dg_below(r, (uint32_t)n)]].cidr);
	} else if (e->subject == IDG_ID_HOST && g->n_host) {
		ch->local = g->host[dg_below(r, (uint32_t)g->n_host)];
	} else {
		return; /* keep the random packet */
	}
	ch->f = fam_idx(ch->local.family);
	if (!g->any[ch->f].n)
		return;
	ch->remote = *pool_pick(r, &g->any[ch->f]);
	n = 0;
	for (size_t i = 0; e->peer && i < c->n_ipcache && n < 64; i++)
		if (c->ipcache[i].identity == e->peer &&
		    c->ipcache[i].key_cluster == c->cluster_id &&
		    fam_idx(c->ipcache[i].cidr.family) == ch->f)
			cand[n++] = i;
	if (n && dg_pct(r, 90))
		ch->remote = addr_in(r, &c->ipcache[cand[dg_below(r, (uint32_t)n)]].cidr);

	if (e->proto && dg_pct(r, 90))
		ch->proto = e->proto == IPPROTO_ICMP ||
					    e->proto == IPPROTO_ICMPV6 ?
				    icmp_proto(ch->f) :
				    e->proto;
	else if (ch->proto == IPPROTO_ICMP || ch->proto == IPPROTO_ICMPV6)
		ch->proto = icmp_proto(ch->f);
	if (e->icmp_type >= 0 && dg_pct(r, 80))
		ch->icmp_type = (uint8_t)e->icmp_type;
	if (e->port) {
		int end = e->end_port > e->port ? e->end_port : e->port;
		int v[] = { e->port, end, e->port - 1, end + 1,
			    e->port + (int)dg_below(r, (uint32_t)(end - e->port + 1)) };
		int pick = v[dg_below(r, 5)];

		if (pick >= 0 && pick <= 65535)
			ch->dport = (uint16_t)pick;
	}
}

static void packet_finish(struct dg_rng *r, const struct choice *ch,
			  uint32_t id, struct dg_packet *out)
{
	static const uint8_t tcp_flags[] = { 0x10, 0x12, 0x11, 0x04 };
	static const uint8_t ext[] = { IPPROTO_HOPOPTS, IPPROTO_DSTOPTS,
				       IPPROTO_ROUTING };
	struct pkt_spec *s = &out->spec;
	struct ref_pkt *p = &out->ref;
	int f = ch->f;
	unsigned int k;

	p->dir = ch->dir;
	p->family = f ? IDG_FAM_IPV6 : IDG_FAM_IPV4;
	memcpy(p->saddr,
	       ch->dir == IDG_DIR_INGRESS ? ch->remote.addr : ch->local.addr, 16);
	memcpy(p->daddr,
	       ch->dir == IDG_DIR_INGRESS ? ch->local.addr : ch->remote.addr, 16);
	p->proto = ch->proto;
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP ||
	    p->proto == IPPROTO_SCTP) {
		p->sport = (uint16_t)(1 + dg_below(r, 65535));
		p->dport = ch->dport;
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		p->icmp_type = ch->icmp_type;
		p->icmp_code = ch->icmp_code;
	}

	k = dg_below(r, 100);
	out->mode = k < 78 ? DG_WHOLE : k < 83 ? DG_FIRST :
		    k < 95 ? DG_FIRST_LATER : DG_LATER;
	/* Offsets inside the first fragment's L4 header now and then. */
	out->later_off = dg_pct(r, 8) ? (uint16_t)(1 + dg_below(r, 3)) :
					(uint16_t)(2 + dg_below(r, 400));
	p->frag = out->mode == DG_WHOLE ? REF_FRAG_NONE :
		  out->mode == DG_LATER ? REF_FRAG_LATER : REF_FRAG_FIRST;
	p->frag_off = out->mode == DG_LATER ? out->later_off : 0;
	out->ref_later = *p;
	out->ref_later.frag = REF_FRAG_LATER;
	out->ref_later.frag_off = out->later_off;

	inet_ntop(f ? AF_INET6 : AF_INET, p->saddr, out->src, sizeof(out->src));
	inet_ntop(f ? AF_INET6 : AF_INET, p->daddr, out->dst, sizeof(out->dst));
	s->family = f ? AF_INET6 : AF_INET;
	s->src = out->src;
	s->dst = out->dst;
	s->proto = p->proto;
	s->sport = p->sport;
	s->dport = p->dport;
	s->tcp_flags = dg_pct(r, 85) ? 0 : PICK(r, tcp_flags);
	s->icmp_type = p->icmp_type;
	s->icmp_code = p->icmp_code;
	s->icmp_id = (uint16_t)dg_below(r, 65536);
	k = dg_below(r, 100);
	s->nvlan = k < 70 ? 0 : k < 90 ? 1 : 2;
	s->vlan_id[0] = (uint16_t)(1 + dg_below(r, 4094));
	s->vlan_id[1] = (uint16_t)(1 + dg_below(r, 4094));
	if (f && dg_pct(r, 20)) {
		s->n_ext = 1 + (int)dg_below(r, 2);
		for (int i = 0; i < s->n_ext; i++)
			s->ext[i] = PICK(r, ext);
	}
	s->frag = out->mode != DG_WHOLE;
	s->frag_offset = p->frag_off;
	s->more_frags = out->mode == DG_LATER ? (int)dg_below(r, 2) : 1;
	s->frag_id = id;
	s->payload_len = dg_below(r, 48);
}

void dg_packet_make(struct dg_rng *r, const struct dg_config *g,
		    const struct idg_compiled *c, uint32_t id,
		    struct dg_packet *out)
{
	struct choice ch;

	memset(out, 0, sizeof(*out));
	memset(&ch, 0, sizeof(ch));
	choice_random(r, g, &ch);
	if (c && c->n_rules && dg_pct(r, 70))
		choice_aim(r, g, c, &c->rules[dg_below(r, (uint32_t)c->n_rules)],
			   &ch);
	packet_finish(r, &ch, id, out);
}

void dg_packet_later(const struct dg_packet *p, struct pkt_spec *later)
{
	*later = p->spec;
	later->src = p->src;
	later->dst = p->dst;
	later->frag = 1;
	later->frag_offset = p->later_off;
	later->more_frags = 0;
}
