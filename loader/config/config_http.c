// SPDX-License-Identifier: GPL-2.0
/*
 * The rules section of a toPorts entry: Cilium's L7 rules. HTTP ones are
 * read into the model with Cilium's checks (PortRule and PortRuleHTTP
 * validation); the other kinds are refused by name.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "util/regex.h"
#include "util/util.h"

/* Cilium's other L7 kinds, and how to name them in a message. */
static const struct {
	const char *key;
	const char *what;
} other_kinds[] = {
	{ "kafka", "Kafka" },
	{ "dns", "DNS" },
	{ "l7proto", "generic L7 (l7proto)" },
	{ "l7", "generic L7 (l7)" },
};

void cfg_l7_free(struct idg_l7_rules *l7)
{
	for (size_t i = 0; i < l7->n_http; i++) {
		struct idg_http_rule *h = &l7->http[i];

		free(h->method);
		free(h->path);
		free(h->host);
		for (size_t k = 0; k < h->n_headers; k++) {
			free(h->headers[k].name);
			free(h->headers[k].value);
		}
		free(h->headers);
	}
	free(l7->http);
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* method, path or host: a whole-value regex RE2 and PCRE2 read alike;
 * empty means any (NULL). */
static int http_regex(struct cfg_parser *p, const yaml_node_t *n,
		      const char *what, char **out)
{
	struct idg_regex *re;
	char err[256];
	char *s;

	*out = NULL;
	if (yc_str_empty(p, n, what, &s))
		return -EINVAL;
	if (!*s) {
		free(s);
		return 0;
	}
	/* The proxy reads each regex as one line of a pattern file. */
	if (has_control(s)) {
		idg_err(p->d, yc_pos(p, n),
			"%s: regex '%.80s' holds a control character: write it as an escape (\\t, \\x0a)",
			what, s);
		free(s);
		return -EINVAL;
	}
	if (idg_regex_compile(s, &re, err, sizeof(err))) {
		idg_err(p->d, yc_pos(p, n), "%s: bad regex '%.80s': %s", what,
			s, err);
		free(s);
		return -EINVAL;
	}
	idg_regex_free(re);
	*out = s;
	return 0;
}

/* An HTTP field name the proxy's config can name: letters, digits and
 * "-_." (RFC 9110 allows a few more symbols, which no header in use
 * has and which HAProxy's config reads as syntax). */
static bool field_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-_.", *s)))
			return false;
	return true;
}

/* A value a request's header can have exactly: HTTP drops the
 * whitespace around a value, and a field holds no control character. */
static bool field_value_ok(const char *s)
{
	size_t n = strlen(s);

	return !has_control(s) && s[0] != ' ' && (!n || s[n - 1] != ' ');
}

static struct idg_http_header *header_push(struct cfg_parser *p,
					   const yaml_node_t *n,
					   struct idg_http_rule *h)
{
	struct idg_http_header *hd = cfg_push(h->headers, h->n_headers);

	if (!hd)
		cfg_oom(p, n);
	else
		hd->pos = yc_pos(p, n);
	return hd;
}

/*
 * headers: "Name" (present) or "Name value" / "Name: value" (present with
 * exactly that value), split at the first space as Cilium does.
 */
static int http_header(struct cfg_parser *p, const yaml_node_t *n,
		       struct idg_http_rule *h)
{
	struct idg_http_header *hd;
	char *s, *sp, *name;
	size_t len;
	int err = -EINVAL;

	if (yc_str(p, n, "rules.http.headers", &s))
		return -EINVAL;
	sp = strchr(s, ' ');
	if (sp)
		*sp = 0;
	name = s;
	len = strlen(name);
	if (sp && len && name[len - 1] == ':')
		name[len - 1] = 0;
	if (!field_name_ok(name)) {
		idg_err(p->d, yc_pos(p, n),
			"rules.http.headers: '%.60s' does not start with a header name idgate can match (letters, digits, '-', '_', '.'; write \"Name\" or \"Name: value\")",
			s);
		goto out;
	}
	if (sp && !field_value_ok(sp + 1)) {
		idg_err(p->d, yc_pos(p, n),
			"rules.http.headers: the value of '%.60s' has a control character or surrounding spaces, which no request's header can have",
			name);
		goto out;
	}
	hd = header_push(p, n, h);
	if (!hd) {
		err = -ENOMEM;
		goto out;
	}
	hd->name = strdup(name);
	/* Envoy reads an empty exact value as "any value". */
	if (sp && sp[1])
		hd->value = strdup(sp + 1);
	err = !hd->name || (sp && sp[1] && !hd->value) ? cfg_oom(p, n) : 0;
out:
	free(s);
	return err;
}

static const char no_secret[] =
	"is not supported: idgate has no Kubernetes secrets to read it from; write the value itself";
static const char no_mismatch[] =
	"is not supported: idgate's proxy does not rewrite requests or pass mismatching ones; leave it out to deny a request whose header does not match";

/* headerMatches: {name, value}; a missing value asks for presence. */
static int http_header_match(struct cfg_parser *p, const yaml_node_t *n,
			     struct idg_http_rule *h)
{
	struct yc_kv name = { 0 }, value = { 0 };
	const struct yc_field f[] = {
		YC_F("name", &name),
		YC_F("value", &value),
		YC_REJECT("secret", no_secret),
		YC_REJECT("mismatch", no_mismatch),
	};
	struct idg_http_header *hd;
	char *s = NULL, *v = NULL;

	if (yc_fields(p, n, "rules.http.headerMatches", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (!name.val) {
		yc_missing(p, n, "name", "rules.http.headerMatches");
		return -EINVAL;
	}
	if (yc_str(p, name.val, "rules.http.headerMatches.name", &s))
		return -EINVAL;
	if (!field_name_ok(s)) {
		idg_err(p->d, yc_pos(p, name.val),
			"rules.http.headerMatches.name: '%.60s' is not a header name idgate can match (letters, digits, '-', '_', '.')",
			s);
		goto fail;
	}
	if (value.val &&
	    yc_str_empty(p, value.val, "rules.http.headerMatches.value", &v))
		goto fail;
	if (v && !field_value_ok(v)) {
		idg_err(p->d, yc_pos(p, value.val),
			"rules.http.headerMatches.value: a control character or surrounding spaces, which no request's header can have");
		goto fail;
	}
	hd = header_push(p, n, h);
	if (!hd)
		goto fail;
	hd->name = s;
	if (v && *v)
		hd->value = v;
	else
		free(v);
	return 0;
fail:
	free(s);
	free(v);
	return -EINVAL;
}

static int http_rule(struct cfg_parser *p, const yaml_node_t *n,
		     struct idg_l7_rules *l7)
{
	struct yc_kv method = { 0 }, path = { 0 }, host = { 0 },
		     headers = { 0 }, matches = { 0 };
	const struct yc_field f[] = {
		YC_F("method", &method),
		YC_F("path", &path),
		YC_F("host", &host),
		YC_F("headers", &headers),
		YC_F("headerMatches", &matches),
	};
	struct idg_http_rule *h;
	int err = 0;

	/* Cilium takes an entry with no field at all: it admits every
	 * request. A null entry is the same. */
	h = cfg_push(l7->http, l7->n_http);
	if (!h)
		return cfg_oom(p, n);
	h->pos = yc_pos(p, n);
	if (yc_is_null(n))
		return 0;
	if (yc_fields(p, n, "rules.http", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (method.val &&
	    http_regex(p, method.val, "rules.http.method", &h->method))
		err = -EINVAL;
	if (path.val && http_regex(p, path.val, "rules.http.path", &h->path))
		err = -EINVAL;
	if (host.val && http_regex(p, host.val, "rules.http.host", &h->host))
		err = -EINVAL;
	if (headers.val && !yc_is_null(headers.val)) {
		if (!yc_is_seq(p, headers.val, "rules.http.headers"))
			return -EINVAL;
		for (size_t i = 0; i < yc_seq_len(headers.val); i++)
			if (http_header(p, yc_seq_item(p, headers.val, i), h))
				err = -EINVAL;
	}
	if (matches.val && !yc_is_null(matches.val)) {
		if (!yc_is_seq(p, matches.val, "rules.http.headerMatches"))
			return -EINVAL;
		for (size_t i = 0; i < yc_seq_len(matches.val); i++)
			if (http_header_match(p, yc_seq_item(p, matches.val, i),
					      h))
				err = -EINVAL;
	}
	return err;
}

int cfg_l7_rules(struct cfg_parser *p, const yaml_node_t *n,
		 struct idg_rule *r, int *idx)
{
	struct yc_kv http = { 0 }, other[YC_ARRAY_SIZE(other_kinds)] = { 0 };
	struct yc_field f[1 + YC_ARRAY_SIZE(other_kinds)];
	struct idg_l7_rules *l7;
	int err = 0;

	*idx = -1;
	f[0] = (struct yc_field)YC_F("http", &http);
	for (size_t i = 0; i < YC_ARRAY_SIZE(other_kinds); i++)
		f[1 + i] = (struct yc_field){ .name = other_kinds[i].key,
					      .out = &other[i] };
	if (yc_is_null(n))
		return 0;
	if (yc_fields(p, n, "toPorts.rules", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	for (size_t i = 0; i < YC_ARRAY_SIZE(other_kinds); i++) {
		if (!other[i].key)
			continue;
		idg_err(p->d, yc_pos(p, other[i].key),
			"%s rules (rules.%s) are not supported: idgate's L7 policy covers HTTP only",
			other_kinds[i].what, other_kinds[i].key);
		err = -EINVAL;
	}
	/* An empty section is no L7 rule at all, as in Cilium. */
	if (!http.val || yc_is_null(http.val))
		return err;
	if (!yc_is_seq(p, http.val, "rules.http"))
		return -EINVAL;
	if (!yc_seq_len(http.val))
		return err;
	l7 = cfg_push(r->l7, r->n_l7);
	if (!l7)
		return cfg_oom(p, n);
	for (size_t i = 0; i < yc_seq_len(http.val); i++)
		if (http_rule(p, yc_seq_item(p, http.val, i), l7))
			err = -EINVAL;
	*idx = (int)(r->n_l7 - 1);
	return err;
}

int cfg_l7_ports(struct cfg_parser *p, const struct idg_rule *r, size_t first)
{
	int err = 0;

	for (size_t i = first; i < r->n_ports; i++) {
		const struct idg_port_rule *pr = &r->ports[i];

		if (pr->l7 < 0)
			continue;
		if (pr->proto != IPPROTO_TCP) {
			idg_err(p->d, pr->pos,
				"L7 rules can only apply to TCP (not %s): write protocol: TCP",
				pr->proto ? idg_proto_name(pr->proto) : "ANY");
			err = -EINVAL;
		} else if (!pr->port) {
			idg_err(p->d, pr->pos,
				"L7 rules can not be used when a port is 0: name the ports");
			err = -EINVAL;
		}
	}
	return err;
}
