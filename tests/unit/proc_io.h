/* SPDX-License-Identifier: GPL-2.0 */
/* Bytes this process has read so far (read(2) and friends), from
 * /proc/self/io: tests that a file was not read again. Include after
 * <cmocka.h>. */
#ifndef IDGATE_TESTS_PROC_IO_H
#define IDGATE_TESTS_PROC_IO_H

#include <stdio.h>

static inline unsigned long long proc_rchar(void)
{
	unsigned long long v = 0;
	char line[128];
	FILE *f = fopen("/proc/self/io", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

#endif
