// SPDX-License-Identifier: GPL-2.0
/* What `idgate run` tells its control socket's clients (control.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "run.h"

void idg_run_change_clear(struct idg_run_change *c)
{
	free(c->diags);
	json_object_put(c->files_changed);
	memset(c, 0, sizeof(*c));
}

struct json_object *idg_run_change_json(const struct idg_run_change *c)
{
	struct json_object *j = json_object_new_object();

	if (!j || !c->valid)
		return j;
	json_object_object_add(j, "time", json_object_new_double(c->time));
	json_object_object_add(j, "why", json_object_new_string(c->why));
	json_object_object_add(j, "ok", json_object_new_boolean(!c->err));
	if (c->err)
		json_object_object_add(j, "error",
				       json_object_new_string(c->error[0] ?
								      c->error :
								      "the config has errors"));
	json_object_object_add(j, "generation", json_object_new_int64(c->gen));
	json_object_object_add(j, "files", json_object_new_int64((int64_t)c->files));
	json_object_object_add(j, "files_parsed", json_object_new_int64((int64_t)c->parsed));
	json_object_object_add(j, "compile_ms", json_object_new_double(c->compile_ms));
	json_object_object_add(j, "fill_ms", json_object_new_double(c->fill_ms));
	json_object_object_add(j, "switch_ms", json_object_new_double(c->switch_ms));
	json_object_object_add(j, "total_ms", json_object_new_double(c->total_ms));
	if (c->enforce_ms > 0)
		json_object_object_add(j, "enforce_ms",
				       json_object_new_double(c->enforce_ms));
	if (c->files_changed)
		json_object_object_add(j, "files_changed",
				       json_object_get(c->files_changed));
	json_object_object_add(j, "entries_written", json_object_new_int64(c->written));
	json_object_object_add(j, "entries_deleted", json_object_new_int64(c->deleted));
	json_object_object_add(j, "diagnostics",
			       json_object_new_string(c->diags ? c->diags : ""));
	return j;
}

/* "; changed a.yaml, b.yaml; added ...": at most three names a kind. */
static void files_text(struct json_object *fc, char *buf, size_t len)
{
	static const char *const kinds[] = { "changed", "added", "removed" };
	size_t o = 0;

	buf[0] = '\0';
	for (size_t k = 0; fc && k < 3; k++) {
		struct json_object *a;
		size_t n;

		if (!json_object_object_get_ex(fc, kinds[k], &a) ||
		    !(n = json_object_array_length(a)))
			continue;
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "; %s ",
				      kinds[k]);
		for (size_t i = 0; i < n && i < 3; i++)
			o += (size_t)snprintf(buf + o, o < len ? len - o : 0,
					      "%s%s", i ? ", " : "",
					      json_object_get_string(json_object_array_get_idx(a, i)));
		if (n > 3)
			o += (size_t)snprintf(buf + o, o < len ? len - o : 0,
					      " and %zu more", n - 3);
	}
}

void idg_run_change_tail(struct json_object *ch, char *buf, size_t len)
{
	struct json_object *v, *fc = NULL;
	char files[256], enf[48] = "";

	json_object_object_get_ex(ch, "files_changed", &fc);
	files_text(fc, files, sizeof(files));
	if (json_object_object_get_ex(ch, "enforce_ms", &v))
		snprintf(enf, sizeof(enf), ", enforcing after %.1f ms",
			 json_object_get_double(v));
	snprintf(buf, len, "%s%s", enf, files);
}

bool idg_run_change_summary(struct json_object *ch, char *buf, size_t len)
{
	struct json_object *v;
	char tail[320];

#define NUM(k) (json_object_object_get_ex(ch, k, &v) ? json_object_get_double(v) : 0)
	if (json_object_object_get_ex(ch, "error", &v)) {
		snprintf(buf, len, "FAILED: %s; generation %.0f keeps enforcing",
			 json_object_get_string(v), NUM("generation"));
		return false;
	}
	idg_run_change_tail(ch, tail, sizeof(tail));
	snprintf(buf, len,
		 "generation %.0f, %.0f of %.0f files parsed, %.0f entries written, %.0f deleted; compile %.1f ms, fill %.1f ms, switch %.1f ms; %.1f ms in all%s",
		 NUM("generation"), NUM("files_parsed"), NUM("files"),
		 NUM("entries_written"), NUM("entries_deleted"),
		 NUM("compile_ms"), NUM("fill_ms"), NUM("switch_ms"),
		 NUM("total_ms"), tail);
#undef NUM
	return true;
}
