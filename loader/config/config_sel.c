// SPDX-License-Identifier: GPL-2.0
/*
 * Label maps, Kubernetes label selectors and IP prefixes as they appear
 * in the config.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

void cfg_selector_free(struct idg_selector *s)
{
	idg_labels_free(&s->match_labels);
	for (size_t i = 0; i < s->n_exprs; i++) {
		struct idg_sel_expr *e = &s->exprs[i];

		free(e->key);
		for (size_t j = 0; j < e->n_values; j++)
			free(e->values[j]);
		free(e->values);
	}
	free(s->exprs);
	s->exprs = NULL;
	s->n_exprs = 0;
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct idg_label *)a)->key,
		      ((const struct idg_label *)b)->key);
}

/*
 * Cilium selectors may name a label source ("k8s:app"). Every idgate
 * label comes from the config, so only the sources that mean "this
 * label" are accepted; returns the key without its source, or NULL.
 */
static const char *sel_key(struct cfg_parser *p, const yaml_node_t *n,
			   const char *key, const char *what)
{
	const char *colon = strchr(key, ':');
	const char *bare = colon ? colon + 1 : key;

	if (colon) {
		size_t len = colon - key;

		if (len == 8 && !strncmp(key, "reserved", len)) {
			idg_err(p->d, yc_pos(p, n),
				"%s: label '%.80s' names a reserved identity: use fromEntities/toEntities (e.g. '%.40s') instead",
				what, key, bare);
			return NULL;
		}
		if (!(len == 3 && (!strncmp(key, "k8s", 3) ||
				   !strncmp(key, "any", 3)))) {
			idg_err(p->d, yc_pos(p, n),
				"%s: label source '%.*s' in '%.80s' is not supported (only k8s: and any:)",
				what, (int)(len > 40 ? 40 : len), key, key);
			return NULL;
		}
	}
	if (!*bare) {
		idg_err(p->d, yc_pos(p, n), "%s: empty label key", what);
		return NULL;
	}
	return bare;
}

/* A label value's, or a label key's name part's, characters and ends. */
static bool label_word_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && ((c != '-' && c != '_' && c != '.') || i == 0 ||
			       i == n - 1))
			return false;
	}
	return true;
}

/*
 * Kubernetes' rules, which Cilium's API applies to every label and
 * selector: a key is a name of 1-63 characters, optionally after a DNS
 * subdomain prefix and '/'; a value is empty or like a name. NULL when
 * s is fine, else what is wrong.
 */
static const char *label_key_problem(const char *key)
{
	const char *slash = strchr(key, '/');
	const char *name = slash ? slash + 1 : key;
	size_t n = strlen(name);
	char prefix[IDG_NODE_NAME_MAX + 1];

	if (slash) {
		size_t pl = (size_t)(slash - key);

		if (!pl || pl > IDG_NODE_NAME_MAX)
			return "its prefix (before '/') must be a DNS subdomain of 1-253 characters";
		memcpy(prefix, key, pl);
		prefix[pl] = 0;
		if (!idg_node_name_ok(prefix))
			return "its prefix (before '/') must be a DNS subdomain: a-z, 0-9, '-' and '.', each dot-separated part starting and ending with a letter or digit";
	}
	if (!n || n > 63 || !label_word_ok(name, n))
		return "its name must be 1-63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit (one '/' at most, after an optional DNS prefix)";
	return NULL;
}

static const char *label_value_problem(const char *v)
{
	size_t n = strlen(v);

	if (n > 63 || !label_word_ok(v, n))
		return "a value is empty or 1-63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit";
	return NULL;
}

static bool label_key_check(struct cfg_parser *p, const yaml_node_t *n,
			    const char *what, const char *key)
{
	const char *why = label_key_problem(key);

	if (why)
		idg_err(p->d, yc_pos(p, n), "%s: label key '%.80s' is not valid in Kubernetes: %s",
			what, key, why);
	return !why;
}

static bool label_value_check(struct cfg_parser *p, const yaml_node_t *n,
			      const char *what, const char *key,
			      const char *value)
{
	const char *why = label_value_problem(value);

	if (why)
		idg_err(p->d, yc_pos(p, n), "%s: value '%.80s' of label '%.80s' is not valid in Kubernetes: %s",
			what, value, key, why);
	return !why;
}

static int labels_parse(struct cfg_parser *p, const yaml_node_t *n,
			const char *what, enum cfg_lbl_kind kind,
			struct idg_labels *out)
{
	bool selector = kind == CFG_LBL_SELECTOR;
	int err = 0;

	if (yc_is_null(n))
		return 0;
	if (!yc_is_map(p, n, what))
		return -EINVAL;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yc_node(p, pr->key);
		const char *key = yc_scalar(k);
		struct idg_label *l;
		char *value;

		if (selector && !(key = sel_key(p, k, key, what))) {
			err = -EINVAL;
			continue;
		}
		if (!*key) {
			idg_err(p->d, yc_pos(p, k), "%s: empty label key", what);
			err = -EINVAL;
			continue;
		}
		if (!label_key_check(p, k, what, key)) {
			err = -EINVAL;
			continue;
		}
		if (yc_str_empty(p, yc_node(p, pr->value), what, &value)) {
			err = -EINVAL;
			continue;
		}
		if (kind != CFG_LBL_ANNOTATIONS &&
		    !label_value_check(p, yc_node(p, pr->value), what, key,
				       value)) {
			free(value);
			err = -EINVAL;
			continue;
		}
		l = cfg_push(out->v, out->n);
		if (!l || !(l->key = strdup(key))) {
			free(value);
			return cfg_oom(p, k);
		}
		l->value = value;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), label_cmp);
	/* Only prefix stripping can make keys equal here. */
	for (size_t i = 1; i < out->n; i++)
		if (!strcmp(out->v[i - 1].key, out->v[i].key)) {
			idg_err(p->d, yc_pos(p, n),
				"%s: label '%.80s' given twice (with and without a source prefix)",
				what, out->v[i].key);
			err = -EINVAL;
		}
	return err;
}

int cfg_labels(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	       enum cfg_lbl_kind kind, struct idg_labels *out)
{
	return labels_parse(p, n, what, kind, out);
}

static int sel_op(struct cfg_parser *p, const yaml_node_t *n,
		  enum idg_sel_op *op)
{
	static const struct {
		const char *name;
		enum idg_sel_op op;
	} ops[] = {
		{ "In", IDG_SEL_IN },
		{ "NotIn", IDG_SEL_NOT_IN },
		{ "Exists", IDG_SEL_EXISTS },
		{ "DoesNotExist", IDG_SEL_DOES_NOT_EXIST },
	};
	const char *s = yc_scalar(n);

	if (!s || yc_is_null(n)) {
		idg_err(p->d, yc_pos(p, n),
			"matchExpressions operator: expected a string");
		return -EINVAL;
	}
	for (size_t i = 0; i < YC_ARRAY_SIZE(ops); i++)
		if (!strcmp(s, ops[i].name)) {
			*op = ops[i].op;
			return 0;
		}
	idg_err(p->d, yc_pos(p, n),
		"unknown matchExpressions operator '%.40s' (operators are case-sensitive: In, NotIn, Exists, DoesNotExist)",
		s);
	return -EINVAL;
}

static int sel_expr(struct cfg_parser *p, const yaml_node_t *n,
		    const char *what, struct idg_selector *s)
{
	struct yc_kv key = { 0 }, op = { 0 }, values = { 0 };
	const struct yc_field f[] = {
		YC_F("key", &key),
		YC_F("operator", &op),
		YC_F("values", &values),
	};
	struct idg_sel_expr *e;
	const char *bare;
	bool want_values;
	int err = 0;

	if (yc_fields(p, n, "matchExpressions", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	e = cfg_push(s->exprs, s->n_exprs);
	if (!e)
		return cfg_oom(p, n);
	e->pos = yc_pos(p, n);
	if (!key.val) {
		yc_missing(p, n, "key", "matchExpressions");
		err = -EINVAL;
	} else if (!yc_scalar(key.val) || yc_is_null(key.val)) {
		idg_err(p->d, yc_pos(p, key.val),
			"matchExpressions key: expected a string");
		err = -EINVAL;
	} else if (!(bare = sel_key(p, key.val, yc_scalar(key.val), what)) ||
		   !label_key_check(p, key.val, "matchExpressions key", bare)) {
		err = -EINVAL;
	} else if (!(e->key = strdup(bare))) {
		return cfg_oom(p, n);
	}
	if (!op.val) {
		yc_missing(p, n, "operator", "matchExpressions");
		return -EINVAL;
	}
	if (sel_op(p, op.val, &e->op))
		return -EINVAL;
	want_values = e->op == IDG_SEL_IN || e->op == IDG_SEL_NOT_IN;
	if (values.val && yc_is_null(values.val))
		values.val = NULL;
	if (!want_values) {
		if (values.val && (values.val->type != YAML_SEQUENCE_NODE ||
				   yc_seq_len(values.val))) {
			idg_err(p->d, yc_pos(p, values.val),
				"matchExpressions operator %s takes no values",
				yc_scalar(op.val));
			err = -EINVAL;
		}
		return err;
	}
	if (!values.val || (values.val->type == YAML_SEQUENCE_NODE &&
			    !yc_seq_len(values.val))) {
		idg_err(p->d, yc_pos(p, values.val ? values.val : n),
			"matchExpressions operator %s needs a non-empty values list",
			yc_scalar(op.val));
		return -EINVAL;
	}
	if (!yc_is_seq(p, values.val, "matchExpressions values"))
		return -EINVAL;
	e->values = calloc(yc_seq_len(values.val), sizeof(*e->values));
	if (!e->values)
		return cfg_oom(p, n);
	for (size_t i = 0; i < yc_seq_len(values.val); i++) {
		char *v;

		if (yc_str_empty(p, yc_seq_item(p, values.val, i),
				 "matchExpressions values", &v)) {
			err = -EINVAL;
			continue;
		}
		if (!label_value_check(p, yc_seq_item(p, values.val, i),
				       "matchExpressions values",
				       e->key ? e->key : "?", v)) {
			free(v);
			err = -EINVAL;
			continue;
		}
		e->values[e->n_values++] = v;
	}
	return err;
}

int cfg_selector(struct cfg_parser *p, const yaml_node_t *n,
		 const char *what, struct idg_selector *out)
{
	struct yc_kv labels = { 0 }, exprs = { 0 };
	const struct yc_field f[] = {
		YC_F("matchLabels", &labels),
		YC_F("matchExpressions", &exprs),
	};
	int err = 0;

	out->pos = yc_pos(p, n);
	if (yc_fields(p, n, what, f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (labels.val &&
	    labels_parse(p, labels.val, "matchLabels", CFG_LBL_SELECTOR,
			 &out->match_labels))
		err = -EINVAL;
	if (!exprs.val || yc_is_null(exprs.val))
		return err;
	if (!yc_is_seq(p, exprs.val, "matchExpressions"))
		return -EINVAL;
	for (size_t i = 0; i < yc_seq_len(exprs.val); i++)
		if (sel_expr(p, yc_seq_item(p, exprs.val, i), what, out))
			err = -EINVAL;
	return err;
}

const char *idg_cidr_str(const struct idg_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family == IDG_FAM_IPV4 ? AF_INET : AF_INET6, c->addr, a,
		  sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->plen);
	return buf;
}

static unsigned int fam_bits(int family)
{
	return family == IDG_FAM_IPV4 ? 32 : 128;
}

/* Clears the host bits; true when some were set. */
static bool cidr_mask(struct idg_cidr *c)
{
	bool had = false;

	for (unsigned int bit = c->plen; bit < fam_bits(c->family); bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		if (c->addr[bit / 8] & m) {
			had = true;
			c->addr[bit / 8] &= (uint8_t)~m;
		}
	}
	return had;
}

static int parse_prefix(struct cfg_parser *p, const yaml_node_t *n,
			const char *what, bool allow_len, struct idg_cidr *out)
{
	const char *s = yc_scalar(n), *slash, *why = NULL;
	char addr[INET6_ADDRSTRLEN + 1];
	size_t alen;

	memset(out, 0, sizeof(*out));
	out->pos = yc_pos(p, n);
	if (!s || yc_is_null(n)) {
		idg_err(p->d, yc_pos(p, n), "%s: expected %s, got a %s", what,
			allow_len ? "a CIDR" : "an IP address",
			n && n->type == YAML_MAPPING_NODE ? "mapping" :
			n && n->type == YAML_SEQUENCE_NODE ? "list" :
							      "null");
		return -EINVAL;
	}
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (slash && !allow_len) {
		idg_err(p->d, out->pos,
			"%s: expected an IP address without a prefix length, got '%.80s'",
			what, s);
		return -EINVAL;
	}
	if (alen >= sizeof(addr))
		goto bad_addr;
	memcpy(addr, s, alen);
	addr[alen] = 0;
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = IDG_FAM_IPV4;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = IDG_FAM_IPV6;
	else
		goto bad_addr;
	out->plen = fam_bits(out->family);
	if (slash) {
		const char *l = slash + 1;
		unsigned int v = 0;

		if (!*l || strlen(l) > 3 || strspn(l, "0123456789") != strlen(l))
			why = "bad prefix length";
		else if ((v = (unsigned int)atoi(l)) > fam_bits(out->family))
			why = "prefix length out of range";
		if (why) {
			idg_err(p->d, out->pos,
				"%s: invalid CIDR '%.80s': %s (0..%u for %s)",
				what, s, why, fam_bits(out->family),
				out->family == IDG_FAM_IPV4 ? "IPv4" : "IPv6");
			return -EINVAL;
		}
		out->plen = v;
	}
	return 0;
bad_addr:
	if (allow_len)
		idg_err(p->d, out->pos,
			"%s: invalid CIDR '%.80s': '%.*s' is not an IP address",
			what, s, (int)(alen > 60 ? 60 : alen), s);
	else
		idg_err(p->d, out->pos, "%s: '%.80s' is not an IP address",
			what, s);
	return -EINVAL;
}

static int cidr_common(struct cfg_parser *p, const yaml_node_t *n,
		       const char *what, unsigned int flags,
		       struct idg_cidr *out)
{
	bool exact = flags & CFG_CIDR_EXACT;
	char buf[INET6_ADDRSTRLEN + 8];

	if (parse_prefix(p, n, what, true, out))
		return -EINVAL;
	/* Cilium's schema types these fields as CIDRs (format: cidr), and the
	 * API server refuses a bare address there. */
	if ((flags & CFG_CIDR_PREFIX) && !strchr(yc_scalar(n), '/')) {
		idg_err(p->d, out->pos,
			"%s: '%.80s' has no prefix length: Cilium takes a CIDR here (write %s)",
			what, yc_scalar(n), idg_cidr_str(out, buf, sizeof(buf)));
		return -EINVAL;
	}
	if (!cidr_mask(out))
		return 0;
	/* An endpoint address written like `ip addr` shows it (10.0.1.5/24)
	 * must not silently become the whole subnet. */
	if (exact) {
		idg_err(p->d, out->pos,
			"%s: '%.80s' has host bits set: write the address alone for one address, or %s for the subnet",
			what, yc_scalar(n), idg_cidr_str(out, buf, sizeof(buf)));
		return -EINVAL;
	}
	idg_warn(p->d, out->pos, "%s: CIDR '%.80s' has host bits set: using %s",
		 what, yc_scalar(n), idg_cidr_str(out, buf, sizeof(buf)));
	return 0;
}

int cfg_cidr(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	     struct idg_cidr *out)
{
	return cidr_common(p, n, what, CFG_CIDR_PREFIX, out);
}

int cfg_addr(struct cfg_parser *p, const yaml_node_t *n, const char *what,
	     struct idg_cidr *out)
{
	return parse_prefix(p, n, what, false, out);
}

int cfg_cidr_list(struct cfg_parser *p, const yaml_node_t *n,
		  const char *what, unsigned int flags, struct idg_cidr **out,
		  size_t *n_out)
{
	int err = 0;

	if (!yc_is_seq(p, n, what))
		return -EINVAL;
	if ((flags & CFG_CIDR_NONEMPTY) && !yc_seq_len(n)) {
		idg_err(p->d, yc_pos(p, n), "%s: must not be empty", what);
		return -EINVAL;
	}
	for (size_t i = 0; i < yc_seq_len(n); i++) {
		struct idg_cidr c, *slot;

		if (cidr_common(p, yc_seq_item(p, n, i), what, flags, &c)) {
			err = -EINVAL;
			continue;
		}
		slot = cfg_push(*out, *n_out);
		if (!slot)
			return cfg_oom(p, n);
		*slot = c;
	}
	return err;
}
