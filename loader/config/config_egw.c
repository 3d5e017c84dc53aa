// SPDX-License-Identifier: GPL-2.0
/* CiliumEgressGatewayPolicy specs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

void cfg_egw_free(struct idg_egw_policy *egw)
{
	free(egw->name);
	for (size_t i = 0; i < egw->n_selectors; i++) {
		cfg_selector_free(&egw->selectors[i].pod);
		cfg_selector_free(&egw->selectors[i].ns);
	}
	free(egw->selectors);
	free(egw->destinations);
	free(egw->excluded);
	for (size_t i = 0; i < egw->n_gateways; i++) {
		struct idg_egw_gateway *gw = &egw->gateways[i];

		free(gw->gateway_name);
		free(gw->cluster_name);
		cfg_selector_free(&gw->node_selector);
		free(gw->interface);
	}
	free(egw->gateways);
}

static int egw_selector(struct cfg_parser *p, const yaml_node_t *n,
			struct idg_egw_policy *egw)
{
	struct yc_kv pod = { 0 }, ns = { 0 };
	const struct yc_field f[] = {
		YC_F("podSelector", &pod),
		YC_F("namespaceSelector", &ns),
		{ "nodeSelector", NULL,
		  "is not supported by idgate yet: select the source pods with podSelector" },
	};
	struct idg_egw_selector *s;
	int err = 0;

	if (yc_fields(p, n, "selectors", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	s = cfg_push(egw->selectors, egw->n_selectors);
	if (!s)
		return cfg_oom(p, n);
	s->pos = yc_pos(p, n);
	/* Without podSelector every pod of the selected namespaces is a
	 * source: the empty selector says exactly that. */
	s->pod.pos = s->pos;
	if (!pod.val && !ns.val) {
		idg_err(p->d, s->pos,
			"selectors entry needs podSelector or namespaceSelector");
		return -EINVAL;
	}
	if (pod.val && cfg_selector(p, pod.val, "podSelector", &s->pod))
		err = -EINVAL;
	if (ns.val) {
		s->has_namespace = true;
		if (cfg_selector(p, ns.val, "namespaceSelector", &s->ns))
			err = -EINVAL;
	}
	return err;
}

static int egw_gateway(struct cfg_parser *p, const yaml_node_t *n,
		       const char *what, struct idg_egw_policy *egw,
		       size_t idx)
{
	struct yc_kv name = { 0 }, cluster = { 0 }, ip = { 0 }, nodes = { 0 },
		     ifname = { 0 };
	const struct yc_field f[] = {
		YC_F("gatewayName", &name),
		YC_F("clusterName", &cluster),
		YC_F("egressIP", &ip),
		YC_F("nodeSelector", &nodes),
		YC_F("interface", &ifname),
	};
	struct idg_egw_gateway *gw;
	int err = 0;

	if (yc_fields(p, n, what, f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	gw = cfg_push(egw->gateways, egw->n_gateways);
	if (!gw)
		return cfg_oom(p, n);
	gw->pos = yc_pos(p, n);
	if (!name.val && !nodes.val) {
		idg_err(p->d, gw->pos,
			"%s needs gatewayName or nodeSelector to pick its gateway nodes",
			what);
		err = -EINVAL;
	}
	if (name.val) {
		if (yc_str(p, name.val, "gatewayName", &gw->gateway_name) ||
		    !*gw->gateway_name) {
			if (gw->gateway_name)
				idg_err(p->d, yc_pos(p, name.val),
					"gatewayName must not be empty");
			err = -EINVAL;
		} else if (cfg_add_ref(p, &p->gw_name, &p->n_gw_name, idx,
				       egw->n_gateways - 1, name.val)) {
			return -ENOMEM;
		}
	}
	if (cluster.val &&
	    yc_str(p, cluster.val, "clusterName", &gw->cluster_name))
		err = -EINVAL;
	if (nodes.val) {
		gw->has_node_selector = true;
		if (cfg_selector(p, nodes.val, "nodeSelector",
				 &gw->node_selector))
			err = -EINVAL;
	}
	if (ip.val) {
		if (cfg_addr(p, ip.val, "egressIP", &gw->egress_ip))
			err = -EINVAL;
		else
			gw->has_egress_ip = true;
	}
	if (ifname.val) {
		if (yc_str(p, ifname.val, "interface", &gw->interface)) {
			err = -EINVAL;
		} else if (!cfg_ifname_ok(gw->interface)) {
			idg_err(p->d, yc_pos(p, ifname.val),
				"interface: invalid interface name '%.80s'",
				gw->interface);
			err = -EINVAL;
		}
	}
	return err;
}

int cfg_egw_spec(struct cfg_parser *p, const yaml_node_t *spec,
		 struct idg_egw_policy *egw, size_t idx)
{
	static const char where[] = "CiliumEgressGatewayPolicy spec";
	struct yc_kv sels = { 0 }, dst = { 0 }, excl = { 0 }, gw = { 0 },
		     gws = { 0 };
	const struct yc_field f[] = {
		YC_F("selectors", &sels),
		YC_F("destinationCIDRs", &dst),
		YC_F("excludedCIDRs", &excl),
		YC_F("egressGateway", &gw),
		YC_F("egressGateways", &gws),
	};
	char buf[64];
	int err = 0;

	if (yc_fields(p, spec, where, f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (!sels.val) {
		yc_missing(p, spec, "selectors", where);
		err = -EINVAL;
	} else if (!yc_is_seq(p, sels.val, "selectors")) {
		err = -EINVAL;
	} else if (!yc_seq_len(sels.val)) {
		idg_err(p->d, yc_pos(p, sels.val), "selectors: must not be empty");
		err = -EINVAL;
	} else {
		for (size_t i = 0; i < yc_seq_len(sels.val); i++)
			if (egw_selector(p, yc_seq_item(p, sels.val, i), egw))
				err = -EINVAL;
	}
	if (!dst.val) {
		yc_missing(p, spec, "destinationCIDRs", where);
		err = -EINVAL;
	} else if (cfg_cidr_list(p, dst.val, "destinationCIDRs",
				 CFG_CIDR_NONEMPTY | CFG_CIDR_PREFIX,
				 &egw->destinations, &egw->n_destinations)) {
		err = -EINVAL;
	}
	if (excl.val && cfg_cidr_list(p, excl.val, "excludedCIDRs", CFG_CIDR_PREFIX,
				      &egw->excluded, &egw->n_excluded))
		err = -EINVAL;
	for (size_t i = 0; i < egw->n_excluded; i++) {
		bool inside = false;

		for (size_t j = 0; j < egw->n_destinations && !inside; j++)
			inside = idg_cidr_contains(&egw->destinations[j],
						   &egw->excluded[i]);
		if (!inside && egw->n_destinations)
			idg_warn(p->d, egw->excluded[i].pos,
				 "excludedCIDRs: %s is inside no destinationCIDRs entry: it excludes nothing",
				 idg_cidr_str(&egw->excluded[i], buf,
					      sizeof(buf)));
	}
	if (gw.val && gws.val) {
		idg_err(p->d, yc_pos(p, gws.key),
			"give either egressGateway or egressGateways, not both");
		return -EINVAL;
	}
	if (gw.val)
		return egw_gateway(p, gw.val, "egressGateway", egw, idx) ? -EINVAL :
									   err;
	if (!gws.val) {
		idg_err(p->d, yc_pos(p, spec),
			"missing field 'egressGateway' (or 'egressGateways') in %s",
			where);
		return -EINVAL;
	}
	if (!yc_is_seq(p, gws.val, "egressGateways"))
		return -EINVAL;
	if (!yc_seq_len(gws.val)) {
		idg_err(p->d, yc_pos(p, gws.val),
			"egressGateways: must not be empty");
		return -EINVAL;
	}
	for (size_t i = 0; i < yc_seq_len(gws.val); i++)
		if (egw_gateway(p, yc_seq_item(p, gws.val, i), "egressGateways",
				egw, idx))
			err = -EINVAL;
	return err;
}
