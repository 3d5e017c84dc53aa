/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The L7 table (compile.h) as an HAProxy configuration: one frontend that
 * judges every request with the verdict idg_l7_judge() gives, and a
 * backend that sends what passes on to where the client was going.
 */
#ifndef IDGATE_LOADER_PROXY_HAPROXY_H
#define IDGATE_LOADER_PROXY_HAPROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "compile.h"

struct idg_haproxy_opts {
	/* Where the pattern and map files go (created if missing); it
	 * must hold no space or quote, since the config names it. */
	const char *dir;
	/* The frontend's bind lines, e.g. "fd@3" or "10.0.0.10:8080", and
	 * those of IPv6 clients (with transparent, their connections to
	 * the server leave from an IPv6 source). */
	const char *const *binds;
	size_t n_binds;
	const char *const *binds6;
	size_t n_binds6;
	/* Connect to the server from the client's own address (TPROXY).
	 * Needs IP_TRANSPARENT and the routes of docs/l7.md. */
	bool transparent;
	/* NULL: the connection's original destination; else "ADDR:PORT",
	 * one server for every request (tests). */
	const char *server;
	/* The runtime API socket, or NULL. */
	const char *stats_socket;
	/* One line per request on HAProxy's standard output, in the format
	 * idg_haproxy_log_parse() reads. */
	bool log_stdout;
	/* When not NULL: a digest of every pattern file written (the
	 * configuration names them; their content is the rules). */
	uint64_t *pat_digest;
};

/* One request as HAProxy logged it (log_stdout). */
struct idg_l7_logline {
	char client[64], server[64]; /* addresses */
	uint16_t client_port, server_port;
	uint32_t peer;     /* the sender's identity */
	bool allowed;
	uint32_t cookie;   /* the grant that admitted it or, denied, named */
	int alt;           /* its http entry; -1: every request / none */
	int status;        /* HTTP status sent */
	char method[32];
	char path[1024];
};

/* 0, or -EINVAL for a line that is not one of idgate's. */
int idg_haproxy_log_parse(const char *line, struct idg_l7_logline *l);

/*
 * Writes the configuration for c's L7 table (c->l7) to cfg and its
 * pattern files into o->dir. Requests to a port the table does not list
 * are denied (fail closed). Returns 0 or negative errno.
 */
int idg_haproxy_write(const struct idg_compiled *c,
		      const struct idg_haproxy_opts *o, FILE *cfg);

/* The response to a denied request, as Cilium's proxy gives it. */
#define IDG_L7_DENY_STATUS 403
#define IDG_L7_DENY_BODY "Access denied"

#endif /* IDGATE_LOADER_PROXY_HAPROXY_H */
