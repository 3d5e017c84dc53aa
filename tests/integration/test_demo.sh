#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# idgate demo runs both scenarios to completion and leaves no namespace,
# pin, file or process behind, also when interrupted.
set -uo pipefail
IDGATE=${IDGATE:?set IDGATE to the idgate binary}
FAILS=0
PASSES=0
ok() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
not_ok() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }
out=$(mktemp /tmp/idgate-demo-test.XXXXXX)
trap 'rm -f "$out"' EXIT

leftovers() { # leftovers PID: what a demo run with that pid left
	ip netns list | grep -q "idgdemo-$1-" && echo "netns"
	[ -e "/sys/fs/bpf/idgate-demo-$1" ] && echo "pins"
	[ -e "/tmp/idgate-demo-$1" ] && echo "files"
	ps -eo args | grep -v grep | grep -q "idgate-demo-$1" && echo "processes"
	true
}

timeout 240 "$IDGATE" demo >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
[ $rc = 0 ] && ok "demo exits 0" || { not_ok "demo exit $rc"; cat "$out"; }
grep -q "frontend         -> billing-api:8080  connected" "$out" && ok "demo: frontend allowed" || not_ok "frontend line"
grep -q "reporting        -> billing-api:8080  refused by idgate" "$out" && ok "demo: reporting refused" || not_ok "reporting line"
grep -q "policy-default-deny" "$out" && grep -q "no rule matched: default deny" "$out" \
	&& ok "demo shows the monitor's drop with its reason" || not_ok "monitor output"
grep -q "the database saw the client as 172.18.0.1[12]" "$out" && ok "demo: egress gateway query" || not_ok "scenario B line"
# The uplink is a veth: xdpMode auto puts the filter at tc, and the demo
# says so rather than claiming XDP.
grep -q "ingress filter runs at tc ingress" "$out" && grep -q "dropped at tc ingress by" "$out" \
	&& ! grep -q "dropped in XDP" "$out" && ok "demo names the hook the filter runs at" || not_ok "hook wording"
grep -q "Done; everything the demo created is gone." "$out" && ok "demo says it cleaned up" || not_ok "cleanup line"
left=$(leftovers $pid)
[ -z "$left" ] && ok "nothing left behind" || not_ok "left behind: $left"

# Interrupted half-way: still nothing left.
"$IDGATE" demo >"$out" 2>&1 &
pid=$!
sleep 4
kill -INT $pid
wait $pid
rc=$?
[ $rc = 130 ] && ok "interrupted demo exits 130" || not_ok "interrupted demo exit $rc"
grep -q "Interrupted; everything the demo created is gone." "$out" && ok "interrupted demo cleaned up" || not_ok "interrupt message"
left=$(leftovers $pid)
[ -z "$left" ] && ok "nothing left after Ctrl-C" || not_ok "left after Ctrl-C: $left"

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
