/* SPDX-License-Identifier: GPL-2.0 */
/* Interface facts from rtnetlink (libnl-route-3). */
#ifndef IDGATE_LOADER_NETLINK_H
#define IDGATE_LOADER_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDG_IFACE_ADDRS_MAX 16

struct idg_iface {
	char name[16];
	int ifindex;
	unsigned int mtu;
	bool up;       /* administratively up (IFF_UP) */
	bool running;  /* carrier (IFF_RUNNING / operstate up) */
	char kind[16]; /* "veth", "" for a physical NIC, ... */
	size_t n_addrs;
	struct {
		int family; /* AF_INET / AF_INET6 */
		uint8_t addr[16];
		unsigned int plen;
	} addrs[IDG_IFACE_ADDRS_MAX];
};

/* -ENODEV when no such interface; other -errno on netlink failure. */
int idg_iface_get(const char *name, struct idg_iface *out);

#endif
