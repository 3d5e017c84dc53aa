/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IDGATE_LOADER_CMD_H
#define IDGATE_LOADER_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "compile.h"
#include "config_cache.h"
#include "gen.h"
#include "instance.h"
#include "mesh.h"
#include "model.h"
#include "util/util.h"

int do_check(struct idg_opts *o);
int do_apply(struct idg_opts *o);
int do_status(struct idg_opts *o);
int do_identity_list(struct idg_opts *o);
int do_policy_get(struct idg_opts *o);
int do_unload(struct idg_opts *o);
int do_egress_list(struct idg_opts *o);
int do_nat_list(struct idg_opts *o);
int do_nat_sources(struct idg_opts *o);
int do_health(struct idg_opts *o);
int do_policy_trace(struct idg_opts *o);
int do_demo(struct idg_opts *o);
int do_monitor(struct idg_opts *o);
int do_run(struct idg_opts *o);
int do_kvstore_check(struct idg_opts *o);


/* Shared by the commands (cmd_common.c). */

/* Node name from --node or the host name; instance paths from options. */
int cmd_instance(const struct idg_opts *o, struct idg_instance *in);

/* A config loaded and compiled for in->node, diagnostics printed. */
struct cmd_compiled {
	struct idg_config cfg;
	struct idg_state st;
	struct idg_compiled c;
	struct idg_diags d;
	double compile_ms;
	/* Of a config directory: files in it, and how many were parsed
	 * again (the others came from the cache unchanged). */
	struct idg_config_reuse reuse;
	/* Cookies that name the same rule as before this compile, a bit
	 * each: their counters carry on, every other one starts at zero. */
	uint8_t known_cookies[IDG_RULES_MAX / 8];
};

/* What a daemon keeps from one reload to the next (run): the files of a
 * config directory as parsed, the state file as read or written. */
/* What the applied copy of a config directory holds (cmd_applied.c), as
 * this process last wrote it. */
struct cmd_applied {
	bool valid;
	char **names;  /* file names in applied.d */
	uint64_t *hash; /* idg_config_text_hash() of each one's bytes */
	size_t *len;
	size_t n;
	struct idg_stat_id dir_id; /* applied.d right after the write */
};
void cmd_applied_free(struct cmd_applied *m);
/* The copy of cfg in state_dir: applied.yaml for a config file,
 * applied.d/ for a directory (files whose bytes differ from the copy's
 * written, the others left alone). m may be NULL. Negative errno. */
int cmd_applied_save(const struct idg_config *cfg, const char *state_dir,
		     struct cmd_applied *m);
/* The mesh's identity numbers the applied copy was compiled with, kept
 * beside it (cmd_applied_ids.c): a NULL or empty table removes the file.
 * *saved (may be NULL): the table's serial last written, not written
 * again. Negative errno. */
int cmd_applied_ids_save(const char *state_dir, const struct idg_id_allocs *a,
			 uint64_t *saved);
/* ... read back into a; -ENOENT: none. */
int cmd_applied_ids_load(const char *state_dir, struct idg_id_allocs *a);
/* The path of the applied copy, with a shared lock on it in *lock_fd
 * (close it after reading; -1: nothing to close). -ENOENT: none. */
int cmd_applied_open(const char *state_dir, char *path, size_t len,
		     int *lock_fd);

struct cmd_reuse {
	struct idg_config_cache cfg;
	struct cmd_applied applied;
	struct idg_state_memo state;
	struct idg_compile_memo compile;
	/* Started after each switch: by the next change the grace period
	 * the commit needs has passed while the daemon was idle. */
	struct idg_gen_quiesce grace;
	/* Identity numbers from the mesh's store (cmd_mesh), given to every
	 * compile; NULL without the mesh. */
	const struct idg_id_allocs *allocs;
	uint64_t allocs_saved; /* their serial in the state dir */
};
void cmd_reuse_free(struct cmd_reuse *r);

/* path NULL: the config the last apply saved in the state dir. */
int cmd_compile(const struct idg_instance *in, const char *path,
		struct cmd_compiled *cc);
/* The same through what earlier reloads kept (reuse may be NULL). */
int cmd_compile_cached(const struct idg_instance *in, const char *path,
		       struct cmd_reuse *reuse, struct cmd_compiled *cc);
void cmd_compiled_free(struct cmd_compiled *cc);

/* The node's interfaces exist and are up; errors printed at their
 * position in the config. Fills *uplink and, when the node has one,
 * *external (else external->ifindex stays 0). */
struct idg_iface;
int cmd_check_ifaces(const struct idg_node *n, struct idg_iface *uplink,
		     struct idg_iface *external);

/* The apply path (cmd_apply.c), shared by `apply` and `run`. */
struct cmd_apply_args {
	uint64_t event_interval_ms;
	bool dry_run;
	bool quiet;             /* no compile summary line */
	/* Interfaces deleted and created again under the same name: follow
	 * their new ifindex (run's link watcher). */
	bool follow_renumbered;
	const char *log_prefix; /* before every line printed, or NULL */
	/* Re-parse only what changed since the last reload (run). */
	struct cmd_reuse *reuse;
	/* When not NULL: why the apply step failed, as printed. */
	char *err_out;
	size_t err_len;
};

/*
 * Compile path (NULL: the config the last apply saved), check the
 * interfaces, take the instance lock, apply (first load and attach, or
 * atomic switch plus re-attaching what is missing), save state, release
 * the lock. Diagnostics and result lines are printed. cc and res are
 * filled; the caller frees cc with cmd_compiled_free() in every case.
 * Returns 0 or -errno; on failure the previous generation keeps enforcing.
 */
struct idg_apply_result;
int cmd_apply_config(struct idg_instance *in, const char *path,
		     const struct cmd_apply_args *a, struct cmd_compiled *cc,
		     struct idg_apply_result *res);

/* Gateway health responder / prober and NAT GC (cmd_egress.c), shared by
 * `health` and `run`. */
struct cmd_health;
/* From a compiled config: NULL in *out when this node has nothing to do
 * (message printed unless quiet). Returns 0 or -errno. */
int cmd_health_new(const struct idg_instance *in, const struct idg_compiled *c,
		   bool quiet, struct cmd_health **out);
/* Runs until *stop; returns 0 or -errno. */
int cmd_health_run(struct cmd_health *h, volatile int *stop);
void cmd_health_free(struct cmd_health *h);

/* The identity the datapath gives an address: the longest ipcache prefix
 * of this node's cluster, world when none. */
/* "namespace/policy set[index]" of a rule (clusterwide: no namespace);
 * "-" for none. */
void cmd_rule_origin(const struct idg_cookie *ck, char *buf, size_t len);
uint32_t cmd_addr_identity(const struct idg_compiled *c, int family,
			   const uint8_t *addr);

/* cmd_mesh.c: the store's options and idgate run's part of the mesh. */
/* The files of the other nodes' documents: STATE_DIR/mesh/kvstore:C:N.yaml
 * (and so in the applied copy). */
#define MESH_FILE_PREFIX "kvstore:"
#define IDG_KV_PREFIX_DEFAULT "/idgate/v1" /* --kvstore-prefix */
/* The --kvstore-* options into *eo (strings borrowed from o; *pw the
 * password file's first line, the caller's); a usage message and
 * -errno when one is missing. */
int cmd_store_opts(const struct idg_opts *o, const char *cmd,
		   struct idg_etcd_opts *eo, char **pw);
/* What the main loop made of another node's document, last time. */
struct cmd_mesh_node {
	char *cluster, *node;
	size_t endpoints;
	bool refused;
	bool file;  /* its document is in the mesh directory */
	bool seen;  /* in the hand-over being applied */
};
/* spiffe://TRUST-DOMAIN/idgate/CLUSTER/NODE, the trust domain server_id's:
 * what a node's certificate must name. -EINVAL for a server_id that is
 * not a SPIFFE ID. */
int cmd_spiffe_node_id(const char *server_id, const char *cluster,
		       const char *node, char *out, size_t len);
struct cmd_mesh {
	bool on;
	double remote_ttl_s;  /* the other nodes' endpoints outlive the store by */
	bool expired;         /* ... and have: marked until it answers again */
	bool resync_asked;    /* after the expiry, of the thread */
	struct cmd_mesh_node *nodes;
	size_t n_nodes;
	struct idg_mesh m;
	struct idg_etcd_opts eo;
	char *pw;
	char prefix[512];
	char dir[PATH_MAX]; /* STATE_DIR/mesh: the other nodes' documents */
	char cluster[256], node[256];
	/* The daemon's config cache, which reads the mesh directory (its
	 * extra_dir) and marks its endpoints while they are expired. */
	struct idg_config_cache *cache;
	/* The store's identity numbers, as last taken from the thread. */
	struct idg_id_allocs allocs;
	/* Who has each endpoint name and address, as the config's files say
	 * (claims_ok): kept while only the mesh's documents change. */
	struct idg_mesh_claims claims;
	bool claims_ok;
};
/* Off (0) without --kvstore-endpoints; else the options checked and the
 * mesh directory emptied (config must be a directory). */
int cmd_mesh_init(struct cmd_mesh *cm, const struct idg_opts *o,
		  const struct idg_instance *in, const char *config);
/* After a load: the thread started (the first time), this node's
 * endpoints handed to it, and the label sets of its endpoints that have
 * no number in the store yet. */
void cmd_mesh_loaded(struct cmd_mesh *cm, const struct cmd_compiled *cc);
/* The store's identity numbers and the other nodes' documents, when the
 * thread has new ones: the numbers taken, the documents checked against
 * cfg and written to or removed from the mesh directory. True when either
 * changed (a reload is due). */
bool cmd_mesh_apply(struct cmd_mesh *cm, const struct idg_config *cfg);
void cmd_mesh_free(struct cmd_mesh *cm);
/* The config's files changed other than through the mesh: what is known
 * of who has each name and address is built again at the next document. */
void cmd_mesh_files_changed(struct cmd_mesh *cm);
/* The store silent for longer than remote_ttl_s: the other nodes'
 * documents marked expired (true: a reload is due, after which the
 * datapath drops their traffic as remote-identity-expired, established
 * flows too, as it re-judges them). */
bool cmd_mesh_expire(struct cmd_mesh *cm);
/* The store's health and the other nodes' documents, for idgate status
 * (NULL when the mesh is off). */
struct json_object *cmd_mesh_json(struct cmd_mesh *cm);

#endif
