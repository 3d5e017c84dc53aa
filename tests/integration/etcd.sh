# SPDX-License-Identifier: GPL-2.0
# A throwaway TLS-only three-member etcd cluster on 127.0.0.1 for tests,
# sourced by test scripts (which run under set -euo pipefail). Everything
# lives under one directory the caller owns; state is in ETCD_* variables:
#   ETCD_CERTS     directory of the PEM files (set by etcd_certs)
#   ETCD_DIR       directory of data dirs and logs (etcd_cluster_start)
#   ETCD_PIDS      member pids, "" once a member was killed
#   ETCD_URLS      client URLs, one per member
#   ETCD_PEER_URLS peer URLs, one per member
#   ETCD_ENDPOINTS ETCD_URLS joined with commas, for --endpoints
#   ETCD_NETNS     set by the caller: the network namespace the members
#                  and etcdctl run in (its loopback must be up); unset: here
#   ETCD_PORTS     the six ports of the last pick (client, peer per member)
# Each run makes its own CAs and cluster token, so clusters of tests running
# in parallel cannot join, or even talk to, one another.

# Guarded so that sourcing twice keeps a running cluster's state.
[ -n "${ETCD_PIDS+x}" ] || ETCD_PIDS=()
[ -n "${ETCD_URLS+x}" ] || ETCD_URLS=()
[ -n "${ETCD_PEER_URLS+x}" ] || ETCD_PEER_URLS=()
: "${ETCD_CERTS:=}" "${ETCD_DIR:=}" "${ETCD_ENDPOINTS:=}"
ETCD_DAYS=2 # short: nothing here should outlive the test run
# Raft timings, etcd's defaults: a leader's death costs 1-2 s of election.
# Smaller values speed that up but risk spurious elections on a loaded box.
: "${ETCD_HEARTBEAT_MS:=100}" "${ETCD_ELECTION_MS:=1000}"

# ---- certificates -------------------------------------------------------

# _etcd_ca DIR NAME CN: a self-signed CA, DIR/NAME.pem and DIR/NAME-key.pem.
_etcd_ca() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$1/$2-key.pem" -out "$1/$2.pem" -days "$ETCD_DAYS" \
		-subj "/CN=$3" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" 2>/dev/null
}

# _etcd_leaf DIR CA NAME CN EKU [SAN]: DIR/NAME.pem and DIR/NAME-key.pem,
# signed by DIR/CA.pem; an empty CN gives a subject without one (O=idgate).
# `x509 -req` drops a CSR's extensions, so they go in an extension file.
_etcd_leaf() {
	local dir=$1 ca=$2 name=$3 cn=$4 eku=$5 san=${6:-}
	local ext="$dir/$name.ext" subj=/O=idgate
	[ -z "$cn" ] || subj="/CN=$cn"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=$eku"
		echo "authorityKeyIdentifier=keyid"
		[ -z "$san" ] || echo "subjectAltName=$san"
	} >"$ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$name-key.pem" -out "$dir/$name.csr" \
		-subj "$subj" 2>/dev/null &&
		openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.pem" \
			-CAkey "$dir/$ca-key.pem" -set_serial "0x$(openssl rand -hex 16)" \
			-days "$ETCD_DAYS" -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null &&
		rm -f "$dir/$name.csr" "$ext"
}

# etcd_certs DIR TRUST_DOMAIN: the CA, the members' cert (one for client
# and peer TLS, hence both EKUs), the root client (CN=root: etcdctl over
# gRPC is root by its CN), admin (no CN: for the JSON gateway, which
# refuses a client cert with a CN when client-cert-auth is on; it logs in
# as root by password) and a rogue CA's client, which claims to be root
# from a CA etcd does not trust.
etcd_certs() {
	local dir=$1 td=$2
	mkdir -p "$dir"
	ETCD_CERTS=$dir
	if ! { _etcd_ca "$dir" ca "idgate test CA" &&
		_etcd_leaf "$dir" ca server etcd-server serverAuth,clientAuth \
			"IP:127.0.0.1,DNS:localhost,URI:spiffe://$td/etcd/server" &&
		_etcd_leaf "$dir" ca root root clientAuth &&
		_etcd_leaf "$dir" ca admin "" clientAuth "URI:spiffe://$td/idgate/admin" &&
		_etcd_ca "$dir" rogue-ca "idgate rogue CA" &&
		_etcd_leaf "$dir" rogue-ca rogue root clientAuth; }; then
		echo "etcd_certs: openssl failed in $dir" >&2
		return 1
	fi
}

# etcd_node_cert DIR TRUST_DOMAIN CLUSTER NODE: DIR/node-CLUSTER-NODE.pem,
# the client identity of one idgate node: its SPIFFE ID and no CN (idgate
# talks to the JSON gateway; it logs in as user idgate-CLUSTER-NODE).
etcd_node_cert() {
	local dir=$1 td=$2 cluster=$3 node=$4
	_etcd_leaf "$dir" ca "node-$cluster-$node" "" \
		clientAuth "URI:spiffe://$td/idgate/$cluster/$node"
}

# etcd_wrong_id_cert DIR TRUST_DOMAIN NAME URI: DIR/NAME.pem, CN=NAME, from
# the real CA but with another SPIFFE ID. A URI without a scheme is taken
# as a path in TRUST_DOMAIN ("idgate/a/n2" -> spiffe://TD/idgate/a/n2).
etcd_wrong_id_cert() {
	local dir=$1 td=$2 name=$3 uri=$4
	case "$uri" in
	*://*) ;;
	*) uri="spiffe://$td/${uri#/}" ;;
	esac
	_etcd_leaf "$dir" ca "$name" "$name" clientAuth "URI:$uri"
}

# ---- cluster ------------------------------------------------------------

# _etcd_in CMD...: CMD in network namespace ETCD_NETNS when set (the
# cluster then lives on that namespace's loopback, for daemons in it),
# else here.
_etcd_in() {
	if [ -n "${ETCD_NETNS:-}" ]; then
		nsenter --net="/run/netns/$ETCD_NETNS" "$@"
	else
		"$@"
	fi
}

# _etcd_port_used PORT: true if any TCP socket (listening or connected) has
# PORT as its local port; a connected one would make our bind fail too.
_etcd_port_used() {
	[ -n "$(_etcd_in ss -tanH "sport = :$1" 2>/dev/null)" ]
}

# _etcd_pick_ports N: N distinct free ports in ETCD_PORTS. Random, so that
# tests starting at the same moment rarely pick the same ones; a collision
# that still happens is caught by etcd_cluster_start, which retries.
_etcd_pick_ports() {
	local p
	ETCD_PORTS=()
	while [ ${#ETCD_PORTS[@]} -lt "$1" ]; do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 20001))
		case " ${ETCD_PORTS[*]} " in *" $p "*) continue ;; esac
		_etcd_port_used "$p" || ETCD_PORTS+=("$p")
	done
}

# _etcd_member I TOKEN INITIAL: start member mI in the background. The
# lowest bcrypt cost: test passwords are random, and every user add and
# password login pays for the hashing (~0.1 s each at etcd's default 10).
_etcd_member() {
	local i=$1 c=$ETCD_CERTS cmd=(etcd)
	# Not through _etcd_in: a backgrounded function is a subshell, and
	# its $! would not be etcd's pid.
	[ -z "${ETCD_NETNS:-}" ] || cmd=(nsenter --net="/run/netns/$ETCD_NETNS" etcd)
	"${cmd[@]}" --name "m$i" --data-dir "$ETCD_DIR/m$i" \
		--logger zap --log-outputs stderr \
		--heartbeat-interval "$ETCD_HEARTBEAT_MS" \
		--election-timeout "$ETCD_ELECTION_MS" \
		--bcrypt-cost 4 \
		--listen-client-urls "${ETCD_URLS[$i]}" \
		--advertise-client-urls "${ETCD_URLS[$i]}" \
		--listen-peer-urls "${ETCD_PEER_URLS[$i]}" \
		--initial-advertise-peer-urls "${ETCD_PEER_URLS[$i]}" \
		--initial-cluster "$3" --initial-cluster-state new \
		--initial-cluster-token "$2" \
		--client-cert-auth --trusted-ca-file "$c/ca.pem" \
		--cert-file "$c/server.pem" --key-file "$c/server-key.pem" \
		--peer-client-cert-auth --peer-trusted-ca-file "$c/ca.pem" \
		--peer-cert-file "$c/server.pem" --peer-key-file "$c/server-key.pem" \
		>"$ETCD_DIR/m$i.log" 2>&1 &
	ETCD_PIDS[i]=$!
}

# _etcd_serving I: member I serves its peer port (or is dead: the wait
# for health reports that).
_etcd_serving() {
	for _ in $(seq 100); do
		grep -qs "now serving peer/client/metrics" "$ETCD_DIR/m$1.log" && return 0
		kill -0 "${ETCD_PIDS[$1]}" 2>/dev/null || return 0
		sleep 0.05
	done
}

# _etcd_launch: pick ports, start the three members, one at a time. A new
# member asks its peers whether the cluster was bootstrapped already; a peer
# that has bound its port but does not serve yet lets that question hang
# for a whole second (connection refused, from one not started, is quick).
_etcd_launch() {
	local i initial=() token="idgate-test-$$-$RANDOM$RANDOM"
	_etcd_pick_ports 6
	ETCD_URLS=() ETCD_PEER_URLS=() ETCD_PIDS=()
	for i in 0 1 2; do
		ETCD_URLS[i]="https://127.0.0.1:${ETCD_PORTS[$((2 * i))]}"
		ETCD_PEER_URLS[i]="https://127.0.0.1:${ETCD_PORTS[$((2 * i + 1))]}"
		initial+=("m$i=${ETCD_PEER_URLS[$i]}")
	done
	ETCD_ENDPOINTS=$(IFS=,; echo "${ETCD_URLS[*]}")
	for i in 0 1 2; do
		_etcd_member "$i" "$token" "$(IFS=,; echo "${initial[*]}")"
		_etcd_serving "$i"
	done
}

# _etcd_listening: every member's client port is open. Cheap, and etcdctl
# against a port nobody listens on would sit out its whole timeout.
_etcd_listening() {
	local u
	for u in "${ETCD_URLS[@]}"; do
		[ -n "$(_etcd_in ss -ltnH "sport = :${u##*:}" 2>/dev/null)" ] || return 1
	done
}

# _etcd_wait SECONDS: 0 once every member answers, 1 on timeout, 2 if a
# member exited (nothing to wait for then).
_etcd_wait() {
	local end=$((SECONDS + $1)) p
	while :; do
		for p in "${ETCD_PIDS[@]}"; do
			kill -0 "$p" 2>/dev/null || return 2
		done
		_etcd_listening && etcd_ctl --dial-timeout=1s --command-timeout=2s \
			endpoint health --cluster >/dev/null 2>&1 && return 0
		[ $SECONDS -lt "$end" ] || return 1
		sleep 0.2
	done
}

# _etcd_logs: the members' log tails, for a failure's diagnosis.
_etcd_logs() {
	local i
	for i in 0 1 2; do
		echo "---- $ETCD_DIR/m$i.log (${ETCD_URLS[$i]:-})" >&2
		tail -n 15 "$ETCD_DIR/m$i.log" >&2 2>/dev/null || true
	done
}

# etcd_cluster_start DIR: the cluster, with the certs of etcd_certs (in DIR
# unless etcd_certs was given another directory). A member that lost a port
# to a parallel test dies with "address already in use": then everything
# starts again on new ports.
etcd_cluster_start() {
	local try rc
	ETCD_DIR=$1
	: "${ETCD_CERTS:=$1}"
	mkdir -p "$ETCD_DIR"
	for try in 1 2 3; do
		_etcd_launch
		rc=0
		_etcd_wait 20 || rc=$?
		if [ $rc -eq 0 ]; then
			echo "etcd: 3 members up at $ETCD_ENDPOINTS"
			return 0
		fi
		if [ $rc -eq 2 ] && [ $try -lt 3 ] &&
			grep -qs "address already in use" "$ETCD_DIR"/m[012].log; then
			etcd_cluster_stop
			continue
		fi
		break
	done
	echo "etcd: cluster did not come up (attempt $try)" >&2
	_etcd_logs
	etcd_cluster_stop
	return 1
}

# etcd_ctl_as NAME ARGS...: etcdctl as the client cert DIR/NAME.pem against
# every member (it fails over between them).
etcd_ctl_as() {
	local name=$1
	shift
	ETCDCTL_API=3 _etcd_in etcdctl --endpoints="$ETCD_ENDPOINTS" \
		--cacert "$ETCD_CERTS/ca.pem" --cert "$ETCD_CERTS/$name.pem" \
		--key "$ETCD_CERTS/$name-key.pem" "$@"
}

# etcd_ctl ARGS...: etcdctl as root.
etcd_ctl() { etcd_ctl_as root "$@"; }

# _etcd_add ARGS...: etcd_ctl ARGS (a user or role add), quiet, and no
# error if the name exists already.
_etcd_add() {
	local out
	out=$(etcd_ctl "$@" 2>&1) && return 0
	grep -q "already exists" <<<"$out" && return 0
	echo "$out" >&2
	return 1
}

# etcd_rbac_node CLUSTER NODE PREFIX/clusters PASSWORD: user and role
# idgate-CLUSTER-NODE, which may write PREFIX/clusters/CLUSTER/NODE/ and
# its cluster's identity numbers, PREFIX/identities/CLUSTER/, and read all
# of PREFIX/ (docs/mesh.md). A password, because the JSON gateway does not
# take a cert's CN as the user (etcd's docs). Safe to repeat (a test may
# re-register a node); granting again is no error to etcd.
etcd_rbac_node() {
	local who="idgate-$1-$2" prefix=${3%/}
	local root=${prefix%/clusters}
	_etcd_add user add "$who" --new-user-password="$4" &&
		_etcd_add role add "$who" &&
		etcd_ctl role grant-permission "$who" --prefix=true readwrite \
			"$prefix/$1/$2/" >/dev/null &&
		etcd_ctl role grant-permission "$who" --prefix=true readwrite \
			"$root/identities/$1/" >/dev/null &&
		etcd_ctl role grant-permission "$who" --prefix=true read \
			"$root/" >/dev/null &&
		etcd_ctl user grant-role "$who" "$who" >/dev/null
}

# etcd_auth_enable ROOT_PASSWORD: auth on; root is the cert CN "root" for
# etcdctl and ROOT_PASSWORD over the gateway. etcd refuses to enable auth
# without a root user holding the root role.
etcd_auth_enable() {
	_etcd_add user add root --new-user-password="$1" &&
		etcd_ctl user grant-role root root >/dev/null &&
		etcd_ctl auth enable >/dev/null
}

# _etcd_reap PID: SIGKILL PID and wait until it is gone. `wait` reaps our
# own children; a pid that is not one (a caller in a subshell) is polled.
_etcd_reap() {
	kill -KILL "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null || true # its status is 137 by now
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 0
}

# etcd_member_kill I: SIGKILL member I, as a crash would.
etcd_member_kill() {
	[ -n "${ETCD_PIDS[$1]:-}" ] || return 0
	_etcd_reap "${ETCD_PIDS[$1]}"
	ETCD_PIDS[$1]=""
}

# etcd_cluster_stop: every member gone, data dirs removed (logs stay for the
# caller's post-mortem until it removes DIR). Idempotent, and a no-op when
# nothing was started: EXIT traps call it on every path.
etcd_cluster_stop() {
	local p
	for p in "${ETCD_PIDS[@]}"; do
		[ -z "$p" ] || _etcd_reap "$p"
	done
	ETCD_PIDS=()
	[ -z "$ETCD_DIR" ] || rm -rf "$ETCD_DIR/m0" "$ETCD_DIR/m1" "$ETCD_DIR/m2"
	return 0
}
