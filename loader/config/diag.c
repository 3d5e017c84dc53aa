// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE /* vasprintf */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

void idg_diag_add(struct idg_diags *d, enum idg_diag_level level,
		  struct idg_pos pos, const char *fmt, ...)
{
	struct idg_diag *e;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct idg_diag *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			/* Out of memory: keep the count, so the error still
			 * stops the command. */
			free(msg);
			if (level == IDG_DIAG_ERROR)
				d->n_errors++;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	e = &d->v[d->n++];
	e->level = level;
	e->pos = pos;
	e->msg = msg;
	if (level == IDG_DIAG_ERROR)
		d->n_errors++;
}

void idg_diags_print(const struct idg_diags *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct idg_diag *e = &d->v[i];

		if (e->pos.file && e->pos.line)
			fprintf(out, "%s:%d:%d: ", e->pos.file, e->pos.line,
				e->pos.col);
		else if (e->pos.file)
			fprintf(out, "%s: ", e->pos.file);
		fprintf(out, "%s%s\n",
			e->level == IDG_DIAG_WARNING ? "warning: " : "",
			e->msg ? e->msg : "(out of memory)");
	}
}

const char *idg_pos_ref(struct idg_pos at, struct idg_pos ref, char *buf,
			size_t len)
{
	if (!ref.file || (at.file && !strcmp(at.file, ref.file)))
		snprintf(buf, len, "line %d", ref.line);
	else
		snprintf(buf, len, "%s:%d", ref.file, ref.line);
	return buf;
}

bool idg_diags_has(const struct idg_diags *d, enum idg_diag_level level,
		   const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].level == level && d->v[i].msg &&
		    strstr(d->v[i].msg, needle))
			return true;
	return false;
}

void idg_diags_free(struct idg_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].msg);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

void idg_diags_append(struct idg_diags *d, const struct idg_diags *from)
{
	for (size_t i = 0; i < from->n; i++)
		idg_diag_add(d, from->v[i].level, from->v[i].pos, "%s",
			     from->v[i].msg ? from->v[i].msg :
					      "(out of memory)");
}
