/* SPDX-License-Identifier: GPL-2.0 */
/*
 * L7 steering, shared by the tc program that steers (tc/idgate_l7.bpf.c)
 * and the loader that configures it (loader/kernel/l7.c). docs/l7.md has
 * the picture: a new TCP connection to a port with L7 rules goes to the
 * proxy's listening socket (bpf_sk_assign), the proxy connects to the
 * server from the client's own address, and two routing rules carry the
 * server's replies back to the proxy instead of out of the uplink.
 */
#ifndef IDGATE_L7_H
#define IDGATE_L7_H

#include <linux/types.h>

/*
 * The proxy's sockets toward clients carry this mark (SO_MARK on the
 * listening socket, inherited by what it accepts): routing rule
 * IDG_L7_PREF_MARK sends their packets by the main table. Every other
 * packet from a steered (address, port) is a server's reply to the proxy:
 * rule IDG_L7_PREF_REPLY delivers it locally through table IDG_L7_TABLE.
 */
#define IDG_L7_MARK 0x1d670000u
#define IDG_L7_MARK_MASK 0xffff0000u
#define IDG_L7_TABLE 4767
#define IDG_L7_PREF_MARK 4767
#define IDG_L7_PREF_REPLY 4768

/* A local endpoint's address and TCP port whose new connections go to
 * the proxy. family: IDG_FAM_*; addr: IPv4 in the first 4 bytes. */
struct idg_l7_key {
	__u8 family;
	__u8 pad;
	__be16 port;
	__u8 addr[16];
};

#define IDG_L7_F_PROXY (1u << 0) /* to the proxy */

struct idg_l7_val {
	__u32 flags; /* IDG_L7_F_* */
};

/* Where the proxy listens, ports in host order: 127.0.0.1:port for
 * IPv4 clients, [::1]:port6 for IPv6 ones; 0: no proxy for that family,
 * its steered connections are refused (fail closed). */
struct idg_l7_cfg {
	__u32 port;
	__u32 port6;
};

#define IDG_L7_PORTS_MAX 4096

#endif /* IDGATE_L7_H */
