// SPDX-License-Identifier: GPL-2.0
/* idgate: the command line. One function per command, do_<command>(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "cli.h"
#include "cmd.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	/* Warnings matter (a verifier log on a failed load); debug does not. */
	if (level == LIBBPF_DEBUG || (level == LIBBPF_INFO && !getenv("IDGATE_DEBUG")))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int libxdp_print(enum libxdp_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBXDP_DEBUG || (level == LIBXDP_INFO && !getenv("IDGATE_DEBUG")))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

#define O(x) (1u << (x))
#define INSTANCE (O(OPT_NODE) | O(OPT_PIN_DIR) | O(OPT_STATE_DIR))
#define KVSTORE                                                            \
	(O(OPT_KV_ENDPOINTS) | O(OPT_KV_CA) | O(OPT_KV_CERT) | O(OPT_KV_KEY) | \
	 O(OPT_KV_SERVER_ID) | O(OPT_KV_USER) | O(OPT_KV_PASSWORD_FILE) |      \
	 O(OPT_KV_PREFIX))

static const struct idg_cmd cmds[] = {
	{ "check", do_check, O(OPT_CONFIG) | INSTANCE, NULL, false,
	  "validate a config for this node; touches nothing",
	  "idgate check -c configs/billing-api.yaml --node node-a" },
	{ "apply", do_apply,
	  O(OPT_CONFIG) | INSTANCE | O(OPT_DRY_RUN) | O(OPT_EVENT_INTERVAL),
	  NULL, false,
	  "validate, compile, load and attach, or switch atomically to the new policy (through idgate run when one runs for the node)",
	  "idgate apply -c configs/billing-api.yaml --node node-a" },
	{ "run", do_run,
	  O(OPT_CONFIG) | INSTANCE | O(OPT_EVENT_INTERVAL) | O(OPT_METRICS_ADDRESS) |
		  KVSTORE | O(OPT_KV_REMOTE_TTL),
	  NULL, false,
	  "foreground daemon: apply, reload complete file changes (a file or a directory of *.yaml) and on SIGHUP, re-attach lost programs, gateway health and NAT GC, metrics, control socket for apply and status",
	  "idgate run -c /etc/idgate/ --metrics-address 127.0.0.1:9464   (systemd: configs/idgate.service)" },
	{ "status", do_status, INSTANCE | O(OPT_OUTPUT), NULL, false,
	  "programs, interface, generation, map occupancy, verdict counters, the daemon's last change",
	  "idgate status --node node-a -o json" },
	{ "identity list", do_identity_list, INSTANCE | O(OPT_OUTPUT), NULL,
	  false, "security identities with their labels and cluster",
	  "idgate identity list --node node-a" },
	{ "policy get", do_policy_get, INSTANCE | O(OPT_OUTPUT), "[ENDPOINT]",
	  false,
	  "compiled rules of local endpoints, peers as labels, per-rule counters",
	  "idgate policy get billing-api --node node-a" },
	{ "policy trace", do_policy_trace,
	  INSTANCE | O(OPT_OUTPUT) | O(OPT_SRC) | O(OPT_DST) | O(OPT_PROTO) |
		  O(OPT_DPORT) | O(OPT_DIRECTION) | O(OPT_ICMP_TYPE) |
		  O(OPT_HTTP_METHOD) | O(OPT_HTTP_PATH) | O(OPT_HTTP_HOST),
	  NULL, false,
	  "would this packet pass, and why? runs the live program on it, no side effects (exit 0 allow, 1 deny, 2 error)",
	  "idgate policy trace --src frontend --dst billing-api --proto tcp --dport 8080 --node node-a\n"
	  "  idgate policy trace --src world --dst billing-api --icmp-type EchoRequest --node node-a\n"
	  "  idgate policy trace --src frontend --dst billing-api --dport 8080 --http-method GET --http-path /api/v1/admin/metrics --node node-a" },
	{ "egress list", do_egress_list, INSTANCE | O(OPT_OUTPUT), NULL, false,
	  "egress gateway routes, chosen gateways and their health",
	  "idgate egress list --node node-a -o json" },
	{ "nat list", do_nat_list, INSTANCE | O(OPT_OUTPUT), NULL, false,
	  "the gateway's SNAT table: original and translated tuples, age",
	  "idgate nat list --node gw-b1" },
	{ "nat sources", do_nat_sources, INSTANCE | O(OPT_OUTPUT), NULL, false,
	  "the gateway's SNAT mappings per source: held, quota, new flows refused",
	  "idgate nat sources --node gw-b1 -o json" },
	{ "health", do_health, INSTANCE, NULL, false,
	  "foreground: answer gateway probes (gateway) and probe gateways (source node)",
	  "idgate health --node node-a" },
	{ "monitor", do_monitor,
	  INSTANCE | O(OPT_OUTPUT) | O(OPT_TYPE) | O(OPT_RELATED_TO), NULL, false,
	  "stream drop events: reason, identities with labels, deciding rule",
	  "idgate monitor --node node-a --related-to billing-api -o json\n"
	  "  idgate monitor --node node-a --type l7" },
	{ "kvstore check", do_kvstore_check,
	  O(OPT_CONFIG) | O(OPT_NODE) | KVSTORE,
	  NULL, false,
	  "can this node join the cluster mesh? its certificate, the store's members, its login, reading the mesh, writing its own keys and not another node's (docs/mesh.md)",
	  "idgate kvstore check -c /etc/idgate/ --node node-a --kvstore-endpoints https://10.0.0.5:2379 \\\n"
	  "      --kvstore-ca ca.pem --kvstore-cert node-a.pem --kvstore-key node-a-key.pem \\\n"
	  "      --kvstore-server-id spiffe://mesh.example/etcd/server --kvstore-user idgate-a-node-a --kvstore-password-file /etc/idgate/etcd-password" },
	{ "demo", do_demo, 0, NULL, false,
	  "the embedded default: both reference scenarios in network namespaces, narrated, then removed",
	  "idgate demo" },
	{ "unload", do_unload, INSTANCE, NULL, false,
	  "detach and unpin everything of this instance",
	  "idgate unload --node node-a" },
	{ 0 },
};

int main(int argc, char **argv)
{
	libbpf_set_print(libbpf_print);
	libxdp_set_print(libxdp_print);
	return idg_cli_run(cmds, argc, argv);
}
