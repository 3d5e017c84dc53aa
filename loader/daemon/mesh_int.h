/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the mesh thread (mesh.c): what it holds between hand-overs, and
 * its part that keeps the identity numbers (mesh_ids.c).
 */
#ifndef IDGATE_DAEMON_MESH_INT_H
#define IDGATE_DAEMON_MESH_INT_H

#include "mesh.h"

struct work {
	struct idg_mesh *m;
	struct idg_etcd *e;
	struct idg_etcd_watch *w;
	int64_t lease;
	double next_keepalive;
	char *published; /* the text in the store under the lease */
	size_t published_len;
	char root[512];    /* PREFIX/: read and watched whole */
	char pfx[512];     /* PREFIX/clusters/ */
	char ids_pfx[512]; /* PREFIX/identities/ */
	char own[1100];    /* PREFIX/clusters/CLUSTER/NODE/endpoints */
	bool ids_refused;  /* a number's creation refused: said once */
};

/* Wakes the main loop (mesh.c). */
void mesh_wake(struct idg_mesh *m);

/* One key of the store, put (val) or deleted (NULL): 1 when it was an
 * identity number (the table changed or the value was refused), 0 for
 * any other key, -ENOMEM. */
int mesh_ids_event(struct work *k, const char *key, const uint8_t *val,
		   size_t len);
/* The numbers among kvs (a read of the whole prefix) become the table. */
int mesh_ids_from(struct work *k, const struct idg_etcd_kv *kvs, size_t n);
/* The pending requests served: a number created for each label set
 * that has none (compare-and-swap, probing past numbers held by other
 * label sets). Negative errno from the store: the rest stay pending. */
int mesh_ids_allocate(struct work *k);

#endif
