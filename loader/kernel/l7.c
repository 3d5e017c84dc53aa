// SPDX-License-Identifier: GPL-2.0
/* L7 steering: the uplink's steering program and its maps. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <idgate/datapath.h>
#include <idgate/l7.h>

#include "idgate_l7.skel.h"
#include "l7.h"

bool idg_l7_wanted(const struct idg_compiled *c)
{
	for (size_t i = 0; i < c->l7.n; i++)
		if (c->l7.ports[i].dir == IDG_DIR_INGRESS)
			return true;
	return false;
}

int idg_l7_tc_wanted(const struct idg_compiled *c,
		     const struct idg_iface *uplink, struct idg_tc_att *want,
		     size_t *n, size_t max)
{
	struct idg_tc_att *t;

	if (!idg_l7_wanted(c))
		return 0;
	if (*n >= max)
		return -E2BIG;
	t = &want[(*n)++];
	memset(t, 0, sizeof(*t));
	snprintf(t->ifname, sizeof(t->ifname), "%s", uplink->name);
	t->ifindex = uplink->ifindex;
	t->point = BPF_TC_INGRESS;
	snprintf(t->prog, sizeof(t->prog), "%s", IDG_PIN_L7_PROG);
	return 0;
}

int idg_l7_progs_load(const char *pin_dir, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct idgate_l7 *s;
	char path[PATH_MAX];
	int err;

	if (strcmp(name, IDG_PIN_L7_PROG))
		return -ENOENT;
	if (idg_path_join(path, sizeof(path), pin_dir, name))
		return -ENAMETOOLONG;
	s = idgate_l7__open_opts(&opts);
	if (!s)
		return -errno;
	err = idgate_l7__load(s);
	if (!err) {
		unlink(path);
		err = bpf_obj_pin(bpf_program__fd(s->progs.idgate_l7_steer),
				  path) ? -errno : 0;
	}
	idgate_l7__destroy(s);
	return err;
}

static int map_open(const char *pin_dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (idg_path_join(path, sizeof(path), pin_dir, name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd >= 0 ? fd : -errno;
}

int idg_l7_steered(const struct idg_compiled *c, struct idg_l7_key **out,
		   size_t *n_out)
{
	const struct idg_l7_table *t = &c->l7;
	struct idg_l7_key *keys = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	for (size_t i = 0; !err && i < t->n; i++) {
		const struct idg_l7_port *lp = &t->ports[i];

		if (lp->dir != IDG_DIR_INGRESS)
			continue;
		for (size_t e = 0; !err && e < c->n_eps; e++) {
			const struct idg_local_ep *ep = &c->eps[e];
			struct idg_l7_key *k;

			if (ep->identity != lp->subject)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				k = realloc(keys, cap * sizeof(*keys));
				if (!k) {
					err = -ENOMEM;
					break;
				}
				keys = k;
			}
			k = &keys[n++];
			memset(k, 0, sizeof(*k));
			k->family = (uint8_t)ep->cidr.family;
			k->port = htons(lp->port);
			memcpy(k->addr, ep->cidr.addr, 16);
		}
	}
	if (err) {
		free(keys);
		return err;
	}
	if (n > IDG_L7_PORTS_MAX) {
		free(keys);
		return -E2BIG;
	}
	*out = keys;
	*n_out = n;
	return 0;
}

static bool key_in(const struct idg_l7_key *k, const struct idg_l7_key *v,
		   size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(k, &v[i], sizeof(*k)))
			return true;
	return false;
}

int idg_l7_sync(const char *pin_dir, const struct idg_compiled *c)
{
	struct idg_l7_key *keys = NULL, *stale = NULL, k, next;
	size_t n = 0, n_stale = 0, cap_stale = 0;
	int fd, err;

	err = idg_l7_steered(c, &keys, &n);
	if (err)
		return err;
	fd = map_open(pin_dir, IDG_MAP_L7_PORTS);
	if (fd == -ENOENT && n) {
		err = idg_l7_progs_load(pin_dir, IDG_PIN_L7_PROG);
		fd = err ? err : map_open(pin_dir, IDG_MAP_L7_PORTS);
	}
	if (fd < 0) {
		free(keys);
		return fd == -ENOENT ? 0 : fd;
	}
	/* New keys first, then the stale ones go: a port that stays L7
	 * never has a moment unsteered. */
	for (size_t i = 0; !err && i < n; i++) {
		struct idg_l7_val v = { .flags = IDG_L7_F_PROXY };

		err = bpf_map_update_elem(fd, &keys[i], &v, BPF_ANY) ? -errno : 0;
	}
	/* The map's keys gathered before any goes: deleting while walking
	 * would restart the walk. */
	for (void *prev = NULL; !err && !bpf_map_get_next_key(fd, prev, &next);
	     prev = &k) {
		k = next;
		if (key_in(&k, keys, n))
			continue;
		if (n_stale == cap_stale) {
			struct idg_l7_key *g;

			cap_stale = cap_stale ? 2 * cap_stale : 16;
			g = realloc(stale, cap_stale * sizeof(*stale));
			if (!g) {
				err = -ENOMEM;
				break;
			}
			stale = g;
		}
		stale[n_stale++] = k;
	}
	for (size_t i = 0; !err && i < n_stale; i++)
		if (bpf_map_delete_elem(fd, &stale[i]) && errno != ENOENT)
			err = -errno;
	free(stale);
	close(fd);
	free(keys);
	return err;
}

int idg_l7_set_proxy(const char *pin_dir, uint16_t port, uint16_t port6)
{
	struct idg_l7_cfg cfg = { .port = port, .port6 = port6 };
	uint32_t zero = 0;
	int fd = map_open(pin_dir, IDG_MAP_L7_PROXY), err;

	if (fd == -ENOENT) {
		err = idg_l7_progs_load(pin_dir, IDG_PIN_L7_PROG);
		fd = err ? err : map_open(pin_dir, IDG_MAP_L7_PROXY);
	}
	if (fd < 0)
		return fd;
	err = bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY) ? -errno : 0;
	close(fd);
	return err;
}
