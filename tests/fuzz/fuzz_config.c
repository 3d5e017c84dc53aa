// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: bytes as a config file through the YAML reader and
 * the validator (idg_config_load_string) and, when they load, through the
 * compiler for every node the config names (idg_compile), then freed.
 * ASan, LeakSanitizer and UBSan judge every step; on top of them it
 * checks what the callers rely on:
 *  - the loader returns 0 exactly when it reported no error, else
 *    -EINVAL (a string has nothing to fail to read); the compiler returns
 *    0 without errors or a negative errno with at least one;
 *  - a compiled node's identities and cookies are sorted and unique, and
 *    every identity a table uses is one of its identities;
 *  - compiled again with the state the first compile filled, the node
 *    gets the same identities and cookies, and keeps every cookie
 *    (idgate run reloads this way).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "model.h"

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "fuzz_config.c:%d: check failed: %s\n", \
				__LINE__, #cond);                         \
			abort();                                          \
		}                                                         \
	} while (0)

static FILE *sink;

static void check_diags(const struct idg_diags *d, int err)
{
	size_t errors = 0;

	for (size_t i = 0; i < d->n; i++) {
		CHECK(d->v[i].msg);
		errors += d->v[i].level == IDG_DIAG_ERROR;
	}
	CHECK(errors == d->n_errors);
	CHECK(err <= 0 && !err == !errors);
	/* Printing walks every message and position. */
	idg_diags_print(d, sink);
}

static void check_compiled(const struct idg_compiled *c)
{
	for (size_t i = 1; i < c->n_ids; i++)
		CHECK(c->ids[i - 1].id < c->ids[i].id);
	for (size_t i = 1; i < c->n_cookies; i++)
		CHECK(c->cookies[i - 1].cookie < c->cookies[i].cookie);
	for (size_t i = 0; i < c->n_ipcache; i++)
		CHECK(idg_compiled_identity(c, c->ipcache[i].identity));
	for (size_t i = 0; i < c->n_eps; i++)
		CHECK(idg_compiled_identity(c, c->eps[i].identity));
	for (size_t i = 0; i < c->n_rules; i++) {
		const struct idg_rule_entry *r = &c->rules[i];

		CHECK(!r->peer || idg_compiled_identity(c, r->peer));
		CHECK(!r->cookie || idg_compiled_cookie(c, r->cookie));
	}
}

/* The same identities and cookies, all cookies kept the second time. */
static void check_stable(const struct idg_compiled *a,
			 const struct idg_compiled *b)
{
	CHECK(a->n_ids == b->n_ids && a->n_cookies == b->n_cookies);
	for (size_t i = 0; i < a->n_ids; i++)
		CHECK(a->ids[i].id == b->ids[i].id &&
		      !strcmp(a->ids[i].canon, b->ids[i].canon));
	for (size_t i = 0; i < a->n_cookies; i++)
		CHECK(a->cookies[i].cookie == b->cookies[i].cookie &&
		      a->cookies[i].policy == b->cookies[i].policy &&
		      a->cookies[i].set == b->cookies[i].set &&
		      a->cookies[i].rule_index == b->cookies[i].rule_index &&
		      b->cookies[i].kept);
}

static int compile(const struct idg_config *cfg, const char *node,
		   struct idg_state *st, struct idg_compiled *c)
{
	struct idg_diags d = { 0 };
	int err;

	memset(c, 0, sizeof(*c));
	err = idg_compile(cfg, node, st, c, &d);
	check_diags(&d, err);
	idg_diags_free(&d);
	if (!err)
		check_compiled(c);
	return err;
}

static void compile_node(const struct idg_config *cfg, const char *node)
{
	struct idg_compiled first, again;
	struct idg_state st = { 0 };

	if (!compile(cfg, node, &st, &first)) {
		CHECK(!compile(cfg, node, &st, &again));
		check_stable(&first, &again);
		idg_compiled_free(&again);
	}
	idg_compiled_free(&first);
	idg_state_free(&st);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sink = fopen("/dev/null", "w");
	if (!sink)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idg_config cfg;
	struct idg_diags d = { 0 };
	char *text;
	int err;

	/* The loader reads a C string. */
	text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&cfg, 0, sizeof(cfg));
	err = idg_config_load_string("fuzz.yaml", text, &cfg, &d);
	check_diags(&d, err);
	CHECK(!err || err == -EINVAL);
	if (!err)
		for (size_t i = 0; i < cfg.n_nodes; i++)
			compile_node(&cfg, cfg.nodes[i].name);
	idg_config_free(&cfg);
	idg_diags_free(&d);
	free(text);
	return 0;
}
