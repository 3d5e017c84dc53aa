// SPDX-License-Identifier: GPL-2.0
/*
 * CiliumEgressGatewayPolicy into the egress tables: which source endpoint
 * going to which destination leaves through which gateway nodes. Every
 * node computes the same tables from the same file: the source node uses
 * them to pick a gateway, the gateway to check a tunnelled flow is
 * entitled to it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_int.h"

/* Namespaces have no objects here: their only label is their name, as
 * Kubernetes sets it. */
#define IDG_LABEL_NS_NAME "kubernetes.io/metadata.name"

static bool egw_selects(const struct idg_egw_policy *p,
			const struct idg_endpoint *ep,
			const struct idg_labels *canon)
{
	for (size_t i = 0; i < p->n_selectors; i++) {
		const struct idg_egw_selector *s = &p->selectors[i];

		if (!idg_selector_matches(&s->pod, canon))
			continue;
		if (s->has_namespace) {
			struct idg_label l = { (char *)IDG_LABEL_NS_NAME,
					       ep->namespace };
			struct idg_labels ns = { &l, 1 };

			if (!idg_selector_matches(&s->ns, &ns))
				continue;
		}
		return true;
	}
	return false;
}

static int node_name_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct idg_node *const *)a)->name,
		      (*(const struct idg_node *const *)b)->name);
}

/* Gateway nodes of policy p for sources in cluster src_cluster. */
static int gwset_build(const struct idg_config *cfg,
		       const struct idg_egw_policy *p, const char *src_cluster,
		       struct idg_gwset_entry *e, struct idg_diags *d)
{
	const struct idg_node *found[64];
	size_t n = 0;

	for (size_t g = 0; g < p->n_gateways; g++) {
		const struct idg_egw_gateway *gw = &p->gateways[g];
		const char *cluster = gw->cluster_name ? gw->cluster_name :
							 src_cluster;

		for (size_t i = 0; i < cfg->n_nodes; i++) {
			const struct idg_node *nd = &cfg->nodes[i];
			bool dup = false;

			if (strcmp(nd->cluster, cluster))
				continue;
			if (gw->gateway_name &&
			    (!nd->gateway_name ||
			     strcmp(nd->gateway_name, gw->gateway_name)))
				continue;
			if (gw->has_node_selector &&
			    !idg_selector_matches(&gw->node_selector,
						  &nd->labels))
				continue;
			for (size_t k = 0; k < n; k++)
				dup |= found[k] == nd;
			if (!dup && n < sizeof(found) / sizeof(found[0]))
				found[n++] = nd;
		}
	}
	qsort(found, n, sizeof(found[0]), node_name_cmp);
	memset(&e->set, 0, sizeof(e->set));
	for (size_t i = 0; i < n; i++) {
		const struct idg_node *nd = found[i];
		uint32_t ip;

		if (!nd->has_tunnel_ip || nd->tunnel_ip.family != IDG_FAM_IPV4) {
			idg_warn(d, nd->pos,
				 "egress policy %s: gateway node %s has no IPv4 tunnelIP and cannot serve",
				 p->name, nd->name);
			continue;
		}
		if (e->set.n == IDG_GW_PER_SET) {
			idg_warn(d, p->pos,
				 "egress policy %s: more than %d gateway nodes; %s and later ones are not used",
				 p->name, IDG_GW_PER_SET, nd->name);
			break;
		}
		memcpy(&ip, nd->tunnel_ip.addr, 4);
		e->nodes[e->set.n] = nd;
		e->set.tunnel_ip[e->set.n++] = ip;
	}
	return 0;
}

static int egw_policy_build(const struct idg_config *cfg,
			    const struct idg_idents *ids, size_t pi,
			    struct idg_compiled *out, size_t *cap_egw,
			    size_t *cap_sets, struct idg_diags *d)
{
	const struct idg_egw_policy *p = &cfg->egw_policies[pi];
	size_t sources = 0;

	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		const struct idg_id_group *grp = &ids->groups[ids->ep_group[i]];
		const struct idg_node *nd = ids->ep_node[i];
		struct idg_gwset_entry *set = NULL;
		uint32_t egress_ip = 0;

		if (!nd || !egw_selects(p, ep, &grp->labels))
			continue;
		/* One gateway set per (policy, source cluster). */
		for (size_t s = 0; s < out->n_gwsets; s++)
			if (out->gwsets[s].policy == p &&
			    out->gwsets[s].src_cluster == nd->cluster_id)
				set = &out->gwsets[s];
		if (!set) {
			if (out->n_gwsets >= IDG_GWSET_MAX) {
				idg_err(d, p->pos, "more than %d egress gateway sets",
					IDG_GWSET_MAX);
				return -EINVAL;
			}
			set = IDG_VEC_PUSH(out->gwsets, out->n_gwsets, *cap_sets);
			if (!set)
				return -ENOMEM;
			memset(set, 0, sizeof(*set));
			set->index = (uint32_t)(out->n_gwsets - 1);
			set->policy = p;
			set->src_cluster = nd->cluster_id;
			gwset_build(cfg, p, nd->cluster, set, d);
			if (!set->set.n)
				idg_warn(d, p->pos,
					 "egress policy %s: no gateway node for sources of cluster %s: their traffic to the destinations is dropped (no-healthy-gateway)",
					 p->name, nd->cluster);
		}
		if (p->n_gateways == 1 && p->gateways[0].has_egress_ip)
			memcpy(&egress_ip, p->gateways[0].egress_ip.addr, 4);

		for (size_t a = 0; a < ep->n_ips; a++) {
			const struct idg_cidr *src = &ep->ips[a];

			if (src->family != IDG_FAM_IPV4 || src->plen != 32)
				continue; /* egress gateway is IPv4, per address */
			sources++;
			for (int excl = 0; excl < 2; excl++) {
				const struct idg_cidr *dsts =
					excl ? p->excluded : p->destinations;
				size_t nd_ = excl ? p->n_excluded :
						    p->n_destinations;

				for (size_t k = 0; k < nd_; k++) {
					struct idg_egw_entry *e;

					if (dsts[k].family != IDG_FAM_IPV4)
						continue;
					e = IDG_VEC_PUSH(out->egw, out->n_egw,
							 *cap_egw);
					if (!e)
						return -ENOMEM;
					memset(e, 0, sizeof(*e));
					e->cluster_id = (uint16_t)nd->cluster_id;
					memcpy(&e->src_ip, src->addr, 4);
					e->dst = dsts[k];
					e->val.gwset = set->index;
					e->val.egress_ip = egress_ip;
					e->val.flags = excl ? IDG_EGW_F_EXCLUDED : 0;
					e->val.policy_id = (uint32_t)pi + 1;
					e->val.identity = grp->id;
					e->policy = p;
					e->source = ep;
				}
			}
		}
	}
	if (!sources)
		idg_warn(d, p->pos,
			 "egress policy %s selects no endpoint with an IPv4 address",
			 p->name);
	return 0;
}

int idg_egw_build(const struct idg_config *cfg, const struct idg_idents *ids,
		  const struct idg_node *self, struct idg_compiled *out,
		  struct idg_diags *d)
{
	size_t cap_egw = 0, cap_sets = 0, cap_nodes = 0;
	int err;

	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct idg_node *nd = &cfg->nodes[i];
		struct idg_tunnel_node *t;

		if (!nd->has_tunnel_ip || nd->tunnel_ip.family != IDG_FAM_IPV4)
			continue;
		t = IDG_VEC_PUSH(out->tnodes, out->n_tnodes, cap_nodes);
		if (!t)
			return -ENOMEM;
		memcpy(&t->tunnel_ip, nd->tunnel_ip.addr, 4);
		t->cluster_id = nd->cluster_id;
		t->node = nd;
	}
	for (size_t pi = 0; pi < cfg->n_egw_policies; pi++) {
		err = egw_policy_build(cfg, ids, pi, out, &cap_egw, &cap_sets, d);
		if (err)
			return err;
	}
	for (size_t s = 0; s < out->n_gwsets; s++)
		for (size_t k = 0; k < out->gwsets[s].set.n; k++)
			out->is_gateway |= out->gwsets[s].nodes[k] == self;
	if (out->is_gateway && !self->has_egress_ip)
		idg_warn(d, self->pos,
			 "node %s serves an egress gateway but has no spec.egress.ip: only policies that set egressIP can use it",
			 self->name);
	if (out->is_gateway && !self->external)
		idg_warn(d, self->pos,
			 "node %s serves an egress gateway but has no spec.interfaces.external: replies cannot be translated back",
			 self->name);
	if ((out->n_egw || out->is_gateway) &&
	    (!self->has_tunnel_ip || self->tunnel_ip.family != IDG_FAM_IPV4)) {
		idg_err(d, self->pos,
			"node %s takes part in an egress gateway policy but has no IPv4 tunnelIP",
			self->name);
		return -EINVAL;
	}
	return 0;
}

bool idg_node_tunnels(const struct idg_compiled *c)
{
	if (c->is_gateway)
		return true;
	for (size_t i = 0; i < c->n_egw; i++)
		if (!strcmp(c->egw[i].source->node, c->node->name))
			return true;
	return false;
}
