#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Egress-gateway path benchmark (issue 6): TCP throughput (iperf3) and TCP
# ping-pong latency (sockperf) from a workload through a source node and a
# gateway to an external server, three ways on the same topology:
#   idgate-geneve-snat  idgate's GENEVE encap at the workload interface,
#                       decap + SNAT to the egress IP on the gateway
#   kernel-vxlan-masq   kernel vxlan devices + policy routing on the node,
#                       iptables MASQUERADE on the gateway
#   direct              plain routing, no tunnel, no NAT (reference)
#
#   WL 10.1.0.5 eth0 -- wl0 NODE eth0 192.168.100.1 -- 192.168.100.11 eth0 GW
#   GW ext0 172.18.0.11/16 -- eth0 SRV 172.18.200.10/16
#
# Each variant gets its own four namespaces, built and checked once (in
# parallel, to keep --quick short); the measurements then rotate through
# the variants in every round so drift hits them alike.
#
# Env: IDGATE (default build/loader/idgate), BENCH_RESULTS (required, JSON
# lines are appended), BENCH_REPEATS (default 3), BENCH_QUICK=1 (short runs),
# EGW_LOGS=DIR (keep the raw iperf3/sockperf/idgate outputs there).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
IDGATE=${IDGATE:-$ROOT/build/loader/idgate}
RESULTS=${BENCH_RESULTS:?set BENCH_RESULTS to the results file}
REPEATS=${BENCH_REPEATS:-3}
CONFIG=$HERE/egw/egress-gateway.yaml
# sockperf pauses ~2 s before its timed part and counts the first 0.4 s
# of it as warm-up; -t takes whole seconds. Quick: 9 runs must fit 90 s.
if [ "${BENCH_QUICK:-0}" = 1 ]; then IPERF_T=2 SOCKPERF_T=1; else IPERF_T=5 SOCKPERF_T=3; fi
WL_MTU=1450
CPU=1
VARIANTS=(idgate-geneve-snat kernel-vxlan-masq direct)

RUN_ID="$$-$RANDOM"
TMP=$(mktemp -d /tmp/idgb-egw.XXXXXX)
PIN_ROOT=/sys/fs/bpf/idgb-egw-$RUN_ID
NAMESPACES=()
INSTANCES=() # "ns node" pairs to unload
# Background processes, one a line, a pid or -pgid (a whole setup job):
# a file, because the parallel setup starts some of them from subshells.
PIDFILE=$TMP/pids

cleanup() {
	local rc=$?
	set +e
	if [ -f "$PIDFILE" ]; then
		while read -r p; do kill -- "$p" 2>/dev/null; done <"$PIDFILE"
		while read -r p; do
			for _ in $(seq 100); do kill -0 -- "$p" 2>/dev/null || break; sleep 0.05; done
		done <"$PIDFILE"
	fi
	for i in "${INSTANCES[@]}"; do
		# shellcheck disable=SC2086
		set -- $i
		nsenter --net="/run/netns/$1" "$IDGATE" unload --node "$2" \
			--pin-dir "$PIN_ROOT/$2" --state-dir "$TMP/state-$2" >/dev/null 2>&1
	done
	for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	[ -z "${EGW_LOGS:-}" ] || cp -r "$TMP/." "$EGW_LOGS/"
	rm -rf "$PIN_ROOT" "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "egw: $*" >&2; exit 1; }
note() { echo "NOTE egw: $*"; }
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
track() { echo "$1" >>"$PIDFILE"; }

[ -x "$IDGATE" ] || die "idgate binary not found at $IDGATE (ninja -C build)"
for t in iperf3 sockperf tshark iptables ethtool taskset python3; do
	command -v "$t" >/dev/null || die "$t not installed"
done
[ "$(nproc)" -gt "$CPU" ] || die "needs CPU $CPU for the pinned ping-pong"

tag() { case $1 in idgate-geneve-snat) echo g ;; kernel-vxlan-masq) echo x ;; direct) echo d ;; esac; }
ns() { echo "idgb-egw$(tag "$1")-$2-$RUN_ID"; } # ns VARIANT ROLE

# Registered before anything is created, so that cleanup finds them
# whichever subshell fails.
for v in "${VARIANTS[@]}"; do
	for r in wl node gw srv; do NAMESPACES+=("$(ns "$v" "$r")"); done
done
INSTANCES+=("$(ns idgate-geneve-snat node) node-a" "$(ns idgate-geneve-snat gw) gw-b1")

# topo VARIANT: the four namespaces and their links, no tunnel yet.
topo() {
	local wl nd gw sv
	wl=$(ns "$1" wl) nd=$(ns "$1" node) gw=$(ns "$1" gw) sv=$(ns "$1" srv)
	for n in "$wl" "$nd" "$gw" "$sv"; do
		ip netns add "$n"
		ip -n "$n" link set lo up
	done

	ip -n "$wl" link add eth0 mtu $WL_MTU type veth peer name wl0 mtu $WL_MTU netns "$nd"
	ip -n "$wl" addr add 10.1.0.5/24 dev eth0
	ip -n "$wl" link set eth0 up
	ip -n "$wl" route add default via 10.1.0.1
	ip -n "$nd" addr add 10.1.0.1/24 dev wl0
	ip -n "$nd" link set wl0 up

	ip -n "$nd" link add eth0 type veth peer name eth0 netns "$gw"
	ip -n "$nd" addr add 192.168.100.1/24 dev eth0
	ip -n "$gw" addr add 192.168.100.11/24 dev eth0
	ip -n "$nd" link set eth0 up
	ip -n "$gw" link set eth0 up

	ip -n "$gw" link add ext0 type veth peer name eth0 netns "$sv"
	ip -n "$gw" addr add 172.18.0.11/16 dev ext0
	ip -n "$sv" addr add 172.18.200.10/16 dev eth0
	ip -n "$gw" link set ext0 up
	ip -n "$sv" link set eth0 up

	for n in "$nd" "$gw"; do
		# shellcheck disable=SC2016 # expanded by the inner sh
		in_ns "$n" sh -c 'sysctl -qw net.ipv4.ip_forward=1
			for d in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 >"$d"; done'
	done
}

setup_idgate() {
	local nd gw p1 p2
	nd=$(ns "$1" node) gw=$(ns "$1" gw)
	apply() { # apply NS NODE
		in_ns "$1" "$IDGATE" apply -c "$CONFIG" --node "$2" --pin-dir "$PIN_ROOT/$2" \
			--state-dir "$TMP/state-$2" >"$TMP/apply.$2" 2>&1 ||
			die "idgate apply on $2 failed: $(cat "$TMP/apply.$2")"
	}
	apply "$nd" node-a &
	p1=$!
	apply "$gw" gw-b1 &
	p2=$!
	wait $p1 && wait $p2
}

setup_vxlan() {
	local nd gw
	nd=$(ns "$1" node) gw=$(ns "$1" gw)
	# noudpcsum: a zero outer UDP checksum, as idgate's GENEVE sends.
	ip -n "$nd" link add vx0 type vxlan id 42 local 192.168.100.1 remote 192.168.100.11 dstport 4789 \
		dev eth0 noudpcsum
	ip -n "$gw" link add vx0 type vxlan id 42 local 192.168.100.11 remote 192.168.100.1 dstport 4789 \
		dev eth0 noudpcsum
	ip -n "$nd" addr add 10.250.0.1/30 dev vx0
	ip -n "$gw" addr add 10.250.0.2/30 dev vx0
	ip -n "$nd" link set vx0 up
	ip -n "$gw" link set vx0 up
	in_ns "$gw" sysctl -qw net.ipv4.conf.vx0.rp_filter=0
	# Only the selected source and destination take the tunnel, as with
	# an egress policy; everything else keeps the main table.
	ip -n "$nd" rule add from 10.1.0.5 to 172.18.200.0/24 lookup 100 pref 100
	ip -n "$nd" route add default via 10.250.0.2 dev vx0 table 100
	ip -n "$gw" route add 10.1.0.0/24 via 10.250.0.1 dev vx0
	in_ns "$gw" iptables -t nat -A POSTROUTING -o ext0 -j MASQUERADE
}

setup_direct() {
	ip -n "$(ns "$1" node)" route add 172.18.200.0/24 via 192.168.100.11
	ip -n "$(ns "$1" gw)" route add 10.1.0.0/24 via 192.168.100.1
	ip -n "$(ns "$1" srv)" route add 10.1.0.0/24 via 172.18.0.11
}

# The address the server must see, and what the underlay must carry.
want_src() { [ "$1" = direct ] && echo 10.1.0.5 || echo 172.18.0.11; }
want_filter() {
	case $1 in
	idgate-geneve-snat) echo "udp dst port 6081" ;;
	kernel-vxlan-masq) echo "udp dst port 4789" ;;
	direct) echo "tcp dst port 5201" ;;
	esac
}

# wait_listen NS PORT
wait_listen() {
	for _ in $(seq 50); do
		[ -n "$(in_ns "$1" ss -Hltn "sport = :$2")" ] && return 0
		sleep 0.1
	done
	return 1
}

servers() {
	local sv t
	sv=$(ns "$1" srv) t=$(tag "$1")
	nsenter --net="/run/netns/$sv" iperf3 -s -B 172.18.200.10 -p 5201 >"$TMP/iperf3-srv.$t" 2>&1 &
	track $!
	nsenter --net="/run/netns/$sv" taskset -c $CPU sockperf server --tcp -i 172.18.200.10 -p 11111 \
		>"$TMP/sockperf-srv.$t" 2>&1 &
	track $!
	wait_listen "$sv" 5201 || die "$1: iperf3 server did not start: $(cat "$TMP/iperf3-srv.$t")"
	wait_listen "$sv" 11111 || die "$1: sockperf server did not start: $(cat "$TMP/sockperf-srv.$t")"
}

# iperf3_run VARIANT OUT IPERF3-ARGS...: one stream; prints Gbit/s and
# retransmits; fails unless the server saw the expected source address.
iperf3_run() {
	local v=$1 out=$2
	shift 2
	in_ns "$(ns "$v" wl)" timeout $((IPERF_T + 20)) iperf3 -c 172.18.200.10 -p 5201 --connect-timeout 3000 \
		"$@" -J --get-server-output >"$out" 2>"$out.err" ||
		{ echo "$v: iperf3 failed: $(head -c 600 "$out") $(cat "$out.err")" >&2; return 1; }
	python3 - "$out" "$(want_src "$v")" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
if "error" in r or "server_output_text" not in r:
    sys.exit(f"iperf3: {r.get('error', 'no server output')}")
# The server's own report: "Accepted connection from A, port P" (control)
# and "local ... connected to A port P" (the measured stream).
seen = set(re.findall(r"(?:connection from|connected to) ([\d.]+),? port", r["server_output_text"]))
if seen != {sys.argv[2]}:
    sys.exit(f"server saw {sorted(seen)}, wanted {sys.argv[2]}")
print(round(r["end"]["sum_received"]["bits_per_second"] / 1e9, 3), r["end"]["sum_sent"]["retransmits"])
PY
}

# verify VARIANT: the path works, the server sees the right source, and
# the underlay carries what the variant claims (tshark decodes it). The
# check runs with software checksums toward and from the server (tx off on
# both ends of ext0), so a wrong SNAT checksum fails it; the offloads are
# put back for the measurements.
verify() {
	local v=$1 t nd gw sv cap tsh k0 k1
	t=$(tag "$v") nd=$(ns "$v" node) gw=$(ns "$v" gw) sv=$(ns "$v" srv)
	cap=$TMP/cap.$t
	k0=$(in_ns "$gw" ethtool -k ext0; in_ns "$sv" ethtool -k eth0)
	in_ns "$gw" ethtool -K ext0 tx off >/dev/null
	in_ns "$sv" ethtool -K eth0 tx off >/dev/null
	nsenter --net="/run/netns/$nd" timeout 20 tshark -i eth0 -f "$(want_filter "$v")" -c 5 -T fields \
		-e ip.src -e ip.dst -e tcp.dstport -E separator=';' >"$cap" 2>"$cap.err" &
	tsh=$!
	track $tsh
	for _ in $(seq 150); do grep -q "Capturing on" "$cap.err" && break; sleep 0.1; done
	iperf3_run "$v" "$TMP/verify.$t" -n 50M >"$TMP/verify.$t.res" || die "$v: path check failed"
	wait $tsh || die "$v: tshark saw no '$(want_filter "$v")' on the underlay: $(cat "$cap.err")"
	python3 - "$v" "$cap" <<'PY' || die "$v: underlay capture: $(cat "$cap")"
import sys
v, lines = sys.argv[1], [l.strip().split(";") for l in open(sys.argv[2]) if l.strip()]
want = {  # (outer,inner) source and destination as tshark lists them
    "idgate-geneve-snat": (["192.168.100.1", "10.1.0.5"], ["192.168.100.11", "172.18.200.10"]),
    "kernel-vxlan-masq": (["192.168.100.1", "10.1.0.5"], ["192.168.100.11", "172.18.200.10"]),
    "direct": (["10.1.0.5"], ["172.18.200.10"]),
}[v]
ok = [l for l in lines if len(l) == 3 and l[0].split(",") == want[0]
      and l[1].split(",") == want[1] and l[2] == "5201"]
sys.exit(0 if ok else 1)
PY
	in_ns "$gw" ethtool -K ext0 tx on >/dev/null
	in_ns "$sv" ethtool -K eth0 tx on >/dev/null
	k1=$(in_ns "$gw" ethtool -k ext0; in_ns "$sv" ethtool -k eth0)
	[ "$k0" = "$k1" ] || die "$v: offloads not restored after the check"
	echo "$v: checked with software checksums at ext0: server sees $(want_src "$v") as the client," \
		"underlay carries $(want_filter "$v") (inner 10.1.0.5 -> 172.18.200.10)" >"$TMP/verified.$t"
}

# prepare VARIANT: everything up to a checked path, servers running.
prepare() {
	topo "$1"
	case $1 in
	idgate-geneve-snat) setup_idgate "$1" ;;
	kernel-vxlan-masq) setup_vxlan "$1" ;;
	direct) setup_direct "$1" ;;
	esac
	servers "$1"
	verify "$1"
}

# cpu_ticks CPU: "busy total" jiffies of one CPU so far.
cpu_ticks() {
	awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# sockperf_run VARIANT OUT: pinned ping-pong; prints p50 p99 p99.9 (µs),
# the number of round trips they come from and how busy the other CPU
# was meanwhile (%): the ping-pong leaves it idle, so anything there is
# other work on the machine, which skews the tail.
# The server side must show the expected peer while it runs.
sockperf_run() {
	local v=$1 out=$2 c peers t0 t1
	t0=$(cpu_ticks $((1 - CPU)))
	nsenter --net="/run/netns/$(ns "$v" wl)" taskset -c $CPU sockperf ping-pong --tcp \
		-i 172.18.200.10 -p 11111 -m 64 --full-rtt -t "$SOCKPERF_T" >"$out" 2>&1 &
	c=$!
	track $c
	sleep 1 # connected, in sockperf's fixed pre-test pause
	peers=$(in_ns "$(ns "$v" srv)" taskset -c $((1 - CPU)) ss -Htn state established "sport = :11111" | awk '{print $4}')
	wait $c || { echo "$v: sockperf failed: $(tail -5 "$out")" >&2; return 1; }
	t1=$(cpu_ticks $((1 - CPU)))
	case "$peers" in
	"$(want_src "$v")":*) ;;
	*) echo "$v: sockperf server's peer was '$peers', wanted $(want_src "$v")" >&2; return 1 ;;
	esac
	# sockperf 3.7 prints e.g. "---> percentile 99.900 =   22.548", in
	# colour on a terminal.
	sed 's/\x1b\[[0-9;]*m//g' "$out" | awk -v t="$t0 $t1" '
		/---> percentile 50.000 =/ { p50 = $NF }
		/---> percentile 99.000 =/ { p99 = $NF }
		/---> percentile 99.900 =/ { p999 = $NF }
		/Total [0-9]+ observations/ { for (i = 1; i < NF; i++) if ($i == "Total") obs = $(i + 1) }
		END {
			if (p50 == "" || p99 == "" || p999 == "") exit 1
			split(t, c, " ")
			busy = c[4] > c[2] ? int(100 * (c[3] - c[1]) / (c[4] - c[2]) + 0.5) : 0
			print p50, p99, p999, obs, busy
		}' || { echo "$v: no percentiles in sockperf's output: $(tail -5 "$out")" >&2; return 1; }
}

record() { # record VARIANT RUN METRIC VALUE UNIT
	[[ $4 =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$1 run $2: $3 is not a number: '$4'"
	printf '{"bench": "egw", "variant": "%s", "n": null, "run": %d, "metric": "%s", "value": %s, "unit": "%s"}\n' \
		"$1" "$2" "$3" "$4" "$5" >>"$RESULTS"
}

# Each setup job in its own process group (job control on while they are
# started), so that an interrupted run can stop a job with everything it
# started, an idgate apply or a tshark included.
setup_pids=()
set -m
for v in "${VARIANTS[@]}"; do
	(set +m; prepare "$v") >"$TMP/prepare.$(tag "$v")" 2>&1 &
	setup_pids+=($!)
	track "-$!"
done
set +m
failed=0
for i in "${!VARIANTS[@]}"; do
	if ! wait "${setup_pids[$i]}"; then
		failed=1
		echo "egw: ${VARIANTS[$i]}: setup failed:" >&2
		cat "$TMP/prepare.$(tag "${VARIANTS[$i]}")" >&2
	fi
done
[ $failed = 0 ] || exit 1
for v in "${VARIANTS[@]}"; do note "$(cat "$TMP/verified.$(tag "$v")")"; done

note "workload MTU $WL_MTU in every variant (underlay 1500 less the 50 bytes of GENEVE or VXLAN), so TCP segments carry the same payload in all three"
# offloads VARIANT: the offload settings of every veth on the path.
offloads() {
	local ri r i
	for ri in wl:eth0 node:wl0 node:eth0 gw:eth0 gw:ext0 srv:eth0; do
		r=${ri%%:*} i=${ri#*:}
		echo "$r/$i $(in_ns "$(ns "$1" "$r")" ethtool -k "$i" | awk -F': ' '
			$1 == "tx-checksumming" { tx = $2 } $1 == "tcp-segmentation-offload" { tso = $2 }
			$1 == "generic-segmentation-offload" { gso = $2 } $1 == "generic-receive-offload" { gro = $2 }
			END { printf "tx-csum %s tso %s gso %s gro %s", tx, tso, gso, gro }')"
	done
}
for v in "${VARIANTS[@]}"; do offloads "$v" >"$TMP/offloads.$(tag "$v")"; done
if [ "$(cat "$TMP"/offloads.* | cut -d' ' -f2- | sort -u | wc -l)" = 1 ]; then
	note "offloads during the measurements, every veth of every variant (defaults, untouched): $(cut -d' ' -f2- "$TMP/offloads.g" | head -1); tx checksum offload was off only for the one-off path check"
else
	for v in "${VARIANTS[@]}"; do note "offloads during the measurements, $v: $(paste -sd';' "$TMP/offloads.$(tag "$v")")"; done
fi
note "idgate-geneve-snat: idgate apply on the node (GENEVE encap at tc ingress of wl0) and on the gateway (decap + SNAT to 172.18.0.11, reverse SNAT + encap at ext0), no network policy; uplinks as apply reported: $(sed -n 's/^node \([^:]*\): attached to \(.*\), pinned.*/\1 \2/p' "$TMP"/apply.* | paste -sd';' | sed 's/;/; /g')"
note "kernel-vxlan-masq: vxlan id 42 dstport 4789 noudpcsum (zero outer UDP checksum, as idgate's GENEVE) between node and gateway, ip rule from 10.1.0.5 to 172.18.200.0/24 into it, iptables ($(iptables -V | sed 's/.*(\(.*\))/\1/') backend) MASQUERADE on the gateway's ext0"
note "direct: plain routing node -> gateway -> server, no tunnel, no NAT, the server routes 10.1.0.0/24 back"
note "iperf3: one TCP stream, $IPERF_T s, client in the workload ns, server in the external ns, unpinned; each run checks the server saw the expected client address"
note "sockperf: ping-pong --tcp -m 64, -t $SOCKPERF_T (sockperf keeps the last $SOCKPERF_T s less 0.45 s: warm-up and tail are dropped), client and server pinned to CPU $CPU; figures are round trips (--full-rtt, as in the pingpong bench), p50/p99/p99.9 in µs"
note "rounds: $REPEATS, each runs every variant (throughput then latency), the order rotated by one each round"

# Anything else running skews these numbers (2 cores): say so in the report.
note "load average before the measurements: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$TMP/busy"
order=("${VARIANTS[@]}")
for run in $(seq "$REPEATS"); do
	for v in "${order[@]}"; do
		tput=$(iperf3_run "$v" "$TMP/iperf3.$(tag "$v").$run" -t "$IPERF_T") ||
			die "$v run $run: throughput not measured"
		read -r gbps retr <<<"$tput"
		lat=$(sockperf_run "$v" "$TMP/sockperf.$(tag "$v").$run") || die "$v run $run: latency not measured"
		read -r p50 p99 p999 obs busy <<<"$lat"
		record "$v" "$run" gbps "$gbps" Gbit/s
		record "$v" "$run" p50_us "$p50" us
		record "$v" "$run" p99_us "$p99" us
		record "$v" "$run" p999_us "$p999" us
		echo "$v $gbps $p50 $p99 $p999" >>"$TMP/table"
		echo "egw: $v run $run: $gbps Gbit/s ($retr retransmits), p50 $p50 us, p99 $p99 us, p99.9 $p999 us ($obs round trips; other CPU $busy% busy)"
		[ "$busy" -le 10 ] || echo "$v $run" >>"$TMP/busy"
	done
	order=("${order[@]:1}" "${order[0]}")
done

note "load average after the measurements: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -s "$TMP/busy" ]; then
	note "the machine was not idle: during $(wc -l <"$TMP/busy") of $((REPEATS * ${#VARIANTS[@]})) latency runs CPU $((1 - CPU)), which the pinned ping-pong leaves idle, was more than 10% busy with other work; their tails (p99, p99.9) are suspect"
	echo "egw: warning: other work on the machine during $(wc -l <"$TMP/busy") latency runs; see the NOTE" >&2
fi

python3 - "$TMP/table" "${VARIANTS[@]}" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    v, *nums = line.split()
    rows.setdefault(v, []).append([float(x) for x in nums])
print(f"\n{'egw variant':<20} {'Gbit/s':>18} {'p50 us':>18} {'p99 us':>18} {'p99.9 us':>18}")
for v in sys.argv[2:]:
    cols = list(zip(*rows[v]))
    cell = lambda c: f"{statistics.median(c):.2f} ({min(c):.1f}-{max(c):.1f})"
    print(f"{v:<20} " + " ".join(f"{cell(c):>18}" for c in cols))
print(f"median (min-max) of {len(rows[sys.argv[2]])} runs")
PY
