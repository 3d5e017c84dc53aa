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

/* The cluster of an endpoint of cfg: its node's. */
static const char *ep_cluster(const struct idg_config *cfg,
			      const struct idg_endpoint *ep)
{
	const struct idg_node *nd = idg_config_node(cfg, ep->node);

	return nd && nd->cluster ? nd->cluster : "";
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

/* Does ep (of node, in cluster) take a name or an address of an endpoint
 * of local's that another node has? */
static void collisions(const struct idg_endpoint *ep, const char *cluster,
		       const char *node, const struct idg_config *local,
		       struct idg_diags *d)
{
	char ip[INET6_ADDRSTRLEN + 8];

	for (size_t i = 0; i < local->n_endpoints; i++) {
		const struct idg_endpoint *o = &local->endpoints[i];

		if (!strcmp(o->node, node) || strcmp(ep_cluster(local, o), cluster))
			continue;
		if (!strcmp(o->namespace, ep->namespace) && !strcmp(o->name, ep->name))
			idg_err(d, ep->pos,
				"endpoint %s/%s of node %s: cluster %s has an endpoint of that name on node %s",
				ep->namespace, ep->name, node, cluster, o->node);
		for (size_t a = 0; a < ep->n_ips; a++)
			for (size_t b = 0; b < o->n_ips; b++)
				if (idg_cidr_equal(&ep->ips[a], &o->ips[b]))
					idg_err(d, ep->ips[a].pos,
						"endpoint %s/%s of node %s: address %s is endpoint %s/%s's of node %s",
						ep->namespace, ep->name, node,
						idg_cidr_str(&ep->ips[a], ip, sizeof(ip)),
						o->namespace, o->name, o->node);
	}
}

void idg_mesh_claims_free(struct idg_mesh_claims *c)
{
	idg_strmap_free(&c->map);
	for (size_t i = 0; i < c->n_keys; i++)
		free(c->keys[i]);
	free(c->keys);
	for (size_t i = 0; i < c->n_nodes; i++)
		free(c->nodes[i]);
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

/* Another document of the same hand-over took a name or address of
 * cfg's endpoints: said in d. */
static void claims_check(const struct idg_mesh_claims *c, const char *cluster,
			 const struct idg_config *cfg, struct idg_diags *d)
{
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];

		for (size_t k = 0; k <= ep->n_ips; k++) {
			char *key = claim_key(cluster, ep, k);
			const size_t *owner = key ? idg_strmap_get(&c->map, key) : NULL;

			if (owner)
				idg_err(d, k ? ep->ips[k - 1].pos : ep->pos,
					"endpoint %s/%s: %s is node %s's too, published at the same time",
					ep->namespace, ep->name,
					k ? strchr(key, ' ') + 1 : "its name",
					c->nodes[*owner]);
			free(key);
		}
	}
}

/* cfg's names and addresses, claimed for node. -ENOMEM. */
static int claims_add(struct idg_mesh_claims *c, const char *cluster,
		      const char *node, const struct idg_config *cfg)
{
	char **nodes = realloc(c->nodes, (c->n_nodes + 1) * sizeof(*nodes));
	int err = 0;

	if (!nodes)
		return -ENOMEM;
	c->nodes = nodes;
	if (!(c->nodes[c->n_nodes] = strdup(node)))
		return -ENOMEM;
	c->n_nodes++;
	if (!c->map.slot && idg_strmap_init(&c->map, 64))
		return -ENOMEM;
	for (size_t i = 0; !err && i < cfg->n_endpoints; i++)
		for (size_t k = 0; !err && k <= cfg->endpoints[i].n_ips; k++) {
			char *key = claim_key(cluster, &cfg->endpoints[i], k);
			char **keys = key ? realloc(c->keys, (c->n_keys + 1) *
							     sizeof(*keys)) : NULL;
			size_t had;

			if (!keys) {
				free(key);
				return -ENOMEM;
			}
			c->keys = keys;
			c->keys[c->n_keys++] = key; /* the map borrows it */
			if (idg_strmap_put(&c->map, key, c->n_nodes - 1, &had) < 0)
				err = -ENOMEM;
		}
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
		collisions(ep, cluster, node, local, d);
	}
	if (claims && yaml_ok)
		claims_check(claims, cluster, &cfg, d);
	if (claims && d->n_errors == errors && claims_add(claims, cluster, node, &cfg))
		idg_err(d, pos, "out of memory");
	cfg_parser_done(&p);
	if (n_endpoints)
		*n_endpoints = cfg.n_endpoints;
	idg_config_free(&cfg);
	return d->n_errors > errors ? -EINVAL : 0;
}
