// SPDX-License-Identifier: GPL-2.0
/*
 * The reason table is the one source of numbers and names; this keeps the
 * operator doc (docs/drop-reasons.md, path in argv[1]) in step with it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <idgate/reasons.h>

static const char *doc_path;

static char *read_doc(void)
{
	FILE *f = fopen(doc_path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void check_row(const char *doc, unsigned int num, const char *name)
{
	char row[128];

	snprintf(row, sizeof(row), "| %u | %s |", num, name);
	if (!strstr(doc, row))
		fail_msg("docs/drop-reasons.md lacks the row \"%s\"", row);
	assert_string_equal(idg_reason_name(num), name);
}

static void test_doc_matches_table(void **state)
{
	char *doc = read_doc();
	int rows = 0;

	(void)state;
#define X(sfx, num, name)              \
	check_row(doc, num, name);     \
	rows++;
	IDG_PASS_REASONS(X)
	IDG_DROP_REASONS(X)
#undef X
	/* No stale rows either: count table rows that start with a number. */
	for (const char *p = doc; (p = strstr(p, "\n| ")); p++)
		if (p[3] >= '0' && p[3] <= '9')
			rows--;
	assert_int_equal(rows, 0);
	free(doc);
}

static void test_classes(void **state)
{
	(void)state;
#define X(sfx, num, name) assert_false(idg_reason_is_drop(num));
	IDG_PASS_REASONS(X)
#undef X
#define X(sfx, num, name) assert_true(idg_reason_is_drop(num));
	IDG_DROP_REASONS(X)
#undef X
	assert_string_equal(idg_reason_name(200), "unknown");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_matches_table),
		cmocka_unit_test(test_classes),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s docs/drop-reasons.md\n", argv[0]);
		return 2;
	}
	doc_path = argv[1];
	return cmocka_run_group_tests_name("reasons", tests, NULL, NULL);
}
