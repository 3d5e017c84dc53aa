#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# One-time setup on a fresh Debian 12 machine, as root: installs the
# Debian packages idgate needs, builds everything (the build loads every
# BPF program into this kernel, so a verifier rejection fails here), and
# runs `idgate demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (BPF needs it): sudo $0" >&2
	exit 1
fi

packages=(
	build-essential pkg-config meson ninja-build
	clang llvm bpftool
	# tests/fuzz/: libFuzzer and clang's sanitizer runtimes
	libclang-rt-14-dev
	libbpf-dev libxdp-dev libelf-dev zlib1g-dev
	libyaml-dev libnl-3-dev libnl-route-3-dev libjson-c-dev libmicrohttpd-dev
	libpcre2-dev
	# loader/kvstore: the cluster mesh's etcd client (docs/mesh.md)
	libcurl4-openssl-dev libssl-dev openssl
	libcmocka-dev
	iproute2 procps python3 curl postgresql tshark nftables ethtool
	# the L7 proxy idgate run supervises (docs/l7.md)
	haproxy
	# tests/integration/test_etcd_client.sh: a three-member etcd with TLS
	etcd-server etcd-client
	# bench/: DPDK traffic generator, baselines and measuring tools
	libdpdk-dev iptables iperf3 sockperf gnuplot-nox xdp-tools git wrk
	# scripts/kernel-test.sh: Debian 12's kernel booted in qemu
	qemu-system-x86 busybox-static cpio
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ -d build ]; then
	meson setup --reconfigure build
else
	meson setup build
fi
ninja -C build

# Debian 12's own kernel (6.1), for the tests that load every BPF program
# into it under qemu: fetched now so that the tests run offline.
scripts/kernel-test.sh --fetch

echo
echo "== BPF programs loaded by this kernel's verifier =="
cat build/tests/datapath/verifier-report.txt

# The embedded default: both reference scenarios, narrated, then removed.
echo
build/loader/idgate demo
