/* SPDX-License-Identifier: GPL-2.0 */
/* idgate run: state the daemon shares with its metrics endpoint. */
#ifndef IDGATE_LOADER_RUN_H
#define IDGATE_LOADER_RUN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "instance.h"

/* The daemon's last config load, for `idgate status` and apply. */
struct idg_run_change {
	bool valid;
	double time;     /* unix time it started */
	char why[32];    /* start, file changed, SIGHUP, idgate apply */
	int err;         /* 0 or -errno */
	char error[512]; /* the apply step's failure, or "" */
	uint32_t gen;    /* enforcing after it (0: none) */
	size_t files, parsed;
	double compile_ms, fill_ms, switch_ms, total_ms;
	double enforce_ms; /* from its start to the switch (0: no switch) */
	uint32_t written, deleted;
	char *diags;     /* its diagnostics as printed (malloc'd), or NULL */
	/* The config directory's files it found added, changed and removed:
	 * {"added": [names], "changed": [...], "removed": [...]}, or NULL. */
	struct json_object *files_changed;
};
/* Frees what c holds and zeroes it. */
void idg_run_change_clear(struct idg_run_change *c);

/* The change as a JSON object (control socket). */
struct json_object *idg_run_change_json(const struct idg_run_change *c);
/* That object in one line for people: what the change made enforcing
 * and what it took, or why it failed (false). */
bool idg_run_change_summary(struct json_object *ch, char *buf, size_t len);
/* Its end: ", enforcing after X ms; changed NAMES; added ...". */
void idg_run_change_tail(struct json_object *ch, char *buf, size_t len);

struct cmd_compiled;

struct idg_run_shared {
	pthread_mutex_t mu;  /* guards everything below */
	struct idg_instance in;
	/* The config enforcing now, NULL before the first successful
	 * apply: owned by the command (cmd.h), and its compiled part, whose
	 * cookie table names the per-rule counters. */
	struct cmd_compiled *cc;
	const struct idg_compiled *compiled;
	uint64_t reloads;          /* config loads tried (start, file, SIGHUP) */
	uint64_t reload_failures;
	uint64_t reattaches;       /* link watcher repairs that worked */
	double last_reload_s;      /* wall time of the last load */
	int last_reload_ok;        /* 1 / 0 */
	double last_reload_time;   /* unix time of the last load */
	/* L7 requests the proxy judged, by verdict and by the rule that
	 * admitted them or that a denial names (cookie; 0: none); NULL
	 * until the first. */
	uint64_t (*l7_requests)[2]; /* [cookie][0 denied, 1 allowed] */
	/* The cluster mesh's thread, set once before the metrics start;
	 * NULL when the mesh is off (it has a lock of its own). */
	struct idg_mesh *mesh;
};

struct MHD_Daemon;
/* Serves /metrics on "HOST:PORT" ("[V6]:PORT" too) from its own thread.
 * Returns the daemon or NULL with a message printed. */
struct MHD_Daemon *idg_metrics_start(const char *addr, struct idg_run_shared *sh);
void idg_metrics_stop(struct MHD_Daemon *d);
/* The Prometheus text exposition of sh (caller holds sh->mu); malloc'd. */
char *idg_metrics_render(struct idg_run_shared *sh, size_t *len);

#endif
