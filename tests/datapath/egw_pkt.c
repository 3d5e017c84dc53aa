// SPDX-License-Identifier: GPL-2.0
#include "egw_pkt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#define ETH_LEN 14
#define IP_LEN 20
#define UDP_LEN 8
#define GNV_LEN 8

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

uint32_t egw_ip(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

int egw_geneve_wrap(struct pkt *out, const struct pkt *inner,
		    const struct egw_gnv_spec *s)
{
	size_t opt = (size_t)s->opt_words * 4;
	size_t hdr = ETH_LEN + IP_LEN + UDP_LEN + GNV_LEN + opt;
	uint32_t a;
	uint8_t *b;
	uint16_t sum;

	if (hdr + inner->len > PKT_MAX)
		return -E2BIG;
	memset(out, 0, sizeof(*out));
	b = out->data;
	memcpy(b, pkt_dst_mac, 6);
	memcpy(b + 6, pkt_src_mac, 6);
	put16(b + 12, 0x0800);
	b += ETH_LEN;
	b[0] = 0x45;
	b[1] = s->tos;
	put16(b + 2, (uint16_t)(hdr - ETH_LEN + inner->len));
	put16(b + 6, 0x4000);
	b[8] = 64;
	b[9] = 17;
	a = egw_ip(s->src);
	memcpy(b + 12, &a, 4);
	a = egw_ip(s->dst);
	memcpy(b + 16, &a, 4);
	sum = pkt_csum_fold(pkt_csum_partial(b, IP_LEN, 0));
	if (s->bad_ip_csum)
		sum ^= 0x0101;
	put16(b + 10, sum);
	b += IP_LEN;
	put16(b, s->sport ? s->sport : 50000);
	put16(b + 2, s->dport ? s->dport : EGW_GENEVE_PORT);
	put16(b + 4, (uint16_t)(UDP_LEN + GNV_LEN + opt + inner->len));
	b += UDP_LEN;
	b[0] = (uint8_t)((s->version & 3) << 6 | (s->opt_words & 0x3f));
	b[1] = s->flags;
	put16(b + 2, s->proto ? s->proto : 0x6558);
	b[4] = (uint8_t)(s->vni >> 16);
	b[5] = (uint8_t)(s->vni >> 8);
	b[6] = (uint8_t)s->vni;
	b += GNV_LEN + opt;
	memcpy(b, inner->data, inner->len);
	out->len = hdr + inner->len;
	out->l3_off = ETH_LEN;
	out->l4_off = ETH_LEN + IP_LEN;
	out->payload_off = ETH_LEN + IP_LEN + UDP_LEN;
	return 0;
}

int egw_tcp_opts(struct pkt *out, const char *src, const char *dst,
		 uint16_t sport, uint16_t dport, uint8_t flags,
		 const uint8_t *opts, size_t opt_len, size_t payload_len)
{
	struct pkt_spec s = {
		.family = AF_INET, .src = src, .dst = dst,
		.proto = IPPROTO_TCP, .sport = sport, .dport = dport,
		.tcp_flags = flags, .payload_len = opt_len + payload_len,
	};
	int err;

	if (opt_len % 4 || opt_len > 40)
		return -EINVAL;
	err = pkt_build(&s, out);
	if (err)
		return err;
	/* The first opt_len payload bytes become options. */
	memcpy(out->data + out->l4_off + 20, opts, opt_len);
	out->data[out->l4_off + 12] = (uint8_t)((20 + opt_len) / 4 << 4);
	out->payload_off += opt_len;
	pkt_fix_csums(out);
	return 0;
}

int egw_outer_parse(const struct pkt *f, struct egw_outer *o)
{
	const uint8_t *b = f->data;

	if (f->len < ETH_LEN + IP_LEN + UDP_LEN + GNV_LEN)
		return -EINVAL;
	memset(o, 0, sizeof(*o));
	memcpy(o->dmac, b, 6);
	memcpy(o->smac, b + 6, 6);
	o->eth_proto = get16(b + 12);
	b += ETH_LEN;
	o->ip_ver_ihl = b[0];
	o->tos = b[1];
	o->tot_len = get16(b + 2);
	o->id = get16(b + 4);
	o->frag_off = get16(b + 6);
	o->ttl = b[8];
	o->ip_proto = b[9];
	memcpy(&o->saddr, b + 12, 4);
	memcpy(&o->daddr, b + 16, 4);
	o->ip_csum_ok = !pkt_csum_fold(pkt_csum_partial(b, IP_LEN, 0));
	b += IP_LEN;
	o->sport = get16(b);
	o->dport = get16(b + 2);
	o->udp_len = get16(b + 4);
	o->udp_csum = get16(b + 6);
	b += UDP_LEN;
	o->gnv_ver_optlen = b[0];
	o->gnv_flags = b[1];
	o->gnv_proto = get16(b + 2);
	o->vni = (uint32_t)b[4] << 16 | (uint32_t)b[5] << 8 | b[6];
	return 0;
}

int egw_inner(const struct pkt *f, struct pkt *inner)
{
	if (f->len < ETH_LEN + EGW_OVERHEAD)
		return -EINVAL;
	return pkt_load(inner, f->data + EGW_OVERHEAD,
			f->len - EGW_OVERHEAD);
}
