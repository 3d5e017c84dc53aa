#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds and runs the libFuzzer targets (docs/testing.md, "Fuzzing").
#
#   tests/fuzz/run.sh BUILD [--target config|parse|all] [--time SECONDS]
#                     [--corpus DIR] [-- LIBFUZZER_ARGS...]
#
# BUILD is the project's (gcc) build dir: its fuzz_seeds and unit tests
# make the seeds. The targets are built with clang in BUILD/fuzz (made on
# first use). Each target runs --time seconds (default 20) on a fresh
# corpus under BUILD/fuzz/work/, or on --corpus DIR (kept, grows: for long
# runs). Seeds: configs/*.yaml, every config the unit tests load, 40
# generated configs with Cilium policies, frames of the packet builder,
# and tests/fuzz/corpus/ (checked in: inputs that found bugs). A crash,
# leak or failed check stops the run: the input is saved in
# BUILD/fuzz/artifacts/ and the line to replay it is printed.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
usage() {
	sed -n '5,7p' "$0" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$(cd "$1" && pwd)
shift
target=all
seconds=20
corpus=
while [ $# -gt 0 ]; do
	case "$1" in
	--target) target=$2; shift 2 ;;
	--time) seconds=$2; shift 2 ;;
	--corpus) corpus=$2; shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
case "$target" in
config | parse) targets=("$target") ;;
all) targets=(config parse) ;;
*) usage ;;
esac
[ -z "$corpus" ] || [ "$target" != all ] || {
	echo "run.sh: --corpus needs one --target" >&2
	exit 2
}

fz=$build/fuzz
if [ ! -f "$fz/build.ninja" ]; then
	CC=clang meson setup "$fz" "$src" -Dfuzz=true \
		-Dverify_at_build=false -Dbench_dpdk=disabled >"$fz.setup.log" 2>&1 || {
		cat "$fz.setup.log" >&2
		echo "run.sh: configuring $fz with clang failed" >&2
		exit 1
	}
fi
ninja -C "$fz" tests/fuzz/fuzz_config tests/fuzz/fuzz_parse

# Seeds, made afresh: the generators follow the formats.
seeds=$fz/seeds
rm -rf "$seeds"
mkdir -p "$seeds/config" "$seeds/parse"
cp "$src"/configs/*.yaml "$seeds/config/"
for t in config compile refeval; do
	IDG_FUZZ_SEED_DIR=$seeds/config "$build/tests/unit/test_$t" >/dev/null 2>&1 || {
		echo "run.sh: tests/unit/test_$t failed while dumping seeds" >&2
		exit 1
	}
done
"$build/tests/fuzz/fuzz_seeds" configs "$seeds/config" 40 1
"$build/tests/fuzz/fuzz_seeds" packets "$seeds/parse"
# The large-config tests make seeds too slow to mutate.
find "$seeds/config" -type f -size +16k -delete

mkdir -p "$fz/artifacts"
rc=0
for t in "${targets[@]}"; do
	work=${corpus:-$fz/work/$t}
	[ -n "$corpus" ] || rm -rf "$work"
	mkdir -p "$work"
	max_len=16384
	extra=(-dict="$src/tests/fuzz/config.dict")
	if [ "$t" = parse ]; then
		max_len=2049 # control byte + PKT_MAX
		extra=()
	fi
	echo "== fuzz_$t: ${seconds}s, corpus $work"
	"$fz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=30 \
		-rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
		-artifact_prefix="$fz/artifacts/$t-" "${extra[@]}" "$@" \
		"$work" "$seeds/$t" "$src/tests/fuzz/corpus/$t" || {
		rc=1
		echo "run.sh: fuzz_$t failed; replay the saved input with" >&2
		echo "  $fz/tests/fuzz/fuzz_$t $fz/artifacts/$t-<name>" >&2
	}
done
exit "$rc"
