# SPDX-License-Identifier: GPL-2.0
# Shared by the bench scripts: the two-namespace rig, the filters under
# test and result records. Sourced, not run.
#
#   GEN (traffic source)  vg 10.2.0.1/16 ==veth== vd 10.0.0.2/16  DUT (filter)
#
# The flood's spoofed sources (10.1.0.1 + i, the rule model's 5000
# endpoints, bench/gen_rules.py) and the probe host 10.2.0.1 are routed
# back over vd. Every namespace, pin and process is removed on exit.
set -euo pipefail
# A pyenv shim in front of python3 costs ~0.25 s a call; the benches make
# hundreds of calls.
[ -x /usr/bin/python3 ] && PATH=/usr/bin:$PATH

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
IDGATE=${IDGATE:-$BUILD/loader/idgate}
PKTGEN=${PKTGEN:-$BUILD/bench/idg-pktgen}
CONNRATE=${CONNRATE:-$BUILD/bench/connrate}
BENCH_RESULTS=${BENCH_RESULTS:?set BENCH_RESULTS to the results file}
BENCH_REPEATS=${BENCH_REPEATS:-3}
BENCH_QUICK=${BENCH_QUICK:-0}
GEN_CPU=${GEN_CPU:-0}  # the traffic generator's core
APP_CPU=${APP_CPU:-1}  # latency client and server share this one

RUN_ID="$$-$RANDOM"
TMP=$(mktemp -d /tmp/idgate-bench.XXXXXX)
PIN_ROOT=/sys/fs/bpf/idgate-bench-$RUN_ID
NAMESPACES=()
PIDS=()
IDG_LOADED=()  # "ns node" of loaded instances

SERVER=10.0.0.2
PROBE=10.2.0.1
CLIENT_BASE=10.1.0.1
N_ENDPOINTS=5000

bench_cleanup() {
	local rc=$?
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for i in "${IDG_LOADED[@]}"; do
		# shellcheck disable=SC2086
		set -- $i
		nsenter --net="/run/netns/$1" "$IDGATE" unload --node "$2" \
			--pin-dir "$PIN_ROOT/$2" --state-dir "$TMP/state-$2" >/dev/null 2>&1
	done
	for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$PIN_ROOT" "$TMP"
	exit $rc
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" >&2; }

mkns() { # mkns VAR ROLE
	local ns="idgb-$2-$RUN_ID"
	ip netns add "$ns"
	NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
	printf -v "$1" '%s' "$ns"
}

# in_ns NS CMD...: nsenter keeps the host's /sys, so bpffs pins stay visible.
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# bg NS CMD...: a background process in NS (BG_PID, output in BG_OUT);
# callers wait for it themselves (wait_listen, or "ready" in BG_OUT).
bg() {
	local ns=$1
	shift
	local out="$TMP/bg.$RANDOM"
	nsenter --net="/run/netns/$ns" "$@" >"$out" 2>&1 &
	PIDS+=($!)
	BG_PID=$!
	BG_OUT=$out
}

# wait_listen NS PORT: until a TCP socket listens on PORT in NS.
wait_listen() {
	for _ in $(seq 100); do
		in_ns "$1" ss -Hltn "sport = :$2" | grep -q . && return 0
		sleep 0.05
	done
	die "nothing listens on port $2 in $1"
}

# record BENCH VARIANT N RUN METRIC VALUE UNIT (N may be null)
record() {
	python3 - "$@" >>"$BENCH_RESULTS" <<'EOF'
import json, math, sys
b, v, n, run, m, val, unit = sys.argv[1:8]
x = float(val)
if not math.isfinite(x):
    sys.exit(f"record: {b}/{v}/{m}: not a number: {val}")
print(json.dumps({"bench": b, "variant": v, "n": None if n == "null" else int(n),
                  "run": int(run), "metric": m, "value": x, "unit": unit}))
EOF
}

# The propagation probe (bench/tools/udpprobe.py), for benches that time
# a verdict's change: after rig_up, probe_start sends one UDP datagram
# from PROBE to SERVER:$PORT every $INTERVAL_US (the caller's variables,
# as UDPPROBE, QUIET_MS and FLIP_MS) and starts the receiver in the DUT,
# which answers ask's commands ("arm MS", "quiet MS", ...).
probe_start() {
	# Real-time priority: other jobs on this 2-core VM would otherwise
	# stretch the probe interval (and the resolution) by whole
	# scheduler slices.
	bg "$GEN" chrt -f 10 python3 "$UDPPROBE" send --src "$PROBE" --dst "$SERVER" --port "$PORT" --interval-us "$INTERVAL_US"
	SENDER_OUT=$BG_OUT SENDER_PID=$BG_PID
	coproc RECV { exec nsenter --net="/run/netns/$DUT" python3 "$UDPPROBE" recv --bind "$SERVER" --port "$PORT" 2>"$TMP/recv.err"; }
	PIDS+=("$RECV_PID")
	RECV_IN=${RECV[1]} RECV_OUT=${RECV[0]}
	read -t 5 -r ANSWER <&"$RECV_OUT" || ANSWER=
	[ "$ANSWER" = ready ] || die "receiver did not start: $(cat "$TMP/recv.err")"
	grep -q ready "$SENDER_OUT" 2>/dev/null || sleep 0.5
	grep -q ready "$SENDER_OUT" || die "sender did not start: $(cat "$SENDER_OUT")"
}

# ask LINE TIMEOUT_S: one command to the receiver, its answer in ANSWER.
# (Not a $(...) function: the coprocess's descriptors stay in this shell.)
ask() {
	echo "$1" >&"$RECV_IN"
	read -t "$2" -r ANSWER <&"$RECV_OUT" || die "no answer from the receiver to '$1': $(cat "$TMP/recv.err")"
}

# denied: until the receiver has heard nothing for QUIET_MS, at most
# FLIP_MS.
denied() {
	local t_end=$((SECONDS + FLIP_MS / 1000))
	while :; do
		ask "quiet $QUIET_MS" 5
		[ "$ANSWER" = quiet ] && return 0
		[ "$SECONDS" -lt "$t_end" ] || return 1
	done
}

# The rig. Offloads stay at the veth defaults (TSO/GSO/GRO on), as a
# real deployment would have them.
rig_up() {
	mkns GEN gen
	mkns DUT dut
	ip -n "$GEN" link add vg type veth peer name vd netns "$DUT"
	ip -n "$GEN" addr add "$PROBE/16" dev vg
	ip -n "$DUT" addr add "$SERVER/16" dev vd
	ip -n "$GEN" link set vg up
	ip -n "$DUT" link set vd up
	ip -n "$GEN" route add 10.0.0.0/16 dev vg
	ip -n "$DUT" route add 10.1.0.0/16 dev vd
	ip -n "$DUT" route add 10.2.0.0/16 dev vd
	VD_MAC=$(ip -n "$DUT" -j link show vd | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
	VG_MAC=$(ip -n "$GEN" -j link show vg | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
	# The flood's sources never answer ARP: pin their neighbour entries
	# so a reply (ICMP with no filter, a SYN-ACK) does not queue on ARP.
	ip -n "$DUT" neigh replace "$PROBE" lladdr "$VG_MAC" dev vd nud permanent
	in_ns "$DUT" sysctl -qw net.ipv4.icmp_ratelimit=1000
}

# idgate NODE ARGS... in the DUT with the bench's pin and state dirs.
idg() {
	local node=$1 sub=$2
	shift 2
	in_ns "$DUT" "$IDGATE" "$sub" "$@" --node "$node" \
		--pin-dir "$PIN_ROOT/$node" --state-dir "$TMP/state-$node"
}

# Filter variants: none | iptables | iptables-ct | nft |
# idgate-xdp-native | idgate-xdp-generic | idgate-tc | idgate (auto) |
# idgate-run (auto; idgate run on a config directory, changed by renaming
# files into it: rules are a directory, see run_sync).
idgate_mode_of() {
	case "$1" in
	idgate | idgate-run) echo auto ;;
	idgate-xdp-native) echo native ;;
	idgate-xdp-generic) echo skb ;;
	idgate-tc) echo tc ;;
	*) die "not an idgate variant: $1" ;;
	esac
}

filter_rules() { # filter_rules VARIANT N [--change] > file
	local v=$1 n=$2
	shift 2
	case "$v" in
	iptables | iptables-legacy | iptables-nft) "$BENCH_DIR/gen_rules.py" --kind iptables --n "$n" "$@" ;;
	iptables-ct) "$BENCH_DIR/gen_rules.py" --kind iptables-ct --n "$n" "$@" ;;
	nft) "$BENCH_DIR/gen_rules.py" --kind nft --n "$n" "$@" ;;
	idgate*) "$BENCH_DIR/gen_rules.py" --kind idgate --n "$n" \
		--xdp-mode "$(idgate_mode_of "$v")" "$@" ;;
	*) die "unknown filter variant $v" ;;
	esac
}

# iptables-restore of the default (nft) backend; iptables-legacy on request.
ipt_restore() { # ipt_restore VARIANT FILE
	case "$1" in
	iptables-legacy) in_ns "$DUT" iptables-legacy-restore <"$2" ;;
	*) in_ns "$DUT" iptables-restore <"$2" ;;
	esac
}

# The idgate-run variant: a daemon enforcing RUN_LIVE, a directory that
# run_sync brings to the content of another one.
RUN_LIVE=$TMP/idgate.d
RUN_PID=
run_rules() { # run_rules N DIR [--change]: the rule model as a directory
	local n=$1 d=$2
	shift 2
	rm -rf "$d"
	"$BENCH_DIR/gen_rules.py" --kind idgate --n "$n" --xdp-mode auto --dir "$d" "$@"
}
# run_sync SRC: each file of SRC that differs from RUN_LIVE's is written
# beside it under a hidden name and renamed into place, as a deployment
# tool would; files SRC lacks are removed.
# run_plan SRC: what run_sync would do, in RUN_PLAN ("put NAME", "rm
# NAME"), worked out ahead and each new file written beside its target
# under a hidden name (not a *.yaml the daemon reads), so that a timed
# change is only the renames and removals.
run_plan() {
	local line
	RUN_PLAN=() RUN_PLAN_SRC=$1
	# One diff for the whole directory: a process per file would cost
	# more than the reload it starts.
	while IFS= read -r line; do
		case $line in
		"Files $1/"*" differ")
			line=${line#"Files $1/"}
			RUN_PLAN+=("put ${line%% and *}") ;;
		"Only in $1: "*) RUN_PLAN+=("put ${line#"Only in $1: "}") ;;
		"Only in $RUN_LIVE: "*) RUN_PLAN+=("rm ${line#"Only in $RUN_LIVE: "}") ;;
		esac
	done < <(diff -rq "$1" "$RUN_LIVE")
	for line in "${RUN_PLAN[@]}"; do
		case $line in
		put*) cp "$1/${line#* }" "$RUN_LIVE/.${line#* }.tmp" ;;
		esac
	done
}
run_apply() { # run_apply: carry out RUN_PLAN (files already written)
	local step b
	for step in "${RUN_PLAN[@]}"; do
		b=${step#* }
		case $step in
		put*) mv "$RUN_LIVE/.$b.tmp" "$RUN_LIVE/$b" ;;
		rm*) rm -f "$RUN_LIVE/$b" ;;
		esac
	done
}
run_sync() { run_plan "$1" && run_apply; }
run_start() { # run_start DIR: the daemon on a copy of DIR
	rm -rf "$RUN_LIVE"
	cp -r "$1" "$RUN_LIVE"
	bg "$DUT" "$IDGATE" run -c "$RUN_LIVE" --node dut --pin-dir "$PIN_ROOT/dut" \
		--state-dir "$TMP/state-dut" --metrics-address off
	RUN_PID=$BG_PID RUN_LOG=$BG_OUT
	IDG_LOADED+=("$DUT dut")
	local i
	for i in $(seq 1 600); do
		grep -q "idgate run: ready" "$RUN_LOG" && return 0
		kill -0 "$RUN_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "idgate run did not start: $(tail -5 "$RUN_LOG")"
}
run_stop() {
	[ -n "$RUN_PID" ] || return 0
	kill -TERM "$RUN_PID" 2>/dev/null
	wait "$RUN_PID" 2>/dev/null
	RUN_PID=
}

filter_load() { # filter_load VARIANT FILE: apply a generated rule file
	case "$1" in
	none) ;;
	idgate-run)
		if [ -z "$RUN_PID" ]; then
			run_start "$2"
		elif [ "${RUN_PLAN_SRC:-}" = "$2" ]; then
			run_apply # planned ahead by the caller
		else
			run_sync "$2"
		fi
		RUN_PLAN_SRC= ;;
	iptables*) ipt_restore "$1" "$2" ;;
	nft) in_ns "$DUT" nft -f "$2" ;;
	idgate*) idg dut apply -c "$2" >"$TMP/apply.out" 2>&1 ||
		{ cat "$TMP/apply.out" >&2; die "idgate apply failed"; } ;;
	esac
}

filter_on() { # filter_on VARIANT N
	local f="$TMP/rules.$1.$2"
	[ "$1" = none ] && return 0
	filter_rules "$1" "$2" >"$f"
	filter_load "$1" "$f"
	case "$1" in idgate*) IDG_LOADED+=("$DUT dut") ;; esac
}

filter_off() { # filter_off VARIANT
	case "$1" in
	none) ;;
	iptables-legacy)
		in_ns "$DUT" iptables-legacy -P INPUT ACCEPT
		in_ns "$DUT" iptables-legacy -F INPUT ;;
	iptables*)
		in_ns "$DUT" iptables -P INPUT ACCEPT
		in_ns "$DUT" iptables -F INPUT ;;
	nft) in_ns "$DUT" nft delete table inet idgbench ;;
	idgate*)
		run_stop
		idg dut unload >/dev/null
		IDG_LOADED=() ;;
	esac
}

# Packets the filter dropped so far (the denied flood's verdict).
filter_drops() { # filter_drops VARIANT
	case "$1" in
	none) echo 0 ;;
	iptables-legacy) in_ns "$DUT" iptables-legacy-save -c -t filter |
		sed -n 's/^:INPUT DROP \[\([0-9]*\):.*/\1/p' ;;
	iptables*) in_ns "$DUT" iptables-save -c -t filter |
		sed -n 's/^:INPUT DROP \[\([0-9]*\):.*/\1/p' ;;
	nft) in_ns "$DUT" nft -j list chain inet idgbench input | python3 -c '
import json, sys
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("rule", {}).get("expr", []):
        if "counter" in e:
            print(e["counter"]["packets"])'
		;;
	idgate*) idg dut status -o json | python3 -c '
import json, sys
print(json.load(sys.stdin)["verdicts"].get("policy-default-deny", {}).get("packets", 0))' ;;
	esac
}

# The id of the program idgate's ingress filter runs as (XDP or tc).
idgate_ingress_prog_id() {
	idg dut status -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d["xdp_prog_id"]:
    print(d["xdp_prog_id"])
else:
    print(next(t["prog_id"] for t in d["tc_programs"]
               if t["point"] == "ingress" and t["program"] == "prog_tc_ingress"))'
}

# BPF stats of a program: "run_time_ns run_cnt".
prog_stats() {
	bpftool prog show id "$1" -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d.get("run_time_ns", 0), d.get("run_cnt", 0))'
}

# Softirq time of all CPUs, in ns. Tick-sampled on this kernel (no
# IRQ_TIME_ACCOUNTING): accurate over seconds, not per packet.
softirq_ns() {
	awk -v hz="$(getconf CLK_TCK)" '/^cpu[0-9]/ { s += $8 } END { printf "%.0f\n", s * 1e9 / hz }' /proc/stat
}

link_stat() { # link_stat NS IFACE tx_packets|rx_packets
	in_ns "$1" ip -j -s link show "$2" | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["stats64"]
k = sys.argv[1]
print(s["tx" if k.startswith("tx") else "rx"]["packets"])' "$3"
}

# pktgen_flood SECONDS OUTFILE: the denied flood, UDP from the rule model's
# 5000 endpoints to port 9, as fast as the generator goes.
pktgen_flood() {
	ip netns exec "$GEN" "$PKTGEN" --no-huge --no-pci --no-shconf -m 256 \
		-l "$GEN_CPU" --file-prefix "idgb-$RUN_ID" \
		--vdev=net_af_packet0,iface=vg --log-level=error -- \
		--src-mac "$VG_MAC" --dst-mac "$VD_MAC" --src-base "$CLIENT_BASE" \
		--src-count "$N_ENDPOINTS" --dst "$SERVER" --proto udp --dport 9 \
		--sport-range 10000-10999 --rate 0 --duration "$1" >"$2" 2>&1
}

# pktgen_result OUTFILE: "sent seconds" from its RESULT line.
pktgen_result() { sed -n 's/^RESULT sent=\([0-9]*\) seconds=\([0-9.]*\).*/\1 \2/p' "$1"; }

# iperf3_gbps OUTFILE: received Gbit/s of an iperf3 -J run.
iperf3_gbps() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9)' "$1"
}

# BPF run-time stats through BPF_ENABLE_STATS rather than the
# kernel.bpf_stats_enabled sysctl: the kernel refcounts the fd, so nothing
# else can switch them off under us, and they go off when we die.
stats_on() {
	bg "$DUT" python3 -c '
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
attr = (ctypes.c_uint32 * 4)(0)  # enable_stats.type = BPF_STATS_RUN_TIME
fd = libc.syscall(321, 32, attr, ctypes.sizeof(attr))  # bpf(BPF_ENABLE_STATS)
if fd < 0:
    sys.exit("BPF_ENABLE_STATS: " + os.strerror(ctypes.get_errno()))
print("ready", flush=True)
signal.pause()'
	STATS_PID=$BG_PID
	for _ in $(seq 50); do grep -q ready "$BG_OUT" && return 0; sleep 0.05; done
	die "cannot enable BPF stats: $(cat "$BG_OUT")"
}
stats_off() { kill "$STATS_PID"; wait "$STATS_PID" 2>/dev/null || true; }

# bpf_run_ns PROG_ID SECONDS: the program's mean run time per packet over
# a flood of its own, so that the stats' overhead stays out of the
# softirq figures of the other floods.
bpf_run_ns() {
	local out="$TMP/pktgen-stats.out" st0 st1
	stats_on
	st0=$(prog_stats "$1")
	pktgen_flood "$2" "$out" || { stats_off; echo "pktgen failed: $(tail -2 "$out")" >&2; return 1; }
	st1=$(prog_stats "$1")
	stats_off
	python3 -c '
import sys
t0, c0, t1, c1 = map(float, (sys.argv[1] + " " + sys.argv[2]).split())
if c1 <= c0:
    sys.exit("program did not run")
print((t1 - t0) / (c1 - c0))' "$st0" "$st1"
}
