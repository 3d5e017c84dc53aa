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
	ip netns list | grep "idgdemo-$1-" >/dev/null && echo "netns"
	[ -e "/sys/fs/bpf/idgate-demo-$1" ] && echo "pins"
	[ -e "/tmp/idgate-demo-$1" ] && echo "files"
	ps -eo args | grep -v grep | grep "idgate-demo-$1" >/dev/null && echo "processes"
	true
}

timeout 240 "$IDGATE" demo >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
[ $rc = 0 ] && ok "demo exits 0" || { not_ok "demo exit $rc"; cat "$out"; }
# Scenario A is the article's L7 policy under idgate run: each request's
# outcome, the server seeing the client's own address.
line() { grep -q -- "$1" "$out" && ok "demo: $2" || not_ok "demo: no line for $2"; }
line "frontend  *GET  */api/v1/users/42  *:8080  200 OK; the server saw 10.0.1.10$" "frontend GET users allowed, address preserved"
line "frontend  *GET  */api/v1/admin/metrics  *:8080  403 Access denied" "frontend GET admin 403"
line "frontend  *POST  */api/v1/users/42  *:8080  403 Access denied" "frontend POST users 403"
line "batch-processor  *POST  */api/internal/process-batch  *:8080  200 OK; the server saw 10.0.1.11$" "batch POST allowed"
line "batch-processor  *GET  */api/v1/users/1  *:8080  403 Access denied" "batch GET users 403"
line "reporting  *GET  */api/v1/users/42  *:8080  no connection: dropped at tc ingress" "reporting dropped before any proxy"
line "frontend  *GET  */api/v1/users/42  *:8081  no connection" "8081 dropped"
grep -q "UNEXPECTED" "$out" && not_ok "demo flagged an unexpected outcome" || ok "no unexpected outcome"
grep -q "policy-default-deny" "$out" && grep -q "no rule matched: default deny" "$out" \
	&& ok "demo shows the monitor's drop with its reason" || not_ok "monitor output"
line "xx l7 (L7 policy denied) flow 10.0.1.10:[0-9]* -> 10.0.0.10:8080 .*ingress\[0\] matches: -> GET /api/v1/admin/metrics (403)" \
	"monitor shows the L7 denial with its request"
line "verdict: DENIED by the L7 proxy" "policy trace of an HTTP request"
line "l7: GET /api/v1/users/\.\*" "policy get lists the l7 rules"
grep -q "libbpf:" "$out" && not_ok "libbpf warnings in the demo" || ok "no libbpf warnings"
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
