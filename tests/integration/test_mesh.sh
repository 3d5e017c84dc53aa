#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# idgate run in the cluster mesh (docs/mesh.md), scenario A with real
# traffic: node-a's config directory lacks frontend (an endpoint of
# node-b), so frontend's traffic is the world's and denied; node-b
# publishing frontend in the store (a three-member etcd with TLS and
# RBAC) lets it through, withdrawing it denies it again, and a document
# node-b may not publish (another node's address) is refused and changes
# nothing. node-a's own endpoints appear in the store under its lease.
# Frozen, the store stops answering: after the remote TTL node-b's
# endpoint expires and frontend is denied again; healed, it comes back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_a.sh"
trap 'rc=$?; etcd_cluster_stop; (exit $rc); cleanup' EXIT

TD=idgate.test
PREFIX=/idgate/v1/clusters
# The store on node-a's loopback: its daemon runs in that namespace.
ETCD_NETNS=$NA
etcd_certs "$TMP/etcd" "$TD"
etcd_node_cert "$TMP/etcd" "$TD" cluster-a node-a
etcd_node_cert "$TMP/etcd" "$TD" cluster-a node-b
etcd_cluster_start "$TMP/etcd"
PW_A=$(openssl rand -hex 16) PW_B=$(openssl rand -hex 16)
etcd_rbac_node cluster-a node-a "$PREFIX" "$PW_A"
etcd_rbac_node cluster-a node-b "$PREFIX" "$PW_B"
etcd_auth_enable "$(openssl rand -hex 16)"
echo "$PW_A" >"$TMP/pw-a"

# node-b's writes, as node-b (its certificate, its user).
as_b() {
	ETCDCTL_API=3 _etcd_in etcdctl --endpoints="$ETCD_ENDPOINTS" \
		--cacert "$TMP/etcd/ca.pem" --cert "$TMP/etcd/node-cluster-a-node-b.pem" \
		--key "$TMP/etcd/node-cluster-a-node-b-key.pem" \
		--user "idgate-cluster-a-node-b:$PW_B" "$@" >/dev/null
}
ep_doc() { # ep_doc NAME APP IP
	printf 'apiVersion: idgate.io/v1\nkind: Endpoint\nmetadata: {name: "%s", namespace: "production", labels: {"app": "%s"}}\nspec: {node: "node-b", ips: ["%s"]}\n' "$1" "$2" "$3"
}

DIR=$TMP/idgate.d
mkdir "$DIR"
python3 - "$CONFIG" "$DIR/00-scenario.yaml" <<'PY'
import sys
docs = open(sys.argv[1]).read().split("\n---\n")
keep = [d for d in docs if not ("kind: Endpoint" in d and "name: frontend" in d)]
assert len(keep) == len(docs) - 1, "frontend's Endpoint not found"
open(sys.argv[2], "w").write("\n---\n".join(keep))
PY

# Identity numbers through the store: billing-api's hash number is
# already another label set's (node-b may write its cluster's numbers).
IDS=/idgate/v1/identities/cluster-a
BILLING='app=billing-api,io.cilium.k8s.policy.cluster=cluster-a,io.kubernetes.pod.namespace=production,tier=backend'
FRONTEND='app=frontend,io.cilium.k8s.policy.cluster=cluster-a,io.kubernetes.pod.namespace=production'
H=$(python3 -c 'import sys
h = 2166136261
for b in sys.argv[1].encode():
    h = ((h ^ b) * 16777619) & 0xffffffff
print(256 + h % 65280)' "$BILLING")
NEXT=$((H == 65535 ? 256 : H + 1))
as_b put "$IDS/$H" 'app=squatter,io.cilium.k8s.policy.cluster=cluster-a,io.kubernetes.pod.namespace=production'
id_of() { # id_of APP: node-a's identity of that app label (empty: none)
	idg "$NA" node-a identity list -o json | python3 -c 'import json, sys
print(next((i["id"] for i in json.load(sys.stdin) if i["labels"].get("app") == sys.argv[1]), ""))' "$1"
}
store_id() { etcd_ctl get --print-value-only "$IDS/$1"; }

# node-b's certificate does not make a node-a: refused before anything.
rc=0
idg "$NA" node-a run -c "$DIR" --metrics-address off \
	--kvstore-endpoints "$ETCD_ENDPOINTS" --kvstore-ca "$TMP/etcd/ca.pem" \
	--kvstore-cert "$TMP/etcd/node-cluster-a-node-b.pem" \
	--kvstore-key "$TMP/etcd/node-cluster-a-node-b-key.pem" \
	--kvstore-server-id "spiffe://$TD/etcd/server" \
	--kvstore-user idgate-cluster-a-node-a --kvstore-password-file "$TMP/pw-a" >"$TMP/wrong.log" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "names spiffe://$TD/idgate/cluster-a/node-b, not spiffe://$TD/idgate/cluster-a/node-a: not joining the mesh" "$TMP/wrong.log" \
	&& ok "another node's certificate: refused" || not_ok "another node's certificate: exit $rc: $(cat "$TMP/wrong.log")"

# 8080 keeps a connection open (serve-whoami), for a flow established
# across the partition.
bg "$NA" "$PROBE" serve-whoami 10.0.0.10 8080
bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8081
LOG=$TMP/run.log
REMOTE_TTL=3
register_instance "$NA" node-a
# Metrics on node-a's own loopback.
idg_bg "$NA" node-a run -c "$DIR" --metrics-address 127.0.0.1:9464 \
	--kvstore-endpoints "$ETCD_ENDPOINTS" --kvstore-ca "$TMP/etcd/ca.pem" \
	--kvstore-cert "$TMP/etcd/node-cluster-a-node-a.pem" \
	--kvstore-key "$TMP/etcd/node-cluster-a-node-a-key.pem" \
	--kvstore-server-id "spiffe://$TD/etcd/server" \
	--kvstore-user idgate-cluster-a-node-a --kvstore-password-file "$TMP/pw-a" \
	--kvstore-remote-ttl "$REMOTE_TTL" >"$LOG" 2>&1
RUN_PID=$BG_PID

frontend() { in_ns "$NB" "$PROBE" whoami 10.0.1.10 10.0.0.10 8080; }
reloads() { grep -c "reloaded: .*(mesh changed)" "$LOG" || true; }

if waitfor 10 grep -q "idgate run: ready" "$LOG"; then ok "daemon started"; else not_ok "daemon did not start: $(cat "$LOG")"; fi
if waitfor 10 grep -q "idgate run: mesh: connected to https://127.0.0.1" "$LOG"; then ok "mesh: connected to the store"; else not_ok "mesh: not connected: $(tail -5 "$LOG")"; fi
own() { etcd_ctl get --print-value-only "$PREFIX/cluster-a/node-a/endpoints"; }
if waitfor 10 eval 'own | grepq "\"billing-api\""'; then ok "node-a's endpoints published"; else not_ok "node-a's endpoints not in the store: $(own)"; fi
etcd_ctl get -w json "$PREFIX/cluster-a/node-a/endpoints" | grepq '"lease":[1-9]' \
	&& ok "published under a lease" || not_ok "no lease on node-a's key"
expect fail "frontend unknown: frontend -> billing-api:8080 denied" frontend
if waitfor 10 eval '[ "$(store_id "$NEXT")" = "$BILLING" ]'; then
	ok "billing-api's number allocated in the store, past the one another label set holds ($NEXT, not $H)"
else
	not_ok "billing-api's number: $(etcd_ctl get --prefix "$IDS/" | paste -sd' ')"
fi
[ "$(store_id "$H")" = "app=squatter,io.cilium.k8s.policy.cluster=cluster-a,io.kubernetes.pod.namespace=production" ] &&
	ok "the number held before keeps its label set" || not_ok "number $H: $(store_id "$H")"
grepq "mesh: number $NEXT of cluster cluster-a allocated to {$BILLING}" "$LOG" &&
	ok "allocation logged" || not_ok "allocation: $(grep 'mesh: number' "$LOG")"
waitfor 10 eval '[ "$(id_of billing-api)" = $(((1 << 16) | NEXT)) ]' &&
	ok "node-a enforces billing-api as the store's number $(((1 << 16) | NEXT))" ||
	not_ok "billing-api is $(id_of billing-api) on node-a, not $(((1 << 16) | NEXT))"
expect pass "batch-processor (local config) -> billing-api:8080 allowed under the store's numbers" in_ns "$NB" "$PROBE" whoami 10.0.1.11 10.0.0.10 8080

# node-b publishes frontend: node-a takes it and lets it through.
n=$(reloads)
t0=${EPOCHREALTIME/[.,]/}
as_b put "$PREFIX/cluster-a/node-b/endpoints" "$(ep_doc frontend frontend 10.0.1.10)"
allowed_after() { frontend >/dev/null 2>&1; }
if waitfor 10 allowed_after; then
	ok "frontend published: allowed after $(((${EPOCHREALTIME/[.,]/} - t0) / 1000)) ms"
else
	not_ok "frontend published: still denied: $(tail -5 "$LOG")"
fi
[ "$(reloads)" -gt "$n" ] && ok "reloaded for the mesh's change" || not_ok "no mesh reload: $(tail -3 "$LOG")"
ls "$TMP/state-node-a/mesh/" | grepq "^kvstore:cluster-a:node-b.yaml$" \
	&& ok "node-b's document kept in the state dir" || not_ok "mesh dir: $(ls "$TMP/state-node-a/mesh/")"
idg "$NA" node-a identity list | grepq "app=frontend" && ok "identity list has frontend" || not_ok "identity list lacks frontend"
expect_denied "$NA" node-a policy-default-deny "frontend -> billing-api:8081 still denied" frontend_8081
# frontend's number from the store (node-b's, were it running idgate):
# node-a takes it, and still lets frontend through by its labels.
as_b put "$IDS/40000" "$FRONTEND"
waitfor 10 eval '[ "$(id_of frontend)" = $(((1 << 16) | 40000)) ]' &&
	ok "frontend's number from the store taken ($(((1 << 16) | 40000)))" ||
	not_ok "frontend is $(id_of frontend) on node-a"
expect pass "frontend -> billing-api:8080 allowed under its store number" frontend
idg "$NA" node-a status >"$TMP/status" 2>&1
grep -q "^mesh:        store https://127.0.0.1:[0-9]* answers ([0-9.]* s ago), revision [1-9]" "$TMP/status" \
	&& ok "status: the store answers" || not_ok "status: $(grep -A2 mesh: "$TMP/status")"
grep -q "^             cluster-a: 1 node, 1 endpoint$" "$TMP/status" \
	&& ok "status: node-b's endpoint counted" || not_ok "status: $(grep -A2 mesh: "$TMP/status")"
metric() { in_ns "$NA" curl -s http://127.0.0.1:9464/metrics | grep "^$1 "; }
metric idgate_kvstore_connected | grepq " 1$" && ok "metrics: connected" || not_ok "metrics: $(metric idgate_kvstore_connected)"

# Withdrawn: denied again.
as_b del "$PREFIX/cluster-a/node-b/endpoints"
denied_after() { ! frontend >/dev/null 2>&1; }
waitfor 10 denied_after && ok "frontend withdrawn: denied again" || not_ok "frontend withdrawn: still allowed"

# A document node-b may not publish: billing-api's address. Refused,
# nothing changes; then a good one is taken again.
as_b put "$PREFIX/cluster-a/node-b/endpoints" "$(ep_doc frontend frontend 10.0.0.10)"
if waitfor 10 grep -q "mesh: cluster-a/node-b's endpoints refused" "$LOG"; then ok "bad document refused"; else not_ok "bad document: $(tail -5 "$LOG")"; fi
grep -q "kvstore:cluster-a/node-b:[0-9]*:[0-9]*: .*address 10.0.0.10/32 is node node-a's" "$LOG" \
	&& ok "refusal says why, with its position" || not_ok "refusal: $(grep -A2 refused "$LOG" | tail -3)"
expect fail "bad document: frontend still denied" frontend
expect pass "bad document: node-a's own traffic unaffected" in_ns "$NB" "$PROBE" whoami 10.0.1.11 10.0.0.10 8080
as_b put "$PREFIX/cluster-a/node-b/endpoints" "$(ep_doc frontend frontend 10.0.1.10)"
waitfor 10 allowed_after && ok "good document again: allowed" || not_ok "good document again: denied"

idg "$NA" node-a status 2>&1 | grepq "^             cluster-a: 1 node, 1 endpoint$" \
	&& ok "status: refusal cleared" || not_ok "status after the good document"

# node-b's writes stay node-b's: it cannot publish for node-a.
if as_b put "$PREFIX/cluster-a/node-a/endpoints" "$(ep_doc x x 10.0.1.99)" 2>/dev/null; then
	not_ok "node-b wrote node-a's key"
else
	ok "node-b cannot write node-a's key"
fi

# The member node-a talks to killed: nothing changes (the other two keep
# quorum; node-a's watch goes on from another, losing no event).
cur=$(idg "$NA" node-a status 2>&1 | sed -n 's/^mesh: *store \(https:[^ ]*\) answers.*/\1/p')
victim=
for i in "${!ETCD_URLS[@]}"; do [ "${ETCD_URLS[$i]}" = "$cur" ] && victim=$i; done
[ -n "$victim" ] && ok "node-a talks to member $victim ($cur)" || not_ok "node-a's member: '$cur' (status: $(idg "$NA" node-a status 2>&1 | grep mesh:))"
etcd_member_kill "${victim:-0}"
expect pass "member killed: frontend still allowed" frontend
as_b del "$PREFIX/cluster-a/node-b/endpoints"
waitfor 10 denied_after && ok "member killed: a withdrawal still reaches node-a" || not_ok "member killed: frontend still allowed after its withdrawal"
as_b put "$PREFIX/cluster-a/node-b/endpoints" "$(ep_doc frontend frontend 10.0.1.10)"
waitfor 10 allowed_after && ok "member killed: a publication still reaches node-a" || not_ok "member killed: frontend still denied"
grepq "mesh expired" "$LOG" && not_ok "member killed: the mesh expired" || ok "member killed: nothing expired"

# Partition: every member frozen (SIGSTOP: connections hang, as when the
# store is cut off). Within the remote TTL + 2 s node-b's endpoint
# expires: frontend is denied, node-a's local flows go on; then healed.
ms_since() { echo $(((${EPOCHREALTIME/[.,]/} - $1) / 1000)); }
# A connection from frontend established before the partition, idle
# through it: its next packets come after the expiry.
idle_conn "$NB" 10.0.1.10 10.0.0.10 8080 "partition: a connection from frontend"
exp0=$(verdict_count "$NA" node-a remote-identity-expired)
for p in "${ETCD_PIDS[@]}"; do [ -z "$p" ] || kill -STOP "$p"; done
t0=${EPOCHREALTIME/[.,]/}
# The time to the reload that drops node-b's endpoint, from the log (a
# probe of a denied flow waits out its own timeout).
expired() { grep -q "reloaded: generation [0-9]* enforcing (mesh expired)" "$LOG"; }
if waitfor 15 expired; then
	d=$(ms_since "$t0")
	[ "$d" -le $(((REMOTE_TTL + 2) * 1000)) ] && ok "partition: node-b's endpoint expired after $d ms (remote TTL ${REMOTE_TTL} s)" \
		|| not_ok "partition: expired only after $d ms (remote TTL ${REMOTE_TTL} s + 2 s)"
else
	not_ok "partition: no expiry: $(tail -3 "$LOG")"
fi
grep -q "mesh: the store has not answered for [0-9.]* s (more than $REMOTE_TTL s): the other nodes' endpoints expire" "$LOG" \
	&& ok "partition: expiry logged" || not_ok "partition: $(grep mesh: "$LOG" | tail -2)"
touch "$GO"
wait $IDLE && not_ok "partition: the established connection still works" ||
	ok "partition: the established connection is cut"
exp1=$(verdict_count "$NA" node-a remote-identity-expired)
[ "$exp1" -gt "$exp0" ] && ok "partition: its packets dropped as remote-identity-expired ($((exp1 - exp0)))" ||
	not_ok "partition: no remote-identity-expired drop for the established connection ($exp0 -> $exp1)"
expect_denied "$NA" node-a remote-identity-expired "partition: frontend -> billing-api:8080 denied" frontend
expect pass "partition: batch-processor (local config) -> billing-api:8080 still allowed" in_ns "$NB" "$PROBE" whoami 10.0.1.11 10.0.0.10 8080
idg "$NA" node-a status 2>&1 | grepq "^mesh:        store silent for .*: the other nodes' endpoints expired after $REMOTE_TTL s, their traffic is denied" \
	&& ok "status: expired" || not_ok "status: $(idg "$NA" node-a status 2>&1 | grep -A1 mesh:)"
awk '$1 == "idgate_kvstore_data_age_seconds" { exit !($2 > '"$REMOTE_TTL"') }' <(in_ns "$NA" curl -s http://127.0.0.1:9464/metrics) \
	&& ok "metrics: the data's age past the TTL" || not_ok "metrics: $(metric idgate_kvstore_data_age_seconds)"
for p in "${ETCD_PIDS[@]}"; do [ -z "$p" ] || kill -CONT "$p"; done
t0=${EPOCHREALTIME/[.,]/}
if waitfor 30 allowed_after; then ok "healed: frontend allowed again after $(ms_since "$t0") ms"; else not_ok "healed: frontend still denied: $(tail -3 "$LOG")"; fi
grep -q "mesh: the store answers again" "$LOG" && ok "healed: logged" || not_ok "healed: $(grep mesh: "$LOG" | tail -2)"

# A clean stop, with the mesh thread joined (under ASan: nothing leaked).
kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" = 0 ] && ok "daemon stopped cleanly" || not_ok "daemon exit status $rc"
grep -E "Sanitizer|runtime error" "$LOG" >&2 && not_ok "sanitizer reports in the daemon's log" || ok "no sanitizer reports"
[ -z "${MESH_SHOW_LOG:-}" ] || cat "$LOG" >&2
finish
