// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/route/qdisc.h>

#include "apply.h"
#include "attach.h"
#include "dp.h"
#include "egw_progs.h"
#include "l7.h"
#include "idgate_xdp.skel.h"
#include "util/util.h"


__attribute__((format(printf, 3, 4)))
static void seterr(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

int idg_meta_load(const char *state_dir, struct idg_meta *m)
{
	char path[PATH_MAX], line[256], a[64], b[64], c[64];
	int err = 0, x, y;
	FILE *f;

	memset(m, 0, sizeof(*m));
	m->abi = 1;
	if (idg_path_join(path, sizeof(path), state_dir, IDG_META_FILE))
		return -ENAMETOOLONG;
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct idg_tc_att *t;

		if (sscanf(line, "abi %u", &m->abi) == 1) {
			continue;
		} else if (sscanf(line, "uplink %15s %d", a, &x) == 2) {
			memcpy(m->uplink, a, strlen(a) + 1);
			m->uplink_ifindex = x;
		} else if (sscanf(line, "xdp_mode %15s", a) == 1) {
			memcpy(m->xdp_mode, a, strlen(a) + 1);
		} else if (sscanf(line, "tc %15s %d %7s %31s %d", a, &x, b, c,
				  &y) == 5 && m->n_tc < IDG_META_TC_MAX) {
			t = &m->tc[m->n_tc++];
			memcpy(t->ifname, a, strlen(a) + 1);
			t->ifindex = x;
			t->point = !strcmp(b, "ingress") ? BPF_TC_INGRESS :
							    BPF_TC_EGRESS;
			memcpy(t->prog, c, strlen(c) + 1);
			t->clsact_created = y != 0;
		} else {
			err = -EINVAL;
		}
	}
	if (!m->uplink[0] || m->uplink_ifindex <= 0)
		err = -EINVAL;
	fclose(f);
	return err;
}

/* The meta's text into buf (NUL-terminated); its length, or -ENOSPC. */
static int meta_text(const struct idg_meta *m, char *buf, size_t size)
{
	size_t o;
	int n;

	/* Always this idgate's ABI: a meta is written only for maps this
	 * idgate pinned or checked. */
	n = snprintf(buf, size, "abi %u\nuplink %s %d\nxdp_mode %s\n",
		     IDG_ABI_VERSION, m->uplink, m->uplink_ifindex,
		     m->xdp_mode[0] ? m->xdp_mode : "-");
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	o = (size_t)n;
	for (size_t i = 0; i < m->n_tc; i++) {
		n = snprintf(buf + o, size - o, "tc %s %d %s %s %d\n",
			     m->tc[i].ifname, m->tc[i].ifindex,
			     m->tc[i].point == BPF_TC_INGRESS ? "ingress" :
								"egress",
			     m->tc[i].prog, m->tc[i].clsact_created);
		if (n < 0 || (size_t)n >= size - o)
			return -ENOSPC;
		o += (size_t)n;
	}
	return (int)o;
}

int idg_meta_save(const char *state_dir, const struct idg_meta *m)
{
	char path[PATH_MAX], text[256 + IDG_META_TC_MAX * 256];
	int err, len;

	len = meta_text(m, text, sizeof(text));
	if (len < 0)
		return len;
	err = idg_mkdir_p(state_dir, 0700);
	if (err)
		return err;
	if (idg_path_join(path, sizeof(path), state_dir, IDG_META_FILE))
		return -ENAMETOOLONG;
	/* Most applies change nothing in it: no new file, no sync. */
	if (idg_file_holds(path, text, (size_t)len))
		return 0;
	return idg_file_replace_buf(path, 0644, text, (size_t)len);
}

/* Idle lifetimes of gateway NAT mappings: established TCP and answered
 * flows as Cilium's conntrack; handshakes, unanswered datagrams and
 * closing connections short, so that a spray cannot hold ports. */
#define IDG_NAT_TCP_TIMEOUT_NS (21600ull * 1000000000ull)
#define IDG_NAT_OTHER_TIMEOUT_NS (60ull * 1000000000ull)
#define IDG_NAT_NEW_TIMEOUT_NS (20ull * 1000000000ull)
#define IDG_NAT_CLOSE_TIMEOUT_NS (10ull * 1000000000ull)
#define IDG_NAT_PORT_MIN 1024
#define IDG_NAT_PORT_MAX 65535

static int egw_fill(struct idg_gen *g, const struct idg_compiled *c,
		    const struct idg_apply_opts *o)
{
	const struct idg_node *self = c->node;
	struct idg_tun_cfg *t = &g->tun;
	int err;

	memset(t, 0, sizeof(*t));
	t->cluster_id = c->cluster_id;
	if (self->has_tunnel_ip && self->tunnel_ip.family == IDG_FAM_IPV4)
		memcpy(&t->tunnel_ip, self->tunnel_ip.addr, 4);
	if (o->uplink) {
		t->uplink_ifindex = (uint32_t)o->uplink->ifindex;
		t->uplink_mtu = o->uplink->mtu;
	}
	if (o->external)
		t->external_ifindex = (uint32_t)o->external->ifindex;
	if (self->has_egress_ip && self->egress_ip.family == IDG_FAM_IPV4)
		memcpy(&t->egress_ip, self->egress_ip.addr, 4);
	t->nat_port_min = self->nat_port_max ? self->nat_port_min :
					       IDG_NAT_PORT_MIN;
	t->nat_port_max = self->nat_port_max ? self->nat_port_max :
					       IDG_NAT_PORT_MAX;
	t->nat_tcp_timeout_ns = IDG_NAT_TCP_TIMEOUT_NS;
	t->nat_other_timeout_ns = IDG_NAT_OTHER_TIMEOUT_NS;
	t->nat_new_timeout_ns = IDG_NAT_NEW_TIMEOUT_NS;
	t->nat_close_timeout_ns = IDG_NAT_CLOSE_TIMEOUT_NS;
	t->nat_src_quota = self->nat_src_quota ? self->nat_src_quota :
						 IDG_SNAT_SRC_QUOTA_DEFAULT;
	if (c->is_gateway)
		t->flags |= IDG_TUN_F_GATEWAY;

	for (size_t i = 0; i < c->n_tnodes; i++) {
		struct idg_node_val v = { .cluster_id = c->tnodes[i].cluster_id };

		err = idg_gen_node_add(g, c->tnodes[i].tunnel_ip, &v);
		if (err)
			return err;
	}
	for (size_t i = 0; i < c->n_gwsets; i++) {
		err = idg_gen_gwset_set(g, c->gwsets[i].index, &c->gwsets[i].set);
		if (err)
			return err;
	}
	for (size_t i = 0; i < c->n_egw; i++) {
		const struct idg_egw_entry *e = &c->egw[i];
		struct idg_egw_key k = {
			.prefixlen = IDG_EGW_KEY_FIXED_BITS + e->dst.plen,
			.cluster_id = e->cluster_id,
			.src_ip = e->src_ip,
		};

		memcpy(&k.dst_ip, e->dst.addr, 4);
		err = idg_gen_egw_add(g, &k, &e->val);
		if (err)
			return err;
	}
	return 0;
}

int idg_gen_fill(struct idg_gen *g, const struct idg_compiled *c,
		 const struct idg_apply_opts *o)
{
	int err;

	g->cfg.cluster_id = c->cluster_id;
	g->cfg.enforcement = c->enforcement;
	g->cfg.host_flags = c->host_flags;
	g->cfg.drop_event_interval_ns = o->drop_event_interval_ns;
	g->cfg.events_per_s_cpu = IDG_EV_BUDGET_DEFAULT;
	if (c->node->drop_unknown_ethertypes)
		g->cfg.flags |= IDG_CFG_F_DROP_NON_IP;

	/* Most entries are hosts and exact rules: sized once. */
	err = idg_kv_reserve(&g->m[IDG_GM_IPCH], (uint32_t)c->n_ipcache);
	if (!err)
		err = idg_kv_reserve(&g->polx_raw, (uint32_t)c->n_rules);
	if (!err)
		err = idg_kv_reserve(&g->m[IDG_GM_PAIR], (uint32_t)c->n_rules);
	if (err)
		return err;

	for (size_t i = 0; i < c->n_ipcache; i++) {
		const struct idg_ipcache_entry *e = &c->ipcache[i];
		struct idg_ipcache_val v = { .identity = e->identity,
					     .tunnel_ip = e->tunnel_ip,
					     .flags = e->expired ?
							      IDG_IPC_F_EXPIRED :
							      0 };
		struct idg_ip_key k;

		err = idg_ip_key_make(&k, e->cidr.family, e->cidr.addr,
				      e->cidr.plen, e->key_cluster);
		if (!err)
			err = idg_gen_ipcache_add(g, &k, &v);
		if (err)
			return err;
	}
	for (size_t i = 0; i < c->n_eps; i++) {
		const struct idg_local_ep *e = &c->eps[i];
		struct idg_ep_val v = { .identity = e->identity,
					.flags = e->flags,
					.ep_id = e->ep_id };
		struct idg_ip_key k;

		/* The workload interfaces were checked to exist before. */
		if (e->ep->interface) {
			v.ifindex = if_nametoindex(e->ep->interface);
			if (!v.ifindex)
				return -ENODEV;
		}

		err = idg_ip_key_make(&k, e->cidr.family, e->cidr.addr,
				      e->cidr.plen, (uint16_t)c->cluster_id);
		if (!err)
			err = idg_gen_ep_add(g, &k, &v);
		if (err)
			return err;
	}
	for (size_t i = 0; c->host_flags && o->host && i < o->host->n_addrs; i++) {
		const struct idg_iface *h = o->host;
		struct idg_ep_val v = { .identity = IDG_ID_HOST,
					.flags = c->host_flags };
		struct idg_ip_key k;
		int fam = h->addrs[i].family == AF_INET ? IDG_FAM_IPV4 :
							  IDG_FAM_IPV6;

		err = idg_ip_key_make(&k, fam, h->addrs[i].addr,
				      fam == IDG_FAM_IPV4 ? 32 : 128,
				      (uint16_t)c->cluster_id);
		if (!err)
			err = idg_gen_ep_add(g, &k, &v);
		if (err)
			return err;
	}
	for (size_t i = 0; i < c->n_rules; i++) {
		err = idg_gen_policy_add(g, &c->rules[i]);
		if (err)
			return err;
	}
	return egw_fill(g, c, o);
}

static int zero_fresh_counters(const struct idg_dp *dp,
			       const struct idg_compiled *c,
			       const uint8_t *known)
{
	int ncpu = libbpf_num_possible_cpus();
	struct idg_counter *zero;
	int err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	zero = calloc((size_t)ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_cookies && !err; i++) {
		uint32_t ck = c->cookies[i].cookie;

		if (known && (known[ck / 8] & (1u << (ck % 8))))
			continue;
		if (bpf_map_update_elem(dp->rule_st_fd, &ck, zero, BPF_ANY))
			err = -errno;
	}
	free(zero);
	return err;
}

/* Build a generation from c beside the live one and switch to it. */
static int build_and_switch(const struct idg_instance *in,
			    const struct idg_dp *dp, struct idg_gen *g,
			    const struct idg_compiled *c,
			    const struct idg_apply_opts *o,
			    struct idg_apply_result *res, char *errbuf,
			    size_t errlen)
{
	struct idg_gen_commit_opts co = { .shadow_dir = in->state_dir };
	double t0 = idg_now_ms();
	int err;

	err = idg_gen_create(g, NULL);
	if (!err)
		err = idg_gen_fill(g, c, o);
	res->fill_ms = idg_now_ms() - t0;
	if (err) {
		seterr(errbuf, errlen, "cannot fill the policy maps: %s",
		       strerror(-err));
		return err;
	}
	/* The live generation never counts on a cookie it did not use. */
	err = zero_fresh_counters(dp, c, o->known_cookies);
	if (err) {
		seterr(errbuf, errlen, "cannot reset rule counters: %s",
		       strerror(-err));
		return err;
	}
	t0 = idg_now_ms();
	if (o->quiesce) {
		/* Started before the compile: normally long over by now. */
		idg_gen_quiesce_wait(o->quiesce);
		co.quiesce = o->quiesce;
	}
	res->quiesce_wait_ms = idg_now_ms() - t0;
	err = idg_gen_commit_ex(dp, g, &co, &res->gen, &res->commit);
	res->switch_ms = res->quiesce_wait_ms + res->commit.switch_ms;
	if (err) {
		seterr(errbuf, errlen, "cannot switch generation: %s",
		       strerror(-err));
		return err;
	}
	res->counts.ipcache = g->n_ipcache;
	res->counts.endpoints = g->n_endpoints;
	res->counts.policy = g->n_policy;
	return 0;
}

static int pin_prog(int fd, const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (idg_path_join(path, sizeof(path), dir, name))
		return -ENAMETOOLONG;
	unlink(path);
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

/*
 * Remove the named entries of dir (and their temporary leftovers), then dir
 * if that left it empty. Only what idgate wrote is touched: a state dir
 * pointed at a shared directory keeps everything else.
 */
static int remove_known(const char *dir, const char *const *names, size_t n)
{
	char path[PATH_MAX];
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		if (idg_path_join(path, sizeof(path), dir, names[i]))
			return -ENAMETOOLONG;
		if (unlink(path) && errno != ENOENT)
			err = err ? err : -errno;
		idg_file_replace_leftovers(path);
	}
	if (rmdir(dir) && errno != ENOENT && errno != ENOTEMPTY)
		err = err ? err : -errno;
	return err;
}

static const char *const shadow_names[] = { IDG_GEN_SHADOW_0,
					    IDG_GEN_SHADOW_1 };

static int remove_pins(const char *pin_dir)
{
	/* The programs, and the one map of the tc object alone. */
	static const char *const others[] = {
		IDG_PIN_XDP_PROG, IDG_PIN_TC_PROG, IDG_PIN_TC_IN_PROG,
		IDG_PIN_WL_PROG, IDG_PIN_WL_EGRESS_PROG, IDG_PIN_TUNNEL_PROG,
		IDG_PIN_GW_EXT_PROG, IDG_MAP_TC_PULL, IDG_PIN_L7_PROG,
		IDG_MAP_L7_PORTS, IDG_MAP_L7_PROXY,
	};
	const char *names[IDG_DP_N_MAPS + sizeof(others) / sizeof(others[0])];
	size_t n = idg_dp_map_names(names, IDG_DP_N_MAPS);

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		names[n++] = others[i];
	return remove_known(pin_dir, names, n);
}

static int remove_state(const char *state_dir)
{
	static const char *const names[] = { IDG_STATE_FILE, IDG_APPLIED_CONFIG,
					     IDG_APPLIED_IDS,
					     IDG_META_FILE, IDG_GEN_SHADOW_0,
					     IDG_GEN_SHADOW_1 };

	char dir[PATH_MAX];
	int err;

	if (idg_path_join(dir, sizeof(dir), state_dir, IDG_APPLIED_DIR))
		return -ENAMETOOLONG;
	err = idg_dir_remove(dir);
	return remove_known(state_dir, names, sizeof(names) / sizeof(names[0])) ?: err;
}

/* Open the XDP object against the pinned maps, for libxdp to load. */
static int xdp_attach_pinned(const char *pin_dir, int ifindex,
			     enum idg_xdp_mode mode, const char **used,
			     char *errbuf, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct idgate_xdp *skel = idgate_xdp__open_opts(&opts);
	char why[256] = "";
	int err;

	if (!skel) {
		seterr(errbuf, errlen, "cannot open the XDP object: %s",
		       strerror(errno));
		return -errno;
	}
	err = idg_xdp_attach(skel->obj, ifindex, mode, used, why, sizeof(why));
	if (err)
		seterr(errbuf, errlen, "cannot attach XDP (%s mode): %s",
		       mode == IDG_XDP_SKB ? "skb" :
		       mode == IDG_XDP_NATIVE ? "native" : "native or skb",
		       why);
	idgate_xdp__destroy(skel);
	return err;
}

/* A program by its pin name; the egress programs are loaded (and pinned)
 * the first time a config needs them. */
static int prog_get(const struct idg_instance *in, const char *name)
{
	char path[PATH_MAX];
	int fd, err;

	if (idg_path_join(path, sizeof(path), in->pin_dir, name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : -errno;
	err = idg_egw_progs_load(in->pin_dir, name);
	if (err == -ENOENT)
		err = idg_l7_progs_load(in->pin_dir, name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	return fd >= 0 ? fd : -errno;
}

uint32_t idg_tc_att_prio(const struct idg_tc_att *t)
{
	if (!strcmp(t->prog, IDG_PIN_TC_IN_PROG))
		return IDG_TC_PRIO_FILTER;
	return strcmp(t->prog, IDG_PIN_L7_PROG) ? IDG_TC_PRIO : IDG_TC_PRIO_L7;
}

static struct idg_tc_att *meta_find(struct idg_meta *m,
				    const struct idg_tc_att *w)
{
	for (size_t i = 0; i < m->n_tc; i++)
		if (m->tc[i].ifindex == w->ifindex &&
		    m->tc[i].point == w->point &&
		    idg_tc_att_prio(&m->tc[i]) == idg_tc_att_prio(w))
			return &m->tc[i];
	return NULL;
}

/* 1 when ifindex has a clsact (or ingress) qdisc, 0 if not, or -errno. */
static int clsact_exists(int ifindex)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *cache = NULL;
	struct rtnl_qdisc *q;
	int err;

	if (!sk)
		return -ENOMEM;
	if (nl_connect(sk, NETLINK_ROUTE) ||
	    rtnl_qdisc_alloc_cache(sk, &cache)) {
		err = -EIO;
		goto out;
	}
	/* Both sit at the same parent: where one is, the other cannot be. */
	q = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_CLSACT);
	err = q != NULL;
	if (q)
		rtnl_qdisc_put(q);
out:
	if (cache)
		nl_cache_free(cache);
	nl_socket_free(sk);
	return err;
}

/*
 * A filter or qdisc that is not there (never attached, removed by someone
 * else, or gone with the qdisc an earlier entry removed) is no error: a
 * crash can leave a meta that records more than was attached.
 */
static int tc_att_detach(const struct idg_tc_att *t)
{
	int err = idg_tc_detach(t->ifindex, t->point, idg_tc_att_prio(t));
	int have, qerr = 0;

	if (!t->clsact_created)
		return err;
	have = clsact_exists(t->ifindex);
	if (have < 0) {
		qerr = have;
	} else if (have) {
		qerr = idg_tc_clsact_destroy(t->ifindex);
	}
	return err ? err : qerr;
}

/* The tc attachments c needs, in attach order. */
static int tc_wanted(const struct idg_compiled *c,
		     const struct idg_apply_opts *o, bool tc_filter,
		     struct idg_tc_att *want, size_t *n_want, char *errbuf,
		     size_t errlen)
{
	int err;

	*n_want = 0;
	/* Uplink egress first: it creates clsact, so detaching the ingress
	 * filter later never removes the qdisc under the others. */
	want[(*n_want)++] = (struct idg_tc_att){ .ifindex = o->uplink->ifindex,
						 .point = BPF_TC_EGRESS,
						 .prog = IDG_PIN_TC_PROG };
	if (tc_filter)
		want[(*n_want)++] = (struct idg_tc_att){
			.ifindex = o->uplink->ifindex,
			.point = BPF_TC_INGRESS,
			.prog = IDG_PIN_TC_IN_PROG
		};
	for (size_t k = 0; k < *n_want; k++)
		memcpy(want[k].ifname, o->uplink->name, sizeof(want[k].ifname));
	err = idg_egw_wanted(c, o->uplink, o->external, want, n_want,
			     IDG_META_TC_MAX);
	if (err) {
		seterr(errbuf, errlen, "egress gateway interfaces: %s",
		       strerror(-err));
		return err;
	}
	err = idg_l7_tc_wanted(c, o->uplink, want, n_want, IDG_META_TC_MAX);
	if (err) {
		seterr(errbuf, errlen, "L7 steering: %s", strerror(-err));
		return err;
	}
	return 0;
}

/*
 * Bring the tc attachments to what c wants: attach what is missing
 * (also what someone removed), detach what the config no longer needs.
 * m records every attachment, so unload and a failed first apply can
 * undo exactly what was done.
 */
static int tc_sync(const struct idg_instance *in, const struct idg_compiled *c,
		   const struct idg_apply_opts *o, bool tc_filter,
		   struct idg_meta *m, struct idg_apply_result *res,
		   char *errbuf, size_t errlen)
{
	struct idg_tc_att want[IDG_META_TC_MAX];
	size_t n_want;
	int err;

	err = tc_wanted(c, o, tc_filter, want, &n_want, errbuf, errlen);
	if (err)
		return err;
	/* The steered ports before the program that reads them. */
	err = idg_l7_sync(in->pin_dir, c);
	if (err) {
		seterr(errbuf, errlen, "L7 steering map: %s", strerror(-err));
		return err;
	}

	for (size_t i = 0; i < m->n_tc;) {
		bool keep = false;

		for (size_t k = 0; k < n_want; k++)
			keep |= want[k].ifindex == m->tc[i].ifindex &&
				want[k].point == m->tc[i].point &&
				!strcmp(want[k].prog, m->tc[i].prog);
		if (keep) {
			i++;
			continue;
		}
		tc_att_detach(&m->tc[i]);
		m->tc[i] = m->tc[--m->n_tc];
	}
	for (size_t k = 0; k < n_want; k++) {
		struct idg_tc_att *t = meta_find(m, &want[k]);
		bool created = false;
		int fd;

		if (t && idg_tc_attached(t->ifindex, t->point,
					 idg_tc_att_prio(t)))
			continue;
		fd = prog_get(in, want[k].prog);
		if (fd < 0) {
			seterr(errbuf, errlen, "cannot load program %s: %s",
			       want[k].prog, strerror(-fd));
			return fd;
		}
		err = idg_tc_attach(fd, want[k].ifindex, want[k].point,
				    idg_tc_att_prio(&want[k]), &created);
		close(fd);
		if (err) {
			seterr(errbuf, errlen, "cannot attach %s to %s (tc %s): %s",
			       want[k].prog, want[k].ifname,
			       want[k].point == BPF_TC_INGRESS ? "ingress" :
								 "egress",
			       strerror(-err));
			return err;
		}
		if (t) {
			res->reattached = true;
			continue;
		}
		want[k].clsact_created = created;
		m->tc[m->n_tc++] = want[k];
	}
	return 0;
}

/*
 * Where the ingress filter runs. auto: tc ingress on veth, native XDP
 * (falling back to skb mode) elsewhere. On veth, native XDP gains nothing
 * (packets arrive as skbs from the peer either way) and costs the peer its
 * TSO: docs/benchmarks.md has the measurements behind this rule.
 */
static enum idg_xdp_mode ingress_hook(const struct idg_node *n,
				      const struct idg_iface *up)
{
	if (n->xdp_mode != IDG_XDP_AUTO)
		return n->xdp_mode;
	return !strcmp(up->kind, "veth") ? IDG_XDP_TC : IDG_XDP_AUTO;
}

static bool xdp_mode_differs(enum idg_xdp_mode want, const char *cur)
{
	return (want == IDG_XDP_NATIVE && strcmp(cur, "native")) ||
	       (want == IDG_XDP_SKB && strcmp(cur, "skb"));
}

/*
 * Bring the ingress filter (XDP in a mode, or tc) and the tc programs to
 * what c wants on a live instance. Every switch is make-before-break: the
 * tc filter is attached before XDP goes, and covers a change of XDP mode
 * (the kernel refuses native and skb XDP on one interface at once).
 */
static int ingress_sync(const struct idg_instance *in,
			const struct idg_compiled *c,
			const struct idg_apply_opts *o, enum idg_xdp_mode hook,
			struct idg_meta *m, struct idg_apply_result *res,
			char *errbuf, size_t errlen)
{
	int ifindex = o->uplink->ifindex, err;
	const char *cur = NULL;
	bool xdp_on = idg_xdp_attached(ifindex, &cur, NULL) != 0;

	if (xdp_on && hook != IDG_XDP_TC && !xdp_mode_differs(hook, cur)) {
		res->xdp_mode = cur;
		err = tc_sync(in, c, o, false, m, res, errbuf, errlen);
		goto out;
	}
	err = tc_sync(in, c, o, true, m, res, errbuf, errlen);
	if (!err && xdp_on) {
		err = idg_xdp_detach(ifindex);
		if (err)
			seterr(errbuf, errlen, "cannot detach XDP from %s: %s",
			       o->uplink->name, strerror(-err));
	}
	if (err || hook == IDG_XDP_TC) {
		res->xdp_mode = err ? m->xdp_mode : "tc";
		goto out;
	}
	/* On failure the tc filter stays: the node keeps enforcing. */
	err = xdp_attach_pinned(in->pin_dir, ifindex, hook, &res->xdp_mode,
				errbuf, errlen);
	if (err) {
		res->xdp_mode = "tc";
		goto out;
	}
	res->reattached |= !xdp_on && !strcmp(m->xdp_mode, res->xdp_mode);
	err = tc_sync(in, c, o, false, m, res, errbuf, errlen);
out:
	if (res->xdp_mode != m->xdp_mode)
		snprintf(m->xdp_mode, sizeof(m->xdp_mode), "%s", res->xdp_mode);
	return err;
}

static void keep_err(int *first, int err)
{
	if (err && !*first)
		*first = err;
}

/*
 * What the first apply is about to attach, for the meta written before
 * anything is attached: killed at any later point, the loader leaves a
 * meta from which `unload` removes all it may have attached. A clsact
 * qdisc missing now is one apply will create, so unload may remove it.
 */
static int meta_intent(const struct idg_compiled *c,
		       const struct idg_apply_opts *o,
		       const struct idg_iface *up, enum idg_xdp_mode hook,
		       struct idg_meta *m, char *errbuf, size_t errlen)
{
	static const char *const modes[] = { [IDG_XDP_AUTO] = "auto",
					     [IDG_XDP_NATIVE] = "native",
					     [IDG_XDP_SKB] = "skb",
					     [IDG_XDP_TC] = "tc" };
	int err;

	memset(m, 0, sizeof(*m));
	snprintf(m->uplink, sizeof(m->uplink), "%s", up->name);
	m->uplink_ifindex = up->ifindex;
	snprintf(m->xdp_mode, sizeof(m->xdp_mode), "%s", modes[hook]);
	err = tc_wanted(c, o, hook == IDG_XDP_TC, m->tc, &m->n_tc, errbuf,
			errlen);
	for (size_t i = 0; !err && i < m->n_tc; i++) {
		bool first = true;
		int have;

		for (size_t k = 0; k < i; k++)
			first &= m->tc[k].ifindex != m->tc[i].ifindex;
		if (!first)
			continue;
		have = clsact_exists(m->tc[i].ifindex);
		if (have < 0) {
			err = have;
			seterr(errbuf, errlen, "cannot list the qdiscs of %s: %s",
			       m->tc[i].ifname, strerror(-err));
		}
		m->tc[i].clsact_created = have == 0;
	}
	return err;
}

static int first_apply(struct idg_instance *in, const struct idg_compiled *c,
		       const struct idg_iface *up, const struct idg_apply_opts *o,
		       struct idg_apply_result *res, char *errbuf,
		       size_t errlen)
{
	struct idg_meta meta = { .uplink_ifindex = up->ifindex }, intent;
	struct idg_gen g = { .ready = false };
	enum idg_xdp_mode hook = ingress_hook(c->node, up);
	bool xdp_on = false, intent_saved = false;
	int err, undo = 0;
	struct idg_dp dp;

	snprintf(meta.uplink, sizeof(meta.uplink), "%s", up->name);
	err = idg_dp_open(&dp, in->pin_dir);
	if (err) {
		seterr(errbuf, errlen, "cannot load the BPF programs: %s",
		       strerror(-err));
		goto fail;
	}
	/* Configure before attaching: the programs never run empty. */
	err = build_and_switch(in, &dp, &g, c, o, res, errbuf, errlen);
	if (err)
		goto fail;
	err = pin_prog(dp.xdp_prog_fd, in->pin_dir, IDG_PIN_XDP_PROG);
	if (!err)
		err = pin_prog(dp.tc_prog_fd, in->pin_dir, IDG_PIN_TC_PROG);
	if (!err)
		err = pin_prog(dp.tc_in_prog_fd, in->pin_dir,
			       IDG_PIN_TC_IN_PROG);
	if (err) {
		seterr(errbuf, errlen, "cannot pin programs in %s: %s",
		       in->pin_dir, strerror(-err));
		goto fail;
	}
	err = meta_intent(c, o, up, hook, &intent, errbuf, errlen);
	if (err)
		goto fail;
	err = idg_meta_save(in->state_dir, &intent);
	if (err) {
		seterr(errbuf, errlen, "cannot write %s: %s", in->state_dir,
		       strerror(-err));
		goto fail;
	}
	intent_saved = true;
	idg_test_kill_at("attach");
	err = tc_sync(in, c, o, hook == IDG_XDP_TC, &meta, res, errbuf,
		      errlen);
	if (err)
		goto fail;
	if (hook == IDG_XDP_TC) {
		res->xdp_mode = "tc";
	} else {
		err = xdp_attach_pinned(in->pin_dir, up->ifindex, hook,
					&res->xdp_mode, errbuf, errlen);
		if (err)
			goto fail;
		xdp_on = true;
		idg_xdp_attached(up->ifindex, NULL, &res->xdp_alone);
	}
	idg_test_kill_at("attached");
	/* Now what was attached, and which qdiscs apply really created. */
	snprintf(meta.xdp_mode, sizeof(meta.xdp_mode), "%s", res->xdp_mode);
	err = idg_meta_save(in->state_dir, &meta);
	if (err) {
		seterr(errbuf, errlen, "cannot write %s: %s", in->state_dir,
		       strerror(-err));
		goto fail;
	}
	res->first = true;
	res->n_tc = meta.n_tc;
	idg_gen_destroy(&g);
	idg_dp_close(&dp);
	return 0;

fail:
	/* Nothing half-installed stays behind. */
	if (xdp_on)
		undo = idg_xdp_detach(up->ifindex);
	for (size_t i = 0; i < meta.n_tc; i++)
		keep_err(&undo, tc_att_detach(&meta.tc[i]));
	idg_gen_destroy(&g);
	idg_dp_close(&dp);
	remove_pins(in->pin_dir);
	remove_known(in->state_dir, shadow_names, 2);
	if (intent_saved && !undo) {
		static const char *const meta_name[] = { IDG_META_FILE };

		remove_known(in->state_dir, meta_name, 1);
	} else if (undo) {
		size_t n = strlen(errbuf);

		/* The meta stays: it is what unload needs to finish. */
		snprintf(errbuf + n, errlen - n,
			 "; and cannot detach everything again (%s): run `idgate unload`",
			 strerror(-undo));
	}
	return err ? err : -EINVAL;
}

int idg_apply(struct idg_instance *in, const struct idg_compiled *c,
	      const struct idg_iface *uplink, const struct idg_apply_opts *o,
	      struct idg_apply_result *res, char *errbuf, size_t errlen)
{
	struct idg_gen g = { .ready = false };
	struct idg_meta meta;
	struct idg_dp dp;
	int err, serr;

	memset(res, 0, sizeof(*res));
	if (!idg_instance_exists(in)) {
		/* Attached programs whose pins someone removed still enforce:
		 * a second set attached beside them would judge every packet
		 * twice, by two policies. */
		if (!idg_meta_load(in->state_dir, &meta)) {
			seterr(errbuf, errlen,
			       "%s/%s records programs attached to %s, but the pinned maps in %s are gone (removed by hand?): those programs keep enforcing their last policy; run `idgate unload` to detach them, then apply again",
			       in->state_dir, IDG_META_FILE, meta.uplink,
			       in->pin_dir);
			return -ESTALE;
		}
		return first_apply(in, c, uplink, o, res, errbuf, errlen);
	}

	err = idg_meta_load(in->state_dir, &meta);
	if (err) {
		seterr(errbuf, errlen,
		       "%s holds pinned maps but %s/%s is missing or corrupt; run `idgate unload` first",
		       in->pin_dir, in->state_dir, IDG_META_FILE);
		return err;
	}
	if (meta.abi != IDG_ABI_VERSION) {
		seterr(errbuf, errlen,
		       "%s was pinned by an idgate with another datapath layout (version %u, this idgate has %u): run `idgate unload` and apply again (nothing is enforced in between)",
		       in->pin_dir, meta.abi, IDG_ABI_VERSION);
		return -EPROTO;
	}
	if (meta.uplink_ifindex != uplink->ifindex) {
		seterr(errbuf, errlen,
		       "the uplink changed (%s, ifindex %d, is now %s, ifindex %d): run `idgate unload` and apply again",
		       meta.uplink, meta.uplink_ifindex, uplink->name,
		       uplink->ifindex);
		return -EBUSY;
	}
	/* What this apply hands out is recorded there after the switch:
	 * a directory it cannot write fails it before, while the previous
	 * generation still enforces (most applies write no file there, so
	 * no write would fail to say it). */
	if (access(in->state_dir, W_OK)) {
		err = -errno;
		seterr(errbuf, errlen, "cannot write %s: %s", in->state_dir,
		       strerror(-err));
		return err;
	}
	err = idg_dp_open_pinned(&dp, in->pin_dir);
	if (err) {
		seterr(errbuf, errlen, "cannot open the maps pinned in %s: %s",
		       in->pin_dir, strerror(-err));
		return err;
	}
	err = build_and_switch(in, &dp, &g, c, o, res, errbuf, errlen);
	if (err)
		goto out;
	err = ingress_sync(in, c, o, ingress_hook(c->node, uplink), &meta, res,
			   errbuf, errlen);
	/* Whatever tc_sync did is recorded, also when something failed. */
	serr = idg_meta_save(in->state_dir, &meta);
	if (!err && serr) {
		seterr(errbuf, errlen, "cannot write %s: %s", in->state_dir,
		       strerror(-serr));
		err = serr;
	}
	res->n_tc = meta.n_tc;
out:
	idg_gen_destroy(&g);
	idg_dp_close(&dp);
	return err;
}

int idg_unload(struct idg_instance *in, char *errbuf, size_t errlen)
{
	struct idg_meta meta;
	int err, first = 0;

	err = idg_meta_load(in->state_dir, &meta);
	if (!err) {
		/* Entries never attached are no error: see tc_att_detach(). */
		err = idg_xdp_detach(meta.uplink_ifindex);
		if (err)
			first = err;
		for (size_t i = 0; i < meta.n_tc; i++) {
			err = tc_att_detach(&meta.tc[i]);
			if (err && !first)
				first = err;
		}
	} else if (err != -ENOENT) {
		seterr(errbuf, errlen, "cannot read %s: %s", in->state_dir,
		       strerror(-err));
		return err;
	}
	if (first) {
		seterr(errbuf, errlen, "cannot detach from %s: %s", meta.uplink,
		       strerror(-first));
		return first;
	}
	err = remove_pins(in->pin_dir);
	if (err) {
		seterr(errbuf, errlen, "cannot unpin %s: %s", in->pin_dir,
		       strerror(-err));
		return err;
	}
	/* The state dir holds only what this instance wrote. */
	err = remove_state(in->state_dir);
	if (err) {
		seterr(errbuf, errlen, "cannot remove %s: %s", in->state_dir,
		       strerror(-err));
		return err;
	}
	return 0;
}
