// SPDX-License-Identifier: GPL-2.0
/*
 * The reference verdict, by linear scans over the compiled model.
 *
 * The specification it implements, in plain terms:
 *
 * Before any policy (the parser's decisions that a policy test meets):
 *  - ICMPv6 types 133..137 (router and neighbour discovery) always pass;
 *  - a later fragment whose offset lies inside the smallest header of its
 *    protocol (TCP 20, UDP 8, SCTP 12 bytes) is malformed;
 *  - at tc egress, UDP to port 6081 of a node of the mesh (its tunnel IP)
 *    is GENEVE that idgate did not make, and is dropped.
 *
 * The subject is the local side (the destination at the ingress filter,
 * the source at tc egress): the local endpoint address with the longest
 * prefix containing it, the uplink's own addresses counting as the host
 * when the host has flags; else, under policyEnforcement always, the
 * host; else nobody (not-local-endpoint). A subject whose compiled flags
 * do not enforce the direction passes (policy-not-enforced).
 *
 * The peer is the other side's identity: the ipcache entry keyed by the
 * node's cluster with the longest prefix containing the address, world
 * (2) when there is none. When that entry is marked expired (another
 * node's endpoint, from a mesh store that went silent), the packet is
 * dropped as remote-identity-expired before any rule is looked at.
 *
 * The verdict, over the rule entries of (subject, direction): deny when a
 * deny entry matches, else allow when an allow entry matches, else
 * default deny. An entry matches when its peer is the packet's peer or 0
 * (any peer), and its protocol is 0 (every protocol, ICMP included) or
 * the packet's, with the port (TCP, UDP, SCTP: 0 = every port, else the
 * range [port, max(port, end_port)]) or ICMP type (-1 = every type)
 * holding the packet's. The deny flags of the model are not consulted:
 * they only let the datapath skip lookups.
 *
 * Which matching entry of the deciding kind gets the credit (its cookie
 * goes on the event and the counters), as the datapath does it:
 *  1. entries for the packet's own peer come before any-peer entries,
 *     whatever their ports (REF_ATTR_CILIUM instead lets an any-peer
 *     entry with a strictly longer prefix win, as Cilium's datapath does);
 *  2. then the most specific entry: the one that fixes the most bits of
 *     (protocol, port). Every protocol fixes none, a protocol with every
 *     port or ICMP type 8, an ICMP type 16, a port range 8 plus the bits
 *     fixed by the largest power-of-two block, aligned on its size, that
 *     lies inside the range and holds the packet's port (a single port:
 *     24). So a range is as specific as its block around the port, not
 *     as its width: a port range is stored as such blocks;
 *  3. then the entry that comes first in the compiled rule list (policy
 *     order, then rule order): an entry already present keeps its first
 *     cookie.
 *
 * Later fragments carry no ports: in an enforced direction one passes
 * with the verdict and rule of its datagram's first fragment when that
 * fragment passed by policy at the same hook, and is dropped as
 * fragment-without-first otherwise. Where nothing is enforced it passes
 * as any packet there would.
 */
#include <string.h>
#include <netinet/in.h>

#include <idgate/datapath.h>
#include <idgate/egw.h>

#include "refeval.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* Policy key bits before protocol and port (datapath.h): the prefix the
 * datapath reports is this plus the bits an entry fixes. */
#define REF_PREFIX_BASE 88

static bool prefix_holds(int family, const uint8_t *net, unsigned int plen,
			 int afamily, const uint8_t *addr)
{
	unsigned int full = plen / 8, rest = plen % 8;

	if (family != afamily)
		return false;
	if (memcmp(net, addr, full))
		return false;
	if (!rest)
		return true;
	return !((net[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest));
}

/* Bits of the port fixed by the largest aligned block in [lo, hi] that
 * holds port (lo <= port <= hi). */
static int block_bits(uint16_t lo, uint16_t hi, uint16_t port)
{
	for (int free_bits = 16; free_bits > 0; free_bits--) {
		uint32_t size = 1u << free_bits;
		uint32_t start = port & ~(size - 1);

		if (start >= lo && start + size - 1 <= hi)
			return 16 - free_bits;
	}
	return 16;
}

int ref_rule_prefix(const struct idg_rule_entry *r, uint8_t proto,
		    uint16_t pol_port)
{
	if (!r->proto)
		return REF_PREFIX_BASE;
	if (r->proto != proto)
		return -1;
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		if (r->icmp_type < 0)
			return REF_PREFIX_BASE + 8;
		return (pol_port >> 8) == r->icmp_type ? REF_PREFIX_BASE + 16 :
							 -1;
	}
	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP &&
	     proto != IPPROTO_SCTP) ||
	    !r->port)
		return REF_PREFIX_BASE + 8;
	{
		uint16_t hi = r->end_port > r->port ? r->end_port : r->port;

		if (pol_port < r->port || pol_port > hi)
			return -1;
		return REF_PREFIX_BASE + 8 + block_bits(r->port, hi, pol_port);
	}
}

struct ref_best {
	long rule;
	int prefix;
};

/* The best entry of one kind for peer (0: the any-peer entries). */
static struct ref_best best_entry(const struct idg_compiled *c,
				  uint32_t subject, uint8_t dir, uint32_t peer,
				  uint8_t kind, uint8_t proto,
				  uint16_t pol_port)
{
	struct ref_best b = { .rule = -1, .prefix = -1 };

	for (size_t i = 0; i < c->n_rules; i++) {
		const struct idg_rule_entry *r = &c->rules[i];
		int len;

		if (r->subject != subject || r->dir != dir || r->kind != kind ||
		    r->peer != peer)
			continue;
		len = ref_rule_prefix(r, proto, pol_port);
		/* Strictly longer: the first of equals keeps the credit. */
		if (len > b.prefix) {
			b.rule = (long)i;
			b.prefix = len;
		}
	}
	return b;
}

static struct ref_best judge_kind(const struct ref_model *m, uint32_t subject,
				  uint8_t dir, uint32_t peer, uint8_t kind,
				  uint8_t proto, uint16_t pol_port)
{
	struct ref_best own = { .rule = -1, .prefix = -1 }, any;

	/* A rule for peer 0 is an any-peer rule already. */
	if (peer)
		own = best_entry(m->c, subject, dir, peer, kind, proto,
				 pol_port);
	any = best_entry(m->c, subject, dir, 0, kind, proto, pol_port);
	if (own.rule < 0)
		return any;
	if (m->attribution == REF_ATTR_CILIUM && any.prefix > own.prefix)
		return any;
	return own;
}

/* The local subject of addr: 0 when nobody. */
static int subject_of(const struct ref_model *m, int family,
		      const uint8_t *addr, uint32_t *id, uint32_t *flags)
{
	const struct idg_compiled *c = m->c;
	int best = -1;

	for (size_t i = 0; i < c->n_eps; i++) {
		const struct idg_local_ep *e = &c->eps[i];

		if ((int)e->cidr.plen > best &&
		    prefix_holds(e->cidr.family, e->cidr.addr, e->cidr.plen,
				 family, addr)) {
			best = (int)e->cidr.plen;
			*id = e->identity;
			*flags = e->flags;
		}
	}
	/* The uplink's addresses are host prefixes, written after the
	 * endpoints: on an equal prefix they are the host's. */
	for (size_t i = 0; c->host_flags && i < m->n_host; i++) {
		const struct idg_cidr *h = &m->host[i];

		if ((int)h->plen >= best &&
		    prefix_holds(h->family, h->addr, h->plen, family, addr)) {
			best = (int)h->plen;
			*id = IDG_ID_HOST;
			*flags = c->host_flags;
		}
	}
	if (best >= 0)
		return 1;
	if (c->enforcement == IDG_ENFORCE_ALWAYS) {
		*id = IDG_ID_HOST;
		*flags = c->host_flags;
		return 1;
	}
	return 0;
}

static uint32_t peer_of(const struct idg_compiled *c, int family,
			const uint8_t *addr, bool *expired)
{
	uint32_t id = IDG_ID_WORLD;
	int best = -1;

	*expired = false;
	for (size_t i = 0; i < c->n_ipcache; i++) {
		const struct idg_ipcache_entry *e = &c->ipcache[i];

		if (e->key_cluster != c->cluster_id)
			continue;
		if ((int)e->cidr.plen > best &&
		    prefix_holds(e->cidr.family, e->cidr.addr, e->cidr.plen,
				 family, addr)) {
			best = (int)e->cidr.plen;
			id = e->identity;
			*expired = e->expired;
		}
	}
	return id;
}

static unsigned int l4_min_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
		return 8;
	case IPPROTO_SCTP:
		return 12;
	default:
		return 0;
	}
}

static bool geneve_forged(const struct idg_compiled *c,
			  const struct ref_pkt *p)
{
	uint32_t dst;

	if (p->dir != IDG_DIR_EGRESS || p->family != IDG_FAM_IPV4 ||
	    p->proto != IPPROTO_UDP || p->frag == REF_FRAG_LATER ||
	    p->dport != IDG_GENEVE_PORT)
		return false;
	memcpy(&dst, p->daddr, 4);
	for (size_t i = 0; i < c->n_tnodes; i++)
		if (c->tnodes[i].tunnel_ip == dst)
			return true;
	return false;
}

static uint16_t pol_port_of(const struct ref_pkt *p)
{
	switch (p->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		return p->dport;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return (uint16_t)(p->icmp_type << 8 | p->icmp_code);
	default:
		return 0;
	}
}

void ref_judge(const struct ref_model *m, const struct ref_pkt *p,
	       const struct ref_verdict *first, struct ref_verdict *out)
{
	uint32_t enforce = p->dir == IDG_DIR_INGRESS ?
				   IDG_EP_F_ENFORCE_INGRESS :
				   IDG_EP_F_ENFORCE_EGRESS;
	const uint8_t *local = p->dir == IDG_DIR_INGRESS ? p->daddr : p->saddr;
	const uint8_t *remote = p->dir == IDG_DIR_INGRESS ? p->saddr : p->daddr;
	uint16_t pol_port = pol_port_of(p);
	uint32_t flags = 0;
	struct ref_best b;
	bool expired;

	memset(out, 0, sizeof(*out));
	out->rule = -1;
	out->prefix = -1;

	if (p->frag == REF_FRAG_LATER &&
	    (unsigned int)p->frag_off * 8 < l4_min_len(p->proto)) {
		out->reason = IDG_DROP_BAD_FRAGMENT;
		return;
	}
	if (p->frag != REF_FRAG_LATER && p->proto == IPPROTO_ICMPV6 &&
	    p->family == IDG_FAM_IPV6 && p->icmp_type >= 133 &&
	    p->icmp_type <= 137) {
		out->reason = IDG_PASS_ND;
		return;
	}
	if (geneve_forged(m->c, p)) {
		out->reason = IDG_DROP_TUNNEL_FORGED;
		return;
	}
	if (!subject_of(m, p->family, local, &out->subject, &flags)) {
		out->reason = IDG_PASS_NOT_ENDPOINT;
		return;
	}
	if (!(flags & enforce)) {
		out->reason = IDG_PASS_UNENFORCED;
		return;
	}
	out->judged = true;
	out->peer = peer_of(m->c, p->family, remote, &expired);

	if (p->frag == REF_FRAG_LATER) {
		if (first && first->judged && !idg_reason_is_drop(first->reason)) {
			out->reason = IDG_PASS_FRAG;
			out->cookie = first->cookie;
		} else {
			out->reason = IDG_DROP_FRAG_NO_FIRST;
		}
		return;
	}
	if (expired) {
		out->reason = IDG_DROP_REMOTE_EXPIRED;
		return;
	}

	b = judge_kind(m, out->subject, p->dir, out->peer, IDG_RULE_DENY,
		       p->proto, pol_port);
	if (b.rule >= 0) {
		out->reason = IDG_DROP_POLICY_DENY;
	} else {
		b = judge_kind(m, out->subject, p->dir, out->peer,
			       IDG_RULE_ALLOW, p->proto, pol_port);
		out->reason = b.rule >= 0 ? IDG_PASS_POLICY :
					    IDG_DROP_POLICY_DEFAULT;
	}
	out->rule = b.rule;
	out->prefix = b.prefix;
	if (b.rule >= 0)
		out->cookie = m->c->rules[b.rule].cookie;
}
