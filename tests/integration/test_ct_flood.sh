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
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_a.sh"
. "$(dirname "$0")/streams.sh"

FLOOD=${FLOOD_SYNS:-150000}
PPS=2500 # per stream
SECONDS_RUN=${FLOOD_SECONDS:-20}

bg "$NA" "$PROBE" serve-whoami 10.0.0.10 8080
cp "$CONFIG" "$TMP/flood.yaml"
# The flood's sources: addresses nobody has (node-a has no route back),
# allowed to billing-api:8080 so that every SYN is a new flow.
printf '    - fromCIDR: [10.9.0.0/24]\n      toPorts:\n        - ports:\n            - port: "8080"\n              protocol: TCP\n' |
	streams_policy >>"$TMP/flood.yaml"

register_instance "$NA" node-a
idg "$NA" node-a apply -c "$TMP/flood.yaml" >"$TMP/apply.out" 2>&1 && ok "apply" || not_ok "apply: $(cat "$TMP/apply.out")"

# The connection that must outlive the flood, established and then idle.
idle_conn "$NB" 10.0.1.10 10.0.0.10 8080 "an idle connection from frontend"

allow0=$(verdict_count "$NA" node-a policy-allow)
STREAMS_SINK_EXTRA=15
streams_start

sleep 2
MAC=$(ip -n "$NA" -j link show eth0 | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["address"])')
t0=$SECONDS
in_ns "$NB" "$PROBE" syn-flood eth0 "$MAC" 10.9.0.1,10.9.0.2,10.9.0.3,10.9.0.4,10.9.0.5,10.9.0.6 10.0.0.10 8080 "$FLOOD" >"$TMP/flood.out" 2>&1 ||
	not_ok "flood: $(cat "$TMP/flood.out")"
echo "# flood: $(cat "$TMP/flood.out") in $((SECONDS - t0)) s"
allowed=$(($(verdict_count "$NA" node-a policy-allow) - allow0))
[ "$allowed" -ge "$FLOOD" ] && ok "every flood SYN was a new allowed flow ($allowed allowed, idg_ct_new holds $((1 << 16)))" ||
	not_ok "only $allowed new flows allowed for $FLOOD SYNs"

streams_check

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
