// SPDX-License-Identifier: GPL-2.0
/*
 * policy trace: "would this packet pass, and why?" answered by the real
 * program. A trace copy of the XDP (ingress) or tc (egress) program,
 * loaded against the instance's pinned maps with idg_trace set, judges a
 * packet built here through BPF_PROG_TEST_RUN; it writes no conntrack
 * entry, counter or event. Exit 0 allow, 1 deny, 2 error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "haproxy.h"
#include "cmd.h"
#include "idgate_tc.skel.h"
#include "idgate_xdp.skel.h"
#include "util/util.h"

#define TRACE_SPORT 40000

struct trace_addr {
	int family; /* IDG_FAM_*; 0 while an entity waits for the other side */
	uint8_t addr[16];
	const struct idg_endpoint *ep; /* when named by endpoint */
	const char *entity;            /* when named by entity */
};

/* Cilium's entities that stand for one identity that has addresses here
 * (world, host, remote-node), and the others, which do not. */
static const char *const entities_one[] = { "world", "host", "remote-node" };
static const char *const entities_many[] = { "all", "cluster", "init",
					     "health", "unmanaged",
					     "kube-apiserver", "ingress" };

static bool in_list(const char *s, const char *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, l[i]))
			return true;
	return false;
}

/* An address, an endpoint name (its first address) or, when no endpoint
 * has that name, an entity, resolved later by entity_resolve(). */
static int resolve(const struct idg_compiled *c, const struct idg_config *cfg,
		   const char *s, struct trace_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->addr) == 1) {
		out->family = IDG_FAM_IPV4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->addr) == 1) {
		out->family = IDG_FAM_IPV6;
		return 0;
	}
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		const struct idg_endpoint *ep = &cfg->endpoints[i];

		if (strcmp(ep->name, s) || !ep->n_ips)
			continue;
		/* Prefer an endpoint of this node's cluster. */
		if (out->ep && !strcmp(out->ep->node, c->node->name))
			continue;
		out->ep = ep;
		out->family = ep->ips[0].family;
		memcpy(out->addr, ep->ips[0].addr, 16);
	}
	if (out->ep)
		return 0;
	if (in_list(s, entities_one, sizeof(entities_one) / sizeof(*entities_one))) {
		out->entity = s;
		return 0;
	}
	if (in_list(s, entities_many, sizeof(entities_many) / sizeof(*entities_many))) {
		fprintf(stderr, "idgate policy trace: entity '%s' is not one identity with an address on this node: give an endpoint, an address, or world, host or remote-node\n",
			s);
		return -EINVAL;
	}
	fprintf(stderr, "idgate policy trace: '%s' is neither an address, an endpoint nor an entity (world, host, remote-node)\n",
		s);
	return -ENOENT;
}

/* A node's tunnel address as a trace address. */
static void node_addr(const struct idg_node *n, struct trace_addr *a)
{
	a->family = n->tunnel_ip.family;
	memcpy(a->addr, n->tunnel_ip.addr, 16);
}

/*
 * The address an entity stands for, of family (the other side's): for
 * world, one no ipcache entry covers; for host and remote-node, the
 * tunnel address of this node or of another one (the addresses the
 * ipcache gives those identities).
 */
static int entity_resolve(const struct idg_compiled *c,
			  const struct idg_config *cfg, int family,
			  struct trace_addr *a)
{
	static const char *const world4[] = { "192.0.2.1", "198.51.100.1",
					      "203.0.113.1", "240.0.0.1" };
	static const char *const world6[] = { "2001:db8::1",
					      "2001:db8:ffff::1",
					      "3fff::1" };
	const struct idg_node *other = NULL;

	if (!strcmp(a->entity, "world")) {
		const char *const *l = family == IDG_FAM_IPV6 ? world6 : world4;
		size_t n = family == IDG_FAM_IPV6 ? 3 : 4;

		for (size_t i = 0; i < n; i++) {
			inet_pton(family == IDG_FAM_IPV6 ? AF_INET6 : AF_INET,
				  l[i], a->addr);
			a->family = family;
			if (cmd_addr_identity(c, family, a->addr) == IDG_ID_WORLD)
				return 0;
		}
		fprintf(stderr, "idgate policy trace: every address tried for world is in the ipcache: give a world address\n");
		return -ENOENT;
	}
	if (!strcmp(a->entity, "host")) {
		if (!c->node->has_tunnel_ip) {
			fprintf(stderr, "idgate policy trace: node %s has no tunnelIP, the address that stands for host: give the host's address\n",
				c->node->name);
			return -ENOENT;
		}
		node_addr(c->node, a);
		return 0;
	}
	/* remote-node: another node, of this cluster when there is one. */
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct idg_node *n = &cfg->nodes[i];

		if (n == c->node || !n->has_tunnel_ip)
			continue;
		if (!other || (other->cluster_id != c->cluster_id &&
			       n->cluster_id == c->cluster_id))
			other = n;
	}
	if (!other) {
		fprintf(stderr, "idgate policy trace: no other node with a tunnelIP in the config stands for remote-node: give its address\n");
		return -ENOENT;
	}
	node_addr(other, a);
	return 0;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet + IPv4/IPv6 + a minimal L4 header: what the parser needs. */
static size_t build(uint8_t *b, const struct trace_addr *s,
		    const struct trace_addr *d, uint8_t proto, uint16_t dport,
		    int icmp_type)
{
	bool v4 = s->family == IDG_FAM_IPV4;
	size_t l3 = 14, l4 = l3 + (v4 ? 20 : 40), len;
	uint16_t l4len = proto == IPPROTO_TCP ? 20 : proto == IPPROTO_SCTP ? 12 : 8;

	memset(b, 0, 128);
	b[0] = 0x02;
	b[6] = 0x02;
	b[11] = 1;
	b[12] = v4 ? 0x08 : 0x86;
	b[13] = v4 ? 0x00 : 0xdd;
	len = l4 + l4len;
	if (v4) {
		uint32_t sum = 0;

		b[l3] = 0x45;
		b[l3 + 2] = (uint8_t)((len - l3) >> 8);
		b[l3 + 3] = (uint8_t)(len - l3);
		b[l3 + 6] = 0x40; /* DF */
		b[l3 + 8] = 64;
		b[l3 + 9] = proto;
		memcpy(&b[l3 + 12], s->addr, 4);
		memcpy(&b[l3 + 16], d->addr, 4);
		for (int i = 0; i < 20; i += 2)
			sum += (uint32_t)(b[l3 + i] << 8 | b[l3 + i + 1]);
		sum = csum_fold(sum);
		b[l3 + 10] = (uint8_t)(sum >> 8);
		b[l3 + 11] = (uint8_t)sum;
	} else {
		b[l3] = 0x60;
		b[l3 + 4] = 0;
		b[l3 + 5] = (uint8_t)l4len;
		b[l3 + 6] = proto;
		b[l3 + 7] = 64;
		memcpy(&b[l3 + 8], s->addr, 16);
		memcpy(&b[l3 + 24], d->addr, 16);
	}
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		b[l4] = (uint8_t)icmp_type;
		b[l4 + 4] = 0x12;
	} else {
		b[l4] = TRACE_SPORT >> 8;
		b[l4 + 1] = TRACE_SPORT & 0xff;
		b[l4 + 2] = (uint8_t)(dport >> 8);
		b[l4 + 3] = (uint8_t)dport;
		if (proto == IPPROTO_TCP) {
			b[l4 + 12] = 0x50;
			b[l4 + 13] = 0x02; /* SYN */
		} else if (proto == IPPROTO_UDP) {
			b[l4 + 5] = 8;
		}
	}
	return len;
}

/* Load the trace copy (ingress: XDP, egress: tc) against the pins. */
static int trace_run(const struct idg_instance *in, bool egress,
		     const uint8_t *pkt, size_t len, struct idg_trace_res *res)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = in->pin_dir);
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt,
		    .data_size_in = (uint32_t)len);
	struct idgate_xdp *x = NULL;
	struct idgate_tc *t = NULL;
	struct bpf_map *out;
	uint32_t zero = 0;
	int err, fd;

	if (egress) {
		t = idgate_tc__open_opts(&opts);
		if (!t)
			return -errno;
		t->rodata->idg_trace = 1;
		err = idgate_tc__load(t);
		fd = err ? -1 : bpf_program__fd(t->progs.idgate_tc_egress);
		out = t->maps.idg_trace_out;
	} else {
		x = idgate_xdp__open_opts(&opts);
		if (!x)
			return -errno;
		x->rodata->idg_trace = 1;
		err = idgate_xdp__load(x);
		fd = err ? -1 : bpf_program__fd(x->progs.idgate_xdp_ingress);
		out = x->maps.idg_trace_out;
	}
	if (!err && bpf_prog_test_run_opts(fd, &run))
		err = -errno;
	if (!err && bpf_map_lookup_elem(bpf_map__fd(out), &zero, res))
		err = -errno;
	if (!err && !res->runs)
		err = -ENODATA;
	idgate_tc__destroy(t);
	idgate_xdp__destroy(x);
	return err;
}

static const char *labels_of(const struct idg_compiled *c, uint32_t id)
{
	const struct idg_identity *i = idg_compiled_identity(c, id);

	return i ? i->canon : id == IDG_ID_WORLD ? "reserved:world" : "?";
}

/* The identity the datapath gives an address: longest ipcache prefix. */
static int trace(const struct idg_opts *o, const char *src_s,
		 const char *dst_s, const char *proto_s, uint16_t dport,
		 const char *dir_s, const char *icmp_s)
{
	int icmp_type = -1;
	struct trace_addr s, d;
	struct idg_trace_res res = { 0 };
	struct idg_instance in;
	struct cmd_compiled cc;
	const struct idg_cookie *ck;
	uint8_t pkt[128], proto;
	int nr;
	char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN], rule[160] = "",
	     l7rule[160] = "";
	const struct idg_l7_port *lp = NULL;
	struct idg_l7_verdict l7v = { 0 };
	bool egress, allow;
	uint32_t sid, did;
	size_t len;
	int err;

	if (cmd_instance(o, &in))
		return 2;
	/* icmp is echo over the addresses' family: ICMPv6 by that name
	 * would build it over IPv4 as well. */
	nr = idg_proto_parse(proto_s);
	if (nr < 0 || nr == IPPROTO_ICMPV6) {
		fprintf(stderr, "idgate policy trace: --proto is tcp, udp, sctp or icmp, not '%s'\n",
			proto_s);
		return 2;
	}
	proto = (uint8_t)nr;
	if (strcmp(dir_s, "ingress") && strcmp(dir_s, "egress")) {
		fprintf(stderr, "idgate policy trace: --direction is ingress or egress, not '%s'\n",
			dir_s);
		return 2;
	}
	egress = !strcmp(dir_s, "egress");
	if (cmd_compile(&in, NULL, &cc))
		goto fail;
	if (resolve(&cc.c, &cc.cfg, src_s, &s) || resolve(&cc.c, &cc.cfg, dst_s, &d))
		goto fail;
	/* An entity takes the other side's family (IPv4 when both are). */
	if (s.entity && entity_resolve(&cc.c, &cc.cfg,
				       d.family ? d.family : IDG_FAM_IPV4, &s))
		goto fail;
	if (d.entity && entity_resolve(&cc.c, &cc.cfg, s.family, &d))
		goto fail;
	if (s.family != d.family) {
		fprintf(stderr, "idgate policy trace: source and destination are of different address families\n");
		goto fail;
	}
	if (proto == IPPROTO_ICMP && s.family == IDG_FAM_IPV6)
		proto = IPPROTO_ICMPV6;
	if (icmp_s) {
		icmp_type = idg_icmp_type_parse(icmp_s, s.family);
		if (icmp_type < 0) {
			fprintf(stderr, "idgate policy trace: --icmp-type: '%s' is not an %s type (a number 0..255 or a name such as %s)\n",
				icmp_s, s.family == IDG_FAM_IPV6 ? "ICMPv6" : "ICMP",
				s.family == IDG_FAM_IPV6 ? "EchoRequest or NeighborSolicitation" :
							   "EchoRequest or TimeExceeded");
			goto fail;
		}
	}
	/* Without --icmp-type: an echo request. */
	if (icmp_type < 0)
		icmp_type = proto == IPPROTO_ICMPV6 ? 128 : 8;
	len = build(pkt, &s, &d, proto, dport, icmp_type);
	err = trace_run(&in, egress, pkt, len, &res);
	if (err) {
		fprintf(stderr, "idgate policy trace: cannot run the trace program against %s: %s\n",
			in.pin_dir, strerror(-err));
		goto fail;
	}
	allow = !idg_reason_is_drop(res.reason);
	sid = cmd_addr_identity(&cc.c, s.family, s.addr);
	did = cmd_addr_identity(&cc.c, d.family, d.addr);
	ck = res.cookie ? idg_compiled_cookie(&cc.c, res.cookie) : NULL;
	if (ck)
		cmd_rule_origin(ck, rule, sizeof(rule));
	inet_ntop(s.family == IDG_FAM_IPV4 ? AF_INET : AF_INET6, s.addr, sa, sizeof(sa));
	inet_ntop(d.family == IDG_FAM_IPV4 ? AF_INET : AF_INET6, d.addr, da, sizeof(da));
	/* Past the L3/L4 verdict, a port with L7 rules: the proxy's. */
	if (allow && !egress && proto == IPPROTO_TCP)
		lp = idg_l7_find(&cc.c.l7, did, IDG_DIR_INGRESS, dport);
	if (lp) {
		struct idg_http_req req = {
			.method = o->http_method ? o->http_method : "GET",
			.path = o->http_path ? o->http_path : "/",
			.host = o->http_host,
		};

		err = idg_l7_judge(lp, sid, &req, &l7v);
		if (err) {
			fprintf(stderr, "idgate policy trace: L7 rules: %s\n",
				strerror(-err));
			goto fail;
		}
		if (l7v.by)
			cmd_rule_origin(idg_compiled_cookie(&cc.c, l7v.by->cookie),
					l7rule, sizeof(l7rule));
		allow = l7v.allowed;
	} else if (o->http_method || o->http_path || o->http_host) {
		fprintf(stderr, "idgate policy trace: note: no L7 rule covers %s port %u: no proxy judges the request\n",
			da, dport);
	}
	if (o->json) {
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "verdict", json_object_new_string(allow ? "allow" : "deny"));
		json_object_object_add(j, "reason", json_object_new_string(idg_reason_name(res.reason)));
		json_object_object_add(j, "direction", json_object_new_string(dir_s));
		json_object_object_add(j, "source", json_object_new_string(sa));
		json_object_object_add(j, "destination", json_object_new_string(da));
		json_object_object_add(j, "protocol", json_object_new_string(idg_proto_name(proto)));
		if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
			json_object_object_add(j, "icmp_type", json_object_new_int(icmp_type));
		else
			json_object_object_add(j, "dport", json_object_new_int(dport));
		json_object_object_add(j, "source_identity", json_object_new_int64(sid));
		json_object_object_add(j, "source_labels", json_object_new_string(labels_of(&cc.c, sid)));
		json_object_object_add(j, "destination_identity", json_object_new_int64(did));
		json_object_object_add(j, "destination_labels", json_object_new_string(labels_of(&cc.c, did)));
		json_object_object_add(j, "cookie", json_object_new_int64(res.cookie));
		json_object_object_add(j, "rule", ck ? json_object_new_string(rule) : NULL);
		json_object_object_add(j, "default_deny", json_object_new_boolean(res.reason == IDG_DROP_POLICY_DEFAULT));
		if (lp) {
			struct json_object *jl = json_object_new_object();

			json_object_object_add(jl, "verdict", json_object_new_string(l7v.allowed ? "allow" : "deny"));
			json_object_object_add(jl, "method", json_object_new_string(o->http_method ? o->http_method : "GET"));
			json_object_object_add(jl, "path", json_object_new_string(o->http_path ? o->http_path : "/"));
			json_object_object_add(jl, "host", o->http_host ? json_object_new_string(o->http_host) : NULL);
			json_object_object_add(jl, "rule", l7v.by ? json_object_new_string(l7rule) : NULL);
			json_object_object_add(jl, "http_index", l7v.alt >= 0 ? json_object_new_int(l7v.alt) : NULL);
			json_object_object_add(j, "l7", jl);
			json_object_object_add(j, "verdict", json_object_new_string(allow ? "allow" : "deny"));
		}
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
		json_object_put(j);
	} else {
		if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
			printf("%s -> %s %s type %u (%s)\n", sa, da,
			       idg_proto_name(proto), icmp_type, dir_s);
		else
			printf("%s -> %s %s/%u (%s)\n", sa, da,
			       idg_proto_name(proto), dport, dir_s);
		printf("  source:      identity %u [%s]\n", sid, labels_of(&cc.c, sid));
		printf("  destination: identity %u [%s]\n", did, labels_of(&cc.c, did));
		if (lp && !allow)
			/* The packets pass; the proxy refuses the request. */
			printf("verdict: DENIED by the L7 proxy (L3/L4: %s%s%s)\n",
			       idg_reason_name(res.reason), ck ? " by " : "", rule);
		else
			printf("verdict: %s (%s)%s%s\n", allow ? "ALLOWED" : "DENIED",
			       idg_reason_name(res.reason), ck ? " by " : "", rule);
		if (res.reason == IDG_DROP_POLICY_DEFAULT)
			printf("  no rule matched: default deny\n");
		if (lp && l7v.allowed && l7v.alt >= 0)
			printf("l7: %s %s -> ALLOWED by %s http[%d]\n",
			       o->http_method ? o->http_method : "GET",
			       o->http_path ? o->http_path : "/", l7rule, l7v.alt);
		else if (lp && l7v.allowed)
			printf("l7: %s %s -> ALLOWED by %s (every request: no http rules for this peer)\n",
			       o->http_method ? o->http_method : "GET",
			       o->http_path ? o->http_path : "/", l7rule);
		else if (lp)
			printf("l7: %s %s -> DENIED (%d %s): no http rule of %s matches\n",
			       o->http_method ? o->http_method : "GET",
			       o->http_path ? o->http_path : "/",
			       IDG_L7_DENY_STATUS, IDG_L7_DENY_BODY,
			       l7v.by ? l7rule : "a rule for this peer");
	}
	cmd_compiled_free(&cc);
	return allow ? 0 : 1;
fail:
	cmd_compiled_free(&cc);
	return 2;
}

int do_policy_trace(struct idg_opts *o)
{
	const char *proto = o->proto ? o->proto : o->icmp_type ? "icmp" : "tcp";
	int nr;

	if (!o->src || !o->dst) {
		fprintf(stderr, "idgate policy trace: --src and --dst are required\n");
		return 2;
	}
	nr = idg_proto_parse(proto);
	if (o->icmp_type && nr != IPPROTO_ICMP) {
		fprintf(stderr, "idgate policy trace: --icmp-type goes with --proto icmp, not '%s'\n",
			proto);
		return 2;
	}
	if (nr == IPPROTO_ICMP && o->dport >= 0) {
		fprintf(stderr, "idgate policy trace: ICMP has no ports: use --icmp-type, not --dport\n");
		return 2;
	}
	return trace(o, o->src, o->dst, proto,
		     o->dport >= 0 ? (uint16_t)o->dport : 80,
		     o->direction ? o->direction : "ingress", o->icmp_type);
}
