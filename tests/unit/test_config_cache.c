// SPDX-License-Identifier: GPL-2.0
/*
 * The config cache against a fresh load: random config directories and
 * random sequences of edits (files rewritten, added, removed, renamed,
 * broken and fixed). After every edit the cached load must give the same
 * diagnostics as idg_config_load() of the directory, and the same map
 * entries once compiled and filled into a generation, entry by entry;
 * and it must parse exactly the files whose bytes changed. The cached
 * config is compiled through a compile memo (the daemon's way: identities
 * kept while the files of nodes and endpoints are unchanged) and with the
 * state the last compile left; the fresh one with none of that kept:
 * the maps, the diagnostics and the new state must be the same. Seeded:
 * IDG_CACHE_SEED and IDG_CACHE_EDITS override the defaults.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "apply.h"
#include "compile.h"
#include "compile_int.h"
#include "config_cache.h"
#include "gen.h"
#include "model.h"
#include "proc_io.h"

struct world {
	char dir[64];
	uint64_t rng;
	/* File slots: name, or "" when absent. */
	char names[24][32];
	/* Each slot's name and bytes at the last load: the cache must parse
	 * exactly the files that differ from them. */
	char seen[24][32];
	char *seen_text[24];
	char *nodes_seen;  /* 00-nodes.yaml's bytes at the last load */
	int node_roles;     /* its labels: two bits, one a node */
	int serial;
	int broken; /* slot of the last broken file, -1: none */
	/* Endpoint files that say nothing while grouped, more label sets,
	 * pins on numbers others hashed to: loads that patch the memo's
	 * identities, and collision chains that move. */
	bool patchy;
	uint32_t taken[8]; /* endpoint numbers of the last fresh compile */
	/* App labels whose label sets (namespace ns0) hash to the same
	 * number two by two: adding one moves the other. */
	char coll[6][16];
};

static uint32_t rnd(struct world *w, uint32_t n)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return (uint32_t)(w->rng % n);
}

static void put(struct world *w, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", w->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static const char nodes[] =
	"apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: n1}\n"
	"spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.1, interfaces: {uplink: eth0}}\n"
	"---\n"
	"apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: n2}\n"
	"spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.2, interfaces: {uplink: eth0}}\n";

/* Endpoints or a policy, random; now and then broken YAML or a bad
 * field, or an address another file uses too. */
static void random_text(struct world *w, int slot, char *buf, size_t len)
{
	size_t o = 0;
	int n = 1 + (int)rnd(w, 3);

	if (w->broken == slot)
		w->broken = -1;
	if (w->broken < 0 && !rnd(w, 10)) {
		static const char *const bad[] = {
			"kind: [broken\n",
			"apiVersion: idgate.io/v1\nkind: Endpoint\nmetadata: {name: x%d}\nspec: {node: n1, ips: [10.9.0.1], colour: red}\n",
			/* Errors only the checks across files find. */
			"apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: n2}\n"
			"spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.%d, interfaces: {uplink: eth0}}\n",
			"apiVersion: idgate.io/v1\nkind: Endpoint\nmetadata: {name: y%d}\nspec: {node: n1, ips: [10.9.1.1]}\n"
			"---\napiVersion: idgate.io/v1\nkind: Endpoint\nmetadata: {name: z}\nspec: {node: n3, ips: [10.9.1.2]}\n",
		};

		w->broken = slot;
		snprintf(buf, len, bad[rnd(w, 4)], w->serial++ % 200 + 3);
		return;
	}
	for (int i = 0; i < n; i++) {
		/* Odd slots hold policies only: a change there keeps the
		 * identities a memo holds. */
		if (!(slot & 1) && rnd(w, 2)) {
			/* Policies select a0..a3: those stay common. */
			uint32_t ns = rnd(w, 2),
				 app = w->patchy && rnd(w, 2) ? 4 + rnd(w, 36) :
								rnd(w, 4);
			char pin[32] = "";

			/* A pin moves a label set's number alone: one of
			 * two numbers of its own; in a patchy world also
			 * one another label set held, which then probes. */
			if (!rnd(w, 16))
				snprintf(pin, sizeof(pin), ", identity: %u",
					 w->patchy && w->taken[app % 8] && rnd(w, 2) ?
						 w->taken[app % 8] & 0xffff :
						 300 + (ns * 40 + app) * 2 + !rnd(w, 4));
			char appv[24];
			/* In a patchy world, now and then a name or an
			 * address another endpoint may have. */
			bool dup_name = w->patchy && !rnd(w, 16);
			bool dup_ip = w->patchy && !rnd(w, 5);

			snprintf(appv, sizeof(appv), "a%u", app);
			if (w->patchy && !rnd(w, 3)) {
				ns = 0;
				snprintf(appv, sizeof(appv), "%s",
					 w->coll[rnd(w, 6)]);
			}
			o += (size_t)snprintf(buf + o, len - o,
				"---\napiVersion: idgate.io/v1\nkind: Endpoint\n"
				"metadata: {name: %c%d, namespace: ns%u, labels: {app: %s%s}}\n"
				"spec: {node: n%u, ips: [10.%u.%u.%u]%s}\n",
				dup_name ? 'd' : 'e',
				dup_name ? (int)rnd(w, 6) : w->serial++,
				ns, appv,
				/* a warning the identity step gives */
				rnd(w, w->patchy ? 200 : 8) ? "" :
				", io.kubernetes.pod.namespace: nsx",
				1 + rnd(w, 2),
				dup_ip ? 7 : 1, dup_ip ? 0 : rnd(w, 256),
				dup_ip ? 1 + rnd(w, 4) : 1 + rnd(w, 250), pin);
		} else if (!rnd(w, 6)) {
			/* A host policy: its subject is a node's labels. */
			o += (size_t)snprintf(buf + o, len - o,
				"---\napiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\n"
				"metadata: {name: h%d}\n"
				"spec:\n  nodeSelector: {matchLabels: {role: gw}}\n"
				"  ingress:\n  - fromEndpoints:\n    - matchLabels: {app: a%u}\n"
				"    toPorts: [{ports: [{port: \"%u\", protocol: TCP}]}]\n",
				w->serial++, rnd(w, 4), 2000 + rnd(w, 20));
		} else {
			bool in = rnd(w, 2), cidr = !rnd(w, 3);
			char peer[64];

			/* Prefixes that nest across files: one file's rule
			 * peers depend on another's CIDRs. */
			if (cidr)
				snprintf(peer, sizeof(peer), rnd(w, 2) ?
					 "10.50.0.0/16" : "10.50.%u.0/24",
					 rnd(w, 4));
			else if (w->patchy && rnd(w, 3))
				snprintf(peer, sizeof(peer),
					 "matchLabels: {app: %s}",
					 w->coll[rnd(w, 6)]);
			else
				snprintf(peer, sizeof(peer), "%s",
					 rnd(w, 3) ? "matchLabels: {app: a1}" : "{}");
			o += (size_t)snprintf(buf + o, len - o,
				"---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
				"metadata: {name: p%d, namespace: ns%u}\n"
				"spec:\n  endpointSelector: {matchLabels: {app: a%u}}\n"
				"  %s%s:\n  - %s:\n    - %s\n"
				"    toPorts: [{ports: [{port: \"%u\", protocol: %s}]}]\n",
				w->serial++, w->patchy ? !rnd(w, 4) : rnd(w, 2),
				rnd(w, 4), in ? "ingress" : "egress",
				rnd(w, 4) ? "" : "Deny",
				cidr ? (in ? "fromCIDR" : "toCIDR") :
				       (in ? "fromEndpoints" : "toEndpoints"),
				peer,
				1000 + rnd(w, 20), rnd(w, 2) ? "TCP" : "UDP");
		}
	}
}

static char *slurp(const struct world *w, const char *name)
{
	char path[128], *buf = calloc(1, 8192);
	FILE *f;

	assert_non_null(buf);
	snprintf(path, sizeof(path), "%s/%s", w->dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(fread(buf, 1, 8191, f) < 8191);
	fclose(f);
	return buf;
}

/* Files that differ from the last load, by name or bytes; the world
 * then remembers them as loaded. */
static size_t changed_files(struct world *w)
{
	char *nodes = slurp(w, "00-nodes.yaml");
	size_t n = !w->nodes_seen || strcmp(w->nodes_seen, nodes);

	free(w->nodes_seen);
	w->nodes_seen = nodes;
	for (int i = 0; i < 24; i++) {
		char *now = *w->names[i] ? slurp(w, w->names[i]) : NULL;

		if (now && (strcmp(w->seen[i], w->names[i]) || !w->seen_text[i] ||
			    strcmp(w->seen_text[i], now)))
			n++;
		free(w->seen_text[i]);
		w->seen_text[i] = now;
		memcpy(w->seen[i], w->names[i], sizeof(w->seen[i]));
	}
	return n;
}

/* The nodes file with other labels: host policies select by them. */
static void nodes_relabel(struct world *w)
{
	int roles = (int)rnd(w, 4);
	char text[1024];

	if (roles == w->node_roles)
		return;
	w->node_roles = roles;
	snprintf(text, sizeof(text),
		 "apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: n1, labels: {role: %s}}\n"
		 "spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.1, interfaces: {uplink: eth0}}\n"
		 "---\n"
		 "apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: n2, labels: {role: %s}}\n"
		 "spec: {cluster: a, clusterID: 1, tunnelIP: 10.255.0.2, interfaces: {uplink: eth0}}\n",
		 roles & 1 ? "gw" : "edge", roles & 2 ? "gw" : "edge");
	put(w, "00-nodes.yaml", text);
}

/* One random edit. */
static void edit(struct world *w)
{
	char text[4096], from[128], to[128];
	int slot = (int)rnd(w, 24);
	char *name;

	if (!rnd(w, 16)) {
		nodes_relabel(w);
		return;
	}

	/* A broken file is mended soon: most loads then compile. */
	if (w->broken >= 0 && rnd(w, 2))
		slot = w->broken;
	name = w->names[slot];
	switch (w->broken == slot ? 4 : rnd(w, 5)) {
	case 0: /* removed */
		if (!*name)
			break;
		snprintf(from, sizeof(from), "%s/%s", w->dir, name);
		assert_int_equal(unlink(from), 0);
		*name = '\0';
		if (w->broken == slot)
			w->broken = -1;
		break;
	case 1: /* renamed: a new name, a new place in the order */
		if (!*name)
			break;
		snprintf(from, sizeof(from), "%s/%s", w->dir, name);
		snprintf(name, 32, "%02u-r%d.yaml", rnd(w, 100), w->serial++);
		snprintf(to, sizeof(to), "%s/%s", w->dir, name);
		assert_int_equal(rename(from, to), 0);
		break;
	case 2: /* rewritten with the same bytes: not parsed again */
		if (*name) {
			FILE *f;
			size_t n;

			snprintf(from, sizeof(from), "%s/%s", w->dir, name);
			f = fopen(from, "r");
			assert_non_null(f);
			n = fread(text, 1, sizeof(text) - 1, f);
			fclose(f);
			text[n] = '\0';
			put(w, name, text);
		}
		break;
	default: /* new or changed */
		if (!*name)
			snprintf(name, 32, "%02u-f%d.yaml", rnd(w, 100),
				 w->serial++);
		random_text(w, slot, text, sizeof(text));
		put(w, name, text);
		break;
	}
}

static void diags_equal(const struct idg_diags *a, const struct idg_diags *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->n_errors, b->n_errors);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->v[i].level, b->v[i].level);
		assert_string_equal(a->v[i].pos.file ? a->v[i].pos.file : "",
				    b->v[i].pos.file ? b->v[i].pos.file : "");
		assert_int_equal(a->v[i].pos.line, b->v[i].pos.line);
		assert_int_equal(a->v[i].pos.col, b->v[i].pos.col);
		assert_string_equal(a->v[i].msg, b->v[i].msg);
	}
}

/* Every entry of every map set of a is in b with the same value, and
 * the sets are the same size. */
static void gens_equal(const struct idg_gen *a, const struct idg_gen *b)
{
	for (int m = 0; m < IDG_GM_N_SET; m++) {
		const struct idg_kv *x = &a->m[m], *y = &b->m[m];

		assert_int_equal(x->n, y->n);
		for (uint32_t i = 0; i < x->n; i++) {
			const uint8_t *e = x->ent + (size_t)i * (x->ksz + x->vsz);
			const uint8_t *v = idg_kv_get(y, e);

			assert_non_null(v);
			assert_memory_equal(v, e + x->ksz, x->vsz);
		}
	}
	assert_memory_equal(&a->cfg, &b->cfg, sizeof(a->cfg));
}

/* Compiled for n1 from the numbers in old (through memo when not NULL),
 * the numbers after it in new_st, and filled into g. */
static int build(const struct idg_config *cfg, struct idg_diags *d,
		 const struct idg_state *old, struct idg_state *new_st,
		 struct idg_compile_memo *memo, struct idg_compiled *c,
		 struct idg_gen *g)
{
	struct idg_apply_opts o = { 0 };
	int err = idg_compile_memo_with(cfg, "n1", old, new_st, c, d, memo);

	if (err)
		return err;
	assert_int_equal(idg_gen_create(g, NULL), 0);
	assert_int_equal(idg_gen_fill(g, c, &o), 0);
	assert_int_equal(idg_gen_fold(g), 0);
	return 0;
}

/* Loads whose maps were compared (the others failed alike), and of
 * them the ones whose identities came from the memo. */
static int compared, memo_reused, memo_patched, files_reused, probed;

static void states_equal(const struct idg_state *a, const struct idg_state *b)
{
	assert_int_equal(a->n_ids, b->n_ids);
	for (size_t i = 0; i < a->n_ids; i++) {
		assert_string_equal(a->ids[i].canon, b->ids[i].canon);
		assert_int_equal(a->ids[i].id, b->ids[i].id);
	}
	assert_int_equal(a->n_cookies, b->n_cookies);
	for (size_t i = 0; i < a->n_cookies; i++) {
		assert_string_equal(a->cookies[i].key, b->cookies[i].key);
		assert_int_equal(a->cookies[i].cookie, b->cookies[i].cookie);
	}
}

/* The identity list, label by label. */
static void idents_equal(const struct idg_compiled *a,
			 const struct idg_compiled *b)
{
	assert_int_equal(a->n_ids, b->n_ids);
	/* The list is sorted by number (lookups bisect it). */
	for (size_t i = 1; i < a->n_ids; i++)
		assert_true(a->ids[i - 1].id < a->ids[i].id);
	for (size_t i = 0; i < a->n_ids; i++) {
		assert_int_equal(a->ids[i].id, b->ids[i].id);
		assert_string_equal(a->ids[i].canon, b->ids[i].canon);
		assert_int_equal(a->ids[i].labels.n, b->ids[i].labels.n);
		for (size_t k = 0; k < a->ids[i].labels.n; k++) {
			assert_string_equal(a->ids[i].labels.v[k].key,
					    b->ids[i].labels.v[k].key);
			assert_string_equal(a->ids[i].labels.v[k].value,
					    b->ids[i].labels.v[k].value);
		}
	}
}

/* The identity layers of two compiles: the same groups with the same
 * numbers, positions and strings, endpoints in the same groups, the same
 * label index. */
static void layers_equal(const struct idg_id_layer *a,
			 const struct idg_id_layer *b)
{
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->n_groups, b->n_groups);
	assert_int_equal(a->n_endpoints, b->n_endpoints);
	assert_int_equal(a->n_clusters, b->n_clusters);
	for (size_t i = 0; i < a->n_groups; i++) {
		const struct idg_id_group *x = &a->groups[i], *y = &b->groups[i];

		assert_string_equal(x->canon, y->canon);
		assert_int_equal(x->id, y->id);
		assert_int_equal(x->hash, y->hash);
		assert_int_equal(x->cluster_id, y->cluster_id);
		assert_string_equal(x->cluster ? x->cluster : "",
				    y->cluster ? y->cluster : "");
		assert_string_equal(x->namespace, y->namespace);
		assert_int_equal(x->pinned, y->pinned);
		assert_int_equal(x->pos.line, y->pos.line);
		assert_int_equal(x->pos.col, y->pos.col);
		assert_string_equal(x->pos.file ? x->pos.file : "",
				    y->pos.file ? y->pos.file : "");
		if (x->pinned) {
			assert_int_equal(x->pin_pos.line, y->pin_pos.line);
			assert_string_equal(x->pin_pos.file, y->pin_pos.file);
		}
	}
	for (size_t i = 0; i < a->n_endpoints; i++) {
		assert_int_equal(a->ep_group[i], b->ep_group[i]);
		assert_int_equal(a->ep_node[i], b->ep_node[i]);
	}
	/* The label index: the same labels, each carried by the same
	 * groups in group order (label numbers may differ). */
	assert_int_equal(a->n_index, b->n_index);
	assert_int_equal(a->n_lbl, b->n_lbl);
	assert_int_equal(a->lbl.n, b->lbl.n);
	for (size_t g = 0; g < a->n_groups; g++)
		for (size_t i = 0; i < a->groups[g].labels.n; i++) {
			const struct idg_label *lb = &a->groups[g].labels.v[i];
			const size_t *la = idg_strmap_get2(&a->lbl, lb->key, lb->value);
			const size_t *lc = idg_strmap_get2(&b->lbl, lb->key, lb->value);

			assert_non_null(la);
			assert_non_null(lc);
			assert_int_equal(a->lbl_count[*la], b->lbl_count[*lc]);
			for (size_t k = 0; k < a->lbl_count[*la]; k++) {
				const struct idg_lbl_ref *x = &a->index[a->lbl_first[*la] + k];
				const struct idg_lbl_ref *y = &b->index[b->lbl_first[*lc] + k];

				assert_int_equal(x->group, y->group);
				assert_string_equal(x->key, lb->key);
				assert_string_equal(x->value, lb->value);
				assert_string_equal(y->key, lb->key);
			}
		}
	/* Every label number in use: one key each. */
	for (size_t s = 0; s <= a->lbl.mask; s++)
		if (a->lbl.slot[s].key) {
			assert_true(a->lbl.slot[s].val < a->n_lbl);
			assert_true(a->lbl_count[a->lbl.slot[s].val] > 0);
		}
}

/* Six app labels, three pairs whose label sets in namespace ns0 of
 * cluster a hash to one number: found by trying names. */
static void collisions_find(struct world *w)
{
	enum { TRY = 20000 };
	uint32_t *h = calloc(TRY, sizeof(*h));
	int found = 0;

	assert_non_null(h);
	for (int i = 0; i < TRY && found < 3; i++) {
		struct idg_labels l = { 0 };
		char app[16], *canon;

		snprintf(app, sizeof(app), "q%d", i);
		assert_int_equal(idg_labels_set(&l, "app", app), 0);
		assert_int_equal(idg_labels_set(&l, IDG_LABEL_NAMESPACE, "ns0"), 0);
		assert_int_equal(idg_labels_set(&l, IDG_LABEL_CLUSTER, "a"), 0);
		canon = idg_labels_canon(&l);
		assert_non_null(canon);
		h[i] = idg_identity_hash_local(canon);
		free(canon);
		idg_labels_free(&l);
		for (int j = 0; j < i; j++)
			if (h[j] == h[i]) {
				snprintf(w->coll[2 * found], 16, "q%d", j);
				snprintf(w->coll[2 * found + 1], 16, "q%d", i);
				h[i] = h[j] = 0; /* a pair, not a chain */
				found++;
				break;
			}
	}
	free(h);
	assert_int_equal(found, 3);
}

/* Compiles whose cookies for some files came from the compile memo. */
static int cookie_hits;

static int other_writes;

static void other_writer(const struct idg_state_memo *sm, const char *spath)
{
	struct idg_state o;
	size_t n;

	if (!sm->valid || sm->st.n_cookies < 2)
		return;
	assert_int_equal(idg_state_dup(&o, &sm->st), 0);
	n = o.n_cookies;
	for (size_t i = 0; i < n / 2; i++) {
		uint32_t c = o.cookies[i].cookie;

		o.cookies[i].cookie = o.cookies[n - 1 - i].cookie;
		o.cookies[n - 1 - i].cookie = c;
	}
	/* And two label sets' numbers swapped: "identity moved". */
	if (o.n_ids >= 2) {
		uint32_t id = o.ids[0].id;

		o.ids[0].id = o.ids[o.n_ids - 1].id;
		o.ids[o.n_ids - 1].id = id;
	}
	assert_int_equal(idg_state_save(spath, &o), 0);
	idg_state_free(&o);
	other_writes++;
}

/* save: 1 the new state is saved (as after an apply), 0 not (as after
 * one that failed past the compile), -1 mostly. */
static void check_load(struct world *w, struct idg_config_cache *cache,
		       struct idg_compile_memo *memo,
		       struct idg_state_memo *sm, const char *spath, int save)
{
	struct idg_config ca, cb;
	struct idg_diags da = { 0 }, db = { 0 };
	struct idg_config_reuse r;
	struct idg_compiled xa = { 0 }, xb = { 0 };
	struct idg_gen ga, gb;
	int ea, eb;

	ea = idg_config_load_cached(cache, w->dir, &ca, &da, &r);
	eb = idg_config_load(w->dir, &cb, &db);
	assert_int_equal(ea, eb);
	diags_equal(&da, &db);
	/* What an apply would save as applied: the same bytes. */
	if (!ea) {
		assert_int_equal(ca.n_texts, cb.n_texts);
		for (size_t i = 0; i < ca.n_texts; i++) {
			assert_int_equal(ca.text_lens[i], cb.text_lens[i]);
			assert_memory_equal(ca.texts[i], cb.texts[i], ca.text_lens[i]);
			assert_string_equal(ca.srcs[i], cb.srcs[i]);
		}
	}
	if (getenv("IDG_CACHE_DEBUG"))
		idg_diags_print(&da, stderr);
	assert_int_equal(r.parsed, changed_files(w));
	if (!ea) {
		struct idg_state sa = { 0 }, sb = { 0 }, plain;

		/* The daemon's side reads the earlier numbers through its
		 * state memo and finds them through the kept index, the
		 * fresh one indexes a copy. */
		assert_int_equal(idg_state_load_memo(spath, sm), 0);
		assert_int_equal(idg_state_dup(&plain, &sm->st), 0);
		assert_int_equal(idg_state_index_build(&sm->st), 0);
		ea = build(&ca, &da, &sm->st, &sa, memo, &xa, &ga);
		eb = build(&cb, &db, &plain, &sb, NULL, &xb, &gb);
		idg_state_free(&plain);
		assert_int_equal(ea, eb);
		diags_equal(&da, &db);
		if (!ea) {
			gens_equal(&ga, &gb);
			gens_equal(&gb, &ga);
			idents_equal(&xa, &xb);
			layers_equal(xa.layer, xb.layer);
			/* Loads where a label set's number is not its hash. */
			for (size_t i = 0; i < xb.layer->n_groups; i++) {
				const struct idg_id_group *g = &xb.layer->groups[i];

				if (!g->pinned && (g->id & 0xffff) != g->hash) {
					probed++;
					break;
				}
			}
			for (size_t i = 0, k = 0; i < xb.n_ids; i++)
				if (xb.ids[i].kind == IDG_IDK_ENDPOINT)
					w->taken[k++ % 8] = xb.ids[i].id;
			states_equal(&sa, &sb);
			compared++;
			memo_reused += memo->reused;
			memo_patched += memo->patched;
			files_reused += (int)memo->pols_reused;
			idg_gen_destroy(&ga);
			idg_gen_destroy(&gb);
			cookie_hits += memo->pols_hits > 0;
			/* As the daemon: the new state saved, and the compile
			 * memo told (its cookies are what the file says now);
			 * now and then not, as after an apply that failed
			 * past the compile. */
			if (save > 0 || (save < 0 && rnd(w, 8))) {
				assert_int_equal(idg_state_save_memo(spath, &sa, sm), 0);
				idg_compile_memo_saved(memo, &sm->st);
			}
		}
		idg_state_free(&sa);
		idg_state_free(&sb);
		idg_compiled_free(&xa);
		idg_compiled_free(&xb);
	}
	idg_config_free(&ca);
	idg_config_free(&cb);
	idg_diags_free(&da);
	idg_diags_free(&db);
}

static void check_once(struct world *w, struct idg_config_cache *cache,
		       struct idg_compile_memo *memo,
		       struct idg_state_memo *sm, const char *spath)
{
	check_load(w, cache, memo, sm, spath, -1);
}

/* A world's directory with the nodes file, and the state path beside
 * it (as in a state dir), no state yet. */
static void world_start(struct world *w, char *spath, size_t len)
{
	snprintf(w->dir, sizeof(w->dir), "/tmp/idgate-cache.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(spath, len, "%s.state", w->dir);
	unlink(spath);
	put(w, "00-nodes.yaml", nodes);
}

/* Everything the world kept, and its files, gone. The cache outlives
 * nothing it lent: freed after the configs; the memo holds files of
 * its own. */
static void world_end(struct world *w, struct idg_config_cache *cache,
		      struct idg_compile_memo *memo,
		      struct idg_state_memo *sm, const char *spath)
{
	char path[128];

	idg_config_cache_free(cache);
	idg_compile_memo_free(memo);
	idg_state_memo_free(sm);
	unlink(spath);
	for (int i = 0; i < 24; i++) {
		if (*w->names[i]) {
			snprintf(path, sizeof(path), "%s/%s", w->dir, w->names[i]);
			unlink(path);
		}
		free(w->seen_text[i]);
	}
	free(w->nodes_seen);
	snprintf(path, sizeof(path), "%s/00-nodes.yaml", w->dir);
	unlink(path);
	assert_int_equal(rmdir(w->dir), 0);
}

/* Random edits and loads in a world of the given kind; the defaults of
 * seed and number of edits, unless the environment says otherwise. */
static void world_run(bool patchy, uint64_t seed, int n_edits)
{
	const char *s = getenv("IDG_CACHE_SEED"), *e = getenv("IDG_CACHE_EDITS");
	struct idg_config_cache cache = { 0 };
	struct idg_compile_memo memo = { 0 };
	struct idg_state_memo sm = { 0 };
	char spath[96];
	struct world w = { .rng = s ? strtoull(s, NULL, 0) : seed,
			   .broken = -1, .patchy = patchy };
	int edits = e ? atoi(e) : n_edits, ok_loads = 0;

	if (patchy)
		collisions_find(&w);
	compared = memo_reused = memo_patched = files_reused = probed = 0;
	cookie_hits = other_writes = 0;
	if (!w.rng)
		w.rng = 1;
	world_start(&w, spath, sizeof(spath));
	for (int i = 0; i < 6; i++)
		edit(&w);
	check_once(&w, &cache, &memo, &sm, spath);
	for (int i = 0; i < edits; i++) {
		int k = 1 + (int)rnd(&w, 3);

		/* Several edits between loads, as a daemon coalesces them. */
		while (k--)
			edit(&w);
		check_once(&w, &cache, &memo, &sm, spath);
		ok_loads++;
		/* Now and then another process's apply rewrites the state
		 * with other numbers: what the memo kept against the
		 * daemon's own state must not be used with it. */
		if (!rnd(&w, 8))
			other_writer(&sm, spath);
	}
	print_message("%lu loads checked nodes and endpoints by their kept keys\n",
		      cache.idents_patched);
	if (patchy)
		assert_true(cache.idents_patched > (unsigned long)compared / 5);
	world_end(&w, &cache, &memo, &sm, spath);
	print_message("%d loads compared, %d of them map by map, %d with the memo's identities, %d with them patched, %d with a number probed past its hash, %d policy files taken from it, %d with cookies from the memo, %d states written by another (seed %llu)\n",
		      ok_loads, compared, memo_reused, memo_patched, probed,
		      files_reused,
		      cookie_hits,
		      other_writes,
		      (unsigned long long)(s ? strtoull(s, NULL, 0) : seed));
	/* Most edits leave a valid config: the maps are what is tested;
	 * and a good share of them with identities kept. */
	assert_true(compared > ok_loads / 3);
	assert_true(memo_reused > compared / 10);
	assert_true(files_reused > memo_reused);
	/* Endpoint files changed without a message or a pin: the memo's
	 * identities patched, not built again. */
	if (patchy) {
		assert_true(memo_patched > compared / 5);
		assert_true(probed > compared / 10);
	}
	assert_true(cookie_hits > compared / 4);
	assert_true(other_writes > 10);
}

static void test_cache_equals_fresh(void **state)
{
	(void)state;
	world_run(false, 20261205, 300);
}

/* The same with identities mostly patched (identity.c, layer_patch). */
static void test_patched_equals_fresh(void **state)
{
	(void)state;
	world_run(true, 20261206, 800);
}

/* A config lent by the cache stays whole after the cache moves on. */
static void test_config_outlives_cache(void **state)
{
	struct idg_config_cache cache = { 0 };
	struct world w = { .rng = 7, .broken = -1 };
	struct idg_config cfg;
	struct idg_diags d = { 0 };
	struct idg_config_reuse r;
	char path[128];

	(void)state;
	snprintf(w.dir, sizeof(w.dir), "/tmp/idgate-cache.XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	put(&w, "00-nodes.yaml", nodes);
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	assert_int_equal(r.files, 1);
	assert_int_equal(r.parsed, 1);
	snprintf(path, sizeof(path), "%s/00-nodes.yaml", w.dir);
	assert_int_equal(unlink(path), 0);
	put(&w, "01-nodes.yaml", nodes);
	idg_config_free(&cfg);
	idg_diags_free(&d);
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	idg_config_cache_free(&cache);
	/* ASan would see a use after free here. */
	assert_string_equal(cfg.nodes[1].name, "n2");
	assert_string_equal(cfg.nodes[1].pos.file, cfg.srcs[0]);
	idg_config_free(&cfg);
	idg_diags_free(&d);
	snprintf(path, sizeof(path), "%s/01-nodes.yaml", w.dir);
	unlink(path);
	assert_int_equal(rmdir(w.dir), 0);
}

/*
 * The mesh's directory beside the config (extra_dir): its endpoints are
 * loaded marked expired while extra_expired is set, and unmarked when it
 * is cleared, the files unchanged (taken from the cache); the config
 * directory's own endpoints never are.
 */
static void test_extra_dir_expired(void **state)
{
	static const char ep_local[] =
		"apiVersion: idgate.io/v1\nkind: Endpoint\n"
		"metadata: {name: web, namespace: prod, labels: {app: web}}\n"
		"spec: {node: n1, ips: [10.0.0.1]}\n";
	static const char ep_mesh[] =
		"apiVersion: idgate.io/v1\nkind: Endpoint\n"
		"metadata: {name: db, namespace: prod, labels: {app: db}}\n"
		"spec: {node: n2, ips: [10.0.0.2]}\n";
	struct idg_config_cache cache = { 0 };
	struct world w = { .rng = 7, .broken = -1 };
	char extra[128], path[192];
	struct idg_config_reuse r;
	struct idg_diags d = { 0 };
	struct idg_config cfg;
	FILE *f;

	(void)state;
	snprintf(w.dir, sizeof(w.dir), "/tmp/idgate-cache.XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	snprintf(extra, sizeof(extra), "/tmp/idgate-mesh.XXXXXX");
	assert_non_null(mkdtemp(extra));
	put(&w, "00-nodes.yaml", nodes);
	put(&w, "01-web.yaml", ep_local);
	snprintf(path, sizeof(path), "%s/kvstore:a:n2.yaml", extra);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(ep_mesh, f) >= 0);
	assert_int_equal(fclose(f), 0);
	cache.extra_dir = extra;

	for (int round = 0; round < 3; round++) {
		cache.extra_expired = round == 1;
		assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
		assert_int_equal(cfg.n_endpoints, 2);
		for (size_t i = 0; i < cfg.n_endpoints; i++)
			assert_int_equal(cfg.endpoints[i].expired,
					 round == 1 &&
						 !strcmp(cfg.endpoints[i].name, "db"));
		if (round)
			assert_int_equal(r.parsed, 0);
		idg_config_free(&cfg);
		idg_diags_free(&d);
	}
	idg_config_cache_free(&cache);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(extra), 0);
	snprintf(path, sizeof(path), "%s/00-nodes.yaml", w.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/01-web.yaml", w.dir);
	unlink(path);
	assert_int_equal(rmdir(w.dir), 0);
}

static const char pol_a[] =
	"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
	"metadata: {name: p, namespace: prod}\n"
	"spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n  - toPorts: [{ports: [{port: \"8080\", protocol: TCP}]}]\n";

/*
 * Files that last changed well before they were read are known unchanged
 * by stat alone: not read again. A rewrite of the same size with its
 * mtime put back still moves the ctime: parsed again, new bytes seen.
 */
static void test_unchanged_by_stat(void **state)
{
	struct idg_config_cache cache = { 0 };
	struct world w = { .rng = 9, .broken = -1 };
	struct idg_config cfg;
	struct idg_diags d = { 0 };
	struct idg_config_reuse r;
	unsigned long long before;
	struct timespec times[2];
	char path[128], *other;
	struct stat sb;

	(void)state;
	snprintf(w.dir, sizeof(w.dir), "/tmp/idgate-cache.XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	put(&w, "00-nodes.yaml", nodes);
	put(&w, "10-pol.yaml", pol_a);
	/* Past the racy window of the first read. */
	sleep(4);
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	assert_int_equal(r.parsed, 2);
	idg_config_free(&cfg);
	idg_diags_free(&d);

	before = proc_rchar();
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	/* Neither file read: far fewer bytes than the two files hold. */
	assert_true(proc_rchar() - before < sizeof(nodes) / 2);
	assert_int_equal(r.parsed, 0);
	assert_int_equal(cfg.policies[0].rules[IDG_RS_INGRESS][0].ports[0].port, 8080);
	idg_config_free(&cfg);
	idg_diags_free(&d);

	/* Same size, other bytes, the old mtime put back. */
	snprintf(path, sizeof(path), "%s/10-pol.yaml", w.dir);
	assert_int_equal(stat(path, &sb), 0);
	other = strdup(pol_a);
	assert_non_null(other);
	memcpy(strstr(other, "8080"), "9090", 4);
	put(&w, "10-pol.yaml", other);
	times[0] = sb.st_atim;
	times[1] = sb.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	assert_int_equal(r.parsed, 1);
	assert_int_equal(cfg.policies[0].rules[IDG_RS_INGRESS][0].ports[0].port, 9090);
	idg_config_free(&cfg);
	idg_diags_free(&d);
	idg_config_cache_free(&cache);
	free(other);
	unlink(path);
	snprintf(path, sizeof(path), "%s/00-nodes.yaml", w.dir);
	unlink(path);
	assert_int_equal(rmdir(w.dir), 0);
}

/* What a watcher of the directory (idgate run) says had no event. */
static const char *quiet_names;

static bool quiet(const char *name, void *arg)
{
	(void)arg;
	return strstr(quiet_names, name) != NULL;
}

static uint16_t pol_port(const struct idg_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_policies; i++)
		if (!strcmp(cfg->policies[i].name, name))
			return cfg->policies[i].rules[IDG_RS_INGRESS][0].ports[0].port;
	fail_msg("no policy %s", name);
	return 0;
}

/*
 * With a watcher's word, a plain file with no event since the last load
 * is taken as it was, without a stat (here it changed behind the
 * watcher's back to show that nothing looked); a file behind a symlink
 * is looked at whatever the watcher says, since writes to its target are
 * no events on its name.
 */
static void test_unchanged_by_watch(void **state)
{
	struct idg_config_cache cache = { .unchanged = quiet };
	struct world w = { .rng = 11, .broken = -1 };
	struct idg_config cfg;
	struct idg_diags d = { 0 };
	struct idg_config_reuse r;
	char path[128], target[128], *q;

	(void)state;
	snprintf(w.dir, sizeof(w.dir), "/tmp/idgate-cache.XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	put(&w, "00-nodes.yaml", nodes);
	put(&w, "10-pol.yaml", pol_a);
	q = strdup(pol_a);
	assert_non_null(q);
	memcpy(strstr(q, "name: p,"), "name: q,", 8);
	put(&w, ".q.yaml", q);
	snprintf(target, sizeof(target), "%s/.q.yaml", w.dir);
	snprintf(path, sizeof(path), "%s/20-q.yaml", w.dir);
	assert_int_equal(symlink(".q.yaml", path), 0);

	quiet_names = "";
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	assert_int_equal(r.parsed, 3);
	idg_config_free(&cfg);
	idg_diags_free(&d);

	memcpy(strstr(q, "8080"), "9090", 4);
	put(&w, ".q.yaml", q);
	put(&w, "10-pol.yaml", q);
	memcpy(strstr(q, "name: q,"), "name: p,", 8);
	put(&w, "10-pol.yaml", q);
	quiet_names = "00-nodes.yaml 10-pol.yaml 20-q.yaml";
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	assert_int_equal(r.parsed, 1);
	assert_int_equal(pol_port(&cfg, "p"), 8080);
	assert_int_equal(pol_port(&cfg, "q"), 9090);
	idg_config_free(&cfg);
	idg_diags_free(&d);

	/* The event on 10-pol.yaml: read, and its change seen. */
	quiet_names = "00-nodes.yaml 20-q.yaml";
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	assert_int_equal(r.parsed, 1);
	assert_int_equal(pol_port(&cfg, "p"), 9090);
	idg_config_free(&cfg);
	idg_diags_free(&d);

	idg_config_cache_free(&cache);
	free(q);
	unlink(path);
	unlink(target);
	snprintf(path, sizeof(path), "%s/10-pol.yaml", w.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/00-nodes.yaml", w.dir);
	unlink(path);
	assert_int_equal(rmdir(w.dir), 0);
}

static void names_are(char *const *v, size_t n, const char *dir,
		      const char *want)
{
	char got[256] = "";

	for (size_t i = 0; i < n; i++) {
		assert_true(!strncmp(v[i], dir, strlen(dir)));
		strcat(got, i ? " " : "");
		strcat(got, v[i] + strlen(dir) + 1);
	}
	assert_string_equal(got, want);
}

/* What a load found against the one before: added, changed, removed. */
static void test_changes(void **state)
{
	struct idg_config_cache cache = { 0 };
	struct world w = { .rng = 11, .broken = -1 };
	struct idg_config cfg;
	struct idg_diags d = { 0 };
	struct idg_config_reuse r;
	char path[128], *other;

	(void)state;
	snprintf(w.dir, sizeof(w.dir), "/tmp/idgate-cache.XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	put(&w, "00-nodes.yaml", nodes);
	put(&w, "10-pol.yaml", pol_a);
	put(&w, "20-pol.yaml", "# nothing yet\n");
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	names_are(cache.last.added, cache.last.n_added, w.dir,
		  "00-nodes.yaml 10-pol.yaml 20-pol.yaml");
	assert_int_equal(cache.last.n_changed + cache.last.n_removed, 0);
	idg_config_free(&cfg);
	idg_diags_free(&d);

	other = strdup(pol_a);
	assert_non_null(other);
	memcpy(strstr(other, "8080"), "9090", 4);
	put(&w, "10-pol.yaml", other);
	put(&w, "15-new.yaml", "# new\n");
	put(&w, "20-pol.yaml", "# nothing yet\n"); /* same bytes */
	snprintf(path, sizeof(path), "%s/00-nodes.yaml", w.dir);
	assert_int_equal(unlink(path), 0);
	put(&w, "01-nodes.yaml", nodes);
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	names_are(cache.last.added, cache.last.n_added, w.dir,
		  "01-nodes.yaml 15-new.yaml");
	names_are(cache.last.changed, cache.last.n_changed, w.dir, "10-pol.yaml");
	names_are(cache.last.removed, cache.last.n_removed, w.dir, "00-nodes.yaml");
	idg_config_free(&cfg);
	idg_diags_free(&d);

	/* Nothing changed: nothing listed. */
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	assert_int_equal(cache.last.n_added + cache.last.n_changed +
				 cache.last.n_removed, 0);
	idg_config_free(&cfg);
	idg_diags_free(&d);
	idg_config_cache_free(&cache);
	free(other);
	for (int i = 0; i < 4; i++) {
		static const char *const f[] = { "01-nodes.yaml", "10-pol.yaml",
						 "15-new.yaml", "20-pol.yaml" };

		snprintf(path, sizeof(path), "%s/%s", w.dir, f[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(w.dir), 0);
}

/* A *.yaml link to nothing is not config, and says so. */
static void test_dangling_link(void **state)
{
	struct idg_config_cache cache = { 0 };
	struct world w = { .rng = 13, .broken = -1 };
	struct idg_config cfg;
	struct idg_diags d = { 0 };
	struct idg_config_reuse r;
	char path[128];
	bool named = false;

	(void)state;
	snprintf(w.dir, sizeof(w.dir), "/tmp/idgate-cache.XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	put(&w, "00-nodes.yaml", nodes);
	snprintf(path, sizeof(path), "%s/10-gone.yaml", w.dir);
	assert_int_equal(symlink("no-such-file.yaml", path), 0);
	assert_int_equal(idg_config_load_cached(&cache, w.dir, &cfg, &d, &r), 0);
	assert_int_equal(r.files, 1);
	for (size_t i = 0; i < d.n; i++)
		named |= d.v[i].level == IDG_DIAG_WARNING &&
			 strstr(d.v[i].msg, "10-gone.yaml ignored: a symlink to nothing");
	assert_true(named);
	idg_config_free(&cfg);
	idg_diags_free(&d);
	idg_config_cache_free(&cache);
	unlink(path);
	snprintf(path, sizeof(path), "%s/00-nodes.yaml", w.dir);
	unlink(path);
	assert_int_equal(rmdir(w.dir), 0);
}

/*
 * A number moved by a load whose state was not saved is still a move at
 * the next load, which patches the layer from that one: the state says
 * the number before both.
 */
static void test_moved_unsaved(void **state)
{
	struct idg_config_cache cache = { 0 };
	struct idg_compile_memo memo = { 0 };
	struct idg_state_memo sm = { 0 };
	struct world w = { .rng = 7, .broken = -1, .patchy = true };
	const char *first, *second;
	char spath[96], text[512];

	(void)state;
	collisions_find(&w);
	/* The pair's label sets hash alike: the one that sorts first takes
	 * the number, the other the next one. */
	first = strcmp(w.coll[0], w.coll[1]) < 0 ? w.coll[0] : w.coll[1];
	second = first == w.coll[0] ? w.coll[1] : w.coll[0];
	world_start(&w, spath, sizeof(spath));

	snprintf(w.names[0], 32, "10-e1.yaml");
	snprintf(text, sizeof(text),
		 "apiVersion: idgate.io/v1\nkind: Endpoint\n"
		 "metadata: {name: e1, namespace: ns0, labels: {app: %s}}\n"
		 "spec: {node: n1, ips: [10.1.0.1]}\n", second);
	put(&w, w.names[0], text);
	check_load(&w, &cache, &memo, &sm, spath, 1);

	snprintf(w.names[1], 32, "11-e2.yaml");
	snprintf(text, sizeof(text),
		 "apiVersion: idgate.io/v1\nkind: Endpoint\n"
		 "metadata: {name: e2, namespace: ns0, labels: {app: %s}}\n"
		 "spec: {node: n1, ips: [10.1.0.2]}\n", first);
	put(&w, w.names[1], text);
	check_load(&w, &cache, &memo, &sm, spath, 0);
	assert_true(memo.patched);

	snprintf(w.names[2], 32, "12-e3.yaml");
	put(&w, w.names[2],
	    "apiVersion: idgate.io/v1\nkind: Endpoint\n"
	    "metadata: {name: e3, namespace: ns0, labels: {app: a1}}\n"
	    "spec: {node: n1, ips: [10.1.0.3]}\n");
	check_load(&w, &cache, &memo, &sm, spath, 1);
	assert_true(memo.patched);
	world_end(&w, &cache, &memo, &sm, spath);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_equals_fresh),
		cmocka_unit_test(test_patched_equals_fresh),
		cmocka_unit_test(test_moved_unsaved),
		cmocka_unit_test(test_config_outlives_cache),
		cmocka_unit_test(test_extra_dir_expired),
		cmocka_unit_test(test_unchanged_by_stat),
		cmocka_unit_test(test_unchanged_by_watch),
		cmocka_unit_test(test_changes),
		cmocka_unit_test(test_dangling_link),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
