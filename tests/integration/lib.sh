# SPDX-License-Identifier: GPL-2.0
# Shared by the netns integration tests: unique names per run, cleanup on
# every exit path, idgate run inside a namespace with nsenter (host /sys, so
# pins are visible across commands).
set -euo pipefail

IDGATE=${IDGATE:?set IDGATE to the idgate binary}
PROBE=${PROBE:-$(dirname "$0")/probe.py}
RUN_ID="$$-$RANDOM"
TMP=$(mktemp -d /tmp/idgate-it.XXXXXX)
PIN_ROOT=/sys/fs/bpf/idgate-test-$RUN_ID
NAMESPACES=()
INSTANCES=()   # "ns node" pairs to unload
PIDS=()
MOUNTS=()      # mount points a test made, unmounted before TMP goes
FAILS=0
PASSES=0

cleanup() {
	local rc=$?
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for i in "${INSTANCES[@]}"; do
		# shellcheck disable=SC2086
		set -- $i
		nsenter --net="/run/netns/$1" "$IDGATE" unload --node "$2" \
			--pin-dir "$PIN_ROOT/$2" --state-dir "$TMP/state-$2" >/dev/null 2>&1
	done
	for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
	rm -rf "$PIN_ROOT" "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkns() { # mkns VAR SHORTNAME
	local ns="idg-$2-$RUN_ID"
	ip netns add "$ns"
	NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
	printf -v "$1" '%s' "$ns"
}

in_ns() { # in_ns NS CMD...
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# idg NS NODE SUBCOMMAND [ARGS...]: idgate as the instance NODE inside NS.
idg() {
	local ns=$1 node=$2
	shift 2
	local sub=$1
	shift
	case "$sub" in
	identity | policy) local sub2=$1; shift; set -- "$sub" "$sub2" "$@" ;;
	*) set -- "$sub" "$@" ;;
	esac
	in_ns "$ns" "$IDGATE" "$@" --node "$node" --pin-dir "$PIN_ROOT/$node" \
		--state-dir "$TMP/state-$node"
}

register_instance() { INSTANCES+=("$1 $2"); }

# idg_bg NS NODE SUBCOMMAND...: idgate in the background; sets BG_PID.
idg_bg() {
	local ns=$1 node=$2
	shift 2
	nsenter --net="/run/netns/$ns" "$IDGATE" "$@" --node "$node" \
		--pin-dir "$PIN_ROOT/$node" --state-dir "$TMP/state-$node" &
	BG_PID=$!
	PIDS+=($BG_PID)
}

# bg NS CMD...: start a background process in NS, wait until it says ready.
# nsenter execs the command, so $! is the process itself and the cleanup's
# kill reaches it (a backgrounded shell function would only be a subshell).
bg() {
	local ns=$1
	shift
	local out="$TMP/bg.$RANDOM"
	nsenter --net="/run/netns/$ns" "$@" >"$out" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do
		grep -q ready "$out" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "background command did not start: $*" >&2
	cat "$out" >&2
	return 1
}

# grepq ARGS...: grep -q for the end of a pipeline. grep -q exits at the
# first match, and a writer still writing then dies of SIGPIPE, which
# pipefail turns into a failed test; this one reads everything.
grepq() { grep "$@" >/dev/null; }

ok() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
not_ok() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }

expect() { # expect pass|fail DESCRIPTION CMD...
	local want=$1 what=$2
	shift 2
	if "$@" >/dev/null 2>&1; then got=pass; else got=fail; fi
	if [ "$got" = "$want" ]; then ok "$what"; else not_ok "$what (wanted $want, got $got)"; fi
}

# Packets a node's instance counted with a verdict reason (its name, as
# `idgate status` shows it).
# idle_conn NS SRC DST PORT WHAT: a TCP connection from SRC to DST:PORT
# (serve-whoami there) established, then idle until $GO exists
# ($TMP/go); $IDLE is its probe, which exits 0 when the connection still
# works then. WHAT names it in the result.
idle_conn() {
	GO=$TMP/go
	nsenter --net="/run/netns/$1" "$PROBE" tcp-idle "$2" "$3" "$4" "$GO" >"$TMP/idle.out" 2>&1 &
	IDLE=$!
	PIDS+=($IDLE)
	waitfor 5 grep -q held "$TMP/idle.out" && ok "$5 is established" ||
		not_ok "$5: $(cat "$TMP/idle.out")"
}

verdict_count() { # verdict_count NS NODE REASON
	idg "$1" "$2" status -o json | python3 -c 'import json, sys
print(json.load(sys.stdin)["verdicts"].get(sys.argv[1], {}).get("packets", 0))' "$3"
}

# A denial that is idgate's: CMD fails and the node counted more drops with
# REASON meanwhile (a probe failing for any other reason is not a pass).
expect_denied() { # expect_denied NS NODE REASON DESCRIPTION CMD...
	local ns=$1 node=$2 reason=$3 what=$4 before after
	shift 4
	before=$(verdict_count "$ns" "$node" "$reason") || before=
	if "$@" >/dev/null 2>&1; then
		not_ok "$what (wanted fail, got pass)"
		return
	fi
	after=$(verdict_count "$ns" "$node" "$reason") || after=
	if [ -n "$before" ] && [ -n "$after" ] && [ "$after" -gt "$before" ]; then
		ok "$what"
	else
		not_ok "$what (failed, but node $node counted no $reason drop: '$before' -> '$after')"
	fi
}

waitfor() { # waitfor SECONDS CMD...: true once CMD succeeds
	local end=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}

# billing_policy NAME < RULES: a CiliumNetworkPolicy NAME (namespace
# production) for billing-api, its rule lists read from stdin.
billing_policy() {
	printf -- '---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: %s\n  namespace: production\nspec:\n  endpointSelector:\n    matchLabels:\n      app: billing-api\n' "$1"
	cat
}

# app_port_rule APP PORT PROTO: one ingress(Deny) rule for APP to PORT/PROTO.
app_port_rule() {
	printf '    - fromEndpoints:\n        - matchLabels:\n            app: %s\n      toPorts:\n        - ports:\n            - port: "%s"\n              protocol: %s\n' "$1" "$2" "$3"
}

# billing_l4 CONFIG: the path of a copy of scenario A's config whose
# billing-api policy is the article's without its HTTP rules (frontend and
# batch-processor to TCP 8080, one rule): what the L3/L4 tests probe with
# plain TCP and UDP, which an L7 port would refuse.
billing_l4() {
	python3 - "$1" "$TMP/billing-api-l4.yaml" <<'PY' || return 1
import sys
s = open(sys.argv[1]).read()
l7 = """    - fromEndpoints:
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
l4 = """    - fromEndpoints:
        - matchLabels:
            app: frontend
        - matchLabels:
            app: batch-processor
      toPorts:
        - ports:
            - port: "8080"
              protocol: TCP
"""
if l7 not in s:
    sys.exit("billing_l4: %s no longer has the article's L7 rules" % sys.argv[1])
open(sys.argv[2], "w").write(s.replace(l7, l4, 1))
PY
	echo "$TMP/billing-api-l4.yaml"
}

# The billing-api config's change most tests make: a policy letting
# reporting reach billing-api:8080 (a document to append to the config).
reporting_reads_policy() {
	{ echo "  ingress:"; app_port_rule reporting 8080 TCP; } | billing_policy reporting-reads
}

finish() {
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}
