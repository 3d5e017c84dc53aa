// SPDX-License-Identifier: GPL-2.0
/* Port ranges become LPM prefixes: exact cover, minimal count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "portrange.h"

/* Marks every port the prefixes cover; fails on overlap. */
static void cover(const struct idg_port_prefix *pp, int n, uint8_t *hit)
{
	memset(hit, 0, 65536);
	for (int i = 0; i < n; i++) {
		uint32_t size = 1u << (16 - pp[i].bits);

		assert_true(pp[i].bits <= 16);
		/* aligned block */
		assert_int_equal(pp[i].port % size, 0);
		for (uint32_t p = pp[i].port; p < pp[i].port + size; p++) {
			assert_int_equal(hit[p], 0);
			hit[p] = 1;
		}
	}
}

static void check_range(uint16_t lo, uint16_t hi, int expect_n)
{
	static uint8_t hit[65536];
	struct idg_port_prefix pp[IDG_PORT_PREFIX_MAX];
	int n = idg_port_range_prefixes(lo, hi, pp);

	assert_true(n > 0 && n <= IDG_PORT_PREFIX_MAX);
	if (expect_n)
		assert_int_equal(n, expect_n);
	cover(pp, n, hit);
	for (uint32_t p = 0; p < 65536; p++)
		assert_int_equal(hit[p], p >= lo && p <= hi);
}

static void test_known_counts(void **state)
{
	(void)state;
	check_range(0, 65535, 1);
	check_range(80, 80, 1);
	check_range(1024, 2047, 1);
	check_range(1000, 2047, 3); /* 1000/13, 1008/12, 1024/6 */
	check_range(1, 65534, 30);  /* the worst case */
	check_range(65534, 65535, 1);
	check_range(65535, 65535, 1);
	check_range(0, 0, 1);
}

static void test_many_ranges(void **state)
{
	uint32_t x = 12345;

	(void)state;
	for (int i = 0; i < 300; i++) {
		uint16_t a, b;

		x = x * 1103515245u + 12345u;
		a = (uint16_t)(x >> 8);
		x = x * 1103515245u + 12345u;
		b = (uint16_t)(x >> 8);
		if (a > b) {
			uint16_t t = a;

			a = b;
			b = t;
		}
		check_range(a, b, 0);
	}
}

static void test_inverted_range(void **state)
{
	struct idg_port_prefix pp[IDG_PORT_PREFIX_MAX];

	(void)state;
	assert_int_equal(idg_port_range_prefixes(10, 9, pp), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_counts),
		cmocka_unit_test(test_many_ranges),
		cmocka_unit_test(test_inverted_range),
	};

	return cmocka_run_group_tests_name("portrange", tests, NULL, NULL);
}
