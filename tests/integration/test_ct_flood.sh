#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Conntrack full under a new-flow flood, with real traffic (issue 13).
# A TCP connection from frontend is established and then idle; 150 000
# spoofed SYNs, each a new allowed flow (more than idg_ct_new holds),
# flood node-a while an allowed and a denied UDP stream run (5 000
# packets/s together). Then: the idle connection still works, idgate
# dropped nothing but the denied stream (no allowed packet dropped, no
# denied one delivered), new connections are judged as before.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
. "$(dirname "$0")/topo_a.sh"

FLOOD=${FLOOD_SYNS:-150000}
PPS=2500 # per stream
SECONDS_RUN=${FLOOD_SECONDS:-20}

bg "$NA" "$PROBE" serve-whoami 10.0.0.10 8080
cp "$CONFIG" "$TMP/flood.yaml"
{
	echo "  ingress:"
	app_port_rule frontend 9000 UDP
	# The flood's sources: addresses nobody has (node-a has no route
	# back), allowed to billing-api:8080 so that every SYN is a new flow.
	printf '    - fromCIDR: [10.9.0.0/24]\n      toPorts:\n        - ports:\n            - port: "8080"\n              protocol: TCP\n'
	echo "  ingressDeny:"
	app_port_rule reporting 9001 UDP
} | billing_policy flood >>"$TMP/flood.yaml"

register_instance "$NA" node-a
idg "$NA" node-a apply -c "$TMP/flood.yaml" >"$TMP/apply.out" 2>&1 && ok "apply" || not_ok "apply: $(cat "$TMP/apply.out")"

drops_total() { # every drop reason's packets, and policy-deny's
	idg "$NA" node-a status -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)["verdicts"]
drops = {k: v["packets"] for k, v in d.items() if v.get("drop")}
print(sum(drops.values()), drops.get("policy-deny", 0))'
}

# The connection that must outlive the flood, established and then idle.
GO=$TMP/go
nsenter --net="/run/netns/$NB" "$PROBE" tcp-idle 10.0.1.10 10.0.0.10 8080 "$GO" >"$TMP/idle.out" 2>&1 &
IDLE=$!
PIDS+=($IDLE)
waitfor 5 grep -q held "$TMP/idle.out" && ok "an idle connection from frontend is established" ||
	not_ok "idle connection: $(cat "$TMP/idle.out")"

read -r drops0 deny0 < <(drops_total)
allow0=$(verdict_count "$NA" node-a policy-allow)
sink_time=$((SECONDS_RUN + 15))
sink() { # sink PORT OUT
	nsenter --net="/run/netns/$NA" "$PROBE" udp-sink 10.0.0.10 "$1" "$sink_time" >"$2" 2>&1 &
	PIDS+=($!)
	waitfor 5 grep -q ready "$2" || not_ok "sink on $1 did not start"
}
sink 9000 "$TMP/sink-ok"
sink 9001 "$TMP/sink-bad"
in_ns "$NB" "$PROBE" udp-stream 10.0.1.10 10.0.0.10 9000 "$PPS" "$SECONDS_RUN" >"$TMP/sent-ok" 2>&1 &
OK_STREAM=$!
in_ns "$NB" "$PROBE" udp-stream 10.0.1.12 10.0.0.10 9001 "$PPS" "$SECONDS_RUN" >"$TMP/sent-bad" 2>&1 &
BAD_STREAM=$!
PIDS+=($OK_STREAM $BAD_STREAM)

sleep 2
MAC=$(ip -n "$NA" -j link show eth0 | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["address"])')
t0=$SECONDS
in_ns "$NB" "$PROBE" syn-flood eth0 "$MAC" 10.9.0.1,10.9.0.2,10.9.0.3,10.9.0.4,10.9.0.5,10.9.0.6 10.0.0.10 8080 "$FLOOD" >"$TMP/flood.out" 2>&1 ||
	not_ok "flood: $(cat "$TMP/flood.out")"
echo "# flood: $(cat "$TMP/flood.out") in $((SECONDS - t0)) s"
allowed=$(($(verdict_count "$NA" node-a policy-allow) - allow0))
[ "$allowed" -ge "$FLOOD" ] && ok "every flood SYN was a new allowed flow ($allowed allowed, idg_ct_new holds $((1 << 16)))" ||
	not_ok "only $allowed new flows allowed for $FLOOD SYNs"

wait $OK_STREAM $BAD_STREAM
waitfor $((sink_time + 5)) grep -qx "[0-9]*" "$TMP/sink-ok"
waitfor $((sink_time + 5)) grep -qx "[0-9]*" "$TMP/sink-bad"
sent_ok=$(tail -1 "$TMP/sent-ok")
sent_bad=$(tail -1 "$TMP/sent-bad")
got_ok=$(grep -x "[0-9]*" "$TMP/sink-ok" | tail -1)
got_bad=$(grep -x "[0-9]*" "$TMP/sink-bad" | tail -1)
read -r drops1 deny1 < <(drops_total)
echo "# streams: allowed $got_ok of $sent_ok delivered, denied $got_bad of $sent_bad; idgate drops $((drops1 - drops0)), policy-deny $((deny1 - deny0))"
rate=$(((sent_ok + sent_bad) / SECONDS_RUN))
[ "$rate" -ge 4500 ] && ok "probe streams at $rate packets/s" || not_ok "probe streams only $rate packets/s"
[ "$got_bad" = 0 ] && ok "no denied datagram delivered during the flood" || not_ok "$got_bad denied datagrams delivered"
[ $((drops1 - drops0)) = $((deny1 - deny0)) ] && ok "idgate dropped nothing but the denied stream" ||
	not_ok "idgate drops $((drops1 - drops0)), of which policy-deny $((deny1 - deny0))"
[ $((deny1 - deny0)) -ge "$sent_bad" ] && ok "the denied stream was dropped by its deny rule" ||
	not_ok "policy-deny drops $((deny1 - deny0)) for $sent_bad sent"
[ "${got_ok:-0}" -ge $((sent_ok * 99 / 100)) ] && ok "allowed stream delivered ($got_ok of $sent_ok)" ||
	not_ok "allowed stream: $got_ok of $sent_ok delivered"

# The idle connection's entry is in idg_ct, which the flood never
# touched: its next packets pass by it, none is judged as a new flow
# (nothing else runs now), although re-judging would also admit them.
est0=$(verdict_count "$NA" node-a conntrack-established)
allow0=$(verdict_count "$NA" node-a policy-allow)
touch "$GO"
wait $IDLE && ok "the idle connection works after the flood" || not_ok "idle connection after the flood: $(cat "$TMP/idle.out")"
est=$(($(verdict_count "$NA" node-a conntrack-established) - est0))
new=$(($(verdict_count "$NA" node-a policy-allow) - allow0))
[ "$est" -gt 0 ] && [ "$new" = 0 ] && ok "its packets passed by its conntrack entry ($est), kept through the flood" ||
	not_ok "idle connection's packets: $est by conntrack, $new judged as new flows (its entry was evicted)"
expect pass "a new connection from frontend works" in_ns "$NB" "$PROBE" whoami 10.0.1.10 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "reporting -> billing-api:8080 still denied" \
	in_ns "$NB" "$PROBE" whoami 10.0.1.12 10.0.0.10 8080

finish
