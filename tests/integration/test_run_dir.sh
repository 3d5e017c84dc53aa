#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# idgate run with a config directory (-c DIR), on scenario A with real
# traffic: every *.yaml in it is one stream; a file added by an editor's
# write-then-rename is applied, a broken file is reported as FILE:LINE:COL
# while the last good state keeps enforcing, fixing it applies it, and
# removing a file removes its documents. Hidden and other files are not
# config. Only files whose bytes changed are parsed again.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_a.sh"

bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080 8081

DIR=$TMP/idgate.d
mkdir "$DIR"
cp "$CONFIG" "$DIR/00-scenario.yaml"
echo "not: [yaml" >"$DIR/.10-reporting.yaml.swp"
echo "not: [yaml" >"$DIR/README.txt"
LOG=$TMP/run.log
register_instance "$NA" node-a
idg_bg "$NA" node-a run -c "$DIR" --metrics-address off >"$LOG" 2>&1
RUN_PID=$BG_PID

at_gen() { # at_gen GEN WHAT
	if waitfor 10 gen_is "$1"; then ok "$2: generation $1 enforcing"; else not_ok "$2: generation $(gen), wanted $1: $(tail -5 "$LOG")"; fi
}

if waitfor 10 grep -q "idgate run: ready" "$LOG"; then ok "daemon started"; else not_ok "daemon did not start: $(cat "$LOG")"; fi
gen_is 1 && ok "generation 1 at start" || not_ok "start: generation $(gen)"
enforcing OLD "start"

# 1. A new file, written under a hidden name and renamed into place.
reporting_reads_policy >"$DIR/.10-reporting.yaml.tmp"
mv "$DIR/.10-reporting.yaml.tmp" "$DIR/10-reporting.yaml"
at_gen 2 "file added"
enforcing NEW "file added"
# Only the new file is parsed; the other comes from the daemon's cache.
grep -q "reloaded: generation 2 .*, 1 of 2 files parsed" "$LOG" \
	&& ok "file added: only it parsed" || not_ok "file added: $(grep reloaded: "$LOG" | tail -1)"
grep -q "reloaded: generation 2 .*, enforcing after [0-9.]* ms; added 10-reporting.yaml$" "$LOG" \
	&& ok "file added: logged by name" || not_ok "file added: $(grep reloaded: "$LOG" | tail -1)"
# The applied copy: the directory's files under their names, byte for
# byte; no single-file copy beside it.
APPLIED=$TMP/state-node-a/applied.d
applied_is_dir() { # the names in DIR, each equal to the copy's
	[ "$(cd "$1" && ls -- *.yaml)" = "$(cd "$APPLIED" && ls -- *.yaml)" ] || return 1
	for f in "$1"/*.yaml; do cmp -s "$f" "$APPLIED/${f##*/}" || return 1; done
	[ ! -e "$TMP/state-node-a/applied.yaml" ]
}
applied_is_dir "$DIR" && ok "applied copy holds both files" \
	|| not_ok "applied copy: $(ls -la "$APPLIED" "$TMP/state-node-a" 2>&1)"
idg "$NA" node-a policy get >"$TMP/policies" 2>&1
grep -q "reporting-reads" "$TMP/policies" && ok "policy get shows the new file's policy" \
	|| not_ok "policy get: $(head -5 "$TMP/policies")"

# 2. A broken file: named with its line and column; nothing changes.
{ reporting_reads_policy; echo "      extra: [unclosed"; } >"$DIR/.tmp"
mv "$DIR/.tmp" "$DIR/20-broken.yaml"
if waitfor 10 grep -q "$DIR/20-broken.yaml:[0-9]*:[0-9]*: " "$LOG"; then ok "broken file: FILE:LINE:COL reported"; else not_ok "broken file: no position: $(tail -5 "$LOG")"; fi
waitfor 10 grep -q "reload of $DIR failed" "$LOG" && ok "broken file: reload refused" || not_ok "broken file: $(tail -3 "$LOG")"
gen_is 2 && ok "broken file: generation 2 keeps enforcing" || not_ok "broken file: generation $(gen)"
enforcing NEW "broken file"

# 3. Removing the broken file applies the directory as it is; removing
# the reporting file drops its policy.
reloads() { grep -c "idgate run: reloaded:" "$LOG" || true; }
n=$(reloads)
more_reloads() { [ "$(reloads)" -gt "$n" ]; }
rm "$DIR/20-broken.yaml"
waitfor 10 more_reloads && ok "broken file removed: reloaded" || not_ok "broken file removed: no reload: $(tail -3 "$LOG")"
grep "reloaded:" "$LOG" | tail -1 | grepq ", 0 of 2 files parsed" \
	&& ok "broken file removed: nothing parsed again" || not_ok "broken file removed: $(grep reloaded: "$LOG" | tail -1)"
enforcing NEW "broken file removed"
g=$(gen)
rm "$DIR/10-reporting.yaml"
at_gen $((g + 1)) "file removed"
enforcing OLD "file removed"
applied_is_dir "$DIR" && ok "file removed: gone from the applied copy" \
	|| not_ok "file removed: applied copy $(ls "$APPLIED")"

# 4. The control socket: status shows the daemon's last change; apply of
# the daemon's config is done by the daemon, at once, with its result;
# apply of another config is refused (the daemon would undo it).
idg "$NA" node-a status >"$TMP/status" 2>&1
grep -q "^daemon: .*idgate run, pid $RUN_PID, enforcing $DIR" "$TMP/status" && ok "status: the daemon" || not_ok "status: $(grep -A1 daemon "$TMP/status")"
grep -q "^last change: .* (file changed): generation $((g + 1)), 0 of 1 files parsed" "$TMP/status" \
	&& ok "status: its last change" || not_ok "status: $(grep 'last change' "$TMP/status")"
grep -q "^last change: .*, enforcing after [0-9.]* ms; removed 10-reporting.yaml$" "$TMP/status" \
	&& ok "status: what changed and the time to enforce" || not_ok "status: $(grep 'last change' "$TMP/status")"
idg "$NA" node-a status -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)["daemon"]
c = d["last_change"]
assert c["ok"] and c["files"] == 1, d
assert c["files_changed"] == {"added": [], "changed": [], "removed": ["10-reporting.yaml"]}, c
assert 0 < c["enforce_ms"] <= c["total_ms"], c' \
	&& ok "status json: daemon.last_change" || not_ok "status json: no daemon"
if idg "$NA" node-a apply -c "$DIR" >"$TMP/apply.out" 2>&1 &&
	grep -q "applied by idgate run (pid $RUN_PID): generation $((g + 2)), 0 of 1 files parsed" "$TMP/apply.out"; then
	ok "apply: done by the daemon"
else
	not_ok "apply: $(cat "$TMP/apply.out")"
fi
gen_is $((g + 2)) && ok "apply: generation $((g + 2))" || not_ok "apply: generation $(gen)"
if idg "$NA" node-a apply -c "$CONFIG" >"$TMP/apply.out" 2>&1; then
	not_ok "apply of another config: accepted"
else
	grep -q "idgate run (pid $RUN_PID) enforces $DIR" "$TMP/apply.out" && ok "apply of another config: refused" \
		|| not_ok "apply of another config: $(cat "$TMP/apply.out")"
fi
gen_is $((g + 2)) && ok "apply of another config: nothing changed" || not_ok "apply of another config: generation $(gen)"
{ reporting_reads_policy; echo "      extra: [unclosed"; } >"$DIR/30-bad.yaml"
if idg "$NA" node-a apply -c "$DIR" >"$TMP/apply.out" 2>&1; then
	not_ok "apply of a broken file: accepted"
else
	grep -q "^$DIR/30-bad.yaml:[0-9]*:[0-9]*: " "$TMP/apply.out" && grep -q "keeps enforcing" "$TMP/apply.out" \
		&& ok "apply of a broken file: FILE:LINE:COL from the daemon" || not_ok "apply of a broken file: $(cat "$TMP/apply.out")"
fi
rm "$DIR/30-bad.yaml"
enforcing OLD "after the control socket"
# A second daemon for the node would undo the first's reloads: it exits.
IDGATE_IN=$TMP/idgate-in-na
printf '#!/bin/sh\nsub=$2; node=$1; shift 2\nexec nsenter --net=/run/netns/%s %s "$sub" "$@" --node "$node" --pin-dir %s/"$node" --state-dir %s/state-"$node"\n' \
	"$NA" "$IDGATE" "$PIN_ROOT" "$TMP" >"$IDGATE_IN"
chmod +x "$IDGATE_IN"
# (Bounded: a second daemon that does start runs until killed.)
rc=0
timeout 20 "$IDGATE_IN" node-a run -c "$DIR" --metrics-address off >"$TMP/run2.out" 2>&1 || rc=$?
if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
	not_ok "second daemon: started (exit $rc)"
else
	grep -q "node node-a already has a daemon (pid $RUN_PID" "$TMP/run2.out" && ok "second daemon: refused" \
		|| not_ok "second daemon: $(cat "$TMP/run2.out")"
fi
idg "$NA" node-a status | grepq "^daemon: .*pid $RUN_PID" && ok "second daemon: the first still answers" \
	|| not_ok "second daemon: the first does not answer"


kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || not_ok "SIGTERM: exit $rc"
[ ! -e "$TMP/state-node-a/control.sock" ] && ok "SIGTERM: control socket removed" || not_ok "SIGTERM: control socket left"

# 5. Symlinks, as deployment tools and ConfigMap volumes use them, each
# applied at once: the config directory a link flipped to another
# release; *.yaml files that are links through "..data", flipped to a
# new set of files; a config file linked in.
REL1=$TMP/rel1 REL2=$TMP/rel2
mkdir -p "$REL1" "$REL2/..v1" "$REL2/..v2"
cp "$CONFIG" "$REL1/00-scenario.yaml"
cp "$CONFIG" "$REL2/..v1/00-scenario.yaml"
cp "$CONFIG" "$REL2/..v2/00-scenario.yaml"
reporting_reads_policy >"$REL2/..v1/10-reporting.yaml"
{ echo "  ingress:"; app_port_rule reporting 9999 TCP; } | billing_policy reporting-reads >"$REL2/..v2/10-reporting.yaml"
ln -s ..v1 "$REL2/..data"
ln -s ..data/00-scenario.yaml "$REL2/00-scenario.yaml"
ln -s ..data/10-reporting.yaml "$REL2/10-reporting.yaml"
ln -s "$REL1" "$TMP/current"
LOG=$TMP/run-link.log
idg_bg "$NA" node-a run -c "$TMP/current/" --metrics-address off >"$LOG" 2>&1
RUN_PID=$BG_PID
if waitfor 10 grep -q "idgate run: ready" "$LOG"; then ok "link: daemon started"; else not_ok "link: daemon did not start: $(cat "$LOG")"; fi
grep -q "a symlink: and on $TMP for current" "$LOG" && ok "link: its directory watched" || not_ok "link: $(grep watching "$LOG")"
g=$(gen)
enforcing OLD "link: release 1"
ln -s "$REL2" "$TMP/current.new"
mv -T "$TMP/current.new" "$TMP/current"
at_gen $((g + 1)) "link flipped to release 2"
enforcing NEW "link flipped to release 2"
ln -s ..v2 "$REL2/..data_tmp"
mv -T "$REL2/..data_tmp" "$REL2/..data"
at_gen $((g + 2)) "..data flipped"
sleep 0.6 # past the settle time of the link made before the rename
gen_is $((g + 2)) && ok "..data flipped: one reload" || not_ok "..data flipped: generation $(gen): $(grep -c reloaded: "$LOG") reloads"
enforcing OLD "..data flipped"
reporting_reads_policy | sed 's/name: reporting-reads/name: reporting-reads-linked/' >"$TMP/extra.yaml"
ln -s "$TMP/extra.yaml" "$REL2/20-extra.yaml"
at_gen $((g + 3)) "file linked in"
enforcing NEW "file linked in"
kill -TERM "$RUN_PID"
wait "$RUN_PID" || true
finish
