/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Diagnostics with a source position: every error and warning about the
 * config is reported as FILE:LINE:COL: message, errors first stop the
 * command before anything touches the kernel.
 */
#ifndef IDGATE_LOADER_DIAG_H
#define IDGATE_LOADER_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct idg_pos {
	const char *file; /* owned by the config (idg_config.file) */
	int line;         /* 1-based; 0 when unknown */
	int col;          /* 1-based */
};

enum idg_diag_level {
	IDG_DIAG_WARNING,
	IDG_DIAG_ERROR,
};

struct idg_diag {
	enum idg_diag_level level;
	struct idg_pos pos;
	char *msg;
};

struct idg_diags {
	struct idg_diag *v;
	size_t n;
	size_t cap;
	size_t n_errors;
};

__attribute__((format(printf, 4, 5)))
void idg_diag_add(struct idg_diags *d, enum idg_diag_level level,
		  struct idg_pos pos, const char *fmt, ...);
#define idg_err(d, pos, ...) idg_diag_add((d), IDG_DIAG_ERROR, (pos), __VA_ARGS__)
#define idg_warn(d, pos, ...) idg_diag_add((d), IDG_DIAG_WARNING, (pos), __VA_ARGS__)

/* Every diagnostic of from added to d, in order (a memo's, said again). */
void idg_diags_append(struct idg_diags *d, const struct idg_diags *from);

/* "FILE:LINE:COL: message" or "FILE:LINE:COL: warning: message", one a line,
 * in the order they were added. */
void idg_diags_print(const struct idg_diags *d, FILE *out);
/* Where ref is, said from a message at at: "line N" in the same file,
 * "FILE:N" in another (a config directory has several). */
const char *idg_pos_ref(struct idg_pos at, struct idg_pos ref, char *buf,
			size_t len);
/* True when some diagnostic's text contains needle (tests). */
bool idg_diags_has(const struct idg_diags *d, enum idg_diag_level level,
		   const char *needle);
void idg_diags_free(struct idg_diags *d);

#endif
