/* SPDX-License-Identifier: GPL-2.0 */
/* What the bench tools share: stop on a signal, a clock, number args. */
#ifndef IDGATE_BENCH_UTIL_H
#define IDGATE_BENCH_UTIL_H

#include <signal.h>
#include <stdint.h>

#define BENCH_NSEC 1000000000ull

/* Set by SIGINT/SIGTERM once bench_stop_on_signals() ran. */
extern volatile sig_atomic_t bench_stop;

/* No SA_RESTART: a blocked call or a paced sleep ends at once. */
int bench_stop_on_signals(void);
uint64_t bench_now_ns(void);
/* A decimal in [min, max], no sign; -EINVAL otherwise. */
int bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
