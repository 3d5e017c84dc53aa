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
#include <dirent.h>
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
#define MESH_FILE_PREFIX "kvstore:"

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
}

/* The file of a checked document (cluster and node are the config's). */
static int doc_path(const struct cmd_mesh *cm, const struct idg_mesh_doc *doc,
		    char *path, size_t len)
{
	int n = snprintf(path, len, "%s/" MESH_FILE_PREFIX "%s:%s.yaml", cm->dir,
			 doc->cluster, doc->node);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Files of dir that no accepted document has: removed. */
static bool remove_others(const struct cmd_mesh *cm, char *const *keep,
			  size_t n_keep)
{
	struct dirent *e;
	bool changed = false;
	DIR *dh = opendir(cm->dir);

	while (dh && (e = readdir(dh))) {
		char path[PATH_MAX];
		bool kept = false;

		if (strncmp(e->d_name, MESH_FILE_PREFIX, strlen(MESH_FILE_PREFIX)))
			continue;
		if (idg_path_join(path, sizeof(path), cm->dir, e->d_name))
			continue;
		for (size_t i = 0; i < n_keep && !kept; i++)
			kept = !strcmp(keep[i], path);
		if (!kept && !unlink(path))
			changed = true;
	}
	if (dh)
		closedir(dh);
	return changed;
}

static void nodes_free(struct cmd_mesh_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].cluster);
		free(v[i].node);
	}
	free(v);
}

bool cmd_mesh_apply(struct cmd_mesh *cm, const struct idg_config *cfg)
{
	struct idg_mesh_claims claims = { 0 };
	struct cmd_mesh_node *seen;
	struct idg_mesh_doc *docs = NULL;
	char **keep = NULL;
	size_t n = 0, n_keep = 0;
	bool changed = false;

	if (!cm->on || !idg_mesh_take(&cm->m, &docs, &n))
		return false;
	if (cm->expired)
		printf("idgate run: mesh: the store answers again: the other nodes' endpoints are read anew\n");
	cm->expired = false;
	cm->resync_asked = false;
	keep = calloc(n + 1, sizeof(*keep));
	seen = calloc(n + 1, sizeof(*seen));
	if (!keep || !seen) {
		free(keep);
		free(seen);
		idg_mesh_docs_free(docs, n);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct idg_diags d = { 0 };
		char name[600], path[PATH_MAX];
		int err;

		snprintf(name, sizeof(name), MESH_FILE_PREFIX "%s/%s",
			 docs[i].cluster, docs[i].node);
		err = idg_mesh_doc_check(name, docs[i].text, docs[i].len,
					 docs[i].cluster, docs[i].node, cfg, &d,
					 &seen[i].endpoints, &claims);
		/* Taken over: the document goes, its names stay. */
		seen[i].cluster = docs[i].cluster;
		seen[i].node = docs[i].node;
		docs[i].cluster = docs[i].node = NULL;
		seen[i].refused = err != 0;
		if (!err)
			err = doc_path(cm, &(struct idg_mesh_doc){
				.cluster = seen[i].cluster, .node = seen[i].node },
				path, sizeof(path));
		if (err) {
			seen[i].refused = true;
			printf("idgate run: mesh: %s/%s's endpoints refused:\n",
			       seen[i].cluster, seen[i].node);
			idg_diags_print(&d, stdout);
			idg_diags_free(&d);
			continue;
		}
		idg_diags_free(&d);
		keep[n_keep] = strdup(path);
		if (!keep[n_keep])
			continue;
		n_keep++;
		if (idg_file_holds(path, docs[i].text, docs[i].len))
			continue;
		err = idg_file_replace_buf(path, 0600, docs[i].text, docs[i].len);
		if (err)
			fprintf(stderr, "idgate run: mesh: %s: %s\n", path, strerror(-err));
		else
			changed = true;
	}
	changed |= remove_others(cm, keep, n_keep);
	idg_mesh_claims_free(&claims);
	for (size_t i = 0; i < n_keep; i++)
		free(keep[i]);
	free(keep);
	idg_mesh_docs_free(docs, n);
	nodes_free(cm->nodes, cm->n_nodes);
	cm->nodes = seen;
	cm->n_nodes = n;
	return changed;
}

bool cmd_mesh_expire(struct cmd_mesh *cm)
{
	struct idg_mesh_health h;

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
	printf("idgate run: mesh: the store has not answered for %.1f s (more than %.0f s): the other nodes' endpoints expire; their traffic is denied until it answers again\n",
	       h.age_s, cm->remote_ttl_s);
	nodes_free(cm->nodes, cm->n_nodes);
	cm->nodes = NULL;
	cm->n_nodes = 0;
	return remove_others(cm, NULL, 0);
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
