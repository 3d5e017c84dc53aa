// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "gen.h"
#include "portrange.h"

static int map_create(enum bpf_map_type type, const char *name,
		      uint32_t key_size, uint32_t value_size, uint32_t max,
		      uint32_t flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	int fd = bpf_map_create(type, name, key_size, value_size, max, &opts);

	return fd < 0 ? -errno : fd;
}

int idg_gen_create(struct idg_gen *g, const struct idg_gen_limits *lim)
{
	struct idg_gen_limits def = {
		.ipcache = IDG_IPCACHE_MAX,
		.endpoints = IDG_ENDPOINTS_MAX,
		.policy = IDG_POLICY_MAX,
	};
	int err;

	memset(g, 0, sizeof(*g));
	g->cfg_fd = g->ipc_fd = g->ep_fd = g->pol_fd = -1;
	g->polany_fd = g->pair_fd = -1;
	g->tun_fd = g->egw_fd = g->gwset_fd = g->node_fd = -1;
	if (!lim)
		lim = &def;
	if (!lim->ipcache || !lim->endpoints || !lim->policy)
		return -EINVAL;

	/* Shapes must equal the inner templates in include/idgate/bpf/maps.h. */
	err = g->cfg_fd = map_create(BPF_MAP_TYPE_ARRAY, "idg_cfg", sizeof(__u32),
				     sizeof(struct idg_cfg), 1, 0);
	if (err < 0)
		goto out;
	err = g->ipc_fd = map_create(BPF_MAP_TYPE_LPM_TRIE, "idg_ipcache",
				     sizeof(struct idg_ip_key),
				     sizeof(struct idg_ipcache_val),
				     lim->ipcache, BPF_F_NO_PREALLOC);
	if (err < 0)
		goto out;
	err = g->ep_fd = map_create(BPF_MAP_TYPE_LPM_TRIE, "idg_endpoints",
				    sizeof(struct idg_ip_key),
				    sizeof(struct idg_ep_val), lim->endpoints,
				    BPF_F_NO_PREALLOC);
	if (err < 0)
		goto out;
	err = g->pol_fd = map_create(BPF_MAP_TYPE_LPM_TRIE, "idg_policy",
				     sizeof(struct idg_policy_key),
				     sizeof(struct idg_policy_val), lim->policy,
				     BPF_F_NO_PREALLOC);
	if (err < 0)
		goto out;
	err = g->polany_fd = map_create(BPF_MAP_TYPE_LPM_TRIE, "idg_policy_any",
					sizeof(struct idg_policy_key),
					sizeof(struct idg_policy_val),
					lim->policy, BPF_F_NO_PREALLOC);
	if (err < 0)
		goto out;
	err = g->pair_fd = map_create(BPF_MAP_TYPE_HASH, "idg_pairs",
				      sizeof(struct idg_pair_key),
				      sizeof(__u32), lim->policy,
				      BPF_F_NO_PREALLOC);
	if (err < 0)
		goto out;
	err = g->tun_fd = map_create(BPF_MAP_TYPE_ARRAY, "idg_tun", sizeof(__u32),
				     sizeof(struct idg_tun_cfg), 1, 0);
	if (err < 0)
		goto out;
	err = g->egw_fd = map_create(BPF_MAP_TYPE_LPM_TRIE, "idg_egw",
				     sizeof(struct idg_egw_key),
				     sizeof(struct idg_egw_val),
				     IDG_EGW_POLICY_MAX, BPF_F_NO_PREALLOC);
	if (err < 0)
		goto out;
	err = g->gwset_fd = map_create(BPF_MAP_TYPE_ARRAY, "idg_gwset",
				       sizeof(__u32), sizeof(struct idg_gwset),
				       IDG_GWSET_MAX, 0);
	if (err < 0)
		goto out;
	err = g->node_fd = map_create(BPF_MAP_TYPE_HASH, "idg_nodes",
				      sizeof(__be32), sizeof(struct idg_node_val),
				      IDG_NODES_MAX, BPF_F_NO_PREALLOC);
	if (err < 0)
		goto out;
	return 0;
out:
	idg_gen_destroy(g);
	return err;
}

void idg_gen_destroy(struct idg_gen *g)
{
	int *fds[] = { &g->cfg_fd,   &g->ipc_fd,    &g->ep_fd,
		       &g->pol_fd,   &g->polany_fd, &g->pair_fd,
		       &g->tun_fd,   &g->egw_fd,    &g->gwset_fd,
		       &g->node_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
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

static int map_add(int fd, const void *k, const void *v, uint64_t flags)
{
	return bpf_map_update_elem(fd, k, v, flags) ? -errno : 0;
}

int idg_gen_ipcache_add(struct idg_gen *g, const struct idg_ip_key *k,
			const struct idg_ipcache_val *v)
{
	int err = map_add(g->ipc_fd, k, v, BPF_ANY);

	if (!err)
		g->n_ipcache++;
	return err;
}

int idg_gen_ep_add(struct idg_gen *g, const struct idg_ip_key *k,
		   const struct idg_ep_val *v)
{
	int err = map_add(g->ep_fd, k, v, BPF_ANY);

	if (!err)
		g->n_endpoints++;
	return err;
}

/* Records in the pair hash that the pair has entries of k's kind. */
static int pair_mark(struct idg_gen *g, const struct idg_policy_key *k)
{
	struct idg_pair_key pk = {
		.subject = k->subject,
		.peer = k->peer,
		.dir = k->dir,
	};
	__u32 flags = 0;

	if (bpf_map_lookup_elem(g->pair_fd, &pk, &flags) && errno != ENOENT)
		return -errno;
	flags |= 1u << k->kind;
	return map_add(g->pair_fd, &pk, &flags, BPF_ANY);
}

static int policy_put(struct idg_gen *g, struct idg_policy_key *k,
		      const struct idg_policy_val *v)
{
	int fd = k->peer == IDG_ID_UNKNOWN ? g->polany_fd : g->pol_fd;
	int err = map_add(fd, k, v, BPF_NOEXIST);

	if (err == -EEXIST)
		return 0;
	if (err)
		return err;
	g->n_policy++;
	return k->peer == IDG_ID_UNKNOWN ? 0 : pair_mark(g, k);
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
	if (k->prefixlen < IDG_EGW_KEY_FIXED_BITS ||
	    k->prefixlen > IDG_EGW_KEY_FIXED_BITS + 32 ||
	    v->gwset >= IDG_GWSET_MAX)
		return -EINVAL;
	return map_add(g->egw_fd, k, v, BPF_ANY);
}

int idg_gen_gwset_set(struct idg_gen *g, uint32_t index,
		      const struct idg_gwset *set)
{
	if (index >= IDG_GWSET_MAX || set->n > IDG_GW_PER_SET)
		return -EINVAL;
	return map_add(g->gwset_fd, &index, set, BPF_ANY);
}

int idg_gen_node_add(struct idg_gen *g, __be32 tunnel_ip,
		     const struct idg_node_val *v)
{
	return map_add(g->node_fd, &tunnel_ip, v, BPF_ANY);
}

static int slot_set(int outer_fd, uint32_t slot, int inner_fd)
{
	return bpf_map_update_elem(outer_fd, &slot, &inner_fd, BPF_ANY) ?
		       -errno :
		       0;
}

int idg_gen_commit(const struct idg_dp *dp, struct idg_gen *g,
		   uint32_t *new_gen)
{
	uint32_t zero = 0, cur, next, slot;
	int err;

	err = idg_dp_active_gen(dp, &cur);
	if (err)
		return err;
	/* 0 means "never configured"; skipping it keeps slots alternating. */
	next = cur + 1 ? cur + 1 : 2;
	slot = IDG_GEN_SLOT(next);

	g->cfg.gen = next;
	err = map_add(g->cfg_fd, &zero, &g->cfg, BPF_ANY);
	if (!err)
		err = map_add(g->tun_fd, &zero, &g->tun, BPF_ANY);
	if (err)
		return err;
	/* Nothing reads this slot: the previous commit's barrier saw to it. */
	err = slot_set(dp->cfg_gens_fd, slot, g->cfg_fd);
	if (!err)
		err = slot_set(dp->ipc_gens_fd, slot, g->ipc_fd);
	if (!err)
		err = slot_set(dp->ep_gens_fd, slot, g->ep_fd);
	if (!err)
		err = slot_set(dp->pol_gens_fd, slot, g->pol_fd);
	if (!err)
		err = slot_set(dp->polany_gens_fd, slot, g->polany_fd);
	if (!err)
		err = slot_set(dp->pair_gens_fd, slot, g->pair_fd);
	if (!err)
		err = slot_set(dp->tun_gens_fd, slot, g->tun_fd);
	if (!err)
		err = slot_set(dp->egw_gens_fd, slot, g->egw_fd);
	if (!err)
		err = slot_set(dp->gwset_gens_fd, slot, g->gwset_fd);
	if (!err)
		err = slot_set(dp->node_gens_fd, slot, g->node_fd);
	if (err)
		return err;

	err = map_add(dp->gen_fd, &zero, &next, BPF_ANY);
	if (err)
		return err;
	if (new_gen)
		*new_gen = next;
	/*
	 * Barrier: updating a map-in-map slot returns only after an RCU
	 * grace period, i.e. after every program that read the old number
	 * has finished. Re-setting the active slot to the map it already
	 * holds changes nothing for packets.
	 */
	return slot_set(dp->cfg_gens_fd, slot, g->cfg_fd);
}
