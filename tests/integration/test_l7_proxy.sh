#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The proxy's verdicts against the reference: random L7 policies (l7gen.c,
# seeded) compiled into HAProxy configurations, random requests sent from
# the policies' clients through a real HAProxy to a real backend, each
# answer compared with what idg_l7_judge() says. Also: a denial keeps the
# connection, and HAProxy itself takes every configuration (haproxy -c).
# L7_SEEDS (default 12) configurations from L7_SEED (default 1).
. "$(dirname "$0")/lib.sh"
L7GEN=${L7GEN:?set L7GEN to the l7gen binary}
CLIENT=$(dirname "$0")/l7client.py
SEED=${L7_SEED:-1}
SEEDS=${L7_SEEDS:-12}

mkns N l7
for a in 10.77.0.1 10.77.1.1 10.77.1.2 10.77.1.3 10.77.1.4 10.77.1.5 10.78.0.1 10.78.0.2; do
	ip -n "$N" addr add "$a/32" dev lo
done
nsenter --net="/run/netns/$N" python3 "$CLIENT" serve 127.0.0.1 18080 &
PIDS+=($!)

listening() { # listening PORT
	for _ in $(seq 50); do
		[ -n "$(in_ns "$N" ss -Hltn "sport = :$1")" ] && return 0
		sleep 0.1
	done
	return 1
}
listening 18080 || { not_ok "backend did not start"; finish; }

for s in $(seq "$SEED" $((SEED + SEEDS - 1))); do
	d=$TMP/seed-$s
	mkdir -p "$d"
	if ! "$L7GEN" "$s" "$d" 2>"$d/gen.err"; then
		not_ok "seed $s: l7gen failed: $(cat "$d/gen.err")"
		continue
	fi
	if ! haproxy -q -c -f "$d/haproxy.cfg" >"$d/check.out" 2>&1; then
		not_ok "seed $s: haproxy refuses the configuration: $(head -5 "$d/check.out")"
		continue
	fi
	if [ ! -s "$d/requests.tsv" ]; then
		ok "seed $s: no L7 port in this policy"
		continue
	fi
	nsenter --net="/run/netns/$N" haproxy -db -f "$d/haproxy.cfg" >"$d/haproxy.log" 2>&1 &
	hp=$!
	PIDS+=($hp)
	if ! listening 8080 && ! listening 8081; then
		not_ok "seed $s: haproxy did not listen: $(tail -3 "$d/haproxy.log")"
		kill "$hp" 2>/dev/null; wait "$hp" 2>/dev/null || true
		continue
	fi
	if in_ns "$N" python3 "$CLIENT" check "$d/requests.tsv" >"$d/check.txt" 2>&1; then
		ok "seed $s: $(tail -1 "$d/check.txt")"
	else
		not_ok "seed $s: $(tail -1 "$d/check.txt")"
		head -20 "$d/check.txt"
		echo "--- the policy of seed $s:"
		sed -n '/CiliumNetworkPolicy/,$p' "$d/config.yaml"
	fi
	kill "$hp" 2>/dev/null
	wait "$hp" 2>/dev/null || true
	for _ in $(seq 50); do
		[ -z "$(in_ns "$N" ss -Hltn "sport = :8080 or sport = :8081")" ] && break
		sleep 0.1
	done
done
finish
