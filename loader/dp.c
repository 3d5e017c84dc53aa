// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp.h"
#include "idgate_xdp.skel.h"
#include "idgate_tc.skel.h"

static void dp_fds_reset(struct idg_dp *dp)
{
	memset(dp, 0, sizeof(*dp));
	dp->gen_fd = dp->cfg_gens_fd = dp->ipc_gens_fd = dp->ep_gens_fd = -1;
	dp->polany_gens_fd = dp->pair_gens_fd = -1;
	dp->pol_gens_fd = dp->ct_fd = dp->reason_st_fd = dp->rule_st_fd = -1;
	dp->misc_st_fd = dp->events_fd = dp->event_rl_fd = -1;
	dp->xdp_prog_fd = dp->tc_prog_fd = -1;
}

/* Without a pin dir the tc object takes the XDP object's maps by fd. */
static int dp_share_maps(struct bpf_object *from, struct bpf_object *to)
{
	struct bpf_map *m, *src;
	int err;

	bpf_object__for_each_map(m, to) {
		src = bpf_object__find_map_by_name(from, bpf_map__name(m));
		if (!src)
			continue;
		err = bpf_map__reuse_fd(m, bpf_map__fd(src));
		if (err)
			return err;
	}
	return 0;
}

static int dp_unpin_all(struct bpf_object *obj)
{
	struct bpf_map *m;
	int err;

	bpf_object__for_each_map(m, obj) {
		err = bpf_map__set_pin_path(m, NULL);
		if (err)
			return err;
	}
	return 0;
}

int idg_dp_open(struct idg_dp *dp, const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	int err;

	dp_fds_reset(dp);
	dp->xdp = idgate_xdp__open_opts(&opts);
	if (!dp->xdp) {
		err = -errno;
		goto out;
	}
	if (!pin_dir) {
		err = dp_unpin_all(dp->xdp->obj);
		if (err)
			goto out;
	}
	err = idgate_xdp__load(dp->xdp);
	if (err)
		goto out;

	dp->tc = idgate_tc__open_opts(&opts);
	if (!dp->tc) {
		err = -errno;
		goto out;
	}
	if (!pin_dir) {
		err = dp_unpin_all(dp->tc->obj);
		if (!err)
			err = dp_share_maps(dp->xdp->obj, dp->tc->obj);
		if (err)
			goto out;
	}
	err = idgate_tc__load(dp->tc);
	if (err)
		goto out;

	dp->gen_fd = bpf_map__fd(dp->xdp->maps.idg_gen);
	dp->cfg_gens_fd = bpf_map__fd(dp->xdp->maps.idg_cfg_gens);
	dp->ipc_gens_fd = bpf_map__fd(dp->xdp->maps.idg_ipc_gens);
	dp->ep_gens_fd = bpf_map__fd(dp->xdp->maps.idg_ep_gens);
	dp->pol_gens_fd = bpf_map__fd(dp->xdp->maps.idg_pol_gens);
	dp->polany_gens_fd = bpf_map__fd(dp->xdp->maps.idg_polany_gens);
	dp->pair_gens_fd = bpf_map__fd(dp->xdp->maps.idg_pair_gens);
	dp->ct_fd = bpf_map__fd(dp->xdp->maps.idg_ct);
	dp->reason_st_fd = bpf_map__fd(dp->xdp->maps.idg_reason_st);
	dp->rule_st_fd = bpf_map__fd(dp->xdp->maps.idg_rule_st);
	dp->misc_st_fd = bpf_map__fd(dp->xdp->maps.idg_misc_st);
	dp->events_fd = bpf_map__fd(dp->xdp->maps.idg_events);
	dp->event_rl_fd = bpf_map__fd(dp->xdp->maps.idg_event_rl);
	dp->xdp_prog_fd = bpf_program__fd(dp->xdp->progs.idgate_xdp_ingress);
	dp->tc_prog_fd = bpf_program__fd(dp->tc->progs.idgate_tc_egress);
	return 0;
out:
	idg_dp_close(dp);
	return err < 0 ? err : -EINVAL;
}

void idg_dp_close(struct idg_dp *dp)
{
	idgate_tc__destroy(dp->tc);
	idgate_xdp__destroy(dp->xdp);
	dp_fds_reset(dp);
}

int idg_dp_active_gen(const struct idg_dp *dp, __u32 *gen)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->gen_fd, &zero, gen))
		return -errno;
	return 0;
}

static int percpu_sum(int fd, __u32 idx, void *out, size_t val_size)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals, *sum = out;
	size_t words = val_size / sizeof(__u64);
	int err = 0, cpu;
	size_t w;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, val_size);
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &idx, vals)) {
		err = -errno;
		goto out;
	}
	memset(out, 0, val_size);
	for (cpu = 0; cpu < ncpu; cpu++)
		for (w = 0; w < words; w++)
			sum[w] += vals[(size_t)cpu * words + w];
out:
	free(vals);
	return err;
}

int idg_dp_reason_stats(const struct idg_dp *dp, __u32 reason,
			struct idg_counter *sum)
{
	return percpu_sum(dp->reason_st_fd, reason, sum, sizeof(*sum));
}

int idg_dp_rule_stats(const struct idg_dp *dp, __u32 cookie,
		      struct idg_counter *sum)
{
	return percpu_sum(dp->rule_st_fd, cookie, sum, sizeof(*sum));
}

int idg_dp_misc_stat(const struct idg_dp *dp, __u32 idx, __u64 *sum)
{
	return percpu_sum(dp->misc_st_fd, idx, sum, sizeof(*sum));
}
