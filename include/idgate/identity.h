/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Security identity layout, shared by BPF and userspace.
 *
 *   bits 31..25  zero
 *   bit  24      node-local scope (CIDR identities; never leave the node)
 *   bits 23..16  cluster id (1..255; 0 for reserved and node-local ids)
 *   bits 15..0   id within the cluster (reserved ids below 256)
 *
 * Reserved numbers are Cilium's, so policies and tooling read the same.
 */
#ifndef IDGATE_IDENTITY_H
#define IDGATE_IDENTITY_H

#define IDG_ID_UNKNOWN 0 /* also "any peer" in policy keys */
#define IDG_ID_HOST 1
#define IDG_ID_WORLD 2
#define IDG_ID_UNMANAGED 3
#define IDG_ID_HEALTH 4
#define IDG_ID_INIT 5
#define IDG_ID_REMOTE_NODE 6
#define IDG_ID_KUBE_APISERVER 7
#define IDG_ID_INGRESS 8
#define IDG_ID_WORLD_IPV4 9
#define IDG_ID_WORLD_IPV6 10

#define IDG_ID_RESERVED_MAX 255
#define IDG_ID_LOCAL_MIN 256 /* first allocatable id within a cluster */
#define IDG_ID_CLUSTER_SHIFT 16
#define IDG_ID_CLUSTER_MAX 255
#define IDG_ID_SCOPE_LOCAL (1u << 24)

#define IDG_ID_MAKE(cluster, local) \
	((((unsigned int)(cluster)) << IDG_ID_CLUSTER_SHIFT) | ((local)&0xffffu))
#define IDG_ID_CLUSTER(id) (((id) >> IDG_ID_CLUSTER_SHIFT) & 0xffu)

#endif /* IDGATE_IDENTITY_H */
