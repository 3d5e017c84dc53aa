#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Faults under real traffic (issue 13): while an allowed and a denied UDP
# stream run through node-a (5 000 packets/s together), idgate run is
# killed with SIGKILL at random points of 100 reloads and started again.
# Enforcement never stops: every allowed packet that was lost was not
# dropped by idgate (its drop counters account for the denied stream
# only), no denied packet reaches its listener, each restart recovers, and
# unload afterwards leaves no pin behind. Then the bpffs pins of a running
# instance are removed and the state directory made unwritable: clear
# errors, and the running generation keeps enforcing.
. "$(dirname "$0")/lib.sh"
CONFIG=${CONFIG:-$(dirname "$0")/../../configs/billing-api.yaml}
# Its L3/L4 form: these tests probe with plain TCP and UDP.
CONFIG=$(billing_l4 "$CONFIG") || exit 1
. "$(dirname "$0")/topo_a.sh"
. "$(dirname "$0")/streams.sh"

bg "$NA" "$PROBE" serve-tcp 10.0.0.10 8080

PPS=${FAULT_PPS:-2500} # per stream
SECONDS_RUN=${FAULT_SECONDS:-40}
RELOADS=${FAULT_RELOADS:-100}

DIR=$TMP/idgate.d
mkdir "$DIR"
cp "$CONFIG" "$DIR/00-scenario.yaml"
streams_policy </dev/null >"$DIR/10-streams.yaml"
# The file the reloads rewrite: a policy that has nothing to do with the
# streams, alternating between two ports.
churn_file() { # churn_file N: bytes of its own for every N
	{ echo "  ingress:"; app_port_rule batch-processor $((7000 + $1 % 2)) TCP; } |
		billing_policy churn >"$DIR/.20-churn.tmp"
	echo "# change $1" >>"$DIR/.20-churn.tmp"
	mv "$DIR/.20-churn.tmp" "$DIR/20-churn.yaml"
}
churn_file 0

register_instance "$NA" node-a
LOG=$TMP/run.log
start_daemon() {
	idg_bg "$NA" node-a run -c "$DIR" --metrics-address off >>"$LOG" 2>&1
	RUN_PID=$BG_PID
}
ready_count() { grep -c "idgate run: ready" "$LOG" || true; }
start_daemon
if waitfor 20 grep -q "idgate run: ready" "$LOG"; then ok "daemon started"; else not_ok "daemon did not start: $(cat "$LOG")"; fi

streams_start

# 100 reloads; after every tenth, a SIGKILL 0-150 ms later (before,
# during or after the reload) and a fresh start.
kills=0 recovered=0
for i in $(seq 1 "$RELOADS"); do
	churn_file "$i"
	if [ $((i % 10)) = 0 ]; then
		sleep "0.$(printf '%03d' $((RANDOM % 150)))"
		kill -9 "$RUN_PID" 2>/dev/null || true
		wait "$RUN_PID" 2>/dev/null || true
		kills=$((kills + 1))
		before=$(ready_count)
		start_daemon
		more_ready() { [ "$(ready_count)" -gt "$before" ]; }
		waitfor 20 more_ready && recovered=$((recovered + 1))
	else
		sleep 0.1
	fi
done
[ "$recovered" = "$kills" ] && ok "$kills daemons killed at random points, each restart recovered" \
	|| not_ok "only $recovered of $kills restarts recovered: $(tail -5 "$LOG")"
grep -q "idgate run: reloaded: .*(file changed)" "$LOG" && ok "the daemons reloaded the changes" \
	|| not_ok "no reload logged: $(tail -5 "$LOG")"

streams_check

# The last daemon stops cleanly; unload leaves nothing.
kill "$RUN_PID" 2>/dev/null || true
wait "$RUN_PID" 2>/dev/null || true
idg "$NA" node-a unload >/dev/null && ok "unload after the kills" || not_ok "unload failed"
[ ! -e "$PIN_ROOT/node-a" ] && ok "no pins left" || not_ok "pins left: $(ls "$PIN_ROOT/node-a")"
[ -z "$(tc -n "$NA" filter show dev eth0 ingress)$(tc -n "$NA" filter show dev eth0 egress)" ] \
	&& ok "no tc filter left" || not_ok "tc filters left"

# Pins removed under a running instance, and a state dir it cannot write:
# each reported, and the generation attached keeps enforcing.
idg "$NA" node-a apply -c "$DIR" >/dev/null 2>&1 && ok "applied again" || not_ok "apply again"
expect_denied "$NA" node-a policy-default-deny "before the faults: reporting -> 8080 denied" \
	in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
rm -rf "$PIN_ROOT/node-a"
churn_file 1
if idg "$NA" node-a apply -c "$DIR" >"$TMP/nopins.out" 2>&1; then
	not_ok "apply without the pins succeeded: $(cat "$TMP/nopins.out")"
else
	grep -q "pinned maps in $PIN_ROOT/node-a are gone" "$TMP/nopins.out" && ok "pins gone: apply refuses, naming the pin dir" \
		|| not_ok "pins gone: $(cat "$TMP/nopins.out")"
fi
expect fail "pins gone: reporting still denied" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect pass "pins gone: frontend still allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
if idg "$NA" node-a unload >"$TMP/nopins.unload" 2>&1; then ok "pins gone: unload works"; else not_ok "pins gone: unload: $(cat "$TMP/nopins.unload")"; fi
[ -z "$(tc -n "$NA" filter show dev eth0 ingress)" ] && ok "pins gone: unload detached the programs" || not_ok "pins gone: tc filter left"
idg "$NA" node-a apply -c "$DIR" >/dev/null 2>&1 && ok "applied afresh" || not_ok "apply afresh"

chattr +i "$TMP/state-node-a"
churn_file 2
if idg "$NA" node-a apply -c "$DIR" >"$TMP/rostate.out" 2>&1; then
	not_ok "apply with an unwritable state dir succeeded silently: $(cat "$TMP/rostate.out")"
else
	grep -q "cannot write $TMP/state-node-a" "$TMP/rostate.out" &&
		grep -q "the previous policy is still enforcing" "$TMP/rostate.out" &&
		ok "state dir unwritable: a clear error, the previous policy kept" \
		|| not_ok "state dir unwritable: $(cat "$TMP/rostate.out")"
fi
chattr -i "$TMP/state-node-a"
expect_denied "$NA" node-a policy-default-deny "state dir unwritable: reporting still denied" \
	in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect pass "state dir unwritable: frontend still allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080

# A full disk under the state dir: a small tmpfs holding its files, then
# filled up. Nothing there stops the switch (the state dir is writable),
# so the new policy enforces and the apply says what it could not save.
ST=$TMP/state-node-a
cp -a "$ST" "$TMP/state-copy"
mount -t tmpfs -o size=512k tmpfs "$ST"
MOUNTS+=("$ST")
cp -a "$TMP/state-copy/." "$ST/"
dd if=/dev/zero of="$ST/filler" bs=4k 2>/dev/null || true
churn_file 3
if idg "$NA" node-a apply -c "$DIR" >"$TMP/full.out" 2>&1; then
	not_ok "apply on a full disk succeeded silently: $(cat "$TMP/full.out")"
else
	grep -q "No space left on device" "$TMP/full.out" &&
		grep -q "applied, but cannot save state in $ST" "$TMP/full.out" &&
		! grep -q "the previous policy is still enforcing" "$TMP/full.out" &&
		ok "disk full: a clear error, saying what was applied" || not_ok "disk full: $(cat "$TMP/full.out")"
fi
expect_denied "$NA" node-a policy-default-deny "disk full: reporting still denied" \
	in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect pass "disk full: frontend still allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
rm -f "$ST/filler"
idg "$NA" node-a apply -c "$DIR" >/dev/null 2>&1 && ok "disk freed: the next apply works" || not_ok "apply after freeing the disk"
# The state back on the real disk.
mkdir "$TMP/state-copy2"
cp -a "$ST/." "$TMP/state-copy2/"
umount "$ST"
MOUNTS=()
cp -a "$TMP/state-copy2/." "$ST/"

# apply killed in the middle of a switch (the new generation filled, not
# switched to) and just after it (switched, nothing recorded): the old,
# then the new policy enforces, and the next apply carries on.
reporting_reads_policy >"$DIR/30-reporting.yaml"
killed_apply() { # killed_apply STEP
	local rc=0
	IDGATE_TEST_KILL_AT=$1 idg "$NA" node-a apply -c "$DIR" >"$TMP/killed.$1" 2>&1 || rc=$?
	[ "$rc" = 137 ] && ok "apply killed at '$1'" || not_ok "apply at '$1' exited $rc: $(cat "$TMP/killed.$1")"
}
killed_apply switch
expect_denied "$NA" node-a policy-default-deny "killed before the switch: the old policy (reporting denied)" \
	in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect pass "killed before the switch: frontend allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
killed_apply switched
expect pass "killed after the switch: the new policy (reporting allowed)" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
expect pass "killed after the switch: frontend allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.10 10.0.0.10 8080
idg "$NA" node-a apply -c "$DIR" >"$TMP/after-kill" 2>&1 && ok "the next apply carries on" || not_ok "apply after the kills: $(cat "$TMP/after-kill")"
expect pass "after the kills: reporting allowed" in_ns "$NB" "$PROBE" tcp 10.0.1.12 10.0.0.10 8080
idg "$NA" node-a unload >/dev/null && [ ! -e "$PIN_ROOT/node-a" ] && [ -z "$(tc -n "$NA" filter show dev eth0 ingress)" ] \
	&& ok "unload after the killed applies removes everything" || not_ok "unload after the killed applies"

finish
