#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# idgate run, the daemon, on scenario A with real traffic: applies at start;
# reloads on a file change and on SIGHUP; a broken config is reported and
# the running generation keeps enforcing; programs removed by someone else
# (XDP, tc) or an uplink deleted and re-created get idgate's programs back;
# Prometheus metrics scraped with curl and parsed; SIGTERM exits 0 and
# leaves enforcement in place.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_a.sh"
# Native XDP first (auto would pick tc ingress on this veth); the tc hook's
# repair is checked at the end.
sed 's/^  xdpMode: auto$/  xdpMode: native/' "$CONFIG" >"$TMP/native.yaml"
grep -q "xdpMode: native" "$TMP/native.yaml" || { echo "cannot set xdpMode" >&2; exit 1; }
CONFIG=$TMP/native.yaml

bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080 8081

mkdir "$TMP/etc"
CFG="$TMP/etc/idgate.yaml"
cp "$CONFIG" "$CFG"
# The same config plus a policy letting reporting reach billing-api:8080.
{ cat "$CONFIG"; reporting_reads_policy; } >"$TMP/with-reporting.yaml"
# Broken: a selector that is not a mapping (FILE:LINE:COL diagnostic).
{ cat "$TMP/with-reporting.yaml"; cat <<'YAML'
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: broken
  namespace: production
spec:
  endpointSelector: [not, a, selector]
YAML
} >"$TMP/broken.yaml"

PORT=$((20000 + RANDOM % 20000))
LOG="$TMP/run.log"
register_instance "$NA" node-a
idg_bg "$NA" node-a run -c "$CFG" --metrics-address "127.0.0.1:$PORT" >"$LOG" 2>&1
RUN_PID=$BG_PID

loglines() { grep -c "$1" "$LOG" || true; }

if waitfor 10 grep -q "idgate run: ready" "$LOG"; then ok "daemon started"; else not_ok "daemon did not start: $(cat "$LOG")"; fi
grep -q "generation 1 enforcing.*compile .* ms, fill .* ms, switch .* ms" "$LOG" \
	&& ok "start logged with generation and compile/fill/switch times" || not_ok "start log: $(cat "$LOG")"
expect pass "frontend -> billing-api:8080 allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "reporting -> billing-api:8080 denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080

scrape() { in_ns "$NA" curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics"; }
# metric NAME [LABEL=VALUE...]: the value of one series, parsed in python.
metric() {
	scrape | python3 -c '
import re, sys
want, labels = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
helped = set()
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        helped.add(line.split()[2]); continue
    m = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
    assert m, "bad line: " + line
    name, lab, val = m.groups()
    assert name in helped, "no HELP/TYPE for " + name
    got = dict(re.findall(r"(\w+)=\"((?:[^\"\\\\]|\\\\.)*)\"", lab or ""))
    if name == want and all(got.get(k) == v for k, v in labels.items()):
        print(val); sys.exit(0)
sys.exit(1)' "$@"
}
v1=$(metric idgate_packets_total reason=policy-default-deny verdict=drop) || v1=
[ -n "$v1" ] && [ "${v1%.*}" -gt 0 ] && ok "metrics: default-deny drops counted ($v1)" || not_ok "metrics: default-deny: '$v1'"
in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080 >/dev/null 2>&1 || true
v2=$(metric idgate_packets_total reason=policy-default-deny verdict=drop) || v2=0
[ "${v2%.*}" -gt "${v1%.*}" ] && ok "metrics: default-deny counter grew after a denied connection ($v1 -> $v2)" \
	|| not_ok "metrics: default-deny did not grow ($v1 -> $v2)"
r=$(metric idgate_rule_packets_total policy=production/billing-api rule=0 direction=ingress verdict=allow) || r=
[ -n "$r" ] && [ "$r" -gt 0 ] && ok "metrics: per-rule counter of production/billing-api ingress[0] ($r packets)" \
	|| not_ok "metrics: per-rule counter '$r'"
[ "$(metric idgate_map_capacity map=conntrack)" -gt 0 ] && [ "$(metric idgate_map_entries map=ipcache)" -gt 0 ] \
	&& ok "metrics: map occupancy and capacity" || not_ok "metrics: map occupancy"
[ "$(metric idgate_generation)" = 1 ] && ok "metrics: generation 1" || not_ok "metrics: generation $(metric idgate_generation)"
code=$(in_ns "$NA" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/other")
[ "$code" = 404 ] && ok "other paths: 404" || not_ok "other path: HTTP $code"

# An edit (the file replaced, as editors do) changes the verdict.
cp "$TMP/with-reporting.yaml" "$TMP/etc/.idgate.yaml.tmp" && mv "$TMP/etc/.idgate.yaml.tmp" "$CFG"
if waitfor 5 in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080; then
	ok "file change: reporting allowed within seconds"
else
	not_ok "file change: reporting still denied: $(tail -5 "$LOG")"
fi
grep -q "reloaded: generation 2 enforcing (file changed)" "$LOG" && ok "reload logged" || not_ok "reload log: $(tail -5 "$LOG")"

# A broken config is reported and ignored.
cat "$TMP/broken.yaml" >"$CFG"
if waitfor 5 grep -q "reload of .* failed" "$LOG"; then ok "broken config: reload failure logged"; else not_ok "broken config: no failure in log"; fi
grep -qE "idgate.yaml:[0-9]+:[0-9]+: " "$LOG" && ok "broken config: FILE:LINE:COL diagnostic" || not_ok "no FILE:LINE:COL: $(tail -5 "$LOG")"
grep -q "generation 2 keeps enforcing" "$LOG" && ok "broken config: generation 2 keeps enforcing (logged)" || not_ok "keeps-enforcing line missing"
expect pass "broken config: reporting still allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "broken config: frontend -> 8081 still denied" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8081
[ "$(metric idgate_last_reload_success)" = 0 ] && ok "metrics: last reload success 0" || not_ok "metrics: last_reload_success"

# Back to the original file, then SIGHUP reloads it again.
cat "$CONFIG" >"$CFG"
waitfor 5 grep -q "reloaded: generation 3 enforcing" "$LOG" && ok "fixed file reloaded (generation 3)" || not_ok "fixed file: $(tail -3 "$LOG")"
expect_denied "$NA" node-a policy-default-deny "original config: reporting denied again" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
kill -HUP "$RUN_PID"
waitfor 5 grep -q "reloaded: generation 4 enforcing (SIGHUP)" "$LOG" && ok "SIGHUP reloads (generation 4)" || not_ok "SIGHUP: $(tail -3 "$LOG")"
loads=$(loglines "idgate run: loading")
rl=$(metric idgate_reloads_total)
[ "$rl" = "$loads" ] && [ "$rl" = 5 ] && ok "metrics: reload count $rl matches the log" || not_ok "metrics: reloads $rl, log $loads"
[ "$(metric idgate_last_reload_success)" = 1 ] && ok "metrics: last reload success 1" || not_ok "metrics: last_reload_success after HUP"
d=$(metric idgate_last_reload_duration_seconds)
python3 -c 'import sys; assert 0 < float(sys.argv[1]) < 10' "$d" && ok "metrics: last reload duration ${d}s" || not_ok "duration $d"

# Someone removes idgate's programs: put back (about a second on an idle
# machine; the time is reported, not asserted: timing belongs to bench/,
# and a loaded CI machine may take several seconds to load the programs).
xdp_id() { idg "$NA" node-a status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
attached() { [ "$(xdp_id "$1")" -gt 0 ]; }
in_ns "$NA" ip link set dev eth0 xdp off
t0=$(date +%s.%N)
if waitfor 20 attached xdp_prog_id; then
	dt=$(python3 -c "import sys; print(f'{$(date +%s.%N) - $t0:.2f}')")
	ok "xdp off: XDP program back (after ${dt}s)"
else
	not_ok "xdp off: XDP program not back: $(tail -3 "$LOG")"
fi
grep -q "XDP program gone from eth0" "$LOG" && ok "xdp removal logged" || not_ok "xdp removal log"
expect_denied "$NA" node-a policy-default-deny "after xdp off: reporting denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect pass "after xdp off: frontend allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
in_ns "$NA" tc filter del dev eth0 egress
if waitfor 20 attached tc_egress_prog_id; then ok "tc filter del: tc program back"; else not_ok "tc filter del: not back: $(tail -3 "$LOG")"; fi

# The uplink deleted and created again (new ifindex).
ip -n "$NA" link del eth0
ip -n "$NA" link add eth0 type veth peer name eth0 netns "$NB"
ip -n "$NA" addr add 10.0.0.10/16 dev eth0
ip -n "$NA" addr add 192.168.50.1/24 dev eth0
for a in 10.0.1.10 10.0.1.11 10.0.1.12; do ip -n "$NB" addr add $a/16 dev eth0; done
ip -n "$NB" addr add 192.168.50.2/24 dev eth0
ip -n "$NB" link set eth0 up
ip -n "$NA" link set eth0 up
if waitfor 20 attached xdp_prog_id && attached tc_egress_prog_id; then
	ok "uplink re-created: programs attached to the new interface"
else
	not_ok "uplink re-created: $(tail -5 "$LOG")"
fi
grep -q "was re-created" "$LOG" && ok "re-created uplink logged" || not_ok "re-created uplink not logged"
expect_denied "$NA" node-a policy-default-deny "re-created uplink: reporting denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect pass "re-created uplink: frontend allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080

# The ingress filter moved to tc by a config change, then removed by
# someone: put back, as XDP was.
in_ingress_tc() { idg "$NA" node-a status -o json | python3 -c 'import json,sys
d=json.load(sys.stdin)
sys.exit(0 if d["xdp_mode"]=="tc" and any(t["point"]=="ingress" and t["prog_id"] > 0
         for t in d["tc_programs"]) else 1)'; }
sed -i 's/^  xdpMode: native$/  xdpMode: tc/' "$CFG"
if waitfor 20 in_ingress_tc; then ok "config change: ingress filter moved to tc"; else not_ok "xdpMode tc not applied: $(tail -3 "$LOG")"; fi
ip -n "$NA" link show eth0 | grepq "prog/xdp" && not_ok "XDP left after the move to tc" || ok "no XDP after the move to tc"
in_ns "$NA" tc filter del dev eth0 ingress pref 1
t0=$(date +%s.%N)
if waitfor 20 in_ingress_tc; then
	dt=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
	ok "tc ingress filter back (after ${dt}s)"
else
	not_ok "tc ingress filter not back: $(tail -3 "$LOG")"
fi
expect_denied "$NA" node-a policy-default-deny "tc ingress: reporting denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080

# SIGTERM: exit 0, enforcement stays.
kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || not_ok "SIGTERM: exit $rc"
grep -q "stays pinned and enforcing" "$LOG" && ok "SIGTERM: logged" || not_ok "SIGTERM log: $(tail -3 "$LOG")"
expect_denied "$NA" node-a policy-default-deny "after exit: reporting still denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect pass "after exit: frontend still allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
expect pass "after exit: idgate status works" idg "$NA" node-a status

finish
