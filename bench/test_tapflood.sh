#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# tapflood's frames, judged by the kernel: written into a tap with no
# filter, every one must reach UDP as a datagram to a closed port
# (NoPorts), none with a bad checksum or a bad IP header.
#   bench/test_tapflood.sh build/bench/tapflood
set -euo pipefail
TAPFLOOD=${1:?usage: test_tapflood.sh TAPFLOOD}
NS=idgt-tf-$$-$RANDOM
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev tf0 mode tap
ip -n "$NS" addr add 10.0.0.2/8 dev tf0
ip -n "$NS" link set tf0 up
mac=$(ip -n "$NS" -j link show tf0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')

# snmp FIELD...: the named counters of /proc/net/snmp in the namespace.
snmp() {
	nsenter --net="/run/netns/$NS" cat /proc/net/snmp | python3 -c '
import sys
rows = [l.split() for l in sys.stdin]
vals = {}
for h, v in zip(rows[::2], rows[1::2]):
    for k, x in zip(h[1:], v[1:]):
        vals[h[0] + k] = int(x)
print(" ".join(str(vals[k]) for k in sys.argv[1:]))' "$@"
}

for flood in "--sources 1 --ports 1" "--sources 5000 --ports 13"; do
	read -r np0 ce0 he0 <<<"$(snmp Udp:NoPorts Udp:InCsumErrors Ip:InHdrErrors)"
	# shellcheck disable=SC2086
	out=$(nsenter --net="/run/netns/$NS" "$TAPFLOOD" --dev tf0 --cpu 0 \
		--seconds 1 --dst-mac "$mac" --dst 10.0.0.2 $flood)
	frames=$(sed -n 's/^RESULT frames=\([0-9]*\) .*errors=0$/\1/p' <<<"$out")
	[ -n "$frames" ] || { echo "FAIL: $flood: $out" >&2; exit 1; }
	read -r np1 ce1 he1 <<<"$(snmp Udp:NoPorts Udp:InCsumErrors Ip:InHdrErrors)"
	if [ $((np1 - np0)) -ne "$frames" ] || [ "$ce1" != "$ce0" ] || [ "$he1" != "$he0" ]; then
		echo "FAIL: $flood: $frames frames written, NoPorts +$((np1 - np0)), checksum errors +$((ce1 - ce0)), header errors +$((he1 - he0))" >&2
		exit 1
	fi
	echo "ok: $flood: $frames frames, all delivered to UDP as valid datagrams"
done

# Bad arguments are refused.
if "$TAPFLOOD" --dev tf0 --cpu 0 --dst 10.0.0.2 >/dev/null 2>&1; then
	echo "FAIL: accepted a missing --dst-mac" >&2
	exit 1
fi
if "$TAPFLOOD" --dev tf0 --cpu 0 --dst-mac 02:00:00:00:00:zz --dst 10.0.0.2 >/dev/null 2>&1; then
	echo "FAIL: accepted a bad MAC" >&2
	exit 1
fi
echo "ok: bad arguments refused"
