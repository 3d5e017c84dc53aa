// SPDX-License-Identifier: GPL-2.0
/*
 * loader/kvstore's etcd client against a real three-member etcd with TLS,
 * client certificates and RBAC, started by test_etcd_client.sh, which
 * passes the cluster in the environment (IDG_ETCD_*). The member killed
 * last is IDG_ETCD_MEMBER0_PID, the first endpoint.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcd.h"
#include "util/util.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v) {
		fprintf(stderr, "test_etcd_client: %s is not set (run test_etcd_client.sh)\n",
			name);
		exit(1);
	}
	return v;
}

/* A client as node WHO (A, B or ROOT) with its certificate and user. */
static struct idg_etcd *client_as(const char *who, const char *server_id)
{
	char n[5][64];
	struct idg_etcd *e;
	struct idg_etcd_opts o;
	int err;

	snprintf(n[0], sizeof(n[0]), "IDG_ETCD_%s_CERT", who);
	snprintf(n[1], sizeof(n[1]), "IDG_ETCD_%s_KEY", who);
	snprintf(n[2], sizeof(n[2]), "IDG_ETCD_%s_USER", who);
	snprintf(n[3], sizeof(n[3]), "IDG_ETCD_%s_PASSWORD", who);
	o = (struct idg_etcd_opts){
		.endpoints = env("IDG_ETCD_ENDPOINTS"),
		.cacert = env("IDG_ETCD_CA"),
		.cert = env(n[0]),
		.key = env(n[1]),
		.server_id = server_id,
		.user = env(n[2]),
		.password = env(n[3]),
		.timeout_ms = 3000,
	};
	err = idg_etcd_open(&e, &o);
	if (err)
		fail_msg("open as %s: %s (%s)", who, strerror(-err), idg_etcd_error(e));
	return e;
}

static struct idg_etcd *as(const char *who)
{
	return client_as(who, env("IDG_ETCD_SERVER_ID"));
}

/* PREFIX/CLUSTER/NODE/ of node WHO, plus rest. */
static void key_of(char *buf, size_t len, const char *who, const char *rest)
{
	char n[64];

	snprintf(n, sizeof(n), "IDG_ETCD_%s_OWN", who);
	snprintf(buf, len, "%s%s", env(n), rest);
}

static void test_spiffe_id_of_cert(void **state)
{
	char id[256];

	(void)state;
	assert_int_equal(idg_spiffe_id_of_cert(env("IDG_ETCD_A_CERT"), id, sizeof(id)), 0);
	assert_string_equal(id, env("IDG_ETCD_A_ID"));
	/* The CA has no URI SAN. */
	assert_int_equal(idg_spiffe_id_of_cert(env("IDG_ETCD_CA"), id, sizeof(id)),
			 -ENOENT);
	assert_int_equal(idg_spiffe_id_of_cert("/nonexistent.pem", id, sizeof(id)),
			 -ENOENT);
	assert_int_equal(idg_spiffe_id_of_cert(env("IDG_ETCD_A_CERT"), id, 8),
			 -ENAMETOOLONG);
}

static void test_put_get_delete(void **state)
{
	struct idg_etcd *e = as("A");
	struct idg_etcd_kv *kvs;
	char pfx[256], k[300];
	int64_t rev = 0, rev2 = 0, deleted = 0;
	size_t n;

	(void)state;
	key_of(pfx, sizeof(pfx), "A", "t1/");
	/* Written out of order, with a value holding a NUL and bytes
	 * base64 has to carry. */
	for (int i = 3; i >= 1; i--) {
		char v[8] = { 'v', (char)('0' + i), '\0', (char)0xff, '\n' };

		snprintf(k, sizeof(k), "%sk%d", pfx, i);
		assert_int_equal(idg_etcd_put(e, k, v, 5, 0, &rev), 0);
	}
	assert_int_equal(idg_etcd_get_prefix(e, pfx, &kvs, &n, &rev2), 0);
	assert_int_equal(n, 3);
	assert_true(rev2 >= rev);
	for (size_t i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "%sk%zu", pfx, i + 1);
		assert_string_equal(kvs[i].key, k);
		assert_int_equal(kvs[i].len, 5);
		assert_int_equal(kvs[i].val[1], '1' + (int)i);
		assert_int_equal(kvs[i].val[2], 0);
		assert_int_equal((uint8_t)kvs[i].val[3], 0xff);
	}
	/* The first written has the highest key and the lowest revision. */
	assert_true(kvs[2].mod_rev < kvs[0].mod_rev);
	idg_etcd_kvs_free(kvs, n);
	/* A prefix is not a key prefix of its sibling "t1x". */
	key_of(k, sizeof(k), "A", "t1x");
	assert_int_equal(idg_etcd_put(e, k, "x", 1, 0, NULL), 0);
	assert_int_equal(idg_etcd_delete(e, pfx, true, &deleted, NULL), 0);
	assert_int_equal(deleted, 3);
	assert_int_equal(idg_etcd_get_prefix(e, pfx, &kvs, &n, NULL), 0);
	assert_int_equal(n, 0);
	idg_etcd_kvs_free(kvs, n);
	assert_int_equal(idg_etcd_delete(e, k, false, &deleted, NULL), 0);
	assert_int_equal(deleted, 1);
	idg_etcd_close(e);
}

static void test_rbac(void **state)
{
	struct idg_etcd *a = as("A"), *b = as("B");
	struct idg_etcd_kv *kvs;
	char kb[256], ka[256];
	size_t n;

	(void)state;
	key_of(kb, sizeof(kb), "B", "ep/web");
	key_of(ka, sizeof(ka), "A", "ep/web");
	assert_int_equal(idg_etcd_put(b, kb, "b", 1, 0, NULL), 0);
	/* A may read B's data, never write or delete it. */
	assert_int_equal(idg_etcd_put(a, kb, "a", 1, 0, NULL), -EPERM);
	assert_non_null(strstr(idg_etcd_error(a), "permission denied"));
	assert_int_equal(idg_etcd_delete(a, kb, false, NULL, NULL), -EPERM);
	assert_int_equal(idg_etcd_get_prefix(a, kb, &kvs, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal((char *)kvs[0].val, "b");
	idg_etcd_kvs_free(kvs, n);
	assert_int_equal(idg_etcd_put(b, ka, "b", 1, 0, NULL), -EPERM);
	assert_int_equal(idg_etcd_delete(b, kb, false, NULL, NULL), 0);
	idg_etcd_close(a);
	idg_etcd_close(b);
}

static void test_create_is_compare_and_swap(void **state)
{
	struct idg_etcd *e = as("A");
	struct idg_etcd_kv have;
	char k[256];
	int64_t rev;

	(void)state;
	key_of(k, sizeof(k), "A", "ids/app=web");
	idg_etcd_delete(e, k, false, NULL, NULL);
	assert_int_equal(idg_etcd_create(e, k, "1001", 4, 0, &rev, NULL), 0);
	assert_true(rev > 0);
	assert_int_equal(idg_etcd_create(e, k, "1002", 4, 0, NULL, &have), -EEXIST);
	assert_string_equal(have.key, k);
	assert_string_equal((char *)have.val, "1001");
	assert_int_equal(have.create_rev, rev);
	free(have.key);
	free(have.val);
	assert_int_equal(idg_etcd_delete(e, k, false, NULL, NULL), 0);
	idg_etcd_close(e);
}

static size_t count_prefix(struct idg_etcd *e, const char *pfx)
{
	struct idg_etcd_kv *kvs;
	size_t n = 0;

	assert_int_equal(idg_etcd_get_prefix(e, pfx, &kvs, &n, NULL), 0);
	idg_etcd_kvs_free(kvs, n);
	return n;
}

static void test_leases(void **state)
{
	struct idg_etcd *e = as("A");
	char k[256], pfx[256];
	int64_t id, id2, ttl;
	double t0;

	(void)state;
	key_of(pfx, sizeof(pfx), "A", "lease/");
	key_of(k, sizeof(k), "A", "lease/k");
	assert_int_equal(idg_etcd_lease_grant(e, 10, &id), 0);
	assert_int_equal(idg_etcd_put(e, k, "v", 1, id, NULL), 0);
	assert_int_equal(idg_etcd_lease_keepalive(e, id, &ttl), 0);
	assert_true(ttl > 0 && ttl <= 10);
	assert_int_equal(count_prefix(e, pfx), 1);
	assert_int_equal(idg_etcd_lease_revoke(e, id), 0);
	assert_int_equal(count_prefix(e, pfx), 0);
	assert_int_equal(idg_etcd_lease_keepalive(e, id, NULL), -ENOENT);
	/* Not kept alive: the store drops the key by itself. */
	assert_int_equal(idg_etcd_lease_grant(e, 2, &id2), 0);
	assert_int_equal(idg_etcd_put(e, k, "v", 1, id2, NULL), 0);
	t0 = idg_now_ms();
	while (count_prefix(e, pfx) && idg_now_ms() - t0 < 10000)
		usleep(100000);
	assert_int_equal(count_prefix(e, pfx), 0);
	assert_true(idg_now_ms() - t0 >= 1000);
	assert_int_equal(idg_etcd_lease_keepalive(e, id2, NULL), -ENOENT);
	idg_etcd_close(e);
}

/* Events a watch delivered, as "P key=value" / "D key" lines. */
struct seen {
	char lines[64][160];
	size_t n;
	int64_t last_rev;
	bool order_ok;
};

static int record(const struct idg_etcd_event *ev, void *arg)
{
	struct seen *s = arg;
	const char *base = strrchr(ev->kv.key, '/');

	if (ev->kv.mod_rev <= s->last_rev)
		s->order_ok = false;
	s->last_rev = ev->kv.mod_rev;
	if (s->n < 64)
		snprintf(s->lines[s->n], sizeof(s->lines[0]),
			 ev->type == IDG_ETCD_PUT ? "P %s=%s" : "D %s",
			 base ? base + 1 : ev->kv.key, ev->kv.val);
	s->n++;
	return 0;
}

/* Polls until n events arrived or 5 s passed. */
static void await(struct idg_etcd_watch *w, struct seen *s, size_t n)
{
	double t0 = idg_now_ms();

	while (s->n < n && idg_now_ms() - t0 < 5000) {
		int err = idg_etcd_watch_poll(w, 100, record, s);

		if (err)
			fail_msg("watch poll: %s", strerror(-err));
	}
	assert_int_equal(s->n, n);
	assert_true(s->order_ok);
}

static void put_str(struct idg_etcd *e, const char *who, const char *rest,
		    const char *v)
{
	char k[256];

	key_of(k, sizeof(k), who, rest);
	assert_int_equal(idg_etcd_put(e, k, v, strlen(v), 0, NULL), 0);
}

static void test_watch_in_order_and_resumed(void **state)
{
	struct idg_etcd *e = as("A"), *b = as("B");
	struct seen s = { .order_ok = true };
	struct idg_etcd_watch *w;
	struct idg_etcd_kv *kvs;
	char pfx[256], k[256];
	int64_t rev, next;
	size_t n;

	(void)state;
	key_of(pfx, sizeof(pfx), "B", "w/");
	assert_int_equal(idg_etcd_get_prefix(e, pfx, &kvs, &n, &rev), 0);
	idg_etcd_kvs_free(kvs, n);
	/* Written before the watch exists: delivered from its history. */
	put_str(b, "B", "w/k1", "1");
	put_str(b, "B", "w/k2", "2");
	put_str(b, "B", "w/k3", "3");
	/* Node A watches node B's prefix. */
	assert_int_equal(idg_etcd_watch_open(e, pfx, rev + 1, &w), 0);
	await(w, &s, 3);
	assert_string_equal(s.lines[0], "P k1=1");
	assert_string_equal(s.lines[2], "P k3=3");
	put_str(b, "B", "w/k2", "2b");
	key_of(k, sizeof(k), "B", "w/k1");
	assert_int_equal(idg_etcd_delete(b, k, false, NULL, NULL), 0);
	put_str(b, "B", "other", "not watched");
	await(w, &s, 5);
	assert_string_equal(s.lines[3], "P k2=2b");
	assert_string_equal(s.lines[4], "D k1");
	next = idg_etcd_watch_next_rev(w);
	idg_etcd_watch_close(w);
	/* Missed while closed: a watch from next_rev has them, and only
	 * them. */
	put_str(b, "B", "w/k4", "4");
	put_str(b, "B", "w/k5", "5");
	assert_int_equal(idg_etcd_watch_open(e, pfx, next, &w), 0);
	await(w, &s, 7);
	assert_string_equal(s.lines[5], "P k4=4");
	assert_string_equal(s.lines[6], "P k5=5");
	/* Nothing more arrives. */
	assert_int_equal(idg_etcd_watch_poll(w, 300, record, &s), 0);
	assert_int_equal(s.n, 7);
	idg_etcd_watch_close(w);
	assert_int_equal(idg_etcd_delete(b, pfx, true, NULL, NULL), 0);
	idg_etcd_close(e);
	idg_etcd_close(b);
}

static void test_compacted_watch_is_stale(void **state)
{
	struct idg_etcd *root = as("ROOT"), *e = as("A");
	struct seen s = { .order_ok = true };
	struct idg_etcd_watch *w;
	char pfx[256];
	int64_t rev0, rev;

	(void)state;
	key_of(pfx, sizeof(pfx), "A", "c/");
	put_str(e, "A", "c/k", "1");
	assert_int_equal(idg_etcd_put(e, pfx, "x", 1, 0, &rev0), 0);
	put_str(e, "A", "c/k", "2");
	assert_int_equal(idg_etcd_put(e, pfx, "y", 1, 0, &rev), 0);
	assert_int_equal(idg_etcd_compact(root, rev), 0);
	assert_int_equal(idg_etcd_watch_open(e, pfx, rev0, &w), 0);
	{
		double t0 = idg_now_ms();
		int err = 0;

		while (!err && idg_now_ms() - t0 < 5000)
			err = idg_etcd_watch_poll(w, 100, record, &s);
		assert_int_equal(err, -ESTALE);
		assert_non_null(strstr(idg_etcd_error(e), "compacted"));
	}
	assert_int_equal(s.n, 0);
	idg_etcd_watch_close(w);
	assert_int_equal(idg_etcd_delete(e, pfx, true, NULL, NULL), 0);
	idg_etcd_close(root);
	idg_etcd_close(e);
}

static void test_tls_refusals(void **state)
{
	struct idg_etcd *e = NULL;
	struct idg_etcd_opts o = {
		.endpoints = env("IDG_ETCD_ENDPOINTS"),
		.cacert = env("IDG_ETCD_CA"),
		.cert = env("IDG_ETCD_ROGUE_CERT"),
		.key = env("IDG_ETCD_ROGUE_KEY"),
		.server_id = env("IDG_ETCD_SERVER_ID"),
		.user = env("IDG_ETCD_A_USER"),
		.password = env("IDG_ETCD_A_PASSWORD"),
		.timeout_ms = 3000,
	};
	char wrong[300];
	int err;

	(void)state;
	/* A certificate of another CA: no member talks to it. */
	err = idg_etcd_open(&e, &o);
	assert_int_equal(err, -EHOSTUNREACH);
	idg_etcd_close(e);
	/* The right CA, but the server is not the one we were told of. */
	snprintf(wrong, sizeof(wrong), "%s-other", env("IDG_ETCD_SERVER_ID"));
	o.cert = env("IDG_ETCD_A_CERT");
	o.key = env("IDG_ETCD_A_KEY");
	o.server_id = wrong;
	err = idg_etcd_open(&e, &o);
	assert_int_equal(err, -EHOSTUNREACH);
	assert_non_null(strstr(idg_etcd_error(e), "certificate is not"));
	assert_non_null(strstr(idg_etcd_error(e), env("IDG_ETCD_SERVER_ID")));
	idg_etcd_close(e);
	/* The right user with a wrong password. */
	o.server_id = env("IDG_ETCD_SERVER_ID");
	o.password = "wrong";
	err = idg_etcd_open(&e, &o);
	assert_true(err == -EINVAL || err == -EACCES || err == -EPERM);
	idg_etcd_close(e);
	/* Plain http is refused by the client itself. */
	o.endpoints = "http://127.0.0.1:2379";
	assert_int_equal(idg_etcd_open(&e, &o), -EINVAL);
	idg_etcd_close(e);
}

static void test_member_killed(void **state)
{
	struct idg_etcd *e = as("A"), *b = as("B");
	struct seen s = { .order_ok = true };
	struct idg_etcd_watch *w;
	char pfx[256];
	pid_t pid = (pid_t)atoi(env("IDG_ETCD_MEMBER0_PID"));
	int64_t rev;
	struct idg_etcd_kv *kvs;
	size_t n;

	(void)state;
	key_of(pfx, sizeof(pfx), "B", "m/");
	assert_int_equal(idg_etcd_get_prefix(e, pfx, &kvs, &n, &rev), 0);
	idg_etcd_kvs_free(kvs, n);
	/* Both clients on the first member, the watch too. */
	assert_non_null(strstr(env("IDG_ETCD_ENDPOINTS"), idg_etcd_endpoint(e)));
	assert_int_equal(idg_etcd_watch_open(e, pfx, rev + 1, &w), 0);
	put_str(b, "B", "m/k1", "1");
	await(w, &s, 1);
	assert_int_equal(kill(pid, SIGKILL), 0);
	usleep(200000);
	/* The writes go to another member, the watch follows. */
	put_str(b, "B", "m/k2", "2");
	put_str(b, "B", "m/k3", "3");
	await(w, &s, 3);
	assert_string_equal(s.lines[1], "P k2=2");
	assert_string_equal(s.lines[2], "P k3=3");
	assert_true(idg_etcd_watch_reconnects(w) >= 1);
	assert_int_equal(idg_etcd_watch_poll(w, 300, record, &s), 0);
	assert_int_equal(s.n, 3);
	idg_etcd_watch_close(w);
	assert_int_equal(idg_etcd_delete(b, pfx, true, NULL, NULL), 0);
	idg_etcd_close(e);
	idg_etcd_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spiffe_id_of_cert),
		cmocka_unit_test(test_put_get_delete),
		cmocka_unit_test(test_rbac),
		cmocka_unit_test(test_create_is_compare_and_swap),
		cmocka_unit_test(test_leases),
		cmocka_unit_test(test_watch_in_order_and_resumed),
		cmocka_unit_test(test_compacted_watch_is_stale),
		cmocka_unit_test(test_tls_refusals),
		/* Last: it kills a member. */
		cmocka_unit_test(test_member_killed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
