// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>

#include "harness.h"
#include "idgate_tc.skel.h"

/* Tests build several thousand rules: small limits keep them quick to
 * create, large enough for the scale test. */
static const struct idg_gen_limits fx_limits = {
	.ipcache = 1 << 20,
	.endpoints = 4096,
	.policy = 1 << 18,
};

static int fx_on_event(void *ctx, void *data, size_t len)
{
	struct fx *fx = ctx;

	const struct idg_event *e = data;

	assert_int_equal(len, sizeof(struct idg_event));
	fx->events_seen++;
	if (e->type == IDG_EV_TRACE) {
		if (fx->n_traces < FX_EVENTS_MAX)
			memcpy(&fx->traces[fx->n_traces++], data, len);
		return 0;
	}
	if (e->type == IDG_EV_POLICY_VERDICT) {
		if (fx->n_verdicts < FX_EVENTS_MAX)
			memcpy(&fx->verdicts[fx->n_verdicts++], data, len);
		return 0;
	}
	assert_int_equal(e->type, IDG_EV_DROP);
	if (fx->n_events < FX_EVENTS_MAX)
		memcpy(&fx->events[fx->n_events++], data, len);
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	libbpf_set_print(libbpf_quiet);
	assert_int_equal(idg_dp_open(&fx->dp, NULL), 0);
	fx->rb = ring_buffer__new(fx->dp.events_fd, fx_on_event, fx, NULL);
	assert_non_null(fx->rb);
	fx->cluster_id = 1;
	fx_gen_new(fx);
	*state = fx;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *fx = *state;

	ring_buffer__free(fx->rb);
	idg_gen_destroy(&fx->gen);
	idg_dp_close(&fx->dp);
	free(fx);
	return 0;
}

void fx_gen_new(struct fx *fx)
{
	idg_gen_destroy(&fx->gen);
	assert_int_equal(idg_gen_create(&fx->gen, &fx_limits), 0);
	fx->gen.cfg.cluster_id = fx->cluster_id;
	fx->gen.cfg.enforcement = IDG_ENFORCE_DEFAULT;
}

static void parse_cidr(const char *cidr, uint16_t cluster, struct idg_ip_key *k)
{
	char buf[64];
	unsigned char addr[16] = {};
	char *slash;
	int family, max;
	unsigned int plen;

	snprintf(buf, sizeof(buf), "%s", cidr);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	family = strchr(buf, ':') ? IDG_FAM_IPV6 : IDG_FAM_IPV4;
	max = family == IDG_FAM_IPV4 ? 32 : 128;
	assert_int_equal(inet_pton(family == IDG_FAM_IPV4 ? AF_INET : AF_INET6,
				   buf, addr),
			 1);
	plen = slash ? (unsigned int)atoi(slash + 1) : (unsigned int)max;
	assert_int_equal(idg_ip_key_make(k, family, addr, plen, cluster), 0);
}

void fx_ipcache_cluster(struct fx *fx, const char *cidr, uint16_t cluster,
			uint32_t identity)
{
	fx_ipcache_tun(fx, cidr, cluster, identity, NULL);
}

void fx_ipcache_tun(struct fx *fx, const char *cidr, uint16_t cluster,
		    uint32_t identity, const char *node)
{
	fx_ipcache_flags(fx, cidr, cluster, identity, node, 0);
}

void fx_ipcache_flags(struct fx *fx, const char *cidr, uint16_t cluster,
		      uint32_t identity, const char *node, uint32_t flags)
{
	struct idg_ipcache_val v = { .identity = identity, .flags = flags };
	struct idg_ip_key k;

	if (node)
		assert_int_equal(inet_pton(AF_INET, node, &v.tunnel_ip), 1);
	parse_cidr(cidr, cluster, &k);
	assert_int_equal(idg_gen_ipcache_add(&fx->gen, &k, &v), 0);
}

void fx_ipcache(struct fx *fx, const char *cidr, uint32_t identity)
{
	fx_ipcache_cluster(fx, cidr, fx->cluster_id, identity);
}

void fx_endpoint(struct fx *fx, const char *cidr, uint32_t identity,
		 uint32_t flags)
{
	fx_endpoint_if(fx, cidr, identity, flags, 0);
}

void fx_endpoint_if(struct fx *fx, const char *cidr, uint32_t identity,
		    uint32_t flags, uint32_t ifindex)
{
	struct idg_ep_val v = { .identity = identity, .flags = flags,
				.ifindex = ifindex };
	struct idg_ip_key k;

	parse_cidr(cidr, fx->cluster_id, &k);
	assert_int_equal(idg_gen_ep_add(&fx->gen, &k, &v), 0);
}

void fx_rule(struct fx *fx, const struct idg_rule_entry *r)
{
	assert_int_equal(idg_gen_policy_add(&fx->gen, r), 0);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

struct pkt fx_seg(const char *src, const char *dst, uint16_t sport,
		  uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = AF_INET, .src = src,
					 .dst = dst, .proto = IPPROTO_TCP,
					 .sport = sport, .dport = dport,
					 .tcp_flags = flags });
	put_be32(&p.data[p.l4_off + 4], seq);
	put_be32(&p.data[p.l4_off + 8], ack);
	pkt_fix_csums(&p);
	return p;
}

uint32_t fx_commit(struct fx *fx)
{
	struct idg_gen_commit_opts o = { .shadow_dir = fx->shadow_dir };
	uint32_t gen = 0;

	assert_int_equal(idg_gen_commit_ex(&fx->dp, &fx->gen, &o, &gen,
					   &fx->last),
			 0);
	return gen;
}

int fx_run_prog_repeat(int prog_fd, const struct pkt *p, uint32_t repeat,
		       uint32_t *retval, double *ns_per_pkt)
{
	uint8_t out[PKT_MAX + 256];
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = p->data,
		.data_size_in = (uint32_t)p->len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = repeat,
	);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	if (err)
		return -errno;
	*retval = opts.retval;
	if (ns_per_pkt)
		*ns_per_pkt = opts.duration;
	return 0;
}

static int fx_run(int prog_fd, const struct pkt *p)
{
	uint32_t ret = 0;

	assert_int_equal(fx_run_prog_repeat(prog_fd, p, 1, &ret, NULL), 0);
	return (int)ret;
}

int fx_ingress_tc;
int fx_tc_copy;

int fx_hook_flag(const char *a)
{
	if (!strcmp(a, "--ingress-tc")) {
		fx_ingress_tc = 1;
		return 1;
	}
	if (!strcmp(a, "--tc-copy")) {
		fx_ingress_tc = fx_tc_copy = 1;
		return 1;
	}
	return 0;
}

const char *fx_hook_name(void)
{
	if (!fx_ingress_tc)
		return "XDP";
	return fx_tc_copy ? "tc-copy" : "tc";
}

static int fx_tc_fd(struct fx *fx, int ingress)
{
	struct bpf_program *prog;

	if (!fx_tc_copy)
		return ingress ? fx->dp.tc_in_prog_fd : fx->dp.tc_prog_fd;
	prog = ingress ? fx->dp.tc->progs.idgate_tc_ingress_copy :
			 fx->dp.tc->progs.idgate_tc_egress_copy;
	return bpf_program__fd(prog);
}

int fx_run_xdp(struct fx *fx, const struct pkt *p)
{
	uint32_t ret;
	int err;

	if (!fx_ingress_tc)
		return fx_run(fx->dp.xdp_prog_fd, p);
	err = fx_run_prog_repeat(fx_tc_fd(fx, 1), p, 1, &ret, NULL);
	/* The kernel's skb test run refuses a frame whose IP header is cut
	 * short before the program sees it; the stack would drop it too. */
	if (err == -EINVAL && p->len < p->l3_off + 40)
		return FX_REFUSED;
	assert_int_equal(err, 0);
	if ((int)ret == TC_ACT_UNSPEC)
		return XDP_PASS;
	if ((int)ret == TC_ACT_SHOT)
		return XDP_DROP;
	return -1000 - (int)ret;
}

int fx_run_tc(struct fx *fx, const struct pkt *p)
{
	return fx_run(fx_tc_fd(fx, 0), p);
}

int fx_poll_events(struct fx *fx)
{
	int before = fx->n_events;

	assert_true(ring_buffer__consume(fx->rb) >= 0);
	return fx->n_events - before;
}

uint64_t fx_reason_pkts(struct fx *fx, uint32_t reason)
{
	struct idg_counter c;

	assert_int_equal(idg_dp_reason_stats(&fx->dp, reason, &c), 0);
	return c.packets;
}

uint64_t fx_rule_pkts(struct fx *fx, uint32_t cookie)
{
	struct idg_counter c;

	assert_int_equal(idg_dp_rule_stats(&fx->dp, cookie, &c), 0);
	return c.packets;
}

uint64_t fx_misc(struct fx *fx, uint32_t idx)
{
	__u64 v;

	assert_int_equal(idg_dp_misc_stat(&fx->dp, idx, &v), 0);
	return v;
}

void fx_build(struct pkt *p, const struct pkt_spec *s)
{
	assert_int_equal(pkt_build(s, p), 0);
}
