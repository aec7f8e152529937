#!/bin/sh
# Snapshot benchmark (issue 13): on the default guest's kernel and initramfs, 128 MiB, one
# vCPU, under Ember and under QEMU's microvm machine, in one run:
#   - creating a Full snapshot: Ember's SIGUSR2 under --snapshot-to (pause, write the state
#     and memory files, exit) against QEMU's HMP `migrate "exec:cat > FILE"` then `quit`,
#     each timed from the request to the process's exit, of a guest printing "tick" every
#     20 ms (its command is carried in the initramfs, bench/cmd-initrd.sh, for both);
#   - restoring to the guest's first reply: `ember restore STATE MEM` against
#     `qemu ... -incoming "exec:cat FILE"`, from fork to the restored loop's next "tick"
#     on the console (bench/runstat -m);
#   - `ember run --warm -- true` against a cold `ember run -- true` (the cache built first);
#   - the summed PSS (/proc/PID/smaps_rollup) of 1, 10 and 50 idle clones restored from
#     one snapshot of a guest sleeping in `sleep`.
# SNAP_RUNS (default 11) runs of each timing; SNAP_CLONES (default "1 10 50"). Medians with
# (min-max); targets (reported, not asserted): restore 10x faster than QEMU's incoming
# migration, --warm 10x faster than cold, 50 clones under 5x the memory of one.
# Where this host's /dev/kvm cannot be used, everything runs inside the nested test rig.
set -eu
cd "$(dirname "$0")/.."
die() { echo "bench: $*" >&2; exit 1; }

runs=${SNAP_RUNS:-11}
clones=${SNAP_CLONES:-1 10 50}
case $runs in '' | *[!0-9]*) die "SNAP_RUNS must be a number, not '$runs'" ;; esac
for f in vmlinux initrd.cpio version; do
	[ -s "build/guest/$f" ] || die "build/guest/$f is missing: run make guest"
done
make -s build/ember build/bench/runstat build/bench/now
cmdline="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux loglevel=3"
kver="Debian's $(cat build/guest/version)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/snapshot-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sh bench/cmd-initrd.sh build/guest/initrd.cpio "$tmp/initrd-tick.cpio" \
	sh -c 'echo booted; while :; do echo tick; sleep 0.02; done'
sh bench/cmd-initrd.sh build/guest/initrd.cpio "$tmp/initrd-idle.cpio" \
	sh -c 'echo booted; exec sleep 1000000'

pvm=no
[ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ] && pvm=yes
if [ "$pvm" = no ] && [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then
	where="this host's /dev/kvm"
	{
		st=0
		sh bench/snapshot-inner.sh build/ember build/bench/runstat build/bench/now \
			build/guest/vmlinux "$tmp/initrd-tick.cpio" "$tmp/initrd-idle.cpio" "$runs" \
			"$clones" "$cmdline" || st=$?
		echo "$st" >"$tmp/status"
	} | tee "$tmp/result"
else
	where="the nested test rig (QEMU TCG with an emulated AMD SVM CPU, kvm-amd inside; this host's /dev/kvm is absent, unusable or PVM)"
	{
		st=0
		sh tests/rig/rig.sh --with-qemu --mem "${SNAP_RIG_MEM:-4096}" --timeout 5400 \
			--idle-timeout 900 \
			--add build/ember:/ember/build/ember \
			--add build/guest:/ember/build/guest \
			--add build/bench/runstat:/ember/build/bench/runstat \
			--add build/bench/now:/ember/build/bench/now \
			--add "$tmp/initrd-tick.cpio:/ember/build/bench/initrd-tick.cpio" \
			--add "$tmp/initrd-idle.cpio:/ember/build/bench/initrd-idle.cpio" \
			--add bench/snapshot-inner.sh:/ember/bench/snapshot-inner.sh \
			-- sh bench/snapshot-inner.sh build/ember build/bench/runstat build/bench/now \
			build/guest/vmlinux build/bench/initrd-tick.cpio build/bench/initrd-idle.cpio \
			"$runs" "'$clones'" "'$cmdline'" || st=$?
		echo "$st" >"$tmp/status"
	} | tee "$tmp/result"
fi
st=$(cat "$tmp/status" 2>/dev/null) || st=unknown
[ "$st" = 0 ] || die "FAILED (status $st): see above"

echo
echo "Snapshots of $kver with the default guest's initramfs, 128 MiB, 1 vCPU, on $where;"
echo "$runs runs of each timing. Medians with (min-max):"
echo
awk '
function kv(line, key,   i, a, n) {
	n = split(line, a, " ")
	for (i = 1; i <= n; i++) if (index(a[i], key "=") == 1) return substr(a[i], length(key) + 2)
	return ""
}
function rng(lo, hi) { return sprintf("%.0f-%.0f", lo, hi) }
/^ember_create_ms median=/ { ec = kv($0, "median"); ecr = rng(kv($0, "min"), kv($0, "max")) }
/^qemu_create_ms median=/ { qc = kv($0, "median"); qcr = rng(kv($0, "min"), kv($0, "max")) }
/^ember restore / { er = kv($0, "marker_median_ms"); err = rng(kv($0, "marker_min_ms"), kv($0, "marker_max_ms")) }
/^qemu incoming / { qr = kv($0, "marker_median_ms"); qrr = rng(kv($0, "marker_min_ms"), kv($0, "marker_max_ms")) }
/^cold run / { cr = kv($0, "median_ms"); crr = rng(kv($0, "min_ms"), kv($0, "max_ms")) }
/^warm run / { wr = kv($0, "median_ms"); wrr = rng(kv($0, "min_ms"), kv($0, "max_ms")) }
/^clones n=/ { n = kv($0, "n"); pss[n] = kv($0, "pss_kib"); alive[n] = kv($0, "alive"); order[++nc] = n }
END {
	print "| | Ember | peer | peer / Ember (target) |"
	print "| --- | ---: | ---: | ---: |"
	printf "| create a Full snapshot, ms | %.0f (%s) | %.0f (%s) QEMU migrate exec:cat | %.2fx |\n", ec, ecr, qc, qcr, qc / ec
	printf "| restore to the guest'"'"'s first reply, ms | %.0f (%s) | %.0f (%s) QEMU -incoming exec:cat | %.2fx (10x) |\n", er, err, qr, qrr, qr / er
	printf "| `ember run -- true`, ms | %.0f (%s) `--warm` | %.0f (%s) cold | %.2fx (10x) |\n", wr, wrr, cr, crr, cr / wr
	for (i = 1; i <= nc; i++) {
		n = order[i]
		printf "| %s idle clone(s), summed PSS | %.1f MiB (%s alive) | | %.2fx the first row (50: under 5x) |\n", n, pss[n] / 1024, alive[n], pss[n] / pss[order[1]]
	}
}' "$tmp/result"
echo
echo "QEMU: $(sed -n 's/^qemu version: //p' "$tmp/result")."
