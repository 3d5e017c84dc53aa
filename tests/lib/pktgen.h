/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test frame builder for the idgate datapath tests (BPF_PROG_TEST_RUN).
 *
 * Frames are plain byte arrays so that a test can corrupt any header byte
 * after building; pkt_fix_csums() then makes the checksums agree again when
 * a test wants to exercise a parser check rather than a checksum check.
 */
#ifndef IDGATE_TESTS_PKTGEN_H
#define IDGATE_TESTS_PKTGEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
/*
 * Pulled in here, ahead of any <linux/...> header a test may include, so
 * that the UAPI libc-compat logic sees glibc's in6 definitions first.
 */
#include <netinet/in.h>

#define PKT_MAX 2048

#define PKT_ETH_ALEN 6

/* TCP flag bits as they sit in byte 13 of the TCP header */
#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10
#define PKT_TCP_URG 0x20

/* fixed values the builders write, so tests can match on them */
#define PKT_TCP_SEQ     1u	/* TCP sequence number */
#define PKT_TCP_ACK_SEQ 1u	/* ack number, only when the ACK flag is set */
#define PKT_ICMP_SEQ    1u	/* echo sequence number (ICMP and ICMPv6) */
#define PKT_TTL         64
#define PKT_ND_HOPLIMIT 255

extern const uint8_t pkt_dst_mac[PKT_ETH_ALEN];	/* 02:00:00:00:00:02 */
extern const uint8_t pkt_src_mac[PKT_ETH_ALEN];	/* 02:00:00:00:00:01 */

struct pkt {
	uint8_t data[PKT_MAX];
	size_t len;
	/* offsets filled by pkt_build so tests can corrupt headers */
	size_t l3_off;   /* start of IPv4/IPv6 header (ARP header for ARP) */
	size_t l4_off;   /* start of TCP/UDP/SCTP/ICMP header (after IPv6 ext headers); 0 if none */
	/*
	 * First byte after the L4 header: the payload pattern for TCP/UDP/
	 * ICMP, the bytes after the SCTP chunk header, the ND body after the
	 * first 8 ICMPv6 bytes (i.e. the target address of NS/NA).  For
	 * non-first fragments and unknown protocols it is the first byte
	 * after the IP and extension headers.  0 for ARP.
	 */
	size_t payload_off;
};

struct pkt_spec {
	int family;            /* AF_INET or AF_INET6 */
	const char *src, *dst; /* textual addresses, parsed with inet_pton; abort() on bad input */
	uint8_t proto;         /* IPPROTO_TCP/UDP/SCTP/ICMP/ICMPV6 (or any other number: then l4 is just payload) */
	uint16_t sport, dport; /* host order; TCP/UDP/SCTP */
	uint8_t tcp_flags;     /* TH_SYN etc. style bits in the 13th byte; 0 means SYN */
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id;      /* echo identifier, host order */
	int nvlan;             /* 0, 1 or 2 VLAN tags (2 = QinQ: outer TPID 0x88a8, inner 0x8100) */
	uint16_t vlan_id[2];   /* outer first; written as the whole TCI, so PCP/DEI may be set */
	/* IPv4 fragment fields; IPv6: when frag is set, a Fragment extension header is added */
	int frag;              /* nonzero: this packet is a fragment */
	uint16_t frag_offset;  /* in 8-byte units */
	int more_frags;
	uint32_t frag_id;      /* IPv4 uses the low 16 bits, also when frag is 0 */
	/* IPv6 extension headers to insert, in order, before the L4 header (and before the
	 * fragment header if frag): values IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS.
	 * Each is 8 bytes long (hdr ext len 0) with PadN padding; a routing header is type 0/segments 0. */
	int n_ext;
	uint8_t ext[8];
	size_t payload_len;    /* bytes of payload after the L4 header, filled with a pattern */
	int ipv4_options;      /* nonzero: add 4 bytes of IPv4 options (NOP x3 + EOL) so IHL=6 */
};

/* byte i of every payload the builders write */
static inline uint8_t pkt_payload_byte(size_t i)
{
	return (uint8_t)i;
}

/*
 * Returns 0, -EINVAL for an inconsistent spec (bad family, nvlan, n_ext or
 * ext value, frag_offset > 0x1fff, ICMP on IPv6 or ICMPv6 on IPv4, ext
 * headers or ipv4_options on the wrong family) or -E2BIG past PKT_MAX.
 *
 * A first fragment is checksummed as if it were the whole datagram (there
 * is nothing else to cover), and its UDP length covers only this fragment.
 * An SCTP packet uses verification tag 0, as an INIT must.
 */
int pkt_build(const struct pkt_spec *spec, struct pkt *out);
/*
 * ARP request from pkt_src_mac/sender_ip for target_ip; vlan_id may be NULL
 * when nvlan is 0.  Unicast to pkt_dst_mac like every other frame here, and
 * not padded to 60 bytes: XDP test runs see neither difference.
 */
int pkt_build_arp(struct pkt *out, const char *sender_ip,
		  const char *target_ip, int nvlan, const uint16_t *vlan_id);
/*
 * ICMPv6 ND message without options: 133 RS, 134 RA, 135 NS and 136 NA
 * (target = dst; NA has only the Override flag), 137 Redirect (target and
 * destination = dst).  -EINVAL for any other type.
 */
int pkt_build_nd(struct pkt *out, uint8_t icmp6_type /* 133..137 */,
		 const char *src, const char *dst);

/*
 * Copy a frame (e.g. data_out of BPF_PROG_TEST_RUN) into a struct pkt and
 * derive l3_off/l4_off/payload_off the way pkt_build would have set them.
 * Returns 0, -EINVAL or -E2BIG.
 */
int pkt_load(struct pkt *p, const void *buf, size_t len);

/*
 * Recompute IPv4 header checksum and L4 checksum (TCP/UDP/ICMP/ICMPv6; SCTP
 * uses CRC32c) after a test edits bytes.
 *
 * pkt_fix_csums and pkt_verify_csums re-parse data/len and ignore the
 * offsets, so they also work on frames a BPF program rewrote.  VLAN/QinQ
 * tags, IPv4 options and IPv6 HBH/routing/dest-opts/fragment/AH headers
 * are walked.  Non-first fragments and unknown protocols have no L4
 * checksum.  UDP covers its length field when that is sane, else the rest
 * of the datagram.  Parts whose lengths do not fit the frame are left alone.
 */
void pkt_fix_csums(struct pkt *p);
/*
 * Internet checksum helpers.  The running sum treats the data as big-endian
 * 16-bit words, so the folded value is in host order: store it with htons().
 * Only the last buffer of a chained computation may have an odd length.
 * pkt_csum_fold() returns the complemented result, hence 0 when a region
 * that includes its own checksum is valid.
 */
uint16_t pkt_csum_fold(uint32_t sum);
uint32_t pkt_csum_partial(const void *buf, size_t len, uint32_t sum);
/* CRC32c (Castagnoli) as used by SCTP; SCTP stores it little-endian */
uint32_t pkt_crc32c(const void *buf, size_t len);
/*
 * 0 when IPv4 hdr csum and L4 csum are valid (or there is nothing to check,
 * e.g. ARP), -EBADMSG otherwise, including for headers that do not fit in
 * len, -EINVAL for a NULL packet or len > PKT_MAX.  A zero UDP checksum is
 * accepted on IPv4 only.
 */
int pkt_verify_csums(const struct pkt *p);

#endif /* IDGATE_TESTS_PKTGEN_H */
