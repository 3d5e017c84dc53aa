/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Identities and policy compilation: one validated config plus the node
 * we run as become the exact contents of one datapath generation.
 * Pure userspace, no kernel access: unit-testable.
 */
#ifndef IDGATE_LOADER_COMPILE_H
#define IDGATE_LOADER_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <idgate/egw.h>

#include "model.h"
#include "util/strmap.h"
#include "util/util.h"

enum idg_id_kind {
	IDG_IDK_RESERVED,
	IDG_IDK_ENDPOINT,
	IDG_IDK_CIDR,
};

struct idg_identity {
	uint32_t id;
	enum idg_id_kind kind;
	uint32_t cluster_id; /* 0 for reserved and CIDR identities */
	/*
	 * Canonical labels, sorted by key. Endpoint: its labels plus
	 * io.kubernetes.pod.namespace and io.cilium.k8s.policy.cluster.
	 * Reserved: "reserved:NAME" (e.g. reserved:world). CIDR:
	 * "cidr:PREFIX" for its own prefix and every configured prefix
	 * containing it, plus reserved:world.
	 */
	struct idg_labels labels;
	/* The same as one string, "k1=v1,k2=v2": the identity's name. */
	char *canon;
	struct idg_cidr cidr; /* CIDR identities */
	bool pinned;          /* from spec.identity */
	/* labels and canon belong to the compile's identity layer. */
	bool borrowed;
};

struct idg_ipcache_entry {
	struct idg_cidr cidr;
	uint16_t key_cluster; /* cluster id in the LPM key */
	uint32_t identity;
	uint32_t tunnel_ip; /* IPv4 of the hosting node, network order; 0 */
	const char *endpoint; /* name, or NULL (node, CIDR) */
	const char *node;     /* hosting node, or NULL */
	bool expired; /* an expired endpoint of another node (IDG_IPC_F_EXPIRED) */
};

struct idg_local_ep {
	const struct idg_endpoint *ep;
	struct idg_cidr cidr; /* one of ep->ips */
	uint32_t identity;
	uint32_t flags; /* IDG_EP_F_* */
	uint32_t ep_id; /* index of ep in the config, + 1 */
};

/* Maps a rule cookie back to the policy rule it came from. */
struct idg_cookie {
	uint32_t cookie;
	const struct idg_policy *policy;
	enum idg_rule_set set;
	size_t rule_index; /* index within policy->rules[set] */
	/* The state gave this rule this cookie before: its counters go on
	 * meaning the same rule. */
	bool kept;
};

/* One egress-gateway LPM entry (include/idgate/egw.h). */
struct idg_egw_entry {
	uint16_t cluster_id;  /* the source endpoint's cluster */
	uint32_t src_ip;      /* network order */
	struct idg_cidr dst;  /* IPv4 */
	struct idg_egw_val val;
	const struct idg_egw_policy *policy;
	const struct idg_endpoint *source;
};

/* The gateway nodes serving one policy for sources of one cluster. */
struct idg_gwset_entry {
	uint32_t index;
	struct idg_gwset set;
	const struct idg_node *nodes[IDG_GW_PER_SET];
	const struct idg_egw_policy *policy;
	uint32_t src_cluster;
};

/* A node that may send or receive GENEVE (IPv4 tunnelIP). */
struct idg_tunnel_node {
	uint32_t tunnel_ip; /* network order */
	uint32_t cluster_id;
	const struct idg_node *node;
};

/* One policy rule as the datapath sees it, before port-range expansion. */
struct idg_rule_entry {
	uint32_t subject;  /* local endpoint identity */
	uint32_t peer;     /* 0: any peer */
	uint8_t dir;       /* IDG_DIR_* */
	uint8_t kind;      /* IDG_RULE_* */
	uint8_t proto;     /* 0: every protocol (an L3-only rule) */
	uint16_t port;     /* TCP/UDP/SCTP: 0 = every port */
	uint16_t end_port; /* last port of a range; <= port: just port */
	int icmp_type;     /* ICMP/ICMPv6: -1 = every type */
	uint32_t cookie;   /* < IDG_RULES_MAX; 0 means "no counter" */
};

/*
 * L7 (l7.c): the TCP ports of local subjects that some allow rule gives
 * HTTP rules. Such a port goes to the proxy as a whole, as in Cilium:
 * every allow entry covering it becomes a grant, with its HTTP rules or,
 * from a rule without any (L4 only, port 0, L3 only), admitting every
 * request of its peers.
 */
struct idg_l7_grant {
	uint32_t peer;                 /* identity; 0: any peer */
	const struct idg_l7_rules *l7; /* NULL: every request */
	uint32_t cookie;               /* the allow rule's */
};

struct idg_l7_port {
	uint32_t subject;
	uint8_t dir; /* IDG_DIR_* */
	uint16_t port;
	struct idg_l7_grant *grants;
	size_t n_grants;
};

struct idg_l7_table {
	struct idg_l7_port *ports; /* sorted by subject, dir, port */
	size_t n;
};

struct idg_compiled;
/* Whether c's node sends (a source of some egress gateway policy) or
 * receives (a gateway) egress-gateway tunnel traffic. */
bool idg_node_tunnels(const struct idg_compiled *c);

/* From c's rules; idg_compile does it into c->l7. */
int idg_l7_build(const struct idg_compiled *c, struct idg_l7_table *t);
void idg_l7_free(struct idg_l7_table *t);
const struct idg_l7_port *idg_l7_find(const struct idg_l7_table *t,
				      uint32_t subject, uint8_t dir,
				      uint16_t port);

struct idg_compiled {
	const struct idg_node *node;
	uint32_t cluster_id;
	uint32_t enforcement; /* IDG_ENFORCE_* */
	uint32_t host_flags;  /* IDG_EP_F_* for the host subject */
	struct idg_identity *ids; /* sorted by id */
	size_t n_ids;
	struct idg_ipcache_entry *ipcache;
	size_t n_ipcache;
	struct idg_local_ep *eps;
	size_t n_eps;
	struct idg_rule_entry *rules;
	size_t n_rules;
	struct idg_cookie *cookies; /* sorted by cookie */
	size_t n_cookies;
	/* Egress gateway: the same tables on every node of the mesh. */
	struct idg_egw_entry *egw;
	size_t n_egw;
	struct idg_gwset_entry *gwsets;
	size_t n_gwsets;
	struct idg_tunnel_node *tnodes;
	size_t n_tnodes;
	bool is_gateway; /* this node serves some gateway name */
	/* Holds the endpoint identities' labels (compile_int.h). */
	struct idg_id_layer *layer;
	/* The ports the L7 proxy judges, from the rules above: built once
	 * per compile for the steering, the routes, the proxy and the CLI. */
	struct idg_l7_table l7;
};

/*
 * Endpoint identity numbers a cluster mesh's store allocated
 * (docs/mesh.md): the local number of a label set of a cluster, by
 * (cluster name, canonical label string). A compile gives them after
 * pins and before hashing, and holds each number for its label set even
 * where the config has none of it, so that no label set hashes onto it.
 */
struct idg_id_alloc {
	char *cluster;
	char *canon;
	uint32_t local; /* IDG_ID_LOCAL_MIN..0xffff */
};

struct idg_id_allocs {
	struct idg_id_alloc *v; /* owned */
	size_t n;
	struct idg_strmap by_canon; /* (cluster, canon) -> local */
	/* Names the content within the process: a compile memo keeps the
	 * identity layer only while it is the same. */
	uint64_t serial;
};

/* a takes over v (n entries) and indexes it; a label set given two
 * numbers keeps the lower (the one a probe from its hash reaches first
 * is the store's; the other is a race's leftover). Negative errno (a
 * empty then). */
int idg_id_allocs_set(struct idg_id_allocs *a, struct idg_id_alloc *v,
		      size_t n);
/* n entries of v and v itself freed (v may be NULL). */
void idg_id_alloc_v_free(struct idg_id_alloc *v, size_t n);
void idg_id_allocs_free(struct idg_id_allocs *a);
/* The store's number of (cluster, canon), or 0. */
uint32_t idg_id_allocs_get(const struct idg_id_allocs *a, const char *cluster,
			   const char *canon);

/*
 * Numbers handed out before, so that they stay stable across reloads
 * (identities by canonical label string, cookies by rule). Kept in the state
 * dir (--state-dir) as a small text file.
 */
struct idg_state_id {
	char *canon;
	uint32_t id;
};

struct idg_state_cookie {
	char *key; /* "namespace/policy/set/index" */
	uint32_t cookie;
};

struct idg_state_index;
struct idg_state {
	struct idg_state_id *ids;
	size_t n_ids;
	struct idg_state_cookie *cookies;
	size_t n_cookies;
	size_t cap_ids, cap_cookies; /* room the arrays have */
	/* Lookups by name (idg_state_index_build); any change drops it. */
	struct idg_state_index *ix;
	/* Names the content: set from the text it was read from or saved
	 * as (idg_state_memo), kept by a copy, cleared by any change; 0:
	 * unknown. Compile memos key what they keep of a state by it. */
	uint64_t content_id;
};

/* A missing file is an empty state. Returns 0 or -errno. */
int idg_state_load(const char *path, struct idg_state *st);
/* Written to a temporary file and renamed over path. */
int idg_state_save(const char *path, const struct idg_state *st);
void idg_state_free(struct idg_state *st);
int idg_state_dup(struct idg_state *dst, const struct idg_state *src);
/* st->ix: a compile from st finds earlier numbers through it instead of
 * indexing them itself. For a state that serves many compiles (the
 * daemon's memo): it lives as long as st is unchanged. */
int idg_state_index_build(struct idg_state *st);

/*
 * The state file's text as this process last read or wrote it, and what
 * it says: a daemon reloading many times a second takes a copy instead of
 * parsing thousands of lines it wrote itself. The file is still read each
 * time, so a state another process wrote is always the one used.
 */
struct idg_state_memo {
	bool valid;
	char *text;
	size_t len;
	struct idg_state st;
	/* The file as stat saw it when it held text: every idgate writer
	 * replaces it (a new inode), so the same id means the same text
	 * and the file need not be read. */
	bool have_id;
	struct idg_stat_id id;
};
/* m->st becomes what path says (parsed only when its text changed);
 * on failure m is empty. */
int idg_state_load_memo(const char *path, struct idg_state_memo *m);
/* idg_state_save, and m says what path now holds (m zeroed at first). */
int idg_state_save_memo(const char *path, const struct idg_state *st,
			struct idg_state_memo *m);
void idg_state_memo_free(struct idg_state_memo *m);

/*
 * Compile cfg for node_name. st may be NULL (no history); when given it is
 * read for earlier numbers and updated with the ones handed out now.
 * Returns 0, or -EINVAL with errors in d (unknown node, identity
 * collision, rule cookie space exhausted, ...). Warnings (a selector that
 * matches nothing, ...) go to d too.
 */
int idg_compile(const struct idg_config *cfg, const char *node_name,
		struct idg_state *st, struct idg_compiled *out,
		struct idg_diags *d);
/* The same with the earlier numbers in old (may be NULL), left as they
 * are, and the state after this compile in *new_st (empty on failure). */
int idg_compile_with(const struct idg_config *cfg, const char *node_name,
		     const struct idg_state *old, struct idg_state *new_st,
		     struct idg_compiled *out, struct idg_diags *d);
void idg_compiled_free(struct idg_compiled *c);

/*
 * What one compile lends the next (zeroed at first): the endpoint
 * identities and the label index, kept while the config's nodes and
 * endpoints come from the same parsed files of a config cache; and for
 * each policy file, the selector warnings and rule peers it gave against
 * those identities. A policy change then recomputes the identities of
 * nothing and the selectors of its own file. Compiles through a memo
 * give what compiles without one give.
 */
struct idg_pol_memo;
struct idg_compile_memo {
	struct idg_id_layer *layer;
	struct idg_pol_memo *pols; /* per policy file, in file order */
	size_t n_pols;
	uint32_t pols_local;       /* the cluster they were computed in */
	/* The last compile took the identities from here, and that many
	 * policy files. */
	bool reused;
	/* ... or patched it: the files of endpoints that changed redone. */
	bool patched;
	size_t pols_reused;
	/* The "identity moved" warnings of the layer against the earlier
	 * state of content_id moves_state (0: none kept). */
	struct idg_diags moves;
	uint64_t moves_state;
	/* The layer the last compile used (its serial), and the state saved
	 * from that compile with the layer it used: such a state holds each
	 * of the layer's label sets with its number, and nothing else of
	 * them (idg_compile_memo_saved). */
	uint64_t used_layer;
	uint64_t saved_state, saved_layer;
	/* The last compile's cookies, kept per policy file, wait for the
	 * state they went into to be saved (idg_compile_memo_saved). */
	bool hits_unsaved;
	/* Policy files of the last compile whose cookies came from here. */
	size_t pols_hits;
};
int idg_compile_memo_with(const struct idg_config *cfg, const char *node_name,
			  const struct idg_state *old, struct idg_state *new_st,
			  struct idg_compiled *out, struct idg_diags *d,
			  struct idg_compile_memo *memo);
void idg_compile_memo_free(struct idg_compile_memo *m);
/* The last compile's new state was saved as st (its content_id set):
 * what the memo keeps of its cookies holds for a compile from st. */
void idg_compile_memo_saved(struct idg_compile_memo *m,
			    const struct idg_state *st);

struct idg_http_kv {
	const char *name;
	const char *value;
};

/* One request as the rules see it; path is the request target with its
 * query, host the Host header (NULL: none). */
struct idg_http_req {
	const char *method;
	const char *path;
	const char *host;
	const struct idg_http_kv *headers;
	size_t n_headers;
};

struct idg_l7_verdict {
	bool allowed;
	/* allowed: the grant that admitted it; denied: the first grant for
	 * the sender (NULL: none, the sender has no L3/L4 allow here). */
	const struct idg_l7_grant *by;
	int alt; /* the http entry that matched; -1: none or every request */
};

/* The verdict on req from peer at lp; negative errno when a rule's regex
 * does not compile (checked when the config was read). */
int idg_l7_judge(const struct idg_l7_port *lp, uint32_t peer,
		 const struct idg_http_req *req, struct idg_l7_verdict *v);

const struct idg_identity *idg_compiled_identity(const struct idg_compiled *c,
						 uint32_t id);
const struct idg_cookie *idg_compiled_cookie(const struct idg_compiled *c,
					     uint32_t cookie);

#endif /* IDGATE_LOADER_COMPILE_H */
