#!/bin/sh
# Runs where /dev/kvm works (the host, or inside the nested rig): the default guest's Linux
# boot under Ember and under QEMU's microvm machine, one warm-up run of each, then RUNS
# runs of each, interleaved. Every run must exit 0 and print the init's marker, or this
# script stops with status 1 and shows what the failed run printed.
# Usage: boot-inner.sh EMBER RUNSTAT KERNEL INITRD RUNS CMDLINE
# Prints one line per run ("ember run=N <runstat fields>"), the command lines, then per
# monitor: MONITOR runs=N ready_ms=MEDIAN/MIN/MAX exit_ms=... rss_kib=MEDIAN/MIN/MAX
set -eu
[ $# -eq 6 ] || { echo "usage: $0 EMBER RUNSTAT KERNEL INITRD RUNS CMDLINE" >&2; exit 2; }
ember=$1 runstat=$2 kernel=$3 initrd=$4 runs=$5 cmdline=$6
marker='ember-init: ready'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Each monitor's command line, but for the kernel command line, which follows it as one
# word. No `-- CMD` for Ember: the initrd already carries the command. QEMU gets rtc=on:
# under KVM microvm leaves the RTC out by default without telling the guest (Ember's FADT
# says "no CMOS RTC"), and the kernel's rtc_cmos probe of the absent ports then stalls for
# seconds in the nested rig; a working RTC is the fair setup. PIT and PIC: both have them.
monitor_cmd() { # MONITOR
	if [ "$1" = ember ]; then
		echo "$ember" run --kernel "$kernel" --initrd "$initrd" --mem 256 --vcpus 1 \
			--cmdline
	else
		echo qemu-system-x86_64 -M microvm,acpi=on,rtc=on -enable-kvm -cpu host -m 256 -smp 1 \
			-nodefaults -no-user-config -nographic -serial stdio -no-reboot \
			-kernel "$kernel" -initrd "$initrd" -append
	fi
}

# One timed run; appends "MONITOR run=N <fields>" to $tmp/runs, or stops the benchmark.
run_one() { # MONITOR N
	# shellcheck disable=SC2046 # the paths have no spaces; the command line is one word
	set -- "$1" "$2" $(monitor_cmd "$1") "$cmdline"
	m=$1 n=$2
	shift 2
	if ! line=$("$runstat" -n 1 -s 0 -t 300 -m "$marker" -o "$tmp/out" -- "$@" 2>"$tmp/err"); then
		echo "bench: $m, run $n, FAILED: $line"
		sed 's/^/bench:   stderr: /' "$tmp/err"
		tail -n 30 "$tmp/out" | sed 's/^/bench:   console: /'
		exit 1
	fi
	echo "$m run=$n $line" | tee -a "$tmp/runs"
}

run_one ember warm-up
run_one qemu warm-up
: >"$tmp/runs"
i=1
while [ "$i" -le "$runs" ]; do
	run_one ember "$i"
	run_one qemu "$i"
	i=$((i + 1))
done

for m in ember qemu; do
	printf 'command %s: %s '\''%s'\''\n' "$m" "$(monitor_cmd $m)" "$cmdline"
done
echo "qemu version: $(qemu-system-x86_64 --version | head -n 1)"

# MEDIAN/MIN/MAX of field F of monitor M's runs.
summary() { # M F
	sed -n "s/^$1 run=[0-9]* .* $2=\([0-9.]*\).*/\1/p" "$tmp/runs" | sort -n | awk '
	{ v[NR] = $1 }
	END {
		if (NR == 0) exit 1
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3f/%.3f/%.3f\n", med, v[1], v[NR]
	}'
}
for m in ember qemu; do
	ready=$(summary $m marker_median_ms) exit=$(summary $m median_ms) rss=$(summary $m median_rss_kib)
	echo "$m runs=$runs ready_ms=$ready exit_ms=$exit rss_kib=$rss"
done
