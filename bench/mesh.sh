#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Cluster mesh propagation (issue 15, docs/mesh.md): the time from an etcd
# write to the verdict on a watching node, with and without churn from the
# other nodes.
#
# The DUT runs `idgate run` in the mesh, the store (three etcd members,
# TLS, RBAC) on the DUT namespace's loopback. MESH_NODES other nodes of
# its cluster publish MESH_PER_NODE endpoints each (bench/tools/meshpub.py,
# as the administrator). The probe (UDP 10.2.0.1 -> 10.0.0.2:6000 every
# 100 us, bench/tools/udpprobe.py) is allowed by the DUT's policy only
# from an endpoint labelled app=probe, which node r0000 publishes or
# withdraws: propagation = the kernel's receive time of the first probe
# datagram after the write - the wall clock just before the write. Per
# churn rate (changes/s to the other nodes' documents, an endpoint added
# or removed each) MESH_RUNS runs, and the daemon's CPU over them.
#
# Env: BENCH_RESULTS (required), MESH_NODES (100), MESH_PER_NODE (50),
# MESH_RUNS (20), MESH_CHURN ("0 10 100"), MESH_KEEP_LOG (a path: the
# daemon's log is copied there).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/etcd.sh
. "$ROOT/tests/integration/etcd.sh"

MESH_NODES=${MESH_NODES:-100}
MESH_PER_NODE=${MESH_PER_NODE:-50}
MESH_RUNS=${MESH_RUNS:-20}
read -ra CHURN <<<"${MESH_CHURN:-0 10 100}"
UDPPROBE=$BENCH_DIR/tools/udpprobe.py
MESHPUB=$BENCH_DIR/tools/meshpub.py
PORT=6000
INTERVAL_US=100
QUIET_MS=300
FLIP_MS=10000
PREFIX=/idgate/v1
TD=bench.mesh

note() { echo "NOTE mesh: $*"; }
[ -x "$IDGATE" ] || die "idgate binary not found at $IDGATE (ninja -C build)"
for t in etcd etcdctl openssl python3 chrt; do
	command -v "$t" >/dev/null || die "$t not installed"
done
trap 'rc=$?; etcd_cluster_stop; (exit $rc); bench_cleanup' EXIT

rig_up
probe_start

# The store, on the DUT's loopback.
ETCD_NETNS=$DUT
etcd_certs "$TMP/etcd" "$TD"
etcd_node_cert "$TMP/etcd" "$TD" near dut
etcd_cluster_start "$TMP/etcd" >/dev/null
PW_DUT=$(openssl rand -hex 16) PW_ROOT=$(openssl rand -hex 16)
etcd_rbac_node near dut "$PREFIX/clusters" "$PW_DUT"
etcd_auth_enable "$PW_ROOT"
echo "$PW_DUT" >"$TMP/pw-dut"
echo "$PW_ROOT" >"$TMP/pw-root"

# The DUT's config: itself and the other nodes (the mesh's topology is
# local), its server, and the policy that lets only app=probe in.
CFG=$TMP/mesh.d
mkdir "$CFG"
python3 - "$CFG" "$MESH_NODES" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
node = lambda name, up: ("apiVersion: idgate.io/v1\nkind: Node\n"
    f"metadata: {{name: {name}}}\nspec: {{cluster: near, clusterID: 1, interfaces: {{uplink: {up}}}}}\n")
docs = [node("dut", "vd")] + [node(f"r{i:04d}", "eth0") for i in range(n)]
docs.append("apiVersion: idgate.io/v1\nkind: Endpoint\n"
            "metadata: {name: server, namespace: bench, labels: {app: server}}\n"
            "spec: {node: dut, ips: [10.0.0.2]}\n")
open(f"{d}/00-nodes.yaml", "w").write("---\n".join(docs))
open(f"{d}/10-policy.yaml", "w").write("""apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: probe-in, namespace: bench}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: probe}}]
      toPorts: [{ports: [{port: "6000", protocol: UDP}]}]
""")
PY

RUN_LOG=$TMP/run.log
nsenter --net="/run/netns/$DUT" "$IDGATE" run -c "$CFG" --node dut \
	--pin-dir "$PIN_ROOT/dut" --state-dir "$TMP/state-dut" --metrics-address off \
	--kvstore-endpoints "$ETCD_ENDPOINTS" --kvstore-ca "$TMP/etcd/ca.pem" \
	--kvstore-cert "$TMP/etcd/node-near-dut.pem" --kvstore-key "$TMP/etcd/node-near-dut-key.pem" \
	--kvstore-server-id "spiffe://$TD/etcd/server" --kvstore-user idgate-near-dut \
	--kvstore-password-file "$TMP/pw-dut" >"$RUN_LOG" 2>&1 &
RUN_PID=$!
PIDS+=("$RUN_PID")
IDG_LOADED+=("$DUT dut")
for _ in $(seq 200); do
	grep -q "idgate run: mesh: connected" "$RUN_LOG" && break
	kill -0 "$RUN_PID" 2>/dev/null || die "idgate run exited: $(tail -5 "$RUN_LOG")"
	sleep 0.1
done
grep -q "idgate run: mesh: connected" "$RUN_LOG" || die "idgate run did not reach the store: $(tail -5 "$RUN_LOG")"

coproc PUB { exec nsenter --net="/run/netns/$DUT" python3 "$MESHPUB" \
	--endpoint "${ETCD_URLS[0]}" --ca "$TMP/etcd/ca.pem" --cert "$TMP/etcd/admin.pem" \
	--key "$TMP/etcd/admin-key.pem" --user root --password-file "$TMP/pw-root" \
	--prefix "$PREFIX" --cluster near --probe-ip "$PROBE" \
	--nodes "$MESH_NODES" --per-node "$MESH_PER_NODE" 2>"$TMP/pub.err"; }
PIDS+=("$PUB_PID")
PUB_IN=${PUB[1]} PUB_OUT=${PUB[0]}
pub() { # pub LINE TIMEOUT_S: its answer in PANSWER
	echo "$1" >&"$PUB_IN"
	read -t "$2" -r PANSWER <&"$PUB_OUT" || die "no answer from the publisher to '$1': $(cat "$TMP/pub.err")"
}
read -t 10 -r PANSWER <&"$PUB_OUT" || PANSWER=
[ "$PANSWER" = ready ] || die "publisher did not start: $(cat "$TMP/pub.err")"

loads() { grep -c "reloaded: .*(mesh changed)" "$RUN_LOG" || true; }
n0=$(loads)
pub fill 120
note "fill: $MESH_NODES nodes x $MESH_PER_NODE endpoints written in ${PANSWER##* } s"
for _ in $(seq 300); do
	[ "$(loads)" -gt "$n0" ] && grep -q "$MESH_NODES nodes, $((MESH_NODES * MESH_PER_NODE)) endpoints" \
		<(in_ns "$DUT" "$IDGATE" status --node dut --pin-dir "$PIN_ROOT/dut" --state-dir "$TMP/state-dut" 2>&1) && break
	sleep 0.1
done
denied || die "the probe passes before node r0000 publishes it"

note "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); store: 3 etcd members (TLS, RBAC) on the DUT's loopback"
note "mesh: $MESH_NODES other nodes x $MESH_PER_NODE endpoints ($((MESH_NODES * MESH_PER_NODE)) remote endpoints) in the DUT's cluster; the probe's endpoint published by node r0000 (its document rewritten whole, $((MESH_PER_NODE + 1)) endpoints)"
note "propagation = kernel receive time of the first probe datagram allowed - wall clock just before the etcd write (one long-lived publisher: no process start in it); cpu = the daemon's user+system time over the runs of a rate, in % of one core"
printf '%-8s %5s %9s %9s %9s %7s %8s\n' churn runs p50_ms p99_ms max_ms cpu_% changes
cpu_ticks() { awk '{print $14 + $15}' "/proc/$RUN_PID/stat"; }
HZ=$(getconf CLK_TCK)
for rate in "${CHURN[@]}"; do
	: >"$TMP/prop"
	[ "$rate" = 0 ] || pub "churn $rate" 5
	c0=$(cpu_ticks) w0=${EPOCHREALTIME/[.,]/}
	for run in $(seq "$MESH_RUNS"); do
		ask "arm $FLIP_MS" 5
		[ "$ANSWER" = armed ] || die "probe not denied before the write ($ANSWER)"
		pub "probe on" 5
		t0=${PANSWER#t0 }
		read -t $((FLIP_MS / 1000 + 5)) -r ANSWER <&"$RECV_OUT" || die "receiver silent: $(cat "$TMP/recv.err")"
		# shellcheck disable=SC2086
		set -- $ANSWER
		[ "$1" = got ] || die "churn $rate run $run: the probe stayed denied ($ANSWER): $(tail -3 "$RUN_LOG")"
		d=$(($2 - t0))
		prop=$(printf '%d.%03d' $((d / 1000000)) $((d / 1000 % 1000)))
		echo "$prop" >>"$TMP/prop"
		record mesh "churn-$rate" "$MESH_NODES" "$run" propagation_ms "$prop" ms
		pub "probe off" 5
		denied || die "churn $rate run $run: the probe stays allowed after the withdrawal"
	done
	c1=$(cpu_ticks) w1=${EPOCHREALTIME/[.,]/}
	changes=0
	if [ "$rate" != 0 ]; then pub stop 10; changes=${PANSWER#stopped }; fi
	cpu=$(python3 -c "print(f'{100 * ($c1 - $c0) / $HZ / (($w1 - $w0) / 1e6):.1f}')")
	record mesh "churn-$rate" "$MESH_NODES" 1 cpu_pct "$cpu" pct
	python3 - "$TMP/prop" "$rate" "$MESH_RUNS" "$cpu" "$changes" <<'PY'
import statistics, sys
xs = sorted(float(l) for l in open(sys.argv[1]))
p99 = xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]
print(f"{sys.argv[2]:<8} {sys.argv[3]:>5} {statistics.median(xs):9.2f} {p99:9.2f} {xs[-1]:9.2f} {sys.argv[4]:>7} {sys.argv[5]:>8}")
PY
done
echo quit >&"$PUB_IN"
# The daemon's own account of each reload, for a look at where time went.
[ -z "${MESH_KEEP_LOG:-}" ] || cp "$RUN_LOG" "$MESH_KEEP_LOG"
