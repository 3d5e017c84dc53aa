# SPDX-License-Identifier: GPL-2.0
# Probe streams for the fault tests (sourced after topo_a.sh): an allowed
# UDP stream (frontend -> billing-api:9000) and a denied one (reporting ->
# :9001, by an explicit deny rule, so its drops have a reason of their
# own), each PPS packets/s for SECONDS_RUN s, and the mis-verdict count.

# The policy document that allows and denies them; more ingress rules
# (YAML lines) may come on stdin.
streams_policy() {
	{
		echo "  ingress:"
		app_port_rule frontend 9000 UDP
		cat
		echo "  ingressDeny:"
		app_port_rule reporting 9001 UDP
	} | billing_policy streams
}

streams_drops() { # every drop reason's packets, and policy-deny's
	idg "$NA" node-a status -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)["verdicts"]
drops = {k: v["packets"] for k, v in d.items() if v.get("drop")}
print(sum(drops.values()), drops.get("policy-deny", 0))'
}

# Sinks on node-a (each prints "ready", then after its time the number
# of packets it saw), then both streams in the background.
streams_start() {
	local port
	read -r STREAMS_DROPS0 STREAMS_DENY0 < <(streams_drops)
	STREAMS_SINK_TIME=$((SECONDS_RUN + ${STREAMS_SINK_EXTRA:-30}))
	for port in 9000 9001; do
		nsenter --net="/run/netns/$NA" "$PROBE" udp-sink 10.0.0.10 "$port" "$STREAMS_SINK_TIME" \
			>"$TMP/sink-$port" 2>&1 &
		PIDS+=($!)
		waitfor 5 grep -q ready "$TMP/sink-$port" || not_ok "sink on $port did not start"
	done
	in_ns "$NB" "$PROBE" udp-stream 10.0.1.10 10.0.0.10 9000 "$PPS" "$SECONDS_RUN" >"$TMP/sent-9000" 2>&1 &
	STREAMS_PIDS=($!)
	in_ns "$NB" "$PROBE" udp-stream 10.0.1.12 10.0.0.10 9001 "$PPS" "$SECONDS_RUN" >"$TMP/sent-9001" 2>&1 &
	STREAMS_PIDS+=($!)
	PIDS+=("${STREAMS_PIDS[@]}")
}

# Waits for the streams and their sinks, then counts mis-verdicts: no
# denied packet delivered, the denied stream dropped by its rule, nothing
# else dropped by idgate, and at least 99% of the allowed stream
# delivered (what idgate did not drop and did not deliver was lost on
# the way: a busy machine's socket buffer).
streams_check() {
	local sent_ok sent_bad got_ok got_bad drops1 deny1 rate drops deny
	wait "${STREAMS_PIDS[@]}" || true
	sent_ok=$(tail -1 "$TMP/sent-9000")
	sent_bad=$(tail -1 "$TMP/sent-9001")
	waitfor $((STREAMS_SINK_TIME + 5)) grep -qx "[0-9]*" "$TMP/sink-9001"
	waitfor $((STREAMS_SINK_TIME + 5)) grep -qx "[0-9]*" "$TMP/sink-9000"
	got_ok=$(grep -x "[0-9]*" "$TMP/sink-9000" | tail -1)
	got_bad=$(grep -x "[0-9]*" "$TMP/sink-9001" | tail -1)
	read -r drops1 deny1 < <(streams_drops)
	drops=$((drops1 - STREAMS_DROPS0))
	deny=$((deny1 - STREAMS_DENY0))
	rate=$(((sent_ok + sent_bad) / SECONDS_RUN))
	echo "# sent $sent_ok allowed, $sent_bad denied ($rate packets/s); received $got_ok allowed, $got_bad denied; idgate drops: $drops of which policy-deny $deny"
	[ "$rate" -ge 5000 ] || [ "$PPS" -lt 2500 ] && ok "probe streams at $rate packets/s" || not_ok "probe streams only $rate packets/s"
	[ "${got_bad:-x}" = 0 ] && ok "no denied packet passed" || not_ok "denied packets passed: ${got_bad:-no count}"
	[ "$drops" = "$deny" ] && ok "idgate dropped nothing but the denied stream" ||
		not_ok "idgate dropped $((drops - deny)) packets for other reasons"
	[ "$deny" -le "$sent_bad" ] && [ "$deny" -ge $((sent_bad * 99 / 100)) ] &&
		ok "the denied stream was dropped by its deny rule" || not_ok "policy-deny drops $deny for $sent_bad sent"
	[ "${got_ok:-0}" -ge $((sent_ok * 99 / 100)) ] && ok "allowed stream delivered ($got_ok of $sent_ok)" ||
		not_ok "allowed stream: $got_ok of $sent_ok delivered"
}
