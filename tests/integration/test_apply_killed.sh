#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A first apply killed (SIGKILL, through the IDGATE_TEST_KILL_AT test hook
# of loader/apply.c) after it attached its programs, or before it attached
# any, leaves an instance.meta from which `unload` removes everything: no
# XDP program, no idgate tc filter, no clsact qdisc it created, no pins, no
# state. Gateway gw-b1 and gw-b2 use XDP (skb), node-a tc ingress; both
# have tc programs on a second interface (ext0, wl0). A first apply that
# fails after recording its intent leaves nothing behind either.
. "$(dirname "$0")/lib.sh"
EGW_CONFIG=${EGW_CONFIG:-$(dirname "$0")/../../configs/egress-gateway.yaml}
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_b.sh"

cfg="$TMP/egw-xdp.yaml"
sed -e '/^    ip: 172\.18\.0\.1[12]$/a\  xdpMode: skb' "$EGW_CONFIG" >"$cfg"
[ "$(grep -c '^  xdpMode: skb$' "$cfg")" = 2 ] || { echo "cannot set the gateways' xdpMode" >&2; exit 1; }

has_xdp() { ip -n "$1" -d link show "$2" | grepq "prog/xdp"; }
filters() { # filters NS IFACE: idgate's tc filters on both hooks
	tc -n "$1" filter show dev "$2" ingress 2>/dev/null | grep "idgate" || true
	tc -n "$1" filter show dev "$2" egress 2>/dev/null | grep "idgate" || true
}
has_clsact() { tc -n "$1" qdisc show dev "$2" | grepq clsact; }

killed_apply() { # killed_apply NS NODE STEP
	local rc=0
	register_instance "$1" "$2"
	IDGATE_TEST_KILL_AT=$3 idg "$1" "$2" apply -c "$cfg" >"$TMP/apply.$2" 2>&1 || rc=$?
	[ "$rc" = 137 ] && ok "$2: apply killed at '$3'" || not_ok "$2: apply at '$3' exited $rc: $(cat "$TMP/apply.$2")"
}

unload_clean() { # unload_clean NS NODE IFACE...
	local ns=$1 node=$2
	shift 2
	if idg "$ns" "$node" unload >"$TMP/unload.$node" 2>&1; then
		ok "$node: unload"
	else
		not_ok "$node: unload: $(cat "$TMP/unload.$node")"
	fi
	for i in "$@"; do
		has_xdp "$ns" "$i" && not_ok "$node: XDP left on $i" || ok "$node: no XDP on $i"
		[ -z "$(filters "$ns" "$i")" ] && ok "$node: no idgate tc filter on $i" \
			|| not_ok "$node: tc filters left on $i: $(filters "$ns" "$i")"
		has_clsact "$ns" "$i" && not_ok "$node: clsact qdisc left on $i" || ok "$node: no clsact qdisc on $i"
	done
	[ ! -e "$PIN_ROOT/$node" ] && ok "$node: pin dir removed" || not_ok "$node: pins left: $(ls "$PIN_ROOT/$node")"
	[ ! -e "$TMP/state-$node" ] && ok "$node: state dir removed" || not_ok "$node: state left: $(ls "$TMP/state-$node")"
}

# Killed right after attaching: everything is attached, the meta is the
# one written before the first attach.
killed_apply "$GW1" gw-b1 attached
has_xdp "$GW1" eth0 && ok "gw-b1: XDP was attached when apply died" || not_ok "gw-b1: no XDP on eth0"
[ "$(filters "$GW1" eth0 | wc -l)" = 2 ] && [ "$(filters "$GW1" ext0 | wc -l)" = 1 ] \
	&& ok "gw-b1: tc programs were attached on eth0 and ext0" \
	|| not_ok "gw-b1: tc filters: eth0 '$(filters "$GW1" eth0)' ext0 '$(filters "$GW1" ext0)'"
unload_clean "$GW1" gw-b1 eth0 ext0

killed_apply "$NA" node-a attached
# wl0: the workload interface's programs at ingress and egress.
[ "$(filters "$NA" eth0 | wc -l)" = 3 ] && [ "$(filters "$NA" wl0 | wc -l)" = 2 ] \
	&& ok "node-a: tc programs were attached on eth0 and wl0" \
	|| not_ok "node-a: tc filters: eth0 '$(filters "$NA" eth0)' wl0 '$(filters "$NA" wl0)'"
unload_clean "$NA" node-a eth0 wl0

# Killed before the first attach: the meta lists programs that were never
# attached and qdiscs never created; unload must not take that for errors.
killed_apply "$GW2" gw-b2 attach
[ -z "$(filters "$GW2" eth0)$(filters "$GW2" ext0)" ] && ! has_xdp "$GW2" eth0 \
	&& ok "gw-b2: nothing attached when apply died" || not_ok "gw-b2: something attached"
unload_clean "$GW2" gw-b2 eth0 ext0
grep -qv "detached and unpinned" "$TMP/unload.gw-b2" \
	&& not_ok "gw-b2: unload complained: $(cat "$TMP/unload.gw-b2")" || ok "gw-b2: unload reported no error"

# A first apply that fails after recording its intent (native XDP on a
# bridge, which has none) undoes its attachments and removes the
# meta it wrote: nothing is left for unload.
mkns DX bridge
ip -n "$DX" link add eth0 type bridge
ip -n "$DX" addr add 192.168.50.1/24 dev eth0
ip -n "$DX" link set eth0 up
sed "s/^  xdpMode: auto$/  xdpMode: native/" "$CONFIG" >"$TMP/native.yaml"
grep -q "xdpMode: native" "$TMP/native.yaml" || { echo "cannot set xdpMode native" >&2; exit 1; }
register_instance "$DX" node-a
if idg "$DX" node-a apply -c "$TMP/native.yaml" >"$TMP/apply.native" 2>&1; then
	not_ok "native XDP on a bridge: apply succeeded"
else
	grep -q "cannot attach XDP (native mode)" "$TMP/apply.native" && ok "native XDP on a bridge: apply fails" \
		|| not_ok "apply failed for another reason: $(cat "$TMP/apply.native")"
fi
[ -z "$(filters "$DX" eth0)" ] && ok "failed apply: no tc filter left" || not_ok "failed apply: tc filters left: $(filters "$DX" eth0)"
has_clsact "$DX" eth0 && not_ok "failed apply: clsact qdisc left" || ok "failed apply: no clsact qdisc left"
[ ! -e "$PIN_ROOT/node-a" ] && ok "failed apply: no pins" || not_ok "failed apply: pins left: $(ls "$PIN_ROOT/node-a")"
[ ! -e "$TMP/state-node-a" ] && ok "failed apply: no state dir" || not_ok "failed apply: state left: $(ls "$TMP/state-node-a")"

# A normal first apply still works after all that, and unloads cleanly.
register_instance "$GW1" gw-b1
idg "$GW1" gw-b1 apply -c "$cfg" >"$TMP/apply.gw-b1" 2>&1 && ok "gw-b1: apply again" || not_ok "gw-b1: apply: $(cat "$TMP/apply.gw-b1")"
has_xdp "$GW1" eth0 && [ "$(filters "$GW1" ext0 | wc -l)" = 1 ] && ok "gw-b1: attached" || not_ok "gw-b1: not attached"
unload_clean "$GW1" gw-b1 eth0 ext0

finish
