// SPDX-License-Identifier: GPL-2.0
/*
 * etcd's v3 API over its JSON gateway: one POST per call, tried on each
 * endpoint in turn until one answers. Keys and values travel base64
 * encoded, 64-bit numbers as JSON strings (protobuf's JSON mapping).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_int.h"
#include "util/util.h"

#define ETCD_BODY_MAX (256u << 20) /* a range of every key of a big mesh */

static void set_err(struct idg_etcd *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_err(struct idg_etcd *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

const char *idg_etcd_error(const struct idg_etcd *e)
{
	return e->err;
}

const char *idg_etcd_endpoint(const struct idg_etcd *e)
{
	return e->urls[e->cur];
}

size_t etcd_buf_write(char *data, size_t size, size_t n, void *arg)
{
	struct etcd_buf *b = arg;
	size_t add = size * n;

	if (b->len + add + 1 > b->max)
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	if (b->len + add + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + add + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

void etcd_buf_free(struct etcd_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int64_t etcd_j_i64(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v))
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoll(json_object_get_string(v), NULL, 10);
	return json_object_get_int64(v);
}

static int j_b64(json_object *o, const char *k, uint8_t **out, size_t *len)
{
	json_object *v;

	*out = NULL;
	*len = 0;
	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		*out = calloc(1, 1); /* protobuf leaves empty bytes out */
		return *out ? 0 : -ENOMEM;
	}
	return idg_b64_decode(json_object_get_string(v), out, len);
}

int etcd_kv_from_json(json_object *o, struct idg_etcd_kv *kv)
{
	uint8_t *key = NULL;
	size_t klen;
	int err;

	memset(kv, 0, sizeof(*kv));
	err = j_b64(o, "key", &key, &klen);
	if (!err && memchr(key, '\0', klen))
		err = -EINVAL; /* idgate's keys are text */
	if (!err)
		err = j_b64(o, "value", &kv->val, &kv->len);
	if (err) {
		free(key);
		free(kv->val);
		kv->val = NULL;
		return err;
	}
	kv->key = (char *)key;
	kv->create_rev = etcd_j_i64(o, "create_revision");
	kv->mod_rev = etcd_j_i64(o, "mod_revision");
	kv->lease = etcd_j_i64(o, "lease");
	return 0;
}

void idg_etcd_kvs_free(struct idg_etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; kvs && i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].val);
	}
	free(kvs);
}

char *etcd_prefix_end(const char *p)
{
	size_t n = strlen(p);
	char *end = strdup(p);

	if (!end)
		return NULL;
	while (n && (uint8_t)end[n - 1] == 0xff)
		end[--n] = '\0';
	if (!n) {
		/* Every key: etcd spells that as a range_end of "\0". */
		free(end);
		return strdup("");
	}
	end[n - 1] = (char)((uint8_t)end[n - 1] + 1);
	return end;
}

int etcd_j_bytes(json_object *o, const char *k, const void *v, size_t len)
{
	char *s = idg_b64_encode(v, len);
	json_object *j = s ? json_object_new_string(s) : NULL;

	free(s);
	if (!j || json_object_object_add(o, k, j)) {
		json_object_put(j);
		return -ENOMEM;
	}
	return 0;
}

static int j_add_i64(json_object *o, const char *k, int64_t v)
{
	char s[24];
	json_object *j;

	snprintf(s, sizeof(s), "%lld", (long long)v);
	j = json_object_new_string(s);
	if (!j || json_object_object_add(o, k, j)) {
		json_object_put(j);
		return -ENOMEM;
	}
	return 0;
}

int etcd_grpc_errno(int code)
{
	switch (code) {
	case 3:  return -EINVAL;    /* INVALID_ARGUMENT */
	case 4:  return -ETIMEDOUT; /* DEADLINE_EXCEEDED */
	case 5:  return -ENOENT;    /* NOT_FOUND: a lease */
	case 6:  return -EEXIST;    /* ALREADY_EXISTS */
	case 7:  return -EPERM;     /* PERMISSION_DENIED */
	case 8:  return -ENOSPC;    /* RESOURCE_EXHAUSTED */
	case 9:  return -EBUSY;     /* FAILED_PRECONDITION */
	case 11: return -ESTALE;    /* OUT_OF_RANGE: compacted */
	case 14: return -EAGAIN;    /* UNAVAILABLE: try another member */
	case 16: return -EACCES;    /* UNAUTHENTICATED */
	default: return -EIO;
	}
}

int etcd_status_err(struct idg_etcd *e, long http, json_object *body)
{
	json_object *m = NULL;
	const char *msg = NULL;
	int code = (int)etcd_j_i64(body, "code");

	if (body && (json_object_object_get_ex(body, "message", &m) ||
		     json_object_object_get_ex(body, "error", &m)) &&
	    json_object_is_type(m, json_type_string))
		msg = json_object_get_string(m);
	set_err(e, "%s: HTTP %ld: %s", e->urls[e->cur], http,
		msg ? msg : "no error message");
	if (!code && http == 404)
		return -EOPNOTSUPP; /* not etcd v3.4+'s gateway */
	return etcd_grpc_errno(code);
}

void etcd_transport_err(struct idg_etcd *e, size_t ep, CURLcode rc,
			const char *cerr)
{
	if (e->bad_id[0])
		set_err(e, "%s: the server's certificate is not %s (it names %s)",
			e->urls[ep], e->server_id, e->bad_id);
	else
		set_err(e, "%s: %s", e->urls[ep],
			cerr && cerr[0] ? cerr : curl_easy_strerror(rc));
}

int etcd_easy_setup(struct idg_etcd *e, CURL *h, size_t ep, const char *path,
		    struct curl_slist **hdrs)
{
	char url[1024], auth[1024];
	struct curl_slist *l = NULL, *t;

	if ((size_t)snprintf(url, sizeof(url), "%s%s", e->urls[ep], path) >=
	    sizeof(url))
		return -ENAMETOOLONG;
	l = curl_slist_append(NULL, "Content-Type: application/json");
	if (l && e->token) {
		snprintf(auth, sizeof(auth), "Authorization: %s", e->token);
		t = curl_slist_append(l, auth);
		l = t ? t : NULL;
	}
	if (!l)
		return -ENOMEM;
	curl_slist_free_all(*hdrs);
	*hdrs = l;
	e->bad_id[0] = '\0';
	if (curl_easy_setopt(h, CURLOPT_URL, url) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l) ||
	    curl_easy_setopt(h, CURLOPT_CAINFO, e->cacert) ||
	    curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert) ||
	    curl_easy_setopt(h, CURLOPT_SSLKEY, e->key) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    /* A resumed session skips the handshake's check of the ID. */
	    curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, etcd_ssl_ctx) ||
	    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, e) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms) ||
	    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L))
		return -EINVAL;
	return 0;
}

/*
 * POST body to path on the endpoints, the last one that answered first.
 * An endpoint that cannot be reached or says it is unavailable gives way
 * to the next; any other answer is the answer.
 */
static int call_ex(struct idg_etcd *e, const char *path, json_object *body,
		   json_object **reply, bool reauth)
{
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	struct curl_slist *hdrs = NULL;
	char cerr[CURL_ERROR_SIZE];
	int err = -EHOSTUNREACH;

	*reply = NULL;
	for (size_t k = 0; k < e->n_urls; k++) {
		size_t ep = (e->cur + k) % e->n_urls;
		struct etcd_buf b = { .max = ETCD_BODY_MAX };
		json_object *j;
		CURLcode rc;
		long http = 0;

		curl_easy_reset(e->h);
		err = etcd_easy_setup(e, e->h, ep, path, &hdrs);
		if (err)
			break;
		cerr[0] = '\0';
		curl_easy_setopt(e->h, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(e->h, CURLOPT_WRITEFUNCTION, etcd_buf_write);
		curl_easy_setopt(e->h, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(e->h, CURLOPT_ERRORBUFFER, cerr);
		curl_easy_setopt(e->h, CURLOPT_TIMEOUT_MS, e->timeout_ms);
		rc = curl_easy_perform(e->h);
		if (rc != CURLE_OK) {
			etcd_transport_err(e, ep, rc, cerr);
			etcd_buf_free(&b);
			err = rc == CURLE_WRITE_ERROR ? -EFBIG : -EHOSTUNREACH;
			if (rc == CURLE_WRITE_ERROR)
				break;
			continue;
		}
		curl_easy_getinfo(e->h, CURLINFO_RESPONSE_CODE, &http);
		j = b.p ? json_tokener_parse(b.p) : NULL;
		etcd_buf_free(&b);
		e->cur = ep;
		if (http == 200 && j) {
			e->err[0] = '\0';
			*reply = j;
			err = 0;
			break;
		}
		err = etcd_status_err(e, http, j);
		json_object_put(j);
		if (http == 200) {
			set_err(e, "%s%s: not JSON", e->urls[ep], path);
			err = -EPROTO;
			break;
		}
		if (err == -EAGAIN)
			continue;
		/* An expired token: once more with a new one. */
		if (err == -EACCES && reauth && e->user && e->token &&
		    !etcd_authenticate(e)) {
			curl_slist_free_all(hdrs);
			return call_ex(e, path, body, reply, false);
		}
		break;
	}
	curl_slist_free_all(hdrs);
	return err;
}

static int call(struct idg_etcd *e, const char *path, json_object *body,
		json_object **reply)
{
	if (!body)
		return -ENOMEM;
	return call_ex(e, path, body, reply, true);
}

int etcd_authenticate(struct idg_etcd *e)
{
	json_object *req = json_object_new_object(), *rep = NULL, *t;
	int err = -ENOMEM;

	free(e->token);
	e->token = NULL;
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "name", json_object_new_string(e->user));
	json_object_object_add(req, "password",
			       json_object_new_string(e->password ? e->password : ""));
	err = call_ex(e, "/v3/auth/authenticate", req, &rep, false);
	if (!err) {
		if (json_object_object_get_ex(rep, "token", &t) &&
		    json_object_is_type(t, json_type_string)) {
			e->token = strdup(json_object_get_string(t));
			err = e->token ? 0 : -ENOMEM;
		} else {
			set_err(e, "%s: authentication as %s gave no token (is auth enabled?)",
				e->urls[e->cur], e->user);
			err = -EACCES;
		}
	}
	json_object_put(req);
	json_object_put(rep);
	return err;
}

static int split_endpoints(struct idg_etcd *e, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t l = strlen(tok);
		char **v;

		while (l && tok[l - 1] == '/')
			tok[--l] = '\0';
		if (strncmp(tok, "https://", 8) || l <= 8) {
			set_err(e, "kvstore endpoint '%s': expected https://HOST:PORT (the store is reached over mutual TLS only)",
				tok);
			err = -EINVAL;
			break;
		}
		v = realloc(e->urls, (e->n_urls + 1) * sizeof(*v));
		if (!v || !(v[e->n_urls] = strdup(tok))) {
			if (v)
				e->urls = v;
			err = -ENOMEM;
			break;
		}
		e->urls = v;
		e->n_urls++;
	}
	free(copy);
	if (!err && !e->n_urls) {
		set_err(e, "no kvstore endpoint given");
		err = -EINVAL;
	}
	return err;
}

static char *dup_or_null(const char *s, int *err)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*err = -ENOMEM;
	return d;
}

/* Opened once per process: libcurl's global state is not thread-safe to
 * set up (curl_global_init's documentation). */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int idg_etcd_open(struct idg_etcd **out, const struct idg_etcd_opts *o)
{
	struct idg_etcd *e = calloc(1, sizeof(*e));
	int err = 0;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	pthread_once(&curl_once, curl_init_once);
	e->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
	e->cacert = dup_or_null(o->cacert, &err);
	e->cert = dup_or_null(o->cert, &err);
	e->key = dup_or_null(o->key, &err);
	e->server_id = dup_or_null(o->server_id, &err);
	e->user = dup_or_null(o->user, &err);
	e->password = dup_or_null(o->password, &err);
	if (!err && (!o->cacert || !o->cert || !o->key)) {
		set_err(e, "the kvstore needs a CA, a client certificate and its key (mutual TLS)");
		err = -EINVAL;
	}
	if (!err)
		err = split_endpoints(e, o->endpoints ? o->endpoints : "");
	if (!err && !(e->h = curl_easy_init()))
		err = -ENOMEM;
	if (!err && e->user)
		err = etcd_authenticate(e);
	*out = e;
	return err;
}

void idg_etcd_close(struct idg_etcd *e)
{
	if (!e)
		return;
	if (e->h)
		curl_easy_cleanup(e->h);
	for (size_t i = 0; i < e->n_urls; i++)
		free(e->urls[i]);
	free(e->urls);
	free(e->cacert);
	free(e->cert);
	free(e->key);
	free(e->server_id);
	free(e->user);
	if (e->password)
		memset(e->password, 0, strlen(e->password));
	free(e->password);
	free(e->token);
	free(e);
}

static int64_t header_rev(json_object *rep)
{
	json_object *h;

	return json_object_object_get_ex(rep, "header", &h) ?
		       etcd_j_i64(h, "revision") : 0;
}

static int kvs_from(json_object *arr, struct idg_etcd_kv **kvs, size_t *n)
{
	size_t len = arr ? json_object_array_length(arr) : 0;
	int err = 0;

	*kvs = calloc(len + 1, sizeof(**kvs));
	*n = 0;
	if (!*kvs)
		return -ENOMEM;
	for (size_t i = 0; i < len && !err; i++) {
		err = etcd_kv_from_json(json_object_array_get_idx(arr, i),
					&(*kvs)[i]);
		if (!err)
			(*n)++;
	}
	if (err) {
		idg_etcd_kvs_free(*kvs, *n);
		*kvs = NULL;
		*n = 0;
	}
	return err;
}

int idg_etcd_get_prefix(struct idg_etcd *e, const char *prefix,
			struct idg_etcd_kv **kvs, size_t *n, int64_t *rev)
{
	json_object *req = json_object_new_object(), *rep = NULL, *arr = NULL;
	char *end = etcd_prefix_end(prefix);
	int err = -ENOMEM;

	*kvs = NULL;
	*n = 0;
	if (req && end && !etcd_j_bytes(req, "key", prefix, strlen(prefix)) &&
	    !etcd_j_bytes(req, "range_end", end, strlen(end) ? strlen(end) : 1))
		err = call(e, "/v3/kv/range", req, &rep);
	if (!err) {
		json_object_object_get_ex(rep, "kvs", &arr);
		err = kvs_from(arr, kvs, n);
		if (rev)
			*rev = header_rev(rep);
	}
	free(end);
	json_object_put(req);
	json_object_put(rep);
	return err;
}

static json_object *put_req(const char *key, const void *val, size_t len,
			    int64_t lease)
{
	json_object *req = json_object_new_object();

	if (req && !etcd_j_bytes(req, "key", key, strlen(key)) &&
	    !etcd_j_bytes(req, "value", val, len) &&
	    (!lease || !j_add_i64(req, "lease", lease)))
		return req;
	json_object_put(req);
	return NULL;
}

int idg_etcd_put(struct idg_etcd *e, const char *key, const void *val,
		 size_t len, int64_t lease, int64_t *rev)
{
	json_object *req = put_req(key, val, len, lease), *rep = NULL;
	int err = call(e, "/v3/kv/put", req, &rep);

	if (!err && rev)
		*rev = header_rev(rep);
	json_object_put(req);
	json_object_put(rep);
	return err;
}

/* A one-element array holding o, under k of parent. */
static int j_add_one(json_object *parent, const char *k, json_object *o)
{
	json_object *arr = json_object_new_array();

	if (!o || !arr || json_object_array_add(arr, o)) {
		json_object_put(o);
		json_object_put(arr);
		return -ENOMEM;
	}
	if (json_object_object_add(parent, k, arr)) {
		json_object_put(arr);
		return -ENOMEM;
	}
	return 0;
}

static json_object *wrap(const char *k, json_object *o)
{
	json_object *w = json_object_new_object();

	if (!o || !w || json_object_object_add(w, k, o)) {
		json_object_put(o);
		json_object_put(w);
		return NULL;
	}
	return w;
}

/* The entry of the failure branch's range, when it found one. */
static int txn_have(json_object *rep, struct idg_etcd_kv *have)
{
	json_object *resps, *r0, *rr, *kvs;

	if (!json_object_object_get_ex(rep, "responses", &resps) ||
	    !(r0 = json_object_array_get_idx(resps, 0)) ||
	    !json_object_object_get_ex(r0, "response_range", &rr) ||
	    !json_object_object_get_ex(rr, "kvs", &kvs) ||
	    !json_object_array_length(kvs))
		return 0;
	return etcd_kv_from_json(json_object_array_get_idx(kvs, 0), have);
}

int idg_etcd_create(struct idg_etcd *e, const char *key, const void *val,
		    size_t len, int64_t lease, int64_t *rev,
		    struct idg_etcd_kv *have)
{
	json_object *req = json_object_new_object(), *rep = NULL;
	json_object *cmp = json_object_new_object(), *get = json_object_new_object();
	json_object *ok;
	int err = -ENOMEM;

	if (have)
		memset(have, 0, sizeof(*have));
	/* Compare: the key's create_revision is 0, i.e. it does not exist. */
	if (!req || !cmp || !get ||
	    etcd_j_bytes(cmp, "key", key, strlen(key)) ||
	    json_object_object_add(cmp, "target", json_object_new_string("CREATE")) ||
	    json_object_object_add(cmp, "result", json_object_new_string("EQUAL")) ||
	    j_add_i64(cmp, "create_revision", 0) ||
	    etcd_j_bytes(get, "key", key, strlen(key))) {
		json_object_put(cmp);
		json_object_put(get);
		goto out;
	}
	if (j_add_one(req, "compare", cmp) ||
	    j_add_one(req, "success", wrap("request_put", put_req(key, val, len, lease))) ||
	    j_add_one(req, "failure", wrap("request_range", get))) {
		goto out;
	}
	err = call(e, "/v3/kv/txn", req, &rep);
	if (err)
		goto out;
	if (rev)
		*rev = header_rev(rep);
	/* protobuf's JSON leaves a false bool out. */
	if (json_object_object_get_ex(rep, "succeeded", &ok) &&
	    json_object_get_boolean(ok))
		goto out;
	err = -EEXIST;
	if (have && txn_have(rep, have))
		err = -ENOMEM;
out:
	json_object_put(req);
	json_object_put(rep);
	return err;
}

int idg_etcd_delete(struct idg_etcd *e, const char *key, bool prefix,
		    int64_t *deleted, int64_t *rev)
{
	json_object *req = json_object_new_object(), *rep = NULL;
	char *end = prefix ? etcd_prefix_end(key) : NULL;
	int err = -ENOMEM;

	if (req && (!prefix || end) && !etcd_j_bytes(req, "key", key, strlen(key)) &&
	    (!prefix || !etcd_j_bytes(req, "range_end", end,
				      strlen(end) ? strlen(end) : 1)))
		err = call(e, "/v3/kv/deleterange", req, &rep);
	if (!err) {
		if (deleted)
			*deleted = etcd_j_i64(rep, "deleted");
		if (rev)
			*rev = header_rev(rep);
	}
	free(end);
	json_object_put(req);
	json_object_put(rep);
	return err;
}

int idg_etcd_compact(struct idg_etcd *e, int64_t rev)
{
	json_object *req = json_object_new_object(), *rep = NULL;
	int err = -ENOMEM;

	if (req && !j_add_i64(req, "revision", rev) &&
	    !json_object_object_add(req, "physical", json_object_new_boolean(1)))
		err = call(e, "/v3/kv/compaction", req, &rep);
	json_object_put(req);
	json_object_put(rep);
	return err;
}

int idg_etcd_lease_grant(struct idg_etcd *e, int64_t ttl_s, int64_t *id)
{
	json_object *req = json_object_new_object(), *rep = NULL, *m;
	int err = -ENOMEM;

	*id = 0;
	if (req && !j_add_i64(req, "TTL", ttl_s))
		err = call(e, "/v3/lease/grant", req, &rep);
	if (!err && json_object_object_get_ex(rep, "error", &m) &&
	    json_object_get_string_len(m)) {
		set_err(e, "lease grant: %s", json_object_get_string(m));
		err = -EIO;
	}
	if (!err) {
		*id = etcd_j_i64(rep, "ID");
		if (!*id) {
			set_err(e, "lease grant: no lease ID in the answer");
			err = -EPROTO;
		}
	}
	json_object_put(req);
	json_object_put(rep);
	return err;
}

int idg_etcd_lease_keepalive(struct idg_etcd *e, int64_t id, int64_t *ttl_s)
{
	json_object *req = json_object_new_object(), *rep = NULL, *res;
	int64_t ttl = 0;
	int err = -ENOMEM;

	if (req && !j_add_i64(req, "ID", id))
		err = call(e, "/v3/lease/keepalive", req, &rep);
	/* A stream of one answer: {"result": {"ID", "TTL"}}. */
	if (!err && json_object_object_get_ex(rep, "result", &res))
		ttl = etcd_j_i64(res, "TTL");
	if (!err && ttl <= 0) {
		set_err(e, "lease %llx has expired", (unsigned long long)id);
		err = -ENOENT;
	}
	if (ttl_s)
		*ttl_s = ttl;
	json_object_put(req);
	json_object_put(rep);
	return err;
}

int idg_etcd_lease_revoke(struct idg_etcd *e, int64_t id)
{
	json_object *req = json_object_new_object(), *rep = NULL;
	int err = -ENOMEM;

	if (req && !j_add_i64(req, "ID", id))
		err = call(e, "/v3/lease/revoke", req, &rep);
	json_object_put(req);
	json_object_put(rep);
	return err;
}
