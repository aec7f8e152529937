#!/bin/sh
# Install the Debian packages Ember's build, tests and demo need, if any is missing.
# With the word bench: the packages `make compare` (bench/compare.sh) needs beyond those,
# kept out of `make test`'s set: the other container runtimes it compares (runc, gVisor's
# runsc) and sysbench (CPU and memory axes).
# Runs apt-get as root; otherwise prints the command to run.
set -eu
# liburing-dev: virtio-blk's io_uring engine. iproute2, e2fsprogs, socat: the device tests
# (taps in network namespaces, an ext4 root, the host end of vsock). fio, iperf3: bench/io.sh.
# libjansson-dev, libhttp-parser-dev: the REST API; curl: its tests; clang and
# libclang-rt-14-dev: `make fuzz` (libFuzzer). libseccomp-dev: the per-thread seccomp filters.
# man-db: tests/install.sh reads the installed man pages with man. python3-yaml,
# python3-jsonschema: tests/api_conformance.py checks the API against Firecracker's spec.
# crun, gnuplot-nox, strace: tests/compare-smoke.sh (a QUICK `make compare` of the rig's
# process, crun and Ember, with its charts and system-call counts).
pkgs="build-essential libcmocka-dev qemu-system-x86 busybox-static cpio lz4 zstd xz-utils ca-certificates acpica-tools
      liburing-dev iproute2 e2fsprogs socat fio iperf3 curl libjansson-dev libhttp-parser-dev
      clang libclang-rt-14-dev libseccomp-dev man-db python3-yaml python3-jsonschema
      crun gnuplot-nox strace"
[ "${1:-}" = bench ] && pkgs="runc runsc sysbench"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: not root; run: sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
