// SPDX-License-Identifier: GPL-2.0
/*
 * The L7 table as an HAProxy configuration.
 *
 * Every value a rule names (addresses, identities, regexes, header
 * values) goes into a pattern file of its own, so no rule's text is ever
 * parsed as HAProxy syntax. A request is judged by one line per grant
 * and HTTP alternative, in the table's order: the first that matches
 * records itself in txn.idg_by; none, and the request gets the 403 of a
 * denial. The grants' order makes a denial name the grant
 * idg_l7_judge() names (txn.idg_deny).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <idgate/identity.h>

#include "haproxy.h"

struct pats {
	const char *dir;
	unsigned int n;
	int err;
	uint64_t *digest; /* FNV-1a over every file's text, or NULL */
};

/* A new pattern file holding text; its path in path. */
static void pat_file(struct pats *w, const char *text, char *path,
		     size_t len)
{
	FILE *f;

	path[0] = 0;
	if (w->err)
		return;
	for (const char *c = text; w->digest && *c; c++)
		*w->digest = (*w->digest ^ (unsigned char)*c) * 0x100000001b3ull;
	if (w->digest) /* files end apart */
		*w->digest = (*w->digest ^ 0xff) * 0x100000001b3ull;
	if ((size_t)snprintf(path, len, "%s/p%u.pat", w->dir, w->n++) >= len) {
		w->err = -ENAMETOOLONG;
		return;
	}
	f = fopen(path, "w");
	if (!f) {
		w->err = -errno;
		return;
	}
	fputs(text, f);
	if (fclose(f))
		w->err = -EIO;
}

/* A pattern file's text is built in memory (pat_begin), then written
 * (pat_end): NULL from pat_begin when out of memory (w->err says so). */
struct pat_text {
	char *text;
	size_t len;
	FILE *f;
};

static FILE *pat_begin(struct pats *w, struct pat_text *t, char *path)
{
	path[0] = 0; /* named nowhere until written */
	memset(t, 0, sizeof(*t));
	t->f = w->err ? NULL : open_memstream(&t->text, &t->len);
	if (!t->f && !w->err)
		w->err = -ENOMEM;
	return t->f;
}

static void pat_end(struct pats *w, struct pat_text *t, char *path,
		    size_t len)
{
	if (fclose(t->f))
		w->err = -ENOMEM;
	else
		pat_file(w, t->text, path, len);
	free(t->text);
}

/* A whole-value regex line: the rule's pattern anchored at both ends,
 * in UTF-8 mode as idgate's own matcher reads it. */
static void pat_regex(struct pats *w, const char *re, char *path, size_t len)
{
	struct pat_text t;
	FILE *f = pat_begin(w, &t, path);

	if (!f)
		return;
	fprintf(f, "(*UTF)\\A(?:%s)\\z\n", re);
	pat_end(w, &t, path, len);
}

/* An exact value as a regex line: ASCII symbols escaped (PCRE reads a
 * backslash before any of them as the symbol itself). */
static void pat_exact(struct pats *w, const char *v, char *path, size_t len)
{
	struct pat_text t;
	FILE *f = pat_begin(w, &t, path);

	if (!f)
		return;
	fputs("(*UTF)\\A", f);
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;

		if (ch < 0x80 && !((ch >= 'a' && ch <= 'z') ||
				   (ch >= 'A' && ch <= 'Z') ||
				   (ch >= '0' && ch <= '9')))
			fputc('\\', f);
		fputc(ch, f);
	}
	fputs("\\z\n", f);
	pat_end(w, &t, path, len);
}

/* The addresses of the local endpoints of identity subject. */
static void pat_subject(struct pats *w, const struct idg_compiled *c,
			uint32_t subject, char *path, size_t len)
{
	struct pat_text t;
	FILE *f = pat_begin(w, &t, path);
	char a[64];

	if (!f)
		return;
	for (size_t i = 0; i < c->n_eps; i++)
		if (c->eps[i].identity == subject)
			fprintf(f, "%s\n", idg_cidr_str(&c->eps[i].cidr, a,
							sizeof(a)));
	pat_end(w, &t, path, len);
}

/* Source address -> identity, for map_ip_int: this cluster's ipcache
 * (an address outside it is the world, the map's default). */
static void pat_ipcache(struct pats *w, const struct idg_compiled *c,
			char *path, size_t len)
{
	struct pat_text t;
	FILE *f = pat_begin(w, &t, path);
	char a[64];

	if (!f)
		return;
	for (size_t i = 0; i < c->n_ipcache; i++) {
		const struct idg_ipcache_entry *e = &c->ipcache[i];

		if (e->key_cluster && e->key_cluster != c->cluster_id)
			continue;
		fprintf(f, "%s %u\n", idg_cidr_str(&e->cidr, a, sizeof(a)),
			e->identity);
	}
	pat_end(w, &t, path, len);
}

/* The conditions every line of one port starts with. */
static void port_conds(FILE *cfg, const char *dst, const struct idg_l7_port *lp,
		       const struct idg_l7_grant *g, const char *var)
{
	fprintf(cfg, " if !{ var(txn.%s) -m found } { dst -f %s } { dst_port %u }",
		var, dst, lp->port);
	if (g->peer)
		fprintf(cfg, " { var(txn.idg_peer) -m int %u }", g->peer);
}

static void http_conds(FILE *cfg, struct pats *w, const struct idg_http_rule *h)
{
	static const char *const fetch[] = { "method", "pathq", "req.fhdr(host)" };
	const char *const re[] = { h->method, h->path, h->host };
	char path[4096];

	for (size_t i = 0; i < 3; i++) {
		if (!re[i])
			continue;
		pat_regex(w, re[i], path, sizeof(path));
		fprintf(cfg, " { %s -m reg -f %s }", fetch[i], path);
	}
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct idg_http_header *hd = &h->headers[i];

		if (!hd->value) {
			fprintf(cfg, " { req.fhdr_cnt(%s) gt 0 }", hd->name);
			continue;
		}
		pat_exact(w, hd->value, path, sizeof(path));
		fprintf(cfg, " { req.fhdr(%s) -m reg -f %s }", hd->name, path);
	}
}

static void port_lines(FILE *cfg, struct pats *w, const struct idg_compiled *c,
		       const struct idg_l7_port *lp)
{
	char dst[4096];

	pat_subject(w, c, lp->subject, dst, sizeof(dst));
	for (size_t i = 0; i < lp->n_grants; i++) {
		const struct idg_l7_grant *g = &lp->grants[i];

		fprintf(cfg, "  http-request set-var(txn.idg_deny) str(%u)",
			g->cookie);
		port_conds(cfg, dst, lp, g, "idg_deny");
		fputc('\n', cfg);
	}
	for (size_t i = 0; i < lp->n_grants; i++) {
		const struct idg_l7_grant *g = &lp->grants[i];

		if (!g->l7) {
			fprintf(cfg, "  http-request set-var(txn.idg_by) str(%u.-)",
				g->cookie);
			port_conds(cfg, dst, lp, g, "idg_by");
			fputc('\n', cfg);
			continue;
		}
		for (size_t k = 0; k < g->l7->n_http; k++) {
			fprintf(cfg, "  http-request set-var(txn.idg_by) str(%u.%zu)",
				g->cookie, k);
			port_conds(cfg, dst, lp, g, "idg_by");
			http_conds(cfg, w, &g->l7->http[k]);
			fputc('\n', cfg);
		}
	}
}

/* What idg_haproxy_log_parse() reads: client, server (the original
 * destination), the sender's identity, the grant that admitted the
 * request or the one a denial names, status, method, target. */
#define LOG_FORMAT                                                         \
	"idgate-l7 %ci %cp %fi %fp %[var(txn.idg_peer)] "                  \
	"%[var(txn.idg_by)] %[var(txn.idg_deny)] %ST %HM %HU"

/* The first listener id of binds6. */
#define BIND6_ID 1000

/* Where a request that passes goes: the server, from the client's own
 * address with transparent (any, of the family of src). */
static void upstream(FILE *cfg, const struct idg_haproxy_opts *o,
		     const char *name, const char *src)
{
	fprintf(cfg, "backend %s\n", name);
	if (o->transparent)
		fprintf(cfg, "  source %s usesrc clientip\n", src);
	fprintf(cfg, "  server upstream %s\n",
		o->server ? o->server : "0.0.0.0:0");
}

static bool plain_path(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || strchr("\"'\\#$", *s))
			return false;
	return true;
}

int idg_haproxy_write(const struct idg_compiled *c,
		      const struct idg_haproxy_opts *o, FILE *cfg)
{
	const struct idg_l7_table *t = &c->l7;
	struct pats w = { .dir = o->dir, .digest = o->pat_digest };
	char map[4096];

	if (!plain_path(o->dir) ||
	    (o->stats_socket && !plain_path(o->stats_socket)))
		return -EINVAL;
	if (mkdir(o->dir, 0700) && errno != EEXIST)
		return -errno;
	pat_ipcache(&w, c, map, sizeof(map));
	fprintf(cfg, "# Written by idgate from the L7 rules it enforces: do not edit.\n"
		     "global\n"
		     "  maxconn 4096\n");
	if (o->stats_socket)
		fprintf(cfg, "  stats socket %s mode 600 level admin\n",
			o->stats_socket);
	if (o->log_stdout)
		fprintf(cfg, "  log stdout format raw local0\n");
	fprintf(cfg, "defaults\n"
		     "  mode http\n"
		     "  timeout connect 5s\n"
		     "  timeout client 30s\n"
		     "  timeout server 30s\n"
		     "  timeout http-request 10s\n"
		     "  timeout http-keep-alive 30s\n"
		     "frontend idgate-l7\n");
	if (o->log_stdout)
		fprintf(cfg, "  log global\n"
			     "  log-format \"%s\"\n", LOG_FORMAT);
	/* Listener ids tell the families apart (so_id): an address match
	 * would also take an IPv6 client whose address embeds an IPv4 one
	 * for an IPv4 client. */
	for (size_t i = 0; i < o->n_binds; i++)
		fprintf(cfg, "  bind %s id %zu%s\n", o->binds[i], 1 + i,
			o->transparent ? " transparent" : "");
	for (size_t i = 0; i < o->n_binds6; i++)
		fprintf(cfg, "  bind %s id %zu%s\n", o->binds6[i],
			BIND6_ID + i, o->transparent ? " transparent" : "");
	fprintf(cfg, "  http-request set-var(txn.idg_peer) src,map_ip_int(%s,%u)\n",
		map, IDG_ID_WORLD);
	for (size_t i = 0; i < t->n && !w.err; i++)
		if (t->ports[i].dir == IDG_DIR_INGRESS)
			port_lines(cfg, &w, c, &t->ports[i]);
	fprintf(cfg, "  http-request return status %d content-type text/plain string \"%s\" unless { var(txn.idg_by) -m found }\n",
		IDG_L7_DENY_STATUS, IDG_L7_DENY_BODY);
	if (o->n_binds6)
		fprintf(cfg, "  use_backend idgate-upstream6 if { so_id ge %d }\n",
			BIND6_ID);
	fprintf(cfg, "  default_backend idgate-upstream\n");
	upstream(cfg, o, "idgate-upstream", "0.0.0.0");
	if (o->n_binds6)
		upstream(cfg, o, "idgate-upstream6", ":::0"); /* ::, any port */
	if (ferror(cfg))
		return -EIO;
	return w.err;
}

/* "COOKIE.ALT" / "COOKIE.-" (admitted) or "-" */
static int by_parse(const char *s, uint32_t *cookie, int *alt)
{
	char *end;
	unsigned long v;

	v = strtoul(s, &end, 10);
	if (end == s || *end != '.' || v > UINT32_MAX)
		return -EINVAL;
	*cookie = (uint32_t)v;
	if (!strcmp(end + 1, "-")) {
		*alt = -1;
		return 0;
	}
	v = strtoul(end + 1, &end, 10);
	if (*end || v > 1u << 20)
		return -EINVAL;
	*alt = (int)v;
	return 0;
}

int idg_haproxy_log_parse(const char *line, struct idg_l7_logline *l)
{
	char by[40], deny[24], peer[16];
	unsigned int cp, sp;
	int n = 0;

	memset(l, 0, sizeof(*l));
	l->alt = -1;
	/* A request HAProxy refused before the rules ran (a malformed one)
	 * has no peer: "-", identity 0. */
	if (sscanf(line, "idgate-l7 %63s %u %63s %u %15s %39s %23s %d %31s %n",
		   l->client, &cp, l->server, &sp, peer, by, deny,
		   &l->status, l->method, &n) != 9 || !n || cp > 65535 ||
	    sp > 65535)
		return -EINVAL;
	l->peer = (uint32_t)strtoul(peer, NULL, 10);
	l->client_port = (uint16_t)cp;
	l->server_port = (uint16_t)sp;
	snprintf(l->path, sizeof(l->path), "%s", line + n);
	l->path[strcspn(l->path, "\r\n")] = 0;
	if (strcmp(by, "-")) {
		if (by_parse(by, &l->cookie, &l->alt))
			return -EINVAL;
		l->allowed = true;
	} else if (strcmp(deny, "-")) {
		l->cookie = (uint32_t)strtoul(deny, NULL, 10);
	}
	return 0;
}
