#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Scenario A with the article's L7 rules on billing-api:8080, real HTTP
# clients and a real server. With `idgate apply` alone no proxy runs: the
# L7 port refuses new connections (fail closed) while the other ports keep
# their L3/L4 verdicts. Under `idgate run` HAProxy judges each request as
# the article says, the server sees the clients' own addresses, a denial
# keeps the connection, and a killed proxy is back within 2 s.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
CLIENT=$(dirname "$0")/l7client.py

. "$(dirname "$0")/topo_a.sh"

# The article's policy, as configs/billing-api.yaml carries it: frontend
# GET /api/v1/users/.*, batch-processor POST /api/internal/process-batch,
# both on TCP 8080.
grep -q 'path: "/api/internal/process-batch"' "$CONFIG" || not_ok "$CONFIG lacks the article's HTTP rules"
cp "$CONFIG" "$TMP/l7.yaml"

nsenter --net="/run/netns/$NA" python3 "$CLIENT" serve 10.0.0.10 8080 "$TMP/backend.log" &
PIDS+=($!)
bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8081

if idg "$NA" node-a check -c "$TMP/l7.yaml" >"$TMP/check.out" 2>&1; then
	grep -q "1 TCP port(s) with L7 rules go to the L7 proxy, which idgate run supervises.*: billing-api:8080" "$TMP/check.out" \
		&& ok "check accepts the article's L7 policy and says what enforces it" || not_ok "check: $(cat "$TMP/check.out")"
else
	not_ok "check refused the article's L7 policy: $(cat "$TMP/check.out")"
fi
# check_refuses WHAT BASE NAMESPACE SELECTOR DIRECTION GREP: BASE plus a
# policy with one HTTP rule for SELECTOR in DIRECTION; check must refuse
# it with a message matching GREP.
check_refuses() {
	local f=$TMP/refused.yaml
	cp "$2" "$f"
	printf -- '---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: http-rule, namespace: %s}\nspec:\n  endpointSelector: {matchLabels: {app: %s}}\n  %s:\n  - toPorts:\n    - ports: [{port: "8080", protocol: TCP}]\n      rules: {http: [{method: GET}]}\n' \
		"$3" "$4" "$5" >>"$f"
	if idg "$NA" node-a check -c "$f" 2>"$TMP/refused.err"; then
		not_ok "$1: accepted"
	else
		grep -q "$6" "$TMP/refused.err" && ok "$1: refused" || not_ok "$1: $(cat "$TMP/refused.err")"
	fi
}
# Egress L7 rules: refused, never enforced on their ports alone.
check_refuses "egress L7 rule, with its position" "$TMP/l7.yaml" production billing-api egress \
	"refused.yaml:[0-9]*:[0-9]*: .*L7 rules on egress are not enforced yet"
# A node that sends egress-gateway tunnel traffic cannot steer L7 ports:
# refused at the node, before any interface is looked at.
check_refuses "L7 rules on an egress-gateway source node, at the node" \
	"${EGW_CONFIG:-$(dirname "$0")/../../configs/egress-gateway.yaml}" analytics data-processor ingress \
	"refused.yaml:[0-9]*:[0-9]*: .*node node-a: L7 rules on a node that sends or receives egress-gateway tunnel traffic are not supported yet"
register_instance "$NA" node-a
if idg "$NA" node-a apply -c "$TMP/l7.yaml" 2>"$TMP/apply.err"; then ok "apply"; else not_ok "apply: $(cat "$TMP/apply.err")"; fi

# No proxy: the L7 port refuses; the L3/L4 verdicts stand.
expect_denied "$NA" node-a l7-proxy-unavailable "no proxy: frontend -> billing-api:8080 refused" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "reporting -> billing-api:8080 dropped by L3/L4 policy" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "frontend -> billing-api:8081 denied" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8081

# What the CLI shows of the L7 rules.
pol=$(idg "$NA" node-a policy get billing-api -o json)
python3 - "$pol" <<'PY' && ok "policy get -o json: l7-rules per rule, the port marked as the proxy's" || not_ok "policy get -o json: $pol"
import json, sys
rules = json.loads(sys.argv[1])[0]["rules"]
l7 = {r["rule"]: r["l7-rules"]["http"] for r in rules if r.get("proxy")}
assert l7["production/billing-api ingress[0]"] == [{"method": "GET", "path": "/api/v1/users/.*"}], l7
assert l7["production/billing-api ingress[1]"] == [{"method": "POST", "path": "/api/internal/process-batch"}], l7
PY
idg "$NA" node-a policy get billing-api | grepq "l7: GET /api/v1/users/\.\*" \
	&& ok "policy get: l7 rules in the text" || not_ok "policy get text: $(idg "$NA" node-a policy get billing-api)"
trace_l7() { # trace_l7 WANT_EXIT GREP SRC METHOD PATH
	local out rc=0
	out=$(idg "$NA" node-a policy trace --src "$3" --dst billing-api --dport 8080 \
		--http-method "$4" --http-path "$5" 2>&1) || rc=$?
	if [ "$rc" = "$1" ] && grep -q -- "$2" <<<"$out"; then
		ok "policy trace $3 $4 $5: $(grep '^l7:' <<<"$out" || tail -1 <<<"$out")"
	else
		not_ok "policy trace $3 $4 $5 (exit $rc): $out"
	fi
}
trace_l7 0 "ALLOWED by production/billing-api ingress\[0\] http\[0\]" frontend GET /api/v1/users/42
trace_l7 1 "DENIED (403 Access denied): no http rule of production/billing-api ingress\[0\]" frontend GET /api/v1/admin/metrics
trace_l7 1 "DENIED (403" frontend POST /api/v1/users/42
trace_l7 1 "^verdict: DENIED by the L7 proxy (L3/L4: policy-allow by production/billing-api ingress\[0\])" frontend GET /api/v1/admin/metrics
trace_l7 0 "ALLOWED by production/billing-api ingress\[1\] http\[0\]" batch-processor POST /api/internal/process-batch
trace_l7 1 "policy-default-deny" reporting GET /api/v1/users/1

# idgate run: the proxy.
idg_bg "$NA" node-a run -c "$TMP/l7.yaml"
RUN_PID=$BG_PID
for _ in $(seq 100); do
	in_ns "$NA" ss -Hltn "sport = :0" >/dev/null 2>&1
	pgrep -f "haproxy -db -f $TMP/state-node-a/l7/haproxy.cfg" >/dev/null && break
	sleep 0.1
done
pgrep -f "haproxy -db -f $TMP/state-node-a/l7/haproxy.cfg" >/dev/null && ok "idgate run started haproxy" || not_ok "no haproxy under idgate run"
sleep 0.5

# Monitors: L7 verdicts in JSON, drops (L7 denials among them) in text.
mon() { # mon OUT ARGS...: idgate monitor in NA until the test ends
	local out=$1
	shift
	nsenter --net="/run/netns/$NA" "$IDGATE" monitor --node node-a \
		--pin-dir "$PIN_ROOT/node-a" --state-dir "$TMP/state-node-a" "$@" >"$out" 2>&1 &
	PIDS+=($!)
}
mon "$TMP/mon.json" --type l7 -o json
mon "$TMP/mon.txt"
sleep 0.5

# The article's requests, each on its sender's keep-alive connection:
# SRC PORT METHOD PATH HOST HEADERS STATUS (l7client.py check).
printf '%s\t8080\t%s\t%s\tbilling-api\t\t%s\n' \
	10.0.1.10 GET /api/v1/users/42 200 \
	10.0.1.10 GET /api/v1/admin/metrics 403 \
	10.0.1.10 POST /api/v1/users/42 403 \
	10.0.1.10 GET /api/v1/users/7?fields=name 200 \
	10.0.1.11 POST /api/internal/process-batch 200 \
	10.0.1.11 GET /api/v1/users/1 403 \
	10.0.1.11 POST /api/internal/process-batch 200 >"$TMP/article.tsv"
if in_ns "$NB" python3 "$CLIENT" check "$TMP/article.tsv" 10.0.0.10 >"$TMP/article.out" 2>&1; then
	ok "the article's requests judged as the article says, client addresses kept: $(tail -1 "$TMP/article.out")"
else
	not_ok "the article's requests: $(cat "$TMP/article.out")"
fi
sleep 0.5
python3 - "$TMP/mon.json" <<'PY' && ok "monitor --type l7 -o json: the denial and the allowed request, with identities, endpoint and rule" || not_ok "monitor --type l7: $(cat "$TMP/mon.json")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
d = [e for e in ev if e["request"]["path"] == "/api/v1/admin/metrics"][0]
assert d["reason"] == "l7-policy-denied" and d["status"] == 403, d
assert d["endpoint"] == "billing-api" and d["rule"] == "production/billing-api ingress[0]", d
assert "app=frontend" in d["source"]["labels"] and d["source"]["address"] == "10.0.1.10", d
assert any(l.startswith("app=billing-api") for l in d["destination"]["labels"]), d
a = [e for e in ev if e["request"]["path"] == "/api/v1/users/42"][0]
assert a["reason"] == "l7-policy-allowed" and a["http_index"] == 0 and a["status"] == 200, a
assert len(ev) == 7, len(ev)
PY
grep -q "xx l7 (L7 policy denied) flow 10.0.1.10:[0-9]* -> 10.0.0.10:8080 TCP ingress: identity [0-9]* \[app=frontend.*endpoint billing-api; no http rule of production/billing-api ingress\[0\] matches: -> GET /api/v1/admin/metrics (403)" "$TMP/mon.txt" \
	&& ok "monitor: the L7 denial with its request line" || not_ok "monitor text: $(cat "$TMP/mon.txt")"
grep -q -- "-> GET /api/v1/users/42" "$TMP/mon.txt" && not_ok "monitor (drops) shows an allowed request" || ok "monitor (drops) shows no allowed request"
in_ns "$NA" curl -s http://127.0.0.1:9464/metrics >"$TMP/metrics.txt" || true
grep -q 'idgate_l7_requests_total{verdict="denied",policy="production/billing-api",rule="ingress\[0\]"} 2' "$TMP/metrics.txt" \
	&& grep -q 'idgate_l7_requests_total{verdict="allowed",policy="production/billing-api",rule="ingress\[1\]"} 2' "$TMP/metrics.txt" \
	&& ok "metrics: L7 requests by verdict and rule" || not_ok "metrics: $(grep l7 "$TMP/metrics.txt")"

# Under load every request is still accounted for: the proxy's log is read
# in batches and must not overflow (HAProxy drops what the pipe cannot
# take). wrk counts the responses it got; requests cut off when it stops
# may be logged too (one per connection at most).
l7_allowed() { in_ns "$NA" curl -s http://127.0.0.1:9464/metrics |
	sed -n 's/^idgate_l7_requests_total{verdict="allowed",policy="production\/billing-api",rule="ingress\[0\]"} //p'; }
before=$(l7_allowed)
in_ns "$NB" wrk -t1 -c16 -d3s http://10.0.0.10:8080/api/v1/users/7 >"$TMP/wrk.out" 2>&1
sent=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$TMP/wrk.out")
sleep 0.3
after=$(l7_allowed)
if [ -n "$sent" ] && [ "$sent" -gt 1000 ] && ! grep -q "Non-2xx" "$TMP/wrk.out" &&
	[ $((after - before)) -ge "$sent" ] && [ $((after - before)) -le $((sent + 16)) ]; then
	ok "load: $sent requests answered, $((after - before)) logged and counted"
else
	not_ok "load: wrk got ${sent:-?} responses, the metric moved $before -> $after: $(cat "$TMP/wrk.out")"
fi

# A hostile client: refused or judged, the proxy stays up, others are
# served, and the server never serves what the policy denies.
hp=$(pgrep -f "haproxy -db -f $TMP/state-node-a/l7/haproxy.cfg" | head -1)
if in_ns "$NB" python3 "$(dirname "$0")/l7abuse.py" 10.0.1.10 10.0.0.10 8080 >"$TMP/abuse.out" 2>&1; then
	ok "malformed, oversized, smuggled and slow requests: $(tr '\n' ';' <"$TMP/abuse.out")"
else
	not_ok "hostile requests: $(cat "$TMP/abuse.out")"
fi
[ "$(pgrep -f "haproxy -db -f $TMP/state-node-a/l7/haproxy.cfg" | head -1)" = "$hp" ] \
	&& ok "the proxy survived them" || not_ok "the proxy restarted or died"
grep -q "admin" "$TMP/backend.log" && not_ok "the server served a denied request: $(grep admin "$TMP/backend.log")" \
	|| ok "the server never saw a denied request"

expect_denied "$NA" node-a policy-default-deny "with the proxy: reporting -> billing-api:8080 still dropped before it" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "with the proxy: frontend -> billing-api:8081 denied" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8081

# A crash: fail closed, then back within 2 s.
old=$(pgrep -f "haproxy -db -f $TMP/state-node-a/l7/haproxy.cfg" | head -1)
kill -9 "$old"
t0=$(date +%s.%N)
back=
for _ in $(seq 40); do
	new=$(pgrep -f "haproxy -db -f $TMP/state-node-a/l7/haproxy.cfg" | head -1 || true)
	if [ -n "$new" ] && [ "$new" != "$old" ] &&
		in_ns "$NB" python3 "$CLIENT" check "$TMP/article.tsv" 10.0.0.10 >"$TMP/again.out" 2>&1; then
		back=$(python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")
		break
	fi
	sleep 0.05
done
[ -n "$back" ] && python3 -c "import sys; sys.exit(float(sys.argv[1]) > 2.0)" "$back" \
	&& ok "proxy killed: serving the article's requests again after ${back} s" \
	|| not_ok "proxy killed: not back within 2 s (${back:-never}; $(tail -2 "$TMP/again.out" 2>/dev/null))"

# A reload that changes the L7 rules: a new HAProxy takes over.
old=$(pgrep -f "haproxy -db -f $TMP/state-node-a/l7/haproxy.cfg" | head -1)
sed 's|path: "/api/v1/users/.\*"|path: "/api/v1/(users\|admin)/.*"|' "$TMP/l7.yaml" >"$TMP/l7.new"
grep -q 'users|admin' "$TMP/l7.new" || not_ok "the test's edit of the policy did not apply"
mv "$TMP/l7.new" "$TMP/l7.yaml"
printf '10.0.1.10\t8080\tGET\t/api/v1/admin/metrics\tbilling-api\t\t200\n10.0.1.10\t8080\tPOST\t/api/v1/users/42\t\t\t403\n' >"$TMP/after.tsv"
for _ in $(seq 50); do
	in_ns "$NB" python3 "$CLIENT" check "$TMP/after.tsv" 10.0.0.10 >"$TMP/after.out" 2>&1 && break
	sleep 0.1
done
if in_ns "$NB" python3 "$CLIENT" check "$TMP/after.tsv" 10.0.0.10 >"$TMP/after.out" 2>&1; then
	ok "reload with new L7 rules: admin now allowed, POST still denied"
else
	not_ok "reload with new L7 rules: $(cat "$TMP/after.out")"
fi
sleep 0.3
[ "$(pgrep -f "haproxy -db -f $TMP/state-node-a/l7/haproxy.cfg" | wc -l)" = 1 ] \
	&& ! kill -0 "$old" 2>/dev/null && ok "the old HAProxy handed over and left" \
	|| not_ok "HAProxies after the reload: $(pgrep -af "haproxy -db")"

# IPv6 clients: the same steering and proxy, the server sees the client's
# own IPv6 address. Endpoints gain IPv6 addresses through a reload.
ip -n "$NA" addr add fd00::10/64 dev eth0 nodad
ip -n "$NB" addr add fd00::1:10/64 dev eth0 nodad
ip -n "$NB" addr add fd00::1:12/64 dev eth0 nodad
nsenter --net="/run/netns/$NA" python3 "$CLIENT" serve fd00::10 8080 "$TMP/backend6.log" &
PIDS+=($!)
python3 - "$TMP/l7.yaml" "$TMP/l7.new" <<'PY'
import sys
s = open(sys.argv[1]).read()
for old, new in (("[10.0.0.10]", '[10.0.0.10, "fd00::10"]'), ("[10.0.1.10]", '[10.0.1.10, "fd00::1:10"]'),
                 ("[10.0.1.12]", '[10.0.1.12, "fd00::1:12"]')):
    assert s.count("ips: " + old) == 1, old
    s = s.replace("ips: " + old, "ips: " + new)
open(sys.argv[2], "w").write(s)
PY
mv "$TMP/l7.new" "$TMP/l7.yaml"
printf 'fd00::1:10\t8080\tGET\t/api/v1/users/42\tbilling-api\t\t200\nfd00::1:10\t8080\tPOST\t/api/v1/users/42\t\t\t403\nfd00::1:10\t8080\tGET\t/api/v1/admin/metrics\tbilling-api\t\t200\n' >"$TMP/v6.tsv"
for _ in $(seq 50); do
	in_ns "$NB" python3 "$CLIENT" check "$TMP/v6.tsv" fd00::10 >"$TMP/v6.out" 2>&1 && break
	sleep 0.1
done
if in_ns "$NB" python3 "$CLIENT" check "$TMP/v6.tsv" fd00::10 >"$TMP/v6.out" 2>&1; then
	ok "IPv6: judged by the proxy, the server saw fd00::1:10: $(tail -1 "$TMP/v6.out")"
else
	not_ok "IPv6 requests: $(cat "$TMP/v6.out")"
fi
grep -q "POST /api/v1/users/42" "$TMP/backend6.log" && not_ok "IPv6: the server served a denied request" \
	|| ok "IPv6: the server never saw the denied request"
rules6=$(in_ns "$NA" ip -6 rule)
grep -q "from fd00::10 iif lo ipproto tcp sport 8080 lookup 4767" <<<"$rules6" \
	&& ok "IPv6: reply rule for billing-api's IPv6 address" || not_ok "IPv6 rules: $rules6"
expect_denied "$NA" node-a policy-default-deny "IPv6: reporting -> billing-api:8080 dropped before the proxy" in_ns "$NB" "$PROBE" tcp fd00::1:12 fd00::10 8080

kill "$RUN_PID"
wait "$RUN_PID" 2>/dev/null || true
pgrep -f "haproxy -db -f $TMP/state-node-a/l7/haproxy.cfg" >/dev/null && not_ok "haproxy outlived idgate run" || ok "haproxy stopped with idgate run"
{ in_ns "$NA" ip rule; in_ns "$NA" ip -6 rule; } | grepq "lookup 4767" && not_ok "L7 routing rules left behind" || ok "L7 routing rules removed"
expect_denied "$NA" node-a l7-proxy-unavailable "after idgate run: billing-api:8080 refused again" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080

finish
