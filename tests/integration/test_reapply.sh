#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Re-apply under continuous traffic: an allowed and a denied UDP flow run
# while the policy is switched ten times (each generation keeps both
# verdicts, with unrelated rules changing). Not one allowed datagram may be
# lost, not one denied datagram may pass. A config that fails to apply
# leaves the previous generation enforcing.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_a.sh"

# Variant N allows UDP 9000 from frontend, plus an unrelated port 7000+N.
variant() {
	cat "$CONFIG"
	cat <<YAML
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: udp-stream
  namespace: production
spec:
  endpointSelector:
    matchLabels:
      app: billing-api
  ingress:
    - fromEndpoints:
        - matchLabels:
            app: frontend
      toPorts:
        - ports:
            - port: "9000"
              protocol: UDP
    - fromEndpoints:
        - matchLabels:
            app: batch-processor
      toPorts:
        - ports:
            - port: "$((7000 + $1))"
              protocol: TCP
YAML
}
for n in $(seq 0 10); do variant "$n" >"$TMP/v$n.yaml"; done

register_instance "$NA" node-a
idg "$NA" node-a apply -c "$TMP/v0.yaml" >/dev/null && ok "first apply" || not_ok "first apply"

DURATION=6
nsenter --net="/run/netns/$NA" "$PROBE" udp-sink 10.0.0.10 9000 $((DURATION + 3)) >"$TMP/allowed.count" &
k1=$!
nsenter --net="/run/netns/$NA" "$PROBE" udp-sink 10.0.0.10 9001 $((DURATION + 3)) >"$TMP/denied.count" &
k2=$!
PIDS+=($k1 $k2)
sleep 0.5
nsenter --net="/run/netns/$NB" "$PROBE" udp-stream 10.0.1.10 10.0.0.10 9000 500 $DURATION >"$TMP/allowed.sent" &
s1=$!
nsenter --net="/run/netns/$NB" "$PROBE" udp-stream 10.0.1.10 10.0.0.10 9001 500 $DURATION >"$TMP/denied.sent" &
s2=$!
PIDS+=($s1 $s2)
sleep 0.5
applied=0
for n in $(seq 1 10); do
	idg "$NA" node-a apply -c "$TMP/v$n.yaml" >"$TMP/apply.$n" 2>&1 && applied=$((applied + 1))
	sleep 0.3
done
wait $s1 $s2 $k1 $k2 || true
[ "$applied" -eq 10 ] && ok "10 re-applies under traffic" || not_ok "only $applied of 10 re-applies worked"
grep -q "generation 11 enforcing" "$TMP/apply.10" && ok "generation number advanced to 11" || not_ok "generation: $(cat "$TMP/apply.10")"

sent=$(tail -1 "$TMP/allowed.sent")
got=$(tail -1 "$TMP/allowed.count")
[ -n "$got" ] && [ "$got" -eq "$sent" ] && ok "allowed flow: $got of $sent datagrams arrived" \
	|| not_ok "allowed flow: $got of $sent datagrams arrived"
dgot=$(tail -1 "$TMP/denied.count")
[ "$dgot" = 0 ] && ok "denied flow: 0 of $(tail -1 "$TMP/denied.sent") datagrams passed" \
	|| not_ok "denied flow: $dgot datagrams passed"

# A config idgate refuses (a Kafka rule) changes nothing that is enforcing.
# Servers on both ports, so that "denied" cannot mean "nobody listens".
bg "$NA" "$PROBE" serve-udp 10.0.0.10 9000
bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080
expect pass "before the refused apply: allowed flow allowed" in_ns "$NB" "$PROBE" udp 10.0.1.10 10.0.0.10 9000
expect_denied "$NA" node-a policy-default-deny "before the refused apply: reporting denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
python3 - "$TMP/v0.yaml" "$TMP/bad.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read()
s = s.replace('              protocol: TCP\n', '              protocol: TCP\n          rules:\n            kafka:\n              - topic: invoices\n', 1)
open(sys.argv[2], "w").write(s)
PY
if idg "$NA" node-a apply -c "$TMP/bad.yaml" 2>"$TMP/bad.err"; then
	not_ok "a Kafka rule was accepted"
else
	grep -q "Kafka rules (rules.kafka) are not supported" "$TMP/bad.err" && ok "Kafka rule refused with a clear message" || not_ok "Kafka message: $(cat "$TMP/bad.err")"
fi
expect pass "after a refused apply: allowed flow still allowed" in_ns "$NB" "$PROBE" udp 10.0.1.10 10.0.0.10 9000
expect_denied "$NA" node-a policy-default-deny "after a refused apply: reporting still denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
idg "$NA" node-a status | grepq "generation:  11" && ok "generation unchanged by the refused apply" || not_ok "generation changed"

finish
