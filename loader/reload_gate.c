// SPDX-License-Identifier: GPL-2.0
/* When `idgate run` may apply its config file: see reload_gate.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "reload_gate.h"

static void id_from_stat(struct idg_file_id *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->exists = true;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

int idg_file_id_get(const char *path, struct idg_file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st))
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	id_from_stat(id, &st);
	return 0;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool idg_file_id_same(const struct idg_file_id *a, const struct idg_file_id *b)
{
	if (a->exists != b->exists)
		return false;
	return !a->exists ||
	       (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
		ts_eq(&a->mtime, &b->mtime) && ts_eq(&a->ctime, &b->ctime));
}

void idg_reload_gate_init(struct idg_reload_gate *g, const char *path,
			  double settle_s)
{
	memset(g, 0, sizeof(*g));
	g->path = path;
	g->settle_s = settle_s;
}

/* A stat error counts as "gone": the check after the settle time says so. */
static void arm(struct idg_reload_gate *g, double now)
{
	if (idg_file_id_get(g->path, &g->id))
		memset(&g->id, 0, sizeof(g->id));
	g->armed = true;
	g->due = now + g->settle_s;
}

void idg_reload_gate_event(struct idg_reload_gate *g, uint32_t mask, double now)
{
	/* Lost events: whatever happened, look at the file as it is. */
	if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_Q_OVERFLOW))
		arm(g, now);
	/* Written to, created empty, or moved away: wait for the next close
	 * or rename. A pending check would otherwise see a stable prefix
	 * while its writer pauses. */
	else if (mask & (IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM))
		g->armed = false;
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

enum idg_gate_verdict idg_reload_gate_check(struct idg_reload_gate *g,
					    double now, int *hold)
{
	struct idg_file_id cur;
	struct stat st;
	int fd, err;

	*hold = -1;
	if (!g->armed || now < g->due)
		return IDG_GATE_WAIT;
	if (idg_file_id_get(g->path, &cur) || !cur.exists) {
		g->armed = false;
		return IDG_GATE_GONE;
	}
	if (!idg_file_id_same(&cur, &g->id)) {
		arm(g, now); /* changed without an event (mmap): settle again */
		return IDG_GATE_WAIT;
	}
	g->armed = false;
	if (cur.size == 0)
		return IDG_GATE_EMPTY;
	err = hold_file(g->path, &fd);
	if (err == -EAGAIN)
		return IDG_GATE_BUSY;
	g->lease_err = err;
	if (err)
		return IDG_GATE_READY;
	/* Written or replaced between the stat and the lease. */
	if (fstat(fd, &st) == 0)
		id_from_stat(&cur, &st);
	if (!idg_file_id_same(&cur, &g->id)) {
		close(fd);
		arm(g, now);
		return IDG_GATE_WAIT;
	}
	*hold = fd;
	return IDG_GATE_READY;
}

void idg_reload_gate_release(int hold)
{
	/* Closing the descriptor ends the lease; a waiting writer goes on. */
	if (hold >= 0)
		close(hold);
}
