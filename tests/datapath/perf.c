// SPDX-License-Identifier: GPL-2.0
/*
 * Perf mode of the datapath runner: per-packet cost from
 * BPF_PROG_TEST_RUN with `repeat`, median of several rounds. Printed,
 * never asserted: the machine is shared and noisy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include "harness.h"
#include "perf.h"
#include "empty_xdp.skel.h"

#define EP "10.1.0.10"

struct perf_opts {
	uint32_t repeat;
	int rounds;
	FILE *records; /* --records: one bench record per round, or NULL */
	uint32_t rules[8]; /* --rules: the rule counts of the records mode */
	int n_rules;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Median ns/packet over rounds; the spread goes to *lo / *hi. With
 * --records each round is also written as a bench/report.py record of
 * bench "progcost" (variant, n: rules or -1 for none).
 */
static double measure_rec(int prog_fd, const struct pkt *p, uint32_t expect,
			  const struct perf_opts *o, double *lo, double *hi,
			  const char *variant, long n_rules)
{
	double ns[64];
	int n = o->rounds < 64 ? o->rounds : 64;

	for (int i = 0; i < n; i++) {
		uint32_t ret;

		if (fx_run_prog_repeat(prog_fd, p, o->repeat, &ret, &ns[i]) ||
		    ret != expect) {
			fprintf(stderr, "perf: unexpected verdict %u\n", ret);
			exit(1);
		}
		if (o->records && variant) {
			char n_txt[24] = "null";

			if (n_rules >= 0)
				snprintf(n_txt, sizeof(n_txt), "%ld", n_rules);
			fprintf(o->records,
				"{\"bench\": \"progcost\", \"variant\": \"%s\", \"n\": %s, \"run\": %d, \"metric\": \"ns_per_pkt\", \"value\": %.1f, \"unit\": \"ns\"}\n",
				variant, n_txt, i + 1, ns[i]);
		}
	}
	qsort(ns, (size_t)n, sizeof(ns[0]), cmp_double);
	*lo = ns[0];
	*hi = ns[n - 1];
	return ns[n / 2];
}

static double measure(int prog_fd, const struct pkt *p, uint32_t expect,
		      const struct perf_opts *o, double *lo, double *hi)
{
	return measure_rec(prog_fd, p, expect, o, lo, hi, NULL, -1);
}

static void row(const char *what, double med, double lo, double hi)
{
	printf("| %-56s | %8.1f | %8.1f – %-8.1f |\n", what, med, lo, hi);
}

static struct pkt perf_pkt_proto(const char *src, uint8_t proto,
				 uint16_t dport)
{
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = AF_INET, .src = src,
					 .dst = EP, .proto = proto,
					 .sport = 40000, .dport = dport });
	return p;
}

static struct pkt perf_pkt(const char *src, uint16_t dport)
{
	return perf_pkt_proto(src, IPPROTO_TCP, dport);
}

/* SYN in, SYN-ACK out, ACK in: every one must pass. */
static void handshake(struct fx *fx, const char *src, uint16_t dport)
{
	struct pkt p;
	uint32_t ret;
	double ns;

	p = fx_seg(src, EP, 40000, dport, PKT_TCP_SYN, 1000, 0);
	if (fx_run_prog_repeat(fx->dp.xdp_prog_fd, &p, 1, &ret, &ns) ||
	    ret != XDP_PASS)
		goto fail;
	p = fx_seg(EP, src, dport, 40000, PKT_TCP_SYN | PKT_TCP_ACK, 5000,
		   1001);
	if (fx_run_tc(fx, &p) != TC_ACT_OK)
		goto fail;
	p = fx_seg(src, EP, 40000, dport, PKT_TCP_ACK, 1001, 5001);
	if (fx_run_prog_repeat(fx->dp.xdp_prog_fd, &p, 1, &ret, &ns) ||
	    ret != XDP_PASS)
		goto fail;
	if (fx_misc(fx, IDG_MISC_CT_PROMOTED) != 1)
		goto fail;
	return;
fail:
	fprintf(stderr, "perf: the handshake from %s did not pass\n", src);
	exit(1);
}

static void ipcache_fill(struct fx *fx, uint32_t n, uint32_t n_ids)
{
	char addr[32];

	for (uint32_t i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "%u.%u.%u.%u", 100 + (i >> 24),
			 (i >> 16) & 255, (i >> 8) & 255, i & 255);
		fx_ipcache(fx, addr, IDG_ID_MAKE(1, 256 + i % n_ids));
	}
}

static void idgate_case(const struct perf_opts *o, uint32_t n_rules,
			uint32_t n_ipcache)
{
	struct fx *fx;
	struct pkt p;
	double med, lo, hi;
	char what[96];
	struct timespec t0, t1;

	fx_setup((void **)&fx);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fx->gen.cfg.drop_event_interval_ns = 3600ull * 1000000000ull;
	/* The event budget every applied config has (apply.c). */
	fx->gen.cfg.events_per_s_cpu = IDG_EV_BUDGET_DEFAULT;
	fx_endpoint(fx, EP, IDG_ID_MAKE(1, 100), IDG_EP_F_ENFORCE_INGRESS |
						       IDG_EP_F_ENFORCE_EGRESS);
	ipcache_fill(fx, n_ipcache, n_rules);
	for (uint32_t j = 0; j < n_rules; j++) {
		struct idg_rule_entry r = {
			.subject = IDG_ID_MAKE(1, 100),
			.peer = IDG_ID_MAKE(1, 256 + j),
			.dir = IDG_DIR_INGRESS,
			.kind = IDG_RULE_ALLOW,
			.proto = IPPROTO_TCP,
			.port = (uint16_t)(1024 + j % 60000),
			.icmp_type = -1,
			.cookie = 1 + j % (IDG_RULES_MAX - 1),
		};

		fx_rule(fx, &r);
	}
	fx_commit(fx);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "# built %u rules, %u ipcache entries in %.2f s\n",
		n_rules, n_ipcache,
		(double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	/* Source 100.0.0.5 has identity 256 + 5: rule 5, port 1029. An
	 * established flow: the handshake through the programs moves its
	 * entry to the table of established flows, where a data segment
	 * finds it in one lookup (a repeated SYN would be looked up in both
	 * tables). */
	handshake(fx, "100.0.0.5", 1029);
	p = fx_seg("100.0.0.5", EP, 40000, 1029, PKT_TCP_ACK, 1001, 5001);
	med = measure_rec(fx->dp.xdp_prog_fd, &p, XDP_PASS, o, &lo, &hi,
			  "idgate-testrun-established", n_rules);
	snprintf(what, sizeof(what), "idgate, %u rules, %u ipcache: established",
		 n_rules, n_ipcache);
	row(what, med, lo, hi);

	p = perf_pkt("100.0.0.5", 1030);
	med = measure_rec(fx->dp.xdp_prog_fd, &p, XDP_DROP, o, &lo, &hi,
			  "idgate-testrun-denied", n_rules);
	snprintf(what, sizeof(what), "idgate, %u rules, %u ipcache: new, denied",
		 n_rules, n_ipcache);
	row(what, med, lo, hi);

	/* A source outside the ipcache: world, no rules at all. */
	p = perf_pkt("198.51.100.7", 1030);
	med = measure(fx->dp.xdp_prog_fd, &p, XDP_DROP, o, &lo, &hi);
	snprintf(what, sizeof(what), "idgate, %u rules, %u ipcache: new, world, denied",
		 n_rules, n_ipcache);
	row(what, med, lo, hi);

	/* UDP, which no rule of the endpoint covers: denied before the
	 * ipcache, a flood's path (bench/earlydrop.sh). */
	p = perf_pkt_proto("100.0.0.6", IPPROTO_UDP, 1030);
	med = measure(fx->dp.xdp_prog_fd, &p, XDP_DROP, o, &lo, &hi);
	snprintf(what, sizeof(what), "idgate, %u rules, %u ipcache: new, UDP, denied",
		 n_rules, n_ipcache);
	row(what, med, lo, hi);
	fx_teardown((void **)&fx);
}

int dp_perf_main(int argc, char **argv)
{
	struct perf_opts o = { .repeat = 1000000, .rounds = 7 };
	struct empty_xdp *empty;
	struct pkt p;
	double med, lo, hi;

	const char *records = NULL;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			o.repeat = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			o.rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--records") && i + 1 < argc)
			records = argv[++i];
		else if (!strcmp(argv[i], "--rules") && i + 1 < argc &&
			 o.n_rules < 8) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);

			if (*end || !v || v > 100000) {
				fprintf(stderr, "perf: --rules wants 1..100000, not '%s'\n",
					argv[i]);
				return 2;
			}
			o.rules[o.n_rules++] = (uint32_t)v;
		} else {
			fprintf(stderr,
				"usage: test_datapath --perf [--repeat N] [--rounds N] [--records FILE --rules N [--rules N...]]\n"
				"  --records: append bench/report.py records (bench progcost) for the\n"
				"  empty program and idgate with each --rules count over 5000 endpoints\n");
			return 2;
		}
	}
	if (!o.repeat || o.rounds < 1 || o.rounds > 64) {
		fprintf(stderr, "perf: --repeat must be positive, --rounds 1..64\n");
		return 2;
	}
	if (!records != !o.n_rules) {
		fprintf(stderr, "perf: --records and --rules go together\n");
		return 2;
	}
	if (records) {
		o.records = fopen(records, "a");
		if (!o.records) {
			perror(records);
			return 1;
		}
	}

	printf("BPF_PROG_TEST_RUN, %u packets per round, median of %d rounds (ns/packet)\n\n",
	       o.repeat, o.rounds);
	printf("| %-56s | %8s | %-19s |\n", "program", "median", "min – max");
	printf("|%s|%s|%s|\n", "----------------------------------------------------------",
	       "----------", "---------------------");

	empty = empty_xdp__open_and_load();
	if (!empty) {
		fprintf(stderr, "perf: cannot load the empty XDP program\n");
		return 1;
	}
	p = perf_pkt("100.0.0.5", 1029);
	med = measure_rec(bpf_program__fd(empty->progs.idgate_xdp_empty), &p,
			  XDP_PASS, &o, &lo, &hi, "empty-testrun", -1);
	row("empty XDP program (baseline)", med, lo, hi);
	empty_xdp__destroy(empty);

	if (o.records) {
		/* The benchmark's shape: 5000 endpoint addresses. */
		for (int i = 0; i < o.n_rules; i++)
			idgate_case(&o, o.rules[i], 5000);
		if (fclose(o.records)) {
			perror(records);
			rc = 1;
		}
		return rc;
	}
	/* Rules vary at a fixed ipcache size, then the ipcache grows: the
	 * two effects are reported apart. */
	idgate_case(&o, 10, 10000);
	idgate_case(&o, 10000, 10000);
	idgate_case(&o, 10000, 1000000);
	return 0;
}
