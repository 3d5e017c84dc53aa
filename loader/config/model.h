/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The config as parsed and validated from YAML (loader/config.c), before
 * identities and policy compilation (loader/compile.c). Every object keeps
 * the position it came from so later stages report FILE:LINE:COL too.
 * All strings and arrays are owned by the idg_config and freed by
 * idg_config_free().
 */
#ifndef IDGATE_LOADER_MODEL_H
#define IDGATE_LOADER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <idgate/datapath.h>

#include "diag.h"
#include "util/strmap.h"

/* Labels Cilium derives from the namespace and the cluster. */
#define IDG_LABEL_NAMESPACE "io.kubernetes.pod.namespace"
#define IDG_LABEL_CLUSTER "io.cilium.k8s.policy.cluster"
#define IDG_ANNOTATION_GATEWAY "egress.cilium.io/gateway-name"

/* A node name is a directory under the pin and state roots. */
#define IDG_NODE_NAME_MAX 253
#define IDG_NODE_NAME_RULE                                                \
	"1-253 characters of a-z, 0-9, '-' and '.', each dot-separated part starting and ending with a letter or digit"

struct idg_label {
	char *key;
	char *value; /* "" for a key without value */
};

/* Sorted by key, keys unique. */
struct idg_labels {
	struct idg_label *v;
	size_t n;
};

enum idg_sel_op {
	IDG_SEL_IN,
	IDG_SEL_NOT_IN,
	IDG_SEL_EXISTS,
	IDG_SEL_DOES_NOT_EXIST,
};

struct idg_sel_expr {
	char *key;
	enum idg_sel_op op;
	char **values; /* In / NotIn only */
	size_t n_values;
	struct idg_pos pos;
};

/*
 * A Kubernetes label selector. Keys are stored without a Cilium source
 * prefix ("k8s:" and "any:" are stripped by the parser). An empty
 * selector ({}) has no labels and no expressions.
 */
struct idg_selector {
	struct idg_labels match_labels;
	struct idg_sel_expr *exprs;
	size_t n_exprs;
	struct idg_pos pos;
};

struct idg_cidr {
	int family; /* IDG_FAM_IPV4 / IDG_FAM_IPV6 */
	uint8_t addr[16]; /* host bits cleared */
	unsigned int plen;
	struct idg_pos pos;
};

/* "ADDR/LEN" into buf (INET6_ADDRSTRLEN + 4 bytes is enough). */
const char *idg_cidr_str(const struct idg_cidr *c, char *buf, size_t len);

/* fromCIDR entries become sets without exceptions. */
struct idg_cidr_set {
	struct idg_cidr cidr;
	struct idg_cidr *except;
	size_t n_except;
};

/* fromEntities / toEntities, a bit each. */
enum idg_entity {
	IDG_ENT_WORLD = 1u << 0,
	IDG_ENT_CLUSTER = 1u << 1,
	IDG_ENT_HOST = 1u << 2,
	IDG_ENT_REMOTE_NODE = 1u << 3,
	IDG_ENT_ALL = 1u << 4,
};

struct idg_port_rule {
	uint16_t port;     /* 0: every port (Cilium's meaning) */
	uint16_t end_port; /* 0 or < port: just port (a warning was given) */
	uint8_t proto;     /* IPPROTO_TCP/UDP/SCTP; 0 = ANY (TCP+UDP+SCTP) */
	/* The toPorts entry's L7 rules: an index into the rule's l7, or -1
	 * for none (L3/L4 only). */
	int l7;
	struct idg_pos pos;
};

/*
 * One element of rules.http (Cilium's PortRuleHTTP). method, path and
 * host are whole-value regexes (NULL: any); every header must be there,
 * with exactly value when value is not NULL. The fields are ANDed.
 */
struct idg_http_header {
	char *name;
	char *value; /* NULL: present with any value */
	struct idg_pos pos;
};

struct idg_http_rule {
	char *method;
	char *path; /* the request target, query included, as Envoy's :path */
	char *host; /* the Host header (:authority) */
	struct idg_http_header *headers; /* headers and headerMatches */
	size_t n_headers;
	struct idg_pos pos;
};

/* The L7 rules of one toPorts entry: alternatives, any one admits a
 * request. Only HTTP for now. */
struct idg_l7_rules {
	struct idg_http_rule *http;
	size_t n_http;
	struct idg_pos pos; /* of the rules key */
};

struct idg_icmp_rule {
	int family; /* IDG_FAM_IPV4 (default) or IDG_FAM_IPV6 */
	int type;   /* 0..255, names already resolved */
	struct idg_pos pos;
};

/*
 * One element of ingress / egress / ingressDeny / egressDeny. The has_*
 * flags say which peer fields were present at all: a rule with none of
 * them selects every peer; a field present but empty selects nothing.
 */
struct idg_rule {
	bool has_endpoints; /* fromEndpoints / toEndpoints */
	struct idg_selector *endpoints;
	size_t n_endpoints;
	bool has_cidrs; /* fromCIDR(Set) / toCIDR(Set) */
	struct idg_cidr_set *cidrs;
	size_t n_cidrs;
	bool has_entities;
	unsigned int entities; /* enum idg_entity bits */
	/* toPorts[].ports[] flattened; none = every port and protocol */
	struct idg_port_rule *ports;
	size_t n_ports;
	struct idg_l7_rules *l7; /* the toPorts entries' rules sections */
	size_t n_l7;
	struct idg_icmp_rule *icmps; /* icmps[].fields[] flattened */
	size_t n_icmps;
	struct idg_pos pos;
};

enum idg_rule_set {
	IDG_RS_INGRESS,
	IDG_RS_EGRESS,
	IDG_RS_INGRESS_DENY,
	IDG_RS_EGRESS_DENY,
	IDG_RS_MAX,
};

/* Its key in a policy spec: "ingress", ..., "egressDeny". */
const char *idg_rule_set_name(enum idg_rule_set s);

struct idg_policy {
	char *name;
	char *namespace; /* NULL for CiliumClusterwideNetworkPolicy */
	bool clusterwide;
	/* spec.endpointSelector, or spec.nodeSelector (clusterwide only):
	 * then the policy is a host policy and selects nodes by label. */
	bool node_selector;
	struct idg_selector subject;
	/* spec.enableDefaultDeny.{ingress,egress}: -1 unset, 0 false, 1 true */
	int default_deny[2];
	/* present[k]: the section appeared (even as an empty list) */
	bool present[IDG_RS_MAX];
	struct idg_rule *rules[IDG_RS_MAX];
	size_t n_rules[IDG_RS_MAX];
	struct idg_pos pos;
};

enum idg_xdp_mode {
	IDG_XDP_AUTO,
	IDG_XDP_NATIVE,
	IDG_XDP_SKB,
	IDG_XDP_TC, /* no XDP: the same verdict at tc ingress */
};

enum idg_enforcement {
	IDG_ENF_DEFAULT, /* same numbers as IDG_ENFORCE_* */
	IDG_ENF_ALWAYS,
	IDG_ENF_NEVER,
};

struct idg_node {
	char *name;
	struct idg_labels labels;
	struct idg_labels annotations;
	char *gateway_name; /* annotation egress.cilium.io/gateway-name, or NULL */
	char *cluster;
	uint32_t cluster_id; /* 1..255 */
	bool has_tunnel_ip;
	struct idg_cidr tunnel_ip; /* full-length prefix */
	char *uplink;
	char **endpoint_ifaces;
	size_t n_endpoint_ifaces;
	/* spec.interfaces.unknownEtherTypes: drop what is neither IP, ARP
	 * nor VLAN at the uplink (default: pass). */
	bool drop_unknown_ethertypes;
	char *external; /* gateway nodes, or NULL */
	bool has_egress_ip;
	struct idg_cidr egress_ip;
	/* spec.egress.maxMappingsPerSource; 0: the default */
	uint32_t nat_src_quota;
	/* spec.egress.natPortRange; both 0: the default */
	uint16_t nat_port_min, nat_port_max;
	enum idg_xdp_mode xdp_mode;
	enum idg_enforcement enforcement;
	struct idg_pos pos;
};

struct idg_endpoint {
	char *name;
	char *namespace; /* "default" when omitted */
	struct idg_labels labels; /* as written, without namespace/cluster */
	char *node;
	struct idg_cidr *ips;
	size_t n_ips;
	uint32_t pinned_identity; /* spec.identity (local id), 0 = none */
	/* spec.interface: the workload interface of its node it sends from
	 * (one of the node's spec.interfaces.endpoints), or NULL. */
	char *interface;
	struct idg_pos interface_pos;
	struct idg_pos pos;
	/* Taken from a cluster mesh's store that has not answered for longer
	 * than its TTL (set after the load, idg_config_cache.extra_expired):
	 * its addresses are judged remote-identity-expired. */
	bool expired;
};

struct idg_egw_selector {
	struct idg_selector pod;
	bool has_namespace;
	struct idg_selector ns; /* namespaceSelector over namespace labels */
	struct idg_pos pos;
};

struct idg_egw_gateway {
	char *gateway_name; /* Nodes annotated egress.cilium.io/gateway-name */
	char *cluster_name; /* NULL: the source's own cluster */
	bool has_node_selector; /* Cilium's own form: select nodes by label */
	struct idg_selector node_selector;
	char *interface;    /* optional, NULL */
	bool has_egress_ip;
	struct idg_cidr egress_ip;
	struct idg_pos pos;
};

struct idg_egw_policy {
	char *name;
	struct idg_egw_selector *selectors;
	size_t n_selectors;
	struct idg_cidr *destinations;
	size_t n_destinations;
	struct idg_cidr *excluded;
	size_t n_excluded;
	struct idg_egw_gateway *gateways; /* egressGateway, or egressGateways[] */
	size_t n_gateways;
	struct idg_pos pos;
};

struct idg_id_allocs;
struct idg_config {
	char *file; /* the path given: a file, or a directory of *.yaml */
	bool dir; /* file is a config directory */
	/* A directory's files, in the order read: positions point here. */
	char **srcs;
	size_t n_srcs;
	/* The bytes parsed, per file (one for a config file): what an apply
	 * saves as applied, whatever the files hold by then. */
	char **texts;
	size_t *text_lens;
	size_t n_texts;
	/* Loaded through a config cache: the objects above are copies of
	 * what these parsed files own (config_cache.h); srcs too. */
	struct idg_cfg_frag **frags;
	size_t n_frags;
	struct idg_node *nodes;
	size_t n_nodes;
	struct idg_endpoint *endpoints;
	size_t n_endpoints;
	struct idg_policy *policies;
	size_t n_policies;
	struct idg_egw_policy *egw_policies;
	size_t n_egw_policies;
	/* Identity numbers from a cluster mesh's store (compile.h), set after
	 * the load by idgate run; NULL: none. Not owned. */
	const struct idg_id_allocs *allocs;
};

/*
 * Parse and validate path: a file, or a directory whose *.yaml files
 * (not hidden ones) are read in name order (bytewise) as one stream.
 * Returns 0 when there is no error (warnings may
 * have been added to d), -EINVAL when d holds at least one error, or
 * another -errno when the file cannot be read (also reported in d).
 */
int idg_config_load(const char *path, struct idg_config *cfg,
		    struct idg_diags *d);
/* The same from memory; name is used in positions. */
int idg_config_load_string(const char *name, const char *text,
			   struct idg_config *cfg, struct idg_diags *d);
void idg_config_free(struct idg_config *cfg);
/* Is name one a config directory reads (a watcher's filter)? */
bool idg_config_dir_wants(const char *name);

/* An ICMP (family IDG_FAM_IPV4) or ICMPv6 type as icmps.fields.type
 * takes it: 0..255 or one of Cilium's names. The type, or -EINVAL. */
int idg_icmp_type_parse(const char *s, int family);

/* name is a Kubernetes DNS subdomain (IDG_NODE_NAME_RULE), as Node
 * object names are: never "", ".", ".." or anything with a '/'. */
bool idg_node_name_ok(const char *name);

/*
 * config_mesh.c, the documents nodes share through the mesh's store
 * (docs/mesh.md). idg_mesh_endpoints_doc: the Endpoint documents of node
 * in cfg in one canonical form (sorted, spec.interface and spec.identity
 * left out), into *text (malloc'ed; "" when it has none).
 * idg_mesh_doc_check: whether text, published under the keys of node of
 * cluster, may join local: node is local's and in that cluster, the
 * documents are Endpoints of that node only, without spec.interface or
 * spec.identity, and none takes the name or an address of another
 * node's endpoint in that cluster or of another in the text. -EINVAL
 * with diagnostics at name:LINE:COL; *n_endpoints (may be NULL): how many
 * endpoints the text has. claims (may be NULL: built from local for this
 * call) say which node has each name and address.
 */
int idg_mesh_endpoints_doc(const struct idg_config *cfg, const char *node,
			   char **text, size_t *len);
/* The names and addresses of a cluster's endpoints, each with the node
 * that has it: idg_mesh_claims_init from the local config; each document
 * idg_mesh_doc_check accepts with them replaces its node's, so the next
 * document sees it. Kept from one hand-over to the next, they stay what
 * the config's files say while only the documents change. */
struct idg_mesh_claim_keys {
	char **v; /* borrowed by the map */
	size_t n;
};
struct idg_mesh_claims {
	struct idg_strmap map; /* "CLUSTER ns/name" | "CLUSTER addr" -> node */
	char **nodes;
	struct idg_mesh_claim_keys *keys; /* per node: the keys it holds */
	size_t n_nodes;
	struct idg_strmap node_ix; /* node name -> index in nodes */
};
int idg_mesh_claims_init(struct idg_mesh_claims *c, const struct idg_config *cfg);
void idg_mesh_claims_free(struct idg_mesh_claims *c);
/* node holds nothing any more (its document withdrawn or refused). */
void idg_mesh_claims_release(struct idg_mesh_claims *c, const char *node);
int idg_mesh_doc_check(const char *name, const char *text, size_t len,
		       const char *cluster, const char *node,
		       const struct idg_config *local, struct idg_diags *d,
		       size_t *n_endpoints, struct idg_mesh_claims *claims);

const struct idg_node *idg_config_node(const struct idg_config *cfg,
				       const char *name);

/* Label and CIDR helpers shared by the parser and the compiler. */
/* ---- labels.c ---- */
const char *idg_labels_get(const struct idg_labels *l, const char *key);
void idg_labels_free(struct idg_labels *l);
int idg_labels_copy(struct idg_labels *dst, const struct idg_labels *src);
/* Insert or replace key; keeps the set sorted. */
int idg_labels_set(struct idg_labels *l, const char *key, const char *value);
/* "k1=v1,k2=v2" ("k" alone for an empty value); ',', '=' and '\' in keys
 * and values are escaped with '\' so two sets never share a string. */
char *idg_labels_canon(const struct idg_labels *l);
/* Kubernetes semantics: NotIn and DoesNotExist match a missing key. */
bool idg_selector_matches(const struct idg_selector *s,
			  const struct idg_labels *l);
/* True when the selector names key in matchLabels or an expression. */
bool idg_selector_constrains(const struct idg_selector *s, const char *key);

/* ---- cidr.c ---- */
/* a contains b (same family, a no longer than b, b's bits under a's). */
bool idg_cidr_contains(const struct idg_cidr *a, const struct idg_cidr *b);
/* "10.0.0.0/8" / "fd00::/64" into buf (at least 64 bytes). */
void idg_cidr_format(const struct idg_cidr *c, char *buf, size_t len);
bool idg_cidr_equal(const struct idg_cidr *a, const struct idg_cidr *b);
bool idg_cidr_overlaps(const struct idg_cidr *a, const struct idg_cidr *b);
/* Orders by family, address, then prefix length. */
int idg_cidr_cmp(const struct idg_cidr *a, const struct idg_cidr *b);

#endif /* IDGATE_LOADER_MODEL_H */
