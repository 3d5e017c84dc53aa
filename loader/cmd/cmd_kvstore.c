// SPDX-License-Identifier: GPL-2.0
/*
 * idgate kvstore check: can this node take part in the cluster mesh
 * (docs/mesh.md)? It checks, in the order a failure is easiest to act
 * on: the node's certificate names the node, the store's members are
 * the server it was told of, the node's user logs in, it can read the
 * mesh and would take the other nodes' endpoints, what it would publish
 * passes the same check, it can write its own keys and none of another
 * node's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "etcd.h"
#include "util/util.h"

struct check {
	int failed;
};

static void line(struct check *ck, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void line(struct check *ck, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s  ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	ck->failed += !ok;
}

/* The node's own keys: a key with a lease, written and removed. */
static void own_write(struct check *ck, struct idg_etcd *e, const char *own)
{
	char key[1100];
	int64_t lease = 0;
	int err;

	snprintf(key, sizeof(key), "%s.kvstore-check", own);
	err = idg_etcd_lease_grant(e, 10, &lease);
	if (!err)
		err = idg_etcd_put(e, key, "check", 5, lease, NULL);
	line(ck, !err, "write under its own prefix %s%s%s", own, err ? ": " : "",
	     err ? idg_etcd_error(e) : "");
	if (lease)
		idg_etcd_lease_revoke(e, lease); /* takes the key along */
}

/* Its cluster's identity numbers, which it creates for its label sets
 * (a key no number has, created and removed). */
static void ids_write(struct check *ck, struct idg_etcd *e, const char *prefix,
		      const char *cluster)
{
	char key[1024];
	int err;

	snprintf(key, sizeof(key), "%s/identities/%s/~kvstore-check", prefix,
		 cluster);
	err = idg_etcd_put(e, key, "x", 1, 0, NULL);
	if (!err)
		idg_etcd_delete(e, key, false, NULL, NULL);
	line(ck, !err, "write its cluster's identity numbers %s/identities/%s/%s%s",
	     prefix, cluster, err ? ": " : "", err ? idg_etcd_error(e) : "");
}

/* Another node's keys, which RBAC must keep this one from. */
static void foreign_write(struct check *ck, struct idg_etcd *e,
			  const char *prefix, const char *cluster)
{
	char key[1024];
	int err;

	/* No node name has a '~' (idg_node_name_ok). */
	snprintf(key, sizeof(key), "%s/clusters/%s/~kvstore-check/x", prefix,
		 cluster);
	err = idg_etcd_put(e, key, "x", 1, 0, NULL);
	if (!err)
		idg_etcd_delete(e, key, false, NULL, NULL);
	line(ck, err == -EPERM,
	     err == -EPERM ? "another node's keys are refused to this node (%s)" :
	     !err ? "this node could write %s: the store's roles do not confine it to its own prefix (docs/mesh.md, RBAC)" :
		    "writing outside its prefix failed, but not as refused: %s",
	     err && err != -EPERM ? idg_etcd_error(e) : key);
}

/* What the mesh holds, and whether this node would take each other
 * node's endpoints into its config (idg_mesh_doc_check). */
static void mesh_read(struct check *ck, struct idg_etcd *e, const char *prefix,
		      const struct idg_config *cfg, const char *self)
{
	char root[1024], pfx[1024], ids[1024], name[600];
	struct idg_etcd_kv *kvs = NULL;
	size_t n = 0, nodes = 0, numbers = 0;
	int64_t rev = 0;
	int err;

	/* All of it, as idgate run reads it. */
	snprintf(root, sizeof(root), "%s/", prefix);
	snprintf(pfx, sizeof(pfx), "%s/clusters/", prefix);
	snprintf(ids, sizeof(ids), "%s/identities/", prefix);
	err = idg_etcd_get_prefix(e, root, &kvs, &n, &rev);
	if (err) {
		line(ck, false, "read %s: %s", root, idg_etcd_error(e));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char *cluster, *node;
		uint32_t local;

		if (idg_mesh_id_key(kvs[i].key, ids, &cluster, &local)) {
			numbers++;
			free(cluster);
		}
		if (!idg_mesh_doc_key(kvs[i].key, pfx, &cluster, &node))
			continue;
		nodes++;
		free(cluster);
		free(node);
	}
	line(ck, true, "read %s at revision %lld: %zu key%s, %zu node%s publishing endpoints, %zu identity number%s",
	     root, (long long)rev, n, n == 1 ? "" : "s", nodes, nodes == 1 ? "" : "s",
	     numbers, numbers == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		struct idg_diags d = { 0 };
		char *cluster, *node;

		if (!idg_mesh_doc_key(kvs[i].key, pfx, &cluster, &node))
			continue;
		if (strcmp(node, self)) {
			snprintf(name, sizeof(name), "kvstore:%s/%s", cluster, node);
			err = idg_mesh_doc_check(name, (const char *)kvs[i].val,
						 kvs[i].len, cluster, node, cfg, &d,
						 NULL, NULL);
			line(ck, !err, "%s/%s's endpoints %s", cluster, node,
			     err ? "would be refused by this node:" : "would be taken");
			if (err)
				idg_diags_print(&d, stdout);
			idg_diags_free(&d);
		}
		free(cluster);
		free(node);
	}
	idg_etcd_kvs_free(kvs, n);
}

/* What this node would publish, checked as its receivers check it. */
static void own_doc(struct check *ck, const struct idg_config *cfg,
		    const struct idg_node *node, const char *own)
{
	struct idg_diags d = { 0 };
	char *text = NULL, name[600];
	size_t len = 0;
	int err = idg_mesh_endpoints_doc(cfg, node->name, &text, &len);

	snprintf(name, sizeof(name), "kvstore:%s/%s", node->cluster, node->name);
	if (!err)
		err = idg_mesh_doc_check(name, text, len, node->cluster,
					 node->name, cfg, &d, NULL, NULL);
	line(ck, !err, "would publish %zu bytes of endpoints at %sendpoints%s",
	     len, own, err ? ", which the other nodes would refuse:" : "");
	if (err)
		idg_diags_print(&d, stdout);
	idg_diags_free(&d);
	free(text);
}

int do_kvstore_check(struct idg_opts *o)
{
	const char *prefix = o->kv_prefix ? o->kv_prefix : IDG_KV_PREFIX_DEFAULT;
	struct idg_etcd_opts eo = { 0 };
	struct idg_config cfg = { 0 };
	struct idg_diags d = { 0 };
	const struct idg_node *node;
	struct idg_instance in;
	struct idg_etcd *e = NULL;
	struct check ck = { 0 };
	char want[1024], have[1024], own[1024];
	char *pw = NULL;
	int err, rc = 1;

	if (cmd_instance(o, &in) || cmd_store_opts(o, "kvstore check", &eo, &pw))
		return 2;
	if (cmd_spiffe_node_id(o->kv_server_id, "c", "n", want, sizeof(want))) {
		fprintf(stderr, "idgate kvstore check: --kvstore-server-id %s is not a SPIFFE ID (spiffe://TRUST-DOMAIN/PATH)\n",
			o->kv_server_id);
		free(pw);
		return 2;
	}
	err = idg_config_load(o->config, &cfg, &d);
	idg_diags_print(&d, stderr);
	if (err)
		goto out;
	node = idg_config_node(&cfg, in.node);
	if (!node) {
		fprintf(stderr, "idgate kvstore check: node %s is not in %s\n",
			in.node, o->config);
		goto out;
	}
	/* The node's certificate must name this node of this cluster. */
	cmd_spiffe_node_id(o->kv_server_id, node->cluster, node->name, want,
			   sizeof(want));
	err = idg_spiffe_id_of_cert(o->kv_cert, have, sizeof(have));
	line(&ck, !err && !strcmp(have, want),
	     "the certificate %s names %s%s%s", o->kv_cert,
	     err ? (err == -ENOENT ? "no SPIFFE ID" : strerror(-err)) : have,
	     !err && !strcmp(have, want) ? "" : ", expected ",
	     !err && !strcmp(have, want) ? "" : want);
	err = idg_etcd_open(&e, &eo);
	line(&ck, !err, "%s%s%s%s", err ? "" : "connected to ",
	     err ? idg_etcd_error(e) : idg_etcd_endpoint(e),
	     err || !o->kv_user ? "" : " as ", err || !o->kv_user ? "" : o->kv_user);
	if (err)
		goto done;
	line(&ck, true, "the member's certificate names %s (checked at every TLS handshake)",
	     o->kv_server_id);
	snprintf(own, sizeof(own), "%s/clusters/%s/%s/", prefix, node->cluster,
		 node->name);
	mesh_read(&ck, e, prefix, &cfg, node->name);
	own_doc(&ck, &cfg, node, own);
	own_write(&ck, e, own);
	ids_write(&ck, e, prefix, node->cluster);
	foreign_write(&ck, e, prefix, node->cluster);
done:
	printf("%s\n", ck.failed ? "kvstore check: FAILED" : "kvstore check: ok");
	rc = ck.failed ? 1 : 0;
out:
	idg_etcd_close(e);
	if (pw)
		memset(pw, 0, strlen(pw));
	free(pw);
	idg_config_free(&cfg);
	idg_diags_free(&d);
	return rc;
}
