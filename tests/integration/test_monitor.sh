#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# idgate monitor with real traffic: a denied connection (reporting ->
# billing-api:8080) shows up as one drop event with its reason, 5-tuple,
# identities as labels, endpoint and "default deny"; an allowed one does not.
# Human format, --related-to filtering, unknown endpoint name exits 2.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1

. "$(dirname "$0")/topo_a.sh"

bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080

register_instance "$NA" node-a
if idg "$NA" node-a apply -c "$CONFIG" --drop-event-interval 0 >/dev/null; then ok "apply"; else not_ok "apply"; fi

# mon OUTFILE ARGS...: start monitor in the background, give it time to open
# the ring buffer; stop_mon sends SIGINT and checks the exit status.
mon() {
	local out=$1
	shift
	idg_bg "$NA" node-a monitor "$@" >"$out" 2>"$out.err"
	MON_PID=$BG_PID
	sleep 1
}
stop_mon() {
	sleep 0.5
	kill -INT "$MON_PID"
	if wait "$MON_PID"; then ok "monitor $1: exits 0 on SIGINT"; else not_ok "monitor $1: exit status $? ($(cat "$2.err"))"; fi
}
denied() { in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080 >/dev/null 2>&1 || true; }
allowed() { in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080 >/dev/null 2>&1; }

# --- JSON ---
mon "$TMP/mon.json" -o json
denied
if allowed; then ok "frontend allowed while monitoring"; else not_ok "frontend not allowed"; fi
stop_mon json "$TMP/mon.json"
if out=$(python3 - "$TMP/mon.json" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
drops = [e for e in evs if e["type"] == "drop"]
assert drops, "no drop event: %r" % evs
d = [e for e in drops if e["source"]["address"] == "10.0.1.12"]
assert d, "no drop from reporting: %r" % drops
e = d[0]
assert e["reason"] == "policy-default-deny", e
assert e["reason_code"] == 129, e
assert e["direction"] == "ingress" and e["family"] == "ipv4", e
assert e["protocol"] == "TCP", e
assert e["destination"]["address"] == "10.0.0.10" and e["destination"]["port"] == 8080, e
assert isinstance(e["source"]["port"], int) and e["source"]["port"] > 0, e
assert "app=reporting" in e["source"]["labels"], e
assert "app=billing-api" in e["destination"]["labels"], e
assert e["endpoint"] == "billing-api" and e["destination"]["endpoint"] == "billing-api", e
assert e["default_deny"] is True and e["policy"] is None and e["rule_index"] is None, e
assert e["generation"] >= 1 and e["ifindex"] > 0 and e["timestamp"], e
bad = [x for x in drops if "10.0.1.10" in (x["source"]["address"], x["destination"]["address"])]
assert not bad, "event for the allowed flow: %r" % bad
print(e["source"]["identity"])
PY
); then
	ok "json: drop event with reason, 5-tuple, labels, endpoint, default deny; none for the allowed flow"
	SRC_ID=$out
	grep -m1 '"drop"' "$TMP/mon.json" | sed 's/^/# /'
else
	not_ok "json: $out"
	sed 's/^/# /' "$TMP/mon.json"
	SRC_ID=1
fi

# --- human ---
mon "$TMP/mon.txt"
denied
stop_mon text "$TMP/mon.txt"
if grep 'policy-default-deny' "$TMP/mon.txt" | grep 'app=reporting' | grep 'endpoint billing-api' | grepq 'no rule matched: default deny'; then
	ok "human: line with reason, labels, endpoint and default deny"
	grep -m1 'policy-default-deny' "$TMP/mon.txt" | sed 's/^/# /'
else
	not_ok "human line"; sed 's/^/# /' "$TMP/mon.txt"
fi

# --- --related-to ---
mon "$TMP/rel-other.json" -o json --related-to frontend
denied
stop_mon "--related-to frontend" "$TMP/rel-other.json"
if grep -q '"type": *"drop"' "$TMP/rel-other.json"; then
	not_ok "--related-to frontend shows the reporting drop"; sed 's/^/# /' "$TMP/rel-other.json"
else
	ok "--related-to an unrelated endpoint shows nothing"
fi
mon "$TMP/rel-ep.json" -o json --related-to billing-api
denied
stop_mon "--related-to billing-api" "$TMP/rel-ep.json"
grep -q '"reason": *"policy-default-deny"' "$TMP/rel-ep.json" && ok "--related-to billing-api shows it" \
	|| not_ok "--related-to billing-api: $(cat "$TMP/rel-ep.json")"
mon "$TMP/rel-id.json" -o json --related-to "$SRC_ID"
denied
stop_mon "--related-to $SRC_ID" "$TMP/rel-id.json"
grep -q '"reason": *"policy-default-deny"' "$TMP/rel-id.json" && ok "--related-to identity $SRC_ID shows it" \
	|| not_ok "--related-to identity $SRC_ID: $(cat "$TMP/rel-id.json")"

# --- losses reported: with the default rate limit (one event per flow per
# second) a UDP stream of one flow has most of its drop events suppressed.
idg "$NA" node-a apply -c "$CONFIG" >/dev/null || not_ok "re-apply with the default event interval"
mon "$TMP/lost.json" -o json
in_ns "$NB" "$PROBE" udp-stream 10.0.1.12 10.0.0.10 8080 50 1 >/dev/null 2>&1 || true
sleep 1.2
stop_mon "suppressed" "$TMP/lost.json"
if python3 - "$TMP/lost.json" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lost = [e for e in evs if e["type"] == "lost"]
assert sum(e["suppressed"] for e in lost) >= 10, evs
PY
then ok "json: suppressed events reported as {\"type\":\"lost\"}"; grep -m1 '"lost"' "$TMP/lost.json" | sed 's/^/# /'
else not_ok "suppressed events not reported"; sed 's/^/# /' "$TMP/lost.json"; fi

set +e
idg "$NA" node-a monitor --related-to no-such-endpoint >/dev/null 2>"$TMP/unknown.err"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q no-such-endpoint "$TMP/unknown.err" && ok "--related-to unknown name: exit 2" \
	|| not_ok "--related-to unknown name: exit $rc ($(cat "$TMP/unknown.err"))"
set +e
# Policy verdict notifications: the allowed new flow, with its rule.
mon "$TMP/mon.pv" -o json --type policy-verdict
allowed || true
stop_mon policy-verdict "$TMP/mon.pv"
python3 - "$TMP/mon.pv" <<'PY' && ok "policy-verdict: the allowed flow, attributed to production/billing-api ingress[0]" || not_ok "policy-verdict: $(cat "$TMP/mon.pv")"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
v = [e for e in evs if e["type"] == "policy-verdict" and e["source"]["address"] == "10.0.1.10"]
assert v, evs
e = v[0]
assert e["reason"] == "policy-allow" and e["policy"] == "production/billing-api", e
assert e["rule_index"] == 0 and e["destination"]["port"] == 8080, e
assert not [x for x in evs if x["type"] == "drop"], evs
PY
# Per-packet trace events: on only while a trace monitor runs.
mon "$TMP/mon.tr" -o json --type trace
allowed || true
stop_mon trace "$TMP/mon.tr"
python3 - "$TMP/mon.tr" <<'PY' && ok "trace: the allowed flow's packets, with identities resolved" || not_ok "trace: $(cat "$TMP/mon.tr")"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t = [e for e in evs if e["type"] == "trace" and e["source"]["address"] == "10.0.1.10"]
assert t, evs
assert t[0]["reason"] in ("policy-allow", "conntrack-established"), t[0]
assert "app=frontend" in t[0]["source"]["labels"], t[0]
assert not [x for x in evs if x["type"] != "trace"], evs
PY
flags=$(bpftool map dump pinned "$PIN_ROOT/node-a/idg_mon_cfg" -j 2>/dev/null | python3 -c 'import json,sys
v = json.load(sys.stdin)[0]["value"]
print(sum(int(b, 16) for b in v) if isinstance(v, list) else v)' 2>/dev/null || echo "?")
[ "$flags" = 0 ] && ok "trace events off again after the trace monitor exits" || not_ok "idg_mon_cfg after monitor: $flags"
idg "$NA" node-a monitor --type bogus >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && ok "--type bogus: exit 2" || not_ok "--type bogus: exit $rc"
"$IDGATE" monitor --help | grepq 'idgate monitor' && ok "monitor --help has an example" || not_ok "monitor --help"

finish
