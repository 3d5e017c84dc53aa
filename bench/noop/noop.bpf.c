// SPDX-License-Identifier: GPL-2.0
/*
 * No-op programs for the attach benchmark: they isolate what an attach
 * point costs by itself (veth's native-XDP path, generic XDP's skb
 * linearisation, tc ingress) from what idgate's verdict code costs.
 * noop_xdp_frags differs from noop_xdp only in its section, which sets
 * BPF_F_XDP_HAS_FRAGS so generic mode need not linearise multi-buffer
 * skbs.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int noop_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* The early-drop rig's floor: what dropping costs with no work at all. */
SEC("xdp")
int noop_xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp.frags")
int noop_xdp_frags(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int noop_tc(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
