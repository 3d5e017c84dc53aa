/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The configs the unit tests load become seeds of the config fuzzer
 * (tests/fuzz/run.sh): with IDG_FUZZ_SEED_DIR set, each is also written
 * there, named by a hash of its bytes. Unset (always, but in run.sh),
 * nothing happens.
 */
#ifndef IDGATE_TESTS_SEED_DUMP_H
#define IDGATE_TESTS_SEED_DUMP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void seed_dump(const char *yaml)
{
	const char *dir = getenv("IDG_FUZZ_SEED_DIR");
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	size_t len = strlen(yaml);
	char path[4096];
	FILE *f;

	if (!dir || !*dir)
		return;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)yaml[i]) * 1099511628211ull;
	snprintf(path, sizeof(path), "%s/unit-%016llx.yaml", dir,
		 (unsigned long long)h);
	f = fopen(path, "w");
	if (!f)
		return;
	fwrite(yaml, 1, len, f);
	fclose(f);
}

#endif
