/* SPDX-License-Identifier: GPL-2.0 */
/* L7 steering: the uplink's steering program and its maps (docs/l7.md). */
#ifndef IDGATE_LOADER_KERNEL_L7_H
#define IDGATE_LOADER_KERNEL_L7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attach.h"
#include "compile.h"
#include "instance.h"
#include "netlink.h"

#define IDG_PIN_L7_PROG "prog_l7_steer" /* uplink ingress, after the filter */
#define IDG_MAP_L7_PORTS "idg_l7_ports"
#define IDG_MAP_L7_PROXY "idg_l7_proxy"
/* After the tc filter (1) and the tunnel program (2). */
#define IDG_TC_PRIO_L7 3

/* Whether c has ports the proxy judges (ingress, for now). */
bool idg_l7_wanted(const struct idg_compiled *c);

/* Append the steering program's attachment (uplink ingress) to want[]
 * when c has L7 ports. */
int idg_l7_tc_wanted(const struct idg_compiled *c,
		     const struct idg_iface *uplink, struct idg_tc_att *want,
		     size_t *n, size_t max);

/* Load the steering program against pin_dir's maps and pin it there
 * (with its own maps). -ENOENT for another name. */
int idg_l7_progs_load(const char *pin_dir, const char *name);

/* Every address of a subject of c's ingress L7 ports, with that port
 * (port in network order): the pairs the steering program hands to the
 * proxy. *out is malloc'd. */
struct idg_l7_key;
int idg_l7_steered(const struct idg_compiled *c, struct idg_l7_key **out,
		   size_t *n);

/*
 * The steered (address, port) set becomes c's: the addresses of the
 * subjects of its ingress L7 ports. Loads the program first when its
 * maps are missing and c needs them.
 */
int idg_l7_sync(const char *pin_dir, const struct idg_compiled *c);

/* Where the proxy listens: 127.0.0.1:port, [::1]:port6; 0: not for
 * that family, its steered connections are refused. */
int idg_l7_set_proxy(const char *pin_dir, uint16_t port, uint16_t port6);

/*
 * l7_route.c: the routing rules that bring a server's replies back to the
 * proxy (include/idgate/l7.h) follow c's steered IPv4 (address, port)
 * pairs; c NULL, or none: idgate's rules and table route go.
 */
int idg_l7_routes_sync(const struct idg_compiled *c);

#endif /* IDGATE_LOADER_KERNEL_L7_H */
