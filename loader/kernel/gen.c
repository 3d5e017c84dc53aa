// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "gen.h"
#include "instance.h"
#include "portrange.h"
#include "util/hash.h"
#include "util/util.h"

/* ---- the maps of a slot ---- */

/* Shapes must equal the inner templates in include/idgate/bpf/maps.h. */
static const struct gm_desc {
	const char *name;
	enum bpf_map_type type;
	uint32_t ksz, vsz, flags;
	size_t outer; /* the outer map's fd in struct idg_dp */
} gm[IDG_GM_N] = {
#define NP BPF_F_NO_PREALLOC
#define O(f) offsetof(struct idg_dp, f)
	[IDG_GM_IPC] = { "idg_ipcache", BPF_MAP_TYPE_LPM_TRIE,
			 sizeof(struct idg_ip_key),
			 sizeof(struct idg_ipcache_val), NP, O(ipc_gens_fd) },
	[IDG_GM_EP] = { "idg_endpoints", BPF_MAP_TYPE_LPM_TRIE,
			sizeof(struct idg_ip_key), sizeof(struct idg_ep_val),
			NP, O(ep_gens_fd) },
	[IDG_GM_POL] = { "idg_policy", BPF_MAP_TYPE_LPM_TRIE,
			 sizeof(struct idg_policy_key),
			 sizeof(struct idg_policy_val), NP, O(pol_gens_fd) },
	[IDG_GM_POLANY] = { "idg_policy_any", BPF_MAP_TYPE_LPM_TRIE,
			    sizeof(struct idg_policy_key),
			    sizeof(struct idg_policy_val), NP,
			    O(polany_gens_fd) },
	[IDG_GM_PAIR] = { "idg_pairs", BPF_MAP_TYPE_HASH,
			  sizeof(struct idg_pair_key), sizeof(__u32), NP,
			  O(pair_gens_fd) },
	[IDG_GM_IPCH] = { "idg_ipcache_host", BPF_MAP_TYPE_HASH,
			  sizeof(struct idg_ip_key),
			  sizeof(struct idg_ipcache_val), NP, O(ipch_gens_fd) },
	[IDG_GM_POLX] = { "idg_policy_exact", BPF_MAP_TYPE_HASH,
			  sizeof(struct idg_policy_key),
			  sizeof(struct idg_policy_val), NP, O(polx_gens_fd) },
	[IDG_GM_EGW] = { "idg_egw", BPF_MAP_TYPE_LPM_TRIE,
			 sizeof(struct idg_egw_key), sizeof(struct idg_egw_val),
			 NP, O(egw_gens_fd) },
	[IDG_GM_GWSET] = { "idg_gwset", BPF_MAP_TYPE_ARRAY, sizeof(__u32),
			   sizeof(struct idg_gwset), 0, O(gwset_gens_fd) },
	[IDG_GM_NODE] = { "idg_nodes", BPF_MAP_TYPE_HASH, sizeof(__be32),
			  sizeof(struct idg_node_val), NP, O(node_gens_fd) },
	[IDG_GM_EPH] = { "idg_ep_host", BPF_MAP_TYPE_HASH,
			 sizeof(struct idg_ip_key), sizeof(struct idg_ep_val),
			 NP, O(eph_gens_fd) },
	[IDG_GM_CFG] = { "idg_cfg", BPF_MAP_TYPE_ARRAY, sizeof(__u32),
			 sizeof(struct idg_cfg), 0, O(cfg_gens_fd) },
	[IDG_GM_TUN] = { "idg_tun", BPF_MAP_TYPE_ARRAY, sizeof(__u32),
			 sizeof(struct idg_tun_cfg), 0, O(tun_gens_fd) },
#undef O
#undef NP
};

static uint32_t gm_max(const struct idg_gen_limits *lim, int m)
{
	switch (m) {
	case IDG_GM_IPC:
	case IDG_GM_IPCH:
		return lim->ipcache;
	case IDG_GM_EP:
	case IDG_GM_EPH:
		return lim->endpoints;
	case IDG_GM_POL:
	case IDG_GM_POLX:
	case IDG_GM_POLANY:
	case IDG_GM_PAIR:
		return lim->policy;
	case IDG_GM_EGW:
		return IDG_EGW_POLICY_MAX;
	case IDG_GM_GWSET:
		return IDG_GWSET_MAX;
	case IDG_GM_NODE:
		return IDG_NODES_MAX;
	default:
		return 1;
	}
}

static int outer_fd(const struct idg_dp *dp, int m)
{
	return *(const int *)((const char *)dp + gm[m].outer);
}

/* ---- building a generation in memory ---- */

int idg_gen_create(struct idg_gen *g, const struct idg_gen_limits *lim)
{
	struct idg_gen_limits def = {
		.ipcache = IDG_IPCACHE_MAX,
		.endpoints = IDG_ENDPOINTS_MAX,
		.policy = IDG_POLICY_MAX,
	};
	int err = 0;

	memset(g, 0, sizeof(*g));
	if (!lim)
		lim = &def;
	if (!lim->ipcache || !lim->endpoints || !lim->policy)
		return -EINVAL;
	g->lim = *lim;
	for (int m = 0; m < IDG_GM_N_SET && !err; m++)
		err = idg_kv_init(&g->m[m], gm[m].ksz, gm[m].vsz, gm_max(lim, m),
				  gm[m].type == BPF_MAP_TYPE_LPM_TRIE);
	if (!err)
		err = idg_kv_init(&g->polx_raw, gm[IDG_GM_POLX].ksz,
				  gm[IDG_GM_POLX].vsz, lim->policy, false);
	if (err) {
		idg_gen_destroy(g);
		return err;
	}
	g->ready = true;
	return 0;
}

void idg_gen_destroy(struct idg_gen *g)
{
	for (int m = 0; m < IDG_GM_N_SET; m++)
		idg_kv_free(&g->m[m]);
	idg_kv_free(&g->polx_raw);
	g->ready = false;
}

int idg_ip_key_make(struct idg_ip_key *k, int family, const void *addr,
		    unsigned int plen, uint16_t cluster_id)
{
	unsigned int alen = family == IDG_FAM_IPV4 ? 4 : 16;

	if (family != IDG_FAM_IPV4 && family != IDG_FAM_IPV6)
		return -EAFNOSUPPORT;
	if (plen > alen * 8)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	k->prefixlen = IDG_IP_KEY_FIXED_BITS + plen;
	k->cluster_id = cluster_id;
	k->family = (uint8_t)family;
	memcpy(k->addr, addr, alen);
	/* Host bits are cleared so that two spellings of one prefix are one
	 * key. */
	for (unsigned int bit = plen; bit < alen * 8; bit++)
		k->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	return 0;
}

static int set_put(struct idg_gen *g, int m, const void *k, const void *v,
		   bool keep_old)
{
	if (!g->ready)
		return -EINVAL;
	return idg_kv_put(&g->m[m], k, v, keep_old);
}

/* A key the datapath's host lookup produces: the full address length. */
static bool ip_key_is_host(const struct idg_ip_key *k)
{
	return k->prefixlen == IDG_IP_KEY_FIXED_BITS +
				       (k->family == IDG_FAM_IPV4 ? 32u : 128u);
}

int idg_gen_ipcache_add(struct idg_gen *g, const struct idg_ip_key *k,
			const struct idg_ipcache_val *v)
{
	int err = set_put(g, ip_key_is_host(k) ? IDG_GM_IPCH : IDG_GM_IPC, k,
			  v, false);

	if (err < 0)
		return err;
	g->n_ipcache++;
	return 0;
}

int idg_gen_ep_add(struct idg_gen *g, const struct idg_ip_key *k,
		   const struct idg_ep_val *v)
{
	int err = set_put(g, ip_key_is_host(k) ? IDG_GM_EPH : IDG_GM_EP, k, v,
			  false);

	if (err < 0)
		return err;
	g->n_endpoints++;
	return 0;
}

/* Records in the pair set that the pair has entries of k's kind, in the
 * trie or (exact) in the hash, and of k's protocol class. */
static int pair_mark(struct idg_gen *g, const struct idg_policy_key *k,
		     bool exact)
{
	struct idg_pair_key pk = {
		.subject = k->subject,
		.peer = k->peer,
		.dir = k->dir,
	};
	__u32 flags = exact ? IDG_PAIR_F_EXACT(k->kind) : 1u << k->kind, *have;
	int res;

	flags |= (k->prefixlen > IDG_POL_PREFIX_EXACT ?
			  idg_proto_class(k->proto) :
			  IDG_PC_ALL)
		 << IDG_PAIR_OWN_PC_SHIFT;
	have = idg_kv_upsert(&g->m[IDG_GM_PAIR], &pk, &flags, &res);
	if (!have)
		return res;
	*have |= flags;
	return 0;
}

static int policy_put(struct idg_gen *g, struct idg_policy_key *k,
		      const struct idg_policy_val *v)
{
	bool any = k->peer == IDG_ID_UNKNOWN;
	bool exact = !any && k->prefixlen == IDG_POL_PREFIX_FULL;
	int err;

	if (exact && !g->ready)
		return -EINVAL;
	err = exact ? idg_kv_put(&g->polx_raw, k, v, true) :
		      set_put(g, any ? IDG_GM_POLANY : IDG_GM_POL, k, v, true);

	if (err <= 0)
		return err; /* 0: there already, the first cookie stays */
	g->n_policy++;
	return any ? 0 : pair_mark(g, k, exact);
}

int idg_gen_policy_add(struct idg_gen *g, const struct idg_rule_entry *r)
{
	struct idg_policy_val v = { .cookie = r->cookie };
	struct idg_policy_key k = {
		.subject = r->subject,
		.peer = r->peer,
		.dir = r->dir,
		.kind = r->kind,
	};
	struct idg_port_prefix pp[IDG_PORT_PREFIX_MAX];
	int n, err;

	if (r->dir > IDG_DIR_EGRESS || r->kind > IDG_RULE_ALLOW ||
	    r->cookie >= IDG_RULES_MAX)
		return -EINVAL;

	if (!r->proto) {
		k.prefixlen = IDG_POL_PREFIX_EXACT;
		return policy_put(g, &k, &v);
	}
	k.proto = r->proto;
	if (r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6) {
		if (r->icmp_type < 0) {
			k.prefixlen = IDG_POL_PREFIX_PROTO;
		} else if (r->icmp_type <= 255) {
			/* Match the type, any code. */
			k.prefixlen = IDG_POL_PREFIX_PROTO + 8;
			k.port = htons((uint16_t)(r->icmp_type << 8));
		} else {
			return -EINVAL;
		}
		return policy_put(g, &k, &v);
	}
	if ((r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP &&
	     r->proto != IPPROTO_SCTP) || !r->port) {
		k.prefixlen = IDG_POL_PREFIX_PROTO;
		return policy_put(g, &k, &v);
	}

	n = idg_port_range_prefixes(r->port,
				    r->end_port > r->port ? r->end_port :
							    r->port,
				    pp);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		k.prefixlen = IDG_POL_PREFIX_PROTO + pp[i].bits;
		k.port = htons(pp[i].port);
		err = policy_put(g, &k, &v);
		if (err)
			return err;
	}
	return 0;
}

int idg_gen_egw_add(struct idg_gen *g, const struct idg_egw_key *k,
		    const struct idg_egw_val *v)
{
	int err;

	if (k->prefixlen < IDG_EGW_KEY_FIXED_BITS ||
	    k->prefixlen > IDG_EGW_KEY_FIXED_BITS + 32 ||
	    v->gwset >= IDG_GWSET_MAX)
		return -EINVAL;
	err = set_put(g, IDG_GM_EGW, k, v, false);
	return err < 0 ? err : 0;
}

int idg_gen_gwset_set(struct idg_gen *g, uint32_t index,
		      const struct idg_gwset *set)
{
	int err;

	if (index >= IDG_GWSET_MAX || set->n > IDG_GW_PER_SET)
		return -EINVAL;
	err = set_put(g, IDG_GM_GWSET, &index, set, false);
	return err < 0 ? err : 0;
}

int idg_gen_node_add(struct idg_gen *g, __be32 tunnel_ip,
		     const struct idg_node_val *v)
{
	int err = set_put(g, IDG_GM_NODE, &tunnel_ip, v, false);

	return err < 0 ? err : 0;
}

/* ---- grace periods ---- */

static int map_id(int fd, uint32_t *id)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

int idg_rcu_barrier(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	__u32 zero = 0;
	int inner, outer, err = 0;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "idg_rcu_inner",
			       sizeof(__u32), sizeof(__u32), 1, NULL);
	if (inner < 0)
		return -errno;
	opts.inner_map_fd = inner;
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "idg_rcu_barrier",
			       sizeof(__u32), sizeof(__u32), 1, &opts);
	if (outer < 0) {
		err = -errno;
		close(inner);
		return err;
	}
	/* The kernel returns from a map-in-map update only after an RCU
	 * grace period (maybe_wait_bpf_programs()), whatever map it is. */
	if (bpf_map_update_elem(outer, &zero, &inner, BPF_ANY))
		err = -errno;
	close(outer);
	close(inner);
	return err;
}

static void *quiesce_main(void *arg)
{
	struct idg_gen_quiesce *q = arg;
	__u32 zero = 0;
	int fd = bpf_obj_get(q->gen_pin);

	if (fd < 0) {
		q->err = -errno;
		return NULL;
	}
	/* The number first, then the grace period: every program that
	 * could read the other slot started before this number was
	 * written. */
	if (bpf_map_lookup_elem(fd, &zero, &q->gen))
		q->err = -errno;
	if (!q->err)
		q->err = map_id(fd, &q->gen_map_id);
	close(fd);
	if (!q->err)
		q->err = idg_rcu_barrier();
	return NULL;
}

int idg_gen_quiesce_start(struct idg_gen_quiesce *q, const char *pin_dir)
{
	int n, err;

	memset(q, 0, sizeof(*q));
	n = snprintf(q->gen_pin, sizeof(q->gen_pin), "%s/%s", pin_dir,
		     IDG_MAP_GEN);
	if (n < 0 || (size_t)n >= sizeof(q->gen_pin))
		return -ENAMETOOLONG;
	if (access(q->gen_pin, F_OK))
		return 0;
	err = pthread_create(&q->th, NULL, quiesce_main, q);
	if (err)
		return -err;
	q->started = true;
	return 0;
}

void idg_gen_quiesce_wait(struct idg_gen_quiesce *q)
{
	if (!q->started || q->done)
		return;
	pthread_join(q->th, NULL);
	q->done = true;
}

static bool quiesced_for(const struct idg_gen_commit_opts *o,
			 const struct idg_dp *dp, uint32_t cur)
{
	const struct idg_gen_quiesce *q = o ? o->quiesce : NULL;
	uint32_t id = 0;

	return q && q->started && q->done && !q->err && q->gen == cur &&
	       !map_id(dp->gen_fd, &id) && id == q->gen_map_id;
}

/* ---- the content of a slot ---- */

/* Entries as they are in a map (or were recorded), one after another. */
struct ent_list {
	uint8_t *ent;
	uint32_t n, cap;
	bool owned; /* ent is ours to free (else it points into a file) */
};

static void list_free(struct ent_list *l)
{
	if (l->owned)
		free(l->ent);
	memset(l, 0, sizeof(*l));
}

static int list_push(struct ent_list *l, uint32_t stride, const void *k,
		     uint32_t ksz, const void *v, uint32_t vsz)
{
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 64;
		uint8_t *e = realloc(l->ent, (size_t)cap * stride);

		if (!e)
			return -ENOMEM;
		l->ent = e;
		l->cap = cap;
		l->owned = true;
	}
	memcpy(l->ent + (size_t)l->n * stride, k, ksz);
	memcpy(l->ent + (size_t)l->n * stride + ksz, v, vsz);
	l->n++;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Read a map's entries back from the kernel (the slow way: one or two
 * syscalls per entry). Arrays: the non-zero elements. */
static int map_read(int fd, int m, uint32_t max, struct ent_list *l)
{
	uint32_t ksz = gm[m].ksz, vsz = gm[m].vsz, stride = ksz + vsz;
	uint8_t key[64], next[64], val[sizeof(struct idg_tun_cfg) + 64];
	void *prev = NULL;
	int err;

	if (gm[m].type == BPF_MAP_TYPE_ARRAY) {
		for (__u32 i = 0; i < max; i++) {
			if (bpf_map_lookup_elem(fd, &i, val))
				return -errno;
			if (all_zero(val, vsz))
				continue;
			err = list_push(l, stride, &i, ksz, val, vsz);
			if (err)
				return err;
		}
		return 0;
	}
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, ksz);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, val)) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		memcpy(next, key, ksz);
		if (gm[m].type == BPF_MAP_TYPE_LPM_TRIE &&
		    idg_lpm_key_norm(next, ksz))
			return -EINVAL;
		err = list_push(l, stride, next, ksz, val, vsz);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}

/*
 * What a commit records about the slot it filled, in shadow_dir: the
 * inner map ids, the generation written into the slot's cfg, and every
 * entry. Trusted only while all of that still matches the kernel: a
 * commit marks the slot's cfg with a number no recorded slot can carry
 * before it changes anything, and writes the record after the switch, so
 * an interrupted commit leaves a record that no longer matches.
 */
#define SHADOW_MAGIC "IDGSLOT\n"
#define SHADOW_VERSION 3 /* 3: the sum is util/hash.h's */

struct shadow_hdr {
	char magic[8];
	uint32_t version;
	uint32_t slot;
	uint32_t gen;
	uint32_t n_maps;
	uint32_t id[IDG_GM_N];
	uint32_t ksz[IDG_GM_N_SET];
	uint32_t vsz[IDG_GM_N_SET];
	uint32_t count[IDG_GM_N_SET];
	uint32_t pad;
	uint64_t sum;
};

/* A torn or stale file, not an attack. */
static uint64_t body_sum(const uint8_t *p, size_t n)
{
	return idg_hash_final(idg_hash_bytes(IDG_HASH_SEED, p, n));
}

static int shadow_path(char *buf, size_t len, const char *dir, uint32_t slot)
{
	return idg_path_join(buf, len, dir,
			     slot ? IDG_GEN_SHADOW_1 : IDG_GEN_SHADOW_0);
}

/* sets NULL: an empty slot. */
static int shadow_save(const char *dir, uint32_t slot, uint32_t gen,
		       const uint32_t *ids, const struct idg_kv *sets)
{
	char path[PATH_MAX];
	struct shadow_hdr h = { .version = SHADOW_VERSION };
	size_t body = 0, off;
	uint8_t *buf;
	int err = 0;

	if (shadow_path(path, sizeof(path), dir, slot))
		return -ENAMETOOLONG;
	memcpy(h.magic, SHADOW_MAGIC, sizeof(h.magic));
	h.slot = slot;
	h.gen = gen;
	h.n_maps = IDG_GM_N;
	memcpy(h.id, ids, sizeof(h.id));
	for (int m = 0; m < IDG_GM_N_SET; m++) {
		h.ksz[m] = gm[m].ksz;
		h.vsz[m] = gm[m].vsz;
		h.count[m] = sets ? sets[m].n : 0;
		body += (size_t)h.count[m] * (h.ksz[m] + h.vsz[m]);
	}
	buf = malloc(sizeof(h) + body);
	if (!buf)
		return -ENOMEM;
	off = sizeof(h);
	for (int m = 0; sets && m < IDG_GM_N_SET; m++) {
		size_t len = (size_t)sets[m].n * (sets[m].ksz + sets[m].vsz);

		if (len)
			memcpy(buf + off, sets[m].ent, len);
		off += len;
	}
	h.sum = body_sum(buf + sizeof(h), body);
	memcpy(buf, &h, sizeof(h));

	err = idg_mkdir_p(dir, 0700);
	if (!err)
		/* What the kernel holds, which a reboot ends as well: a
		 * record that a crash left behind is stale by its map ids,
		 * one torn by a crash fails its length or sum; readers hold
		 * the instance lock. */
		err = idg_file_rewrite(path, 0600, buf, off);
	free(buf);
	return err;
}

/* The recorded content of slot, if the record matches the kernel. *file
 * holds the data the lists point into. */
static int shadow_load(const char *dir, uint32_t slot, uint32_t gen,
		       const uint32_t *ids, struct ent_list *have,
		       uint8_t **file)
{
	char path[PATH_MAX];
	struct shadow_hdr h;
	struct stat sb;
	size_t body = 0, off;
	uint8_t *buf = NULL;
	ssize_t r;
	int fd, err = -ESTALE;

	*file = NULL;
	if (shadow_path(path, sizeof(path), dir, slot))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) || sb.st_size < (off_t)sizeof(h))
		goto out;
	buf = malloc((size_t)sb.st_size);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	r = read(fd, buf, (size_t)sb.st_size);
	if (r != sb.st_size)
		goto out;
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, SHADOW_MAGIC, sizeof(h.magic)) ||
	    h.version != SHADOW_VERSION || h.slot != slot || h.gen != gen ||
	    h.n_maps != IDG_GM_N || memcmp(h.id, ids, sizeof(h.id)))
		goto out;
	for (int m = 0; m < IDG_GM_N_SET; m++) {
		if (h.ksz[m] != gm[m].ksz || h.vsz[m] != gm[m].vsz)
			goto out;
		body += (size_t)h.count[m] * (h.ksz[m] + h.vsz[m]);
	}
	if (body != (size_t)sb.st_size - sizeof(h) ||
	    body_sum(buf + sizeof(h), body) != h.sum)
		goto out;
	off = sizeof(h);
	for (int m = 0; m < IDG_GM_N_SET; m++) {
		have[m].ent = buf + off;
		have[m].n = have[m].cap = h.count[m];
		have[m].owned = false;
		off += (size_t)h.count[m] * (h.ksz[m] + h.vsz[m]);
	}
	*file = buf;
	buf = NULL;
	err = 0;
out:
	free(buf);
	close(fd);
	return err;
}

/* ---- the slot's maps ---- */

struct slot_maps {
	int fd[IDG_GM_N];
	uint32_t id[IDG_GM_N];
	bool fresh[IDG_GM_N]; /* created by this commit, empty */
};

static void slot_maps_init(struct slot_maps *sm)
{
	memset(sm, 0, sizeof(*sm));
	for (int m = 0; m < IDG_GM_N; m++)
		sm->fd[m] = -1;
}

static void slot_maps_close(struct slot_maps *sm)
{
	for (int m = 0; m < IDG_GM_N; m++)
		if (sm->fd[m] >= 0)
			close(sm->fd[m]);
	slot_maps_init(sm);
}

/*
 * Kernel capacity of an inner map. A hash map's bucket array follows its
 * max_entries: at the product limit (a million) it spans megabytes, and
 * under a flood of new flows every lookup missed the caches in it. A hash
 * map gets twice its content, a power of two (so a new map only when the
 * content crosses one); a trie has no bucket array and keeps the limit.
 */
static uint32_t map_cap(const struct idg_gen *g, int m)
{
	uint32_t lim = gm_max(&g->lim, m), want = 1024;

	if (m >= IDG_GM_N_SET || gm[m].type != BPF_MAP_TYPE_HASH)
		return lim;
	while (want < lim && want / 2 < g->m[m].n)
		want <<= 1;
	return want < lim ? want : lim;
}

static bool map_shape_ok(int fd, int m, uint32_t cap)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	return info.type == gm[m].type && info.key_size == gm[m].ksz &&
	       info.value_size == gm[m].vsz &&
	       info.max_entries == cap &&
	       info.map_flags == gm[m].flags;
}

/* The inner map in one slot, if there is one of the right shape. */
static int slot_get(const struct idg_dp *dp, int m, uint32_t slot,
		    uint32_t cap, int *fd_out, uint32_t *id_out)
{
	__u32 id;
	int fd;

	*fd_out = -1;
	if (bpf_map_lookup_elem(outer_fd(dp, m), &slot, &id))
		return errno == ENOENT ? 0 : -errno;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!map_shape_ok(fd, m, cap)) {
		close(fd);
		return 0;
	}
	*fd_out = fd;
	*id_out = id;
	return 0;
}

static int map_new(int m, uint32_t cap, int *fd_out, uint32_t *id_out)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = gm[m].flags);
	int fd = bpf_map_create(gm[m].type, gm[m].name, gm[m].ksz, gm[m].vsz,
				cap, &opts);
	int err;

	if (fd < 0)
		return -errno;
	err = map_id(fd, id_out);
	if (err) {
		close(fd);
		return err;
	}
	*fd_out = fd;
	return 0;
}

/*
 * Every inner map of one slot: the one there, or a new empty one. A map
 * that also sits in the other slot (no idgate puts one there, but the
 * slot would then not be idle at all) is never written: it is replaced.
 */
static int slot_open(const struct idg_dp *dp, uint32_t slot,
		     const struct idg_gen *g, struct slot_maps *sm)
{
	int err;

	for (int m = 0; m < IDG_GM_N; m++) {
		__u32 other_slot = slot ^ 1, other_id;

		err = slot_get(dp, m, slot, map_cap(g, m), &sm->fd[m],
			       &sm->id[m]);
		if (!err && sm->fd[m] >= 0 &&
		    !bpf_map_lookup_elem(outer_fd(dp, m), &other_slot,
					 &other_id) &&
		    other_id == sm->id[m]) {
			close(sm->fd[m]);
			sm->fd[m] = -1;
		}
		if (!err && sm->fd[m] < 0) {
			err = map_new(m, map_cap(g, m), &sm->fd[m],
				      &sm->id[m]);
			sm->fresh[m] = true;
		}
		if (err)
			return err;
	}
	return 0;
}

static int slot_set(int outer, uint32_t slot, int inner)
{
	return bpf_map_update_elem(outer, &slot, &inner, BPF_ANY) ? -errno : 0;
}

/*
 * Put the new maps into their slots. Each map-in-map update waits for a
 * grace period, so both slots of a map go in one batch where the kernel
 * can (the first commit).
 */
static int slots_install(const struct idg_dp *dp, uint32_t slot,
			 const struct slot_maps *sm,
			 const struct slot_maps *other)
{
	int err;

	for (int m = 0; m < IDG_GM_N; m++) {
		bool a = sm->fresh[m], b = other && other->fresh[m];
		int outer = outer_fd(dp, m);

		if (a && b) {
			LIBBPF_OPTS(bpf_map_batch_opts, bo);
			__u32 keys[2] = { slot, slot ^ 1 }, count = 2;
			int fds[2] = { sm->fd[m], other->fd[m] };

			if (!bpf_map_update_batch(outer, keys, fds, &count,
						  &bo))
				continue;
		}
		err = a ? slot_set(outer, slot, sm->fd[m]) : 0;
		if (!err && b)
			err = slot_set(outer, slot ^ 1, other->fd[m]);
		if (err)
			return err;
	}
	return 0;
}

/* ---- bringing a slot to a generation's content ---- */

static int entry_delete(int fd, int m, const void *key)
{
	uint8_t zero[sizeof(struct idg_tun_cfg) + 64] = { 0 };

	if (gm[m].type == BPF_MAP_TYPE_ARRAY)
		return bpf_map_update_elem(fd, key, zero, BPF_ANY) ? -errno : 0;
	if (bpf_map_delete_elem(fd, key))
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

/* Delete what want lacks, then write what have lacks or holds otherwise. */
static int reconcile(int fd, int m, const struct idg_kv *want,
		     const struct ent_list *have,
		     struct idg_gen_commit_stats *st)
{
	uint32_t stride = want->ksz + want->vsz;
	uint8_t *same = calloc((size_t)want->n + 1, 1);
	int err = 0;

	if (!same)
		return -ENOMEM;
	for (uint32_t i = 0; i < have->n && !err; i++) {
		const uint8_t *k = have->ent + (size_t)i * stride;
		/* A record of a generation built like this one lists most
		 * entries in the same order: the same key at the same place
		 * needs no lookup. */
		const uint8_t *v =
			i < want->n && !memcmp(idg_kv_key(want, i), k, want->ksz) ?
				idg_kv_val(want, i) :
				idg_kv_get(want, k);

		if (!v) {
			err = entry_delete(fd, m, k);
			st->deleted++;
			continue;
		}
		if (!memcmp(v, k + want->ksz, want->vsz))
			same[(size_t)(v - want->ent) / stride] = 1;
	}
	for (uint32_t i = 0; i < want->n && !err; i++) {
		if (same[i])
			continue;
		if (bpf_map_update_elem(fd, idg_kv_key(want, i),
					idg_kv_val(want, i), BPF_ANY))
			err = -errno;
		st->written++;
	}
	free(same);
	return err;
}

static int cfg_write(int fd, const void *v)
{
	__u32 zero = 0;

	return bpf_map_update_elem(fd, &zero, v, BPF_ANY) ? -errno : 0;
}

int idg_gen_commit_ex(const struct idg_dp *dp, struct idg_gen *g,
		      const struct idg_gen_commit_opts *o, uint32_t *new_gen,
		      struct idg_gen_commit_stats *stats)
{
	struct ent_list have[IDG_GM_N_SET];
	struct idg_gen_commit_stats st = { 0 };
	struct slot_maps sm, other;
	bool fresh_all = true, other_used = false, other_empty = true;
	uint8_t *file = NULL;
	uint32_t cur, next, slot, zero = 0;
	const char *dir = o ? o->shadow_dir : NULL;
	double t0 = idg_now_ms();
	int err;

	memset(have, 0, sizeof(have));
	slot_maps_init(&sm);
	slot_maps_init(&other);
	if (!g->ready)
		return -EINVAL;
	err = idg_gen_fold(g);
	if (err)
		return err;
	err = idg_dp_active_gen(dp, &cur);
	if (err)
		return err;
	/* 0 means "never configured"; skipping it keeps slots alternating. */
	next = cur + 1 ? cur + 1 : 2;
	slot = IDG_GEN_SLOT(next);

	/* No program may still be reading the slot we are about to change:
	 * one that read generation cur - 1 (or older) may, until a grace
	 * period after cur was switched in has passed. */
	if (cur && !quiesced_for(o, dp, cur)) {
		err = idg_rcu_barrier();
		if (err)
			return err;
		st.waited = true;
	}

	err = slot_open(dp, slot, g, &sm);
	if (err)
		goto out;
	for (int m = 0; m < IDG_GM_N; m++)
		fresh_all &= sm.fresh[m];
	if (!fresh_all) {
		struct idg_cfg c;
		int e = -ENOENT;

		/* What the slot holds: as recorded, else as read back. */
		if (dir && !sm.fresh[IDG_GM_CFG] &&
		    !bpf_map_lookup_elem(sm.fd[IDG_GM_CFG], &zero, &c))
			e = shadow_load(dir, slot, c.gen, sm.id, have, &file);
		for (int m = 0; e && m < IDG_GM_N_SET && !err; m++) {
			if (!sm.fresh[m])
				err = map_read(sm.fd[m], m, gm_max(&g->lim, m),
					       &have[m]);
			st.read_back = true;
		}
		if (err)
			goto out;
		/* Mark the slot as being changed: a number of the other
		 * slot's parity, which no record for this slot holds. */
		if (!sm.fresh[IDG_GM_CFG]) {
			memset(&c, 0, sizeof(c));
			c.gen = slot ? 2 : 1;
			err = cfg_write(sm.fd[IDG_GM_CFG], &c);
			if (err)
				goto out;
		}
	}
	for (int m = 0; m < IDG_GM_N_SET && !err; m++)
		err = reconcile(sm.fd[m], m, &g->m[m], &have[m], &st);
	if (err)
		goto out;
	g->cfg.gen = next;
	err = cfg_write(sm.fd[IDG_GM_TUN], &g->tun);
	if (!err)
		err = cfg_write(sm.fd[IDG_GM_CFG], &g->cfg);
	if (err)
		goto out;

	/* Never configured: the other slot gets its (empty) maps now too,
	 * so the next commit finds maps in place. */
	if (!cur) {
		err = slot_open(dp, slot ^ 1, g, &other);
		if (err)
			goto out;
		for (int m = 0; m < IDG_GM_N; m++) {
			other_used |= other.fresh[m];
			other_empty &= other.fresh[m];
		}
	}
	for (int m = 0; m < IDG_GM_N; m++)
		st.replaced += sm.fresh[m] + other.fresh[m];
	err = slots_install(dp, slot, &sm, other_used ? &other : NULL);
	if (err)
		goto out;

	/* The switch: one 4-byte write. */
	idg_test_kill_at("switch");
	err = bpf_map_update_elem(dp->gen_fd, &zero, &next, BPF_ANY) ? -errno :
								       0;
	if (err)
		goto out;
	idg_test_kill_at("switched");
	if (new_gen)
		*new_gen = next;
	st.switched_at = idg_now_ms();
	st.switch_ms = st.switched_at - t0;
	/* Records are an optimisation: a failure to write one only means
	 * the next commit to that slot reads it back. */
	if (dir) {
		shadow_save(dir, slot, next, sm.id, g->m);
		if (other_empty && !cur)
			shadow_save(dir, slot ^ 1, 0, other.id, NULL);
		st.record_ms = idg_now_ms() - t0 - st.switch_ms;
	}
out:
	for (int m = 0; m < IDG_GM_N_SET; m++)
		list_free(&have[m]);
	free(file);
	slot_maps_close(&sm);
	slot_maps_close(&other);
	if (stats)
		*stats = st;
	return err;
}

void idg_test_kill_at(const char *step)
{
	const char *at = getenv("IDGATE_TEST_KILL_AT");

	if (at && !strcmp(at, step))
		raise(SIGKILL);
}

int idg_gen_commit(const struct idg_dp *dp, struct idg_gen *g,
		   uint32_t *new_gen)
{
	return idg_gen_commit_ex(dp, g, NULL, new_gen, NULL);
}
