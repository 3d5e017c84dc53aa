// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the datapath's packet parser, compiled for userspace
 * from the header the BPF programs include (include/idgate/bpf/parse.h;
 * libbpf's bpf_helpers.h and bpf_endian.h build for userspace as they
 * are). ASan sees every read past the frame, as the verifier would.
 *
 * Input: one control byte, then the frame. The control byte's low 7 bits
 * are bytes of the packet beyond the window the parser sees (tc before a
 * pull: skb->len above data_end - data); 0 is XDP's whole frame.
 *
 * Beyond crashes it checks what the verdict code relies on:
 *  - the result is 0, a pass reason of the parser or a header drop
 *    reason, never anything else;
 *  - on a parsed packet: family, addresses and protocol are those of the
 *    IP header found by walking the VLAN tags independently; ports, ICMP
 *    kinds and quoted-packet fields appear only for the protocols, and
 *    the family, that carry them; neighbour discovery passes only as
 *    ICMPv6 in IPv6;
 *  - headers are read only inside the IP total or payload length: the
 *    same frame cut right after that length parses to the same bytes,
 *    and ASan guards the cut;
 *  - with the whole frame in the window, the reason is the one of
 *    tests/lib/refparse.c, the reference malformed-sweep trusts;
 *  - the parse of a copy of the window's first IDG_PARSE_COPY_MAX bytes
 *    (idg_parse_copy, tc's for paged headers) gives the frame's answer
 *    byte for byte when the window fits in the copy; past that, the same
 *    answer, a truncation, or an ICMP error whose quote the copy cut off
 *    (judged as plain ICMP: a related error past the copy's bytes is
 *    not recognised as such).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idgate/bpf/parse.h>

#include "refparse.h"

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond))                                            \
			fail(__LINE__, #cond, data, size, ret, &pkt);   \
	} while (0)

static void fail(int line, const char *what, const uint8_t *f, size_t n,
		 int ret, const struct idg_pkt *p)
{
	fprintf(stderr, "fuzz_parse.c:%d: check failed: %s\n", line, what);
	fprintf(stderr, "idg_parse returned %d, family %u proto %u flags %#x\n",
		ret, p->family, p->proto, p->flags);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x%s", f[i], i % 32 == 31 ? "\n" : "");
	fprintf(stderr, "\n");
	abort();
}

static unsigned int be16(const uint8_t *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

/* The parse drop reasons: a header check failed. */
static int is_header_drop(int r)
{
	switch (r) {
	case IDG_DROP_TRUNC_ETH:
	case IDG_DROP_TRUNC_VLAN:
	case IDG_DROP_VLAN_DEPTH:
	case IDG_DROP_TRUNC_IPV4:
	case IDG_DROP_BAD_IPV4_HDR:
	case IDG_DROP_BAD_IPV4_LEN:
	case IDG_DROP_TRUNC_IPV6:
	case IDG_DROP_BAD_IPV6_HDR:
	case IDG_DROP_TRUNC_IPV6_EXT:
	case IDG_DROP_IPV6_EXT_LIMIT:
	case IDG_DROP_TRUNC_TCP:
	case IDG_DROP_BAD_TCP_HDR:
	case IDG_DROP_TRUNC_UDP:
	case IDG_DROP_TRUNC_SCTP:
	case IDG_DROP_TRUNC_ICMP:
	case IDG_DROP_TRUNC_ICMPV6:
	case IDG_DROP_BAD_FRAGMENT:
		return 1;
	default:
		return 0;
	}
}

/* Where the IP header starts: after the Ethernet header and the tags. */
static size_t l3_offset(const uint8_t *f, size_t n)
{
	size_t off = 12;

	for (int i = 0; i < IDG_VLAN_MAX && off + 2 <= n; i++) {
		unsigned int t = be16(f + off);

		if (t != ETH_P_8021Q && t != ETH_P_8021AD)
			break;
		off += 4;
	}
	return off + 2;
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* The ICMP protocol of a family: ICMP in IPv4, ICMPv6 in IPv6. */
static int own_icmp(const struct idg_pkt *p)
{
	return (p->family == IDG_FAM_IPV4 && p->proto == IPPROTO_ICMP) ||
	       (p->family == IDG_FAM_IPV6 && p->proto == IPPROTO_ICMPV6);
}

static int has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	       proto == IPPROTO_SCTP;
}

/*
 * A copy of f[0, n) that ends where its allocation ends, so that ASan
 * flags a read past data_end. It starts 2 bytes into the allocation, as
 * the kernel aligns frames (NET_IP_ALIGN), so that the IP header is
 * 4-byte aligned and UBSan flags only misaligned reads of our own.
 */
static uint8_t *frame_copy(const uint8_t *f, size_t n, uint8_t **alloc)
{
	*alloc = malloc(n + 2);
	if (!*alloc)
		abort();
	memcpy(*alloc + 2, f, n);
	return *alloc + 2;
}

static int is_trunc(int r)
{
	switch (r) {
	case IDG_DROP_TRUNC_ETH:
	case IDG_DROP_TRUNC_VLAN:
	case IDG_DROP_TRUNC_IPV4:
	case IDG_DROP_TRUNC_IPV6:
	case IDG_DROP_TRUNC_IPV6_EXT:
	case IDG_DROP_TRUNC_TCP:
	case IDG_DROP_TRUNC_UDP:
	case IDG_DROP_TRUNC_SCTP:
	case IDG_DROP_TRUNC_ICMP:
	case IDG_DROP_TRUNC_ICMPV6:
		return 1;
	default:
		return 0;
	}
}

static void clear_quote(struct idg_pkt *p)
{
	p->flags &= (__u8)~(IDG_PKT_F_ICMP_ERR | IDG_PKT_F_Q_REQ);
	memset(p->q_daddr, 0, sizeof(p->q_daddr));
	p->q_sport = p->q_dport = 0;
	p->q_proto = p->q_kind = 0;
}

/* The two parses differ in the quoted packet only, and the copy found no
 * related quote: it could only have read less of it than the frame. */
static int same_but_quote(const struct idg_pkt *frame,
			  const struct idg_pkt *copy)
{
	struct idg_pkt f = *frame, c = *copy;

	if (c.flags & IDG_PKT_F_ICMP_ERR)
		return 0;
	clear_quote(&f);
	clear_quote(&c);
	return !memcmp(&f, &c, sizeof(f));
}

/* tc's parse of a copy of f's first bytes, placed as tc places it, in a
 * buffer that ends where the copy does, so that ASan flags any read past
 * it. */
static int parse_copy(const uint8_t *f, size_t n, __u32 pkt_len,
		      struct idg_pkt *p)
{
	size_t len = n < IDG_PARSE_COPY_MAX ? n : IDG_PARSE_COPY_MAX;
	uint8_t *buf = malloc(IDG_PARSE_COPY_AT + len);
	struct idg_copy c;
	int r;

	if (!buf)
		abort();
	memcpy(buf + IDG_PARSE_COPY_AT, f, len);
	c.data = buf + IDG_PARSE_COPY_AT;
	c.len = (__u32)len;
	memset(p, 0, sizeof(*p));
	r = idg_parse_copy(&c, pkt_len, p);
	free(buf);
	return r;
}

static int parse(const uint8_t *f, size_t n, __u32 pkt_len,
		 struct idg_pkt *p)
{
	memset(p, 0, sizeof(*p));
	return idg_parse((void *)f, (void *)(f + n), pkt_len, p);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t in_size)
{
	const __u8 known = IDG_PKT_F_FRAG | IDG_PKT_F_LATER |
			   IDG_PKT_F_ICMP_REQ | IDG_PKT_F_ICMP_ERR |
			   IDG_PKT_F_Q_REQ;
	struct idg_pkt pkt = { 0 }, cut_pkt, copy_pkt;
	const uint8_t *data;
	size_t size, l3;
	__u32 beyond;
	uint8_t *copy;
	int ret = 0, copy_ret;

	if (in_size < 1)
		return 0;
	beyond = in[0] & 0x7f;
	size = in_size - 1;
	data = frame_copy(in + 1, size, &copy);
	ret = parse(data, size, (__u32)size + beyond, &pkt);

	CHECK(ret == 0 || ret == IDG_PASS_ARP || ret == IDG_PASS_ND ||
	      ret == IDG_PASS_NON_IP || is_header_drop(ret));
	if (ret == IDG_PASS_ND)
		CHECK(pkt.family == IDG_FAM_IPV6 &&
		      pkt.proto == IPPROTO_ICMPV6);
	if (ret == 0 || ret == IDG_PASS_ND) {
		l3 = l3_offset(data, size);
		CHECK(!(pkt.flags & ~known));
		if (pkt.family == IDG_FAM_IPV4) {
			CHECK(l3 + 20 <= size && data[l3] >> 4 == 4);
			CHECK(!memcmp(pkt.saddr, data + l3 + 12, 4));
			CHECK(!memcmp(pkt.daddr, data + l3 + 16, 4));
			CHECK(all_zero(pkt.saddr + 4, 12));
			CHECK(all_zero(pkt.daddr + 4, 12));
			CHECK(pkt.proto == data[l3 + 9]);
		} else {
			CHECK(pkt.family == IDG_FAM_IPV6);
			CHECK(l3 + 40 <= size && data[l3] >> 4 == 6);
			CHECK(!memcmp(pkt.saddr, data + l3 + 8, 16));
			CHECK(!memcmp(pkt.daddr, data + l3 + 24, 16));
		}
		if (pkt.flags & IDG_PKT_F_LATER)
			CHECK((pkt.flags & IDG_PKT_F_FRAG) && !pkt.sport &&
			      !pkt.dport && !pkt.pol_port && !pkt.icmp_kind);
		if (!(pkt.flags & IDG_PKT_F_FRAG))
			CHECK(!pkt.frag_id);
		if (pkt.proto != IPPROTO_TCP)
			CHECK(!pkt.tcp_flags && !pkt.seq && !pkt.ack_seq);
		if (has_ports(pkt.proto) && !(pkt.flags & IDG_PKT_F_LATER))
			CHECK(pkt.pol_port == pkt.dport);
		if (!has_ports(pkt.proto) && !own_icmp(&pkt))
			CHECK(!pkt.sport && !pkt.dport && !pkt.pol_port);
		if (pkt.icmp_kind || (pkt.flags & IDG_PKT_F_ICMP_ERR))
			CHECK(own_icmp(&pkt));
		if (pkt.flags & IDG_PKT_F_ICMP_REQ)
			CHECK(pkt.icmp_kind);
		/* q_daddr may hold a quote found unrelated halfway: only
		 * the flag makes the q_* fields count (verdict.h). */
		if (pkt.flags & IDG_PKT_F_ICMP_ERR)
			CHECK(!pkt.icmp_kind && pkt.q_proto);
		else
			CHECK(!pkt.q_proto && !pkt.q_kind && !pkt.q_sport &&
			      !pkt.q_dport && !(pkt.flags & IDG_PKT_F_Q_REQ));
		if (pkt.flags & IDG_PKT_F_Q_REQ)
			CHECK(pkt.q_kind);
		/* IPv4 without options ahead of the ports: they are there. */
		if (pkt.family == IDG_FAM_IPV4 && has_ports(pkt.proto) &&
		    !(pkt.flags & IDG_PKT_F_LATER)) {
			size_t l4 = l3 + (data[l3] & 15) * 4u;

			CHECK(!memcmp(&pkt.sport, data + l4, 2));
			CHECK(!memcmp(&pkt.dport, data + l4 + 2, 2));
		}
	}
	/*
	 * Once the IP lengths were checked (the family is set), nothing past
	 * them is read: cut there, the frame parses the same.
	 */
	if (pkt.family && !beyond) {
		size_t cut;

		l3 = l3_offset(data, size);
		cut = l3 + (pkt.family == IDG_FAM_IPV4 ?
				    be16(data + l3 + 2) :
				    40 + be16(data + l3 + 4));
		CHECK(cut <= size);
		if (cut < size) {
			uint8_t *alloc;
			const uint8_t *c = frame_copy(data, cut, &alloc);
			int r2 = parse(c, cut, (__u32)cut, &cut_pkt);

			free(alloc);
			CHECK(r2 == ret);
			CHECK(!memcmp(&cut_pkt, &pkt, sizeof(pkt)));
		}
	}
	copy_ret = parse_copy(data, size, (__u32)size + beyond, &copy_pkt);
	if (size <= IDG_PARSE_COPY_MAX) {
		CHECK(copy_ret == ret);
		CHECK(!memcmp(&copy_pkt, &pkt, sizeof(pkt)));
	} else if (copy_ret != ret || is_trunc(copy_ret)) {
		/* Cut short where the frame went on (a truncation of both
		 * may still have filled different fields on the way). */
		CHECK(is_trunc(copy_ret));
	} else if (memcmp(&copy_pkt, &pkt, sizeof(pkt))) {
		CHECK(same_but_quote(&pkt, &copy_pkt));
	}
	if (!beyond) {
		int ref = ref_parse_reason(data, size);

		if (ret == IDG_PASS_ARP || ret == IDG_PASS_NON_IP)
			CHECK(ref == REF_PARSE_NOT_IP);
		else if (ret == 0 || ret == IDG_PASS_ND)
			CHECK(ref == 0);
		else
			CHECK(ref == ret);
	}
	free(copy);
	return 0;
}
