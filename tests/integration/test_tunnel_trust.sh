#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Scenario B under attack, with real packets (docs/drop-reasons.md 157-160):
# - forged GENEVE from an attacker on the underlay, posing as gw-b2, is
#   believed only for an endpoint gw-b2 really hosts, with its identity;
# - replies of a flow node-a sent into the tunnel pass by a conntrack
#   entry bound to that flow's gateway, never for a packet from outside
#   the tunnel or from the other gateway;
# - GENEVE that idgate did not make (a workload's, a local process's)
#   never leaves node-a for a mesh node;
# - a workload interface accepts only the addresses of its endpoints, so a
#   second workload cannot borrow data-processor's address (and its
#   egress gateway);
# - traffic between workloads of one node gets the destination's ingress
#   policy.
# Each attack is one packet marked by its TCP sequence number; sniffers in
# the workload and the database namespaces show whether it arrived, and
# node-a's per-reason counters whether it was dropped, and why.
. "$(dirname "$0")/lib.sh"
EGW_CONFIG=${EGW_CONFIG:-$(dirname "$0")/../../configs/egress-gateway.yaml}
FORGE=${FORGE:-$(dirname "$0")/forge.py}
PORT=8443 # data-processor's listener
. "$(dirname "$0")/topo_b.sh"

# Beside scenario B: a second workload (intruder 10.1.1.5) behind wl1 on
# node-a, and an attacker on the underlay.
#   WL2 eth0 10.1.1.5 -- wl1 10.1.1.1 (node-a)
#   ATK eth0 192.168.100.66 on UL br0
mkns WL2 wl2
mkns ATK attacker
ip -n "$WL2" link add eth0 type veth peer name wl1 netns "$NA"
ip -n "$WL2" addr add 10.1.1.5/24 dev eth0
ip -n "$WL2" link set eth0 up
ip -n "$WL2" route add default via 10.1.1.1
ip -n "$NA" addr add 10.1.1.1/24 dev wl1
ip -n "$NA" link set wl1 up
in_ns "$NA" sysctl -qw net.ipv4.conf.wl1.rp_filter=0
uplink "$ATK" ux 192.168.100.66
ip -n "$ATK" route add 10.1.0.0/16 via 192.168.100.1
# The controls below deliver SYNs from reporter (10.2.0.5), to which
# node-a has no way back: without this, its ICMP errors about
# data-processor's SYN-ACKs would add to the drop counters we count.
ip -n "$NA" route add blackhole 10.2.0.0/16

fatal() { not_ok "$*"; finish; exit 1; }

# mesh PHASE: scenario B plus intruder (node-a, wl1) and reporter, a
# cluster-b workload hosted by gw-b2. Phase 2: data-processor's ingress
# admits only reporter on PORT; phase 3: intruder too.
mesh() {
	sed 's/^    endpoints: \[wl0\]$/    endpoints: [wl0, wl1]/' "$EGW_CONFIG"
	cat <<'YAML'
---
apiVersion: idgate.io/v1
kind: Endpoint
metadata:
  name: intruder
  namespace: analytics
  labels:
    app: intruder
spec:
  node: node-a
  interface: wl1
  ips: [10.1.1.5]
---
apiVersion: idgate.io/v1
kind: Endpoint
metadata:
  name: reporter
  namespace: analytics
  labels:
    app: reporter
spec:
  node: gw-b2
  ips: [10.2.0.5]
YAML
	[ "$1" -ge 2 ] || return 0
	cat <<YAML
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: data-processor-in
  namespace: analytics
spec:
  endpointSelector:
    matchLabels:
      app: data-processor
  ingress:
    - fromEndpoints:
        - matchLabels:
            app: reporter
            io.cilium.k8s.policy.cluster: cluster-b
      toPorts:
        - ports:
            - port: "$PORT"
              protocol: TCP
YAML
	[ "$1" -ge 3 ] || return 0
	cat <<YAML
    - fromEndpoints:
        - matchLabels:
            app: intruder
      toPorts:
        - ports:
            - port: "$PORT"
              protocol: TCP
YAML
}
for phase in 1 2 3; do mesh $phase >"$TMP/mesh$phase.yaml"; done
grep -q 'endpoints: \[wl0, wl1\]' "$TMP/mesh1.yaml" || fatal "could not add wl1 to node-a's workload interfaces in $EGW_CONFIG"

apply_all() { # apply_all PHASE
	local n node ns
	for n in node-a:"$NA" gw-b1:"$GW1" gw-b2:"$GW2"; do
		node=${n%%:*}
		ns=${n#*:}
		if idg "$ns" "$node" apply -c "$TMP/mesh$1.yaml" >"$TMP/apply.$node" 2>&1; then
			ok "phase $1: apply on $node"
		else
			fatal "phase $1: apply on $node: $(cat "$TMP/apply.$node")"
		fi
	done
}

# verdict REASON: node-a's packet count for one verdict reason.
verdict() {
	idg "$NA" node-a status -o json | python3 -c 'import json,sys
v=json.load(sys.stdin)["verdicts"].get(sys.argv[1])
print(v["packets"] if v else 0)' "$1"
}
# moved REASON BEFORE: how far REASON's count moved past BEFORE, once it
# moved at all (packets cross veths and bridges asynchronously; 5 s at
# most, then whatever it is).
moved() {
	local now
	for _ in $(seq 50); do
		now=$(verdict "$1")
		[ "$now" -gt "$2" ] && break
		sleep 0.1
	done
	echo $((now - $2))
}

# sniff VAR NS IFACE [FILTER...]: a sniffer in the background (forge.py);
# VAR names the file of what it saw.
sniff() {
	local var=$1 ns=$2 out="$TMP/sniff.$1"
	shift 2
	nsenter --net="/run/netns/$ns" "$FORGE" sniff "$@" >"$out" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do grep -q ready "$out" && break; sleep 0.1; done
	grep -q ready "$out" || fatal "sniffer in $ns: $(cat "$out")"
	printf -v "$var" '%s' "$out"
}
seen() { grep -c " seq $2 " "$1" || true; } # seen FILE SEQ: packets marked SEQ
wait_seen() {                              # wait_seen FILE SEQ: one arrives (5 s)
	for _ in $(seq 50); do
		[ "$(seen "$1" "$2")" -gt 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# Every forged packet: its own sequence number and source port. Numbers
# far apart: a packet answering one (seq + 1) must not match the next.
SEQ=3000000000
SPORT=41000
next_mark() { SEQ=$((SEQ + 100000)); SPORT=$((SPORT + 1)); }

# tunnel_dropped WHAT OUTER_SRC VNI INNER_SRC REASON: one forged tunnel
# packet from the attacker to data-processor's listener must drop as
# REASON, once, and never reach the workload.
tunnel_dropped() {
	local what=$1 osrc=$2 vni=$3 src=$4 reason=$5 before d
	next_mark
	before=$(verdict "$reason")
	in_ns "$ATK" "$FORGE" geneve "$osrc" 192.168.100.1 "$vni" "$src" 10.1.0.5 "$SPORT" "$PORT" "$SEQ"
	d=$(moved "$reason" "$before")
	[ "$d" = 1 ] && ok "$what: dropped as $reason" || not_ok "$what: $reason counted $d times, wanted 1"
	[ "$(seen "$SNIFF_WL" "$SEQ")" = 0 ] && ok "$what: never reached data-processor" ||
		not_ok "$what: reached data-processor ($(grep " seq $SEQ " "$SNIFF_WL"))"
}

# tunnel_passes WHAT OUTER_SRC VNI INNER_SRC: the control, as gw-b2 would
# send it: the same forging, believed, reaches the workload.
tunnel_passes() {
	next_mark
	in_ns "$ATK" "$FORGE" geneve "$2" 192.168.100.1 "$3" "$4" 10.1.0.5 "$SPORT" "$PORT" "$SEQ"
	wait_seen "$SNIFF_WL" "$SEQ" && ok "$1: reached data-processor" || not_ok "$1: never arrived"
}

bg "$WL" "$PROBE" serve-tcp 10.1.0.5 "$PORT"
bg "$DB" "$PROBE" serve-whoami 172.18.200.10 7000
bg "$NA" "$PROBE" serve-tcp 10.1.1.1 9000
sniff SNIFF_WL "$WL" eth0 dst=10.1.0.5
sniff SNIFF_DB "$DB" br0 dst=172.18.200.10

for n in node-a:"$NA" gw-b1:"$GW1" gw-b2:"$GW2"; do register_instance "${n#*:}" "${n%%:*}"; done
apply_all 1
for n in node-a:"$NA" gw-b1:"$GW1" gw-b2:"$GW2"; do
	idg_bg "${n#*:}" "${n%%:*}" health >"$TMP/health.${n%%:*}" 2>&1
done
sleep 1.5

ident() { # ident APP: its identity, as node-a numbers it
	idg "$NA" node-a identity list -o json | python3 -c 'import json,sys
print([i["id"] for i in json.load(sys.stdin) if i["labels"].get("app")==sys.argv[1]][0])' "$1"
}
DP_ID=$(ident data-processor)
REP_ID=$(ident reporter)
[ $((REP_ID >> 16)) = 2 ] && [ $((DP_ID >> 16)) = 1 ] &&
	ok "identities: data-processor $DP_ID (cluster-a), reporter $REP_ID (cluster-b)" ||
	fatal "identities: data-processor '$DP_ID', reporter '$REP_ID'"

seen_by_db=$(in_ns "$WL" "$PROBE" whoami 10.1.0.5 172.18.200.10 7000 || true)
case "$seen_by_db" in
172.18.0.11 | 172.18.0.12) ok "data-processor reaches the database through the gateway (seen as $seen_by_db)" ;;
*) not_ok "data-processor through the gateway: '$seen_by_db'" ;;
esac
expect pass "intruder (wl1) reaches node-a's wl1 address" in_ns "$WL2" "$PROBE" tcp 10.1.1.5 10.1.1.1 9000
expect pass "intruder reaches data-processor:$PORT (its ingress is not enforced yet)" \
	in_ns "$WL2" "$PROBE" tcp 10.1.1.5 10.1.0.5 "$PORT"

# 1. VNI trust. data-processor enforces nothing yet: only the tunnel's
# own check stands between these packets and its listener.
tunnel_dropped "GENEVE posing as gw-b2 with VNI world (2)" \
	192.168.100.12 2 172.18.200.10 tunnel-vni-not-source-identity
tunnel_dropped "GENEVE posing as gw-b2 with cluster-a's data-processor identity" \
	192.168.100.12 "$DP_ID" 10.9.9.9 tunnel-vni-not-source-identity
tunnel_dropped "GENEVE posing as gw-b2, reporter's identity, inner source the database" \
	192.168.100.12 "$REP_ID" 172.18.200.10 tunnel-source-not-on-sender
tunnel_dropped "GENEVE posing as gw-b2, reporter's address with another cluster-b identity" \
	192.168.100.12 $((REP_ID ^ 1)) 10.2.0.5 tunnel-vni-not-source-identity
tunnel_passes "control: GENEVE as gw-b2 sends it, reporter's address and identity" \
	192.168.100.12 "$REP_ID" 10.2.0.5

# 2. GENEVE idgate did not make, to gw-b1, carrying data-processor's
# identity toward the database: from the workload itself and from an
# ordinary UDP socket on node-a (as node-a's address, the sender gw-b1
# would believe).
nat_marked() { # mappings on both gateways for source port $1
	local gw
	for gw in gw-b1:"$GW1" gw-b2:"$GW2"; do
		idg "${gw#*:}" "${gw%%:*}" nat list -o json
	done | python3 -c 'import json,sys
dec=json.JSONDecoder(); s=sys.stdin.read(); i=n=0
while i < len(s):
    if s[i].isspace(): i += 1; continue
    v, i = dec.raw_decode(s, i)
    n += sum(1 for m in v if m["source_port"] == int(sys.argv[1]))
print(n)' "$1"
}
forged_geneve() { # forged_geneve WHAT NS BIND
	local before d
	next_mark
	before=$(verdict geneve-not-encapsulated-by-idgate)
	in_ns "$2" "$FORGE" geneve-udp "$3" 192.168.100.11 "$DP_ID" 10.1.0.5 172.18.200.10 "$SPORT" 7000 "$SEQ"
	d=$(moved geneve-not-encapsulated-by-idgate "$before")
	[ "$d" = 1 ] && ok "$1: dropped at node-a's uplink as geneve-not-encapsulated-by-idgate" ||
		not_ok "$1: geneve-not-encapsulated-by-idgate counted $d times, wanted 1"
	[ "$(seen "$SNIFF_DB" "$SEQ")" = 0 ] && ok "$1: the database never saw it" ||
		not_ok "$1: reached the database ($(grep " seq $SEQ " "$SNIFF_DB"))"
	[ "$(nat_marked "$SPORT")" = 0 ] && ok "$1: no gateway translated it" ||
		not_ok "$1: a gateway made a mapping for it"
}
forged_geneve "GENEVE crafted by data-processor" "$WL" 10.1.0.5
forged_geneve "GENEVE from a UDP socket on node-a" "$NA" 192.168.100.1

# 3. Source binding: intruder borrows data-processor's address to use its
# egress gateway, by a forged SYN and by a real socket.
next_mark
before=$(verdict source-not-bound-to-interface)
in_ns "$WL2" "$FORGE" tcp 10.1.0.5 172.18.200.10 "$SPORT" 7000 "$SEQ"
d=$(moved source-not-bound-to-interface "$before")
[ "$d" = 1 ] && ok "intruder's SYN from 10.1.0.5 dropped as source-not-bound-to-interface" ||
	not_ok "intruder's SYN from 10.1.0.5: source-not-bound-to-interface counted $d times, wanted 1"
[ "$(seen "$SNIFF_DB" "$SEQ")" = 0 ] && ok "the database never saw intruder's SYN as data-processor" ||
	not_ok "intruder's SYN as data-processor reached the database ($(grep " seq $SEQ " "$SNIFF_DB"))"
[ "$(nat_marked "$SPORT")" = 0 ] && ok "no gateway translated intruder's SYN" ||
	not_ok "a gateway translated intruder's SYN as data-processor's"
ip -n "$WL2" addr add 10.1.0.5/32 dev eth0
before=$(verdict source-not-bound-to-interface)
expect fail "intruder with 10.1.0.5 added cannot reach the database" \
	in_ns "$WL2" "$PROBE" whoami 10.1.0.5 172.18.200.10 7000
d=$(moved source-not-bound-to-interface "$before")
[ "$d" -ge 1 ] && ok "its connection attempt counted under source-not-bound-to-interface ($d)" ||
	not_ok "its connection attempt not counted as source-not-bound-to-interface"
ip -n "$WL2" addr del 10.1.0.5/32 dev eth0
expect pass "intruder's own address still works" in_ns "$WL2" "$PROBE" tcp 10.1.1.5 10.1.1.1 9000

# Phase 2: data-processor admits reporter on PORT, nothing else.
apply_all 2
seen_by_db=$(in_ns "$WL" "$PROBE" whoami 10.1.0.5 172.18.200.10 7000 || true)
case "$seen_by_db" in
172.18.0.11 | 172.18.0.12) ok "ingress enforced: replies through the tunnel still pass by conntrack (seen as $seen_by_db)" ;;
*) not_ok "ingress enforced: data-processor through the gateway: '$seen_by_db'" ;;
esac
tunnel_dropped "GENEVE posing as gw-b1 with reporter's (allowed) identity and address" \
	192.168.100.11 "$REP_ID" 10.2.0.5 tunnel-source-not-on-sender
tunnel_passes "control: the same from gw-b2's address (allowed by the policy)" \
	192.168.100.12 "$REP_ID" 10.2.0.5

# Conntrack outside the tunnel: a flow held through gw-b1, then packets
# with its reply's addresses and ports from elsewhere.
nsenter --net="/run/netns/$WL" "$PROBE" whoami-hold 10.1.0.5 172.18.200.10 7000 172.18.0.11 20 >"$TMP/hold.out" 2>&1 &
hold=$!
PIDS+=($hold)
for _ in $(seq 50); do grep -q "^holding" "$TMP/hold.out" && break; sleep 0.2; done
LPORT=$(sed -n "s/^holding ('10.1.0.5', \([0-9]*\)).*/\1/p" "$TMP/hold.out")
[ -n "$LPORT" ] && ok "a flow through gw-b1 is open (data-processor port $LPORT)" ||
	fatal "no flow through gw-b1: $(cat "$TMP/hold.out")"

next_mark
before=$(verdict policy-default-deny)
in_ns "$ATK" "$FORGE" tcp 172.18.200.10 10.1.0.5 7000 "$LPORT" "$SEQ" A
d=$(moved policy-default-deny "$before")
[ "$d" = 1 ] && ok "the flow's reply sent outside the tunnel: dropped as policy-default-deny" ||
	not_ok "the flow's reply sent outside the tunnel: policy-default-deny counted $d times, wanted 1"
[ "$(seen "$SNIFF_WL" "$SEQ")" = 0 ] && ok "the flow's reply sent outside the tunnel never reached data-processor" ||
	not_ok "the flow's reply sent outside the tunnel reached data-processor"

next_mark
before=$(verdict tunnel-vni-not-source-identity)
in_ns "$ATK" "$FORGE" geneve 192.168.100.12 192.168.100.1 2 172.18.200.10 10.1.0.5 7000 "$LPORT" "$SEQ" A
d=$(moved tunnel-vni-not-source-identity "$before")
[ "$d" = 1 ] && ok "the flow's reply tunnelled from gw-b2 (not its gateway): dropped as tunnel-vni-not-source-identity" ||
	not_ok "the flow's reply from gw-b2: tunnel-vni-not-source-identity counted $d times, wanted 1"
[ "$(seen "$SNIFF_WL" "$SEQ")" = 0 ] && ok "the flow's reply from gw-b2 never reached data-processor" ||
	not_ok "the flow's reply from gw-b2 reached data-processor"

next_mark
in_ns "$ATK" "$FORGE" geneve 192.168.100.11 192.168.100.1 2 172.18.200.10 10.1.0.5 7000 "$LPORT" "$SEQ" A
wait_seen "$SNIFF_WL" "$SEQ" && ok "control: the same reply tunnelled from gw-b1 passes by the flow's entry" ||
	not_ok "control: the reply from gw-b1 never arrived"
wait $hold && ok "the held flow through gw-b1 kept working" || not_ok "held flow: $(cat "$TMP/hold.out")"

# 4. Same node: intruder to data-processor crosses no uplink; wl0's tc
# egress gives it data-processor's ingress verdict.
syns_from_intruder() { grep -c "^match 10.1.1.5:[0-9]* > 10.1.0.5:$PORT " "$SNIFF_WL" || true; }
before=$(verdict policy-default-deny)
arrived=$(syns_from_intruder)
expect fail "intruder -> data-processor:$PORT denied (not in the policy)" \
	in_ns "$WL2" "$PROBE" tcp 10.1.1.5 10.1.0.5 "$PORT"
d=$(moved policy-default-deny "$before")
[ "$d" -ge 1 ] && ok "counted under policy-default-deny ($d)" || not_ok "intruder's SYNs not counted as policy-default-deny"
[ "$(syns_from_intruder)" = "$arrived" ] && ok "none of intruder's packets reached data-processor" ||
	not_ok "intruder's packets reached data-processor"

apply_all 3
expect pass "intruder -> data-processor:$PORT allowed once the policy names it" \
	in_ns "$WL2" "$PROBE" tcp 10.1.1.5 10.1.0.5 "$PORT"
expect fail "phase 3: the attacker on the underlay still cannot reach data-processor:$PORT" \
	in_ns "$ATK" "$PROBE" tcp 192.168.100.66 10.1.0.5 "$PORT"

# 5. The underlay posing as a workload of node-a: intruder is now allowed
# to reach data-processor, but only from wl1; its address coming in on
# the uplink is a spoof, plain or in GENEVE claiming to be node-a itself.
next_mark
before=$(verdict source-not-bound-to-interface)
in_ns "$ATK" "$FORGE" tcp 10.1.1.5 10.1.0.5 "$SPORT" "$PORT" "$SEQ"
d=$(moved source-not-bound-to-interface "$before")
[ "$d" = 1 ] && ok "intruder's address from the underlay: dropped as source-not-bound-to-interface" ||
	not_ok "intruder's address from the underlay: source-not-bound-to-interface counted $d times, wanted 1"
[ "$(seen "$SNIFF_WL" "$SEQ")" = 0 ] && ok "the spoofed intruder SYN never reached data-processor" ||
	not_ok "the spoofed intruder SYN reached data-processor ($(grep " seq $SEQ " "$SNIFF_WL"))"
tunnel_dropped "GENEVE claiming to come from node-a itself, intruder's identity" \
	192.168.100.1 "$(ident intruder)" 10.1.1.5 tunnel-from-unknown-node

finish
