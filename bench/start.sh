#!/bin/sh
# Start-to-exit benchmark: the hello guest under Ember and under QEMU microvm, in the same
# run, median of RUNS (default 20), with peak RSS and the ratios.
# Where this host's /dev/kvm cannot be used, both run inside the nested test rig (a
# QEMU TCG machine with SVM): then the absolute times include nested-virtualization cost
# for both monitors alike, and the report says so.
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
make -s build/ember build/bench/runstat build/bench/hello_pvh.elf

if [ -c /dev/kvm ] && ( exec 3<>/dev/kvm ) 2>/dev/null; then
	where="this host's /dev/kvm"
	result=$(sh bench/start-inner.sh build/ember build/bench/runstat build/bench/hello_pvh.elf "$runs")
else
	where="the nested test rig (no usable /dev/kvm on this host)"
	result=$(sh tests/rig/rig.sh --with-qemu --timeout 1200 \
		--add build/ember:/ember/build/ember \
		--add build/bench:/ember/build/bench \
		--add bench/start-inner.sh:/ember/bench/start-inner.sh \
		-- sh bench/start-inner.sh build/ember build/bench/runstat build/bench/hello_pvh.elf "$runs")
fi
echo "$result" | grep -E '^(ember|qemu) runs=' >/dev/null || { echo "$result"; echo "bench: no result"; exit 1; }

field() { echo "$result" | sed -n "s/^$1 .*$2=\([0-9.]*\).*/\1/p"; }
e_ms=$(field ember median_ms) q_ms=$(field qemu median_ms)
e_rss=$(field ember median_rss_kib) q_rss=$(field qemu median_rss_kib)
echo "start-to-exit of the hello guest, $runs runs each, on $where:"
echo "$result" | grep -E '^(ember|qemu) runs='
awk -v e="$e_ms" -v q="$q_ms" -v er="$e_rss" -v qr="$q_rss" 'BEGIN {
	printf "%-28s %12s %12s %8s\n", "", "ember", "qemu microvm", "ratio"
	printf "%-28s %12.2f %12.2f %7.1fx\n", "median start-to-exit (ms)", e, q, q / e
	printf "%-28s %12d %12d %7.1fx\n", "median peak RSS (KiB)", er, qr, qr / er
}'
