// SPDX-License-Identifier: GPL-2.0
/*
 * Egress gateway datapath, one test per behaviour: the real tc objects
 * (tc/idgate_tc_wl, egressgw/idgate_gw) loaded on the filter's maps, one
 * node's generation filled from C (a source node or a gateway node: the
 * maps are shared, so a test can play both ends in turn), frames built in
 * C and run through BPF_PROG_TEST_RUN.
 *
 * Forwarding. Every forwarded packet ends in a FIB lookup and a redirect.
 * The tests run in a network namespace of their own (fib_netns), where
 * the lookup (made for the loopback device, ifindex 1) always succeeds:
 * forwarding on, a default route through NH_IP on eg0, NH_IP's MAC known.
 * expect_sent() asserts that success: TC_ACT_REDIRECT, the pass reason
 * counted, the next hop's and eg0's MACs written. test_fib_outcomes
 * changes the namespace to reach the other branches.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "harness.h"
#include "egw_pkt.h"
#include "nat_gc.h"
#include "idgate_xdp.skel.h"
#include "idgate_tc_wl.skel.h"
#include "idgate_gw.skel.h"

/* Source node A (cluster 1) with workloads WL (selected by the policy)
 * and WL2 (not); gateways GW1, GW2 (cluster 2, set 0), GW3 outside the
 * set; node B another source node of cluster 1; node C of cluster 3
 * hosts a workload with WL's very address (overlapping pod CIDRs), also
 * selected. PEER_IP is an endpoint of cluster 2 on GW1. */
#define CL_A 1
#define CL_B 2
#define CL_C 3
#define NODE_A "10.99.0.1"
#define NODE_B "10.99.0.2"
#define GW1 "10.99.1.1"
#define GW2 "10.99.1.2"
#define GW3 "10.99.1.3"
#define NODE_C "10.99.3.1"
#define STRANGER "10.99.9.9"
#define WL "10.1.0.10"
#define WL2 "10.1.0.11"
#define WL_V6 "fd00:1::10"
#define DB "172.18.200.10"
#define DB_NET "172.18.200.0/24"
#define EXCL "172.18.200.99"
#define OUTSIDE "192.0.2.99"
#define PEER_IP "10.2.0.5" /* node A's ipcache: ID_OTHER */
#define DB2 "172.18.200.20" /* the gateway's ipcache: ID_DB2 */
#define DB3 "172.18.200.30" /* the gateway's ipcache: a node-local CIDR id */
#define EGRESS_IP "198.51.100.7"
#define POLICY_IP "198.51.100.8"
#define ID_WL IDG_ID_MAKE(CL_A, 1000)
#define ID_WL2 IDG_ID_MAKE(CL_A, 1001)
#define ID_WL_C IDG_ID_MAKE(CL_C, 1000) /* node C's workload at WL */
#define ID_PEER IDG_ID_MAKE(CL_B, 500)
#define ID_OTHER IDG_ID_MAKE(CL_B, 501)
#define ID_DB2 IDG_ID_MAKE(CL_B, 77)
#define MTU 1500
#define WL_IFINDEX 1
#define MSS_CLAMPED (MTU - 50 - 40)
#define PORT_MIN 61000
#define PORT_MAX 61999
#define SEC_NS 1000000000ull
#define NAT_NEW_S 20 /* handshake, unanswered UDP/ICMP */
/* The gateways' NAT idle timeouts here: established TCP an hour,
 * answered UDP/ICMP a minute, closing TCP 10 s. */
#define NAT_TIMEOUTS                                          \
	.nat_tcp_timeout_ns = 3600 * SEC_NS,                  \
	.nat_other_timeout_ns = 60 * SEC_NS,                  \
	.nat_new_timeout_ns = NAT_NEW_S * SEC_NS,             \
	.nat_close_timeout_ns = 10 * SEC_NS

#define RULE(...) \
	((struct idg_rule_entry){ .icmp_type = -1, __VA_ARGS__ })

struct efx {
	struct fx *fx;
	struct idgate_tc_wl *wl;
	struct idgate_gw *gw;
	int wl_fd;  /* idgate_tc_wl_ingress */
	int wl_egress_fd; /* idgate_tc_wl_egress */
	uint32_t quota;   /* the gateway's mappings per source; 0: none */
	uint32_t wl_ipc_flags; /* the gateway's IDG_IPC_F_* of WL (cluster A) */
	int tin_fd; /* idgate_tunnel_in */
	int ext_fd; /* idgate_gw_ext_in */
};

/* ---- fixture ---- */

/* The skeleton's maps become the filter's: same names, same fds. */
static void share_maps(struct bpf_object *from, struct bpf_object *to)
{
	struct bpf_map *m, *src;

	bpf_object__for_each_map(m, to) {
		assert_int_equal(bpf_map__set_pin_path(m, NULL), 0);
		src = bpf_object__find_map_by_name(from, bpf_map__name(m));
		if (!src)
			continue;
		assert_int_equal(bpf_map__reuse_fd(m, bpf_map__fd(src)), 0);
	}
}

static int efx_setup(void **state)
{
	struct efx *e = calloc(1, sizeof(*e));
	void *fs = NULL;

	assert_non_null(e);
	fx_setup(&fs);
	e->fx = fs;
	e->wl = idgate_tc_wl__open();
	assert_non_null(e->wl);
	share_maps(e->fx->dp.xdp->obj, e->wl->obj);
	assert_int_equal(idgate_tc_wl__load(e->wl), 0);
	e->gw = idgate_gw__open();
	assert_non_null(e->gw);
	share_maps(e->fx->dp.xdp->obj, e->gw->obj);
	assert_int_equal(idgate_gw__load(e->gw), 0);
	e->wl_fd = bpf_program__fd(e->wl->progs.idgate_tc_wl_ingress);
	e->wl_egress_fd = bpf_program__fd(e->wl->progs.idgate_tc_wl_egress);
	e->tin_fd = bpf_program__fd(e->gw->progs.idgate_tunnel_in);
	e->ext_fd = bpf_program__fd(e->gw->progs.idgate_gw_ext_in);
	*state = e;
	return 0;
}

static int efx_teardown(void **state)
{
	struct efx *e = *state;
	void *fs = e->fx;

	idgate_gw__destroy(e->gw);
	idgate_tc_wl__destroy(e->wl);
	fx_teardown(&fs);
	free(e);
	return 0;
}

/* ---- generations: the two personas ---- */

static void add_egw(struct fx *fx, uint16_t cluster, const char *src,
		    uint32_t identity, const char *dst, unsigned int plen,
		    uint32_t flags, const char *egress_ip)
{
	struct idg_egw_key k = {
		.prefixlen = IDG_EGW_KEY_FIXED_BITS + plen,
		.cluster_id = cluster,
		.src_ip = egw_ip(src),
		.dst_ip = egw_ip(dst),
	};
	struct idg_egw_val v = {
		.gwset = 0,
		.egress_ip = egress_ip ? egw_ip(egress_ip) : 0,
		.flags = flags,
		.policy_id = 1,
		.identity = identity,
	};

	assert_int_equal(idg_gen_egw_add(&fx->gen, &k, &v), 0);
}

static void add_node(struct fx *fx, const char *ip, uint32_t cluster)
{
	struct idg_node_val v = { .cluster_id = cluster };

	assert_int_equal(idg_gen_node_add(&fx->gen, egw_ip(ip), &v), 0);
}

/* The policy as every node compiles it: WL (of clusters A and C) to
 * DB_NET except EXCL, through the first n of {GW1, GW2, GW3}; and the
 * endpoints every node knows with the node hosting each (the tunnel's
 * identity check); the IDG_IPC_F_* of WL's entry (cluster A) and of
 * PEER_IP's. */
static void egw_tables_ext(struct fx *fx, int n_gw, const char *egress_ip,
			   uint32_t wl_flags, uint32_t peer_flags)
{
	const char *gws[] = { GW1, GW2, GW3 };
	struct idg_gwset set = { .n = (uint32_t)n_gw };

	for (int i = 0; i < n_gw; i++)
		set.tunnel_ip[i] = egw_ip(gws[i]);
	assert_int_equal(idg_gen_gwset_set(&fx->gen, 0, &set), 0);
	add_egw(fx, CL_A, WL, ID_WL, "172.18.200.0", 24, 0, egress_ip);
	add_egw(fx, CL_A, WL, ID_WL, EXCL, 32, IDG_EGW_F_EXCLUDED, NULL);
	add_egw(fx, CL_C, WL, ID_WL_C, "172.18.200.0", 24, 0, egress_ip);
	add_node(fx, NODE_A, CL_A);
	add_node(fx, NODE_B, CL_A);
	add_node(fx, NODE_C, CL_C);
	add_node(fx, GW1, CL_B);
	add_node(fx, GW2, CL_B);
	add_node(fx, GW3, CL_B);
	fx_ipcache_flags(fx, WL, CL_A, ID_WL, NODE_A, wl_flags);
	fx_ipcache_tun(fx, WL2, CL_A, ID_WL2, NODE_A);
	fx_ipcache_tun(fx, WL, CL_C, ID_WL_C, NODE_C);
	fx_ipcache_flags(fx, PEER_IP, CL_B, ID_PEER, GW1, peer_flags);
}

static void egw_tables(struct fx *fx, int n_gw, const char *egress_ip)
{
	egw_tables_ext(fx, n_gw, egress_ip, 0, 0);
}

/* Node A, the source node. ep_flags: WL's enforcement flags. */
static void gen_node_a_ext(struct efx *e, int n_gw, uint32_t ep_flags,
			   const struct idg_rule_entry *rules, int n_rules,
			   uint32_t peer_flags)
{
	struct fx *fx = e->fx;

	fx->cluster_id = CL_A;
	fx_gen_new(fx);
	fx->gen.tun = (struct idg_tun_cfg){
		.tunnel_ip = egw_ip(NODE_A),
		.uplink_ifindex = 1,
		.uplink_mtu = MTU,
		.cluster_id = CL_A,
	};
	/* Both sit behind the workload interface BPF_PROG_TEST_RUN runs
	 * tc programs on (the loopback device, ifindex 1). */
	fx_endpoint_if(fx, WL, ID_WL, ep_flags, WL_IFINDEX);
	fx_endpoint_if(fx, WL_V6, ID_WL, ep_flags, WL_IFINDEX);
	fx_endpoint_if(fx, WL2, ID_WL2, 0, WL_IFINDEX);
	fx_ipcache(fx, PEER_IP, ID_OTHER);
	for (int i = 0; i < n_rules; i++)
		fx_rule(fx, &rules[i]);
	egw_tables_ext(fx, n_gw, NULL, 0, peer_flags);
	fx_commit(fx);
}

static void gen_node_a(struct efx *e, int n_gw, uint32_t ep_flags,
		       const struct idg_rule_entry *rules, int n_rules)
{
	gen_node_a_ext(e, n_gw, ep_flags, rules, n_rules, 0);
}

/* A gateway node of cluster B, self being its tunnel address. */
static void gen_gateway(struct efx *e, const char *self, uint16_t pmin,
			uint16_t pmax, uint32_t tun_flags,
			const char *policy_ip)
{
	struct fx *fx = e->fx;

	fx->cluster_id = CL_B;
	fx_gen_new(fx);
	fx->gen.tun = (struct idg_tun_cfg){
		.tunnel_ip = egw_ip(self),
		.uplink_ifindex = 1,
		.uplink_mtu = MTU,
		.external_ifindex = 1,
		.egress_ip = egw_ip(EGRESS_IP),
		.nat_port_min = pmin,
		.nat_port_max = pmax,
		.flags = tun_flags,
		.cluster_id = CL_B,
		NAT_TIMEOUTS,
		.nat_src_quota = e->quota,
	};
	fx_ipcache(fx, DB2, ID_DB2);
	fx_ipcache(fx, DB3, IDG_ID_SCOPE_LOCAL | 5);
	egw_tables_ext(fx, 2, policy_ip, e->wl_ipc_flags, 0);
	fx_commit(fx);
}

static void gen_gw1(struct efx *e)
{
	gen_gateway(e, GW1, PORT_MIN, PORT_MAX, IDG_TUN_F_GATEWAY, NULL);
}

/* ---- running frames ---- */

static int run_ctx(int prog_fd, const struct pkt *in, struct pkt *out,
		   uint32_t gso_size)
{
	uint8_t buf[PKT_MAX + 256];
	struct __sk_buff ctx = { .gso_size = gso_size, .gso_segs = 2 };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in->data,
		.data_size_in = (uint32_t)in->len,
		.data_out = buf,
		.data_size_out = sizeof(buf),
		.repeat = 1,
	);

	if (gso_size) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &opts), 0);
	assert_true(opts.data_size_out <= PKT_MAX);
	if (out)
		assert_int_equal(pkt_load(out, buf, opts.data_size_out), 0);
	return (int)opts.retval;
}

static int run(int prog_fd, const struct pkt *in, struct pkt *out)
{
	return run_ctx(prog_fd, in, out, 0);
}

/* A run with skb fields set: the mark, the device it came in on. The
 * mark as the program left it in *mark_out. */
static int run_skb(int prog_fd, const struct pkt *in, uint32_t mark,
		   uint32_t ingress_ifindex, uint32_t *mark_out)
{
	struct __sk_buff ctx = { .mark = mark,
				 .ingress_ifindex = ingress_ifindex };
	struct __sk_buff ctx_out = { 0 };
	uint8_t buf[PKT_MAX + 256];
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in->data,
		.data_size_in = (uint32_t)in->len,
		.data_out = buf,
		.data_size_out = sizeof(buf),
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.ctx_out = &ctx_out,
		.ctx_size_out = sizeof(ctx_out),
		.repeat = 1,
	);

	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &opts), 0);
	if (mark_out)
		*mark_out = ctx_out.mark;
	return (int)opts.retval;
}

static uint64_t cnt(struct efx *e, uint32_t reason)
{
	return fx_reason_pkts(e->fx, reason);
}

/* The tests' namespace (fib_netns): eg0 and the next hop behind it. */
#define NH_IP "10.99.255.254"
static const uint8_t eg0_mac[6] = { 0x02, 0, 0, 0, 0xe0, 0x01 };
static const uint8_t nh_mac[6] = { 0x02, 0, 0, 0, 0xe0, 0x02 };

/* A shell command in the tests' namespace; its exit status. */
static int sh(const char *cmd)
{
	int st = system(cmd);

	if (st)
		fprintf(stderr, "# failed (%d): %s\n", st, cmd);
	return st;
}

/* A private network namespace for the whole run (gone when it ends),
 * where the FIB lookup for ifindex 1 finds NH_IP and its MAC. */
static int fib_netns(void)
{
	static const char *const cmds[] = {
		"ip link set lo up",
		"ip link add eg0 address 02:00:00:00:e0:01 type veth peer name eg1",
		"ip link set eg0 up",
		"ip link set eg1 up",
		"ip addr add 10.99.255.253/32 dev eg0",
		"ip route add " NH_IP "/32 dev eg0",
		"ip route add default via " NH_IP " dev eg0",
		"ip neigh replace " NH_IP " lladdr 02:00:00:00:e0:02 dev eg0 nud permanent",
		"sysctl -qw net.ipv4.conf.all.forwarding=1",
	};

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "test_egw: cannot create a network namespace: %s\n",
			strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (sh(cmds[i]))
			return -1;
	return 0;
}

/*
 * A forwarded packet, routed by the FIB lookup: TC_ACT_REDIRECT with the
 * pass reason counted, no FIB drop, the next hop's MAC as destination and
 * eg0's as source.
 */
static void expect_sent(struct efx *e, int prog_fd, const struct pkt *in,
			struct pkt *out, uint32_t pass_reason)
{
	uint64_t pass = cnt(e, pass_reason), fib = cnt(e, IDG_DROP_FIB);
	int ret = run(prog_fd, in, out);

	assert_int_equal(ret, TC_ACT_REDIRECT);
	assert_int_equal(cnt(e, pass_reason), pass + 1);
	assert_int_equal(cnt(e, IDG_DROP_FIB), fib);
	assert_memory_equal(out->data, nh_mac, 6);
	assert_memory_equal(out->data + 6, eg0_mac, 6);
}

static void expect_verdict(struct efx *e, int prog_fd, const struct pkt *in,
			   int tc_ret, uint32_t reason)
{
	uint64_t before = cnt(e, reason);
	struct pkt out;

	assert_int_equal(run(prog_fd, in, &out), tc_ret);
	assert_int_equal(cnt(e, reason), before + 1);
	if (tc_ret == TC_ACT_SHOT || tc_ret == TC_ACT_OK) {
		/* Dropped or passed on: never half-modified. */
		assert_int_equal(out.len, in->len);
		assert_memory_equal(out.data, in->data, in->len);
	}
}

/* Left to the stack, byte for byte, and nothing counted. */
static void expect_untouched(struct efx *e, int prog_fd, const struct pkt *in)
{
	uint64_t before[IDG_REASON_MAX];
	struct pkt out;

	for (uint32_t r = IDG_PASS_EGW_ENCAP; r < IDG_REASON_MAX; r++)
		before[r] = cnt(e, r);
	assert_int_equal(run(prog_fd, in, &out), TC_ACT_OK);
	assert_int_equal(out.len, in->len);
	assert_memory_equal(out.data, in->data, in->len);
	for (uint32_t r = IDG_PASS_EGW_ENCAP; r <= IDG_PASS_REV_SNAT; r++)
		assert_int_equal(cnt(e, r), before[r]);
	for (uint32_t r = IDG_DROP_BASE; r < IDG_REASON_MAX; r++)
		assert_int_equal(cnt(e, r), before[r]);
}

/* ---- frames ---- */

static struct pkt tcp_pkt(const char *src, const char *dst, uint16_t sport,
			  uint16_t dport, uint8_t flags, size_t payload)
{
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = AF_INET, .src = src,
					 .dst = dst, .proto = IPPROTO_TCP,
					 .sport = sport, .dport = dport,
					 .tcp_flags = flags,
					 .payload_len = payload });
	return p;
}

static struct pkt udp_pkt(const char *src, const char *dst, uint16_t sport,
			  uint16_t dport, size_t payload)
{
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = AF_INET, .src = src,
					 .dst = dst, .proto = IPPROTO_UDP,
					 .sport = sport, .dport = dport,
					 .payload_len = payload });
	return p;
}

static struct pkt icmp_pkt(const char *src, const char *dst, uint8_t type,
			   uint16_t id)
{
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = AF_INET, .src = src,
					 .dst = dst, .proto = IPPROTO_ICMP,
					 .icmp_type = type, .icmp_id = id,
					 .payload_len = 32 });
	return p;
}

static struct pkt wrap(const struct pkt *inner, const char *src,
		       const char *dst, uint32_t vni)
{
	struct egw_gnv_spec s = { .src = src, .dst = dst, .vni = vni };
	struct pkt p;

	assert_int_equal(egw_geneve_wrap(&p, inner, &s), 0);
	return p;
}

static struct pkt wrap_spec(const struct pkt *inner,
			    const struct egw_gnv_spec *s)
{
	struct pkt p;

	assert_int_equal(egw_geneve_wrap(&p, inner, s), 0);
	return p;
}

/* Fields of a plain (not encapsulated) IPv4 frame. */
static uint32_t ip_saddr(const struct pkt *p)
{
	uint32_t a;

	memcpy(&a, p->data + p->l3_off + 12, 4);
	return a;
}

static uint32_t ip_daddr(const struct pkt *p)
{
	uint32_t a;

	memcpy(&a, p->data + p->l3_off + 16, 4);
	return a;
}

static uint16_t be16_at(const struct pkt *p, size_t off)
{
	return (uint16_t)(p->data[off] << 8 | p->data[off + 1]);
}

static uint16_t l4_sport(const struct pkt *p)
{
	return be16_at(p, p->l4_off);
}

static uint16_t l4_dport(const struct pkt *p)
{
	return be16_at(p, p->l4_off + 2);
}

static uint16_t icmp_id(const struct pkt *p)
{
	return be16_at(p, p->l4_off + 4);
}

/* MSS option value of a TCP frame, 0 when none. */
static uint16_t tcp_mss(const struct pkt *p)
{
	size_t th = p->l4_off, hlen = (size_t)(p->data[th + 12] >> 4) * 4;

	for (size_t o = 20; o + 1 < hlen;) {
		uint8_t kind = p->data[th + o];

		if (kind == 0)
			break;
		if (kind == 1) {
			o++;
			continue;
		}
		if (kind == 2)
			return be16_at(p, th + o + 2);
		o += p->data[th + o + 1];
	}
	return 0;
}

/* Checks every encapsulated frame must pass; returns the inner frame. */
static struct pkt check_encap(const struct pkt *out, const struct pkt *in,
			      const char *src, uint32_t vni,
			      struct egw_outer *o)
{
	struct pkt inner;

	assert_int_equal(out->len, in->len + EGW_OVERHEAD);
	assert_int_equal(egw_outer_parse(out, o), 0);
	assert_int_equal(o->eth_proto, 0x0800);
	assert_int_equal(o->ip_ver_ihl, 0x45);
	assert_int_equal(o->tot_len, out->len - 14);
	assert_int_equal(o->id, 0);
	assert_int_equal(o->frag_off, 0x4000); /* DF */
	assert_int_equal(o->ttl, 64);
	assert_int_equal(o->ip_proto, IPPROTO_UDP);
	assert_true(o->ip_csum_ok);
	assert_int_equal(o->saddr, egw_ip(src));
	assert_true(o->sport >= 49152);
	assert_int_equal(o->dport, EGW_GENEVE_PORT);
	assert_int_equal(o->udp_len, o->tot_len - 20);
	assert_int_equal(o->udp_csum, 0);
	assert_int_equal(o->gnv_ver_optlen, 0);
	assert_int_equal(o->gnv_flags, 0);
	assert_int_equal(o->gnv_proto, 0x6558);
	assert_int_equal(o->vni, vni);
	assert_int_equal(pkt_verify_csums(out), 0);
	assert_int_equal(egw_inner(out, &inner), 0);
	assert_int_equal(pkt_verify_csums(&inner), 0);
	return inner;
}

static void set_health(struct efx *e, const char *gw, int up)
{
	struct idg_gw_health h = { .up = (uint32_t)up };
	uint32_t ip = egw_ip(gw);

	assert_int_equal(bpf_map_update_elem(e->fx->dp.gw_health_fd, &ip, &h,
					     BPF_ANY),
			 0);
}

/* The gateway a source-node frame was sent to (encapsulated output). */
static uint32_t sent_to(struct efx *e, const struct pkt *in)
{
	struct egw_outer o;
	struct pkt out;

	expect_sent(e, e->wl_fd, in, &out, IDG_PASS_EGW_ENCAP);
	assert_int_equal(egw_outer_parse(&out, &o), 0);
	return o.daddr;
}

static uint64_t now_coarse(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec;
}

static struct idg_nat_maps nat_maps(const struct efx *e)
{
	return (struct idg_nat_maps){ .fwd = e->fx->dp.snat_fd,
				      .rev = e->fx->dp.snat_rev_fd,
				      .src = e->fx->dp.snat_src_fd,
				      .src_gc = e->fx->dp.snat_srcgc_fd };
}

static int snat_lookup(struct efx *e, const char *node, const char *saddr,
		       const char *daddr, uint16_t sport, uint16_t dport,
		       uint8_t proto, struct idg_snat_val *v)
{
	struct idg_snat_key k = {
		.node_ip = egw_ip(node), .saddr = egw_ip(saddr),
		.daddr = egw_ip(daddr), .sport = htons(sport),
		.dport = htons(dport), .proto = proto,
	};

	return bpf_map_lookup_elem(e->fx->dp.snat_fd, &k, v);
}

static int snat_rev_lookup(struct efx *e, const char *saddr,
			   const char *daddr, uint16_t sport, uint16_t dport,
			   uint8_t proto, struct idg_snat_rev_val *v)
{
	struct idg_snat_rev_key k = {
		.saddr = egw_ip(saddr), .daddr = egw_ip(daddr),
		.sport = htons(sport), .dport = htons(dport), .proto = proto,
	};

	return bpf_map_lookup_elem(e->fx->dp.snat_rev_fd, &k, v);
}

/* ---- source node ---- */

static void test_unconfigured_transparent(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	struct pkt g = wrap(&in, NODE_A, GW1, ID_WL);

	/* Generation 0: nothing is ours, nothing is touched. */
	assert_int_equal(run(e->wl_fd, &in, NULL), TC_ACT_OK);
	expect_untouched(e, e->tin_fd, &g);
	expect_untouched(e, e->ext_fd, &in);
}

/* One frame to encapsulate, sent with the namespace changed by set and
 * put back by undo: the program's return code, and the frame out. */
static int send_with(struct efx *e, const char *set, const char *undo,
		     struct pkt *out)
{
	struct pkt in = udp_pkt(WL, DB, 5353, 53, 40);
	int ret, st;

	assert_int_equal(sh(set), 0);
	ret = run(e->wl_fd, &in, out);
	st = sh(undo);
	assert_int_equal(st, 0);
	return ret;
}

/* The FIB lookup's other outcomes: no neighbour entry and forwarding off
 * leave the MACs to the kernel's neighbour redirect (zeroed here); no
 * route drops with a reason. */
static void test_fib_outcomes(void **state)
{
	static const uint8_t zero[12] = { 0 };
	struct efx *e = *state;
	struct pkt in = udp_pkt(WL, DB, 5353, 53, 40), out;
	uint64_t encap, fib;

	gen_node_a(e, 2, 0, NULL, 0);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);

	encap = cnt(e, IDG_PASS_EGW_ENCAP);
	assert_int_equal(send_with(e, "ip neigh del " NH_IP " dev eg0",
				   "ip neigh replace " NH_IP " lladdr 02:00:00:00:e0:02 dev eg0 nud permanent",
				   &out),
			 TC_ACT_REDIRECT);
	assert_memory_equal(out.data, zero, sizeof(zero));
	assert_int_equal(send_with(e, "sysctl -qw net.ipv4.conf.lo.forwarding=0",
				   "sysctl -qw net.ipv4.conf.lo.forwarding=1",
				   &out),
			 TC_ACT_REDIRECT);
	assert_memory_equal(out.data, zero, sizeof(zero));
	assert_int_equal(cnt(e, IDG_PASS_EGW_ENCAP), encap + 2);

	fib = cnt(e, IDG_DROP_FIB);
	assert_int_equal(send_with(e, "ip route del default",
				   "ip route add default via " NH_IP " dev eg0",
				   &out),
			 TC_ACT_SHOT);
	assert_int_equal(cnt(e, IDG_DROP_FIB), fib + 1);
	assert_int_equal(cnt(e, IDG_PASS_EGW_ENCAP), encap + 2);

	/* Everything put back: routed again. */
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
}

static void test_encap_bytes(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(WL, DB, 40000, 5432,
				PKT_TCP_ACK | PKT_TCP_PSH, 100);
	struct pkt out, out2, inner, syn;
	struct egw_outer o, o2;
	struct idg_ct_key ck = { .lport = htons(40000), .rport = htons(5432),
				 .proto = IPPROTO_TCP,
				 .family = IDG_FAM_IPV4 };
	struct idg_ct_val cv;
	uint32_t wl = egw_ip(WL), db = egw_ip(DB);

	gen_node_a(e, 2, 0, NULL, 0);
	in.data[in.l3_off + 1] = 0x2a; /* DSCP 10, ECT(0): inherited */
	pkt_fix_csums(&in);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
	inner = check_encap(&out, &in, NODE_A, ID_WL, &o);
	assert_true(o.daddr == egw_ip(GW1) || o.daddr == egw_ip(GW2));
	assert_int_equal(o.tos, 0x2a);
	/* The inner frame is the original, byte for byte. */
	assert_int_equal(inner.len, in.len);
	assert_memory_equal(inner.data, in.data, in.len);
	/* A segment opens no flow; the SYN does, bound to its gateway:
	 * only replies out of that gateway's tunnel match it. */
	memcpy(ck.laddr, &wl, 4);
	memcpy(ck.raddr, &db, 4);
	ck.tun = o.daddr;
	assert_int_not_equal(bpf_map_lookup_elem(e->fx->dp.ct_new_fd, &ck, &cv),
			     0);
	syn = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	expect_sent(e, e->wl_fd, &syn, &out2, IDG_PASS_EGW_ENCAP);
	assert_int_equal(bpf_map_lookup_elem(e->fx->dp.ct_new_fd, &ck, &cv),
			 0);
	assert_int_equal(cv.dir, IDG_DIR_EGRESS);

	/* Same flow again: same gateway, same outer source port. */
	expect_sent(e, e->wl_fd, &in, &out2, IDG_PASS_EGW_ENCAP);
	assert_int_equal(egw_outer_parse(&out2, &o2), 0);
	assert_int_equal(o2.daddr, o.daddr);
	assert_int_equal(o2.sport, o.sport);

	/* UDP and ICMP travel the same way. */
	in = udp_pkt(WL, DB, 5353, 53, 40);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
	inner = check_encap(&out, &in, NODE_A, ID_WL, &o);
	assert_memory_equal(inner.data, in.data, in.len);
	in = icmp_pkt(WL, DB, 8, 99);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
	inner = check_encap(&out, &in, NODE_A, ID_WL, &o);
	assert_memory_equal(inner.data, in.data, in.len);
}

static void test_excluded_cidr_untouched(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(WL, EXCL, 40000, 5432, PKT_TCP_SYN, 0);
	uint64_t pol = cnt(e, IDG_PASS_NOT_ENDPOINT);
	struct pkt out;

	gen_node_a(e, 2, 0, NULL, 0);
	/* The longer excluded prefix wins: normal routing, bytes as sent;
	 * the filter's egress verdict still ran. */
	assert_int_equal(run(e->wl_fd, &in, &out), TC_ACT_OK);
	assert_memory_equal(out.data, in.data, in.len);
	assert_int_equal(cnt(e, IDG_PASS_EGW_ENCAP), 0);
	assert_int_equal(cnt(e, IDG_PASS_UNENFORCED), 1);
	assert_int_equal(cnt(e, IDG_PASS_NOT_ENDPOINT), pol);
	/* A neighbour of the excluded address is still tunnelled. */
	in = tcp_pkt(WL, "172.18.200.98", 40000, 5432, PKT_TCP_SYN, 0);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
}

static void test_not_selected_untouched(void **state)
{
	struct efx *e = *state;
	struct pkt in, out;

	gen_node_a(e, 2, 0, NULL, 0);
	/* A workload no policy selects, a destination outside the policy,
	 * IPv6. */
	in = tcp_pkt(WL2, DB, 40000, 5432, PKT_TCP_SYN, 0);
	assert_int_equal(run(e->wl_fd, &in, &out), TC_ACT_OK);
	assert_memory_equal(out.data, in.data, in.len);
	in = tcp_pkt(WL, OUTSIDE, 40000, 443, PKT_TCP_SYN, 0);
	assert_int_equal(run(e->wl_fd, &in, &out), TC_ACT_OK);
	assert_memory_equal(out.data, in.data, in.len);
	fx_build(&in, &(struct pkt_spec){ .family = AF_INET6, .src = WL_V6,
					  .dst = "fd00:9::1",
					  .proto = IPPROTO_TCP, .sport = 1,
					  .dport = 2 });
	assert_int_equal(run(e->wl_fd, &in, &out), TC_ACT_OK);
	assert_memory_equal(out.data, in.data, in.len);
	assert_int_equal(cnt(e, IDG_PASS_EGW_ENCAP), 0);
}

static void test_egress_policy_first(void **state)
{
	struct efx *e = *state;
	const struct idg_rule_entry allow = RULE(
		.subject = ID_WL, .peer = IDG_ID_WORLD, .dir = IDG_DIR_EGRESS,
		.kind = IDG_RULE_ALLOW, .proto = IPPROTO_TCP, .port = 5432,
		.cookie = 5);
	struct pkt in, out;

	/* WL's egress is enforced and allows only TCP 5432 to world. */
	gen_node_a(e, 2, IDG_EP_F_ENFORCE_EGRESS, &allow, 1);
	in = tcp_pkt(WL, DB, 40000, 5433, PKT_TCP_SYN, 0);
	expect_verdict(e, e->wl_fd, &in, TC_ACT_SHOT, IDG_DROP_POLICY_DEFAULT);
	assert_int_equal(cnt(e, IDG_PASS_EGW_ENCAP), 0);
	assert_int_equal(fx_poll_events(e->fx), 1);
	assert_int_equal(e->fx->events[0].reason, IDG_DROP_POLICY_DEFAULT);
	assert_int_equal(e->fx->events[0].src_id, ID_WL);

	in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
	assert_int_equal(cnt(e, IDG_PASS_POLICY), 1);
	assert_int_equal(fx_rule_pkts(e->fx, 5), 1);
}

static void test_no_healthy_gateway(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	struct idg_event *ev;

	gen_node_a(e, 2, 0, NULL, 0);
	set_health(e, GW1, 0);
	set_health(e, GW2, 0);
	expect_verdict(e, e->wl_fd, &in, TC_ACT_SHOT, IDG_DROP_NO_GATEWAY);
	assert_int_equal(fx_poll_events(e->fx), 1);
	ev = &e->fx->events[0];
	assert_int_equal(ev->reason, IDG_DROP_NO_GATEWAY);
	assert_int_equal(ev->dir, IDG_DIR_EGRESS);
	assert_int_equal(ev->src_id, ID_WL);
	assert_int_equal(ntohs(ev->sport), 40000);
	assert_int_equal(ntohs(ev->dport), 5432);

	/* One comes back: the flow goes to it. */
	set_health(e, GW2, 1);
	assert_int_equal(sent_to(e, &in), egw_ip(GW2));

	/* An empty set is the same as none healthy. */
	gen_node_a(e, 0, 0, NULL, 0);
	in = tcp_pkt(WL, DB, 40001, 5432, PKT_TCP_SYN, 0);
	expect_verdict(e, e->wl_fd, &in, TC_ACT_SHOT, IDG_DROP_NO_GATEWAY);
}

static void test_gateway_sticky_and_spread(void **state)
{
	struct efx *e = *state;
	const uint32_t gws[3] = { egw_ip(GW1), egw_ip(GW2), egw_ip(GW3) };
	enum { N = 60 };
	uint32_t first[N], again;
	int per_gw[3] = { 0 }, moved = 0, back = 0;
	struct pkt in;

	gen_node_a(e, 3, 0, NULL, 0);
	for (int i = 0; i < N; i++) {
		in = udp_pkt(WL, DB, (uint16_t)(30000 + i), 53, 8);
		first[i] = sent_to(e, &in);
		for (int g = 0; g < 3; g++)
			per_gw[g] += first[i] == gws[g];
	}
	/* Spread: every healthy gateway gets flows. */
	for (int g = 0; g < 3; g++)
		assert_true(per_gw[g] > 0);

	/* Sticky, and the same on every node: forget the flows (another
	 * node has none of them) and every flow still picks its gateway. */
	for (;;) {
		struct idg_ct_key k;

		if (bpf_map_get_next_key(e->fx->dp.egw_flows_fd, NULL, &k))
			break;
		assert_int_equal(bpf_map_delete_elem(e->fx->dp.egw_flows_fd,
						     &k),
				 0);
	}
	for (int i = 0; i < N; i++) {
		in = udp_pkt(WL, DB, (uint16_t)(30000 + i), 53, 8);
		assert_int_equal(sent_to(e, &in), first[i]);
	}

	/* GW1 goes down: its flows move, the others stay put. */
	set_health(e, GW1, 0);
	for (int i = 0; i < N; i++) {
		in = udp_pkt(WL, DB, (uint16_t)(30000 + i), 53, 8);
		again = sent_to(e, &in);
		assert_true(again != gws[0]);
		if (first[i] == gws[0])
			moved++;
		else
			assert_int_equal(again, first[i]);
	}
	assert_int_equal(moved, per_gw[0]);

	/* GW1 returns: moved flows stay where they are now; new flows use
	 * GW1 again. */
	set_health(e, GW1, 1);
	for (int i = 0; i < N; i++) {
		in = udp_pkt(WL, DB, (uint16_t)(30000 + i), 53, 8);
		assert_true(sent_to(e, &in) != gws[0] || first[i] != gws[0]);
	}
	for (int i = 0; i < N; i++) {
		in = udp_pkt(WL, DB, (uint16_t)(31000 + i), 53, 8);
		back += sent_to(e, &in) == gws[0];
	}
	assert_true(back > 0);

	/* A gateway removed from the set loses its flows too. */
	gen_node_a(e, 1, 0, NULL, 0);
	for (int i = 0; i < N; i++) {
		in = udp_pkt(WL, DB, (uint16_t)(30000 + i), 53, 8);
		assert_int_equal(sent_to(e, &in), gws[0]);
	}
}

static void test_too_big(void **state)
{
	struct efx *e = *state;
	struct pkt in, out;

	gen_node_a(e, 2, 0, NULL, 0);
	/* IPv4 length 1450 + 50 = 1500: fits. 1451 does not. */
	in = udp_pkt(WL, DB, 5000, 53, 1450 - 28);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
	assert_int_equal(out.len, 14 + MTU);
	in = udp_pkt(WL, DB, 5000, 53, 1451 - 28);
	expect_verdict(e, e->wl_fd, &in, TC_ACT_SHOT, IDG_DROP_TOO_BIG);
	assert_int_equal(fx_poll_events(e->fx), 1);
	assert_int_equal(e->fx->events[0].reason, IDG_DROP_TOO_BIG);
	/* Without DF too: after the redirect nothing would fragment it. */
	in.data[in.l3_off + 6] &= (uint8_t)~0x40;
	pkt_fix_csums(&in);
	expect_verdict(e, e->wl_fd, &in, TC_ACT_SHOT, IDG_DROP_TOO_BIG);
	/* A GSO packet is judged by its segments: 1430 payload + 40 of
	 * headers + 50 > 1500. */
	in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_ACK, 1600);
	{
		uint64_t before = cnt(e, IDG_DROP_TOO_BIG);

		assert_int_equal(run_ctx(e->wl_fd, &in, &out, 1431),
				 TC_ACT_SHOT);
		assert_int_equal(cnt(e, IDG_DROP_TOO_BIG), before + 1);
	}
}

static void test_mss_clamp(void **state)
{
	struct efx *e = *state;
	/* MSS 1460, SACK permitted, timestamps, NOP, window scale. */
	const uint8_t linux_syn[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10,
					0, 0, 0, 1, 0, 0, 0, 0,
					1, 3, 3, 7 };
	/* A NOP first puts the MSS value at an odd offset. */
	const uint8_t odd[8] = { 1, 2, 4, 0x05, 0xb4, 1, 1, 0 };
	const uint8_t small[4] = { 2, 4, 0x04, 0x00 };
	struct egw_outer o;
	struct pkt in, out, inner;

	gen_node_a(e, 2, 0, NULL, 0);
	assert_int_equal(egw_tcp_opts(&in, WL, DB, 40000, 5432, PKT_TCP_SYN,
				      linux_syn, sizeof(linux_syn), 0),
			 0);
	assert_int_equal(tcp_mss(&in), 1460);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
	inner = check_encap(&out, &in, NODE_A, ID_WL, &o);
	assert_int_equal(tcp_mss(&inner), MSS_CLAMPED);
	/* Only the MSS changed. */
	assert_memory_equal(inner.data, in.data, inner.l4_off + 16);
	assert_memory_equal(inner.data + inner.l4_off + 24,
			    in.data + in.l4_off + 24, in.len - in.l4_off - 24);

	assert_int_equal(egw_tcp_opts(&in, WL, DB, 40001, 5432,
				      PKT_TCP_SYN | PKT_TCP_ACK, odd,
				      sizeof(odd), 0),
			 0);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
	inner = check_encap(&out, &in, NODE_A, ID_WL, &o);
	assert_int_equal(tcp_mss(&inner), MSS_CLAMPED);

	/* Already small enough: untouched. */
	assert_int_equal(egw_tcp_opts(&in, WL, DB, 40002, 5432, PKT_TCP_SYN,
				      small, sizeof(small), 0),
			 0);
	expect_sent(e, e->wl_fd, &in, &out, IDG_PASS_EGW_ENCAP);
	inner = check_encap(&out, &in, NODE_A, ID_WL, &o);
	assert_memory_equal(inner.data, in.data, in.len);
}

/* ---- tunnel in: decap to this node and its endpoints ---- */

/* out is in's IPv4 packet behind the tunnel frame g's outer Ethernet. */
static void expect_decapped(const struct pkt *out, const struct pkt *g,
			    const struct pkt *in)
{
	assert_int_equal(out->len, in->len);
	assert_memory_equal(out->data, g->data, 14);
	assert_memory_equal(out->data + 14, in->data + 14, in->len - 14);
	assert_int_equal(pkt_verify_csums(out), 0);
}

/* WL opens a flow to DB through the tunnel; the gateway it went to. */
static const char *open_flow(struct efx *e, const struct pkt *syn)
{
	uint32_t gw = sent_to(e, syn);

	return gw == egw_ip(GW1) ? GW1 : gw == egw_ip(GW2) ? GW2 : GW3;
}

static void test_decap_known_node(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(DB, WL, 5432, 40000, PKT_TCP_ACK, 64);
	struct pkt g, out, syn;
	struct egw_gnv_spec s = { .dst = NODE_A, .vni = IDG_ID_WORLD,
				  .opt_words = 3, .tos = 0x03 };
	const char *gw;
	uint64_t dec;

	/* Replies of flows WL sent into the tunnel: decapsulated for the
	 * kernel to route to WL. */
	gen_node_a(e, 2, 0, NULL, 0);
	syn = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	gw = open_flow(e, &syn);
	g = wrap(&in, gw, NODE_A, IDG_ID_WORLD);
	dec = cnt(e, IDG_PASS_TUNNEL_DECAP);
	assert_int_equal(run(e->tin_fd, &g, &out), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_TUNNEL_DECAP), dec + 1);
	expect_decapped(&out, &g, &in);

	/* Options without the critical bit are skipped; a CE mark on the
	 * outer header reaches an ECN-capable inner one (checksum kept). */
	syn = udp_pkt(WL, DB, 5353, 53, 20);
	s.src = open_flow(e, &syn);
	in = udp_pkt(DB, WL, 53, 5353, 20);
	in.data[in.l3_off + 1] = 0x02; /* ECT(0) */
	pkt_fix_csums(&in);
	g = wrap_spec(&in, &s);
	assert_int_equal(run(e->tin_fd, &g, &out), TC_ACT_OK);
	assert_int_equal(out.data[out.l3_off + 1], 0x03);
	assert_int_equal(pkt_verify_csums(&out), 0);
	out.data[out.l3_off + 1] = 0x02;
	pkt_fix_csums(&out);
	expect_decapped(&out, &g, &in);

	/* For the node itself, from an endpoint the sender hosts. */
	in = udp_pkt(PEER_IP, NODE_A, 53, 5353, 20);
	g = wrap(&in, GW1, NODE_A, ID_PEER);
	assert_int_equal(run(e->tin_fd, &g, &out), TC_ACT_OK);
	expect_decapped(&out, &g, &in);
	assert_int_equal(cnt(e, IDG_PASS_TUNNEL_DECAP), dec + 3);
}

static void test_decap_policy_by_vni(void **state)
{
	struct efx *e = *state;
	const struct idg_rule_entry allow = RULE(
		.subject = ID_WL, .peer = ID_PEER, .dir = IDG_DIR_INGRESS,
		.kind = IDG_RULE_ALLOW, .proto = IPPROTO_TCP, .port = 8080,
		.cookie = 9);
	struct pkt in, g, out;

	/* WL admits TCP 8080 from ID_PEER only. PEER_IP is cluster 2's
	 * endpoint on GW1; node A's flat ipcache says ID_OTHER (another
	 * cluster 1 workload with that address): the verified VNI wins. */
	gen_node_a(e, 2, IDG_EP_F_ENFORCE_INGRESS, &allow, 1);
	in = tcp_pkt(PEER_IP, WL, 1234, 8080, PKT_TCP_SYN, 0);
	g = wrap(&in, GW1, NODE_A, ID_PEER);
	assert_int_equal(run(e->tin_fd, &g, &out), TC_ACT_OK);
	expect_decapped(&out, &g, &in);
	assert_int_equal(cnt(e, IDG_PASS_POLICY), 1);
	assert_int_equal(fx_rule_pkts(e->fx, 9), 1);
	assert_int_equal(cnt(e, IDG_PASS_TUNNEL_DECAP), 1);
}

/*
 * The VNI is the sending node's word: believed only for an identity of
 * its own cluster, not reserved, that the ipcache gives the inner source
 * it hosts (tunnel address = outer source). A forged one drops, whatever
 * policy would have said.
 */
static void test_decap_vni_verified(void **state)
{
	struct efx *e = *state;
	const struct idg_rule_entry allow = RULE(
		.subject = ID_WL, .peer = IDG_ID_UNKNOWN,
		.dir = IDG_DIR_INGRESS, .kind = IDG_RULE_ALLOW, .cookie = 9);
	static const struct {
		const char *from, *src;
		uint32_t vni, reason;
	} forged[] = {
		/* Another cluster's identity from a cluster-2 node. */
		{ GW1, PEER_IP, ID_WL, IDG_DROP_TUNNEL_BAD_VNI },
		/* Reserved identities: world, host, remote-node, unknown. */
		{ GW1, PEER_IP, IDG_ID_WORLD, IDG_DROP_TUNNEL_BAD_VNI },
		{ GW1, PEER_IP, IDG_ID_HOST, IDG_DROP_TUNNEL_BAD_VNI },
		{ GW1, PEER_IP, IDG_ID_REMOTE_NODE, IDG_DROP_TUNNEL_BAD_VNI },
		{ GW1, PEER_IP, 0, IDG_DROP_TUNNEL_BAD_VNI },
		{ GW1, PEER_IP, IDG_ID_MAKE(CL_B, 1), IDG_DROP_TUNNEL_BAD_VNI },
		/* Its own cluster, but not the source's identity. */
		{ GW1, PEER_IP, ID_OTHER, IDG_DROP_TUNNEL_BAD_VNI },
		/* The right identity for a source another node hosts. */
		{ GW2, PEER_IP, ID_PEER, IDG_DROP_TUNNEL_SPOOFED_SRC },
		/* A source no node hosts (the database, a stranger). */
		{ GW1, DB, ID_PEER, IDG_DROP_TUNNEL_SPOOFED_SRC },
		{ GW1, "10.2.9.9", ID_PEER, IDG_DROP_TUNNEL_SPOOFED_SRC },
	};
	struct pkt in, g, out;
	uint16_t sport = 2000;

	/* WL open to everyone: only the identity check stands between a
	 * forged VNI and WL. */
	gen_node_a(e, 2, IDG_EP_F_ENFORCE_INGRESS, &allow, 1);
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		in = tcp_pkt(forged[i].src, WL, sport++, 8080, PKT_TCP_SYN, 0);
		g = wrap(&in, forged[i].from, NODE_A, forged[i].vni);
		expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, forged[i].reason);
		assert_int_equal(fx_poll_events(e->fx), 1);
		assert_int_equal(e->fx->events[e->fx->n_events - 1].reason,
				 forged[i].reason);
	}
	/* Also for the node itself (no endpoint, nothing enforced). */
	in = udp_pkt(DB, NODE_A, 53, 5353, 20);
	g = wrap(&in, GW1, NODE_A, IDG_ID_WORLD);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_TUNNEL_BAD_VNI);
	assert_int_equal(cnt(e, IDG_PASS_TUNNEL_DECAP), 0);

	/* The genuine article passes. */
	in = tcp_pkt(PEER_IP, WL, sport, 8080, PKT_TCP_SYN, 0);
	g = wrap(&in, GW1, NODE_A, ID_PEER);
	assert_int_equal(run(e->tin_fd, &g, &out), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_TUNNEL_DECAP), 1);
}

/* The source's data expired (a mesh partition): its genuine tunnelled
 * packets drop with the reason that says so, even to a port open to all. */
static void test_decap_expired_source(void **state)
{
	struct efx *e = *state;
	const struct idg_rule_entry allow = RULE(
		.subject = ID_WL, .peer = IDG_ID_UNKNOWN,
		.dir = IDG_DIR_INGRESS, .kind = IDG_RULE_ALLOW, .cookie = 9);
	struct pkt in, g;

	gen_node_a_ext(e, 2, IDG_EP_F_ENFORCE_INGRESS, &allow, 1,
		       IDG_IPC_F_EXPIRED);
	in = tcp_pkt(PEER_IP, WL, 2000, 8080, PKT_TCP_SYN, 0);
	g = wrap(&in, GW1, NODE_A, ID_PEER);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_REMOTE_EXPIRED);
	assert_int_equal(cnt(e, IDG_PASS_TUNNEL_DECAP), 0);
}

/*
 * An entry made from tunnelled packets is the tunnel's: the same flow
 * sent outside it (an attacker on the underlay with the peer's address),
 * or through another node, is judged as new traffic, never let in by
 * the entry.
 */
static void test_decap_ct_bound_to_node(void **state)
{
	struct efx *e = *state;
	const struct idg_rule_entry allow = RULE(
		.subject = ID_WL, .peer = ID_PEER, .dir = IDG_DIR_INGRESS,
		.kind = IDG_RULE_ALLOW, .proto = IPPROTO_TCP, .port = 8080,
		.cookie = 9);
	const uint32_t enf = IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_ENFORCE_EGRESS;
	struct pkt in, g, out;

	gen_node_a(e, 2, enf, &allow, 1);
	in = tcp_pkt(PEER_IP, WL, 1234, 8080, PKT_TCP_SYN, 0);
	g = wrap(&in, GW1, NODE_A, ID_PEER);
	assert_int_equal(run(e->tin_fd, &g, &out), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_POLICY), 1);
	/* The next segment through the tunnel: conntrack. */
	in = tcp_pkt(PEER_IP, WL, 1234, 8080, PKT_TCP_ACK, 10);
	g = wrap(&in, GW1, NODE_A, ID_PEER);
	assert_int_equal(run(e->tin_fd, &g, &out), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_CT), 1);
	/* The same segment outside the tunnel: PEER_IP is ID_OTHER here,
	 * and ID_OTHER may not. */
	assert_int_equal(fx_run_xdp(e->fx, &in), XDP_DROP);
	assert_int_equal(cnt(e, IDG_DROP_POLICY_DEFAULT), 1);
	assert_int_equal(cnt(e, IDG_PASS_CT), 1);
	/* Nor through another node claiming the peer. */
	g = wrap(&in, GW2, NODE_A, ID_PEER);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_TUNNEL_SPOOFED_SRC);
	/* WL's reply leaves by the filter's egress verdict on the uplink:
	 * the entry is the tunnel's, so it is judged (egress enforced, no
	 * rule: dropped). */
	in = tcp_pkt(WL, PEER_IP, 8080, 1234, PKT_TCP_SYN | PKT_TCP_ACK, 0);
	assert_int_equal(fx_run_tc(e->fx, &in), TC_ACT_SHOT);
}

/*
 * Replies come back through the gateway the flow went to and only
 * there: the same reply from the other gateway, or from the database's
 * address outside the tunnel, is no reply (WL is default-deny).
 */
static void test_replies_only_from_the_flows_gateway(void **state)
{
	struct efx *e = *state;
	const uint32_t enf = IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_ENFORCE_EGRESS;
	const struct idg_rule_entry egress = RULE(
		.subject = ID_WL, .peer = IDG_ID_WORLD, .dir = IDG_DIR_EGRESS,
		.kind = IDG_RULE_ALLOW, .proto = IPPROTO_UDP, .port = 53,
		.cookie = 3);
	struct pkt syn = udp_pkt(WL, DB, 5353, 53, 20), in, g, out;
	const char *gw, *other;

	gen_node_a(e, 2, enf, &egress, 1);
	gw = open_flow(e, &syn);
	other = strcmp(gw, GW1) ? GW1 : GW2;
	in = udp_pkt(DB, WL, 53, 5353, 20);
	g = wrap(&in, other, NODE_A, IDG_ID_WORLD);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_TUNNEL_BAD_VNI);
	assert_int_equal(fx_run_xdp(e->fx, &in), XDP_DROP);
	assert_int_equal(cnt(e, IDG_DROP_POLICY_DEFAULT), 1);
	g = wrap(&in, gw, NODE_A, IDG_ID_WORLD);
	assert_int_equal(run(e->tin_fd, &g, &out), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_CT), 1);
}

static void test_decap_unknown_node(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(DB, WL, 5432, 40000, PKT_TCP_ACK, 0);
	struct pkt g = wrap(&in, STRANGER, NODE_A, IDG_ID_WORLD);
	struct idg_event *ev;

	gen_node_a(e, 2, 0, NULL, 0);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_TUNNEL_UNKNOWN_NODE);
	assert_int_equal(fx_poll_events(e->fx), 1);
	ev = &e->fx->events[0];
	assert_int_equal(ev->reason, IDG_DROP_TUNNEL_UNKNOWN_NODE);
	assert_int_equal(ev->dir, IDG_DIR_INGRESS);
	assert_int_equal(ev->proto, IPPROTO_UDP);
	assert_int_equal(ntohs(ev->dport), EGW_GENEVE_PORT);
	assert_memory_equal(ev->saddr, &g.data[14 + 12], 4);
	assert_int_equal(ev->src_id, IDG_ID_WORLD);
	/* Even malformed: strangers are refused before being parsed. */
	g.data[14 + 20 + 8] = 0x40; /* version 1 */
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_TUNNEL_UNKNOWN_NODE);
}

static void test_decap_malformed(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(DB, WL, 5432, 40000, PKT_TCP_ACK, 16);
	struct egw_gnv_spec s = { .src = GW1, .dst = NODE_A,
				  .vni = IDG_ID_WORLD };
	struct pkt g, arp;
	const size_t gnv = 14 + 20 + 8;

	gen_node_a(e, 2, 0, NULL, 0);
	s.version = 1;
	g = wrap_spec(&in, &s);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_BAD_TUNNEL);
	s.version = 0;
	s.proto = 0x0800; /* IP without inner Ethernet: not what we send */
	g = wrap_spec(&in, &s);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_BAD_TUNNEL);
	s.proto = 0;
	s.flags = 0x40; /* critical options */
	s.opt_words = 2;
	g = wrap_spec(&in, &s);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_BAD_TUNNEL);
	s.flags = 0x80; /* OAM */
	s.opt_words = 0;
	g = wrap_spec(&in, &s);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_BAD_TUNNEL);
	s.flags = 0;
	s.bad_ip_csum = 1;
	g = wrap_spec(&in, &s);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_BAD_TUNNEL);
	s.bad_ip_csum = 0;

	/* Truncated inside the GENEVE header. */
	g = wrap_spec(&in, &s);
	g.len = gnv + 4;
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_BAD_TUNNEL);
	/* A UDP length too short for what it claims to carry. */
	g = wrap_spec(&in, &s);
	g.data[14 + 20 + 4] = 0;
	g.data[14 + 20 + 5] = 20;
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_BAD_TUNNEL);
	/* A first fragment: the rest of the inner frame is elsewhere. */
	g = wrap_spec(&in, &s);
	g.data[14 + 6] = 0x20;
	pkt_fix_csums(&g);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_BAD_TUNNEL);
	/* Only IPv4 travels inside. */
	assert_int_equal(pkt_build_arp(&arp, DB, WL, 0, NULL), 0);
	g = wrap_spec(&arp, &s);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_BAD_TUNNEL);
	/* A malformed inner packet drops with the parser's reason. */
	in.len = 14 + 20 + 10;
	in.data[14 + 2] = 0;
	in.data[14 + 3] = 30;
	pkt_fix_csums(&in);
	g = wrap_spec(&in, &s);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_TRUNC_TCP);
	assert_int_equal(cnt(e, IDG_PASS_TUNNEL_DECAP), 0);
}

static void test_non_geneve_untouched(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(DB, WL, 5432, 40000, PKT_TCP_ACK, 0), g;

	gen_node_a(e, 2, 0, NULL, 0);
	g = udp_pkt(GW1, NODE_A, 5000, 53, 30);
	expect_untouched(e, e->tin_fd, &g);
	g = tcp_pkt(GW1, NODE_A, 5000, EGW_GENEVE_PORT, PKT_TCP_SYN, 0);
	expect_untouched(e, e->tin_fd, &g);
	g = udp_pkt(GW1, NODE_A, 5000, 6082, 30); /* the health probes */
	expect_untouched(e, e->tin_fd, &g);
	/* GENEVE for another address is someone else's. */
	g = wrap(&in, GW1, NODE_B, IDG_ID_WORLD);
	expect_untouched(e, e->tin_fd, &g);
}

/* ---- gateway: SNAT ---- */

/* out must be in with the source address (and port) replaced. */
static void expect_snat(const struct pkt *out, const struct pkt *in,
			const char *nat_ip, uint16_t nat_port)
{
	struct pkt want = *in;
	uint32_t ip = egw_ip(nat_ip);

	assert_int_equal(out->len, in->len);
	assert_int_equal(pkt_verify_csums(out), 0);
	memcpy(want.data + want.l3_off + 12, &ip, 4);
	if (nat_port && want.l4_off) {
		size_t off = want.data[want.l3_off + 9] == IPPROTO_ICMP ?
				     want.l4_off + 4 : want.l4_off;

		want.data[off] = (uint8_t)(nat_port >> 8);
		want.data[off + 1] = (uint8_t)nat_port;
	}
	pkt_fix_csums(&want);
	/* The MACs are the redirect's business; the rest is exact, and
	 * the checksums came from incremental updates. */
	assert_memory_equal(out->data + 12, want.data + 12, want.len - 12);
}

static void test_snat_tcp(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	struct pkt g = wrap(&in, NODE_A, GW1, ID_WL), out;
	struct idg_snat_rev_val rv;
	struct idg_snat_val v;

	gen_gw1(e);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	expect_snat(&out, &in, EGRESS_IP, 40000); /* the original port */
	assert_int_equal(snat_lookup(e, NODE_A, WL, DB, 40000, 5432,
				     IPPROTO_TCP, &v),
			 0);
	assert_int_equal(v.nat_ip, egw_ip(EGRESS_IP));
	assert_int_equal(ntohs(v.nat_port), 40000);
	assert_int_equal(v.vni, ID_WL);
	assert_int_equal(v.flags, 0);
	assert_true(v.created_ns > 0 && v.last_seen_ns >= v.created_ns);
	assert_int_equal(snat_rev_lookup(e, DB, EGRESS_IP, 5432, 40000,
					 IPPROTO_TCP, &rv),
			 0);
	assert_int_equal(rv.node_ip, egw_ip(NODE_A));
	assert_int_equal(rv.orig_saddr, egw_ip(WL));
	assert_int_equal(ntohs(rv.orig_sport), 40000);
	assert_int_equal(rv.vni, ID_WL);

	/* The rest of the flow reuses the mapping; payload intact. */
	in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_ACK | PKT_TCP_PSH, 300);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	expect_snat(&out, &in, EGRESS_IP, 40000);
	/* A FIN marks it closing: the short timeout applies. */
	in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_ACK | PKT_TCP_FIN, 0);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	assert_int_equal(snat_lookup(e, NODE_A, WL, DB, 40000, 5432,
				     IPPROTO_TCP, &v),
			 0);
	assert_true(v.flags & IDG_NAT_F_TCP_FIN);
	assert_int_equal(cnt(e, IDG_PASS_SNAT), 3);
}

static void test_snat_udp(void **state)
{
	struct efx *e = *state;
	struct pkt in = udp_pkt(WL, DB, 5353, 53, 40);
	struct pkt g = wrap(&in, NODE_A, GW1, ID_WL), out;

	/* The policy's egressIP wins over the gateway's own. */
	gen_gateway(e, GW1, PORT_MIN, PORT_MAX, IDG_TUN_F_GATEWAY, POLICY_IP);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	expect_snat(&out, &in, POLICY_IP, 5353);
	/* No checksum stays no checksum. */
	in = udp_pkt(WL, DB, 5354, 53, 40);
	in.data[in.l4_off + 6] = in.data[in.l4_off + 7] = 0;
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	assert_int_equal(out.data[out.l4_off + 6], 0);
	assert_int_equal(out.data[out.l4_off + 7], 0);
	assert_int_equal(ip_saddr(&out), egw_ip(POLICY_IP));
	assert_int_equal(pkt_verify_csums(&out), 0);
}

static void test_snat_icmp_echo(void **state)
{
	struct efx *e = *state;
	struct pkt in = icmp_pkt(WL, DB, 8, 777);
	struct pkt g = wrap(&in, NODE_A, GW1, ID_WL), out, r, inner;
	struct idg_snat_rev_val rv;
	struct egw_outer o;
	uint16_t id2;

	gen_gw1(e);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	expect_snat(&out, &in, EGRESS_IP, 777);
	assert_int_equal(snat_rev_lookup(e, DB, EGRESS_IP, 777, 777,
					 IPPROTO_ICMP, &rv),
			 0);
	/* The same identifier from another node (node C's workload has
	 * WL's address): another one. */
	g = wrap(&in, NODE_C, GW1, ID_WL_C);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	id2 = icmp_id(&out);
	assert_true(id2 >= PORT_MIN && id2 <= PORT_MAX);
	expect_snat(&out, &in, EGRESS_IP, id2);

	/* Echo replies find their way back, identifier restored. */
	r = icmp_pkt(DB, EGRESS_IP, 0, id2);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	inner = check_encap(&out, &r, GW1, IDG_ID_WORLD, &o);
	assert_int_equal(o.daddr, egw_ip(NODE_C));
	assert_int_equal(ip_daddr(&inner), egw_ip(WL));
	assert_int_equal(icmp_id(&inner), 777);

	/* Other ICMP would leave untranslated: refused. */
	in = icmp_pkt(WL, DB, 3, 0);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_EGW_NOT_SELECTED);
}

static void test_snat_later_fragment(void **state)
{
	struct efx *e = *state;
	struct pkt in, g, out;

	gen_gw1(e);
	fx_build(&in, &(struct pkt_spec){ .family = AF_INET, .src = WL,
					  .dst = DB, .proto = IPPROTO_UDP,
					  .frag = 1, .frag_offset = 100,
					  .frag_id = 4242, .payload_len = 64 });
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	/* Address only: the bytes after the IP header are payload. */
	expect_snat(&out, &in, EGRESS_IP, 0);
}

static void test_rev_snat_reencap(void **state)
{
	struct efx *e = *state;
	const uint8_t mss1460[4] = { 2, 4, 0x05, 0xb4 };
	struct pkt in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	struct pkt g = wrap(&in, NODE_A, GW1, ID_WL), out, r, inner;
	struct idg_snat_val v;
	struct egw_outer o;

	gen_gw1(e);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);

	/* The SYN-ACK: translated back, its MSS clamped for the tunnel,
	 * sent in GENEVE to the node the flow came from; VNI = world (the
	 * database is not in the gateway's ipcache). */
	assert_int_equal(egw_tcp_opts(&r, DB, EGRESS_IP, 5432, 40000,
				      PKT_TCP_SYN | PKT_TCP_ACK, mss1460,
				      sizeof(mss1460), 0),
			 0);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	inner = check_encap(&out, &r, GW1, IDG_ID_WORLD, &o);
	assert_int_equal(o.daddr, egw_ip(NODE_A));
	assert_int_equal(ip_saddr(&inner), egw_ip(DB));
	assert_int_equal(ip_daddr(&inner), egw_ip(WL));
	assert_int_equal(l4_sport(&inner), 5432);
	assert_int_equal(l4_dport(&inner), 40000);
	assert_int_equal(tcp_mss(&inner), MSS_CLAMPED);
	assert_int_equal(snat_lookup(e, NODE_A, WL, DB, 40000, 5432,
				     IPPROTO_TCP, &v),
			 0);
	assert_true(v.flags & IDG_NAT_F_TCP_EST);
	assert_false(v.flags & IDG_NAT_F_TCP_FIN);

	/* Data, then an RST from the server: closing. */
	r = tcp_pkt(DB, EGRESS_IP, 5432, 40000, PKT_TCP_ACK | PKT_TCP_PSH,
		    500);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	inner = check_encap(&out, &r, GW1, IDG_ID_WORLD, &o);
	assert_memory_equal(inner.data + inner.payload_off,
			    r.data + r.payload_off, 500);
	r = tcp_pkt(DB, EGRESS_IP, 5432, 40000, PKT_TCP_RST, 0);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	assert_int_equal(snat_lookup(e, NODE_A, WL, DB, 40000, 5432,
				     IPPROTO_TCP, &v),
			 0);
	assert_true(v.flags & IDG_NAT_F_TCP_FIN);

	/* The VNI names the replying side as the gateway knows it; a
	 * node-local CIDR identity travels as world. */
	in = udp_pkt(WL, DB2, 7000, 53, 8);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	r = udp_pkt(DB2, EGRESS_IP, 53, 7000, 8);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	check_encap(&out, &r, GW1, ID_DB2, &o);
	in = udp_pkt(WL, DB3, 7000, 53, 8);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	r = udp_pkt(DB3, EGRESS_IP, 53, 7000, 8);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	check_encap(&out, &r, GW1, IDG_ID_WORLD, &o);
}

/*
 * Both ends in turn: source node, gateway, back. Every hop is a new skb
 * (each BPF_PROG_TEST_RUN builds one), as on a real path: the gateway
 * decapsulates one skb and encapsulates another, the reply from the
 * external side, never re-encapsulating a decapsulated one.
 */
static void test_roundtrip(void **state)
{
	struct efx *e = *state;
	const struct idg_rule_entry egress = RULE(
		.subject = ID_WL, .peer = IDG_ID_WORLD, .dir = IDG_DIR_EGRESS,
		.kind = IDG_RULE_ALLOW, .proto = IPPROTO_TCP, .port = 5432,
		.cookie = 3);
	const uint8_t mss1460[4] = { 2, 4, 0x05, 0xb4 };
	const uint32_t enf = IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_ENFORCE_EGRESS;
	struct pkt syn, x, y, z0, z, back, inner, stranger;
	struct egw_outer o;
	uint64_t ct;

	/* Node A: WL may open TCP 5432 to world; nothing may connect to
	 * WL (ingress enforced, no rule). */
	gen_node_a(e, 2, enf, &egress, 1);
	assert_int_equal(egw_tcp_opts(&syn, WL, DB, 40000, 5432, PKT_TCP_SYN,
				      mss1460, sizeof(mss1460), 0),
			 0);
	expect_sent(e, e->wl_fd, &syn, &x, IDG_PASS_EGW_ENCAP);
	inner = check_encap(&x, &syn, NODE_A, ID_WL, &o);

	/* The chosen gateway. */
	gen_gateway(e, o.daddr == egw_ip(GW1) ? GW1 : GW2, PORT_MIN, PORT_MAX,
		    IDG_TUN_F_GATEWAY, NULL);
	expect_sent(e, e->tin_fd, &x, &y, IDG_PASS_SNAT);
	expect_snat(&y, &inner, EGRESS_IP, 40000);
	assert_int_equal(tcp_mss(&y), MSS_CLAMPED);

	/* The database answers the egress IP. */
	assert_int_equal(egw_tcp_opts(&z0, DB, EGRESS_IP, 5432, l4_sport(&y),
				      PKT_TCP_SYN | PKT_TCP_ACK, mss1460,
				      sizeof(mss1460), 0),
			 0);
	expect_sent(e, e->ext_fd, &z0, &z, IDG_PASS_REV_SNAT);
	check_encap(&z, &z0, o.daddr == egw_ip(GW1) ? GW1 : GW2,
		    IDG_ID_WORLD, &o);
	assert_int_equal(o.daddr, egw_ip(NODE_A));

	/* Node A again: the reply is decapsulated and let in by the
	 * conntrack entry its SYN created, although WL is default-deny. */
	gen_node_a(e, 2, enf, &egress, 1);
	ct = cnt(e, IDG_PASS_CT);
	assert_int_equal(run(e->tin_fd, &z, &back), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_CT), ct + 1);
	assert_int_equal(back.len, z0.len);
	assert_int_equal(pkt_verify_csums(&back), 0);
	assert_int_equal(ip_saddr(&back), egw_ip(DB));
	assert_int_equal(ip_daddr(&back), egw_ip(WL));
	assert_int_equal(l4_dport(&back), 40000);
	assert_int_equal(tcp_mss(&back), MSS_CLAMPED);

	/* The same path does not open WL to new connections. */
	stranger = tcp_pkt(DB, WL, 5432, 22, PKT_TCP_SYN, 0);
	z = wrap(&stranger, GW1, NODE_A, IDG_ID_WORLD);
	expect_verdict(e, e->tin_fd, &z, TC_ACT_SHOT, IDG_DROP_TUNNEL_BAD_VNI);
}

static void test_port_collision(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	struct pkt g, out_a, out_b, r, out, inner;
	struct idg_snat_rev_val rv;
	struct egw_outer o;
	uint16_t pb;

	/* The same pod address and port on two nodes (overlapping pod
	 * CIDRs, or plain coincidence): two mappings, never one. */
	gen_gw1(e);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out_a, IDG_PASS_SNAT);
	g = wrap(&in, NODE_C, GW1, ID_WL_C);
	expect_sent(e, e->tin_fd, &g, &out_b, IDG_PASS_SNAT);
	assert_int_equal(l4_sport(&out_a), 40000);
	pb = l4_sport(&out_b);
	assert_true(pb >= PORT_MIN && pb <= PORT_MAX);
	expect_snat(&out_b, &in, EGRESS_IP, pb);
	assert_int_equal(snat_rev_lookup(e, DB, EGRESS_IP, 5432, 40000,
					 IPPROTO_TCP, &rv),
			 0);
	assert_int_equal(rv.node_ip, egw_ip(NODE_A));
	assert_int_equal(snat_rev_lookup(e, DB, EGRESS_IP, 5432, pb,
					 IPPROTO_TCP, &rv),
			 0);
	assert_int_equal(rv.node_ip, egw_ip(NODE_C));
	assert_int_equal(ntohs(rv.orig_sport), 40000);

	/* Each reply goes back to its own node, with the port restored. */
	r = tcp_pkt(DB, EGRESS_IP, 5432, pb, PKT_TCP_SYN | PKT_TCP_ACK, 0);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	inner = check_encap(&out, &r, GW1, IDG_ID_WORLD, &o);
	assert_int_equal(o.daddr, egw_ip(NODE_C));
	assert_int_equal(l4_dport(&inner), 40000);
	r = tcp_pkt(DB, EGRESS_IP, 5432, 40000, PKT_TCP_SYN | PKT_TCP_ACK, 0);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	check_encap(&out, &r, GW1, IDG_ID_WORLD, &o);
	assert_int_equal(o.daddr, egw_ip(NODE_A));

	/* Another destination port is another reverse key: the original
	 * port is free there. */
	in = tcp_pkt(WL, DB, 40000, 5433, PKT_TCP_SYN, 0);
	g = wrap(&in, NODE_C, GW1, ID_WL_C);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	assert_int_equal(l4_sport(&out), 40000);
}

/* Pretend flow {node, WL:sport -> DB:dport/proto} was last seen ago_s
 * seconds ago. */
static void age_flow(struct efx *e, const char *node, uint8_t proto,
		     uint16_t sport, uint16_t dport, unsigned int ago_s)
{
	struct idg_snat_key k = {
		.node_ip = egw_ip(node), .saddr = egw_ip(WL),
		.daddr = egw_ip(DB), .sport = htons(sport),
		.dport = htons(dport), .proto = proto,
	};
	struct idg_snat_val v;

	assert_int_equal(bpf_map_lookup_elem(e->fx->dp.snat_fd, &k, &v), 0);
	v.last_seen_ns = now_coarse() - ago_s * SEC_NS;
	assert_int_equal(bpf_map_update_elem(e->fx->dp.snat_fd, &k, &v,
					     BPF_EXIST),
			 0);
}

/* ... of a TCP flow to DB:5432. */
static void age_mapping(struct efx *e, const char *node, uint16_t sport,
			unsigned int ago_s)
{
	age_flow(e, node, IPPROTO_TCP, sport, 5432, ago_s);
}

/* The identity of the workload at WL on node (A's or C's). */
static uint32_t wl_vni(const char *node)
{
	return strcmp(node, NODE_C) ? ID_WL : ID_WL_C;
}

static uint16_t flow_port(struct efx *e, const char *node, uint16_t sport)
{
	struct pkt in = tcp_pkt(WL, DB, sport, 5432, PKT_TCP_SYN, 0);
	struct pkt g = wrap(&in, node, GW1, wl_vni(node)), out;

	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	return l4_sport(&out);
}

static void expect_exhausted(struct efx *e, const char *node, uint16_t sport)
{
	struct pkt in = tcp_pkt(WL, DB, sport, 5432, PKT_TCP_SYN, 0);
	struct pkt g = wrap(&in, node, GW1, wl_vni(node));
	struct idg_snat_val v;

	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_NAT_EXHAUSTED);
	assert_int_equal(snat_lookup(e, node, WL, DB, sport, 5432,
				     IPPROTO_TCP, &v),
			 -ENOENT);
}

static void expect_owner(struct efx *e, uint16_t port, const char *node)
{
	struct idg_snat_rev_val rv;

	assert_int_equal(snat_rev_lookup(e, DB, EGRESS_IP, 5432, port,
					 IPPROTO_TCP, &rv),
			 0);
	assert_int_equal(rv.node_ip, egw_ip(node));
}

static void test_nat_exhaustion(void **state)
{
	struct efx *e = *state;
	struct pkt r, out;

	/* Two ports to hand out; timeouts 3600 s established, 60 s else.
	 * A free original port is kept, inside the range or not. */
	gen_gateway(e, GW1, 61000, 61001, IDG_TUN_F_GATEWAY, NULL);
	assert_int_equal(flow_port(e, NODE_C, 5555), 5555);
	assert_int_equal(flow_port(e, NODE_A, 61000), 61000);
	assert_int_equal(flow_port(e, NODE_A, 61001), 61001);
	/* The second one is established. */
	r = tcp_pkt(DB, EGRESS_IP, 5432, 61001, PKT_TCP_SYN | PKT_TCP_ACK, 0);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);

	/* Node C's flows find both ports live: dropped, nothing taken. */
	expect_exhausted(e, NODE_C, 61000);
	assert_int_equal(fx_poll_events(e->fx), 1);
	assert_int_equal(e->fx->events[0].reason, IDG_DROP_NAT_EXHAUSTED);
	assert_int_equal(e->fx->events[0].src_id, ID_WL_C);
	expect_exhausted(e, NODE_C, 61001);
	expect_owner(e, 61000, NODE_A);
	expect_owner(e, 61001, NODE_A);

	/* Two minutes idle: the handshake-only mapping has expired, the
	 * established one has not. Node C takes over the first only. */
	age_mapping(e, NODE_A, 61000, 120);
	age_mapping(e, NODE_A, 61001, 120);
	assert_int_equal(flow_port(e, NODE_C, 61000), 61000);
	expect_owner(e, 61000, NODE_C);
	expect_exhausted(e, NODE_C, 61001);
	expect_owner(e, 61001, NODE_A);
	/* The flow that lost its mapping finds none free again. */
	expect_exhausted(e, NODE_A, 61000);

	/* A FIN turns the established one short-lived. */
	r = tcp_pkt(DB, EGRESS_IP, 5432, 61001, PKT_TCP_FIN | PKT_TCP_ACK, 0);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	age_mapping(e, NODE_A, 61001, 120);
	assert_int_equal(flow_port(e, NODE_C, 61001), 61001);
	expect_owner(e, 61001, NODE_C);
}

/* Userspace GC removes idle mappings by the datapath's rule, never a
 * live one, and a reverse entry without forward only on its second
 * sighting. */
static void test_nat_gc(void **state)
{
	struct efx *e = *state;
	struct idg_tun_cfg tun = {
		.nat_tcp_timeout_ns = 3600 * SEC_NS,
		.nat_other_timeout_ns = 60 * SEC_NS,
		.nat_new_timeout_ns = NAT_NEW_S * SEC_NS,
		.nat_close_timeout_ns = 10 * SEC_NS,
	};
	const struct idg_nat_maps m = { .fwd = e->fx->dp.snat_fd,
					.rev = e->fx->dp.snat_rev_fd,
					.src = e->fx->dp.snat_src_fd,
					.src_gc = e->fx->dp.snat_srcgc_fd };
	struct idg_nat_gc gc = { 0 };
	struct idg_nat_gc_result res;
	struct idg_snat_rev_key stray = {
		.saddr = egw_ip(DB), .daddr = egw_ip(EGRESS_IP),
		.sport = htons(5432), .dport = htons(61999),
		.proto = IPPROTO_TCP,
	};
	struct idg_snat_rev_val sv = { .node_ip = egw_ip(NODE_A),
				       .orig_saddr = egw_ip(WL),
				       .orig_sport = htons(1) };
	struct idg_snat_val v;
	struct idg_snat_rev_val rv;
	struct pkt r, out;

	gen_gateway(e, GW1, 61000, 61001, IDG_TUN_F_GATEWAY, NULL);
	assert_int_equal(flow_port(e, NODE_A, 61000), 61000);
	assert_int_equal(flow_port(e, NODE_A, 61001), 61001);
	r = tcp_pkt(DB, EGRESS_IP, 5432, 61001, PKT_TCP_SYN | PKT_TCP_ACK, 0);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);

	/* Fresh: nothing to collect. */
	assert_int_equal(idg_nat_gc_pass(&m, &tun, now_coarse(), &gc, &res), 0);
	assert_int_equal(res.expired, 0);
	assert_int_equal(res.live, 2);

	/* Two minutes idle: the handshake-only mapping goes, with its
	 * reverse entry; the established one stays. */
	age_mapping(e, NODE_A, 61000, 120);
	age_mapping(e, NODE_A, 61001, 120);
	assert_int_equal(bpf_map_update_elem(e->fx->dp.snat_rev_fd, &stray, &sv,
					     BPF_NOEXIST),
			 0);
	assert_int_equal(idg_nat_gc_pass(&m, &tun, now_coarse(), &gc, &res), 0);
	assert_int_equal(res.expired, 1);
	assert_int_equal(res.live, 1);
	assert_int_equal(res.orphans, 0); /* first sighting: maybe a claim */
	assert_int_equal(snat_lookup(e, NODE_A, WL, DB, 61000, 5432,
				     IPPROTO_TCP, &v), -ENOENT);
	assert_int_equal(snat_rev_lookup(e, DB, EGRESS_IP, 5432, 61000,
					 IPPROTO_TCP, &rv), -ENOENT);
	assert_int_equal(snat_lookup(e, NODE_A, WL, DB, 61001, 5432,
				     IPPROTO_TCP, &v), 0);
	assert_int_equal(snat_rev_lookup(e, DB, EGRESS_IP, 5432, 61001,
					 IPPROTO_TCP, &rv), 0);

	/* Second sighting of the stray reverse entry: removed. */
	assert_int_equal(idg_nat_gc_pass(&m, &tun, now_coarse(), &gc, &res), 0);
	assert_int_equal(res.orphans, 1);
	assert_int_equal(bpf_map_lookup_elem(e->fx->dp.snat_rev_fd, &stray, &rv),
			 -ENOENT);
	/* The collected port is free for a new flow. */
	assert_int_equal(flow_port(e, NODE_C, 61000), 61000);
	idg_nat_gc_free(&gc);
}

/* The accounting of source {node, WL}: live mappings, quota drops. */
static void src_counts(struct efx *e, const char *node, uint64_t *live,
		       uint64_t *drops)
{
	struct idg_snat_src_key k = { .node_ip = egw_ip(node),
				      .saddr = egw_ip(WL) };
	struct idg_snat_src v = { 0 };
	uint64_t gc = 0;

	bpf_map_lookup_elem(e->fx->dp.snat_src_fd, &k, &v);
	bpf_map_lookup_elem(e->fx->dp.snat_srcgc_fd, &k, &gc);
	*live = v.allocs - v.frees - gc;
	*drops = v.quota_drops;
}

static void expect_quota(struct efx *e, const char *node, uint16_t sport)
{
	struct pkt in = tcp_pkt(WL, DB, sport, 5432, PKT_TCP_SYN, 0);
	struct pkt g = wrap(&in, node, GW1, wl_vni(node));

	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_NAT_SOURCE_QUOTA);
}

/*
 * One source cannot take the table from the others: past its quota its
 * new flows are dropped with a reason and counted for it, while other
 * sources go on; a mapping it loses (collected once idle, or taken over
 * by another flow once expired) frees a slot.
 */
static void test_nat_source_quota(void **state)
{
	struct efx *e = *state;
	const struct idg_tun_cfg tun = { NAT_TIMEOUTS };
	const struct idg_nat_maps m = nat_maps(e);
	struct idg_nat_gc gc = { 0 };
	struct idg_nat_gc_result res;
	uint64_t live, drops;

	e->quota = 3;
	gen_gateway(e, GW1, PORT_MIN, PORT_MAX, IDG_TUN_F_GATEWAY, NULL);
	for (uint16_t sp = 1000; sp < 1003; sp++)
		assert_int_equal(flow_port(e, NODE_A, sp), sp);
	src_counts(e, NODE_A, &live, &drops);
	assert_int_equal(live, 3);
	/* Its existing flows keep their mappings; a new one is refused. */
	assert_int_equal(flow_port(e, NODE_A, 1001), 1001);
	expect_quota(e, NODE_A, 1003);
	assert_int_equal(fx_poll_events(e->fx), 1);
	assert_int_equal(e->fx->events[0].reason, IDG_DROP_NAT_SOURCE_QUOTA);
	assert_int_equal(e->fx->events[0].src_id, ID_WL);
	src_counts(e, NODE_A, &live, &drops);
	assert_int_equal(live, 3);
	assert_int_equal(drops, 1);
	/* Another source (node C's workload at the same address) is not
	 * held back. */
	assert_true(flow_port(e, NODE_C, 1000) >= PORT_MIN);
	src_counts(e, NODE_C, &live, &drops);
	assert_int_equal(live, 1);
	assert_int_equal(drops, 0);

	/* A handshake idles past its timeout and is collected: the source
	 * may map again, up to the quota. */
	age_mapping(e, NODE_A, 1000, NAT_NEW_S + 1);
	assert_int_equal(idg_nat_gc_pass(&m, &tun, now_coarse(), &gc, &res), 0);
	assert_int_equal(res.expired, 1);
	src_counts(e, NODE_A, &live, &drops);
	assert_int_equal(live, 2);
	assert_int_equal(flow_port(e, NODE_A, 1003), 1003);
	expect_quota(e, NODE_A, 1004);

	/* An expired mapping taken over by another source's flow. */
	age_mapping(e, NODE_A, 1001, NAT_NEW_S + 1);
	assert_int_equal(flow_port(e, NODE_C, 1001), 1001);
	src_counts(e, NODE_A, &live, &drops);
	assert_int_equal(live, 2);
	assert_int_equal(drops, 2);
	assert_int_equal(flow_port(e, NODE_A, 1005), 1005);
	idg_nat_gc_free(&gc);
}

/*
 * A TCP handshake and an unanswered datagram hold their mapping 20 s
 * idle; an answer makes it 60 s (UDP, ICMP) or the established time
 * (TCP).
 */
static void test_nat_fast_expiry(void **state)
{
	struct efx *e = *state;
	const struct idg_tun_cfg tun = { NAT_TIMEOUTS };
	const struct idg_nat_maps m = nat_maps(e);
	struct idg_nat_gc gc = { 0 };
	struct idg_nat_gc_result res;
	struct idg_snat_val v;
	struct pkt in, g, r, out;

	gen_gw1(e);
	in = udp_pkt(WL, DB, 7000, 53, 8);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	in = udp_pkt(WL, DB, 7001, 53, 8);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	r = udp_pkt(DB, EGRESS_IP, 53, 7001, 8);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	assert_int_equal(snat_lookup(e, NODE_A, WL, DB, 7001, 53, IPPROTO_UDP,
				     &v),
			 0);
	assert_true(v.flags & IDG_NAT_F_REPLIED);

	age_flow(e, NODE_A, IPPROTO_UDP, 7000, 53, NAT_NEW_S + 1);
	age_flow(e, NODE_A, IPPROTO_UDP, 7001, 53, NAT_NEW_S + 1);
	assert_int_equal(idg_nat_gc_pass(&m, &tun, now_coarse(), &gc, &res), 0);
	assert_int_equal(res.expired, 1);
	assert_int_equal(snat_lookup(e, NODE_A, WL, DB, 7000, 53, IPPROTO_UDP,
				     &v),
			 -ENOENT);
	assert_int_equal(snat_lookup(e, NODE_A, WL, DB, 7001, 53, IPPROTO_UDP,
				     &v),
			 0);
	age_flow(e, NODE_A, IPPROTO_UDP, 7001, 53, 61);
	assert_int_equal(idg_nat_gc_pass(&m, &tun, now_coarse(), &gc, &res), 0);
	assert_int_equal(res.expired, 1);
	idg_nat_gc_free(&gc);
}

/* The gateway's data on a selected source expired (a mesh partition):
 * its flows are not translated, with the reason that says so. */
static void test_gateway_expired_source(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0), g;

	e->wl_ipc_flags = IDG_IPC_F_EXPIRED;
	gen_gw1(e);
	e->wl_ipc_flags = 0;
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT, IDG_DROP_REMOTE_EXPIRED);
	assert_int_equal(cnt(e, IDG_PASS_SNAT), 0);
	/* Current data again: translated. */
	gen_gw1(e);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_REDIRECT, IDG_PASS_SNAT);
}

static void test_not_entitled(void **state)
{
	struct efx *e = *state;
	struct pkt in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0), g;
	__u8 key[sizeof(struct idg_snat_key)];

	gen_gw1(e);
	/* Not the policy's destination; excluded; not a selected source;
	 * the right source from a node of another cluster. */
	in = tcp_pkt(WL, OUTSIDE, 40000, 443, PKT_TCP_SYN, 0);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_EGW_NOT_SELECTED);
	in = tcp_pkt(WL, EXCL, 40000, 5432, PKT_TCP_SYN, 0);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_EGW_NOT_SELECTED);
	in = tcp_pkt(WL2, DB, 40000, 5432, PKT_TCP_SYN, 0);
	g = wrap(&in, NODE_A, GW1, ID_WL2);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_EGW_NOT_SELECTED);
	in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	g = wrap(&in, GW2, GW1, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_TUNNEL_BAD_VNI);
	/* A selected workload's VNI sent by another node of its cluster,
	 * or for an unselected workload's address by its own node. */
	in = tcp_pkt(WL, DB, 40003, 5432, PKT_TCP_SYN, 0);
	g = wrap(&in, NODE_B, GW1, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_TUNNEL_SPOOFED_SRC);
	in = tcp_pkt(WL2, DB, 40001, 5432, PKT_TCP_SYN, 0);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_TUNNEL_BAD_VNI);
	/* Node C's workload is selected, but as cluster C's identity: its
	 * own address said to be node A's identity is refused. */
	in = tcp_pkt(WL, DB, 40002, 5432, PKT_TCP_SYN, 0);
	g = wrap(&in, NODE_C, GW1, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_TUNNEL_BAD_VNI);
	in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	assert_int_equal(fx_poll_events(e->fx), 7);
	assert_int_equal(e->fx->events[0].dir, IDG_DIR_EGRESS);
	assert_int_equal(e->fx->events[0].src_id, ID_WL);

	/* A gateway outside the policy's set, and a node that is no
	 * gateway at all. */
	gen_gateway(e, GW3, PORT_MIN, PORT_MAX, IDG_TUN_F_GATEWAY, NULL);
	g = wrap(&in, NODE_A, GW3, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_EGW_NOT_SELECTED);
	gen_gateway(e, GW1, PORT_MIN, PORT_MAX, 0, NULL);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_EGW_NOT_SELECTED);
	/* Nothing was mapped. */
	assert_int_equal(bpf_map_get_next_key(e->fx->dp.snat_fd, NULL, key),
			 -ENOENT);
	assert_int_equal(bpf_map_get_next_key(e->fx->dp.snat_rev_fd, NULL,
					      key),
			 -ENOENT);
}

static void test_ext_in_not_ours(void **state)
{
	struct efx *e = *state;
	struct pkt in = icmp_pkt(WL, DB, 8, 4321), g, out, r;

	gen_gw1(e);
	g = wrap(&in, NODE_A, GW1, ID_WL);
	expect_sent(e, e->tin_fd, &g, &out, IDG_PASS_SNAT);
	/* No mapping: the gateway's own traffic, or anything else. */
	r = tcp_pkt(DB, EGRESS_IP, 5432, 40000, PKT_TCP_ACK, 0);
	expect_untouched(e, e->ext_fd, &r);
	r = udp_pkt(DB, EGRESS_IP, 53, 4321, 8);
	expect_untouched(e, e->ext_fd, &r);
	/* An echo request with a mapped identifier is no reply. */
	r = icmp_pkt(DB, EGRESS_IP, 8, 4321);
	expect_untouched(e, e->ext_fd, &r);
	/* The reply is ours... */
	r = icmp_pkt(DB, EGRESS_IP, 0, 4321);
	expect_sent(e, e->ext_fd, &r, &out, IDG_PASS_REV_SNAT);
	/* ...but not on a node that is no gateway. */
	gen_gateway(e, GW1, PORT_MIN, PORT_MAX, 0, NULL);
	expect_untouched(e, e->ext_fd, &r);
}

/* ---- workload interfaces ---- */

/*
 * A workload sends only from the addresses of the endpoints bound to its
 * interface: any other source (no endpoint, or an endpoint bound
 * elsewhere, such as a selected workload whose gateway and VNI it would
 * borrow) is dropped with a reason before anything else.
 */
static void test_wl_source_bound(void **state)
{
	struct efx *e = *state;
	struct pkt in, out, arp;
	struct idg_event *ev;

	e->fx->cluster_id = CL_A;
	fx_gen_new(e->fx);
	e->fx->gen.tun = (struct idg_tun_cfg){ .tunnel_ip = egw_ip(NODE_A),
					       .uplink_ifindex = 1,
					       .uplink_mtu = MTU,
					       .cluster_id = CL_A };
	/* WL, the selected workload, sits behind another interface; WL2
	 * behind the one the test frames come in on. */
	fx_endpoint_if(e->fx, WL, ID_WL, 0, 99);
	fx_endpoint_if(e->fx, WL2, ID_WL2, 0, WL_IFINDEX);
	fx_endpoint_if(e->fx, WL_V6, ID_WL2, 0, WL_IFINDEX);
	egw_tables(e->fx, 2, NULL);
	fx_commit(e->fx);

	in = tcp_pkt(WL2, OUTSIDE, 40000, 443, PKT_TCP_SYN, 0);
	assert_int_equal(run(e->wl_fd, &in, &out), TC_ACT_OK);
	fx_build(&in, &(struct pkt_spec){ .family = AF_INET6, .src = WL_V6,
					  .dst = "fd00:9::1",
					  .proto = IPPROTO_UDP, .sport = 1,
					  .dport = 2 });
	assert_int_equal(run(e->wl_fd, &in, &out), TC_ACT_OK);

	in = tcp_pkt(WL, DB, 40000, 5432, PKT_TCP_SYN, 0);
	expect_verdict(e, e->wl_fd, &in, TC_ACT_SHOT,
		       IDG_DROP_SPOOFED_SOURCE);
	assert_int_equal(cnt(e, IDG_PASS_EGW_ENCAP), 0);
	assert_int_equal(fx_poll_events(e->fx), 1);
	ev = &e->fx->events[0];
	assert_int_equal(ev->reason, IDG_DROP_SPOOFED_SOURCE);
	assert_int_equal(ev->dir, IDG_DIR_EGRESS);
	in = udp_pkt("10.1.0.200", OUTSIDE, 5000, 53, 8);
	expect_verdict(e, e->wl_fd, &in, TC_ACT_SHOT,
		       IDG_DROP_SPOOFED_SOURCE);
	fx_build(&in, &(struct pkt_spec){ .family = AF_INET6,
					  .src = "fd00:1::99",
					  .dst = "fd00:9::1",
					  .proto = IPPROTO_UDP, .sport = 1,
					  .dport = 2 });
	expect_verdict(e, e->wl_fd, &in, TC_ACT_SHOT,
		       IDG_DROP_SPOOFED_SOURCE);
	/* ARP and ND are not judged. */
	assert_int_equal(pkt_build_arp(&arp, "10.1.0.200", WL2, 0, NULL), 0);
	assert_int_equal(run(e->wl_fd, &arp, &out), TC_ACT_OK);
}

/*
 * What reaches a workload without crossing the uplink's filter (another
 * workload of the node, the node itself) gets the workload's ingress
 * verdict at the workload interface's egress; what crossed the uplink was
 * judged there and passes untouched.
 */
static void test_wl_ingress_verdict(void **state)
{
	struct efx *e = *state;
	const struct idg_rule_entry rules[] = {
		RULE(.subject = ID_WL, .peer = ID_WL2, .dir = IDG_DIR_INGRESS,
		     .kind = IDG_RULE_ALLOW, .proto = IPPROTO_TCP, .port = 80,
		     .cookie = 1),
		RULE(.subject = ID_WL, .peer = IDG_ID_HOST,
		     .dir = IDG_DIR_INGRESS, .kind = IDG_RULE_ALLOW,
		     .proto = IPPROTO_TCP, .port = 22, .cookie = 2),
	};
	const uint32_t enf = IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_ENFORCE_EGRESS;
	const uint32_t other_wl = 7; /* another workload interface */
	uint64_t before;
	struct pkt in;

	gen_node_a(e, 2, enf, rules, 2);
	in = tcp_pkt(WL2, WL, 40000, 80, PKT_TCP_SYN, 0);
	assert_int_equal(run_skb(e->wl_egress_fd, &in, 0, other_wl, NULL),
			 TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_POLICY), 1);
	assert_int_equal(fx_rule_pkts(e->fx, 1), 1);
	in = tcp_pkt(WL2, WL, 40001, 81, PKT_TCP_SYN, 0);
	assert_int_equal(run_skb(e->wl_egress_fd, &in, 0, other_wl, NULL),
			 TC_ACT_SHOT);
	assert_int_equal(cnt(e, IDG_DROP_POLICY_DEFAULT), 1);
	/* WL's reply leaves through its interface's ingress: its egress is
	 * enforced, the flow's entry lets it out. */
	in = tcp_pkt(WL, WL2, 80, 40000, PKT_TCP_SYN | PKT_TCP_ACK, 0);
	assert_int_equal(run(e->wl_fd, &in, NULL), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_CT), 1);

	/* Sent by the node itself: the host identity. */
	in = tcp_pkt(NODE_A, WL, 40002, 22, PKT_TCP_SYN, 0);
	assert_int_equal(run_skb(e->wl_egress_fd, &in, 0, 0, NULL),
			 TC_ACT_OK);
	assert_int_equal(fx_rule_pkts(e->fx, 2), 1);
	in = tcp_pkt(NODE_A, WL, 40003, 80, PKT_TCP_SYN, 0);
	assert_int_equal(run_skb(e->wl_egress_fd, &in, 0, 0, NULL),
			 TC_ACT_SHOT);

	/* Through the uplink (tunnel or filter): judged there already. */
	before = cnt(e, IDG_DROP_POLICY_DEFAULT);
	in = tcp_pkt(DB, WL, 5432, 81, PKT_TCP_SYN, 0);
	assert_int_equal(run_skb(e->wl_egress_fd, &in, 0, 1, NULL), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_DROP_POLICY_DEFAULT), before);
}

/*
 * A workload bound to a workload interface sends from there: the same
 * source coming in on the uplink (the underlay spoofing it, to borrow its
 * identity or to ride a flow between two workloads of the node), or in
 * GENEVE that claims to come from this very node, is dropped.
 */
static void test_uplink_spoof_of_workload(void **state)
{
	struct efx *e = *state;
	const struct idg_rule_entry allow = RULE(
		.subject = ID_WL, .peer = ID_WL2, .dir = IDG_DIR_INGRESS,
		.kind = IDG_RULE_ALLOW, .proto = IPPROTO_TCP, .port = 80,
		.cookie = 1);
	const uint32_t enf = IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_ENFORCE_EGRESS;
	struct pkt in, g, out;

	gen_node_a(e, 2, enf, &allow, 1);
	in = tcp_pkt(WL2, WL, 40000, 80, PKT_TCP_SYN, 0);
	assert_int_equal(fx_run_xdp(e->fx, &in), XDP_DROP);
	assert_int_equal(cnt(e, IDG_DROP_SPOOFED_SOURCE), 1);
	assert_int_equal(cnt(e, IDG_PASS_POLICY), 0);

	/* The real flow, from the workload next door... */
	assert_int_equal(run_skb(e->wl_egress_fd, &in, 0, 7, NULL), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_POLICY), 1);
	/* ... whose next segment, sent in over the uplink, is no part of
	 * it. */
	in = tcp_pkt(WL2, WL, 40000, 80, PKT_TCP_ACK, 10);
	assert_int_equal(fx_run_xdp(e->fx, &in), XDP_DROP);
	assert_int_equal(cnt(e, IDG_DROP_SPOOFED_SOURCE), 2);
	assert_int_equal(run_skb(e->wl_egress_fd, &in, 0, 7, NULL), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_PASS_CT), 1);

	/* GENEVE from this node's own address, with WL's identity. */
	in = tcp_pkt(WL, PEER_IP, 40001, 80, PKT_TCP_SYN, 0);
	g = wrap(&in, NODE_A, NODE_A, ID_WL);
	expect_verdict(e, e->tin_fd, &g, TC_ACT_SHOT,
		       IDG_DROP_TUNNEL_UNKNOWN_NODE);
	(void)out;
}

/* Link-scope sources (IPv6 link-local and unspecified, IPv4 0.0.0.0) are
 * no endpoint's and never leave the link: not taken for spoofs. */
static void test_wl_link_scope_sources(void **state)
{
	struct efx *e = *state;
	struct pkt in, out;

	gen_node_a(e, 2, 0, NULL, 0);
	fx_build(&in, &(struct pkt_spec){ .family = AF_INET6, .src = "fe80::5",
					  .dst = "ff02::16",
					  .proto = IPPROTO_ICMPV6,
					  .icmp_type = 143 });
	assert_int_equal(run(e->wl_fd, &in, &out), TC_ACT_OK);
	fx_build(&in, &(struct pkt_spec){ .family = AF_INET6, .src = "::",
					  .dst = "ff02::16",
					  .proto = IPPROTO_ICMPV6,
					  .icmp_type = 143 });
	assert_int_equal(run(e->wl_fd, &in, &out), TC_ACT_OK);
	in = udp_pkt("0.0.0.0", "255.255.255.255", 68, 67, 40);
	assert_int_equal(run(e->wl_fd, &in, &out), TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_DROP_SPOOFED_SOURCE), 0);
	/* A routable IPv6 address that is no endpoint's still is one. */
	fx_build(&in, &(struct pkt_spec){ .family = AF_INET6,
					  .src = "fe00::5", .dst = "ff02::16",
					  .proto = IPPROTO_ICMPV6,
					  .icmp_type = 143 });
	expect_verdict(e, e->wl_fd, &in, TC_ACT_SHOT,
		       IDG_DROP_SPOOFED_SOURCE);
}

/*
 * GENEVE to a node of the mesh leaves the uplink only as idgate made it
 * (marked at the encap, the mark cleared here): a workload or a local
 * process crafting its own, with a VNI the other node would take for
 * this node's word, is dropped with a reason.
 */
static void test_forged_geneve_dropped(void **state)
{
	struct efx *e = *state;
	struct pkt in = udp_pkt(NODE_A, GW1, 50000, EGW_GENEVE_PORT, 40);
	uint32_t mark = 1;
	uint64_t before;

	gen_node_a(e, 2, 0, NULL, 0);
	assert_int_equal(run_skb(e->fx->dp.tc_prog_fd, &in, 0, 0, NULL),
			 TC_ACT_SHOT);
	assert_int_equal(cnt(e, IDG_DROP_TUNNEL_FORGED), 1);
	/* Another mark is not ours either. */
	assert_int_equal(run_skb(e->fx->dp.tc_prog_fd, &in, 0x1234, 0, NULL),
			 TC_ACT_SHOT);
	/* idgate's own: passes, unjudged and uncounted, mark cleared. */
	before = cnt(e, IDG_PASS_NOT_ENDPOINT);
	assert_int_equal(run_skb(e->fx->dp.tc_prog_fd, &in,
				 IDG_SKB_MARK_TUNNEL, 0, &mark),
			 TC_ACT_OK);
	assert_int_equal(mark, 0);
	assert_int_equal(cnt(e, IDG_PASS_NOT_ENDPOINT), before);
	assert_int_equal(cnt(e, IDG_DROP_TUNNEL_FORGED), 2);
	/* GENEVE to an address outside the mesh, other ports: not ours. */
	in = udp_pkt(NODE_A, OUTSIDE, 50000, EGW_GENEVE_PORT, 40);
	assert_int_equal(run_skb(e->fx->dp.tc_prog_fd, &in, 0, 0, NULL),
			 TC_ACT_OK);
	in = udp_pkt(NODE_A, GW1, 50000, 6082, 40);
	assert_int_equal(run_skb(e->fx->dp.tc_prog_fd, &in, 0, 0, NULL),
			 TC_ACT_OK);
	assert_int_equal(cnt(e, IDG_DROP_TUNNEL_FORGED), 2);
}

/* What the source node's encap leaves on the frame for the uplink. */
static void test_encap_marks_frame(void **state)
{
	struct efx *e = *state;
	struct pkt in = udp_pkt(WL, DB, 5353, 53, 20);
	uint32_t mark = 0;

	gen_node_a(e, 2, 0, NULL, 0);
	if (run_skb(e->wl_fd, &in, 0, 0, &mark) != TC_ACT_REDIRECT)
		skip(); /* no route here: see expect_sent() */
	assert_int_equal(mark, IDG_SKB_MARK_TUNNEL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, efx_setup, efx_teardown)
		T(test_unconfigured_transparent),
		T(test_encap_bytes),
		T(test_fib_outcomes),
		T(test_excluded_cidr_untouched),
		T(test_not_selected_untouched),
		T(test_egress_policy_first),
		T(test_no_healthy_gateway),
		T(test_gateway_sticky_and_spread),
		T(test_too_big),
		T(test_mss_clamp),
		T(test_decap_known_node),
		T(test_decap_policy_by_vni),
		T(test_decap_vni_verified),
		T(test_decap_expired_source),
		T(test_gateway_expired_source),
		T(test_decap_ct_bound_to_node),
		T(test_replies_only_from_the_flows_gateway),
		T(test_decap_unknown_node),
		T(test_decap_malformed),
		T(test_non_geneve_untouched),
		T(test_snat_tcp),
		T(test_snat_udp),
		T(test_snat_icmp_echo),
		T(test_snat_later_fragment),
		T(test_rev_snat_reencap),
		T(test_roundtrip),
		T(test_port_collision),
		T(test_nat_exhaustion),
		T(test_nat_gc),
		T(test_nat_source_quota),
		T(test_nat_fast_expiry),
		T(test_not_entitled),
		T(test_ext_in_not_ours),
		T(test_wl_source_bound),
		T(test_uplink_spoof_of_workload),
		T(test_wl_link_scope_sources),
		T(test_wl_ingress_verdict),
		T(test_forged_geneve_dropped),
		T(test_encap_marks_frame),
#undef T
	};

	if (fib_netns())
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("egress-gateway", tests, NULL,
					   NULL);
}
