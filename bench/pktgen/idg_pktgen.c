// SPDX-License-Identifier: GPL-2.0
/*
 * idg-pktgen: a DPDK traffic generator for the idgate benchmarks. It sends
 * through one port, normally net_af_packet on a veth in a network namespace,
 * from many source addresses so that packets map to many identities, and
 * prints one RESULT line counting only what the port accepted.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "bench_util.h"
#include "pg_args.h"
#include "pg_pkt.h"

#define BURST 32
#define POOL_SIZE 4095
#define POOL_CACHE 256
#define NB_RXD 512
#define NB_TXD 1024
#define NSEC BENCH_NSEC
/* Below this gap to the next paced packet we spin; above it we sleep. */
#define SPIN_NS 100000ull
/* af_packet takes frames into its ring even when the link cannot send them,
 * then refuses more; a port that refuses everything this long has stalled. */
#define STALL_NS NSEC


struct gen {
	struct pg_args a;
	struct pg_tmpl tmpl;
	struct rte_mempool *pool;
	uint16_t port;
	bool have_port, port_started;
	/* Where the two flows are in their source address / port cycles. */
	uint32_t src_idx, sport_idx, allowed_sport_idx;
	uint32_t mix_acc;
	uint64_t seq;
	struct rte_mbuf *pending[BURST];
	unsigned int npending;
	uint64_t sent;
	uint64_t refused_since;	/* first refused burst since one went out, or 0 */
	bool stalled;
};


/* Index of "--" in argv, or argc when there is none. */
static int find_dashdash(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--"))
			return i;
	return argc;
}

/* Ours wins over the EAL's, on either side of "--". */
static bool wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int parse_app_args(int argc, char **argv, int dd, struct pg_args *a)
{
	char err[256];
	char **app_argv = argv + dd;	/* app_argv[0] stands in for the name */
	int app_argc = argc - dd;

	if (dd == argc) {
		fprintf(stderr, "idg-pktgen: application options go after '--'; see --help\n");
		return -EINVAL;
	}
	if (pg_args_parse(app_argc, app_argv, a, err, sizeof(err))) {
		fprintf(stderr, "idg-pktgen: %s; see --help\n", err);
		return -EINVAL;
	}
	return 0;
}

static int pick_port(uint16_t *port)
{
	uint16_t id, n = rte_eth_dev_count_avail();

	if (n == 0)
		return -ENODEV;
	RTE_ETH_FOREACH_DEV(id) {
		*port = id;
		break;
	}
	if (n > 1)
		printf("idg-pktgen: %u ports, sending on port %u\n", n, *port);
	return 0;
}

static int setup_queues(struct gen *g)
{
	struct rte_eth_conf conf;
	uint16_t nb_rxd = NB_RXD, nb_txd = NB_TXD;
	int socket = rte_eth_dev_socket_id(g->port), ret;

	if (socket < 0)
		socket = (int)rte_socket_id();
	memset(&conf, 0, sizeof(conf));
	/* One rx queue too: af_packet and af_xdp pair them with tx. */
	ret = rte_eth_dev_configure(g->port, 1, 1, &conf);
	if (!ret)
		ret = rte_eth_dev_adjust_nb_rx_tx_desc(g->port, &nb_rxd, &nb_txd);
	if (!ret)
		ret = rte_eth_rx_queue_setup(g->port, 0, nb_rxd, (unsigned int)socket,
					     NULL, g->pool);
	if (!ret)
		ret = rte_eth_tx_queue_setup(g->port, 0, nb_txd, (unsigned int)socket,
					     NULL);
	return ret < 0 ? ret : 0;
}

static int port_init(struct gen *g)
{
	struct rte_ether_addr mac;
	int ret;

	ret = pick_port(&g->port);
	if (ret) {
		fprintf(stderr, "idg-pktgen: no port; pass e.g. --vdev=net_af_packet0,iface=IFACE\n");
		return ret;
	}
	g->have_port = true;
	g->pool = rte_pktmbuf_pool_create("idg_pg_pool", POOL_SIZE, POOL_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!g->pool) {
		ret = -rte_errno;
		fprintf(stderr, "idg-pktgen: mbuf pool: %s (too little memory? try -m 256)\n",
			rte_strerror(rte_errno));
		return ret;
	}
	ret = setup_queues(g);
	if (!ret)
		ret = rte_eth_dev_start(g->port);
	if (ret) {
		fprintf(stderr, "idg-pktgen: port %u setup: %s\n", g->port, strerror(-ret));
		return ret;
	}
	g->port_started = true;
	if (!g->a.have_src_mac) {
		ret = rte_eth_macaddr_get(g->port, &mac);
		if (ret) {
			fprintf(stderr, "idg-pktgen: port MAC: %s; pass --src-mac\n", strerror(-ret));
			return ret;
		}
		memcpy(g->a.flow.src_mac, mac.addr_bytes, 6);
	}
	return 0;
}

static void port_fini(struct gen *g)
{
	unsigned int i;

	for (i = 0; i < g->npending; i++)
		rte_pktmbuf_free(g->pending[i]);
	g->npending = 0;
	if (g->port_started)
		rte_eth_dev_stop(g->port);
	if (g->have_port)
		rte_eth_dev_close(g->port);
	rte_mempool_free(g->pool);
}

/* The allowed flow takes allowed-pct of every 100 packets, spread evenly. */
static bool next_is_allowed(struct gen *g)
{
	g->mix_acc += g->a.allowed_pct;
	if (g->mix_acc < 100)
		return false;
	g->mix_acc -= 100;
	return true;
}

static uint16_t next_sport(const struct pg_args *a, uint32_t *idx)
{
	uint16_t p = (uint16_t)(a->sport_lo + *idx);

	if (++*idx > (uint32_t)(a->sport_hi - a->sport_lo))
		*idx = 0;
	return p;
}

static void next_flow(struct gen *g, struct pg_flow *f)
{
	const struct pg_args *a = &g->a;

	if (next_is_allowed(g)) {
		f->src = a->allowed_src;
		f->dport = a->allowed_dport;
		f->sport = next_sport(a, &g->allowed_sport_idx);
		return;
	}
	f->src = a->src_base + g->src_idx;
	f->dport = a->dport;
	/* Every source first, then the next source port. */
	if (++g->src_idx < a->src_count) {
		f->sport = (uint16_t)(a->sport_lo + g->sport_idx);
		return;
	}
	g->src_idx = 0;
	f->sport = next_sport(a, &g->sport_idx);
}

/* Tops the pending burst up to want packets; fewer if the pool runs dry. */
static void fill_pending(struct gen *g, unsigned int want)
{
	struct rte_mbuf **m = g->pending + g->npending;
	unsigned int i, n = want - g->npending;
	struct pg_flow f;

	if (want <= g->npending || rte_pktmbuf_alloc_bulk(g->pool, m, n))
		return;
	for (i = 0; i < n; i++) {
		next_flow(g, &f);
		m[i]->data_len = g->tmpl.frame_len;
		m[i]->pkt_len = g->tmpl.frame_len;
		pg_build(&g->tmpl, rte_pktmbuf_mtod(m[i], uint8_t *), &f, g->seq++);
	}
	g->npending = want;
}

static void send_pending(struct gen *g, unsigned int n, uint64_t now)
{
	uint16_t k;

	if (n > g->npending)
		n = g->npending;
	if (!n)
		return;
	k = rte_eth_tx_burst(g->port, 0, g->pending, (uint16_t)n);
	if (k)
		g->refused_since = 0;
	else if (!g->refused_since)
		g->refused_since = now;
	else if (now - g->refused_since > STALL_NS)
		g->stalled = true;
	g->sent += k;
	/* The port keeps what it accepted; the rest goes first next time. */
	memmove(g->pending, g->pending + k, (g->npending - k) * sizeof(g->pending[0]));
	g->npending -= k;
}

/*
 * Packets the rate allows now (packet i is due at start + i / rate, the
 * first at once); sleeps when the next one is far off.
 */
static unsigned int paced_budget(const struct gen *g, uint64_t start, uint64_t end,
				 uint64_t now)
{
	unsigned __int128 due = (unsigned __int128)(now - start) * g->a.rate / NSEC + 1;
	uint64_t next;
	struct timespec ts;

	if (due > g->sent)
		return due - g->sent > BURST ? BURST : (unsigned int)(due - g->sent);
	next = start + (uint64_t)((unsigned __int128)g->sent * NSEC / g->a.rate);
	if (next > end)
		next = end;
	if (next > now + SPIN_NS) {
		next -= SPIN_NS / 2;
		ts.tv_sec = (time_t)(next / NSEC);
		ts.tv_nsec = (long)(next % NSEC);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	return 0;
}

static double send_loop(struct gen *g)
{
	uint64_t start = bench_now_ns(), end = start + (uint64_t)(g->a.duration * NSEC);
	uint64_t now = start;
	unsigned int want;

	while (!bench_stop && !g->stalled && now < end) {
		want = g->a.rate ? paced_budget(g, start, end, now) : BURST;
		if (want) {
			fill_pending(g, want);
			send_pending(g, want, now);
		}
		now = bench_now_ns();
	}
	return (double)(now - start) / NSEC;
}

static void print_start(const struct gen *g)
{
	const struct pg_args *a = &g->a;
	const uint8_t *m = a->flow.src_mac;
	char rate[32];

	if (a->rate)
		snprintf(rate, sizeof(rate), "%" PRIu64 " pps", a->rate);
	else
		snprintf(rate, sizeof(rate), "max rate");
	printf("idg-pktgen: port %u src-mac %02x:%02x:%02x:%02x:%02x:%02x, %s %u-byte frames "
	       "from %u sources, %u%% allowed, %s for %.3f s\n",
	       g->port, m[0], m[1], m[2], m[3], m[4], m[5],
	       a->flow.proto == PG_SYN ? "TCP SYN" : "UDP", a->flow.frame_len,
	       a->src_count, a->allowed_pct, rate, a->duration);
	fflush(stdout);
}

/* A count the port's own counters contradict is no result. */
static int check_outcome(const struct gen *g)
{
	struct rte_eth_stats st;
	int ret;

	ret = rte_eth_stats_get(g->port, &st);
	if (ret) {
		fprintf(stderr, "idg-pktgen: port counters: %s\n", strerror(-ret));
		return ret;
	}
	printf("idg-pktgen: accepted=%" PRIu64 " port opackets=%" PRIu64 " oerrors=%" PRIu64 "\n",
	       g->sent, st.opackets, st.oerrors);
	if (g->stalled) {
		fprintf(stderr, "idg-pktgen: the port stopped taking packets (link or peer down?)\n");
		return -EIO;
	}
	if (st.oerrors) {
		fprintf(stderr, "idg-pktgen: the port failed to send %" PRIu64
			" packets (link down, or frames over the PMD's framesz?)\n",
			st.oerrors);
		return -EIO;
	}
	if (!g->sent) {
		fprintf(stderr, "idg-pktgen: %s\n", bench_stop ?
			"stopped by a signal before any packet went out" :
			"the port accepted no packet");
		return -EIO;
	}
	return 0;
}

static void print_result(const struct gen *g, double seconds)
{
	if (bench_stop)
		printf("idg-pktgen: stopped by a signal\n");
	printf("RESULT sent=%" PRIu64 " seconds=%.6f pps=%.1f\n", g->sent, seconds,
	       (double)g->sent / seconds);
	fflush(stdout);
}

static int run(struct gen *g)
{
	double seconds;
	int ret;

	ret = port_init(g);
	if (ret)
		return ret;
	pg_tmpl_init(&g->tmpl, &g->a.flow);
	print_start(g);
	seconds = send_loop(g);
	ret = check_outcome(g);
	if (!ret)
		print_result(g, seconds);
	return ret;
}

/*
 * The EAL makes its runtime directory (/var/run/dpdk/PREFIX) even with
 * --no-shconf and leaves it behind. It is removed when nothing else is in
 * it, at exit: registered before rte_eal_init(), this runs after the
 * telemetry's own exit handler has unlinked its socket in there.
 */
static char eal_runtime_dir[PATH_MAX];

static void remove_runtime_dir(void)
{
	if (eal_runtime_dir[0])
		rmdir(eal_runtime_dir);
}

int main(int argc, char **argv)
{
	struct gen g;
	int dd = find_dashdash(argc, argv), ret;

	memset(&g, 0, sizeof(g));
	if (wants_help(argc, argv)) {
		pg_usage(argv[0]);
		return 0;
	}
	if (parse_app_args(argc, argv, dd, &g.a))
		return 2;
	if (bench_stop_on_signals()) {
		perror("idg-pktgen: sigaction");
		return 1;
	}
	atexit(remove_runtime_dir);
	/* The EAL sees only what comes before "--". */
	if (rte_eal_init(dd, argv) < 0) {
		fprintf(stderr, "idg-pktgen: EAL init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	snprintf(eal_runtime_dir, sizeof(eal_runtime_dir), "%s", rte_eal_get_runtime_dir());
	ret = run(&g);
	port_fini(&g);
	rte_eal_cleanup();
	return ret ? 1 : 0;
}
