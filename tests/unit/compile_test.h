/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the identity and compiler unit tests: compile an
 * inline YAML config for one node and ask questions about the result.
 * Include after <cmocka.h>.
 */
#ifndef IDGATE_TESTS_COMPILE_TEST_H
#define IDGATE_TESTS_COMPILE_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "model.h"
#include "seed_dump.h"

struct fx {
	struct idg_config cfg;
	struct idg_compiled c;
	struct idg_diags d;
	int err;
};

/* Two clusters: a (id 1, nodes n1 and n2) and b (id 2, node nb). */
#define NODES                                                            \
	"apiVersion: idgate.io/v1\n"                                     \
	"kind: Node\n"                                                   \
	"metadata: {name: n1, labels: {role: gw}}\n"                     \
	"spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.1,\n"       \
	"       interfaces: {uplink: eth0}}\n"                           \
	"---\n"                                                          \
	"apiVersion: idgate.io/v1\n"                                     \
	"kind: Node\n"                                                   \
	"metadata: {name: n2}\n"                                         \
	"spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.2,\n"       \
	"       interfaces: {uplink: eth0}}\n"                           \
	"---\n"                                                          \
	"apiVersion: idgate.io/v1\n"                                     \
	"kind: Node\n"                                                   \
	"metadata: {name: nb}\n"                                         \
	"spec: {cluster: b, clusterID: 2, tunnelIP: 10.255.1.1,\n"       \
	"       interfaces: {uplink: eth0}}\n"

/* An Endpoint document. */
#define EP(name, ns, labels, node, ips)                                  \
	"---\n"                                                          \
	"apiVersion: idgate.io/v1\n"                                     \
	"kind: Endpoint\n"                                               \
	"metadata: {name: " name ", namespace: " ns ", labels: " labels "}\n" \
	"spec: {node: " node ", ips: " ips "}\n"

#define CNP(name, ns, spec)                                              \
	"---\n"                                                          \
	"apiVersion: cilium.io/v2\n"                                     \
	"kind: CiliumNetworkPolicy\n"                                    \
	"metadata: {name: " name ", namespace: " ns "}\n"                \
	"spec:\n" spec

#define CCNP(name, spec)                                                 \
	"---\n"                                                          \
	"apiVersion: cilium.io/v2\n"                                     \
	"kind: CiliumClusterwideNetworkPolicy\n"                         \
	"metadata: {name: " name "}\n"                                   \
	"spec:\n" spec

static inline void fx_dump(const struct fx *f)
{
	if (getenv("IDG_TEST_VERBOSE"))
		idg_diags_print(&f->d, stderr);
}

/* Parse (must succeed) and compile; f->err is idg_compile's result. */
static inline void fx_compile_st(struct fx *f, const char *yaml,
				 const char *node, struct idg_state *st)
{
	int err;

	memset(f, 0, sizeof(*f));
	seed_dump(yaml);
	err = idg_config_load_string("test.yaml", yaml, &f->cfg, &f->d);
	if (err) {
		idg_diags_print(&f->d, stderr);
		fail_msg("config does not parse: %d", err);
	}
	f->err = idg_compile(&f->cfg, node, st, &f->c, &f->d);
	fx_dump(f);
}

static inline void fx_compile(struct fx *f, const char *yaml, const char *node)
{
	fx_compile_st(f, yaml, node, NULL);
	if (f->err) {
		idg_diags_print(&f->d, stderr);
		fail_msg("compile failed: %d", f->err);
	}
}

static inline void fx_free(struct fx *f)
{
	idg_compiled_free(&f->c);
	idg_config_free(&f->cfg);
	idg_diags_free(&f->d);
}

/* Identity of an endpoint by name (any cluster); fails when absent. */
static inline uint32_t fx_id(const struct fx *f, const char *ep)
{
	for (size_t i = 0; i < f->c.n_ipcache; i++)
		if (f->c.ipcache[i].endpoint &&
		    !strcmp(f->c.ipcache[i].endpoint, ep))
			return f->c.ipcache[i].identity;
	fail_msg("no endpoint %s in the ipcache", ep);
	return 0;
}

/* IDG_EP_F_* of a local endpoint. */
static inline uint32_t fx_flags(const struct fx *f, const char *ep)
{
	for (size_t i = 0; i < f->c.n_eps; i++)
		if (!strcmp(f->c.eps[i].ep->name, ep))
			return f->c.eps[i].flags;
	fail_msg("no local endpoint %s", ep);
	return 0;
}

#define ANY_PORT (-1)
#define ANY_PROTO (-1)

/* Entries for subject in dir of kind, with peer, proto, port (-1 =
 * whatever). */
static inline size_t fx_count(const struct fx *f, uint32_t subject,
			      uint8_t dir, uint8_t kind, int64_t peer,
			      int proto, int port)
{
	size_t n = 0;

	for (size_t i = 0; i < f->c.n_rules; i++) {
		const struct idg_rule_entry *r = &f->c.rules[i];

		if (r->subject != subject || r->dir != dir || r->kind != kind)
			continue;
		if (peer >= 0 && r->peer != (uint32_t)peer)
			continue;
		if (proto >= 0 && r->proto != proto)
			continue;
		if (port >= 0 && r->port != port)
			continue;
		n++;
	}
	return n;
}

/* Is peer allowed (or denied) for subject in dir at all? */
#define fx_has(f, subject, dir, kind, peer)                               \
	(fx_count((f), (subject), (dir), (kind), (peer), ANY_PROTO, ANY_PORT) > 0)

static inline void fx_fmt(const struct idg_cidr *c, char *buf, size_t len);

static inline const struct idg_ipcache_entry *
fx_ipc(const struct fx *f, const char *prefix, uint16_t key_cluster)
{
	char buf[80];

	for (size_t i = 0; i < f->c.n_ipcache; i++) {
		const struct idg_ipcache_entry *e = &f->c.ipcache[i];

		if (e->key_cluster != key_cluster)
			continue;
		fx_fmt(&e->cidr, buf, sizeof(buf));
		if (!strcmp(buf, prefix))
			return e;
	}
	return NULL;
}

static inline void fx_fmt(const struct idg_cidr *c, char *buf, size_t len)
{
	char a[64] = "?";

	inet_ntop(c->family == IDG_FAM_IPV4 ? AF_INET : AF_INET6, c->addr, a,
		  sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->plen);
}

/* The CIDR identity of prefix, or 0. */
static inline uint32_t fx_cidr_id(const struct fx *f, const char *prefix)
{
	char buf[80];

	for (size_t i = 0; i < f->c.n_ids; i++) {
		if (f->c.ids[i].kind != IDG_IDK_CIDR)
			continue;
		fx_fmt(&f->c.ids[i].cidr, buf, sizeof(buf));
		if (!strcmp(buf, prefix))
			return f->c.ids[i].id;
	}
	return 0;
}

#endif /* IDGATE_TESTS_COMPILE_TEST_H */
