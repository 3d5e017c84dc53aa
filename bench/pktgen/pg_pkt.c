// SPDX-License-Identifier: GPL-2.0
/*
 * Frames are written from a template; only the source address, ports, IP ID
 * and TCP sequence change per packet. Their checksums start from sums taken
 * once over the fixed bytes, so a packet costs a 64-byte copy and a few adds
 * whatever its payload size.
 *
 * Sums are taken over 16-bit words as they lie in memory and stored the same
 * way; the one's complement sum does not depend on byte order.
 */
#include <string.h>

#include "pg_pkt.h"

#define IP_OFF PG_ETH_HLEN
#define IPO_TOT_LEN 2
#define IPO_ID 4
#define IPO_CSUM 10
#define IPO_SRC 12
#define IPO_DST 16
#define L4O_SPORT 0
#define L4O_DPORT 2
#define UDPO_LEN 4
#define UDPO_CSUM 6
#define TCPO_SEQ 4
#define TCPO_CSUM 16

static const char payload_pattern[] = "idgate-pktgen ";

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t word_at(const uint8_t *p)
{
	uint16_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

static uint32_t sum16(const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += word_at(p + i);
	if (len & 1) {
		uint8_t last[2] = { p[len - 1], 0 };

		s += word_at(last);
	}
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t l4_len(const struct pg_tmpl *t)
{
	if (t->proto == PG_SYN)
		return PG_TCP_HLEN;
	return (uint16_t)(t->frame_len - PG_ETH_HLEN - PG_IP_HLEN);
}

static void write_eth(uint8_t *f, const struct pg_flow_cfg *cfg)
{
	memcpy(f, cfg->dst_mac, 6);
	memcpy(f + 6, cfg->src_mac, 6);
	put16(f + 12, 0x0800);
}

static void write_ip(uint8_t *ip, const struct pg_flow_cfg *cfg, uint16_t l4len)
{
	ip[0] = 0x45;
	put16(ip + IPO_TOT_LEN, (uint16_t)(PG_IP_HLEN + l4len));
	put16(ip + 6, 0x4000);	/* DF */
	ip[8] = 64;
	ip[9] = cfg->proto == PG_SYN ? 6 : 17;
	put32(ip + IPO_DST, cfg->dst);
}

static void write_l4(uint8_t *l4, enum pg_proto proto, uint16_t l4len)
{
	size_t i, n = sizeof(payload_pattern) - 1;

	if (proto == PG_SYN) {
		l4[12] = 5 << 4;	/* data offset: no options */
		l4[13] = 0x02;		/* SYN */
		put16(l4 + 14, 64240);
		return;
	}
	put16(l4 + UDPO_LEN, l4len);
	for (i = PG_UDP_HLEN; i < l4len; i++)
		l4[i] = (uint8_t)payload_pattern[(i - PG_UDP_HLEN) % n];
}

/* Pseudo header without the source address, which varies. */
static uint32_t pseudo_base(const uint8_t *ip, uint16_t l4len)
{
	uint8_t ph[8];

	memcpy(ph, ip + IPO_DST, 4);
	ph[4] = 0;
	ph[5] = ip[9];
	put16(ph + 6, l4len);
	return sum16(ph, sizeof(ph));
}

void pg_tmpl_init(struct pg_tmpl *t, const struct pg_flow_cfg *cfg)
{
	uint8_t *ip = t->frame + IP_OFF;
	uint16_t l4len;

	memset(t, 0, sizeof(*t));
	t->frame_len = cfg->frame_len;
	t->proto = cfg->proto;
	t->l4_off = IP_OFF + PG_IP_HLEN;
	l4len = l4_len(t);
	write_eth(t->frame, cfg);
	write_ip(ip, cfg, l4len);
	write_l4(t->frame + t->l4_off, cfg->proto, l4len);
	/* The variable fields and checksums are still zero here. */
	t->ip_base = sum16(ip, PG_IP_HLEN);
	t->l4_base = pseudo_base(ip, l4len) + sum16(t->frame + t->l4_off, l4len);
}

static uint32_t seq_hash(uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(x >> 32) ^ (uint32_t)x;
}

void pg_build(const struct pg_tmpl *t, uint8_t *buf, const struct pg_flow *f,
	      uint64_t seq)
{
	uint8_t *ip = buf + IP_OFF, *l4 = buf + t->l4_off;
	uint32_t src_sum, l4_sum;
	uint16_t csum;

	memcpy(buf, t->frame, t->frame_len);
	put16(ip + IPO_ID, (uint16_t)seq);
	put32(ip + IPO_SRC, f->src);
	put16(l4 + L4O_SPORT, f->sport);
	put16(l4 + L4O_DPORT, f->dport);

	src_sum = word_at(ip + IPO_SRC) + word_at(ip + IPO_SRC + 2);
	csum = (uint16_t)~fold(t->ip_base + src_sum + word_at(ip + IPO_ID));
	memcpy(ip + IPO_CSUM, &csum, sizeof(csum));

	l4_sum = t->l4_base + src_sum + word_at(l4 + L4O_SPORT) +
		 word_at(l4 + L4O_DPORT);
	if (t->proto == PG_SYN) {
		put32(l4 + TCPO_SEQ, seq_hash(seq));
		l4_sum += word_at(l4 + TCPO_SEQ) + word_at(l4 + TCPO_SEQ + 2);
		csum = (uint16_t)~fold(l4_sum);
		memcpy(l4 + TCPO_CSUM, &csum, sizeof(csum));
		return;
	}
	csum = (uint16_t)~fold(l4_sum);
	if (!csum)
		csum = 0xffff;	/* zero means "no checksum" in UDP */
	memcpy(l4 + UDPO_CSUM, &csum, sizeof(csum));
}
