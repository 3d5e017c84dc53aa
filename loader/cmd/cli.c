// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define OPT_BIT(id) (1u << (id))

/* How an option's argument is checked and where it is stored. */
enum opt_kind {
	OK_STR,    /* const char *, as given */
	OK_FLAG,   /* bool, set */
	OK_CHOICE, /* bool or index: one of choices, stored as its index */
	OK_U64,    /* uint64_t, decimal 0..max */
	OK_LONG,   /* long, decimal 0..max */
};

static const char *const output_choices[] = { "text", "json", NULL };

#define STR(field) .kind = OK_STR, .off = offsetof(struct idg_opts, field)

static const struct opt_def {
	struct option lopt;
	const char *metavar;
	const char *help;
	enum opt_kind kind;
	size_t off;                 /* of the field in struct idg_opts */
	unsigned long long max;     /* OK_U64, OK_LONG */
	const char *range;          /* OK_U64, OK_LONG: in the error message */
	const char *const *choices; /* OK_CHOICE */
} opt_table[OPT_MAX] = {
	[OPT_CONFIG] = { { "config", required_argument, NULL, 'c' }, "PATH",
			 "config file (YAML: Nodes, Endpoints, Cilium policies), or a directory of *.yaml files read in name order",
		STR(config) },
	[OPT_NODE] = { { "node", required_argument, NULL, 'n' }, "NAME",
		       "node of the config to act as, a-z 0-9 - . (default: host name)",
		STR(node) },
	[OPT_PIN_DIR] = { { "pin-dir", required_argument, NULL, 'p' }, "DIR",
			  "bpffs dir of this instance (default: /sys/fs/bpf/idgate/NODE)",
		STR(pin_dir) },
	[OPT_STATE_DIR] = { { "state-dir", required_argument, NULL, 's' }, "DIR",
			    "identity/cookie history (default: /var/lib/idgate/NODE)",
		STR(state_dir) },
	[OPT_OUTPUT] = { { "output", required_argument, NULL, 'o' }, "FORMAT",
			 "output format: text (default) or json",
		.kind = OK_CHOICE, .off = offsetof(struct idg_opts, json), .choices = output_choices },
	[OPT_DRY_RUN] = { { "dry-run", no_argument, NULL, 'd' }, NULL,
			  "validate and compile, print the summary, touch nothing",
		.kind = OK_FLAG, .off = offsetof(struct idg_opts, dry_run) },
	[OPT_EVENT_INTERVAL] = { { "drop-event-interval", required_argument, NULL, 'e' },
				 "MS", "at most one drop event per flow per MS milliseconds (default 1000; 0: every drop)",
		.kind = OK_U64, .off = offsetof(struct idg_opts, event_interval_ms), .max = 3600000, .range = "milliseconds 0..3600000" },
	[OPT_TYPE] = { { "type", required_argument, NULL, 't' }, "TYPE",
		       "events to show: drop (default; L7 denials too), policy-verdict, trace, l7 (the L7 proxy's verdicts) or all",
		STR(type) },
	[OPT_RELATED_TO] = { { "related-to", required_argument, NULL, 'r' }, "EP",
			     "only events of endpoint EP (name: local endpoint or address) or identity EP (number)",
		STR(related_to) },
	[OPT_SRC] = { { "src", required_argument, NULL, 'S' }, "EP|IP|ENTITY",
		      "trace: source endpoint name, address, or entity world, host or remote-node",
		STR(src) },
	[OPT_DST] = { { "dst", required_argument, NULL, 'D' }, "EP|IP|ENTITY",
		      "trace: destination endpoint name, address, or entity world, host or remote-node",
		STR(dst) },
	[OPT_PROTO] = { { "proto", required_argument, NULL, 'P' }, "PROTO",
			"trace: tcp (default), udp, sctp or icmp",
		STR(proto) },
	[OPT_DPORT] = { { "dport", required_argument, NULL, 'T' }, "N",
			"trace: destination port (default 80; not for icmp)",
		.kind = OK_LONG, .off = offsetof(struct idg_opts, dport), .max = 65535, .range = "0..65535" },
	[OPT_DIRECTION] = { { "direction", required_argument, NULL, 'R' }, "DIR",
			    "trace: ingress (default: judged at the destination) or egress (at the source)",
		STR(direction) },
	[OPT_ICMP_TYPE] = { { "icmp-type", required_argument, NULL, 'I' }, "TYPE",
			    "trace: ICMP (ICMPv6 for IPv6 addresses) type, a number or a name as in icmps (EchoRequest, TimeExceeded, ...); implies --proto icmp",
		STR(icmp_type) },
	[OPT_HTTP_METHOD] = { { "http-method", required_argument, NULL, 'X' }, "METHOD",
			      "trace: the HTTP request's method, for a port with L7 rules (default GET)",
		STR(http_method) },
	[OPT_HTTP_PATH] = { { "http-path", required_argument, NULL, 'Y' }, "PATH",
			    "trace: the HTTP request's target, query included (default /)",
		STR(http_path) },
	[OPT_HTTP_HOST] = { { "http-host", required_argument, NULL, 'Z' }, "HOST",
			    "trace: the HTTP request's Host header (default: none)",
		STR(http_host) },
	[OPT_METRICS_ADDRESS] = { { "metrics-address", required_argument, NULL, 'm' }, "HOST:PORT",
				  "serve Prometheus metrics at http://HOST:PORT/metrics (default 127.0.0.1:9464; off: none)",
		STR(metrics_address) },
	[OPT_KV_ENDPOINTS] = { { "kvstore-endpoints", required_argument, NULL, 'E' }, "URL[,URL...]",
			       "the etcd members, https://HOST:PORT each (mutual TLS only)",
		STR(kv_endpoints) },
	[OPT_KV_CA] = { { "kvstore-ca", required_argument, NULL, 'A' }, "PEM",
			"the CA the members' certificates are signed by",
		STR(kv_ca) },
	[OPT_KV_CERT] = { { "kvstore-cert", required_argument, NULL, 'C' }, "PEM",
			  "this node's client certificate: its URI SAN is spiffe://TRUST-DOMAIN/idgate/CLUSTER/NODE, and no CN (etcd's gateway refuses one)",
		STR(kv_cert) },
	[OPT_KV_KEY] = { { "kvstore-key", required_argument, NULL, 'K' }, "PEM",
			 "the client certificate's key",
		STR(kv_key) },
	[OPT_KV_SERVER_ID] = { { "kvstore-server-id", required_argument, NULL, 'V' }, "SPIFFE-ID",
			       "the URI SAN every member's certificate must carry (spiffe://TRUST-DOMAIN/...); its trust domain is the node's",
		STR(kv_server_id) },
	[OPT_KV_USER] = { { "kvstore-user", required_argument, NULL, 'U' }, "NAME",
			  "the node's etcd user, whose role may write only the node's own keys",
		STR(kv_user) },
	[OPT_KV_PASSWORD_FILE] = { { "kvstore-password-file", required_argument, NULL, 'W' }, "FILE",
				   "the etcd user's password, alone in a file (not on the command line)",
		STR(kv_password_file) },
	[OPT_KV_PREFIX] = { { "kvstore-prefix", required_argument, NULL, 'F' }, "KEY",
			    "where the mesh lives in the store (default /idgate/v1)",
		STR(kv_prefix) },
	[OPT_KV_REMOTE_TTL] = { { "kvstore-remote-ttl", required_argument, NULL, 'L' }, "SECONDS",
				"run: how long the other nodes' endpoints outlive the store's silence before they expire and their traffic is denied (default 60)",
		.kind = OK_U64, .off = offsetof(struct idg_opts, kv_remote_ttl_s), .max = 86400, .range = "seconds 1..86400" },
};

static void cmd_usage(const struct idg_cmd *c, FILE *out)
{
	fprintf(out, "Usage: idgate %s [options]%s%s\n\n%s\n\nOptions:\n",
		c->name, c->arg ? " " : "", c->arg ? c->arg : "", c->summary);
	for (int i = 0; i < OPT_MAX; i++) {
		char left[64];

		if (!(c->opts & OPT_BIT(i)))
			continue;
		snprintf(left, sizeof(left), "-%c, --%s%s%s",
			 opt_table[i].lopt.val, opt_table[i].lopt.name,
			 opt_table[i].metavar ? " " : "",
			 opt_table[i].metavar ? opt_table[i].metavar : "");
		fprintf(out, "  %-30s %s\n", left, opt_table[i].help);
	}
	fprintf(out, "  %-30s %s\n", "-h, --help", "show this help");
	fprintf(out, "\nExample:\n  %s\n", c->example);
}

static void usage(const struct idg_cmd *cmds, FILE *out)
{
	fprintf(out, "Usage: idgate COMMAND [options]\n\n"
		     "Identity-based XDP packet filter driven by Cilium policies.\n\n"
		     "Commands:\n");
	for (const struct idg_cmd *c = cmds; c->name; c++)
		fprintf(out, "  %-16s %s\n", c->name, c->summary);
	fprintf(out, "\nEvery command takes --help, with an example. "
		     "Commands accept unique prefixes (idgate pol g).\n");
}

/* Words of argv that name a command, matched by unique prefix. */
static const struct idg_cmd *find_cmd(const struct idg_cmd *cmds, int argc,
				      char **argv, int *used)
{
	const struct idg_cmd *found = NULL;
	int matches = 0;

	for (const struct idg_cmd *c = cmds; c->name; c++) {
		char name[64], *sp;
		int words = 1;

		snprintf(name, sizeof(name), "%s", c->name);
		sp = strchr(name, ' ');
		if (sp) {
			*sp = '\0';
			words = 2;
		}
		if (argc < 1 + words || strncmp(name, argv[1], strlen(argv[1])))
			continue;
		if (words == 2 && strncmp(sp + 1, argv[2], strlen(argv[2])))
			continue;
		/* An exact first word wins over prefixes of others. */
		if (!strcmp(name, argv[1]) && words == 1) {
			*used = 1;
			return c;
		}
		found = c;
		*used = words;
		matches++;
	}
	return matches == 1 ? found : NULL;
}

static const struct opt_def *opt_find(int ch)
{
	for (int i = 0; i < OPT_MAX; i++)
		if (opt_table[i].lopt.val == ch)
			return &opt_table[i];
	return NULL;
}

/* Check arg against d and store it in *o; 0, or -1 with the message. */
static int opt_store(const struct idg_cmd *c, const struct opt_def *d,
		     const char *arg, struct idg_opts *o)
{
	char *field = (char *)o + d->off, *end;
	unsigned long long v;

	switch (d->kind) {
	case OK_STR:
		memcpy(field, &arg, sizeof(arg));
		return 0;
	case OK_FLAG:
		*(bool *)field = true;
		return 0;
	case OK_CHOICE:
		for (size_t i = 0; d->choices[i]; i++)
			if (!strcmp(arg, d->choices[i])) {
				*(bool *)field = i != 0;
				return 0;
			}
		fprintf(stderr, "idgate %s: unknown %s %s '%s' (%s or %s)\n",
			c->name, d->lopt.name, "format", arg, d->choices[0],
			d->choices[1]);
		return -1;
	case OK_U64:
	case OK_LONG:
		errno = 0;
		v = strtoull(arg, &end, 10);
		if (errno || *end || !*arg || arg[0] == '-' || arg[0] == '+' ||
		    v > d->max) {
			fprintf(stderr, "idgate %s: --%s wants %s, not '%s'\n",
				c->name, d->lopt.name, d->range, arg);
			return -1;
		}
		if (d->kind == OK_U64)
			*(uint64_t *)field = v;
		else
			*(long *)field = (long)v;
		return 0;
	}
	return -1;
}

int idg_cli_run(const struct idg_cmd *cmds, int argc, char **argv)
{
	struct option lopts[OPT_MAX + 2];
	char sopts[3 * OPT_MAX + 2];
	const struct idg_cmd *c;
	struct idg_opts o = { .event_interval_ms = 1000, .dport = -1,
			      .kv_remote_ttl_s = UINT64_MAX };
	int used = 0, n = 0, ch, s = 0;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(cmds, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("idgate %s\n", IDGATE_VERSION);
		return 0;
	}
	c = find_cmd(cmds, argc, argv, &used);
	if (!c) {
		fprintf(stderr, "idgate: unknown or ambiguous command '%s'; see idgate --help\n",
			argv[1]);
		return 2;
	}

	for (int i = 0; i < OPT_MAX; i++) {
		if (!(c->opts & OPT_BIT(i)))
			continue;
		lopts[n++] = opt_table[i].lopt;
		sopts[s++] = (char)opt_table[i].lopt.val;
		if (opt_table[i].lopt.has_arg)
			sopts[s++] = ':';
	}
	lopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lopts[n] = (struct option){ 0 };
	sopts[s++] = 'h';
	sopts[s] = '\0';

	argc -= used;
	argv += used;
	optind = 1;
	while ((ch = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		const struct opt_def *d = opt_find(ch);

		if (ch == 'h') {
			cmd_usage(c, stdout);
			return 0;
		}
		if (!d) {
			cmd_usage(c, stderr);
			return 2;
		}
		if (opt_store(c, d, optarg, &o))
			return 2;
	}
	if (optind < argc && c->arg)
		o.arg = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "idgate %s: unexpected argument '%s'\n", c->name,
			argv[optind]);
		return 2;
	}
	if (c->arg_required && !o.arg) {
		fprintf(stderr, "idgate %s: missing %s\n", c->name, c->arg);
		return 2;
	}
	if ((c->opts & OPT_BIT(OPT_CONFIG)) && !o.config) {
		fprintf(stderr, "idgate %s: missing -c FILE\n", c->name);
		return 2;
	}
	return c->fn(&o);
}
