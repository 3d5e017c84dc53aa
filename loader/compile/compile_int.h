/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals shared by the compiler's files (identity.c, compile.c,
 * compile_rules.c). Not an API: compile.h is.
 */
#ifndef IDGATE_LOADER_COMPILE_INT_H
#define IDGATE_LOADER_COMPILE_INT_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "strmap.h"

/* The range of local ids a cluster hands out: [256, 65535]. */
#define IDG_ID_LOCAL_RANGE (0x10000u - IDG_ID_LOCAL_MIN)
/* CIDR identities: IDG_ID_SCOPE_LOCAL | n, n in [1, IDG_CIDR_ID_MAX]. */
#define IDG_CIDR_ID_MAX 0xffffffu

/* Room for one more element; returns the (maybe moved) array or NULL. */
static inline void *idg_vec_grow(void *v, size_t n, size_t *cap, size_t sz)
{
	size_t c;
	void *nv;

	if (n < *cap)
		return v;
	c = *cap ? *cap * 2 : 8;
	nv = realloc(v, c * sz);
	if (nv)
		*cap = c;
	return nv;
}

/* Append to a growable array: a pointer to the new (uninitialised)
 * element, or NULL when out of memory (the array is left intact). */
#define IDG_VEC_PUSH(v, n, cap)                                           \
	({                                                                \
		__typeof__(v) _nv = idg_vec_grow((v), (n), &(cap),        \
						 sizeof(*(v)));           \
		_nv ? ((v) = _nv, &(v)[(n)++]) : NULL;                    \
	})

/*
 * One endpoint label set of one cluster, i.e. one endpoint identity, and
 * the endpoints that share it.
 */
struct idg_id_group {
	char *canon;
	struct idg_labels labels; /* canonical, sorted */
	/* canon and labels are shared by the layers patched from the one
	 * that made them (layer_patch): freed by the last. */
	unsigned int *str_refs;
	uint32_t hash;         /* idg_identity_hash_local(canon) */
	uint32_t cluster_id;
	const char *cluster;   /* name, from the node */
	const char *namespace; /* from the endpoints */
	uint32_t pinned;       /* local part, 0 = none */
	struct idg_pos pin_pos;
	struct idg_pos pos;    /* of its first endpoint, for messages */
	uint32_t id;
};

/* A configured CIDR prefix that became a node-local identity. */
struct idg_cidr_id {
	struct idg_cidr cidr;
	char *text; /* "10.0.0.0/8" */
	uint32_t id;
};

/* (key, value) of one label of one group, grouped by label: selectors
 * look up the groups carrying a label instead of testing every group. */
struct idg_lbl_ref {
	const char *key;
	const char *value;
	size_t group;
};

struct idg_cfg_frag;

/*
 * The endpoint identities and what depends on them alone. Built from the
 * nodes and endpoints only, so a daemon keeps it (struct
 * idg_compile_memo) while the files holding those are the same parsed
 * files, and each compile's identity list borrows its label strings.
 */
struct idg_id_layer {
	unsigned int refs;
	uint64_t serial; /* names this layer within the process */
	struct idg_id_group *groups; /* sorted by (canon, cluster_id) */
	size_t n_groups;
	size_t n_endpoints;
	size_t *ep_group;            /* cfg->endpoints[i] -> groups[] */
	size_t *by_id;               /* groups[] indices in number order */
	size_t *ep_node;             /* ... -> cfg->nodes[], SIZE_MAX: none */
	/* The label index. */
	struct idg_lbl_ref *index;   /* groups of each label, in group order */
	size_t n_index;
	struct idg_strmap lbl;       /* (key, value) -> label number */
	size_t n_lbl;                /* label numbers: 0 .. n_lbl - 1 */
	size_t *lbl_first;           /* label number -> its first in index[] */
	size_t *lbl_count;           /* ... and how many groups carry it */
	size_t n_clusters;           /* clusters that have endpoints */
	/* What building it said, said again by every compile that uses it;
	 * clean: the groups gave no message before they were numbered. */
	struct idg_diags d;
	bool clean;
	/* The parsed files it was built from, held: a memo's key; with the
	 * serial of the store's numbers it was numbered with (0: none). */
	struct idg_cfg_frag **frags;
	size_t n_frags;
	uint64_t allocs_serial;
};

void idg_id_layer_put(struct idg_id_layer *l);

/* Everything the identity step hands to the rest of the compiler. */
struct idg_idents {
	struct idg_id_layer *layer;  /* a reference */
	const struct idg_id_group *groups; /* the layer's */
	size_t n_groups;
	const size_t *ep_group;      /* the layer's */
	const struct idg_node **ep_node; /* cfg->endpoints[i] -> node */
	struct idg_cidr_id *cidrs;   /* sorted by family, address, length */
	size_t n_cidrs;
};

/* ---- identity.c ---- */
/* FNV-1a of the canonical string, folded into [256, 65535]. */
uint32_t idg_identity_hash_local(const char *canon);

/*
 * Endpoint and CIDR identities for every cluster, and the identity list
 * of out (reserved + endpoint + CIDR, sorted by id). old is the earlier
 * state (may be NULL), new_st receives the numbers handed out now.
 */
int idg_identities_build(const struct idg_config *cfg,
			 const struct idg_state *old, struct idg_state *new_st,
			 struct idg_idents *ids, struct idg_compiled *out,
			 struct idg_diags *d, struct idg_compile_memo *memo);
void idg_idents_free(struct idg_idents *ids);

/* ---- state.c ---- */
struct idg_state_index {
	struct idg_strmap ids;     /* canon -> id */
	struct idg_strmap cookies; /* key -> cookie */
};
enum idg_state_ix {
	IDG_STATE_IX_IDS,     /* canon -> id */
	IDG_STATE_IX_COOKIES, /* key -> cookie */
};
/* One of st's lookups by name in *index: st's kept one, or one built
 * into *own (freed with idg_strmap_free either way). */
int idg_state_index_of(const struct idg_state *st, enum idg_state_ix which,
		       struct idg_strmap *own, const struct idg_strmap **index);
int idg_state_add_id(struct idg_state *st, const char *canon, uint32_t id);
int idg_state_add_cookie(struct idg_state *st, const char *key,
			 uint32_t cookie);
/* The same, taking key (malloc'ed) over instead of copying it. */
int idg_state_take_cookie(struct idg_state *st, char *key, uint32_t cookie);
int idg_state_take_id(struct idg_state *st, char *canon, uint32_t id);

/* ---- compile_rules.c, compile_select.c ---- */

static inline uint8_t idg_set_dir(int set)
{
	return set == IDG_RS_INGRESS || set == IDG_RS_INGRESS_DENY ?
		       IDG_DIR_INGRESS : IDG_DIR_EGRESS;
}

/* One rule of the config; every rule of every policy, in config order. */
struct idg_flat_rule {
	bool peers_lent;   /* peers belong to a compile memo */
	const struct idg_policy *pol;
	int set;
	size_t index;
	uint32_t cookie;
	bool kept;         /* the cookie the state gave this key */
	/* What the earlier state says of key: a cookie, 0 for none (or one
	 * out of range). */
	uint32_t old_hit;
	bool hit_known;    /* from the file's memo, not looked up */
	char *key;         /* "namespace/policy/set/index" */
	bool key_given;    /* key now belongs to the new state */
	uint32_t *peers;   /* sorted, unique; {0} = any peer */
	size_t n_peers;
	bool peers_done;
};

/* Indices of the policies that select one subject, in config order. */
struct idg_pol_list {
	size_t *v;
	size_t n, cap;
};

struct idg_rctx {
	const struct idg_config *cfg;
	const struct idg_idents *ids;
	struct idg_compiled *out;
	struct idg_diags *d;
	uint32_t local;          /* our cluster id */
	const char *local_name;  /* and its name */
	struct idg_flat_rule *rules;
	size_t n_rules;
	size_t *pol_first;       /* policies[p]'s first rule in rules[] */
	size_t rules_cap;        /* of out->rules */
	/* Through a compile memo whose identities this compile uses: the
	 * files that hold policies (else NULL). */
	struct idg_compile_memo *memo;
	struct idg_pol_file *files;
	size_t n_files;
	uint64_t old_state; /* content_id of the earlier state */
};

/* A rule's peers as a memo keeps them. */
struct idg_peer_set {
	uint32_t *v;
	size_t n;
	bool set;
};

/* What one policy file gave against a memo's identities. */
struct idg_pol_memo {
	struct idg_cfg_frag *frag; /* held */
	struct idg_diags warn;     /* its selector warnings */
	struct idg_peer_set *peers; /* per rule of its policies, flat order */
	size_t n_rules;
	/* Per rule, the cookie the last compile gave it, which is what the
	 * state it saved says of the rule's key (the keys are the file's
	 * own): valid against the state of content_id hits_state (0: not
	 * saved yet, none). */
	uint32_t *hits;
	uint64_t hits_state;
};

/* One file's policies in this compile, and what the memo had of it. */
struct idg_pol_file {
	struct idg_cfg_frag *frag;
	size_t pol_first, n_pols;   /* in cfg->policies */
	size_t rule_first, n_rules; /* in the flat rules */
	struct idg_pol_memo *kept;  /* NULL: nothing */
	struct idg_diags warn;      /* computed by this compile */
};

/* ---- compile_memo.c ---- */
/* x->files, and the kept peers lent to x->rules, when memo applies. */
int idg_pol_files_find(struct idg_rctx *x, struct idg_compile_memo *memo);
/* The selector warnings, a kept file's said again. */
int idg_selector_warnings_memo(struct idg_rctx *x);
/* After a compile that worked: the memo keeps what it computed. */
int idg_pol_memo_update(struct idg_rctx *x);
void idg_pol_files_free(struct idg_rctx *x);
void idg_pol_memos_clear(struct idg_compile_memo *m);
/* The memo's layer goes from `from` to `to`: entries that cannot tell a
 * difference between them stay, the others go (all, when more than the
 * endpoint groups differ). */
void idg_pol_memos_migrate(struct idg_compile_memo *m,
			   const struct idg_id_layer *from,
			   const struct idg_id_layer *to);
/* The same, for a new layer whose groups are the memo's but for those
 * in delta[0..n) (added or gone), each number kept, nodes the same. */
void idg_pol_memos_migrate_delta(struct idg_compile_memo *m,
				 const struct idg_id_group *const *delta,
				 size_t n);

/* The layer's label index, from its groups. */
int idg_label_index_build(struct idg_id_layer *l);
/* The same for x, whose groups are the groups of o it keeps (remap: o's
 * group -> x's, SIZE_MAX when gone) and the new ones newg[0..n_newg),
 * made from o's index: the same groups for every label, other label
 * numbers. */
int idg_label_index_patch(struct idg_id_layer *x, const struct idg_id_layer *o,
			  const size_t *remap, const size_t *newg,
			  size_t n_newg);
void idg_label_index_free(struct idg_id_layer *l);
/* For every group with local[g] set, the policies whose endpointSelector
 * picks it. */
int idg_select_subjects(struct idg_rctx *x, const uint8_t *local,
			struct idg_pol_list *lists);
bool idg_select_host(const struct idg_rctx *x, const struct idg_policy *pol);
/* f->peers, computed once. */
int idg_rule_peers(struct idg_rctx *x, struct idg_flat_rule *f);
/* Selectors that select nothing, the same on every node: of the
 * policies [p0, p1). */
void idg_selector_warnings(struct idg_rctx *x, size_t p0, size_t p1);
/* The peers of rules whose peers are endpoints alone depend on nothing
 * but the rule and the identity layer: a memo may keep them. */
bool idg_rule_peers_keepable(const struct idg_flat_rule *f);

/*
 * Rule cookies for every rule of every policy, then the rule entries and
 * enforcement flags of the subjects on this node (local endpoint
 * identities and, for host policies, the host).
 */
int idg_rules_build(const struct idg_config *cfg,
		    const struct idg_idents *ids, const struct idg_state *old,
		    struct idg_state *new_st, struct idg_compiled *out,
		    struct idg_diags *d, struct idg_compile_memo *memo);

/* ---- compile_egw.c ---- */
int idg_egw_build(const struct idg_config *cfg, const struct idg_idents *ids,
		  const struct idg_node *self, struct idg_compiled *out,
		  struct idg_diags *d);

#endif /* IDGATE_LOADER_COMPILE_INT_H */
