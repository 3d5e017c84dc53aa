// SPDX-License-Identifier: GPL-2.0
/* When `idgate run` may apply its config: see reload_gate.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "model.h"
#include "reload_gate.h"

static void id_from_stat(struct idg_file_id *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->exists = true;
	idg_stat_id_from(&id->st, st);
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

/* Calls fn on each config file of directory path (dir/name in buf);
 * stops at fn's first nonzero return and returns it. */
static int each_file(const char *path,
		     int (*fn)(const char *file, const char *name, void *arg),
		     void *arg)
{
	char file[PATH_MAX];
	struct dirent *e;
	int ret = 0;
	DIR *dh;

	dh = opendir(path);
	if (!dh)
		return -errno;
	while (!ret && (e = readdir(dh))) {
		if (!idg_config_dir_wants(e->d_name))
			continue;
		if ((size_t)snprintf(file, sizeof(file), "%s/%s", path,
				     e->d_name) >= sizeof(file))
			continue;
		ret = fn(file, e->d_name, arg);
	}
	closedir(dh);
	return ret;
}

/* Folds one file into a directory's id. Order-independent: readdir's
 * order is not the files' identity. */
static int fold_file(const char *file, const char *name, void *arg)
{
	struct idg_file_id *id = arg;
	uint64_t h = 0;
	struct stat st;

	if (stat(file, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	for (const char *c = name; *c; c++)
		h = mix64(h, (unsigned char)*c);
	h = mix64(h, st.st_dev);
	h = mix64(h, st.st_ino);
	h = mix64(h, (uint64_t)st.st_size);
	h = mix64(h, (uint64_t)st.st_mtim.tv_sec * 1000000000ull +
			     (uint64_t)st.st_mtim.tv_nsec);
	h = mix64(h, (uint64_t)st.st_ctim.tv_sec * 1000000000ull +
			     (uint64_t)st.st_ctim.tv_nsec);
	id->files += h;
	id->dir_size += st.st_size;
	id->empty_file |= st.st_size == 0;
	id->n_files++;
	return 0;
}

/* ---- the names with events ---- */

/* Past this many names a directory is looked at whole: as cheap, and
 * the list stays small. */
#define NAMES_MAX 256

static void names_clear(struct idg_names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void names_all(struct idg_names *s)
{
	names_clear(s);
	s->all = true;
}

static bool names_has(const struct idg_names *s, const char *name)
{
	if (s->all)
		return true;
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return true;
	return false;
}

/* Out of memory or past NAMES_MAX: every name (never a name lost). */
static void names_add(struct idg_names *s, const char *name)
{
	char **v, *c;

	if (names_has(s, name))
		return;
	if (s->n >= NAMES_MAX) {
		names_all(s);
		return;
	}
	v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (v)
		s->v = v;
	c = v ? strdup(name) : NULL;
	if (!c) {
		names_all(s);
		return;
	}
	s->v[s->n++] = c;
}

/* src's names into dst; src emptied. */
static void names_merge(struct idg_names *dst, struct idg_names *src)
{
	if (src->all)
		names_all(dst);
	for (size_t i = 0; i < src->n && !dst->all; i++)
		names_add(dst, src->v[i]);
	names_clear(src);
}

/* The config files of a directory, counted from its listing alone. */
static int count_file(const char *file, const char *name, void *arg)
{
	(void)file;
	(void)name;
	++*(size_t *)arg;
	return 0;
}

/* A directory's id over the named files only (and its own stat, which
 * a file added or removed changes). */
static int dir_id_named(const char *path, const struct idg_names *names,
			struct idg_file_id *id)
{
	char file[PATH_MAX];
	int err;

	for (size_t i = 0; i < names->n; i++) {
		if ((size_t)snprintf(file, sizeof(file), "%s/%s", path,
				     names->v[i]) >= sizeof(file))
			continue;
		err = fold_file(file, names->v[i], id);
		if (err)
			return err;
	}
	id->n_files = 0;
	return each_file(path, count_file, &id->n_files);
}

/* names: of a directory, the files to look at (NULL: all). */
static int file_id_get(const char *path, const struct idg_names *names,
		       struct idg_file_id *id)
{
	struct stat st;
	int err;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st))
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	id_from_stat(id, &st);
	if (!S_ISDIR(st.st_mode))
		return 0;
	id->is_dir = true;
	err = names && !names->all ? dir_id_named(path, names, id) :
				     each_file(path, fold_file, id);
	if (err == -ENOENT) /* the directory went: gone */
		memset(id, 0, sizeof(*id));
	return err == -ENOENT ? 0 : err;
}

int idg_file_id_get(const char *path, struct idg_file_id *id)
{
	return file_id_get(path, NULL, id);
}

/* The gate's file, or the directory over the files with events. */
static int gate_id(const struct idg_reload_gate *g, struct idg_file_id *id)
{
	return file_id_get(g->path, g->dir ? &g->dirty : NULL, id);
}

bool idg_file_id_same(const struct idg_file_id *a, const struct idg_file_id *b)
{
	if (a->exists != b->exists)
		return false;
	return !a->exists ||
	       (idg_stat_id_same(&a->st, &b->st) && a->files == b->files && a->dir_size == b->dir_size &&
		a->empty_file == b->empty_file);
}

void idg_reload_gate_init(struct idg_reload_gate *g, const char *path,
			  double settle_s)
{
	struct stat st;

	memset(g, 0, sizeof(*g));
	g->path = path;
	g->settle_s = settle_s;
	g->dir = !stat(path, &st) && S_ISDIR(st.st_mode);
	/* The first load reads every file. */
	g->dirty.all = true;
}

void idg_reload_gate_free(struct idg_reload_gate *g)
{
	idg_reload_gate_release(g);
	names_clear(&g->dirty);
	names_clear(&g->taken);
}

void idg_reload_gate_take(struct idg_reload_gate *g)
{
	names_merge(&g->dirty, &g->taken);
	g->taken = g->dirty;
	memset(&g->dirty, 0, sizeof(g->dirty));
}

void idg_reload_gate_forget(struct idg_reload_gate *g)
{
	if (g->dir)
		names_all(&g->dirty);
}

void idg_reload_gate_loaded(struct idg_reload_gate *g, bool read)
{
	if (read)
		names_clear(&g->taken);
	else
		names_merge(&g->dirty, &g->taken);
}

bool idg_reload_gate_unchanged(const struct idg_reload_gate *g,
			       const char *name)
{
	return g->dir && !names_has(&g->dirty, name) &&
	       !names_has(&g->taken, name);
}

/* A stat error counts as "gone": the check after the settle time says so.
 * settle: wait for the settle time; else check at once (an already
 * armed gate keeps the earlier of its deadline and now). */
static void arm_ex(struct idg_reload_gate *g, double now, bool settle)
{
	double due = settle ? now + g->settle_s : now;

	if (gate_id(g, &g->id))
		memset(&g->id, 0, sizeof(g->id));
	if (!g->armed || due < g->due || settle)
		g->due = due;
	g->armed = true;
}

static void arm(struct idg_reload_gate *g, double now)
{
	arm_ex(g, now, true);
}

static void gate_event(struct idg_reload_gate *g, uint32_t mask, double now)
{
	/* Renamed into place: complete by construction, so checked at once
	 * (still not while open for writing). A directory's file removed or
	 * renamed away is a whole change as well. */
	if ((mask & IN_MOVED_TO) ||
	    (g->dir && (mask & (IN_DELETE | IN_MOVED_FROM))))
		arm_ex(g, now, false);
	/* Closed by its writer, or lost events: stable for the settle time
	 * first (a writer may close and write again). */
	else if (mask & (IN_CLOSE_WRITE | IN_Q_OVERFLOW))
		arm(g, now);
	/* Written to, created empty, or moved away: wait for the next close
	 * or rename. A pending check would otherwise see a stable prefix
	 * while its writer pauses. */
	else if (mask & (IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM))
		g->armed = false;
}

void idg_reload_gate_event(struct idg_reload_gate *g, uint32_t mask, double now)
{
	idg_reload_gate_event_name(g, NULL, mask, now);
}

void idg_reload_gate_event_name(struct idg_reload_gate *g, const char *name,
				uint32_t mask, double now)
{
	if (g->dir) {
		if (name && idg_config_dir_wants(name) && !(mask & IN_Q_OVERFLOW))
			names_add(&g->dirty, name);
		else
			names_all(&g->dirty);
	}
	gate_event(g, mask, now);
}

double idg_reload_gate_deadline(const struct idg_reload_gate *g)
{
	return g->armed ? g->due : 0;
}

/* A read lease cannot be taken while anyone has the file open for
 * writing (EAGAIN); O_NONBLOCK: a writer's lease makes open() fail the
 * same way instead of waiting for it. */
static int hold_file(const char *path, int *fd)
{
	int err;

	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (*fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (fcntl(*fd, F_SETLEASE, F_RDLCK) == 0)
		return 0;
	err = -errno;
	close(*fd);
	*fd = -1;
	return err;
}

static int held_add(struct idg_reload_gate *g, int fd)
{
	int *v = realloc(g->held, (g->n_held + 1) * sizeof(*v));

	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	g->held = v;
	g->held[g->n_held++] = fd;
	return 0;
}

static int hold_one(const char *file, const char *name, void *arg)
{
	struct idg_reload_gate *g = arg;
	struct stat st;
	int fd, err;

	(void)name;
	if (stat(file, &st) || !S_ISREG(st.st_mode))
		return 0; /* gone or not config: the id check sees it */
	err = hold_file(file, &fd);
	return err ? err : held_add(g, fd);
}

/* Leases on everything the config is read from. -EAGAIN: some file is
 * open for writing; another error: leases do not work here. */
static int hold_all(struct idg_reload_gate *g, const struct idg_file_id *id)
{
	int fd, err;

	if (id->is_dir && !g->dirty.all) {
		char file[PATH_MAX];

		err = 0;
		for (size_t i = 0; !err && i < g->dirty.n; i++)
			if ((size_t)snprintf(file, sizeof(file), "%s/%s",
					     g->path, g->dirty.v[i]) <
			    sizeof(file))
				err = hold_one(file, g->dirty.v[i], g);
	} else if (id->is_dir)
		err = each_file(g->path, hold_one, g);
	else
		err = hold_file(g->path, &fd) ?: held_add(g, fd);
	if (err)
		idg_reload_gate_release(g);
	return err;
}

enum idg_gate_verdict idg_reload_gate_check(struct idg_reload_gate *g,
					    double now)
{
	struct idg_file_id cur;
	int err;

	if (!g->armed || now < g->due)
		return IDG_GATE_WAIT;
	if (gate_id(g, &cur) || !cur.exists) {
		g->armed = false;
		return IDG_GATE_GONE;
	}
	if (!idg_file_id_same(&cur, &g->id)) {
		arm(g, now); /* changed without an event (mmap): settle again */
		return IDG_GATE_WAIT;
	}
	g->armed = false;
	if (cur.is_dir ? !cur.n_files || cur.empty_file : cur.st.size == 0)
		return IDG_GATE_EMPTY;
	err = hold_all(g, &cur);
	if (err == -EAGAIN)
		return IDG_GATE_BUSY;
	g->lease_err = err;
	if (err)
		return IDG_GATE_READY;
	/* Written or replaced between the stat and the leases. */
	if (gate_id(g, &cur) || !idg_file_id_same(&cur, &g->id)) {
		idg_reload_gate_release(g);
		arm(g, now);
		return IDG_GATE_WAIT;
	}
	return IDG_GATE_READY;
}

void idg_reload_gate_release(struct idg_reload_gate *g)
{
	/* Closing a descriptor ends its lease; a waiting writer goes on. */
	for (size_t i = 0; i < g->n_held; i++)
		close(g->held[i]);
	free(g->held);
	g->held = NULL;
	g->n_held = 0;
}
