// SPDX-License-Identifier: GPL-2.0
/*
 * One validated config plus the node we run as, into the contents of one
 * datapath generation: identities (identity.c), the ipcache and the local
 * endpoints (here), rules and enforcement flags (compile_rules.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_int.h"

static const struct idg_node *node_find(const struct idg_config *cfg,
					const char *name)
{
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (name && !strcmp(cfg->nodes[i].name, name))
			return &cfg->nodes[i];
	return NULL;
}

static int unknown_node(const struct idg_config *cfg, const char *name,
			struct idg_diags *d)
{
	size_t len = 1;
	char *list, *p;

	for (size_t i = 0; i < cfg->n_nodes; i++)
		len += strlen(cfg->nodes[i].name) + 2;
	list = malloc(len);
	if (!list)
		return -ENOMEM;
	p = list;
	*p = '\0';
	for (size_t i = 0; i < cfg->n_nodes; i++)
		p += sprintf(p, "%s%s", i ? ", " : "", cfg->nodes[i].name);
	idg_err(d, (struct idg_pos){ .file = cfg->file },
		"unknown node %s; the config has %s", name ? name : "(none)",
		cfg->n_nodes ? list : "no nodes");
	free(list);
	return -EINVAL;
}

/* ---- ipcache ---- */

enum ipc_src {
	IPC_EP,       /* an endpoint IP, keyed by its own cluster */
	IPC_EP_FLAT,  /* another cluster's endpoint, keyed by ours */
	IPC_NODE,
	IPC_CIDR,
};

struct ipc_cand {
	struct idg_ipcache_entry e;
	enum ipc_src src;
	size_t order; /* insertion order: the earlier source wins a tie */
};

static int ipc_key_cmp(const struct ipc_cand *x, const struct ipc_cand *y)
{
	if (x->e.key_cluster != y->e.key_cluster)
		return x->e.key_cluster < y->e.key_cluster ? -1 : 1;
	if (x->e.cidr.family != y->e.cidr.family)
		return x->e.cidr.family < y->e.cidr.family ? -1 : 1;
	if (x->e.cidr.plen != y->e.cidr.plen)
		return x->e.cidr.plen < y->e.cidr.plen ? -1 : 1;
	return memcmp(x->e.cidr.addr, y->e.cidr.addr, 16);
}

static int ipc_cand_cmp(const void *a, const void *b)
{
	const struct ipc_cand *x = a, *y = b;
	int c = ipc_key_cmp(x, y);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static uint32_t node_tunnel_v4(const struct idg_node *n)
{
	uint32_t ip = 0;

	if (n && n->has_tunnel_ip && n->tunnel_ip.family == IDG_FAM_IPV4)
		memcpy(&ip, n->tunnel_ip.addr, 4);
	return ip;
}

struct ipc_build {
	struct ipc_cand *v;
	size_t n, cap;
};

static struct ipc_cand *ipc_add(struct ipc_build *b, enum ipc_src src,
				const struct idg_cidr *c, uint32_t key_cluster,
				uint32_t identity)
{
	struct ipc_cand *e = IDG_VEC_PUSH(b->v, b->n, b->cap);

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->src = src;
	e->order = b->n - 1;
	e->e.cidr = *c;
	e->e.key_cluster = (uint16_t)key_cluster;
	e->e.identity = identity;
	return e;
}

/* Can another cluster's endpoint IP also be keyed by our cluster id? Not
 * when it overlaps an address of ours, nor one of a third cluster. */
static bool flat_ok(const struct idg_config *cfg, const struct idg_idents *ids,
		    uint32_t local, size_t ep_i, const struct idg_cidr *ip,
		    struct idg_diags *d)
{
	const struct idg_endpoint *ep = &cfg->endpoints[ep_i];
	uint32_t own = ids->ep_node[ep_i]->cluster_id;
	char a[64];

	for (size_t j = 0; j < cfg->n_endpoints; j++) {
		const struct idg_node *n = ids->ep_node[j];
		const struct idg_endpoint *o = &cfg->endpoints[j];

		if (!n || n->cluster_id == own)
			continue;
		for (size_t k = 0; k < o->n_ips; k++) {
			if (!idg_cidr_overlaps(ip, &o->ips[k]))
				continue;
			idg_cidr_format(ip, a, sizeof(a));
			if (n->cluster_id == local)
				idg_warn(d, ep->pos,
					 "endpoint %s (cluster %s) address %s overlaps endpoint %s of the local cluster: reachable only through the tunnel",
					 ep->name, ids->ep_node[ep_i]->cluster,
					 a, o->name);
			else if (own != local)
				idg_warn(d, ep->pos,
					 "endpoint %s (cluster %s) address %s overlaps endpoint %s of cluster %s: both reachable only through the tunnel",
					 ep->name, ids->ep_node[ep_i]->cluster,
					 a, o->name, n->cluster);
			return false;
		}
	}
	return true;
}

static void ipc_dup_report(const struct ipc_cand *win,
			   const struct ipc_cand *lose,
			   const struct idg_config *cfg, struct idg_diags *d)
{
	struct idg_pos pos = { .file = cfg->file };
	char a[64];

	idg_cidr_format(&lose->e.cidr, a, sizeof(a));
	if (win->src == IPC_EP && lose->src == IPC_EP) {
		if (win->e.endpoint == lose->e.endpoint)
			idg_warn(d, pos, "endpoint %s lists %s twice",
				 win->e.endpoint, a);
		else
			idg_err(d, pos,
				"endpoints %s and %s both have address %s in cluster id %u",
				win->e.endpoint, lose->e.endpoint, a,
				win->e.key_cluster);
	} else if (lose->src == IPC_NODE) {
		idg_warn(d, pos,
			 "tunnel IP %s of node %s is also %s %s: that one wins",
			 a, lose->e.node, win->e.endpoint ? "endpoint" : "node",
			 win->e.endpoint ? win->e.endpoint : win->e.node);
	} else if (lose->src == IPC_CIDR) {
		idg_warn(d, pos,
			 "CIDR %s is exactly the address of %s %s: it keeps that identity",
			 a, win->e.endpoint ? "endpoint" : "node",
			 win->e.endpoint ? win->e.endpoint : win->e.node);
	} else {
		idg_warn(d, pos, "address %s of endpoint %s is also %s: skipped",
			 a, lose->e.endpoint,
			 win->e.endpoint ? win->e.endpoint : win->e.node);
	}
}

/*
 * An endpoint that owns a whole prefix owns every address in it: a
 * narrower CIDR of a policy inside it must not take those addresses over
 * in the LPM, or a CIDR rule would match an endpoint. (Exactly equal
 * prefixes are resolved with the other duplicates.)
 */
static bool cidr_inside_endpoint(const struct idg_config *cfg,
				 const struct ipc_build *b, const size_t *wide,
				 size_t n_wide, const struct idg_cidr_id *ci,
				 struct idg_diags *d)
{
	for (size_t i = 0; i < n_wide; i++) {
		const struct ipc_cand *e = &b->v[wide[i]];

		if (e->e.cidr.plen >= ci->cidr.plen ||
		    !idg_cidr_contains(&e->e.cidr, &ci->cidr))
			continue;
		idg_warn(d, (struct idg_pos){ .file = cfg->file },
			 "CIDR %s lies inside the addresses of endpoint %s: they keep its identity",
			 ci->text, e->e.endpoint);
		return true;
	}
	return false;
}

/* Endpoint entries keyed by our cluster that own more than one address. */
static size_t *wide_endpoints(const struct ipc_build *b, uint32_t local,
			      size_t *n)
{
	size_t *v = calloc(b->n + 1, sizeof(*v));

	*n = 0;
	for (size_t i = 0; v && i < b->n; i++) {
		const struct ipc_cand *e = &b->v[i];

		if (e->e.key_cluster == local && e->e.endpoint &&
		    e->e.cidr.plen < (e->e.cidr.family == IDG_FAM_IPV4 ? 32 : 128))
			v[(*n)++] = i;
	}
	return v;
}

static int ipcache_build(const struct idg_config *cfg,
			 const struct idg_idents *ids,
			 const struct idg_node *self, struct idg_compiled *out,
			 struct idg_diags *d)
{
	uint32_t local = self->cluster_id;
	struct ipc_build b = { 0 };
	size_t w, n_wide = 0, *wide = NULL;
	struct ipc_cand *c;
	int err = 0;

	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		const struct idg_node *n = ids->ep_node[i];
		uint32_t id = ids->groups[ids->ep_group[i]].id;

		for (size_t k = 0; k < ep->n_ips; k++) {
			c = ipc_add(&b, IPC_EP, &ep->ips[k], n->cluster_id, id);
			if (!c)
				goto oom;
			c->e.tunnel_ip = node_tunnel_v4(n);
			c->e.endpoint = ep->name;
			c->e.node = n->name;
			c->e.expired = ep->expired && n != self;
		}
	}
	/* A flat routed mesh: other clusters' pods are reached by their own
	 * addresses, so a lookup keyed by our cluster must find them too. */
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		const struct idg_node *n = ids->ep_node[i];
		uint32_t id = ids->groups[ids->ep_group[i]].id;

		if (n->cluster_id == local)
			continue;
		for (size_t k = 0; k < ep->n_ips; k++) {
			if (!flat_ok(cfg, ids, local, i, &ep->ips[k], d))
				continue;
			c = ipc_add(&b, IPC_EP_FLAT, &ep->ips[k], local, id);
			if (!c)
				goto oom;
			c->e.tunnel_ip = node_tunnel_v4(n);
			c->e.endpoint = ep->name;
			c->e.node = n->name;
			c->e.expired = ep->expired && n != self;
		}
	}
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct idg_node *n = &cfg->nodes[i];

		if (!n->has_tunnel_ip)
			continue;
		c = ipc_add(&b, IPC_NODE, &n->tunnel_ip, local,
			    n == self ? IDG_ID_HOST : IDG_ID_REMOTE_NODE);
		if (!c)
			goto oom;
		c->e.node = n->name;
	}
	wide = wide_endpoints(&b, local, &n_wide);
	if (!wide)
		goto oom;
	for (size_t i = 0; i < ids->n_cidrs; i++) {
		if (cidr_inside_endpoint(cfg, &b, wide, n_wide, &ids->cidrs[i],
					 d))
			continue;
		if (!ipc_add(&b, IPC_CIDR, &ids->cidrs[i].cidr, local,
			     ids->cidrs[i].id))
			goto oom;
	}

	/* One entry per key; the earlier source (endpoint, node, CIDR)
	 * wins, as the more specific fact about that address. */
	if (b.n)
		qsort(b.v, b.n, sizeof(*b.v), ipc_cand_cmp);
	out->ipcache = calloc(b.n + 1, sizeof(*out->ipcache));
	if (!out->ipcache)
		goto oom;
	w = 0;
	for (size_t i = 0; i < b.n; i++) {
		if (w && !ipc_key_cmp(&b.v[i], &b.v[i - 1])) {
			size_t first = i - 1;

			while (first && !ipc_key_cmp(&b.v[first - 1], &b.v[i]))
				first--;
			ipc_dup_report(&b.v[first], &b.v[i], cfg, d);
			continue;
		}
		out->ipcache[w++] = b.v[i].e;
	}
	out->n_ipcache = w;
out:
	free(wide);
	free(b.v);
	return err;
oom:
	err = -ENOMEM;
	goto out;
}

/* ---- local endpoints ---- */

static int local_eps_build(const struct idg_config *cfg,
			   const struct idg_idents *ids,
			   const struct idg_node *self, struct idg_compiled *out)
{
	size_t cap = 0;

	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];

		if (ids->ep_node[i] != self)
			continue;
		for (size_t k = 0; k < ep->n_ips; k++) {
			struct idg_local_ep *e =
				IDG_VEC_PUSH(out->eps, out->n_eps, cap);

			if (!e)
				return -ENOMEM;
			memset(e, 0, sizeof(*e));
			e->ep = ep;
			e->cidr = ep->ips[k];
			e->identity = ids->groups[ids->ep_group[i]].id;
			e->ep_id = (uint32_t)i + 1;
		}
	}
	return 0;
}

/*
 * Enforced endpoints that are behind no workload interface are judged
 * only where their traffic crosses the uplink: from other interfaces, or
 * between two of them on this node, it never meets idgate. Say so, once.
 */
static void unbound_report(const struct idg_compiled *out,
			   struct idg_diags *d)
{
	const struct idg_endpoint *first = NULL, *last = NULL;
	size_t n = 0;

	for (size_t i = 0; i < out->n_eps; i++) {
		const struct idg_local_ep *e = &out->eps[i];

		if (e->ep->interface || e->ep == last ||
		    !(e->flags & (IDG_EP_F_ENFORCE_INGRESS |
				  IDG_EP_F_ENFORCE_EGRESS)))
			continue;
		last = e->ep;
		if (!first)
			first = e->ep;
		n++;
	}
	if (n == 1)
		idg_warn(d, out->node->pos,
			 "node %s: endpoint %s is enforced only for traffic crossing the uplink %s: from other interfaces, or from endpoints of this node, nothing is judged (bind it to its workload interface with spec.interface; docs/security.md)",
			 out->node->name, first->name, out->node->uplink);
	else if (n)
		idg_warn(d, out->node->pos,
			 "node %s: endpoint %s and %zu others are enforced only for traffic crossing the uplink %s: from other interfaces, or between endpoints of this node, nothing is judged (bind them to their workload interfaces with spec.interface; docs/security.md)",
			 out->node->name, first->name, n - 1,
			 out->node->uplink);
}

/* ---- entry point ---- */

int idg_compile(const struct idg_config *cfg, const char *node_name,
		struct idg_state *st, struct idg_compiled *out,
		struct idg_diags *d)
{
	struct idg_state new_st;
	int err = idg_compile_with(cfg, node_name, st, &new_st, out, d);

	/* Only a successful compile moves the state on. */
	if (!err && st) {
		idg_state_free(st);
		*st = new_st;
	} else {
		idg_state_free(&new_st);
	}
	return err;
}

int idg_compile_with(const struct idg_config *cfg, const char *node_name,
		     const struct idg_state *st, struct idg_state *new_out,
		     struct idg_compiled *out, struct idg_diags *d)
{
	return idg_compile_memo_with(cfg, node_name, st, new_out, out, d,
				     NULL);
}

void idg_compile_memo_free(struct idg_compile_memo *m)
{
	idg_pol_memos_clear(m);
	idg_id_layer_put(m->layer);
	idg_diags_free(&m->moves);
	memset(m, 0, sizeof(*m));
}

int idg_compile_memo_with(const struct idg_config *cfg, const char *node_name,
			  const struct idg_state *st, struct idg_state *new_out,
			  struct idg_compiled *out, struct idg_diags *d,
			  struct idg_compile_memo *memo)
{
	size_t errors = d->n_errors;
	struct idg_state new_st = { 0 };
	struct idg_idents ids = { 0 };
	const struct idg_node *self;
	int err;

	memset(out, 0, sizeof(*out));
	memset(new_out, 0, sizeof(*new_out));
	self = node_find(cfg, node_name);
	if (!self)
		return unknown_node(cfg, node_name, d);
	out->node = self;
	out->cluster_id = self->cluster_id;
	switch (self->enforcement) {
	case IDG_ENF_ALWAYS:
		out->enforcement = IDG_ENFORCE_ALWAYS;
		break;
	case IDG_ENF_NEVER:
		out->enforcement = IDG_ENFORCE_NEVER;
		break;
	default:
		out->enforcement = IDG_ENFORCE_DEFAULT;
		break;
	}

	err = idg_identities_build(cfg, st, &new_st, &ids, out, d, memo);
	if (!err)
		err = ipcache_build(cfg, &ids, self, out, d);
	if (!err)
		err = local_eps_build(cfg, &ids, self, out);
	if (!err)
		err = idg_rules_build(cfg, &ids, st, &new_st, out, d, memo);
	if (!err)
		unbound_report(out, d);
	if (!err)
		err = idg_egw_build(cfg, &ids, self, out, d);
	if (!err)
		err = idg_l7_build(out, &out->l7);
	if (!err && d->n_errors > errors)
		err = -EINVAL;
	idg_idents_free(&ids);
	if (err) {
		idg_state_free(&new_st);
		idg_compiled_free(out);
		return err;
	}
	*new_out = new_st;
	return 0;
}

void idg_compiled_free(struct idg_compiled *c)
{
	for (size_t i = 0; i < c->n_ids; i++) {
		if (c->ids[i].borrowed)
			continue;
		idg_labels_free(&c->ids[i].labels);
		free(c->ids[i].canon);
	}
	free(c->ids);
	idg_id_layer_put(c->layer);
	free(c->ipcache);
	free(c->eps);
	free(c->rules);
	free(c->cookies);
	free(c->egw);
	free(c->gwsets);
	free(c->tnodes);
	idg_l7_free(&c->l7);
	memset(c, 0, sizeof(*c));
}

const struct idg_identity *idg_compiled_identity(const struct idg_compiled *c,
						 uint32_t id)
{
	size_t lo = 0, hi = c->n_ids;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->ids[mid].id == id)
			return &c->ids[mid];
		if (c->ids[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct idg_cookie *idg_compiled_cookie(const struct idg_compiled *c,
					     uint32_t cookie)
{
	size_t lo = 0, hi = c->n_cookies;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->cookies[mid].cookie == cookie)
			return &c->cookies[mid];
		if (c->cookies[mid].cookie < cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
