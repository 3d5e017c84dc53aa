// SPDX-License-Identifier: GPL-2.0
/*
 * The entry sets generations are built in (loader/kernel/gen_kv.c):
 * every key put is found with its value, however the set was sized
 * (idg_kv_reserve before, between or never), an existing key keeps or
 * takes a value as asked, a full set answers as the kernel map would,
 * and an LPM set finds a key by its prefix alone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gen.h"

struct key {
	uint32_t a, b;
	uint8_t c;
	uint8_t pad[3];
};

static struct key key_of(uint32_t i)
{
	struct key k = { .a = i * 2654435761u, .b = i, .c = (uint8_t)i };

	return k;
}

/* n keys, with a reserve of r before key `at` (r 0: none). */
static void fill_and_find(uint32_t n, uint32_t r, uint32_t at)
{
	struct idg_kv t;

	assert_int_equal(idg_kv_init(&t, sizeof(struct key), sizeof(uint32_t),
				     1u << 20, false), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct key k = key_of(i);
		uint32_t v = i + 7;

		if (r && i == at)
			assert_int_equal(idg_kv_reserve(&t, r), 0);
		assert_int_equal(idg_kv_put(&t, &k, &v, false), 1);
	}
	assert_int_equal(t.n, n);
	for (uint32_t i = 0; i < n; i++) {
		struct key k = key_of(i);
		const uint32_t *v = idg_kv_get(&t, &k);

		assert_non_null(v);
		assert_int_equal(*v, i + 7);
		/* insertion order is kept */
		assert_memory_equal(idg_kv_key(&t, i), &k, sizeof(k));
	}
	for (uint32_t i = n; i < n + 100; i++) {
		struct key k = key_of(i);

		assert_null(idg_kv_get(&t, &k));
	}
	idg_kv_free(&t);
}

static void test_sizes(void **state)
{
	(void)state;
	fill_and_find(10000, 0, 0);
	fill_and_find(10000, 10000, 0);  /* exactly */
	fill_and_find(10000, 3000, 0);   /* too small: grows past it */
	fill_and_find(10000, 20000, 0);  /* roomy */
	fill_and_find(10000, 9000, 5000); /* after some entries */
	fill_and_find(10000, 100, 5000); /* smaller than what it holds */
	fill_and_find(0, 50, 0);
}

static void test_keep_old_and_full(void **state)
{
	struct idg_kv t;
	struct key k = key_of(1), k2 = key_of(2), k3 = key_of(3);
	uint32_t v = 1, w = 2;

	(void)state;
	assert_int_equal(idg_kv_init(&t, sizeof(k), sizeof(v), 2, false), 0);
	assert_int_equal(idg_kv_reserve(&t, 1000), 0); /* capped at max */
	assert_int_equal(idg_kv_put(&t, &k, &v, false), 1);
	assert_int_equal(idg_kv_put(&t, &k, &w, true), 0);
	assert_int_equal(*(uint32_t *)idg_kv_get(&t, &k), 1);
	assert_int_equal(idg_kv_put(&t, &k, &w, false), 0);
	assert_int_equal(*(uint32_t *)idg_kv_get(&t, &k), 2);
	assert_int_equal(idg_kv_put(&t, &k2, &v, false), 1);
	assert_int_equal(idg_kv_put(&t, &k3, &v, false), -E2BIG);
	idg_kv_free(&t);
}

static void test_lpm_normalised(void **state)
{
	struct { uint32_t plen; uint8_t addr[4]; } k = { 20, { 10, 1, 0xff, 9 } },
		q = { 20, { 10, 1, 0xf0, 0 } };
	struct idg_kv t;
	uint32_t v = 5;

	(void)state;
	assert_int_equal(idg_kv_init(&t, sizeof(k), sizeof(v), 16, true), 0);
	assert_int_equal(idg_kv_reserve(&t, 4), 0);
	assert_int_equal(idg_kv_put(&t, &k, &v, false), 1);
	/* bits past the prefix are not part of the key */
	assert_non_null(idg_kv_get(&t, &q));
	assert_int_equal(idg_kv_put(&t, &q, &v, false), 0);
	idg_kv_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_keep_old_and_full),
		cmocka_unit_test(test_lpm_normalised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
