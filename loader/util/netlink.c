// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>
#include <net/if.h>
#include <linux/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "netlink.h"

struct addr_walk {
	struct idg_iface *out;
};

static void addr_cb(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct idg_iface *out = ((struct addr_walk *)arg)->out;
	struct nl_addr *local;
	unsigned int len;

	if (rtnl_addr_get_ifindex(a) != out->ifindex ||
	    out->n_addrs >= IDG_IFACE_ADDRS_MAX)
		return;
	local = rtnl_addr_get_local(a);
	if (!local)
		return;
	len = nl_addr_get_len(local);
	if (len != 4 && len != 16)
		return;
	out->addrs[out->n_addrs].family = nl_addr_get_family(local);
	memcpy(out->addrs[out->n_addrs].addr, nl_addr_get_binary_addr(local),
	       len);
	out->addrs[out->n_addrs].plen = (unsigned int)rtnl_addr_get_prefixlen(a);
	out->n_addrs++;
}

int idg_iface_get(const char *name, struct idg_iface *out)
{
	struct nl_cache *addrs = NULL;
	struct rtnl_link *link = NULL;
	struct addr_walk walk = { out };
	struct nl_sock *sk;
	const char *kind;
	unsigned int flags;
	int err;

	memset(out, 0, sizeof(*out));
	if (strlen(name) >= sizeof(out->name))
		return -ENAMETOOLONG;
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err) {
		err = -EIO;
		goto out;
	}
	err = rtnl_link_get_kernel(sk, 0, name, &link);
	if (err) {
		err = err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV ? -ENODEV :
								      -EIO;
		goto out;
	}
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->ifindex = rtnl_link_get_ifindex(link);
	out->mtu = rtnl_link_get_mtu(link);
	flags = rtnl_link_get_flags(link);
	out->up = flags & IFF_UP;
	out->running = (flags & IFF_RUNNING) ||
		       rtnl_link_get_operstate(link) == IF_OPER_UP;
	kind = rtnl_link_get_type(link);
	if (kind)
		snprintf(out->kind, sizeof(out->kind), "%s", kind);

	err = rtnl_addr_alloc_cache(sk, &addrs);
	if (err) {
		err = -EIO;
		goto out;
	}
	nl_cache_foreach(addrs, addr_cb, &walk);
	err = 0;
out:
	if (addrs)
		nl_cache_free(addrs);
	if (link)
		rtnl_link_put(link);
	nl_socket_free(sk);
	return err;
}
