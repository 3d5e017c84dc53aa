// SPDX-License-Identifier: GPL-2.0
#include "util.h"

uint64_t idg_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double idg_now_ms(void)
{
	return (double)idg_clock_ns(CLOCK_MONOTONIC) / 1e6;
}
