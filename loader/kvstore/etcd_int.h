/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the etcd client's files: the connection and its helpers. */
#ifndef IDGATE_KVSTORE_ETCD_INT_H
#define IDGATE_KVSTORE_ETCD_INT_H

#include <curl/curl.h>
#include <json-c/json.h>

#include "etcd.h"

struct idg_etcd {
	char **urls;
	size_t n_urls;
	size_t cur;  /* the endpoint that answered last */
	char *cacert, *cert, *key, *server_id, *user, *password;
	char *token; /* from /v3/auth/authenticate when a user is set */
	long timeout_ms;
	CURL *h;     /* the unary requests' handle (its connections reused) */
	char err[512];
	/* What a server presented when its SPIFFE ID was not server_id. */
	char bad_id[256];
};

/* A response body as it arrives. */
struct etcd_buf {
	char *p;
	size_t len, cap;
	size_t max; /* a body larger than this is refused */
};
size_t etcd_buf_write(char *data, size_t size, size_t n, void *arg);
void etcd_buf_free(struct etcd_buf *b);

/* TLS, the token header and the timeouts on a handle, for url + path. */
int etcd_easy_setup(struct idg_etcd *e, CURL *h, size_t ep, const char *path,
		    struct curl_slist **hdrs);
/* A transport failure in words into e->err. */
void etcd_transport_err(struct idg_etcd *e, size_t ep, CURLcode rc,
			const char *cerr);
/* An error body of the gateway ({"error", "code", "message"}) as -errno,
 * its words into e->err. */
int etcd_status_err(struct idg_etcd *e, long http, json_object *body);
/* gRPC status code -> -errno. */
int etcd_grpc_errno(int code);

/* Decoded fields of the gateway's JSON. */
int64_t etcd_j_i64(json_object *o, const char *k);
int etcd_kv_from_json(json_object *o, struct idg_etcd_kv *kv);
/* The first key after every key with prefix p (etcd's range_end). */
char *etcd_prefix_end(const char *p);
/* Adds key (and val, when set) base64-encoded to o; -ENOMEM. */
int etcd_j_bytes(json_object *o, const char *k, const void *v, size_t len);

/* spiffe.c: the server's SPIFFE ID checked in the TLS handshake. */
CURLcode etcd_ssl_ctx(CURL *h, void *ssl_ctx, void *arg);
/* Authenticates again after the token expired: 0 or -errno. */
int etcd_authenticate(struct idg_etcd *e);

#endif /* IDGATE_KVSTORE_ETCD_INT_H */
