// SPDX-License-Identifier: GPL-2.0
/* The reload gate of `idgate run`: which inotify event sequences and file
 * states let a changed config through, on real files in a temporary
 * directory. Time is passed in, so nothing here waits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "reload_gate.h"

#define SETTLE 0.25 /* exact in binary: deadlines compare equal */

struct fx {
	char dir[64];
	char path[96];
	struct idg_reload_gate g;
};

static void put(const char *path, const char *text, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/idgate-gate.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/idgate.yaml", f->dir);
	put(f->path, "kind: Node\n", O_TRUNC);
	idg_reload_gate_init(&f->g, f->path, SETTLE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	idg_reload_gate_free(&f->g);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static enum idg_gate_verdict check(struct fx *f, double now)
{
	enum idg_gate_verdict v;

	v = idg_reload_gate_check(&f->g, now);
	if (v == IDG_GATE_READY) {
		/* Leases work on the local file systems tests run on. */
		assert_int_equal(f->g.n_held, 1);
		assert_int_equal(f->g.lease_err, 0);
		idg_reload_gate_release(&f->g);
	}
	assert_int_equal(f->g.n_held, 0);
	return v;
}

static void nothing_pending(void **state)
{
	struct fx *f = *state;

	assert_true(idg_reload_gate_deadline(&f->g) == 0);
	assert_int_equal(check(f, 100), IDG_GATE_WAIT);
}

static void close_after_write_settles(void **state)
{
	struct fx *f = *state;

	idg_reload_gate_event(&f->g, IN_MODIFY, 10);
	assert_true(idg_reload_gate_deadline(&f->g) == 0);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	assert_true(idg_reload_gate_deadline(&f->g) == 10 + SETTLE);
	assert_int_equal(check(f, 10.1), IDG_GATE_WAIT);
	assert_int_equal(check(f, 10 + SETTLE), IDG_GATE_READY);
	/* Once: the gate is closed again. */
	assert_int_equal(check(f, 20), IDG_GATE_WAIT);
}

/* A rename into place is complete by construction: no settle time. */
static void rename_into_place_at_once(void **state)
{
	struct fx *f = *state;

	idg_reload_gate_event(&f->g, IN_MOVED_TO, 10);
	assert_true(idg_reload_gate_deadline(&f->g) == 10);
	assert_int_equal(check(f, 10), IDG_GATE_READY);
	/* A close meanwhile (a writer in place) waits again. */
	idg_reload_gate_event(&f->g, IN_MOVED_TO, 20);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 20);
	assert_int_equal(check(f, 20), IDG_GATE_WAIT);
	assert_int_equal(check(f, 20 + SETTLE), IDG_GATE_READY);
}

/* Lost events: look at the file as it is. */
static void overflow_arms(void **state)
{
	struct fx *f = *state;

	idg_reload_gate_event(&f->g, IN_Q_OVERFLOW, 10);
	assert_int_equal(check(f, 11), IDG_GATE_READY);
}

/* A write after the close (a second writer, `echo b >> f`) waits for
 * that writer's close, however long it pauses. */
static void modify_after_close_disarms(void **state)
{
	struct fx *f = *state;

	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	idg_reload_gate_event(&f->g, IN_MODIFY, 10.05);
	assert_true(idg_reload_gate_deadline(&f->g) == 0);
	assert_int_equal(check(f, 1000), IDG_GATE_WAIT);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 1000);
	assert_int_equal(check(f, 1000 + SETTLE), IDG_GATE_READY);
}

static void create_alone_never_applies(void **state)
{
	struct fx *f = *state;

	idg_reload_gate_event(&f->g, IN_CREATE, 10);
	assert_true(idg_reload_gate_deadline(&f->g) == 0);
	assert_int_equal(check(f, 1000), IDG_GATE_WAIT);
}

static void delete_disarms(void **state)
{
	struct fx *f = *state;

	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	idg_reload_gate_event(&f->g, IN_MOVED_FROM, 10.1);
	assert_int_equal(check(f, 1000), IDG_GATE_WAIT);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	idg_reload_gate_event(&f->g, IN_DELETE, 10.1);
	assert_int_equal(check(f, 1000), IDG_GATE_WAIT);
}

static void empty_file_refused(void **state)
{
	struct fx *f = *state;

	put(f->path, "", O_TRUNC);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	assert_int_equal(check(f, 11), IDG_GATE_EMPTY);
	assert_int_equal(check(f, 12), IDG_GATE_WAIT);
}

static void gone_file_reported(void **state)
{
	struct fx *f = *state;

	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	unlink(f->path);
	assert_int_equal(check(f, 11), IDG_GATE_GONE);
}

/* Changed with no event seen (writes through mmap): settle again. */
static void size_change_settles_again(void **state)
{
	struct fx *f = *state;

	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	put(f->path, "more: 1\n", O_APPEND);
	assert_int_equal(check(f, 10 + SETTLE), IDG_GATE_WAIT);
	assert_true(idg_reload_gate_deadline(&f->g) == 10 + 2 * SETTLE);
	assert_int_equal(check(f, 10 + 2 * SETTLE), IDG_GATE_READY);
}

static void mtime_change_settles_again(void **state)
{
	struct fx *f = *state;
	struct timespec ts[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };

	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	assert_int_equal(utimensat(AT_FDCWD, f->path, ts, 0), 0);
	assert_int_equal(check(f, 11), IDG_GATE_WAIT);
	assert_int_equal(check(f, 11 + SETTLE), IDG_GATE_READY);
}

static void replaced_file_settles_again(void **state)
{
	struct fx *f = *state;
	char tmp[128];

	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	snprintf(tmp, sizeof(tmp), "%s/new", f->dir);
	put(tmp, "kind: Node\n", O_TRUNC); /* same size, another inode */
	assert_int_equal(rename(tmp, f->path), 0);
	assert_int_equal(check(f, 11), IDG_GATE_WAIT);
	assert_int_equal(check(f, 11 + SETTLE), IDG_GATE_READY);
}

/* A close by someone else (touch) while a writer still holds the file
 * open with half of it written: not applied until that writer closes. */
static void open_for_writing_waits(void **state)
{
	struct fx *f = *state;
	int fd = open(f->path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	assert_int_equal(check(f, 11), IDG_GATE_BUSY);
	assert_true(idg_reload_gate_deadline(&f->g) == 0);
	assert_int_equal(check(f, 1000), IDG_GATE_WAIT);
	close(fd);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 1000);
	assert_int_equal(check(f, 1000 + SETTLE), IDG_GATE_READY);
}

/* ---- a config directory ---- */

struct dfx {
	char dir[64];
	char a[96], b[96];
	struct idg_reload_gate g;
};

static int dsetup(void **state)
{
	struct dfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/idgate-gated.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->a, sizeof(f->a), "%s/a.yaml", f->dir);
	snprintf(f->b, sizeof(f->b), "%s/b.yaml", f->dir);
	put(f->a, "kind: Node\n", O_TRUNC);
	put(f->b, "kind: Endpoint\n", O_TRUNC);
	idg_reload_gate_init(&f->g, f->dir, SETTLE);
	assert_true(f->g.dir);
	*state = f;
	return 0;
}

static int dteardown(void **state)
{
	struct dfx *f = *state;
	char other[128];

	idg_reload_gate_free(&f->g);
	snprintf(other, sizeof(other), "%s/.b.yaml.tmp", f->dir);
	unlink(other);
	unlink(f->a);
	unlink(f->b);
	rmdir(f->dir);
	free(f);
	return 0;
}

static enum idg_gate_verdict dcheck(struct dfx *f, double now,
				    size_t want_held)
{
	enum idg_gate_verdict v = idg_reload_gate_check(&f->g, now);

	if (v == IDG_GATE_READY) {
		assert_int_equal(f->g.n_held, want_held);
		idg_reload_gate_release(&f->g);
	}
	assert_int_equal(f->g.n_held, 0);
	return v;
}

/* Every file of the directory is leased while a reload reads them. */
static void dir_close_settles(void **state)
{
	struct dfx *f = *state;

	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	assert_int_equal(dcheck(f, 10 + SETTLE, 2), IDG_GATE_READY);
}

/* A file removed or renamed away is a change of its own (a single
 * file's removal only waits for its return). */
static void dir_delete_arms(void **state)
{
	struct dfx *f = *state;

	unlink(f->b);
	idg_reload_gate_event(&f->g, IN_DELETE, 10);
	assert_int_equal(dcheck(f, 10, 1), IDG_GATE_READY);
	idg_reload_gate_event(&f->g, IN_MOVED_FROM, 20);
	assert_int_equal(dcheck(f, 20, 1), IDG_GATE_READY);
}

/* An editor's write-then-rename: the temporary name is not config, the
 * rename into place is. */
static void dir_write_then_rename(void **state)
{
	struct dfx *f = *state;
	char tmp[128];

	snprintf(tmp, sizeof(tmp), "%s/.b.yaml.tmp", f->dir);
	put(tmp, "kind: Endpoint\nmetadata: {}\n", O_TRUNC);
	assert_int_equal(rename(tmp, f->b), 0);
	idg_reload_gate_event(&f->g, IN_MOVED_TO, 10);
	assert_int_equal(dcheck(f, 10, 2), IDG_GATE_READY);
}

/* Any file changing meanwhile settles again; an empty one or none at
 * all is never applied; one open for writing waits. */
static void dir_unstable_empty_busy(void **state)
{
	struct dfx *f = *state;
	int fd;

	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 10);
	/* Same size, later mtime (file times tick at jiffies). */
	usleep(30000);
	put(f->b, "kind: Endpoinx\n", O_TRUNC);
	assert_int_equal(dcheck(f, 10 + SETTLE, 0), IDG_GATE_WAIT);
	assert_int_equal(dcheck(f, 10 + 2 * SETTLE, 2), IDG_GATE_READY);

	fd = open(f->b, O_WRONLY);
	assert_true(fd >= 0);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 20);
	assert_int_equal(dcheck(f, 20 + SETTLE, 0), IDG_GATE_BUSY);
	close(fd);

	put(f->b, "", O_TRUNC);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 30);
	assert_int_equal(dcheck(f, 30 + SETTLE, 0), IDG_GATE_EMPTY);
	unlink(f->b);
	unlink(f->a);
	idg_reload_gate_event(&f->g, IN_DELETE, 40);
	assert_int_equal(dcheck(f, 40 + SETTLE, 0), IDG_GATE_EMPTY);
}

/* A load of the whole directory, as idgate run's first one: from then
 * on, what the events name is what changed. */
static void first_load(struct dfx *f)
{
	assert_false(idg_reload_gate_unchanged(&f->g, "a.yaml"));
	idg_reload_gate_take(&f->g);
	idg_reload_gate_loaded(&f->g, true);
	assert_true(idg_reload_gate_unchanged(&f->g, "a.yaml"));
	assert_true(idg_reload_gate_unchanged(&f->g, "b.yaml"));
}

/* Events that name a file: only that file is looked at and leased, so
 * another file open for writing (with no event: nothing written yet)
 * does not hold the change back. An event without a name looks at all. */
static void dir_named_event_looks_at_its_file(void **state)
{
	struct dfx *f = *state;
	int fd;

	first_load(f);
	fd = open(f->b, O_WRONLY);
	assert_true(fd >= 0);
	put(f->a, "kind: Node\nmetadata: {}\n", O_TRUNC);
	idg_reload_gate_event_name(&f->g, "a.yaml", IN_CLOSE_WRITE, 10);
	assert_int_equal(dcheck(f, 10 + SETTLE, 1), IDG_GATE_READY);
	idg_reload_gate_event(&f->g, IN_CLOSE_WRITE, 20);
	assert_int_equal(dcheck(f, 20 + SETTLE, 0), IDG_GATE_BUSY);
	close(fd);
	assert_int_equal(dcheck(f, 20 + SETTLE, 0), IDG_GATE_WAIT);
	idg_reload_gate_event_name(&f->g, "b.yaml", IN_CLOSE_WRITE, 30);
	assert_int_equal(dcheck(f, 30 + SETTLE, 2), IDG_GATE_READY);
}

/* A named file emptied or its directory left without files is refused
 * as before; removing one file of two is a change. */
static void dir_named_empty_and_removed(void **state)
{
	struct dfx *f = *state;

	first_load(f);
	put(f->b, "", O_TRUNC);
	idg_reload_gate_event_name(&f->g, "b.yaml", IN_CLOSE_WRITE, 10);
	assert_int_equal(dcheck(f, 10 + SETTLE, 0), IDG_GATE_EMPTY);
	unlink(f->b);
	idg_reload_gate_event_name(&f->g, "b.yaml", IN_DELETE, 20);
	assert_int_equal(dcheck(f, 20, 0), IDG_GATE_READY);
	unlink(f->a);
	idg_reload_gate_event_name(&f->g, "a.yaml", IN_DELETE, 30);
	assert_int_equal(dcheck(f, 30, 0), IDG_GATE_EMPTY);
}

/* What changed stays changed until a load has read it: a load that did
 * not get to the files gives it back; names that are no config file's
 * (a ConfigMap's "..data" flipped), lost events and the operator's
 * reload count as every file changed. */
static void dir_changed_until_read(void **state)
{
	struct dfx *f = *state;

	first_load(f);
	idg_reload_gate_event_name(&f->g, "a.yaml", IN_MODIFY, 10);
	assert_false(idg_reload_gate_unchanged(&f->g, "a.yaml"));
	assert_true(idg_reload_gate_unchanged(&f->g, "b.yaml"));
	idg_reload_gate_take(&f->g);
	assert_false(idg_reload_gate_unchanged(&f->g, "a.yaml"));
	idg_reload_gate_loaded(&f->g, false);
	assert_false(idg_reload_gate_unchanged(&f->g, "a.yaml"));
	idg_reload_gate_take(&f->g);
	/* An event while the load runs belongs to the next one. */
	idg_reload_gate_event_name(&f->g, "b.yaml", IN_MODIFY, 11);
	idg_reload_gate_loaded(&f->g, true);
	assert_true(idg_reload_gate_unchanged(&f->g, "a.yaml"));
	assert_false(idg_reload_gate_unchanged(&f->g, "b.yaml"));
	idg_reload_gate_take(&f->g);
	idg_reload_gate_loaded(&f->g, true);

	idg_reload_gate_event_name(&f->g, "..data", IN_MOVED_TO, 20);
	assert_false(idg_reload_gate_unchanged(&f->g, "a.yaml"));
	first_load(f);
	idg_reload_gate_event_name(&f->g, NULL, IN_Q_OVERFLOW, 30);
	assert_false(idg_reload_gate_unchanged(&f->g, "b.yaml"));
	first_load(f);
	idg_reload_gate_forget(&f->g);
	assert_false(idg_reload_gate_unchanged(&f->g, "b.yaml"));
}

/* Past a few hundred names the list gives way to the whole directory. */
static void dir_many_names(void **state)
{
	struct dfx *f = *state;
	char name[32];

	first_load(f);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "f%03d.yaml", i);
		idg_reload_gate_event_name(&f->g, name, IN_MODIFY, 10);
	}
	assert_false(idg_reload_gate_unchanged(&f->g, "a.yaml"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(nothing_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(close_after_write_settles, setup, teardown),
		cmocka_unit_test_setup_teardown(rename_into_place_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(overflow_arms, setup, teardown),
		cmocka_unit_test_setup_teardown(modify_after_close_disarms, setup, teardown),
		cmocka_unit_test_setup_teardown(create_alone_never_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_disarms, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(gone_file_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(size_change_settles_again, setup, teardown),
		cmocka_unit_test_setup_teardown(mtime_change_settles_again, setup, teardown),
		cmocka_unit_test_setup_teardown(replaced_file_settles_again, setup, teardown),
		cmocka_unit_test_setup_teardown(open_for_writing_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(dir_close_settles, dsetup, dteardown),
		cmocka_unit_test_setup_teardown(dir_delete_arms, dsetup, dteardown),
		cmocka_unit_test_setup_teardown(dir_write_then_rename, dsetup, dteardown),
		cmocka_unit_test_setup_teardown(dir_unstable_empty_busy, dsetup, dteardown),
		cmocka_unit_test_setup_teardown(dir_named_event_looks_at_its_file, dsetup, dteardown),
		cmocka_unit_test_setup_teardown(dir_named_empty_and_removed, dsetup, dteardown),
		cmocka_unit_test_setup_teardown(dir_changed_until_read, dsetup, dteardown),
		cmocka_unit_test_setup_teardown(dir_many_names, dsetup, dteardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
