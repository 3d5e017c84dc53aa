/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A client of etcd's v3 API through its JSON gateway (libcurl, json-c),
 * over mutual TLS: what the cluster mesh (issue 15) needs of the store.
 *
 *   struct idg_etcd *e;
 *   struct idg_etcd_opts o = { .endpoints = "https://10.0.0.1:2379",
 *                              .cacert = ..., .cert = ..., .key = ...,
 *                              .server_id = "spiffe://mesh/etcd/server" };
 *   idg_etcd_open(&e, &o);
 *   idg_etcd_put(e, "/idgate/v1/...", val, len, 0, &rev);
 *   idg_etcd_close(e);
 *
 * Every call tries the endpoints in turn, starting with the one that
 * answered last, so a dead member costs one failed connect. A server
 * must present a certificate signed by cacert whose URI SAN is
 * server_id (when set); the client presents cert/key. The gateway does
 * not take a certificate's CN as the etcd user (etcd's docs), so etcd's
 * RBAC sees the user and password of opts, when given. Negative errno;
 * idg_etcd_error() says what the store or the transport said.
 */
#ifndef IDGATE_KVSTORE_ETCD_H
#define IDGATE_KVSTORE_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idg_etcd_opts {
	const char *endpoints; /* "https://host:port[,https://...]" */
	const char *cacert;    /* PEM: the CA the servers' certificates chain to */
	const char *cert;      /* PEM: this client's certificate */
	const char *key;       /* PEM: its key */
	const char *server_id; /* required URI SAN of a server, or NULL */
	const char *user;      /* etcd user (auth enabled), or NULL */
	const char *password;
	long timeout_ms;       /* per request; 0: 5 s */
};

struct idg_etcd;

int idg_etcd_open(struct idg_etcd **e, const struct idg_etcd_opts *o);
void idg_etcd_close(struct idg_etcd *e);
/* The last failure in words ("" after a success). */
const char *idg_etcd_error(const struct idg_etcd *e);
/* The endpoint that answered last. */
const char *idg_etcd_endpoint(const struct idg_etcd *e);

struct idg_etcd_kv {
	char *key;
	uint8_t *val; /* NUL-terminated for convenience; len excludes it */
	size_t len;
	int64_t create_rev, mod_rev, lease;
};
void idg_etcd_kvs_free(struct idg_etcd_kv *kvs, size_t n);

/* Every key under prefix, in key order, as of one revision (*rev). */
int idg_etcd_get_prefix(struct idg_etcd *e, const char *prefix,
			struct idg_etcd_kv **kvs, size_t *n, int64_t *rev);
/* lease 0: none. *rev (may be NULL): the revision of the write. */
int idg_etcd_put(struct idg_etcd *e, const char *key, const void *val,
		 size_t len, int64_t lease, int64_t *rev);
/* Creates key only if it does not exist: -EEXIST otherwise, with the
 * existing entry in *have (may be NULL; freed by the caller). */
int idg_etcd_create(struct idg_etcd *e, const char *key, const void *val,
		    size_t len, int64_t lease, int64_t *rev,
		    struct idg_etcd_kv *have);
/* Deletes key, or every key under it when prefix; *deleted may be NULL. */
int idg_etcd_delete(struct idg_etcd *e, const char *key, bool prefix,
		    int64_t *deleted, int64_t *rev);
/* Drops history before rev (admin only when auth is on). */
int idg_etcd_compact(struct idg_etcd *e, int64_t rev);

int idg_etcd_lease_grant(struct idg_etcd *e, int64_t ttl_s, int64_t *id);
/* -ENOENT when the lease has expired (its keys are gone); *ttl_s may be
 * NULL. */
int idg_etcd_lease_keepalive(struct idg_etcd *e, int64_t id, int64_t *ttl_s);
int idg_etcd_lease_revoke(struct idg_etcd *e, int64_t id);

/*
 * A watch on a prefix from a revision on. Events reach cb in revision
 * order, each once: when the stream breaks (a member dies, a timeout),
 * idg_etcd_watch_poll() opens it again on the next endpoint from the
 * revision after the last event delivered. When the store has compacted
 * past that revision, poll returns -ESTALE: the caller reads the prefix
 * again (idg_etcd_get_prefix) and opens a new watch from its rev + 1.
 */
enum idg_etcd_ev_type { IDG_ETCD_PUT, IDG_ETCD_DELETE };
struct idg_etcd_event {
	enum idg_etcd_ev_type type;
	struct idg_etcd_kv kv; /* a delete has key and mod_rev only */
};
typedef int (*idg_etcd_watch_cb)(const struct idg_etcd_event *ev, void *arg);

struct idg_etcd_watch;
int idg_etcd_watch_open(struct idg_etcd *e, const char *prefix,
			int64_t start_rev, struct idg_etcd_watch **w);
/*
 * Waits up to timeout_ms for events and hands them to cb; a nonzero
 * return of cb stops the poll and is returned. 0 when the wait ended
 * without trouble; -ESTALE as said above; another -errno when no
 * endpoint would take the watch again (the caller may poll later).
 */
int idg_etcd_watch_poll(struct idg_etcd_watch *w, int timeout_ms,
			idg_etcd_watch_cb cb, void *arg);
/* The revision the watch would resume from. */
int64_t idg_etcd_watch_next_rev(const struct idg_etcd_watch *w);
/* How many times the stream was opened again after a break. */
unsigned idg_etcd_watch_reconnects(const struct idg_etcd_watch *w);
void idg_etcd_watch_close(struct idg_etcd_watch *w);

/* The spiffe:// URI SAN of a PEM certificate file into out: -ENOENT when
 * it has none, -EINVAL when it has several. */
int idg_spiffe_id_of_cert(const char *pem, char *out, size_t len);

#endif /* IDGATE_KVSTORE_ETCD_H */
