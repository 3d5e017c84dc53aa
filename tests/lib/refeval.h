/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reference evaluator for the differential test (test_diff.c): the verdict
 * the datapath should give a packet, computed from the compiled policy
 * model (struct idg_compiled) by plain linear scans. It never reads the
 * BPF maps and shares no code with the map writer (loader/gen.c,
 * loader/portrange.c) or the BPF verdict (include/idgate/bpf/verdict.h):
 * a bug there shows up as a disagreement.
 */
#ifndef IDGATE_TESTS_REFEVAL_H
#define IDGATE_TESTS_REFEVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"

/* Who gets the credit when several rules of the deciding kind match. */
enum ref_attribution {
	/* What the datapath implements (see refeval.c). */
	REF_ATTR_IDGATE,
	/* Cilium's bpf/lib/policy.h: the any-peer entry when its port
	 * prefix is longer than the peer's own entry's, else the peer's. */
	REF_ATTR_CILIUM,
};

struct ref_model {
	const struct idg_compiled *c;
	/* The uplink's addresses (apply's idg_apply_opts.host), judged as
	 * the host when the compiled host flags are not 0. */
	const struct idg_cidr *host;
	size_t n_host;
	enum ref_attribution attribution;
};

enum ref_frag {
	REF_FRAG_NONE,
	REF_FRAG_FIRST, /* offset 0, more fragments: has its L4 header */
	REF_FRAG_LATER, /* no L4 header */
};

struct ref_pkt {
	int family; /* IDG_FAM_* */
	uint8_t saddr[16], daddr[16];
	uint8_t proto;
	uint16_t sport, dport; /* host order; TCP, UDP, SCTP */
	uint8_t icmp_type, icmp_code;
	uint8_t dir; /* IDG_DIR_*: ingress filter or tc egress */
	enum ref_frag frag;
	uint16_t frag_off; /* REF_FRAG_LATER: in 8-byte units */
};

struct ref_verdict {
	uint32_t reason; /* enum idg_reason */
	uint32_t cookie; /* deciding rule, 0 = none */
	/* How it was reached, for a mismatch report. */
	bool judged;      /* subject and peer below are meaningful */
	uint32_t subject, peer;
	long rule;        /* index in c->rules of the deciding entry, or -1 */
	int prefix;       /* that entry's policy prefix length for this packet */
};

/*
 * The verdict of hook p->dir on p, a packet of a flow the datapath has no
 * conntrack entry for. For a later fragment, first is the verdict the
 * same hook gave its datagram's first fragment (NULL: none was seen).
 */
void ref_judge(const struct ref_model *m, const struct ref_pkt *p,
	       const struct ref_verdict *first, struct ref_verdict *out);

/* Prefix length the datapath's policy key gives a rule entry for a packet
 * of proto/pol_port, or -1 when the entry does not match it. */
int ref_rule_prefix(const struct idg_rule_entry *r, uint8_t proto,
		    uint16_t pol_port);

#endif
