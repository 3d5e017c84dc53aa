// SPDX-License-Identifier: GPL-2.0
/* The L4 part of a policy rule: toPorts and icmps. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "util/util.h"

static int protocol(struct cfg_parser *p, const yaml_node_t *n,
		    uint8_t *proto)
{
	const char *s = yc_scalar(n);
	int nr;

	if (!s || yc_is_null(n)) {
		idg_err(p->d, yc_pos(p, n), "protocol: expected a string");
		return -EINVAL;
	}
	nr = strcmp(s, "ANY") ? idg_proto_parse(s) : 0;
	/* Cilium's names are case-sensitive. */
	if (nr > 0 && strcmp(idg_proto_name((uint8_t)nr), s))
		nr = -ENOENT;
	if (nr == IPPROTO_ICMP || nr == IPPROTO_ICMPV6) {
		idg_err(p->d, yc_pos(p, n),
			"protocol %s is not allowed in toPorts: use an icmps section for ICMP",
			s);
		return -EINVAL;
	}
	if (nr < 0) {
		idg_err(p->d, yc_pos(p, n),
			"unknown protocol '%.40s' (expected TCP, UDP, SCTP or ANY)",
			s);
		return -EINVAL;
	}
	*proto = (uint8_t)nr;
	return 0;
}

/* Cilium's limits on one toPorts entry's ports and one icmps entry's
 * fields (its CRD schema and Sanitize()). */
#define CILIUM_MAX_PORTS 40
#define CILIUM_MAX_ICMP_FIELDS 40

static int port_number(struct cfg_parser *p, const yaml_node_t *n,
		       long long *port)
{
	const char *s = yc_scalar(n);

	/* Cilium allows a container port name here; idgate has no pods to
	 * resolve it against. */
	if (s && !yc_is_null(n) && strspn(s, "+-0123456789") != strlen(s)) {
		idg_err(p->d, yc_pos(p, n),
			"named ports are not supported (port '%.40s'): write the port number",
			s);
		return -EINVAL;
	}
	/* Cilium parses ports with base prefixes: "010" is port 8 there. */
	if (s && s[0] == '0' && s[1]) {
		idg_err(p->d, yc_pos(p, n),
			"port '%.40s' has a leading zero, which Cilium reads as octal: write the port in decimal without leading zeros",
			s);
		return -EINVAL;
	}
	return yc_int(p, n, "port", 0, 65535, true, port);
}

static int port_proto(struct cfg_parser *p, const yaml_node_t *n,
		      struct idg_rule *r)
{
	struct yc_kv port = { 0 }, end = { 0 }, proto = { 0 };
	const struct yc_field f[] = {
		YC_F("port", &port),
		YC_F("endPort", &end),
		YC_F("protocol", &proto),
	};
	struct idg_port_rule *pr;
	long long v, ev = 0;
	int err = 0;

	if (yc_fields(p, n, "toPorts.ports", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	pr = cfg_push(r->ports, r->n_ports);
	if (!pr)
		return cfg_oom(p, n);
	pr->pos = yc_pos(p, n);
	pr->l7 = -1;
	if (proto.val && protocol(p, proto.val, &pr->proto))
		err = -EINVAL;
	if (!port.val) {
		yc_missing(p, n, "port", "toPorts.ports");
		return -EINVAL;
	}
	if (port_number(p, port.val, &v))
		return -EINVAL;
	pr->port = (uint16_t)v;
	if (end.val && yc_int(p, end.val, "endPort", 0, 65535, false, &ev))
		return -EINVAL;
	if (!v && ev) {
		idg_err(p->d, yc_pos(p, end.val),
			"endPort %lld needs a port other than 0 (port 0 already means every port)",
			ev);
		return -EINVAL;
	}
	if (!v)
		idg_warn(p->d, yc_pos(p, port.val),
			 "port 0 means every port (as in Cilium)");
	else if (ev && ev < v)
		idg_warn(p->d, yc_pos(p, end.val),
			 "endPort %lld is below port %lld: only port %lld is matched",
			 ev, v, v);
	pr->end_port = (uint16_t)ev;
	return err;
}

static int port_rule(struct cfg_parser *p, const yaml_node_t *n, bool deny,
		     struct idg_rule *r)
{
	static const char l7_only[] =
		"is not supported: idgate's L7 proxy judges plain HTTP only (no TLS, no SNI, no custom listener)";
	static const char not_deny[] = "is not allowed in a deny rule";
	struct yc_kv ports = { 0 }, rules = { 0 };
	const char *rej = deny ? not_deny : l7_only;
	const struct yc_field f[] = {
		YC_F("ports", &ports),
		{ "rules", deny ? NULL : &rules, not_deny },
		YC_REJECT("serverNames", rej),
		YC_REJECT("originatingTLS", rej),
		YC_REJECT("terminatingTLS", rej),
		YC_REJECT("listener", rej),
	};
	size_t first = r->n_ports;
	int err = 0, l7 = -1;

	if (yc_fields(p, n, "toPorts", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (rules.val && cfg_l7_rules(p, rules.val, r, &l7))
		err = -EINVAL;
	if (l7 >= 0)
		r->l7[l7].pos = yc_pos(p, rules.key);
	/* Cilium matches no port at all with an entry without ports. */
	if (!ports.val || yc_is_null(ports.val) ||
	    (ports.val->type == YAML_SEQUENCE_NODE && !yc_seq_len(ports.val))) {
		if (!err)
			idg_err(p->d, yc_pos(p, ports.val ? ports.val : n),
				"toPorts entry without ports matches nothing: list the ports, or leave out toPorts to allow every port");
		return -EINVAL;
	}
	if (!yc_is_seq(p, ports.val, "toPorts.ports"))
		return -EINVAL;
	if (yc_seq_len(ports.val) > CILIUM_MAX_PORTS) {
		idg_err(p->d, yc_pos(p, ports.val),
			"toPorts entry with %zu ports: Cilium takes at most %d in one entry; split them over several toPorts entries",
			yc_seq_len(ports.val), CILIUM_MAX_PORTS);
		return -EINVAL;
	}
	for (size_t i = 0; i < yc_seq_len(ports.val); i++)
		if (port_proto(p, yc_seq_item(p, ports.val, i), r))
			err = -EINVAL;
	for (size_t i = first; i < r->n_ports; i++)
		r->ports[i].l7 = l7;
	if (cfg_l7_ports(p, r, first))
		err = -EINVAL;
	return err;
}

int cfg_to_ports(struct cfg_parser *p, const yaml_node_t *n, bool deny,
		 struct idg_rule *r)
{
	int err = 0;

	if (!yc_is_seq(p, n, "toPorts"))
		return -EINVAL;
	for (size_t i = 0; i < yc_seq_len(n); i++)
		if (port_rule(p, yc_seq_item(p, n, i), deny, r))
			err = -EINVAL;
	return err;
}

struct icmp_name {
	const char *name;
	uint8_t type;
};

static const struct icmp_name icmp4_names[] = {
	{ "EchoReply", 0 },
	{ "DestinationUnreachable", 3 },
	{ "Redirect", 5 },
	{ "Echo", 8 },
	{ "EchoRequest", 8 },
	{ "RouterAdvertisement", 9 },
	{ "RouterSelection", 10 },
	{ "RouterSolicitation", 10 },
	{ "TimeExceeded", 11 },
	{ "ParameterProblem", 12 },
	{ "Timestamp", 13 },
	{ "TimestampReply", 14 },
	{ "Photuris", 40 },
	{ "ExtendedEchoRequest", 42 },
	{ "ExtendedEchoReply", 43 },
};

static const struct icmp_name icmp6_names[] = {
	{ "DestinationUnreachable", 1 },
	{ "PacketTooBig", 2 },
	{ "TimeExceeded", 3 },
	{ "ParameterProblem", 4 },
	{ "EchoRequest", 128 },
	{ "EchoReply", 129 },
	{ "MulticastListenerQuery", 130 },
	{ "MulticastListenerReport", 131 },
	{ "MulticastListenerDone", 132 },
	{ "RouterSolicitation", 133 },
	{ "RouterAdvertisement", 134 },
	{ "NeighborSolicitation", 135 },
	{ "NeighborAdvertisement", 136 },
	{ "Redirect", 137 },
	{ "RedirectMessage", 137 },
	{ "RouterRenumbering", 138 },
	{ "ICMPNodeInformationQuery", 139 },
	{ "ICMPNodeInformationResponse", 140 },
	{ "InverseNeighborDiscoverySolicitation", 141 },
	{ "InverseNeighborDiscoveryAdvertisement", 142 },
	{ "HomeAgentAddressDiscoveryRequest", 144 },
	{ "HomeAgentAddressDiscoveryReply", 145 },
	{ "MobilePrefixSolicitation", 146 },
	{ "MobilePrefixAdvertisement", 147 },
	{ "DuplicateAddressRequestCodeSuffix", 157 },
	{ "DuplicateAddressConfirmationCodeSuffix", 158 },
	{ "ExtendedEchoRequest", 160 },
	{ "ExtendedEchoReply", 161 },
};

static bool icmp_numeric(const char *s)
{
	return s && *s && strspn(s, "+-0123456789") == strlen(s);
}

/* Cilium's schema takes a type number as plain decimal, 0..255, without
 * sign or leading zeros. */
static bool icmp_canonical(const char *s)
{
	size_t n = strlen(s);

	return n && n <= 3 && strspn(s, "0123456789") == n &&
	       (n == 1 || s[0] != '0');
}

static int icmp_name_find(const char *s, int family)
{
	const struct icmp_name *names = family == IDG_FAM_IPV4 ? icmp4_names :
								 icmp6_names;
	size_t count = family == IDG_FAM_IPV4 ? YC_ARRAY_SIZE(icmp4_names) :
						YC_ARRAY_SIZE(icmp6_names);

	for (size_t i = 0; s && i < count; i++)
		if (!strcmp(s, names[i].name))
			return names[i].type;
	return -EINVAL;
}

int idg_icmp_type_parse(const char *s, int family)
{
	char *end;
	long v;

	if (!icmp_numeric(s))
		return icmp_name_find(s, family);
	if (!icmp_canonical(s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 255)
		return -EINVAL;
	return (int)v;
}

static int icmp_type(struct cfg_parser *p, const yaml_node_t *n, int family,
		     int *type)
{
	const char *s = yc_scalar(n);
	long long v;

	if (icmp_numeric(s)) {
		if (!icmp_canonical(s)) {
			idg_err(p->d, yc_pos(p, n),
				"ICMP type '%.40s': write the number in decimal, 0..255, without sign or leading zeros (Cilium's schema)",
				s);
			return -EINVAL;
		}
		if (yc_int(p, n, "ICMP type", 0, 255, true, &v))
			return -EINVAL;
		*type = (int)v;
		return 0;
	}
	*type = icmp_name_find(s, family);
	if (*type >= 0)
		return 0;
	idg_err(p->d, yc_pos(p, n),
		"unknown ICMP type '%.40s' for family %s (a number 0..255 or a name such as %s)",
		s ? s : "", family == IDG_FAM_IPV4 ? "IPv4" : "IPv6",
		family == IDG_FAM_IPV4 ? "EchoRequest" : "EchoRequest or NeighborSolicitation");
	return -EINVAL;
}

static int icmp_field(struct cfg_parser *p, const yaml_node_t *n,
		      struct idg_rule *r)
{
	struct yc_kv type = { 0 }, fam = { 0 };
	const struct yc_field f[] = {
		YC_F("type", &type),
		YC_F("family", &fam),
	};
	struct idg_icmp_rule *ir;
	int family = IDG_FAM_IPV4;

	if (yc_fields(p, n, "icmps.fields", f, YC_ARRAY_SIZE(f)))
		return -EINVAL;
	if (fam.val) {
		const char *s = yc_scalar(fam.val);

		if (s && !strcmp(s, "IPv6")) {
			family = IDG_FAM_IPV6;
		} else if (!s || strcmp(s, "IPv4")) {
			idg_err(p->d, yc_pos(p, fam.val),
				"unknown ICMP family '%.40s' (expected IPv4 or IPv6)",
				s ? s : "");
			return -EINVAL;
		}
	}
	if (!type.val) {
		yc_missing(p, n, "type", "icmps.fields");
		return -EINVAL;
	}
	ir = cfg_push(r->icmps, r->n_icmps);
	if (!ir)
		return cfg_oom(p, n);
	ir->pos = yc_pos(p, n);
	ir->family = family;
	return icmp_type(p, type.val, family, &ir->type);
}

int cfg_icmps(struct cfg_parser *p, const yaml_node_t *n, struct idg_rule *r)
{
	int err = 0;

	if (!yc_is_seq(p, n, "icmps"))
		return -EINVAL;
	for (size_t i = 0; i < yc_seq_len(n); i++) {
		yaml_node_t *e = yc_seq_item(p, n, i);
		struct yc_kv fields = { 0 };
		const struct yc_field f[] = { YC_F("fields", &fields) };

		if (yc_fields(p, e, "icmps", f, YC_ARRAY_SIZE(f))) {
			err = -EINVAL;
			continue;
		}
		/* As with toPorts, Cilium matches nothing without fields. */
		if (!fields.val || (fields.val->type == YAML_SEQUENCE_NODE &&
				    !yc_seq_len(fields.val))) {
			idg_err(p->d, yc_pos(p, fields.val ? fields.val : e),
				"icmps entry without fields matches nothing: list the ICMP types");
			err = -EINVAL;
			continue;
		}
		if (!yc_is_seq(p, fields.val, "icmps.fields")) {
			err = -EINVAL;
			continue;
		}
		if (yc_seq_len(fields.val) > CILIUM_MAX_ICMP_FIELDS) {
			idg_err(p->d, yc_pos(p, fields.val),
				"icmps entry with %zu fields: Cilium takes at most %d in one entry; split them over several icmps entries",
				yc_seq_len(fields.val), CILIUM_MAX_ICMP_FIELDS);
			err = -EINVAL;
			continue;
		}
		for (size_t j = 0; j < yc_seq_len(fields.val); j++)
			if (icmp_field(p, yc_seq_item(p, fields.val, j), r))
				err = -EINVAL;
	}
	return err;
}
