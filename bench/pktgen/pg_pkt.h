/* SPDX-License-Identifier: GPL-2.0 */
/* idg-pktgen: frame templates and per-packet rewriting. Plain C, no DPDK. */
#ifndef IDG_PG_PKT_H
#define IDG_PG_PKT_H

#include <stddef.h>
#include <stdint.h>

#define PG_ETH_HLEN 14
#define PG_IP_HLEN 20
#define PG_UDP_HLEN 8
#define PG_TCP_HLEN 20
#define PG_FRAME_MIN 60		/* Ethernet minimum without FCS */
#define PG_FRAME_MAX 1514	/* 1500-byte MTU */

enum pg_proto { PG_UDP, PG_SYN };

struct pg_flow_cfg {
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	enum pg_proto proto;
	uint32_t dst;		/* host order */
	uint16_t frame_len;
};

/* One flow's variable fields, all host order. */
struct pg_flow {
	uint32_t src;
	uint16_t sport;
	uint16_t dport;
};

struct pg_tmpl {
	uint8_t frame[PG_FRAME_MAX];
	uint16_t frame_len;
	uint16_t l4_off;
	enum pg_proto proto;
	/* One's complement sums of everything but the per-packet fields. */
	uint32_t ip_base;
	uint32_t l4_base;
};

void pg_tmpl_init(struct pg_tmpl *t, const struct pg_flow_cfg *cfg);

/* Writes the whole frame for packet number seq of flow f into buf
 * (t->frame_len bytes), checksums included. */
void pg_build(const struct pg_tmpl *t, uint8_t *buf, const struct pg_flow *f,
	      uint64_t seq);

#endif
