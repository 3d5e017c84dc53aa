// SPDX-License-Identifier: GPL-2.0
/*
 * Label sets and Kubernetes label selectors, as Cilium evaluates them
 * against an endpoint's labels.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

const char *idg_labels_get(const struct idg_labels *l, const char *key)
{
	/* Sets are a handful of labels: a scan costs no more than a
	 * bisection and does not trust the order the parser promised. */
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return l->v[i].value;
	return NULL;
}

static bool value_in(const struct idg_sel_expr *e, const char *v)
{
	for (size_t i = 0; i < e->n_values; i++)
		if (!strcmp(e->values[i], v))
			return true;
	return false;
}

static bool expr_matches(const struct idg_sel_expr *e,
			 const struct idg_labels *l)
{
	const char *v = idg_labels_get(l, e->key);

	switch (e->op) {
	case IDG_SEL_IN:
		return v && value_in(e, v);
	case IDG_SEL_NOT_IN:
		/* A missing key is "not in" any set (Kubernetes). */
		return !v || !value_in(e, v);
	case IDG_SEL_EXISTS:
		return v != NULL;
	case IDG_SEL_DOES_NOT_EXIST:
		return v == NULL;
	}
	return false;
}

bool idg_selector_matches(const struct idg_selector *s,
			  const struct idg_labels *l)
{
	for (size_t i = 0; i < s->match_labels.n; i++) {
		const struct idg_label *m = &s->match_labels.v[i];
		const char *v = idg_labels_get(l, m->key);

		if (!v || strcmp(v, m->value))
			return false;
	}
	for (size_t i = 0; i < s->n_exprs; i++)
		if (!expr_matches(&s->exprs[i], l))
			return false;
	return true;
}

bool idg_selector_constrains(const struct idg_selector *s, const char *key)
{
	if (idg_labels_get(&s->match_labels, key))
		return true;
	for (size_t i = 0; i < s->n_exprs; i++)
		if (!strcmp(s->exprs[i].key, key))
			return true;
	return false;
}

void idg_labels_free(struct idg_labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int idg_labels_set(struct idg_labels *l, const char *key, const char *value)
{
	struct idg_label *v;
	char *k = NULL, *val;
	size_t i;

	val = strdup(value);
	if (!val)
		return -ENOMEM;
	for (i = 0; i < l->n; i++) {
		int c = strcmp(l->v[i].key, key);

		if (!c) {
			free(l->v[i].value);
			l->v[i].value = val;
			return 0;
		}
		if (c > 0)
			break;
	}
	k = strdup(key);
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!k || !v) {
		free(k);
		free(val);
		/* realloc failing keeps the old block; success only grows. */
		if (v)
			l->v = v;
		return -ENOMEM;
	}
	l->v = v;
	memmove(&v[i + 1], &v[i], (l->n - i) * sizeof(*v));
	v[i].key = k;
	v[i].value = val;
	l->n++;
	return 0;
}

int idg_labels_copy(struct idg_labels *dst, const struct idg_labels *src)
{
	int err;

	dst->v = NULL;
	dst->n = 0;
	/* Through idg_labels_set so the copy is sorted whatever src is. */
	for (size_t i = 0; i < src->n; i++) {
		err = idg_labels_set(dst, src->v[i].key, src->v[i].value);
		if (err) {
			idg_labels_free(dst);
			return err;
		}
	}
	return 0;
}

static size_t escaped_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += (*s == ',' || *s == '=' || *s == '\\') ? 2 : 1;
	return n;
}

static char *put_escaped(char *p, const char *s)
{
	for (; *s; s++) {
		if (*s == ',' || *s == '=' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	return p;
}

char *idg_labels_canon(const struct idg_labels *l)
{
	size_t len = 1;
	char *s, *p;

	for (size_t i = 0; i < l->n; i++)
		len += escaped_len(l->v[i].key) + escaped_len(l->v[i].value) + 2;
	s = malloc(len);
	if (!s)
		return NULL;
	p = s;
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			*p++ = ',';
		p = put_escaped(p, l->v[i].key);
		if (l->v[i].value[0]) {
			*p++ = '=';
			p = put_escaped(p, l->v[i].value);
		}
	}
	*p = '\0';
	return s;
}
