/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The L7 proxy `idgate run` supervises (docs/l7.md): HAProxy, configured
 * from each applied generation's L7 table, listening on a socket idgate
 * holds, so that connections steered while HAProxy restarts wait in its
 * queue rather than pass unjudged.
 */
#ifndef IDGATE_LOADER_DAEMON_L7PROXY_H
#define IDGATE_LOADER_DAEMON_L7PROXY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "compile.h"
#include "instance.h"

struct idg_l7proxy {
	int lfd;           /* the listening socket (127.0.0.1), -1: none */
	uint16_t port;
	int lfd6;          /* [::1], -1: none (no IPv6 here) */
	uint16_t port6;
	pid_t pid;         /* the HAProxy serving, 0: none */
	double restart_at; /* monotonic seconds; 0: no restart pending */
	double backoff;    /* seconds before the next restart */
	unsigned int restarts;
	char dir[PATH_MAX]; /* STATE_DIR/l7: its configuration */
	char cfg[PATH_MAX];
	uint64_t pat_digest; /* of the pattern files the running one read */
	/* HAProxy's standard output (its request log): the read end, and
	 * the write end each HAProxy gets; -1: none. */
	int log_rfd, log_wfd;
	int log_pipe; /* its capacity, bytes */
	char line[65536]; /* what was read, up to a line not complete yet */
	size_t line_len;
	int ev_fd; /* IDG_L7_EVENTS, appended, -1: closed */
};

/* The proxy's requests, one JSON object a line, for `idgate monitor`
 * (STATE_DIR/l7/IDG_L7_EVENTS; the previous one as ".1"). */
#define IDG_L7_EVENTS "events.jsonl"
#define IDG_L7_EVENTS_MAX (4u << 20)

void idg_l7proxy_init(struct idg_l7proxy *p);
/* After a reload: the proxy serves c's L7 table, or stops when c has
 * none. Messages go to stderr prefixed "idgate run: ". */
int idg_l7proxy_sync(struct idg_l7proxy *p, const struct idg_instance *in,
		     const struct idg_compiled *c);
/* Reaps an exited HAProxy and restarts it when due. */
void idg_l7proxy_check(struct idg_l7proxy *p, const struct idg_instance *in,
		       double now);
/* When check must run next (0: no restart pending). */
double idg_l7proxy_deadline(const struct idg_l7proxy *p);
/* HAProxy's log, to poll for input (-1: none). */
int idg_l7proxy_log_fd(const struct idg_l7proxy *p);
/* Reads what HAProxy logged: each request into IDG_L7_EVENTS and the
 * counters of sh (under its lock). True when the pipe was filling up
 * (read again soon rather than after a batch's wait). */
struct idg_run_shared;
bool idg_l7proxy_read_log(struct idg_l7proxy *p, struct idg_run_shared *sh);
/* Stops HAProxy, closes the socket: steered connections are refused. */
void idg_l7proxy_stop(struct idg_l7proxy *p, const struct idg_instance *in);

#endif /* IDGATE_LOADER_DAEMON_L7PROXY_H */
