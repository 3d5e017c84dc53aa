// SPDX-License-Identifier: GPL-2.0
/*
 * Policies into rule entries, with Cilium's semantics: rule cookies,
 * protocols and ports of each rule, and when a subject turns default-deny.
 * Which identities the selectors stand for is compile_select.c's job.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_int.h"

static const char *const set_names[IDG_RS_MAX] = {
	[IDG_RS_INGRESS] = "ingress",
	[IDG_RS_EGRESS] = "egress",
	[IDG_RS_INGRESS_DENY] = "ingressDeny",
	[IDG_RS_EGRESS_DENY] = "egressDeny",
};

static uint8_t set_kind(int s)
{
	return s == IDG_RS_INGRESS_DENY || s == IDG_RS_EGRESS_DENY ?
		       IDG_RULE_DENY : IDG_RULE_ALLOW;
}

/* A policy's namespace in its rules' state keys: "-" for a clusterwide
 * one. */
static const char *key_namespace(const struct idg_policy *pol)
{
	return pol->clusterwide || !pol->namespace ? "-" : pol->namespace;
}

/* "namespace/name/set/index": the rule's name in the state file. Built
 * by hand: a config may have tens of thousands of rules. */
static char *rule_key(const struct idg_policy *pol, int set, size_t index)
{
	const char *ns = key_namespace(pol);
	size_t l_ns = strlen(ns), l_name = strlen(pol->name);
	size_t l_set = strlen(set_names[set]);
	char num[24], *s, *w;
	int l_num = snprintf(num, sizeof(num), "%zu", index);

	s = malloc(l_ns + l_name + l_set + (size_t)l_num + 4);
	if (!s)
		return NULL;
	w = s;
	memcpy(w, ns, l_ns);
	w += l_ns;
	*w++ = '/';
	memcpy(w, pol->name, l_name);
	w += l_name;
	*w++ = '/';
	memcpy(w, set_names[set], l_set);
	w += l_set;
	*w++ = '/';
	memcpy(w, num, (size_t)l_num + 1);
	return s;
}

static int flat_rules_build(struct idg_rctx *x)
{
	const struct idg_config *cfg = x->cfg;
	size_t n = 0, k = 0;

	for (size_t p = 0; p < cfg->n_policies; p++)
		for (int s = 0; s < IDG_RS_MAX; s++)
			n += cfg->policies[p].n_rules[s];
	x->rules = calloc(n + 1, sizeof(*x->rules));
	x->pol_first = calloc(cfg->n_policies + 1, sizeof(*x->pol_first));
	if (!x->rules || !x->pol_first)
		return -ENOMEM;
	for (size_t p = 0; p < cfg->n_policies; p++) {
		const struct idg_policy *pol = &cfg->policies[p];

		x->pol_first[p] = k;
		for (int s = 0; s < IDG_RS_MAX; s++)
			for (size_t r = 0; r < pol->n_rules[s]; r++) {
				struct idg_flat_rule *f = &x->rules[k++];

				f->pol = pol;
				f->set = s;
				f->index = r;
				f->key = rule_key(pol, s, r);
				if (!f->key) {
					x->n_rules = k;
					return -ENOMEM;
				}
			}
	}
	x->n_rules = k;
	return 0;
}

static void flat_rules_free(struct idg_rctx *x)
{
	for (size_t i = 0; i < x->n_rules; i++) {
		if (!x->rules[i].key_given)
			free(x->rules[i].key);
		if (!x->rules[i].peers_lent)
			free(x->rules[i].peers);
	}
	free(x->rules);
	free(x->pol_first);
}

/* ---- cookies ---- */

static int collision_cmp(const void *a, const void *b)
{
	const struct idg_flat_rule *x = *(const struct idg_flat_rule *const *)a;
	const struct idg_flat_rule *y = *(const struct idg_flat_rule *const *)b;
	int c = strcmp(x->key, y->key);

	/* Config order within a key, as a stable sort of all keys gave. */
	return c ? c : (x < y ? -1 : x > y);
}

static int cookie_cmp(const void *a, const void *b)
{
	const struct idg_cookie *x = a, *y = b;

	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

/* Two policies with one name would share cookies and state keys: each
 * rule whose key an earlier policy of that name has (the same set and
 * index) is reported. Found per policy name: the keys of one name's
 * rules clash exactly where an earlier one had a rule at that place. */
static int dup_policies_check(struct idg_rctx *x)
{
	const struct idg_config *cfg = x->cfg;
	const struct idg_flat_rule **dup = NULL;
	size_t (*most)[IDG_RS_MAX] = NULL;
	size_t n_dup = 0, cap = 0, f;
	struct idg_strmap first;
	int err;

	err = idg_strmap_init(&first, cfg->n_policies);
	most = calloc(cfg->n_policies + 1, sizeof(*most));
	if (!err && !most)
		err = -ENOMEM;
	for (size_t p = 0; !err && p < cfg->n_policies; p++) {
		const struct idg_policy *pol = &cfg->policies[p];
		size_t at = x->pol_first[p];

		err = idg_strmap_put2(&first, key_namespace(pol), pol->name, p,
				      &f);
		if (err < 0)
			break;
		err = 0;
		/* most[f][s]: rules in set s of the name's policies so far. */
		for (int set = 0; !err && set < IDG_RS_MAX; set++) {
			size_t n = pol->n_rules[set];

			for (size_t i = 0; f != p && i < n && i < most[f][set];
			     i++) {
				const struct idg_flat_rule **e =
					IDG_VEC_PUSH(dup, n_dup, cap);

				if (!e) {
					err = -ENOMEM;
					break;
				}
				*e = &x->rules[at + i];
			}
			if (n > most[f][set])
				most[f][set] = n;
			at += n;
		}
	}
	if (!err && n_dup)
		qsort(dup, n_dup, sizeof(*dup), collision_cmp);
	for (size_t i = 0; !err && i < n_dup; i++) {
		const struct idg_policy *pol = dup[i]->pol;

		idg_err(x->d, pol->pos, "policy %s%s%s is defined twice",
			pol->clusterwide || !pol->namespace ? "" :
							      pol->namespace,
			pol->clusterwide || !pol->namespace ? "" : "/",
			pol->name);
	}
	free(dup);
	free(most);
	idg_strmap_free(&first);
	return err < 0 ? -ENOMEM : 0;
}

static int cookies_assign(struct idg_rctx *x, const struct idg_state *old,
			  struct idg_state *new_st)
{
	struct idg_strmap own = { 0 };
	const struct idg_strmap *oi = NULL;
	uint8_t *used = NULL;
	uint32_t next = 1;
	size_t n_old = old ? old->n_cookies : 0;
	int err = 0;

	used = calloc(IDG_RULES_MAX, 1);
	if (!used)
		return -ENOMEM;
	x->old_state = old ? old->content_id : 0;
	/* A file the memo kept, and the earlier state the one its cookies
	 * were saved in: its keys give those cookies. */
	for (size_t f = 0; n_old && x->old_state && f < x->n_files; f++) {
		const struct idg_pol_file *pf = &x->files[f];

		if (!pf->kept || !pf->kept->hits ||
		    pf->kept->hits_state != x->old_state)
			continue;
		x->memo->pols_hits++;
		for (size_t j = 0; j < pf->n_rules; j++) {
			x->rules[pf->rule_first + j].old_hit = pf->kept->hits[j];
			x->rules[pf->rule_first + j].hit_known = true;
		}
	}
	if (n_old) {
		err = idg_state_index_of(old, IDG_STATE_IX_COOKIES, &own,
					 &oi);
		if (err)
			goto out;
	}
	/* A rule keeps the cookie it had, so its counters keep meaning the
	 * same rule across reloads. */
	for (size_t i = 0; i < x->n_rules && n_old; i++) {
		struct idg_flat_rule *r = &x->rules[i];
		uint32_t c;

		if (!r->hit_known) {
			const size_t *hit = idg_strmap_get(oi, r->key);

			r->old_hit = hit && *hit < IDG_RULES_MAX ?
					     (uint32_t)*hit : 0;
		}
		c = r->old_hit;
		if (!c || used[c])
			continue;
		used[c] = 1;
		x->rules[i].cookie = (uint32_t)c;
		x->rules[i].kept = true;
	}
	for (size_t i = 0; i < x->n_rules; i++) {
		if (x->rules[i].cookie)
			continue;
		while (next < IDG_RULES_MAX && used[next])
			next++;
		if (next >= IDG_RULES_MAX) {
			idg_err(x->d, x->rules[i].pol->pos,
				"rule cookies exhausted: %zu rules, at most %u",
				x->n_rules, IDG_RULES_MAX - 1);
			goto out;
		}
		used[next] = 1;
		x->rules[i].cookie = next;
	}

	x->out->cookies = calloc(x->n_rules + 1, sizeof(*x->out->cookies));
	if (!x->out->cookies) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < x->n_rules; i++) {
		struct idg_cookie *c = &x->out->cookies[i];

		c->cookie = x->rules[i].cookie;
		c->policy = x->rules[i].pol;
		c->set = (enum idg_rule_set)x->rules[i].set;
		c->rule_index = x->rules[i].index;
		c->kept = x->rules[i].kept;
		/* The state takes the key over; it outlives the rules. */
		err = idg_state_take_cookie(new_st, x->rules[i].key, c->cookie);
		if (err)
			goto out;
		x->rules[i].key_given = true;
	}
	x->out->n_cookies = x->n_rules;
	qsort(x->out->cookies, x->out->n_cookies, sizeof(*x->out->cookies),
	      cookie_cmp);
out:
	idg_strmap_free(&own);
	free(used);
	return err;
}

/* ---- rule entries ---- */

struct subject {
	uint32_t id;
	bool host;
	const struct idg_id_group *g;
	bool enf[2];     /* some selecting policy turns default-deny on */
	bool has_deny[2];
};

/* Cilium's enableDefaultDeny: explicit, or on when the direction has
 * rules (an empty list does not count, `- {}` does). */
static bool policy_default_deny(const struct idg_policy *pol, int dir)
{
	int allow = dir == IDG_DIR_INGRESS ? IDG_RS_INGRESS : IDG_RS_EGRESS;
	int deny = dir == IDG_DIR_INGRESS ? IDG_RS_INGRESS_DENY :
					    IDG_RS_EGRESS_DENY;

	if (pol->default_deny[dir] >= 0)
		return pol->default_deny[dir] == 1;
	return pol->n_rules[allow] + pol->n_rules[deny] > 0;
}

static struct idg_rule_entry *entry_push(struct idg_rctx *x)
{
	struct idg_rule_entry *e =
		IDG_VEC_PUSH(x->out->rules, x->out->n_rules, x->rules_cap);

	if (e)
		memset(e, 0, sizeof(*e));
	return e;
}

static int rule_emit(struct idg_rctx *x, struct subject *sub,
		     const struct idg_flat_rule *f)
{
	static const uint8_t any_protos[] = { IPPROTO_TCP, IPPROTO_UDP,
					      IPPROTO_SCTP };
	const struct idg_rule *r = &f->pol->rules[f->set][f->index];
	struct idg_rule_entry tmpl = {
		.subject = sub->id,
		.dir = idg_set_dir(f->set),
		.kind = set_kind(f->set),
		.icmp_type = -1,
		.cookie = f->cookie,
	};
	struct idg_rule_entry *e;

	for (size_t p = 0; p < f->n_peers; p++) {
		tmpl.peer = f->peers[p];
		/* L3 only: every protocol, ICMP included. */
		if (!r->n_ports && !r->n_icmps) {
			e = entry_push(x);
			if (!e)
				return -ENOMEM;
			*e = tmpl;
		}
		for (size_t i = 0; i < r->n_ports; i++) {
			const struct idg_port_rule *pr = &r->ports[i];
			/* ANY is TCP, UDP and SCTP: never ICMP. */
			size_t n = pr->proto ? 1 : 3;

			for (size_t k = 0; k < n; k++) {
				e = entry_push(x);
				if (!e)
					return -ENOMEM;
				*e = tmpl;
				e->proto = pr->proto ? pr->proto : any_protos[k];
				e->port = pr->port;
				e->end_port = pr->end_port;
			}
		}
		for (size_t i = 0; i < r->n_icmps; i++) {
			e = entry_push(x);
			if (!e)
				return -ENOMEM;
			*e = tmpl;
			e->proto = r->icmps[i].family == IDG_FAM_IPV6 ?
					   IPPROTO_ICMPV6 : IPPROTO_ICMP;
			e->icmp_type = r->icmps[i].type;
		}
	}
	if (f->n_peers && tmpl.kind == IDG_RULE_DENY)
		sub->has_deny[tmpl.dir] = true;
	return 0;
}

/* The rules of the policies (indices into cfg->policies) selecting sub. */
static int subject_compile(struct idg_rctx *x, struct subject *sub,
			   const size_t *pols, size_t n_pols)
{
	const struct idg_config *cfg = x->cfg;
	int err;

	for (size_t k = 0; k < n_pols; k++) {
		size_t p = pols[k];
		const struct idg_policy *pol = &cfg->policies[p];
		size_t end = p + 1 < cfg->n_policies ? x->pol_first[p + 1] :
						       x->n_rules;

		for (int dir = 0; dir < 2; dir++)
			if (policy_default_deny(pol, dir))
				sub->enf[dir] = true;
		for (size_t i = x->pol_first[p]; i < end; i++) {
			err = idg_rule_peers(x, &x->rules[i]);
			if (!err)
				err = rule_emit(x, sub, &x->rules[i]);
			if (err)
				return err;
		}
	}
	return 0;
}

/* IDG_EP_F_* for one subject, after its rules are emitted. */
static int subject_flags(struct idg_rctx *x, struct subject *sub, uint32_t *flags)
{
	static const uint32_t enf_f[2] = { IDG_EP_F_ENFORCE_INGRESS,
					   IDG_EP_F_ENFORCE_EGRESS };
	static const uint32_t deny_f[2] = { IDG_EP_F_DENY_INGRESS,
					    IDG_EP_F_DENY_EGRESS };
	struct idg_rule_entry *e;

	*flags = 0;
	if (x->out->enforcement == IDG_ENFORCE_NEVER)
		return 0;
	for (int dir = 0; dir < 2; dir++) {
		bool on = sub->enf[dir];

		/* always: every endpoint both ways; the host on ingress, and
		 * on egress only when a host policy asks for it: a host
		 * without egress rules would cut itself off. */
		if (x->out->enforcement == IDG_ENFORCE_ALWAYS &&
		    !(sub->host && dir == IDG_DIR_EGRESS))
			on = true;
		if (on) {
			*flags |= enf_f[dir];
			if (sub->has_deny[dir])
				*flags |= deny_f[dir];
			continue;
		}
		if (!sub->has_deny[dir])
			continue;
		/*
		 * Deny rules from policies that do not turn default-deny on
		 * (enableDefaultDeny: false) still deny in Cilium, and
		 * everything else passes. The datapath judges only enforced
		 * directions, so enforce with an allow-everything entry
		 * underneath the denies; cookie 0: not a rule of the config.
		 */
		e = entry_push(x);
		if (!e)
			return -ENOMEM;
		e->subject = sub->id;
		e->dir = (uint8_t)dir;
		e->kind = IDG_RULE_ALLOW;
		e->icmp_type = -1;
		*flags |= enf_f[dir] | deny_f[dir];
	}
	return 0;
}

static int host_compile(struct idg_rctx *x)
{
	struct subject sub = { .id = IDG_ID_HOST, .host = true };
	struct idg_pol_list l = { 0 };
	int err = 0;

	for (size_t p = 0; p < x->cfg->n_policies; p++) {
		size_t *e;

		if (!idg_select_host(x, &x->cfg->policies[p]))
			continue;
		e = IDG_VEC_PUSH(l.v, l.n, l.cap);
		if (!e) {
			err = -ENOMEM;
			goto out;
		}
		*e = p;
	}
	if (!l.n && x->out->enforcement == IDG_ENFORCE_ALWAYS)
		idg_warn(x->d, x->out->node->pos,
			 "node %s: policyEnforcement always and no host policy (nodeSelector) selects this node: only ARP/ND and replies reach the host",
			 x->out->node->name);
	err = subject_compile(x, &sub, l.v, l.n);
	if (!err)
		err = subject_flags(x, &sub, &x->out->host_flags);
out:
	free(l.v);
	return err;
}

/* Rules and flags of every endpoint identity on this node, once per
 * identity: endpoints that share one share its rules. */
static int endpoints_compile(struct idg_rctx *x)
{
	const struct idg_idents *ids = x->ids;
	struct idg_compiled *out = x->out;
	struct idg_pol_list *lists = NULL;
	uint32_t *flags = NULL; /* per group, +1: 0 = not compiled yet */
	uint8_t *local = NULL;
	int err = -ENOMEM;

	lists = calloc(ids->n_groups + 1, sizeof(*lists));
	flags = calloc(ids->n_groups + 1, sizeof(*flags));
	local = calloc(ids->n_groups + 1, sizeof(*local));
	if (!lists || !flags || !local)
		goto out;
	for (size_t i = 0; i < out->n_eps; i++)
		local[ids->ep_group[out->eps[i].ep_id - 1]] = 1;
	err = idg_select_subjects(x, local, lists);
	if (err)
		goto out;
	for (size_t i = 0; i < out->n_eps; i++) {
		size_t gi = ids->ep_group[out->eps[i].ep_id - 1];
		struct subject sub = {
			.id = ids->groups[gi].id,
			.g = &ids->groups[gi],
		};
		uint32_t f;

		if (!flags[gi]) {
			err = subject_compile(x, &sub, lists[gi].v,
					      lists[gi].n);
			if (!err)
				err = subject_flags(x, &sub, &f);
			if (err)
				goto out;
			flags[gi] = f + 1;
		}
		out->eps[i].flags = flags[gi] - 1;
	}
out:
	for (size_t i = 0; lists && i < ids->n_groups; i++)
		free(lists[i].v);
	free(lists);
	free(flags);
	free(local);
	return err;
}

/*
 * The datapath knows an endpoint only by the addresses the config lists:
 * traffic of a dual-stack workload from its unlisted family is nobody's,
 * and in default mode nobody's traffic passes unjudged. One line for each
 * family on this node, however many endpoints.
 */
static void single_family_warnings(struct idg_rctx *x)
{
	static const char *const fam_name[2] = { "IPv4", "IPv6" };
	const struct idg_compiled *out = x->out;
	const struct idg_endpoint *shown[2][3];
	size_t n[2] = { 0, 0 };

	if (out->enforcement != IDG_ENFORCE_DEFAULT)
		return;
	for (size_t i = 0; i < out->n_eps; i++) {
		const struct idg_endpoint *ep = out->eps[i].ep;
		bool fam[2] = { false, false };
		int only;

		/* An endpoint's addresses are consecutive, its flags shared. */
		if ((i && out->eps[i - 1].ep == ep) ||
		    !(out->eps[i].flags & (IDG_EP_F_ENFORCE_INGRESS |
					   IDG_EP_F_ENFORCE_EGRESS)))
			continue;
		for (size_t k = 0; k < ep->n_ips; k++)
			fam[ep->ips[k].family == IDG_FAM_IPV6] = true;
		if (fam[0] == fam[1])
			continue;
		only = fam[1];
		if (n[only] < 3)
			shown[only][n[only]] = ep;
		n[only]++;
	}
	for (int f = 0; f < 2; f++) {
		char names[1024], more[32] = "";
		size_t len = 0;

		if (!n[f])
			continue;
		for (size_t i = 0; i < n[f] && i < 3; i++) {
			int w = snprintf(names + len, sizeof(names) - len,
					 "%s%s/%s", i ? ", " : "",
					 shown[f][i]->namespace,
					 shown[f][i]->name);

			/* Three names within their limits always fit. */
			if (w < 0 || (size_t)w >= sizeof(names) - len)
				break;
			len += (size_t)w;
		}
		if (n[f] > 3)
			snprintf(more, sizeof(more), " and %zu more", n[f] - 3);
		idg_warn(x->d, (struct idg_pos){ .file = x->cfg->file },
			 "%zu endpoint%s selected by policies list%s only %s addresses (%s%s): if a workload also has %s addresses, its %s traffic is not recognised as the endpoint's and is not enforced; list every address of the endpoint in spec.ips, or set policyEnforcement: always on node %s",
			 n[f], n[f] == 1 ? "" : "s", n[f] == 1 ? "s" : "",
			 fam_name[f], names, more, fam_name[!f], fam_name[!f],
			 out->node->name);
	}
}

int idg_rules_build(const struct idg_config *cfg,
		    const struct idg_idents *ids, const struct idg_state *old,
		    struct idg_state *new_st, struct idg_compiled *out,
		    struct idg_diags *d, struct idg_compile_memo *memo)
{
	struct idg_rctx x = {
		.cfg = cfg,
		.ids = ids,
		.out = out,
		.d = d,
		.local = out->cluster_id,
		.local_name = out->node->cluster ? out->node->cluster : "",
	};
	size_t errors = d->n_errors;
	int err;

	err = flat_rules_build(&x);
	if (!err)
		err = dup_policies_check(&x);
	if (!err && d->n_errors == errors && memo)
		err = idg_pol_files_find(&x, memo);
	if (!err && d->n_errors == errors)
		err = cookies_assign(&x, old, new_st);
	if (err || d->n_errors > errors)
		goto out;
	if (x.files)
		err = idg_selector_warnings_memo(&x);
	else
		idg_selector_warnings(&x, 0, cfg->n_policies);
	if (!err)
		err = host_compile(&x);
	if (!err)
		err = endpoints_compile(&x);
	if (!err)
		single_family_warnings(&x);
	if (!err && x.files)
		err = idg_pol_memo_update(&x);
out:
	idg_pol_files_free(&x);
	flat_rules_free(&x);
	return err;
}
