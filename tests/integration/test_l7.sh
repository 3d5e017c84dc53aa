#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Scenario A with the article's L7 rules on billing-api:8080, real HTTP
# clients and a real server. With `idgate apply` alone no proxy runs: the
# L7 port refuses new connections (fail closed) while the other ports keep
# their L3/L4 verdicts.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
CLIENT=$(dirname "$0")/l7client.py

. "$(dirname "$0")/topo_a.sh"

# The article's policy: frontend GET /api/v1/users/.*, batch-processor
# POST /api/internal/process-batch, both on TCP 8080.
python3 - "$CONFIG" "$TMP/l7.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read()
old = """    - fromEndpoints:
        - matchLabels:
            app: frontend
        - matchLabels:
            app: batch-processor
      toPorts:
        - ports:
            - port: "8080"
              protocol: TCP
"""
new = """    - fromEndpoints:
        - matchLabels:
            app: frontend
      toPorts:
        - ports:
            - port: "8080"
              protocol: TCP
          rules:
            http:
              - method: "GET"
                path: "/api/v1/users/.*"
    - fromEndpoints:
        - matchLabels:
            app: batch-processor
      toPorts:
        - ports:
            - port: "8080"
              protocol: TCP
          rules:
            http:
              - method: "POST"
                path: "/api/internal/process-batch"
"""
assert old in s, "the billing-api rule changed shape"
open(sys.argv[2], "w").write(s.replace(old, new, 1))
PY

nsenter --net="/run/netns/$NA" python3 "$CLIENT" serve 10.0.0.10 8080 &
PIDS+=($!)
bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8081

expect pass "check accepts the article's L7 policy" idg "$NA" node-a check -c "$TMP/l7.yaml"
# Egress L7 rules: refused, never enforced on their ports alone.
cp "$TMP/l7.yaml" "$TMP/egress.yaml"
cat >>"$TMP/egress.yaml" <<'YAML'
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: out, namespace: production}
spec:
  endpointSelector: {matchLabels: {app: billing-api}}
  egress:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET}]}
YAML
if idg "$NA" node-a check -c "$TMP/egress.yaml" 2>"$TMP/egress.err"; then
	not_ok "an egress L7 rule was accepted"
else
	grep -q "egress.yaml:.*L7 rules on egress are not enforced yet" "$TMP/egress.err" \
		&& ok "egress L7 rule refused, with its position" || not_ok "egress L7: $(cat "$TMP/egress.err")"
fi
register_instance "$NA" node-a
if idg "$NA" node-a apply -c "$TMP/l7.yaml" 2>"$TMP/apply.err"; then ok "apply"; else not_ok "apply: $(cat "$TMP/apply.err")"; fi

# No proxy: the L7 port refuses; the L3/L4 verdicts stand.
expect_denied "$NA" node-a l7-proxy-unavailable "no proxy: frontend -> billing-api:8080 refused" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "reporting -> billing-api:8080 dropped by L3/L4 policy" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "frontend -> billing-api:8081 denied" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8081

finish
