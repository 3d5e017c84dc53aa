// SPDX-License-Identifier: GPL-2.0
/* What `idgate run` tells its control socket's clients (control.h). */
#include <json-c/json.h>

#include "run.h"

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
	json_object_object_add(j, "entries_written", json_object_new_int64(c->written));
	json_object_object_add(j, "entries_deleted", json_object_new_int64(c->deleted));
	json_object_object_add(j, "diagnostics",
			       json_object_new_string(c->diags ? c->diags : ""));
	return j;
}
