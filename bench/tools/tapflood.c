// SPDX-License-Identifier: GPL-2.0
/*
 * The early-drop rig's traffic source: writes prebuilt 64-byte UDP frames
 * into a tap from one pinned core. A frame written to a tap goes up the
 * kernel's receive path inside write(): a native XDP program runs on the
 * raw buffer before any skb exists, everything else (skb, netfilter, the
 * socket lookup) after. So this thread's CPU time per frame is the whole
 * per-frame cost of whatever filters the tap.
 *
 *   tapflood --dev tap0 --cpu 1 --seconds 3 --dst-mac 02:..:01 \
 *            --dst 10.0.0.2 --sources 5000 --ports 13
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include "bench_util.h"

#define FRAME_LEN 64
#define FLOOD_DPORT 9
#define SPORT_BASE 10000

struct opts {
	const char *dev;
	uint64_t cpu, seconds, sources, ports;
	uint8_t dst_mac[6];
	struct in_addr dst, src_base;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tapflood --dev TAP --cpu N --seconds S --dst-mac MAC --dst ADDR\n"
		"                [--src-base ADDR] [--sources N] [--ports N]\n"
		"Writes 64-byte UDP frames to port 9 into the persistent tap TAP from\n"
		"CPU N for S seconds: --sources addresses from --src-base (10.1.0.1)\n"
		"up, times --ports source ports each (1 and 1: a single flow).\n"
		"Prints: RESULT frames=F seconds=S cpu_ns=C ns_per_frame=X errors=E\n"
		"example: tapflood --dev tap0 --cpu 1 --seconds 3 \\\n"
		"           --dst-mac 02:00:00:00:00:02 --dst 10.0.0.2 --sources 5000 --ports 13\n");
}

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "dst-mac", required_argument, NULL, 'm' },
		{ "dst", required_argument, NULL, 't' },
		{ "src-base", required_argument, NULL, 'b' },
		{ "sources", required_argument, NULL, 'n' },
		{ "ports", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, have_mac = 0, have_dst = 0, have_cpu = 0, err = 0;

	o->seconds = 3;
	o->sources = 1;
	o->ports = 1;
	inet_pton(AF_INET, "10.1.0.1", &o->src_base);
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dev = optarg;
			break;
		case 'c':
			err = bench_parse_u64(optarg, 0, CPU_SETSIZE - 1, &o->cpu);
			have_cpu = 1;
			break;
		case 's':
			err = bench_parse_u64(optarg, 1, 3600, &o->seconds);
			break;
		case 'm':
			err = parse_mac(optarg, o->dst_mac);
			have_mac = 1;
			break;
		case 't':
			err = inet_pton(AF_INET, optarg, &o->dst) == 1 ? 0 : -EINVAL;
			have_dst = 1;
			break;
		case 'b':
			err = inet_pton(AF_INET, optarg, &o->src_base) == 1 ? 0 :
									       -EINVAL;
			break;
		case 'n':
			err = bench_parse_u64(optarg, 1, 65536, &o->sources);
			break;
		case 'p':
			err = bench_parse_u64(optarg, 1, 1000, &o->ports);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
		if (err) {
			fprintf(stderr, "tapflood: bad value: '%s'\n", optarg);
			return err;
		}
	}
	if (optind != argc || !o->dev || !have_mac || !have_dst || !have_cpu ||
	    strlen(o->dev) >= IFNAMSIZ) {
		fprintf(stderr, "tapflood: --dev, --cpu, --dst-mac and --dst are required\n");
		return -EINVAL;
	}
	if (o->sources * o->ports > 1u << 20) {
		fprintf(stderr, "tapflood: --sources x --ports is at most 1048576\n");
		return -EINVAL;
	}
	return 0;
}

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

/* One Ethernet/IPv4/UDP frame from src:sport to the tap's address. */
static void frame_build(uint8_t *f, const struct opts *o, uint32_t src,
			uint16_t sport)
{
	static const uint8_t src_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	uint8_t *ip = f + 14, *udp = ip + 20;
	uint16_t ulen = FRAME_LEN - 14 - 20, c;
	uint32_t s;

	memset(f, 0, FRAME_LEN);
	memcpy(f, o->dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	f[12] = 0x08; /* IPv4 */
	ip[0] = 0x45;
	ip[2] = (FRAME_LEN - 14) >> 8;
	ip[3] = (FRAME_LEN - 14) & 0xff;
	ip[8] = 64;
	ip[9] = 17; /* UDP */
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &o->dst, 4);
	c = csum_fold(csum_add(0, ip, 20));
	ip[10] = c >> 8;
	ip[11] = c & 0xff;
	udp[0] = sport >> 8;
	udp[1] = sport & 0xff;
	udp[3] = FLOOD_DPORT;
	udp[4] = ulen >> 8;
	udp[5] = ulen & 0xff;
	/* Pseudo-header, then the datagram. */
	s = csum_add(0, ip + 12, 8) + 17 + ulen;
	c = csum_fold(csum_add(s, udp, ulen));
	if (!c)
		c = 0xffff;
	udp[6] = c >> 8;
	udp[7] = c & 0xff;
}

static int tap_open(const char *dev)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, dev, strlen(dev));
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * BENCH_NSEC + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	uint64_t n, frames = 0, errors = 0, t0, t1, c0, c1, deadline;
	uint8_t *ring = NULL;
	cpu_set_t cpus;
	int fd = -1, rc = 1;

	if (parse_args(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	CPU_ZERO(&cpus);
	CPU_SET(o.cpu, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus)) {
		perror("tapflood: cannot pin to the CPU");
		return 1;
	}
	n = o.sources * o.ports;
	ring = malloc(n * FRAME_LEN);
	if (!ring) {
		fprintf(stderr, "tapflood: out of memory\n");
		return 1;
	}
	/* Source-major order would hit one source many times in a row: go
	 * round the sources, then the next port. */
	for (uint64_t i = 0; i < n; i++) {
		uint32_t src = htonl(ntohl(o.src_base.s_addr) +
				     (uint32_t)(i % o.sources));

		frame_build(ring + i * FRAME_LEN, &o, src,
			    (uint16_t)(SPORT_BASE + i / o.sources));
	}
	fd = tap_open(o.dev);
	if (fd < 0) {
		fprintf(stderr, "tapflood: cannot attach to tap %s: %s\n", o.dev,
			strerror(-fd));
		goto out;
	}
	if (bench_stop_on_signals())
		goto out;

	t0 = bench_now_ns();
	c0 = thread_cpu_ns();
	deadline = t0 + o.seconds * BENCH_NSEC;
	for (uint64_t i = 0; !bench_stop;) {
		for (int k = 0; k < 1024; k++) {
			if (write(fd, ring + i * FRAME_LEN, FRAME_LEN) ==
			    FRAME_LEN)
				frames++;
			else
				errors++;
			if (++i == n)
				i = 0;
		}
		if (bench_now_ns() >= deadline)
			break;
	}
	c1 = thread_cpu_ns();
	t1 = bench_now_ns();
	if (!frames) {
		fprintf(stderr, "tapflood: no frame written (%llu errors)\n",
			(unsigned long long)errors);
		goto out;
	}
	printf("RESULT frames=%llu seconds=%.3f cpu_ns=%llu ns_per_frame=%.1f errors=%llu\n",
	       (unsigned long long)frames, (double)(t1 - t0) / 1e9,
	       (unsigned long long)(c1 - c0),
	       (double)(c1 - c0) / (double)frames, (unsigned long long)errors);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(ring);
	return rc;
}
