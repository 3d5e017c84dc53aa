// SPDX-License-Identifier: GPL-2.0
/*
 * Seed inputs for the fuzz targets, made by the same generators the
 * tests use, so the seeds follow the tests when the formats change:
 *
 *   fuzz_seeds configs DIR N SEED   N random configs of the differential
 *                                   test's generator (Cilium policies,
 *                                   endpoints, nodes), DIR/gen-I.yaml
 *   fuzz_seeds packets DIR          frames of every shape the packet
 *                                   builder makes, DIR/NAME.bin, each
 *                                   behind fuzz_parse's control byte
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffgen.h"
#include "pktgen.h"

static int write_file(const char *dir, const char *name, const void *a,
		      size_t alen, const void *b, size_t blen)
{
	char path[4096];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "fuzz_seeds: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (fwrite(a, 1, alen, f) != alen || fwrite(b, 1, blen, f) != blen)
		err = -EIO;
	if (fclose(f) && !err)
		err = -EIO;
	if (err)
		fprintf(stderr, "fuzz_seeds: %s: write failed\n", path);
	return err;
}

static int make_configs(const char *dir, unsigned long n, unsigned long seed)
{
	for (unsigned long i = 0; i < n; i++) {
		struct dg_config g;
		struct dg_rng r;
		char name[64];
		int err;

		/* One stream per config, as test_diff draws them. */
		dg_seed(&r, seed, i);
		memset(&g, 0, sizeof(g));
		err = dg_config_make(&r, &g);
		if (err) {
			fprintf(stderr, "fuzz_seeds: config %lu: %d\n", i, err);
			return err;
		}
		snprintf(name, sizeof(name), "gen-%lu.yaml", i);
		err = write_file(dir, name, g.yaml, g.yaml_len, "", 0);
		dg_config_free(&g);
		if (err)
			return err;
	}
	return 0;
}

/* fuzz_parse's first byte: 0 = the whole packet is in the window. */
static const uint8_t ctl_whole;

static int emit(const char *dir, const char *name, const struct pkt *p)
{
	return write_file(dir, name, &ctl_whole, 1, p->data, p->len);
}

/* An ICMP error from dst back to src quoting a packet src sent to dst. */
static int make_icmp_error(const char *dir, int family, uint8_t quoted)
{
	const char *a = family == AF_INET ? "10.0.0.1" : "fd00::1";
	const char *b = family == AF_INET ? "10.0.0.2" : "fd00::2";
	struct pkt_spec qs = {
		.family = family, .src = a, .dst = b, .proto = quoted,
		.sport = 40000, .dport = 443, .icmp_type = 8, .icmp_id = 7,
	};
	struct pkt_spec es = {
		.family = family, .src = b, .dst = a,
		.proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6,
		.icmp_type = family == AF_INET ? 3 : 1,
	};
	struct pkt q, e;
	char name[64];
	size_t qlen;

	if (quoted == IPPROTO_ICMP && family == AF_INET6)
		qs.proto = IPPROTO_ICMPV6, qs.icmp_type = 128;
	if (pkt_build(&qs, &q))
		return -EINVAL;
	qlen = q.len - q.l3_off;
	es.payload_len = qlen;
	if (pkt_build(&es, &e))
		return -EINVAL;
	/* The error's body: the quoted packet from its IP header on. */
	memcpy(e.data + e.payload_off, q.data + q.l3_off, qlen);
	pkt_fix_csums(&e);
	snprintf(name, sizeof(name), "icmperr-%d-%u.bin", family, quoted);
	return emit(dir, name, &e);
}

/* One frame of the builder: fragment 0 none, 1 first, 2 later; opt adds
 * IPv4 options or three IPv6 extension headers. */
static int make_frame(const char *dir, int fam, uint8_t proto, int vlan,
		      int frag, int opt)
{
	struct pkt_spec s = {
		.family = fam,
		.src = fam == AF_INET ? "10.0.0.1" : "fd00::1",
		.dst = fam == AF_INET ? "10.0.0.2" : "fd00::2",
		.proto = proto, .sport = 40000, .dport = 443,
		.icmp_type = fam == AF_INET ? 8 : 128, .icmp_id = 7,
		.nvlan = vlan, .vlan_id = { 100, 200 },
		.frag = frag != 0, .frag_offset = frag == 2 ? 3 : 0,
		.more_frags = frag == 1, .frag_id = 99,
		.payload_len = 16,
	};
	struct pkt p;
	char name[64];

	if (proto == IPPROTO_ICMP && fam == AF_INET6)
		s.proto = IPPROTO_ICMPV6;
	if (opt && fam == AF_INET) {
		s.ipv4_options = 1;
	} else if (opt) {
		s.n_ext = 3;
		s.ext[0] = IPPROTO_HOPOPTS;
		s.ext[1] = IPPROTO_ROUTING;
		s.ext[2] = IPPROTO_DSTOPTS;
	}
	if (pkt_build(&s, &p)) {
		fprintf(stderr, "fuzz_seeds: cannot build a frame\n");
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "f%d-p%u-v%d-fr%d-o%d.bin", fam, s.proto,
		 vlan, frag, opt);
	return emit(dir, name, &p);
}

static int make_packets(const char *dir)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, 132,
					  IPPROTO_ICMP, 47 };
	int err = 0;

	/* family x protocol x VLAN tags x fragment x options */
	for (int i = 0; i < 2 * 5 * 3 * 3 * 2 && !err; i++)
		err = make_frame(dir, i % 2 ? AF_INET6 : AF_INET,
				 protos[i / 2 % 5], i / 10 % 3, i / 30 % 3,
				 i / 90 % 2);
	for (size_t pi = 0; pi < 4 && !err; pi++) {
		err = make_icmp_error(dir, AF_INET, protos[pi]);
		if (!err)
			err = make_icmp_error(dir, AF_INET6, protos[pi]);
	}
	for (int t = 133; t <= 137 && !err; t++) {
		struct pkt p;
		char name[32];

		if (pkt_build_nd(&p, (uint8_t)t, "fe80::1", "fe80::2"))
			return -EINVAL;
		snprintf(name, sizeof(name), "nd-%d.bin", t);
		err = emit(dir, name, &p);
	}
	if (!err) {
		uint16_t vid[] = { 100 };
		struct pkt p;

		if (pkt_build_arp(&p, "10.0.0.1", "10.0.0.2", 1, vid))
			return -EINVAL;
		err = emit(dir, "arp.bin", &p);
	}
	return err;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "configs"))
		return make_configs(argv[2], strtoul(argv[3], NULL, 0),
				    strtoul(argv[4], NULL, 0)) ? 1 : 0;
	if (argc == 3 && !strcmp(argv[1], "packets"))
		return make_packets(argv[2]) ? 1 : 0;
	fprintf(stderr, "usage: fuzz_seeds configs DIR N SEED\n"
			"       fuzz_seeds packets DIR\n");
	return 2;
}
