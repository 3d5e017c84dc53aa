// SPDX-License-Identifier: GPL-2.0
/*
 * Conntrack, ICMP errors and fragments, one test per behaviour: the real
 * XDP (or, with --ingress-tc, tc ingress) and tc egress programs, maps
 * filled from C, frames built in C, run through BPF_PROG_TEST_RUN. What
 * an entry may let past policy, and what may create or keep one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>

#include "harness.h"
#include "node.h"
#include "ct_gc.h"

#define SEC_NS 1000000000ull
#define TCP_SYN PKT_TCP_SYN
#define TCP_ACK PKT_TCP_ACK
#define TCP_SYNACK (PKT_TCP_SYN | PKT_TCP_ACK)

/* ---- frames ---- */

static struct pkt icmp(int family, const char *src, const char *dst,
		       uint8_t type, uint16_t id)
{
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = family, .src = src,
					 .dst = dst,
					 .proto = family == AF_INET ?
							  IPPROTO_ICMP :
							  IPPROTO_ICMPV6,
					 .icmp_type = type, .icmp_id = id,
					 .payload_len = 16 });
	return p;
}

/* An ICMP error from src to dst quoting the IP header and the first 8
 * L4 bytes of q, as a router sends one (RFC 792, RFC 4443). */
static struct pkt icmp_error(const char *src, const char *dst, uint8_t type,
			     uint8_t code, const struct pkt *q)
{
	int v4 = (q->data[q->l3_off] >> 4) == 4;
	size_t qlen = q->l4_off - q->l3_off + 8;
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = v4 ? AF_INET : AF_INET6,
					 .src = src, .dst = dst,
					 .proto = v4 ? IPPROTO_ICMP :
						       IPPROTO_ICMPV6,
					 .icmp_type = type, .icmp_code = code,
					 .payload_len = qlen });
	memcpy(&p.data[p.payload_off], &q->data[q->l3_off], qlen);
	pkt_fix_csums(&p);
	return p;
}

/* The IPv4 total length or IPv6 payload length of p, less n: its last
 * n bytes become padding after the packet. */
static void shorten_ip(struct pkt *p, unsigned int n)
{
	uint8_t *ip = &p->data[p->l3_off];
	size_t off = (ip[0] >> 4) == 4 ? 2 : 4;
	unsigned int len = (unsigned int)ip[off] << 8 | ip[off + 1];

	ip[off] = (uint8_t)((len - n) >> 8);
	ip[off + 1] = (uint8_t)(len - n);
	pkt_fix_csums(p);
}

static struct pkt frag(int family, const char *src, const char *dst,
		       uint8_t proto, uint16_t dport, uint16_t offset,
		       uint32_t id)
{
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = family, .src = src,
					 .dst = dst, .proto = proto,
					 .sport = 5000, .dport = dport,
					 .frag = 1, .frag_offset = offset,
					 .more_frags = !offset, .frag_id = id,
					 .payload_len = 64 });
	return p;
}

/* ---- the tables ---- */

/* The IPv4 flow {local:lport, remote:rport, proto} of a table, as the
 * local side keys it. */
static struct idg_ct_key ct_key(const char *local, const char *remote,
				uint16_t lport, uint16_t rport, uint8_t proto)
{
	struct idg_ct_key k = { .lport = htons(lport), .rport = htons(rport),
				.proto = proto, .family = IDG_FAM_IPV4 };

	assert_int_equal(inet_pton(AF_INET, local, k.laddr), 1);
	assert_int_equal(inet_pton(AF_INET, remote, k.raddr), 1);
	return k;
}

static int ct_fd(struct fx *fx, bool est)
{
	return est ? fx->dp.ct_fd : fx->dp.ct_new_fd;
}

static bool ct_has(struct fx *fx, bool est, const struct idg_ct_key *k)
{
	struct idg_ct_val v;

	return !bpf_map_lookup_elem(ct_fd(fx, est), k, &v);
}

static long ct_count(struct fx *fx, bool est)
{
	struct idg_ct_key k, next, *prev = NULL;
	long n = 0;

	while (!bpf_map_get_next_key(ct_fd(fx, est), prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* Make the entry look idle for s seconds. */
static void ct_age(struct fx *fx, bool est, const struct idg_ct_key *k,
		   unsigned int s)
{
	struct idg_ct_val v;

	assert_int_equal(bpf_map_lookup_elem(ct_fd(fx, est), k, &v), 0);
	v.last_seen_ns -= s * SEC_NS;
	assert_int_equal(bpf_map_update_elem(ct_fd(fx, est), k, &v, BPF_EXIST),
			 0);
}

static uint64_t now_coarse(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec;
}

/* E: ingress open on TCP 80 and UDP 53 to A, egress enforced with no
 * rule (E's replies leave only by conntrack). */
static void server_node(struct fx *fx)
{
	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_IN(.peer = ID_A, .proto = IPPROTO_TCP, .port = 80,
			      .cookie = 1));
	fx_rule(fx, &ALLOW_IN(.peer = ID_A, .proto = IPPROTO_UDP, .port = 53,
			      .cookie = 2));
	fx_commit(fx);
}

/* A connects from sport to E:80, a full handshake: the flow is then
 * established (E's egress has no rule, so its SYN-ACK leaves only by the
 * SYN's entry). */
static void handshake(struct fx *fx, uint16_t sport)
{
	struct pkt p;

	p = fx_seg(A_V4, EP_V4, sport, 80, TCP_SYN, 1000, 0);
	expect_pass(fx, &p, IDG_PASS_POLICY);
	p = fx_seg(EP_V4, A_V4, 80, sport, TCP_SYNACK, 5000, 1001);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	p = fx_seg(A_V4, EP_V4, sport, 80, TCP_ACK, 1001, 5001);
	expect_pass(fx, &p, IDG_PASS_CT);
}

/* ---- TCP ---- */

/*
 * Only a SYN opens a TCP flow: a lone ACK (or FIN, RST) an open port
 * allows passes by policy but leaves nothing behind, so E's answer to it
 * is judged (and, egress being closed, dropped).
 */
static void test_tcp_entry_on_syn_only(void **state)
{
	struct fx *fx = *state;
	struct idg_ct_key k = ct_key(EP_V4, A_V4, 80, 40000, IPPROTO_TCP);
	static const uint8_t opens_nothing[] = {
		TCP_ACK, PKT_TCP_FIN | TCP_ACK, PKT_TCP_RST, TCP_SYNACK,
		TCP_ACK | PKT_TCP_PSH
	};
	struct pkt p;

	server_node(fx);
	for (size_t i = 0; i < sizeof(opens_nothing); i++) {
		p = fx_seg(A_V4, EP_V4, 40000, 80, opens_nothing[i], 7, 9);
		expect_pass(fx, &p, IDG_PASS_POLICY);
		assert_false(ct_has(fx, false, &k));
		assert_false(ct_has(fx, true, &k));
	}
	p = fx_seg(EP_V4, A_V4, 80, 40000, PKT_TCP_RST, 9, 0);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_SHOT);

	p = fx_seg(A_V4, EP_V4, 40000, 80, TCP_SYN, 7, 0);
	expect_pass(fx, &p, IDG_PASS_POLICY);
	assert_true(ct_has(fx, false, &k));
	p = fx_seg(EP_V4, A_V4, 80, 40000, TCP_SYNACK, 100, 8);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	assert_int_equal(fx_reason_pkts(fx, IDG_PASS_CT), 1);
}

/*
 * A connection leaves the table of new flows once the initiator
 * acknowledges the SYN-ACK it received: the acknowledgement number must
 * be the responder's sequence + 1, which a spoofer never sees.
 */
static void test_tcp_handshake_promotes(void **state)
{
	struct fx *fx = *state;
	struct idg_ct_key k = ct_key(EP_V4, A_V4, 80, 40000, IPPROTO_TCP);
	struct pkt p;

	server_node(fx);
	p = fx_seg(A_V4, EP_V4, 40000, 80, TCP_SYN, 1000, 0);
	expect_pass(fx, &p, IDG_PASS_POLICY);
	p = fx_seg(EP_V4, A_V4, 80, 40000, TCP_SYNACK, 5000, 1001);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	assert_true(ct_has(fx, false, &k));

	/* A blind guess at the ACK, or a data segment: still new. */
	p = fx_seg(A_V4, EP_V4, 40000, 80, TCP_ACK, 1001, 5002);
	expect_pass(fx, &p, IDG_PASS_CT);
	p = fx_seg(A_V4, EP_V4, 40000, 80, TCP_ACK, 1001, 4999);
	expect_pass(fx, &p, IDG_PASS_CT);
	assert_true(ct_has(fx, false, &k));
	assert_false(ct_has(fx, true, &k));
	assert_int_equal(fx_misc(fx, IDG_MISC_CT_PROMOTED), 0);

	/* The real one. */
	p = fx_seg(A_V4, EP_V4, 40000, 80, TCP_ACK, 1001, 5001);
	expect_pass(fx, &p, IDG_PASS_CT);
	assert_false(ct_has(fx, false, &k));
	assert_true(ct_has(fx, true, &k));
	assert_int_equal(fx_misc(fx, IDG_MISC_CT_PROMOTED), 1);
	/* Both directions keep passing by the established entry. */
	p = fx_seg(EP_V4, A_V4, 80, 40000, TCP_ACK | PKT_TCP_PSH, 5001, 1001);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	p = fx_seg(A_V4, EP_V4, 40000, 80, TCP_ACK, 1001, 5100);
	expect_pass(fx, &p, IDG_PASS_CT);
}

/*
 * A flood of new flows at an open port (spoofed SYNs, each followed by a
 * blind ACK, more flows than any conntrack table holds) churns the table
 * of new flows only: an established connection, idle during the flood,
 * is still there after it, and its replies still leave E.
 */
static void test_flood_cannot_evict_established(void **state)
{
	struct fx *fx = *state;
	struct idg_ct_key k = ct_key(EP_V4, A_V4, 80, 40000, IPPROTO_TCP);
	const uint32_t n = IDG_CT_MAX + IDG_CT_NEW_MAX + 4096;
	char src[32];
	struct pkt p;

	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_IN(.proto = IPPROTO_TCP, .port = 80, .cookie = 1));
	fx_commit(fx);
	handshake(fx, 40000);
	assert_true(ct_has(fx, true, &k));

	for (uint32_t i = 0; i < n; i++) {
		snprintf(src, sizeof(src), "100.%u.%u.%u", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		p = fx_seg(src, EP_V4, (uint16_t)(1024 + (i >> 24)), 80,
			TCP_SYN, i, 0);
		assert_int_equal(fx_run_xdp(fx, &p), XDP_PASS);
		p = fx_seg(src, EP_V4, (uint16_t)(1024 + (i >> 24)), 80,
			TCP_ACK, i + 1, 1);
		assert_int_equal(fx_run_xdp(fx, &p), XDP_PASS);
	}
	assert_true(ct_count(fx, false) <= IDG_CT_NEW_MAX);
	assert_true(ct_has(fx, true, &k));
	p = fx_seg(EP_V4, A_V4, 80, 40000, TCP_ACK | PKT_TCP_PSH, 5001, 1001);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
}

static struct idg_ct_epoch ct_epoch(struct fx *fx)
{
	struct idg_ct_epoch ep;
	uint32_t zero = 0;

	assert_int_equal(bpf_map_lookup_elem(fx->dp.ct_epoch_fd, &zero, &ep),
			 0);
	return ep;
}

/* Start the next hint epoch, as idgate run does once one has lasted. */
static void ct_epoch_next(struct fx *fx)
{
	struct idg_ct_epoch ep = ct_epoch(fx);
	bool rotated;

	assert_int_equal(idg_ct_hint_rotate(fx->dp.ct_hint_fd,
					    fx->dp.ct_epoch_fd,
					    ep.started_ns +
						    IDG_CT_HINT_EPOCH_NS - 1,
					    &rotated),
			 0);
	assert_false(rotated);
	assert_int_equal(idg_ct_hint_rotate(fx->dp.ct_hint_fd,
					    fx->dp.ct_epoch_fd,
					    ep.started_ns + IDG_CT_HINT_EPOCH_NS,
					    &rotated),
			 0);
	assert_true(rotated);
	assert_int_equal(ct_epoch(fx).epoch, ep.epoch + 1);
}

/*
 * A packet looks for its flow only when the hint of its remote address
 * is set in the current epoch's bitmap (a flow marks this epoch's and the
 * next's). A flow seen in every
 * epoch keeps being found across any number of them; one not seen for
 * two whole epochs (longer than any idle timeout: it would have expired)
 * is no longer looked for, so its replies are judged by policy again.
 */
static void test_ct_hint_epochs(void **state)
{
	struct fx *fx = *state;
	struct idg_ct_key k = ct_key(EP_V4, A_V4, 80, 40000, IPPROTO_TCP);
	struct idg_ct_val v;
	struct pkt reply;

	/* A fresh instance hashes with a seed of its own. */
	assert_int_not_equal(ct_epoch(fx).seed, 0);
	server_node(fx);
	handshake(fx, 40000);
	/* E's egress has no rule: its segments leave by the entry alone. */
	reply = fx_seg(EP_V4, A_V4, 80, 40000, TCP_ACK | PKT_TCP_PSH, 5001, 1001);
	assert_int_equal(fx_run_tc(fx, &reply), TC_ACT_OK);

	for (int i = 0; i < 4; i++) {
		ct_epoch_next(fx);
		assert_int_equal(fx_run_tc(fx, &reply), TC_ACT_OK);
		assert_int_equal(bpf_map_lookup_elem(fx->dp.ct_fd, &k, &v), 0);
		assert_int_equal(v.hint_epoch, ct_epoch(fx).epoch);
	}

	ct_epoch_next(fx);
	ct_epoch_next(fx);
	assert_true(ct_has(fx, true, &k));
	assert_int_equal(fx_run_tc(fx, &reply), TC_ACT_SHOT);
}

/*
 * Timeouts follow the connection: 30 s while half-open, 6 h
 * established, 10 s once reset or closed from both sides (a half-close
 * keeps the long one). The datapath ignores an expired entry at once.
 */
static void test_tcp_timeouts(void **state)
{
	struct fx *fx = *state;
	struct idg_ct_key k;
	struct pkt p;

	server_node(fx);
	/* Half-open, 31 s idle: gone; E's late SYN-ACK is judged. */
	k = ct_key(EP_V4, A_V4, 80, 40001, IPPROTO_TCP);
	p = fx_seg(A_V4, EP_V4, 40001, 80, TCP_SYN, 1, 0);
	expect_pass(fx, &p, IDG_PASS_POLICY);
	ct_age(fx, false, &k, 29);
	p = fx_seg(EP_V4, A_V4, 80, 40001, TCP_SYNACK, 50, 2);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	ct_age(fx, false, &k, 31);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_SHOT);

	/* Established, an hour idle: still there. */
	k = ct_key(EP_V4, A_V4, 80, 40002, IPPROTO_TCP);
	handshake(fx, 40002);
	ct_age(fx, true, &k, 3600);
	p = fx_seg(EP_V4, A_V4, 80, 40002, TCP_ACK, 5001, 1001);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	/* A FIN from one side: half-closed, the long timeout stays. */
	p = fx_seg(A_V4, EP_V4, 40002, 80, PKT_TCP_FIN | TCP_ACK, 1001, 5001);
	expect_pass(fx, &p, IDG_PASS_CT);
	ct_age(fx, true, &k, 60);
	p = fx_seg(EP_V4, A_V4, 80, 40002, TCP_ACK, 5001, 1002);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	/* And from the other: closing, 10 s. */
	p = fx_seg(EP_V4, A_V4, 80, 40002, PKT_TCP_FIN | TCP_ACK, 5001, 1002);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	ct_age(fx, true, &k, 11);
	p = fx_seg(EP_V4, A_V4, 80, 40002, TCP_ACK, 5002, 1002);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_SHOT);
	assert_false(ct_has(fx, true, &k));

	/* A reset: 10 s as well. */
	k = ct_key(EP_V4, A_V4, 80, 40003, IPPROTO_TCP);
	handshake(fx, 40003);
	p = fx_seg(A_V4, EP_V4, 40003, 80, PKT_TCP_RST, 1001, 0);
	expect_pass(fx, &p, IDG_PASS_CT);
	ct_age(fx, true, &k, 9);
	p = fx_seg(EP_V4, A_V4, 80, 40003, TCP_ACK, 51, 2);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	ct_age(fx, true, &k, 11);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_SHOT);
	/* A new SYN on the closed tuple opens the next connection. */
	p = fx_seg(A_V4, EP_V4, 40003, 80, TCP_SYN, 900, 0);
	expect_pass(fx, &p, IDG_PASS_POLICY);
	p = fx_seg(EP_V4, A_V4, 80, 40003, TCP_SYNACK, 70, 901);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
}

/* ---- other protocols ---- */

/* Unanswered UDP lives 30 s in the new table; an answer makes it
 * established (60 s idle). */
static void test_udp_promoted_by_answer(void **state)
{
	struct fx *fx = *state;
	struct idg_ct_key k = ct_key(EP_V4, A_V4, 53, 5000, IPPROTO_UDP);
	struct pkt q = udp4(A_V4, EP_V4, 5000, 53),
		   r = udp4(EP_V4, A_V4, 53, 5000);

	server_node(fx);
	expect_pass(fx, &q, IDG_PASS_POLICY);
	expect_pass(fx, &q, IDG_PASS_CT);
	assert_true(ct_has(fx, false, &k));
	ct_age(fx, false, &k, 31);
	expect_pass(fx, &q, IDG_PASS_POLICY); /* a new flow again */
	assert_int_equal(fx_run_tc(fx, &r), TC_ACT_OK);
	assert_false(ct_has(fx, false, &k));
	assert_true(ct_has(fx, true, &k));
	ct_age(fx, true, &k, 45);
	expect_pass(fx, &q, IDG_PASS_CT);
	ct_age(fx, true, &k, 61);
	assert_int_equal(fx_run_tc(fx, &r), TC_ACT_SHOT);
}

/*
 * Where nothing is enforced an entry serves no one: traffic there makes
 * none. With one direction enforced the other's flows are tracked, so
 * that their replies get through.
 */
static void test_unenforced_not_tracked(void **state)
{
	struct fx *fx = *state;
	struct pkt p;

	base_node(fx, 0);
	fx_commit(fx);
	p = udp4(A_V4, EP_V4, 6000, 7000);
	expect_pass(fx, &p, IDG_PASS_UNENFORCED);
	p = tcp4(A_V4, EP_V4, 6000, 7000);
	expect_pass(fx, &p, IDG_PASS_UNENFORCED);
	p = udp4(EP_V4, A_V4, 7000, 6001);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	assert_int_equal(ct_count(fx, false), 0);
	assert_int_equal(ct_count(fx, true), 0);

	fx_gen_new(fx);
	base_node(fx, IDG_EP_F_ENFORCE_EGRESS);
	fx_commit(fx);
	p = udp4(A_V4, EP_V4, 6000, 7000);
	expect_pass(fx, &p, IDG_PASS_UNENFORCED);
	assert_int_equal(ct_count(fx, false), 1);
}

/* ---- ICMP ---- */

/*
 * Echo entries carry the type and who asked: E's ping lets its replies
 * in, never a request from the peer with the same identifier (that is a
 * new flow, judged). IPv4 and IPv6.
 */
static void test_icmp_echo_direction(void **state)
{
	struct fx *fx = *state;
	struct pkt p;

	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_OUT(.peer = ID_A, .proto = IPPROTO_ICMP,
			       .icmp_type = 8, .cookie = 1));
	fx_rule(fx, &ALLOW_OUT(.peer = ID_A, .proto = IPPROTO_ICMPV6,
			       .icmp_type = 128, .cookie = 2));
	fx_commit(fx);

	p = icmp(AF_INET, EP_V4, A_V4, 8, 77);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	p = icmp(AF_INET, A_V4, EP_V4, 0, 77);
	expect_pass(fx, &p, IDG_PASS_CT);
	p = icmp(AF_INET, A_V4, EP_V4, 8, 77);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
	/* A reply to another identifier, or of another query type. */
	p = icmp(AF_INET, A_V4, EP_V4, 0, 78);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
	p = icmp(AF_INET, A_V4, EP_V4, 14, 77); /* timestamp reply */
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);

	p = icmp(AF_INET6, EP_V6, A_V6, 128, 77);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	p = icmp(AF_INET6, A_V6, EP_V6, 129, 77);
	expect_pass(fx, &p, IDG_PASS_CT);
	p = icmp(AF_INET6, A_V6, EP_V6, 128, 77);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
}

/*
 * An ICMP error is judged by the flow it quotes: about a flow E may
 * have, it passes (path MTU discovery); about none, or quoting a packet
 * E did not send, it is ICMP like any other and policy decides.
 */
static void test_icmp_error_related(void **state)
{
	struct fx *fx = *state;
	struct pkt q, p;

	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_OUT(.peer = ID_A, .proto = IPPROTO_TCP,
			       .port = 443, .cookie = 4));
	fx_rule(fx, &ALLOW_OUT(.peer = ID_A, .proto = IPPROTO_UDP,
			       .port = 53, .cookie = 5));
	fx_commit(fx);

	q = tcp4(EP_V4, A_V4, 40000, 443);
	assert_int_equal(fx_run_tc(fx, &q), TC_ACT_OK);
	/* Fragmentation needed, from a router of the path (world). */
	p = icmp_error(WORLD_V4, EP_V4, 3, 4, &q);
	expect_pass(fx, &p, IDG_PASS_CT_RELATED);
	assert_int_equal(fx_rule_pkts(fx, 4), 2);
	/* The same with a total length that ends inside the quote: the
	 * rest is padding, no part of the packet (found by fuzz_parse). */
	shorten_ip(&p, 1);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
	/* Time exceeded from A itself, port unreachable for UDP. */
	p = icmp_error(A_V4, EP_V4, 11, 0, &q);
	expect_pass(fx, &p, IDG_PASS_CT_RELATED);
	q = udp4(EP_V4, A_V4, 5353, 53);
	assert_int_equal(fx_run_tc(fx, &q), TC_ACT_OK);
	p = icmp_error(A_V4, EP_V4, 3, 3, &q);
	expect_pass(fx, &p, IDG_PASS_CT_RELATED);

	/* About a flow E never had. */
	q = tcp4(EP_V4, A_V4, 40001, 443);
	p = icmp_error(WORLD_V4, EP_V4, 3, 4, &q);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
	/* Quoting a packet someone else sent (to E's flow's peer). */
	q = tcp4(B_V4, A_V4, 40000, 443);
	p = icmp_error(WORLD_V4, EP_V4, 3, 4, &q);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
	/* A query is no error, whatever it carries. */
	q = tcp4(EP_V4, A_V4, 40000, 443);
	p = icmp_error(A_V4, EP_V4, 8, 0, &q);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);

	/* ICMPv6 packet too big. */
	fx_build(&q, &(struct pkt_spec){ .family = AF_INET6, .src = EP_V6,
					 .dst = A_V6, .proto = IPPROTO_TCP,
					 .sport = 40000, .dport = 443 });
	assert_int_equal(fx_run_tc(fx, &q), TC_ACT_OK);
	p = icmp_error("fd00:9::1", EP_V6, 2, 0, &q);
	expect_pass(fx, &p, IDG_PASS_CT_RELATED);
	shorten_ip(&p, 1);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
	fx_build(&q, &(struct pkt_spec){ .family = AF_INET6, .src = EP_V6,
					 .dst = A_V6, .proto = IPPROTO_TCP,
					 .sport = 40002, .dport = 443 });
	p = icmp_error("fd00:9::1", EP_V6, 2, 0, &q);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);

	/* E's own error about a flow A opened to it passes out likewise:
	 * A's UDP to a port E allows but no one listens on. */
	fx_gen_new(fx);
	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_IN(.peer = ID_A, .proto = IPPROTO_UDP, .port = 9,
			      .cookie = 6));
	fx_commit(fx);
	q = udp4(A_V4, EP_V4, 7000, 9);
	expect_pass(fx, &q, IDG_PASS_POLICY);
	p = icmp_error(EP_V4, A_V4, 3, 3, &q);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	assert_int_equal(fx_reason_pkts(fx, IDG_PASS_CT_RELATED), 5);
}

/* ---- fragments ---- */

/*
 * Later fragments follow their first: they pass only when it passed,
 * with its rule, whatever protocol an IPv6 later fragment claims; the
 * fragmented replies of an allowed flow pass.
 */
static void test_fragments_follow_first(void **state)
{
	struct fx *fx = *state;
	struct pkt p, q;

	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_IN(.peer = ID_A, .proto = IPPROTO_UDP, .port = 4789,
			      .cookie = 1));
	fx_rule(fx, &ALLOW_IN(.peer = ID_B, .proto = IPPROTO_UDP, .cookie = 2));
	fx_rule(fx, &ALLOW_OUT(.peer = ID_A, .proto = IPPROTO_UDP, .port = 53,
			       .cookie = 3));
	fx_commit(fx);

	/* The first fragment carries ports: judged like any packet; its
	 * later ones then pass on its verdict and rule. */
	p = frag(AF_INET, A_V4, EP_V4, IPPROTO_UDP, 4789, 0, 99);
	expect_pass(fx, &p, IDG_PASS_POLICY);
	p = frag(AF_INET, A_V4, EP_V4, IPPROTO_UDP, 4789, 16, 99);
	expect_pass(fx, &p, IDG_PASS_FRAG);
	assert_int_equal(fx_rule_pkts(fx, 1), 2);
	/* A later fragment whose first was denied, or never seen. */
	p = frag(AF_INET, A_V4, EP_V4, IPPROTO_UDP, 4790, 0, 100);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
	p = frag(AF_INET, A_V4, EP_V4, IPPROTO_UDP, 4790, 16, 100);
	expect_drop(fx, &p, IDG_DROP_FRAG_NO_FIRST);
	assert_int_equal(fx_poll_events(fx), 2);
	assert_int_equal(fx->events[1].flags & IDG_EV_F_FRAGMENT,
			 IDG_EV_F_FRAGMENT);
	assert_int_equal(fx->events[1].src_id, ID_A);
	assert_int_equal(fx->events[1].dst_id, ID_E);
	p = frag(AF_INET, A_V4, EP_V4, IPPROTO_UDP, 4789, 16, 101);
	expect_drop(fx, &p, IDG_DROP_FRAG_NO_FIRST);
	/* B's port-wildcard UDP rule does not admit a later fragment of a
	 * denied TCP datagram by its protocol... */
	p = frag(AF_INET, B_V4, EP_V4, IPPROTO_TCP, 80, 0, 102);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
	p = frag(AF_INET, B_V4, EP_V4, IPPROTO_TCP, 80, 16, 102);
	expect_drop(fx, &p, IDG_DROP_FRAG_NO_FIRST);

	/* ... nor, over IPv6, one that lies about its protocol: the later
	 * fragment of a TCP datagram says UDP. */
	fx_ipcache(fx, "fd00:3::30", ID_B);
	fx_gen_new(fx);
	base_node(fx, ENF_BOTH);
	fx_ipcache(fx, "fd00:3::30", ID_B);
	fx_rule(fx, &ALLOW_IN(.peer = ID_B, .proto = IPPROTO_UDP, .cookie = 2));
	fx_commit(fx);
	p = frag(AF_INET6, "fd00:3::30", EP_V6, IPPROTO_TCP, 80, 0, 7);
	expect_drop(fx, &p, IDG_DROP_POLICY_DEFAULT);
	p = frag(AF_INET6, "fd00:3::30", EP_V6, IPPROTO_UDP, 80, 16, 7);
	expect_drop(fx, &p, IDG_DROP_FRAG_NO_FIRST);
	p = frag(AF_INET6, "fd00:3::30", EP_V6, IPPROTO_UDP, 80, 0, 8);
	expect_pass(fx, &p, IDG_PASS_POLICY);
	p = frag(AF_INET6, "fd00:3::30", EP_V6, IPPROTO_TCP, 80, 16, 8);
	expect_pass(fx, &p, IDG_PASS_FRAG);

	/* The fragmented reply of E's own query: its first fragment passes
	 * by conntrack, the later ones follow. */
	q = udp4(EP_V4, A_V4, 5353, 53);
	fx_gen_new(fx);
	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_OUT(.peer = ID_A, .proto = IPPROTO_UDP, .port = 53,
			       .cookie = 3));
	fx_commit(fx);
	assert_int_equal(fx_run_tc(fx, &q), TC_ACT_OK);
	fx_build(&p, &(struct pkt_spec){ .family = AF_INET, .src = A_V4,
					 .dst = EP_V4, .proto = IPPROTO_UDP,
					 .sport = 53, .dport = 5353,
					 .frag = 1, .more_frags = 1,
					 .frag_id = 555, .payload_len = 64 });
	expect_pass(fx, &p, IDG_PASS_CT);
	fx_build(&p, &(struct pkt_spec){ .family = AF_INET, .src = A_V4,
					 .dst = EP_V4, .proto = IPPROTO_UDP,
					 .frag = 1, .frag_offset = 9,
					 .frag_id = 555, .payload_len = 64 });
	expect_pass(fx, &p, IDG_PASS_FRAG);
	/* Where nothing is enforced, later fragments pass as before. */
	p = frag(AF_INET, A_V4, "10.9.9.9", IPPROTO_UDP, 1, 16, 556);
	expect_pass(fx, &p, IDG_PASS_NOT_ENDPOINT);
}

/* ---- garbage collection ---- */

/* GC removes what the datapath would ignore, by the same rule, in
 * both tables, and keeps live entries. */
static void test_ct_gc(void **state)
{
	struct fx *fx = *state;
	struct idg_ct_key tcp = ct_key(EP_V4, A_V4, 80, 40000, IPPROTO_TCP),
			  replied = ct_key(EP_V4, A_V4, 53, 5000, IPPROTO_UDP),
			  lone = ct_key(EP_V4, A_V4, 53, 5001, IPPROTO_UDP);
	struct idg_ct_gc_result res = { 0 };
	struct pkt p;

	server_node(fx);
	handshake(fx, 40000);
	p = udp4(A_V4, EP_V4, 5000, 53);
	expect_pass(fx, &p, IDG_PASS_POLICY);
	p = udp4(EP_V4, A_V4, 53, 5000);
	assert_int_equal(fx_run_tc(fx, &p), TC_ACT_OK);
	p = udp4(A_V4, EP_V4, 5001, 53);
	expect_pass(fx, &p, IDG_PASS_POLICY);

	/* 45 s idle: the unanswered UDP flow (30 s) is over, the answered
	 * one (60 s) and the connection (6 h) are not. */
	ct_age(fx, true, &tcp, 45);
	ct_age(fx, true, &replied, 45);
	ct_age(fx, false, &lone, 45);
	assert_int_equal(idg_ct_gc_pass(fx->dp.ct_new_fd, 0, now_coarse(),
					&res),
			 0);
	assert_int_equal(idg_ct_gc_pass(fx->dp.ct_fd, 1, now_coarse(), &res),
			 0);
	assert_int_equal(res.removed, 1);
	assert_int_equal(res.live, 2);
	assert_false(ct_has(fx, false, &lone));
	assert_true(ct_has(fx, true, &tcp));
	assert_true(ct_has(fx, true, &replied));
}

/* ---- the node's settings ---- */

/* spec.interfaces.unknownEtherTypes: drop. ARP and IP are not unknown. */
static void test_unknown_ethertypes(void **state)
{
	struct fx *fx = *state;
	struct pkt p;

	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_IN(.peer = ID_A, .cookie = 1));
	fx_commit(fx);
	p = tcp4(A_V4, EP_V4, 1, 2);
	p.data[12] = 0x88; /* LLDP */
	p.data[13] = 0xcc;
	expect_pass(fx, &p, IDG_PASS_NON_IP);

	fx_gen_new(fx);
	base_node(fx, ENF_BOTH);
	fx_rule(fx, &ALLOW_IN(.peer = ID_A, .cookie = 1));
	fx->gen.cfg.flags = IDG_CFG_F_DROP_NON_IP;
	fx_commit(fx);
	expect_drop(fx, &p, IDG_DROP_UNKNOWN_ETHERTYPE);
	assert_int_equal(pkt_build_arp(&p, A_V4, EP_V4, 0, NULL), 0);
	expect_pass(fx, &p, IDG_PASS_ARP);
	p = tcp4(A_V4, EP_V4, 1, 2);
	expect_pass(fx, &p, IDG_PASS_POLICY);
}

/*
 * A generation is active but one of its maps is gone (a broken loader,
 * a hand-edited pin dir): a packet whose verdict needs that map is
 * dropped with a reason, never let through as if nothing were configured;
 * ARP still passes. The maps are checked where they are read, so a
 * packet that needs none of the missing ones is judged as usual.
 */
#define HOLE_PFX "10.8.0.0/24"   /* an endpoint prefix of E */
#define HOLE_SRC "10.8.0.5"      /* in it; in A's ipcache prefix too */

static const struct gen_hole {
	const char *map;
	size_t fd;      /* offsetof(struct idg_dp, the map's *_gens_fd) */
	int workloads;  /* HOLE_PFX bound to a workload interface */
	const char *src, *dst; /* needs the map: dropped */
	const char *ok_src;    /* to E, needs none of it: still passes */
	int frag_egress; /* also E's later fragment in, and E's packet out */
} gen_holes[] = {
#define FD(m) offsetof(struct idg_dp, m)
	{ "policy", FD(pol_gens_fd), 0, A_V4, EP_V4, NULL, 0 },
	{ "policy exact", FD(polx_gens_fd), 0, A_V4, EP_V4, NULL, 0 },
	{ "policy any-peer", FD(polany_gens_fd), 0, A_V4, EP_V4, NULL, 0 },
	{ "pairs", FD(pair_gens_fd), 0, A_V4, EP_V4, NULL, 0 },
	{ "endpoint hosts", FD(eph_gens_fd), 0, A_V4, EP_V4, NULL, 1 },
	{ "endpoint hosts", FD(eph_gens_fd), 0, A_V4, WORLD_V4, NULL, 0 },
	{ "endpoint prefixes", FD(ep_gens_fd), 0, A_V4, HOLE_SRC, A_V4, 0 },
	{ "endpoint prefixes", FD(ep_gens_fd), 1, HOLE_SRC, EP_V4, NULL, 0 },
	{ "ipcache hosts", FD(ipch_gens_fd), 0, A_V4, EP_V4, NULL, 0 },
	{ "ipcache prefixes", FD(ipc_gens_fd), 0, HOLE_SRC, EP_V4, A_V4, 0 },
#undef FD
};

static void test_incomplete_generation_fails_closed(void **state)
{
	struct fx *fx = *state;
	uint16_t sport = 1000;
	uint64_t before;
	struct pkt p;

	for (size_t i = 0; i < sizeof(gen_holes) / sizeof(gen_holes[0]);
	     i++) {
		const struct gen_hole *h = &gen_holes[i];
		uint32_t slot;

		printf("# %zu: no %s map%s\n", i, h->map,
		       h->workloads ? ", workload endpoints" : "");
		if (i)
			fx_gen_new(fx);
		base_node(fx, ENF_BOTH);
		if (h->workloads)
			fx_endpoint_if(fx, HOLE_PFX, ID_E, ENF_BOTH, 7);
		else
			fx_endpoint(fx, HOLE_PFX, ID_E, ENF_BOTH);
		fx_ipcache(fx, "10.8.0.0/16", ID_A);
		fx_rule(fx, &ALLOW_IN(.peer = ID_A, .cookie = 1));
		slot = IDG_GEN_SLOT(fx_commit(fx));
		/* Complete, the packet passes, or is a spoof of a workload
		 * (new flows: fresh ports). */
		p = tcp4(h->src, h->dst, sport++, 3);
		if (h->workloads)
			expect_drop(fx, &p, IDG_DROP_SPOOFED_SOURCE);
		else
			assert_int_equal(fx_run_xdp(fx, &p), XDP_PASS);

		assert_int_equal(bpf_map_delete_elem(*(int *)((char *)&fx->dp +
							     h->fd),
						     &slot),
				 0);
		p = tcp4(h->src, h->dst, sport++, 3);
		expect_drop(fx, &p, IDG_DROP_GEN_INCOMPLETE);
		if (h->ok_src) {
			p = tcp4(h->ok_src, EP_V4, sport++, 3);
			expect_pass(fx, &p, IDG_PASS_POLICY);
		}
		if (h->frag_egress) {
			p = frag(AF_INET, h->src, h->dst, IPPROTO_UDP, 53, 16,
				 sport++);
			expect_drop(fx, &p, IDG_DROP_GEN_INCOMPLETE);
			before = fx_reason_pkts(fx, IDG_DROP_GEN_INCOMPLETE);
			p = udp4(h->dst, h->src, 53, sport++);
			assert_int_equal(fx_run_tc(fx, &p), TC_ACT_SHOT);
			assert_int_equal(fx_reason_pkts(fx,
							IDG_DROP_GEN_INCOMPLETE),
					 before + 1);
		}
		assert_int_equal(pkt_build_arp(&p, A_V4, EP_V4, 0, NULL), 0);
		expect_pass(fx, &p, IDG_PASS_ARP);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
		T(test_tcp_entry_on_syn_only),
		T(test_tcp_handshake_promotes),
		T(test_flood_cannot_evict_established),
		T(test_ct_hint_epochs),
		T(test_tcp_timeouts),
		T(test_udp_promoted_by_answer),
		T(test_unenforced_not_tracked),
		T(test_icmp_echo_direction),
		T(test_icmp_error_related),
		T(test_fragments_follow_first),
		T(test_ct_gc),
		T(test_unknown_ethertypes),
		T(test_incomplete_generation_fails_closed),
#undef T
	};

	/* --ingress-tc: the same tests against the tc ingress filter;
	 * --tc-copy: against tc's parse of a copy. */
	if (argc > 1 && fx_hook_flag(argv[1])) {
		argc--;
		argv++;
	}
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name(!fx_ingress_tc ? "conntrack" :
					   fx_tc_copy     ? "conntrack-tc-copy" :
							    "conntrack-tc-ingress",
					   tests, NULL, NULL);
}
