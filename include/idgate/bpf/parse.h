/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet parsing shared by the XDP and tc programs. idg_parse() reads a
 * frame's linear [data, data_end) window; idg_parse_copy() reads a copy of
 * its first bytes (struct idg_copy). The caller supplies the full packet
 * length so that tc can tell "truncated" from "not in the window".
 */
#ifndef IDGATE_BPF_PARSE_H
#define IDGATE_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <idgate/datapath.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define IDG_PKT_F_FRAG (1u << 0)  /* any fragment */
#define IDG_PKT_F_LATER (1u << 1) /* non-first fragment: no L4 header */
#define IDG_PKT_F_ICMP_REQ (1u << 2) /* ICMP query request (icmp_kind) */
/* An ICMP error quoting a packet its receiver sent: q_* describe it. */
#define IDG_PKT_F_ICMP_ERR (1u << 3)
/* ... and the quoted packet is an ICMP query request. */
#define IDG_PKT_F_Q_REQ (1u << 4)

struct idg_pkt {
	__u8 family; /* IDG_FAM_* */
	__u8 proto;
	__u8 flags;  /* IDG_PKT_F_* */
	__u8 tcp_flags; /* byte 13 of the TCP header */
	__be16 sport; /* conntrack ports (ICMP query: id on both) */
	__be16 dport;
	__be16 pol_port; /* port as policy sees it (ICMP: type << 8 | code) */
	__u8 icmp_kind;  /* ICMP query: the request's type; 0 otherwise */
	__u8 q_kind;     /* the quoted packet's icmp_kind */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 seq;       /* TCP, host order */
	__u32 ack_seq;
	__be32 frag_id;  /* fragments: IPv4 id (16 bits) or IPv6 id */
	/* ICMP error: the packet it quotes, whose source is daddr. */
	__u8 q_daddr[16];
	__be16 q_sport;
	__be16 q_dport;
	__u8 q_proto;
	__u8 pad[3];
};

struct idg_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* linux/icmp.h pulls in libc socket headers, which a BPF build lacks. */
struct idg_icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 csum;
	__be16 id;
	__be16 seq;
};

#define IDG_ICMP_ECHOREPLY 0
#define IDG_ICMP_ECHO 8
#define IDG_ICMPV6_ECHO 128
#define IDG_ICMPV6_ECHOREPLY 129

/*
 * ICMP queries carry an identifier after the checksum: IPv4 echo,
 * timestamp, information and address mask, ICMPv6 echo. Returns the
 * request type of the query a type belongs to (its kind), 0 for any other
 * type; *req tells a request from a reply.
 */
static __always_inline __u8 idg_icmp_query(__u8 family, __u8 type, int *req)
{
	*req = 0;
	if (family == IDG_FAM_IPV6) {
		if (type == IDG_ICMPV6_ECHO || type == IDG_ICMPV6_ECHOREPLY) {
			*req = type == IDG_ICMPV6_ECHO;
			return IDG_ICMPV6_ECHO;
		}
		return 0;
	}
	switch (type) {
	case IDG_ICMP_ECHO:
	case 13:
	case 15:
	case 17:
		*req = 1;
		return type;
	case IDG_ICMP_ECHOREPLY:
		return IDG_ICMP_ECHO;
	case 14:
	case 16:
	case 18:
		return type - 1;
	default:
		return 0;
	}
}

/* ICMP errors quote the IP header and at least 8 bytes of the packet that
 * caused them (RFC 792, RFC 4443 section 2.4). */
static __always_inline int idg_icmp_is_error(__u8 family, __u8 type)
{
	if (family == IDG_FAM_IPV6)
		return type >= 1 && type <= 4;
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

#define IDG_IP_MF 0x2000
#define IDG_IP_OFFSET 0x1fff

struct idg_sctp_hdr {
	__be16 source;
	__be16 dest;
	__be32 vtag;
	__be32 csum;
};

/* Smallest L4 header the first fragment must carry; a later fragment
 * that starts inside it would let an attacker rewrite the ports. */
static __always_inline __u32 idg_l4_min_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_SCTP:
		return sizeof(struct idg_sctp_hdr);
	default:
		return 0;
	}
}

static __always_inline int idg_is_v6_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_AH || nh == 135 /* mobility */;
}

static __always_inline int idg_v6_addr_eq(const void *a, const void *b)
{
	__u64 x[2], y[2];

	__builtin_memcpy(x, a, 16);
	__builtin_memcpy(y, b, 16);
	return x[0] == y[0] && x[1] == y[1];
}


/*
 * A copy of a frame's first len bytes, at most IDG_PARSE_COPY_MAX, in a
 * buffer of IDG_PARSE_COPY_BUF. tc parses one when the headers are in
 * paged data: copying them out costs far less than pulling them into the
 * linear area, which allocates a new head and frees the pages it empties,
 * for every frame of a flood that is then dropped.
 */
#define IDG_PARSE_COPY_MAX 256
/* Where a copy starts in its buffer: 2 bytes in, as the kernel places
 * frames (NET_IP_ALIGN), so that IP headers are 4-byte aligned. */
#define IDG_PARSE_COPY_AT 2
/* Past the copy, room for the largest header read at once (IPv6's 40
 * bytes): every offset below IDG_PARSE_COPY_MAX is a valid start. */
#define IDG_PARSE_COPY_BUF (IDG_PARSE_COPY_AT + IDG_PARSE_COPY_MAX + 64)

struct idg_copy {
	const __u8 *data;
	__u32 len;
};

/* The header at off of a copy, once IDG_FITS said it is there. The
 * verifier needs the bound on the very register added to the pointer;
 * clang checks a copy of off and would drop a mask it can prove idle.
 * Hidden from it, the mask stays (off < IDG_PARSE_COPY_MAX already). */
static __always_inline void *idg_copy_at(const struct idg_copy *c, __u32 off)
{
	asm volatile("" : "+r"(off));
	off &= IDG_PARSE_COPY_MAX - 1;
	return (void *)(c->data + off);
}

/*
 * The parser, twice from one source (parse_impl.h): once on a frame,
 * where a position is a packet pointer checked against data_end (the
 * form the verifier follows best: the XDP program and tc's first parse),
 * once on a copy, where a position is an offset checked against the
 * bytes copied and the buffer's size.
 */
#define IDG_PARSE_FN(name) name
#define IDG_WIN_T void * /* data_end */
#define IDG_POS_T __u8 *
#define IDG_FITS(w, pos, n) ((void *)((pos) + (n)) <= (w))
#define IDG_PTR(w, pos) ((void *)(pos))
#include <idgate/bpf/parse_impl.h>
#undef IDG_PARSE_FN
#undef IDG_WIN_T
#undef IDG_POS_T
#undef IDG_FITS
#undef IDG_PTR

#define IDG_PARSE_FN(name) name##_copy
#define IDG_WIN_T const struct idg_copy *
#define IDG_POS_T __u32
#define IDG_FITS(w, pos, n)                                                   \
	((pos) <= IDG_PARSE_COPY_MAX - (n) && (pos) + (n) <= (w)->len)
#define IDG_PTR(w, pos) idg_copy_at(w, pos)
#include <idgate/bpf/parse_impl.h>
#undef IDG_PARSE_FN
#undef IDG_WIN_T
#undef IDG_POS_T
#undef IDG_FITS
#undef IDG_PTR

/*
 * Returns 0 for an IP packet filled into *p, a IDG_PASS_* reason for
 * traffic that is never judged (ARP, ND, non-IP), or a IDG_DROP_* reason.
 */
static __always_inline int idg_parse(void *data, void *data_end, __u32 pkt_len,
				     struct idg_pkt *p)
{
	return idg_parse_from(data_end, data, pkt_len, p);
}

/* The same on a copy: headers past c->len count as missing. */
static __always_inline int idg_parse_copy(const struct idg_copy *c,
					  __u32 pkt_len, struct idg_pkt *p)
{
	return idg_parse_from_copy(c, 0, pkt_len, p);
}

#endif /* IDGATE_BPF_PARSE_H */
