// SPDX-License-Identifier: GPL-2.0
/*
 * L7: which ports of which local subjects the proxy judges, who may send
 * what there, and the verdict on one request. Built from the compiled
 * allow entries, so the proxy sees exactly the peers the datapath lets
 * through; this file is also the reference the proxy's verdicts are
 * tested against.
 *
 * Cilium's semantics: a TCP port of a subject that some allow rule gives
 * HTTP rules is redirected as a whole. Every allow rule covering it then
 * contributes: with its HTTP rules, or, without any (L4 only, port 0, L3
 * only), admitting every request of its peers. A request passes when one
 * of the grants for its sender admits it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compile.h"
#include "compile_int.h"
#include "util/regex.h"

/* The port rules of r that could have emitted entry e: same port, range
 * and protocol (ANY emits TCP too). */
static bool port_rule_emits(const struct idg_port_rule *pr,
			    const struct idg_rule_entry *e)
{
	return pr->port == e->port && pr->end_port == e->end_port &&
	       (pr->proto == e->proto || !pr->proto);
}

static const struct idg_rule *entry_rule(const struct idg_compiled *c,
					 const struct idg_rule_entry *e)
{
	const struct idg_cookie *ck = idg_compiled_cookie(c, e->cookie);

	return ck ? &ck->policy->rules[ck->set][ck->rule_index] : NULL;
}

static uint16_t entry_last(const struct idg_rule_entry *e)
{
	return e->end_port > e->port ? e->end_port : e->port;
}

/* e allows TCP to port p of its subject (L3-only and port-0 entries
 * cover every port). */
static bool entry_covers(const struct idg_rule_entry *e, uint16_t p)
{
	if (e->kind != IDG_RULE_ALLOW)
		return false;
	if (!e->proto)
		return true;
	return e->proto == IPPROTO_TCP &&
	       (!e->port || (p >= e->port && p <= entry_last(e)));
}

static int port_cmp(const void *a, const void *b)
{
	const struct idg_l7_port *x = a, *y = b;

	if (x->subject != y->subject)
		return x->subject < y->subject ? -1 : 1;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return (int)x->port - (int)y->port;
}

/* The ports entries with HTTP rules name, one element each (no grants
 * yet), sorted and unique. */
static int l7_ports(const struct idg_compiled *c, struct idg_l7_table *t)
{
	size_t cap = 0, n = 0;
	bool any = false;

	/* Most configs have no L7 rule: one look at each rule, not at
	 * every entry. */
	for (size_t i = 0; i < c->n_cookies && !any; i++) {
		const struct idg_cookie *ck = &c->cookies[i];

		any = ck->set < IDG_RS_MAX &&
		      ck->policy->rules[ck->set][ck->rule_index].n_l7;
	}
	if (!any)
		return 0;

	for (size_t i = 0; i < c->n_rules; i++) {
		const struct idg_rule_entry *e = &c->rules[i];
		const struct idg_rule *r;
		bool l7 = false;

		if (e->kind != IDG_RULE_ALLOW || e->proto != IPPROTO_TCP ||
		    !e->port || !(r = entry_rule(c, e)))
			continue;
		for (size_t k = 0; k < r->n_ports && !l7; k++)
			l7 = port_rule_emits(&r->ports[k], e) &&
			     r->ports[k].l7 >= 0;
		for (uint32_t p = e->port; l7 && p <= entry_last(e); p++) {
			struct idg_l7_port *lp =
				IDG_VEC_PUSH(t->ports, t->n, cap);

			if (!lp)
				return -ENOMEM;
			memset(lp, 0, sizeof(*lp));
			lp->subject = e->subject;
			lp->dir = e->dir;
			lp->port = (uint16_t)p;
		}
	}
	if (!t->n)
		return 0;
	qsort(t->ports, t->n, sizeof(*t->ports), port_cmp);
	for (size_t i = 0; i < t->n; i++)
		if (!n || port_cmp(&t->ports[n - 1], &t->ports[i]))
			t->ports[n++] = t->ports[i];
	t->n = n;
	return 0;
}

static int grant_push(struct idg_l7_port *lp, size_t *cap,
		      const struct idg_rule_entry *e,
		      const struct idg_l7_rules *l7)
{
	struct idg_l7_grant *g =
		IDG_VEC_PUSH(lp->grants, lp->n_grants, *cap);

	if (!g)
		return -ENOMEM;
	*g = (struct idg_l7_grant){ .peer = e->peer, .l7 = l7,
				    .cookie = e->cookie };
	return 0;
}

/* The grants entry e gives on port lp (it covers it). */
static int entry_grants(const struct idg_compiled *c, struct idg_l7_port *lp,
			size_t *cap, const struct idg_rule_entry *e)
{
	const struct idg_rule *r = entry_rule(c, e);
	size_t first = lp->n_grants;

	if (!r || !e->proto || !e->port)
		return grant_push(lp, cap, e, NULL);
	for (size_t k = 0; k < r->n_ports; k++) {
		const struct idg_port_rule *pr = &r->ports[k];
		int err;

		if (!port_rule_emits(pr, e))
			continue;
		/* The same port without HTTP rules in the same rule: every
		 * request, whatever the others say. */
		if (pr->l7 < 0) {
			lp->n_grants = first;
			return grant_push(lp, cap, e, NULL);
		}
		err = grant_push(lp, cap, e, &r->l7[pr->l7]);
		if (err)
			return err;
	}
	return 0;
}

void idg_l7_free(struct idg_l7_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->ports[i].grants);
	free(t->ports);
	memset(t, 0, sizeof(*t));
}

int idg_l7_build(const struct idg_compiled *c, struct idg_l7_table *t)
{
	int err;

	memset(t, 0, sizeof(*t));
	err = l7_ports(c, t);
	for (size_t i = 0; !err && i < t->n; i++) {
		struct idg_l7_port *lp = &t->ports[i];
		size_t cap = 0;

		for (size_t k = 0; !err && k < c->n_rules; k++) {
			const struct idg_rule_entry *e = &c->rules[k];

			if (e->subject == lp->subject && e->dir == lp->dir &&
			    entry_covers(e, lp->port))
				err = entry_grants(c, lp, &cap, e);
		}
	}
	if (err)
		idg_l7_free(t);
	return err;
}

const struct idg_l7_port *idg_l7_find(const struct idg_l7_table *t,
				      uint32_t subject, uint8_t dir,
				      uint16_t port)
{
	struct idg_l7_port key = { .subject = subject, .dir = dir,
				   .port = port };

	if (!t->n)
		return NULL;
	return bsearch(&key, t->ports, t->n, sizeof(*t->ports), port_cmp);
}

/* Whether the whole of s matches pattern (a rule's, checked when the
 * config was read); NULL pattern: anything. An absent field (no Host)
 * matches no pattern, as an absent header matches no Envoy matcher. */
static int field_matches(const char *pattern, const char *s)
{
	struct idg_regex *re;
	char err[160];
	bool m;

	if (!pattern)
		return 1;
	if (!s)
		return 0;
	if (idg_regex_compile(pattern, &re, err, sizeof(err)))
		return -EINVAL;
	m = idg_regex_match(re, s, strlen(s));
	idg_regex_free(re);
	return m;
}

/* Header names compare without case, values exactly; a header sent
 * twice matches when one of its values does. */
static bool header_present(const struct idg_http_req *req,
			   const struct idg_http_header *h)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (!strcasecmp(req->headers[i].name, h->name) &&
		    (!h->value || !strcmp(req->headers[i].value, h->value)))
			return true;
	return false;
}

static int http_matches(const struct idg_http_rule *h,
			const struct idg_http_req *req)
{
	const char *const pats[] = { h->method, h->path, h->host };
	const char *const vals[] = { req->method, req->path, req->host };
	int m;

	for (size_t i = 0; i < 3; i++) {
		m = field_matches(pats[i], vals[i]);
		if (m <= 0)
			return m;
	}
	for (size_t i = 0; i < h->n_headers; i++)
		if (!header_present(req, &h->headers[i]))
			return 0;
	return 1;
}

int idg_l7_judge(const struct idg_l7_port *lp, uint32_t peer,
		 const struct idg_http_req *req, struct idg_l7_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->alt = -1;
	for (size_t i = 0; i < lp->n_grants; i++) {
		const struct idg_l7_grant *g = &lp->grants[i];

		if (g->peer && g->peer != peer)
			continue;
		if (!v->by)
			v->by = g; /* a denial names the first grant */
		if (!g->l7) {
			v->by = g;
			v->allowed = true;
			return 0;
		}
		for (size_t k = 0; k < g->l7->n_http; k++) {
			int m = http_matches(&g->l7->http[k], req);

			if (m < 0)
				return m;
			if (m) {
				v->by = g;
				v->alt = (int)k;
				v->allowed = true;
				return 0;
			}
		}
	}
	return 0;
}
