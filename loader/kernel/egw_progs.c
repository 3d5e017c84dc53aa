// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "egw_progs.h"
#include "idgate_gw.skel.h"
#include "idgate_tc_wl.skel.h"

static int add(struct idg_tc_att *want, size_t *n, size_t max,
	       const char *ifname, int ifindex, uint32_t point,
	       const char *prog)
{
	struct idg_tc_att *t;

	if (*n >= max)
		return -E2BIG;
	t = &want[(*n)++];
	memset(t, 0, sizeof(*t));
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	t->ifindex = ifindex;
	t->point = point;
	snprintf(t->prog, sizeof(t->prog), "%s", prog);
	return 0;
}

int idg_egw_wanted(const struct idg_compiled *c, const struct idg_iface *uplink,
		   const struct idg_iface *external,
		   struct idg_tc_att *want, size_t *n, size_t max)
{
	const struct idg_node *self = c->node;
	int err = 0;

	for (size_t i = 0; !err && i < self->n_endpoint_ifaces; i++) {
		struct idg_iface wl;

		err = idg_iface_get(self->endpoint_ifaces[i], &wl);
		if (!err)
			err = add(want, n, max, wl.name, wl.ifindex,
				  BPF_TC_INGRESS, IDG_PIN_WL_PROG);
		if (!err)
			err = add(want, n, max, wl.name, wl.ifindex,
				  BPF_TC_EGRESS, IDG_PIN_WL_EGRESS_PROG);
	}
	if (err || !idg_node_tunnels(c))
		return err;

	err = add(want, n, max, uplink->name, uplink->ifindex,
		  BPF_TC_INGRESS, IDG_PIN_TUNNEL_PROG);
	if (!err && c->is_gateway && external)
		err = add(want, n, max, external->name, external->ifindex,
			  BPF_TC_INGRESS, IDG_PIN_GW_EXT_PROG);
	return err;
}

static int pin(int fd, const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (idg_path_join(path, sizeof(path), dir, name))
		return -ENAMETOOLONG;
	unlink(path);
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

int idg_egw_progs_load(const char *pin_dir, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	int err;

	if (!strcmp(name, IDG_PIN_WL_PROG) ||
	    !strcmp(name, IDG_PIN_WL_EGRESS_PROG)) {
		struct idgate_tc_wl *s = idgate_tc_wl__open_opts(&opts);

		if (!s)
			return -errno;
		err = idgate_tc_wl__load(s);
		if (!err)
			err = pin(bpf_program__fd(s->progs.idgate_tc_wl_ingress),
				  pin_dir, IDG_PIN_WL_PROG);
		if (!err)
			err = pin(bpf_program__fd(s->progs.idgate_tc_wl_egress),
				  pin_dir, IDG_PIN_WL_EGRESS_PROG);
		idgate_tc_wl__destroy(s);
		return err;
	}
	if (!strcmp(name, IDG_PIN_TUNNEL_PROG) ||
	    !strcmp(name, IDG_PIN_GW_EXT_PROG)) {
		struct idgate_gw *s = idgate_gw__open_opts(&opts);

		if (!s)
			return -errno;
		err = idgate_gw__load(s);
		if (!err)
			err = pin(bpf_program__fd(s->progs.idgate_tunnel_in),
				  pin_dir, IDG_PIN_TUNNEL_PROG);
		if (!err)
			err = pin(bpf_program__fd(s->progs.idgate_gw_ext_in),
				  pin_dir, IDG_PIN_GW_EXT_PROG);
		idgate_gw__destroy(s);
		return err;
	}
	return -ENOENT;
}

int idg_egw_objs_open(struct idg_egw_objs *o, const struct idg_dp *dp)
{
	int err;

	memset(o, 0, sizeof(*o));
	o->wl_fd = o->wl_egress_fd = o->tunnel_fd = o->ext_fd = -1;
	o->wl = idgate_tc_wl__open();
	o->gw = idgate_gw__open();
	if (!o->wl || !o->gw) {
		err = -errno;
		goto out;
	}
	err = idg_dp_share_into(dp, o->wl->obj);
	if (!err)
		err = idg_dp_share_into(dp, o->gw->obj);
	if (!err)
		err = idgate_tc_wl__load(o->wl);
	if (!err)
		err = idgate_gw__load(o->gw);
	if (err)
		goto out;
	o->wl_fd = bpf_program__fd(o->wl->progs.idgate_tc_wl_ingress);
	o->wl_egress_fd = bpf_program__fd(o->wl->progs.idgate_tc_wl_egress);
	o->tunnel_fd = bpf_program__fd(o->gw->progs.idgate_tunnel_in);
	o->ext_fd = bpf_program__fd(o->gw->progs.idgate_gw_ext_in);
	return 0;
out:
	idg_egw_objs_close(o);
	return err ? err : -EINVAL;
}

void idg_egw_objs_close(struct idg_egw_objs *o)
{
	idgate_tc_wl__destroy(o->wl);
	idgate_gw__destroy(o->gw);
	memset(o, 0, sizeof(*o));
	o->wl_fd = o->wl_egress_fd = o->tunnel_fd = o->ext_fd = -1;
}
