// SPDX-License-Identifier: GPL-2.0
/*
 * connrate: new TCP connection cost. The server accepts and closes; the
 * client connects in a loop for a fixed time and reports connections per
 * second and the connect() latency (SYN out to connect() returning).
 *
 * The client closes with SO_LINGER 0, so each connection ends in a RST and
 * leaves no TIME_WAIT behind, and it binds each socket to the next source
 * port of a range itself: a port comes free again as soon as its RST is
 * out, so the range is never exhausted, and connect() skips the kernel's
 * ephemeral port search.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define NSEC BENCH_NSEC
#define MAX_DURATION 600.0
#define MAX_CONCURRENCY 4096
#define MAX_TIMEOUT_MS 4000	/* latencies are kept as 32-bit ns */
#define LISTEN_BACKLOG 4096


struct client_cfg {
	struct sockaddr_in dst;
	struct in_addr src;	/* INADDR_ANY unless --bind */
	uint16_t sport_lo, sport_hi;
	double duration;
	unsigned int concurrency;
	unsigned int timeout_ms;
};

struct lat_vec {
	uint32_t *ns;
	size_t n, cap;
};

struct client {
	struct client_cfg cfg;
	struct lat_vec lat;
	uint32_t next_port;	/* offset into the source port range */
	uint64_t failed;
	int first_err;		/* errno of the first failed connect */
};

/* One connection in flight in the epoll client. */
struct slot {
	int fd;
	uint64_t t0;
};


/* ---- arguments ---- */

static int parse_ulong(const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	uint64_t v;
	int err = bench_parse_u64(s, min, max, &v);

	if (!err)
		*out = (unsigned long)v;
	return err;
}

static int parse_addr_port(const char *s, struct sockaddr_in *sin)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	unsigned long port;
	size_t len;

	if (!colon)
		return -EINVAL;
	len = (size_t)(colon - s);
	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 ||
	    parse_ulong(colon + 1, 1, 65535, &port))
		return -EINVAL;
	sin->sin_port = htons((uint16_t)port);
	return 0;
}

static int parse_duration(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(*out) || *out <= 0 ||
	    *out > MAX_DURATION)
		return -EINVAL;
	return 0;
}

static int parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	char buf[16], *dash;
	unsigned long a, b;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (!dash)
		return -EINVAL;
	*dash = '\0';
	if (parse_ulong(buf, 1, 65535, &a) || parse_ulong(dash + 1, 1, 65535, &b) ||
	    a > b)
		return -EINVAL;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: connrate server --bind ADDR:PORT\n"
		"       connrate client --connect ADDR:PORT [--bind SRC_ADDR] [--duration S]\n"
		"                       [--concurrency C] [--timeout-ms MS] [--sport-range LO-HI]\n"
		"\n"
		"server: accepts TCP connections and closes them at once; prints 'ready' when\n"
		"  listening and runs until SIGINT/SIGTERM.\n"
		"client: opens connections one after another for S seconds (default 5), C at a\n"
		"  time (default 1: blocking connect; more: non-blocking with epoll), closes each\n"
		"  with a RST (SO_LINGER 0) and binds it to the next port of LO-HI (default\n"
		"  1024-65535). A connect not done within MS ms (default 1000, at most %d)\n"
		"  counts as failed. Prints one line\n"
		"    RESULT conns=N seconds=F conn_per_s=F p50_us=F p99_us=F failed=N\n"
		"  where the latency is from the connect() call (SYN out) to its completion.\n"
		"  Exit status: 0 all connected, 1 a connect failed or none completed,\n"
		"  2 bad arguments.\n"
		"\n"
		"Example (two namespaces joined by a veth, 10.0.0.1 <-> 10.0.0.2):\n"
		"  ip netns exec srv connrate server --bind 10.0.0.2:7000 &\n"
		"  ip netns exec cli connrate client --connect 10.0.0.2:7000 --bind 10.0.0.1 \\\n"
		"      --duration 3 --concurrency 4\n",
		MAX_TIMEOUT_MS);
}

static int client_opt(struct client_cfg *c, const char *name, const char *val,
		      unsigned int *seen)
{
	unsigned long v;

	if (!strcmp(name, "--connect")) {
		*seen |= 1;
		return parse_addr_port(val, &c->dst);
	}
	if (!strcmp(name, "--bind"))
		return inet_pton(AF_INET, val, &c->src) == 1 ? 0 : -EINVAL;
	if (!strcmp(name, "--duration"))
		return parse_duration(val, &c->duration);
	if (!strcmp(name, "--sport-range"))
		return parse_port_range(val, &c->sport_lo, &c->sport_hi);
	if (!strcmp(name, "--concurrency") || !strcmp(name, "--timeout-ms")) {
		bool conc = name[2] == 'c';

		if (parse_ulong(val, 1, conc ? MAX_CONCURRENCY : MAX_TIMEOUT_MS, &v))
			return -EINVAL;
		*(conc ? &c->concurrency : &c->timeout_ms) = (unsigned int)v;
		return 0;
	}
	return -ENOENT;
}

static int parse_client(int argc, char **argv, struct client_cfg *c)
{
	unsigned int seen = 0;
	int i, ret;

	memset(c, 0, sizeof(*c));
	c->src.s_addr = htonl(INADDR_ANY);
	c->sport_lo = 1024;
	c->sport_hi = 65535;
	c->duration = 5;
	c->concurrency = 1;
	c->timeout_ms = 1000;
	for (i = 2; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "connrate: %s needs a value; see --help\n", argv[i]);
			return -EINVAL;
		}
		ret = client_opt(c, argv[i], argv[i + 1], &seen);
		if (ret) {
			fprintf(stderr, ret == -ENOENT ? "connrate: unknown option %s; see --help\n"
				: "connrate: bad value for %s: '%s'; see --help\n",
				argv[i], argv[i + 1]);
			return -EINVAL;
		}
	}
	if (!seen) {
		fprintf(stderr, "connrate: client needs --connect ADDR:PORT; see --help\n");
		return -EINVAL;
	}
	return 0;
}

static int parse_server(int argc, char **argv, struct sockaddr_in *bind_addr)
{
	if (argc != 4 || strcmp(argv[2], "--bind")) {
		fprintf(stderr, "connrate: server takes exactly --bind ADDR:PORT; see --help\n");
		return -EINVAL;
	}
	if (parse_addr_port(argv[3], bind_addr)) {
		fprintf(stderr, "connrate: bad value for --bind: '%s' (want IPv4:PORT)\n", argv[3]);
		return -EINVAL;
	}
	return 0;
}

/* ---- server ---- */

static int listen_on(const struct sockaddr_in *addr, int *out)
{
	int fd, one = 1, ret = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) ||
	    listen(fd, LISTEN_BACKLOG)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

static int serve(int lfd, uint64_t *accepted)
{
	int fd;

	while (!bench_stop) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			++*accepted;
			continue;
		}
		/* Aborted handshakes and signals are part of the job. */
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		return -errno;
	}
	return 0;
}

static int run_server(const struct sockaddr_in *addr)
{
	uint64_t accepted = 0;
	int lfd = -1, ret;

	ret = listen_on(addr, &lfd);
	if (ret) {
		fprintf(stderr, "connrate: listen: %s\n", strerror(-ret));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	ret = serve(lfd, &accepted);
	close(lfd);
	fprintf(stderr, "connrate: server accepted %" PRIu64 " connections\n", accepted);
	if (ret) {
		fprintf(stderr, "connrate: accept: %s\n", strerror(-ret));
		return 1;
	}
	return 0;
}

/* ---- client ---- */

static int lat_push(struct lat_vec *l, uint64_t ns)
{
	uint32_t *p;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 65536;
		p = realloc(l->ns, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->ns = p;
		l->cap = cap;
	}
	l->ns[l->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank on the sorted samples, in microseconds. */
static double percentile_us(const struct lat_vec *l, double p)
{
	size_t rank = (size_t)ceil(p * (double)l->n);

	if (rank < 1)
		rank = 1;
	return l->ns[rank - 1] / 1000.0;
}

static void note_failure(struct client *c, int err)
{
	if (!c->failed++)
		c->first_err = err;
}

/* Binds fd to the next free source port of the range. */
static int bind_next_port(struct client *c, int fd)
{
	uint32_t span = (uint32_t)(c->cfg.sport_hi - c->cfg.sport_lo) + 1, tries;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr = c->cfg.src;
	for (tries = 0; tries < span; tries++) {
		sin.sin_port = htons((uint16_t)(c->cfg.sport_lo + c->next_port));
		c->next_port = (c->next_port + 1) % span;
		/* To a local closed port, that would be a TCP self-connect. */
		if (sin.sin_port == c->cfg.dst.sin_port)
			continue;
		if (!bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
			return 0;
		if (errno != EADDRINUSE)
			return -errno;
	}
	return -EADDRINUSE;
}

static int new_socket(struct client *c, bool nonblock, int *out)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct timeval tv = {
		.tv_sec = c->cfg.timeout_ms / 1000,
		.tv_usec = (c->cfg.timeout_ms % 1000) * 1000,
	};
	int fd, ret;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	/* SO_SNDTIMEO bounds a blocking connect(). */
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ||
	    (!nonblock && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))) {
		ret = -errno;
		goto out_close;
	}
	ret = bind_next_port(c, fd);
	if (ret)
		goto out_close;
	*out = fd;
	return 0;
out_close:
	close(fd);
	return ret;
}

/* Records one finished attempt; only local trouble is an error. */
static int record(struct client *c, int err, uint64_t ns)
{
	if (err) {
		note_failure(c, err);
		return 0;
	}
	return lat_push(&c->lat, ns);
}

static int connect_blocking(struct client *c)
{
	uint64_t t0, dt;
	int fd, ret, err = 0;

	ret = new_socket(c, false, &fd);
	if (ret)
		return ret;
	t0 = bench_now_ns();
	/* EINPROGRESS here means SO_SNDTIMEO ran out. */
	if (connect(fd, (struct sockaddr *)&c->cfg.dst, sizeof(c->cfg.dst)))
		err = errno == EINPROGRESS ? ETIMEDOUT : errno;
	dt = bench_now_ns() - t0;
	close(fd);
	/* A signal is the user stopping us, not a failed connection. */
	if (err == EINTR && bench_stop)
		return 0;
	return record(c, err, dt);
}

static int loop_blocking(struct client *c, uint64_t end)
{
	int ret;

	while (!bench_stop && bench_now_ns() < end) {
		ret = connect_blocking(c);
		if (ret)
			return ret;
	}
	return 0;
}

static int slot_start(struct client *c, int epfd, struct slot *s, uint32_t idx)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = idx };
	int ret;

	ret = new_socket(c, true, &s->fd);
	if (ret)
		return ret;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev)) {
		ret = -errno;
		close(s->fd);
		s->fd = -1;
		return ret;
	}
	s->t0 = bench_now_ns();
	if (connect(s->fd, (struct sockaddr *)&c->cfg.dst, sizeof(c->cfg.dst)) &&
	    errno != EINPROGRESS) {
		ret = errno;
		close(s->fd);
		s->fd = -1;
		note_failure(c, ret);
	}
	/* An immediate success still reports EPOLLOUT. */
	return 0;
}

static int slot_finish(struct client *c, struct slot *s, uint64_t now, int err)
{
	socklen_t len = sizeof(err);

	if (!err && getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	close(s->fd);
	s->fd = -1;
	return record(c, err, now - s->t0);
}

static int expire_slots(struct client *c, struct slot *slots, uint64_t now)
{
	uint64_t limit = (uint64_t)c->cfg.timeout_ms * 1000000ull;
	unsigned int i;
	int ret;

	for (i = 0; i < c->cfg.concurrency; i++) {
		if (slots[i].fd < 0 || now - slots[i].t0 < limit)
			continue;
		ret = slot_finish(c, &slots[i], now, ETIMEDOUT);
		if (ret)
			return ret;
	}
	return 0;
}

static int refill_slots(struct client *c, int epfd, struct slot *slots)
{
	unsigned int i;
	int ret;

	for (i = 0; i < c->cfg.concurrency; i++) {
		if (slots[i].fd >= 0)
			continue;
		ret = slot_start(c, epfd, &slots[i], i);
		if (ret)
			return ret;
	}
	return 0;
}

static int wait_slots(struct client *c, int epfd, struct slot *slots)
{
	struct epoll_event ev[64];
	uint64_t now;
	int n, i, ret;

	/* 10 ms keeps the deadline and the timeouts checked. */
	n = epoll_wait(epfd, ev, 64, 10);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	now = bench_now_ns();
	for (i = 0; i < n; i++) {
		ret = slot_finish(c, &slots[ev[i].data.u32], now, 0);
		if (ret)
			return ret;
	}
	return expire_slots(c, slots, now);
}

static void close_slots(struct slot *slots, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (slots[i].fd >= 0)
			close(slots[i].fd);
}

/* Connections still in flight at the end are neither counted nor failed. */
static int loop_epoll(struct client *c, uint64_t end)
{
	struct slot *slots;
	unsigned int i;
	int epfd, ret = 0;

	slots = calloc(c->cfg.concurrency, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < c->cfg.concurrency; i++)
		slots[i].fd = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		ret = -errno;
		goto out_free;
	}
	while (!ret && !bench_stop && bench_now_ns() < end) {
		ret = refill_slots(c, epfd, slots);
		if (!ret)
			ret = wait_slots(c, epfd, slots);
	}
	close_slots(slots, c->cfg.concurrency);
	close(epfd);
out_free:
	free(slots);
	return ret;
}

static void print_client_result(struct client *c, double seconds)
{
	struct lat_vec *l = &c->lat;

	qsort(l->ns, l->n, sizeof(l->ns[0]), cmp_u32);
	if (c->failed)
		fprintf(stderr, "connrate: %" PRIu64 " connects failed, the first with: %s\n",
			c->failed, strerror(c->first_err));
	if (!l->n) {
		fprintf(stderr, "connrate: no connection completed\n");
		printf("RESULT conns=0 seconds=%.6f conn_per_s=0 p50_us=nan p99_us=nan "
		       "failed=%" PRIu64 "\n", seconds, c->failed);
		return;
	}
	printf("RESULT conns=%zu seconds=%.6f conn_per_s=%.1f p50_us=%.1f p99_us=%.1f "
	       "failed=%" PRIu64 "\n",
	       l->n, seconds, (double)l->n / seconds, percentile_us(l, 0.50),
	       percentile_us(l, 0.99), c->failed);
}

static int run_client(const struct client_cfg *cfg)
{
	struct client c;
	uint64_t start, end;
	int ret;

	memset(&c, 0, sizeof(c));
	c.cfg = *cfg;
	start = bench_now_ns();
	end = start + (uint64_t)(cfg->duration * NSEC);
	ret = cfg->concurrency > 1 ? loop_epoll(&c, end) : loop_blocking(&c, end);
	if (ret == -EADDRINUSE) {
		fprintf(stderr, "connrate: no free source port in %u-%u\n", cfg->sport_lo,
			cfg->sport_hi);
		goto out;
	}
	if (ret) {
		fprintf(stderr, "connrate: client: %s\n", strerror(-ret));
		goto out;
	}
	if (bench_stop)
		fprintf(stderr, "connrate: stopped by a signal\n");
	print_client_result(&c, (double)(bench_now_ns() - start) / NSEC);
	fflush(stdout);
	if (c.failed || !c.lat.n)
		ret = -EIO;
out:
	free(c.lat.ns);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in bind_addr;
	struct client_cfg cfg;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	}
	if (bench_stop_on_signals()) {
		perror("connrate: sigaction");
		return 1;
	}
	/* A server peer that closed first must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "server")) {
		if (parse_server(argc, argv, &bind_addr))
			return 2;
		return run_server(&bind_addr);
	}
	if (argc >= 2 && !strcmp(argv[1], "client")) {
		if (parse_client(argc, argv, &cfg))
			return 2;
		return run_client(&cfg);
	}
	usage(stderr);
	return 2;
}
