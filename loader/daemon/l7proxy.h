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
	pid_t pid;         /* the HAProxy serving, 0: none */
	double restart_at; /* monotonic seconds; 0: no restart pending */
	double backoff;    /* seconds before the next restart */
	unsigned int restarts;
	char dir[PATH_MAX]; /* STATE_DIR/l7: its configuration */
	char cfg[PATH_MAX];
};

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
/* Stops HAProxy, closes the socket: steered connections are refused. */
void idg_l7proxy_stop(struct idg_l7proxy *p, const struct idg_instance *in);

#endif /* IDGATE_LOADER_DAEMON_L7PROXY_H */
