#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Attach strategy on a veth: what each ingress hook costs by itself (no-op
# programs) and with idgate's verdict code (N = 1000 rules), in throughput
# (one iperf3 stream) and in CPU per packet of a UDP flood. Appends
# "attach" records to $BENCH_RESULTS and prints NOTE lines, the last one a
# per-interface-kind rule derived from the medians.
#
#   BENCH_RESULTS=r.jsonl bench/attach.sh
#   env: BENCH_REPEATS (3), BENCH_QUICK (0), ATTACH_VARIANTS (all),
#        TP_S / FLOOD_S / STATS_S (seconds per measurement)

. "$(dirname "$0")/lib.sh"

ALL_VARIANTS="none noop-xdp-native noop-xdp-generic noop-xdp-generic-frags noop-tc
idgate-xdp-native idgate-xdp-generic idgate-tc"
ATTACH_VARIANTS=${ATTACH_VARIANTS:-$ALL_VARIANTS}
RULES=1000
if [ "$BENCH_QUICK" = 1 ]; then
	TP_S=${TP_S:-2} FLOOD_S=${FLOOD_S:-1} STATS_S=${STATS_S:-0.5}
else
	TP_S=${TP_S:-5} FLOOD_S=${FLOOD_S:-2} STATS_S=${STATS_S:-1}
fi
NOOP_OBJ=${NOOP_OBJ:-$BUILD/bench/noop.bpf.o}
VALS=$TMP/attach.vals  # this run's records, for the medians at the end

note() { echo "NOTE attach: $*"; }

[ -f "$NOOP_OBJ" ] || die "no $NOOP_OBJ (ninja -C $BUILD)"
[ -x "$IDGATE" ] || die "no idgate at $IDGATE"
# The generator may still be in the making: give it a few minutes.
for _ in $(seq 60); do [ -x "$PKTGEN" ] && break; log "waiting for $PKTGEN"; sleep 5; done
[ -x "$PKTGEN" ] || die "no traffic generator at $PKTGEN (meson -Dbench_dpdk=enabled)"

rec() { # rec VARIANT RUN METRIC VALUE UNIT
	record attach "$1" null "$2" "$3" "$4" "$5"
	echo "$1 $3 $4" >>"$VALS"
}

# --- hooks ---------------------------------------------------------------

xdp_state() { # the XDP mode on vd: none | xdpdrv | xdpgeneric | xdpoffload
	ip -n "$DUT" -j -d link show vd | python3 -c '
import json, sys
x = json.load(sys.stdin)[0].get("xdp")
print({0: "none", 1: "xdpdrv", 2: "xdpgeneric", 3: "xdpoffload"}.get(x["mode"], "?") if x else "none")'
}

tc_ingress_count() {
	tc -n "$DUT" -j filter show dev vd ingress 2>/dev/null | python3 -c '
import json, sys
t = sys.stdin.read().strip()
print(sum(1 for f in json.loads(t) if "options" in f) if t else 0)'
}

offloads() { # offloads NS IF: "tso=on gso=on gro=on"
	in_ns "$1" ethtool -k "$2" | awk '
/^tcp-segmentation-offload:/ { t = $2 }
/^generic-segmentation-offload:/ { g = $2 }
/^generic-receive-offload:/ { r = $2 }
END { printf "tso=%s gso=%s gro=%s\n", t, g, r }'
}

hook_expect() { # the hook a variant must leave on vd: "xdp-mode tc-filters"
	case "$1" in
	none) echo "none 0" ;;
	noop-xdp-native | idgate-xdp-native) echo "xdpdrv 0" ;;
	noop-xdp-generic* | idgate-xdp-generic) echo "xdpgeneric 0" ;;
	noop-tc | idgate-tc) echo "none 1" ;;
	esac
}

hook_check() { # hook_check VARIANT: die unless vd carries exactly that hook
	local want got
	want=$(hook_expect "$1")
	got="$(xdp_state) $(tc_ingress_count)"
	[ "$want" = "$got" ] || die "$1: vd has xdp/tc-ingress '$got', expected '$want'"
}

variant_on() {
	case "$1" in
	none) ;;
	noop-xdp-native) ip -n "$DUT" link set dev vd xdpdrv obj "$NOOP_OBJ" sec xdp ;;
	noop-xdp-generic) ip -n "$DUT" link set dev vd xdpgeneric obj "$NOOP_OBJ" sec xdp ;;
	noop-xdp-generic-frags) ip -n "$DUT" link set dev vd xdpgeneric obj "$NOOP_OBJ" sec xdp.frags ;;
	noop-tc)
		tc -n "$DUT" qdisc add dev vd clsact
		tc -n "$DUT" filter add dev vd ingress bpf da obj "$NOOP_OBJ" sec tc ;;
	idgate-*) filter_on "$1" "$RULES" ;;
	*) die "unknown variant $1" ;;
	esac
	hook_check "$1"
}

variant_off() {
	case "$1" in
	none) ;;
	noop-xdp-native) ip -n "$DUT" link set dev vd xdpdrv off ;;
	noop-xdp-generic*) ip -n "$DUT" link set dev vd xdpgeneric off ;;
	noop-tc) tc -n "$DUT" qdisc del dev vd clsact ;;
	idgate-*) filter_off "$1" ;;
	esac
	hook_check none
	# Leftover state would bias every later variant: vg must get TSO
	# back once vd has no native XDP.
	[ "$(offloads "$GEN" vg)" = "$VG_OFFLOADS" ] ||
		die "after $1: vg offloads $(offloads "$GEN" vg), were $VG_OFFLOADS"
}

# --- measurements ----------------------------------------------------------

throughput() { # throughput VARIANT RUN
	local out="$TMP/tp.json" g
	in_ns "$GEN" timeout $((TP_S + 15)) iperf3 -c "$SERVER" -B "$PROBE" -p 5201 \
		-t "$TP_S" -J >"$out" 2>&1 ||
		die "$1: iperf3 failed: $(grep -m1 '"error"' "$out" || tail -1 "$out")"
	g=$(iperf3_gbps "$out") ||
		die "$1: unreadable iperf3 output"
	rec "$1" "$2" gbps "$g" "Gbit/s"
	log "  $1 run $2: $g Gbit/s"
}

is_idgate() { [ "${1#idgate}" != "$1" ]; }

flood() { # flood VARIANT RUN: softirq CPU per packet that reached vd
	local v=$1 run=$2 out="$TMP/pktgen.out" tx0 tx1 si0 si1 d0 d1 secs
	tx0=$(link_stat "$GEN" vg tx_packets)
	d0=0 d1=0
	is_idgate "$v" && d0=$(filter_drops "$v")
	si0=$(softirq_ns)
	pktgen_flood "$FLOOD_S" "$out" || die "$v: pktgen failed: $(tail -3 "$out")"
	si1=$(softirq_ns)
	tx1=$(link_stat "$GEN" vg tx_packets)
	is_idgate "$v" && d1=$(filter_drops "$v")
	secs=$(pktgen_result "$out" | cut -d' ' -f2)
	[ -n "$secs" ] || die "$v: no RESULT line from pktgen"
	python3 - "$v" "$secs" "$tx0" "$tx1" "$si0" "$si1" "$d0" "$d1" >"$TMP/flood.vals" <<'EOF'
import sys
v = sys.argv[1]
secs, tx0, tx1, si0, si1, d0, d1 = map(float, sys.argv[2:9])
reached, dropped = tx1 - tx0, d1 - d0
if reached <= 0:
    sys.exit(f"{v}: no packet reached vd")
idg = v.startswith("idgate")
# idgate must have dropped the flood, or its CPU figure means nothing.
if idg and dropped < 0.95 * reached:
    sys.exit(f"{v}: idgate dropped {dropped:.0f} of {reached:.0f} flood packets")
print("filter_pps", reached / secs, "pps")
print("drop_ns_per_pkt" if idg else "softirq_ns_per_pkt", (si1 - si0) / reached, "ns")
EOF
	while read -r m val unit; do rec "$v" "$run" "$m" "$val" "$unit"; done <"$TMP/flood.vals"
	log "  $v run $run: $(awk '{printf "%s=%.0f ", $1, $2}' "$TMP/flood.vals")"
}

progcost() { # progcost VARIANT RUN: BPF stats ns per run over a flood
	local v=$1 run=$2 ns
	ns=$(bpf_run_ns "$(idgate_ingress_prog_id)" "$STATS_S") ||
		die "$v: no BPF stats"
	rec "$v" "$run" run_ns_per_pkt "$ns" ns
	log "  $v run $run: BPF run time $ns ns/pkt"
}

# --- run -----------------------------------------------------------------

START=$(date +%s)
rig_up
bg "$DUT" iperf3 -s -B "$SERVER" -p 5201
wait_listen "$DUT" 5201
VG_OFFLOADS=$(offloads "$GEN" vg)

others=$(ip netns list | awk '{print $1}' | grep '^idgb-' | grep -vc -- "-$RUN_ID\$" || true)
[ "$others" = 0 ] ||
	note "WARNING: $others other bench namespaces exist; concurrent benches share the 2 CPUs and the softirq counter"
note "rig: veth vg(GEN) -> vd(DUT), kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; iperf3 -t $TP_S, 1 TCP stream 10.2.0.1 -> 10.0.0.2:5201, unpinned"
note "flood: idg-pktgen on CPU $GEN_CPU, net_af_packet on vg, UDP 64 B from $N_ENDPOINTS sources to port 9, ${FLOOD_S}s; per packet = softirq time of all CPUs (/proc/stat, tick-sampled) / vg tx_packets delta"
note "hooks: no-op XDP via 'ip link set dev vd xdpdrv|xdpgeneric obj noop.bpf.o sec xdp|xdp.frags', no-op tc via clsact + 'tc filter add dev vd ingress bpf da obj noop.bpf.o sec tc'; idgate via spec.xdpMode native|skb|tc, N=$RULES rules"
note "BPF stats: BPF_ENABLE_STATS fd held during a separate ${STATS_S}s flood, so drop_ns_per_pkt excludes the stats overhead"

# shellcheck disable=SC2206
VARS=($ATTACH_VARIANTS)
nv=${#VARS[@]}
for run in $(seq 1 "$BENCH_REPEATS"); do
	# Rotate the order each round, so slow drift does not favour one hook.
	for i in $(seq 0 $((nv - 1))); do
		v=${VARS[$(((i + run - 1) % nv))]}
		log "round $run: $v"
		variant_on "$v"
		if [ "$run" = 1 ]; then
			o="vg $(offloads "$GEN" vg); vd $(offloads "$DUT" vd)"
			note "offloads with $v: $o"
			echo "$v $o" >>"$TMP/offloads"
		fi
		throughput "$v" "$run"
		flood "$v" "$run"
		is_idgate "$v" && progcost "$v" "$run"
		variant_off "$v"
	done
done

# Which hooks cost the peer its TSO, from what round 1 saw.
python3 - "$TMP/offloads" <<'EOF' | sed 's/^/NOTE attach: /'
import collections, sys
by = collections.defaultdict(list)
for line in open(sys.argv[1]):
    v, rest = line.split(" ", 1)
    by[rest.split()[1]].append(v)  # vg's "tso=on"
print("veth peer TSO (ethtool -k vg) with a program on vd: "
      + "; ".join(f"{k}: {', '.join(vs)}" for k, vs in sorted(by.items())))
EOF

# The rule, from this run's medians; [min-max] is the spread over repeats.
python3 - "$VALS" <<'EOF' | sed 's/^/NOTE attach: /'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    v, m, x = line.split()
    runs[(v, m)].append(float(x))
def g(v, m):
    x = runs.get((v, m))
    return statistics.median(x) if x else None
def show(v, m, spec):
    x = runs.get((v, m))
    if not x:
        return "n/a"
    return f"{statistics.median(x):{spec}} [{min(x):{spec}}-{max(x):{spec}}]"
def overlap(v, w, m):
    a, b = runs[(v, m)], runs[(w, m)]
    return min(a) <= max(b) and min(b) <= max(a)
vs = list(dict.fromkeys(v for v, _m in runs))
for v in vs:
    cpu = "drop_ns_per_pkt" if (v, "drop_ns_per_pkt") in runs else "softirq_ns_per_pkt"
    print(f"median {v}: {show(v, 'gbps', '.2f')} Gbit/s, "
          f"{show(v, cpu, '.0f')} ns/pkt softirq ({cpu}), "
          f"{show(v, 'filter_pps', '.0f')} pps reached vd"
          + (f", BPF {show(v, 'run_ns_per_pkt', '.0f')} ns/run"
             if (v, "run_ns_per_pkt") in runs else ""))
names = {"idgate-xdp-native": "native XDP", "idgate-xdp-generic": "generic (skb) XDP",
         "idgate-tc": "tc ingress"}
cand = [v for v in names if g(v, "gbps") and g(v, "drop_ns_per_pkt")]
base = g("none", "gbps")
if not cand or not base:
    print("rule: not enough variants measured for a rule")
    sys.exit()
# Keep the throughput bar (>= 90% of no filter), then the cheapest drop;
# if no hook keeps the bar, the fastest one.
ok = [v for v in cand if g(v, "gbps") >= 0.9 * base]
best = (min(ok, key=lambda v: g(v, "drop_ns_per_pkt")) if ok
        else max(cand, key=lambda v: g(v, "gbps")))
def vs_(v):
    ties = [w for m, w in (("gbps", "throughput"), ("drop_ns_per_pkt", "drop cost"))
            if overlap(best, v, m)]
    return (f"{names[v]} {g(v, 'gbps'):.1f} Gbit/s, {g(v, 'drop_ns_per_pkt'):.0f} ns/pkt"
            + (f" ({' and '.join(ties)} within the spread)" if ties else ""))
print(f"rule: veth -> {names[best]} ({best}): {g(best, 'gbps'):.1f} Gbit/s "
      f"({100 * g(best, 'gbps') / base:.0f}% of no filter's {base:.1f}), drop cost "
      f"{g(best, 'drop_ns_per_pkt'):.0f} ns/pkt; vs "
      + "; ".join(vs_(v) for v in cand if v != best)
      + ("" if ok else "; no hook keeps 90% of no-filter throughput"))
for noop in ("noop-xdp-native", "noop-xdp-generic", "noop-xdp-generic-frags", "noop-tc"):
    if g(noop, "gbps"):
        print(f"hook alone: {noop} {g(noop, 'gbps'):.1f} Gbit/s "
              f"({100 * g(noop, 'gbps') / base:.0f}% of no filter)")
print("rule: other interfaces (real NICs) keep native XDP, where the drop comes "
      "before any skb; not measured here, the rig has veths only")
EOF
note "runtime $(($(date +%s) - START)) s"
