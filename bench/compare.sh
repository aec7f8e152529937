#!/bin/sh
# `make compare`: what does isolation cost? The seed studies' axes, measured in ONE run of
# the nested rig on the rig's own processes (native), crun, runc, gVisor's runsc (ptrace
# platform), ember-oci, QEMU microvm, kvmtool and Ember (bench/compare-inner.sh does the
# runs): start-to-exit and first output of a trivial workload, idle memory (PSS of the
# whole process tree) and CPU, sysbench cpu and memory, fio, iperf3 and ping, the distinct
# host system calls of one run (strace -f -c), the seccomp allowlist, and density (the Nth
# creation against the first, bench/density-inner.sh). Writes OUT/REPORT.md (tables,
# medians with min-max, the commands, the machine, the date, the commit), OUT/raw.txt and
# one chart per axis (gnuplot PNG) through bench/compare-report.sh.
# Environment: QUICK=1 (a few minutes: fewer runs, 1 s jobs, small N), COMPARE_PLATFORMS
# (default all eight), COMPARE_OUT (default compare), COMPARE_RUNS, COMPARE_RUNS_LINUX,
# COMPARE_T, COMPARE_NT, COMPARE_IDLE_S, COMPARE_DENSITY_N, COMPARE_RIG_MEM (MiB).
# A platform that cannot run in the rig gets its error in the report, never a figure.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
quick=${QUICK:-0}
if [ "$quick" = 1 ]; then
	d_runs=3 d_runs_linux=1 d_t=1 d_nt=1 d_idle=5 d_dn=5
else
	d_runs=10 d_runs_linux=3 d_t=5 d_nt=5 d_idle=10 d_dn=50
fi
platforms=${COMPARE_PLATFORMS:-native crun runc runsc ember-oci qemu kvmtool ember}
out=${COMPARE_OUT:-compare}
runs=${COMPARE_RUNS:-$d_runs} runs_linux=${COMPARE_RUNS_LINUX:-$d_runs_linux}
t=${COMPARE_T:-$d_t} nt=${COMPARE_NT:-$d_nt} idle_s=${COMPARE_IDLE_S:-$d_idle}
dn=${COMPARE_DENSITY_N:-$d_dn} rig_mem=${COMPARE_RIG_MEM:-4096}
for v in "$runs" "$runs_linux" "$t" "$nt" "$idle_s" "$dn" "$rig_mem"; do
	case $v in '' | *[!0-9]*) bench_die "compare: a COMPARE_* setting is not a number: '$v'" ;; esac
done
for f in bzImage initrd.cpio; do
	[ -s "build/guest/$f" ] || bench_die "compare: build/guest/$f is missing: run make guest"
done
bench_tmp compare
started=$(date -u '+%Y-%m-%d %H:%M UTC') t0=$(date +%s)
# The commit of the code that runs, taken now (the tree may change during a long run).
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
make -s build/ember build/ember-oci build/bench/runstat build/bench/hello_pvh.elf build/bench/spawn \
	build/bench/idle_pvh.elf build/bench/idle_flat.bin build/bench/hello_flat.bin

# The programs each platform needs in the rig, with their libraries; a missing one
# drops nothing here: the platform's rows then say what was missing.
: >"$tmp/adds"
missing=''
bench_add_prog build/ember /ember/build/ember
bench_add_prog build/ember-oci /ember/build/ember-oci
if lkvm=$(bench_kvmtool 2>"$tmp/lkvm.err"); then
	bench_add_prog "$lkvm" /ember/build/peers/lkvm
else
	missing="$missing kvmtool:$(tr ' ' _ <"$tmp/lkvm.err")"
fi
for prog in crun runc runsc strace fio iperf3 sysbench ip mkfs.ext4; do
	if p=$(command -v "$prog"); then
		bench_add_prog "$p" "$p"
	else
		missing="$missing $prog:not-installed_(scripts/install-deps.sh_bench)"
	fi
done
# The workload's programs in the guests' initramfs and in the containers' root.
IO_TOOLS="fio iperf3 sysbench" IO_STAGE=$tmp/rootfs sh bench/io-initrd.sh build/guest/initrd.cpio \
	"$tmp/initrd.cpio"
mkdir -p "$tmp/rootfs/bin"
cp "$(command -v busybox)" "$tmp/rootfs/bin/busybox"
ldd "$tmp/rootfs/bin/busybox" >/dev/null 2>&1 && bench_die "compare: busybox must be static (busybox-static)"

# The rig loads kvm and tun only; the containers' network needs veth.
veth=$(find build/debian-kernel/lib/modules -name veth.ko | head -n 1)
[ -n "$veth" ] || bench_die "compare: no veth.ko under build/debian-kernel/lib/modules"
echo "--add $veth:/ember/build/cmp/veth.ko" >>"$tmp/adds"

echo "compare: platforms: $platforms; in the rig now (QUICK=$quick)"
# shellcheck disable=SC2046 # "--add A:B" words without spaces
sh tests/rig/rig.sh --with-qemu --mem "$rig_mem" --timeout 3600 --idle-timeout 900 \
	$(sort -u "$tmp/adds") \
	--add build/bench:/ember/build/bench \
	--add build/guest/bzImage:/ember/build/guest/bzImage \
	--add build/guest/initrd.cpio:/ember/build/guest/initrd.cpio \
	--add "$tmp/initrd.cpio:/ember/build/cmp/initrd.cpio" \
	--add "$tmp/rootfs:/ember/build/cmp/rootfs" \
	--add bench/compare-inner.sh:/ember/bench/compare-inner.sh \
	--add bench/compare-work.sh:/ember/bench/compare-work.sh \
	--add bench/io-guest.sh:/ember/bench/io-guest.sh \
	--add bench/cmd-initrd.sh:/ember/bench/cmd-initrd.sh \
	--add bench/density-inner.sh:/ember/bench/density-inner.sh \
	-- PLATFORMS="'$platforms'" RUNS="$runs" RUNS_LINUX="$runs_linux" T="$t" NT="$nt" \
	IDLE_S="$idle_s" DENSITY_N="$dn" DISK_MIB=64 sh bench/compare-inner.sh | tee "$tmp/raw" || true
grep -q '^compare-inner: done' "$tmp/raw" || bench_die "compare: the rig run did not finish (see above)"
mkdir -p "$out"
{
	echo "meta started $started"
	echo "meta minutes $((($(date +%s) - t0 + 59) / 60))"
	echo "meta commit $commit"
	echo "meta host $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) CPUs, $(awk '/^MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
	echo "meta settings QUICK=$quick RUNS=$runs RUNS_LINUX=$runs_linux T=$t NT=$nt IDLE_S=$idle_s DENSITY_N=$dn rig --mem $rig_mem"
	echo "meta platforms $platforms"
	for m in $missing; do echo "na ${m%%:*} all ${m#*:}" | tr _ ' '; done
	grep -E '^(platform|value|na|cmd|info|density) ' "$tmp/raw"
} >"$out/raw.txt"
sh bench/compare-report.sh "$out"
echo "compare: wrote $out/REPORT.md and its charts"
