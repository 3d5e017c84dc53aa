// SPDX-License-Identifier: GPL-2.0
/*
 * The identity numbers from the mesh's store that the applied config was
 * compiled with (docs/mesh.md), kept beside it in STATE_DIR: a command
 * that compiles the applied copy again (identity list, policy get, ...)
 * gets the numbers the datapath has. One "CLUSTER<TAB>LOCAL<TAB>CANON"
 * line per number; absent when the last apply used none.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

static int ids_fill(int fd, void *arg)
{
	const struct idg_id_allocs *a = arg;
	char line[64];
	int err = 0;

	for (size_t i = 0; !err && i < a->n; i++) {
		int n = snprintf(line, sizeof(line), "\t%u\t", a->v[i].local);

		err = idg_write_all(fd, a->v[i].cluster, strlen(a->v[i].cluster));
		if (!err)
			err = idg_write_all(fd, line, (size_t)n);
		if (!err)
			err = idg_write_all(fd, a->v[i].canon, strlen(a->v[i].canon));
		if (!err)
			err = idg_write_all(fd, "\n", 1);
	}
	return err;
}

int cmd_applied_ids_save(const char *state_dir, const struct idg_id_allocs *a,
			 uint64_t *saved)
{
	char path[PATH_MAX];
	int err;

	if (idg_path_join(path, sizeof(path), state_dir, IDG_APPLIED_IDS))
		return -ENAMETOOLONG;
	if (!a || !a->n) {
		if (unlink(path) && errno != ENOENT)
			return -errno;
		if (saved)
			*saved = 0;
		return 0;
	}
	if (saved && *saved == a->serial)
		return 0;
	err = idg_file_replace(path, 0600, ids_fill, (void *)a);
	if (saved)
		*saved = err ? 0 : a->serial;
	return err;
}

int cmd_applied_ids_load(const char *state_dir, struct idg_id_allocs *a)
{
	struct idg_id_alloc *v = NULL;
	char path[PATH_MAX], *text = NULL, *line, *next;
	size_t len, n = 0, cap = 0;
	int err;

	if (idg_path_join(path, sizeof(path), state_dir, IDG_APPLIED_IDS))
		return -ENAMETOOLONG;
	err = idg_read_file(path, &text, &len);
	if (err)
		return err;
	for (line = text; !err && line && *line; line = next) {
		char *t1, *t2, *end;
		unsigned long local;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		t1 = strchr(line, '\t');
		t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t2) {
			err = -EBADMSG;
			break;
		}
		*t1 = *t2 = '\0';
		local = strtoul(t1 + 1, &end, 10);
		if (*end || local < IDG_ID_LOCAL_MIN || local > 0xffff || !t2[1]) {
			err = -EBADMSG;
			break;
		}
		if (n == cap) {
			struct idg_id_alloc *w;

			cap = cap ? cap * 2 : 64;
			w = realloc(v, cap * sizeof(*w));
			if (!w) {
				err = -ENOMEM;
				break;
			}
			v = w;
		}
		v[n].cluster = strdup(line);
		v[n].canon = strdup(t2 + 1);
		v[n].local = (uint32_t)local;
		n++;
		if (!v[n - 1].cluster || !v[n - 1].canon)
			err = -ENOMEM;
	}
	free(text);
	if (!err)
		return idg_id_allocs_set(a, v, n);
	idg_id_alloc_v_free(v, n);
	return err;
}
