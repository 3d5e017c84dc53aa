/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Verdict reasons: the one table of numbers and names used by the BPF
 * programs (counters, events) and by every CLI that prints them.
 *
 * Numbers are ABI: they are stored in pinned counter maps and in events
 * read by other versions of the CLI. Append, never renumber.
 * Pass reasons are below IDG_DROP_BASE, drop reasons at or above it.
 */
#ifndef IDGATE_REASONS_H
#define IDGATE_REASONS_H

#define IDG_DROP_BASE 128
#define IDG_REASON_MAX 256

/* X(enum suffix, number, name shown by the CLI) */
#define IDG_PASS_REASONS(X)                                              \
	X(PASS_NOT_ENDPOINT, 1, "not-local-endpoint")                    \
	X(PASS_UNENFORCED, 2, "policy-not-enforced")                     \
	X(PASS_POLICY, 3, "policy-allow")                                \
	X(PASS_CT, 4, "conntrack-established")                           \
	X(PASS_ARP, 5, "arp")                                            \
	X(PASS_ND, 6, "ipv6-neighbour-discovery")                        \
	X(PASS_NON_IP, 7, "not-ip")                                      \
	X(PASS_NO_CONFIG, 8, "no-active-generation")                    \
	X(PASS_EGW_ENCAP, 9, "egress-gateway-encap")                     \
	X(PASS_TUNNEL_DECAP, 10, "tunnel-decap")                         \
	X(PASS_SNAT, 11, "egress-snat")                                  \
	X(PASS_REV_SNAT, 12, "egress-reverse-snat")                      \
	X(PASS_CT_RELATED, 13, "conntrack-related-icmp-error")           \
	X(PASS_FRAG, 14, "fragment-of-passed-datagram")                  \
	X(PASS_L7_PROXY, 15, "to-l7-proxy")

#define IDG_DROP_REASONS(X)                                              \
	X(DROP_POLICY_DENY, 128, "policy-deny")                          \
	X(DROP_POLICY_DEFAULT, 129, "policy-default-deny")               \
	X(DROP_TRUNC_ETH, 130, "truncated-ethernet")                     \
	X(DROP_TRUNC_VLAN, 131, "truncated-vlan")                        \
	X(DROP_VLAN_DEPTH, 132, "too-many-vlan-tags")                    \
	X(DROP_TRUNC_IPV4, 133, "truncated-ipv4")                        \
	X(DROP_BAD_IPV4_HDR, 134, "malformed-ipv4-header")               \
	X(DROP_BAD_IPV4_LEN, 135, "bad-ipv4-total-length")               \
	X(DROP_TRUNC_IPV6, 136, "truncated-ipv6")                        \
	X(DROP_BAD_IPV6_HDR, 137, "malformed-ipv6-header")               \
	X(DROP_TRUNC_IPV6_EXT, 138, "truncated-ipv6-extension-header")   \
	X(DROP_IPV6_EXT_LIMIT, 139, "too-many-ipv6-extension-headers")   \
	X(DROP_TRUNC_TCP, 140, "truncated-tcp")                          \
	X(DROP_BAD_TCP_HDR, 141, "malformed-tcp-header")                 \
	X(DROP_TRUNC_UDP, 142, "truncated-udp")                          \
	X(DROP_TRUNC_SCTP, 143, "truncated-sctp")                        \
	X(DROP_TRUNC_ICMP, 144, "truncated-icmp")                        \
	X(DROP_TRUNC_ICMPV6, 145, "truncated-icmpv6")                    \
	X(DROP_BAD_FRAGMENT, 146, "malformed-fragment")                  \
	X(DROP_NO_GATEWAY, 147, "no-healthy-gateway")                    \
	X(DROP_NAT_EXHAUSTED, 148, "nat-ports-exhausted")                \
	X(DROP_TOO_BIG, 149, "packet-too-big-for-tunnel")                \
	X(DROP_TUNNEL_UNKNOWN_NODE, 150, "tunnel-from-unknown-node")     \
	X(DROP_EGW_NOT_SELECTED, 151, "not-selected-by-egress-policy")   \
	X(DROP_FIB, 152, "no-route")                                     \
	X(DROP_ENCAP, 153, "encap-failed")                               \
	X(DROP_DECAP, 154, "decap-failed")                               \
	X(DROP_BAD_TUNNEL, 155, "malformed-tunnel-header")               \
	X(DROP_NAT_REWRITE, 156, "nat-rewrite-failed")                   \
	X(DROP_TUNNEL_BAD_VNI, 157, "tunnel-vni-not-source-identity")    \
	X(DROP_TUNNEL_SPOOFED_SRC, 158, "tunnel-source-not-on-sender")   \
	X(DROP_TUNNEL_FORGED, 159, "geneve-not-encapsulated-by-idgate")  \
	X(DROP_SPOOFED_SOURCE, 160, "source-not-bound-to-interface")     \
	X(DROP_FRAG_NO_FIRST, 161, "fragment-without-first")             \
	X(DROP_GEN_INCOMPLETE, 162, "generation-maps-missing")           \
	X(DROP_UNKNOWN_ETHERTYPE, 163, "unknown-ethertype")              \
	X(DROP_NAT_SOURCE_QUOTA, 164, "nat-source-quota-exceeded")       \
	X(DROP_L7_NO_PROXY, 165, "l7-proxy-unavailable")                 \
	X(DROP_REMOTE_EXPIRED, 166, "remote-identity-expired")

enum idg_reason {
	IDG_REASON_NONE = 0,
#define IDG_X_ENUM(sfx, num, name) IDG_##sfx = num,
	IDG_PASS_REASONS(IDG_X_ENUM)
	IDG_DROP_REASONS(IDG_X_ENUM)
#undef IDG_X_ENUM
};

static inline int idg_reason_is_drop(unsigned int r)
{
	return r >= IDG_DROP_BASE;
}

#ifndef __bpf__
/* Userspace only: the BPF side never needs the strings. */
static inline const char *idg_reason_name(unsigned int r)
{
	switch (r) {
#define IDG_X_NAME(sfx, num, name) \
	case num:                  \
		return name;
		IDG_PASS_REASONS(IDG_X_NAME)
		IDG_DROP_REASONS(IDG_X_NAME)
#undef IDG_X_NAME
	default:
		return "unknown";
	}
}
#endif

#endif /* IDGATE_REASONS_H */
