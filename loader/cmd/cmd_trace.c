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

#include "cmd.h"
#include "idgate_tc.skel.h"
#include "idgate_xdp.skel.h"
#include "util/util.h"

#define TRACE_SPORT 40000

struct trace_addr {
	int family; /* IDG_FAM_* */
	uint8_t addr[16];
	const struct idg_endpoint *ep; /* when named by endpoint */
};

/* An endpoint name (its first address) or an address. */
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
	if (!out->ep) {
		fprintf(stderr, "idgate policy trace: '%s' is neither an address nor an endpoint\n",
			s);
		return -ENOENT;
	}
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
		    const struct trace_addr *d, uint8_t proto, uint16_t dport)
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
		/* An echo request: type 8 (v4) or 128 (v6). */
		b[l4] = proto == IPPROTO_ICMP ? 8 : 128;
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
		 const char *dir_s)
{
	struct trace_addr s, d;
	struct idg_trace_res res = { 0 };
	struct idg_instance in;
	struct cmd_compiled cc;
	const struct idg_cookie *ck;
	uint8_t pkt[128], proto;
	int nr;
	char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN], rule[160] = "";
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
	if (s.family != d.family) {
		fprintf(stderr, "idgate policy trace: source and destination are of different address families\n");
		goto fail;
	}
	if (proto == IPPROTO_ICMP && s.family == IDG_FAM_IPV6)
		proto = IPPROTO_ICMPV6;
	len = build(pkt, &s, &d, proto, dport);
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
		snprintf(rule, sizeof(rule), "%s%s%s %s[%zu]",
			 ck->policy->namespace ? ck->policy->namespace : "",
			 ck->policy->namespace ? "/" : "", ck->policy->name,
			 ck->set == IDG_RS_INGRESS ? "ingress" :
			 ck->set == IDG_RS_EGRESS ? "egress" :
			 ck->set == IDG_RS_INGRESS_DENY ? "ingressDeny" :
							   "egressDeny",
			 ck->rule_index);
	inet_ntop(s.family == IDG_FAM_IPV4 ? AF_INET : AF_INET6, s.addr, sa, sizeof(sa));
	inet_ntop(d.family == IDG_FAM_IPV4 ? AF_INET : AF_INET6, d.addr, da, sizeof(da));
	if (o->json) {
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "verdict", json_object_new_string(allow ? "allow" : "deny"));
		json_object_object_add(j, "reason", json_object_new_string(idg_reason_name(res.reason)));
		json_object_object_add(j, "direction", json_object_new_string(dir_s));
		json_object_object_add(j, "source", json_object_new_string(sa));
		json_object_object_add(j, "destination", json_object_new_string(da));
		json_object_object_add(j, "protocol", json_object_new_string(idg_proto_name(proto)));
		json_object_object_add(j, "dport", json_object_new_int(dport));
		json_object_object_add(j, "source_identity", json_object_new_int64(sid));
		json_object_object_add(j, "source_labels", json_object_new_string(labels_of(&cc.c, sid)));
		json_object_object_add(j, "destination_identity", json_object_new_int64(did));
		json_object_object_add(j, "destination_labels", json_object_new_string(labels_of(&cc.c, did)));
		json_object_object_add(j, "cookie", json_object_new_int64(res.cookie));
		json_object_object_add(j, "rule", ck ? json_object_new_string(rule) : NULL);
		json_object_object_add(j, "default_deny", json_object_new_boolean(res.reason == IDG_DROP_POLICY_DEFAULT));
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
		json_object_put(j);
	} else {
		printf("%s -> %s %s/%u (%s)\n", sa, da, idg_proto_name(proto),
		       dport, dir_s);
		printf("  source:      identity %u [%s]\n", sid, labels_of(&cc.c, sid));
		printf("  destination: identity %u [%s]\n", did, labels_of(&cc.c, did));
		printf("verdict: %s (%s)%s%s\n", allow ? "ALLOWED" : "DENIED",
		       idg_reason_name(res.reason), ck ? " by " : "", rule);
		if (res.reason == IDG_DROP_POLICY_DEFAULT)
			printf("  no rule matched: default deny\n");
	}
	cmd_compiled_free(&cc);
	return allow ? 0 : 1;
fail:
	cmd_compiled_free(&cc);
	return 2;
}

int do_policy_trace(struct idg_opts *o)
{
	if (!o->src || !o->dst) {
		fprintf(stderr, "idgate policy trace: --src and --dst are required\n");
		return 2;
	}
	return trace(o, o->src, o->dst, o->proto ? o->proto : "tcp",
		     o->dport >= 0 ? (uint16_t)o->dport : 80,
		     o->direction ? o->direction : "ingress");
}
