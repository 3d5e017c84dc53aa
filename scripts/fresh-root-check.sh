#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Does the README work on a fresh Debian 12? Runs it in a minimal root
# (debootstrap --variant=minbase bookworm) that has only what every Debian
# has: ./scripts/setup.sh (packages, build, verifier load, idgate demo),
# then ./scripts/test.sh, in a chroot on this kernel. A command the
# project runs but setup.sh does not install fails here, not on a user's
# machine. See docs/testing.md ("A fresh Debian 12 root").
# shellcheck disable=SC2317  # the steps are functions that step() runs
set -euo pipefail

usage() {
	cat <<EOF
usage: $0 [--setup-only] [--refresh] [DIR]

As root. DIR (default /var/tmp/idgate-fresh-root) keeps the minbase root
as a tarball (minbase-bookworm.tar, made once) and the downloaded .debs,
so a rerun starts from the same fresh root without downloading it again.
Every run unpacks a new root from the tarball, copies this source tree
into it (git's files, without build/), and runs in a chroot:
  ./scripts/setup.sh        the README's first command
  ./scripts/test.sh         the second (skipped with --setup-only)
then checks that each command the project runs (including bench/) is
installed, and that nothing was left behind (namespaces, pins, processes).

  --setup-only  only the first command and the command check
  --refresh     make the minbase tarball again (a new debootstrap)

Logs: DIR/logs/. Exit status 0 only if every step passed; the root is
removed then, and kept (DIR/root) after a failure.
EOF
}

MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm

# Every external command the project runs, with the package that has it
# on Debian 12 (docs/testing.md has the table with where each is used).
# Checked in the root after setup.sh: bench/ is not run here, so this is
# what catches a bench tool setup.sh forgot.
COMMANDS=(
	# build
	cc meson ninja pkg-config clang bpftool python3
	# scripts/, demo, tests
	ip tc ss sysctl ps nsenter unshare setpriv runuser chattr mount umount
	timeout curl psql tshark nft ethtool install mktemp sed awk grep
	# scripts/kernel-test.sh
	qemu-system-x86_64 busybox cpio dpkg-deb dash
	# bench/
	iperf3 sockperf gnuplot iptables iptables-legacy iptables-save
	iptables-restore xdp-filter taskset getconf nproc git
)

setup_only=0 refresh=0 inner=0 base=/var/tmp/idgate-fresh-root
while [ $# -gt 0 ]; do
	case "$1" in
	--setup-only) setup_only=1 ;;
	--refresh) refresh=1 ;;
	--inner) inner=1 ;;
	-h | --help) usage; exit 0 ;;
	-*) usage >&2; exit 2 ;;
	*) base=$1 ;;
	esac
	shift
done

if [ "$(id -u)" -ne 0 ]; then
	echo "fresh-root-check: run as root (debootstrap, chroot, BPF)" >&2
	exit 1
fi
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$base"
base=$(cd "$base" && pwd -P)
root=$base/root
tarball=$base/minbase-$SUITE.tar
logs=$base/logs

under_root_mounts() { # mount points at or under $root, deepest first
	awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r
}

root_pids() { # processes whose root directory is the chroot
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
	done
	true
}

# --- outer: everything that mounts runs in a private mount namespace ----
# Its mounts (and those `ip netns add` makes under the root's /run) are
# not seen by the rest of the machine and go away with it, whatever
# happens to this script; the inner trap unmounts them in order anyway.
outer() {
	local args rc left
	args=(--inner)
	[ "$setup_only" = 1 ] && args+=(--setup-only)
	[ "$refresh" = 1 ] && args+=(--refresh)
	rc=0
	unshare --mount --propagation private -- "$0" "${args[@]}" "$base" || rc=$?
	# A process started in the root that outlived the inner cleanup
	# would keep its mounts alive: none may be left.
	left=$(root_pids | tr '\n' ' ')
	if [ -n "$left" ]; then
		echo "fresh-root-check: processes left in the root: $left (killed)" >&2
		# shellcheck disable=SC2086
		kill -9 $left 2>/dev/null || true
		rc=1
	fi
	if [ -n "$(under_root_mounts)" ]; then
		echo "fresh-root-check: mounts left under $root:" >&2
		under_root_mounts >&2
		exit 1
	fi
	# Several GB: kept only to look into a failure.
	if [ "$rc" = 0 ]; then
		rm -rf --one-file-system "$root"
	else
		echo "fresh-root-check: the root is kept for a look: $root (logs in $logs)"
	fi
	exit "$rc"
}

# --- inner ------------------------------------------------------------
summary=()     # one line per step
first_fail=""  # the first step that failed, with its command
status=0

now() { date +%s; }

say() { printf '\n== fresh-root-check: %s\n' "$*"; }

record() { # record STEP RC SECONDS [DETAIL]
	local s=PASS
	[ "$2" = 0 ] || s=FAIL
	summary+=("$(printf '%-10s %s %5ss%s' "$1" "$s" "$3" "${4:+  $4}")")
	if [ "$2" != 0 ]; then
		status=1
		[ -n "$first_fail" ] || first_fail="$1"
	fi
}

cleanup() {
	local rc=$? m ns p
	set +e
	trap - EXIT INT TERM
	# Namespaces made in the root live under its own /run (a tmpfs of
	# this run): any that is left, the demo or a test did not remove.
	for ns in "$root"/run/netns/*; do
		[ -e "$ns" ] || continue
		ns=${ns##*/}
		echo "fresh-root-check: network namespace left: $ns (deleted)" >&2
		chroot "$root" ip netns pids "$ns" 2>/dev/null | xargs -r kill -9
		chroot "$root" ip netns del "$ns"
		rc=1
	done
	p=$(root_pids | tr '\n' ' ')
	if [ -n "$p" ]; then
		echo "fresh-root-check: processes left in the root: $p (killed)" >&2
		# shellcheck disable=SC2086
		kill -9 $p 2>/dev/null
		sleep 1
		rc=1
	fi
	for m in $(under_root_mounts); do
		umount "$m" 2>/dev/null || umount -l "$m" ||
			echo "fresh-root-check: cannot unmount $m" >&2
	done
	exit "$rc"
}

inroot() { # inroot CMD...: in the chroot, in the tree, with a clean environment
	# dash ignores BASH_ENV; the project's bash script it execs reads it.
	chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
		LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		BASH_ENV=/root/.fresh-root-errtrap \
		/bin/sh -c 'cd /root/idgate && exec "$@"' sh "$@"
}

step() { # step NAME CMD...: output to the terminal and logs/NAME.log
	local name=$1 t0 rc
	shift
	say "$name: $*"
	t0=$(now)
	# Not called from a tested context, so set -e holds in the subshell.
	set +e
	(set -e; "$@") 2>&1 | tee "$logs/$name.log"
	rc=${PIPESTATUS[0]}
	set -e
	record "$name" "$rc" $(($(now) - t0))
}


make_tarball() {
	local new=$base/root.new
	command -v debootstrap >/dev/null || {
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap
	}
	rm -rf --one-file-system "$new"
	debootstrap --variant=minbase "$SUITE" "$new" "$MIRROR"
	# What a Debian 12 install has: the release, its updates and security.
	cat >"$new/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
	chroot "$new" apt-get clean
	tar -C "$new" --numeric-owner -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf --one-file-system "$new"
}

new_root() {
	if [ "$refresh" = 1 ] || [ ! -s "$tarball" ]; then
		make_tarball
	else
		echo "minbase root from the cached $tarball"
	fi
	rm -rf --one-file-system "$root"
	mkdir "$root"
	tar -C "$root" --numeric-owner -xpf "$tarball"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	# No service starts from a package's postinst: the root shares this
	# machine's network (postgresql would listen on its port 5432).
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	# Names the command a script of the project failed on (bash's ERR
	# trap, set before each script runs; its children do not inherit it).
	cat >"$root/root/.fresh-root-errtrap" <<'EOF'
unset BASH_ENV
set -E
trap 'echo "fresh-root-check: failed (exit $?) at ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND" >&2' ERR
EOF
}

copy_tree() { # the files of a clone (tracked and new, not ignored): no build/
	mkdir -p "$root/root/idgate"
	(
		cd "$src"
		if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
			git ls-files -z -co --exclude-standard |
				while IFS= read -r -d '' f; do
					[ -e "$f" ] || [ -L "$f" ] || continue
					printf '%s\0' "$f"
				done | tar --null --no-recursion -T - -cf -
		else
			tar --exclude=./build --exclude='./build-*' -cf - .
		fi
	) | tar -C "$root/root/idgate" -xf -
	[ ! -e "$root/root/idgate/build" ] || { echo "build/ was copied" >&2; return 1; }
	echo "$(find "$root/root/idgate" -type f | wc -l) files in /root/idgate"
}

mount_all() {
	# The root a mount point of its own: `ip netns add` and `ip -n` make
	# "/" a slave mount (mount --make-rslave /), which fails with EINVAL
	# on a chroot directory that is not one.
	mount --bind "$root" "$root"
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	# A bpffs of its own (what systemd mounts on a booted Debian): the
	# pins made in the root are not the machine's, and any left is seen.
	mount -t bpf bpf "$root/sys/fs/bpf"
	mount --rbind /dev "$root/dev"
	# /run as on a booted system: a tmpfs. `ip netns add` makes
	# /run/netns a shared mount of itself there, in this namespace only.
	mount -t tmpfs -o mode=755 tmpfs "$root/run"
	mkdir -p "$base/apt-archives/partial" "$root/var/cache/apt/archives"
	mount --bind "$base/apt-archives" "$root/var/cache/apt/archives"
	under_root_mounts | sort
}

check_commands() { # each command the project runs, after setup.sh
	local c missing=()
	for c in "${COMMANDS[@]}"; do
		if inroot sh -c 'command -v "$1"' sh "$c" >/dev/null; then
			echo "ok $c"
		else
			echo "MISSING $c"
			missing+=("$c")
		fi
	done
	[ "${#missing[@]}" = 0 ] || {
		echo "not installed by setup.sh: ${missing[*]}"
		return 1
	}
}

check_leftovers() {
	local bad=0 ns pins procs
	ns=$(find "$root/run/netns" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null || true)
	# maps.debug and progs.debug: the kernel's own, in every new bpffs;
	# xdp/: libxdp's directory for its dispatchers, which it keeps.
	pins=$(cd "$root/sys/fs/bpf" && find . -mindepth 1 ! -name maps.debug \
		! -name progs.debug ! \( -path ./xdp -type d -empty \) -printf '%P ')
	procs=$(root_pids | tr '\n' ' ')
	[ -z "$ns" ] && echo "ok no network namespace left" ||
		{ echo "LEFT network namespaces: $ns"; bad=1; }
	[ -z "$pins" ] && echo "ok no bpffs pin left" ||
		{ echo "LEFT bpffs pins: $pins"; bad=1; }
	[ -z "$procs" ] && echo "ok no process left" ||
		{ echo "LEFT processes: $procs"; bad=1; }
	return "$bad"
}

# The lines of a failed step's log that say what failed: the script's
# failing command, commands not found, the demo's failed commands.
explain() {
	grep -E -h 'fresh-root-check: failed|command not found|: not found|No such file or directory: |failed to (execute|run command)|demo: command failed|\" failed: |^E: |Unable to locate package| FAIL |^LEFT |^MISSING |^Summary of Failures' \
		"$logs/$1.log" 2>/dev/null | head -15 || true
}

inner() {
	local t_start what
	if [ -n "$(under_root_mounts)" ]; then
		echo "fresh-root-check: something is mounted under $root; not touching it" >&2
		exit 1
	fi
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$logs"
	rm -f "$logs"/*.log
	t_start=$(now)
	step root new_root
	[ "$status" = 0 ] && step copy copy_tree
	[ "$status" = 0 ] && step mount mount_all
	if [ "$status" = 0 ]; then
		step setup inroot ./scripts/setup.sh
		step commands check_commands
		if [ "$setup_only" = 0 ]; then
			if [ -x "$root/root/idgate/build/loader/idgate" ]; then
				step test inroot ./scripts/test.sh
			else
				record test 1 0 "not run: setup.sh did not build idgate"
			fi
		fi
		step leftovers check_leftovers
	fi

	echo
	echo "== fresh-root-check summary ($SUITE minbase, kernel $(uname -r), $(($(now) - t_start)) s) =="
	printf '%s\n' "${summary[@]}"
	if [ -n "$first_fail" ]; then
		echo "first failing step: $first_fail (log: $logs/$first_fail.log)"
		explain "$first_fail" | sed 's/^/  /'
		[ "$setup_only" = 1 ] && what="setup.sh" || what="setup.sh and test.sh"
		echo "RESULT: FAIL ($what on a fresh root)"
	else
		[ "$setup_only" = 1 ] && echo "RESULT: PASS (setup.sh on a fresh root; test.sh not run: --setup-only)" ||
			echo "RESULT: PASS (setup.sh and test.sh on a fresh root)"
	fi
	exit "$status"
}

if [ "$inner" = 1 ]; then
	inner
else
	outer
fi
