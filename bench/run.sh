#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The whole benchmark suite, one command: builds what is missing, runs
# every bench in its own namespaces, then writes the report and plots.
#
#   bench/run.sh            full run (about 45 min; churn alone takes 10): docs/benchmarks.md, docs/bench/*.png
#   bench/run.sh --quick    smoke run (under 5 min): build/bench-report/benchmarks.md
#   bench/run.sh --out DIR/report.md   the report elsewhere (plots in DIR/bench/)
#   bench/run.sh --only "filters attach"   a subset (progcost filters attach propagation egw earlydrop churn l7)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() { sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'; }

quick=0
out=""
only="progcost filters attach propagation egw earlydrop churn l7"
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--out) out=${2:?--out wants a file}; shift ;;
	--only) only=${2:?--only wants bench names}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench/run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
for b in $only; do
	case "$b" in progcost | filters | attach | propagation | egw | earlydrop | churn | l7) ;;
	*) echo "bench/run.sh: unknown bench '$b'" >&2; exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (namespaces, BPF)" >&2; exit 1; }
for tool in iperf3 sockperf iptables iptables-legacy nft gnuplot bpftool ethtool xdp-filter wrk haproxy; do
	command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool missing: run scripts/setup.sh" >&2; exit 1; }
done

[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
[ -x build/bench/idg-pktgen ] || {
	echo "bench/run.sh: the DPDK traffic generator was not built: install libdpdk-dev (scripts/setup.sh) and run meson setup --reconfigure build" >&2
	exit 1
}

if [ "$quick" = 1 ]; then
	export BENCH_NS="10 10000" BENCH_NS_APP="10000" BENCH_REPEATS=3 BENCH_QUICK=1
	export FLOOD_S=1 PP_S=1 CR_S=1 TP_S=1 ED_S=1
	export CHURN_S=3 CHURN_RATES="10 100"
	perf_repeat=200000
	out=${out:-build/bench-report/benchmarks.md}
else
	export BENCH_NS="10 100 1000 10000" BENCH_NS_APP="10 100 1000 10000" BENCH_REPEATS=5 BENCH_QUICK=0
	export FLOOD_S=3 PP_S=3 CR_S=2 TP_S=3 ED_S=1
	# Eight variants, two floods, three N: three repeats keep the whole
	# run under 30 minutes.
	export ED_REPEATS=3
	# The issue's minute per rate, once: the churn's own probe changes
	# give 240 samples a rate.
	export CHURN_S=60 CHURN_RATES="10 100 1000" CHURN_REPEATS=1
	perf_repeat=1000000
	out=${out:-docs/benchmarks.md}
fi
plots="$(dirname "$out")/bench"
mkdir -p "$(dirname "$out")" "$plots"

work=$(mktemp -d /tmp/idgate-benchrun.XXXXXX)
trap 'rm -rf "$work"' EXIT
export BENCH_RESULTS="$work/results.jsonl"
: >"$BENCH_RESULTS"
: >"$work/notes"
: >"$work/failures"
declare -A secs

# run_bench NAME CMD...: stdout's NOTE lines feed the report, stderr's
# FAILED lines and a non-zero exit become its Gaps.
run_bench() {
	local name=$1 t0=$SECONDS rc=0
	shift
	echo "== $name" >&2
	"$@" >"$work/$name.out" 2> >(tee "$work/$name.err" >&2) || rc=$?
	wait
	grep '^NOTE ' "$work/$name.out" >>"$work/notes" || true
	grep -v '^NOTE ' "$work/$name.out" >&2 || true
	secs[$name]=$((SECONDS - t0))
	grep -h 'FAILED' "$work/$name.err" | sed "s/^/$name: /" >>"$work/failures" || true
	if [ "$rc" != 0 ]; then
		echo "$name: exited with status $rc ($(grep -v '^\[' "$work/$name.err" | tail -1))" >>"$work/failures"
	fi
	echo "== $name: ${secs[$name]} s, exit $rc" >&2
}

progcost() {
	local rules=()
	for n in $BENCH_NS; do rules+=(--rules "$n"); done
	build/tests/datapath/test_datapath --perf --repeat "$perf_repeat" \
		--rounds "$BENCH_REPEATS" --records "$BENCH_RESULTS" "${rules[@]}" >&2
	echo "NOTE progcost: BPF_PROG_TEST_RUN of the XDP object idgate attaches, $perf_repeat packets per round, one round per repeat; maps filled from C with N rules over 5000 ipcache entries (tests/datapath/perf.c). One packet repeated: caches stay warm, so this is the floor; idgate-flood (BPF stats during the flood, 5000 sources) is the cost under real traffic."
	echo "NOTE progcost: established = an ACK of a connection whose handshake went through the programs (its entry among established flows); denied = a new flow from an identity that has rules, to a port none allows."
}

for b in $only; do
	case "$b" in
	progcost) run_bench progcost progcost ;;
	filters) run_bench filters bench/filters.sh ;;
	attach) run_bench attach bench/attach.sh ;;
	propagation) run_bench propagation bench/propagation.sh ;;
	egw) run_bench egw bench/egw.sh ;;
	earlydrop) run_bench earlydrop bench/earlydrop.sh ;;
	l7) run_bench l7 bench/l7.sh ;;
	churn) run_bench churn bench/churn.sh ;;
	esac
done

# Machine facts and notes for the report.
durations=""
for k in "${!secs[@]}"; do durations+="$k=${secs[$k]} "; done
python3 - "$work" "$quick" "$BENCH_REPEATS" "$BENCH_NS" "$durations" bench/bars.txt "$BENCH_NS_APP" >"$work/meta.json" <<'EOF'
import json, os, platform, subprocess, sys, datetime
work, quick, repeats, ns, durations, bars, ns_app = sys.argv[1:8]
def sh(*a):
    # Facts about the machine only: a tool it lacks (no systemd in a
    # container) leaves the field empty rather than losing the run.
    try:
        return subprocess.run(a, capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
commit = sh("git", "rev-parse", "--short", "HEAD") or "unknown"
if sh("git", "status", "--porcelain", "--untracked-files=no"):
    commit += " (with uncommitted changes)"
virt = sh("systemd-detect-virt") or "none"
notes = {}
for line in open(os.path.join(work, "notes")):
    head, _, text = line[5:].partition(": ")
    notes.setdefault(head.strip(), []).append(text.strip())
notes["machine"] = [f"{platform.system()} {platform.release()}, {virt} guest, Debian {open('/etc/debian_version').read().strip()}; "
                    f"{sh('iptables', '-V')}; {sh('nft', '-v')}; {sh('sockperf', '--version').splitlines()[0] if sh('sockperf', '--version') else 'sockperf'}; "
                    f"{sh('iperf3', '-v').splitlines()[0]}"]
if os.path.exists(bars):
    notes["bars"] = [l.strip() for l in open(bars) if l.strip() and not l.startswith("#")]
failures = [l.strip() for l in open(os.path.join(work, "failures")) if l.strip()]
print(json.dumps({
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "commit": commit,
    "kernel": platform.release(),
    "cpu": cpu,
    "cores": os.cpu_count(),
    "memory": f"{mem_kb / 1048576:.0f} GiB",
    "quick": quick == "1",
    "repeats": int(repeats),
    "repeats_by_bench": {"earlydrop": int(os.environ.get("ED_REPEATS", repeats)),
                         "churn": int(os.environ.get("CHURN_REPEATS", 1))},
    "duration_s": {k: int(v) for k, v in (d.split("=") for d in durations.split())},
    "ns": [int(n) for n in ns.split()],
    "ns_app": [int(n) for n in ns_app.split()],
    "notes": notes,
    "failures": failures,
}, indent=1))
EOF
# The raw samples stay next to the plots: every figure can be re-derived.
cp "$BENCH_RESULTS" "$work/meta.json" "$plots/"
bench/report.py --results "$BENCH_RESULTS" --meta "$work/meta.json" --out "$out" --plots "$plots"
echo "bench/run.sh: report in $out, plots and raw results in $plots/"
[ ! -s "$work/failures" ] || { echo "bench/run.sh: some measurements failed:" >&2; cat "$work/failures" >&2; exit 1; }
