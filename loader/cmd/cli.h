/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Declarative command line: each command names the options it takes from
 * one typed table (cli.c: each option says how its argument is checked,
 * string, flag, choice or bounded number, and which field of struct
 * idg_opts receives it); one parser fills idg_opts, with no per-option
 * code, and calls do_<command>().
 */
#ifndef IDGATE_LOADER_CLI_H
#define IDGATE_LOADER_CLI_H

#include <stdbool.h>
#include <stdint.h>

enum idg_opt_id {
	OPT_CONFIG,
	OPT_NODE,
	OPT_PIN_DIR,
	OPT_STATE_DIR,
	OPT_OUTPUT,
	OPT_DRY_RUN,
	OPT_EVENT_INTERVAL,
	OPT_TYPE,
	OPT_RELATED_TO,
	OPT_SRC,
	OPT_DST,
	OPT_PROTO,
	OPT_DPORT,
	OPT_DIRECTION,
	OPT_METRICS_ADDRESS,
	OPT_ICMP_TYPE,
	OPT_HTTP_METHOD,
	OPT_HTTP_PATH,
	OPT_HTTP_HOST,
	OPT_KV_ENDPOINTS,
	OPT_KV_CA,
	OPT_KV_CERT,
	OPT_KV_KEY,
	OPT_KV_SERVER_ID,
	OPT_KV_USER,
	OPT_KV_PASSWORD_FILE,
	OPT_KV_PREFIX,
	OPT_KV_REMOTE_TTL,
	OPT_MAX,
};

struct idg_opts {
	const char *config;
	const char *node;
	const char *pin_dir;
	const char *state_dir;
	bool json;
	bool dry_run;
	uint64_t event_interval_ms;
	const char *type;       /* monitor --type */
	const char *related_to; /* monitor --related-to */
	const char *src;        /* policy trace */
	const char *dst;
	const char *proto;
	long dport;             /* -1: not given */
	const char *direction;
	const char *icmp_type;  /* policy trace: number or name */
	/* policy trace: the HTTP request an L7 port's proxy judges */
	const char *http_method, *http_path, *http_host;
	const char *metrics_address; /* run: HOST:PORT or "off"; NULL: default */
	/* The cluster mesh's store (docs/mesh.md); NULL: not given. */
	const char *kv_endpoints, *kv_ca, *kv_cert, *kv_key, *kv_server_id;
	const char *kv_user, *kv_password_file, *kv_prefix;
	uint64_t kv_remote_ttl_s; /* UINT64_MAX: not given */
	const char *arg; /* the positional argument, when the command has one */
};

struct idg_cmd {
	const char *name; /* "policy get" */
	int (*fn)(struct idg_opts *o);
	uint32_t opts;    /* bit per enum idg_opt_id */
	const char *arg;  /* positional, e.g. "[ENDPOINT]", or NULL */
	bool arg_required;
	const char *summary;
	const char *example;
};

/* Parses argv against cmds and runs the chosen command; returns the exit
 * code (2 for usage errors). */
int idg_cli_run(const struct idg_cmd *cmds, int argc, char **argv);

#endif
