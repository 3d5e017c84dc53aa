// SPDX-License-Identifier: GPL-2.0
/*
 * The config cache (config_cache.h). Each file of the directory is kept
 * with its bytes and what the parser made of them: its objects, the
 * references the checks across files need, and its own diagnostics. A
 * file is reused when its bytes are the same, which stat can tell without
 * reading them only for a file that had last changed well before it was
 * read (git's "racily clean" rule): a rewrite within one timestamp tick
 * of the read keeps size, mtime and ctime, so such a file is compared
 * byte by byte. A loaded config copies the objects of its files into its
 * own arrays and holds a reference on each file, so the cache may move on
 * meanwhile.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config_cache.h"
#include "config_int.h"
#include "util/hash.h"
#include "util/util.h"

/* A file whose ctime is this close to its read (or later) is compared by
 * its bytes: more than the coarsest timestamp granularity a config may
 * live on (2 s on FAT) plus the kernel's coarse-clock lag. */
#define RACY_S 3

struct idg_cfg_frag {
	unsigned int refs;
	char *path; /* its objects' positions point here */
	char *text;
	size_t len;
	struct idg_config cfg;
	/* The parser's references, indices into cfg's arrays. */
	struct cfg_ref *ep_node, *node_cid, *gw_name;
	size_t n_ep_node, n_node_cid, n_gw_name;
	struct idg_diags d;
	bool yaml_ok;
	bool fresh; /* parsed by the load under way */
	/* stat of the file around its last read (when it held still). */
	bool have_id;
	struct idg_stat_id id;
	struct timespec read_at;
	bool hashed; /* hash: idg_config_text_hash() of text */
	uint64_t hash;
	/* A regular file of one link at its read: every write to it is an
	 * event on its name in the directory (not so for a symlink's
	 * target or another link's path). */
	bool plain;
};

static void frag_unref(struct idg_cfg_frag *f)
{
	if (!f || --f->refs)
		return;
	idg_config_free(&f->cfg);
	free(f->ep_node);
	free(f->node_cid);
	free(f->gw_name);
	idg_diags_free(&f->d);
	free(f->text);
	free(f->path);
	free(f);
}

/* Parses text (taken over) of path into a new file entry. */
static int frag_parse(const char *path, char *text, size_t len,
		      struct idg_cfg_frag **out)
{
	struct idg_cfg_frag *f = calloc(1, sizeof(*f));
	struct cfg_parser p = { 0 };

	if (!f || !(f->path = strdup(path))) {
		free(f);
		free(text);
		return -ENOMEM;
	}
	f->refs = 1;
	f->text = text;
	f->len = len;
	f->yaml_ok = true;
	if (cfg_start(&f->cfg, &f->d, path)) {
		frag_unref(f);
		return -ENOMEM;
	}
	p.cfg = &f->cfg;
	p.d = &f->d;
	cfg_parse_text(&p, f->path, text, len, &f->yaml_ok);
	f->ep_node = p.ep_node;
	f->n_ep_node = p.n_ep_node;
	f->node_cid = p.node_cid;
	f->n_node_cid = p.n_node_cid;
	f->gw_name = p.gw_name;
	f->n_gw_name = p.n_gw_name;
	*out = f;
	return 0;
}

/* The entry of path (paths are a directory's files: one entry each),
 * looked for first at *hint, after the last one found: the file lists of
 * two loads are in one order, so a scan of a thousand files for each of
 * a thousand files is the exception. */
static struct idg_cfg_frag *cache_path(const struct idg_config_cache *c,
				       const char *path, size_t *hint)
{
	size_t i = *hint;

	if (i >= c->n || strcmp(c->v[i]->path, path))
		for (i = 0; i < c->n && strcmp(c->v[i]->path, path); i++)
			;
	if (i == c->n)
		return NULL;
	*hint = i + 1;
	return c->v[i];
}

static struct idg_cfg_frag *cache_find(const struct idg_config_cache *c,
				       const char *path, const char *text,
				       size_t len, size_t *hint)
{
	struct idg_cfg_frag *f = cache_path(c, path, hint);

	return f && f->len == len && !memcmp(f->text, text, len) ? f : NULL;
}

/* The entry of path whose stat says it is unchanged since its read; or,
 * for a plain file the caller's watch saw no event on since the last
 * load, without a stat. */
static struct idg_cfg_frag *cache_find_stat(const struct idg_config_cache *c,
					    const char *path, size_t *hint)
{
	struct idg_cfg_frag *f = cache_path(c, path, hint);
	const char *base = strrchr(path, '/');
	struct idg_stat_id now;
	struct stat sb;

	base = base ? base + 1 : path;
	if (!f || !f->have_id)
		return NULL;
	if (f->plain && c->unchanged &&
	    !(c->extra_dir && !strncmp(path, c->extra_dir, strlen(c->extra_dir))) &&
	    c->unchanged(base, c->unchanged_arg))
		return f;
	/* Changed close to its read: only the bytes can tell. */
	if (f->id.ctime.tv_sec + RACY_S >= f->read_at.tv_sec)
		return NULL;
	if (stat(path, &sb) || !S_ISREG(sb.st_mode))
		return NULL;
	idg_stat_id_from(&now, &sb);
	return idg_stat_id_same(&now, &f->id) ? f : NULL;
}

static void changes_free(struct idg_config_changes *ch)
{
	for (size_t i = 0; i < ch->n_added; i++)
		free(ch->added[i]);
	for (size_t i = 0; i < ch->n_changed; i++)
		free(ch->changed[i]);
	for (size_t i = 0; i < ch->n_removed; i++)
		free(ch->removed[i]);
	free(ch->added);
	free(ch->changed);
	free(ch->removed);
	memset(ch, 0, sizeof(*ch));
}

static int change_add(char ***v, size_t *n, const char *path)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(path);
	if (!nv[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/*
 * The files new, parsed again and gone, against the cache's last load.
 * Both lists are in bytewise name order (cfg_dir_sources), so one walk.
 */
static int changes_find(const struct idg_config_cache *c,
			const struct idg_config *cfg, const bool *fresh,
			struct idg_config_changes *ch)
{
	size_t i = 0, k = 0;
	int err = 0;

	while (!err && (i < cfg->n_srcs || k < c->n)) {
		int cmp = i >= cfg->n_srcs ? 1 :
			  k >= c->n	   ? -1 :
					     strcmp(cfg->srcs[i], c->v[k]->path);

		if (cmp > 0) {
			err = change_add(&ch->removed, &ch->n_removed,
					 c->v[k++]->path);
			continue;
		}
		if (fresh[i])
			err = cmp ? change_add(&ch->added, &ch->n_added,
					       cfg->srcs[i]) :
				    change_add(&ch->changed, &ch->n_changed,
					       cfg->srcs[i]);
		i++;
		k += !cmp;
	}
	return err;
}

/* Reads file i of cfg and finds or parses it into frags[i]. */
static int load_one(struct idg_config_cache *c, struct idg_config *cfg,
		    size_t i, struct idg_cfg_frag **frags, struct idg_diags *d,
		    struct idg_config_reuse *r)
{
	const char *path = cfg->srcs[i];
	struct idg_pos pos = { .file = path };
	struct stat before, after;
	struct timespec read_at;
	bool held = false;
	size_t len = 0;
	size_t hint = c->hint;
	char *buf = NULL;
	int err;

	frags[i] = cache_find_stat(c, path, &c->hint);
	if (frags[i]) {
		frags[i]->refs++;
		return 0;
	}
	/* The clock before the first stat: a change after the read gets a
	 * ctime past read_at, less the coarse clock's lag. */
	clock_gettime(CLOCK_REALTIME, &read_at);
	held = !stat(path, &before);
	/* Removed since the directory was listed (not a dangling link,
	 * which stays an error): read as removed; its removal's event
	 * brings the next reload anyway. */
	if (!held && errno == ENOENT && lstat(path, &before) && errno == ENOENT)
		return -ESTALE;
	err = cfg_read_file(path, pos, d, &buf, &len);
	if (err)
		return err;
	if (held && !stat(path, &after)) {
		struct idg_stat_id a, b;

		idg_stat_id_from(&a, &before);
		idg_stat_id_from(&b, &after);
		held = idg_stat_id_same(&a, &b) && (size_t)a.size == len;
	} else {
		held = false;
	}
	c->hint = hint;
	frags[i] = cache_find(c, path, buf, len, &c->hint);
	if (frags[i]) {
		frags[i]->refs++;
		free(buf);
	} else {
		r->parsed++;
		err = frag_parse(path, buf, len, &frags[i]);
		if (err)
			return err;
		frags[i]->fresh = true;
	}
	frags[i]->have_id = held;
	frags[i]->plain = false;
	if (held) {
		struct stat l;

		idg_stat_id_from(&frags[i]->id, &before);
		frags[i]->read_at = read_at;
		frags[i]->plain = !lstat(path, &l) && S_ISREG(l.st_mode) &&
				  l.st_nlink == 1 && l.st_ino == before.st_ino;
	}
	return 0;
}

static int refs_add(struct cfg_ref **v, size_t *n, const struct cfg_ref *src,
		    size_t n_src, size_t base)
{
	for (size_t i = 0; i < n_src; i++) {
		struct cfg_ref *ref = cfg_push(*v, *n);

		if (!ref)
			return -ENOMEM;
		*ref = src[i];
		ref->idx += base;
	}
	return 0;
}

#define JOIN(cfg, arr, nfield, frags, n)                                    \
	({                                                                  \
		size_t __t = 0, __o = 0;                                    \
		for (size_t __i = 0; __i < (n); __i++)                      \
			__t += (frags)[__i]->cfg.nfield;                    \
		(cfg)->arr = calloc(__t ? __t : 1, sizeof(*(cfg)->arr));    \
		for (size_t __i = 0; (cfg)->arr && __i < (n); __i++) {      \
			if (!(frags)[__i]->cfg.nfield)                      \
				continue;                                   \
			memcpy((cfg)->arr + __o, (frags)[__i]->cfg.arr,     \
			       (frags)[__i]->cfg.nfield *                   \
				       sizeof(*(cfg)->arr));                \
			__o += (frags)[__i]->cfg.nfield;                    \
		}                                                           \
		(cfg)->nfield = (cfg)->arr ? __t : 0;                       \
		(cfg)->arr ? 0 : -ENOMEM;                                   \
	})

/* cfg becomes the files' objects, in order, and p their references. */
static int join(struct idg_config *cfg, struct cfg_parser *p,
		struct idg_cfg_frag **frags, size_t n)
{
	size_t nodes = 0, eps = 0, egws = 0;
	int err;

	err = JOIN(cfg, nodes, n_nodes, frags, n) ?:
	      JOIN(cfg, endpoints, n_endpoints, frags, n) ?:
	      JOIN(cfg, policies, n_policies, frags, n) ?:
	      JOIN(cfg, egw_policies, n_egw_policies, frags, n);
	for (size_t i = 0; !err && i < n; i++) {
		const struct idg_cfg_frag *f = frags[i];

		err = refs_add(&p->ep_node, &p->n_ep_node, f->ep_node,
			       f->n_ep_node, eps) ?:
		      refs_add(&p->node_cid, &p->n_node_cid, f->node_cid,
			       f->n_node_cid, nodes) ?:
		      refs_add(&p->gw_name, &p->n_gw_name, f->gw_name,
			       f->n_gw_name, egws);
		nodes += f->cfg.n_nodes;
		eps += f->cfg.n_endpoints;
		egws += f->cfg.n_egw_policies;
	}
	return err;
}

/* The files of the last load, and what it found changed, let go. */
static void files_drop(struct idg_config_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		frag_unref(c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
	changes_free(&c->last);
}

/* The cache now holds frags (n of them), each with a reference. */
static void cache_set(struct idg_config_cache *c, struct idg_cfg_frag **frags,
		      size_t n, struct idg_cfg_frag **v)
{
	for (size_t i = 0; i < n; i++) {
		v[i] = frags[i];
		v[i]->refs++;
	}
	files_drop(c);
	c->v = v;
	c->n = n;
}

/* The nodes' and endpoints' files of cfg as checked and clean, or none;
 * with the keys of those checks (kept: already cfg's). */
static void checked_set(struct idg_config_cache *c,
			const struct idg_config *cfg, bool clean, bool kept)
{
	idg_cfg_frags_drop(c->checked, c->n_checked);
	c->checked = NULL;
	c->n_checked = 0;
	/* Out of memory: nothing is taken as checked. */
	if (clean && idg_config_ident_files(cfg, &c->checked, &c->n_checked))
		c->n_checked = 0;
	if (kept && c->n_checked)
		return;
	idg_keycount_free(c->ident_keys);
	c->ident_keys = c->n_checked ? idg_ident_keys_of(cfg) : NULL;
}

/* The endpoints of the files of dir marked expired (the objects are the
 * config's own copies: the files' stay as parsed). */
static void extra_expire(struct idg_config *cfg, const char *dir)
{
	size_t len = dir ? strlen(dir) : 0;

	for (size_t i = 0; len && i < cfg->n_endpoints; i++) {
		const char *f = cfg->endpoints[i].pos.file;

		cfg->endpoints[i].expired = f && !strncmp(f, dir, len) &&
					    f[len] == '/';
	}
}

int idg_config_load_cached(struct idg_config_cache *c, const char *path,
			   struct idg_config *cfg, struct idg_diags *d,
			   struct idg_config_reuse *r)
{
	struct cfg_parser p = { .cfg = cfg, .d = d };
	struct idg_cfg_frag **frags = NULL, **keep = NULL;
	struct idg_config_changes ch = { 0 };
	size_t errors = d->n_errors, n;
	bool yaml_ok = true, *fresh = NULL;
	struct idg_pos pos;
	struct stat st;
	int err;

	memset(r, 0, sizeof(*r));
	changes_free(&c->last);
	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		r->files = r->parsed = 1;
		return idg_config_load(path, cfg, d);
	}
	err = cfg_start(cfg, d, path);
	if (!err)
		err = cfg_dir_sources(cfg, d);
	if (!err && c->extra_dir)
		err = cfg_dir_sources_extra(cfg, d, c->extra_dir);
	if (err)
		return err;
	pos = (struct idg_pos){ .file = cfg->file };
	n = r->files = cfg->n_srcs;
	frags = calloc(n, sizeof(*frags));
	keep = calloc(n, sizeof(*keep));
	if (!frags || !keep) {
		idg_err(d, pos, "out of memory");
		err = -ENOMEM;
		goto out;
	}
	c->hint = 0;
	for (size_t i = 0; i < n && !err; i++) {
		err = load_one(c, cfg, i, frags, d, r);
		if (err != -ESTALE)
			continue;
		free(cfg->srcs[i]);
		memmove(&cfg->srcs[i], &cfg->srcs[i + 1],
			(n - i - 1) * sizeof(*cfg->srcs));
		cfg->n_srcs = r->files = --n;
		i--;
		err = n ? 0 : -ENOENT;
	}
	if (err == -ENOENT && !n)
		idg_err(d, pos, "no *.yaml files in this directory");
	fresh = calloc(n, sizeof(*fresh));
	if (!err && !fresh)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		fresh[i] = frags[i]->fresh;
		frags[i]->fresh = false;
	}
	if (!err)
		err = changes_find(c, cfg, fresh, &ch);
	if (err) {
		if (err == -ENOMEM)
			idg_err(d, pos, "out of memory");
		goto out;
	}
	cache_set(c, frags, n, keep);
	c->loads++;
	c->last = ch;
	memset(&ch, 0, sizeof(ch));
	keep = NULL;
	/* From here cfg is freed as a cached config, whatever happens. */
	cfg->frags = frags;
	cfg->n_frags = n;
	frags = NULL;
	cfg->texts = calloc(n, sizeof(*cfg->texts));
	cfg->text_lens = calloc(n, sizeof(*cfg->text_lens));
	err = cfg->texts && cfg->text_lens ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		/* Borrowed from the files, like the objects. */
		cfg->texts[i] = cfg->frags[i]->text;
		cfg->text_lens[i] = cfg->frags[i]->len;
	}
	cfg->n_texts = err ? 0 : n;
	if (!err)
		err = join(cfg, &p, cfg->frags, n);
	if (err) {
		idg_err(d, pos, "out of memory");
		goto out;
	}
	/* The files' own diagnostics, in file order, as a fresh load. */
	for (size_t i = 0; i < n; i++) {
		const struct idg_cfg_frag *f = cfg->frags[i];

		idg_diags_append(d, &f->d);
		yaml_ok &= f->yaml_ok;
	}
	if (c->extra_expired)
		extra_expire(cfg, c->extra_dir);
	if (yaml_ok) {
		bool patched = false;

		p.idents_checked = idg_config_ident_files_are(cfg, c->checked,
							      c->n_checked);
		if (!p.idents_checked)
			p.idents_checked = patched = idg_ident_keys_patch(
				c->ident_keys, c->checked, c->n_checked, cfg);
		c->idents_patched += patched;
		cfg_check(&p);
		if (!p.idents_checked || patched)
			checked_set(c, cfg, !p.ident_diags, patched);
	}
out:
	cfg_parser_done(&p);
	changes_free(&ch);
	free(fresh);
	if (frags) {
		for (size_t i = 0; i < n; i++)
			frag_unref(frags[i]);
		free(frags);
	}
	free(keep);
	if (err)
		return err;
	return d->n_errors > errors ? -EINVAL : 0;
}

void cfg_frags_release(struct idg_config *cfg)
{
	/* The objects are the files' copies: only the arrays are ours. */
	free(cfg->nodes);
	free(cfg->endpoints);
	free(cfg->policies);
	free(cfg->egw_policies);
	for (size_t i = 0; i < cfg->n_srcs; i++)
		free(cfg->srcs[i]);
	free(cfg->srcs);
	free(cfg->texts);
	free(cfg->text_lens);
	for (size_t i = 0; i < cfg->n_frags; i++)
		frag_unref(cfg->frags[i]);
	free(cfg->frags);
	free(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}

void idg_config_cache_free(struct idg_config_cache *c)
{
	files_drop(c);
	idg_cfg_frags_drop(c->checked, c->n_checked);
	c->checked = NULL;
	c->n_checked = 0;
	idg_keycount_free(c->ident_keys);
	c->ident_keys = NULL;
}

bool idg_cfg_frags_same_nodes(struct idg_cfg_frag *const *a, size_t na,
			      struct idg_cfg_frag *const *b, size_t nb)
{
	size_t i = 0, k = 0;

	for (;;) {
		while (i < na && !a[i]->cfg.n_nodes)
			i++;
		while (k < nb && !b[k]->cfg.n_nodes)
			k++;
		if (i == na || k == nb)
			return i == na && k == nb;
		if (a[i++] != b[k++])
			return false;
	}
}

static bool holds_idents(const struct idg_cfg_frag *f)
{
	return f->cfg.n_nodes || f->cfg.n_endpoints;
}

int idg_config_ident_files(const struct idg_config *cfg,
			   struct idg_cfg_frag ***v, size_t *n)
{
	size_t k = 0;

	*v = NULL;
	*n = 0;
	if (!cfg->n_frags)
		return 0;
	*v = calloc(cfg->n_frags, sizeof(**v));
	if (!*v)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_frags; i++) {
		if (!holds_idents(cfg->frags[i]))
			continue;
		idg_cfg_frag_hold(cfg->frags[i]);
		(*v)[k++] = cfg->frags[i];
	}
	*n = k;
	return 0;
}

bool idg_config_ident_files_are(const struct idg_config *cfg,
				struct idg_cfg_frag *const *v, size_t n)
{
	size_t k = 0;

	if (!cfg->n_frags || !n)
		return false;
	for (size_t i = 0; i < cfg->n_frags; i++) {
		if (!holds_idents(cfg->frags[i]))
			continue;
		if (k == n || cfg->frags[i] != v[k])
			return false;
		k++;
	}
	return k == n;
}

void idg_cfg_frags_drop(struct idg_cfg_frag **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		frag_unref(v[i]);
	free(v);
}

struct idg_cfg_frag *idg_config_file(const struct idg_config *cfg, size_t i)
{
	return i < cfg->n_frags ? cfg->frags[i] : NULL;
}

size_t idg_cfg_frag_policies(const struct idg_cfg_frag *f)
{
	return f->cfg.n_policies;
}

const struct idg_policy *idg_cfg_frag_policy(const struct idg_cfg_frag *f,
					     size_t i)
{
	return i < f->cfg.n_policies ? &f->cfg.policies[i] : NULL;
}

size_t idg_cfg_frag_nodes(const struct idg_cfg_frag *f)
{
	return f->cfg.n_nodes;
}

size_t idg_cfg_frag_endpoints(const struct idg_cfg_frag *f)
{
	return f->cfg.n_endpoints;
}

const struct idg_endpoint *idg_cfg_frag_endpoint(const struct idg_cfg_frag *f,
						 size_t i)
{
	return i < f->cfg.n_endpoints ? &f->cfg.endpoints[i] : NULL;
}

void idg_cfg_frag_hold(struct idg_cfg_frag *f)
{
	f->refs++;
}

void idg_cfg_frag_drop(struct idg_cfg_frag *f)
{
	frag_unref(f);
}

uint64_t idg_config_text_hash(const struct idg_config *cfg, size_t i)
{
	struct idg_cfg_frag *f = i < cfg->n_frags ? cfg->frags[i] : NULL;

	if (!f)
		return idg_hash_final(idg_hash_bytes(IDG_HASH_SEED,
						     cfg->texts[i],
						     cfg->text_lens[i]));
	if (!f->hashed) {
		f->hash = idg_hash_final(idg_hash_bytes(IDG_HASH_SEED, f->text,
							f->len));
		f->hashed = true;
	}
	return f->hash;
}
