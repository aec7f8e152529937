#!/bin/sh
# Runs where /dev/kvm works (the host, or inside the nested rig): start-to-exit of the
# same hello guest under Ember and under QEMU's microvm machine, RUNS times each.
# Usage: start-inner.sh EMBER RUNSTAT GUEST RUNS
set -eu
ember=$1 runstat=$2 guest=$3 runs=$4
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# One run of each first, to check both really print the guest's line.
for m in ember qemu; do
	if [ $m = ember ]; then
		"$ember" run --kernel "$guest" --mem 128 >"$out" </dev/null || true
	else
		qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 128 -smp 1 -nodefaults \
			-no-user-config -display none -serial stdio -no-reboot \
			-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$guest" >"$out" </dev/null || true
	fi
	grep -q 'Hello from an Ember guest' "$out" || { echo "bench: $m did not run the guest:"; cat "$out"; exit 1; }
done

printf 'ember '
"$runstat" -n "$runs" -s 0 -- "$ember" run --kernel "$guest" --mem 128
# QEMU's isa-debug-exit ends QEMU with status (0 << 1) | 1 = 1.
printf 'qemu '
"$runstat" -n "$runs" -s 1 -- qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 128 -smp 1 \
	-nodefaults -no-user-config -display none -serial stdio -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$guest"
