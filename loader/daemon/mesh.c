// SPDX-License-Identifier: GPL-2.0
/*
 * The mesh thread (mesh.h). One loop: connect, take a lease, publish what
 * the main loop handed over, read every node's documents once, then
 * follow them with a watch; keep the lease alive every ttl/3. Any
 * trouble with the store closes everything and starts over from the
 * connect: the documents already handed to the main loop stay as they
 * are meanwhile (docs/mesh.md says what a partition does, and does not
 * yet do).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "mesh_int.h"
#include "util/util.h"

#define MESH_RETRY_MS 1000
#define MESH_POLL_MS 200

void idg_mesh_docs_free(struct idg_mesh_doc *docs, size_t n)
{
	for (size_t i = 0; docs && i < n; i++) {
		free(docs[i].cluster);
		free(docs[i].node);
		free(docs[i].text);
	}
	free(docs);
}

static double wall_now(void)
{
	return (double)idg_clock_ns(CLOCK_REALTIME) / 1e9;
}

/* The store answered (connected) or failed (err). */
static void status(struct idg_mesh *m, bool connected, const char *err)
{
	double now = wall_now();
	bool was;

	pthread_mutex_lock(&m->mu);
	was = m->connected;
	m->connected = connected;
	if (connected) {
		m->last_contact = now;
		m->down_since = 0;
		m->connects += !was;
	} else if (was || !m->down_since) {
		m->down_since = now;
	}
	snprintf(m->err, sizeof(m->err), "%s", err ? err : "");
	pthread_mutex_unlock(&m->mu);
	if (was && !connected && !m->stop)
		printf("idgate run: mesh: lost the store (%s); the other nodes' endpoints stay as last read, retrying\n",
		       err ? err : "?");
}

bool idg_mesh_doc_key(const char *key, const char *pfx, char **cluster,
		      char **node)
{
	const char *rest = key + strlen(pfx), *a, *b;

	if (strncmp(key, pfx, strlen(pfx)) || !(a = strchr(rest, '/')) ||
	    !(b = strchr(a + 1, '/')) || strcmp(b, "/endpoints") || a == rest ||
	    b == a + 1)
		return false;
	*cluster = strndup(rest, (size_t)(a - rest));
	*node = strndup(a + 1, (size_t)(b - a - 1));
	if (!*cluster || !*node) {
		free(*cluster);
		free(*node);
		return false;
	}
	return true;
}

void mesh_wake(struct idg_mesh *m)
{
	uint64_t one = 1;

	/* Full only when the main loop is ~2^64 wake-ups behind. */
	if (write(m->efd, &one, sizeof(one)) < 0)
		return;
}

/* text (len bytes, NULL: gone) as the document of (cluster, node) in
 * the list *docs (n of them), both names taken over. */
static int docs_put(struct idg_mesh_doc **docs, size_t *n, char *cluster,
		    char *node, const uint8_t *text, size_t len)
{
	struct idg_mesh_doc *d = NULL;
	char *copy = NULL;

	if (text) {
		copy = malloc(len + 1);
		if (!copy)
			goto nomem;
		memcpy(copy, text, len);
		copy[len] = '\0';
	}
	for (size_t i = 0; i < *n && !d; i++)
		if (!strcmp((*docs)[i].cluster, cluster) &&
		    !strcmp((*docs)[i].node, node))
			d = &(*docs)[i];
	if (d) {
		free(cluster);
		free(node);
	} else {
		struct idg_mesh_doc *v = realloc(*docs, (*n + 1) * sizeof(*v));

		if (!v)
			goto nomem;
		*docs = v;
		d = &v[(*n)++];
		*d = (struct idg_mesh_doc){ .cluster = cluster, .node = node };
	}
	free(d->text);
	d->text = copy;
	d->len = copy ? len : 0;
	return 0;
nomem:
	free(copy);
	free(cluster);
	free(node);
	return -ENOMEM;
}

/* CLUSTER and NODE of one of the other nodes' document keys; false for
 * any other key, this node's own included. */
static bool other_doc(const struct work *k, const char *key, char **cluster,
		      char **node)
{
	if (!idg_mesh_doc_key(key, k->pfx, cluster, node))
		return false;
	if (strcmp(*cluster, k->m->cfg.cluster) || strcmp(*node, k->m->cfg.node))
		return true;
	free(*cluster);
	free(*node);
	return false;
}

/* One key of the store, put (text) or deleted (NULL), into what the main
 * loop takes next. */
static int doc_event(struct work *k, const char *key, const uint8_t *text,
		     size_t len)
{
	struct idg_mesh *m = k->m;
	char *cluster, *node;
	int err;

	if (!other_doc(k, key, &cluster, &node))
		return 0;
	pthread_mutex_lock(&m->mu);
	err = docs_put(&m->docs, &m->n_docs, cluster, node, text, len);
	m->docs_new |= !err;
	pthread_mutex_unlock(&m->mu);
	if (!err)
		mesh_wake(m);
	return err;
}

static int on_event(const struct idg_etcd_event *ev, void *arg)
{
	struct work *k = arg;
	const uint8_t *val = ev->type == IDG_ETCD_PUT ? ev->kv.val : NULL;
	int r = mesh_ids_event(k, ev->kv.key, val, ev->kv.len);

	return r ? (r < 0 ? r : 0) : doc_event(k, ev->kv.key, val, ev->kv.len);
}

static void disconnect(struct work *k, const char *why)
{
	status(k->m, false, why);
	idg_etcd_watch_close(k->w);
	k->w = NULL;
	/* Not revoked: after trouble the call would wait out its timeout,
	 * and at a stop the node's endpoints leave the mesh when the lease
	 * runs out, as they would if the node died. */
	k->lease = 0;
	idg_etcd_close(k->e);
	k->e = NULL;
	free(k->published);
	k->published = NULL;
	k->ids_refused = false;
}

/* Every node's documents and every identity number as of one revision,
 * the documents handed over as the whole set (the main loop drops what it
 * has that the set lacks), and a watch from there. */
static int resync(struct work *k)
{
	struct idg_mesh *m = k->m;
	struct idg_etcd_kv *kvs = NULL;
	struct idg_mesh_doc *set = NULL;
	size_t n = 0, n_set = 0;
	int64_t rev = 0;
	int err;

	idg_etcd_watch_close(k->w);
	k->w = NULL;
	err = idg_etcd_get_prefix(k->e, k->root, &kvs, &n, &rev);
	if (err)
		return err;
	err = mesh_ids_from(k, kvs, n);
	for (size_t i = 0; !err && i < n; i++) {
		char *cluster, *node;

		if (other_doc(k, kvs[i].key, &cluster, &node))
			err = docs_put(&set, &n_set, cluster, node, kvs[i].val,
				       kvs[i].len);
	}
	idg_etcd_kvs_free(kvs, n);
	if (err) {
		idg_mesh_docs_free(set, n_set);
		return err;
	}
	/* The whole set at once: a main loop taking it halfway would drop
	 * the nodes not read yet. */
	pthread_mutex_lock(&m->mu);
	idg_mesh_docs_free(m->docs, m->n_docs);
	m->docs = set;
	m->n_docs = n_set;
	m->full = true;
	m->docs_new = true;
	m->rev = rev;
	pthread_mutex_unlock(&m->mu);
	mesh_wake(m);
	if (!err)
		err = idg_etcd_watch_open(k->e, k->root, rev + 1, &k->w);
	return err;
}

/* Milliseconds between keepalives: the lease's third, or sooner when
 * the data's age must be known more finely. */
static double contact_ms(const struct idg_mesh *m)
{
	double s = m->cfg.ttl_s / 3.0;

	if (m->cfg.contact_s > 0 && m->cfg.contact_s < s)
		s = m->cfg.contact_s;
	return s * 1000.0;
}

static int connect_store(struct work *k)
{
	struct idg_mesh *m = k->m;
	int64_t rev;
	int err = idg_etcd_open(&k->e, &m->cfg.store);

	if (!err)
		err = idg_etcd_lease_grant(k->e, m->cfg.ttl_s, &k->lease);
	if (!err)
		err = resync(k);
	if (err)
		return err;
	k->next_keepalive = idg_now_ms() + contact_ms(m);
	pthread_mutex_lock(&m->mu);
	snprintf(m->endpoint, sizeof(m->endpoint), "%s", idg_etcd_endpoint(k->e));
	pthread_mutex_unlock(&m->mu);
	status(m, true, NULL);
	pthread_mutex_lock(&m->mu);
	rev = m->rev;
	pthread_mutex_unlock(&m->mu);
	printf("idgate run: mesh: connected to %s, revision %lld\n",
	       idg_etcd_endpoint(k->e), (long long)rev);
	return 0;
}

/* What the main loop handed over, if it differs from what is there. */
static int publish_pending(struct work *k)
{
	struct idg_mesh *m = k->m;
	char *text;
	size_t len;
	int err;

	pthread_mutex_lock(&m->mu);
	text = m->pub ? strndup(m->pub, m->pub_len) : NULL;
	len = m->pub_len;
	pthread_mutex_unlock(&m->mu);
	if (!text || (k->published && k->published_len == len &&
		      !memcmp(k->published, text, len))) {
		free(text);
		return 0;
	}
	err = idg_etcd_put(k->e, k->own, text, len, k->lease, NULL);
	if (err) {
		free(text);
		return err;
	}
	printf("idgate run: mesh: published %zu bytes of endpoints at %s\n", len,
	       k->own);
	free(k->published);
	k->published = text;
	k->published_len = len;
	return 0;
}

static int step(struct work *k)
{
	struct idg_mesh *m = k->m;
	bool again;
	int err;

	pthread_mutex_lock(&m->mu);
	again = m->resync;
	m->resync = false;
	pthread_mutex_unlock(&m->mu);
	err = again ? resync(k) : 0;
	if (!err)
		err = publish_pending(k);
	if (!err)
		err = mesh_ids_allocate(k);
	if (!err && idg_now_ms() >= k->next_keepalive) {
		err = idg_etcd_lease_keepalive(k->e, k->lease, NULL);
		k->next_keepalive = idg_now_ms() + contact_ms(m);
		if (!err)
			status(m, true, NULL);
	}
	if (!err)
		err = idg_etcd_watch_poll(k->w, MESH_POLL_MS, on_event, k);
	/* History compacted past the watch: read everything again. */
	if (err == -ESTALE)
		err = resync(k);
	if (!err) {
		int64_t seen = idg_etcd_watch_next_rev(k->w) - 1;

		pthread_mutex_lock(&m->mu);
		if (seen > m->rev)
			m->rev = seen;
		pthread_mutex_unlock(&m->mu);
	}
	return err;
}

static void *mesh_main(void *arg)
{
	struct work k = { .m = arg };
	struct idg_mesh *m = k.m;

	snprintf(k.root, sizeof(k.root), "%s/", m->cfg.prefix);
	snprintf(k.pfx, sizeof(k.pfx), "%s/clusters/", m->cfg.prefix);
	snprintf(k.ids_pfx, sizeof(k.ids_pfx), "%s/identities/", m->cfg.prefix);
	snprintf(k.own, sizeof(k.own), "%s%s/%s/endpoints", k.pfx,
		 m->cfg.cluster, m->cfg.node);
	while (!m->stop) {
		int err;

		if (!k.e) {
			err = connect_store(&k);
			if (err) {
				char why[512];

				snprintf(why, sizeof(why), "%s",
					 k.e ? idg_etcd_error(k.e) : strerror(-err));
				disconnect(&k, why);
				for (int t = 0; t < MESH_RETRY_MS / 100 && !m->stop; t++)
					usleep(100000);
				continue;
			}
		}
		err = step(&k);
		if (err)
			disconnect(&k, k.e && idg_etcd_error(k.e)[0] ?
					       idg_etcd_error(k.e) : strerror(-err));
	}
	disconnect(&k, "stopping");
	return NULL;
}

int idg_mesh_start(struct idg_mesh *m, const struct idg_mesh_cfg *c)
{
	int err;

	memset(m, 0, sizeof(*m));
	m->cfg = *c;
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->efd < 0)
		return -errno;
	pthread_mutex_init(&m->mu, NULL);
	err = -pthread_create(&m->th, NULL, mesh_main, m);
	if (err) {
		close(m->efd);
		m->efd = -1;
		pthread_mutex_destroy(&m->mu);
		return err;
	}
	m->started = true;
	return 0;
}

int idg_mesh_fd(const struct idg_mesh *m)
{
	return m->started ? m->efd : -1;
}

bool idg_mesh_take(struct idg_mesh *m, struct idg_mesh_doc **docs, size_t *n,
		   bool *full)
{
	uint64_t v;
	bool got;

	if (read(m->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return false;
	pthread_mutex_lock(&m->mu);
	got = m->docs_new;
	*docs = got ? m->docs : NULL;
	*n = got ? m->n_docs : 0;
	*full = got && m->full;
	if (got) {
		m->docs = NULL;
		m->n_docs = 0;
		m->docs_new = false;
		m->full = false;
	}
	pthread_mutex_unlock(&m->mu);
	return got;
}

void idg_mesh_health(struct idg_mesh *m, struct idg_mesh_health *h)
{
	double now = wall_now();

	memset(h, 0, sizeof(*h));
	if (!m->started)
		return;
	pthread_mutex_lock(&m->mu);
	h->connected = m->connected;
	h->rev = m->rev;
	h->age_s = m->last_contact ? now - m->last_contact : -1;
	h->down_s = m->down_since ? now - m->down_since : 0;
	h->connects = m->connects;
	snprintf(h->endpoint, sizeof(h->endpoint), "%s", m->endpoint);
	snprintf(h->err, sizeof(h->err), "%s", m->err);
	pthread_mutex_unlock(&m->mu);
}

void idg_mesh_resync(struct idg_mesh *m)
{
	pthread_mutex_lock(&m->mu);
	m->resync = true;
	pthread_mutex_unlock(&m->mu);
}

void idg_mesh_publish(struct idg_mesh *m, const char *text, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return; /* published at the next reload */
	memcpy(copy, text, len);
	copy[len] = '\0';
	pthread_mutex_lock(&m->mu);
	free(m->pub);
	m->pub = copy;
	m->pub_len = len;
	pthread_mutex_unlock(&m->mu);
}

void idg_mesh_stop(struct idg_mesh *m)
{
	if (!m->started)
		return;
	m->stop = 1;
	pthread_join(m->th, NULL);
	m->started = false;
	close(m->efd);
	m->efd = -1;
	idg_mesh_docs_free(m->docs, m->n_docs);
	free(m->pub);
	idg_id_alloc_v_free(m->ids, m->n_ids);
	for (size_t i = 0; i < m->n_reqs; i++)
		free(m->reqs[i].canon);
	free(m->reqs);
	pthread_mutex_destroy(&m->mu);
}
