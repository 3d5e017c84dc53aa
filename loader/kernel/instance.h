/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One idgate instance (one simulated or real node): its pin dir in bpffs,
 * its state dir on disk, and the lock that serialises commands on it.
 */
#ifndef IDGATE_LOADER_INSTANCE_H
#define IDGATE_LOADER_INSTANCE_H

#include <limits.h>
#include <stdbool.h>

#include "model.h"

#define IDG_BPFFS "/sys/fs/bpf"
#define IDG_PIN_ROOT IDG_BPFFS "/idgate"
#define IDG_STATE_ROOT "/var/lib/idgate"

/* Names inside the pin dir besides the maps. */
#define IDG_PIN_XDP_PROG "prog_xdp_ingress"
#define IDG_PIN_TC_PROG "prog_tc_egress"
#define IDG_PIN_TC_IN_PROG "prog_tc_ingress" /* ingress filter in tc mode */
#define IDG_PIN_WL_PROG "prog_tc_wl"         /* workload ingress: encap */
#define IDG_PIN_WL_EGRESS_PROG "prog_tc_wl_egress" /* toward a workload */
#define IDG_PIN_TUNNEL_PROG "prog_tunnel_in" /* uplink ingress: decap, SNAT */
#define IDG_PIN_GW_EXT_PROG "prog_gw_ext_in" /* external ingress: reverse */

/* Files in the state dir; nothing else there is ours. */
#define IDG_STATE_FILE "state"
#define IDG_APPLIED_CONFIG "applied.yaml" /* of a config file */
/* The mesh's identity numbers the applied config was compiled with. */
#define IDG_APPLIED_IDS "applied.identities"
#define IDG_APPLIED_DIR "applied.d"      /* of a config directory */
#define IDG_META_FILE "instance.meta"

struct idg_instance {
	char node[IDG_NODE_NAME_MAX + 1];
	char pin_dir[PATH_MAX];
	char state_dir[PATH_MAX];
	int lock_fd;
};

/* NULL pin_dir / state_dir: the defaults for node. -EINVAL when node is
 * no valid node name (idg_node_name_ok()). */
int idg_instance_init(struct idg_instance *in, const char *node,
		      const char *pin_dir, const char *state_dir);
/* Mount bpffs at /sys/fs/bpf when it is not (as Cilium does). */
int idg_bpffs_ensure(void);
/* Create the pin dir if needed and take an exclusive lock on it; waits
 * for a concurrent command to finish. */
int idg_instance_lock(struct idg_instance *in);
void idg_instance_unlock(struct idg_instance *in);
/* True when an earlier apply left pinned maps here. */
bool idg_instance_exists(const struct idg_instance *in);
/* path = dir + "/" + name; -ENAMETOOLONG if it does not fit. */
int idg_path_join(char *out, size_t size, const char *dir, const char *name);
int idg_mkdir_p(const char *path, unsigned int mode);

#endif
