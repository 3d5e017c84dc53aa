// SPDX-License-Identifier: GPL-2.0
/* loader/util: the helpers every part of the loader shares. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <time.h>

#include "util/util.h"

static uint64_t ns_of(clockid_t id)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(id, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Bracketed by the kernel's clock: the right clock in the right unit. */
static void clock_ns_reads_the_clock(void **state)
{
	static const clockid_t ids[] = { CLOCK_MONOTONIC, CLOCK_REALTIME,
					 CLOCK_MONOTONIC_COARSE };

	(void)state;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		uint64_t before = ns_of(ids[i]);
		uint64_t v = idg_clock_ns(ids[i]);
		uint64_t after = ns_of(ids[i]);

		assert_true(before <= v);
		assert_true(v <= after);
	}
}

static void now_ms_is_monotonic_milliseconds(void **state)
{
	double before, v, after;

	(void)state;
	before = (double)ns_of(CLOCK_MONOTONIC) / 1e6;
	v = idg_now_ms();
	after = (double)ns_of(CLOCK_MONOTONIC) / 1e6;
	assert_true(before <= v);
	assert_true(v <= after);
	/* Sub-millisecond resolution: durations of a fast apply show. */
	assert_true(idg_now_ms() >= v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clock_ns_reads_the_clock),
		cmocka_unit_test(now_ms_is_monotonic_milliseconds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
