/* SPDX-License-Identifier: GPL-2.0 */
/* Small facts the loader needs in many places, implemented once. */
#ifndef IDGATE_LOADER_UTIL_H
#define IDGATE_LOADER_UTIL_H

#include <stdint.h>
#include <time.h>

/* ---- clock.c ---- */
/* clock id read in nanoseconds. */
uint64_t idg_clock_ns(clockid_t id);
/* CLOCK_MONOTONIC in milliseconds, for durations and timers. */
double idg_now_ms(void);

#endif /* IDGATE_LOADER_UTIL_H */
