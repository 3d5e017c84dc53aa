// SPDX-License-Identifier: GPL-2.0
/*
 * tc egress on the uplink: judges packets leaving local endpoints by their
 * egress policy and records allowed flows in conntrack, so that the XDP
 * program lets their replies in.
 */
#include <linux/pkt_cls.h>
#include <idgate/bpf/verdict.h>

/* Enough for Ethernet, two VLAN tags, IPv6 with its extension headers
 * walk limit and a TCP header in almost every real packet. */
#define IDG_TC_PULL_LEN 256

SEC("tc")
int idgate_tc_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct idg_pkt p = {};
	__u32 reason;
	int ret;

	ret = idg_parse(data, data_end, skb->len, &p);
	/* Headers may sit in paged data: pull only then, because pulling
	 * unclones (copies) the skb, e.g. every TCP segment. */
	if (idg_reason_is_drop(ret) && ret != IDG_DROP_POLICY_DENY &&
	    skb->len > (__u32)(data_end - data)) {
		__u32 want = skb->len < IDG_TC_PULL_LEN ? skb->len :
							  IDG_TC_PULL_LEN;

		if (!bpf_skb_pull_data(skb, want)) {
			__builtin_memset(&p, 0, sizeof(p));
			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			ret = idg_parse(data, data_end, skb->len, &p);
		}
	}
	reason = idg_process(&p, ret, IDG_DIR_EGRESS, skb->ifindex, skb->len);
	idg_trace_event(&p, reason, IDG_DIR_EGRESS, skb->ifindex, skb->len);
	return idg_reason_is_drop(reason) ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
