// SPDX-License-Identifier: GPL-2.0
/*
 * Unit test of where an instance lives (loader/instance.c): the node
 * name is checked by the config's rule before a path is built from it.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "instance.h"

/* --node: the same rule, before any path is built; the longest name fits. */
static void test_instance_node_name(void **state)
{
	static const char *const bad[] = { ".", "..", "../x", "a/b", "",
					   "Node-A", "a..b" };
	char name[IDG_NODE_NAME_MAX + 2], want[PATH_MAX];
	struct idg_instance in;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(idg_instance_init(&in, bad[i], NULL, NULL),
				 -EINVAL);
	assert_int_equal(idg_instance_init(&in, NULL, NULL, NULL), -EINVAL);
	memset(name, 'n', IDG_NODE_NAME_MAX);
	name[IDG_NODE_NAME_MAX] = '\0';
	assert_int_equal(idg_instance_init(&in, name, NULL, NULL), 0);
	assert_string_equal(in.node, name);
	snprintf(want, sizeof(want), "%s/%s", IDG_PIN_ROOT, name);
	assert_string_equal(in.pin_dir, want);
	snprintf(want, sizeof(want), "%s/%s", IDG_STATE_ROOT, name);
	assert_string_equal(in.state_dir, want);
	strcat(name, "n");
	assert_int_equal(idg_instance_init(&in, name, NULL, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_instance_node_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
