/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IDGATE_TESTS_PERF_H
#define IDGATE_TESTS_PERF_H

/* `test_datapath --perf [--repeat N] [--rounds N]`: prints ns/packet. */
int dp_perf_main(int argc, char **argv);

#endif
