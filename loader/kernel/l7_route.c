// SPDX-License-Identifier: GPL-2.0
/*
 * The two routing rules and the table of L7 steering (include/idgate/l7.h,
 * docs/l7.md), through rtnetlink: a server's reply to a client the proxy
 * connected for is delivered to the proxy's socket, the proxy's own
 * packets to clients leave as usual.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

#include <idgate/datapath.h>
#include <idgate/l7.h>

#include "l7.h"

struct reply_rule {
	int family; /* AF_INET, AF_INET6 */
	uint8_t addr[16];
	uint16_t port;
};

static size_t alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* The steered pairs the proxy serves. */
static int wanted(const struct idg_compiled *c, struct reply_rule **out,
		  size_t *n_out)
{
	struct idg_l7_key *keys = NULL;
	struct reply_rule *v;
	size_t n = 0;
	int err = idg_l7_steered(c, &keys, &n);

	if (err)
		return err;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		free(keys);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		v[i].family = keys[i].family == IDG_FAM_IPV4 ? AF_INET : AF_INET6;
		memcpy(v[i].addr, keys[i].addr, alen(v[i].family));
		v[i].port = ntohs(keys[i].port);
	}
	free(keys);
	*out = v;
	*n_out = n;
	return 0;
}

static int nl_err(int e)
{
	switch (-e) {
	case NLE_EXIST: return -EEXIST;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_PERM: return -EPERM;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	default: return -EIO;
	}
}

static struct rtnl_rule *rule_new(int family, uint32_t pref, uint32_t table)
{
	struct rtnl_rule *r = rtnl_rule_alloc();

	if (!r)
		return NULL;
	rtnl_rule_set_family(r, family);
	rtnl_rule_set_prio(r, pref);
	rtnl_rule_set_table(r, table);
	rtnl_rule_set_action(r, FR_ACT_TO_TBL);
	return r;
}

static int rule_add(struct nl_sock *sk, struct rtnl_rule *r)
{
	/* EXCL: without it the kernel adds a duplicate of an existing
	 * rule. */
	int e = rtnl_rule_add(sk, r, NLM_F_CREATE | NLM_F_EXCL);

	rtnl_rule_put(r);
	return e < 0 && e != -NLE_EXIST ? nl_err(e) : 0;
}

static int reply_rule_add(struct nl_sock *sk, const struct reply_rule *w)
{
	struct rtnl_rule *r = rule_new(w->family, IDG_L7_PREF_REPLY, IDG_L7_TABLE);
	struct nl_addr *src;
	int err;

	if (!r)
		return -ENOMEM;
	src = nl_addr_build(w->family, w->addr, alen(w->family));
	if (!src) {
		rtnl_rule_put(r);
		return -ENOMEM;
	}
	nl_addr_set_prefixlen(src, 8 * (int)alen(w->family));
	err = rtnl_rule_set_src(r, src);
	nl_addr_put(src);
	/* Only what this host sends: an arriving packet from that address
	 * (a spoof, or the reverse-path check) must not match. */
	if (!err)
		err = rtnl_rule_set_iif(r, "lo");
	if (!err)
		err = rtnl_rule_set_ipproto(r, IPPROTO_TCP);
	if (!err)
		err = rtnl_rule_set_sport(r, w->port);
	if (err) {
		rtnl_rule_put(r);
		return nl_err(err);
	}
	return rule_add(sk, r);
}

/* The entry of v that rule r (of family) serves, or -1. */
static ssize_t wanted_at(struct rtnl_rule *r, int family,
			 const struct reply_rule *v, size_t n)
{
	struct nl_addr *src = rtnl_rule_get_src(r);
	uint16_t lo, hi;

	if (!src || nl_addr_get_len(src) != alen(family) ||
	    nl_addr_get_prefixlen(src) != 8 * alen(family) ||
	    rtnl_rule_get_sport(r, &lo, &hi) || lo != hi)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (v[i].family == family && v[i].port == lo &&
		    !memcmp(nl_addr_get_binary_addr(src), v[i].addr, alen(family)))
			return (ssize_t)i;
	return -1;
}

/* Removes idgate's rules of family that v does not hold (v NULL: all of
 * them); sets have[i] for those it keeps. */
static int prune(struct nl_sock *sk, int family, const struct reply_rule *v,
		 size_t n, bool *have)
{
	struct nl_cache *cache;
	struct nl_object *o;
	int err = rtnl_rule_alloc_cache(sk, family, &cache);

	if (err)
		return nl_err(err);
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_rule *r = (struct rtnl_rule *)o;
		uint32_t pref = rtnl_rule_get_prio(r);
		bool keep = false;
		ssize_t at;

		/* The dump may hold every family's rules. */
		if ((pref != IDG_L7_PREF_REPLY && pref != IDG_L7_PREF_MARK) ||
		    rtnl_rule_get_family(r) != family)
			continue;
		if (v && pref == IDG_L7_PREF_MARK)
			keep = true;
		else if (v && (at = wanted_at(r, family, v, n)) >= 0) {
			keep = true;
			have[at] = true;
		}
		if (!keep) {
			int e = rtnl_rule_delete(sk, r, 0);

			if (e < 0 && e != -NLE_OBJ_NOTFOUND && !err)
				err = nl_err(e);
		}
	}
	nl_cache_free(cache);
	return err;
}

/* local 0.0.0.0/0 (::/0) dev lo in IDG_L7_TABLE: what the reply rule
 * sends to is this host. */
static int table_route(struct nl_sock *sk, int family, bool add)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = NULL;
	uint8_t any[16] = { 0 };
	int err = -ENOMEM;

	if (!rt || !nh)
		goto out;
	dst = nl_addr_build(family, any, alen(family));
	if (!dst)
		goto out;
	nl_addr_set_prefixlen(dst, 0);
	rtnl_route_set_family(rt, family);
	rtnl_route_set_table(rt, IDG_L7_TABLE);
	rtnl_route_set_type(rt, RTN_LOCAL);
	rtnl_route_set_scope(rt, RT_SCOPE_HOST);
	rtnl_route_set_protocol(rt, RTPROT_STATIC);
	rtnl_route_set_dst(rt, dst);
	rtnl_route_nh_set_ifindex(nh, 1); /* lo */
	rtnl_route_add_nexthop(rt, nh);
	nh = NULL;
	err = add ? rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_REPLACE) :
		    rtnl_route_delete(sk, rt, 0);
	if (!add && (err == -NLE_OBJ_NOTFOUND || err == -NLE_NOADDR))
		err = 0;
	err = err < 0 ? nl_err(err) : 0;
out:
	if (nh)
		rtnl_route_nh_free(nh);
	nl_addr_put(dst);
	rtnl_route_put(rt);
	return err;
}

/* Family's rules and route for the pairs of v that are of it. */
static int family_sync(struct nl_sock *sk, int family,
		       const struct reply_rule *v, size_t n, bool *have)
{
	struct rtnl_rule *r;
	size_t mine = 0;
	int err;

	for (size_t i = 0; i < n; i++)
		mine += v[i].family == family;
	if (!mine) { /* nothing steered: nothing of ours stays */
		err = prune(sk, family, NULL, 0, have);
		if (!err)
			err = table_route(sk, family, false);
		/* A kernel without IPv6 has none of ours either. */
		return err == -EAFNOSUPPORT ? 0 : err;
	}
	err = table_route(sk, family, true);
	if (err)
		return err;
	r = rule_new(family, IDG_L7_PREF_MARK, RT_TABLE_MAIN);
	if (!r)
		return -ENOMEM;
	rtnl_rule_set_mark(r, IDG_L7_MARK);
	rtnl_rule_set_mask(r, IDG_L7_MARK_MASK);
	err = prune(sk, family, v, n, have);
	if (err) {
		rtnl_rule_put(r);
		return err;
	}
	err = rule_add(sk, r);
	for (size_t i = 0; !err && i < n; i++)
		if (v[i].family == family && !have[i])
			err = reply_rule_add(sk, &v[i]);
	return err;
}

int idg_l7_routes_sync(const struct idg_compiled *c)
{
	struct reply_rule *v = NULL;
	struct nl_sock *sk = NULL;
	bool *have = NULL;
	size_t n = 0;
	int err;

	if (c) {
		err = wanted(c, &v, &n);
		if (err)
			return err;
	}
	sk = nl_socket_alloc();
	if (!sk || nl_connect(sk, NETLINK_ROUTE)) {
		err = -EIO;
		goto out;
	}
	have = calloc(n ? n : 1, sizeof(*have));
	if (!have) {
		err = -ENOMEM;
		goto out;
	}
	err = family_sync(sk, AF_INET, v, n, have);
	if (!err)
		err = family_sync(sk, AF_INET6, v, n, have);
out:
	free(have);
	free(v);
	if (sk)
		nl_socket_free(sk);
	return err;
}
