#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# --node (or the host name) is checked before any pin or state path is
# built from it: one error line, a non-zero exit, nothing read or written.
set -euo pipefail

IDGATE=${IDGATE:?set IDGATE to the idgate binary}
CONFIG=${CONFIG:?set CONFIG to a config file}
TMP=$(mktemp -d /tmp/idgate-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0

not_ok() { echo "not ok - $*"; FAILS=$((FAILS + 1)); }

# expect_refused WHAT CMD...: exit non-zero, exactly one stderr line.
expect_refused() {
	local what=$1 rc=0
	shift
	"$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	if [ "$rc" -ne 0 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] &&
		grep -q "is not a valid node name" "$TMP/err"; then
		echo "ok - $what refused"
	else
		not_ok "$what: exit $rc, stderr:"
		cat "$TMP/err"
	fi
}

long=$(printf 'n%.0s' $(seq 253))
for name in . .. ../x a/b '' Node-A 'a..b' $'a\nb' "${long}n"; do
	expect_refused "--node $(printf %q "${name:0:20}")" "$IDGATE" check -c "$CONFIG" --node "$name"
done

# The longest valid name gets as far as the config (which has no such node).
rc=0
"$IDGATE" check -c "$CONFIG" --node "$long" --state-dir "$TMP/state" \
	>/dev/null 2>"$TMP/err" || rc=$?
if [ "$rc" -eq 1 ] && grep -q "unknown node $long" "$TMP/err"; then
	echo "ok - a 253-character --node is accepted"
else
	not_ok "253-character --node: exit $rc"
	cat "$TMP/err"
fi

# Without --node the host name is the node name, under the same rule.
if unshare --uts true 2>/dev/null; then
	expect_refused "host name Upper-Host" unshare --uts bash -c \
		'hostname Upper-Host && exec "$0" check -c "$1"' "$IDGATE" "$CONFIG"
	grep -q -- "give --node" "$TMP/err" || not_ok "no hint to give --node"
else
	echo "ok - # SKIP host name case (no unshare --uts)"
fi

# The option table checks every typed argument the same way: exit 2, one
# line naming the option and what it wants.
bad_arg() { # bad_arg WANT CMD...: refused with a line matching WANT
	local want=$1 rc=0
	shift
	"$IDGATE" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	if [ "$rc" -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q -- "$want" "$TMP/err"; then
		echo "ok - $* refused"
	else
		not_ok "$*: exit $rc: $(cat "$TMP/err")"
	fi
}
bad_arg "unknown output format 'yaml' (text or json)" status -o yaml --node n
for v in -1 +80 70000 8o ''; do
	bad_arg "--dport wants 0..65535, not '$v'" policy trace --src a --dst b --dport "$v" --node n
done
for v in -5 3600001 1e3; do
	bad_arg "--drop-event-interval wants milliseconds 0..3600000, not '$v'" apply -c "$CONFIG" --drop-event-interval "$v" --node n
done

[ "$FAILS" -eq 0 ]
