// SPDX-License-Identifier: GPL-2.0
/*
 * What the datapath reads to skip the lookups a packet cannot need,
 * derived from a generation's entries just before they are written
 * (datapath.h): which families have prefixes in the tries, whether an
 * endpoint is bound to a workload interface, the protocol classes of the
 * subjects' any-peer entries and of each pair's entries, and one verdict
 * per exact port. Everything is computed from the entry sets alone, so a
 * set filled by hand (the tests) gets the same facts as one from apply.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "gen.h"

/* Key of the any-peer class sets: a subject and a direction. */
struct any_key {
	uint32_t subject;
	uint32_t dir;
};

/* Prefix lengths present in a policy trie's entries, as bits from
 * IDG_POL_PREFIX_EXACT: a search tries only those. */
static uint32_t plens_of(const struct idg_kv *t)
{
	uint32_t have = 0;

	for (uint32_t i = 0; i < t->n; i++) {
		const struct idg_policy_key *k = (const void *)idg_kv_key(t, i);

		if (k->prefixlen >= IDG_POL_PREFIX_EXACT &&
		    k->prefixlen <= IDG_POL_PREFIX_FULL)
			have |= 1u << (k->prefixlen - IDG_POL_PREFIX_EXACT);
	}
	return have;
}

/* The longest entry of trie t matching k (prefixlen ignored), as the
 * kernel's LPM lookup with a full-length key finds it. */
static const struct idg_policy_val *lpm_find(const struct idg_kv *t,
					     uint32_t plens,
					     const struct idg_policy_key *k)
{
	struct idg_policy_key q = *k;

	for (int p = IDG_POL_PREFIX_FULL; p >= IDG_POL_PREFIX_EXACT; p--) {
		const struct idg_policy_val *v;

		if (!(plens & (1u << (p - IDG_POL_PREFIX_EXACT))))
			continue;
		q.prefixlen = (uint32_t)p;
		v = idg_kv_get(t, &q);
		if (v)
			return v;
	}
	return NULL;
}

struct fold {
	struct idg_gen *g;
	struct idg_kv any; /* struct any_key -> IDG_PC_* of its entries */
	struct idg_kv peers; /* peer identity -> IDG_PEER_PC_* bits */
	struct idg_kv subj; /* struct any_key -> IDG_PC_* of all its entries */
	struct idg_kv any_kinds; /* struct any_key -> kinds of its entries */
	uint32_t pol_plens, any_plens;
	bool raw_deny; /* polx_raw has deny entries */
};

static uint32_t classes_of(const struct idg_kv *t, uint32_t subject,
			   uint32_t dir)
{
	struct any_key k = { .subject = subject, .dir = dir };
	const uint32_t *v = idg_kv_get(t, &k);

	return v ? *v : 0;
}

/* Entries come grouped by subject: the last answer is kept. */
struct last {
	bool valid;
	uint32_t subject, dir, v;
};

static uint32_t classes_of_last(const struct idg_kv *t, struct last *l,
				uint32_t subject, uint32_t dir)
{
	if (!l->valid || l->subject != subject || l->dir != dir) {
		l->v = classes_of(t, subject, dir);
		l->subject = subject;
		l->dir = dir;
		l->valid = true;
	}
	return l->v;
}

static uint32_t any_classes(const struct fold *f, uint32_t subject,
			    uint32_t dir)
{
	return classes_of(&f->any, subject, dir);
}

/* OR pc into the set t keeps for key k. */
static int classes_add(struct idg_kv *t, const void *k, uint32_t pc)
{
	int res;
	uint32_t *have = idg_kv_upsert(t, k, &pc, &res);

	if (!have)
		return res;
	*have |= pc;
	return 0;
}

static int any_collect(struct fold *f)
{
	const struct idg_kv *t = &f->g->m[IDG_GM_POLANY];
	int err;

	err = idg_kv_init(&f->any, sizeof(struct any_key), sizeof(uint32_t),
			  t->n ? t->n : 1, false);
	if (!err)
		err = idg_kv_init(&f->subj, sizeof(struct any_key),
				  sizeof(uint32_t),
				  t->n + f->g->m[IDG_GM_PAIR].n + 1, false);
	if (!err)
		err = idg_kv_init(&f->any_kinds, sizeof(struct any_key),
				  sizeof(uint32_t), t->n ? t->n : 1, false);
	if (err)
		return err;
	for (uint32_t i = 0; i < t->n; i++) {
		const struct idg_policy_key *k = (const void *)idg_kv_key(t, i);
		struct any_key ak = { .subject = k->subject, .dir = k->dir };
		uint32_t pc = k->prefixlen > IDG_POL_PREFIX_EXACT ?
				      idg_proto_class(k->proto) :
				      IDG_PC_ALL;

		err = classes_add(&f->any, &ak, pc);
		if (!err)
			err = classes_add(&f->subj, &ak, pc);
		if (!err)
			err = classes_add(&f->any_kinds, &ak, 1u << k->kind);
		if (err)
			return err;
	}
	return 0;
}

static uint32_t ep_flags_fold(const struct fold *f, uint32_t identity,
			      uint32_t flags)
{
	flags &= ~IDG_EP_F_ANY_MASK;
	for (uint32_t dir = 0; dir < 2; dir++)
		flags |= any_classes(f, identity, dir) << IDG_EP_ANY_SHIFT(dir);
	return flags;
}

static uint32_t subject_classes(const struct fold *f, uint32_t identity)
{
	uint32_t c = 0;

	for (uint32_t dir = 0; dir < 2; dir++)
		c |= classes_of(&f->subj, identity, dir) << IDG_SUBJ_PC_SHIFT(dir);
	return c;
}

/* Endpoints and the cfg: the classes of their rules and what the tries
 * hold. */
static void eps_fold(struct fold *f)
{
	static const int maps[] = { IDG_GM_EP, IDG_GM_EPH };
	struct idg_gen *g = f->g;
	uint32_t cf = g->cfg.flags & ~IDG_CFG_F_GEN_MASK;

	for (size_t j = 0; j < sizeof(maps) / sizeof(maps[0]); j++) {
		int m = maps[j];
		struct idg_kv *t = &g->m[m];

		for (uint32_t i = 0; i < t->n; i++) {
			const struct idg_ip_key *k = (const void *)idg_kv_key(t, i);
			struct idg_ep_val *v = (void *)idg_kv_val(t, i);

			v->flags = ep_flags_fold(f, v->identity, v->flags);
			v->classes = subject_classes(f, v->identity);
			if (v->ifindex)
				cf |= IDG_CFG_F_WORKLOADS;
			if (m == IDG_GM_EP)
				cf |= k->family == IDG_FAM_IPV4 ?
					      IDG_CFG_F_EP_PFX4 :
					      IDG_CFG_F_EP_PFX6;
		}
	}
	for (uint32_t i = 0; i < g->m[IDG_GM_IPC].n; i++) {
		const struct idg_ip_key *k =
			(const void *)idg_kv_key(&g->m[IDG_GM_IPC], i);

		cf |= k->family == IDG_FAM_IPV4 ? IDG_CFG_F_IPC_PFX4 :
						  IDG_CFG_F_IPC_PFX6;
	}
	g->cfg.host_flags = ep_flags_fold(f, IDG_ID_HOST, g->cfg.host_flags);
	g->cfg.host_classes = subject_classes(f, IDG_ID_HOST);
	g->cfg.flags = cf;
}

static uint32_t pair_own_classes(uint32_t v)
{
	return (v >> IDG_PAIR_OWN_PC_SHIFT) & 0xff;
}

/* A pair's classes: its own and its subject's any-peer ones. And, per
 * peer identity, its own classes over every subject (f->peers); per
 * subject, every pair's (f->subj). */
static int pairs_fold(struct fold *f)
{
	struct idg_kv *t = &f->g->m[IDG_GM_PAIR];
	int err;

	err = idg_kv_init(&f->peers, sizeof(uint32_t), sizeof(uint32_t),
			  t->n ? t->n : 1, false);
	if (err)
		return err;
	/* A subject's pairs follow one another: their classes are ORed
	 * into f->subj once per run. */
	struct any_key run = { 0 };
	struct last any = { 0 };
	uint32_t run_pc = 0;
	bool in_run = false;

	for (uint32_t i = 0; i < t->n; i++) {
		const struct idg_pair_key *k = (const void *)idg_kv_key(t, i);
		uint32_t *v = (void *)idg_kv_val(t, i);
		uint32_t own = pair_own_classes(*v), pc;

		*v &= ~(0xffu << IDG_PAIR_PC_SHIFT);
		*v |= (own | classes_of_last(&f->any, &any, k->subject, k->dir))
		      << IDG_PAIR_PC_SHIFT;
		pc = own << IDG_PEER_PC_SHIFT(k->dir);
		err = classes_add(&f->peers, &k->peer, pc);
		if (!err && in_run &&
		    (run.subject != k->subject || run.dir != k->dir)) {
			err = classes_add(&f->subj, &run, run_pc);
			in_run = false;
		}
		if (err)
			return err;
		if (!in_run) {
			run = (struct any_key){ .subject = k->subject,
						.dir = k->dir };
			run_pc = 0;
			in_run = true;
		}
		run_pc |= own;
	}
	return in_run ? classes_add(&f->subj, &run, run_pc) : 0;
}

static uint32_t peer_classes(const struct fold *f, uint32_t identity)
{
	const uint32_t *v = idg_kv_get(&f->peers, &identity);

	return IDG_PEER_PC_KNOWN | (v ? *v : 0);
}

/* The ipcache's identities (and the world's) with their peer classes;
 * whether any entry has expired. */
static void peers_fold(struct fold *f)
{
	static const int maps[] = { IDG_GM_IPC, IDG_GM_IPCH };
	struct idg_gen *g = f->g;

	for (size_t j = 0; j < sizeof(maps) / sizeof(maps[0]); j++) {
		struct idg_kv *t = &g->m[maps[j]];

		for (uint32_t i = 0; i < t->n; i++) {
			struct idg_ipcache_val *v = (void *)idg_kv_val(t, i);

			v->peer_pc = peer_classes(f, v->identity);
			if (v->flags & IDG_IPC_F_EXPIRED)
				g->cfg.flags |= IDG_CFG_F_IPC_EXPIRED;
		}
	}
	g->cfg.world_pc = peer_classes(f, IDG_ID_WORLD);
}

/*
 * The verdict the datapath's deny-then-allow search would reach for k
 * (an exact key, kind ignored): for each kind the peer's exact entry,
 * else its trie, else the any-peer trie.
 */
static int exact_verdict(const struct fold *f, const struct idg_policy_key *k,
			 uint32_t any, uint8_t self_kind,
			 const struct idg_policy_val *self,
			 struct idg_policy_val *out)
{
	const struct idg_gen *g = f->g;
	struct idg_pair_key pk = { .subject = k->subject, .peer = k->peer,
				   .dir = k->dir };
	/* Lookups that cannot find anything are skipped (a whole config's
	 * entries are folded at every reload): the pair's kinds matter only
	 * with a per-peer trie, the any-peer trie only where the subject has
	 * entries of that kind in it for this direction (any: those kinds);
	 * the raw entry being folded (self) needs no lookup. */
	const uint32_t *pf = NULL;
	bool pf_done = !f->pol_plens;
	struct idg_policy_key q = *k;

	for (uint8_t kind = IDG_RULE_DENY; kind <= IDG_RULE_ALLOW; kind++) {
		const struct idg_policy_val *v = NULL;

		q.kind = kind;
		q.peer = k->peer;
		if (kind == self_kind)
			v = self;
		else if (kind != IDG_RULE_DENY || f->raw_deny)
			v = idg_kv_get(&g->polx_raw, &q);
		if (!v && !pf_done) {
			pf = idg_kv_get(&g->m[IDG_GM_PAIR], &pk);
			pf_done = true;
		}
		if (!v && pf && (*pf & (1u << kind)))
			v = lpm_find(&g->m[IDG_GM_POL], f->pol_plens, &q);
		if (!v && (any & (1u << kind))) {
			q.peer = IDG_ID_UNKNOWN;
			v = lpm_find(&g->m[IDG_GM_POLANY], f->any_plens, &q);
		}
		if (v) {
			out->cookie = v->cookie;
			out->flags = kind == IDG_RULE_ALLOW ? IDG_POLV_F_ALLOW : 0;
			return 0;
		}
	}
	return -ENOENT; /* k names an entry: one search finds it */
}

static int exact_fold(struct fold *f)
{
	struct idg_gen *g = f->g;
	const struct idg_kv *raw = &g->polx_raw;
	int res = idg_kv_reserve(&g->m[IDG_GM_POLX], raw->n);
	struct last last = { 0 };

	if (res)
		return res;
	for (uint32_t i = 0; i < raw->n && !f->raw_deny; i++)
		f->raw_deny = ((const struct idg_policy_key *)idg_kv_key(raw, i))
				      ->kind == IDG_RULE_DENY;

	for (uint32_t i = 0; i < raw->n; i++) {
		const struct idg_policy_val zero = { 0 };
		struct idg_policy_val *v;
		struct idg_policy_key k;
		uint32_t any;
		uint8_t kind;
		int res;

		memcpy(&k, idg_kv_key(raw, i), sizeof(k));
		kind = k.kind;
		k.kind = 0;
		/* Each (subject, peer, direction, protocol, port) once: the
		 * first of its raw entries folds them all. */
		v = idg_kv_upsert(&g->m[IDG_GM_POLX], &k, &zero, &res);
		if (!v)
			return res;
		if (!res)
			continue;
		any = f->any_plens ? classes_of_last(&f->any_kinds, &last,
						     k.subject, k.dir) :
				     0;
		res = exact_verdict(f, &k, any, kind,
				    (const void *)idg_kv_val(raw, i), v);
		if (res < 0)
			return res;
	}
	return 0;
}

int idg_gen_fold(struct idg_gen *g)
{
	struct fold f = { .g = g };
	int err;

	if (!g->ready)
		return -EINVAL;
	f.pol_plens = plens_of(&g->m[IDG_GM_POL]);
	f.any_plens = plens_of(&g->m[IDG_GM_POLANY]);
	err = any_collect(&f);
	if (err)
		goto out;
	err = pairs_fold(&f);
	if (err)
		goto out;
	eps_fold(&f);
	peers_fold(&f);
	err = exact_fold(&f);
out:
	idg_kv_free(&f.any);
	idg_kv_free(&f.any_kinds);
	idg_kv_free(&f.peers);
	idg_kv_free(&f.subj);
	return err;
}
