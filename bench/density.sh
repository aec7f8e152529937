#!/bin/sh
# Density benchmark: N idle guests started one after another and kept alive, under Ember,
# kvmtool and QEMU microvm in turn, in the same rig run (bench/density-inner.sh does the
# runs). For each: the time from fork to each guest's first console line (the first
# against the Nth, the median of the first 10 against the last 10), the summed PSS of all
# of them, and their CPU time and context switches over DENSITY_IDLE_S seconds of
# idleness. Two guests: the freestanding idle guest (one line, then HLT with interrupts
# off; bench/hello_pvh.S -DIDLE, and bench/idle_flat.S for kvmtool, which loads no ELF) and
# the default Linux guest (Debian's bzImage, Ember's init running `echo; sleep`).
# Environment: DENSITY_IDLE_N (1000: idle guests under Ember and kvmtool), DENSITY_QEMU_IDLE_N
# (200: QEMU's idle guests; each takes far more memory), DENSITY_LINUX_N (50),
# DENSITY_IDLE_S (30), DENSITY_MONITORS ("ember kvmtool qemu"), DENSITY_KINDS ("idle linux"),
# DENSITY_RIG_MEM (10240 MiB), DENSITY_OUT (also write the raw lines there), EMBER
# (default build/ember), KVMTOOL_BUILD (default ../shared/peers/build-kvmtool.sh).
# Any population that stops short says why (a failed guest with its console, or the rig's
# memory running low); no figure is printed that was not measured.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
idle_n=${DENSITY_IDLE_N:-1000} qemu_idle_n=${DENSITY_QEMU_IDLE_N:-200}
linux_n=${DENSITY_LINUX_N:-50} idle_s=${DENSITY_IDLE_S:-30} rig_mem=${DENSITY_RIG_MEM:-10240}
monitors=${DENSITY_MONITORS:-ember kvmtool qemu} kinds=${DENSITY_KINDS:-idle linux}
for v in "$idle_n" "$qemu_idle_n" "$linux_n" "$idle_s" "$rig_mem"; do
	case $v in '' | *[!0-9]*) bench_die "density: a DENSITY_* count is not a number: '$v'" ;; esac
done
bench_tmp density
make -s build/ember build/bench/spawn build/bench/idle_pvh.elf build/bench/idle_flat.bin
ember=${EMBER:-build/ember}
lkvm=$(bench_kvmtool) || true

specs=''
for k in $kinds; do
	for m in $monitors; do
		case $m:$k in
		kvmtool:*) [ -n "$lkvm" ] || { echo "density: kvmtool skipped: $(bench_kvmtool 2>&1)"; continue; } ;;
		esac
		case $k in
		idle) n=$idle_n; [ "$m" = qemu ] && n=$qemu_idle_n ;;
		linux) n=$linux_n ;;
		esac
		specs="$specs $m:$k:$n"
	done
done
sh bench/cmd-initrd.sh build/guest/initrd.cpio "$tmp/initrd-idle.cpio" \
	sh -c 'echo density-guest-idle; exec sleep 1000000'
: >"$tmp/adds"
bench_add_prog "$ember" /ember/build/ember
[ -z "$lkvm" ] || bench_add_prog "$lkvm" /ember/build/peers/lkvm
# shellcheck disable=SC2046,SC2086 # "--add A:B" words, no spaces in paths
sh tests/rig/rig.sh --with-qemu --mem "$rig_mem" --timeout 5400 --idle-timeout 900 \
	$(sort -u "$tmp/adds") \
	--add build/bench/spawn:/ember/build/bench/spawn \
	--add build/bench/idle_pvh.elf:/ember/build/bench/idle_pvh.elf \
	--add build/bench/idle_flat.bin:/ember/build/bench/idle_flat.bin \
	--add build/guest/bzImage:/ember/build/guest/bzImage \
	--add "$tmp/initrd-idle.cpio:/ember/build/bench/initrd-idle.cpio" \
	--add bench/density-inner.sh:/ember/bench/density-inner.sh \
	-- EMBER=build/ember LKVM=build/peers/lkvm SPAWN=build/bench/spawn \
	IDLE_ELF=build/bench/idle_pvh.elf IDLE_FLAT=build/bench/idle_flat.bin \
	KERNEL=build/guest/bzImage INITRD=build/bench/initrd-idle.cpio \
	sh bench/density-inner.sh "$idle_s" $specs | tee "$tmp/result" | grep -v '^creation ' || true
[ -z "${DENSITY_OUT:-}" ] || cp "$tmp/result" "$DENSITY_OUT"
grep -q '^density ' "$tmp/result" || bench_die "density: no result (see above)"
echo
bench_density_table "$tmp/result"
