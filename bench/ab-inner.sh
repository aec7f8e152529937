#!/bin/sh
# Runs where /dev/kvm works (the host, or inside the nested rig): two Ember binaries, A and
# B, side by side on the hello guest (start to exit) and on the default guest's Linux boot
# (to the init's marker and to exit), RUNS runs each, interleaved A, B, A, B, ... after one
# warm-up run of each. Prints one line per run, then per binary and guest the medians.
# Usage: ab-inner.sh A B RUNSTAT HELLO KERNEL INITRD RUNS CMDLINE
set -eu
[ $# -eq 8 ] || { echo "usage: $0 A B RUNSTAT HELLO KERNEL INITRD RUNS CMDLINE" >&2; exit 2; }
a=$1 b=$2 runstat=$3 hello=$4 kernel=$5 initrd=$6 runs=$7 cmdline=$8
marker='ember-init: ready'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

field() { # LINE NAME
	echo "$1" | sed -n "s/.* $2=\([0-9.]*\).*/\1/p"
}

one() { # WHICH GUEST N
	bin=$a
	[ "$1" = B ] && bin=$b
	if [ "$2" = hello ]; then
		line=$("$runstat" -n 1 -s 0 -t 60 -- "$bin" run --kernel "$hello" --mem 128) || {
			echo "bench: $1 $2 run $3 FAILED: $line"
			exit 1
		}
		ready=-
	else
		line=$("$runstat" -n 1 -s 0 -t 300 -m "$marker" -o "$tmp/out" -- "$bin" run \
			--kernel "$kernel" --initrd "$initrd" --mem 256 --cmdline "$cmdline") || {
			echo "bench: $1 $2 run $3 FAILED: $line"
			tail -n 20 "$tmp/out"
			exit 1
		}
		ready=$(field "$line" marker_median_ms)
	fi
	echo "$1 $2 run=$3 exit_ms=$(field "$line" median_ms) ready_ms=$ready rss_kib=$(field "$line" median_rss_kib)" |
		tee -a "$tmp/runs"
}

for g in hello linux; do
	one A $g warm-up >/dev/null
	one B $g warm-up >/dev/null
	i=1
	while [ "$i" -le "$runs" ]; do
		one A $g "$i"
		one B $g "$i"
		i=$((i + 1))
	done
done

median() { # values on stdin
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for g in hello linux; do
	for w in A B; do
		sel() { grep "^$w $g run=[0-9]" "$tmp/runs" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
		echo "$w $g runs=$runs exit_ms=$(sel exit_ms | median) ready_ms=$(sel ready_ms | median) rss_kib=$(sel rss_kib | median)"
	done
done
