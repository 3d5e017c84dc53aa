// SPDX-License-Identifier: GPL-2.0
/*
 * Which identities a policy's selectors stand for, with Cilium's
 * semantics: the endpoints a policy applies to, and the peers of each of
 * its rules (endpoint selectors, CIDRs, entities).
 *
 * Selectors are matched against the canonical labels of each endpoint
 * identity, so namespace and cluster are labels like any other. A label
 * index narrows every selector to the identities carrying its rarest
 * required label, so a config of thousands of policies over thousands of
 * endpoints does not cost their product.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_int.h"

/* ---- the label index ---- */

static void clusters_count(struct idg_id_layer *x)
{
	uint8_t seen[IDG_ID_CLUSTER_MAX + 1];

	memset(seen, 0, sizeof(seen));
	x->n_clusters = 0;
	for (size_t g = 0; g < x->n_groups; g++) {
		uint32_t c = x->groups[g].cluster_id & IDG_ID_CLUSTER_MAX;

		if (!seen[c]) {
			seen[c] = 1;
			x->n_clusters++;
		}
	}
}

int idg_label_index_build(struct idg_id_layer *x)
{
	size_t n = 0, n_lbl = 0, l, k = 0;
	size_t *fill = NULL, *num = NULL;
	int err;

	for (size_t g = 0; g < x->n_groups; g++)
		n += x->groups[g].labels.n;
	x->index = calloc(n + 1, sizeof(*x->index));
	x->lbl_first = calloc(n + 1, sizeof(*x->lbl_first));
	x->lbl_count = calloc(n + 1, sizeof(*x->lbl_count));
	if (!x->index || !x->lbl_first || !x->lbl_count)
		return -ENOMEM;
	err = idg_strmap_init(&x->lbl, n);
	if (err)
		return err;
	num = calloc(n + 1, sizeof(*num));
	if (!num)
		return -ENOMEM;
	/* Number the distinct labels and count their groups ... */
	for (size_t g = 0; g < x->n_groups; g++)
		for (size_t i = 0; i < x->groups[g].labels.n; i++) {
			const struct idg_label *lb = &x->groups[g].labels.v[i];

			err = idg_strmap_put2(&x->lbl, lb->key, lb->value,
					      n_lbl, &l);
			if (err < 0)
				goto out;
			n_lbl += (size_t)err;
			x->lbl_count[l]++;
			num[k++] = l;
		}
	/* ... then lay the groups of each label out together, in group
	 * order (a group carries a key once, so a label once). */
	fill = calloc(n_lbl + 1, sizeof(*fill));
	if (!fill) {
		err = -ENOMEM;
		goto out;
	}
	for (l = 1; l < n_lbl; l++)
		x->lbl_first[l] = x->lbl_first[l - 1] + x->lbl_count[l - 1];
	k = 0;
	for (size_t g = 0; g < x->n_groups; g++)
		for (size_t i = 0; i < x->groups[g].labels.n; i++) {
			const struct idg_label *lb = &x->groups[g].labels.v[i];
			struct idg_lbl_ref *r;

			l = num[k++];
			r = &x->index[x->lbl_first[l] + fill[l]++];
			r->key = lb->key;
			r->value = lb->value;
			r->group = g;
		}
	err = 0;
	x->n_index = n;
	x->n_lbl = n_lbl;
	clusters_count(x);
out:
	free(fill);
	free(num);
	return err;
}

static int lbl_ref_cmp(const void *a, const void *b)
{
	size_t x = ((const struct idg_lbl_ref *)a)->group;
	size_t y = ((const struct idg_lbl_ref *)b)->group;

	return x < y ? -1 : x > y;
}

/* o's labels that x still has, renumbered in order (num[l], SIZE_MAX:
 * gone, deleted from x->lbl); the keys of labels whose strings a gone
 * group held now point at a kept group's. Returns how many. */
static size_t labels_kept(struct idg_id_layer *x, const struct idg_id_layer *o,
			  const size_t *remap, size_t *num, size_t *kept)
{
	size_t n = 0;

	for (size_t l = 0; l < o->n_lbl; l++) {
		const struct idg_lbl_ref *r = &o->index[o->lbl_first[l]];

		kept[l] = 0;
		for (size_t i = 0; i < o->lbl_count[l]; i++)
			kept[l] += remap[r[i].group] != SIZE_MAX;
		num[l] = kept[l] ? n++ : SIZE_MAX;
		if (!kept[l] && o->lbl_count[l])
			idg_strmap_del2(&x->lbl, r->key, r->value);
	}
	for (size_t g = 0; g < o->n_groups; g++) {
		const struct idg_labels *ls = &o->groups[g].labels;

		if (remap[g] != SIZE_MAX)
			continue;
		for (size_t i = 0; i < ls->n; i++) {
			struct idg_strmap_slot *e = idg_strmap_slot2(
				&x->lbl, ls->v[i].key, ls->v[i].value);
			const struct idg_lbl_ref *r;
			size_t k = 0;

			if (!e || e->key != ls->v[i].key)
				continue;
			r = &o->index[o->lbl_first[e->val]];
			while (remap[r[k].group] == SIZE_MAX)
				k++;
			e->key = r[k].key;
			e->key2 = r[k].value;
		}
	}
	for (size_t s = 0; s <= x->lbl.mask; s++)
		if (x->lbl.slot[s].key)
			x->lbl.slot[s].val = num[x->lbl.slot[s].val];
	return n;
}

int idg_label_index_patch(struct idg_id_layer *x, const struct idg_id_layer *o,
			  const size_t *remap, const size_t *newg,
			  size_t n_newg)
{
	size_t n_add = 0, n_new = 0, cap = o->n_lbl + 1, n = 0, l;
	size_t *num = NULL, *kept = NULL, *fill = NULL, *add_lbl = NULL;
	struct idg_lbl_ref *add = NULL;
	uint8_t *touched = NULL;
	int err;

	for (size_t j = 0; j < n_newg; j++)
		n_add += x->groups[newg[j]].labels.n;
	cap += n_add;
	num = calloc(o->n_lbl + 1, sizeof(*num));
	kept = calloc(o->n_lbl + 1, sizeof(*kept));
	add = calloc(n_add + 1, sizeof(*add));
	add_lbl = calloc(n_add + 1, sizeof(*add_lbl));
	x->lbl_count = calloc(cap, sizeof(*x->lbl_count));
	x->lbl_first = calloc(cap, sizeof(*x->lbl_first));
	touched = calloc(cap, sizeof(*touched));
	fill = calloc(cap, sizeof(*fill));
	err = num && kept && add && add_lbl && x->lbl_count && x->lbl_first && touched &&
			      fill ?
		      idg_strmap_dup(&x->lbl, &o->lbl) :
		      -ENOMEM;
	if (err)
		goto out;
	x->n_lbl = labels_kept(x, o, remap, num, kept);
	for (l = 0; l < o->n_lbl; l++)
		if (num[l] != SIZE_MAX)
			x->lbl_count[num[l]] = kept[l];
	/* The new groups' labels: numbers for those no group had. */
	for (size_t j = 0; j < n_newg; j++) {
		const struct idg_labels *ls = &x->groups[newg[j]].labels;

		for (size_t i = 0; i < ls->n; i++) {
			err = idg_strmap_put2(&x->lbl, ls->v[i].key,
					      ls->v[i].value, x->n_lbl, &l);
			if (err < 0)
				goto out;
			x->n_lbl += (size_t)err;
			x->lbl_count[l]++;
			touched[l] = 1;
			add_lbl[n_new] = l;
			add[n_new++] = (struct idg_lbl_ref){
				.key = ls->v[i].key, .value = ls->v[i].value,
				.group = newg[j] };
		}
	}
	for (l = 1; l < x->n_lbl; l++)
		x->lbl_first[l] = x->lbl_first[l - 1] + x->lbl_count[l - 1];
	n = x->n_lbl ? x->lbl_first[x->n_lbl - 1] + x->lbl_count[x->n_lbl - 1] : 0;
	x->index = calloc(n + 1, sizeof(*x->index));
	if (!x->index) {
		err = -ENOMEM;
		goto out;
	}
	for (l = 0; l < o->n_lbl; l++) {
		const struct idg_lbl_ref *r = &o->index[o->lbl_first[l]];

		for (size_t i = 0; num[l] != SIZE_MAX && i < o->lbl_count[l]; i++) {
			struct idg_lbl_ref *w;

			if (remap[r[i].group] == SIZE_MAX)
				continue;
			w = &x->index[x->lbl_first[num[l]] + fill[num[l]]++];
			*w = r[i];
			w->group = remap[r[i].group];
		}
	}
	for (size_t i = 0; i < n_new; i++)
		x->index[x->lbl_first[add_lbl[i]] + fill[add_lbl[i]]++] = add[i];
	/* Groups in order within each label a new group joined. */
	for (l = 0; l < x->n_lbl; l++)
		if (touched[l])
			qsort(&x->index[x->lbl_first[l]], x->lbl_count[l],
			      sizeof(*x->index), lbl_ref_cmp);
	x->n_index = n;
	clusters_count(x);
	err = 0;
out:
	free(num);
	free(kept);
	free(add);
	free(add_lbl);
	free(touched);
	free(fill);
	return err;
}

void idg_label_index_free(struct idg_id_layer *x)
{
	free(x->index);
	free(x->lbl_first);
	free(x->lbl_count);
	idg_strmap_free(&x->lbl);
	x->index = NULL;
	x->lbl_first = x->lbl_count = NULL;
	x->n_index = 0;
}

/*
 * A selector as one policy means it: the selector plus what Cilium adds
 * (the policy's namespace, the local cluster).
 */
struct sel_view {
	const struct idg_selector *sel;
	const char *ns;      /* every match is in this namespace, or NULL */
	uint32_t cluster_id; /* every match is in this cluster, or 0 */
	const char *cluster;
};

/* The groups that can match a view: all of them, or the index entries of
 * its rarest required label. */
struct cands {
	const struct idg_lbl_ref *v;
	size_t n;
	bool all;
};

static bool view_matches(const struct sel_view *v, const struct idg_id_group *g)
{
	if (v->ns && strcmp(g->namespace, v->ns))
		return false;
	if (v->cluster_id && g->cluster_id != v->cluster_id)
		return false;
	return idg_selector_matches(v->sel, &g->labels);
}

static void cands_narrow(const struct idg_rctx *x, struct cands *c,
			 const char *key, const char *value)
{
	const struct idg_id_layer *L = x->ids->layer;
	const size_t *l = idg_strmap_get2(&L->lbl, key, value);
	size_t lo = l ? L->lbl_first[*l] : 0, n = l ? L->lbl_count[*l] : 0;

	if (c->all || n < c->n) {
		c->all = false;
		c->v = L->index + lo;
		c->n = n;
	}
}

static void view_cands(const struct idg_rctx *x, const struct sel_view *v,
		       struct cands *c)
{
	const struct idg_labels *ml = &v->sel->match_labels;

	c->all = true;
	c->v = NULL;
	c->n = 0;
	for (size_t i = 0; i < ml->n; i++)
		cands_narrow(x, c, ml->v[i].key, ml->v[i].value);
	/* Namespace and cluster labels are carried by many: worth a look
	 * only when the selector's own labels left many candidates. */
	if (!c->all && c->n <= 16)
		return;
	if (v->ns)
		cands_narrow(x, c, IDG_LABEL_NAMESPACE, v->ns);
	if (v->cluster_id && v->cluster)
		cands_narrow(x, c, IDG_LABEL_CLUSTER, v->cluster);
}

static size_t cands_count(const struct idg_rctx *x, const struct cands *c)
{
	return c->all ? x->ids->n_groups : c->n;
}

static size_t cands_group(const struct cands *c, size_t k)
{
	return c->all ? k : c->v[k].group;
}

static const char *policy_ns(const struct idg_policy *pol)
{
	return pol->namespace ? pol->namespace : "default";
}

/* endpointSelector: a namespaced policy lives in its namespace and sees
 * only it; a clusterwide one sees every namespace. */
static void subject_view(const struct idg_rctx *x,
			 const struct idg_policy *pol, bool any_cluster,
			 struct sel_view *v)
{
	v->sel = &pol->subject;
	v->ns = pol->clusterwide ? NULL : policy_ns(pol);
	v->cluster_id = any_cluster ? 0 : x->local;
	v->cluster = x->local_name;
}

/*
 * fromEndpoints/toEndpoints: Cilium adds the policy's namespace to a
 * namespaced policy's selector unless the selector names the namespace
 * itself, and limits a selector that does not name a cluster to the local
 * one (policy-default-local-cluster). any_cluster drops the latter, for
 * the "matches nothing" checks.
 */
static void peer_view(const struct idg_rctx *x, const struct idg_policy *pol,
		      const struct idg_selector *sel, bool any_cluster,
		      struct sel_view *v)
{
	v->sel = sel;
	v->ns = NULL;
	if (!pol->clusterwide &&
	    !idg_selector_constrains(sel, IDG_LABEL_NAMESPACE))
		v->ns = policy_ns(pol);
	v->cluster_id = 0;
	if (!any_cluster && !idg_selector_constrains(sel, IDG_LABEL_CLUSTER))
		v->cluster_id = x->local;
	v->cluster = x->local_name;
}

/* ---- subjects ---- */

int idg_select_subjects(struct idg_rctx *x, const uint8_t *local,
			struct idg_pol_list *lists)
{
	const struct idg_config *cfg = x->cfg;

	for (size_t p = 0; p < cfg->n_policies; p++) {
		const struct idg_policy *pol = &cfg->policies[p];
		struct sel_view v;
		struct cands c;

		if (pol->node_selector)
			continue;
		subject_view(x, pol, false, &v);
		view_cands(x, &v, &c);
		for (size_t k = 0; k < cands_count(x, &c); k++) {
			size_t g = cands_group(&c, k);
			size_t *e;

			if (!local[g] || !view_matches(&v, &x->ids->groups[g]))
				continue;
			e = IDG_VEC_PUSH(lists[g].v, lists[g].n, lists[g].cap);
			if (!e)
				return -ENOMEM;
			*e = p;
		}
	}
	return 0;
}

bool idg_select_host(const struct idg_rctx *x, const struct idg_policy *pol)
{
	return pol->node_selector &&
	       idg_selector_matches(&pol->subject, &x->out->node->labels);
}

/* ---- peers ---- */

static int peer_add(struct idg_flat_rule *f, size_t *cap, uint32_t id)
{
	uint32_t *e = IDG_VEC_PUSH(f->peers, f->n_peers, *cap);

	if (!e)
		return -ENOMEM;
	*e = id;
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int endpoint_peers(struct idg_rctx *x, struct idg_flat_rule *f,
			  size_t *cap, const struct idg_selector *sel)
{
	struct sel_view v;
	struct cands c;
	int err;

	peer_view(x, f->pol, sel, false, &v);
	view_cands(x, &v, &c);
	for (size_t k = 0; k < cands_count(x, &c); k++) {
		const struct idg_id_group *g = &x->ids->groups[cands_group(&c, k)];

		if (!view_matches(&v, g))
			continue;
		err = peer_add(f, cap, g->id);
		if (err)
			return err;
	}
	return 0;
}

static int cidr_peers(struct idg_rctx *x, struct idg_flat_rule *f,
		      size_t *cap, const struct idg_cidr_set *cs)
{
	int err;

	/* /0 is world; its narrower prefixes are matched below like any
	 * other CIDR's. */
	if (!cs->cidr.plen) {
		err = peer_add(f, cap, IDG_ID_WORLD);
		if (err)
			return err;
	}
	/* The CIDR identities inside it: its own and narrower configured
	 * prefixes, since an address takes the longest configured prefix
	 * in the ipcache. Endpoint addresses have their own, longer
	 * entries, so a CIDR never selects an endpoint. An except is a
	 * CIDR identity of its own and is simply never selected. */
	for (size_t i = 0; i < x->ids->n_cidrs; i++) {
		const struct idg_cidr *c = &x->ids->cidrs[i].cidr;
		bool excepted = false;

		if (!idg_cidr_contains(&cs->cidr, c))
			continue;
		for (size_t e = 0; e < cs->n_except && !excepted; e++)
			excepted = idg_cidr_contains(&cs->except[e], c);
		if (excepted)
			continue;
		err = peer_add(f, cap, x->ids->cidrs[i].id);
		if (err)
			return err;
	}
	return 0;
}

static int entity_peers(struct idg_rctx *x, struct idg_flat_rule *f,
			size_t *cap, unsigned int ent)
{
	int err = 0;

	if (ent & IDG_ENT_ALL)
		err = peer_add(f, cap, IDG_ID_UNKNOWN);
	if (!err && (ent & (IDG_ENT_HOST | IDG_ENT_CLUSTER)))
		err = peer_add(f, cap, IDG_ID_HOST);
	if (!err && (ent & (IDG_ENT_REMOTE_NODE | IDG_ENT_CLUSTER)))
		err = peer_add(f, cap, IDG_ID_REMOTE_NODE);
	if (!err && (ent & IDG_ENT_WORLD)) {
		/* Every CIDR identity is a part of the world. */
		err = peer_add(f, cap, IDG_ID_WORLD);
		for (size_t i = 0; !err && i < x->ids->n_cidrs; i++)
			err = peer_add(f, cap, x->ids->cidrs[i].id);
	}
	if (!err && (ent & IDG_ENT_CLUSTER))
		for (size_t i = 0; !err && i < x->ids->n_groups; i++)
			if (x->ids->groups[i].cluster_id == x->local)
				err = peer_add(f, cap, x->ids->groups[i].id);
	return err;
}

static bool rule_is_empty(const struct idg_rule *r)
{
	return !r->has_endpoints && !r->has_cidrs && !r->has_entities &&
	       !r->n_ports && !r->n_icmps;
}

bool idg_rule_peers_keepable(const struct idg_flat_rule *f)
{
	const struct idg_rule *r = &f->pol->rules[f->set][f->index];

	/* CIDR and entity peers depend on every policy's prefixes. */
	return !r->has_cidrs && !r->has_entities;
}

int idg_rule_peers(struct idg_rctx *x, struct idg_flat_rule *f)
{
	const struct idg_rule *r = &f->pol->rules[f->set][f->index];
	size_t cap = 0, w;
	int err = 0;

	if (f->peers_done)
		return 0;
	f->peers_done = true;
	/* `- {}` allows (or denies) nothing: it only turns default-deny
	 * on. A rule with ports but no peer applies to every peer. */
	if (rule_is_empty(r))
		return 0;
	if (!r->has_endpoints && !r->has_cidrs && !r->has_entities)
		return peer_add(f, &cap, IDG_ID_UNKNOWN);

	for (size_t s = 0; !err && r->has_endpoints && s < r->n_endpoints; s++)
		err = endpoint_peers(x, f, &cap, &r->endpoints[s]);
	for (size_t c = 0; !err && r->has_cidrs && c < r->n_cidrs; c++)
		err = cidr_peers(x, f, &cap, &r->cidrs[c]);
	if (!err && r->has_entities)
		err = entity_peers(x, f, &cap, r->entities);
	if (err)
		return err;

	if (f->n_peers)
		qsort(f->peers, f->n_peers, sizeof(*f->peers), u32_cmp);
	w = 0;
	for (size_t i = 0; i < f->n_peers; i++)
		if (!w || f->peers[w - 1] != f->peers[i])
			f->peers[w++] = f->peers[i];
	/* "Any" already covers every other peer of the rule. */
	f->n_peers = w && f->peers[0] == IDG_ID_UNKNOWN ? 1 : w;
	return 0;
}

/* ---- selectors that select nothing ---- */

/*
 * Subjects are checked across the whole mesh and peers in the clusters
 * where the policy has subjects (the only places it acts), so every node
 * gives the same warnings for one file, and a policy meant for another
 * cluster's endpoints is not reported by the nodes of this one.
 */
static bool subject_clusters(const struct idg_rctx *x,
			     const struct idg_policy *pol, uint8_t *clusters)
{
	const struct idg_config *cfg = x->cfg;
	size_t seen = 0;
	struct sel_view v;
	struct cands c;

	memset(clusters, 0, IDG_ID_CLUSTER_MAX + 1);
	if (pol->node_selector) {
		for (size_t i = 0; i < cfg->n_nodes; i++)
			if (idg_selector_matches(&pol->subject,
						 &cfg->nodes[i].labels)) {
				clusters[cfg->nodes[i].cluster_id & 0xff] = 1;
				seen++;
			}
		return seen > 0;
	}
	subject_view(x, pol, true, &v);
	view_cands(x, &v, &c);
	for (size_t k = 0; k < cands_count(x, &c); k++) {
		const struct idg_id_group *g = &x->ids->groups[cands_group(&c, k)];

		if (clusters[g->cluster_id & 0xff] || !view_matches(&v, g))
			continue;
		clusters[g->cluster_id & 0xff] = 1;
		/* every cluster with endpoints seen: nothing more to learn */
		if (++seen == x->ids->layer->n_clusters)
			break;
	}
	return seen > 0;
}

static void peer_selector_warn(const struct idg_rctx *x,
			       const struct idg_policy *pol, int set,
			       const struct idg_selector *sel,
			       const uint8_t *clusters)
{
	bool named = idg_selector_constrains(sel, IDG_LABEL_CLUSTER);
	bool elsewhere = false;
	struct sel_view v;
	struct cands c;

	peer_view(x, pol, sel, true, &v);
	view_cands(x, &v, &c);
	for (size_t k = 0; k < cands_count(x, &c); k++) {
		const struct idg_id_group *g = &x->ids->groups[cands_group(&c, k)];

		if (!view_matches(&v, g))
			continue;
		if (named || clusters[g->cluster_id & 0xff])
			return;
		elsewhere = true;
	}
	idg_warn(x->d, sel->pos, "policy %s: %s selector matches no endpoint%s",
		 pol->name,
		 idg_set_dir(set) == IDG_DIR_INGRESS ? "fromEndpoints" :
						       "toEndpoints",
		 elsewhere ? " of its own cluster (it matches endpoints of another cluster: name it with " IDG_LABEL_CLUSTER ")" :
			     "");
}

static void cidr_set_warn(const struct idg_rctx *x,
			  const struct idg_policy *pol,
			  const struct idg_cidr_set *cs)
{
	char a[64];

	for (size_t e = 0; e < cs->n_except; e++) {
		if (!idg_cidr_contains(&cs->except[e], &cs->cidr))
			continue;
		idg_cidr_format(&cs->cidr, a, sizeof(a));
		idg_warn(x->d, cs->except[e].pos,
			 "policy %s: except covers all of %s: the rule selects nothing",
			 pol->name, a);
		return;
	}
}

void idg_selector_warnings(struct idg_rctx *x, size_t p0, size_t p1)
{
	const struct idg_config *cfg = x->cfg;
	uint8_t clusters[IDG_ID_CLUSTER_MAX + 1];

	for (size_t p = p0; p < p1; p++) {
		const struct idg_policy *pol = &cfg->policies[p];

		if (!subject_clusters(x, pol, clusters)) {
			idg_warn(x->d, pol->subject.pos,
				 "policy %s: %s matches no %s", pol->name,
				 pol->node_selector ? "nodeSelector" :
						      "endpointSelector",
				 pol->node_selector ? "node" : "endpoint");
			memset(clusters, 1, sizeof(clusters));
		}
		for (int s = 0; s < IDG_RS_MAX; s++)
			for (size_t r = 0; r < pol->n_rules[s]; r++) {
				const struct idg_rule *ru = &pol->rules[s][r];

				for (size_t e = 0; e < ru->n_endpoints; e++)
					peer_selector_warn(x, pol, s,
							   &ru->endpoints[e],
							   clusters);
				for (size_t c = 0; c < ru->n_cidrs; c++)
					cidr_set_warn(x, pol, &ru->cidrs[c]);
			}
	}
}
