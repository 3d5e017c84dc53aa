#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Policy churn (issue 12): the article's kube-burner scenario without
# Kubernetes. Against 10 000 rules over 5 000 endpoints, bench/tools/churn.py
# makes changes at each rate for CHURN_S seconds and measures, on a probe
# flow, how long a change takes to reach the datapath.
#   idgate     idgate run on a config directory; changes are files
#   nft        the verdict map; add/delete element commands fed to one nft -i
#   iptables   the INPUT chain (nft backend); -A/-D blocks fed to one
#              iptables-restore --noflush (no process start per change)
# Records (bench "churn", variant VARIANT-rRATE): p50_ms, p99_ms, max_ms,
# measured, rate_reached, cpu_pct, and for idgate entries_per_change,
# rss_mb and end_state_ok (applying the final config again, through the
# daemon, changed no map entry: nothing lost, nothing stale).
#
# Env: BENCH_RESULTS (required), CHURN_RATES ("10 100 1000"), CHURN_S (60),
# CHURN_VARIANTS ("idgate nft iptables"), BENCH_REPEATS (default 1 here).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

CHURN_RATES=${CHURN_RATES:-10 100 1000}
CHURN_S=${CHURN_S:-60}
read -ra VARIANTS <<<"${CHURN_VARIANTS:-idgate nft iptables}"
REPEATS=${CHURN_REPEATS:-1}
N=10000
DRIVER=$BENCH_DIR/tools/churn.py
UDPPROBE=$BENCH_DIR/tools/udpprobe.py
FAILED=()

note() { echo "NOTE churn: $*"; }
fail() { echo "churn: $*" >&2; FAILED+=("$1"); }

[ -x "$IDGATE" ] || die "idgate binary not found at $IDGATE (ninja -C build)"
for t in iptables-restore nft python3 chrt; do
	command -v "$t" >/dev/null || die "$t not installed"
done

rig_up
bg "$GEN" chrt -f 10 python3 "$UDPPROBE" send --src "$PROBE" --dst "$SERVER" --port 6000 --interval-us 100
SENDER_PID=$BG_PID SENDER_OUT=$BG_OUT

# ticks STAT_FILE: utime + stime of a process, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "$1"; }
HZ=$(getconf CLK_TCK)

note "rule model: gen_rules.py at N=$N (5000 clients); idgate: one policy file per 100 rules (gen_rules.py --dir); changes cycle: rule edit, endpoint add, its rule add, rule edit, a churn rule remove, a churn endpoint remove (nft/iptables: endpoint changes are rule edits); nft and iptables-restore run as one process each for the whole run, fed a change at a time; every rate/4-th change is a probe allow or deny"
note "probe: UDP $PROBE -> $SERVER:6000 every 100 us (SCHED_FIFO sender); propagation = kernel receive time of the first probe datagram after an allowing change - the time just before the change; counted only when the probe was denied in the 20 ms before"
note "machine load at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; $CHURN_S s per rate"
printf '%-10s %6s %4s %8s %8s %8s %6s %8s %7s %8s %6s\n' variant rate run p50_ms p99_ms max_ms meas reached cpu_pct ent/chg end_ok

for v in "${VARIANTS[@]}"; do
	for rate in $CHURN_RATES; do
		for run in $(seq 1 "$REPEATS"); do
			key="$v-r${rate%.*}"
			case $v in
			idgate)
				run_rules "$N" "$TMP/churn.base"
				filter_load idgate-run "$TMP/churn.base"
				# Both generation slots filled before the churn: the
				# first switch to the second slot writes every entry.
				idg dut apply -c "$RUN_LIVE" >/dev/null 2>&1 || fail "$key: warm-up apply failed"
				t0=$(ticks "/proc/$RUN_PID/stat")
				loads0=$(grep -c "generation .* enforcing:" "$RUN_LOG" || true) ;;
			nft | iptables)
				filter_rules "$v" "$N" >"$TMP/churn.rules"
				filter_load "$v" "$TMP/churn.rules" ;;
			*) die "unknown churn variant $v" ;;
			esac
			out=$TMP/churn.$key.$run.json
			if ! in_ns "$DUT" python3 "$DRIVER" --variant "$v" --rate "$rate" \
				--seconds "$CHURN_S" ${RUN_LIVE:+--live "$RUN_LIVE"} --seed "$run" \
				--errors "$out.tool" >"$out" 2>"$out.err"; then
				fail "$key run $run: driver failed: $(tail -3 "$out.err") $(head -3 "$out.tool" 2>/dev/null)"
				filter_off "$( [ "$v" = idgate ] && echo idgate-run || echo "$v")"
				continue
			fi
			cpu= ent= rss= endok=
			if [ "$v" = idgate ]; then
				sleep 1 # the last reload
				t1=$(ticks "/proc/$RUN_PID/stat")
				secs=$(python3 -c "import json; print(json.load(open('$out'))['seconds'] + 3)")
				cpu=$(python3 -c "print(round(($t1 - $t0) / $HZ / $secs * 100, 2))")
				rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$RUN_PID/status")
				# Map entries written and deleted by the churn's reloads,
				# per change made.
				ent=$(grep "generation .* enforcing:" "$RUN_LOG" | tail -n +"$((loads0 + 1))" |
					sed -n 's/.*(\([0-9]*\) entries written, \([0-9]*\) deleted.*/\1 \2/p' |
					python3 -c "
import json, sys
t = sum(int(a) + int(b) for a, b in (l.split() for l in sys.stdin))
print(round(t / max(1, json.load(open('$out'))['changes']), 2))")
				# The final state against the final config: the first
				# apply makes it the active generation, the second one
				# compares it with what the churn left (the other slot).
				idg dut apply -c "$RUN_LIVE" >/dev/null 2>&1 || true
				a2=$(idg dut apply -c "$RUN_LIVE" 2>&1 || true)
				case $a2 in
				*"files parsed, 0 entries written, 0 deleted;"*) endok=1 ;;
				*"entries written"*) endok=0; fail "$key run $run: end state differs from the final config: $a2" ;;
				*) endok=0; fail "$key run $run: no end-state check: $a2" ;;
				esac
				filter_off idgate-run
			else
				cpu=$(python3 -c "import json; d = json.load(open('$out')); print(round(d['children_cpu_s'] / d['seconds'] * 100, 2))")
				filter_off "$v"
			fi
			python3 - "$out" "$key" "$run" "$cpu" "$ent" "$rss" "$endok" "$BENCH_RESULTS" <<'PY'
import json, sys
out, key, run, cpu, ent, rss, endok, results = sys.argv[1:]
d = json.load(open(out))
rows = [("p50_ms", d["p50_ms"], "ms"), ("p99_ms", d["p99_ms"], "ms"),
        ("max_ms", d["max_ms"], "ms"), ("measured", d["measured"], "allows"),
        ("rate_reached", d["rate_reached"], "changes/s"), ("cpu_pct", cpu, "%")]
if key.startswith("idgate-"):
    rows += [("entries_per_change", ent, "entries"), ("rss_mb", rss, "MiB"),
             ("end_state_ok", endok, "bool")]
with open(results, "a") as f:
    for m, v, u in rows:
        if v in (None, ""):
            continue
        f.write(json.dumps({"bench": "churn", "variant": key, "n": None, "run": int(run),
                            "metric": m, "value": float(v), "unit": u}) + "\n")
fmt = lambda x: "-" if x in (None, "") else (f"{x:.2f}" if isinstance(x, float) else str(x))
print(f"{key.rsplit('-r', 1)[0]:10} {d['rate']:6.0f} {run:>4} {fmt(d['p50_ms']):>8} {fmt(d['p99_ms']):>8} "
      f"{fmt(d['max_ms']):>8} {d['measured']:>6} {d['rate_reached']:>8} {fmt(cpu):>7} {fmt(ent):>8} {fmt(endok):>6}"
      f"   (not denied before: {d['not_denied_before']}, lost: {d['lost']}, lag max {d['lag_max_ms']} ms)")
PY
		done
	done
done

kill "$SENDER_PID" 2>/dev/null || true
wait "$SENDER_PID" 2>/dev/null || true
note "probe sender: $(grep sent "$SENDER_OUT" || echo 'no stats')"
if [ "${#FAILED[@]}" -gt 0 ]; then
	echo "churn: ${#FAILED[@]} failed: ${FAILED[*]}" >&2
	exit 1
fi
