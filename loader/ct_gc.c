// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
