#!/bin/sh
# Start-to-exit benchmark: the hello guest under Ember, QEMU microvm and kvmtool (its
# flat-binary twin: kvmtool loads no ELF), in the same run, median of RUNS (default 20),
# with peak RSS and the ratios; then where Ember's time goes (--trace-start's phases).
# Where this host's /dev/kvm cannot be used, both run inside the nested test rig (a
# QEMU TCG machine with SVM): then the absolute times include nested-virtualization cost
# for both monitors alike, and the report says so.
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
. bench/lib.sh
make -s build/ember build/bench/runstat build/bench/hello_pvh.elf build/bench/hello_flat.bin
lkvm=$(bench_kvmtool) || { echo "bench: kvmtool skipped"; lkvm=''; }

if [ -c /dev/kvm ] && ( exec 3<>/dev/kvm ) 2>/dev/null; then
	where="this host's /dev/kvm"
	result=$(sh bench/start-inner.sh build/ember build/bench/runstat build/bench/hello_pvh.elf "$runs" \
		"$lkvm" build/bench/hello_flat.bin)
else
	where="the nested test rig (no usable /dev/kvm on this host)"
	result=$(sh tests/rig/rig.sh --with-qemu --timeout 1200 \
		--add build/ember:/ember/build/ember \
		--add build/bench:/ember/build/bench \
		--add bench/start-inner.sh:/ember/bench/start-inner.sh \
		${lkvm:+--add $lkvm:/ember/build/peers/lkvm} \
		-- sh bench/start-inner.sh build/ember build/bench/runstat build/bench/hello_pvh.elf "$runs" \
		"${lkvm:+build/peers/lkvm}" build/bench/hello_flat.bin)
fi
echo "$result" | grep -E '^(ember|qemu) runs=' >/dev/null || { echo "$result"; echo "bench: no result"; exit 1; }

field() { echo "$result" | sed -n "s/^$1 .*$2=\([0-9.]*\).*/\1/p"; }
e_ms=$(field ember median_ms) q_ms=$(field qemu median_ms) k_ms=$(field kvmtool median_ms)
e_rss=$(field ember median_rss_kib) q_rss=$(field qemu median_rss_kib) k_rss=$(field kvmtool median_rss_kib)
echo "start-to-exit of the hello guest, $runs runs each, on $where:"
echo "$result" | grep -E '^(ember|qemu|kvmtool) runs='
awk -v e="$e_ms" -v q="$q_ms" -v k="${k_ms:-0}" -v er="$e_rss" -v qr="$q_rss" -v kr="${k_rss:-0}" 'BEGIN {
	printf "%-28s %10s %12s %8s %10s %8s\n", "", "ember", "qemu microvm", "ratio", "kvmtool", "ratio"
	printf "%-28s %10.2f %12.2f %7.1fx %10.2f %7.2fx\n", "median start-to-exit (ms)", e, q, q / e, k, k / e
	printf "%-28s %10d %12d %7.1fx %10d %7.2fx\n", "median peak RSS (KiB)", er, qr, qr / er, kr, kr / er
}'
echo "where Ember's start goes (--trace-start, median gap before each phase, ms):"
echo "$result" | sed -n 's/^phase \([a-z-]*\) median_ms=\([0-9.]*\)/  \1 \2/p'
