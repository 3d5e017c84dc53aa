// SPDX-License-Identifier: GPL-2.0
/*
 * The copy of the config last applied, kept in the state dir so that
 * status, identity and policy commands show what is enforcing, not what
 * the files say now: the bytes that were parsed. A config file is copied
 * whole (applied.yaml); a config directory file by file under the same
 * names (applied.d/), each written only when its bytes differ from the
 * copy's, so a reload after one changed file writes that file, not the
 * whole config. Readers take a shared lock on applied.d while they read
 * it, the writer an exclusive one while it changes it: a reader never
 * sees half of an update.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "cmd.h"
#include "config_cache.h"
#include "instance.h"
#include "util/util.h"

void cmd_applied_free(struct cmd_applied *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->names[i]);
	free(m->names);
	free(m->hash);
	free(m->len);
	memset(m, 0, sizeof(*m));
}

static const char *base_of(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* The memo says dir/name holds bytes of this hash and length. */
/* Does the memo have name with these bytes? Looked for first at
 * position i (the memo is in the order of the config it was made from),
 * so that a thousand files are not a million comparisons; *in_place
 * cleared when name is not at i. */
static bool memo_has(const struct cmd_applied *m, size_t i, const char *name,
		     uint64_t hash, size_t len, bool *in_place)
{
	if (i >= m->n || strcmp(m->names[i], name)) {
		*in_place = false;
		for (i = 0; i < m->n && strcmp(m->names[i], name); i++)
			;
	}
	return i < m->n && m->hash[i] == hash && m->len[i] == len;
}

/* The memo becomes what applied.d now holds: cfg's files. */
static int memo_set(struct cmd_applied *m, const struct idg_config *cfg,
		    const struct idg_stat_id *dir_id)
{
	struct cmd_applied n = { .n = cfg->n_texts };

	n.names = calloc(n.n + 1, sizeof(*n.names));
	n.hash = calloc(n.n + 1, sizeof(*n.hash));
	n.len = calloc(n.n + 1, sizeof(*n.len));
	if (!n.names || !n.hash || !n.len)
		goto fail;
	for (size_t i = 0; i < n.n; i++) {
		n.names[i] = strdup(base_of(cfg->srcs[i]));
		if (!n.names[i])
			goto fail;
		n.hash[i] = idg_config_text_hash(cfg, i);
		n.len[i] = cfg->text_lens[i];
	}
	n.dir_id = *dir_id;
	n.valid = true;
	cmd_applied_free(m);
	*m = n;
	return 0;
fail:
	cmd_applied_free(&n);
	cmd_applied_free(m);
	return -ENOMEM;
}

static int dir_stat_id(int fd, struct idg_stat_id *id)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	idg_stat_id_from(id, &st);
	return 0;
}

/* Files of dir (an open descriptor) that cfg has no more: removed. */
static int prune(int dfd, const struct idg_config *cfg, bool *removed)
{
	struct idg_strmap names = { 0 };
	int fd, err;
	struct dirent *e;
	DIR *d;

	err = idg_strmap_init(&names, cfg->n_texts);
	for (size_t i = 0; !err && i < cfg->n_texts; i++) {
		size_t had;

		if (idg_strmap_put(&names, base_of(cfg->srcs[i]), i, &had) < 0)
			err = -ENOMEM;
	}
	fd = err ? -1 : dup(dfd);
	if (fd < 0) {
		idg_strmap_free(&names);
		return err ? err : -errno;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		idg_strmap_free(&names);
		return -errno;
	}
	while ((e = readdir(d))) {
		if (!idg_config_dir_wants(e->d_name) ||
		    idg_strmap_get(&names, e->d_name))
			continue;
		if (unlinkat(dfd, e->d_name, 0) && errno != ENOENT) {
			err = -errno;
			break;
		}
		*removed = true;
	}
	closedir(d);
	idg_strmap_free(&names);
	return err;
}

static int dir_save(const struct idg_config *cfg, const char *dir,
		    struct cmd_applied *m)
{
	char path[PATH_MAX];
	struct idg_stat_id id;
	bool removed = false, trust, same;
	int fd, err = 0;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX)) {
		err = -errno;
		goto out;
	}
	/* The memo speaks for the directory as this process left it. */
	err = dir_stat_id(fd, &id);
	trust = !err && m && m->valid && idg_stat_id_same(&id, &m->dir_id);
	/* The memo's files, each where cfg has it: the directory holds no
	 * other file to prune. */
	same = trust && m->n == cfg->n_texts;
	for (size_t i = 0; !err && i < cfg->n_texts; i++) {
		const char *name = base_of(cfg->srcs[i]);

		if (idg_path_join(path, sizeof(path), dir, name)) {
			err = -ENAMETOOLONG;
			break;
		}
		if (trust ? memo_has(m, i, name, idg_config_text_hash(cfg, i),
				     cfg->text_lens[i], &same) :
			    idg_file_holds(path, cfg->texts[i],
					   cfg->text_lens[i]))
			continue;
		/* The mesh's documents churn (a hundred files a reload at
		 * 100 changes/s) and live no longer than the run that read
		 * them (its mesh directory is emptied at start): written in
		 * place under the lock readers take, not synced. */
		if (!strncmp(name, MESH_FILE_PREFIX, strlen(MESH_FILE_PREFIX)))
			err = idg_file_rewrite(path, 0600, cfg->texts[i],
					       cfg->text_lens[i]);
		else
			err = idg_file_replace_buf(path, 0600, cfg->texts[i],
						   cfg->text_lens[i]);
	}
	if (!err && !same)
		err = prune(fd, cfg, &removed);
	if (!err && removed && fsync(fd))
		err = -errno;
	if (!err)
		err = dir_stat_id(fd, &id);
	if (m)
		err = err ?: memo_set(m, cfg, &id);
out:
	if (err && m)
		m->valid = false;
	close(fd); /* releases the lock */
	return err;
}

/* Writes the texts of cfg (a config file: one text) into out. */
static int text_fill(int out, void *arg)
{
	const struct idg_config *cfg = arg;

	return idg_write_all(out, cfg->texts[0], cfg->text_lens[0]);
}

int cmd_applied_save(const struct idg_config *cfg, const char *state_dir,
		     struct cmd_applied *m)
{
	char file[PATH_MAX], dir[PATH_MAX];
	int err;

	if (idg_path_join(file, sizeof(file), state_dir, IDG_APPLIED_CONFIG) ||
	    idg_path_join(dir, sizeof(dir), state_dir, IDG_APPLIED_DIR))
		return -ENAMETOOLONG;
	if (!cfg->n_texts)
		return -ENODATA;
	/* The new copy first, then the other kind goes: a reader finds
	 * the old copy or the new one. */
	if (cfg->dir) {
		err = dir_save(cfg, dir, m);
		if (!err && unlink(file) && errno != ENOENT)
			err = -errno;
		return err;
	}
	err = idg_file_replace(file, 0600, text_fill, (void *)cfg);
	if (!err)
		err = idg_dir_remove(dir);
	if (m)
		m->valid = false;
	return err;
}

int cmd_applied_open(const char *state_dir, char *path, size_t len,
		     int *lock_fd)
{
	struct stat st;

	*lock_fd = -1;
	if (idg_path_join(path, len, state_dir, IDG_APPLIED_DIR))
		return -ENAMETOOLONG;
	if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
		*lock_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*lock_fd < 0 || flock(*lock_fd, LOCK_SH)) {
			int err = -errno;

			if (*lock_fd >= 0)
				close(*lock_fd);
			*lock_fd = -1;
			return err;
		}
		return 0;
	}
	if (idg_path_join(path, len, state_dir, IDG_APPLIED_CONFIG))
		return -ENAMETOOLONG;
	return access(path, R_OK) ? -errno : 0;
}
