/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Frames for the egress gateway datapath tests, on top of tests/lib/pktgen:
 * GENEVE encapsulation as a remote node would send it, TCP options, and
 * reading back the outer headers a BPF program wrote.
 */
#ifndef IDGATE_TESTS_EGW_PKT_H
#define IDGATE_TESTS_EGW_PKT_H

#include <stdint.h>

#include "pktgen.h"

#define EGW_GENEVE_PORT 6081
#define EGW_OVERHEAD 50 /* outer IPv4 20 + UDP 8 + GENEVE 8 + inner Ethernet 14 */

/* What egw_geneve_wrap() writes; zero fields take the normal values. */
struct egw_gnv_spec {
	const char *src, *dst; /* outer addresses */
	uint32_t vni;
	uint16_t sport;        /* 0: 50000 */
	uint16_t dport;        /* 0: 6081 */
	uint8_t version;       /* GENEVE version (2 bits) */
	uint8_t flags;         /* O 0x80, C 0x40 */
	uint16_t proto;        /* 0: 0x6558 */
	uint8_t opt_words;     /* option bytes / 4 (zero-filled options) */
	uint8_t tos;           /* outer TOS */
	int bad_ip_csum;       /* corrupt the outer IPv4 checksum */
};

/*
 * out = outer Ethernet (pkt_src_mac -> pkt_dst_mac) / IPv4 (DF, TTL 64,
 * valid checksum) / UDP (checksum 0) / GENEVE / inner frame as given.
 * Returns 0 or -E2BIG.
 */
int egw_geneve_wrap(struct pkt *out, const struct pkt *inner,
		    const struct egw_gnv_spec *s);

/*
 * TCP segment with the given flags (PKT_TCP_*) and options bytes (a
 * multiple of 4, at most 40) after the 20-byte header; checksums valid.
 */
int egw_tcp_opts(struct pkt *out, const char *src, const char *dst,
		 uint16_t sport, uint16_t dport, uint8_t flags,
		 const uint8_t *opts, size_t opt_len, size_t payload_len);

/* Fields of an encapsulated frame as produced by the programs. */
struct egw_outer {
	uint8_t dmac[6], smac[6];
	uint16_t eth_proto;
	uint8_t ip_ver_ihl, tos;
	uint16_t tot_len, id, frag_off;
	uint8_t ttl, ip_proto;
	uint32_t saddr, daddr; /* network order */
	uint16_t sport, dport, udp_len, udp_csum;
	uint8_t gnv_ver_optlen, gnv_flags;
	uint16_t gnv_proto;
	uint32_t vni;
	int ip_csum_ok;
};

/* Decode the outer headers; -EINVAL when the frame is too short. */
int egw_outer_parse(const struct pkt *frame, struct egw_outer *o);
/* The inner frame (after the 50 bytes) as a struct pkt. */
int egw_inner(const struct pkt *frame, struct pkt *inner);

/* Network-order IPv4 address from text; aborts on bad input. */
uint32_t egw_ip(const char *s);

#endif
