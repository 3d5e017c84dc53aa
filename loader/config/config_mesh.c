// SPDX-License-Identifier: GPL-2.0
/*
 * The documents a node shares through the cluster mesh's store
 * (docs/mesh.md): its endpoints, written in one canonical form, and the
 * check a receiving node makes before it takes another node's documents
 * into its config. What comes from the store is input from outside: a
 * node may publish only endpoints of its own, and nothing that would
 * make the receiver's config fail its checks (a name or an address of
 * another node's endpoint), or one node could stop every other node's
 * reloads.
 */
#define _GNU_SOURCE /* asprintf */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "util/strmap.h"
#include "util/util.h"

static int ep_cmp(const void *a, const void *b)
{
	const struct idg_endpoint *x = *(const struct idg_endpoint *const *)a;
	const struct idg_endpoint *y = *(const struct idg_endpoint *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->name, y->name);
}

static void put_endpoint(FILE *f, const struct idg_endpoint *ep)
{
	char ip[INET6_ADDRSTRLEN + 8];

	fputs("apiVersion: idgate.io/v1\nkind: Endpoint\nmetadata: {name: ", f);
	idg_fput_quoted(f, ep->name);
	fputs(", namespace: ", f);
	idg_fput_quoted(f, ep->namespace);
	fputs(", labels: {", f);
	for (size_t i = 0; i < ep->labels.n; i++) {
		fputs(i ? ", " : "", f);
		idg_fput_quoted(f, ep->labels.v[i].key);
		fputs(": ", f);
		idg_fput_quoted(f, ep->labels.v[i].value);
	}
	fputs("}}\nspec: {node: ", f);
	idg_fput_quoted(f, ep->node);
	fputs(", ips: [", f);
	for (size_t i = 0; i < ep->n_ips; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : "",
			idg_cidr_str(&ep->ips[i], ip, sizeof(ip)));
	/* Not spec.interface (the other nodes do not have it) nor
	 * spec.identity (a number only this node's config agrees on, until
	 * identities are allocated through the store). */
	fputs("]}\n", f);
}

int idg_mesh_endpoints_doc(const struct idg_config *cfg, const char *node,
			   char **text, size_t *len)
{
	const struct idg_endpoint **v = calloc(cfg->n_endpoints + 1, sizeof(*v));
	size_t n = 0;
	FILE *f;

	*text = NULL;
	*len = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		if (!strcmp(cfg->endpoints[i].node, node))
			v[n++] = &cfg->endpoints[i];
	/* The same endpoints, the same bytes: no write for a reload that
	 * changed nothing of them. */
	qsort(v, n, sizeof(*v), ep_cmp);
	f = open_memstream(text, len);
	if (!f) {
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		fputs(i ? "---\n" : "", f);
		put_endpoint(f, v[i]);
	}
	free(v);
	if (fclose(f)) {
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Two endpoints of one document with one name or address. */
static void self_collisions(const struct idg_config *cfg, size_t i,
			    struct idg_diags *d)
{
	const struct idg_endpoint *ep = &cfg->endpoints[i];
	char ip[INET6_ADDRSTRLEN + 8];

	for (size_t k = 0; k < i; k++) {
		const struct idg_endpoint *o = &cfg->endpoints[k];

		if (!strcmp(o->namespace, ep->namespace) && !strcmp(o->name, ep->name))
			idg_err(d, ep->pos, "endpoint %s/%s is published twice",
				ep->namespace, ep->name);
		for (size_t a = 0; a < ep->n_ips; a++)
			for (size_t b = 0; b < o->n_ips; b++)
				if (idg_cidr_equal(&ep->ips[a], &o->ips[b]))
					idg_err(d, ep->ips[a].pos,
						"address %s of endpoint %s/%s is endpoint %s/%s's too",
						idg_cidr_str(&ep->ips[a], ip, sizeof(ip)),
						ep->namespace, ep->name, o->namespace, o->name);
	}
}

void idg_mesh_claims_free(struct idg_mesh_claims *c)
{
	idg_strmap_free(&c->map);
	idg_strmap_free(&c->node_ix);
	for (size_t i = 0; i < c->n_nodes; i++) {
		for (size_t k = 0; k < c->keys[i].n; k++)
			free(c->keys[i].v[k]);
		free(c->keys[i].v);
		free(c->nodes[i]);
	}
	free(c->keys);
	free(c->nodes);
	memset(c, 0, sizeof(*c));
}

/* "CLUSTER NAMESPACE/NAME" or "CLUSTER ADDRESS" (k 0 is the name). */
static char *claim_key(const char *cluster, const struct idg_endpoint *ep,
		       size_t k)
{
	char ip[INET6_ADDRSTRLEN + 8], *s = NULL;
	int n = k ? asprintf(&s, "%s %s", cluster,
			     idg_cidr_str(&ep->ips[k - 1], ip, sizeof(ip))) :
		    asprintf(&s, "%s %s/%s", cluster, ep->namespace, ep->name);

	return n < 0 ? NULL : s;
}

/* The index of node in c->nodes, added when new; -ENOMEM. */
static long claims_node(struct idg_mesh_claims *c, const char *node)
{
	const size_t *i = idg_strmap_get(&c->node_ix, node);
	struct idg_mesh_claim_keys *k;
	size_t had;
	char **v;

	if (i)
		return (long)*i;
	v = realloc(c->nodes, (c->n_nodes + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->nodes = v;
	k = realloc(c->keys, (c->n_nodes + 1) * sizeof(*k));
	if (!k)
		return -ENOMEM;
	c->keys = k;
	k[c->n_nodes] = (struct idg_mesh_claim_keys){ 0 };
	if (!(c->nodes[c->n_nodes] = strdup(node)))
		return -ENOMEM;
	if (idg_strmap_put(&c->node_ix, c->nodes[c->n_nodes], c->n_nodes,
			   &had) < 0) {
		free(c->nodes[c->n_nodes]);
		return -ENOMEM;
	}
	return (long)c->n_nodes++;
}

/* Endpoint ep's name and addresses in cluster, claimed by node owner
 * (an index of c->nodes); one a claim already has keeps its owner. */
static int claims_put(struct idg_mesh_claims *c, const char *cluster,
		      const struct idg_endpoint *ep, size_t owner)
{
	struct idg_mesh_claim_keys *mine = &c->keys[owner];

	for (size_t k = 0; k <= ep->n_ips; k++) {
		char *key = claim_key(cluster, ep, k);
		char **keys = key ? realloc(mine->v, (mine->n + 1) * sizeof(*keys)) : NULL;
		size_t had;
		int res;

		if (!keys) {
			free(key);
			return -ENOMEM;
		}
		mine->v = keys;
		res = idg_strmap_put(&c->map, key, owner, &had);
		if (res < 0) {
			free(key);
			return -ENOMEM;
		}
		if (res)
			mine->v[mine->n++] = key; /* the map borrows it */
		else
			free(key);
	}
	return 0;
}

int idg_mesh_claims_init(struct idg_mesh_claims *c, const struct idg_config *cfg)
{
	struct idg_strmap clusters = { 0 }; /* node name -> index of cfg->nodes */
	int err;

	memset(c, 0, sizeof(*c));
	err = idg_strmap_init(&c->map, 2 * cfg->n_endpoints + 64) ?:
	      idg_strmap_init(&c->node_ix, cfg->n_nodes + 1) ?:
	      idg_strmap_init(&clusters, cfg->n_nodes + 1);
	for (size_t i = 0; !err && i < cfg->n_nodes; i++) {
		size_t had;

		if (cfg->nodes[i].name &&
		    idg_strmap_put(&clusters, cfg->nodes[i].name, i, &had) < 0)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		const size_t *ni = ep->node ? idg_strmap_get(&clusters, ep->node) : NULL;
		const char *cluster = ni ? cfg->nodes[*ni].cluster : NULL;
		long owner;

		if (!cluster)
			continue;
		owner = claims_node(c, ep->node);
		err = owner < 0 ? (int)owner : claims_put(c, cluster, ep, (size_t)owner);
	}
	idg_strmap_free(&clusters);
	if (err)
		idg_mesh_claims_free(c);
	return err;
}

/* Names and addresses of cfg (node's, in cluster) that another node has
 * claimed: said in d. */
static void claims_check(const struct idg_mesh_claims *c, const char *cluster,
			 const char *node, const struct idg_config *cfg,
			 struct idg_diags *d)
{
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];

		for (size_t k = 0; k <= ep->n_ips; k++) {
			char *key = claim_key(cluster, ep, k);
			const size_t *owner = key ? idg_strmap_get(&c->map, key) : NULL;

			if (owner && strcmp(c->nodes[*owner], node))
				idg_err(d, k ? ep->ips[k - 1].pos : ep->pos,
					"endpoint %s/%s of node %s: %s%s is node %s's",
					ep->namespace, ep->name, node,
					k ? "address " : "its name",
					k ? strchr(key, ' ') + 1 : "",
					c->nodes[*owner]);
			free(key);
		}
	}
}

/* What node owner holds, released. */
static void claims_drop(struct idg_mesh_claims *c, size_t owner)
{
	struct idg_mesh_claim_keys *mine = &c->keys[owner];

	for (size_t i = 0; i < mine->n; i++) {
		idg_strmap_del2(&c->map, mine->v[i], NULL);
		free(mine->v[i]);
	}
	mine->n = 0;
}

void idg_mesh_claims_release(struct idg_mesh_claims *c, const char *node)
{
	const size_t *i = idg_strmap_get(&c->node_ix, node);

	if (i)
		claims_drop(c, *i);
}

/* node's claims replaced by cfg's names and addresses. -ENOMEM. */
static int claims_take(struct idg_mesh_claims *c, const char *cluster,
		       const char *node, const struct idg_config *cfg)
{
	long owner = claims_node(c, node);
	int err = owner < 0 ? (int)owner : 0;

	/* What node claimed before (its earlier document, as the local
	 * config has it) is released first. */
	if (!err)
		claims_drop(c, (size_t)owner);
	for (size_t i = 0; !err && i < cfg->n_endpoints; i++)
		err = claims_put(c, cluster, &cfg->endpoints[i], (size_t)owner);
	return err;
}

int idg_mesh_doc_check(const char *name, const char *text, size_t len,
		       const char *cluster, const char *node,
		       const struct idg_config *local, struct idg_diags *d,
		       size_t *n_endpoints, struct idg_mesh_claims *claims)
{
	const struct idg_node *nd = idg_config_node(local, node);
	struct idg_config cfg = { 0 };
	struct idg_pos pos = { .file = name, .line = 1, .col = 1 };
	struct cfg_parser p = { .cfg = &cfg, .d = d };
	struct idg_mesh_claims own = { 0 };
	size_t errors = d->n_errors;
	bool yaml_ok = true;
	int err;

	/* The mesh's nodes are the local config's: a node it does not know
	 * of, or in another cluster than its keys say, publishes nothing. */
	if (!nd || !nd->cluster || strcmp(nd->cluster, cluster)) {
		idg_err(d, pos, nd ? "node %s is in cluster %s, not %s" :
				     "node %s%s%s is not a node of the local config",
			node, nd ? (nd->cluster ? nd->cluster : "-") : "",
			nd ? cluster : "");
		return -EINVAL;
	}
	err = cfg_start(&cfg, d, name);
	if (err)
		return err;
	cfg_parse_text(&p, name, text, len, &yaml_ok);
	if (cfg.n_nodes || cfg.n_policies || cfg.n_egw_policies)
		idg_err(d, pos,
			"a node publishes Endpoint documents only, not Nodes or policies");
	for (size_t i = 0; yaml_ok && i < cfg.n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg.endpoints[i];

		if (!ep->node)
			continue; /* the parser said so */
		if (strcmp(ep->node, node)) {
			idg_err(d, ep->pos,
				"endpoint %s/%s is on node %s: node %s publishes its own endpoints only",
				ep->namespace, ep->name, ep->node, node);
			continue;
		}
		if (ep->interface || ep->pinned_identity)
			idg_err(d, ep->pos,
				"endpoint %s/%s: spec.%s is the publishing node's own business, not shared",
				ep->namespace, ep->name,
				ep->interface ? "interface" : "identity");
		self_collisions(&cfg, i, d);
	}
	/* Without the caller's claims, the local config's alone. */
	if (!claims) {
		if (idg_mesh_claims_init(&own, local)) {
			idg_err(d, pos, "out of memory");
			goto out;
		}
		claims = &own;
	}
	if (yaml_ok)
		claims_check(claims, cluster, node, &cfg, d);
	if (d->n_errors == errors && claims != &own &&
	    claims_take(claims, cluster, node, &cfg))
		idg_err(d, pos, "out of memory");
out:
	idg_mesh_claims_free(&own);
	cfg_parser_done(&p);
	if (n_endpoints)
		*n_endpoints = cfg.n_endpoints;
	idg_config_free(&cfg);
	return d->n_errors > errors ? -EINVAL : 0;
}
