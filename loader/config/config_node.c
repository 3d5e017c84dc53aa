// SPDX-License-Identifier: GPL-2.0
/* The idgate.io/v1 kinds: Node and Endpoint specs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <idgate/egw.h>

#include "config_int.h"

void cfg_node_free(struct idg_node *nd)
{
	free(nd->name);
	idg_labels_free(&nd->labels);
	idg_labels_free(&nd->annotations);
	free(nd->gateway_name);
	free(nd->cluster);
	free(nd->uplink);
	for (size_t i = 0; i < nd->n_endpoint_ifaces; i++)
		free(nd->endpoint_ifaces[i]);
	free(nd->endpoint_ifaces);
	free(nd->external);
}

void cfg_endpoint_free(struct idg_endpoint *ep)
{
	free(ep->name);
	free(ep->namespace);
	idg_labels_free(&ep->labels);
	free(ep->node);
	free(ep->ips);
	free(ep->interface);
}

bool idg_node_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (!len || len > IDG_NODE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		/* '-' and '.' only inside: never first or last, never
		 * beside a '.' (each dot-separated part is alphanumeric at
		 * both ends). */
		if ((c != '-' && c != '.') || i == 0 || i == len - 1 ||
		    name[i - 1] == '.' || name[i + 1] == '.')
			return false;
	}
	return true;
}

/* The kernel's rules for a device name (dev_valid_name()). */
bool cfg_ifname_ok(const char *name)
{
	size_t len = strlen(name);

	if (!len || len > 15 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *c = name; *c; c++)
		if (*c == '/' || *c == ':' || *c == ' ' ||
		    (*c >= '\t' && *c <= '\r'))
			return false;
	return true;
}

static int iface(struct cfg_parser *p, const yaml_node_t *n,
		 const char *what, char **out)
{
	if (yc_str(p, n, what, out))
		return -EINVAL;
	if (cfg_ifname_ok(*out))
		return 0;
	idg_err(p->d, yc_pos(p, n),
		"%s: invalid interface name '%.80s' (1..15 characters, no '/', ':' or whitespace)",
		what, *out);
	return -EINVAL;
}

/* Cluster names end up as label values (io.cilium.k8s.policy.cluster). */
static bool cluster_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > 63)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789-_.") == len;
}

/* One of names[] (NULL-terminated); its index in *out. */
static int keyword(struct cfg_parser *p, const yaml_node_t *n,
		   const char *what, const char *const names[],
		   const char *expect, int *out)
{
	const char *s = yc_scalar(n);

	for (int i = 0; s && names[i]; i++)
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	idg_err(p->d, yc_pos(p, n), "%s: unknown value '%.40s' (expected %s)",
		what, s ? s : "", expect);
	return -EINVAL;
}

static int node_interfaces(struct cfg_parser *p, const yaml_node_t *n,
			   struct idg_node *nd)
{
	static const char *const ether_modes[] = { "pass", "drop", NULL };
	struct yc_kv uplink = { 0 }, eps = { 0 }, external = { 0 },
		     ether = { 0 };
	const struct yc_field f[] = {
		YC_F("uplink", &uplink),
		YC_F("endpoints", &eps),
		YC_F("external", &external),
		YC_F("unknownEtherTypes", &ether),
	};
	int err = 0, mode;

	if (yc_fields(p, n, "spec.interfaces", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (ether.val) {
		if (keyword(p, ether.val, "spec.interfaces.unknownEtherTypes",
			    ether_modes, "pass or drop", &mode))
			err = -EINVAL;
		else
			nd->drop_unknown_ethertypes = mode == 1;
	}
	if (!uplink.val) {
		yc_missing(p, n, "uplink", "spec.interfaces");
		err = -EINVAL;
	} else if (iface(p, uplink.val, "spec.interfaces.uplink", &nd->uplink)) {
		err = -EINVAL;
	}
	if (external.val &&
	    iface(p, external.val, "spec.interfaces.external", &nd->external))
		err = -EINVAL;
	if (!eps.val)
		return err;
	if (!yc_is_seq(p, eps.val, "spec.interfaces.endpoints"))
		return -EINVAL;
	nd->endpoint_ifaces = calloc(yc_seq_len(eps.val) + 1,
				     sizeof(*nd->endpoint_ifaces));
	if (!nd->endpoint_ifaces)
		return cfg_oom(p, n);
	for (size_t i = 0; i < yc_seq_len(eps.val); i++) {
		char *name;

		if (iface(p, yc_seq_item(p, eps.val, i),
			  "spec.interfaces.endpoints", &name)) {
			free(name);
			err = -EINVAL;
			continue;
		}
		nd->endpoint_ifaces[nd->n_endpoint_ifaces++] = name;
	}
	return err;
}

/* The ports a gateway hands out when a flow's own source port is taken. */
static int node_nat_ports(struct cfg_parser *p, const yaml_node_t *n,
			  struct idg_node *nd)
{
	struct yc_kv lo = { 0 }, hi = { 0 };
	const struct yc_field f[] = { YC_F("min", &lo), YC_F("max", &hi) };
	long long min, max;

	if (yc_fields(p, n, "spec.egress.natPortRange", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (!lo.val || !hi.val) {
		yc_missing(p, n, lo.val ? "max" : "min",
			   "spec.egress.natPortRange");
		return -EINVAL;
	}
	if (yc_int(p, lo.val, "spec.egress.natPortRange.min", 1, 65535, false,
		   &min) ||
	    yc_int(p, hi.val, "spec.egress.natPortRange.max", 1, 65535, false,
		   &max))
		return -EINVAL;
	if (max < min) {
		idg_err(p->d, yc_pos(p, hi.val),
			"spec.egress.natPortRange: max %lld is below min %lld",
			max, min);
		return -EINVAL;
	}
	nd->nat_port_min = (uint16_t)min;
	nd->nat_port_max = (uint16_t)max;
	return 0;
}

static int node_egress(struct cfg_parser *p, const yaml_node_t *n,
		       struct idg_node *nd)
{
	struct yc_kv ip = { 0 }, quota = { 0 }, ports = { 0 };
	const struct yc_field f[] = { YC_F("ip", &ip),
				      YC_F("maxMappingsPerSource", &quota),
				      YC_F("natPortRange", &ports) };
	long long v;

	if (yc_fields(p, n, "spec.egress", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (ports.val && node_nat_ports(p, ports.val, nd))
		return -EINVAL;
	if (quota.val) {
		if (yc_int(p, quota.val, "spec.egress.maxMappingsPerSource", 1,
			   IDG_SNAT_MAX, false, &v))
			return -EINVAL;
		nd->nat_src_quota = (uint32_t)v;
	}
	if (!ip.val) {
		yc_missing(p, n, "ip", "spec.egress");
		return -EINVAL;
	}
	if (cfg_addr(p, ip.val, "spec.egress.ip", &nd->egress_ip))
		return -EINVAL;
	nd->has_egress_ip = true;
	return 0;
}

int cfg_node_spec(struct cfg_parser *p, const yaml_node_t *spec,
		  struct idg_node *nd, size_t idx)
{
	/* Index order matches enum idg_xdp_mode / idg_enforcement. */
	static const char *const xdp_modes[] = { "auto", "native", "skb", "tc", NULL };
	static const char *const enf_modes[] = { "default", "always", "never",
						 NULL };
	struct yc_kv cluster = { 0 }, cid = { 0 }, tunnel = { 0 }, ifs = { 0 },
		     egress = { 0 }, xdp = { 0 }, enf = { 0 };
	const struct yc_field f[] = {
		YC_F("cluster", &cluster),
		YC_F("clusterID", &cid),
		YC_F("tunnelIP", &tunnel),
		YC_F("interfaces", &ifs),
		YC_F("egress", &egress),
		YC_F("xdpMode", &xdp),
		YC_F("policyEnforcement", &enf),
	};
	long long v;
	int err = 0, mode;

	if (yc_fields(p, spec, "Node spec", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (!cluster.val) {
		yc_missing(p, spec, "cluster", "Node spec");
		err = -EINVAL;
	} else if (yc_str(p, cluster.val, "spec.cluster", &nd->cluster)) {
		err = -EINVAL;
	} else if (!cluster_name_ok(nd->cluster)) {
		idg_err(p->d, yc_pos(p, cluster.val),
			"spec.cluster: invalid cluster name '%.80s' (1..63 of A-Z a-z 0-9 - _ .)",
			nd->cluster);
		err = -EINVAL;
	}
	if (!cid.val) {
		yc_missing(p, spec, "clusterID", "Node spec");
		err = -EINVAL;
	} else if (yc_int(p, cid.val, "clusterID", 1, 255, false, &v)) {
		err = -EINVAL;
	} else {
		nd->cluster_id = (uint32_t)v;
		if (cfg_add_ref(p, &p->node_cid, &p->n_node_cid, idx, 0,
				cid.val))
			return -ENOMEM;
	}
	if (tunnel.val) {
		if (cfg_addr(p, tunnel.val, "spec.tunnelIP", &nd->tunnel_ip))
			err = -EINVAL;
		else
			nd->has_tunnel_ip = true;
	}
	if (!ifs.val) {
		yc_missing(p, spec, "interfaces", "Node spec");
		err = -EINVAL;
	} else if (node_interfaces(p, ifs.val, nd)) {
		err = -EINVAL;
	}
	if (egress.val && node_egress(p, egress.val, nd))
		err = -EINVAL;
	if (xdp.val) {
		if (keyword(p, xdp.val, "spec.xdpMode", xdp_modes,
			    "auto, native, skb or tc", &mode))
			err = -EINVAL;
		else
			nd->xdp_mode = (enum idg_xdp_mode)mode;
	}
	if (enf.val) {
		if (keyword(p, enf.val, "spec.policyEnforcement", enf_modes,
			    "default, always or never", &mode))
			err = -EINVAL;
		else
			nd->enforcement = (enum idg_enforcement)mode;
	}
	return err;
}

int cfg_endpoint_spec(struct cfg_parser *p, const yaml_node_t *spec,
		      struct idg_endpoint *ep, size_t idx)
{
	struct yc_kv node = { 0 }, ips = { 0 }, id = { 0 }, ifc = { 0 };
	const struct yc_field f[] = {
		YC_F("node", &node),
		YC_F("ips", &ips),
		YC_F("identity", &id),
		YC_F("interface", &ifc),
	};
	long long v;
	int err = 0;

	if (yc_fields(p, spec, "Endpoint spec", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (!node.val) {
		yc_missing(p, spec, "node", "Endpoint spec");
		err = -EINVAL;
	} else if (yc_str(p, node.val, "spec.node", &ep->node)) {
		err = -EINVAL;
	} else if (cfg_add_ref(p, &p->ep_node, &p->n_ep_node, idx, 0,
			       node.val)) {
		return -ENOMEM;
	}
	if (!ips.val) {
		yc_missing(p, spec, "ips", "Endpoint spec");
		err = -EINVAL;
	} else if (cfg_cidr_list(p, ips.val, "spec.ips",
				 CFG_CIDR_NONEMPTY | CFG_CIDR_EXACT, &ep->ips,
				 &ep->n_ips)) {
		err = -EINVAL;
	}
	if (id.val) {
		if (yc_int(p, id.val, "spec.identity", 256, 65535, false, &v))
			err = -EINVAL;
		else
			ep->pinned_identity = (uint32_t)v;
	}
	if (ifc.val) {
		if (iface(p, ifc.val, "spec.interface", &ep->interface))
			err = -EINVAL;
		ep->interface_pos = yc_pos(p, ifc.val);
	}
	return err;
}
