// SPDX-License-Identifier: GPL-2.0
/*
 * The mesh thread's reading of the store's keys and values (mesh.h):
 * everything there is input from outside.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "mesh.h"

#define PFX "/idgate/v1/identities/"

static void test_id_key(void **state)
{
	static const char *const bad[] = {
		PFX "a/255", PFX "a/65536", PFX "a/0256", PFX "a/",
		PFX "/300", PFX "a/30x", PFX "a/b/300", PFX "a/100000",
		"/idgate/v1/clusters/a/n/endpoints", PFX "a/-300", PFX "a/+300",
		PFX "a",
	};
	char *cluster;
	uint32_t local;

	(void)state;
	assert_true(idg_mesh_id_key(PFX "cluster-a/256", PFX, &cluster, &local));
	assert_string_equal(cluster, "cluster-a");
	assert_int_equal(local, 256);
	free(cluster);
	assert_true(idg_mesh_id_key(PFX "b/65535", PFX, &cluster, &local));
	assert_int_equal(local, 65535);
	free(cluster);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(idg_mesh_id_key(bad[i], PFX, &cluster, &local));
}

static bool canon_ok(const char *cluster, const char *text)
{
	return idg_mesh_canon_ok(cluster, (const uint8_t *)text, strlen(text));
}

static void test_canon(void **state)
{
	char big[IDG_MESH_CANON_MAX + 64];

	(void)state;
	assert_true(canon_ok("a", "app=x,io.cilium.k8s.policy.cluster=a,io.kubernetes.pod.namespace=p"));
	assert_true(canon_ok("a", "io.cilium.k8s.policy.cluster=a"));
	assert_true(canon_ok("a", "io.cilium.k8s.policy.cluster=a,z=1"));
	/* Another cluster's, a longer name, a value ending in it, none. */
	assert_false(canon_ok("a", "app=x,io.cilium.k8s.policy.cluster=b"));
	assert_false(canon_ok("a", "app=x,io.cilium.k8s.policy.cluster=ab"));
	assert_false(canon_ok("a", "app=xio.cilium.k8s.policy.cluster=a"));
	assert_false(canon_ok("a", "app=x"));
	assert_false(canon_ok("a", ""));
	assert_false(canon_ok("a", "io.cilium.k8s.policy.cluster=a\napp=x"));
	memset(big, 'x', sizeof(big));
	memcpy(big, "io.cilium.k8s.policy.cluster=a,y=", 33);
	big[sizeof(big) - 1] = '\0';
	assert_false(canon_ok("a", big));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_key),
		cmocka_unit_test(test_canon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
