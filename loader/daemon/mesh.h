/* SPDX-License-Identifier: GPL-2.0 */
/*
 * idgate run's side of the cluster mesh (docs/mesh.md): a thread that
 * keeps this node's endpoints published in the store under a lease and
 * follows the other nodes' with a watch. It does I/O only; what to make
 * of the documents (the check, the files, the reload) is the daemon's
 * main loop's, woken through idg_mesh_fd().
 */
#ifndef IDGATE_DAEMON_MESH_H
#define IDGATE_DAEMON_MESH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "etcd.h"

struct idg_mesh_cfg {
	struct idg_etcd_opts store; /* strings must outlive the mesh */
	const char *prefix;         /* e.g. /idgate/v1 */
	const char *cluster, *node; /* this node */
	int ttl_s;                  /* its lease */
	/* How often the store must answer (a lease keepalive): often
	 * enough for the age of the other nodes' data to be told within
	 * it; at most ttl_s / 3. */
	double contact_s;
};

/* Another node's published endpoints, as the store holds them; text
 * NULL: withdrawn (its key deleted or its lease run out). */
struct idg_mesh_doc {
	char *cluster, *node;
	char *text;
	size_t len;
};

/* A label set of this node's cluster that needs a number in the store:
 * the probe starts at local, the number the node gives it now; exact
 * (a pin, spec.identity): that number or none. */
struct idg_mesh_id_req {
	char *canon;
	uint32_t local;
	bool exact;
};

struct idg_mesh {
	struct idg_mesh_cfg cfg;
	pthread_t th;
	bool started;
	volatile int stop;
	int efd; /* eventfd: the other nodes' documents changed */
	pthread_mutex_t mu;
	/* Under mu: the documents changed since the main loop last took
	 * them, one per node (the latest); full: they are the whole set
	 * (a resync), the ones missing from it are gone. */
	struct idg_mesh_doc *docs;
	size_t n_docs;
	bool full;
	bool docs_new;
	bool resync;               /* hand every document over again */
	char *pub;                 /* to publish; NULL: nothing new */
	size_t pub_len;
	/* Under mu: every identity number in the store, of every cluster
	 * (PREFIX/identities/CLUSTER/LOCAL holds the label set's canonical
	 * string); ids_new: changed since the main loop took a copy. */
	struct idg_id_alloc *ids;
	size_t n_ids;
	bool ids_new;
	/* Label sets to allocate numbers for (the latest request). */
	struct idg_mesh_id_req *reqs;
	size_t n_reqs;
	bool connected;
	int64_t rev;               /* the store's revision last seen */
	double last_contact;       /* unix time the store last answered a
				    * request (a quiet watch proves nothing) */
	double down_since;         /* unix time it stopped (0: connected) */
	unsigned connects;         /* connections made (1 + reconnects) */
	char endpoint[256];
	char err[512];
};

/* What idgate status and the metrics show of the store, under mu. */
struct idg_mesh_health {
	bool connected;
	int64_t rev;
	double age_s;      /* since the store last answered */
	double down_s;     /* since it stopped answering (0: it answers) */
	unsigned connects;
	char endpoint[256];
	char err[512];
};
void idg_mesh_health(struct idg_mesh *m, struct idg_mesh_health *h);

/* PREFIX/clusters/CLUSTER/NODE/endpoints is node NODE's document: its
 * CLUSTER and NODE (malloc'ed) for pfx "PREFIX/clusters/"; false for any
 * other key. */
bool idg_mesh_doc_key(const char *key, const char *pfx, char **cluster,
		      char **node);

/* PREFIX/identities/CLUSTER/LOCAL is an identity number: its CLUSTER
 * (malloc'ed) and LOCAL (IDG_ID_LOCAL_MIN..65535, decimal, no leading
 * zero) for pfx "PREFIX/identities/"; false for any other key. */
bool idg_mesh_id_key(const char *key, const char *pfx, char **cluster,
		     uint32_t *local);
/* Is text (len bytes) a canonical label string of cluster, as a number's
 * value must be (io.cilium.k8s.policy.cluster=CLUSTER among its labels,
 * printable, at most IDG_MESH_CANON_MAX bytes)? */
#define IDG_MESH_CANON_MAX 4096
bool idg_mesh_canon_ok(const char *cluster, const uint8_t *text, size_t len);

int idg_mesh_start(struct idg_mesh *m, const struct idg_mesh_cfg *c);
int idg_mesh_fd(const struct idg_mesh *m);
/* The other nodes' documents changed since the last take (true; the
 * caller frees them), after draining the eventfd. *full: they are every
 * document there is. */
bool idg_mesh_take(struct idg_mesh *m, struct idg_mesh_doc **docs, size_t *n,
		   bool *full);
void idg_mesh_docs_free(struct idg_mesh_doc *docs, size_t n);
/* A copy of the store's identity numbers when they changed since the
 * last take (true; the caller owns *v, idg_id_allocs_set takes it). */
bool idg_mesh_take_ids(struct idg_mesh *m, struct idg_id_alloc **v,
		       size_t *n);
/* Numbers wanted for these label sets of this node's cluster (copied);
 * replaces the requests not served yet. The store's answer comes back
 * as a change of the identity numbers. */
void idg_mesh_request_ids(struct idg_mesh *m, const struct idg_mesh_id_req *v,
			  size_t n);
/* This node's endpoints (idg_mesh_endpoints_doc), to be in the store;
 * the same text again is no write. */
void idg_mesh_publish(struct idg_mesh *m, const char *text, size_t len);
/* Read every document again and hand them over, changed or not (after
 * the main loop dropped them). */
void idg_mesh_resync(struct idg_mesh *m);
void idg_mesh_stop(struct idg_mesh *m);

#endif /* IDGATE_DAEMON_MESH_H */
