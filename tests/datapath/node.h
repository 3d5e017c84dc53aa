/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The node most datapath tests judge packets on: one local endpoint E
 * (IPv4 and IPv6), known peers A and B, the rest world. Frames, rules and
 * the verdict checks they share.
 */
#ifndef IDGATE_TESTS_NODE_H
#define IDGATE_TESTS_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

#define EP_V4 "10.1.0.10"
#define EP_V6 "fd00:1::10"
#define A_V4 "10.2.0.20"
#define A_V6 "fd00:2::20"
#define B_V4 "10.2.0.30"
#define WORLD_V4 "192.0.2.1"
#define ID_E IDG_ID_MAKE(1, 1000)
#define ID_A IDG_ID_MAKE(1, 2000)
#define ID_B IDG_ID_MAKE(1, 3000)

#define ENF_BOTH (IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_ENFORCE_EGRESS)
#define ENF_IN_DENY (IDG_EP_F_ENFORCE_INGRESS | IDG_EP_F_DENY_INGRESS)

#define RULE(...) \
	((struct idg_rule_entry){ .icmp_type = -1, __VA_ARGS__ })
#define ALLOW_IN(...) RULE(.subject = ID_E, .dir = IDG_DIR_INGRESS, \
			   .kind = IDG_RULE_ALLOW, __VA_ARGS__)
#define DENY_IN(...) RULE(.subject = ID_E, .dir = IDG_DIR_INGRESS, \
			  .kind = IDG_RULE_DENY, __VA_ARGS__)
#define ALLOW_OUT(...) RULE(.subject = ID_E, .dir = IDG_DIR_EGRESS, \
			    .kind = IDG_RULE_ALLOW, __VA_ARGS__)

/* TCP (a SYN: the builder's default flags) and UDP over IPv4. */
struct pkt tcp4(const char *src, const char *dst, uint16_t sport,
		uint16_t dport);
struct pkt udp4(const char *src, const char *dst, uint16_t sport,
		uint16_t dport);

/* E with ep_flags, A and B known; the common starting point. */
void base_node(struct fx *fx, uint32_t ep_flags);

/*
 * Run p through the ingress filter and check its return code and that
 * reason was counted once more. A frame the kernel's test run refuses
 * (see FX_REFUSED) ends the test as skipped.
 */
void expect_verdict(struct fx *fx, const struct pkt *p, int want,
		    uint32_t reason);
void expect_drop(struct fx *fx, const struct pkt *p, uint32_t reason);
void expect_pass(struct fx *fx, const struct pkt *p, uint32_t reason);

#endif
