#!/bin/sh
# Boot benchmark: the default guest (Debian's cloud kernel, Ember's init, busybox) under
# Ember and under QEMU's microvm machine, same kernel, same initramfs, same command line:
# median time from process start to the init running and to process exit, and the
# monitor's median peak RSS, over BOOT_RUNS (default 11, at least 10) interleaved runs of
# each after one warm-up run of each. Prints a Markdown table, the command lines and the
# kernel version. Any failed run (status not 0, or no init marker) fails the benchmark.
#
# How "the init is running" is timed: with ember_mark=1 on the kernel command line the
# init's first act is to write "ember-init: ready" to the console (docs/CONTRACTS.md).
# bench/runstat starts its clock just before fork(), reads the monitor's stdout (the
# guest's serial console) from a pipe and stops the clock when the read that completes
# that line returns.
#
# The guest command is `true`, carried in the initramfs itself (bench/cmd-initrd.sh), so
# both monitors boot byte-identical files; the init then ends Ember through its exit port
# (0x603) and QEMU, which has no such port, by an ACPI power-off.
# Where this host's /dev/kvm cannot be used, both run inside the nested test rig.
set -eu
cd "$(dirname "$0")/.."
die() { echo "bench: $*" >&2; exit 1; }

runs=${BOOT_RUNS:-11}
case $runs in '' | *[!0-9]*) die "BOOT_RUNS must be a number, not '$runs'" ;; esac
[ "$runs" -ge 10 ] || die "BOOT_RUNS must be at least 10, not $runs"
for f in vmlinux initrd.cpio version; do
	[ -s "build/guest/$f" ] || die "build/guest/$f is missing: run make guest"
done
make -s build/ember build/bench/runstat
# Ember's default command line (src/config.h) and the init's marker switch; given whole
# to both monitors (Ember's --cmdline, QEMU's -append) so they cannot differ.
cmdline="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux loglevel=3 ember_mark=1"
# BOOT_KERNEL picks another vmlinux for both monitors, e.g. the tuned one from
# `make guest-kernel` (build/guest-kernel/vmlinux); the initramfs stays the default guest's.
kernel=${BOOT_KERNEL:-build/guest/vmlinux}
[ -s "$kernel" ] || die "BOOT_KERNEL=$kernel is missing"
if [ "$kernel" = build/guest/vmlinux ]; then
	kver="Debian's $(cat build/guest/version)"
else
	kver="$kernel"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/boot-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sh bench/cmd-initrd.sh build/guest/initrd.cpio "$tmp/initrd-true.cpio" true

# The runs' lines stream to the terminal as they come; the status is kept aside.
# A PVM host's KVM boots only PVM-aware kernels: Linux goes to the rig there too.
pvm=no
[ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ] && pvm=yes
if [ "$pvm" = no ] && [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then
	where="this host's /dev/kvm"
	{
		st=0
		sh bench/boot-inner.sh build/ember build/bench/runstat "$kernel" \
			"$tmp/initrd-true.cpio" "$runs" "$cmdline" || st=$?
		echo "$st" >"$tmp/status"
	} | tee "$tmp/result"
else
	where="the nested test rig (QEMU TCG with an emulated AMD SVM CPU, kvm-amd inside; this host's /dev/kvm is absent, unusable or PVM)"
	{
		st=0
		sh tests/rig/rig.sh --with-qemu --mem 2048 --timeout $((600 + 60 * runs)) \
			--add build/ember:/ember/build/ember \
			--add build/bench/runstat:/ember/build/bench/runstat \
			--add "$kernel:/ember/build/bench/vmlinux" \
			--add "$tmp/initrd-true.cpio:/ember/build/bench/initrd-true.cpio" \
			--add bench/boot-inner.sh:/ember/bench/boot-inner.sh \
			-- sh bench/boot-inner.sh build/ember build/bench/runstat build/bench/vmlinux \
			build/bench/initrd-true.cpio "$runs" "'$cmdline'" || st=$?
		echo "$st" >"$tmp/status"
	} | tee "$tmp/result"
fi
st=$(cat "$tmp/status" 2>/dev/null) || st=unknown
[ "$st" = 0 ] || die "FAILED (status $st): see above"
for m in ember qemu; do
	grep -q "^$m runs=$runs ready_ms=[0-9.]*/[0-9.]*/[0-9.]* exit_ms=[0-9.]*/[0-9.]*/[0-9.]* rss_kib=[0-9.]*/" \
		"$tmp/result" || die "FAILED: no complete result for $m"
done

echo
echo "Boot of $kver with the default guest's initramfs (its init runs \`true\`), $runs runs of each monitor"
echo "interleaved after one warm-up run each, on $where."
echo "Times count from just before fork(); \"init running\" is when bench/runstat read, from"
echo "the monitor's stdout (the guest's serial console), the line the init writes as its first"
echo "act when ember_mark=1 is on the kernel command line. Medians, with (min-max):"
echo
awk -v kver="$kver" '
function cell(s, unit,   a) { split(s, a, "/"); return sprintf("%.0f %s (%.0f-%.0f)", a[1], unit, a[2], a[3]) }
function med(s,   a) { split(s, a, "/"); return a[1] }
function row(name, key, unit) {
	printf "| %s | %s | %s | %.2fx |\n", name, cell(v["ember", key], unit),
	       cell(v["qemu", key], unit), med(v["qemu", key]) / med(v["ember", key])
}
/^(ember|qemu) runs=/ {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[$1, kv[1]] = kv[2] }
}
END {
	print "| | Ember | QEMU microvm | QEMU / Ember |"
	print "| --- | ---: | ---: | ---: |"
	row("start to init running (`ember-init: ready`)", "ready_ms", "ms")
	row("start to exit", "exit_ms", "ms")
	row("peak RSS of the monitor", "rss_kib", "KiB")
}' "$tmp/result"
echo
echo "Commands (the kernel command line is the same for both):"
sed -n 's/^command [a-z]*: /    /p' "$tmp/result"
echo "Guest kernel: $kver ($(sed -n 's/^qemu version: //p' "$tmp/result"))."
echo "QEMU has rtc=on: under KVM microvm otherwise leaves the RTC out without telling the"
echo "guest, and the kernel's rtc_cmos probe of the empty ports stalls for seconds; Ember's"
echo "FADT says there is no CMOS RTC. Both have the PIT, the PICs and an IOAPIC."
echo "Ember exits when the init writes the command's status to port 0x603; QEMU when the"
echo "kernel's ACPI power-off completes, so exit times include QEMU's kernel shutdown."
