// SPDX-License-Identifier: GPL-2.0
/*
 * L7 steering at the uplink's tc ingress, after the L3/L4 verdict (XDP,
 * or the tc filter before this one): a new TCP connection to a local
 * endpoint's port with L7 rules is handed to the proxy's listening socket
 * (bpf_sk_assign). Later packets of the connection find the proxy's
 * socket by the kernel's own lookup. With no proxy listening the
 * connection is refused: an L7 port is never reached unjudged.
 */
#include <linux/pkt_cls.h>

#include <idgate/bpf/parse.h>
#include <idgate/bpf/maps.h>
#include <idgate/bpf/verdict.h>
#include <idgate/l7.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, IDG_L7_PORTS_MAX);
	__type(key, struct idg_l7_key);
	__type(value, struct idg_l7_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_l7_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct idg_l7_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} idg_l7_proxy SEC(".maps");

/* Headers enough for Ethernet, two VLAN tags, IPv6 and TCP. */
#define IDG_L7_PULL 128

/* Counted, and an event within the generation's event budget. */
static __always_inline int refuse(const struct idg_pkt *p, __u32 len,
				  __u32 ifindex)
{
	struct idg_drop_info d = { .reason = IDG_DROP_L7_NO_PROXY,
				   .dir = IDG_DIR_INGRESS,
				   .ifindex = ifindex, .pkt_len = len };
	struct idg_gen_view v = {};

	if (idg_gen_view_get(&v) || !v.cfg) {
		idg_count(&idg_reason_st, d.reason, len);
		return TC_ACT_SHOT;
	}
	d.gen = v.gen;
	idg_drop(v.cfg, p, &d);
	return TC_ACT_SHOT;
}

SEC("tc")
int idgate_l7_steer(struct __sk_buff *skb)
{
	struct bpf_sock_tuple t = {};
	struct idg_l7_key k = {};
	struct idg_pkt p = {};
	struct idg_l7_cfg *cfg;
	struct idg_l7_val *v;
	struct bpf_sock *sk;
	__u32 zero = 0;
	int ret;

	if (skb->data_end - skb->data < IDG_L7_PULL &&
	    skb->data_end - skb->data < skb->len)
		bpf_skb_pull_data(skb, skb->len < IDG_L7_PULL ? skb->len :
								IDG_L7_PULL);
	if (idg_parse((void *)(long)skb->data, (void *)(long)skb->data_end,
		      skb->len, &p))
		return TC_ACT_UNSPEC;
	if (p.proto != IPPROTO_TCP || (p.flags & IDG_PKT_F_LATER) ||
	    (p.tcp_flags & 0x12) != 0x02) /* SYN without ACK */
		return TC_ACT_UNSPEC;
	k.family = p.family;
	k.port = p.dport;
	__builtin_memcpy(k.addr, p.daddr, 16);
	v = bpf_map_lookup_elem(&idg_l7_ports, &k);
	if (!v)
		return TC_ACT_UNSPEC;
	cfg = bpf_map_lookup_elem(&idg_l7_proxy, &zero);
	if (!(v->flags & IDG_L7_F_PROXY) || !cfg)
		return refuse(&p, skb->len, skb->ifindex);
	if (p.family == IDG_FAM_IPV4) {
		if (!cfg->port || cfg->port > 0xffff)
			return refuse(&p, skb->len, skb->ifindex);
		__builtin_memcpy(&t.ipv4.saddr, p.saddr, 4);
		t.ipv4.sport = p.sport;
		t.ipv4.daddr = bpf_htonl(0x7f000001);
		t.ipv4.dport = bpf_htons((__u16)cfg->port);
		sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4),
					BPF_F_CURRENT_NETNS, 0);
	} else {
		if (!cfg->port6 || cfg->port6 > 0xffff)
			return refuse(&p, skb->len, skb->ifindex);
		__builtin_memcpy(t.ipv6.saddr, p.saddr, 16);
		t.ipv6.sport = p.sport;
		t.ipv6.daddr[3] = bpf_htonl(1); /* ::1 */
		t.ipv6.dport = bpf_htons((__u16)cfg->port6);
		sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv6),
					BPF_F_CURRENT_NETNS, 0);
	}
	if (!sk)
		return refuse(&p, skb->len, skb->ifindex);
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return refuse(&p, skb->len, skb->ifindex);
	}
	ret = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (ret)
		return refuse(&p, skb->len, skb->ifindex);
	idg_pass(IDG_PASS_L7_PROXY, 0, skb->len);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
