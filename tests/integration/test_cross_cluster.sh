#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Two clusters in one mesh file. cluster-b's endpoints get cluster-b
# identities (cluster id in the high bits), even where their IPs overlap
# cluster-a's; a policy reaches into cluster-b only through the label
# io.cilium.k8s.policy.cluster, as in Cilium.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_a.sh"
ip -n "$NB" addr add 10.0.2.20/16 dev eth0

mesh() { # mesh WITH_CLUSTER_LABEL
	cat "$CONFIG"
	cat <<YAML
---
apiVersion: idgate.io/v1
kind: Node
metadata:
  name: node-c
spec:
  cluster: cluster-b
  clusterID: 2
  tunnelIP: 192.168.60.1
  interfaces:
    uplink: eth0
---
apiVersion: idgate.io/v1
kind: Endpoint
metadata:
  name: auditor
  namespace: production
  labels:
    app: auditor
spec:
  node: node-c
  ips: [10.0.2.20]
---
# Same address as cluster-a's frontend: distinct identity, same IP.
apiVersion: idgate.io/v1
kind: Endpoint
metadata:
  name: frontend
  namespace: production
  labels:
    app: frontend
spec:
  node: node-c
  ips: [10.0.1.10]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: auditor-in
  namespace: production
spec:
  endpointSelector:
    matchLabels:
      app: billing-api
  ingress:
    - fromEndpoints:
        - matchLabels:
            app: auditor
YAML
	if [ "$1" = yes ]; then
		echo "            io.cilium.k8s.policy.cluster: cluster-b"
	fi
	cat <<YAML
      toPorts:
        - ports:
            - port: "8080"
              protocol: TCP
YAML
}
mesh yes >"$TMP/with.yaml"
mesh no >"$TMP/without.yaml"

bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080
register_instance "$NA" node-a
idg "$NA" node-a apply -c "$TMP/with.yaml" >/dev/null 2>"$TMP/apply.err" && ok "apply two-cluster mesh" || not_ok "apply: $(cat "$TMP/apply.err")"
grep -q "tunnel" "$TMP/apply.err" && ok "overlapping cluster-b address reported" || not_ok "no warning about the overlap"

ids=$(idg "$NA" node-a identity list -o json)
python3 - "$ids" <<'PY' && ok "frontend has one identity per cluster, cluster id in the high bits" || not_ok "identities: $ids"
import json, sys
ids = json.loads(sys.argv[1])
fe = {i["labels"]["io.cilium.k8s.policy.cluster"]: i["id"] for i in ids
      if i["labels"].get("app") == "frontend"}
assert set(fe) == {"cluster-a", "cluster-b"}, fe
assert fe["cluster-a"] >> 16 == 1 and fe["cluster-b"] >> 16 == 2, fe
PY

expect pass "cluster-b auditor -> billing-api:8080 allowed (cluster label)" in_ns "$NB" "$PROBE" tcp 10.0.2.20 10.0.0.10 8080
expect pass "10.0.1.10 is cluster-a's frontend here: allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
expect_denied "$NA" node-a policy-default-deny "reporting still denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
idg "$NA" node-a policy get billing-api | grepq "io.cilium.k8s.policy.cluster=cluster-b" \
	&& ok "policy get names the cluster-b peer" || not_ok "policy get: no cluster-b peer"

# Without the cluster label the selector stays in the local cluster.
idg "$NA" node-a apply -c "$TMP/without.yaml" >/dev/null 2>&1 && ok "re-apply without the cluster label" || not_ok "re-apply"
expect_denied "$NA" node-a policy-default-deny "cluster-b auditor denied without the cluster label" in_ns "$NB" "$PROBE" tcp 10.0.2.20 10.0.0.10 8080
expect pass "cluster-a frontend still allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080

finish
