#!/bin/sh
# Runs where /dev/kvm works (the host, or inside the nested rig): start-to-exit of the
# same hello guest under Ember and under QEMU's microvm machine, and of its flat-binary
# twin (bench/idle_flat.S -DEXIT) under kvmtool when LKVM is given, RUNS times each (one
# monitor's runs, then the next's); then Ember's --trace-start phases, the median of each
# over RUNS more runs.
# Usage: start-inner.sh EMBER RUNSTAT GUEST RUNS [LKVM FLAT]
set -eu
ember=$1 runstat=$2 guest=$3 runs=$4 lkvm=${5:-} flat=${6:-}
out=$(mktemp) trace=$(mktemp)
trap 'rm -f "$out" "$trace"' EXIT
monitors="ember qemu"
[ -z "$lkvm" ] || monitors="$monitors kvmtool"

# monitor_cmd M: the command line that runs the hello guest under M.
monitor_cmd() {
	case $1 in
	ember) echo "$ember run --kernel $guest --mem 128" ;;
	qemu) echo "qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 128 -smp 1 -nodefaults \
-no-user-config -display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 \
-kernel $guest" ;;
	kvmtool) echo "$lkvm run --nodefaults -n mode=none -c 1 -m 128 --console serial -k $flat" ;;
	esac
}
# QEMU's isa-debug-exit ends QEMU with status (0 << 1) | 1 = 1.
monitor_status() { [ "$1" = qemu ] && echo 1 || echo 0; }

# One run of each first, to check each really prints the guest's line.
for m in $monitors; do
	# shellcheck disable=SC2046,SC2091 # the command's words, run
	$(monitor_cmd "$m") >"$out" 2>/dev/null </dev/null || true
	grep -q 'Hello from an Ember guest' "$out" || { echo "bench: $m did not run the guest:"; cat "$out"; exit 1; }
done

for m in $monitors; do
	printf '%s ' "$m"
	# shellcheck disable=SC2046,SC2091
	"$runstat" -n "$runs" -s "$(monitor_status "$m")" -- $(monitor_cmd "$m") 2>/dev/null
done

# Ember's phases: --trace-start's lines of RUNS runs, each phase's median gap.
i=0
while [ $i -lt "$runs" ]; do
	# shellcheck disable=SC2046,SC2091
	$(monitor_cmd ember) --trace-start >/dev/null 2>>"$trace" </dev/null || true
	i=$((i + 1))
done
# shellcheck disable=SC2013 # phase names are single words
for p in $(sed -n 's/^start: \([a-z-]*\) .*/\1/p' "$trace" | awk '!seen[$1]++'); do
	printf 'phase %s ' "$p"
	grep "^start: $p " "$trace" | sed 's/.*(+\([0-9.]*\))$/\1/' | sort -n |
		awk '{ v[NR] = $1 } END { printf "median_ms=%.3f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
done
