/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket of `idgate run`: a unix stream socket in the state
 * dir (control.sock, mode 0600, root peers only). One request per
 * connection, one JSON object each way, each on one line:
 *   {"op": "status"}                    the daemon's last change
 *   {"op": "apply", "config": PATH}     reload now, with the result
 * A client that finds no socket, or no daemon behind it, acts alone.
 */
#ifndef IDGATE_LOADER_CONTROL_H
#define IDGATE_LOADER_CONTROL_H

#include <json-c/json.h>

#define IDG_CONTROL_SOCK "control.sock"

/* Listens on STATE_DIR/control.sock (a stale one is replaced). */
int idg_ctl_listen(const char *state_dir, int *fd);
/* The daemon's side of one connection waiting on lfd: the request goes
 * to handle, which returns the reply (taken over). Returns 0 or -errno;
 * a peer that is not root gets no answer. */
int idg_ctl_serve_one(int lfd,
		      struct json_object *(*handle)(struct json_object *req,
						    void *arg),
		      void *arg);
/* A request to the daemon of state_dir: 0 with *reply, -ENOENT or
 * -ECONNREFUSED when no daemon listens there, another -errno on error.
 * timeout_ms bounds the whole exchange. */
int idg_ctl_request(const char *state_dir, struct json_object *req,
		    int timeout_ms, struct json_object **reply);

#endif
