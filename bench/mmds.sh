#!/bin/sh
# MMDS latency from the guest: milliseconds per busybox wget GET of one metadata key from
# 169.254.169.254 (Ember's own ARP/TCP/HTTP on the vmm thread), against the same GET of
# the same bytes from a busybox httpd on the host end of the tap (the host kernel's TCP),
# interleaved ten by ten in each boot.
# Each GET is a process start in the guest, a TCP connection and one request, so the
# difference of the two is what Ember's stack costs against the tap path. Medians of
# MMDS_RUNS boots (default 3), MMDS_GETS GETs each (default 100). On this host's /dev/kvm
# as root, else inside the nested rig (where absolute times say little; compare the two).
set -eu
cd "$(dirname "$0")/.."
die() { echo "bench: $*" >&2; exit 1; }
runs=${MMDS_RUNS:-3} n=${MMDS_GETS:-100}
case $runs$n in *[!0-9]*) die "MMDS_RUNS and MMDS_GETS must be numbers" ;; esac
[ "$runs" -ge 1 ] && [ "$n" -ge 10 ] || die "MMDS_RUNS must be at least 1, MMDS_GETS at least 10"
for f in vmlinux initrd.cpio; do
	[ -s "build/guest/$f" ] || die "build/guest/$f is missing: run make guest"
done
ember=${EMBER:-build/ember}
[ -x "$ember" ] || die "$ember is missing: run make"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mmds-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pvm=no
[ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ] && pvm=yes
if [ "$pvm" = no ] && [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then
	where="this host's /dev/kvm"
	[ "$(id -u)" = 0 ] || die "needs root here: it creates a network namespace and a tap"
	sh bench/mmds-inner.sh "$ember" build/guest/vmlinux build/guest/initrd.cpio "$n" "$runs" |
		tee "$tmp/result"
else
	where="the nested test rig (QEMU TCG, kvm-amd inside)"
	sh tests/rig/rig.sh --mem 2048 --timeout $((600 + runs * (n + 120))) --idle-timeout 600 \
		--add "$ember:/ember/build/ember" \
		--add build/guest/vmlinux:/ember/build/guest/vmlinux \
		--add build/guest/initrd.cpio:/ember/build/guest/initrd.cpio \
		--add bench/mmds-inner.sh:/ember/bench/mmds-inner.sh \
		--add bench/cmd-initrd.sh:/ember/bench/cmd-initrd.sh \
		-- sh bench/mmds-inner.sh /ember/build/ember /ember/build/guest/vmlinux \
		/ember/build/guest/initrd.cpio "$n" "$runs" | tee "$tmp/result"
fi
line=$(tr -d '\r' <"$tmp/result" | sed -n 's/^mmds //p')
[ -n "$line" ] || die "FAILED: no result (see above)"
m=$(echo "$line" | sed -n 's/.*mmds_ms=\([0-9.]*\).*/\1/p')
h=$(echo "$line" | sed -n 's/.*host_ms=\([0-9.]*\).*/\1/p')
echo
echo "MMDS GET latency from the guest, on $where; median of $runs boots, $n GETs each:"
echo
echo "| GET from the guest (busybox wget, one connection each) | ms per GET |"
echo "| --- | --- |"
echo "| MMDS, 169.254.169.254 (Ember's stack) | $m |"
echo "| busybox httpd on the tap's host end (host kernel TCP) | $h |"
echo
echo "Each boot (ms per GET, MMDS / httpd):"
tr -d '\r' <"$tmp/result" | sed -n 's/^run \([0-9]*\) mmds_ms=\([0-9.]*\) host_ms=\([0-9.]*\)$/\1 \2 \3/p' |
	awk '{ printf "  boot %s: %s / %s = %.2f\n", $1, $2, $3, $2 / $3 }'
