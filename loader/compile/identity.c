// SPDX-License-Identifier: GPL-2.0
/*
 * Security identities: the reserved ones, one per endpoint label set of
 * each cluster, and one per CIDR prefix the policies name.
 *
 * Endpoint numbers travel between nodes (the GENEVE VNI carries the
 * source's), so they come from the file alone: pins first, then a hash of
 * the canonical label string, collisions resolved by linear probing in a
 * fixed (sorted) order. Every node that loads the same file computes the
 * same numbers, whatever it loaded before. The state of the last run only
 * tells which of them moved since, so the operator hears about it.
 *
 * CIDR numbers never leave the node: there the state keeps them stable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_int.h"
#include "config_cache.h"

uint32_t idg_identity_hash_local(const char *canon)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)canon; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return IDG_ID_LOCAL_MIN + h % IDG_ID_LOCAL_RANGE;
}

static const struct idg_node *find_node(const struct idg_config *cfg,
					const char *name)
{
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (name && !strcmp(cfg->nodes[i].name, name))
			return &cfg->nodes[i];
	return NULL;
}

/* ---- earlier numbers, by name ---- */

struct old_index {
	struct idg_strmap own;
	const struct idg_strmap *by_name; /* canon -> id */
};

/* The number the state gave name, or 0. */
static uint32_t old_lookup(const struct old_index *oi, const char *name)
{
	const size_t *id = idg_strmap_get(oi->by_name, name);

	return id ? (uint32_t)*id : 0;
}

/* ---- endpoint identities ---- */

struct ep_canon {
	char *canon;
	struct idg_labels labels;
	uint32_t cluster_id;
	size_t ep;
};

static int ep_canon_cmp(const void *a, const void *b)
{
	const struct ep_canon *x = a, *y = b;
	int c = strcmp(x->canon, y->canon);

	if (c)
		return c;
	if (x->cluster_id != y->cluster_id)
		return x->cluster_id < y->cluster_id ? -1 : 1;
	return x->ep < y->ep ? -1 : x->ep > y->ep;
}

static int ep_canon_make(const struct idg_config *cfg, size_t i,
			 const struct idg_node *node, struct ep_canon *ec,
			 struct idg_diags *d)
{
	const struct idg_endpoint *ep = &cfg->endpoints[i];
	const char *ns = ep->namespace ? ep->namespace : "default";
	const char *cl = node->cluster ? node->cluster : "";
	const char *v;
	int err;

	ec->ep = i;
	ec->cluster_id = node->cluster_id;
	ec->canon = NULL;
	err = idg_labels_copy(&ec->labels, &ep->labels);
	if (err)
		return err;
	/* Namespace and cluster are facts of where the endpoint lives, not
	 * something its labels may claim otherwise. */
	v = idg_labels_get(&ec->labels, IDG_LABEL_NAMESPACE);
	if (v && strcmp(v, ns))
		idg_warn(d, ep->pos,
			 "endpoint %s: label %s=%s ignored, its namespace is %s",
			 ep->name, IDG_LABEL_NAMESPACE, v, ns);
	v = idg_labels_get(&ec->labels, IDG_LABEL_CLUSTER);
	if (v && strcmp(v, cl))
		idg_warn(d, ep->pos,
			 "endpoint %s: label %s=%s ignored, its cluster is %s",
			 ep->name, IDG_LABEL_CLUSTER, v, cl);
	err = idg_labels_set(&ec->labels, IDG_LABEL_NAMESPACE, ns);
	if (!err)
		err = idg_labels_set(&ec->labels, IDG_LABEL_CLUSTER, cl);
	if (!err) {
		ec->canon = idg_labels_canon(&ec->labels);
		if (!ec->canon)
			err = -ENOMEM;
	}
	if (err)
		idg_labels_free(&ec->labels);
	return err;
}

/* Group endpoints by (canon, cluster): one group per identity. */
static int groups_build(const struct idg_config *cfg, struct idg_id_layer *L,
			struct idg_diags *d)
{
	const struct idg_node **ep_node = NULL;
	struct ep_canon *ec = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	L->n_endpoints = cfg->n_endpoints;
	L->ep_group = calloc(cfg->n_endpoints + 1, sizeof(*L->ep_group));
	L->ep_node = calloc(cfg->n_endpoints + 1, sizeof(*L->ep_node));
	ep_node = calloc(cfg->n_endpoints + 1, sizeof(*ep_node));
	ec = calloc(cfg->n_endpoints + 1, sizeof(*ec));
	if (!L->ep_group || !L->ep_node || !ep_node || !ec) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		const struct idg_node *node = find_node(cfg, ep->node);

		ep_node[i] = node;
		L->ep_node[i] = node ? (size_t)(node - cfg->nodes) : SIZE_MAX;
		if (!node) {
			idg_err(d, ep->pos, "endpoint %s: unknown node %s",
				ep->name, ep->node ? ep->node : "(none)");
			continue;
		}
		err = ep_canon_make(cfg, i, node, &ec[n], d);
		if (err)
			goto out;
		n++;
	}
	qsort(ec, n, sizeof(*ec), ep_canon_cmp);

	for (size_t i = 0; i < n; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[ec[i].ep];
		struct idg_id_group *g;

		g = L->n_groups ? &L->groups[L->n_groups - 1] : NULL;
		if (!g || strcmp(ec[i].canon, g->canon) ||
		    ec[i].cluster_id != g->cluster_id) {
			g = IDG_VEC_PUSH(L->groups, L->n_groups, cap);
			if (!g) {
				err = -ENOMEM;
				goto out;
			}
			memset(g, 0, sizeof(*g));
			g->canon = ec[i].canon;
			g->labels = ec[i].labels;
			ec[i].canon = NULL;
			ec[i].labels.v = NULL;
			ec[i].labels.n = 0;
			g->hash = idg_identity_hash_local(g->canon);
			g->cluster_id = ec[i].cluster_id;
			g->cluster = ep_node[ec[i].ep]->cluster;
			g->namespace = ep->namespace ? ep->namespace : "default";
			g->pos = ep->pos;
		}
		L->ep_group[ec[i].ep] = (size_t)(g - L->groups);
		if (!ep->pinned_identity)
			continue;
		if (ep->pinned_identity < IDG_ID_LOCAL_MIN ||
		    ep->pinned_identity > 0xffff) {
			idg_err(d, ep->pos,
				"endpoint %s: identity %u out of range %u..%u",
				ep->name, ep->pinned_identity,
				IDG_ID_LOCAL_MIN, 0xffff);
		} else if (g->pinned && g->pinned != ep->pinned_identity) {
			idg_err(d, ep->pos,
				"endpoint %s: label set {%s} pinned to two identities, %u and %u (%s:%d:%d)",
				ep->name, g->canon, g->pinned,
				ep->pinned_identity,
				g->pin_pos.file ? g->pin_pos.file : "?",
				g->pin_pos.line, g->pin_pos.col);
		} else if (!g->pinned) {
			g->pinned = ep->pinned_identity;
			g->pin_pos = ep->pos;
		}
	}
out:
	for (size_t i = 0; ec && i < n; i++) {
		free(ec[i].canon);
		idg_labels_free(&ec[i].labels);
	}
	free(ec);
	free(ep_node);
	return err;
}

/* Who holds each local id of each cluster: group index + 1, 0 = free. */
struct id_owners {
	uint32_t *by_cluster[IDG_ID_CLUSTER_MAX + 1];
};

static uint32_t *owners_of(struct id_owners *o, uint32_t cluster_id)
{
	uint32_t **p = &o->by_cluster[cluster_id & IDG_ID_CLUSTER_MAX];

	if (!*p)
		*p = calloc(0x10000, sizeof(**p));
	return *p;
}

static void owners_free(struct id_owners *o)
{
	for (size_t i = 0; i <= IDG_ID_CLUSTER_MAX; i++)
		free(o->by_cluster[i]);
}

/* An owner that is no group of the config: a number the mesh's store
 * holds for a label set the config does not have. */
#define OWNER_STORE UINT32_MAX

/* The store's numbers (after the pins): each group's own, then every
 * other one held. */
static int groups_number_allocs(struct idg_id_layer *ids,
				const struct idg_config *cfg,
				struct id_owners *own, struct idg_diags *d)
{
	const struct idg_id_allocs *a = cfg->allocs;
	struct idg_strmap cid = { 0 };
	int err;

	for (size_t i = 0; i < ids->n_groups; i++) {
		struct idg_id_group *g = &ids->groups[i];
		uint32_t local, *o;

		if (g->id || g->pinned)
			continue;
		local = idg_id_allocs_get(a, g->cluster, g->canon);
		if (!local)
			continue;
		o = owners_of(own, g->cluster_id);
		if (!o)
			return -ENOMEM;
		if (o[local]) {
			idg_warn(d, g->pos,
				 "identity %u, which the mesh's store allocated to {%s}, is pinned to {%s} here: {%s} gets another number, which other nodes do not agree on",
				 IDG_ID_MAKE(g->cluster_id, local), g->canon,
				 ids->groups[o[local] - 1].canon, g->canon);
			continue;
		}
		o[local] = (uint32_t)i + 1;
		g->id = IDG_ID_MAKE(g->cluster_id, local);
	}
	/* Cluster names of the config, for the numbers of label sets it
	 * does not have. */
	err = idg_strmap_init(&cid, cfg->n_nodes);
	for (size_t i = 0; !err && i < cfg->n_nodes; i++) {
		size_t have;

		err = idg_strmap_put(&cid, cfg->nodes[i].cluster,
				     cfg->nodes[i].cluster_id, &have);
		err = err < 0 ? err : 0;
	}
	for (size_t i = 0; !err && i < a->n; i++) {
		const size_t *c = idg_strmap_get(&cid, a->v[i].cluster);
		uint32_t *o;

		if (!c)
			continue;
		o = owners_of(own, (uint32_t)*c);
		if (!o)
			err = -ENOMEM;
		else if (!o[a->v[i].local])
			o[a->v[i].local] = OWNER_STORE;
	}
	idg_strmap_free(&cid);
	return err;
}

/* Hash collisions reported one by one; the rest as one count. */
#define IDG_COLLISIONS_SHOWN 3

static int groups_number(struct idg_id_layer *ids, const struct idg_config *cfg,
			 struct idg_diags *d)
{
	struct id_owners own = { 0 };
	size_t n_coll = 0;
	int err = 0;

	/* Pins first: they are the config's explicit word. */
	for (size_t i = 0; i < ids->n_groups; i++) {
		struct idg_id_group *g = &ids->groups[i];
		uint32_t *o;

		if (!g->pinned)
			continue;
		o = owners_of(&own, g->cluster_id);
		if (!o) {
			err = -ENOMEM;
			goto out;
		}
		if (o[g->pinned]) {
			idg_err(d, g->pin_pos,
				"identity collision: label sets {%s} and {%s} both pin identity %u",
				ids->groups[o[g->pinned] - 1].canon, g->canon,
				g->pinned);
			continue;
		}
		o[g->pinned] = (uint32_t)i + 1;
		g->id = IDG_ID_MAKE(g->cluster_id, g->pinned);
	}
	if (cfg->allocs) {
		err = groups_number_allocs(ids, cfg, &own, d);
		if (err)
			goto out;
	}

	/* The rest from the hash, in sorted order, probing on a clash. */
	for (size_t i = 0; i < ids->n_groups; i++) {
		struct idg_id_group *g = &ids->groups[i];
		uint32_t h, local, tries = 0, *o;

		if (g->id || g->pinned)
			continue;
		o = owners_of(&own, g->cluster_id);
		if (!o) {
			err = -ENOMEM;
			goto out;
		}
		h = g->hash;
		for (local = h; o[local]; tries++) {
			if (tries == IDG_ID_LOCAL_RANGE)
				break;
			local = local == 0xffff ? IDG_ID_LOCAL_MIN : local + 1;
		}
		if (o[local]) {
			idg_err(d, g->pos,
				"cluster %s: no free identity left for {%s}",
				g->cluster, g->canon);
			continue;
		}
		/* Every collision is safe (probing in a fixed order); a few
		 * examples say why a number is not its hash, a count the
		 * rest. */
		if (local != h && ++n_coll <= IDG_COLLISIONS_SHOWN)
			idg_warn(d, g->pos,
				 "identity collision: {%s} hashes to %u, held by {%s}; it gets %u",
				 g->canon, IDG_ID_MAKE(g->cluster_id, h),
				 o[h] == OWNER_STORE ?
					 "another label set, in the mesh's store" :
					 ids->groups[o[h] - 1].canon,
				 IDG_ID_MAKE(g->cluster_id, local));
		o[local] = (uint32_t)i + 1;
		g->id = IDG_ID_MAKE(g->cluster_id, local);
	}
	if (n_coll > IDG_COLLISIONS_SHOWN)
		idg_warn(d, ids->groups[0].pos,
			 "identity collision: %zu more label sets took the next free identity after their hash (idgate identity list shows them all; pin with spec.identity where a number must not move)",
			 n_coll - IDG_COLLISIONS_SHOWN);
out:
	owners_free(&own);
	return err;
}

/* Moved numbers reported one by one; the rest as one count. */
#define IDG_MOVES_SHOWN 3

/*
 * A number that moved since the last apply (a label set added or removed
 * in its collision chain, a cluster renumbered) breaks flows between nodes
 * until all of them run the new file: say so. Pinned sets are skipped, a
 * changed pin is the config's explicit word.
 */
static void groups_report_moves(const struct idg_idents *ids,
				const struct old_index *oi, bool subset,
				const size_t *only, size_t n_only,
				struct idg_diags *d)
{
	size_t n_moved = 0, n = subset ? n_only : ids->n_groups;

	for (size_t k = 0; k < n; k++) {
		const struct idg_id_group *g = &ids->groups[subset ? only[k] : k];
		uint32_t old = old_lookup(oi, g->canon);

		/* id 0: no number at all, an error already says why */
		if (g->pinned || !g->id || !old || old == g->id)
			continue;
		if (++n_moved <= IDG_MOVES_SHOWN)
			idg_warn(d, g->pos,
				 "identity moved: {%s} was %u at the last apply, it is now %u; pin it with spec.identity if its number must not move",
				 g->canon, old, g->id);
	}
	if (n_moved > IDG_MOVES_SHOWN)
		idg_warn(d, ids->groups[0].pos,
			 "identity moved: %zu more label sets have another number than at the last apply (pin with spec.identity where a number must not move)",
			 n_moved - IDG_MOVES_SHOWN);
}

/* What a patch found: the groups it added or emptied, and whether every
 * group both layers have kept its number. */
struct patch_delta {
	const struct idg_id_group **v;
	size_t n, cap;
	bool ids_kept;
	bool patched; /* the layer came from layer_patch() */
	uint64_t from; /* ... made from the layer of this serial */
	/* The groups of both layers whose number moved, by index in the
	 * new one, in group order. */
	size_t *moved, n_moved, cap_moved;
};

/*
 * groups_report_moves, or what it said last time: the same when the
 * memo's layer is compared with the same earlier state. A layer patched
 * from the one whose numbers that state was saved with (and nothing else
 * of its label sets) can only differ from it where the patch moved a
 * number: only those are looked at.
 */
static void moves_report(const struct idg_idents *ids,
			 const struct idg_state *old,
			 const struct old_index *oi, struct idg_diags *d,
			 struct idg_compile_memo *memo,
			 const struct patch_delta *pd)
{
	uint64_t state = old ? old->content_id : 0;
	struct idg_diags m = { 0 };
	bool few = memo && pd->patched && state &&
		   state == memo->saved_state && pd->from == memo->saved_layer;

	if (!memo || memo->layer != ids->layer || !state) {
		groups_report_moves(ids, oi, false, NULL, 0, d);
		return;
	}
	if (memo->moves_state != state) {
		groups_report_moves(ids, oi, few, pd->moved, pd->n_moved, &m);
		idg_diags_free(&memo->moves);
		memo->moves = m;
		memo->moves_state = state;
	}
	idg_diags_append(d, &memo->moves);
}

/* ---- CIDR identities ---- */

static int cidr_push(struct idg_idents *ids, size_t *cap,
		     const struct idg_cidr *c)
{
	struct idg_cidr_id *e;

	/* A /0 is world itself, not a prefix of its own. */
	if (!c->plen)
		return 0;
	e = IDG_VEC_PUSH(ids->cidrs, ids->n_cidrs, *cap);
	if (!e)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	e->cidr = *c;
	return 0;
}

static int cidr_id_cmp(const void *a, const void *b)
{
	const struct idg_cidr_id *x = a, *y = b;

	return idg_cidr_cmp(&x->cidr, &y->cidr);
}

struct taken {
	uint32_t n;
	size_t idx;
};

static int taken_cmp(const void *a, const void *b)
{
	const struct taken *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cidrs_build(const struct idg_config *cfg, struct idg_idents *ids,
		       const struct old_index *oi, struct idg_diags *d)
{
	struct taken *tk = NULL;
	size_t cap = 0, n_tk = 0, w, t;
	uint32_t next;
	int err = 0;

	for (size_t p = 0; p < cfg->n_policies; p++) {
		const struct idg_policy *pol = &cfg->policies[p];

		for (int s = 0; s < IDG_RS_MAX; s++)
			for (size_t r = 0; r < pol->n_rules[s]; r++) {
				const struct idg_rule *ru = &pol->rules[s][r];

				for (size_t c = 0; c < ru->n_cidrs; c++) {
					const struct idg_cidr_set *cs =
						&ru->cidrs[c];

					err = cidr_push(ids, &cap, &cs->cidr);
					for (size_t e = 0;
					     !err && e < cs->n_except; e++)
						err = cidr_push(ids, &cap,
								&cs->except[e]);
					if (err)
						return err;
				}
			}
	}
	if (!ids->n_cidrs)
		return 0;
	qsort(ids->cidrs, ids->n_cidrs, sizeof(*ids->cidrs), cidr_id_cmp);
	w = 0;
	for (size_t i = 0; i < ids->n_cidrs; i++) {
		if (w && !idg_cidr_cmp(&ids->cidrs[w - 1].cidr, &ids->cidrs[i].cidr))
			continue;
		ids->cidrs[w++] = ids->cidrs[i];
	}
	ids->n_cidrs = w;
	if (ids->n_cidrs > IDG_CIDR_ID_MAX) {
		idg_err(d, (struct idg_pos){ .file = cfg->file },
			"%zu CIDR prefixes, at most %u are supported",
			ids->n_cidrs, IDG_CIDR_ID_MAX);
		return 0;
	}

	tk = calloc(ids->n_cidrs, sizeof(*tk));
	if (!tk)
		return -ENOMEM;
	for (size_t i = 0; i < ids->n_cidrs; i++) {
		char key[80] = "cidr:";
		uint32_t old;

		idg_cidr_format(&ids->cidrs[i].cidr, key + 5, sizeof(key) - 5);
		ids->cidrs[i].text = strdup(key + 5);
		if (!ids->cidrs[i].text) {
			err = -ENOMEM;
			goto out;
		}
		old = old_lookup(oi, key);
		if ((old & ~IDG_CIDR_ID_MAX) == IDG_ID_SCOPE_LOCAL &&
		    (old & IDG_CIDR_ID_MAX)) {
			tk[n_tk].n = old & IDG_CIDR_ID_MAX;
			tk[n_tk].idx = i;
			n_tk++;
		}
	}
	/* Earlier numbers: the first (in prefix order) keeps a number two
	 * prefixes claimed, the other gets a new one. */
	qsort(tk, n_tk, sizeof(*tk), taken_cmp);
	w = 0;
	for (size_t i = 0; i < n_tk; i++) {
		if (w && tk[w - 1].n == tk[i].n)
			continue;
		ids->cidrs[tk[i].idx].id = IDG_ID_SCOPE_LOCAL | tk[i].n;
		tk[w++] = tk[i];
	}
	n_tk = w;
	/* New ones take the smallest numbers nobody holds. */
	next = 1;
	t = 0;
	for (size_t i = 0; i < ids->n_cidrs; i++) {
		if (ids->cidrs[i].id)
			continue;
		for (;;) {
			while (t < n_tk && tk[t].n < next)
				t++;
			if (t < n_tk && tk[t].n == next) {
				next++;
				continue;
			}
			break;
		}
		ids->cidrs[i].id = IDG_ID_SCOPE_LOCAL | next++;
	}
out:
	free(tk);
	return err;
}

/* ---- the identity list ---- */

static int id_cmp(const void *a, const void *b)
{
	const struct idg_identity *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int reserved_add(struct idg_identity *e, uint32_t id, const char *name)
{
	int err;

	memset(e, 0, sizeof(*e));
	e->id = id;
	e->kind = IDG_IDK_RESERVED;
	err = idg_labels_set(&e->labels, name, "");
	if (err)
		return err;
	e->canon = strdup(name);
	return e->canon ? 0 : -ENOMEM;
}

static int cidr_identity_fill(const struct idg_idents *ids, size_t i,
			      struct idg_identity *e)
{
	const struct idg_cidr_id *c = &ids->cidrs[i];
	char key[80];
	int err;

	memset(e, 0, sizeof(*e));
	e->id = c->id;
	e->kind = IDG_IDK_CIDR;
	e->cidr = c->cidr;
	/* Its own prefix and every configured one that contains it: what
	 * Cilium gives a CIDR identity, limited to prefixes in use. */
	for (size_t j = 0; j < ids->n_cidrs; j++) {
		if (!idg_cidr_contains(&ids->cidrs[j].cidr, &c->cidr))
			continue;
		snprintf(key, sizeof(key), "cidr:%s", ids->cidrs[j].text);
		err = idg_labels_set(&e->labels, key, "");
		if (err)
			return err;
	}
	err = idg_labels_set(&e->labels, "reserved:world", "");
	if (err)
		return err;
	e->canon = idg_labels_canon(&e->labels);
	return e->canon ? 0 : -ENOMEM;
}

static int ids_list_build(struct idg_idents *ids, struct idg_compiled *out)
{
	size_t n = 3 + ids->n_groups + ids->n_cidrs, k = 0;
	int err = 0;

	out->ids = calloc(n, sizeof(*out->ids));
	if (!out->ids)
		return -ENOMEM;
	err = reserved_add(&out->ids[k++], IDG_ID_HOST, "reserved:host");
	if (!err)
		err = reserved_add(&out->ids[k++], IDG_ID_WORLD,
				   "reserved:world");
	if (!err)
		err = reserved_add(&out->ids[k++], IDG_ID_REMOTE_NODE,
				   "reserved:remote-node");
	out->layer = ids->layer;
	ids->layer->refs++;
	/* In number order where the layer knows it: the list is then
	 * sorted without a sort of its own (reserved numbers come first,
	 * CIDR ones after endpoints'; checked below). */
	for (size_t i = 0; !err && i < ids->n_groups; i++) {
		const struct idg_id_group *g =
			&ids->groups[ids->layer->by_id ? ids->layer->by_id[i] : i];
		struct idg_identity *e = &out->ids[k++];

		e->id = g->id;
		e->kind = IDG_IDK_ENDPOINT;
		e->cluster_id = g->cluster_id;
		e->pinned = g->pinned != 0;
		/* The layer's strings, held by out's reference to it. */
		e->labels = g->labels;
		e->canon = g->canon;
		e->borrowed = true;
	}
	for (size_t i = 0; !err && i < ids->n_cidrs; i++)
		err = cidr_identity_fill(ids, i, &out->ids[k++]);
	/* Entries filled so far are freed by idg_compiled_free(). */
	out->n_ids = k;
	if (err)
		return err;
	qsort(out->ids + 3 + ids->n_groups, ids->n_cidrs, sizeof(*out->ids),
	      id_cmp);
	for (size_t i = 1; i < out->n_ids; i++)
		if (out->ids[i - 1].id > out->ids[i].id) {
			qsort(out->ids, out->n_ids, sizeof(*out->ids), id_cmp);
			break;
		}
	return 0;
}

struct id_at {
	uint32_t id;
	size_t g;
};

static int id_at_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct id_at *)a)->id;
	uint32_t y = ((const struct id_at *)b)->id;

	return x < y ? -1 : x > y;
}

/* l->by_id, once its groups are numbered. */
static int layer_order(struct idg_id_layer *l)
{
	struct id_at *v = malloc((l->n_groups + 1) * sizeof(*v));

	l->by_id = malloc((l->n_groups + 1) * sizeof(*l->by_id));
	if (!v || !l->by_id) {
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n_groups; i++)
		v[i] = (struct id_at){ .id = l->groups[i].id, .g = i };
	qsort(v, l->n_groups, sizeof(*v), id_at_cmp);
	for (size_t i = 0; i < l->n_groups; i++)
		l->by_id[i] = v[i].g;
	free(v);
	return 0;
}

static int state_record(const struct idg_idents *ids, struct idg_state *st)
{
	char key[80];
	int err;

	for (size_t i = 0; i < ids->n_groups; i++) {
		err = idg_state_add_id(st, ids->groups[i].canon,
				       ids->groups[i].id);
		if (err)
			return err;
	}
	for (size_t i = 0; i < ids->n_cidrs; i++) {
		snprintf(key, sizeof(key), "cidr:%s", ids->cidrs[i].text);
		err = idg_state_add_id(st, key, ids->cidrs[i].id);
		if (err)
			return err;
	}
	return 0;
}

/* A group's strings, let go by one layer. */
static void group_strs_drop(struct idg_id_group *g)
{
	if (g->str_refs && --*g->str_refs)
		return;
	free(g->str_refs);
	free(g->canon);
	idg_labels_free(&g->labels);
}

void idg_id_layer_put(struct idg_id_layer *l)
{
	if (!l || --l->refs)
		return;
	for (size_t i = 0; i < l->n_groups; i++)
		group_strs_drop(&l->groups[i]);
	free(l->groups);
	free(l->ep_group);
	free(l->ep_node);
	free(l->by_id);
	idg_label_index_free(l);
	idg_diags_free(&l->d);
	idg_cfg_frags_drop(l->frags, l->n_frags);
	free(l);
}

/* Layers made by this process so far: each one's serial. */
static uint64_t layer_serial;

static uint64_t allocs_serial(const struct idg_config *cfg)
{
	return cfg->allocs ? cfg->allocs->serial : 0;
}

/* The endpoint identities of cfg, what building them said in l->d. */
static int layer_build(const struct idg_config *cfg, struct idg_id_layer **out)
{
	struct idg_id_layer *l = calloc(1, sizeof(*l));
	int err;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->refs = 1;
	l->serial = ++layer_serial;
	l->allocs_serial = allocs_serial(cfg);
	err = groups_build(cfg, l, &l->d);
	l->clean = !l->d.n;
	if (!err)
		err = groups_number(l, cfg, &l->d);
	if (!err)
		err = layer_order(l);
	if (!err)
		err = idg_label_index_build(l);
	if (err) {
		idg_id_layer_put(l);
		return err;
	}
	*out = l;
	return 0;
}

/* ---- a layer patched from the last one ---- */

/* One file of the old layer and where its endpoints began. */
struct frag_at {
	const struct idg_cfg_frag *f;
	size_t base, idx;
};

static int frag_at_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct frag_at *)a)->f;
	uintptr_t y = (uintptr_t)((const struct frag_at *)b)->f;

	return x < y ? -1 : x > y;
}

static const struct frag_at *frag_at_find(const struct frag_at *v, size_t n,
					  const struct idg_cfg_frag *f)
{
	struct frag_at k = { .f = f };

	return bsearch(&k, v, n, sizeof(*v), frag_at_cmp);
}

/* Order of groups: canon, then cluster. */
static int group_key_cmp(const char *canon, uint32_t cluster_id,
			 const struct idg_id_group *g)
{
	int c = strcmp(canon, g->canon);

	if (c)
		return c;
	return cluster_id < g->cluster_id ? -1 : cluster_id > g->cluster_id;
}

static size_t group_find(const struct idg_id_layer *l, const char *canon,
			 uint32_t cluster_id)
{
	size_t lo = 0, hi = l->n_groups;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = group_key_cmp(canon, cluster_id, &l->groups[mid]);

		if (!c)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SIZE_MAX;
}


static int delta_push(struct patch_delta *pd, const struct idg_id_group *g)
{
	const struct idg_id_group **e = IDG_VEC_PUSH(pd->v, pd->n, pd->cap);

	if (!e)
		return -ENOMEM;
	*e = g;
	return 0;
}

/* A patch under way: o the old layer, l the new one. */
struct patch {
	const struct idg_config *cfg;
	struct idg_id_layer *o, *l;
	struct idg_cfg_frag **nf; /* cfg's files of nodes and endpoints */
	size_t n_nf;
	size_t *ep_old;   /* per file of nf: its first endpoint in o, or
			   * SIZE_MAX for a file o did not have */
	bool *kept;       /* per file of o: cfg has it */
	size_t *count;    /* per group of o: its endpoints in cfg */
	size_t *remap;    /* per group of o: its place in l, or SIZE_MAX */
	size_t *add_old;  /* per endpoint of a new file: its group in o */
	struct ep_canon *ec; /* the new files' endpoints */
	size_t n_ec;
	struct ep_canon **nv; /* those of labels o has no group for */
	size_t n_nv;
	size_t *newg, n_newg; /* the groups they made, in l (in order) */
	bool ok; /* false: build instead */
};

/* Which of o's files cfg still has, where their endpoints were in o. */
static int patch_files(struct patch *p)
{
	const struct idg_id_layer *o = p->o;
	struct frag_at *at = calloc(o->n_frags + 1, sizeof(*at));
	size_t base = 0;

	p->kept = calloc(o->n_frags + 1, sizeof(*p->kept));
	p->ep_old = calloc(p->n_nf + 1, sizeof(*p->ep_old));
	if (!at || !p->kept || !p->ep_old) {
		free(at);
		return -ENOMEM;
	}
	for (size_t i = 0; i < o->n_frags; i++) {
		at[i] = (struct frag_at){ .f = o->frags[i], .base = base, .idx = i };
		base += idg_cfg_frag_endpoints(o->frags[i]);
	}
	p->ok = base == o->n_endpoints;
	qsort(at, o->n_frags, sizeof(*at), frag_at_cmp);
	base = 0;
	for (size_t k = 0; k < p->n_nf; k++) {
		const struct frag_at *a = frag_at_find(at, o->n_frags, p->nf[k]);

		p->ep_old[k] = a ? a->base : SIZE_MAX;
		if (a)
			p->kept[a->idx] = true;
		base += idg_cfg_frag_endpoints(p->nf[k]);
	}
	p->ok &= base == p->cfg->n_endpoints;
	free(at);
	return 0;
}

/* Members of each old group, less those of the files gone (which must
 * not have held a pin). */
static int patch_count(struct patch *p)
{
	const struct idg_id_layer *o = p->o;
	size_t base = 0;

	p->count = calloc(o->n_groups + 1, sizeof(*p->count));
	if (!p->count)
		return -ENOMEM;
	for (size_t i = 0; i < o->n_endpoints; i++)
		p->count[o->ep_group[i]]++;
	for (size_t i = 0; i < o->n_frags && p->ok; i++) {
		const struct idg_cfg_frag *f = o->frags[i];
		size_t n = idg_cfg_frag_endpoints(f);

		for (size_t j = 0; !p->kept[i] && j < n && p->ok; j++) {
			p->ok = !idg_cfg_frag_endpoint(f, j)->pinned_identity;
			p->count[o->ep_group[base + j]]--;
		}
		base += n;
	}
	return 0;
}

/* The endpoints of one new file, made as groups_build() makes them;
 * p->ok false where one would give a message or has a pin (where a
 * patch could differ from a build). */
static int patch_canon(struct patch *p, size_t first, size_t n)
{
	const struct idg_config *cfg = p->cfg;
	struct idg_diags quiet = { 0 };
	int err = 0;

	for (size_t i = first; i < first + n && p->ok; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		const struct idg_node *node = find_node(cfg, ep->node);

		if (!node || ep->pinned_identity) {
			p->ok = false;
			break;
		}
		err = ep_canon_make(cfg, i, node, &p->ec[p->n_ec], &quiet);
		if (err)
			break;
		p->n_ec++;
		p->ok = !quiet.n;
	}
	idg_diags_free(&quiet);
	return err;
}

static int ep_canon_ptr_cmp(const void *a, const void *b)
{
	return ep_canon_cmp(*(const struct ep_canon *const *)a,
			    *(const struct ep_canon *const *)b);
}

/* The new files' endpoints: each joins an old group, or goes to p->nv
 * (sorted as groups_build() sorts) to make a new one. */
static int patch_added(struct patch *p)
{
	size_t base = 0, cap = 0;
	int err = 0;

	for (size_t k = 0; k < p->n_nf; k++)
		if (p->ep_old[k] == SIZE_MAX)
			cap += idg_cfg_frag_endpoints(p->nf[k]);
	p->ec = calloc(cap + 1, sizeof(*p->ec));
	p->nv = calloc(cap + 1, sizeof(*p->nv));
	p->add_old = calloc(p->cfg->n_endpoints + 1, sizeof(*p->add_old));
	if (!p->ec || !p->nv || !p->add_old)
		return -ENOMEM;
	for (size_t k = 0; k < p->n_nf && p->ok && !err; k++) {
		size_t n = idg_cfg_frag_endpoints(p->nf[k]), from = p->n_ec;

		if (p->ep_old[k] == SIZE_MAX)
			err = patch_canon(p, base, n);
		for (size_t e = from; e < p->n_ec && p->ok && !err; e++) {
			struct ep_canon *ec = &p->ec[e];
			size_t g = group_find(p->o, ec->canon, ec->cluster_id);

			p->add_old[ec->ep] = g;
			if (g != SIZE_MAX)
				p->count[g]++;
			else
				p->nv[p->n_nv++] = ec;
		}
		base += n;
	}
	if (!err)
		qsort(p->nv, p->n_nv, sizeof(*p->nv), ep_canon_ptr_cmp);
	return err;
}

/* An old group with members, into l: its strings shared. */
static int patch_keep(struct patch *p, size_t i)
{
	struct idg_id_group *og = &p->o->groups[i], *g;

	if (!og->str_refs) {
		og->str_refs = malloc(sizeof(*og->str_refs));
		if (!og->str_refs)
			return -ENOMEM;
		*og->str_refs = 1;
	}
	g = &p->l->groups[p->l->n_groups];
	*g = *og;
	++*g->str_refs;
	g->id = 0;
	p->remap[i] = p->l->n_groups++;
	return 0;
}

/* A new group from p->nv[*j] and the endpoints after it of the same
 * labels: it takes the first one's strings. */
static void patch_new(struct patch *p, size_t *j)
{
	struct idg_id_group *g = &p->l->groups[p->l->n_groups];
	struct ep_canon *ec = p->nv[*j];

	memset(g, 0, sizeof(*g));
	g->canon = ec->canon;
	g->labels = ec->labels;
	g->hash = idg_identity_hash_local(g->canon);
	g->cluster_id = ec->cluster_id;
	p->l->ep_group[ec->ep] = p->l->n_groups;
	ec->canon = NULL;
	ec->labels.v = NULL;
	ec->labels.n = 0;
	for ((*j)++; *j < p->n_nv &&
		     !group_key_cmp(p->nv[*j]->canon, p->nv[*j]->cluster_id, g);
	     (*j)++)
		p->l->ep_group[p->nv[*j]->ep] = p->l->n_groups;
	p->l->n_groups++;
}

/* The old groups that keep members and the new ones, merged in group
 * order; what was added or emptied goes to pd. */
static int patch_merge(struct patch *p, struct patch_delta *pd)
{
	const struct idg_id_layer *o = p->o;
	size_t i = 0, j = 0;
	int err = 0;

	p->remap = calloc(o->n_groups + 1, sizeof(*p->remap));
	p->newg = calloc(p->n_nv + 1, sizeof(*p->newg));
	p->l->groups = calloc(o->n_groups + p->n_nv + 1, sizeof(*p->l->groups));
	if (!p->remap || !p->newg || !p->l->groups)
		return -ENOMEM;
	while (!err && (i < o->n_groups || j < p->n_nv)) {
		/* Never 0: p->nv has labels no old group has. */
		int c = i == o->n_groups ? 1 :
			j == p->n_nv ? -1 :
				       -group_key_cmp(p->nv[j]->canon,
						      p->nv[j]->cluster_id,
						      &o->groups[i]);

		if (c < 0 && !p->count[i]) {
			p->remap[i] = SIZE_MAX;
			err = delta_push(pd, &o->groups[i++]);
		} else if (c < 0) {
			err = patch_keep(p, i++);
		} else {
			p->newg[p->n_newg++] = p->l->n_groups;
			patch_new(p, &j);
			err = delta_push(pd, &p->l->groups[p->l->n_groups - 1]);
		}
	}
	return err;
}

/* Every endpoint's group and node; a group's position, namespace and
 * cluster name are its first endpoint's, as in groups_build(). */
static int patch_endpoints(struct patch *p)
{
	const struct idg_config *cfg = p->cfg;
	struct idg_id_layer *l = p->l;
	bool *seen = calloc(l->n_groups + 1, sizeof(*seen));
	size_t base = 0;

	if (!seen)
		return -ENOMEM;
	for (size_t k = 0; k < p->n_nf; k++) {
		size_t n = idg_cfg_frag_endpoints(p->nf[k]), from = p->ep_old[k];

		for (size_t i = base; i < base + n; i++) {
			if (from != SIZE_MAX) {
				l->ep_group[i] =
					p->remap[p->o->ep_group[from + i - base]];
				l->ep_node[i] = p->o->ep_node[from + i - base];
				continue;
			}
			if (p->add_old[i] != SIZE_MAX)
				l->ep_group[i] = p->remap[p->add_old[i]];
			l->ep_node[i] = (size_t)(find_node(cfg,
							   cfg->endpoints[i].node) -
						 cfg->nodes);
		}
		base += n;
	}
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		struct idg_id_group *g = &l->groups[l->ep_group[i]];

		if (seen[l->ep_group[i]])
			continue;
		seen[l->ep_group[i]] = true;
		g->pos = ep->pos;
		g->namespace = ep->namespace ? ep->namespace : "default";
		g->cluster = cfg->nodes[l->ep_node[i]].cluster;
	}
	free(seen);
	return 0;
}

static void patch_free(struct patch *p)
{
	idg_id_layer_put(p->l);
	if (p->nf)
		idg_cfg_frags_drop(p->nf, p->n_nf);
	for (size_t i = 0; p->ec && i < p->n_ec; i++) {
		free(p->ec[i].canon);
		idg_labels_free(&p->ec[i].labels);
	}
	free(p->ec);
	free(p->nv);
	free(p->kept);
	free(p->ep_old);
	free(p->count);
	free(p->remap);
	free(p->newg);
	free(p->add_old);
}

/*
 * The layer of cfg made from o, the memo's layer of an earlier config
 * whose files of nodes are the same, in order: only the files of
 * endpoints differ. Their endpoints' groups are made (those with labels
 * no endpoint had) or let go (the last endpoint gone); the other groups
 * keep their strings, shared with o; numbers and positions are computed
 * again over all groups, which costs no string work, and the label index
 * is o's with the groups renumbered and the changed ones' labels.
 * The result is what layer_build(cfg) gives: groups, numbers, messages.
 * *out stays NULL (build instead) where it could differ: o said
 * something while grouping, or a changed file has a pin or an endpoint
 * that would say something.
 */
static int layer_patch(const struct idg_config *cfg, struct idg_id_layer *o,
		       struct idg_id_layer **out, struct patch_delta *pd)
{
	struct patch p = { .cfg = cfg, .o = o, .ok = o->clean };
	int err;

	*out = NULL;
	err = idg_config_ident_files(cfg, &p.nf, &p.n_nf);
	if (err || !p.ok || !p.n_nf || !o->n_frags ||
	    !idg_cfg_frags_same_nodes(o->frags, o->n_frags, p.nf, p.n_nf))
		goto out;
	err = patch_files(&p);
	if (!err && p.ok)
		err = patch_count(&p);
	if (!err && p.ok)
		err = patch_added(&p);
	if (err || !p.ok)
		goto out;

	p.l = calloc(1, sizeof(*p.l));
	if (!p.l) {
		err = -ENOMEM;
		goto out;
	}
	p.l->refs = 1;
	p.l->serial = ++layer_serial;
	p.l->allocs_serial = allocs_serial(cfg);
	p.l->clean = true;
	p.l->n_endpoints = cfg->n_endpoints;
	p.l->ep_group = calloc(cfg->n_endpoints + 1, sizeof(*p.l->ep_group));
	p.l->ep_node = calloc(cfg->n_endpoints + 1, sizeof(*p.l->ep_node));
	if (!p.l->ep_group || !p.l->ep_node) {
		err = -ENOMEM;
		goto out;
	}
	err = patch_merge(&p, pd);
	if (!err)
		err = patch_endpoints(&p);
	if (!err)
		err = groups_number(p.l, cfg, &p.l->d);
	if (!err)
		err = layer_order(p.l);
	if (!err)
		err = idg_label_index_patch(p.l, o, p.remap, p.newg, p.n_newg);
	if (err)
		goto out;
	for (size_t i = 0; i < o->n_groups; i++) {
		size_t *e;

		if (p.remap[i] == SIZE_MAX ||
		    o->groups[i].id == p.l->groups[p.remap[i]].id)
			continue;
		e = IDG_VEC_PUSH(pd->moved, pd->n_moved, pd->cap_moved);
		if (!e) {
			err = -ENOMEM;
			goto out;
		}
		*e = p.remap[i];
	}
	pd->ids_kept = !pd->n_moved;
	pd->from = o->serial;
	p.l->frags = p.nf;
	p.l->n_frags = p.n_nf;
	p.nf = NULL;
	pd->patched = true;
	*out = p.l;
	p.l = NULL;
out:
	patch_free(&p);
	return err;
}

/* The memo's layer when cfg's nodes and endpoints are the ones it was
 * built from, else a new one (kept by the memo when it said no error). */
static int layer_get(const struct idg_config *cfg,
		     struct idg_compile_memo *memo, struct idg_id_layer **out,
		     struct patch_delta *pd)
{
	struct idg_id_layer *l;
	int err;

	if (memo)
		memo->reused = memo->patched = false;
	/* Other numbers from the store: a layer of its own. */
	if (memo && memo->layer &&
	    memo->layer->allocs_serial != allocs_serial(cfg)) {
		idg_id_layer_put(memo->layer);
		memo->layer = NULL;
	}
	if (memo && memo->layer &&
	    idg_config_ident_files_are(cfg, memo->layer->frags,
				       memo->layer->n_frags)) {
		memo->layer->refs++;
		memo->reused = true;
		memo->used_layer = memo->layer->serial;
		*out = memo->layer;
		return 0;
	}
	l = NULL;
	if (memo && memo->layer) {
		err = layer_patch(cfg, memo->layer, &l, pd);
		if (err)
			goto out;
	}
	if (!l) {
		err = layer_build(cfg, &l);
		if (err)
			goto out;
	}
	if (memo && !l->d.n_errors &&
	    (l->frags || !idg_config_ident_files(cfg, &l->frags, &l->n_frags)) &&
	    l->n_frags) {
		/* What the policy files gave was against the old one. */
		if (!memo->layer)
			idg_pol_memos_clear(memo);
		else if (pd->patched && pd->ids_kept)
			idg_pol_memos_migrate_delta(memo, pd->v, pd->n);
		else
			idg_pol_memos_migrate(memo, memo->layer, l);
		idg_id_layer_put(memo->layer);
		memo->layer = l;
		l->refs++;
		memo->moves_state = 0;
	}
	if (memo)
		memo->patched = pd->patched;
	*out = l;
out:
	if (memo && !err)
		memo->used_layer = (*out)->serial;
	return err;
}

int idg_identities_build(const struct idg_config *cfg,
			 const struct idg_state *old, struct idg_state *new_st,
			 struct idg_idents *ids, struct idg_compiled *out,
			 struct idg_diags *d, struct idg_compile_memo *memo)
{
	size_t errors = d->n_errors;
	struct idg_id_layer *l;
	struct old_index oi = { 0 };
	struct patch_delta pd = { 0 };
	int err;

	memset(ids, 0, sizeof(*ids));
	err = idg_state_index_of(old, IDG_STATE_IX_IDS, &oi.own, &oi.by_name);
	if (!err)
		err = layer_get(cfg, memo, &l, &pd);
	if (err)
		goto out;
	ids->layer = l;
	ids->groups = l->groups;
	ids->n_groups = l->n_groups;
	ids->ep_group = l->ep_group;
	ids->ep_node = calloc(cfg->n_endpoints + 1, sizeof(*ids->ep_node));
	if (!ids->ep_node) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		ids->ep_node[i] = l->ep_node[i] == SIZE_MAX ?
					  NULL : &cfg->nodes[l->ep_node[i]];
	idg_diags_append(d, &l->d);
	moves_report(ids, old, &oi, d, memo, &pd);
	err = cidrs_build(cfg, ids, &oi, d);
	if (err)
		goto out;
	if (d->n_errors > errors) {
		err = -EINVAL;
		goto out;
	}
	err = ids_list_build(ids, out);
	if (!err)
		err = state_record(ids, new_st);
out:
	idg_strmap_free(&oi.own);
	free(pd.v);
	free(pd.moved);
	return err;
}

void idg_idents_free(struct idg_idents *ids)
{
	idg_id_layer_put(ids->layer);
	for (size_t i = 0; i < ids->n_cidrs; i++)
		free(ids->cidrs[i].text);
	free(ids->cidrs);
	free(ids->ep_node);
	memset(ids, 0, sizeof(*ids));
}
