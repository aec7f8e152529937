#!/bin/sh
# I/O benchmark: the default guest (Debian's cloud kernel, Ember's init) with fio and
# iperf3 added to its initramfs, under Ember and under QEMU's microvm machine, same
# kernel, same initramfs, same devices (one virtio-blk disk backed by a raw file, one
# virtio-net interface on a tap, both over virtio-mmio), 512 MiB and one vCPU each:
# - block: fio in the guest on /dev/vda (libaio, O_DIRECT): random 4 KiB reads and writes
#   (IOPS) and sequential 1 MiB reads and writes (MiB/s) at iodepth 32, random 4 KiB reads
#   at iodepth 1 (completion latency p50 and p99, us), random 4 KiB reads from 4 jobs at
#   iodepth 8 each (IOPS); the same fio jobs
#   (bench/io-guest.sh, one script for both sides) on the host against the backing file;
# - network: a tap in a network namespace this benchmark creates (host end 10.0.3.1/24,
#   an iperf3 server; the guest is 10.0.3.2/24): iperf3 guest to host and host to guest
#   (-R), and the median RTT of ping -c 20 -i 0.2.
# IO_RUNS (default 3) repetitions, each: host fio, Ember, QEMU, and more (up to IO_MAX_RUNS,
# default twice IO_RUNS) while a guest figure spreads over more than IO_SPREAD percent
# (default 50) of its median; then (IO_LIMITED=1, the default) one boot of each with the
# disk (and in Ember the interface) rate-limited: the rate achieved against the limit
# (IO_LIMIT_MIBS, IO_LIMIT_MBITS). Prints a Markdown table of the medians (min-max) and ratios,
# and Ember's per-device counters (--stats) of each run. Any failed run or missing figure fails the benchmark
# (status 1, with what went wrong); no figure is printed that was not measured.
#
# Environment: IO_RUNS (3), FIO_RUNTIME (5 s per fio job), IPERF_RUNTIME (5 s per
# direction), IO_DISK_MIB (256, the backing file), EMBER (default: build/ember, built
# with make), IO_PHASES=1 (afterwards, one Ember boot per block job with its counters:
# the per-request breakdown in the README), IO_ENGINE (Ember's --drive engine=, for
# comparisons; default: Ember's own choice), IO_PHASES_ENGINES (the engines of the
# IO_PHASES runs, e.g. "io_uring sync"). On this host's /dev/kvm it needs root (a namespace and a tap); where that
# cannot boot Linux (absent, unusable or PVM), everything runs inside the nested test rig
# (as root there), with the backing file on the rig's tmpfs.
# Files: bench/io-initrd.sh builds the guest's initramfs, bench/io-inner.sh does the runs
# where KVM is, bench/io-guest.sh is the workload (in the guest and on the host side).
set -eu
cd "$(dirname "$0")/.."
die() { echo "bench: $*" >&2; exit 1; }
num() { # NAME VALUE MIN
	case $2 in '' | *[!0-9]*) die "$1 must be a number, not '$2'" ;; esac
	[ "$2" -ge "$3" ] || die "$1 must be at least $3, not $2"
}

runs=${IO_RUNS:-3} rt=${FIO_RUNTIME:-5} nt=${IPERF_RUNTIME:-5} disk_mib=${IO_DISK_MIB:-256}
num IO_RUNS "$runs" 1
num FIO_RUNTIME "$rt" 1
num IPERF_RUNTIME "$nt" 1
num IO_DISK_MIB "$disk_mib" 16
max_runs=${IO_MAX_RUNS:-$((2 * runs))} spread=${IO_SPREAD:-50} phases=${IO_PHASES:-0}
num IO_MAX_RUNS "$max_runs" 1
num IO_SPREAD "$spread" 1
case $phases in 0 | 1) ;; *) die "IO_PHASES must be 0 or 1, not '$phases'" ;; esac
case ${IO_ENGINE:-} in '' | io_uring | sync) ;; *) die "IO_ENGINE must be io_uring or sync" ;; esac
pe=$(echo "${IO_PHASES_ENGINES:-}" | tr ' ' ,)
limited=${IO_LIMITED:-1} limit_mibs=${IO_LIMIT_MIBS:-16} limit_mbits=${IO_LIMIT_MBITS:-40}
case $limited in 0 | 1) ;; *) die "IO_LIMITED must be 0 or 1, not '$limited'" ;; esac
num IO_LIMIT_MIBS "$limit_mibs" 1
num IO_LIMIT_MBITS "$limit_mbits" 1
envs="IO_MAX_RUNS=$max_runs IO_SPREAD=$spread IO_PHASES=$phases IO_ENGINE=${IO_ENGINE:-} IO_PHASES_ENGINES=$pe"
envs="$envs IO_LIMITED=$limited IO_LIMIT_MIBS=$limit_mibs IO_LIMIT_MBITS=$limit_mbits"
for f in vmlinux initrd.cpio version; do
	[ -s "build/guest/$f" ] || die "build/guest/$f is missing: run make guest"
done
for t in fio iperf3 ip cpio qemu-system-x86_64; do
	command -v "$t" >/dev/null || die "$t is missing (run scripts/install-deps.sh)"
done
if [ -n "${EMBER:-}" ]; then
	[ -x "$EMBER" ] || die "EMBER=$EMBER is not an executable file"
	ember=$EMBER
else
	make -s build/ember
	ember=build/ember
fi
# Ember's default command line (src/config.h), for QEMU's -append; Ember keeps its own
# default, to which it adds its virtio-mmio devices. Same console, same log level.
cmdline="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux loglevel=3"
kver=$(cat build/guest/version)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/io-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sh bench/io-initrd.sh build/guest/initrd.cpio "$tmp/initrd-io.cpio"

# The runs' lines stream to the terminal as they come; the status is kept aside.
# A PVM host's KVM boots only PVM-aware kernels: Linux goes to the rig there too.
pvm=no
[ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ] && pvm=yes
if [ "$pvm" = no ] && [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then
	where="this host's /dev/kvm"
	[ "$(id -u)" = 0 ] || die "needs root here: it creates a network namespace and a tap"
	{
		st=0
		# shellcheck disable=SC2086 # $envs: NAME=VALUE words without spaces
		env $envs sh bench/io-inner.sh "$ember" build/guest/vmlinux "$tmp/initrd-io.cpio" \
			"$runs" "$rt" "$nt" "$disk_mib" "$cmdline" || st=$?
		echo "$st" >"$tmp/status"
	} | tee "$tmp/result"
else
	where="the nested test rig (QEMU TCG with an emulated AMD SVM CPU, kvm-amd inside, one vCPU; this host's /dev/kvm is absent, unusable or PVM)"
	# Host programs the rig lacks, with every library ldd lists, at their own paths.
	. bench/lib.sh
	adds=$tmp/adds
	: >"$adds"
	bench_add_prog "$ember" /ember/build/ember
	for t in fio iperf3 ip; do
		p=$(command -v "$t")
		bench_add_prog "$p" "$p"
	done
	# shellcheck disable=SC2046 # $adds holds "--add PATH:PATH" lines, no spaces in paths
	set -- $(sort -u "$adds")
	{
		st=0
		sh tests/rig/rig.sh --with-qemu --mem 4096 \
			--timeout $((900 + (max_runs + phases + limited) * (20 * rt + 4 * nt + 300))) --idle-timeout 600 \
			"$@" \
			--add build/guest/vmlinux:/ember/build/guest/vmlinux \
			--add "$tmp/initrd-io.cpio:/ember/build/bench/initrd-io.cpio" \
			--add bench/io-inner.sh:/ember/bench/io-inner.sh \
			--add bench/io-guest.sh:/ember/bench/io-guest.sh \
			--add bench/cmd-initrd.sh:/ember/bench/cmd-initrd.sh \
			-- env "$envs" sh bench/io-inner.sh build/ember build/guest/vmlinux \
			build/bench/initrd-io.cpio "$runs" "$rt" "$nt" "$disk_mib" "'$cmdline'" || st=$?
		echo "$st" >"$tmp/status"
	} | tee "$tmp/result"
fi
st=$(cat "$tmp/status" 2>/dev/null) || st=unknown
case $st in
0) ;;
124) die "FAILED: the rig stalled (no console output for 600 s); see above" ;;
*) die "FAILED (status $st): see above" ;;
esac
f="[0-9.]*/[0-9.]*/[0-9.]*"
blk="randread_iops=$f randwrite_iops=$f seqread_mibs=$f seqwrite_mibs=$f lat_p50_us=$f lat_p99_us=$f jobs4_iops=$f"
net="tx_gbits=$f rx_gbits=$f ping_ms=$f"
grep -q "^host runs=[0-9]* $blk\$" "$tmp/result" || die "FAILED: no complete result for the host side"
for m in ember qemu; do
	grep -q "^$m runs=[0-9]* $blk $net\$" "$tmp/result" || die "FAILED: no complete result for $m"
done
runs=$(sed -n 's/^ember runs=\([0-9]*\) .*/\1/p' "$tmp/result")
disk=$(sed -n 's/^disk: //p' "$tmp/result")
direct=$(sed -n 's/^host fio direct=\([01]\)$/\1/p' "$tmp/result")
if [ -z "$disk" ] || [ -z "$direct" ]; then
	die "FAILED: no 'disk:' or 'host fio direct=' line in the result"
fi
reps="$runs repetitions"
[ "$runs" -gt 1 ] || reps="one repetition"
range=", with (min-max)"
[ "$runs" -gt 1 ] || range=""

echo
echo "I/O of the default guest ($kver, Ember's init, 512 MiB, one vCPU) under Ember and"
echo "QEMU microvm, $reps of host fio, Ember, QEMU in turn, on $where."
echo "fio: libaio, $rt s per job, in the guest on /dev/vda with direct=1; iodepth 32 but"
echo "for the latency (iodepth 1, completion latency) and 4-job (iodepth 8 each) rows."
if [ "$direct" = 1 ]; then
	echo "Host fio: the same jobs on the backing file, $disk, with direct=1."
else
	echo "Host fio: the same jobs on the backing file, $disk, whose file system"
	echo "refused O_DIRECT: the host side ran with direct=0 (through the page cache)."
fi
echo "Both monitors use the host's page cache for the disk (QEMU cache=writeback, Ember"
echo "opens the file without O_DIRECT). iperf3 $nt s each way, one TCP stream; ping -c 20"
echo "-i 0.2, the median RTT. Medians$range:"
echo
awk -v runs="$runs" '
function fmt(x) { return x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : x >= 1 ? sprintf("%.2f", x) : sprintf("%.3f", x) }
function cell(s,   a) {
	split(s, a, "/")
	return runs > 1 ? fmt(a[1]) " (" fmt(a[2]) "-" fmt(a[3]) ")" : fmt(a[1])
}
function med(s,   a) { split(s, a, "/"); return a[1] }
function ratio(x, y) { return y > 0 ? sprintf("%.2fx", x / y) : "n/a" }
function row(name, key, has_host) {
	printf "| %s | %s | %s | %s | %s | %s |\n", name,
	       has_host ? cell(v["host", key]) : "-", cell(v["ember", key]), cell(v["qemu", key]),
	       has_host ? ratio(med(v["ember", key]), med(v["host", key])) : "-",
	       ratio(med(v["ember", key]), med(v["qemu", key]))
}
/^(host|ember|qemu) runs=/ {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[$1, kv[1]] = kv[2] }
}
END {
	print "| | host fio | Ember | QEMU microvm | Ember / host | Ember / QEMU |"
	print "| --- | ---: | ---: | ---: | ---: | ---: |"
	row("random 4 KiB read, IOPS", "randread_iops", 1)
	row("random 4 KiB write, IOPS", "randwrite_iops", 1)
	row("sequential 1 MiB read, MiB/s", "seqread_mibs", 1)
	row("sequential 1 MiB write, MiB/s", "seqwrite_mibs", 1)
	row("random 4 KiB read, iodepth 1, p50 latency us (lower is better)", "lat_p50_us", 1)
	row("random 4 KiB read, iodepth 1, p99 latency us (lower is better)", "lat_p99_us", 1)
	row("random 4 KiB read, 4 jobs x iodepth 8, IOPS", "jobs4_iops", 1)
	row("iperf3 guest to host, Gbit/s", "tx_gbits", 0)
	row("iperf3 host to guest, Gbit/s", "rx_gbits", 0)
	row("ping median RTT, ms (lower is better)", "ping_ms", 0)
}' "$tmp/result"
if [ "$limited" = 1 ]; then
	for m in ember qemu; do
		grep -q "^limited $m seqread_mibs=[0-9.]* tx_gbits=[0-9.]* rx_gbits=[0-9.]*\$" "$tmp/result" ||
			die "FAILED: no complete rate-limited result for $m"
	done
	echo
	echo "Rate-limited (IO_LIMITED=1): one more boot of each with the disk limited to"
	echo "$limit_mibs MiB/s (Ember: --drive bw=, a bucket of a second's bytes refilled every"
	echo "second, Firecracker's semantics; QEMU: throttling.bps-total) and, in Ember, the"
	echo "interface to $limit_mbits Mbit/s each way (--net rx_bw=,tx_bw=). QEMU's tap netdev has no"
	echo "limit to set: its net figures are unlimited ones, shown for scale. One run each:"
	echo
	awk -v lm="$limit_mibs" -v ln="$limit_mbits" '
	function f(x) { return x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x) }
	/^limited (ember|qemu) / { for (i = 3; i <= NF; i++) { split($i, kv, "="); v[$2, kv[1]] = kv[2] } }
	END {
		print "| limited | limit | Ember | Ember / limit | QEMU microvm | QEMU / limit |"
		print "| --- | ---: | ---: | ---: | ---: | ---: |"
		printf "| sequential 1 MiB read, MiB/s | %s | %s | %.2f | %s | %.2f |\n", lm,
		       f(v["ember", "seqread_mibs"]), v["ember", "seqread_mibs"] / lm,
		       f(v["qemu", "seqread_mibs"]), v["qemu", "seqread_mibs"] / lm
		printf "| iperf3 guest to host, Mbit/s | %s | %s | %.2f | %s (no limit) | - |\n", ln,
		       f(v["ember", "tx_gbits"] * 1000), v["ember", "tx_gbits"] * 1000 / ln,
		       f(v["qemu", "tx_gbits"] * 1000)
		printf "| iperf3 host to guest, Mbit/s | %s | %s | %.2f | %s (no limit) | - |\n", ln,
		       f(v["ember", "rx_gbits"] * 1000), v["ember", "rx_gbits"] * 1000 / ln,
		       f(v["qemu", "rx_gbits"] * 1000)
	}' "$tmp/result"
	sed -n 's/^command limited \([a-z]*\): /    \1, limited: /p' "$tmp/result"
fi
echo
echo "Ember's counters at exit (--stats) per run: kicks, interrupts and register exits per device:"
sed -n 's/^ember run=\([0-9]*\) stats: \(virtio-.*\)/    run \1: \2/p' "$tmp/result"
if [ "$phases" = 1 ]; then
	echo "One Ember boot per block job (IO_PHASES=1), the job's figure and the disk's counters:"
	sed -n 's/^phases \([a-z0-9]* ([a-z_]*)\): \(.*\)/    \1: \2/p; s/^phases \([a-z0-9]* ([a-z_]*)\) stats: \(virtio-blk.*\)/    \1: \2/p' "$tmp/result"
fi
echo
echo "Commands (NS: the benchmark's network namespace, holding the tap etapb):"
sed -n 's/^command [a-z]*: /    /p' "$tmp/result"
echo "Guest kernel: Debian's $kver; $(sed -n 's/^qemu version: //p' "$tmp/result");"
echo "$(sed -n 's/^fio version: //p' "$tmp/result"); $(sed -n 's/^iperf3 version: //p' "$tmp/result")."
echo "QEMU has rtc=on as in bench/boot.sh, and vhost=off: userspace virtio-net like Ember's"
echo "(/dev/vhost-net is absent in the rig). Ember also has its default virtio-rng."
