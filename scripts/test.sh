#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs every test suite (unit, sanitizer builds, datapath) as root, then
# prints one summary line. Extra arguments go to `meson test`.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: run as root (BPF_PROG_TEST_RUN needs it): sudo $0" >&2
	exit 1
fi

meson test -C build --print-errorlogs "$@" | tee build/meson-logs/test-summary.txt
rc=${PIPESTATUS[0]}
ok=$(awk '/^Ok:/ {print $2}' build/meson-logs/test-summary.txt)
fail=$(awk '/^Fail:/ {print $2}' build/meson-logs/test-summary.txt)
to=$(awk '/^Timeout:/ {print $2}' build/meson-logs/test-summary.txt)
echo "${ok:-0} passed, $(( ${fail:-0} + ${to:-0} )) failed"
exit "$rc"
