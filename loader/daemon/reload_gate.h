/* SPDX-License-Identifier: GPL-2.0 */
/*
 * When `idgate run` may apply its config after a change: only when it
 * looks complete. A writer that closed a file or a rename into place arms
 * the gate; any further modification (or a new empty file) disarms it
 * until the next close or rename. An armed gate opens once the file is
 * not empty and nobody has it open for writing (a read lease cannot be
 * taken then) and, after a close, once it kept its inode, size, mtime
 * and ctime for the settle time (a rename is complete by construction).
 * A config directory is judged the same way over its *.yaml files: every
 * one of them stable, none empty, none open for writing. Where the
 * events named the files (idg_reload_gate_event_name), only those are
 * looked at: the others have not been written since the last load.
 */
#ifndef IDGATE_LOADER_RELOAD_GATE_H
#define IDGATE_LOADER_RELOAD_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "util/util.h"

struct idg_file_id {
	bool exists;
	struct idg_stat_id st;
	/* A directory: its config files' ids folded into one, and whether
	 * one of them is empty. */
	bool is_dir;
	uint64_t files;
	off_t dir_size; /* the files' sizes summed */
	bool empty_file;
	size_t n_files; /* config files in the directory */
};

/* Names of a directory's config files, or all of them. */
struct idg_names {
	bool all;
	char **v;
	size_t n;
};

struct idg_reload_gate {
	const char *path;
	bool dir; /* path is a config directory (at init) */
	double settle_s;
	bool armed;
	double due;            /* armed: when to look again */
	struct idg_file_id id; /* armed: the file as it was then */
	int lease_err;         /* READY without a lease: why (negative errno) */
	/* READY: descriptors holding read leases until release. */
	int *held;
	size_t n_held;
	/* A directory: the files with events since the last load (dirty),
	 * and those a load under way was given (taken). */
	struct idg_names dirty, taken;
};

enum idg_gate_verdict {
	IDG_GATE_WAIT,  /* nothing to apply (yet) */
	IDG_GATE_READY, /* apply now; release the hold afterwards */
	IDG_GATE_GONE,  /* the file disappeared */
	IDG_GATE_EMPTY, /* the file is empty: never a config */
	IDG_GATE_BUSY,  /* still open for writing: wait for its close */
};

void idg_reload_gate_init(struct idg_reload_gate *g, const char *path,
			  double settle_s);
void idg_reload_gate_free(struct idg_reload_gate *g);
/* One inotify event mask on the file's name, or on a config file's name
 * in the directory (or IN_Q_OVERFLOW), at now. For a directory, every
 * file counts as changed. */
void idg_reload_gate_event(struct idg_reload_gate *g, uint32_t mask, double now);
/* The same on a name of the directory: only that file counts as changed
 * (any name that is not a config file's, or NULL: every file). */
void idg_reload_gate_event_name(struct idg_reload_gate *g, const char *name,
				uint32_t mask, double now);
/*
 * Around each load of the config: take() before (what changed so far is
 * now the load's), loaded() after, saying whether the load read the
 * files (else what it took counts as changed again). In between,
 * unchanged(name) says whether a file is known to be as the load before
 * read it.
 */
void idg_reload_gate_take(struct idg_reload_gate *g);
/* Every file counts as changed (the operator asked for a reload). */
void idg_reload_gate_forget(struct idg_reload_gate *g);
void idg_reload_gate_loaded(struct idg_reload_gate *g, bool read);
bool idg_reload_gate_unchanged(const struct idg_reload_gate *g,
			       const char *name);
/* When idg_reload_gate_check() wants to run next; 0: nothing pending. */
double idg_reload_gate_deadline(const struct idg_reload_gate *g);
/*
 * At or after the deadline. READY holds read leases on the file (or on
 * each file of the directory) in g->held (none when leases do not work
 * there; g->lease_err says why): until idg_reload_gate_release(), a
 * writer's open() waits, so the reload reads what was checked. The
 * lease's break signal is SIGIO: the caller must ignore it, or a writer
 * opening a file meanwhile kills the process.
 */
enum idg_gate_verdict idg_reload_gate_check(struct idg_reload_gate *g,
					    double now);
void idg_reload_gate_release(struct idg_reload_gate *g);

int idg_file_id_get(const char *path, struct idg_file_id *id);
bool idg_file_id_same(const struct idg_file_id *a, const struct idg_file_id *b);

#endif
