// SPDX-License-Identifier: GPL-2.0
/*
 * The identity numbers a cluster mesh's store allocated, indexed for the
 * compile (compile.h, struct idg_id_allocs).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

void idg_id_alloc_v_free(struct idg_id_alloc *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].cluster);
		free(v[i].canon);
	}
	free(v);
}

void idg_id_allocs_free(struct idg_id_allocs *a)
{
	idg_id_alloc_v_free(a->v, a->n);
	idg_strmap_free(&a->by_canon);
	a->v = NULL;
	a->n = 0;
}

int idg_id_allocs_set(struct idg_id_allocs *a, struct idg_id_alloc *v,
		      size_t n)
{
	/* Process-wide: a table freed and another made never share one. */
	static uint64_t serial;
	int err;

	idg_id_allocs_free(a);
	a->v = v;
	a->n = n;
	a->serial = ++serial;
	err = idg_strmap_init(&a->by_canon, n);
	for (size_t i = 0; !err && i < n; i++) {
		size_t have;
		int r = idg_strmap_put2(&a->by_canon, v[i].cluster, v[i].canon,
					v[i].local, &have);

		if (r < 0) {
			err = r;
		} else if (!r && v[i].local < have) {
			*idg_strmap_get2(&a->by_canon, v[i].cluster,
					 v[i].canon) = v[i].local;
		}
	}
	if (err)
		idg_id_allocs_free(a);
	return err;
}

uint32_t idg_id_allocs_get(const struct idg_id_allocs *a, const char *cluster,
			   const char *canon)
{
	const size_t *local;

	if (!a || !a->n)
		return 0;
	local = idg_strmap_get2(&a->by_canon, cluster, canon);
	return local ? (uint32_t)*local : 0;
}
