// SPDX-License-Identifier: GPL-2.0
/*
 * What a compile memo keeps of each policy file: the selector warnings
 * its policies gave and the peers of its rules, both computed against the
 * memo's identity layer. A file is the same parsed file (held by
 * reference) or it is computed again. When the memo takes a new layer,
 * only the entries that layer cannot change stay (idg_pol_memos_migrate,
 * called from identity.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compile_int.h"
#include "config_cache.h"

/* The memo's entry for f: files mostly keep their order, so the one
 * after the last hit is tried first. */
static struct idg_pol_memo *kept_find(struct idg_compile_memo *m,
				      const struct idg_cfg_frag *f,
				      size_t *next)
{
	if (*next < m->n_pols && m->pols[*next].frag == f)
		return &m->pols[(*next)++];
	for (size_t i = 0; i < m->n_pols; i++)
		if (m->pols[i].frag == f) {
			*next = i + 1;
			return &m->pols[i];
		}
	return NULL;
}

static void lend_peers(struct idg_rctx *x, const struct idg_pol_file *pf)
{
	for (size_t j = 0; j < pf->n_rules; j++) {
		const struct idg_peer_set *ps = &pf->kept->peers[j];
		struct idg_flat_rule *r = &x->rules[pf->rule_first + j];

		if (!ps->set)
			continue;
		r->peers = ps->v;
		r->n_peers = ps->n;
		r->peers_done = true;
		r->peers_lent = true;
	}
}

int idg_pol_files_find(struct idg_rctx *x, struct idg_compile_memo *memo)
{
	const struct idg_config *cfg = x->cfg;
	size_t pol = 0, next = 0;

	memo->pols_reused = 0;
	memo->pols_hits = 0;
	/* Entries were computed against memo->layer, for one cluster. */
	if (memo->layer != x->ids->layer || !cfg->n_frags)
		return 0;
	if (memo->n_pols && memo->pols_local != x->local)
		idg_pol_memos_clear(memo);
	memo->pols_local = x->local;
	x->files = calloc(cfg->n_frags, sizeof(*x->files));
	if (!x->files)
		return -ENOMEM;
	x->memo = memo;
	for (size_t i = 0; i < cfg->n_frags; i++) {
		struct idg_cfg_frag *f = idg_config_file(cfg, i);
		size_t np = idg_cfg_frag_policies(f), end;
		struct idg_pol_file *pf;

		if (!np)
			continue;
		pf = &x->files[x->n_files++];
		pf->frag = f;
		pf->pol_first = pol;
		pf->n_pols = np;
		pol += np;
		if (pol > cfg->n_policies)
			break;
		end = pol < cfg->n_policies ? x->pol_first[pol] : x->n_rules;
		pf->rule_first = x->pol_first[pf->pol_first];
		pf->n_rules = end - pf->rule_first;
		pf->kept = kept_find(memo, f, &next);
		if (pf->kept && pf->kept->n_rules == pf->n_rules)
			lend_peers(x, pf);
		else
			pf->kept = NULL;
	}
	/* The files do not add up to the config: compute everything. */
	if (pol != cfg->n_policies)
		idg_pol_files_free(x);
	return 0;
}

int idg_selector_warnings_memo(struct idg_rctx *x)
{
	struct idg_diags *d = x->d;

	for (size_t i = 0; i < x->n_files; i++) {
		struct idg_pol_file *pf = &x->files[i];

		if (!pf->kept) {
			x->d = &pf->warn;
			idg_selector_warnings(x, pf->pol_first,
					      pf->pol_first + pf->n_pols);
			x->d = d;
		}
		idg_diags_append(d, pf->kept ? &pf->kept->warn : &pf->warn);
	}
	return 0;
}

/* Peers this compile computed that the entry can keep: they move to it. */
static void peers_take(struct idg_rctx *x, const struct idg_pol_file *pf,
		       struct idg_pol_memo *e)
{
	for (size_t j = 0; j < pf->n_rules; j++) {
		struct idg_flat_rule *r = &x->rules[pf->rule_first + j];

		if (e->peers[j].set || !r->peers_done || r->peers_lent ||
		    !idg_rule_peers_keepable(r))
			continue;
		e->peers[j] = (struct idg_peer_set){ .v = r->peers,
						     .n = r->n_peers,
						     .set = true };
		r->peers_lent = true;
	}
}

int idg_pol_memo_update(struct idg_rctx *x)
{
	struct idg_compile_memo *m = x->memo;
	struct idg_pol_memo *v = calloc(x->n_files + 1, sizeof(*v));
	size_t reused = 0;

	if (!v)
		return -ENOMEM;
	/* Allocations first: a failure leaves the memo as it was. */
	for (size_t i = 0; i < x->n_files; i++) {
		if (x->files[i].kept && x->files[i].kept->hits)
			continue;
		v[i].hits = calloc(x->files[i].n_rules + 1, sizeof(*v[i].hits));
		if (!x->files[i].kept)
			v[i].peers = calloc(x->files[i].n_rules + 1,
					    sizeof(*v[i].peers));
		if (!v[i].hits || (!x->files[i].kept && !v[i].peers)) {
			for (size_t k = 0; k <= i; k++) {
				free(v[k].peers);
				free(v[k].hits);
			}
			free(v);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < x->n_files; i++) {
		struct idg_pol_file *pf = &x->files[i];
		struct idg_pol_memo *e = &v[i];

		if (pf->kept) {
			uint32_t *hits = e->hits;

			/* Moved: the old array's slot no longer owns it. */
			*e = *pf->kept;
			memset(pf->kept, 0, sizeof(*pf->kept));
			if (hits)
				e->hits = hits;
			reused++;
		} else {
			e->frag = pf->frag;
			idg_cfg_frag_hold(e->frag);
			e->n_rules = pf->n_rules;
			e->warn = pf->warn;
			memset(&pf->warn, 0, sizeof(pf->warn));
		}
		peers_take(x, pf, e);
		for (size_t j = 0; j < pf->n_rules; j++)
			e->hits[j] = x->rules[pf->rule_first + j].cookie;
		e->hits_state = 0; /* until idg_compile_memo_saved() */
	}
	idg_pol_memos_clear(m);
	m->pols = v;
	m->n_pols = x->n_files;
	m->pols_reused = reused;
	m->hits_unsaved = true;
	return 0;
}

void idg_compile_memo_saved(struct idg_compile_memo *m,
			    const struct idg_state *st)
{
	m->saved_state = st->content_id;
	m->saved_layer = m->used_layer;
	if (!m->hits_unsaved || !st->content_id)
		return;
	for (size_t i = 0; i < m->n_pols; i++)
		m->pols[i].hits_state = st->content_id;
	m->hits_unsaved = false;
}

void idg_pol_files_free(struct idg_rctx *x)
{
	for (size_t i = 0; i < x->n_files; i++)
		idg_diags_free(&x->files[i].warn);
	free(x->files);
	x->files = NULL;
	x->n_files = 0;
}

static void entry_free(struct idg_pol_memo *e)
{
	if (e->frag)
		idg_cfg_frag_drop(e->frag);
	idg_diags_free(&e->warn);
	for (size_t j = 0; e->peers && j < e->n_rules; j++)
		free(e->peers[j].v);
	free(e->peers);
	free(e->hits);
	memset(e, 0, sizeof(*e));
}

void idg_pol_memos_clear(struct idg_compile_memo *m)
{
	for (size_t i = 0; i < m->n_pols; i++)
		entry_free(&m->pols[i]);
	free(m->pols);
	m->pols = NULL;
	m->n_pols = 0;
}

/* ---- a new identity layer ---- */

static int group_cmp(const struct idg_id_group *x, const struct idg_id_group *y)
{
	int c = strcmp(x->canon, y->canon);

	if (c)
		return c;
	return x->cluster_id < y->cluster_id ? -1 : x->cluster_id > y->cluster_id;
}

/*
 * The groups in one layer and not the other, into *delta (n of them);
 * false when a group in both has another number there (a collision chain
 * moved: every peer may differ) or memory runs out.
 */
static bool groups_delta(const struct idg_id_layer *a,
			 const struct idg_id_layer *b,
			 const struct idg_id_group ***delta, size_t *n)
{
	size_t i = 0, k = 0, cap = 0;

	*delta = NULL;
	*n = 0;
	while (i < a->n_groups || k < b->n_groups) {
		const struct idg_id_group **e, *g;
		int c = i == a->n_groups ? 1 :
			k == b->n_groups ? -1 :
					   group_cmp(&a->groups[i], &b->groups[k]);

		if (!c) {
			if (a->groups[i++].id != b->groups[k++].id)
				return false;
			continue;
		}
		g = c < 0 ? &a->groups[i++] : &b->groups[k++];
		e = IDG_VEC_PUSH(*delta, *n, cap);
		if (!e)
			return false;
		*e = g;
	}
	return true;
}

/* Does sel pick any of the groups? Namespace and cluster limits only
 * narrow a selector further, so its labels alone say enough. */
static bool picks_any(const struct idg_selector *sel,
		      const struct idg_id_group *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (idg_selector_matches(sel, &v[i]->labels))
			return true;
	return false;
}

/* Could a policy of f give other warnings or peers with those groups
 * added or removed? */
static bool file_touched(const struct idg_cfg_frag *f,
			 const struct idg_id_group *const *v, size_t n)
{
	for (size_t p = 0; p < idg_cfg_frag_policies(f); p++) {
		const struct idg_policy *pol = idg_cfg_frag_policy(f, p);

		if (!pol->node_selector && picks_any(&pol->subject, v, n))
			return true;
		for (int s = 0; s < IDG_RS_MAX; s++)
			for (size_t r = 0; r < pol->n_rules[s]; r++) {
				const struct idg_rule *ru = &pol->rules[s][r];

				for (size_t e = 0; e < ru->n_endpoints; e++)
					if (picks_any(&ru->endpoints[e], v, n))
						return true;
			}
	}
	return false;
}

void idg_pol_memos_migrate(struct idg_compile_memo *m,
			   const struct idg_id_layer *from,
			   const struct idg_id_layer *to)
{
	const struct idg_id_group **delta = NULL;
	size_t n = 0;

	if (!m->n_pols)
		return;
	if (!idg_cfg_frags_same_nodes(from->frags, from->n_frags, to->frags,
				  to->n_frags) ||
	    !groups_delta(from, to, &delta, &n)) {
		free(delta);
		idg_pol_memos_clear(m);
		return;
	}
	idg_pol_memos_migrate_delta(m, delta, n);
	free(delta);
}

void idg_pol_memos_migrate_delta(struct idg_compile_memo *m,
				 const struct idg_id_group *const *delta,
				 size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < m->n_pols; i++) {
		if (n && file_touched(m->pols[i].frag, delta, n)) {
			entry_free(&m->pols[i]);
			continue;
		}
		m->pols[w++] = m->pols[i];
	}
	m->n_pols = w;
}
