#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# idgate run applies only complete config files (SPEC 3b), on scenario A
# with real traffic: a valid prefix written by a writer that keeps the file
# open (and a close by someone else meanwhile) is not applied, the whole
# file is, once, when the writer closes it; a rename into place is
# applied, but not while its writer still has it open; a new empty file
# (held open, or created and closed) is never applied.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_a.sh"

bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080 8081

# OLD: billing-api takes 8080 from frontend and batch-processor.
# NEW: OLD plus a policy letting reporting reach billing-api:8080.
# PREFIX: NEW cut after the frontend endpoint: valid YAML, but without the
# other endpoints and both policies, so billing-api would be open to all.
OLD=$TMP/old.yaml
NEW=$TMP/new.yaml
cp "$CONFIG" "$OLD"
{ cat "$CONFIG"; reporting_reads_policy; } >"$NEW"
cut=$(awk '/^---$/ { d++ } /^  name: batch-processor$/ { print d; exit }' "$NEW")
awk -v last="$cut" '/^---$/ { d++ } d < last' "$NEW" >"$TMP/prefix.yaml"
tail -c +"$(($(wc -c <"$TMP/prefix.yaml") + 1))" "$NEW" >"$TMP/rest.yaml"
cat "$TMP/prefix.yaml" "$TMP/rest.yaml" | cmp -s - "$NEW" || { echo "cannot split $NEW" >&2; exit 1; }
idg "$NA" node-a check -c "$TMP/prefix.yaml" >/dev/null || { echo "the prefix is not a valid config" >&2; exit 1; }

mkdir "$TMP/etc"
CFG=$TMP/etc/idgate.yaml
cp "$OLD" "$CFG"
LOG=$TMP/run.log
register_instance "$NA" node-a
idg_bg "$NA" node-a run -c "$CFG" --metrics-address off >"$LOG" 2>&1
RUN_PID=$BG_PID

loads() { grep -c "idgate run: loading" "$LOG" || true; }
# Long enough for the 200 ms settle time to pass several times over: what
# has not been applied by then is waiting for something.
pause() { sleep 1.5; }
applied_is() { cmp -s "$TMP/state-node-a/applied.yaml" "$1"; }

# reloaded_once GEN CONFIG WHAT: GEN enforcing with all of CONFIG, after
# exactly one more load.
reloaded_once() {
	if waitfor 10 gen_is "$1"; then ok "$3: generation $1 enforcing"; else not_ok "$3: generation $(gen), wanted $1: $(tail -5 "$LOG")"; fi
	pause
	[ "$(loads)" = "$((LOADS + 1))" ] && ok "$3: loaded once" || not_ok "$3: $(($(loads) - LOADS)) loads: $(tail -5 "$LOG")"
	applied_is "$2" && ok "$3: the whole file applied" || not_ok "$3: the applied config is not $2"
	gen_is "$1" && ok "$3: still generation $1" || not_ok "$3: generation $(gen) after the reload"
	LOADS=$(loads)
}
# untouched GEN WHAT: nothing loaded since LOADS, GEN still enforcing.
untouched() {
	[ "$(loads)" = "$LOADS" ] && ok "$2: not loaded" || not_ok "$2: loaded: $(tail -5 "$LOG")"
	gen_is "$1" && ok "$2: generation $1 still enforcing" || not_ok "$2: generation $(gen), wanted $1"
}

if waitfor 10 grep -q "idgate run: ready" "$LOG"; then ok "daemon started"; else not_ok "daemon did not start: $(cat "$LOG")"; fi
LOADS=$(loads)
gen_is 1 && ok "generation 1 at start" || not_ok "start: generation $(gen)"
enforcing OLD "start"

# 1. Written in place by a writer that keeps the file open: the prefix
# alone would open billing-api to everyone. A close by someone else
# meanwhile (touch) is no reason to apply it either.
exec 3>"$CFG"
cat "$TMP/prefix.yaml" >&3
pause
untouched 1 "prefix held open"
touch "$CFG"
pause
untouched 1 "prefix held open, touched"
grep -q "not reloading $CFG: it is still open for writing.*; generation 1 keeps enforcing" "$LOG" \
	&& ok "prefix held open: refusal logged" || not_ok "no refusal logged: $(tail -3 "$LOG")"
enforcing OLD "prefix held open"
cat "$TMP/rest.yaml" >&3
exec 3>&-
reloaded_once 2 "$NEW" "writer closed"
enforcing NEW "writer closed"

# 2. Renamed into place: applied; but not while its writer still has it
# open.
cp "$OLD" "$TMP/etc/.idgate.yaml.tmp"
mv "$TMP/etc/.idgate.yaml.tmp" "$CFG"
reloaded_once 3 "$OLD" "renamed into place"
enforcing OLD "renamed into place"
exec 3>"$TMP/etc/.idgate.yaml.tmp"
cat "$NEW" >&3
mv "$TMP/etc/.idgate.yaml.tmp" "$CFG"
pause
untouched 3 "renamed while open for writing"
exec 3>&-
reloaded_once 4 "$NEW" "renamed, then closed"
enforcing NEW "renamed, then closed"

# 3. A new empty file is never applied: neither while its writer holds it
# nor once closed (touch).
rm "$CFG"
exec 3>"$CFG"
pause
untouched 4 "new empty file held open"
cat "$OLD" >&3
exec 3>&-
reloaded_once 5 "$OLD" "new file written and closed"
enforcing OLD "new file written and closed"
rm "$CFG"
touch "$CFG"
pause
untouched 5 "new empty file closed"
grep -q "not reloading $CFG: it is empty; generation 5 keeps enforcing" "$LOG" \
	&& ok "empty file: refusal logged" || not_ok "empty file: no refusal logged: $(tail -3 "$LOG")"
cat "$NEW" >"$CFG"
reloaded_once 6 "$NEW" "empty file filled"
enforcing NEW "empty file filled"

grep -q "reload of .* failed" "$LOG" && not_ok "a reload failed: $(grep -A1 "failed" "$LOG")" || ok "no reload failed"
kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || not_ok "SIGTERM: exit $rc"
finish
