// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "pg_args.h"

#define MAX_SRC_COUNT (1u << 24)
#define MAX_DURATION 86400.0
#define MAX_RATE 100000000ull

enum {
	SEEN_DST_MAC = 1 << 0,
	SEEN_SRC_BASE = 1 << 1,
	SEEN_DST = 1 << 2,
	SEEN_ALLOWED_SRC = 1 << 3,
	SEEN_ALLOWED_DPORT = 1 << 4,
};

struct opt {
	const char *name;
	int (*parse)(const char *val, struct pg_args *a, unsigned int *seen);
	const char *what;	/* the expected value, for error messages */
};

static int parse_u16(const char *s, uint16_t min, uint16_t *out)
{
	uint64_t v;

	if (bench_parse_u64(s, min, 65535, &v))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr in;

	if (inet_pton(AF_INET, s, &in) != 1)
		return -EINVAL;
	*out = ntohl(in.s_addr);
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	int i, n = 0;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &n) != 6 || n != 17)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int o_src_mac(const char *v, struct pg_args *a, unsigned int *seen)
{
	(void)seen;
	a->have_src_mac = true;
	return parse_mac(v, a->flow.src_mac);
}

static int o_dst_mac(const char *v, struct pg_args *a, unsigned int *seen)
{
	*seen |= SEEN_DST_MAC;
	return parse_mac(v, a->flow.dst_mac);
}

static int o_src_base(const char *v, struct pg_args *a, unsigned int *seen)
{
	*seen |= SEEN_SRC_BASE;
	return parse_ip(v, &a->src_base);
}

static int o_src_count(const char *v, struct pg_args *a, unsigned int *seen)
{
	uint64_t n;

	(void)seen;
	if (bench_parse_u64(v, 1, MAX_SRC_COUNT, &n))
		return -EINVAL;
	a->src_count = (uint32_t)n;
	return 0;
}

static int o_dst(const char *v, struct pg_args *a, unsigned int *seen)
{
	*seen |= SEEN_DST;
	return parse_ip(v, &a->flow.dst);
}

static int o_proto(const char *v, struct pg_args *a, unsigned int *seen)
{
	(void)seen;
	if (!strcmp(v, "udp"))
		a->flow.proto = PG_UDP;
	else if (!strcmp(v, "syn"))
		a->flow.proto = PG_SYN;
	else
		return -EINVAL;
	return 0;
}

static int o_dport(const char *v, struct pg_args *a, unsigned int *seen)
{
	(void)seen;
	return parse_u16(v, 1, &a->dport);
}

static int o_sport_range(const char *v, struct pg_args *a, unsigned int *seen)
{
	char buf[16], *dash;

	(void)seen;
	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, v);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (parse_u16(buf, 1, &a->sport_lo) ||
	    parse_u16(dash ? dash + 1 : buf, 1, &a->sport_hi))
		return -EINVAL;
	return a->sport_lo <= a->sport_hi ? 0 : -EINVAL;
}

static int o_allowed_pct(const char *v, struct pg_args *a, unsigned int *seen)
{
	uint64_t n;

	(void)seen;
	if (bench_parse_u64(v, 0, 100, &n))
		return -EINVAL;
	a->allowed_pct = (uint32_t)n;
	return 0;
}

static int o_allowed_src(const char *v, struct pg_args *a, unsigned int *seen)
{
	*seen |= SEEN_ALLOWED_SRC;
	return parse_ip(v, &a->allowed_src);
}

static int o_allowed_dport(const char *v, struct pg_args *a, unsigned int *seen)
{
	*seen |= SEEN_ALLOWED_DPORT;
	return parse_u16(v, 1, &a->allowed_dport);
}

static int o_rate(const char *v, struct pg_args *a, unsigned int *seen)
{
	(void)seen;
	return bench_parse_u64(v, 0, MAX_RATE, &a->rate);
}

static int o_duration(const char *v, struct pg_args *a, unsigned int *seen)
{
	char *end;

	(void)seen;
	errno = 0;
	a->duration = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(a->duration) ||
	    a->duration <= 0 || a->duration > MAX_DURATION)
		return -EINVAL;
	return 0;
}

static int o_size(const char *v, struct pg_args *a, unsigned int *seen)
{
	(void)seen;
	if (parse_u16(v, PG_FRAME_MIN, &a->flow.frame_len))
		return -EINVAL;
	return a->flow.frame_len <= PG_FRAME_MAX ? 0 : -EINVAL;
}

static const struct opt opts[] = {
	{ "src-mac", o_src_mac, "a MAC address like 02:00:00:00:00:01" },
	{ "dst-mac", o_dst_mac, "a MAC address like 02:00:00:00:00:02" },
	{ "src-base", o_src_base, "an IPv4 address" },
	{ "src-count", o_src_count, "an integer in 1..16777216" },
	{ "dst", o_dst, "an IPv4 address" },
	{ "proto", o_proto, "udp or syn" },
	{ "dport", o_dport, "a port in 1..65535" },
	{ "sport-range", o_sport_range, "LO-HI or P, ports in 1..65535, LO <= HI" },
	{ "allowed-pct", o_allowed_pct, "an integer in 0..100" },
	{ "allowed-src", o_allowed_src, "an IPv4 address" },
	{ "allowed-dport", o_allowed_dport, "a port in 1..65535" },
	{ "rate", o_rate, "packets per second in 0..100000000 (0 = unlimited)" },
	{ "duration", o_duration, "seconds, > 0 and <= 86400" },
	{ "size", o_size, "frame bytes in 60..1514" },
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct opt *find_opt(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
			return &opts[i];
	return NULL;
}

static void set_defaults(struct pg_args *a)
{
	memset(a, 0, sizeof(*a));
	a->flow.proto = PG_UDP;
	a->flow.frame_len = 64;
	a->src_count = 1;
	a->dport = 9;
	a->sport_lo = a->sport_hi = 10000;
	a->duration = 10;
}

static int check_combination(const struct pg_args *a, unsigned int seen,
			     char *err, size_t errlen)
{
	unsigned int need = SEEN_DST_MAC | SEEN_SRC_BASE | SEEN_DST;

	if ((seen & need) != need) {
		set_err(err, errlen, "--dst-mac, --src-base and --dst are required");
		return -EINVAL;
	}
	if ((uint64_t)a->src_base + a->src_count - 1 > UINT32_MAX) {
		set_err(err, errlen, "--src-base + --src-count runs past 255.255.255.255");
		return -EINVAL;
	}
	if (a->allowed_pct &&
	    (seen & (SEEN_ALLOWED_SRC | SEEN_ALLOWED_DPORT)) !=
		    (SEEN_ALLOWED_SRC | SEEN_ALLOWED_DPORT)) {
		set_err(err, errlen, "--allowed-pct > 0 needs --allowed-src and --allowed-dport");
		return -EINVAL;
	}
	return 0;
}

static int parse_one(int argc, char **argv, int *i, struct pg_args *a,
		     unsigned int *seen, char *err, size_t errlen)
{
	const char *arg = argv[*i], *name, *eq, *val;
	const struct opt *o;

	if (strncmp(arg, "--", 2) || !arg[2]) {
		set_err(err, errlen, "unexpected argument '%s'", arg);
		return -EINVAL;
	}
	name = arg + 2;
	eq = strchr(name, '=');
	o = find_opt(name, eq ? (size_t)(eq - name) : strlen(name));
	if (!o) {
		set_err(err, errlen, "unknown option '%s'", arg);
		return -EINVAL;
	}
	if (eq) {
		val = eq + 1;
	} else if (*i + 1 < argc) {
		val = argv[++*i];
	} else {
		set_err(err, errlen, "--%s needs a value: %s", o->name, o->what);
		return -EINVAL;
	}
	if (o->parse(val, a, seen)) {
		set_err(err, errlen, "--%s '%s': expected %s", o->name, val, o->what);
		return -EINVAL;
	}
	return 0;
}

int pg_args_parse(int argc, char **argv, struct pg_args *a, char *err,
		  size_t errlen)
{
	unsigned int seen = 0;
	int i, ret;

	set_defaults(a);
	for (i = 1; i < argc; i++) {
		ret = parse_one(argc, argv, &i, a, &seen, err, errlen);
		if (ret)
			return ret;
	}
	return check_combination(a, seen, err, errlen);
}

void pg_usage(const char *prog)
{
	printf("Usage: %s EAL-OPTIONS -- OPTIONS\n"
	       "Sends UDP datagrams or TCP SYNs through one DPDK port for a bounded time and\n"
	       "prints one line 'RESULT sent=N seconds=F pps=F' (packets the port accepted).\n"
	       "\n"
	       "EAL options for a veth in a network namespace (no hugepages, no PCI):\n"
	       "  --no-huge --no-pci --no-shconf --no-telemetry -m 256 -l CORE \\\n"
	       "      --vdev=net_af_packet0,iface=IFACE\n"
	       "  net_af_xdp0,iface=IFACE sends faster but attaches an XDP program to IFACE.\n"
	       "\n"
	       "Options (after --):\n"
	       "  --dst-mac MAC            destination MAC, the receiving veth's (required)\n"
	       "  --src-mac MAC            source MAC (default: the port's own)\n"
	       "  --src-base A.B.C.D       first source address (required)\n"
	       "  --src-count K            sources cycle over K consecutive addresses (default 1)\n"
	       "  --dst A.B.C.D            destination address (required)\n"
	       "  --proto udp|syn          UDP datagrams or TCP SYNs (default udp)\n"
	       "  --dport P                destination port of the denied traffic (default 9)\n"
	       "  --sport-range LO-HI      source ports cycle over LO..HI (default 10000)\n"
	       "  --allowed-pct X          X%% of packets (0..100) are the allowed flow (default 0)\n"
	       "  --allowed-src A.B.C.D    source of the allowed flow\n"
	       "  --allowed-dport P        destination port of the allowed flow\n"
	       "  --rate PPS               packets per second, 0 = as fast as possible (default 0)\n"
	       "  --duration SECONDS       how long to send (default 10)\n"
	       "  --size BYTES             frame length without FCS, 60..1514 (default 64);\n"
	       "                           SYN frames carry no payload, the rest is padding\n"
	       "\n"
	       "Denied packet i comes from src-base + i %% K; its source port advances once\n"
	       "per round over all K sources. The allowed flow's source port cycles over the\n"
	       "same range. Exit status: 0 sent (RESULT printed, also after SIGINT/SIGTERM),\n"
	       "1 failed (no RESULT), 2 bad arguments.\n"
	       "\n"
	       "Example (1000 sources, 10%% allowed, 100000 pps for 3 s):\n"
	       "  ip netns exec gen %s \\\n"
	       "      --no-huge --no-pci --no-shconf --no-telemetry -m 256 -l 1 \\\n"
	       "      --vdev=net_af_packet0,iface=veth-gen -- \\\n"
	       "      --dst-mac 02:00:00:00:00:02 --src-base 10.1.0.1 --src-count 1000 \\\n"
	       "      --dst 10.0.0.2 --proto udp --dport 9999 --allowed-pct 10 \\\n"
	       "      --allowed-src 10.0.0.1 --allowed-dport 8080 --rate 100000 --duration 3\n",
	       prog, prog);
}
