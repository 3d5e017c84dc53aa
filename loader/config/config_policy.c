// SPDX-License-Identifier: GPL-2.0
/* CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy specs and rules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

static const char *const rs_names[IDG_RS_MAX] = {
	[IDG_RS_INGRESS] = "ingress",
	[IDG_RS_EGRESS] = "egress",
	[IDG_RS_INGRESS_DENY] = "ingressDeny",
	[IDG_RS_EGRESS_DENY] = "egressDeny",
};

const char *idg_rule_set_name(enum idg_rule_set s)
{
	return s < IDG_RS_MAX ? rs_names[s] : "?";
}

static void rule_free(struct idg_rule *r)
{
	for (size_t i = 0; i < r->n_endpoints; i++)
		cfg_selector_free(&r->endpoints[i]);
	free(r->endpoints);
	for (size_t i = 0; i < r->n_cidrs; i++)
		free(r->cidrs[i].except);
	free(r->cidrs);
	free(r->ports);
	for (size_t i = 0; i < r->n_l7; i++)
		cfg_l7_free(&r->l7[i]);
	free(r->l7);
	free(r->icmps);
}

void cfg_policy_free(struct idg_policy *pol)
{
	free(pol->name);
	free(pol->namespace);
	cfg_selector_free(&pol->subject);
	for (int k = 0; k < IDG_RS_MAX; k++) {
		for (size_t i = 0; i < pol->n_rules[k]; i++)
			rule_free(&pol->rules[k][i]);
		free(pol->rules[k]);
	}
}

static int peer_endpoints(struct cfg_parser *p, const yaml_node_t *n,
			  const char *what, struct idg_rule *r)
{
	int err = 0;

	r->has_endpoints = true;
	if (!yc_is_seq(p, n, what))
		return -EINVAL;
	for (size_t i = 0; i < yc_seq_len(n); i++) {
		struct idg_selector *s = cfg_push(r->endpoints, r->n_endpoints);

		if (!s)
			return cfg_oom(p, n);
		if (cfg_selector(p, yc_seq_item(p, n, i), what, s))
			err = -EINVAL;
	}
	return err;
}

static int peer_cidrs(struct cfg_parser *p, const yaml_node_t *n,
		      const char *what, struct idg_rule *r)
{
	int err = 0;

	r->has_cidrs = true;
	if (!yc_is_seq(p, n, what))
		return -EINVAL;
	for (size_t i = 0; i < yc_seq_len(n); i++) {
		struct idg_cidr c;
		struct idg_cidr_set *cs;

		if (cfg_cidr(p, yc_seq_item(p, n, i), what, &c)) {
			err = -EINVAL;
			continue;
		}
		cs = cfg_push(r->cidrs, r->n_cidrs);
		if (!cs)
			return cfg_oom(p, n);
		cs->cidr = c;
	}
	return err;
}

static int cidr_set(struct cfg_parser *p, const yaml_node_t *n,
		    const char *what, struct idg_rule *r)
{
	static const char no_groups[] =
		"is not supported: idgate has no CiliumCIDRGroup objects, list the CIDRs";
	struct yc_kv cidr = { 0 }, except = { 0 };
	const struct yc_field f[] = {
		YC_F("cidr", &cidr),
		YC_F("except", &except),
		YC_REJECT("cidrGroupRef", no_groups),
		YC_REJECT("cidrGroupSelector", no_groups),
	};
	char a[64], b[64];
	struct idg_cidr_set *cs;
	struct idg_cidr c;
	int err = 0;

	if (yc_fields(p, n, what, f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (!cidr.val) {
		yc_missing(p, n, "cidr", what);
		return -EINVAL;
	}
	if (cfg_cidr(p, cidr.val, what, &c))
		return -EINVAL;
	cs = cfg_push(r->cidrs, r->n_cidrs);
	if (!cs)
		return cfg_oom(p, n);
	cs->cidr = c;
	if (!except.val || yc_is_null(except.val))
		return 0;
	if (cfg_cidr_list(p, except.val, "except", CFG_CIDR_PREFIX, &cs->except,
			  &cs->n_except))
		err = -EINVAL;
	for (size_t i = 0; i < cs->n_except; i++) {
		if (idg_cidr_contains(&cs->cidr, &cs->except[i]))
			continue;
		idg_err(p->d, cs->except[i].pos,
			"except %s is not inside cidr %s",
			idg_cidr_str(&cs->except[i], a, sizeof(a)),
			idg_cidr_str(&cs->cidr, b, sizeof(b)));
		err = -EINVAL;
	}
	return err;
}

static int peer_cidr_sets(struct cfg_parser *p, const yaml_node_t *n,
			  const char *what, struct idg_rule *r)
{
	int err = 0;

	r->has_cidrs = true;
	if (!yc_is_seq(p, n, what))
		return -EINVAL;
	for (size_t i = 0; i < yc_seq_len(n); i++)
		if (cidr_set(p, yc_seq_item(p, n, i), what, r))
			err = -EINVAL;
	return err;
}

static int peer_entities(struct cfg_parser *p, const yaml_node_t *n,
			 const char *what, struct idg_rule *r)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} known[] = {
		{ "world", IDG_ENT_WORLD },
		{ "cluster", IDG_ENT_CLUSTER },
		{ "host", IDG_ENT_HOST },
		{ "remote-node", IDG_ENT_REMOTE_NODE },
		{ "all", IDG_ENT_ALL },
	};
	/* Cilium entities idgate has no identity for (yet). */
	static const char *const unsupported[] = {
		"health", "init", "unmanaged", "kube-apiserver", "ingress",
		"world-ipv4", "world-ipv6", NULL,
	};
	int err = 0;

	r->has_entities = true;
	if (!yc_is_seq(p, n, what))
		return -EINVAL;
	for (size_t i = 0; i < yc_seq_len(n); i++) {
		yaml_node_t *e = yc_seq_item(p, n, i);
		const char *s = yc_scalar(e);
		bool found = false;

		for (size_t k = 0; s && k < YC_ARRAY_SIZE(known); k++)
			if (!strcmp(s, known[k].name)) {
				r->entities |= known[k].bit;
				found = true;
			}
		if (found)
			continue;
		err = -EINVAL;
		for (size_t k = 0; s && unsupported[k]; k++)
			if (!strcmp(s, unsupported[k]))
				found = true;
		if (found)
			idg_err(p->d, yc_pos(p, e),
				"%s: entity '%s' is not supported (supported: world, cluster, host, remote-node, all)",
				what, s);
		else
			idg_err(p->d, yc_pos(p, e),
				"%s: unknown entity '%.40s' (expected world, cluster, host, remote-node or all)",
				what, s ? s : "");
	}
	return err;
}

static const char unsup_requires[] =
	"is not supported by idgate (and deprecated in Cilium)";
static const char unsup_nodes[] =
	"is not supported by idgate yet: use the host and remote-node entities";
static const char unsup_groups[] =
	"is not supported by idgate (no cloud provider groups)";
static const char unsup_services[] =
	"is not supported by idgate yet (there are no Kubernetes services)";
static const char unsup_fqdns[] =
	"is not supported by idgate yet (DNS-based rules need a DNS proxy)";
static const char unsup_auth[] =
	"is not supported by idgate yet (no mutual authentication)";

static const char *const rule_where[IDG_RS_MAX] = {
	[IDG_RS_INGRESS] = "ingress rule",
	[IDG_RS_EGRESS] = "egress rule",
	[IDG_RS_INGRESS_DENY] = "ingressDeny rule",
	[IDG_RS_EGRESS_DENY] = "egressDeny rule",
};

static const char *const rule_wrong[IDG_RS_MAX] = {
	[IDG_RS_INGRESS] = "is an egress field: not allowed in an ingress rule",
	[IDG_RS_EGRESS] = "is an ingress field: not allowed in an egress rule",
	[IDG_RS_INGRESS_DENY] =
		"is an egress field: not allowed in an ingressDeny rule",
	[IDG_RS_EGRESS_DENY] =
		"is an ingress field: not allowed in an egressDeny rule",
};

static int rule(struct cfg_parser *p, const yaml_node_t *n,
		enum idg_rule_set rs, struct idg_rule *r)
{
	bool in = rs == IDG_RS_INGRESS || rs == IDG_RS_INGRESS_DENY;
	bool deny = rs == IDG_RS_INGRESS_DENY || rs == IDG_RS_EGRESS_DENY;
	struct yc_kv eps = { 0 }, cidr = { 0 }, cset = { 0 }, ents = { 0 },
		     ports = { 0 }, icmps = { 0 };
	/* Built once per rule set: a config has thousands of rules. */
	const char *where = rule_where[rs], *wrong = rule_wrong[rs];
	int err = 0;

	const struct yc_field f_in[] = {
		YC_F("fromEndpoints", &eps),
		YC_F("fromCIDR", &cidr),
		YC_F("fromCIDRSet", &cset),
		YC_F("fromEntities", &ents),
		YC_F("toPorts", &ports),
		YC_F("icmps", &icmps),
		YC_REJECT("fromRequires", unsup_requires),
		YC_REJECT("fromNodes", unsup_nodes),
		YC_REJECT("fromGroups", unsup_groups),
		YC_REJECT("authentication", unsup_auth),
		YC_REJECT("toEndpoints", wrong),
		YC_REJECT("toCIDR", wrong),
		YC_REJECT("toCIDRSet", wrong),
		YC_REJECT("toEntities", wrong),
		YC_REJECT("toRequires", wrong),
		YC_REJECT("toNodes", wrong),
		YC_REJECT("toGroups", wrong),
		YC_REJECT("toServices", wrong),
		YC_REJECT("toFQDNs", wrong),
	};
	const struct yc_field f_out[] = {
		YC_F("toEndpoints", &eps),
		YC_F("toCIDR", &cidr),
		YC_F("toCIDRSet", &cset),
		YC_F("toEntities", &ents),
		YC_F("toPorts", &ports),
		YC_F("icmps", &icmps),
		YC_REJECT("toRequires", unsup_requires),
		YC_REJECT("toNodes", unsup_nodes),
		YC_REJECT("toGroups", unsup_groups),
		YC_REJECT("toServices", unsup_services),
		YC_REJECT("toFQDNs", unsup_fqdns),
		YC_REJECT("authentication", unsup_auth),
		YC_REJECT("fromEndpoints", wrong),
		YC_REJECT("fromCIDR", wrong),
		YC_REJECT("fromCIDRSet", wrong),
		YC_REJECT("fromEntities", wrong),
		YC_REJECT("fromRequires", wrong),
		YC_REJECT("fromNodes", wrong),
		YC_REJECT("fromGroups", wrong),
	};
	const struct yc_kv *l3[] = { &eps, &cidr, &cset, &ents };
	const struct yc_kv *first = NULL;

	r->pos = yc_pos(p, n);
	if (yc_fields(p, n, where, in ? f_in : f_out,
		      in ? YC_ARRAY_SIZE(f_in) : YC_ARRAY_SIZE(f_out)))
		return -EINVAL;
	if (eps.val && peer_endpoints(p, eps.val, yc_scalar(eps.key), r))
		err = -EINVAL;
	if (cidr.val && peer_cidrs(p, cidr.val, yc_scalar(cidr.key), r))
		err = -EINVAL;
	if (cset.val && peer_cidr_sets(p, cset.val, yc_scalar(cset.key), r))
		err = -EINVAL;
	if (ents.val && peer_entities(p, ents.val, yc_scalar(ents.key), r))
		err = -EINVAL;
	if (ports.val && cfg_to_ports(p, ports.val, deny, r))
		err = -EINVAL;
	if (icmps.val && cfg_icmps(p, icmps.val, r))
		err = -EINVAL;

	/* Cilium rejects both of these; accepting them would change meaning
	 * for anyone moving a policy between the two. */
	for (size_t i = 0; i < YC_ARRAY_SIZE(l3); i++) {
		const yaml_node_t *v = l3[i]->val;

		if (!v || v->type != YAML_SEQUENCE_NODE || !yc_seq_len(v))
			continue;
		if (!first) {
			first = l3[i];
			continue;
		}
		idg_err(p->d, yc_pos(p, l3[i]->key),
			"combining %s and %s in one rule is not supported (Cilium rejects it too): write one rule for each",
			yc_scalar(first->key), yc_scalar(l3[i]->key));
		err = -EINVAL;
	}
	if (r->n_icmps && r->n_ports) {
		idg_err(p->d, yc_pos(p, icmps.key),
			"icmps and toPorts cannot be combined in one rule (Cilium rejects it too): write one rule for each");
		err = -EINVAL;
	}
	return err;
}

static int rule_set(struct cfg_parser *p, const yaml_node_t *n,
		    enum idg_rule_set rs, struct idg_policy *pol)
{
	int err = 0;

	pol->present[rs] = true;
	if (!yc_is_seq(p, n, rs_names[rs]))
		return -EINVAL;
	for (size_t i = 0; i < yc_seq_len(n); i++) {
		struct idg_rule *r = cfg_push(pol->rules[rs], pol->n_rules[rs]);

		if (!r)
			return cfg_oom(p, n);
		if (rule(p, yc_seq_item(p, n, i), rs, r))
			err = -EINVAL;
	}
	return err;
}

static int default_deny(struct cfg_parser *p, const yaml_node_t *n,
			struct idg_policy *pol)
{
	struct yc_kv in = { 0 }, out = { 0 };
	const struct yc_field f[] = {
		YC_F("ingress", &in),
		YC_F("egress", &out),
	};
	bool v;
	int err = 0;

	if (yc_fields(p, n, "enableDefaultDeny", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (in.val) {
		if (yc_bool(p, in.val, "enableDefaultDeny.ingress", &v))
			err = -EINVAL;
		else
			pol->default_deny[0] = v;
	}
	if (out.val) {
		if (yc_bool(p, out.val, "enableDefaultDeny.egress", &v))
			err = -EINVAL;
		else
			pol->default_deny[1] = v;
	}
	return err;
}

int cfg_policy_spec(struct cfg_parser *p, const yaml_node_t *spec,
		    struct idg_policy *pol)
{
	static const char only_ccnp[] =
		"is only allowed in a CiliumClusterwideNetworkPolicy";
	struct yc_kv eps = { 0 }, nodes = { 0 }, dd = { 0 }, desc = { 0 },
		     labels = { 0 }, sets[IDG_RS_MAX] = { { 0 } };
	const struct yc_field f[] = {
		YC_F("endpointSelector", &eps),
		{ "nodeSelector", pol->clusterwide ? &nodes : NULL, only_ccnp },
		YC_F("ingress", &sets[IDG_RS_INGRESS]),
		YC_F("egress", &sets[IDG_RS_EGRESS]),
		YC_F("ingressDeny", &sets[IDG_RS_INGRESS_DENY]),
		YC_F("egressDeny", &sets[IDG_RS_EGRESS_DENY]),
		YC_F("enableDefaultDeny", &dd),
		YC_F("description", &desc),
		YC_F("labels", &labels),
	};
	const char *where = pol->clusterwide ?
				    "CiliumClusterwideNetworkPolicy spec" :
				    "CiliumNetworkPolicy spec";
	size_t errors = p->d->n_errors;
	int err = 0;

	pol->default_deny[0] = pol->default_deny[1] = -1;
	if (yc_fields(p, spec, where, f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (eps.val && nodes.val) {
		idg_err(p->d, yc_pos(p, nodes.key),
			"endpointSelector and nodeSelector are mutually exclusive");
		err = -EINVAL;
	} else if (nodes.val) {
		pol->node_selector = true;
		if (cfg_selector(p, nodes.val, "nodeSelector", &pol->subject))
			err = -EINVAL;
	} else if (eps.val) {
		if (cfg_selector(p, eps.val, "endpointSelector", &pol->subject))
			err = -EINVAL;
	} else {
		yc_missing(p, spec, "endpointSelector", where);
		err = -EINVAL;
	}
	for (int k = 0; k < IDG_RS_MAX; k++)
		if (sets[k].val && rule_set(p, sets[k].val, k, pol))
			err = -EINVAL;
	if (dd.val && default_deny(p, dd.val, pol))
		err = -EINVAL;
	if (desc.val && (!yc_scalar(desc.val))) {
		idg_err(p->d, yc_pos(p, desc.val),
			"description: expected a string");
		err = -EINVAL;
	}
	/* Cilium rule labels only name the rule; idgate names rules by
	 * policy and position. */
	if (labels.val && !yc_is_seq(p, labels.val, "spec.labels"))
		err = -EINVAL;
	/* Last, and only alone: after a misspelt field (ingres) or another
	 * error in the spec, that error is the useful one. */
	if (!sets[IDG_RS_INGRESS].key && !sets[IDG_RS_EGRESS].key &&
	    !sets[IDG_RS_INGRESS_DENY].key && !sets[IDG_RS_EGRESS_DENY].key &&
	    p->d->n_errors == errors) {
		idg_err(p->d, yc_pos(p, spec),
			"%s has none of ingress, ingressDeny, egress and egressDeny: Cilium's schema requires at least one (an empty list is enough)",
			where);
		err = -EINVAL;
	}
	return err;
}
