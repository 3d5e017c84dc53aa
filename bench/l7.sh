#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The L7 path against the same server without idgate: wrk (keep-alive, 64
# connections, one thread) from GEN to an HTTP server in the DUT answering
# 64-byte bodies (an HAProxy of its own, so that the server is not the
# bottleneck), in three variants each repeat:
#   none  no idgate
#   l4    idgate apply, the port allowed by an L3/L4 rule (XDP/tc only)
#   l7    idgate run, the port with an HTTP rule the requests match: every
#         request through the steering and idgate's HAProxy
#   proxy no idgate: a plain HAProxy on the same core forwarding to the
#         server (no rules, no log, not transparent), what any proxy hop
#         costs on this rig: the ceiling of the l7 variant
# Appends "l7" records (rps, p50_us, p99_us) to $BENCH_RESULTS, prints a
# table and NOTE lines with the bars of issue 14: l7 requests/s >= 60% of
# none, added p99 <= 300 us.
#
#   BENCH_RESULTS=r.jsonl bench/l7.sh
#   env: BENCH_REPEATS (3), BENCH_QUICK (0), L7_S (seconds per run)

. "$(dirname "$0")/lib.sh"

if [ "$BENCH_QUICK" = 1 ]; then L7_S=${L7_S:-3}; else L7_S=${L7_S:-10}; fi
PORT=8080
PROXY_PORT=8081
URL=http://$SERVER:$PORT/api/v1/users/1
VALS=$TMP/l7.vals

note() { echo "NOTE l7: $*"; }
command -v wrk >/dev/null || die "no wrk (apt-get install wrk)"
command -v haproxy >/dev/null || die "no haproxy (apt-get install haproxy)"

rig_up
# haproxy_on NAME PORT < SECTIONS: an HAProxy of the bench in the DUT on
# APP_CPU, its sections after the common ones, listening on PORT.
haproxy_on() {
	{
		printf 'global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n'
		cat
	} >"$TMP/$1.cfg"
	# nsenter execs: $! is the process itself, which the cleanup must reach.
	nsenter --net="/run/netns/$DUT" taskset -c "$APP_CPU" haproxy -db -f "$TMP/$1.cfg" >"$TMP/$1.log" 2>&1 &
	PIDS+=($!)
	wait_listen "$DUT" "$2"
}
# The origin: 64-byte answers on the DUT's address.
haproxy_on origin "$PORT" <<EOF
frontend origin
  bind $SERVER:$PORT
  http-request return status 200 content-type text/plain string "0123456789012345678901234567890123456789012345678901234567890123"
EOF
# The plain proxy of the proxy variant, idle in the others.
haproxy_on proxy "$PROXY_PORT" <<EOF
frontend plain
  bind $SERVER:$PROXY_PORT
  timeout http-keep-alive 30s
  default_backend origin
backend origin
  server origin $SERVER:$PORT
EOF

config() { # config l4|l7 > file
	cat <<EOF
apiVersion: idgate.io/v1
kind: Node
metadata: {name: dut}
spec: {cluster: bench, clusterID: 1, interfaces: {uplink: vd}}
---
apiVersion: idgate.io/v1
kind: Node
metadata: {name: gen}
spec: {cluster: bench, clusterID: 1, interfaces: {uplink: vg}}
---
apiVersion: idgate.io/v1
kind: Endpoint
metadata: {name: api, labels: {app: api}}
spec: {node: dut, ips: [$SERVER]}
---
apiVersion: idgate.io/v1
kind: Endpoint
metadata: {name: client, labels: {app: client}}
spec: {node: gen, ips: [$PROBE]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: "$PORT", protocol: TCP}]
EOF
	if [ "$1" = l7 ]; then
		printf '      rules:\n        http: [{method: GET, path: "/api/v1/users/.*"}]\n'
	fi
}
config l4 >"$TMP/l4.yaml"
config l7 >"$TMP/l7.yaml"

# wrk's summary: requests/s, p50 and p99 in microseconds.
wrk_run() { # wrk_run OUT URL
	in_ns "$GEN" taskset -c "$GEN_CPU" wrk -t1 -c64 -d"${L7_S}s" --latency "$2" >"$1" 2>&1
	python3 - "$1" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
def us(v, u):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
lat = dict((p, us(v, u)) for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", t))
errs = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
if errs or "Socket errors" in t:
    sys.exit("wrk saw errors:\n" + t)
print(rps, lat["50"], lat["99"])
EOF
}

run_variant() { # run_variant VARIANT RUN
	local v=$1 run=$2 pid= url=$URL
	case $v in
	none) ;;
	proxy) url=http://$SERVER:$PROXY_PORT/api/v1/users/1 ;;
	l4)
		idg dut apply -c "$TMP/l4.yaml" >/dev/null
		IDG_LOADED+=("$DUT dut") ;;
	l7)
		nsenter --net="/run/netns/$DUT" taskset -c "$APP_CPU" "$IDGATE" run -c "$TMP/l7.yaml" --node dut \
			--pin-dir "$PIN_ROOT/dut" --state-dir "$TMP/state-dut" \
			--metrics-address off >"$TMP/run.log" 2>&1 &
		pid=$!
		PIDS+=($pid)
		IDG_LOADED+=("$DUT dut")
		for _ in $(seq 100); do
			grep -q "L7 proxy: haproxy" "$TMP/run.log" && break
			sleep 0.1
		done
		grep -q "L7 proxy: haproxy" "$TMP/run.log" || die "idgate run started no proxy: $(cat "$TMP/run.log")"
		sleep 0.5 ;;
	esac
	read -r rps p50 p99 < <(wrk_run "$TMP/wrk.$v.$run" "$url") || die "$v: $(cat "$TMP/wrk.$v.$run")"
	record l7 "$v" null "$run" rps "$rps" req/s
	record l7 "$v" null "$run" p50_us "$p50" us
	record l7 "$v" null "$run" p99_us "$p99" us
	echo "$v $rps $p50 $p99" >>"$VALS"
	log "l7 run $run $v: $rps req/s, p50 $p50 us, p99 $p99 us"
	if [ -n "$pid" ]; then
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	fi
	case $v in l4 | l7) idg dut unload >/dev/null ;; esac
}

note "wrk -t1 -c64 -d${L7_S}s --latency $URL from GEN (core $GEN_CPU); the origin is an HAProxy answering 64 bytes on core $APP_CPU; idgate run and its HAProxy on core $APP_CPU too, as the plain HAProxy of the proxy variant; variants interleaved per repeat"
for run in $(seq "$BENCH_REPEATS"); do
	for v in none l4 l7 proxy; do
		run_variant "$v" "$run"
	done
done

python3 - "$VALS" <<'EOF'
import statistics, sys
vals = {}
for line in open(sys.argv[1]):
    v, rps, p50, p99 = line.split()
    vals.setdefault(v, []).append((float(rps), float(p50), float(p99)))
med = {v: [statistics.median(x[i] for x in r) for i in range(3)] for v, r in vals.items()}
print("| variant | requests/s | p50 (us) | p99 (us) | runs |")
print("|---|---|---|---|---|")
for v in ("none", "l4", "l7", "proxy"):
    if v in med:
        print("| %s | %.0f | %.0f | %.0f | %d |" % (v, med[v][0], med[v][1], med[v][2], len(vals[v])))
if "none" in med and "l7" in med:
    ratio = med["l7"][0] / med["none"][0]
    added = med["l7"][2] - med["none"][2]
    print("NOTE l7: bar requests/s through the L7 path >= 60%% of the server alone: %.0f%% (%s)"
          % (100 * ratio, "met" if ratio >= 0.6 else "NOT met"))
    print("NOTE l7: bar added p99 <= 300 us: %+.0f us (%s)" % (added, "met" if added <= 300 else "NOT met"))
if "proxy" in med and "l7" in med and "none" in med:
    print("NOTE l7: a plain HAProxy hop on the same core (no rules, no log): %.0f%% of the server alone's requests/s, p99 %+.0f us; idgate's L7 path reaches %.0f%% of that"
          % (100 * med["proxy"][0] / med["none"][0], med["proxy"][2] - med["none"][2], 100 * med["l7"][0] / med["proxy"][0]))
if "none" in med and "l4" in med:
    print("NOTE l7: L3/L4 only on the same port: %.0f%% of the server alone's requests/s, p99 %+.0f us"
          % (100 * med["l4"][0] / med["none"][0], med["l4"][2] - med["none"][2]))
EOF
