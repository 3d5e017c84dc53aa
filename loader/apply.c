// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "apply.h"
#include "attach.h"
#include "dp.h"
#include "idgate_xdp.skel.h"


static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

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
	char path[PATH_MAX], key[32], val[64];
	FILE *f;
	int err = 0;

	memset(m, 0, sizeof(*m));
	if (idg_path_join(path, sizeof(path), state_dir, IDG_META_FILE))
		return -ENAMETOOLONG;
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fscanf(f, "%31s %63s", key, val) == 2) {
		if (!strcmp(key, "uplink") && strlen(val) < sizeof(m->uplink))
			memcpy(m->uplink, val, strlen(val) + 1);
		else if (!strcmp(key, "uplink_ifindex"))
			m->uplink_ifindex = atoi(val);
		else if (!strcmp(key, "xdp_mode") &&
			 strlen(val) < sizeof(m->xdp_mode))
			memcpy(m->xdp_mode, val, strlen(val) + 1);
		else if (!strcmp(key, "clsact_created"))
			m->clsact_created = atoi(val) != 0;
	}
	if (!m->uplink[0] || m->uplink_ifindex <= 0)
		err = -EINVAL;
	fclose(f);
	return err;
}

int idg_meta_save(const char *state_dir, const struct idg_meta *m)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;
	int err;

	err = idg_mkdir_p(state_dir, 0700);
	if (err)
		return err;
	if (idg_path_join(path, sizeof(path), state_dir, IDG_META_FILE) ||
	    idg_path_join(tmp, sizeof(tmp), state_dir, IDG_META_FILE ".tmp"))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "uplink %s\nuplink_ifindex %d\nxdp_mode %s\nclsact_created %d\n",
		m->uplink, m->uplink_ifindex, m->xdp_mode[0] ? m->xdp_mode : "-",
		m->clsact_created);
	if (fflush(f) || fsync(fileno(f))) {
		err = -errno;
		fclose(f);
		return err;
	}
	fclose(f);
	return rename(tmp, path) ? -errno : 0;
}

/* Idle lifetimes of gateway NAT mappings (Cilium's conntrack defaults). */
#define IDG_NAT_TCP_TIMEOUT_NS (21600ull * 1000000000ull)
#define IDG_NAT_OTHER_TIMEOUT_NS (60ull * 1000000000ull)
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
	t->nat_port_min = IDG_NAT_PORT_MIN;
	t->nat_port_max = IDG_NAT_PORT_MAX;
	t->nat_tcp_timeout_ns = IDG_NAT_TCP_TIMEOUT_NS;
	t->nat_other_timeout_ns = IDG_NAT_OTHER_TIMEOUT_NS;
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

	for (size_t i = 0; i < c->n_ipcache; i++) {
		const struct idg_ipcache_entry *e = &c->ipcache[i];
		struct idg_ipcache_val v = { .identity = e->identity,
					     .tunnel_ip = e->tunnel_ip };
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
static int build_and_switch(const struct idg_dp *dp, struct idg_gen *g,
			    const struct idg_compiled *c,
			    const struct idg_apply_opts *o,
			    struct idg_apply_result *res, char *errbuf,
			    size_t errlen)
{
	double t0 = now_ms();
	int err;

	err = idg_gen_create(g, NULL);
	if (!err)
		err = idg_gen_fill(g, c, o);
	res->fill_ms = now_ms() - t0;
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
	t0 = now_ms();
	err = idg_gen_commit(dp, g, &res->gen);
	res->switch_ms = now_ms() - t0;
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
 * Remove the named entries of dir (and their ".tmp" leftovers), then dir
 * if that left it empty. Only what idgate wrote is touched: a state dir
 * pointed at a shared directory keeps everything else.
 */
static int remove_known(const char *dir, const char *const *names, size_t n)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		if (idg_path_join(path, sizeof(path), dir, names[i]) ||
		    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
			return -ENAMETOOLONG;
		if (unlink(path) && errno != ENOENT)
			err = err ? err : -errno;
		unlink(tmp);
	}
	if (rmdir(dir) && errno != ENOENT && errno != ENOTEMPTY)
		err = err ? err : -errno;
	return err;
}

static int remove_pins(const char *pin_dir)
{
	const char *names[64];
	size_t n = idg_dp_map_names(names, 62);

	if (n > 62)
		return -E2BIG;
	names[n++] = IDG_PIN_XDP_PROG;
	names[n++] = IDG_PIN_TC_PROG;
	return remove_known(pin_dir, names, n);
}

static int remove_state(const char *state_dir)
{
	static const char *const names[] = { IDG_STATE_FILE, IDG_APPLIED_CONFIG,
					     IDG_META_FILE };

	return remove_known(state_dir, names, sizeof(names) / sizeof(names[0]));
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

static int first_apply(struct idg_instance *in, const struct idg_compiled *c,
		       const struct idg_iface *up, const struct idg_apply_opts *o,
		       struct idg_apply_result *res, char *errbuf,
		       size_t errlen)
{
	struct idg_meta meta = { .uplink_ifindex = up->ifindex };
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = up->ifindex,
		    .attach_point = BPF_TC_EGRESS);
	bool xdp_on = false, tc_on = false;
	struct idg_gen g = { .cfg_fd = -1 };
	struct idg_dp dp;
	int err;

	snprintf(meta.uplink, sizeof(meta.uplink), "%s", up->name);
	err = idg_dp_open(&dp, in->pin_dir);
	if (err) {
		seterr(errbuf, errlen, "cannot load the BPF programs: %s",
		       strerror(-err));
		goto fail;
	}
	/* Configure before attaching: the programs never run empty. */
	err = build_and_switch(&dp, &g, c, o, res, errbuf, errlen);
	if (err)
		goto fail;
	err = pin_prog(dp.xdp_prog_fd, in->pin_dir, IDG_PIN_XDP_PROG);
	if (!err)
		err = pin_prog(dp.tc_prog_fd, in->pin_dir, IDG_PIN_TC_PROG);
	if (err) {
		seterr(errbuf, errlen, "cannot pin programs in %s: %s",
		       in->pin_dir, strerror(-err));
		goto fail;
	}

	err = idg_tc_attach(dp.tc_prog_fd, up->ifindex, BPF_TC_EGRESS,
			    &meta.clsact_created);
	if (err) {
		seterr(errbuf, errlen, "cannot attach tc egress on %s: %s",
		       up->name, strerror(-err));
		goto fail;
	}
	tc_on = true;
	err = xdp_attach_pinned(in->pin_dir, up->ifindex, c->node->xdp_mode,
				&res->xdp_mode, errbuf, errlen);
	if (err)
		goto fail;
	xdp_on = true;
	idg_xdp_attached(up->ifindex, NULL, &res->xdp_alone);
	snprintf(meta.xdp_mode, sizeof(meta.xdp_mode), "%s", res->xdp_mode);
	err = idg_meta_save(in->state_dir, &meta);
	if (err) {
		seterr(errbuf, errlen, "cannot write %s: %s", in->state_dir,
		       strerror(-err));
		goto fail;
	}
	res->first = true;
	idg_gen_destroy(&g);
	idg_dp_close(&dp);
	return 0;

fail:
	/* Nothing half-installed stays behind. */
	if (xdp_on)
		idg_xdp_detach(up->ifindex);
	if (tc_on)
		idg_tc_detach(up->ifindex, BPF_TC_EGRESS);
	if (meta.clsact_created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	idg_gen_destroy(&g);
	idg_dp_close(&dp);
	remove_pins(in->pin_dir);
	return err ? err : -EINVAL;
}

/* Put back a program someone removed, before switching. */
static int ensure_attached(struct idg_instance *in, const struct idg_compiled *c,
			   const struct idg_iface *up,
			   struct idg_apply_result *res, char *errbuf,
			   size_t errlen)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (!idg_tc_attached(up->ifindex, BPF_TC_EGRESS)) {
		if (idg_path_join(path, sizeof(path), in->pin_dir,
				  IDG_PIN_TC_PROG))
			return -ENAMETOOLONG;
		fd = bpf_obj_get(path);
		if (fd < 0) {
			seterr(errbuf, errlen, "tc program not pinned at %s: %s",
			       path, strerror(errno));
			return -errno;
		}
		err = idg_tc_attach(fd, up->ifindex, BPF_TC_EGRESS, NULL);
		close(fd);
		if (err) {
			seterr(errbuf, errlen, "cannot re-attach tc egress: %s",
			       strerror(-err));
			return err;
		}
		res->reattached = true;
	}
	if (!idg_xdp_attached(up->ifindex, &res->xdp_mode, NULL)) {
		err = xdp_attach_pinned(in->pin_dir, up->ifindex,
					c->node->xdp_mode, &res->xdp_mode,
					errbuf, errlen);
		if (err)
			return err;
		res->reattached = true;
	}
	return 0;
}

int idg_apply(struct idg_instance *in, const struct idg_compiled *c,
	      const struct idg_iface *uplink, const struct idg_apply_opts *o,
	      struct idg_apply_result *res, char *errbuf, size_t errlen)
{
	struct idg_gen g = { .cfg_fd = -1 };
	struct idg_meta meta;
	struct idg_dp dp;
	int err;

	memset(res, 0, sizeof(*res));
	if (!idg_instance_exists(in))
		return first_apply(in, c, uplink, o, res, errbuf, errlen);

	err = idg_meta_load(in->state_dir, &meta);
	if (err) {
		seterr(errbuf, errlen,
		       "%s holds pinned maps but %s/%s is missing or corrupt; run `idgate unload` first",
		       in->pin_dir, in->state_dir, IDG_META_FILE);
		return err;
	}
	if (meta.uplink_ifindex != uplink->ifindex) {
		seterr(errbuf, errlen,
		       "the uplink changed (%s, ifindex %d, is now %s, ifindex %d): run `idgate unload` and apply again",
		       meta.uplink, meta.uplink_ifindex, uplink->name,
		       uplink->ifindex);
		return -EBUSY;
	}
	err = idg_dp_open_pinned(&dp, in->pin_dir);
	if (err) {
		seterr(errbuf, errlen, "cannot open the maps pinned in %s: %s",
		       in->pin_dir, strerror(-err));
		return err;
	}
	err = build_and_switch(&dp, &g, c, o, res, errbuf, errlen);
	if (err)
		goto out;
	err = ensure_attached(in, c, uplink, res, errbuf, errlen);
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
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = meta.uplink_ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		err = idg_xdp_detach(meta.uplink_ifindex);
		if (err)
			first = err;
		err = idg_tc_detach(meta.uplink_ifindex, BPF_TC_EGRESS);
		if (err && !first)
			first = err;
		if (meta.clsact_created)
			bpf_tc_hook_destroy(&hook);
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
