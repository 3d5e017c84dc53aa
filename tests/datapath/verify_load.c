// SPDX-License-Identifier: GPL-2.0
/*
 * Build-time check: load every BPF program of the node datapath into the
 * running kernel. A verifier rejection fails the build, with libbpf's
 * verifier log on stderr. Writes a one-line-per-program report to argv[1].
 * Fails as well when a program needs more than IDG_VERIFY_BUDGET verified
 * instructions.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp.h"
#include "egw_progs.h"
#include "idgate_l7.skel.h"
#include "idgate_tc.skel.h"

/*
 * The kernel gives up at 1 000 000 verified instructions. Older verifiers
 * (5.15, 6.1: the kernels the docs promise) prune fewer states and need
 * more for the same program, so a program that this kernel verifies near
 * the limit may be refused there: keep well under it, and let a change
 * that makes the verifier's work grow by a third fail here first.
 */
#define IDG_VERIFY_BUDGET 600000u

static int report(FILE *out, const char *what, int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	fprintf(out, "%-28s loaded: %u xlated insns, %u insns verified\n",
		what, info.xlated_prog_len / 8, info.verified_insns);
	if (!info.xlated_prog_len || !info.verified_insns) {
		fprintf(stderr, "idgate: %s: the kernel reports no instructions\n",
			what);
		return -EINVAL;
	}
	if (info.verified_insns > IDG_VERIFY_BUDGET) {
		fprintf(stderr, "idgate: %s: %u instructions verified, over the budget of %u (the kernel's limit is 1000000; older kernels need more)\n",
			what, info.verified_insns, IDG_VERIFY_BUDGET);
		return -E2BIG;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct idg_egw_objs egw = { .wl_fd = -1, .wl_egress_fd = -1 };
	struct idgate_l7 *l7 = NULL;
	struct idg_dp dp;
	FILE *out = stdout;
	int err;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [REPORT]\n", argv[0]);
		return 2;
	}
	err = idg_dp_open(&dp, NULL);
	if (err) {
		fprintf(stderr, "idgate: BPF programs failed to load: %s\n",
			strerror(-err));
		return 1;
	}
	err = idg_egw_objs_open(&egw, &dp);
	if (err) {
		fprintf(stderr, "idgate: egress gateway BPF programs failed to load: %s\n",
			strerror(-err));
		idg_dp_close(&dp);
		return 1;
	}
	l7 = idgate_l7__open();
	err = l7 ? idg_dp_share_into(&dp, l7->obj) : -errno;
	if (!err)
		err = idgate_l7__load(l7);
	if (err) {
		fprintf(stderr, "idgate: L7 steering BPF program failed to load: %s\n",
			strerror(-err));
		goto out;
	}
	if (argc == 2) {
		out = fopen(argv[1], "w");
		if (!out) {
			err = -errno;
			goto out;
		}
	}
	err = report(out, "xdp/idgate_xdp_ingress", dp.xdp_prog_fd);
	if (!err)
		err = report(out, "tc/idgate_tc_egress", dp.tc_prog_fd);
	if (!err)
		err = report(out, "tc/idgate_tc_ingress", dp.tc_in_prog_fd);
	if (!err)
		err = report(out, "tc/idgate_tc_egress_copy",
			     bpf_program__fd(dp.tc->progs.idgate_tc_egress_copy));
	if (!err)
		err = report(out, "tc/idgate_tc_ingress_copy",
			     bpf_program__fd(dp.tc->progs.idgate_tc_ingress_copy));
	if (!err)
		err = report(out, "tc/idgate_tc_wl_ingress", egw.wl_fd);
	if (!err)
		err = report(out, "tc/idgate_tc_wl_egress", egw.wl_egress_fd);
	if (!err)
		err = report(out, "egressgw/idgate_tunnel_in", egw.tunnel_fd);
	if (!err)
		err = report(out, "egressgw/idgate_gw_ext_in", egw.ext_fd);
	if (!err)
		err = report(out, "tc/idgate_l7_steer",
			     bpf_program__fd(l7->progs.idgate_l7_steer));
	if (out != stdout)
		fclose(out);
out:
	idgate_l7__destroy(l7);
	idg_egw_objs_close(&egw);
	idg_dp_close(&dp);
	/* Budget and empty-program failures were explained above. */
	if (err && err != -E2BIG && err != -EINVAL)
		fprintf(stderr, "idgate: verifier report: %s\n", strerror(-err));
	return err ? 1 : 0;
}
