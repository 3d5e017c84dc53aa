// SPDX-License-Identifier: GPL-2.0
/*
 * libyaml document helpers for the config parser: positions, a clean-up
 * pass over each document, typed access to fields and scalars.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* Far above any real config document, far below what hurts. */
#define YC_MAX_DEPTH 128
#define YC_MAX_EXPANDED (1u << 20)

struct idg_pos yc_pos(const struct cfg_parser *p, const yaml_node_t *n)
{
	struct idg_pos pos = { .file = p->file };

	if (n) {
		pos.line = (int)n->start_mark.line + 1;
		pos.col = (int)n->start_mark.column + 1;
	}
	return pos;
}

yaml_node_t *yc_node(const struct cfg_parser *p, int idx)
{
	return yaml_document_get_node(p->doc, idx);
}

const char *yc_scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

bool yc_is_null(const yaml_node_t *n)
{
	const char *s = yc_scalar(n);

	if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *yc_kind(const yaml_node_t *n)
{
	if (!n)
		return "nothing";
	if (yc_is_null(n))
		return "null";
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

bool yc_is_map(struct cfg_parser *p, const yaml_node_t *n, const char *what)
{
	if (n && n->type == YAML_MAPPING_NODE)
		return true;
	idg_err(p->d, yc_pos(p, n), "%s: expected a mapping, got %s", what,
		yc_kind(n));
	return false;
}

bool yc_is_seq(struct cfg_parser *p, const yaml_node_t *n, const char *what)
{
	if (n && n->type == YAML_SEQUENCE_NODE)
		return true;
	idg_err(p->d, yc_pos(p, n), "%s: expected a list, got %s", what,
		yc_kind(n));
	return false;
}

size_t yc_seq_len(const yaml_node_t *n)
{
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

yaml_node_t *yc_seq_item(const struct cfg_parser *p, const yaml_node_t *n,
			 size_t i)
{
	return yc_node(p, n->data.sequence.items.start[i]);
}

static bool yc_key_eq(const yaml_node_t *a, const yaml_node_t *b)
{
	return a->data.scalar.length == b->data.scalar.length &&
	       !memcmp(a->data.scalar.value, b->data.scalar.value,
		       a->data.scalar.length);
}

struct yc_key {
	const yaml_node_t *key;
	size_t idx; /* position in the mapping */
};

static int yc_key_cmp(const void *a, const void *b)
{
	const struct yc_key *ka = a, *kb = b;
	size_t la = ka->key->data.scalar.length, lb = kb->key->data.scalar.length;
	int c = memcmp(ka->key->data.scalar.value, kb->key->data.scalar.value,
		       la < lb ? la : lb);

	if (c)
		return c;
	if (la != lb)
		return la < lb ? -1 : 1;
	/* Equal keys stay in document order: the first one is kept. */
	return ka->idx < kb->idx ? -1 : ka->idx > kb->idx;
}

/* The common case, a small mapping of distinct scalar keys, checked
 * without allocating; anything else takes the reporting path below. */
static bool yc_map_clean(struct cfg_parser *p, const yaml_node_t *map)
{
	const yaml_node_pair_t *start = map->data.mapping.pairs.start;
	size_t n = map->data.mapping.pairs.top - start;

	if (n > 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *k = yc_node(p, start[i].key);

		if (!k || k->type != YAML_SCALAR_NODE)
			return false;
		for (size_t j = 0; j < i; j++)
			if (yc_key_eq(yc_node(p, start[j].key), k))
				return false;
	}
	return true;
}

/*
 * Drops non-scalar and repeated keys of one mapping after reporting them,
 * so every later lookup sees each key once.
 */
static int yc_clean_map(struct cfg_parser *p, yaml_node_t *map)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;
	size_t n = map->data.mapping.pairs.top - start, n_keys = 0, out = 0;
	struct yc_key *keys;
	bool *drop;

	if (!n || yc_map_clean(p, map))
		return 0;
	keys = calloc(n, sizeof(*keys));
	drop = calloc(n, sizeof(*drop));
	if (!keys || !drop) {
		free(keys);
		free(drop);
		return cfg_oom(p, map);
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *k = yc_node(p, start[i].key);

		if (!k || k->type != YAML_SCALAR_NODE) {
			idg_err(p->d, yc_pos(p, k),
				"mapping keys must be strings, got %s",
				yc_kind(k));
			drop[i] = true;
			continue;
		}
		keys[n_keys++] = (struct yc_key){ k, i };
	}
	qsort(keys, n_keys, sizeof(*keys), yc_key_cmp);
	for (size_t i = 1, head = 0; i < n_keys; i++) {
		if (!yc_key_eq(keys[head].key, keys[i].key)) {
			head = i;
			continue;
		}
		idg_err(p->d, yc_pos(p, keys[i].key),
			"duplicate key '%.80s' (first given at line %d)",
			yc_scalar(keys[i].key), yc_pos(p, keys[head].key).line);
		drop[keys[i].idx] = true;
	}
	for (size_t i = 0; i < n; i++)
		if (!drop[i])
			start[out++] = start[i];
	map->data.mapping.pairs.top = start + out;
	free(keys);
	free(drop);
	return 0;
}

struct yc_walk {
	uint8_t *state; /* 0 new, 1 being expanded, 2 done */
	uint32_t *size; /* nodes after alias expansion, saturated */
	bool failed;
};

/*
 * Aliases share nodes in libyaml's tree, so a small document can expand
 * to billions of nodes, or refer to itself. Measure before walking.
 */
static uint32_t yc_expand(struct cfg_parser *p, struct yc_walk *w, int idx,
			  int depth)
{
	yaml_node_t *n = yc_node(p, idx);
	uint64_t total = 1;
	int i = idx - 1;

	if (!n || w->failed)
		return 1;
	if (w->state[i] == 2)
		return w->size[i];
	if (w->state[i] == 1) {
		idg_err(p->d, yc_pos(p, n), "alias refers to itself");
		w->failed = true;
		return 1;
	}
	if (depth > YC_MAX_DEPTH) {
		idg_err(p->d, yc_pos(p, n), "nested more than %d levels deep",
			YC_MAX_DEPTH);
		w->failed = true;
		return 1;
	}
	w->state[i] = 1;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top && !w->failed; it++)
			total += yc_expand(p, w, *it, depth + 1);
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		     pr < n->data.mapping.pairs.top && !w->failed; pr++) {
			total += yc_expand(p, w, pr->key, depth + 1);
			total += yc_expand(p, w, pr->value, depth + 1);
		}
	}
	if (total > YC_MAX_EXPANDED && !w->failed) {
		idg_err(p->d, yc_pos(p, n),
			"aliases expand this document to more than %u nodes",
			YC_MAX_EXPANDED);
		w->failed = true;
	}
	w->state[i] = 2;
	w->size[i] = total > YC_MAX_EXPANDED ? YC_MAX_EXPANDED + 1 : total;
	return w->size[i];
}

int yc_prepare(struct cfg_parser *p)
{
	yaml_document_t *doc = p->doc;
	size_t n = doc->nodes.top - doc->nodes.start;
	struct yc_walk w = { 0 };
	int err = 0;

	for (size_t i = 0; i < n; i++)
		if (doc->nodes.start[i].type == YAML_MAPPING_NODE) {
			err = yc_clean_map(p, &doc->nodes.start[i]);
			if (err)
				return err;
		}
	w.state = calloc(n ? n : 1, sizeof(*w.state));
	w.size = calloc(n ? n : 1, sizeof(*w.size));
	if (!w.state || !w.size) {
		err = cfg_oom(p, NULL);
		goto out;
	}
	yc_expand(p, &w, 1, 0);
	if (w.failed)
		err = -EINVAL;
out:
	free(w.state);
	free(w.size);
	return err;
}

int yc_fields(struct cfg_parser *p, const yaml_node_t *map, const char *where,
	      const struct yc_field *f, size_t n)
{
	if (!yc_is_map(p, map, where))
		return -EINVAL;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	     pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yc_node(p, pr->key);
		const char *key = yc_scalar(k);
		size_t i;

		for (i = 0; i < n; i++)
			if (!strcmp(key, f[i].name))
				break;
		if (i == n) {
			if (!strcmp(key, "<<"))
				idg_err(p->d, yc_pos(p, k),
					"YAML merge keys (<<) are not supported in %s",
					where);
			else
				idg_err(p->d, yc_pos(p, k),
					"unknown field '%.80s' in %s", key,
					where);
			continue;
		}
		if (!f[i].out) {
			idg_err(p->d, yc_pos(p, k), "%s %s", f[i].name,
				f[i].reject);
			continue;
		}
		f[i].out->key = k;
		f[i].out->val = yc_node(p, pr->value);
	}
	return 0;
}

void yc_missing(struct cfg_parser *p, const yaml_node_t *map,
		const char *field, const char *where)
{
	idg_err(p->d, yc_pos(p, map), "missing field '%s' in %s", field, where);
}

static int yc_str_common(struct cfg_parser *p, const yaml_node_t *n,
			 const char *what, bool null_ok, char **out)
{
	const char *s = yc_scalar(n);

	*out = NULL;
	if (null_ok && yc_is_null(n))
		s = "";
	else if (!s || yc_is_null(n)) {
		idg_err(p->d, yc_pos(p, n), "%s: expected a string, got %s",
			what, yc_kind(n));
		return -EINVAL;
	} else if (strlen(s) != n->data.scalar.length) {
		idg_err(p->d, yc_pos(p, n), "%s: string contains a NUL byte",
			what);
		return -EINVAL;
	}
	*out = strdup(s);
	return *out ? 0 : cfg_oom(p, n);
}

int yc_str(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	   char **out)
{
	return yc_str_common(p, n, what, false, out);
}

int yc_str_empty(struct cfg_parser *p, const yaml_node_t *n, const char *what,
		 char **out)
{
	return yc_str_common(p, n, what, true, out);
}

int yc_int(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	   long long min, long long max, bool allow_quoted, long long *out)
{
	const char *s = yc_scalar(n), *q;
	long long v;
	char *end;

	if (!s || yc_is_null(n) ||
	    (!allow_quoted && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE))
		goto bad;
	q = s + (*s == '-' || *s == '+');
	if (!*q)
		goto bad;
	for (const char *c = q; *c; c++)
		if (*c < '0' || *c > '9')
			goto bad;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		idg_err(p->d, yc_pos(p, n), "%s %.40s out of range %lld..%lld",
			what, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
bad:
	if (s && !yc_is_null(n))
		idg_err(p->d, yc_pos(p, n),
			"%s: expected an integer, got '%.80s'", what, s);
	else
		idg_err(p->d, yc_pos(p, n), "%s: expected an integer, got %s",
			what, yc_kind(n));
	return -EINVAL;
}

int yc_bool(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	    bool *out)
{
	const char *s = yc_scalar(n);

	if (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (!strcmp(s, "true") || !strcmp(s, "True") ||
		    !strcmp(s, "TRUE")) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, "false") || !strcmp(s, "False") ||
		    !strcmp(s, "FALSE")) {
			*out = false;
			return 0;
		}
	}
	idg_err(p->d, yc_pos(p, n), "%s: expected a boolean (true or false)",
		what);
	return -EINVAL;
}

void *cfg_grow(void *v, size_t n, size_t elem)
{
	/* The capacity is n rounded up to a power of two: full at powers. */
	if (n && (n & (n - 1)))
		return v;
	if (n > SIZE_MAX / 2)
		return NULL;
	return reallocarray(v, n ? n * 2 : 1, elem);
}

int cfg_oom(struct cfg_parser *p, const yaml_node_t *n)
{
	idg_err(p->d, yc_pos(p, n), "out of memory");
	return -ENOMEM;
}

int cfg_add_ref(struct cfg_parser *p, struct cfg_ref **v, size_t *n,
		size_t idx, size_t sub, const yaml_node_t *at)
{
	struct cfg_ref *r = cfg_push(*v, *n);

	if (!r)
		return cfg_oom(p, at);
	r->idx = idx;
	r->sub = sub;
	r->pos = yc_pos(p, at);
	return 0;
}
