/* SPDX-License-Identifier: GPL-2.0 */
/* The malformed-frame fixture table (malformed.c). */
#ifndef IDGATE_TESTS_MALFORMED_H
#define IDGATE_TESTS_MALFORMED_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

struct malformed_row {
	const char *name;
	void (*build)(struct pkt *p);
	uint32_t reason; /* IDG_DROP_* */
};

/* Shrink the L4 part of p to keep bytes. */
void cut_l4(struct pkt *p, size_t keep);

/* One cmocka test per row into out (room entries); how many, 0 when
 * they do not fit. */
size_t malformed_tests(struct CMUnitTest *out, size_t room);

#endif
