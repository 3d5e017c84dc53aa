// SPDX-License-Identifier: GPL-2.0
/*
 * XDP ingress filter on the uplink: judges every packet whose destination
 * is a local endpoint by the source's security identity, before the
 * kernel allocates an skb for it.
 */
/* The whole verdict inlined: see IDG_HOT in verdict.h. */
#define IDG_VERDICT_INLINE 3
#include <idgate/bpf/verdict.h>

SEC("xdp")
int idgate_xdp_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct idg_pkt p = {};
	__u32 reason;
	int ret;

	ret = idg_parse(data, data_end, len, &p);
	reason = idg_process(&p, ret, IDG_DIR_INGRESS, ctx->ingress_ifindex,
			     len);
	idg_trace_event(&p, reason, IDG_DIR_INGRESS, ctx->ingress_ifindex, len);
	return idg_reason_is_drop(reason) ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
