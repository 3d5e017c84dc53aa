// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <linux/bpf.h>

#include "node.h"

struct pkt tcp4(const char *src, const char *dst, uint16_t sport,
		uint16_t dport)
{
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = AF_INET, .src = src,
					 .dst = dst, .proto = IPPROTO_TCP,
					 .sport = sport, .dport = dport });
	return p;
}

struct pkt udp4(const char *src, const char *dst, uint16_t sport,
		uint16_t dport)
{
	struct pkt p;

	fx_build(&p, &(struct pkt_spec){ .family = AF_INET, .src = src,
					 .dst = dst, .proto = IPPROTO_UDP,
					 .sport = sport, .dport = dport });
	return p;
}

void base_node(struct fx *fx, uint32_t ep_flags)
{
	fx_endpoint(fx, EP_V4, ID_E, ep_flags);
	fx_endpoint(fx, EP_V6, ID_E, ep_flags);
	fx_ipcache(fx, A_V4, ID_A);
	fx_ipcache(fx, A_V6, ID_A);
	fx_ipcache(fx, B_V4, ID_B);
}

void expect_verdict(struct fx *fx, const struct pkt *p, int want,
		    uint32_t reason)
{
	uint64_t before = fx_reason_pkts(fx, reason);
	int ret = fx_run_xdp(fx, p);

	/* Nothing after this frame would mean anything: the test ends, and
	 * shows as skipped rather than passed. */
	if (ret == FX_REFUSED) {
		printf("# tc ingress: the kernel's test run refuses this %u-byte frame, so the tc program is not judged on it\n",
		       (unsigned)p->len);
		skip();
	}
	assert_int_equal(ret, want);
	assert_int_equal(fx_reason_pkts(fx, reason), before + 1);
}

void expect_drop(struct fx *fx, const struct pkt *p, uint32_t reason)
{
	expect_verdict(fx, p, XDP_DROP, reason);
}

void expect_pass(struct fx *fx, const struct pkt *p, uint32_t reason)
{
	expect_verdict(fx, p, XDP_PASS, reason);
}
