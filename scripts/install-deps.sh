#!/bin/sh
# Install the Debian packages Ember's build, tests and demo need, if any is missing.
# With the word bench: the packages `make compare` (bench/compare.sh) needs beyond those,
# kept out of `make test`'s set: the container runtimes it compares (crun, runc, gVisor's
# runsc), sysbench (CPU and memory axes), gnuplot (charts), strace (system call counts).
# Runs apt-get as root; otherwise prints the command to run.
set -eu
# liburing-dev: virtio-blk's io_uring engine. iproute2, e2fsprogs, socat: the device tests
# (taps in network namespaces, an ext4 root, the host end of vsock). fio, iperf3: bench/io.sh.
# libjansson-dev, libhttp-parser-dev: the REST API; curl: its tests; clang and
# libclang-rt-14-dev: `make fuzz` (libFuzzer). libseccomp-dev: the per-thread seccomp filters.
# man-db: tests/install.sh reads the installed man pages with man. python3-yaml,
# python3-jsonschema: tests/api_conformance.py checks the API against Firecracker's spec.
pkgs="build-essential libcmocka-dev qemu-system-x86 busybox-static cpio lz4 zstd xz-utils ca-certificates acpica-tools
      liburing-dev iproute2 e2fsprogs socat fio iperf3 curl libjansson-dev libhttp-parser-dev
      clang libclang-rt-14-dev libseccomp-dev man-db python3-yaml python3-jsonschema"
[ "${1:-}" = bench ] && pkgs="crun runc runsc sysbench gnuplot-nox strace"
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
