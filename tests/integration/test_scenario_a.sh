#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Scenario A with real TCP and UDP: billing-api (node-a) accepts TCP 8080
# from frontend and batch-processor (node-b); reporting is denied; 8081 is
# denied; counters move; `idgate policy get` shows them.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1

. "$(dirname "$0")/topo_a.sh"

bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080 8081
bg "$NA" "$PROBE" serve-udp 10.0.0.10 8080

# Before idgate: everything reaches the server.
expect pass "before apply: reporting reaches 8080" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect pass "before apply: frontend reaches 8081" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8081
expect pass "before apply: frontend reaches 8080/udp" in_ns "$NB" "$PROBE" udp 10.0.1.10 10.0.0.10 8080

expect pass "check accepts the config" idg "$NA" node-a check -c "$CONFIG"
register_instance "$NA" node-a
if idg "$NA" node-a apply -c "$CONFIG"; then ok "apply"; else not_ok "apply"; fi

expect pass "frontend -> billing-api:8080/tcp allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
expect pass "batch-processor -> billing-api:8080/tcp allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.11 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "reporting -> billing-api:8080/tcp denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "frontend -> billing-api:8081/tcp denied" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8081
expect_denied "$NA" node-a policy-default-deny "frontend -> billing-api:8080/udp denied (TCP rule only)" in_ns "$NB" "$PROBE" udp 10.0.1.10 10.0.0.10 8080
# Arp/neighbour traffic kept working throughout (the connections above needed it).

status=$(idg "$NA" node-a status -o json)
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1" <<<"$status"; }
# xdpMode auto on a veth: the tc ingress filter (tests/integration/test_ingress_modes.sh covers the XDP modes).
[ "$(jget xdp_mode)" = tc ] && ok "status: auto picked tc ingress on veth" || not_ok "status: ingress mode $(jget xdp_mode)"
[ "$(jget verdicts.policy-default-deny.packets)" -ge 4 ] && ok "status: default-deny drops counted" || not_ok "status: default-deny counter"
[ "$(jget tc_egress_prog_id)" -gt 0 ] && ok "status: tc egress attached" || not_ok "status: tc egress"
[ "$(jget generation)" = 1 ] && ok "status: generation 1" || not_ok "status: generation $(jget generation)"

pol=$(idg "$NA" node-a policy get billing-api -o json)
allow_pkts=$(python3 -c 'import json,sys
rules=json.load(sys.stdin)[0]["rules"]
print(sum(r["packets"] for r in rules if r["verdict"]=="allow" and r["ports"]=="8080/TCP"))' <<<"$pol")
[ "$allow_pkts" -gt 0 ] && ok "policy get: allow rule counters moved ($allow_pkts packets)" || not_ok "policy get: counters did not move ($pol)"
grep -q 'app=frontend' <<<"$pol" && ok "policy get: peers shown as labels" || not_ok "policy get: no labels"
idg "$NA" node-a policy get billing-api | grepq "production/billing-api ingress\[0\]" \
	&& ok "policy get: rule attributed to policy and index" || not_ok "policy get: attribution"
idg "$NA" node-a identity list | grepq "app=billing-api" && ok "identity list" || not_ok "identity list"

# policy trace agrees with the real traffic above, and touches nothing.
snap() { idg "$NA" node-a status -o json | python3 -c 'import json,sys
d=json.load(sys.stdin)
# ARP/ND chatter of the link is not ours to freeze: the verdicts a trace
# could have touched are.
keep=("policy-allow","policy-deny","policy-default-deny","conntrack-established","policy-not-enforced")
print(d["conntrack_entries"], d["events_lost"], d["events_suppressed"],
      sorted((k,v["packets"]) for k,v in d["verdicts"].items() if k in keep))'; }
before=$(snap)
trace() { idg "$NA" node-a policy trace "$@"; }
rc=0; t=$(trace --src frontend --dst billing-api --proto tcp --dport 8080) || rc=$?
[ $rc = 0 ] && grep -q "ALLOWED.*production/billing-api ingress\[0\]" <<<"$t" \
	&& ok "trace: frontend -> 8080/tcp allowed by production/billing-api ingress[0]" || not_ok "trace frontend: rc $rc: $t"
rc=0; t=$(trace --src batch-processor --dst billing-api --dport 8080) || rc=$?
[ $rc = 0 ] && ok "trace: batch-processor -> 8080/tcp allowed" || not_ok "trace batch: rc $rc: $t"
rc=0; t=$(trace --src reporting --dst billing-api --dport 8080) || rc=$?
[ $rc = 1 ] && grep -q "no rule matched: default deny" <<<"$t" && grep -q "app=reporting" <<<"$t" \
	&& ok "trace: reporting denied, default deny, labels shown" || not_ok "trace reporting: rc $rc: $t"
rc=0; trace --src 10.0.1.10 --dst 10.0.0.10 --dport 8081 >/dev/null || rc=$?
[ $rc = 1 ] && ok "trace: 8081 denied" || not_ok "trace 8081: rc $rc"
rc=0; trace --src frontend --dst billing-api --proto udp --dport 8080 >/dev/null || rc=$?
[ $rc = 1 ] && ok "trace: udp 8080 denied" || not_ok "trace udp: rc $rc"
j=$(trace --src frontend --dst billing-api --dport 8080 -o json)
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["verdict"]=="allow" and d["rule"].startswith("production/billing-api") and "app=frontend" in d["source_labels"]' <<<"$j" \
	&& ok "trace: JSON verdict, rule and labels" || not_ok "trace JSON: $j"
rc=0; trace --src nobody --dst billing-api >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] && ok "trace: unknown endpoint is an error (exit 2)" || not_ok "trace unknown: rc $rc"
# Entities and ICMP types: what the world, the host and another node get.
rc=0; t=$(trace --src world --dst billing-api --icmp-type EchoRequest) || rc=$?
[ $rc = 1 ] && grep -q "ICMP type 8" <<<"$t" && grep -q "identity 2 \[reserved:world\]" <<<"$t" \
	&& ok "trace: world -> billing-api ICMP echo denied" || not_ok "trace world icmp: rc $rc: $t"
rc=0; t=$(trace --src host --dst billing-api --dport 8080) || rc=$?
[ $rc = 1 ] && grep -q "^192.168.50.1 -> " <<<"$t" && grep -q "identity 1 \[reserved:host\]" <<<"$t" \
	&& ok "trace: host is node-a's tunnel address, identity 1" || not_ok "trace host: rc $rc: $t"
rc=0; t=$(trace --src remote-node --dst billing-api --dport 8080 -o json) || rc=$?
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["source"]=="192.168.50.2" and d["source_identity"]==6, d' <<<"$t" \
	&& [ $rc = 1 ] && ok "trace: remote-node is node-b's tunnel address, identity 6" || not_ok "trace remote-node: rc $rc: $t"
for bad in "--src cluster --dst billing-api" "--src world --dst billing-api --icmp-type Bogus" \
	"--src world --dst billing-api --proto tcp --icmp-type 8" "--src world --dst billing-api --proto icmp --dport 1" \
	"--src world --dst billing-api --icmp-type 256"; do
	rc=0; trace $bad >/dev/null 2>"$TMP/trace.err" || rc=$?
	[ $rc = 2 ] && [ -s "$TMP/trace.err" ] && ok "trace $bad: refused with a message" || not_ok "trace $bad: rc $rc"
done
[ "$(snap)" = "$before" ] && ok "trace left counters and conntrack untouched" || not_ok "trace side effects: $before -> $(snap)"

# The same rule under a new policy name gets a new rule (cookie) whose
# counters start at zero, even if its number was the old rule's.
sed '/kind: CiliumNetworkPolicy/,$ s/name: billing-api$/name: billing-api-v2/' "$CONFIG" >"$TMP/v2.yaml"
grep -q "name: billing-api-v2" "$TMP/v2.yaml" || not_ok "could not rename the policy"
cookie_of() { python3 -c 'import json,sys
r=[r for r in json.load(sys.stdin)[0]["rules"] if r["ports"]=="8080/TCP"][0]
print(r["cookie"], r["packets"], r["rule"])'; }
read -r c1 p1 r1 < <(idg "$NA" node-a policy get billing-api -o json | cookie_of)
idg "$NA" node-a apply -c "$TMP/v2.yaml" >/dev/null && ok "re-apply with the policy renamed" || not_ok "re-apply renamed"
read -r c2 p2 r2 < <(idg "$NA" node-a policy get billing-api -o json | cookie_of)
[ "${r2%% *}" = "production/billing-api-v2" ] && ok "rule now attributed to billing-api-v2" || not_ok "attribution after rename: $r2"
[ "$p1" -gt 0 ] && [ "$p2" = 0 ] && ok "new rule starts at 0 packets (cookie $c1 -> $c2, old rule had $p1)" \
	|| not_ok "new rule counters: cookie $c1 -> $c2, packets $p1 -> $p2"
expect pass "frontend still allowed after the rename" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080

# A rule for the world entity and ICMP types, asked by name and number.
{
	cat "$TMP/v2.yaml"
	printf '  ingress:\n    - fromEntities: [world]\n      icmps:\n        - fields:\n            - type: EchoRequest\n' |
		billing_policy world-ping
} >"$TMP/ping.yaml"
idg "$NA" node-a apply -c "$TMP/ping.yaml" >/dev/null && ok "apply with a world ICMP rule" || not_ok "apply world-ping"
rc=0; t=$(trace --src world --dst billing-api --icmp-type EchoRequest) || rc=$?
[ $rc = 0 ] && grep -q "ALLOWED.*production/world-ping ingress\[0\]" <<<"$t" \
	&& ok "trace: world echo request allowed by world-ping" || not_ok "trace world-ping: rc $rc: $t"
rc=0; trace --src world --dst billing-api --proto icmp --icmp-type 8 >/dev/null || rc=$?
[ $rc = 0 ] && ok "trace: the same by number" || not_ok "trace icmp 8: rc $rc"
rc=0; trace --src world --dst billing-api --icmp-type Timestamp >/dev/null || rc=$?
[ $rc = 1 ] && ok "trace: another ICMP type denied" || not_ok "trace Timestamp: rc $rc"
rc=0; trace --src frontend --dst billing-api --icmp-type EchoRequest >/dev/null || rc=$?
[ $rc = 1 ] && ok "trace: an endpoint is not world" || not_ok "trace frontend icmp: rc $rc"

finish
