/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IDGATE_LOADER_CMD_H
#define IDGATE_LOADER_CMD_H

#include "cli.h"
#include "compile.h"
#include "instance.h"
#include "model.h"

int do_check(struct idg_opts *o);
int do_apply(struct idg_opts *o);
int do_status(struct idg_opts *o);
int do_identity_list(struct idg_opts *o);
int do_policy_get(struct idg_opts *o);
int do_unload(struct idg_opts *o);
int do_egress_list(struct idg_opts *o);
int do_nat_list(struct idg_opts *o);
int do_health(struct idg_opts *o);
int do_policy_trace(struct idg_opts *o);
int do_monitor(struct idg_opts *o);

/* Shared by the commands (cmd_common.c). */

/* Node name from --node or the host name; instance paths from options. */
int cmd_instance(const struct idg_opts *o, struct idg_instance *in);

/* A config loaded and compiled for in->node, diagnostics printed. */
struct cmd_compiled {
	struct idg_config cfg;
	struct idg_state st;
	struct idg_compiled c;
	struct idg_diags d;
	double compile_ms;
	/* Cookies that name the same rule as before this compile, a bit
	 * each: their counters carry on, every other one starts at zero. */
	uint8_t known_cookies[IDG_RULES_MAX / 8];
};

/* path NULL: the config the last apply saved in the state dir. */
int cmd_compile(const struct idg_instance *in, const char *path,
		struct cmd_compiled *cc);
void cmd_compiled_free(struct cmd_compiled *cc);

/* The node's interfaces exist and are up; errors printed at their
 * position in the config. Fills *uplink and, when the node has one,
 * *external (else external->ifindex stays 0). */
struct idg_iface;
int cmd_check_ifaces(const struct idg_node *n, struct idg_iface *uplink,
		     struct idg_iface *external);

#endif
