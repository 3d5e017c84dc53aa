// SPDX-License-Identifier: GPL-2.0
/*
 * Identity allocation (determinism, stability, pins, collisions), the
 * ipcache and local endpoints built from it, the state file, and the
 * CIDR and label look-ups shared with the parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile_int.h"
#include "compile_test.h"
#include "config_cache.h"
#include "proc_io.h"

#define CANON(app, cluster, ns)                                           \
	"app=" app ",io.cilium.k8s.policy.cluster=" cluster                \
	",io.kubernetes.pod.namespace=" ns

static void test_reserved_and_canonical(void **state)
{
	const struct idg_identity *id;
	struct fx f;

	(void)state;
	fx_compile(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]"), "n1");
	id = idg_compiled_identity(&f.c, IDG_ID_HOST);
	assert_non_null(id);
	assert_int_equal(id->kind, IDG_IDK_RESERVED);
	assert_string_equal(id->canon, "reserved:host");
	assert_non_null(idg_labels_get(&id->labels, "reserved:host"));
	assert_string_equal(idg_compiled_identity(&f.c, IDG_ID_WORLD)->canon,
			    "reserved:world");
	assert_string_equal(idg_compiled_identity(&f.c, IDG_ID_REMOTE_NODE)->canon,
			    "reserved:remote-node");
	assert_null(idg_compiled_identity(&f.c, 3));

	id = idg_compiled_identity(&f.c, fx_id(&f, "web"));
	assert_non_null(id);
	assert_int_equal(id->kind, IDG_IDK_ENDPOINT);
	assert_int_equal(id->cluster_id, 1);
	assert_false(id->pinned);
	assert_string_equal(id->canon, CANON("web", "a", "prod"));
	assert_string_equal(idg_labels_get(&id->labels, IDG_LABEL_NAMESPACE), "prod");
	assert_string_equal(idg_labels_get(&id->labels, IDG_LABEL_CLUSTER), "a");
	/* the number: the hash of the canonical string, in cluster 1 */
	assert_int_equal(id->id,
			 IDG_ID_MAKE(1, idg_identity_hash_local(id->canon)));
	for (size_t i = 1; i < f.c.n_ids; i++)
		assert_true(f.c.ids[i - 1].id < f.c.ids[i].id);
	fx_free(&f);
}

static void test_same_labels_share_identity(void **state)
{
	struct fx f;

	(void)state;
	fx_compile(&f, NODES
		EP("w1", "prod", "{app: web, v: '1'}", "n1", "[10.0.0.1]")
		EP("w2", "prod", "{v: '1', app: web}", "n2", "[10.0.0.2]")
		EP("w3", "dev", "{app: web, v: '1'}", "n1", "[10.0.0.3]")
		EP("w4", "prod", "{app: web, v: '1'}", "nb", "[10.1.0.4]")
		EP("w5", "prod", "{app: web, v: '2'}", "n1", "[10.0.0.5]"),
		"n1");
	assert_int_equal(fx_id(&f, "w1"), fx_id(&f, "w2"));
	assert_int_not_equal(fx_id(&f, "w1"), fx_id(&f, "w3"));
	assert_int_not_equal(fx_id(&f, "w1"), fx_id(&f, "w5"));
	/* same labels in cluster b: another identity, cluster b's bits */
	assert_int_equal(IDG_ID_CLUSTER(fx_id(&f, "w4")), 2);
	assert_int_equal(fx_id(&f, "w4") & 0xffff,
			 idg_identity_hash_local("app=web,io.cilium.k8s.policy.cluster=b,"
						 "io.kubernetes.pod.namespace=prod,v=1"));
	/* 3 reserved + 4 endpoint identities */
	assert_int_equal(f.c.n_ids, 7);
	fx_free(&f);
}

/* ---- determinism and stability ---- */

#define PINNED(name, app, id)                                             \
	"---\n"                                                           \
	"apiVersion: idgate.io/v1\n"                                      \
	"kind: Endpoint\n"                                                \
	"metadata: {name: " name ", namespace: prod, labels: {app: " app "}}\n" \
	"spec: {node: n1, ips: [10.0.0." id "], identity: 4" id "00}\n"


#define DET_EPS                                                          \
	EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")               \
	EP("db", "prod", "{app: db}", "n2", "[10.0.0.2]")                 \
	EP("dbb", "prod", "{app: db}", "nb", "[10.1.0.2]")                \
	EP("job", "batch", "{app: job}", "n2", "[10.0.0.3]")

#define DET_POL                                                          \
	CNP("p", "prod", "  endpointSelector: {}\n"                        \
	    "  egress: [{toCIDR: [192.168.0.0/16, 10.9.0.0/16]}]\n"       \
	    "  ingress: [{fromCIDR: ['fd00::/64']}]\n")

static void ids_of(const struct fx *f, uint32_t out[7])
{
	out[0] = fx_id(f, "web");
	out[1] = fx_id(f, "db");
	out[2] = fx_id(f, "dbb");
	out[3] = fx_id(f, "job");
	out[4] = fx_cidr_id(f, "192.168.0.0/16");
	out[5] = fx_cidr_id(f, "10.9.0.0/16");
	out[6] = fx_cidr_id(f, "fd00::/64");
}

static void test_identity_determinism(void **state)
{
	uint32_t a[7], b[7];
	struct fx f;

	(void)state;
	fx_compile(&f, NODES DET_EPS DET_POL, "n1");
	ids_of(&f, a);
	fx_free(&f);
	for (int i = 0; i < 7; i++)
		assert_int_not_equal(a[i], 0);

	/* again, and on other nodes */
	fx_compile(&f, NODES DET_EPS DET_POL, "n1");
	ids_of(&f, b);
	assert_memory_equal(a, b, sizeof(a));
	fx_free(&f);
	fx_compile(&f, NODES DET_EPS DET_POL, "nb");
	ids_of(&f, b);
	assert_memory_equal(a, b, sizeof(a));
	fx_free(&f);

	/* documents and prefixes in another order */
	fx_compile(&f,
		CNP("p", "prod", "  endpointSelector: {}\n"
		    "  ingress: [{fromCIDR: ['fd00::/64']}]\n"
		    "  egress: [{toCIDR: [10.9.0.0/16, 192.168.0.0/16]}]\n")
		EP("job", "batch", "{app: job}", "n2", "[10.0.0.3]")
		EP("dbb", "prod", "{app: db}", "nb", "[10.1.0.2]")
		EP("db", "prod", "{app: db}", "n2", "[10.0.0.2]")
		"---\n" NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]"), "n2");
	ids_of(&f, b);
	assert_memory_equal(a, b, sizeof(a));
	fx_free(&f);
}

/* Two label values whose canonical sets (app=V, namespace prod, cluster
 * a) hash to the same local id; lo sorts first. */
static void find_collision(char lo[32], char hi[32])
{
	static uint32_t seen[0x10000];
	char canon[128], v[32];

	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 1; i < 100000; i++) {
		uint32_t h;

		snprintf(v, sizeof(v), "c%u", i);
		snprintf(canon, sizeof(canon), CANON("%s", "a", "prod"), v);
		h = idg_identity_hash_local(canon);
		if (!seen[h]) {
			seen[h] = i;
			continue;
		}
		snprintf(lo, 32, "c%u", seen[h]);
		snprintf(hi, 32, "c%u", i);
		/* canonical order is the order of the values here */
		if (strcmp(lo, hi) > 0) {
			char t[32];

			strcpy(t, lo);
			strcpy(lo, hi);
			strcpy(hi, t);
		}
		return;
	}
	fail_msg("no collision found");
}

static char *config_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static void test_hash_collision_is_resolved_and_reported(void **state)
{
	char lo[32], hi[32], canon[128];
	uint32_t h;
	struct fx f;
	char *yaml;

	(void)state;
	find_collision(lo, hi);
	snprintf(canon, sizeof(canon), CANON("%s", "a", "prod"), lo);
	h = idg_identity_hash_local(canon);
	yaml = config_printf(NODES
		EP("x", "prod", "{app: %s}", "n1", "[10.0.0.1]")
		EP("y", "prod", "{app: %s}", "n1", "[10.0.0.2]"), hi, lo);
	fx_compile(&f, yaml, "n1");
	/* sorted order decides: lo keeps the hash, hi probes on */
	assert_int_equal(fx_id(&f, "y"), IDG_ID_MAKE(1, h));
	assert_int_equal(fx_id(&f, "x"),
			 IDG_ID_MAKE(1, h == 0xffff ? IDG_ID_LOCAL_MIN : h + 1));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING, "identity collision"));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING, canon));
	assert_int_equal(f.d.n_errors, 0);
	fx_free(&f);
	free(yaml);
}

/* The warning that names canon and its two numbers. */
static bool has_move(const struct fx *f, const char *canon, uint32_t from,
		     uint32_t to)
{
	char want[256];

	snprintf(want, sizeof(want),
		 "identity moved: {%s} was %u at the last apply, it is now %u",
		 canon, from, to);
	return idg_diags_has(&f->d, IDG_DIAG_WARNING, want);
}

static size_t n_moves_named(const struct fx *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->d.n; i++)
		if (f->d.v[i].level == IDG_DIAG_WARNING &&
		    !strncmp(f->d.v[i].msg, "identity moved: {", 17))
			n++;
	return n;
}

/* One label set, hi, alone (with web) and then with lo, which collides
 * with it and sorts first. */
struct chain {
	char lo[32], hi[32];
	char canon_lo[128], canon_hi[128];
	uint32_t h;
	char *one, *two, *lo_only;
};

static void chain_make(struct chain *ch)
{
	find_collision(ch->lo, ch->hi);
	snprintf(ch->canon_lo, sizeof(ch->canon_lo), CANON("%s", "a", "prod"),
		 ch->lo);
	snprintf(ch->canon_hi, sizeof(ch->canon_hi), CANON("%s", "a", "prod"),
		 ch->hi);
	ch->h = IDG_ID_MAKE(1, idg_identity_hash_local(ch->canon_lo));
	ch->one = config_printf(NODES
		EP("hi", "prod", "{app: %s}", "n1", "[10.0.0.1]")
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.9]"), ch->hi);
	ch->two = config_printf(NODES
		EP("hi", "prod", "{app: %s}", "n1", "[10.0.0.1]")
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.9]")
		EP("lo", "prod", "{app: %s}", "n2", "[10.0.0.2]"), ch->hi, ch->lo);
	ch->lo_only = config_printf(NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.9]")
		EP("lo", "prod", "{app: %s}", "n2", "[10.0.0.2]"), ch->lo);
}

static void chain_free(struct chain *ch)
{
	free(ch->one);
	free(ch->two);
	free(ch->lo_only);
}

static void test_numbers_come_from_config_not_state(void **state)
{
	struct idg_state st = { 0 };
	uint32_t web, next;
	struct chain ch;
	struct fx f;

	(void)state;
	chain_make(&ch);
	next = (ch.h & 0xffff) == 0xffff ? IDG_ID_MAKE(1, IDG_ID_LOCAL_MIN)
					  : ch.h + 1;

	fx_compile_st(&f, ch.one, "n1", &st);
	assert_int_equal(f.err, 0);
	assert_int_equal(fx_id(&f, "hi"), ch.h);
	web = fx_id(&f, "web");
	assert_int_equal(n_moves_named(&f), 0);
	fx_free(&f);

	/* lo sorts first and takes the hash, with or without the state:
	 * the state no longer keeps hi's number... */
	fx_compile(&f, ch.two, "n1");
	assert_int_equal(fx_id(&f, "lo"), ch.h);
	assert_int_equal(fx_id(&f, "hi"), next);
	fx_free(&f);
	fx_compile_st(&f, ch.two, "n1", &st);
	assert_int_equal(f.err, 0);
	assert_int_equal(fx_id(&f, "lo"), ch.h);
	assert_int_equal(fx_id(&f, "hi"), next);
	assert_int_equal(fx_id(&f, "web"), web);
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING, "identity collision"));
	/* ...it tells that the number moved, and only that one */
	assert_true(has_move(&f, ch.canon_hi, ch.h, next));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING, "spec.identity"));
	assert_int_equal(n_moves_named(&f), 1);
	fx_free(&f);

	/* the state recorded the move: the next reload is quiet */
	fx_compile_st(&f, ch.two, "n1", &st);
	assert_int_equal(fx_id(&f, "hi"), next);
	assert_false(idg_diags_has(&f.d, IDG_DIAG_WARNING, "identity moved"));
	fx_free(&f);

	/* lo goes away: hi moves back, and that is said too */
	fx_compile_st(&f, ch.one, "n1", &st);
	assert_int_equal(fx_id(&f, "hi"), ch.h);
	assert_true(has_move(&f, ch.canon_hi, next, ch.h));
	assert_int_equal(n_moves_named(&f), 1);
	fx_free(&f);
	idg_state_free(&st);
	chain_free(&ch);
}

static void ids_of_chain(const struct fx *f, uint32_t out[3])
{
	out[0] = fx_id(f, "lo");
	out[1] = fx_id(f, "hi");
	out[2] = fx_id(f, "web");
}

/* The VNI carries these numbers from node to node: two nodes that loaded
 * different files before must still agree on the one they load now. */
static void test_histories_do_not_matter(void **state)
{
	struct idg_state sa = { 0 }, sb = { 0 }, sc = { 0 };
	uint32_t fresh[3], a[3], b[3], c[3];
	struct chain ch;
	struct fx f;

	(void)state;
	chain_make(&ch);
	fx_compile(&f, ch.two, "n1");
	ids_of_chain(&f, fresh);
	fx_free(&f);

	/* node n1 saw hi first, node n2 saw lo first */
	fx_compile_st(&f, ch.one, "n1", &sa);
	assert_int_equal(f.err, 0);
	fx_free(&f);
	fx_compile_st(&f, ch.lo_only, "n2", &sb);
	assert_int_equal(f.err, 0);
	fx_free(&f);
	/* a third node's state says something else about everyone */
	assert_int_equal(idg_state_add_id(&sc, ch.canon_lo, fresh[1]), 0);
	assert_int_equal(idg_state_add_id(&sc, ch.canon_hi, fresh[0]), 0);
	assert_int_equal(idg_state_add_id(&sc, CANON("web", "a", "prod"),
					  fresh[2] ^ 1), 0);

	fx_compile_st(&f, ch.two, "n1", &sa);
	assert_int_equal(f.err, 0);
	ids_of_chain(&f, a);
	fx_free(&f);
	fx_compile_st(&f, ch.two, "n2", &sb);
	assert_int_equal(f.err, 0);
	ids_of_chain(&f, b);
	fx_free(&f);
	assert_memory_equal(a, fresh, sizeof(a));
	assert_memory_equal(b, fresh, sizeof(b));
	fx_compile_st(&f, ch.two, "nb", &sc);
	assert_int_equal(f.err, 0);
	ids_of_chain(&f, c);
	assert_memory_equal(c, fresh, sizeof(c));
	assert_true(has_move(&f, CANON("web", "a", "prod"), fresh[2] ^ 1,
			     fresh[2]));
	fx_free(&f);
	idg_state_free(&sa);
	idg_state_free(&sb);
	idg_state_free(&sc);
	chain_free(&ch);
}

/* Many moves: a few named, the rest counted; a pin is not a move. */
static void test_many_moves_are_counted(void **state)
{
	static const char *const names[] = { "m1", "m2", "m3", "m4", "m5" };
	struct idg_state st = { 0 };
	char canon[128];
	uint32_t ids[5];
	struct fx f;
	const char *yaml = NODES
		EP("m1", "prod", "{app: m1}", "n1", "[10.0.0.1]")
		EP("m2", "prod", "{app: m2}", "n1", "[10.0.0.2]")
		EP("m3", "prod", "{app: m3}", "n1", "[10.0.0.3]")
		EP("m4", "prod", "{app: m4}", "n1", "[10.0.0.4]")
		EP("m5", "prod", "{app: m5}", "n1", "[10.0.0.5]")
		PINNED("p", "p", "6");

	(void)state;
	fx_compile(&f, yaml, "n1");
	for (int i = 0; i < 5; i++)
		ids[i] = fx_id(&f, names[i]);
	fx_free(&f);
	for (int i = 0; i < 5; i++) {
		snprintf(canon, sizeof(canon), CANON("%s", "a", "prod"), names[i]);
		assert_int_equal(idg_state_add_id(&st, canon, ids[i] ^ 1), 0);
	}
	/* the pin was another number before: the config said so */
	assert_int_equal(idg_state_add_id(&st, CANON("p", "a", "prod"),
					  IDG_ID_MAKE(1, 4242)), 0);

	fx_compile_st(&f, yaml, "n1", &st);
	assert_int_equal(f.err, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fx_id(&f, names[i]), ids[i]);
	assert_int_equal(fx_id(&f, "p"), IDG_ID_MAKE(1, 4600));
	assert_int_equal(n_moves_named(&f), 3);
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING,
				  "identity moved: 2 more label sets"));
	assert_false(idg_diags_has(&f.d, IDG_DIAG_WARNING, CANON("p", "a", "prod")));
	fx_free(&f);
	idg_state_free(&st);
}

static void test_pinned_identity(void **state)
{
	uint32_t h;
	struct fx f;
	char *yaml;

	(void)state;
	h = idg_identity_hash_local(CANON("web", "a", "prod"));
	yaml = config_printf(NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		"---\n"
		"apiVersion: idgate.io/v1\n"
		"kind: Endpoint\n"
		"metadata: {name: pin, namespace: prod, labels: {app: pin}}\n"
		"spec: {node: n1, ips: [10.0.0.2], identity: %u}\n"
		"---\n"
		"apiVersion: idgate.io/v1\n"
		"kind: Endpoint\n"
		"metadata: {name: pinb, namespace: prod, labels: {app: pin}}\n"
		"spec: {node: nb, ips: [10.1.0.2], identity: %u}\n", h, h);
	fx_compile(&f, yaml, "n1");
	/* the pin wins over the hash of another set */
	assert_int_equal(fx_id(&f, "pin"), IDG_ID_MAKE(1, h));
	assert_true(idg_compiled_identity(&f.c, IDG_ID_MAKE(1, h))->pinned);
	assert_int_equal(fx_id(&f, "web"),
			 IDG_ID_MAKE(1, h == 0xffff ? IDG_ID_LOCAL_MIN : h + 1));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING, "identity collision"));
	/* the same local id in another cluster is another identity */
	assert_int_equal(fx_id(&f, "pinb"), IDG_ID_MAKE(2, h));
	fx_free(&f);
	free(yaml);
}

/* A table of the store's numbers: (cluster, canon, local) triples. */
static void allocs_make(struct idg_id_allocs *a, size_t n, const char **cl,
			const char **canon, const uint32_t *local)
{
	struct idg_id_alloc *v = calloc(n + 1, sizeof(*v));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		v[i].cluster = strdup(cl[i]);
		v[i].canon = strdup(canon[i]);
		v[i].local = local[i];
	}
	assert_int_equal(idg_id_allocs_set(a, v, n), 0);
}

/*
 * Numbers from the mesh's store (docs/mesh.md): after pins, before the
 * hash. A label set takes its store number (the lower of two); a number
 * the store holds for a label set the config lacks is skipped by the
 * hash; a store number a pin holds here is not taken, with a warning.
 */
static void test_store_numbers(void **state)
{
	const char *cl[] = { "a", "a", "a", "b", "a" };
	const char *canon[] = { CANON("web", "a", "prod"),
				CANON("web", "a", "prod"),
				CANON("ghost", "a", "prod"),
				CANON("client", "b", "prod"),
				CANON("db", "a", "prod") };
	struct idg_id_allocs a = { 0 };
	uint32_t local[5], h_x, pin = 4242;
	struct fx f;
	char *yaml;

	(void)state;
	h_x = idg_identity_hash_local(CANON("x", "a", "prod"));
	local[0] = h_x == 5000 ? 5001 : 5000;
	local[1] = local[0] + 7; /* a race's leftover: the lower one wins */
	local[2] = h_x;          /* ghost holds x's hash */
	local[3] = 7000;
	local[4] = pin;          /* db's, but a pin holds it here */
	allocs_make(&a, 5, cl, canon, local);
	yaml = config_printf(NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		EP("x", "prod", "{app: x}", "n2", "[10.0.0.2]")
		EP("db", "prod", "{app: db}", "n2", "[10.0.0.3]")
		EP("client", "prod", "{app: client}", "nb", "[10.1.0.1]")
		"---\n"
		"apiVersion: idgate.io/v1\n"
		"kind: Endpoint\n"
		"metadata: {name: pin, namespace: prod, labels: {app: pin}}\n"
		"spec: {node: n1, ips: [10.0.0.4], identity: %u}\n", pin);
	memset(&f, 0, sizeof(f));
	assert_int_equal(idg_config_load_string("t.yaml", yaml, &f.cfg, &f.d), 0);
	f.cfg.allocs = &a;
	assert_int_equal(idg_compile(&f.cfg, "n1", NULL, &f.c, &f.d), 0);
	assert_int_equal(fx_id(&f, "web"), IDG_ID_MAKE(1, local[0]));
	assert_int_equal(fx_id(&f, "client"), IDG_ID_MAKE(2, 7000));
	assert_int_equal(fx_id(&f, "x"),
			 IDG_ID_MAKE(1, h_x == 0xffff ? IDG_ID_LOCAL_MIN : h_x + 1));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING, "in the mesh's store"));
	assert_int_equal(fx_id(&f, "pin"), IDG_ID_MAKE(1, pin));
	assert_int_not_equal(fx_id(&f, "db"), IDG_ID_MAKE(1, pin));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING,
				  "which the mesh's store allocated to {" CANON("db", "a", "prod")));
	assert_int_equal(f.d.n_errors, 0);
	fx_free(&f);
	free(yaml);
	idg_id_allocs_free(&a);
}

/* A daemon's compile memo keeps its identity layer (the same files
 * through a config cache) only while the store's numbers are the same
 * table. */
static void test_store_numbers_renumber_memo(void **state)
{
	const char *cl[] = { "a" };
	const char *canon[] = { CANON("web", "a", "prod") };
	uint32_t local[] = { 6000 }, h;
	struct idg_compile_memo memo = { 0 };
	struct idg_config_cache cache = { 0 };
	struct idg_id_allocs a = { 0 };
	char dir[] = "/tmp/idg-test-allocs.XXXXXX", path[64];
	uint32_t want[4];
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(NODES EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]"), fp);
	assert_int_equal(fclose(fp), 0);
	h = idg_identity_hash_local(CANON("web", "a", "prod"));
	if (h == 6000)
		local[0] = 6001;
	want[0] = IDG_ID_MAKE(1, h);
	want[1] = IDG_ID_MAKE(1, local[0]);
	want[2] = IDG_ID_MAKE(1, local[0] + 1);
	want[3] = want[0];
	for (int round = 0; round < 4; round++) {
		struct idg_state st = { 0 };
		struct idg_config_reuse r;
		struct idg_diags d = { 0 };
		struct idg_config cfg;
		struct fx f;

		if (round == 1)
			allocs_make(&a, 1, cl, canon, local);
		if (round == 2) {
			local[0]++;
			allocs_make(&a, 1, cl, canon, local);
		}
		assert_int_equal(idg_config_load_cached(&cache, dir, &cfg, &d, &r), 0);
		cfg.allocs = round == 1 || round == 2 ? &a : NULL;
		assert_int_equal(idg_compile_memo_with(&cfg, "n1", NULL, &st,
						       &f.c, &d, &memo), 0);
		assert_int_equal(fx_id(&f, "web"), want[round]);
		idg_compiled_free(&f.c);
		idg_state_free(&st);
		idg_config_free(&cfg);
		idg_diags_free(&d);
	}
	idg_compile_memo_free(&memo);
	idg_config_cache_free(&cache);
	idg_id_allocs_free(&a);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_pin_conflicts_are_errors(void **state)
{
	const char *same_id =
		NODES
		"---\n"
		"apiVersion: idgate.io/v1\n"
		"kind: Endpoint\n"
		"metadata: {name: a, namespace: prod, labels: {app: a}}\n"
		"spec: {node: n1, ips: [10.0.0.1], identity: 4000}\n"
		"---\n"
		"apiVersion: idgate.io/v1\n"
		"kind: Endpoint\n"
		"metadata: {name: b, namespace: prod, labels: {app: b}}\n"
		"spec: {node: n2, ips: [10.0.0.2], identity: 4000}\n";
	const char *two_ids = NODES PINNED("a1", "a", "1") PINNED("a2", "a", "2");
	struct fx f;

	(void)state;
	fx_compile_st(&f, same_id, "n1", NULL);
	assert_int_equal(f.err, -EINVAL);
	assert_true(idg_diags_has(&f.d, IDG_DIAG_ERROR, "identity collision"));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_ERROR, CANON("a", "a", "prod")));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_ERROR, CANON("b", "a", "prod")));
	fx_free(&f);

	fx_compile_st(&f, two_ids, "n1", NULL);
	assert_int_equal(f.err, -EINVAL);
	assert_true(idg_diags_has(&f.d, IDG_DIAG_ERROR, "pinned to two identities"));
	fx_free(&f);
}

/* ---- ipcache ---- */

static uint32_t be_ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void test_overlapping_ips_in_two_clusters(void **state)
{
	const struct idg_ipcache_entry *e;
	uint32_t x, y;
	struct fx f;

	(void)state;
	fx_compile(&f, NODES
		EP("x", "prod", "{app: x}", "n2", "[10.0.0.5]")
		EP("y", "prod", "{app: x}", "nb", "[10.0.0.5]"), "n1");
	x = fx_id(&f, "x");
	y = fx_id(&f, "y");
	assert_int_not_equal(x, y);
	e = fx_ipc(&f, "10.0.0.5/32", 1);
	assert_non_null(e);
	assert_int_equal(e->identity, x);
	assert_int_equal(e->tunnel_ip, be_ip("10.255.0.2"));
	assert_string_equal(e->node, "n2");
	e = fx_ipc(&f, "10.0.0.5/32", 2);
	assert_non_null(e);
	assert_int_equal(e->identity, y);
	assert_int_equal(e->tunnel_ip, be_ip("10.255.1.1"));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING,
				  "reachable only through the tunnel"));
	fx_free(&f);

	/* the view from cluster b: the same two entries */
	fx_compile(&f, NODES
		EP("x", "prod", "{app: x}", "n2", "[10.0.0.5]")
		EP("y", "prod", "{app: x}", "nb", "[10.0.0.5]"), "nb");
	assert_int_equal(fx_ipc(&f, "10.0.0.5/32", 2)->identity, y);
	assert_int_equal(fx_ipc(&f, "10.0.0.5/32", 1)->identity, x);
	fx_free(&f);
}

static void test_flat_mesh_entries(void **state)
{
	const struct idg_ipcache_entry *e;
	struct fx f;

	(void)state;
	fx_compile(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		EP("far", "prod", "{app: far}", "nb", "[10.1.0.7, 'fd01::7']")
		EP("wide", "prod", "{app: wide}", "nb", "[10.0.0.0/24]"), "n1");
	/* another cluster's endpoint is also keyed by the local cluster */
	e = fx_ipc(&f, "10.1.0.7/32", 1);
	assert_non_null(e);
	assert_int_equal(e->identity, fx_id(&f, "far"));
	assert_int_equal(e->tunnel_ip, be_ip("10.255.1.1"));
	assert_string_equal(e->endpoint, "far");
	assert_non_null(fx_ipc(&f, "10.1.0.7/32", 2));
	assert_non_null(fx_ipc(&f, "fd01::7/128", 1));
	/* but not when it overlaps a local-cluster endpoint */
	assert_non_null(fx_ipc(&f, "10.0.0.0/24", 2));
	assert_null(fx_ipc(&f, "10.0.0.0/24", 1));
	fx_free(&f);
}

static void test_node_entries(void **state)
{
	const struct idg_ipcache_entry *e;
	struct fx f;

	(void)state;
	fx_compile(&f, NODES, "n2");
	e = fx_ipc(&f, "10.255.0.2/32", 1);
	assert_non_null(e);
	assert_int_equal(e->identity, IDG_ID_HOST);
	assert_string_equal(e->node, "n2");
	assert_null(e->endpoint);
	assert_int_equal(fx_ipc(&f, "10.255.0.1/32", 1)->identity,
			 IDG_ID_REMOTE_NODE);
	assert_int_equal(fx_ipc(&f, "10.255.1.1/32", 1)->identity,
			 IDG_ID_REMOTE_NODE);
	assert_int_equal(f.c.n_ipcache, 3);
	assert_int_equal(f.c.n_eps, 0);
	fx_free(&f);
}

static void test_cidr_identities(void **state)
{
	struct idg_state st = { 0 };
	const struct idg_identity *id;
	const struct idg_ipcache_entry *e;
	struct fx f;

	(void)state;
	fx_compile_st(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		CNP("p", "prod", "  endpointSelector: {}\n"
		    "  egress:\n"
		    "  - toCIDRSet: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]\n"
		    "  - toCIDR: [192.168.0.0/16, 10.0.0.1/32, 10.0.0.0/8]\n"),
		"n1", &st);
	assert_int_equal(f.err, 0);
	/* numbered from 1 in prefix order, node-local scope */
	assert_int_equal(fx_cidr_id(&f, "10.0.0.0/8"), IDG_ID_SCOPE_LOCAL | 1);
	assert_int_equal(fx_cidr_id(&f, "10.0.0.1/32"), IDG_ID_SCOPE_LOCAL | 2);
	assert_int_equal(fx_cidr_id(&f, "10.1.0.0/16"), IDG_ID_SCOPE_LOCAL | 3);
	assert_int_equal(fx_cidr_id(&f, "192.168.0.0/16"), IDG_ID_SCOPE_LOCAL | 4);
	id = idg_compiled_identity(&f.c, fx_cidr_id(&f, "10.1.0.0/16"));
	assert_int_equal(id->kind, IDG_IDK_CIDR);
	assert_int_equal(id->cluster_id, 0);
	assert_string_equal(id->canon,
			    "cidr:10.0.0.0/8,cidr:10.1.0.0/16,reserved:world");
	/* a prefix that is exactly an endpoint's address stays the
	 * endpoint's */
	e = fx_ipc(&f, "10.0.0.1/32", 1);
	assert_int_equal(e->identity, fx_id(&f, "web"));
	assert_true(idg_diags_has(&f.d, IDG_DIAG_WARNING, "10.0.0.1/32"));
	assert_int_equal(fx_ipc(&f, "192.168.0.0/16", 1)->identity,
			 IDG_ID_SCOPE_LOCAL | 4);
	fx_free(&f);

	/* 172.16/12 sorts between the others: with the state they keep
	 * their numbers and it takes the next free one */
	fx_compile_st(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		CNP("p", "prod", "  endpointSelector: {}\n"
		    "  egress:\n"
		    "  - toCIDR: [192.168.0.0/16, 172.16.0.0/12]\n"),
		"n1", &st);
	assert_int_equal(f.err, 0);
	assert_int_equal(fx_cidr_id(&f, "192.168.0.0/16"), IDG_ID_SCOPE_LOCAL | 4);
	assert_int_equal(fx_cidr_id(&f, "172.16.0.0/12"), IDG_ID_SCOPE_LOCAL | 1);
	fx_free(&f);
	idg_state_free(&st);
}

static void test_local_endpoints(void **state)
{
	struct fx f;
	size_t n_web = 0;

	(void)state;
	fx_compile(&f, NODES
		EP("db", "prod", "{app: db}", "n2", "[10.0.0.2]")
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1, 'fd00::1']")
		EP("job", "prod", "{app: job}", "n1", "[10.0.0.0/28]"), "n1");
	assert_int_equal(f.c.n_eps, 3);
	assert_int_equal(f.c.cluster_id, 1);
	assert_ptr_equal(f.c.node, &f.cfg.nodes[0]);
	for (size_t i = 0; i < f.c.n_eps; i++) {
		const struct idg_local_ep *e = &f.c.eps[i];

		assert_ptr_equal(e->ep, &f.cfg.endpoints[e->ep_id - 1]);
		assert_int_equal(e->identity, fx_id(&f, e->ep->name));
		if (!strcmp(e->ep->name, "web")) {
			n_web++;
			assert_int_equal(e->ep_id, 2);
		} else {
			assert_string_equal(e->ep->name, "job");
			assert_int_equal(e->ep_id, 3);
			assert_int_equal(e->cidr.plen, 28);
		}
	}
	assert_int_equal(n_web, 2);
	fx_free(&f);
}

static void test_duplicate_address_in_cluster(void **state)
{
	struct idg_endpoint eps[2] = { 0 };
	struct idg_config cfg = { 0 };
	struct idg_node node = { 0 };
	struct idg_diags d = { 0 };
	struct idg_compiled c;

	(void)state;
	/* By hand: the parser already rejects this, the compiler must not
	 * trust that every caller went through it. */
	cfg.file = "hand.yaml";
	node.name = "n1";
	node.cluster = "a";
	node.cluster_id = 1;
	for (int i = 0; i < 2; i++) {
		eps[i].name = i ? "b" : "a";
		eps[i].namespace = "prod";
		eps[i].node = "n1";
		eps[i].n_ips = 1;
		eps[i].ips = calloc(1, sizeof(*eps[i].ips));
		assert_non_null(eps[i].ips);
		eps[i].ips->family = IDG_FAM_IPV4;
		eps[i].ips->plen = 32;
		eps[i].ips->addr[0] = 10;
		eps[i].ips->addr[3] = 1;
	}
	cfg.nodes = &node;
	cfg.n_nodes = 1;
	cfg.endpoints = eps;
	cfg.n_endpoints = 2;
	assert_int_equal(idg_compile(&cfg, "n1", NULL, &c, &d), -EINVAL);
	assert_true(idg_diags_has(&d, IDG_DIAG_ERROR, "both have address 10.0.0.1/32"));
	idg_diags_free(&d);

	/* an endpoint of an unknown node */
	eps[1].node = "n5";
	assert_int_equal(idg_compile(&cfg, "n1", NULL, &c, &d), -EINVAL);
	assert_true(idg_diags_has(&d, IDG_DIAG_ERROR, "unknown node n5"));
	idg_diags_free(&d);
	free(eps[0].ips);
	free(eps[1].ips);
}

/* ---- state ---- */

static char tmpdir[] = "/tmp/idg-test-state.XXXXXX";

static char *tmp_path(const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_state_round_trip(void **state)
{
	struct idg_state st = { 0 }, back;
	const char *path = tmp_path("state");

	(void)state;
	assert_int_equal(idg_state_add_id(&st, CANON("web", "a", "prod"), 65792), 0);
	assert_int_equal(idg_state_add_id(&st, "cidr:10.0.0.0/8",
					  IDG_ID_SCOPE_LOCAL | 1), 0);
	/* names with spaces, '%' and newlines survive */
	assert_int_equal(idg_state_add_id(&st, "a=b c%\nd", 70000), 0);
	assert_int_equal(idg_state_add_cookie(&st, "prod/p/ingress/0", 1), 0);
	assert_int_equal(idg_state_add_cookie(&st, "-/cw/egressDeny/12", 65535), 0);
	assert_int_equal(idg_state_save(path, &st), 0);
	{
		/* The line format other versions read. */
		char text[1024] = "";
		FILE *f = fopen(path, "r");

		assert_non_null(f);
		assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
		fclose(f);
		assert_non_null(strstr(text, "\nid 70000 a=b%20c%25%0Ad\n"));
		assert_non_null(strstr(text, "\ncookie 65535 -/cw/egressDeny/12\n"));
		assert_non_null(strstr(text, "\ncookie 1 prod/p/ingress/0\n"));
	}
	assert_int_equal(idg_state_load(path, &back), 0);
	assert_int_equal(back.n_ids, 3);
	assert_int_equal(back.n_cookies, 2);
	for (size_t i = 0; i < st.n_ids; i++) {
		assert_string_equal(back.ids[i].canon, st.ids[i].canon);
		assert_int_equal(back.ids[i].id, st.ids[i].id);
	}
	for (size_t i = 0; i < st.n_cookies; i++) {
		assert_string_equal(back.cookies[i].key, st.cookies[i].key);
		assert_int_equal(back.cookies[i].cookie, st.cookies[i].cookie);
	}
	idg_state_free(&back);
	/* saving over it replaces it, and leaves no temporary behind */
	assert_int_equal(idg_state_save(path, &back), 0);
	assert_int_equal(idg_state_load(path, &back), 0);
	assert_int_equal(back.n_ids + back.n_cookies, 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(tmpdir), 0);
	assert_int_equal(mkdir(tmpdir, 0700), 0);
	idg_state_free(&st);
}

static void test_state_missing_and_corrupt(void **state)
{
	static const char *const bad[] = {
		"",
		"idgate-state 2\nend\n",
		"idgate-state 1\n",                         /* cut off */
		"idgate-state 1\nid 1 x\n",                 /* cut off */
		"idgate-state 1\nend",                      /* no newline */
		"idgate-state 1\nid x a\nend\n",
		"idgate-state 1\nid 0 a\nend\n",
		"idgate-state 1\nid 01 a\nend\n",
		"idgate-state 1\nid 99999999999 a\nend\n",
		"idgate-state 1\nid 5\nend\n",
		"idgate-state 1\nid 5 a b\nend\n",
		"idgate-state 1\nid 5 a%2\nend\n",
		"idgate-state 1\ncookie 65536 k\nend\n",
		"idgate-state 1\ncookie 0 k\nend\n",
		"idgate-state 1\nname 1 k\nend\n",
		"idgate-state 1\nid 5 a\nid 6 a\nend\n",   /* twice */
		"idgate-state 1\nend\nid 5 a\n",
		"idgate-state 1\n\nend\n",
	};
	struct idg_state st;
	const char *path = tmp_path("bad");

	(void)state;
	assert_int_equal(idg_state_load(tmp_path("none"), &st), 0);
	assert_int_equal(st.n_ids + st.n_cookies, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i]);
		if (idg_state_load(path, &st) != -EINVAL)
			fail_msg("accepted corrupt state #%zu", i);
		assert_null(st.ids);
	}
	write_file(path, "idgate-state 1\nid 65792 a%20b\ncookie 7 p/q/ingress/0\nend\n");
	assert_int_equal(idg_state_load(path, &st), 0);
	assert_string_equal(st.ids[0].canon, "a b");
	assert_int_equal(st.cookies[0].cookie, 7);
	idg_state_free(&st);
	unlink(path);
	/* a directory is not a state file */
	assert_true(idg_state_load(tmpdir, &st) < 0);
}

/* The daemon's memo never hides what another writer put in the file. */
static void test_state_memo(void **state)
{
	struct idg_state_memo m = { 0 };
	struct idg_state st = { 0 }, other = { 0 };
	const char *path = tmp_path("memo");

	(void)state;
	assert_int_equal(idg_state_load_memo(path, &m), 0); /* none yet */
	assert_int_equal(m.st.n_ids + m.st.n_cookies, 0);
	assert_int_equal(idg_state_add_id(&st, "a=1", 70000), 0);
	assert_int_equal(idg_state_add_cookie(&st, "ns/p/ingress/0", 3), 0);
	assert_int_equal(idg_state_save_memo(path, &st, &m), 0);
	assert_true(m.valid);
	assert_int_equal(idg_state_load_memo(path, &m), 0);
	assert_int_equal(m.st.n_ids, 1);
	{
		/* The file it wrote itself, not replaced since: not read
		 * (/proc/self/io itself counts a few hundred bytes). */
		struct idg_state big = { 0 };
		unsigned long long before;
		char canon[64];

		for (int i = 0; i < 300; i++) {
			snprintf(canon, sizeof(canon), "app=filler-%d", i);
			assert_int_equal(idg_state_add_id(&big, canon, 70001 + i), 0);
		}
		assert_int_equal(idg_state_save_memo(path, &big, &m), 0);
		before = proc_rchar();
		assert_int_equal(idg_state_load_memo(path, &m), 0);
		assert_true(proc_rchar() - before < m.len / 2);
		assert_int_equal(m.st.n_ids, 300);
		idg_state_free(&big);
		assert_int_equal(idg_state_save_memo(path, &st, &m), 0);
	}
	assert_int_equal(idg_state_load_memo(path, &m), 0);
	assert_int_equal(m.st.n_ids, 1);
	assert_string_equal(m.st.ids[0].canon, "a=1");
	assert_int_equal(m.st.cookies[0].cookie, 3);

	/* Another process's apply: the memo follows the file. */
	assert_int_equal(idg_state_add_cookie(&other, "ns/q/egress/1", 9), 0);
	assert_int_equal(idg_state_save(path, &other), 0);
	assert_int_equal(idg_state_load_memo(path, &m), 0);
	assert_int_equal(m.st.n_ids, 0);
	assert_int_equal(m.st.n_cookies, 1);
	assert_string_equal(m.st.cookies[0].key, "ns/q/egress/1");

	/* Saving what the file holds leaves it alone; a new text replaces
	 * it and the memo. */
	assert_int_equal(idg_state_save_memo(path, &other, &m), 0);
	assert_int_equal(idg_state_save_memo(path, &st, &m), 0);
	assert_int_equal(idg_state_load_memo(path, &m), 0);
	assert_int_equal(m.st.n_ids, 1);
	/* The memo's state saved over another writer's file: written. */
	assert_int_equal(idg_state_save(path, &other), 0);
	assert_int_equal(idg_state_save_memo(path, &st, &m), 0);
	{
		struct idg_state back;

		assert_int_equal(idg_state_load(path, &back), 0);
		assert_int_equal(back.n_ids, 1);
		assert_string_equal(back.ids[0].canon, "a=1");
		idg_state_free(&back);
	}

	/* A corrupt file is an error and empties the memo; a missing one
	 * is an empty state. */
	write_file(path, "idgate-state 1\nid 5 a\n");
	assert_int_equal(idg_state_load_memo(path, &m), -EINVAL);
	assert_false(m.valid);
	assert_int_equal(m.st.n_ids, 0);
	unlink(path);
	assert_int_equal(idg_state_load_memo(path, &m), 0);
	assert_int_equal(m.st.n_ids + m.st.n_cookies, 0);
	/* A NUL byte is never ours. */
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		fwrite("idgate-state 1\nid 5 a\0b\nend\n", 1, 28, fp);
		fclose(fp);
	}
	assert_int_equal(idg_state_load_memo(path, &m), -EINVAL);
	unlink(path);
	idg_state_memo_free(&m);
	idg_state_free(&st);
	idg_state_free(&other);
}

static void test_compile_updates_state(void **state)
{
	struct idg_state st = { 0 };
	struct fx f;
	bool web = false, cidr = false;

	(void)state;
	fx_compile_st(&f, NODES
		EP("web", "prod", "{app: web}", "n1", "[10.0.0.1]")
		CNP("p", "prod", "  endpointSelector: {}\n"
		    "  egress: [{toCIDR: [10.0.0.0/8]}]\n"), "n1", &st);
	assert_int_equal(f.err, 0);
	for (size_t i = 0; i < st.n_ids; i++) {
		if (!strcmp(st.ids[i].canon, CANON("web", "a", "prod"))) {
			web = true;
			assert_int_equal(st.ids[i].id, fx_id(&f, "web"));
		}
		if (!strcmp(st.ids[i].canon, "cidr:10.0.0.0/8")) {
			cidr = true;
			assert_int_equal(st.ids[i].id, IDG_ID_SCOPE_LOCAL | 1);
		}
	}
	assert_true(web && cidr);
	assert_int_equal(st.n_cookies, 1);
	assert_string_equal(st.cookies[0].key, "prod/p/egress/0");
	fx_free(&f);

	/* a failed compile leaves the state alone */
	fx_compile_st(&f, NODES, "n7", &st);
	assert_int_equal(f.err, -EINVAL);
	assert_int_equal(st.n_ids, 2);
	assert_int_equal(st.n_cookies, 1);
	fx_free(&f);
	idg_state_free(&st);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

static struct idg_cidr cidr_of(const char *s)
{
	struct idg_cidr c = { 0 };
	char a[64];
	const char *slash = strchr(s, '/');

	assert_non_null(slash);
	snprintf(a, sizeof(a), "%.*s", (int)(slash - s), s);
	c.family = strchr(a, ':') ? IDG_FAM_IPV6 : IDG_FAM_IPV4;
	assert_int_equal(inet_pton(c.family == IDG_FAM_IPV4 ? AF_INET : AF_INET6,
				   a, c.addr), 1);
	c.plen = (unsigned int)atoi(slash + 1);
	return c;
}

/* The one containment test the parser (except, excludedCIDRs) and the
 * compiler (CIDR identities) share. */
static void test_cidr_contains(void **state)
{
	static const struct {
		const char *a, *b;
		bool in;
	} cases[] = {
		{ "10.0.0.0/8", "10.1.2.0/24", true },
		{ "10.0.0.0/8", "10.0.0.0/8", true },
		{ "10.1.2.0/24", "10.0.0.0/8", false },
		{ "10.0.0.0/8", "11.0.0.0/24", false },
		{ "0.0.0.0/0", "192.168.1.1/32", true },
		{ "172.16.0.0/12", "172.31.255.0/24", true },
		{ "172.16.0.0/12", "172.32.0.0/24", false },
		{ "192.168.0.0/17", "192.168.128.0/24", false },
		{ "fd00::/64", "fd00::1/128", true },
		{ "fd00::/64", "fd00:0:0:1::/80", false },
		{ "fd00::/63", "fd00:0:0:1::/64", true },
		{ "::/0", "10.0.0.0/8", false },
		{ "0.0.0.0/0", "::/0", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct idg_cidr a = cidr_of(cases[i].a), b = cidr_of(cases[i].b);

		if (idg_cidr_contains(&a, &b) != cases[i].in)
			fail_msg("%s contains %s: expected %s", cases[i].a,
				 cases[i].b, cases[i].in ? "yes" : "no");
	}
}

/* Labels and annotations alike, whatever their order. */
static void test_labels_get(void **state)
{
	struct idg_label v[] = { { "zone", "b" }, { "app", "web" }, { "tier", "" } };
	struct idg_labels l = { .v = v, .n = 3 }, none = { 0 };

	(void)state;
	assert_string_equal(idg_labels_get(&l, "app"), "web");
	assert_string_equal(idg_labels_get(&l, "zone"), "b");
	assert_string_equal(idg_labels_get(&l, "tier"), "");
	assert_null(idg_labels_get(&l, "ap"));
	assert_null(idg_labels_get(&l, "apps"));
	assert_null(idg_labels_get(&none, "app"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reserved_and_canonical),
		cmocka_unit_test(test_same_labels_share_identity),
		cmocka_unit_test(test_identity_determinism),
		cmocka_unit_test(test_hash_collision_is_resolved_and_reported),
		cmocka_unit_test(test_numbers_come_from_config_not_state),
		cmocka_unit_test(test_histories_do_not_matter),
		cmocka_unit_test(test_many_moves_are_counted),
		cmocka_unit_test(test_pinned_identity),
		cmocka_unit_test(test_pin_conflicts_are_errors),
		cmocka_unit_test(test_store_numbers),
		cmocka_unit_test(test_store_numbers_renumber_memo),
		cmocka_unit_test(test_overlapping_ips_in_two_clusters),
		cmocka_unit_test(test_flat_mesh_entries),
		cmocka_unit_test(test_node_entries),
		cmocka_unit_test(test_cidr_identities),
		cmocka_unit_test(test_local_endpoints),
		cmocka_unit_test(test_duplicate_address_in_cluster),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_missing_and_corrupt),
		cmocka_unit_test(test_state_memo),
		cmocka_unit_test(test_compile_updates_state),
		cmocka_unit_test(test_cidr_contains),
		cmocka_unit_test(test_labels_get),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
