#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# unload leaves nothing pinned or attached, and traffic flows unfiltered.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_a.sh"
bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080

register_instance "$NA" node-a
idg "$NA" node-a apply -c "$CONFIG" >/dev/null && ok "apply" || not_ok "apply"
expect_denied "$NA" node-a policy-default-deny "reporting denied while applied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
ifindex=$(ip -n "$NA" -o link show eth0 | cut -d: -f1)
# auto on a veth: the ingress filter runs at tc ingress, not XDP.
tc -n "$NA" filter show dev eth0 ingress | grepq "idgate_tc_ingr" && ok "tc ingress filter attached" || not_ok "tc ingress filter not attached"
tc -n "$NA" filter show dev eth0 egress | grepq "idgate_tc_egre" && ok "tc egress attached" || not_ok "tc egress not attached"

# Maps pinned by an idgate of another datapath layout: refused with a
# clear word, never reused; unload still clears them.
sed -i 's/^abi .*/abi 1/' "$TMP/state-node-a/instance.meta"
if idg "$NA" node-a apply -c "$CONFIG" >/dev/null 2>"$TMP/abi.err"; then
	not_ok "apply over maps of another datapath layout was accepted"
else
	grep -q "another datapath layout (version 1, this idgate has" "$TMP/abi.err" \
		&& ok "apply over another datapath layout refused: $(head -c 120 "$TMP/abi.err")" \
		|| not_ok "apply over another layout: $(cat "$TMP/abi.err")"
fi
expect_denied "$NA" node-a policy-default-deny "reporting still denied after the refused apply" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080

idg "$NA" node-a unload >/dev/null && ok "unload" || not_ok "unload"
ip -n "$NA" link show eth0 | grepq "xdp" && not_ok "XDP still attached" || ok "no XDP left on the uplink"
[ -z "$(tc -n "$NA" filter show dev eth0 egress)$(tc -n "$NA" filter show dev eth0 ingress)" ] && ok "no tc filter left" || not_ok "tc filter left"
tc -n "$NA" qdisc show dev eth0 | grepq clsact && not_ok "clsact qdisc left" || ok "no clsact qdisc left"
[ ! -e "$PIN_ROOT/node-a" ] && ok "pin dir removed" || not_ok "pins left: $(ls "$PIN_ROOT/node-a")"
[ ! -e "$TMP/state-node-a" ] && ok "state dir removed" || not_ok "state left"
ls /sys/fs/bpf/xdp/ 2>/dev/null | grepq "dispatch-$ifindex-" && not_ok "libxdp dispatcher pin left" || ok "no dispatcher pin left"
expect pass "reporting reaches 8080 again" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
idg "$NA" node-a unload | grepq "nothing loaded" && ok "second unload is a no-op" || not_ok "second unload"

# The uplink deleted under an applied instance: its attachments went with
# it; unload removes the rest, quietly (no libbpf or netlink chatter).
ip -n "$NA" link add up9 type veth peer name up9p
ip -n "$NA" link set up9 up
ip -n "$NA" link set up9p up
sed 's/uplink: eth0/uplink: up9/' "$CONFIG" >"$TMP/up9.yaml"
idg "$NA" node-a apply -c "$TMP/up9.yaml" >/dev/null 2>&1 && ok "apply on a second uplink" || not_ok "apply on up9"
ip -n "$NA" link del up9
if idg "$NA" node-a unload >"$TMP/gone.out" 2>"$TMP/gone.err"; then ok "unload after the uplink was deleted"; else not_ok "unload after the uplink was deleted: $(cat "$TMP/gone.err")"; fi
[ ! -s "$TMP/gone.err" ] && ok "nothing on stderr" || not_ok "stderr: $(cat "$TMP/gone.err")"
[ ! -e "$PIN_ROOT/node-a" ] && [ ! -e "$TMP/state-node-a" ] && ok "pins and state removed" || not_ok "left behind after the uplink was deleted"

# The clsact qdisc removed by someone else (its filters go with it):
# unload says nothing of the missing qdisc (libbpf's "Cannot find
# specified qdisc") and still removes the rest.
idg "$NA" node-a apply -c "$CONFIG" >/dev/null && ok "apply again" || not_ok "apply again"
tc -n "$NA" qdisc del dev eth0 clsact
if idg "$NA" node-a unload >"$TMP/noq.out" 2>"$TMP/noq.err"; then ok "unload after the qdisc was deleted"; else not_ok "unload after the qdisc was deleted: $(cat "$TMP/noq.err")"; fi
[ ! -s "$TMP/noq.err" ] && ok "nothing on stderr without the qdisc" || not_ok "stderr without the qdisc: $(cat "$TMP/noq.err")"
[ ! -e "$PIN_ROOT/node-a" ] && [ ! -e "$TMP/state-node-a" ] && ok "pins and state removed without the qdisc" || not_ok "left behind without the qdisc"

finish
