// SPDX-License-Identifier: GPL-2.0
/*
 * A reference for the datapath's header checks, written from
 * docs/drop-reasons.md and not from include/idgate/bpf/parse.h: plain
 * byte-offset arithmetic, outer header first. It answers which parse drop
 * reason a frame gets, so that malformed and truncated frames can be
 * checked against the real programs.
 */
#include <stdint.h>

#include <idgate/reasons.h>

#include "refparse.h"

#define ETH_HLEN 14
#define VLAN_TAGS_MAX 2
#define IPV6_EXT_MAX 6

static unsigned int be16(const uint8_t *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

/* Smallest header of each transport the datapath reads, and the reason
 * when less is there. */
static int l4_check(uint8_t proto, int v6, size_t avail, const uint8_t *l4)
{
	switch (proto) {
	case 6: /* TCP */
		if (avail < 20)
			return IDG_DROP_TRUNC_TCP;
		if ((l4[12] >> 4) < 5)
			return IDG_DROP_BAD_TCP_HDR;
		return 0;
	case 17:
		return avail < 8 ? IDG_DROP_TRUNC_UDP : 0;
	case 132:
		return avail < 12 ? IDG_DROP_TRUNC_SCTP : 0;
	case 1:
		return !v6 && avail < 8 ? IDG_DROP_TRUNC_ICMP : 0;
	case 58:
		return v6 && avail < 8 ? IDG_DROP_TRUNC_ICMPV6 : 0;
	default:
		return 0;
	}
}

/* A later fragment may not start inside the smallest header of its
 * transport (RFC 1858): the ports the first fragment was judged on. */
static int later_fragment(uint8_t proto, unsigned int offset8)
{
	unsigned int hdr = proto == 6 ? 20 : proto == 132 ? 12 :
			   proto == 17 || proto == 1 || proto == 58 ? 8 : 0;

	return offset8 * 8 < hdr ? IDG_DROP_BAD_FRAGMENT : 0;
}

static int ipv4(const uint8_t *f, size_t len, size_t l3)
{
	unsigned int ihl, tot, frag;

	if (len - l3 < 20)
		return IDG_DROP_TRUNC_IPV4;
	if ((f[l3] >> 4) != 4 || (f[l3] & 15) < 5)
		return IDG_DROP_BAD_IPV4_HDR;
	ihl = (f[l3] & 15) * 4u;
	if (l3 + ihl > len)
		return IDG_DROP_TRUNC_IPV4;
	tot = be16(f + l3 + 2);
	if (tot < ihl || l3 + tot > len)
		return IDG_DROP_BAD_IPV4_LEN;
	frag = be16(f + l3 + 6) & 0x1fff;
	if (frag)
		return later_fragment(f[l3 + 9], frag);
	return l4_check(f[l3 + 9], 0, tot - ihl, f + l3 + ihl);
}

static int ipv6(const uint8_t *f, size_t len, size_t l3)
{
	size_t end, off = l3 + 40;
	uint8_t nh;

	if (len - l3 < 40)
		return IDG_DROP_TRUNC_IPV6;
	if ((f[l3] >> 4) != 6)
		return IDG_DROP_BAD_IPV6_HDR;
	end = off + be16(f + l3 + 4);
	if (end > len)
		return IDG_DROP_BAD_IPV6_HDR;
	nh = f[l3 + 6];
	for (int n = 0;; n++) {
		size_t hl;

		/* Hop-by-hop, routing, destination options, fragment, AH
		 * and mobility (docs/drop-reasons.md). */
		if (nh != 0 && nh != 43 && nh != 60 && nh != 44 && nh != 51 &&
		    nh != 135)
			break;
		if (n == IPV6_EXT_MAX)
			return IDG_DROP_IPV6_EXT_LIMIT;
		if (off + 8 > end)
			return IDG_DROP_TRUNC_IPV6_EXT;
		if (nh == 44) {
			unsigned int frag = be16(f + off + 2) >> 3;

			if (frag)
				return later_fragment(f[off], frag);
			hl = 8;
		} else {
			/* AH counts 4-byte words less 2, the others 8-byte
			 * units less 1. */
			hl = nh == 51 ? (f[off + 1] + 2u) * 4u :
					(f[off + 1] + 1u) * 8u;
			if (off + hl > end)
				return IDG_DROP_TRUNC_IPV6_EXT;
		}
		nh = f[off];
		off += hl;
	}
	return l4_check(nh, 1, end - off, f + off);
}

int ref_parse_reason(const uint8_t *f, size_t len)
{
	size_t off = 12;
	unsigned int type;

	if (len < ETH_HLEN)
		return IDG_DROP_TRUNC_ETH;
	type = be16(f + off);
	for (int tags = 0; type == 0x8100 || type == 0x88a8; tags++) {
		if (tags == VLAN_TAGS_MAX)
			return IDG_DROP_VLAN_DEPTH;
		if (off + 6 > len)
			return IDG_DROP_TRUNC_VLAN;
		off += 4;
		type = be16(f + off);
	}
	if (type == 0x0800)
		return ipv4(f, len, off + 2);
	if (type == 0x86dd)
		return ipv6(f, len, off + 2);
	return REF_PARSE_NOT_IP;
}
