/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A config directory read again after a change: files whose bytes are
 * the same as last time keep what was parsed from them, only the others
 * are parsed. The result is the same config as idg_config_load() of the
 * directory, checked across files as a whole.
 */
#ifndef IDGATE_LOADER_CONFIG_CACHE_H
#define IDGATE_LOADER_CONFIG_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "model.h"

struct idg_cfg_frag;

/* What a load of a config directory found against the load before it:
 * files new, changed (parsed again) and gone, as paths. */
struct idg_config_changes {
	char **added, **changed, **removed;
	size_t n_added, n_changed, n_removed;
};

struct idg_config_cache {
	struct idg_cfg_frag **v; /* the files of the last load, in order */
	size_t n;
	/* The files of nodes and endpoints (idg_config_ident_files) whose
	 * checks across files last found nothing: not checked again. */
	struct idg_cfg_frag **checked;
	size_t n_checked;
	/* Hashes of what those checks compare across files (endpoint names
	 * per cluster and namespace, endpoint addresses per cluster), each
	 * with its count: a change to files of endpoints is checked against
	 * them (config_cache.c, idents_patch). */
	struct idg_keycount *ident_keys;
	unsigned long idents_patched; /* loads checked that way */
	/* Of the last load that read every file (empty for one file). */
	struct idg_config_changes last;
	/* Loads of a directory that got through all its files. */
	unsigned long loads;
	size_t hint; /* where in v the next file of a load is looked for */
	/*
	 * Set by a caller that watches the directory (idgate run): true
	 * when file name (no directory part) has had no event since the
	 * load before. Such a file, if it was a plain file held still
	 * around its read, is taken as it was without a stat. NULL: every
	 * file is looked at.
	 */
	bool (*unchanged)(const char *name, void *arg);
	void *unchanged_arg;
	/*
	 * A second directory of *.yaml files read with a config directory
	 * (the cluster mesh's documents, written by idgate run: docs/mesh.md),
	 * or NULL. Its files are always stat'ed: unchanged speaks for the
	 * config directory only.
	 */
	const char *extra_dir;
	/* What extra_dir holds is out of date (the mesh's store has not
	 * answered for longer than its TTL): its endpoints are loaded with
	 * idg_endpoint.expired set. */
	bool extra_expired;
};

/* What the last load did. */
struct idg_config_reuse {
	size_t files;  /* files in the config */
	size_t parsed; /* of them, parsed again (new or changed) */
};

/*
 * idg_config_load() through the cache c (zeroed at first). A config that
 * is one file is parsed every time. cfg shares what it was parsed from
 * with c: it stays valid after c changes or is freed.
 */
int idg_config_load_cached(struct idg_config_cache *c, const char *path,
			   struct idg_config *cfg, struct idg_diags *d,
			   struct idg_config_reuse *r);
void idg_config_cache_free(struct idg_config_cache *c);

/*
 * The parsed files of a config loaded through a cache that hold nodes or
 * endpoints, in order: while a later config has the very same ones, its
 * nodes and endpoints are the same objects. Each gets a reference of
 * the caller's in v (malloc'ed); 0 files for a config read otherwise.
 */
int idg_config_ident_files(const struct idg_config *cfg,
			   struct idg_cfg_frag ***v, size_t *n);
/* Whether cfg's files of that kind are exactly v[0..n). */
bool idg_config_ident_files_are(const struct idg_config *cfg,
				struct idg_cfg_frag *const *v, size_t n);
void idg_cfg_frags_drop(struct idg_cfg_frag **v, size_t n);
/* config_idents.c: the keys the checks of nodes and endpoints across
 * files compare, for a config those checks found clean (NULL: none to
 * keep); and whether cfg, whose files differ from the clean `checked`
 * ones (keys k) in files of endpoints only, passes those checks: true
 * makes k cfg's; false leaves k unusable (check in full, drop it). */
struct idg_keycount;
void idg_keycount_free(struct idg_keycount *k);
struct idg_keycount *idg_ident_keys_of(const struct idg_config *cfg);
bool idg_ident_keys_patch(struct idg_keycount *k,
			  struct idg_cfg_frag *const *checked,
			  size_t n_checked, const struct idg_config *cfg);
/* Whether the files of a and b that hold nodes are the same, in order. */
bool idg_cfg_frags_same_nodes(struct idg_cfg_frag *const *a, size_t na,
			      struct idg_cfg_frag *const *b, size_t nb);
/* File i of a config loaded through a cache (i < cfg->n_frags), and how
 * many of cfg->policies it holds (they follow the earlier files'). */
struct idg_cfg_frag *idg_config_file(const struct idg_config *cfg, size_t i);
/* A 64-bit hash of cfg->texts[i], computed once per parsed file. */
uint64_t idg_config_text_hash(const struct idg_config *cfg, size_t i);
size_t idg_cfg_frag_policies(const struct idg_cfg_frag *f);
/* Its policy i (< idg_cfg_frag_policies(f)), and how many nodes it has. */
const struct idg_policy *idg_cfg_frag_policy(const struct idg_cfg_frag *f,
					     size_t i);
size_t idg_cfg_frag_nodes(const struct idg_cfg_frag *f);
/* Its endpoints: how many, and endpoint i (they follow the earlier
 * files' in a config's endpoints). */
size_t idg_cfg_frag_endpoints(const struct idg_cfg_frag *f);
const struct idg_endpoint *idg_cfg_frag_endpoint(const struct idg_cfg_frag *f,
						 size_t i);
void idg_cfg_frag_hold(struct idg_cfg_frag *f);
void idg_cfg_frag_drop(struct idg_cfg_frag *f);

#endif
