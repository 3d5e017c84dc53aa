// SPDX-License-Identifier: GPL-2.0
/*
 * The identity numbers of the cluster mesh (docs/mesh.md): the mesh
 * thread keeps every number in the store, PREFIX/identities/CLUSTER/LOCAL
 * -> the label set's canonical string, and creates the ones this node's
 * label sets lack. A number is created only if absent (a transaction that
 * compares the key's create revision), so two nodes can never give one
 * number to two label sets: the loser of a race reads the winner's label
 * set and probes on. Numbers are never deleted here, so a probe from a
 * label set's hash always meets its number before any free one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_int.h"

bool idg_mesh_id_key(const char *key, const char *pfx, char **cluster,
		     uint32_t *local)
{
	size_t lp = strlen(pfx);
	const char *rest = key + lp, *a;
	unsigned long v = 0;
	const char *d;

	if (strncmp(key, pfx, lp) || !(a = strchr(rest, '/')) || a == rest ||
	    !a[1] || a[1] == '0' || strlen(a + 1) > 5)
		return false;
	for (d = a + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return false;
		v = v * 10 + (unsigned long)(*d - '0');
	}
	if (v < IDG_ID_LOCAL_MIN || v > 0xffff)
		return false;
	*cluster = strndup(rest, (size_t)(a - rest));
	if (!*cluster)
		return false;
	*local = (uint32_t)v;
	return true;
}

bool idg_mesh_canon_ok(const char *cluster, const uint8_t *text, size_t len)
{
	static const char lbl[] = "io.cilium.k8s.policy.cluster=";
	size_t lc = strlen(cluster), ll = sizeof(lbl) - 1;

	if (!len || len > IDG_MESH_CANON_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (text[i] < 0x20 || text[i] == 0x7f)
			return false;
	/* One of its labels, whole: at the start or after a comma, up to
	 * a comma or the end. */
	for (size_t i = 0; i + ll + lc <= len; i++) {
		if ((i && text[i - 1] != ',') || memcmp(text + i, lbl, ll) ||
		    memcmp(text + i + ll, cluster, lc))
			continue;
		if (i + ll + lc == len || text[i + ll + lc] == ',')
			return true;
	}
	return false;
}

/* Under mu: the entry of (cluster, local), or NULL. */
static struct idg_id_alloc *at(struct idg_mesh *m, const char *cluster,
			       uint32_t local)
{
	for (size_t i = 0; i < m->n_ids; i++)
		if (m->ids[i].local == local && !strcmp(m->ids[i].cluster, cluster))
			return &m->ids[i];
	return NULL;
}

/* Under mu: does the table give canon a number in cluster? */
static bool has_canon(struct idg_mesh *m, const char *cluster, const char *canon)
{
	for (size_t i = 0; i < m->n_ids; i++)
		if (!strcmp(m->ids[i].canon, canon) &&
		    !strcmp(m->ids[i].cluster, cluster))
			return true;
	return false;
}

/* Under mu: (cluster, local) holds canon (len bytes; NULL: nothing);
 * cluster taken over. */
static int table_set(struct idg_mesh *m, char *cluster, uint32_t local,
		     const uint8_t *canon, size_t len)
{
	struct idg_id_alloc *e = at(m, cluster, local), *v;
	char *c = NULL;

	if (canon && !(c = strndup((const char *)canon, len))) {
		free(cluster);
		return -ENOMEM;
	}
	if (e) {
		free(cluster);
		free(e->canon);
		if (c) {
			e->canon = c;
			return 0;
		}
		free(e->cluster);
		*e = m->ids[--m->n_ids];
		return 0;
	}
	if (!c) {
		free(cluster);
		return 0;
	}
	v = realloc(m->ids, (m->n_ids + 1) * sizeof(*v));
	if (!v) {
		free(c);
		free(cluster);
		return -ENOMEM;
	}
	m->ids = v;
	v[m->n_ids++] = (struct idg_id_alloc){ .cluster = cluster, .canon = c,
					       .local = local };
	return 0;
}

int mesh_ids_event(struct work *k, const char *key, const uint8_t *val,
		   size_t len)
{
	struct idg_mesh *m = k->m;
	uint32_t local;
	char *cluster;
	int err;

	if (!idg_mesh_id_key(key, k->ids_pfx, &cluster, &local))
		return 0;
	if (val && !idg_mesh_canon_ok(cluster, val, len)) {
		printf("idgate run: mesh: %s: not a label set of cluster %s: ignored\n",
		       key, cluster);
		val = NULL; /* as good as absent */
	}
	pthread_mutex_lock(&m->mu);
	err = table_set(m, cluster, local, val, len);
	m->ids_new = true;
	pthread_mutex_unlock(&m->mu);
	mesh_wake(m);
	return err ? err : 1;
}

int mesh_ids_from(struct work *k, const struct idg_etcd_kv *kvs, size_t n)
{
	struct idg_mesh *m = k->m;
	struct idg_id_alloc *old;
	size_t n_old;
	int err = 0;

	pthread_mutex_lock(&m->mu);
	old = m->ids;
	n_old = m->n_ids;
	m->ids = NULL;
	m->n_ids = 0;
	for (size_t i = 0; !err && i < n; i++) {
		char *cluster;
		uint32_t local;

		if (!idg_mesh_id_key(kvs[i].key, k->ids_pfx, &cluster, &local))
			continue;
		if (!idg_mesh_canon_ok(cluster, kvs[i].val, kvs[i].len)) {
			free(cluster);
			continue;
		}
		err = table_set(m, cluster, local, kvs[i].val, kvs[i].len);
	}
	m->ids_new = true;
	pthread_mutex_unlock(&m->mu);
	idg_id_alloc_v_free(old, n_old);
	return err;
}

bool idg_mesh_take_ids(struct idg_mesh *m, struct idg_id_alloc **v, size_t *n)
{
	struct idg_id_alloc *c = NULL;
	size_t k = 0;
	bool got;

	pthread_mutex_lock(&m->mu);
	got = m->ids_new;
	if (got) {
		c = calloc(m->n_ids + 1, sizeof(*c));
		for (; c && k < m->n_ids; k++) {
			c[k].local = m->ids[k].local;
			c[k].cluster = strdup(m->ids[k].cluster);
			c[k].canon = strdup(m->ids[k].canon);
			if (!c[k].cluster || !c[k].canon) {
				idg_id_alloc_v_free(c, k + 1);
				c = NULL;
			}
		}
		/* Out of memory: taken at the next wake-up. */
		got = c != NULL;
		m->ids_new = !got;
	}
	pthread_mutex_unlock(&m->mu);
	*v = c;
	*n = got ? k : 0;
	return got;
}

static void reqs_free(struct idg_mesh_id_req *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].canon);
	free(v);
}

void idg_mesh_request_ids(struct idg_mesh *m, const struct idg_mesh_id_req *v,
			  size_t n)
{
	struct idg_mesh_id_req *c = n ? calloc(n, sizeof(*c)) : NULL;

	for (size_t i = 0; c && i < n; i++) {
		c[i].local = v[i].local;
		c[i].exact = v[i].exact;
		c[i].canon = strdup(v[i].canon);
		if (!c[i].canon) {
			reqs_free(c, i);
			c = NULL;
		}
	}
	if (n && !c)
		return; /* asked again after the next load */
	pthread_mutex_lock(&m->mu);
	reqs_free(m->reqs, m->n_reqs);
	m->reqs = c;
	m->n_reqs = n;
	pthread_mutex_unlock(&m->mu);
}

/* The next number of a probe, wrapping from 65535 to the first. */
static uint32_t next_local(uint32_t l)
{
	return l >= 0xffff ? IDG_ID_LOCAL_MIN : l + 1;
}

/* A number for canon in this node's cluster, probing from local (not
 * past it when exact). */
static int allocate_one(struct work *k, const char *canon, uint32_t local,
			bool exact)
{
	struct idg_mesh *m = k->m;
	const char *cluster = m->cfg.cluster;
	size_t len = strlen(canon);
	char key[1200];
	int err = 0;

	for (uint32_t tries = 0; tries < 0x10000 - IDG_ID_LOCAL_MIN;
	     tries++, local = next_local(local)) {
		struct idg_etcd_kv have = { 0 };
		struct idg_id_alloc *e;
		bool mine;

		pthread_mutex_lock(&m->mu);
		e = at(m, cluster, local);
		mine = e && !strcmp(e->canon, canon);
		pthread_mutex_unlock(&m->mu);
		if (mine)
			return 0;
		if (e && !exact)
			continue; /* another label set's, as far as we know */
		snprintf(key, sizeof(key), "%s%s/%u", k->ids_pfx, cluster, local);
		err = idg_etcd_create(k->e, key, canon, len, 0, NULL, &have);
		if (err == -EPERM) {
			/* Not the store's trouble: asked again after the
			 * next load, refused the same until the role is
			 * fixed. */
			if (!k->ids_refused)
				printf("idgate run: mesh: the store refuses %s (this node's role needs readwrite on %s%s/, docs/mesh.md): {%s} and the label sets after it keep the numbers they hash to\n",
				       key, k->ids_pfx, cluster, canon);
			k->ids_refused = true;
			return 0;
		}
		if (err && err != -EEXIST)
			return err;
		mine = !err || (have.len == len && !memcmp(have.val, canon, len));
		if (!err)
			printf("idgate run: mesh: number %u of cluster %s allocated to {%s}\n",
			       local, cluster, canon);
		free(have.key);
		free(have.val);
		if (mine) {
			char *c = strdup(cluster);

			/* Known before the watch says so: the next request
			 * of this round must not probe onto it. */
			pthread_mutex_lock(&m->mu);
			err = c ? table_set(m, c, local, (const uint8_t *)canon,
					    len) :
				  -ENOMEM;
			m->ids_new = true;
			pthread_mutex_unlock(&m->mu);
			mesh_wake(m);
			return err;
		}
		if (exact) {
			/* The compile warns of the pin against the store. */
			printf("idgate run: mesh: number %u of cluster %s, pinned here to {%s}, is another label set's in the store: not allocated\n",
			       local, cluster, canon);
			return 0;
		}
	}
	printf("idgate run: mesh: no identity number left in cluster %s for {%s}\n",
	       cluster, canon);
	return 0;
}

int mesh_ids_allocate(struct work *k)
{
	struct idg_mesh *m = k->m;
	struct idg_mesh_id_req *v;
	size_t n, i;
	int err = 0;

	pthread_mutex_lock(&m->mu);
	v = m->reqs;
	n = m->n_reqs;
	m->reqs = NULL;
	m->n_reqs = 0;
	pthread_mutex_unlock(&m->mu);
	for (i = 0; i < n && !err; i++) {
		bool known;

		pthread_mutex_lock(&m->mu);
		known = has_canon(m, m->cfg.cluster, v[i].canon);
		pthread_mutex_unlock(&m->mu);
		if (!known)
			err = allocate_one(k, v[i].canon, v[i].local, v[i].exact);
	}
	if (err) {
		/* Kept for the next connection, unless newer ones came. */
		pthread_mutex_lock(&m->mu);
		if (!m->reqs) {
			m->reqs = v;
			m->n_reqs = n;
			v = NULL;
		}
		pthread_mutex_unlock(&m->mu);
	}
	reqs_free(v, n);
	return err;
}
