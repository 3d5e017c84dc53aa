// SPDX-License-Identifier: GPL-2.0
/*
 * Checks that need the whole file: duplicate objects, cluster ids, and
 * references between documents (endpoint -> node, gateway -> node).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

struct obj_key {
	const char *kind;
	/* Endpoints are unique per cluster, as pods are; NULL otherwise. */
	const char *cluster;
	const char *ns; /* NULL for objects without a namespace */
	const char *name;
	struct idg_pos pos;
	size_t order; /* document order */
};

static int nullstr_cmp(const char *a, const char *b)
{
	if (!a || !b)
		return a ? 1 : b ? -1 : 0;
	return strcmp(a, b);
}

static int same_obj(const struct obj_key *a, const struct obj_key *b)
{
	int c = strcmp(a->kind, b->kind);

	if (!c)
		c = nullstr_cmp(a->cluster, b->cluster);
	if (!c)
		c = nullstr_cmp(a->ns, b->ns);
	if (!c)
		c = strcmp(a->name, b->name);
	return c;
}

static int obj_cmp(const void *pa, const void *pb)
{
	const struct obj_key *a = pa, *b = pb;
	int c = same_obj(a, b);

	if (c)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

static void add_key(struct obj_key *v, size_t *n, const char *kind,
		    const char *cluster, const char *ns, const char *name,
		    struct idg_pos pos)
{
	if (!name)
		return; /* already reported as missing */
	v[*n] = (struct obj_key){ kind, cluster, ns, name, pos, *n };
	(*n)++;
}

/* Sorted, the duplicates in v[0..n) reported in sort order: by kind,
 * then name, so the output is stable. */
static void dup_report(struct cfg_parser *p, struct obj_key *v, size_t n)
{
	char where[PATH_MAX + 16];
	size_t head = 0;

	qsort(v, n, sizeof(*v), obj_cmp);
	for (size_t i = 1; i < n; i++) {
		if (same_obj(&v[head], &v[i])) {
			head = i;
			continue;
		}
		idg_err(p->d, v[i].pos,
			"duplicate %s '%s%s%s'%s%s (first defined at %s)",
			v[i].kind, v[i].ns ? v[i].ns : "", v[i].ns ? "/" : "",
			v[i].name, v[i].cluster ? " in cluster " : "",
			v[i].cluster ? v[i].cluster : "",
			idg_pos_ref(v[i].pos, v[head].pos, where,
				    sizeof(where)));
	}
}

/*
 * Policies and egress policies (kinds Cilium...), then endpoints, then
 * nodes: each kind sorts apart from the others, so passes in that order
 * say what one sort of everything would. idents: the endpoints' and
 * nodes' passes, else the policies'.
 */
static void check_duplicates(struct cfg_parser *p, bool idents)
{
	const struct idg_config *cfg = p->cfg;
	size_t total = cfg->n_nodes + cfg->n_endpoints + cfg->n_policies +
		       cfg->n_egw_policies;
	struct obj_key *v;
	size_t n = 0;

	if (!total)
		return;
	v = calloc(total, sizeof(*v));
	if (!v) {
		cfg_oom(p, NULL);
		return;
	}
	if (!idents) {
		for (size_t i = 0; i < cfg->n_policies; i++) {
			const struct idg_policy *pol = &cfg->policies[i];

			add_key(v, &n,
				pol->clusterwide ? "CiliumClusterwideNetworkPolicy" :
						   "CiliumNetworkPolicy",
				NULL, pol->namespace, pol->name, pol->pos);
		}
		for (size_t i = 0; i < cfg->n_egw_policies; i++)
			add_key(v, &n, "CiliumEgressGatewayPolicy", NULL, NULL,
				cfg->egw_policies[i].name,
				cfg->egw_policies[i].pos);
		dup_report(p, v, n);
		goto out;
	}
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		const struct idg_node *node =
			ep->node ? idg_config_node(cfg, ep->node) : NULL;

		add_key(v, &n, "Endpoint", node ? node->cluster : NULL,
			ep->namespace, ep->name, ep->pos);
	}
	dup_report(p, v, n);
	n = 0;
	for (size_t i = 0; i < cfg->n_nodes; i++)
		add_key(v, &n, "Node", NULL, NULL, cfg->nodes[i].name,
			cfg->nodes[i].pos);
	dup_report(p, v, n);
out:
	free(v);
}

/* One id per cluster, one cluster per id: identities carry the id. */
static void check_cluster_ids(struct cfg_parser *p)
{
	const struct idg_node *nodes = p->cfg->nodes;
	char where[PATH_MAX + 16];

	for (size_t i = 0; i < p->n_node_cid; i++) {
		const struct idg_node *a = &nodes[p->node_cid[i].idx];

		if (!a->cluster)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct idg_node *b = &nodes[p->node_cid[j].idx];
			bool same = b->cluster && !strcmp(a->cluster, b->cluster);

			if (!b->cluster)
				continue;
			if (same && a->cluster_id != b->cluster_id) {
				idg_err(p->d, p->node_cid[i].pos,
					"cluster '%s' has clusterID %u on Node '%s' (%s), not %u",
					a->cluster, b->cluster_id,
					b->name ? b->name : "?",
					idg_pos_ref(p->node_cid[i].pos,
						    p->node_cid[j].pos, where,
						    sizeof(where)),
					a->cluster_id);
				break;
			}
			if (!same && a->cluster_id == b->cluster_id) {
				idg_err(p->d, p->node_cid[i].pos,
					"clusterID %u is already used by cluster '%s' (Node '%s', %s)",
					a->cluster_id, b->cluster,
					b->name ? b->name : "?",
					idg_pos_ref(p->node_cid[i].pos,
						    p->node_cid[j].pos, where,
						    sizeof(where)));
				break;
			}
		}
	}
}

static void check_endpoint_nodes(struct cfg_parser *p)
{
	for (size_t i = 0; i < p->n_ep_node; i++) {
		const struct idg_endpoint *ep =
			&p->cfg->endpoints[p->ep_node[i].idx];

		if (!idg_config_node(p->cfg, ep->node))
			idg_err(p->d, p->ep_node[i].pos,
				"spec.node: no Node named '%s' in the config",
				ep->node);
	}
}

/*
 * A workload interface accepts only the addresses of the endpoints bound
 * to it (spec.interface): an endpoint names one of its node's workload
 * interfaces, and a workload interface no endpoint names would drop
 * every packet from it.
 */
static void check_endpoint_interfaces(struct cfg_parser *p)
{
	const struct idg_config *cfg = p->cfg;

	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		const struct idg_node *nd = idg_config_node(cfg, ep->node);
		bool listed = false;

		/* An invalid name was reported where it was read. */
		if (!ep->interface || !nd || !cfg_ifname_ok(ep->interface))
			continue;
		for (size_t k = 0; k < nd->n_endpoint_ifaces; k++)
			listed |= !strcmp(nd->endpoint_ifaces[k], ep->interface);
		if (!listed)
			idg_err(p->d, ep->interface_pos,
				"spec.interface: '%s' is not one of node %s's workload interfaces (spec.interfaces.endpoints)",
				ep->interface, nd->name);
	}
	for (size_t n = 0; n < cfg->n_nodes; n++) {
		const struct idg_node *nd = &cfg->nodes[n];

		/* No endpoint can name a node without a name (reported). */
		if (!nd->name)
			continue;
		for (size_t k = 0; k < nd->n_endpoint_ifaces; k++) {
			bool bound = false;

			for (size_t i = 0; i < cfg->n_endpoints && !bound; i++) {
				const struct idg_endpoint *ep =
					&cfg->endpoints[i];

				bound = ep->interface && ep->node &&
					!strcmp(ep->node, nd->name) &&
					!strcmp(ep->interface,
						nd->endpoint_ifaces[k]);
			}
			if (!bound)
				idg_err(p->d, nd->pos,
					"node %s: workload interface %s has no endpoint (spec.interface: %s on an Endpoint of this node): every packet from it would be dropped as a spoofed source",
					nd->name, nd->endpoint_ifaces[k],
					nd->endpoint_ifaces[k]);
		}
	}
}

static bool cluster_known(const struct idg_config *cfg, const char *cluster)
{
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (cfg->nodes[i].cluster &&
		    !strcmp(cfg->nodes[i].cluster, cluster))
			return true;
	return false;
}

static void check_gateways(struct cfg_parser *p)
{
	const struct idg_config *cfg = p->cfg;

	for (size_t i = 0; i < cfg->n_egw_policies; i++)
		for (size_t j = 0; j < cfg->egw_policies[i].n_gateways; j++) {
			const struct idg_egw_gateway *gw =
				&cfg->egw_policies[i].gateways[j];

			if (gw->cluster_name &&
			    !cluster_known(cfg, gw->cluster_name))
				idg_err(p->d, gw->pos,
					"clusterName '%s': no Node in the config is in that cluster",
					gw->cluster_name);
		}
	for (size_t i = 0; i < p->n_gw_name; i++) {
		const struct idg_egw_gateway *gw =
			&cfg->egw_policies[p->gw_name[i].idx]
				 .gateways[p->gw_name[i].sub];
		bool found = false;

		if (gw->cluster_name && !cluster_known(cfg, gw->cluster_name))
			continue;
		for (size_t k = 0; k < cfg->n_nodes && !found; k++) {
			const struct idg_node *nd = &cfg->nodes[k];

			found = nd->gateway_name &&
				!strcmp(nd->gateway_name, gw->gateway_name) &&
				(!gw->cluster_name ||
				 (nd->cluster &&
				  !strcmp(nd->cluster, gw->cluster_name)));
		}
		if (!found)
			idg_err(p->d, p->gw_name[i].pos,
				"gatewayName '%s': no Node%s%s is annotated %s: %s",
				gw->gateway_name,
				gw->cluster_name ? " of cluster " : "",
				gw->cluster_name ? gw->cluster_name : "",
				IDG_ANNOTATION_GATEWAY, gw->gateway_name);
	}
}

struct ip_key {
	const char *cluster;
	const struct idg_cidr *ip;
	size_t ep;
};

static int ip_cmp(const void *pa, const void *pb)
{
	const struct ip_key *a = pa, *b = pb;
	int c = strcmp(a->cluster, b->cluster);

	if (!c)
		c = a->ip->family - b->ip->family;
	if (!c)
		c = memcmp(a->ip->addr, b->ip->addr, sizeof(a->ip->addr));
	if (!c)
		c = (int)a->ip->plen - (int)b->ip->plen;
	if (c)
		return c;
	/* document order within equal prefixes */
	return a->ep < b->ep ? -1 : a->ep > b->ep;
}

/*
 * Within one cluster an address names one endpoint: the ipcache cannot
 * give one prefix two identities. Other clusters may reuse it.
 */
static void check_endpoint_ips(struct cfg_parser *p)
{
	const struct idg_config *cfg = p->cfg;
	struct ip_key *v;
	size_t n = 0, total = 0;
	char buf[64], where[PATH_MAX + 16];

	for (size_t i = 0; i < cfg->n_endpoints; i++)
		total += cfg->endpoints[i].n_ips;
	if (!total)
		return;
	v = calloc(total, sizeof(*v));
	if (!v) {
		cfg_oom(p, NULL);
		return;
	}
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];
		const struct idg_node *nd = idg_config_node(cfg, ep->node);

		if (!nd || !nd->cluster)
			continue; /* reported elsewhere */
		for (size_t j = 0; j < ep->n_ips; j++)
			v[n++] = (struct ip_key){ nd->cluster, &ep->ips[j], i };
	}
	qsort(v, n, sizeof(*v), ip_cmp);
	for (size_t i = 1, head = 0; i < n; i++) {
		const struct idg_endpoint *first = &cfg->endpoints[v[head].ep];

		if (strcmp(v[head].cluster, v[i].cluster) ||
		    v[head].ip->family != v[i].ip->family ||
		    v[head].ip->plen != v[i].ip->plen ||
		    memcmp(v[head].ip->addr, v[i].ip->addr,
			   sizeof(v[i].ip->addr))) {
			head = i;
			continue;
		}
		idg_err(p->d, v[i].ip->pos,
			"%s is already used by Endpoint '%s/%s' (%s) in cluster '%s'",
			idg_cidr_str(v[i].ip, buf, sizeof(buf)),
			first->namespace ? first->namespace : "",
			first->name ? first->name : "?",
			idg_pos_ref(v[i].ip->pos, first->pos, where,
				    sizeof(where)),
			v[i].cluster);
	}
	free(v);
}

void cfg_check(struct cfg_parser *p)
{
	size_t before;

	check_duplicates(p, false);
	/* The checks of nodes and endpoints alone, together. */
	before = p->d->n;
	if (!p->idents_checked) {
		check_duplicates(p, true);
		check_cluster_ids(p);
		check_endpoint_nodes(p);
		check_endpoint_interfaces(p);
		check_endpoint_ips(p);
	}
	p->ident_diags = p->d->n - before;
	check_gateways(p);
}
