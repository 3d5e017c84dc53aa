// SPDX-License-Identifier: GPL-2.0
/*
 * config_mesh.c: what a node publishes to the mesh's store, and what a
 * receiving node takes from it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

/* The nodes; node-b's interfaces as b_ifaces says. */
#define NODES_WITH(b_ifaces)                                            \
	"apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: node-a}\n"  \
	"spec: {cluster: cluster-a, clusterID: 1, interfaces: {uplink: eth0}}\n" \
	"---\n"                                                            \
	"apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: node-b}\n"  \
	"spec: {cluster: cluster-a, clusterID: 1, interfaces: {" b_ifaces "}}\n" \
	"---\n"                                                            \
	"apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: node-c}\n"  \
	"spec: {cluster: cluster-b, clusterID: 2, interfaces: {uplink: eth0}}\n" \
	"---\n"                                                            \
	"apiVersion: idgate.io/v1\nkind: Node\nmetadata: {name: node-d}\n"  \
	"spec: {cluster: cluster-a, clusterID: 1, interfaces: {uplink: eth0}}\n"
#define NODES NODES_WITH("uplink: eth0, endpoints: [wl0]")
/* As another node sees node-b: no workload interface of its own. */
#define NODES_REMOTE NODES_WITH("uplink: eth0")

/* node-b's endpoints out of name order; node-c's web has node-a's web's
 * address, in another cluster. */
static const char local_yaml[] = NODES
	"---\n"
	"apiVersion: idgate.io/v1\nkind: Endpoint\n"
	"metadata: {name: web, namespace: prod, labels: {app: web}}\n"
	"spec: {node: node-a, ips: [10.0.0.10]}\n"
	"---\n"
	"apiVersion: idgate.io/v1\nkind: Endpoint\n"
	"metadata: {name: db, namespace: prod, labels: {app: db, app.kubernetes.io/part-of: billing, tier: \"\"}}\n"
	"spec: {node: node-b, ips: [10.0.1.11, \"fd00::11\"], interface: wl0, identity: 300}\n"
	"---\n"
	"apiVersion: idgate.io/v1\nkind: Endpoint\n"
	"metadata: {name: api, labels: {app: api}}\n"
	"spec: {node: node-b, ips: [10.0.1.10]}\n"
	"---\n"
	"apiVersion: idgate.io/v1\nkind: Endpoint\n"
	"metadata: {name: web, namespace: prod, labels: {app: web}}\n"
	"spec: {node: node-c, ips: [10.0.0.10]}\n";

static void load_clean(const char *yaml, struct idg_config *cfg)
{
	struct idg_diags d = { 0 };
	int rc = idg_config_load_string("local.yaml", yaml, cfg, &d);

	if (rc || d.n_errors) {
		idg_diags_print(&d, stderr);
		fail();
	}
	idg_diags_free(&d);
}

static const struct idg_endpoint *ep_of(const struct idg_config *cfg,
					const char *node, const char *name)
{
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		if (!strcmp(cfg->endpoints[i].node, node) &&
		    !strcmp(cfg->endpoints[i].name, name))
			return &cfg->endpoints[i];
	return NULL;
}

static void same_endpoint(const struct idg_endpoint *a,
			  const struct idg_endpoint *b)
{
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->namespace, b->namespace);
	assert_string_equal(a->node, b->node);
	assert_int_equal(a->labels.n, b->labels.n);
	for (size_t i = 0; i < a->labels.n; i++) {
		assert_string_equal(a->labels.v[i].key, b->labels.v[i].key);
		assert_string_equal(a->labels.v[i].value, b->labels.v[i].value);
	}
	assert_int_equal(a->n_ips, b->n_ips);
	for (size_t i = 0; i < a->n_ips; i++)
		assert_true(idg_cidr_equal(&a->ips[i], &b->ips[i]));
}

/* What node-b publishes reads back as node-b's endpoints, less the
 * fields that stay on node-b, and passes the receiver's check. */
static void published_endpoints_read_back(void **state)
{
	struct idg_config local, back;
	struct idg_diags d = { 0 };
	char *text, *again, *full;
	size_t len, len2, n_eps = 0;

	(void)state;
	load_clean(local_yaml, &local);
	assert_int_equal(idg_mesh_endpoints_doc(&local, "node-b", &text, &len), 0);
	assert_int_equal(strlen(text), len);
	/* Name order: api before db, whatever the config's order. */
	assert_true(strstr(text, "\"api\"") < strstr(text, "\"db\""));
	assert_null(strstr(text, "interface"));
	assert_null(strstr(text, "identity"));
	assert_int_equal(idg_mesh_endpoints_doc(&local, "node-b", &again, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(text, again, len);
	assert_int_equal(idg_mesh_doc_check("kvstore:cluster-a/node-b", text, len,
					    "cluster-a", "node-b", &local, &d, &n_eps, NULL), 0);
	assert_int_equal(n_eps, 2);
	assert_int_equal(d.n, 0);
	full = malloc(sizeof(NODES_REMOTE) + len + 8);
	assert_non_null(full);
	sprintf(full, "%s---\n%s", NODES_REMOTE, text);
	load_clean(full, &back);
	assert_int_equal(back.n_endpoints, 2);
	same_endpoint(ep_of(&back, "node-b", "api"), ep_of(&local, "node-b", "api"));
	same_endpoint(ep_of(&back, "node-b", "db"), ep_of(&local, "node-b", "db"));
	assert_null(ep_of(&back, "node-b", "db")->interface);
	assert_int_equal(ep_of(&back, "node-b", "db")->pinned_identity, 0);
	free(full);
	free(again);
	free(text);
	idg_config_free(&back);
	idg_config_free(&local);
}

static void no_endpoints_is_empty_text(void **state)
{
	struct idg_config local;
	char *text;
	size_t len;

	(void)state;
	load_clean(local_yaml, &local);
	assert_int_equal(idg_mesh_endpoints_doc(&local, "node-x", &text, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
	idg_config_free(&local);
}

#define EP(name, node, ips, extra)                                       \
	"apiVersion: idgate.io/v1\nkind: Endpoint\n"                       \
	"metadata: {name: " name ", namespace: prod, labels: {app: x}}\n"  \
	"spec: {node: " node ", ips: [" ips "]" extra "}\n"

/* The receiver's check of text from node of cluster must fail and say
 * needle, at line (0: any). */
static void refused(const char *text, const char *cluster, const char *node,
		    const char *needle, int line)
{
	struct idg_config local;
	struct idg_diags d = { 0 };
	bool found = false;
	int rc;

	load_clean(local_yaml, &local);
	rc = idg_mesh_doc_check("kvstore:x", text, strlen(text), cluster, node,
				&local, &d, NULL, NULL);
	for (size_t i = 0; i < d.n; i++)
		if (strstr(d.v[i].msg, needle) && (!line || d.v[i].pos.line == line) &&
		    !strcmp(d.v[i].pos.file, "kvstore:x"))
			found = true;
	if (rc != -EINVAL || !found) {
		fprintf(stderr, "expected '%s' at line %d, got %d:\n", needle, line, rc);
		idg_diags_print(&d, stderr);
		fail();
	}
	idg_diags_free(&d);
	idg_config_free(&local);
}

static void accepted(const char *text, const char *cluster, const char *node)
{
	struct idg_config local;
	struct idg_diags d = { 0 };

	load_clean(local_yaml, &local);
	if (idg_mesh_doc_check("kvstore:x", text, strlen(text), cluster, node,
			       &local, &d, NULL, NULL)) {
		idg_diags_print(&d, stderr);
		fail();
	}
	idg_diags_free(&d);
	idg_config_free(&local);
}

static void receiver_refuses_what_is_not_the_nodes_own(void **state)
{
	(void)state;
	refused(EP("n1", "node-b", "10.0.1.50", ""), "cluster-a", "node-z",
		"node node-z is not a node of the local config", 1);
	refused(EP("n1", "node-b", "10.0.1.50", ""), "cluster-b", "node-b",
		"node node-b is in cluster cluster-a, not cluster-b", 1);
	refused(EP("n1", "node-a", "10.0.1.50", ""), "cluster-a", "node-b",
		"is on node node-a: node node-b publishes its own endpoints only", 1);
	refused(NODES, "cluster-a", "node-b", "Endpoint documents only", 1);
	refused(EP("n1", "node-b", "10.0.1.50", ", interface: wl0"), "cluster-a",
		"node-b", "spec.interface is the publishing node's own business", 0);
	refused(EP("n1", "node-b", "10.0.1.50", ", identity: 400"), "cluster-a",
		"node-b", "spec.identity is the publishing node's own business", 0);
	refused("kind: Endpoint\nmetadata: {name: [\n", "cluster-a", "node-b", "", 0);
}

static void receiver_refuses_what_would_break_its_config(void **state)
{
	(void)state;
	/* node-a's web in cluster-a, by name and by address. */
	refused(EP("web", "node-b", "10.0.1.50", ""), "cluster-a", "node-b",
		"endpoint prod/web of node node-b: its name is node node-a's", 1);
	refused(EP("n1", "node-b", "10.0.0.10", ""), "cluster-a", "node-b",
		"address 10.0.0.10/32 is node node-a's", 4);
	refused(EP("n1", "node-b", "10.0.1.50", "") "---\n" EP("n2", "node-b", "10.0.1.50", ""),
		"cluster-a", "node-b", "is endpoint prod/n1's too", 9);
	refused(EP("n1", "node-b", "10.0.1.50", "") "---\n" EP("n1", "node-b", "10.0.1.51", ""),
		"cluster-a", "node-b", "endpoint prod/n1 is published twice", 0);
	/* The same address in another cluster is another endpoint; node-b's
	 * own endpoints in the local config are what it now publishes. */
	accepted(EP("n1", "node-c", "10.0.0.10", ""), "cluster-b", "node-c");
	accepted(EP("db", "node-b", "10.0.1.11", ""), "cluster-a", "node-b");
	accepted("", "cluster-a", "node-b");
}

/* Two nodes of one hand-over claiming one address or name: the second
 * is refused, as a claim of the local config's would be. */
static void one_hand_over_claims_once(void **state)
{
	struct idg_mesh_claims claims;
	struct idg_config local;
	struct idg_diags d = { 0 };
	const char *b = EP("n1", "node-b", "10.0.1.50", "");
	const char *d_ip = EP("n2", "node-d", "10.0.1.50", "");
	const char *d_name = EP("n1", "node-d", "10.0.1.60", "");
	const char *c_ip = EP("n1", "node-c", "10.0.1.50", "");

	(void)state;
	load_clean(local_yaml, &local);
	assert_int_equal(idg_mesh_claims_init(&claims, &local), 0);
	assert_int_equal(idg_mesh_doc_check("kvstore:b", b, strlen(b), "cluster-a",
					    "node-b", &local, &d, NULL, &claims), 0);
	assert_int_equal(idg_mesh_doc_check("kvstore:d", d_ip, strlen(d_ip), "cluster-a",
					    "node-d", &local, &d, NULL, &claims), -EINVAL);
	assert_int_equal(d.n_errors, 1);
	assert_non_null(strstr(d.v[0].msg, "address 10.0.1.50/32 is node node-b's"));
	assert_int_equal(d.v[0].pos.line, 4);
	assert_int_equal(idg_mesh_doc_check("kvstore:d", d_name, strlen(d_name), "cluster-a",
					    "node-d", &local, &d, NULL, &claims), -EINVAL);
	assert_int_equal(d.n_errors, 2);
	assert_non_null(strstr(d.v[1].msg, "its name is node node-b's"));
	/* Another cluster's address space, and the refused documents took
	 * nothing. */
	assert_int_equal(idg_mesh_doc_check("kvstore:c", c_ip, strlen(c_ip), "cluster-b",
					    "node-c", &local, &d, NULL, &claims), 0);
	/* node-b's document no longer has db (10.0.1.11, the local
	 * config's): released, another node may take it in this hand-over. */
	{
		const char *d_db = EP("db2", "node-d", "10.0.1.11", "");

		assert_int_equal(idg_mesh_doc_check("kvstore:d", d_db, strlen(d_db),
						    "cluster-a", "node-d", &local, &d,
						    NULL, &claims), 0);
	}
	idg_mesh_claims_free(&claims);
	/* Without claims, each alone is fine. */
	assert_int_equal(idg_mesh_doc_check("kvstore:d", d_ip, strlen(d_ip), "cluster-a",
					    "node-d", &local, &d, NULL, NULL), 0);
	assert_int_equal(d.n_errors, 2);
	idg_diags_free(&d);
	idg_config_free(&local);
}

/* Claims kept across hand-overs (idgate run keeps them while only the
 * documents change): a node's new document replaces its old one's, a
 * withdrawn node's names and addresses are free again. */
static void claims_kept_across_hand_overs(void **state)
{
	struct idg_mesh_claims claims;
	struct idg_config local;
	struct idg_diags d = { 0 };
	const char *b1 = EP("n1", "node-b", "10.0.1.50", "");
	const char *b2 = EP("n1", "node-b", "10.0.1.51", "");
	const char *d50 = EP("n2", "node-d", "10.0.1.50", "");
	const char *d51 = EP("n3", "node-d", "10.0.1.51", "");

	(void)state;
	load_clean(local_yaml, &local);
	assert_int_equal(idg_mesh_claims_init(&claims, &local), 0);
	assert_int_equal(idg_mesh_doc_check("kvstore:b", b1, strlen(b1), "cluster-a",
					    "node-b", &local, &d, NULL, &claims), 0);
	/* The next hand-over: node-b moved to .51, so .50 is free and .51
	 * is not. */
	assert_int_equal(idg_mesh_doc_check("kvstore:b", b2, strlen(b2), "cluster-a",
					    "node-b", &local, &d, NULL, &claims), 0);
	assert_int_equal(idg_mesh_doc_check("kvstore:d", d51, strlen(d51), "cluster-a",
					    "node-d", &local, &d, NULL, &claims), -EINVAL);
	assert_int_equal(idg_mesh_doc_check("kvstore:d", d50, strlen(d50), "cluster-a",
					    "node-d", &local, &d, NULL, &claims), 0);
	/* node-b withdrawn (and node-d's document replaced): .51 is free. */
	idg_mesh_claims_release(&claims, "node-b");
	idg_mesh_claims_release(&claims, "node-unknown");
	assert_int_equal(idg_mesh_doc_check("kvstore:d", d51, strlen(d51), "cluster-a",
					    "node-d", &local, &d, NULL, &claims), 0);
	assert_int_equal(idg_mesh_doc_check("kvstore:b", b1, strlen(b1), "cluster-a",
					    "node-b", &local, &d, NULL, &claims), 0);
	assert_int_equal(d.n_errors, 1);
	idg_mesh_claims_free(&claims);
	idg_diags_free(&d);
	idg_config_free(&local);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(published_endpoints_read_back),
		cmocka_unit_test(no_endpoints_is_empty_text),
		cmocka_unit_test(receiver_refuses_what_is_not_the_nodes_own),
		cmocka_unit_test(receiver_refuses_what_would_break_its_config),
		cmocka_unit_test(one_hand_over_claims_once),
		cmocka_unit_test(claims_kept_across_hand_overs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
