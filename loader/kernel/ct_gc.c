// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <idgate/datapath.h>

#include "ct_gc.h"

int idg_ct_gc_pass(int ct_fd, int est, uint64_t now_ns,
		   struct idg_ct_gc_result *res)
{
	struct idg_ct_key k, next, *prev = NULL, *dead = NULL;
	size_t n = 0, cap = 0;
	struct idg_ct_val v;
	int err = 0;

	/* Collect first: deleting while walking a hash can skip entries. */
	while (!bpf_map_get_next_key(ct_fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(ct_fd, &k, &v))
			continue;
		if (!idg_ct_expired(&v, k.proto, est, now_ns)) {
			res->live++;
			continue;
		}
		if (n == cap) {
			size_t c = cap ? cap * 2 : 256;
			struct idg_ct_key *d = realloc(dead, c * sizeof(*d));

			if (!d) {
				err = -ENOMEM;
				break;
			}
			dead = d;
			cap = c;
		}
		dead[n++] = k;
	}
	for (size_t i = 0; !err && i < n; i++) {
		/* Seen again since the walk: the flow is back, keep it. */
		if (bpf_map_lookup_elem(ct_fd, &dead[i], &v) ||
		    !idg_ct_expired(&v, dead[i].proto, est, now_ns))
			continue;
		if (!bpf_map_delete_elem(ct_fd, &dead[i]))
			res->removed++;
	}
	free(dead);
	return err;
}

/* The hint's seed, once per instance: an outsider cannot choose sources
 * that share a bit with a remote that has flows. */
int idg_ct_hint_init(int epoch_fd, uint64_t now_ns)
{
	struct idg_ct_epoch ep;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(epoch_fd, &zero, &ep))
		return -errno;
	if (ep.seed)
		return 0;
	if (getrandom(&ep.seed, sizeof(ep.seed), 0) != sizeof(ep.seed))
		return -EIO;
	ep.seed |= 1;
	ep.started_ns = now_ns;
	return bpf_map_update_elem(epoch_fd, &zero, &ep, BPF_ANY) ? -errno : 0;
}

int idg_ct_hint_rotate(int hint_fd, int epoch_fd, uint64_t now_ns,
		       bool *rotated)
{
	static const struct idg_ct_hint empty;
	struct idg_ct_epoch ep;
	uint32_t zero = 0, base;

	*rotated = false;
	if (bpf_map_lookup_elem(epoch_fd, &zero, &ep))
		return -errno;
	if (now_ns < ep.started_ns ||
	    now_ns - ep.started_ns < IDG_CT_HINT_EPOCH_NS)
		return 0;
	/* The bitmap of the epoch after next: programs read this epoch's and
	 * write this one's and the next's, so no program has touched it since
	 * the previous epoch ended. The next epoch's writers start on it. */
	base = ((ep.epoch + 2) % IDG_CT_HINT_EPOCHS) * IDG_CT_HINT_ELEMS;
	for (uint32_t i = 0; i < IDG_CT_HINT_ELEMS; i++) {
		uint32_t k = base + i;

		if (bpf_map_update_elem(hint_fd, &k, &empty, BPF_ANY))
			return -errno;
	}
	ep.epoch++;
	ep.started_ns = now_ns;
	if (bpf_map_update_elem(epoch_fd, &zero, &ep, BPF_ANY))
		return -errno;
	*rotated = true;
	return 0;
}
