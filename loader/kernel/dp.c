// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ct_gc.h"
#include "dp.h"
#include "idgate_xdp.skel.h"
#include "idgate_tc.skel.h"
#include "util/util.h"

static void dp_fds_reset(struct idg_dp *dp)
{
	memset(dp, 0, sizeof(*dp));
#define RESET(field, map, pin) dp->field = -1;
	IDG_DP_MAPS(RESET)
#undef RESET
	dp->xdp_prog_fd = dp->tc_prog_fd = dp->tc_in_prog_fd = -1;
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

#define COPY(field, map, pin) dp->field = bpf_map__fd(dp->xdp->maps.map);
	IDG_DP_MAPS(COPY)
#undef COPY
	dp->xdp_prog_fd = bpf_program__fd(dp->xdp->progs.idgate_xdp_ingress);
	dp->tc_prog_fd = bpf_program__fd(dp->tc->progs.idgate_tc_egress);
	dp->tc_in_prog_fd = bpf_program__fd(dp->tc->progs.idgate_tc_ingress);
	err = idg_ct_hint_init(dp->ct_epoch_fd,
			       idg_clock_ns(CLOCK_MONOTONIC_COARSE));
	if (err)
		goto out;
	return 0;
out:
	idg_dp_close(dp);
	return err < 0 ? err : -EINVAL;
}

static const struct {
	const char *name;
	size_t off;
} dp_maps[] = {
#define M(field, map, pin) { pin, offsetof(struct idg_dp, field) },
	IDG_DP_MAPS(M)
#undef M
};

size_t idg_dp_map_names(const char **names, size_t max)
{
	size_t n = sizeof(dp_maps) / sizeof(dp_maps[0]);

	for (size_t i = 0; i < n && i < max; i++)
		names[i] = dp_maps[i].name;
	return n;
}

int idg_dp_open_pinned(struct idg_dp *dp, const char *pin_dir)
{
	char path[4096];
	int err = 0;

	dp_fds_reset(dp);
	dp->own_fds = true;
	for (size_t i = 0; i < sizeof(dp_maps) / sizeof(dp_maps[0]); i++) {
		int *fd = (int *)((char *)dp + dp_maps[i].off);
		int n = snprintf(path, sizeof(path), "%s/%s", pin_dir,
				 dp_maps[i].name);

		if (n < 0 || (size_t)n >= sizeof(path)) {
			err = -ENAMETOOLONG;
			break;
		}
		*fd = bpf_obj_get(path);
		if (*fd < 0) {
			err = -errno;
			break;
		}
	}
	if (err)
		idg_dp_close(dp);
	return err;
}

void idg_dp_close(struct idg_dp *dp)
{
	if (dp->own_fds) {
		for (size_t i = 0; i < sizeof(dp_maps) / sizeof(dp_maps[0]);
		     i++) {
			int fd = *(int *)((char *)dp + dp_maps[i].off);

			if (fd >= 0)
				close(fd);
		}
	}
	idgate_tc__destroy(dp->tc);
	idgate_xdp__destroy(dp->xdp);
	dp_fds_reset(dp);
}

int idg_dp_share_into(const struct idg_dp *dp, struct bpf_object *obj)
{
	int err = dp_unpin_all(obj);

	return err ? err : dp_share_maps(dp->xdp->obj, obj);
}

long idg_map_count(int fd, size_t key_size)
{
	unsigned char key[64], next[64];
	void *prev = NULL;
	long n = 0;

	if (fd < 0 || key_size > sizeof(key))
		return -1;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

long idg_map_count_active(int outer_fd, __u32 gen, size_t key_size)
{
	__u32 slot = IDG_GEN_SLOT(gen), id;
	long n;
	int fd;

	if (bpf_map_lookup_elem(outer_fd, &slot, &id))
		return -1;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -1;
	n = idg_map_count(fd, key_size);
	close(fd);
	return n;
}

int idg_dp_tun_cfg(const struct idg_dp *dp, struct idg_tun_cfg *tun)
{
	__u32 gen, slot, id, zero = 0;
	int fd, err;

	err = idg_dp_active_gen(dp, &gen);
	if (err)
		return err;
	if (!gen)
		return -ENOENT;
	slot = IDG_GEN_SLOT(gen);
	if (bpf_map_lookup_elem(dp->tun_gens_fd, &slot, &id))
		return -errno;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	err = bpf_map_lookup_elem(fd, &zero, tun) ? -errno : 0;
	close(fd);
	return err;
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

long idg_map_count_active2(int fd_a, int fd_b, __u32 gen, size_t key_size)
{
	long a = idg_map_count_active(fd_a, gen, key_size);
	long b = idg_map_count_active(fd_b, gen, key_size);

	return a < 0 ? a : b < 0 ? b : a + b;
}
