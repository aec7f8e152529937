#!/bin/sh
# A/B benchmark of two Ember binaries in the same run (e.g. a change against the commit
# before it): the hello guest's start to exit and the default guest's Linux boot, RUNS
# (default 21) interleaved runs each, medians and the ratio B/A. Where this host's
# /dev/kvm cannot be used, both run inside the nested test rig, in one rig session.
# Usage: sh bench/ab.sh A_EMBER B_EMBER   (e.g. an older build's build/ember, and ours)
set -eu
cd "$(dirname "$0")/.."
die() { echo "bench: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: sh bench/ab.sh A_EMBER B_EMBER"
[ -x "$1" ] && [ -x "$2" ] || die "both arguments must be ember binaries"
runs=${RUNS:-21}
make -s build/bench/runstat build/bench/hello_pvh.elf
for f in vmlinux initrd.cpio; do
	[ -s "build/guest/$f" ] || die "build/guest/$f is missing: run make guest"
done
cmdline="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux loglevel=3 ember_mark=1"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sh bench/cmd-initrd.sh build/guest/initrd.cpio "$tmp/initrd-true.cpio" true

if [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null && [ ! -d /sys/module/kvm_pvm ]; then
	where="this host's /dev/kvm"
	sh bench/ab-inner.sh "$1" "$2" build/bench/runstat build/bench/hello_pvh.elf \
		build/guest/vmlinux "$tmp/initrd-true.cpio" "$runs" "$cmdline" | tee "$tmp/result"
else
	where="the nested test rig (no usable /dev/kvm on this host)"
	sh tests/rig/rig.sh --mem 2048 --timeout $((900 + 40 * runs)) \
		--add "$1:/ember/ab/a" --add "$2:/ember/ab/b" \
		--add build/bench/runstat:/ember/build/bench/runstat \
		--add build/bench/hello_pvh.elf:/ember/build/bench/hello_pvh.elf \
		--add build/guest/vmlinux:/ember/build/bench/vmlinux \
		--add "$tmp/initrd-true.cpio:/ember/build/bench/initrd-true.cpio" \
		--add bench/ab-inner.sh:/ember/bench/ab-inner.sh \
		-- sh bench/ab-inner.sh ab/a ab/b build/bench/runstat build/bench/hello_pvh.elf \
		build/bench/vmlinux build/bench/initrd-true.cpio "$runs" "'$cmdline'" | tee "$tmp/result"
fi
grep -q '^B linux runs=' "$tmp/result" || die "no result"
echo
echo "A = $1, B = $2, $runs interleaved runs each, on $where (medians):"
awk '
/^[AB] (hello|linux) runs=/ {
	split($0, f, " ")
	for (i = 3; i <= NF; i++) { split($i, kv, "="); v[$1, $2, kv[1]] = kv[2] }
}
END {
	printf "| guest | measure | A | B | B/A of medians |\n|---|---|---:|---:|---:|\n"
	n = split("hello:exit_ms linux:ready_ms linux:exit_ms hello:rss_kib linux:rss_kib", rows, " ")
	for (r = 1; r <= n; r++) {
		split(rows[r], gm, ":")
		x = v["A", gm[1], gm[2]]; y = v["B", gm[1], gm[2]]
		printf "| %s | %s | %s | %s | %.3f |\n", gm[1], gm[2], x, y, (x > 0 ? y / x : 0)
	}
}' "$tmp/result"
# On a busy machine both binaries slow down together: the median of each run pair's ratio
# (A and B ran one after the other) is steadier than the ratio of the medians.
for gm in hello:exit_ms linux:ready_ms linux:exit_ms; do
	g=${gm%:*} m=${gm#*:}
	grep "^[AB] $g run=[0-9]" "$tmp/result" | sed -n "s/.* $m=\([0-9.]*\).*/\1/p" | paste - - |
		awk '{ printf "%.6f\n", $2 / $1 }' | sort -n |
		awk -v g="$g" -v m="$m" '{ r[NR] = $1 } END {
			med = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
			printf "paired B/A, %s %s: median %.3f (min %.3f, max %.3f, %d pairs)\n", g, m, med, r[1], r[NR], NR
		}'
done
