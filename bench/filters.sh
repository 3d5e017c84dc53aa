#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The filter matrix: for each N and each filter, one rig with that rule
# set loaded, then per repeat: a denied UDP flood (drop rate, softirq CPU
# per packet, BPF program cost), TCP ping-pong latency, connection setup
# rate and one iperf3 stream. Appends records (bench/report.py --check
# describes them) to $BENCH_RESULTS.
#
#   BENCH_RESULTS=r.jsonl bench/filters.sh
#   env: BENCH_NS ("10 100 1000 10000"), BENCH_NS_APP (= BENCH_NS),
#        BENCH_VARIANTS, BENCH_REPEATS (3),
#        FLOOD_S, STATS_S, PP_S, CR_S, TP_S (seconds per measurement)
. "$(dirname "$0")/lib.sh"

BENCH_NS=${BENCH_NS:-10 100 1000 10000}
# The rule counts of the latency, connection and throughput benches (the
# flood runs at every BENCH_NS); --quick keeps only the largest.
BENCH_NS_APP=${BENCH_NS_APP:-$BENCH_NS}
BENCH_VARIANTS=${BENCH_VARIANTS:-none iptables iptables-ct nft idgate}
FLOOD_S=${FLOOD_S:-3}
PP_S=${PP_S:-3}
CR_S=${CR_S:-2}
TP_S=${TP_S:-3}
STATS_S=${STATS_S:-1}
FAILED=0

[ -x "$PKTGEN" ] || die "no traffic generator at $PKTGEN (build with DPDK: libdpdk-dev, meson -Dbench_dpdk=enabled)"
[ -x "$CONNRATE" ] || die "no connrate at $CONNRATE"

fail() { echo "bench: FAILED $*" >&2; FAILED=$((FAILED + 1)); }

# Benches that make sense for a variant: iptables-ct differs from
# iptables only for new connections, so it runs the connection bench
# alone; none has no drops to count.
wants() { # wants VARIANT BENCH
	case "$1:$2" in
	iptables-ct:connrate) return 0 ;;
	iptables-ct:*) return 1 ;;
	none:flood) return 1 ;;
	*) return 0 ;;
	esac
}

# The name a filter variant goes by in the flood bench's records: idgate
# is recorded under the hook its automatic choice took on this veth.
flood_name() {
	[ "$1" = idgate ] || { echo "$1"; return; }
	case "$(idg dut status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["xdp_mode"])')" in
	native) echo idgate-xdp-native ;;
	skb) echo idgate-xdp-generic ;;
	tc) echo idgate-tc ;;
	*) die "idgate: unknown ingress hook" ;;
	esac
}

flood() { # flood VARIANT N RUN
	local v=$1 n=$2 run=$3 out="$TMP/pktgen.out" fname
	local tx0 tx1 si0 si1 d0 d1 res ns
	tx0=$(link_stat "$GEN" vg tx_packets)
	d0=$(filter_drops "$v")
	si0=$(softirq_ns)
	if ! pktgen_flood "$FLOOD_S" "$out"; then
		fail "flood $v N=$n: $(tail -3 "$out")"
		return
	fi
	si1=$(softirq_ns)
	tx1=$(link_stat "$GEN" vg tx_packets)
	d1=$(filter_drops "$v")
	res=$(pktgen_result "$out")
	[ -n "$res" ] || { fail "flood $v N=$n: no RESULT line"; return; }
	fname=$(flood_name "$v")
	python3 - "$fname" "$n" "$run" $res "$tx0" "$tx1" "$d0" "$d1" \
		"$si0" "$si1" >"$TMP/flood.vals" <<'EOF2' || true
import sys
v, n, run = sys.argv[1:4]
sent, secs, tx0, tx1, d0, d1, si0, si1 = map(float, sys.argv[4:12])
reached, dropped = tx1 - tx0, d1 - d0
if reached <= 0 or dropped < 0.95 * reached:
    sys.exit(f"{v}: dropped {dropped:.0f} of {reached:.0f} flood packets")
print("flood", v, n, run, "sent_pps", sent / secs, "pps")
print("flood", v, n, run, "filter_pps", reached / secs, "pps")
print("flood", v, n, run, "drop_pps", dropped / secs, "pps")
print("flood", v, n, run, "softirq_ns_per_pkt", (si1 - si0) / reached, "ns")
EOF2
	if [ ! -s "$TMP/flood.vals" ]; then
		fail "flood $v N=$n: the filter did not drop the flood"
		return
	fi
	if [ "${v#idgate}" != "$v" ]; then
		if ns=$(bpf_run_ns "$(idgate_ingress_prog_id)" "$STATS_S"); then
			echo "progcost idgate-flood $n $run ns_per_pkt $ns ns" >>"$TMP/flood.vals"
		else
			fail "progcost $v N=$n: no BPF stats"
		fi
	fi
	while read -r b rv rn rr m val unit; do
		record "$b" "$rv" "$rn" "$rr" "$m" "$val" "$unit"
	done <"$TMP/flood.vals"
	log "  flood $fname N=$n: $(awk '{printf "%s=%.0f ", $5, $6}' "$TMP/flood.vals")"
}

pingpong() { # pingpong VARIANT N RUN
	local out="$TMP/pp.out"
	if ! in_ns "$GEN" taskset -c "$APP_CPU" sockperf ping-pong --tcp -i "$SERVER" \
		-p 11111 --client_ip "$PROBE" -t "$PP_S" -m 64 --full-rtt >"$out" 2>&1; then
		fail "pingpong $1 N=$2: $(tail -2 "$out")"
		return
	fi
	local p50 p99 p999
	p50=$(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' "$out")
	p99=$(sed -n 's/.*percentile 99.000 = *\([0-9.]*\).*/\1/p' "$out")
	p999=$(sed -n 's/.*percentile 99.900 = *\([0-9.]*\).*/\1/p' "$out")
	[ -n "$p50" ] && [ -n "$p99" ] && [ -n "$p999" ] || { fail "pingpong $1 N=$2: no percentiles"; return; }
	record pingpong "$1" "$2" "$3" p50_us "$p50" us
	record pingpong "$1" "$2" "$3" p99_us "$p99" us
	record pingpong "$1" "$2" "$3" p999_us "$p999" us
	log "  pingpong $1 N=$2: rtt p50 $p50 p99 $p99 p99.9 $p999 us"
}

connrate() { # connrate VARIANT N RUN
	local out="$TMP/cr.out" line
	if ! in_ns "$GEN" "$CONNRATE" client --connect "$SERVER:7000" --bind "$PROBE" \
		--duration "$CR_S" >"$out" 2>&1; then
		fail "connrate $1 N=$2: $(tail -2 "$out")"
		return
	fi
	line=$(grep '^RESULT' "$out")
	for kv in conn_per_s p50_us p99_us; do
		val=$(sed -n "s/.* $kv=\([0-9.]*\).*/\1/p" <<<"$line")
		[ -n "$val" ] || { fail "connrate $1 N=$2: no $kv"; return; }
		case $kv in
		conn_per_s) record connrate "$1" "$2" "$3" conn_per_s "$val" "conn/s" ;;
		p50_us) record connrate "$1" "$2" "$3" setup_p50_us "$val" us ;;
		p99_us) record connrate "$1" "$2" "$3" setup_p99_us "$val" us ;;
		esac
	done
	log "  connrate $1 N=$2: $line"
}

throughput() { # throughput VARIANT N RUN
	local out="$TMP/tp.json" g
	# Client and server on different cores: unpinned, the scheduler's
	# placement moves single-stream results by ±20% here.
	if ! in_ns "$GEN" taskset -c "$GEN_CPU" iperf3 -c "$SERVER" -B "$PROBE" -t "$TP_S" -J >"$out" 2>&1; then
		fail "throughput $1 N=$2: $(grep -m1 error "$out")"
		return
	fi
	g=$(iperf3_gbps "$out") ||
		{ fail "throughput $1 N=$2: unreadable iperf3 output"; return; }
	record throughput "$1" "$2" "$3" gbps "$g" "Gbit/s"
	log "  throughput $1 N=$2: $g Gbit/s"
}

rig_up
# Servers for the allowed flows, for the whole run.
bg "$DUT" taskset -c "$APP_CPU" sockperf server --tcp -i "$SERVER" -p 11111
bg "$DUT" "$CONNRATE" server --bind "$SERVER:7000"
bg "$DUT" taskset -c "$APP_CPU" iperf3 -s -B "$SERVER" -p 5201
for p in 11111 7000 5201; do wait_listen "$DUT" $p; done

note() { echo "NOTE $1: $2"; }
for b in flood pingpong connrate throughput; do
	note $b "rig: namespaces GEN and DUT joined by one veth pair (default offloads), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at start; N rules over $N_ENDPOINTS endpoints from bench/gen_rules.py: rule j allows endpoint j mod $N_ENDPOINTS to one TCP port, the last rule allows the probe host to the benchmark ports"
done
note flood "idg-pktgen (DPDK, net_af_packet on the GEN veth, CPU $GEN_CPU): 64-byte UDP to port 9 from $N_ENDPOINTS source addresses x 1000 source ports, as fast as it goes, ${FLOOD_S} s; every filter denies it. filter_pps = GEN veth tx packets/s; drop_pps from the filter's own counter; softirq_ns_per_pkt = softirq time of all CPUs (/proc/stat, tick-sampled) / packets that reached the filter; the receive work runs on the sender's CPU (veth)"
note flood "iptables = iptables-nft (Debian's default) INPUT chain, policy DROP; nft = one verdict map keyed on saddr . l4proto . dport, then a counter drop; idgate = xdpMode auto, recorded under the hook it picked on this veth"
note progcost "idgate-flood: BPF stats (BPF_ENABLE_STATS) run_time_ns / run_cnt of idgate's ingress program over a separate ${STATS_S} s flood of the same traffic"
note pingpong "sockperf ping-pong --tcp -m 64 --full-rtt (round trip), ${PP_S} s (sockperf drops its 0.4 s warm-up); client in GEN and server in DUT both pinned to CPU $APP_CPU; none = no filter, measured at each N right before the filters (the same minutes as the filters it is compared with)"
note connrate "bench/tools/connrate: one blocking connect() after another for ${CR_S} s, each closed with a RST; setup latency = connect() call to return"
note throughput "iperf3, one TCP stream for ${TP_S} s, client pinned to CPU $GEN_CPU, server to CPU $APP_CPU"

# in_list WORD LIST...: WORD is one of LIST.
in_list() { local w=$1; shift; for x in "$@"; do [ "$x" = "$w" ] && return 0; done; return 1; }

run_variant() { # run_variant VARIANT N
	local v=$1 n=$2 app=0
	# shellcheck disable=SC2086
	{ [ "$n" = null ] || in_list "$n" $BENCH_NS_APP; } && app=1
	[ "$app" = 1 ] || wants "$v" flood || return 0
	log "N=$n $v: loading"
	filter_on "$v" "$n"
	# The allowed flow must pass before anything is measured.
	if ! in_ns "$GEN" timeout 5 iperf3 -c "$SERVER" -B "$PROBE" -n 1M >/dev/null 2>&1; then
		fail "$v N=$n: the allowed flow does not pass"
		filter_off "$v"
		return 0
	fi
	for run in $(seq 1 "$BENCH_REPEATS"); do
		if wants "$v" flood; then flood "$v" "$n" "$run"; fi
		[ "$app" = 1 ] || continue
		if wants "$v" pingpong; then pingpong "$v" "$n" "$run"; fi
		if wants "$v" connrate; then connrate "$v" "$n" "$run"; fi
		if wants "$v" throughput; then throughput "$v" "$n" "$run"; fi
	done
	filter_off "$v"
}

# No filter at all at each N of the app benches, right before the
# filters: N means nothing to it, but a baseline measured once per run
# spread by more than the bars allow between the minutes of a run
# (docs/benchmarks.md, 2026-12-06), and report.py compares a filter at N
# with the baseline recorded at N.
for n in $BENCH_NS; do
	if in_list none $BENCH_VARIANTS && in_list "$n" $BENCH_NS_APP; then
		run_variant none "$n"
	fi
	for v in $BENCH_VARIANTS; do
		[ "$v" = none ] || run_variant "$v" "$n"
	done
done
[ "$FAILED" = 0 ] || die "$FAILED measurements failed (see above)"
