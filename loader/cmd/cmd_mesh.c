// SPDX-License-Identifier: GPL-2.0
/*
 * idgate run in the cluster mesh (docs/mesh.md): the --kvstore-* options,
 * this node's endpoints handed to the mesh thread after each load, and
 * the other nodes' documents, each checked against the running config,
 * written as files of the state directory's mesh/ that the config cache
 * reads with the config directory. A document the check refuses is not
 * written (and one written before is removed): nothing of a node is
 * trusted beyond what it may publish.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cmd.h"

#define MESH_TTL_S 10
#define MESH_REMOTE_TTL_S 60

int cmd_store_opts(const struct idg_opts *o, const char *cmd,
		   struct idg_etcd_opts *eo, char **pw)
{
	static const struct { const char *name; size_t off; } req[] = {
		{ "--kvstore-ca", offsetof(struct idg_opts, kv_ca) },
		{ "--kvstore-cert", offsetof(struct idg_opts, kv_cert) },
		{ "--kvstore-key", offsetof(struct idg_opts, kv_key) },
		{ "--kvstore-server-id", offsetof(struct idg_opts, kv_server_id) },
	};
	size_t len = 0;
	int err;

	*pw = NULL;
	if (!o->kv_endpoints) {
		fprintf(stderr, "idgate %s: missing --kvstore-endpoints\n", cmd);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (!*(const char *const *)((const char *)o + req[i].off)) {
			fprintf(stderr, "idgate %s: missing %s\n", cmd, req[i].name);
			return -EINVAL;
		}
	if (!o->kv_user != !o->kv_password_file) {
		fprintf(stderr, "idgate %s: --kvstore-user and --kvstore-password-file go together\n",
			cmd);
		return -EINVAL;
	}
	if (o->kv_password_file) {
		err = idg_read_file(o->kv_password_file, pw, &len);
		if (err) {
			fprintf(stderr, "idgate %s: %s: %s\n", cmd,
				o->kv_password_file, strerror(-err));
			return err;
		}
		(*pw)[strcspn(*pw, "\r\n")] = '\0';
	}
	*eo = (struct idg_etcd_opts){ .endpoints = o->kv_endpoints,
				      .cacert = o->kv_ca, .cert = o->kv_cert,
				      .key = o->kv_key,
				      .server_id = o->kv_server_id,
				      .user = o->kv_user, .password = *pw };
	return 0;
}

int cmd_spiffe_node_id(const char *server_id, const char *cluster,
		       const char *node, char *out, size_t len)
{
	const char *td = server_id, *slash;
	int n;

	if (strncmp(td, "spiffe://", 9))
		return -EINVAL;
	td += 9;
	slash = strchr(td, '/');
	if (slash == td || !*td)
		return -EINVAL;
	n = snprintf(out, len, "spiffe://%.*s/idgate/%s/%s",
		     (int)(slash ? slash - td : (long)strlen(td)), td, cluster, node);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The node's certificate names it (its cluster from the config): else
 * the mesh is not joined, as etcd would not tell one node from another
 * of the same CA by the certificate. */
static int own_id_check(const struct cmd_mesh *cm, const char *config,
			const char *node_name)
{
	struct idg_config cfg = { 0 };
	struct idg_diags d = { 0 };
	const struct idg_node *nd;
	char want[1024], have[1024];
	int err = idg_config_load(config, &cfg, &d);

	nd = err ? NULL : idg_config_node(&cfg, node_name);
	if (!nd || !nd->cluster) {
		fprintf(stderr, "idgate run: the cluster mesh needs node %s's Node in %s (its cluster names its certificate)%s\n",
			node_name, config, err ? "; the config does not load:" : "");
		idg_diags_print(&d, stderr);
		err = -EINVAL;
		goto out;
	}
	err = cmd_spiffe_node_id(cm->eo.server_id, nd->cluster, nd->name, want,
				 sizeof(want));
	if (err) {
		fprintf(stderr, "idgate run: --kvstore-server-id %s is not a SPIFFE ID (spiffe://TRUST-DOMAIN/PATH)\n",
			cm->eo.server_id);
		goto out;
	}
	err = idg_spiffe_id_of_cert(cm->eo.cert, have, sizeof(have));
	if (err || strcmp(have, want)) {
		fprintf(stderr, "idgate run: the certificate %s names %s, not %s: not joining the mesh as another node\n",
			cm->eo.cert, err ? "no single SPIFFE ID" : have, want);
		err = -EPERM;
	}
out:
	idg_config_free(&cfg);
	idg_diags_free(&d);
	return err;
}

/* Every file of dir removed: what an earlier run read from the store is
 * not trusted before the store says it again. */
static int dir_empty(const char *dir)
{
	int err = idg_dir_remove(dir);

	if (!err && mkdir(dir, 0700) && errno != EEXIST)
		err = -errno;
	return err;
}

int cmd_mesh_init(struct cmd_mesh *cm, const struct idg_opts *o,
		  const struct idg_instance *in, const char *config)
{
	struct stat st;
	int err;

	memset(cm, 0, sizeof(*cm));
	if (!o->kv_endpoints)
		return 0;
	err = cmd_store_opts(o, "run", &cm->eo, &cm->pw);
	if (err)
		return err;
	if (stat(config, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "idgate run: the cluster mesh needs -c DIR (a config directory; the store's documents are read beside its files)\n");
		return -EINVAL;
	}
	err = own_id_check(cm, config, in->node);
	if (err)
		return err;
	snprintf(cm->prefix, sizeof(cm->prefix), "%s",
		 o->kv_prefix ? o->kv_prefix : IDG_KV_PREFIX_DEFAULT);
	if (o->kv_remote_ttl_s == 0) {
		fprintf(stderr, "idgate run: --kvstore-remote-ttl must be at least 1 second\n");
		return -EINVAL;
	}
	cm->remote_ttl_s = o->kv_remote_ttl_s == UINT64_MAX ? MESH_REMOTE_TTL_S :
							      (double)o->kv_remote_ttl_s;
	if (mkdir(in->state_dir, 0700) && errno != EEXIST) {
		err = -errno;
		fprintf(stderr, "idgate run: %s: %s\n", in->state_dir, strerror(-err));
		return err;
	}
	if (idg_path_join(cm->dir, sizeof(cm->dir), in->state_dir, "mesh"))
		return -ENAMETOOLONG;
	err = dir_empty(cm->dir);
	if (err) {
		fprintf(stderr, "idgate run: %s: %s\n", cm->dir, strerror(-err));
		return err;
	}
	cm->on = true;
	return 0;
}

/* Numbers asked of the store for the label sets of this node's
 * endpoints that have none there, each from the number it has now. */
static void ids_request(struct cmd_mesh *cm, const struct idg_compiled *c)
{
	struct idg_mesh_id_req *v = calloc(c->n_eps + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return; /* asked again after the next load */
	for (size_t i = 0; i < c->n_eps; i++) {
		const struct idg_identity *id =
			idg_compiled_identity(c, c->eps[i].identity);
		bool dup = false;

		if (!id || !id->canon ||
		    idg_id_allocs_get(&cm->allocs, cm->cluster, id->canon))
			continue;
		for (size_t k = 0; k < n && !dup; k++)
			dup = v[k].local == (id->id & 0xffff);
		if (!dup)
			v[n++] = (struct idg_mesh_id_req){
				.canon = id->canon, .local = id->id & 0xffff,
				.exact = id->pinned };
	}
	idg_mesh_request_ids(&cm->m, v, n);
	free(v);
}

void cmd_mesh_loaded(struct cmd_mesh *cm, const struct cmd_compiled *cc)
{
	const struct idg_node *nd = cc->c.node;
	char *text = NULL;
	size_t len = 0;
	int err;

	if (!cm->on)
		return;
	if (!cm->m.started) {
		struct idg_mesh_cfg mc = { .store = cm->eo, .prefix = cm->prefix,
					   .cluster = cm->cluster,
					   .node = cm->node, .ttl_s = MESH_TTL_S,
					   .contact_s = cm->remote_ttl_s / 4 };

		snprintf(cm->cluster, sizeof(cm->cluster), "%s", nd->cluster);
		snprintf(cm->node, sizeof(cm->node), "%s", nd->name);
		err = idg_mesh_start(&cm->m, &mc);
		if (err) {
			fprintf(stderr, "idgate run: mesh: cannot start its thread: %s\n",
				strerror(-err));
			return;
		}
		printf("idgate run: mesh: node %s of cluster %s, store %s, keys under %s/clusters/\n",
		       cm->node, cm->cluster, cm->eo.endpoints, cm->prefix);
	} else if (strcmp(cm->cluster, nd->cluster)) {
		fprintf(stderr, "idgate run: mesh: node %s moved to cluster %s: the mesh keeps publishing it in %s until idgate run restarts\n",
			nd->name, nd->cluster, cm->cluster);
	}
	if (idg_mesh_endpoints_doc(&cc->cfg, cm->node, &text, &len)) {
		fprintf(stderr, "idgate run: mesh: out of memory for this node's endpoints\n");
		return;
	}
	idg_mesh_publish(&cm->m, text, len);
	free(text);
	ids_request(cm, &cc->c);
}

/* The file of a checked document (cluster and node are the config's). */
static int doc_path(const struct cmd_mesh *cm, const struct cmd_mesh_node *e,
		    char *path, size_t len)
{
	int n = snprintf(path, len, "%s/" MESH_FILE_PREFIX "%s:%s.yaml", cm->dir,
			 e->cluster, e->node);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void nodes_free(struct cmd_mesh_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].cluster);
		free(v[i].node);
	}
	free(v);
}

static struct cmd_mesh_node *node_find(struct cmd_mesh *cm, const char *cluster,
				       const char *node)
{
	for (size_t i = 0; i < cm->n_nodes; i++)
		if (!strcmp(cm->nodes[i].cluster, cluster) &&
		    !strcmp(cm->nodes[i].node, node))
			return &cm->nodes[i];
	return NULL;
}

/* The entry of a document's node, made when new (names taken over). */
static struct cmd_mesh_node *node_get(struct cmd_mesh *cm, struct idg_mesh_doc *doc)
{
	struct cmd_mesh_node *e = node_find(cm, doc->cluster, doc->node), *v;

	if (e)
		return e;
	v = realloc(cm->nodes, (cm->n_nodes + 1) * sizeof(*v));
	if (!v)
		return NULL;
	cm->nodes = v;
	e = &cm->nodes[cm->n_nodes++];
	*e = (struct cmd_mesh_node){ .cluster = doc->cluster, .node = doc->node };
	doc->cluster = doc->node = NULL;
	return e;
}

/* Its file gone, if it had one: true when one was removed. Its names
 * and addresses are free again. */
static bool file_drop(struct cmd_mesh *cm, struct cmd_mesh_node *e)
{
	char path[PATH_MAX];
	bool had = e->file;

	if (cm->claims_ok)
		idg_mesh_claims_release(&cm->claims, e->node);
	e->file = false;
	return had && !doc_path(cm, e, path, sizeof(path)) && !unlink(path);
}

/* Removes entry e (its file first). */
static bool node_remove(struct cmd_mesh *cm, struct cmd_mesh_node *e)
{
	bool changed = file_drop(cm, e);

	free(e->cluster);
	free(e->node);
	*e = cm->nodes[--cm->n_nodes];
	return changed;
}

/* One node's document: checked, then written, or refused (and a file
 * of an earlier version removed). True when the directory changed. */
static bool doc_apply(struct cmd_mesh *cm, struct cmd_mesh_node *e,
		      const struct idg_mesh_doc *doc, const struct idg_config *cfg,
		      struct idg_mesh_claims *claims)
{
	struct idg_diags d = { 0 };
	char name[600], path[PATH_MAX];
	int err;

	snprintf(name, sizeof(name), MESH_FILE_PREFIX "%s/%s", e->cluster, e->node);
	err = idg_mesh_doc_check(name, doc->text, doc->len, e->cluster, e->node,
				 cfg, &d, &e->endpoints, claims);
	if (!err)
		err = doc_path(cm, e, path, sizeof(path));
	e->refused = err != 0;
	if (err) {
		printf("idgate run: mesh: %s/%s's endpoints refused:\n", e->cluster,
		       e->node);
		idg_diags_print(&d, stdout);
		idg_diags_free(&d);
		return file_drop(cm, e);
	}
	idg_diags_free(&d);
	if (e->file && idg_file_holds(path, doc->text, doc->len))
		return false;
	/* Not synced: the directory is emptied at every start, and only this
	 * thread reads it, after the write. */
	err = idg_file_rewrite(path, 0600, doc->text, doc->len);
	if (err) {
		fprintf(stderr, "idgate run: mesh: %s: %s\n", path, strerror(-err));
		return file_drop(cm, e);
	}
	e->file = true;
	return true;
}

/* Does a give every entry of v its number? */
static bool ids_same(const struct idg_id_allocs *a, const struct idg_id_alloc *v,
		     size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (idg_id_allocs_get(a, v[i].cluster, v[i].canon) != v[i].local)
			return false;
	return true;
}

/* The store's numbers, when they changed: true. */
static bool ids_take(struct cmd_mesh *cm)
{
	struct idg_id_alloc *v;
	size_t n;
	int err;

	if (!idg_mesh_take_ids(&cm->m, &v, &n))
		return false;
	/* A resync reads the same numbers again: no reload for them. */
	if (n == cm->allocs.n && ids_same(&cm->allocs, v, n)) {
		idg_id_alloc_v_free(v, n);
		return false;
	}
	err = idg_id_allocs_set(&cm->allocs, v, n);
	if (err) {
		fprintf(stderr, "idgate run: mesh: identity numbers: %s; every document is read again\n",
			strerror(-err));
		idg_mesh_resync(&cm->m);
	}
	return true;
}

void cmd_mesh_files_changed(struct cmd_mesh *cm)
{
	if (cm->claims_ok)
		idg_mesh_claims_free(&cm->claims);
	cm->claims_ok = false;
}

bool cmd_mesh_apply(struct cmd_mesh *cm, const struct idg_config *cfg)
{
	struct idg_mesh_doc *docs = NULL;
	bool changed = false, full = false;
	size_t n = 0;

	if (!cm->on)
		return false;
	changed = ids_take(cm);
	if (!idg_mesh_take(&cm->m, &docs, &n, &full))
		return changed;
	/* The running config's names and addresses, which each document
	 * taken replaces its node's of: built once, kept while the files
	 * change only through the mesh. */
	if (!cm->claims_ok && idg_mesh_claims_init(&cm->claims, cfg)) {
		fprintf(stderr, "idgate run: mesh: out of memory; every document is read again\n");
		idg_mesh_docs_free(docs, n);
		idg_mesh_resync(&cm->m);
		return changed;
	}
	cm->claims_ok = true;
	if (cm->expired) {
		printf("idgate run: mesh: the store answers again: the other nodes' endpoints are read anew\n");
		/* Their entries lose the mark even where no file changes. */
		changed = true;
	}
	cm->expired = false;
	if (cm->cache)
		cm->cache->extra_expired = false;
	cm->resync_asked = false;
	for (size_t i = 0; i < cm->n_nodes; i++)
		cm->nodes[i].seen = false;
	for (size_t i = 0; i < n; i++) {
		struct cmd_mesh_node *e;

		if (!docs[i].text) {
			e = node_find(cm, docs[i].cluster, docs[i].node);
			if (e)
				changed |= node_remove(cm, e);
			continue;
		}
		e = node_get(cm, &docs[i]);
		if (!e)
			continue; /* out of memory: the next hand-over */
		e->seen = true;
		changed |= doc_apply(cm, e, &docs[i], cfg, &cm->claims);
	}
	/* The whole set: nodes it lacks are gone. */
	for (size_t i = 0; full && i < cm->n_nodes;)
		if (!cm->nodes[i].seen)
			changed |= node_remove(cm, &cm->nodes[i]);
		else
			i++;
	idg_mesh_docs_free(docs, n);
	return changed;
}

bool cmd_mesh_expire(struct cmd_mesh *cm)
{
	struct idg_mesh_health h;
	bool changed = false;

	if (!cm->on)
		return false;
	idg_mesh_health(&cm->m, &h);
	/* The store answers again on the same connection: the thread has
	 * nothing new to say unless asked to read everything again. */
	if (cm->expired) {
		if (h.age_s >= 0 && h.age_s <= cm->remote_ttl_s && !cm->resync_asked) {
			idg_mesh_resync(&cm->m);
			cm->resync_asked = true;
		}
		return false;
	}
	/* Measured from the last answer, not from when the thread gave up
	 * on the store: a store that hangs is found out only when a request
	 * times out. */
	if (h.age_s < 0 || h.age_s <= cm->remote_ttl_s)
		return false;
	cm->expired = true;
	printf("idgate run: mesh: the store has not answered for %.1f s (more than %.0f s): the other nodes' endpoints expire; their traffic is denied (remote-identity-expired) until it answers again\n",
	       h.age_s, cm->remote_ttl_s);
	/* Their documents stay, marked: an address of theirs is then judged
	 * expired, not taken for the world's (which a policy may allow). */
	if (cm->cache)
		cm->cache->extra_expired = true;
	for (size_t i = 0; i < cm->n_nodes; i++)
		changed |= cm->nodes[i].file;
	return changed;
}

static struct json_object *cluster_json(struct json_object *clusters,
					const char *name)
{
	struct json_object *c;

	if (json_object_object_get_ex(clusters, name, &c))
		return c;
	c = json_object_new_object();
	json_object_object_add(c, "nodes", json_object_new_int(0));
	json_object_object_add(c, "endpoints", json_object_new_int(0));
	json_object_object_add(c, "refused_nodes", json_object_new_int(0));
	json_object_object_add(clusters, name, c);
	return c;
}

static void add_int(struct json_object *o, const char *k, int64_t d)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, k, &v))
		json_object_set_int64(v, json_object_get_int64(v) + d);
}

struct json_object *cmd_mesh_json(struct cmd_mesh *cm)
{
	struct json_object *j, *clusters;
	struct idg_mesh_health h;

	if (!cm->on)
		return NULL;
	idg_mesh_health(&cm->m, &h);
	j = json_object_new_object();
	clusters = json_object_new_object();
	json_object_object_add(j, "connected", json_object_new_boolean(h.connected));
	json_object_object_add(j, "endpoint", json_object_new_string(h.endpoint));
	json_object_object_add(j, "revision", json_object_new_int64(h.rev));
	json_object_object_add(j, "data_age_s", json_object_new_double(h.age_s));
	json_object_object_add(j, "down_s", json_object_new_double(h.down_s));
	json_object_object_add(j, "connects", json_object_new_int64(h.connects));
	json_object_object_add(j, "error", json_object_new_string(h.err));
	json_object_object_add(j, "remote_ttl_s", json_object_new_double(cm->remote_ttl_s));
	json_object_object_add(j, "expired", json_object_new_boolean(cm->expired));
	for (size_t i = 0; i < cm->n_nodes; i++) {
		struct json_object *c = cluster_json(clusters, cm->nodes[i].cluster);

		add_int(c, "nodes", 1);
		if (cm->nodes[i].refused)
			add_int(c, "refused_nodes", 1);
		else
			add_int(c, "endpoints", (int64_t)cm->nodes[i].endpoints);
	}
	json_object_object_add(j, "clusters", clusters);
	return j;
}

void cmd_mesh_free(struct cmd_mesh *cm)
{
	idg_mesh_stop(&cm->m);
	idg_id_allocs_free(&cm->allocs);
	cmd_mesh_files_changed(cm);
	nodes_free(cm->nodes, cm->n_nodes);
	cm->nodes = NULL;
	cm->n_nodes = 0;
	if (cm->pw) {
		memset(cm->pw, 0, strlen(cm->pw));
		free(cm->pw);
	}
	cm->pw = NULL;
	cm->on = false;
}
