/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Datapath test fixture: the real XDP and tc objects loaded with private
 * maps, one generation being built, packets run through
 * BPF_PROG_TEST_RUN, drop events collected from the ring buffer.
 */
#ifndef IDGATE_TESTS_HARNESS_H
#define IDGATE_TESTS_HARNESS_H

#include <stdint.h>
#include <idgate/datapath.h>

#include "dp.h"
#include "gen.h"
#include "pktgen.h"

#define FX_EVENTS_MAX 256

struct fx {
	struct idg_dp dp;
	struct idg_gen gen;
	struct ring_buffer *rb;
	struct idg_event events[FX_EVENTS_MAX]; /* drop events */
	int n_events;
	struct idg_event verdicts[FX_EVENTS_MAX]; /* policy verdict events */
	int n_verdicts;
	struct idg_event traces[FX_EVENTS_MAX]; /* per-packet trace events */
	int n_traces;
	uint64_t events_seen; /* all consumed, also past FX_EVENTS_MAX */
	uint16_t cluster_id;
	/* Where commits record each slot's content (NULL: every commit reads
	 * the idle slot back from the kernel); what the last one did. */
	const char *shadow_dir;
	struct idg_gen_commit_stats last;
};

/* cmocka-style setup/teardown: *state is a struct fx. */
int fx_setup(void **state);
int fx_teardown(void **state);

/* Start a new generation to fill (the previous one must be committed). */
void fx_gen_new(struct fx *fx);
/* "10.0.0.0/8", "fd00::1" (host prefix when no /len). */
void fx_ipcache(struct fx *fx, const char *cidr, uint32_t identity);
void fx_ipcache_cluster(struct fx *fx, const char *cidr, uint16_t cluster,
			uint32_t identity);
/* An endpoint hosted by node (tunnel IPv4 address; NULL: none). */
void fx_ipcache_tun(struct fx *fx, const char *cidr, uint16_t cluster,
		    uint32_t identity, const char *node);
/* ... with IDG_IPC_F_* flags (expired mesh data). */
void fx_ipcache_flags(struct fx *fx, const char *cidr, uint16_t cluster,
		      uint32_t identity, const char *node, uint32_t flags);
void fx_endpoint(struct fx *fx, const char *cidr, uint32_t identity,
		 uint32_t flags);
/* ... bound to a workload interface (the source check of tc_wl). */
void fx_endpoint_if(struct fx *fx, const char *cidr, uint32_t identity,
		    uint32_t flags, uint32_t ifindex);
void fx_rule(struct fx *fx, const struct idg_rule_entry *r);
uint32_t fx_commit(struct fx *fx);

/*
 * Run one frame; returns the program's return code. With fx_ingress_tc
 * set, fx_run_xdp() runs the tc ingress filter instead and maps its
 * verdict to XDP_PASS / XDP_DROP (anything else to -1000 - ret), so the
 * same tests judge both ingress hooks.
 */
extern int fx_ingress_tc;
/* With fx_tc_copy set too, both tc runs go to the programs that parse a
 * copy of the headers (idgate_tc_*_copy, which a frame with paged headers
 * reaches by a tail call): the same tests judge that parse. */
extern int fx_tc_copy;
/* Takes the hook flags the datapath tests share: --ingress-tc, and
 * --tc-copy (which implies it). 1 when a is one of them. */
int fx_hook_flag(const char *a);
/* "XDP", "tc" or "tc-copy": which programs judge ingress. */
const char *fx_hook_name(void);
#define FX_REFUSED (-2000) /* tc mode: test_run refused the frame */
int fx_run_xdp(struct fx *fx, const struct pkt *p);
int fx_run_tc(struct fx *fx, const struct pkt *p);
/* An IPv4 TCP segment with these flags and sequence numbers. */
struct pkt fx_seg(const char *src, const char *dst, uint16_t sport,
		  uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack);
/* The same, repeated; returns ns per run as measured by the kernel. */
int fx_run_prog_repeat(int prog_fd, const struct pkt *p, uint32_t repeat,
		       uint32_t *retval, double *ns_per_pkt);

/* Drain the ring buffer into fx->events (drops) and fx->verdicts (policy
 * verdicts); returns how many drop events were added. */
int fx_poll_events(struct fx *fx);

uint64_t fx_reason_pkts(struct fx *fx, uint32_t reason);
uint64_t fx_rule_pkts(struct fx *fx, uint32_t cookie);
uint64_t fx_misc(struct fx *fx, uint32_t idx);

/* Build a packet from a spec or fail the test. */
void fx_build(struct pkt *p, const struct pkt_spec *s);

#endif
