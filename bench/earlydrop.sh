#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The early-drop rig: CPU per frame of a denied flood written into a tap
# (bench/tools/tapflood.c), for each filter, N and flood. On a tap, a
# native XDP program runs before the kernel allocates an skb; every other
# filter runs after. The writer is pinned to one core and does all the
# kernel's receive work inside write(), so its CPU time per frame is the
# whole cost; the floor is an XDP program that only drops. Appends records
# (bench "earlydrop", metrics ns_per_frame and ns_above_floor) to
# $BENCH_RESULTS.
#
#   BENCH_RESULTS=r.jsonl bench/earlydrop.sh
#   env: BENCH_NS ("10 1000 10000"; others are skipped), ED_REPEATS
#        (BENCH_REPEATS, 3), ED_S (seconds a
#        measurement, 2), ED_VARIANTS, ED_CPU (the writer's core, 1)
. "$(dirname "$0")/lib.sh"

BENCH_NS=${BENCH_NS:-10 1000 10000}
ED_S=${ED_S:-2}
ED_REPEATS=${ED_REPEATS:-$BENCH_REPEATS}
ED_CPU=${ED_CPU:-1}
ED_VARIANTS=${ED_VARIANTS:-floor xdp-filter none nft-netdev nft iptables idgate-xdp-native idgate-tc}
TAPFLOOD=${TAPFLOOD:-$BUILD/bench/tapflood}
NOOP_OBJ=${NOOP_OBJ:-$BUILD/bench/noop.bpf.o}
TAP=idgt$$
FAILED=0

fail() { echo "bench: FAILED $*" >&2; FAILED=$((FAILED + 1)); }

[ -x "$TAPFLOOD" ] || die "no tapflood at $TAPFLOOD (ninja -C build)"
[ -f "$NOOP_OBJ" ] || die "no $NOOP_OBJ (ninja -C build)"
for t in xdp-filter nft iptables-restore; do
	command -v "$t" >/dev/null || die "$t missing: run scripts/setup.sh"
done

mkns DUT dut
ip -n "$DUT" tuntap add dev "$TAP" mode tap
ip -n "$DUT" addr add "$SERVER/8" dev "$TAP"
ip -n "$DUT" link set "$TAP" up
in_ns "$DUT" sysctl -qw net.ipv4.icmp_ratelimit=1000
TAP_MAC=$(ip -n "$DUT" -j link show "$TAP" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')

# The floods: one flow, and the rule model's 5000 sources x 13 source
# ports (65 000 distinct flows, written round the sources).
flood_args() {
	case "$1" in
	one) echo "--sources 1 --ports 1" ;;
	sources) echo "--sources $N_ENDPOINTS --ports 13" ;;
	esac
}

xdpf() { in_ns "$DUT" xdp-filter "$@"; }

on() { # on VARIANT N
	local v=$1 n=$2 f="$TMP/rules.$1.$2"
	case "$v" in
	none) ;;
	floor) ip -n "$DUT" link set dev "$TAP" xdpdrv obj "$NOOP_OBJ" program noop_xdp_drop ;;
	xdp-filter)
		xdpf load -m native -p deny "$TAP" >/dev/null
		"$BENCH_DIR/gen_rules.py" --kind xdp-filter --n "$n" >"$f"
		while read -r kind val; do
			case "$kind" in
			ip) xdpf ip -m src "$val" >/dev/null ;;
			port) xdpf port -m dst -p tcp "$val" >/dev/null ;;
			esac
		done <"$f" ;;
	nft-netdev)
		"$BENCH_DIR/gen_rules.py" --kind nft-netdev --n "$n" --uplink "$TAP" >"$f"
		in_ns "$DUT" nft -f "$f" ;;
	nft | iptables)
		filter_rules "$v" "$n" >"$f"
		filter_load "$v" "$f" ;;
	idgate-*)
		"$BENCH_DIR/gen_rules.py" --kind idgate --n "$n" --uplink "$TAP" \
			--xdp-mode "$(idgate_mode_of "$v")" >"$f"
		filter_load "$v" "$f"
		IDG_LOADED+=("$DUT dut") ;;
	*) die "unknown variant $v" ;;
	esac
}

off() { # off VARIANT
	case "$1" in
	none) ;;
	floor) ip -n "$DUT" link set dev "$TAP" xdpdrv off ;;
	xdp-filter) xdpf unload "$TAP" >/dev/null ;;
	nft-netdev) in_ns "$DUT" nft delete table netdev idgbench ;;
	nft | iptables) filter_off "$1" ;;
	idgate-*) idg dut unload >/dev/null; IDG_LOADED=() ;;
	esac
}

# Frames the variant dropped so far; "-" where it keeps no count the rig
# can read (the floor drops everything; none drops nothing).
drops() { # drops VARIANT
	case "$1" in
	floor | none) echo - ;;
	xdp-filter) xdpf status | awk '/XDP_DROP/ { print $2; exit }' ;;
	nft-netdev) in_ns "$DUT" nft -j list chain netdev idgbench ingress | python3 -c '
import json, sys
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("rule", {}).get("expr", []):
        if "counter" in e:
            print(e["counter"]["packets"])' ;;
	nft | iptables) filter_drops "$1" ;;
	idgate-*) filter_drops idgate ;;
	esac
}

# measure VARIANT N FLOOD RUN: prints ns per frame.
measure() {
	local v=$1 n=$2 fl=$3 run=$4 out="$TMP/tapflood.out" d0 d1 res frames
	d0=$(drops "$v")
	# shellcheck disable=SC2046
	if ! in_ns "$DUT" "$TAPFLOOD" --dev "$TAP" --cpu "$ED_CPU" --seconds "$ED_S" \
		--dst-mac "$TAP_MAC" --dst "$SERVER" $(flood_args "$fl") >"$out" 2>&1; then
		fail "earlydrop $v N=$n $fl: $(tail -2 "$out")"
		return 1
	fi
	d1=$(drops "$v")
	res=$(sed -n 's/^RESULT frames=\([0-9]*\) .* ns_per_frame=\([0-9.]*\) errors=\([0-9]*\)$/\1 \2 \3/p' "$out")
	[ -n "$res" ] || { fail "earlydrop $v N=$n $fl: no RESULT line"; return 1; }
	set -- $res
	frames=$1
	[ "$3" = 0 ] || fail "earlydrop $v N=$n $fl: $3 writes failed"
	if [ "$d0" != - ] && [ $((d1 - d0)) -lt $((frames * 99 / 100)) ]; then
		fail "earlydrop $v N=$n $fl: dropped $((d1 - d0)) of $frames frames"
		return 1
	fi
	echo "$2"
}

declare -A floor_ns
for n in $BENCH_NS; do
	case "$n" in 10 | 1000 | 10000) ;; *) continue ;; esac
	for run in $(seq 1 "$ED_REPEATS"); do
		# Interleaved per repeat: the machine's drift hits every variant.
		for v in $ED_VARIANTS; do
			on "$v" "$n"
			for fl in one sources; do
				ns=$(measure "$v" "$n" "$fl" "$run") || continue
				[ "$v" = floor ] && floor_ns[$fl]=$ns
				record earlydrop "$v-$fl" "$n" "$run" ns_per_frame "$ns" ns
				if [ -n "${floor_ns[$fl]:-}" ] && [ "$v" != floor ]; then
					record earlydrop "$v-$fl" "$n" "$run" ns_above_floor \
						"$(python3 -c "print($ns - ${floor_ns[$fl]})")" ns
				fi
				log "  earlydrop $v $fl N=$n run $run: $ns ns/frame"
			done
			off "$v"
		done
	done
done

echo "NOTE earlydrop: rig: one namespace, a tap ($SERVER/8) with no reader; bench/tools/tapflood writes 64-byte UDP frames to port 9 from CPU $ED_CPU (O_NONBLOCK), ${ED_S} s a measurement; ns_per_frame = the writer thread's CPU time / frames written: the whole receive path runs inside write(). Floods: one = a single flow; sources = the rule model's $N_ENDPOINTS sources x 13 source ports. Variants interleaved within each repeat; ns_above_floor = ns_per_frame - floor's in the same repeat. Kernel $(uname -r)."
echo "NOTE earlydrop: floor = an XDP program that only returns XDP_DROP; xdp-filter = xdp-tools $(dpkg-query -W -f='${Version}' xdp-tools 2>/dev/null), native, policy deny, allowing the probe's address and the rule model's TCP ports (it has no source-port pairs: allowing the model's sources would let their flood through); none = no filter (the stack answers the closed port); nft-netdev = the verdict map at the tap's netdev ingress hook; nft = the verdict map at inet input; iptables = the INPUT chain (iptables-nft); idgate-xdp-native, idgate-tc = idgate with xdpMode native / tc on the tap."
[ "$FAILED" = 0 ] || exit 1
