/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Building one generation of datapath state beside the live one and
 * switching to it atomically.
 *
 *   struct idg_gen g;
 *   idg_gen_create(&g, NULL);
 *   idg_gen_ipcache_add(&g, ...); idg_gen_ep_add(&g, ...);
 *   idg_gen_policy_add(&g, ...);
 *   idg_gen_commit(&dp, &g, &gen);   // packets now read the new set
 *   idg_gen_destroy(&g);
 *
 * A generation is built in memory. Committing brings the inner maps of
 * the idle slot to exactly that content: entries it lacks are written,
 * entries it no longer has are deleted, the rest is left alone. The inner
 * maps stay in their slots from one commit to the next; only a missing
 * map or one of another shape is replaced (which costs an RCU grace
 * period per map-in-map update). Then one 4-byte write of idg_gen[0]
 * switches the datapath over. See docs/architecture.md, "Generations".
 */
#ifndef IDGATE_LOADER_GEN_H
#define IDGATE_LOADER_GEN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <idgate/datapath.h>
#include <idgate/egw.h>

#include "compile.h"
#include "dp.h"

struct idg_gen_limits {
	uint32_t ipcache;
	uint32_t endpoints;
	uint32_t policy;
};

/* A set of fixed-size key/value entries, unique by key (gen_kv.c). */
struct idg_kv {
	uint32_t ksz, vsz;
	uint8_t *ent; /* n entries of ksz + vsz bytes, in insertion order */
	uint32_t n, cap;
	uint32_t *idx; /* open addressing: entry number + 1, 0 = free */
	uint32_t idx_mask;
	uint32_t max;  /* capacity of the kernel map */
	int full_err;  /* what the kernel says when it is full */
	bool lpm;      /* keys are normalised: no bits past the prefix */
};

/* The per-generation maps whose entries a commit reconciles. */
enum idg_gen_map {
	IDG_GM_IPC,
	IDG_GM_EP,
	IDG_GM_POL,    /* entries for one peer identity */
	IDG_GM_POLANY, /* entries for any peer */
	IDG_GM_PAIR,   /* {subject, peer, dir} -> kinds present in POL, POLX */
	IDG_GM_IPCH,   /* ipcache host addresses (exact) */
	IDG_GM_POLX,   /* per-peer exact entries, folded (gen_fold.c) */
	IDG_GM_EGW,
	IDG_GM_GWSET,
	IDG_GM_NODE,
	IDG_GM_EPH,    /* endpoint host addresses (exact) */
	IDG_GM_N_SET,
	/* Single-entry arrays, written whole at every commit. */
	IDG_GM_CFG = IDG_GM_N_SET,
	IDG_GM_TUN,
	IDG_GM_N,
};

struct idg_gen {
	struct idg_kv m[IDG_GM_N_SET];
	/* Per-peer entries of one protocol and port, by kind, as added:
	 * what idg_gen_fold() folds into m[IDG_GM_POLX]. */
	struct idg_kv polx_raw;
	struct idg_gen_limits lim;
	bool ready;
	struct idg_cfg cfg; /* written at commit; fill before */
	struct idg_tun_cfg tun; /* written at commit; fill before */
	uint32_t n_ipcache;
	uint32_t n_endpoints;
	uint32_t n_policy; /* LPM entries, after port-range expansion */
};

/* NULL limits: the capacities of include/idgate/consts.h. A zeroed
 * struct idg_gen may be destroyed. */
int idg_gen_create(struct idg_gen *g, const struct idg_gen_limits *lim);
void idg_gen_destroy(struct idg_gen *g);

/* family is IDG_FAM_IPV4/IPV6, addr 4 or 16 bytes in network order. */
int idg_ip_key_make(struct idg_ip_key *k, int family, const void *addr,
		    unsigned int plen, uint16_t cluster_id);

int idg_gen_ipcache_add(struct idg_gen *g, const struct idg_ip_key *k,
			const struct idg_ipcache_val *v);
int idg_gen_ep_add(struct idg_gen *g, const struct idg_ip_key *k,
		   const struct idg_ep_val *v);
/* Adds the LPM entries of one rule. An entry already present keeps its
 * first cookie: the earlier rule is credited. */
int idg_gen_policy_add(struct idg_gen *g, const struct idg_rule_entry *r);

/* Egress gateway entries; gwset index < IDG_GWSET_MAX. */
int idg_gen_egw_add(struct idg_gen *g, const struct idg_egw_key *k,
		    const struct idg_egw_val *v);
int idg_gen_gwset_set(struct idg_gen *g, uint32_t index,
		      const struct idg_gwset *set);
int idg_gen_node_add(struct idg_gen *g, __be32 tunnel_ip,
		     const struct idg_node_val *v);

/*
 * Waits for an RCU grace period: when it returns, every BPF program that
 * was running when it was called has finished. Uses a private map, so it
 * needs no lock and changes nothing shared.
 */
int idg_rcu_barrier(void);

/*
 * The grace period a commit needs before it may write the idle slot, run
 * in a thread while the caller does other work (parse, compile). It is
 * good for the commit if the active generation is still the one seen when
 * it started: then every program that could read the idle slot started
 * before that generation was switched in, and has finished.
 */
struct idg_gen_quiesce {
	pthread_t th;
	bool started;
	bool done;
	int err;
	uint32_t gen; /* active generation when the grace period began */
	uint32_t gen_map_id; /* of the instance's idg_gen: the same instance */
	char gen_pin[4096];
};

/* Nothing is started (and 0 returned) when pin_dir holds no instance. */
int idg_gen_quiesce_start(struct idg_gen_quiesce *q, const char *pin_dir);
/* Joins the thread (safe to call twice, or when nothing was started). */
void idg_gen_quiesce_wait(struct idg_gen_quiesce *q);

struct idg_gen_commit_opts {
	/* A finished idg_gen_quiesce (NULL: the commit waits for a grace
	 * period itself when it needs one). */
	const struct idg_gen_quiesce *quiesce;
	/* Where the content of each slot is recorded (the instance's state
	 * dir), so that the next commit to a slot need not read it back
	 * from the kernel. NULL: read it back. */
	const char *shadow_dir;
};

struct idg_gen_commit_stats {
	uint32_t written;   /* entries added or changed in the idle slot */
	uint32_t deleted;   /* entries removed from it */
	uint32_t replaced;  /* inner maps created (missing or reshaped) */
	bool waited;        /* a grace period was waited for in the commit */
	bool read_back;     /* the slot's content was read from the kernel */
	double switch_ms;   /* from the commit's start to the switch */
	double switched_at; /* the switch, on idg_now_ms()'s clock */
	double record_ms;   /* writing the slot's record, after the switch */
};

/*
 * Make g the active generation G+1: the inner maps of slot (G+1)&1 (which
 * no packet is reading: see idg_gen_quiesce) are brought to g's content,
 * then idg_gen[0] becomes G+1. Packets that read G keep using slot G&1,
 * which this commit does not touch. On failure the active generation is
 * unchanged. stats may be NULL.
 */
int idg_gen_commit_ex(const struct idg_dp *dp, struct idg_gen *g,
		      const struct idg_gen_commit_opts *o, uint32_t *new_gen,
		      struct idg_gen_commit_stats *stats);
int idg_gen_commit(const struct idg_dp *dp, struct idg_gen *g,
		   uint32_t *new_gen);

/*
 * Test hook (tests/integration/test_apply_killed.sh, test_faults.sh), not
 * an interface: with IDGATE_TEST_KILL_AT=STEP in the environment the
 * process SIGKILLs itself at STEP: "attach", "attached" (first apply),
 * "switch" (a generation filled, not switched to), "switched" (switched,
 * nothing recorded yet).
 */
void idg_test_kill_at(const char *step);

/* The files idg_gen_commit_ex() keeps in shadow_dir (for unload). */
#define IDG_GEN_SHADOW_0 "slot0.gen"
#define IDG_GEN_SHADOW_1 "slot1.gen"

/*
 * gen_fold.c: derive what the datapath reads to skip lookups from the
 * entries (the IDG_CFG_F_* facts, the protocol classes of pairs and of
 * any-peer entries, the folded exact verdicts). idg_gen_commit_ex()
 * calls it; calling it again changes nothing.
 */
int idg_gen_fold(struct idg_gen *g);

/* ---- gen_kv.c: the entry sets ---- */
int idg_kv_init(struct idg_kv *t, uint32_t ksz, uint32_t vsz, uint32_t max,
		bool lpm);
void idg_kv_free(struct idg_kv *t);
/* Room for n entries in all, at once: a fill of known size grows its
 * index once instead of at every doubling. */
int idg_kv_reserve(struct idg_kv *t, uint32_t n);
/* The value of key, or NULL. */
void *idg_kv_get(const struct idg_kv *t, const void *key);
/*
 * Insert key (normalised first for an LPM map) with value v; an existing
 * entry is overwritten, or kept when keep_old. Returns 1 when the key is
 * new, 0 when it existed, or -errno (the kernel map's own error when it
 * would be full, -EINVAL for a prefix longer than the key).
 */
int idg_kv_put(struct idg_kv *t, const void *key, const void *v,
	       bool keep_old);
/* The value of key, added as v when absent, in one lookup: *res is 1
 * when added, 0 when it was there, -errno (and NULL returned) as
 * idg_kv_put says. */
void *idg_kv_upsert(struct idg_kv *t, const void *key, const void *v,
		    int *res);
static inline uint8_t *idg_kv_key(const struct idg_kv *t, uint32_t i)
{
	return t->ent + (size_t)i * (t->ksz + t->vsz);
}
static inline uint8_t *idg_kv_val(const struct idg_kv *t, uint32_t i)
{
	return idg_kv_key(t, i) + t->ksz;
}
/* LPM keys: clear every bit after the prefix; -EINVAL when the prefix is
 * longer than the key. */
int idg_lpm_key_norm(void *key, uint32_t ksz);

#endif /* IDGATE_LOADER_GEN_H */
