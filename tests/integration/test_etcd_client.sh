#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# loader/kvstore's etcd client (test_etcd_client.c) against a real
# three-member etcd on loopback: TLS everywhere, client certificates with
# SPIFFE IDs, RBAC with one user and role per node (the JSON gateway does
# not take a certificate's CN as the user, so nodes log in by password).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/etcd.sh
. "$HERE/etcd.sh"

: "${ETCD_CLIENT_TEST:?path of the test_etcd_client binary}"
: "${IDGATE:?path of the idgate binary}" "${CONFIG:?configs/billing-api.yaml}"
TD=idgate.test
PREFIX=/idgate/v1/clusters
WORK=$(mktemp -d /tmp/idgate-etcd-client.XXXXXX)
cleanup() {
	etcd_cluster_stop
	rm -rf "$WORK"
}
trap cleanup EXIT

etcd_certs "$WORK" "$TD"
etcd_node_cert "$WORK" "$TD" a n1
etcd_node_cert "$WORK" "$TD" b n1
# billing-api.yaml's node-a (cluster-a), for idgate kvstore check.
etcd_node_cert "$WORK" "$TD" cluster-a node-a
etcd_node_cert "$WORK" "$TD" cluster-a node-b
etcd_cluster_start "$WORK"
PW_A=$(openssl rand -hex 16) PW_B=$(openssl rand -hex 16) PW_ROOT=$(openssl rand -hex 16)
etcd_rbac_node a n1 "$PREFIX" "$PW_A"
etcd_rbac_node b n1 "$PREFIX" "$PW_B"
PW_NA=$(openssl rand -hex 16)
etcd_rbac_node cluster-a node-a "$PREFIX" "$PW_NA"
echo "$PW_NA" >"$WORK/pw-node-a"
# A user whose role reaches past its own node: kvstore check must say so.
etcd_rbac_node cluster-a node-b "$PREFIX" "$PW_NA"
etcd_ctl role grant-permission idgate-cluster-a-node-b --prefix=true readwrite "$PREFIX/cluster-a/" >/dev/null
etcd_auth_enable "$PW_ROOT"

export IDG_ETCD_ENDPOINTS=$ETCD_ENDPOINTS
export IDG_ETCD_CA=$WORK/ca.pem
export IDG_ETCD_SERVER_ID=spiffe://$TD/etcd/server
export IDG_ETCD_MEMBER0_PID=${ETCD_PIDS[0]}
export IDG_ETCD_A_CERT=$WORK/node-a-n1.pem IDG_ETCD_A_KEY=$WORK/node-a-n1-key.pem
export IDG_ETCD_A_USER=idgate-a-n1 IDG_ETCD_A_PASSWORD=$PW_A
export IDG_ETCD_A_ID=spiffe://$TD/idgate/a/n1 IDG_ETCD_A_OWN=$PREFIX/a/n1/
export IDG_ETCD_B_CERT=$WORK/node-b-n1.pem IDG_ETCD_B_KEY=$WORK/node-b-n1-key.pem
export IDG_ETCD_B_USER=idgate-b-n1 IDG_ETCD_B_PASSWORD=$PW_B
export IDG_ETCD_B_OWN=$PREFIX/b/n1/
export IDG_ETCD_ROOT_CERT=$WORK/admin.pem IDG_ETCD_ROOT_KEY=$WORK/admin-key.pem
export IDG_ETCD_ROOT_USER=root IDG_ETCD_ROOT_PASSWORD=$PW_ROOT IDG_ETCD_ROOT_OWN=/
export IDG_ETCD_ROGUE_CERT=$WORK/rogue.pem IDG_ETCD_ROGUE_KEY=$WORK/rogue-key.pem

"$ETCD_CLIENT_TEST"

# ---- idgate kvstore check (member 0 is dead by now: the CLI fails over) --
fail() { echo "FAIL: $*" >&2; exit 1; }
kvcheck() { # kvcheck NODE CERT-NODE [ARGS...]: output in $OUT, status in $RC
	local node=$1 cn=$2
	shift 2
	RC=0
	OUT=$("$IDGATE" kvstore check -c "$CONFIG" --node "$node" \
		--kvstore-endpoints "$ETCD_ENDPOINTS" --kvstore-ca "$WORK/ca.pem" \
		--kvstore-cert "$WORK/node-cluster-a-$cn.pem" \
		--kvstore-key "$WORK/node-cluster-a-$cn-key.pem" \
		--kvstore-server-id "$IDG_ETCD_SERVER_ID" \
		--kvstore-user "idgate-cluster-a-$node" \
		--kvstore-password-file "$WORK/pw-node-a" "$@" 2>&1) || RC=$?
	echo "$OUT"
}
has() { grep -qF -- "$1" <<<"$OUT" || fail "expected '$1' in: $OUT"; }

kvcheck node-a node-a
[ "$RC" = 0 ] || fail "kvstore check of a well set-up node: exit $RC"
has "ok    the certificate $WORK/node-cluster-a-node-a.pem names spiffe://$TD/idgate/cluster-a/node-a"
has "ok    write under its own prefix /idgate/v1/clusters/cluster-a/node-a/"
has "ok    another node's keys are refused to this node"
has "ok    would publish "
has " bytes of endpoints at /idgate/v1/clusters/cluster-a/node-a/endpoints"
has "kvstore check: ok"

# Another node's certificate.
kvcheck node-a node-b
[ "$RC" = 1 ] || fail "kvstore check with node-b's certificate: exit $RC"
has "FAIL  the certificate $WORK/node-cluster-a-node-b.pem names spiffe://$TD/idgate/cluster-a/node-b, expected spiffe://$TD/idgate/cluster-a/node-a"

# A role that reaches another node's keys.
kvcheck node-b node-b
[ "$RC" = 1 ] || fail "kvstore check of an over-privileged node: exit $RC"
has "FAIL  this node could write /idgate/v1/clusters/cluster-a/~kvstore-check/x"

# Members that are not the server it was told of.
kvcheck node-a node-a --kvstore-server-id "spiffe://$TD/etcd/other"
[ "$RC" = 1 ] || fail "kvstore check against the wrong server ID: exit $RC"
has "the server's certificate is not spiffe://$TD/etcd/other (it names spiffe://$TD/etcd/server)"

# What other nodes publish, as this node would judge it: node-b's own
# endpoint, and a node the local config does not know.
ep_doc() { # ep_doc NAME NODE IP
	printf 'apiVersion: idgate.io/v1\nkind: Endpoint\nmetadata: {name: "%s", namespace: "production", labels: {"app": "%s"}}\nspec: {node: "%s", ips: ["%s"]}\n' "$1" "$1" "$2" "$3"
}
etcd_ctl put "$PREFIX/cluster-a/node-b/endpoints" "$(ep_doc frontend node-b 10.0.1.10)" >/dev/null
etcd_ctl put "$PREFIX/cluster-a/node-x/endpoints" "$(ep_doc intruder node-x 10.0.1.99)" >/dev/null
kvcheck node-a node-a
[ "$RC" = 1 ] || fail "kvstore check with a bad remote document: exit $RC"
has "2 nodes publishing endpoints"
has "ok    cluster-a/node-b's endpoints would be taken"
has "FAIL  cluster-a/node-x's endpoints would be refused by this node:"
has "kvstore:cluster-a/node-x:1:1: node node-x is not a node of the local config"

# Usage errors.
RC=0
"$IDGATE" kvstore check -c "$CONFIG" --node node-a >/dev/null 2>&1 || RC=$?
[ "$RC" = 2 ] || fail "kvstore check without the store's options: exit $RC"
echo "PASS: test_etcd_client"
