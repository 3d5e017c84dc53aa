// SPDX-License-Identifier: GPL-2.0
/*
 * Differential test of the policy datapath: random configs, parsed and
 * compiled by the real loader and written into a generation by the real
 * apply path (idg_gen_fill), judge random packets in the real XDP and tc
 * objects through BPF_PROG_TEST_RUN; the reference evaluator (refeval.c)
 * judges the same packets from the compiled model. Reason and rule must
 * agree on every packet.
 *
 *   test_diff [--seed N] [--packets N] [--configs N] [--only-config I]
 *             [--attribution idgate|cilium] [--ingress-tc | --tc-copy]
 *             [--max-mismatches N] [--dump]
 *
 * Each config and its packets come from their own stream of the seed, so
 * a mismatch in config I reproduces with --seed N --only-config I (and the
 * same --packets/--configs). docs/performance.md has the long run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include "apply.h"
#include "compile.h"
#include "diffgen.h"
#include "harness.h"
#include "refeval.h"

static struct {
	uint64_t seed;
	uint64_t packets;
	uint64_t configs;
	int64_t only; /* -1: every config */
	enum ref_attribution attribution;
	uint64_t max_mismatches;
	bool dump;
} opt = {
	.seed = 1,
	.packets = 100000,
	.configs = 100,
	.only = -1,
	.attribution = REF_ATTR_IDGATE,
	.max_mismatches = 1,
};

/* What the datapath said about one frame, from its return code, its
 * events and (later fragments) its rule counter. */
struct dp_answer {
	int ret;
	uint32_t reason;
	uint32_t cookie;
	bool cookie_known;
	int n_drop, n_verdict, n_trace;
	bool refused; /* tc ingress: the kernel would not run the frame */
};

struct stats {
	uint64_t frames;
	uint64_t configs;
	uint64_t mismatches;
	uint64_t reasons[IDG_REASON_MAX];
	uint64_t with_cookie;
	uint64_t contested; /* more than one rule could have had the credit */
	uint64_t refused;
};

struct cfg_run {
	struct fx *fx;
	uint64_t index;
	struct dg_config g;
	struct idg_config cfg;
	struct idg_compiled c;
	struct idg_diags d;
	struct ref_model m;
	struct stats *st;
};

/* ---- the datapath side ---- */

/* Entries of a map, deleted; how many there were. Costs a walk of every
 * bucket: once per config, not per packet. */
static unsigned int map_clear(int fd)
{
	uint8_t key[256];
	unsigned int n = 0;

	while (!bpf_map_get_next_key(fd, NULL, key) &&
	       !bpf_map_delete_elem(fd, key))
		n++;
	return n;
}

/* Every flow and fragment forgotten: 0, or how many packets had left. */
static unsigned int dp_forget_all(struct fx *fx)
{
	return map_clear(fx->dp.ct_new_fd) + map_clear(fx->dp.ct_fd) +
	       map_clear(fx->dp.frag_fd);
}

/* The query an ICMP type belongs to (RFC 792, RFC 4443), 0 for none. */
static uint8_t icmp_query(int family, uint8_t type, bool *req)
{
	*req = false;
	if (family == IDG_FAM_IPV6) {
		*req = type == 128;
		return type == 128 || type == 129 ? 128 : 0;
	}
	switch (type) {
	case 8:
	case 13:
	case 15:
	case 17:
		*req = true;
		return type;
	case 0:
		return 8;
	case 14:
	case 16:
	case 18:
		return (uint8_t)(type - 1);
	default:
		return 0;
	}
}

/*
 * Forget what one packet may have left: its conntrack entry (keyed from
 * the local side, datapath.h) and its datagram's fragment entry, so that
 * the next packet is a new flow. A key built wrong here leaves an entry
 * behind, which the check at the end of each config finds.
 */
static void dp_forget(struct fx *fx, const struct pkt_spec *s,
		      const struct pkt *frame, const struct ref_pkt *r)
{
	bool in = r->dir == IDG_DIR_INGRESS, req;
	struct idg_ct_key k;
	struct idg_frag_key fk;
	size_t alen = r->family == IDG_FAM_IPV4 ? 4 : 16;
	uint16_t sport = htons(r->sport), dport = htons(r->dport);

	memset(&k, 0, sizeof(k));
	memcpy(k.laddr, in ? r->daddr : r->saddr, alen);
	memcpy(k.raddr, in ? r->saddr : r->daddr, alen);
	if (r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6) {
		k.kind = icmp_query(r->family, r->icmp_type, &req);
		/* The identifier, where the builder wrote one. */
		if (k.kind && frame->l4_off)
			memcpy(&sport, frame->data + frame->l4_off + 4, 2);
		if (k.kind)
			dport = sport;
		if (k.kind && (req ? !in : in))
			k.kflags = IDG_CT_K_LOCAL_ASKS;
	}
	k.lport = in ? dport : sport;
	k.rport = in ? sport : dport;
	k.proto = r->proto;
	k.family = (uint8_t)r->family;
	bpf_map_delete_elem(fx->dp.ct_new_fd, &k);
	bpf_map_delete_elem(fx->dp.ct_fd, &k);
	if (!s->frag)
		return;
	memset(&fk, 0, sizeof(fk));
	memcpy(fk.saddr, r->saddr, alen);
	memcpy(fk.daddr, r->daddr, alen);
	if (r->family == IDG_FAM_IPV4)
		fk.id = htons((uint16_t)s->frag_id); /* the 16 bits, as read */
	else
		fk.id = htonl(s->frag_id);
	fk.proto = r->family == IDG_FAM_IPV4 ? r->proto : 0;
	fk.family = (uint8_t)r->family;
	bpf_map_delete_elem(fx->dp.frag_fd, &fk);
}

static void dp_run(struct fx *fx, const struct pkt *p, uint8_t dir,
		   struct dp_answer *a)
{
	memset(a, 0, sizeof(*a));
	fx->n_events = fx->n_verdicts = fx->n_traces = 0;
	a->ret = dir == IDG_DIR_INGRESS ? fx_run_xdp(fx, p) : fx_run_tc(fx, p);
	if (a->ret == FX_REFUSED) {
		a->refused = true;
		return;
	}
	assert_true(ring_buffer__consume(fx->rb) >= 0);
	a->n_drop = fx->n_events;
	a->n_verdict = fx->n_verdicts;
	a->n_trace = fx->n_traces;
	if (fx->n_events) {
		a->reason = fx->events[0].reason;
		a->cookie = fx->events[0].cookie;
		a->cookie_known = true;
	} else if (fx->n_traces) {
		a->reason = fx->traces[0].reason;
		if (fx->n_verdicts) {
			a->cookie = fx->verdicts[0].cookie;
			a->cookie_known = true;
		}
	}
}

static int pass_ret(uint8_t dir, bool drop)
{
	if (dir == IDG_DIR_INGRESS)
		return drop ? XDP_DROP : XDP_PASS;
	return drop ? TC_ACT_SHOT : TC_ACT_OK;
}

/* Empty when the answers agree, else what differs. */
static void compare(const struct ref_verdict *want, const struct dp_answer *a,
		    uint8_t dir, char *why, size_t len)
{
	bool drop = idg_reason_is_drop(want->reason);

	why[0] = '\0';
	if (a->n_drop + a->n_trace != 1)
		snprintf(why, len, "%d drop and %d trace events, not one",
			 a->n_drop, a->n_trace);
	else if (a->reason != want->reason)
		snprintf(why, len, "reason differs");
	else if (a->ret != pass_ret(dir, drop))
		snprintf(why, len, "return code %d, not %d", a->ret,
			 pass_ret(dir, drop));
	else if (a->n_verdict != (want->reason == IDG_PASS_POLICY))
		snprintf(why, len, "%d policy-verdict events", a->n_verdict);
	else if (a->cookie_known && a->cookie != want->cookie)
		snprintf(why, len, "rule differs");
}

/* ---- reports ---- */

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case 132:
		return "SCTP";
	case IPPROTO_ICMP:
		return "ICMP";
	case IPPROTO_ICMPV6:
		return "ICMPv6";
	case 0:
		return "any";
	default:
		return "other";
	}
}

static void pkt_print(const char *what, const struct pkt_spec *s,
		      const struct ref_pkt *r, const struct pkt *p)
{
	printf("# %s: %s %s %s %s", what,
	       r->dir == IDG_DIR_INGRESS ? "ingress filter" : "tc egress",
	       r->family == IDG_FAM_IPV4 ? "IPv4" : "IPv6",
	       proto_name(r->proto), s->src);
	if (r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP ||
	    r->proto == 132)
		printf(":%u -> %s:%u", r->sport, s->dst, r->dport);
	else
		printf(" -> %s", s->dst);
	if (r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6)
		printf(" type %u code %u id %u", r->icmp_type, r->icmp_code,
		       s->icmp_id);
	if (r->proto == IPPROTO_TCP)
		printf(" flags 0x%02x", s->tcp_flags ? s->tcp_flags : 0x02);
	printf(" vlan %d", s->nvlan);
	if (s->nvlan)
		printf(" [%u%s%u]", s->vlan_id[0], s->nvlan > 1 ? "," : "",
		       s->nvlan > 1 ? s->vlan_id[1] : 0);
	if (s->n_ext)
		printf(" ext-headers %d", s->n_ext);
	if (s->frag)
		printf(" fragment %s id %u offset %u%s",
		       s->frag_offset ? "later" : "first", s->frag_id,
		       s->frag_offset, s->more_frags ? " MF" : "");
	printf("\n#   %zu bytes:", p->len);
	for (size_t i = 0; i < p->len; i++)
		printf("%s%02x", i % 16 ? " " : "\n#     ", p->data[i]);
	printf("\n");
}

static void rule_print(const struct cfg_run *x, long i, const char *tag)
{
	static const char *const sets[] = { "ingress", "egress", "ingressDeny",
					    "egressDeny" };
	const struct idg_rule_entry *r = &x->c.rules[i];
	const struct idg_cookie *ck = idg_compiled_cookie(&x->c, r->cookie);

	printf("#     %s rule entry %ld: peer %u %s %s proto %s", tag, i,
	       r->peer, r->dir == IDG_DIR_INGRESS ? "ingress" : "egress",
	       r->kind == IDG_RULE_DENY ? "deny" : "allow",
	       proto_name(r->proto));
	if (r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6)
		printf(" type %d", r->icmp_type);
	else if (r->proto && !r->port)
		printf(" every port");
	else if (r->proto)
		printf(" port %u-%u", r->port,
		       r->end_port > r->port ? r->end_port : r->port);
	printf(" cookie %u", r->cookie);
	if (ck && r->cookie)
		printf(" (%s%s%s %s[%zu])",
		       ck->policy->namespace ? ck->policy->namespace : "",
		       ck->policy->namespace ? "/" : "", ck->policy->name,
		       sets[ck->set], ck->rule_index);
	printf("\n");
}

static uint16_t ref_pol_port(const struct ref_pkt *p)
{
	if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6)
		return (uint16_t)(p->icmp_type << 8 | p->icmp_code);
	return p->dport;
}

/* Every entry of the subject and direction that matches the packet. */
static void matches_print(const struct cfg_run *x, const struct ref_pkt *p,
			  const struct ref_verdict *v)
{
	for (size_t i = 0; v->judged && i < x->c.n_rules; i++) {
		const struct idg_rule_entry *r = &x->c.rules[i];
		int len;
		char tag[32];

		if (r->subject != v->subject || r->dir != p->dir ||
		    (r->peer && r->peer != v->peer))
			continue;
		len = ref_rule_prefix(r, p->proto, ref_pol_port(p));
		if (len < 0)
			continue;
		snprintf(tag, sizeof(tag), "matching (/%d)", len);
		rule_print(x, (long)i, tag);
	}
}

static void verdict_print(const char *who, uint32_t reason, uint32_t cookie,
			  bool cookie_known)
{
	printf("# %s: %s (%u), rule cookie ", who, idg_reason_name(reason),
	       reason);
	if (cookie_known)
		printf("%u\n", cookie);
	else
		printf("not reported\n");
}

/* The endpoints marked expired, which the YAML does not say. */
static void expired_print(const struct idg_config *cfg)
{
	bool any = false;

	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		if (!cfg->endpoints[i].expired)
			continue;
		printf("%s %s/%s", any ? "" : "# expired (mesh data):",
		       cfg->endpoints[i].namespace, cfg->endpoints[i].name);
		any = true;
	}
	if (any)
		printf("\n");
}

static void mismatch_report(const struct cfg_run *x, uint64_t n,
			    const struct pkt_spec *s, const struct ref_pkt *r,
			    const struct pkt *p, const struct ref_verdict *want,
			    const struct dp_answer *a, const char *why,
			    const struct ref_verdict *first)
{
	printf("# MISMATCH: %s, config %" PRIu64 " packet %" PRIu64
	       " of seed %" PRIu64 "\n",
	       why, x->index, n, opt.seed);
	printf("# reproduce: test_diff --seed %" PRIu64 " --packets %" PRIu64
	       " --configs %" PRIu64 " --only-config %" PRIu64 "%s\n",
	       opt.seed, opt.packets, opt.configs, x->index,
	       opt.attribution == REF_ATTR_CILIUM ? " --attribution cilium" :
						    "");
	printf("# ---- config (node %s) ----\n%s# ----\n", DG_LOCAL_NODE,
	       x->g.yaml);
	expired_print(&x->cfg);
	if (x->m.n_host) {
		char t[INET6_ADDRSTRLEN];

		printf("# uplink addresses:");
		for (size_t i = 0; i < x->m.n_host; i++) {
			inet_ntop(x->m.host[i].family == IDG_FAM_IPV4 ?
					  AF_INET : AF_INET6,
				  x->m.host[i].addr, t, sizeof(t));
			printf(" %s", t);
		}
		printf("\n");
	}
	if (first)
		printf("# (the datagram's first fragment went before it, with "
		       "reference verdict %s, rule %u)\n",
		       idg_reason_name(first->reason), first->cookie);
	pkt_print("packet", s, r, p);
	verdict_print("datapath ", a->reason, a->cookie, a->cookie_known);
	printf("#   return code %d, events: %d drop, %d policy-verdict, %d trace\n",
	       a->ret, a->n_drop, a->n_verdict, a->n_trace);
	verdict_print("reference", want->reason, want->cookie, true);
	if (want->judged)
		printf("#   subject identity %u, peer identity %u\n",
		       want->subject, want->peer);
	if (want->rule >= 0)
		rule_print(x, want->rule, "deciding");
	matches_print(x, r, want);
	fflush(stdout);
}

/* ---- one frame ---- */

static void count_contested(const struct cfg_run *x, const struct ref_pkt *p,
			    const struct ref_verdict *v)
{
	uint32_t first = 0;
	uint8_t kind;

	if (v->rule < 0 || v->reason == IDG_PASS_FRAG)
		return;
	kind = x->c.rules[v->rule].kind;
	for (size_t i = 0; i < x->c.n_rules; i++) {
		const struct idg_rule_entry *r = &x->c.rules[i];

		if (r->subject != v->subject || r->dir != p->dir ||
		    r->kind != kind || (r->peer && r->peer != v->peer) ||
		    ref_rule_prefix(r, p->proto, ref_pol_port(p)) < 0)
			continue;
		if (first && r->cookie != first) {
			x->st->contested++;
			return;
		}
		first = r->cookie;
	}
}

/* Run one frame and compare; false on a mismatch. out: the reference's
 * verdict, for a later fragment's turn. */
static bool frame_check(struct cfg_run *x, uint64_t n,
			const struct pkt_spec *s, const struct ref_pkt *r,
			const struct ref_verdict *first,
			struct ref_verdict *out, struct pkt *frame)
{
	struct pkt p;
	struct dp_answer a;
	uint64_t before = 0;
	char why[128];
	int err = pkt_build(s, &p);

	*frame = p;
	if (err) {
		pkt_print("packet", s, r, &p);
		fflush(stdout);
		fail_msg("cannot build the packet: %d", err);
	}
	ref_judge(&x->m, r, first, out);
	/* A later fragment's rule shows in its counter only. */
	if (out->reason == IDG_PASS_FRAG && out->cookie)
		before = fx_rule_pkts(x->fx, out->cookie);
	dp_run(x->fx, &p, r->dir, &a);
	if (a.refused) {
		x->st->refused++;
		return true;
	}
	x->st->frames++;
	x->st->reasons[out->reason]++;
	if (out->cookie)
		x->st->with_cookie++;
	count_contested(x, r, out);
	compare(out, &a, r->dir, why, sizeof(why));
	if (!why[0] && out->reason == IDG_PASS_FRAG && out->cookie &&
	    fx_rule_pkts(x->fx, out->cookie) != before + 1)
		snprintf(why, sizeof(why),
			 "the counter of rule %u did not count the fragment",
			 out->cookie);
	if (!why[0])
		return true;
	x->st->mismatches++;
	mismatch_report(x, n, s, r, &p, out, &a, why, first);
	return false;
}

/* One generated packet: one frame, or a first fragment and a later one. */
static bool packet_check(struct cfg_run *x, uint64_t n,
			 const struct dg_packet *dp, uint64_t *frames)
{
	struct ref_verdict v1, v2;
	struct pkt_spec s = dp->spec, later;
	struct pkt f1, f2;
	bool ok;

	s.src = dp->src;
	s.dst = dp->dst;
	ok = frame_check(x, n, &s, &dp->ref, NULL, &v1, &f1);
	(*frames)++;
	if (dp->mode == DG_FIRST_LATER) {
		dg_packet_later(dp, &later);
		ok &= frame_check(x, n, &later, &dp->ref_later, &v1, &v2, &f2);
		(*frames)++;
	}
	dp_forget(x->fx, &s, &f1, &dp->ref);
	return ok;
}

/* ---- one config ---- */

static void cfg_load(struct cfg_run *x, struct dg_rng *r)
{
	struct idg_apply_opts o = { 0 };
	struct idg_iface host;
	int err;

	assert_int_equal(dg_config_make(r, &x->g), 0);
	if (opt.dump)
		printf("# ---- config %" PRIu64 " ----\n%s", x->index,
		       x->g.yaml);
	err = idg_config_load_string("diff.yaml", x->g.yaml, &x->cfg, &x->d);
	/* A partitioned mesh (docs/mesh.md): some endpoints' data expired,
	 * the local node's too, which the compiler must leave alone. */
	if (!err && dg_pct(r, 25))
		for (size_t i = 0; i < x->cfg.n_endpoints; i++)
			x->cfg.endpoints[i].expired = dg_pct(r, 50);
	if (!err && opt.dump)
		expired_print(&x->cfg);
	if (!err)
		err = idg_compile(&x->cfg, DG_LOCAL_NODE, NULL, &x->c, &x->d);
	if (err) {
		printf("# config %" PRIu64 " of seed %" PRIu64
		       " is refused: a generator bug\n%s",
		       x->index, opt.seed, x->g.yaml);
		idg_diags_print(&x->d, stdout);
		fflush(stdout);
		fail_msg("config %" PRIu64 ": %d", x->index, err);
	}

	memset(&host, 0, sizeof(host));
	for (size_t i = 0; i < x->g.n_host; i++) {
		host.addrs[i].family = x->g.host[i].family == IDG_FAM_IPV4 ?
					       AF_INET : AF_INET6;
		memcpy(host.addrs[i].addr, x->g.host[i].addr, 16);
		host.addrs[i].plen = x->g.host[i].plen;
	}
	host.n_addrs = x->g.n_host;
	o.host = &host;
	fx_gen_new(x->fx);
	assert_int_equal(idg_gen_fill(&x->fx->gen, &x->c, &o), 0);
	/* Every verdict must reach the ring buffer: no event budget. */
	x->fx->gen.cfg.events_per_s_cpu = 0;
	fx_commit(x->fx);

	x->m.c = &x->c;
	x->m.host = x->g.host;
	x->m.n_host = x->g.n_host;
	x->m.attribution = opt.attribution;
}

static void cfg_free(struct cfg_run *x)
{
	idg_compiled_free(&x->c);
	idg_config_free(&x->cfg);
	idg_diags_free(&x->d);
	dg_config_free(&x->g);
}

/* Frames for config i: the packets shared out, the rest to the last. */
static uint64_t cfg_frames(uint64_t i)
{
	uint64_t per = opt.packets / opt.configs;

	return i + 1 == opt.configs ? opt.packets - per * (opt.configs - 1) :
				      per;
}

static void cfg_check(struct fx *fx, uint64_t i, struct stats *st)
{
	struct cfg_run x = { .fx = fx, .index = i, .st = st };
	uint64_t want = cfg_frames(i), frames = 0, n = 0;
	unsigned int left;
	struct dg_rng r;

	dg_seed(&r, opt.seed, 2 * i);
	cfg_load(&x, &r);
	dg_seed(&r, opt.seed, 2 * i + 1);
	dp_forget_all(fx);
	while (frames < want && st->mismatches < opt.max_mismatches) {
		struct dg_packet p;

		dg_packet_make(&r, &x.g, &x.c, (uint32_t)n, &p);
		packet_check(&x, n, &p, &frames);
		n++;
	}
	left = dp_forget_all(fx);
	if (left && !st->mismatches)
		fail_msg("config %" PRIu64 ": %u conntrack or fragment entries "
			 "outlived their packet: the test's keys are wrong",
			 x.index, left);
	st->configs++;
	cfg_free(&x);
}

static void stats_print(const struct stats *st, double secs)
{
	printf("# %" PRIu64 " configs, %" PRIu64 " frames in %.1f s, seed %" PRIu64
	       ", %" PRIu64 " mismatches\n",
	       st->configs, st->frames, secs, opt.seed, st->mismatches);
	printf("# frames with a deciding rule: %" PRIu64
	       ", where several rules could take the credit: %" PRIu64 "\n",
	       st->with_cookie, st->contested);
	if (st->refused)
		printf("# frames the kernel refused to run: %" PRIu64 "\n",
		       st->refused);
	for (unsigned int i = 0; i < IDG_REASON_MAX; i++)
		if (st->reasons[i])
			printf("#   %-36s %10" PRIu64 "\n", idg_reason_name(i),
			       st->reasons[i]);
}

static void test_diff(void **state)
{
	struct fx *fx = *state;
	struct stats st = { 0 };
	struct timespec t0, t1;
	uint32_t zero = 0, trace = IDG_MON_F_TRACE;
	uint64_t first = opt.only >= 0 ? (uint64_t)opt.only : 0;
	uint64_t end = opt.only >= 0 ? first + 1 : opt.configs;

	/* Passes show in trace events, as to `idgate monitor --type trace`. */
	assert_int_equal(bpf_map_update_elem(fx->dp.mon_cfg_fd, &zero, &trace,
					     BPF_ANY),
			 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = first; i < end && st.mismatches < opt.max_mismatches;
	     i++) {
		cfg_check(fx, i, &st);
		/* A long run says how far it got. */
		if (end - first >= 1000 && !((i + 1 - first) % ((end - first) / 10))) {
			printf("# ... %" PRIu64 " configs, %" PRIu64 " frames\n",
			       i + 1 - first, st.frames);
			fflush(stdout);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats_print(&st, (double)(t1.tv_sec - t0.tv_sec) +
				 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	fflush(stdout);
	if (st.mismatches)
		fail_msg("%" PRIu64 " mismatches between the datapath and the reference",
			 st.mismatches);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: test_diff [--seed N] [--packets N] [--configs N] [--only-config I]\n"
		"                 [--attribution idgate|cilium] [--ingress-tc | --tc-copy]\n"
		"                 [--max-mismatches N] [--dump]\n"
		"Random configs and packets, judged by the BPF datapath and by the\n"
		"reference evaluator; fails on the first disagreement.\n"
		"  --seed N            seed of everything generated (default 1)\n"
		"  --packets N         frames in total (default 100000)\n"
		"  --configs N         configs they are shared among (default 100)\n"
		"  --only-config I     run config I of the seed only (a reproduction)\n"
		"  --attribution cilium  credit rules as Cilium's datapath does\n"
		"  --ingress-tc        ingress at the tc ingress filter instead of XDP\n"
		"  --tc-copy           both directions at tc's parse of a copy of the\n"
		"                      headers (frames whose headers are paged)\n"
		"  --max-mismatches N  report up to N before failing (default 1)\n"
		"  --dump              print each config's YAML\n");
}

static bool num_arg(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return s[0] && s[0] != '-' && !*end && !errno;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_diff, fx_setup,
						fx_teardown),
	};

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n = 0;
		bool ok = true;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (fx_hook_flag(a)) {
			continue;
		} else if (!strcmp(a, "--dump")) {
			opt.dump = true;
			continue;
		} else if (!strcmp(a, "--attribution") && v &&
			   (!strcmp(v, "idgate") || !strcmp(v, "cilium"))) {
			opt.attribution = !strcmp(v, "cilium") ?
						  REF_ATTR_CILIUM :
						  REF_ATTR_IDGATE;
		} else if (!v || !num_arg(v, &n)) {
			ok = false;
		} else if (!strcmp(a, "--seed")) {
			opt.seed = n;
		} else if (!strcmp(a, "--packets") && n) {
			opt.packets = n;
		} else if (!strcmp(a, "--configs") && n) {
			opt.configs = n;
		} else if (!strcmp(a, "--only-config")) {
			opt.only = (int64_t)n;
		} else if (!strcmp(a, "--max-mismatches") && n) {
			opt.max_mismatches = n;
		} else {
			ok = false;
		}
		if (!ok) {
			fprintf(stderr, "test_diff: bad argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (opt.configs > opt.packets)
		opt.configs = opt.packets;
	if (opt.only >= 0 && (uint64_t)opt.only >= opt.configs) {
		fprintf(stderr, "test_diff: --only-config %" PRId64
			" is past --configs %" PRIu64 "\n",
			opt.only, opt.configs);
		return 2;
	}
	printf("# test_diff: seed %" PRIu64 ", %" PRIu64 " frames over %" PRIu64
	       " configs, ingress at %s\n",
	       opt.seed, opt.packets, opt.configs,
	       fx_hook_name());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
