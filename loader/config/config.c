// SPDX-License-Identifier: GPL-2.0
/*
 * The config: a stream of YAML documents, each one object (Node,
 * Endpoint, Cilium policy), from one file or from every *.yaml file of a
 * directory in name order. This file reads the stream, dispatches each
 * document by kind, and runs the checks that need the whole config.
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_int.h"

/* No real config comes near this; a bigger file is a mistake. */
#define CFG_MAX_FILE (64u << 20)

enum cfg_kind {
	K_NODE,
	K_ENDPOINT,
	K_CNP,
	K_CCNP,
	K_CEGP,
};

static const struct {
	const char *name;
	const char *api;
	const char *api_alt; /* also accepted, or NULL */
} kinds[] = {
	[K_NODE] = { "Node", "idgate.io/v1", NULL },
	[K_ENDPOINT] = { "Endpoint", "idgate.io/v1", NULL },
	[K_CNP] = { "CiliumNetworkPolicy", "cilium.io/v2", NULL },
	[K_CCNP] = { "CiliumClusterwideNetworkPolicy", "cilium.io/v2", NULL },
	[K_CEGP] = { "CiliumEgressGatewayPolicy", "cilium.io/v2",
		     "cilium.io/v2alpha1" },
};

struct cfg_meta {
	char *name;
	char *namespace;
	const yaml_node_t *ns_node;
	struct idg_labels labels;
	struct idg_labels annotations;
};

static void meta_free(struct cfg_meta *m)
{
	free(m->name);
	free(m->namespace);
	idg_labels_free(&m->labels);
	idg_labels_free(&m->annotations);
}

/* Kubernetes object names: keep to what a CLI argument and a label can
 * carry. */
static int object_name(struct cfg_parser *p, const yaml_node_t *n,
		       const char *what, size_t max, char **out)
{
	if (yc_str(p, n, what, out))
		return -EINVAL;
	if (!**out) {
		idg_err(p->d, yc_pos(p, n), "%s must not be empty", what);
		return -EINVAL;
	}
	if (strlen(*out) > max || strcspn(*out, "/ \t\r\n") != strlen(*out)) {
		idg_err(p->d, yc_pos(p, n),
			"%s '%.80s' is not a valid name (at most %zu characters, no '/' or whitespace)",
			what, *out, max);
		return -EINVAL;
	}
	return 0;
}

/* A DNS-1123 label, as Kubernetes names namespaces. */
static bool namespace_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int node_name(struct cfg_parser *p, const yaml_node_t *n, char **out)
{
	if (yc_str(p, n, "metadata.name", out))
		return -EINVAL;
	if (idg_node_name_ok(*out))
		return 0;
	idg_err(p->d, yc_pos(p, n),
		"metadata.name: invalid node name '%.80s' (" IDG_NODE_NAME_RULE ")",
		*out);
	return -EINVAL;
}

static int parse_meta(struct cfg_parser *p, const yaml_node_t *n,
		      enum cfg_kind kind, struct cfg_meta *m)
{
	struct yc_kv name = { 0 }, ns = { 0 }, labels = { 0 }, ann = { 0 };
	const struct yc_field f[] = {
		YC_F("name", &name),
		YC_F("namespace", &ns),
		YC_F("labels", &labels),
		YC_F("annotations", &ann),
	};
	int err = 0;

	if (yc_fields(p, n, "metadata", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (!name.val) {
		yc_missing(p, n, "name", "metadata");
		err = -EINVAL;
	} else if (kind == K_NODE ? node_name(p, name.val, &m->name) :
				    object_name(p, name.val, "metadata.name",
						253, &m->name)) {
		err = -EINVAL;
	}
	if (ns.val) {
		m->ns_node = ns.val;
		if (object_name(p, ns.val, "metadata.namespace", 63,
				&m->namespace))
			err = -EINVAL;
		else if (!namespace_ok(m->namespace)) {
			idg_err(p->d, yc_pos(p, ns.val),
				"metadata.namespace '%.80s' is not a Kubernetes namespace name (1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)",
				m->namespace);
			err = -EINVAL;
		}
	}
	if (labels.val &&
	    cfg_labels(p, labels.val, "metadata.labels", CFG_LBL_LABELS,
		       &m->labels))
		err = -EINVAL;
	if (ann.val &&
	    cfg_labels(p, ann.val, "metadata.annotations", CFG_LBL_ANNOTATIONS,
		       &m->annotations))
		err = -EINVAL;
	return err;
}

static char *take(char **s)
{
	char *v = *s;

	*s = NULL;
	return v;
}

static void not_namespaced(struct cfg_parser *p, const struct cfg_meta *m,
			   const char *kind)
{
	if (m->ns_node)
		idg_err(p->d, yc_pos(p, m->ns_node),
			"metadata.namespace is not allowed: a %s is not namespaced",
			kind);
}

static int default_namespace(struct cfg_parser *p, struct cfg_meta *m,
			     const yaml_node_t *at)
{
	if (m->namespace || m->ns_node)
		return 0;
	m->namespace = strdup("default");
	return m->namespace ? 0 : cfg_oom(p, at);
}

static void add_node(struct cfg_parser *p, const yaml_node_t *root,
		     struct cfg_meta *m, const yaml_node_t *spec)
{
	struct idg_config *cfg = p->cfg;
	struct idg_node *nd = cfg_push(cfg->nodes, cfg->n_nodes);
	const char *gw;

	if (!nd) {
		cfg_oom(p, root);
		return;
	}
	not_namespaced(p, m, "Node");
	nd->pos = yc_pos(p, root);
	nd->name = take(&m->name);
	nd->labels = m->labels;
	nd->annotations = m->annotations;
	memset(&m->labels, 0, sizeof(m->labels));
	memset(&m->annotations, 0, sizeof(m->annotations));
	gw = idg_labels_get(&nd->annotations, IDG_ANNOTATION_GATEWAY);
	if (gw && !(nd->gateway_name = strdup(gw)))
		cfg_oom(p, root);
	if (spec)
		cfg_node_spec(p, spec, nd, cfg->n_nodes - 1);
}

static void add_endpoint(struct cfg_parser *p, const yaml_node_t *root,
			 struct cfg_meta *m, const yaml_node_t *spec)
{
	struct idg_config *cfg = p->cfg;
	struct idg_endpoint *ep = cfg_push(cfg->endpoints, cfg->n_endpoints);

	if (!ep) {
		cfg_oom(p, root);
		return;
	}
	ep->pos = yc_pos(p, root);
	if (default_namespace(p, m, root))
		return;
	ep->name = take(&m->name);
	ep->namespace = take(&m->namespace);
	ep->labels = m->labels;
	memset(&m->labels, 0, sizeof(m->labels));
	if (spec)
		cfg_endpoint_spec(p, spec, ep, cfg->n_endpoints - 1);
}

static void add_policy(struct cfg_parser *p, enum cfg_kind kind,
		       const yaml_node_t *root, struct cfg_meta *m,
		       const yaml_node_t *spec)
{
	struct idg_config *cfg = p->cfg;
	struct idg_policy *pol = cfg_push(cfg->policies, cfg->n_policies);

	if (!pol) {
		cfg_oom(p, root);
		return;
	}
	pol->pos = yc_pos(p, root);
	pol->clusterwide = kind == K_CCNP;
	pol->default_deny[0] = pol->default_deny[1] = -1;
	pol->name = take(&m->name);
	if (pol->clusterwide)
		not_namespaced(p, m, kinds[kind].name);
	else if (default_namespace(p, m, root))
		return;
	else
		pol->namespace = take(&m->namespace);
	if (spec)
		cfg_policy_spec(p, spec, pol);
}

static void add_egw(struct cfg_parser *p, const yaml_node_t *root,
		    struct cfg_meta *m, const yaml_node_t *spec)
{
	struct idg_config *cfg = p->cfg;
	struct idg_egw_policy *egw = cfg_push(cfg->egw_policies,
					      cfg->n_egw_policies);

	if (!egw) {
		cfg_oom(p, root);
		return;
	}
	not_namespaced(p, m, kinds[K_CEGP].name);
	egw->pos = yc_pos(p, root);
	egw->name = take(&m->name);
	if (spec)
		cfg_egw_spec(p, spec, egw, cfg->n_egw_policies - 1);
}

/*
 * Objects are kept even when they have errors, so that references to them
 * (an endpoint's node, a duplicate name) do not cascade into more errors.
 */
static void add_object(struct cfg_parser *p, enum cfg_kind kind,
		       const yaml_node_t *root, struct cfg_meta *m,
		       const yaml_node_t *spec)
{
	switch (kind) {
	case K_NODE:
		add_node(p, root, m, spec);
		break;
	case K_ENDPOINT:
		add_endpoint(p, root, m, spec);
		break;
	case K_CNP:
	case K_CCNP:
		add_policy(p, kind, root, m, spec);
		break;
	case K_CEGP:
		add_egw(p, root, m, spec);
		break;
	}
}

static void parse_document(struct cfg_parser *p, const yaml_node_t *root)
{
	struct yc_kv api = { 0 }, kind = { 0 }, meta = { 0 }, spec = { 0 },
		     specs = { 0 };
	const struct yc_field f[] = {
		YC_F("apiVersion", &api),
		YC_F("kind", &kind),
		YC_F("metadata", &meta),
		YC_F("spec", &spec),
		YC_F("specs", &specs),
	};
	struct cfg_meta m = { 0 };
	const char *k, *a;
	size_t ki;

	if (yc_is_null(root))
		return; /* an empty document */
	if (root->type != YAML_MAPPING_NODE) {
		idg_err(p->d, yc_pos(p, root),
			"a document must be a mapping with apiVersion, kind, metadata and spec");
		return;
	}
	if (yc_fields(p, root, "the document", f, YC_ARRAY_SIZE(f)))
		return;
	if (!kind.val) {
		yc_missing(p, root, "kind", "the document");
		return;
	}
	k = yc_scalar(kind.val);
	for (ki = 0; k && ki < YC_ARRAY_SIZE(kinds); ki++)
		if (!strcmp(k, kinds[ki].name))
			break;
	if (!k || ki == YC_ARRAY_SIZE(kinds)) {
		idg_err(p->d, yc_pos(p, kind.val),
			"unknown kind '%.80s' (expected Node, Endpoint, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy or CiliumEgressGatewayPolicy)",
			k ? k : "");
		return;
	}
	a = yc_scalar(api.val);
	if (!api.val) {
		yc_missing(p, root, "apiVersion", kinds[ki].name);
	} else if (!a || (strcmp(a, kinds[ki].api) &&
			  (!kinds[ki].api_alt || strcmp(a, kinds[ki].api_alt)))) {
		idg_err(p->d, yc_pos(p, api.val),
			"kind %s needs apiVersion %s%s%s, not '%.80s'",
			kinds[ki].name, kinds[ki].api,
			kinds[ki].api_alt ? " or " : "",
			kinds[ki].api_alt ? kinds[ki].api_alt : "", a ? a : "");
	}
	if (specs.val) {
		if (ki == K_CNP || ki == K_CCNP)
			idg_err(p->d, yc_pos(p, specs.key),
				"specs (a list of rules) is not supported: write one policy document per spec");
		else
			idg_err(p->d, yc_pos(p, specs.key),
				"unknown field 'specs' in %s", kinds[ki].name);
	}
	if (!meta.val)
		yc_missing(p, root, "metadata", kinds[ki].name);
	else
		parse_meta(p, meta.val, (enum cfg_kind)ki, &m);
	if (!spec.val && !specs.val)
		yc_missing(p, root, "spec", kinds[ki].name);
	add_object(p, (enum cfg_kind)ki, root, &m, spec.val);
	meta_free(&m);
}

static void yaml_error(struct cfg_parser *p, const yaml_parser_t *yp,
		       const char *text, size_t len)
{
	struct idg_pos pos = { .file = p->file };

	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		idg_err(p->d, pos, "out of memory while reading YAML");
		return;
	case YAML_READER_ERROR:
		/* The reader reports a byte offset, not a mark. */
		pos.line = pos.col = 1;
		for (size_t i = 0; i < yp->problem_offset && i < len; i++) {
			if (text[i] == '\n') {
				pos.line++;
				pos.col = 1;
			} else {
				pos.col++;
			}
		}
		idg_err(p->d, pos, "%s", yp->problem ? yp->problem : "bad input");
		return;
	default:
		break;
	}
	pos.line = (int)yp->problem_mark.line + 1;
	pos.col = (int)yp->problem_mark.column + 1;
	if (yp->context)
		idg_err(p->d, pos, "%s (%s at line %d, column %d)",
			yp->problem ? yp->problem : "invalid YAML", yp->context,
			(int)yp->context_mark.line + 1,
			(int)yp->context_mark.column + 1);
	else
		idg_err(p->d, pos, "%s",
			yp->problem ? yp->problem : "invalid YAML");
}

/* Reads the stream; false when YAML itself was broken. */
static bool parse_stream(struct cfg_parser *p, const char *text, size_t len)
{
	struct yc_composer *comp = yc_composer_new();
	yaml_parser_t yp;
	yaml_document_t doc;
	bool ok = true;

	if (!comp || !yaml_parser_initialize(&yp)) {
		idg_err(p->d, (struct idg_pos){ .file = p->file },
			"out of memory");
		yc_composer_free(comp);
		return false;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	for (;;) {
		yaml_node_t *root;

		if (!yc_compose(comp, &yp, &doc)) {
			yaml_error(p, &yp, text, len);
			ok = false;
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root)
			break; /* the end of the stream */
		p->doc = &doc;
		if (!yc_prepare(p))
			parse_document(p, root);
		p->doc = NULL;
	}
	yc_composer_free(comp);
	yaml_parser_delete(&yp);
	return ok;
}

void cfg_parser_done(struct cfg_parser *p)
{
	free(p->ep_node);
	free(p->node_cid);
	free(p->gw_name);
}

static int parse(struct idg_config *cfg, struct idg_diags *d,
		 const char *text, size_t len)
{
	size_t errors = d->n_errors;
	struct cfg_parser p = { .cfg = cfg, .d = d };

	p.file = cfg->file;
	if (parse_stream(&p, text, len))
		cfg_check(&p);
	cfg_parser_done(&p);
	return d->n_errors > errors ? -EINVAL : 0;
}

int cfg_start(struct idg_config *cfg, struct idg_diags *d, const char *name)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->file = strdup(name);
	if (!cfg->file) {
		idg_err(d, (struct idg_pos){ 0 }, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int idg_config_load_string(const char *name, const char *text,
			   struct idg_config *cfg, struct idg_diags *d)
{
	int err = cfg_start(cfg, d, name ? name : "<string>");

	if (err)
		return err;
	return parse(cfg, d, text ? text : "", text ? strlen(text) : 0);
}

/* The whole of f, NUL-terminated, in *out (length *len). Errors are
 * reported at pos. */
static int read_all(FILE *f, struct idg_pos pos, struct idg_diags *d,
		    char **out, size_t *out_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	struct stat sb;
	int err = 0;

	/* A regular file is read into a buffer of its size at once. */
	if (!fstat(fileno(f), &sb) && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
	    (uint64_t)sb.st_size < CFG_MAX_FILE) {
		cap = (size_t)sb.st_size + 1; /* one more: EOF needs no growth */
		buf = malloc(cap + 1);
		if (!buf) {
			idg_err(d, pos, "out of memory");
			return -ENOMEM;
		}
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			char *nb;

			if (cap >= CFG_MAX_FILE) {
				idg_err(d, pos, "file larger than %u MiB",
					CFG_MAX_FILE >> 20);
				err = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				idg_err(d, pos, "out of memory");
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		errno = 0;
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got)
			continue;
		if (ferror(f)) {
			err = errno ? -errno : -EIO;
			idg_err(d, pos, "cannot read: %s", strerror(-err));
			goto out;
		}
		break;
	}
out:
	if (err) {
		free(buf);
		return err;
	}
	if (!buf && !(buf = malloc(1))) {
		idg_err(d, pos, "out of memory");
		return -ENOMEM;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

int cfg_read_file(const char *path, struct idg_pos pos, struct idg_diags *d,
		  char **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	int err;

	if (!f) {
		err = -errno;
		idg_err(d, pos, "cannot open: %s", strerror(-err));
		return err;
	}
	err = read_all(f, pos, d, out, out_len);
	fclose(f);
	return err;
}

void cfg_parse_text(struct cfg_parser *p, const char *file, const char *text,
		    size_t len, bool *yaml_ok)
{
	p->file = file;
	if (!parse_stream(p, text, len))
		*yaml_ok = false;
}

/* Keeps text (taken over) as the config's source i: what was parsed is
 * what an apply saves, whatever the file holds by then. */
static int keep_text(struct idg_config *cfg, size_t i, char *text, size_t len)
{
	if (!cfg->texts) {
		size_t n = cfg->n_srcs ? cfg->n_srcs : 1;

		cfg->texts = calloc(n, sizeof(*cfg->texts));
		cfg->text_lens = calloc(n, sizeof(*cfg->text_lens));
		if (!cfg->texts || !cfg->text_lens) {
			free(text);
			return -ENOMEM;
		}
		cfg->n_texts = n;
	}
	cfg->texts[i] = text;
	cfg->text_lens[i] = len;
	return 0;
}

/* Reads path and runs it through the parser p (positions name file),
 * keeping its text as source i. *yaml_ok turns false when the YAML
 * itself is broken. */
static int parse_file(struct cfg_parser *p, const char *path,
		      const char *file, size_t i, bool *yaml_ok)
{
	struct idg_pos pos = { .file = file };
	size_t len = 0;
	char *buf = NULL;
	int err;

	err = cfg_read_file(path, pos, p->d, &buf, &len);
	if (err)
		return err;
	cfg_parse_text(p, file, buf, len, yaml_ok);
	err = keep_text(p->cfg, i, buf, len);
	if (err)
		idg_err(p->d, pos, "out of memory");
	return err;
}

/* A config file of a directory: *.yaml, not hidden (editors' swap and
 * backup files are, or end otherwise). */
static bool dir_wants(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && !strcmp(name + n - 5, ".yaml");
}

bool idg_config_dir_wants(const char *name)
{
	return dir_wants(name);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.yaml files of dir, as "dir/name", in bytewise name order, in
 * *out (n_out of them; the caller frees each and the array). Errors are
 * reported at pos. */
static int dir_list(const char *dir, struct idg_pos pos, struct idg_diags *d,
		    char ***out, size_t *n_out)
{
	char **srcs = NULL;
	size_t n_srcs = 0;
	const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
	struct dirent *e;
	int err = 0;
	DIR *dh;

	dh = opendir(dir);
	if (!dh) {
		err = -errno;
		idg_err(d, pos, "cannot open: %s", strerror(-err));
		return err;
	}
	while ((errno = 0, e = readdir(dh))) {
		size_t n = strlen(e->d_name);
		char **v, *path;
		struct stat st;

		if (!dir_wants(e->d_name)) {
			if (e->d_name[0] != '.' && n > 4 &&
			    !strcmp(e->d_name + n - 4, ".yml"))
				idg_warn(d, pos,
					 "%s ignored: a config directory is read from its *.yaml files",
					 e->d_name);
			continue;
		}
		if (asprintf(&path, "%s%s%s", dir, sep, e->d_name) < 0) {
			err = -ENOMEM;
			idg_err(d, pos, "out of memory");
			break;
		}
		/* Directories and the like named *.yaml are not config
		 * (the listing's type says so for most, without a stat). */
		if (e->d_type != DT_REG &&
		    (stat(path, &st) || !S_ISREG(st.st_mode))) {
			/* Gone since readdir: not ours; a link to nothing is
			 * likely a mistake worth a word. */
			if (errno != ENOENT)
				idg_warn(d, pos, "%s ignored: not a regular file",
					 e->d_name);
			else if (!lstat(path, &st) && S_ISLNK(st.st_mode))
				idg_warn(d, pos, "%s ignored: a symlink to nothing",
					 e->d_name);
			free(path);
			continue;
		}
		v = cfg_grow(srcs, n_srcs, sizeof(*v));
		if (!v) {
			free(path);
			err = -ENOMEM;
			idg_err(d, pos, "out of memory");
			break;
		}
		srcs = v;
		srcs[n_srcs++] = path;
	}
	if (!err && errno) {
		err = -errno;
		idg_err(d, pos, "cannot read the directory: %s",
			strerror(-err));
	}
	closedir(dh);
	if (err) {
		for (size_t i = 0; i < n_srcs; i++)
			free(srcs[i]);
		free(srcs);
		return err;
	}
	if (n_srcs)
		qsort(srcs, n_srcs, sizeof(*srcs), name_cmp);
	*out = srcs;
	*n_out = n_srcs;
	return 0;
}

int cfg_dir_sources(struct idg_config *cfg, struct idg_diags *d)
{
	struct idg_pos pos = { .file = cfg->file };
	int err;

	cfg->dir = true;
	err = dir_list(cfg->file, pos, d, &cfg->srcs, &cfg->n_srcs);
	if (!err && !cfg->n_srcs) {
		idg_err(d, pos, "no *.yaml files in this directory");
		err = -EINVAL;
	}
	return err;
}

int cfg_dir_sources_extra(struct idg_config *cfg, struct idg_diags *d,
			  const char *dir)
{
	struct idg_pos pos = { .file = dir };
	char **more = NULL, **v;
	size_t n = 0;
	struct stat st;
	int err;

	/* Nothing there yet is nothing to add. */
	if (stat(dir, &st) && errno == ENOENT)
		return 0;
	err = dir_list(dir, pos, d, &more, &n);
	if (err || !n) {
		free(more);
		return err;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < cfg->n_srcs; k++)
			if (!strcmp(strrchr(more[i], '/'), strrchr(cfg->srcs[k], '/'))) {
				idg_err(d, pos, "%s: the config directory has a file of that name",
					strrchr(more[i], '/') + 1);
				err = -EINVAL;
			}
	v = err ? NULL : realloc(cfg->srcs, (cfg->n_srcs + n + 1) * sizeof(*v));
	if (!v) {
		if (!err)
			idg_err(d, pos, "out of memory");
		for (size_t i = 0; i < n; i++)
			free(more[i]);
		free(more);
		return err ? err : -ENOMEM;
	}
	memcpy(v + cfg->n_srcs, more, n * sizeof(*v));
	free(more);
	cfg->srcs = v;
	cfg->n_srcs += n;
	/* One order for the whole list: the cache walks it against the
	 * last load's (config_cache.c, changes_find). */
	qsort(cfg->srcs, cfg->n_srcs, sizeof(*cfg->srcs), name_cmp);
	return 0;
}

int idg_config_load(const char *path, struct idg_config *cfg,
		    struct idg_diags *d)
{
	size_t errors = d->n_errors, n = 1;
	struct cfg_parser p = { .cfg = cfg, .d = d };
	bool yaml_ok = true;
	struct stat st;
	int err = cfg_start(cfg, d, path);

	if (!err && !stat(path, &st) && S_ISDIR(st.st_mode)) {
		err = cfg_dir_sources(cfg, d);
		n = cfg->n_srcs;
	}
	for (size_t i = 0; i < n && !err; i++)
		err = cfg->dir ? parse_file(&p, cfg->srcs[i], cfg->srcs[i], i,
					    &yaml_ok) :
				 parse_file(&p, path, cfg->file, 0, &yaml_ok);
	if (!err && yaml_ok)
		cfg_check(&p);
	cfg_parser_done(&p);
	if (err)
		return err;
	return d->n_errors > errors ? -EINVAL : 0;
}

void idg_config_free(struct idg_config *cfg)
{
	if (!cfg)
		return;
	if (cfg->frags) {
		cfg_frags_release(cfg);
		return;
	}
	for (size_t i = 0; i < cfg->n_nodes; i++)
		cfg_node_free(&cfg->nodes[i]);
	free(cfg->nodes);
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		cfg_endpoint_free(&cfg->endpoints[i]);
	free(cfg->endpoints);
	for (size_t i = 0; i < cfg->n_policies; i++)
		cfg_policy_free(&cfg->policies[i]);
	free(cfg->policies);
	for (size_t i = 0; i < cfg->n_egw_policies; i++)
		cfg_egw_free(&cfg->egw_policies[i]);
	free(cfg->egw_policies);
	for (size_t i = 0; i < cfg->n_srcs; i++)
		free(cfg->srcs[i]);
	free(cfg->srcs);
	for (size_t i = 0; i < cfg->n_texts; i++)
		free(cfg->texts[i]);
	free(cfg->texts);
	free(cfg->text_lens);
	free(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}

const struct idg_node *idg_config_node(const struct idg_config *cfg,
				       const char *name)
{
	for (size_t i = 0; name && i < cfg->n_nodes; i++)
		if (cfg->nodes[i].name && !strcmp(cfg->nodes[i].name, name))
			return &cfg->nodes[i];
	return NULL;
}
