#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs the datapath tests on Debian 12's kernel (linux-image-amd64, 6.1)
# in qemu: every BPF object through the verifier (verify_load), then
# test_datapath, test_conntrack (both also at tc ingress), test_diff
# (short mode), the malformed-frame sweep (both hooks) and test_egw.
# The guest's root is an initramfs holding busybox, the test binaries of
# the build tree, the host's `ip` and `sysctl` (test_egw runs them), their
# shared libraries and the kernel modules the tests need. The guest reports each binary's exit status on
# the serial console; this script prints one line per binary and exits
# non-zero when any failed or did not report.
#
# The kernel package is fetched once with `apt-get download` and kept in
# the cache directory, so later runs are offline.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/kernel-test.sh [OPTIONS]

Boots Debian 12's kernel in qemu and runs the datapath tests in it.

  -B, --build DIR     the meson build directory (default: build)
  -c, --cache DIR     where the kernel package is kept (default:
                      $IDG_KERNEL_CACHE, else ~/.cache/idgate/kernel)
      --deb FILE      boot this linux-image .deb instead of Debian 12's
                      current linux-image-amd64
      --refresh       download linux-image-amd64 again even if cached
      --fetch         only download and unpack the kernel (setup.sh)
      --no-download   fail if no kernel is cached rather than fetch one
      --only NAMES    run only these tests (comma-separated, from:
                      verify_load,datapath,datapath-tc-ingress,conntrack,
                      conntrack-tc-ingress,diff,malformed-sweep,
                      malformed-sweep-tc-ingress,egw)
      --timeout SECS  kill the guest after SECS seconds (default: 3600)
      --log FILE      keep the guest's console here (default:
                      BUILD/meson-logs/kernel-test-console.txt)
  -h, --help          this text

KVM is used when /dev/kvm is usable, TCG (slower) otherwise, and when
qemu cannot start the guest under KVM.
Example:  scripts/kernel-test.sh --only verify_load
EOF
}

die() {
	echo "kernel-test: $*" >&2
	exit 1
}

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build
cache=${IDG_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/idgate/kernel}
deb=
refresh=0
fetch_only=0
no_download=0
only=
timeout_s=3600
log=

while [ $# -gt 0 ]; do
	case $1 in
	-B | --build) build=$2; shift 2 ;;
	-c | --cache) cache=$2; shift 2 ;;
	--deb) deb=$2; shift 2 ;;
	--refresh) refresh=1; shift ;;
	--fetch) fetch_only=1; shift ;;
	--no-download) no_download=1; shift ;;
	--only) only=$2; shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

if [ "$fetch_only" = 0 ]; then
	build=$(cd "$build" 2>/dev/null && pwd) || die "no build directory; run: meson setup build && ninja -C build"
	bin=$build/tests/datapath
	log=${log:-$build/meson-logs/kernel-test-console.txt}
fi

# The tests: name, then the command line in the guest (binaries under /idg).
all_tests=(
	"verify_load|/idg/verify_load"
	"datapath|/idg/test_datapath"
	"datapath-tc-ingress|/idg/test_datapath --ingress-tc"
	"conntrack|/idg/test_conntrack"
	"conntrack-tc-ingress|/idg/test_conntrack --ingress-tc"
	"diff|/idg/test_diff --packets 100000 --configs 100"
	"malformed-sweep|/idg/test_malformed_sweep"
	"malformed-sweep-tc-ingress|/idg/test_malformed_sweep --ingress-tc"
	"egw|/idg/test_egw"
)
# veth: test_egw's FIB namespace.
modules=(veth)

for t in qemu-system-x86_64 busybox cpio dpkg-deb ldd dash; do
	command -v "$t" >/dev/null || die "$t not found; run scripts/setup.sh (packages qemu-system-x86, busybox-static, cpio)"
done
busybox_bin=$(command -v busybox)
# The guest has no libc before /init runs: busybox must be the static one.
if ldd "$busybox_bin" >/dev/null 2>&1; then
	die "$busybox_bin is dynamically linked; install busybox-static"
fi
tests=()
for t in "${all_tests[@]}"; do
	name=${t%%|*}
	if [ -z "$only" ] || [[ ",$only," == *",$name,"* ]]; then
		tests+=("$t")
	fi
done
[ ${#tests[@]} -gt 0 ] || die "--only $only names no test"

# The test binaries the chosen tests run, each once.
binaries=()
for t in "${tests[@]}"; do
	cmd=${t#*|}
	b=${cmd%% *}
	b=${b#/idg/}
	[[ " ${binaries[*]} " == *" $b "* ]] || binaries+=("$b")
done
if [ "$fetch_only" = 0 ]; then
	for b in "${binaries[@]}"; do
		[ -x "$bin/$b" ] || die "$bin/$b missing; run: ninja -C $build"
	done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/idg-ktest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- the kernel package ------------------------------------------------------

mkdir -p "$cache"
if [ -z "$deb" ]; then
	deb=$(ls -t "$cache"/linux-image-*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ] || [ "$refresh" = 1 ]; then
		[ "$no_download" = 0 ] || die "no kernel package in $cache; run: scripts/kernel-test.sh --fetch (scripts/setup.sh does)"
		# The metapackage names the current image package of the release.
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
		[ -n "$pkg" ] || die "apt knows no linux-image-amd64 (is a Debian 12 source in /etc/apt/sources.list*?)"
		ver=$(apt-cache show "$pkg" | awk '/^Version:/ {print $2; exit}')
		case $ver in
		6.1.*) ;;
		*) die "$pkg is $ver, not Debian 12's 6.1 kernel; pass --deb FILE" ;;
		esac
		echo "kernel-test: downloading $pkg $ver into $cache"
		(cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) ||
			die "apt-get download $pkg failed"
		mv "$work"/linux-image-*.deb "$cache"/
		deb=$(ls -t "$cache"/linux-image-*.deb | head -n1)
	fi
fi
[ -f "$deb" ] || die "$deb: no such file"

# Unpacked once per package into the cache: the kernel and the modules.
kdir=$cache/$(basename "$deb" .deb)
if [ ! -f "$kdir/.unpacked" ]; then
	echo "kernel-test: unpacking $(basename "$deb")"
	rm -rf "$kdir"
	mkdir -p "$kdir"
	dpkg-deb -x "$deb" "$kdir"
	touch "$kdir/.unpacked"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
[ -n "$vmlinuz" ] || die "$deb holds no boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
moddir=
for d in "$kdir/lib/modules/$kver" "$kdir/usr/lib/modules/$kver"; do
	[ -d "$d" ] && { moddir=$d; break; }
done
[ -n "$moddir" ] || die "$deb holds no modules for $kver"
if [ "$fetch_only" = 1 ]; then
	echo "kernel-test: $kver ready in $kdir"
	exit 0
fi

# --- the guest's root --------------------------------------------------------

root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,idg,proc,sys,dev,tmp,run,modules,etc}
cp "$busybox_bin" "$root/bin/busybox"

# A binary and every shared library it loads, at the same paths.
add_binary() {
	local src_path=$1 dst=$2 lib
	cp "$src_path" "$root$dst"
	for lib in $(ldd "$src_path" | awk '/=> \// {print $3} /^\s*\/[^ ]+ \(/ {print $1}'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
for b in "${binaries[@]}"; do
	add_binary "$bin/$b" "/idg/$b"
done
# Debian's static busybox runs its own applets before PATH: its `ip`
# cannot make a veth pair with a named peer. The tests' system() calls get
# dash as /bin/sh (busybox --install does not replace it), hence the
# host's iproute2 and procps.
add_binary "$(command -v dash)" /bin/sh
for t in ip sysctl; do
	p=$(PATH=/usr/sbin:/sbin:$PATH command -v "$t") || die "$t not found (packages iproute2, procps)"
	add_binary "$p" "/usr/sbin/$t"
done
# ld.so is found under /lib64 by every x86-64 binary.
[ -e "$root/lib64" ] || [ ! -d /lib64 ] || { mkdir -p "$root/lib64" && cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"; }

# Modules in load order: each after the modules it depends on.
mod_order=()
add_module() {
	local name=$1 f dep
	for m in "${mod_order[@]}"; do
		[ "$m" = "$name" ] && return 0
	done
	f=$(find "$moddir/kernel" -name "$name.ko" -o -name "${name//_/-}.ko" | head -n1)
	if [ -z "$f" ]; then
		# Built into this kernel: nothing to load.
		grep -q "/$name.ko$" "$moddir/modules.builtin" 2>/dev/null && return 0
		die "module $name not in $kver"
	fi
	for dep in $(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$dep"
	done
	cp "$f" "$root/modules/$name.ko"
	mod_order+=("$name")
}
for m in "${modules[@]}"; do
	add_module "$m"
done
printf '%s\n' "${mod_order[@]}" >"$root/modules/order"

printf '%s\n' "${tests[@]}" >"$root/idg/tests"

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
# Only the tests' output on the console.
echo 1 >/proc/sys/kernel/printk
for m in $(cat /modules/order); do
	insmod "/modules/$m.ko" || echo "IDG-KTEST: insmod $m failed"
done
echo "IDG-KTEST: KERNEL $(uname -r) $(cat /proc/version)"
while IFS='|' read -r name cmd; do
	echo "IDG-KTEST: BEGIN $name"
	t0=$(date +%s)
	$cmd </dev/null
	rc=$?
	echo "IDG-KTEST: END $name rc=$rc secs=$(( $(date +%s) - t0 ))"
done </idg/tests
echo "IDG-KTEST: DONE"
sync
poweroff -f
EOF
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz"

# --- boot -------------------------------------------------------------------

accel=(-accel tcg,thread=multi -cpu max)
how=TCG
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	accel=(-accel kvm -cpu host)
	how=KVM
fi
cpus=$(nproc)
[ "$cpus" -le 4 ] || cpus=4

mkdir -p "$(dirname "$log")"
boot() { # boot: the guest under accel, its console in $log, qemu's status in qrc
	echo "kernel-test: booting $kver ($(basename "$deb")) under $how; console: $log"
	start=$(date +%s)
	set +e
	timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 "${accel[@]}" \
		-m 2048 -smp "$cpus" -nodefaults -no-reboot -display none \
		-serial stdio -monitor none \
		-kernel "$vmlinuz" -initrd "$work/initramfs.gz" \
		-append "console=ttyS0 panic=-1 quiet loglevel=3 mitigations=off" \
		</dev/null 2>&1 | tr -d '\r' | tee "$log"
	qrc=${PIPESTATUS[0]}
	set -e
	elapsed=$(( $(date +%s) - start ))
}
boot
# A /dev/kvm that qemu cannot use (a nested hypervisor refusing the host
# CPU's MSRs, say) stops qemu before the guest says anything: the same
# guest under TCG, said so, rather than a test that never ran.
if [ "$how" = KVM ] && ! grep -aq '^IDG-KTEST: ' "$log"; then
	echo "kernel-test: qemu could not run the guest under KVM (exit $qrc, above); booting it again under TCG"
	accel=(-accel tcg,thread=multi -cpu max)
	how=TCG
	boot
fi

# --- results ----------------------------------------------------------------

echo
echo "== kernel $kver under $how: ${elapsed}s =="
grep -m1 '^IDG-KTEST: KERNEL ' "$log" | sed 's/^IDG-KTEST: KERNEL /guest: /' || true
failed=0
for t in "${tests[@]}"; do
	name=${t%%|*}
	line=$(grep -a "^IDG-KTEST: END $name " "$log" | tail -n1 || true)
	if [ -z "$line" ]; then
		if grep -aq "^IDG-KTEST: BEGIN $name\$" "$log"; then
			printf '%-22s FAIL (did not finish: guest crashed or timed out)\n' "$name"
		else
			printf '%-22s FAIL (did not run)\n' "$name"
		fi
		failed=1
		continue
	fi
	rc=$(sed -n 's/.* rc=\([0-9]*\).*/\1/p' <<<"$line")
	secs=$(sed -n 's/.* secs=\([0-9]*\).*/\1/p' <<<"$line")
	if [ "$rc" = 0 ]; then
		printf '%-22s ok    %4ss\n' "$name" "$secs"
	else
		printf '%-22s FAIL  %4ss (exit %s)\n' "$name" "$secs" "$rc"
		failed=1
	fi
done
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "kernel-test: the guest was killed after ${timeout_s}s" >&2
	failed=1
elif ! grep -aq '^IDG-KTEST: DONE' "$log"; then
	echo "kernel-test: the guest stopped before the end (qemu exit $qrc)" >&2
	failed=1
fi
exit "$failed"
