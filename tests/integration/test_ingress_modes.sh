#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Every ingress hook enforces the same policy (scenario A), and a re-apply
# moves between them without a moment unfiltered: native XDP, skb XDP, tc
# ingress, auto (tc on veth), and back to native.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1

. "$(dirname "$0")/topo_a.sh"

bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080 8081

with_mode() { # with_mode MODE: the config with node-a's xdpMode set
	sed "s/^  xdpMode: auto$/  xdpMode: $1/" "$CONFIG" >"$TMP/$1.yaml"
	grep -q "xdpMode: $1" "$TMP/$1.yaml" || { echo "cannot set xdpMode $1" >&2; exit 1; }
	echo "$TMP/$1.yaml"
}
mode_now() {
	idg "$NA" node-a status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["xdp_mode"])'
}
has_xdp() { ip -n "$NA" -d link show eth0 | grepq "prog/xdp"; }
has_tc_in() { tc -n "$NA" filter show dev eth0 ingress | grepq "prog_tc_ingress\|idgate_tc_ingr"; }

register_instance "$NA" node-a
for mode in native skb tc auto native; do
	want=$mode
	[ "$mode" = auto ] && want=tc
	if idg "$NA" node-a apply -c "$(with_mode "$mode")" >"$TMP/apply.out" 2>&1; then
		ok "apply with xdpMode $mode"
	else
		not_ok "apply with xdpMode $mode: $(cat "$TMP/apply.out")"
		continue
	fi
	[ "$(mode_now)" = "$want" ] && ok "$mode: status shows $want" || not_ok "$mode: status shows $(mode_now)"
	if [ "$want" = tc ]; then
		! has_xdp && has_tc_in && ok "$mode: tc ingress filter only" \
			|| not_ok "$mode: xdp=$(has_xdp && echo yes || echo no) tc-ingress=$(has_tc_in && echo yes || echo no)"
	else
		has_xdp && ! has_tc_in && ok "$mode: XDP only" \
			|| not_ok "$mode: xdp=$(has_xdp && echo yes || echo no) tc-ingress=$(has_tc_in && echo yes || echo no)"
	fi
	expect pass "$mode: frontend -> 8080 allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
	expect_denied "$NA" node-a policy-default-deny "$mode: reporting -> 8080 denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
	expect_denied "$NA" node-a policy-default-deny "$mode: frontend -> 8081 denied" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8081
done

# Frames whose IP and TCP headers are in paged data, not in the skb's
# linear area (a frame of a page or more from AF_PACKET): at tc ingress
# the program parses a copy of the headers (idgate_tc_*_copy, reached by
# a tail call) and judges them like any other.
idg "$NA" node-a apply -c "$(with_mode tc)" >/dev/null 2>&1 || not_ok "apply with xdpMode tc for paged frames"
ip -n "$NA" link set eth0 mtu 9000
ip -n "$NB" link set eth0 mtu 9000
MAC_A=$(ip -n "$NA" -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
paged() { # paged SRC PORT REASON: 50 paged SYNs counted with REASON
	local before after
	before=$(verdict_count "$NA" node-a "$3")
	in_ns "$NB" "$PROBE" syn-flood eth0 "$MAC_A" "$1" 10.0.0.10 "$2" 50 5000 >/dev/null 2>&1 ||
		{ not_ok "paged SYNs $1 -> $2: sending failed"; return; }
	after=$(verdict_count "$NA" node-a "$3")
	[ $((after - before)) -ge 50 ] && ok "paged SYNs $1 -> $2: $3 ($before -> $after)" ||
		not_ok "paged SYNs $1 -> $2: wanted 50 more $3, counted $before -> $after"
}
paged 10.0.1.12 8080 policy-default-deny
paged 10.0.1.10 8080 policy-allow
ip -n "$NA" link set eth0 mtu 1500
ip -n "$NB" link set eth0 mtu 1500

# A denied flow never gets through while the hook changes under traffic.
leak=0
for i in $(seq 1 6); do
	mode=$([ $((i % 2)) = 0 ] && echo native || echo tc)
	idg "$NA" node-a apply -c "$(with_mode "$mode")" >/dev/null 2>&1 &
	ap=$!
	for _ in 1 2 3 4 5; do
		in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080 >/dev/null 2>&1 && leak=$((leak + 1))
	done
	wait $ap || not_ok "switch $i to $mode failed"
done
[ "$leak" = 0 ] && ok "no denied connection got through 6 hook switches" || not_ok "$leak denied connections got through during switches"

finish
