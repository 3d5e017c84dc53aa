#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Policy propagation benchmark (issue 6): time from starting the update
# command that loads a rule set with one changed rule among N to the first
# packet of a probe flow the change allows.
#
# The probe: UDP 10.2.0.1 (GEN) -> 10.0.0.2:6000 (DUT), one datagram every
# 100 us (bench/tools/udpprobe.py). The base rule set denies it; the
# changed one (gen_rules.py --change) allows it in place of rule N//2.
# Each variant reloads its whole rule set, as its tool is meant to be used:
#   idgate           idgate apply -c changed.yaml
#   iptables-legacy  iptables-legacy-restore < changed.v4
#   iptables-nft     iptables-restore < changed.v4 (nft backend)
#   nft              nft -f changed.nft (deletes and recreates the table)
#   idgate-run       idgate run on a config directory (one policy file per
#                    100 rules): the changed file, written beside it
#                    before t0, renamed into it (one mv process)
#   idgate-run-ep    the same daemon, but the change adds one endpoint:
#                    the probe's own Endpoint file, renamed in (rule N//2
#                    allows it in both sets; without its endpoint the
#                    probe's address is the world's)
# Per repeat: the probe must be denied (nothing for 300 ms), t0, the
# update, t1 = kernel receive time of the first datagram; then the base
# rule set goes back in and the probe must be denied again.
#
# Env: BENCH_RESULTS (required), BENCH_NS (default "10 100 1000 10000"),
# BENCH_REPEATS (default 3), BENCH_VARIANTS (default all six).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_NS=${BENCH_NS:-"10 100 1000 10000"}
read -ra VARIANTS <<<"${BENCH_VARIANTS:-idgate idgate-run idgate-run-ep iptables-legacy iptables-nft nft}"
UDPPROBE=$BENCH_DIR/tools/udpprobe.py
PORT=6000
INTERVAL_US=100
QUIET_MS=300
FLIP_MS=10000 # a verdict that has not changed by then counts as failed
FAILED=()

note() { echo "NOTE propagation: $*"; }
fail() { echo "propagation: $1 N=$2: $3" >&2; FAILED+=("$1/$2"); } # fail VARIANT N WHY

[ -x "$IDGATE" ] || die "idgate binary not found at $IDGATE (ninja -C build)"
for t in iptables-restore iptables-legacy-restore nft python3 chrt; do
	command -v "$t" >/dev/null || die "$t not installed"
done

rig_up

probe_start

# With no filter yet every datagram arrives: the probe's real rate.
ask "quiet 1000" 5
case $ANSWER in
"open "*) rate=${ANSWER#open } ;;
*) die "probe flow does not arrive without a filter ($ANSWER)" ;;
esac

note "probe: UDP $PROBE -> $SERVER:$PORT, one datagram every ${INTERVAL_US} us asked (sender at SCHED_FIFO), $rate/s measured with no filter; this bounds the resolution (t1 is up to one interval after the verdict changed)"
note "t0 = bash \$EPOCHREALTIME just before the update command; t1 = the kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME, taken before the filter) of the first probe datagram the receiver gets; value = t1 - t0"
note "each variant reloads its whole rule set with one rule changed (rule N//2 becomes probe -> UDP $PORT): idgate: idgate apply -c changed.yaml (xdpMode auto) | iptables-legacy: iptables-legacy-restore < changed | iptables-nft: iptables-restore < changed (nft backend) | nft: nft -f changed (delete table + recreate, one transaction, a verdict map) | idgate-run: idgate run on a config directory (one policy file per 100 rules), the one changed file written beside it under a hidden name before t0, then renamed in by one mv process (t0 just before that mv) | idgate-run-ep: the same daemon and directory, but the change adds one endpoint (the probe's Endpoint, a file of its own, renamed in; rule N//2 allows it in both sets)"
note "per repeat the probe is checked denied (nothing for ${QUIET_MS} ms) before the update; afterwards the base set is reloaded and checked denied again; no flip within $((FLIP_MS / 1000)) s = failed"
note "machine load at start (other jobs skew every number): $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
note "cmd ms (human table only, not recorded) = wall time of the update command; idgate's verdict can switch before its command exits"

printf '%-16s %6s %4s %10s %10s  %s\n' variant n run prop_ms cmd_ms 'idgate apply phases'
SUMMARY=$TMP/summary
: >"$SUMMARY"

for v in "${VARIANTS[@]}"; do
	# The filter a variant loads: idgate-run-ep is the daemon of
	# idgate-run with another change.
	fv=$v
	[ "$v" = idgate-run-ep ] && fv=idgate-run
	for n in $BENCH_NS; do
		base=$TMP/prop.$v.$n.base changed=$TMP/prop.$v.$n.changed
		if [ "$v" = idgate-run ]; then
			run_rules "$n" "$base"
			run_rules "$n" "$changed" --change
		elif [ "$v" = idgate-run-ep ]; then
			run_rules "$n" "$base" --probe-file
			run_rules "$n" "$changed" --probe-file --change
		else
			filter_rules "$v" "$n" >"$base"
			filter_rules "$v" "$n" --change >"$changed"
		fi
		t=${EPOCHREALTIME/[.,]/}
		filter_load "$fv" "$base"
		case $fv in idgate-run) ;; idgate*) IDG_LOADED=("$DUT dut") ;; esac
		log "$v N=$n: base rule set loaded in $(((${EPOCHREALTIME/[.,]/} - t) / 1000)) ms"
		if ! denied; then
			fail "$v" "$n" "the base rule set does not deny the probe"
			continue
		fi
		for run in $(seq "$BENCH_REPEATS"); do
			ask "arm $FLIP_MS" 5
			if [ "$ANSWER" != armed ]; then
				fail "$v" "$n" "run $run: probe not denied before the update ($ANSWER)"
				break
			fi
			if [ "$fv" = idgate-run ]; then
				loads=$(grep -c "generation .* enforcing:" "$RUN_LOG")
				run_plan "$changed"
			fi
			t0=${EPOCHREALTIME/[.,]/}
			filter_load "$fv" "$changed"
			t_cmd=${EPOCHREALTIME/[.,]/}
			read -t $((FLIP_MS / 1000 + 5)) -r ANSWER <&"$RECV_OUT" || die "receiver silent: $(cat "$TMP/recv.err")"
			# shellcheck disable=SC2086
			set -- $ANSWER
			if [ "$1" != got ]; then
				fail "$v" "$n" "run $run: the probe was still denied $((FLIP_MS / 1000)) s after the update ($ANSWER)"
				break
			fi
			d=$(($2 - t0 * 1000))
			if [ "$d" -lt 0 ]; then
				fail "$v" "$n" "run $run: first datagram before t0 ($d ns)"
				break
			fi
			prop=$(printf '%d.%03d' $((d / 1000000)) $((d / 1000 % 1000)))
			c=$((t_cmd - t0))
			cmd=$(printf '%d.%03d' $((c / 1000)) $((c % 1000)))
			record propagation "$v" "$n" "$run" ms "$prop" ms
			# idgate's own account of where its apply went (filter_load
			# leaves the output in $TMP/apply.out).
			detail=
			case $fv in
			idgate-run)
				# The daemon logs its load after the switch.
				for _ in $(seq 1 50); do
					[ "$(grep -c "generation .* enforcing:" "$RUN_LOG")" -gt "$loads" ] && break
					sleep 0.02
				done
				detail=$(grep "generation .* enforcing:" "$RUN_LOG" | sed -n "$((loads + 1))s/.*; \(compile .*\)/\1/p") ;;
			idgate*) detail=$(sed -n 's/.*enforcing: .*; \(compile .*\)/\1/p' "$TMP/apply.out") ;;
			esac
			printf '%-16s %6s %4s %10s %10s  %s\n' "$v" "$n" "$run" "$prop" "$cmd" "$detail"
			echo "$v $n $prop $cmd" >>"$SUMMARY"
			# The flow must stay open after the command, not just blink.
			ask "quiet 50" 5
			if [ "$ANSWER" = quiet ]; then
				fail "$v" "$n" "run $run: probe denied again after the update"
				break
			fi
			filter_load "$fv" "$base"
			if ! denied; then
				fail "$v" "$n" "run $run: the probe stays allowed after reloading the base rule set"
				break
			fi
		done
		[ "$fv" = idgate-run ] && filter_off "$fv"
	done
	[ "$fv" = idgate-run ] || filter_off "$fv"
done

echo
echo "propagation, median (min-max) over $BENCH_REPEATS runs"
python3 - "$SUMMARY" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    v, n, p, c = line.split()
    rows.setdefault((v, int(n)), []).append((float(p), float(c)))
print(f"{'variant':16} {'n':>6} {'prop_ms':>24} {'cmd_ms':>24}")
for (v, n), s in rows.items():
    cell = lambda xs: f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"
    print(f"{v:16} {n:>6} {cell([p for p, _ in s]):>24} {cell([c for _, c in s]):>24}")
EOF

# The sender's own count over the whole run: a loaded machine stretches
# the interval, and with it the resolution.
kill "$SENDER_PID" 2>/dev/null || true
wait "$SENDER_PID" 2>/dev/null || true
note "probe sender over the whole run: $(grep sent "$SENDER_OUT" || echo 'no stats')"

if [ "${#FAILED[@]}" -gt 0 ]; then
	echo "propagation: ${#FAILED[@]} failed: ${FAILED[*]}" >&2
	exit 1
fi
