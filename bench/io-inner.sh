#!/bin/sh
# Runs where /dev/kvm works (the host, or inside the nested rig), as root: the I/O
# benchmark's runs for bench/io.sh. RUNS repetitions, each of: the fio jobs on the host
# side against the disk's backing file, then the default guest under Ember, then under
# QEMU's microvm machine, each guest running bench/io-guest.sh (fio on /dev/vda, ping and
# iperf3 over virtio-net to an iperf3 server on the host end of the tap). Any failed run,
# or one missing a figure, stops this script with status 1 and shows what it printed.
#
# Usage: io-inner.sh EMBER KERNEL INITRD RUNS FIO_RUNTIME NET_RUNTIME DISK_MIB CMDLINE
#   INITRD: the default guest's initramfs with fio, iperf3 and io-guest.sh appended
#   (bench/io-initrd.sh). Ember gets the guest's command with `-- CMD`; QEMU, which cannot
#   pass one, gets INITRD with the command archive appended (bench/cmd-initrd.sh).
#   CMDLINE: QEMU's -append; Ember keeps its default line, which adds its devices.
# Environment: TMPDIR, where the backing file goes; TUN_KO, a tun.ko to insmod when
# /dev/net/tun is missing (tests/rig/rig.sh loads tun itself); IO_SPREAD (default 50) and
# IO_MAX_RUNS (default 2 * RUNS): after RUNS repetitions, while a figure of Ember or QEMU
# spreads (max - min) over more than IO_SPREAD percent of its median, one more repetition
# runs, up to IO_MAX_RUNS in all; IO_PHASES=1: afterwards, one Ember run per block job with
# --stats, for the per-request breakdown ("phases JOB ..." lines); IO_ENGINE: Ember's
# --drive engine= (default: its own choice); IO_LIMITED=1 (the default): afterwards, one
# boot of each monitor with the disk limited to IO_LIMIT_MIBS MiB/s (default 16) and, in
# Ember, the interface to IO_LIMIT_MBITS Mbit/s each way (default 40): sequential reads
# and iperf3 both ways ("limited SOURCE KEY=VALUE..." lines). QEMU limits the disk
# (throttling.bps-total); its tap netdev has no limit to set, so its net figures there
# are unlimited ones.
# Prints facts about the setup ("disk: ...", "host fio direct=0|1"), one line per run
# ("host|ember|qemu run=N KEY=VALUE..."), Ember's --stats lines ("ember run=N stats: ..."),
# the commands and versions, then per source (N: the repetitions made):
#   SOURCE runs=N KEY=MEDIAN/MIN/MAX ...
set -eu
usage="usage: $0 EMBER KERNEL INITRD RUNS FIO_RUNTIME NET_RUNTIME DISK_MIB CMDLINE"
[ $# -eq 8 ] || { echo "$usage" >&2; exit 2; }
ember=$1 kernel=$2 initrd=$3 runs=$4 rt=$5 nt=$6 disk_mib=$7 cmdline=$8
spread=${IO_SPREAD:-50} max_runs=${IO_MAX_RUNS:-$((2 * runs))} phases=${IO_PHASES:-0}
limited=${IO_LIMITED:-1} limit_mibs=${IO_LIMIT_MIBS:-16} limit_mbits=${IO_LIMIT_MBITS:-40}
engine=${IO_ENGINE:+,engine=$IO_ENGINE}
[ "$max_runs" -ge "$runs" ] || max_runs=$runs
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "bench: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, a tap)"
for t in fio iperf3 qemu-system-x86_64 timeout; do
	command -v "$t" >/dev/null || die "$t is missing"
done
# iproute2's ip, by its path: busybox's sh (the rig's) runs its own ip applet first,
# which has neither netns nor tuntap.
ip=
for p in /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip; do
	[ -x "$p" ] && "$p" -V 2>/dev/null | grep -q iproute2 && { ip=$p; break; }
done
[ -n "$ip" ] || die "iproute2's ip is missing"
blk_keys="randread_iops randwrite_iops seqread_mibs seqwrite_mibs lat_p50_us lat_p99_us jobs4_iops"
guest_keys="$blk_keys tx_gbits rx_gbits ping_ms"
host_addr=10.0.3.1 guest_addr=10.0.3.2/24 tap=etapb
ns=ember-io$$

# The monitors' command lines are split on spaces (monitor_cmd): no spaces in paths.
for p in "$ember" "$kernel" "$initrd" "${TMPDIR:-/tmp}"; do
	case $p in *[[:space:]]*) die "'$p' has white space: the paths must not" ;; esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/io-inner.XXXXXX")
srv=
cleanup() {
	set +e
	[ -z "$srv" ] || { kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; }
	"$ip" netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The guest's command, for both monitors.
set -- sh /bench/io-guest.sh guest "$rt" "$nt" "$guest_addr" "$host_addr"
guest_cmd="$*"
sh "$here/cmd-initrd.sh" "$initrd" "$tmp/initrd-qemu.cpio" "$@"
set -- sh /bench/io-guest.sh limited "$rt" "$nt" "$guest_addr" "$host_addr"
limited_cmd="$*"
[ "$limited" != 1 ] || sh "$here/cmd-initrd.sh" "$initrd" "$tmp/initrd-qemu-limited.cpio" "$@"

# The backing file: written through (zeros), so that reads find allocated blocks.
disk=$tmp/disk.img
dd if=/dev/zero of="$disk" bs=1048576 count="$disk_mib" 2>"$tmp/dd" ||
	die "cannot write the $disk_mib MiB backing file $disk: $(cat "$tmp/dd")"
fstype=$(stat -f -c %T "$disk" 2>/dev/null) || fstype=unknown
# The host side's fio uses O_DIRECT when the file system takes it (tmpfs refused it
# before Linux 6.6); else buffered I/O, and the table says so.
direct=1
if ! fio --name=probe --filename="$disk" --rw=read --bs=4k --size=4k --ioengine=psync \
	--direct=1 >"$tmp/probe" 2>&1; then
	direct=0
	fio --name=probe --filename="$disk" --rw=read --bs=4k --size=4k --ioengine=psync \
		--direct=0 >"$tmp/probe" 2>&1 || {
		sed 's/^/bench:   fio: /' "$tmp/probe"
		die "fio cannot read $disk even without O_DIRECT"
	}
fi
echo "disk: a $disk_mib MiB file on $fstype (Linux $(uname -r))"
echo "host fio direct=$direct"

# The network: a namespace with a tap, the host end 10.0.3.1/24, an iperf3 server.
if [ ! -c /dev/net/tun ] && [ -n "${TUN_KO:-}" ]; then
	insmod "$TUN_KO" || die "cannot insmod $TUN_KO"
fi
[ -c /dev/net/tun ] || die "no /dev/net/tun"
[ -d /run ] || mkdir /run # ip netns keeps its names in /run/netns (none in the rig)
"$ip" netns add "$ns" || die "cannot create network namespace $ns"
"$ip" -n "$ns" link set lo up
"$ip" -n "$ns" tuntap add dev "$tap" mode tap || die "cannot create tap $tap in $ns"
"$ip" -n "$ns" addr add "$host_addr/24" dev "$tap"
"$ip" -n "$ns" link set "$tap" up
"$ip" netns exec "$ns" iperf3 -s -B "$host_addr" >"$tmp/iperf3-server" 2>&1 &
srv=$!
sleep 1
kill -0 "$srv" 2>/dev/null || {
	sed 's/^/bench:   iperf3 -s: /' "$tmp/iperf3-server"
	srv=
	die "the iperf3 server did not start"
}

# Each monitor's command line but for the kernel command line (QEMU's -append), which
# follows as one word. Both: 512 MiB, one vCPU, the disk with the host's page cache
# (Ember opens it without O_DIRECT; QEMU cache=writeback), the tap, userspace virtio-net
# (QEMU vhost=off: /dev/vhost-net is absent in the rig).
monitor_cmd() { # MONITOR
	if [ "$1" = ember ]; then
		echo "$ember" run --stats --kernel "$kernel" --initrd "$initrd" --mem 512 --vcpus 1 \
			--drive "path=$disk$engine" --net "tap=$tap" --
	else
		echo qemu-system-x86_64 -M microvm,acpi=on,rtc=on -enable-kvm -cpu host -m 512 -smp 1 \
			-nodefaults -no-user-config -nographic -serial stdio -no-reboot \
			-kernel "$kernel" -initrd "$tmp/initrd-qemu.cpio" \
			-drive "id=d0,file=$disk,format=raw,if=none,cache=writeback" \
			-device virtio-blk-device,drive=d0 \
			-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off" \
			-device virtio-net-device,netdev=n0 -append
	fi
}

# The figures KEYS from OUT's "io-result: KEY=VALUE" lines as " KEY=VALUE...", or fail.
figures() { # OUT KEYS
	_line=
	for _k in $2; do
		_v=$(sed -n "s/^io-result: $_k=\([0-9][0-9.]*\)\$/\1/p" "$1" | tail -n 1)
		[ -n "$_v" ] || return 1
		_line="$_line $_k=$_v"
	done
	grep -q '^io-guest: done$' "$1" || return 1
	echo "$_line"
}

fail_run() { # WHAT N WHY
	echo "bench: $1, run $2, FAILED: $3"
	[ ! -s "$tmp/err" ] || sed 's/^/bench:   stderr: /' "$tmp/err"
	tail -n 40 "$tmp/out" | sed 's/^/bench:   console: /'
	[ "$1" = host ] || tail -n 20 "$tmp/iperf3-server" | sed 's/^/bench:   iperf3 -s: /'
	exit 1
}

limit=$((300 + 6 * (rt + nt)))
run_one() { # SOURCE N
	: >"$tmp/err"
	st=0
	if [ "$1" = host ]; then
		sh "$here/io-guest.sh" blk "$disk" "$direct" "$rt" >"$tmp/out" 2>&1 || st=$?
		keys=$blk_keys
	else
		# The paths and the guest's command have no spaces; QEMU's -append is one word.
		# shellcheck disable=SC2046,SC2086
		if [ "$1" = ember ]; then
			set -- "$1" "$2" $(monitor_cmd ember) $guest_cmd
		else
			set -- "$1" "$2" $(monitor_cmd qemu) "$cmdline"
		fi
		m=$1 n=$2
		shift 2
		timeout "$limit" "$ip" netns exec "$ns" "$@" </dev/null >"$tmp/raw" 2>"$tmp/err" || st=$?
		tr -d '\r' <"$tmp/raw" >"$tmp/out"
		set -- "$m" "$n"
		keys=$guest_keys
	fi
	# Ember exits with the guest command's status; QEMU with 0 after the init's power-off
	# whatever the command did, so the guest's "io-guest: done" is checked as well.
	[ "$st" = 0 ] || fail_run "$1" "$2" "exit status $st$([ "$st" != 124 ] || echo ' (timed out)')"
	f=$(figures "$tmp/out" "$keys") || fail_run "$1" "$2" "a figure is missing"
	echo "$1 run=$2$f" | tee -a "$tmp/runs"
	[ "$1" != ember ] || sed -n "s/^ember: stats: /ember run=$2 stats: /p" "$tmp/err"
}

# MEDIAN/MIN/MAX of KEY over SOURCE's runs.
summary() { # SOURCE KEY
	sed -n "s/^$1 run=[0-9]* .*$2=\([0-9.]*\).*/\1/p" "$tmp/runs" | sort -n | awk '
	{ v[NR] = $1 }
	END {
		if (NR == 0) exit 1
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3f/%.3f/%.3f\n", med, v[1], v[NR]
	}'
}

# The figures of Ember and QEMU whose spread is wider than IO_SPREAD percent of the median.
wide() {
	for _s in ember qemu; do
		for _k in $guest_keys; do
			summary "$_s" "$_k" | awk -F/ -v lim="$spread" -v name="$_s:$_k" \
				'$1 > 0 && ($3 - $2) * 100 > lim * $1 { print name }'
		done
	done
}

: >"$tmp/runs"
i=1
while [ "$i" -le "$runs" ] || { [ "$i" -le "$max_runs" ] && w=$(wide) && [ -n "$w" ]; }; do
	[ "$i" -le "$runs" ] || echo "bench: repetition $i: spread over $spread% for $(echo "$w" | tr '\n' ' ')"
	run_one host "$i"
	run_one ember "$i"
	run_one qemu "$i"
	i=$((i + 1))
done
runs=$((i - 1))

# The per-job breakdown: Ember alone, one fio job per boot, its counters at exit.
if [ "$phases" = 1 ]; then
	for e in $(echo "${IO_PHASES_ENGINES:-${IO_ENGINE:-default}}" | tr , ' '); do
		engine=,engine=$e
		[ "$e" != default ] || engine=
		for job in randread randwrite seqread seqwrite lat; do
			: >"$tmp/err"
			st=0
			# shellcheck disable=SC2046 # no spaces in the paths (checked above)
			timeout "$limit" "$ip" netns exec "$ns" $(monitor_cmd ember) \
				sh /bench/io-guest.sh job "$job" "$rt" </dev/null >"$tmp/raw" 2>"$tmp/err" || st=$?
			tr -d '\r' <"$tmp/raw" >"$tmp/out"
			[ "$st" = 0 ] || fail_run "phases $job" 1 "exit status $st"
			echo "phases $job ($e): $(sed -n 's/^io-result: //p' "$tmp/out" | tr '\n' ' ')"
			sed -n "s/^ember: stats: /phases $job ($e) stats: /p" "$tmp/err"
		done
	done
fi

# The rate-limited boots: the rate each achieves against the limit set.
if [ "$limited" = 1 ]; then
	bps=$((limit_mibs * 1048576)) nbytes=$((limit_mbits * 125000))
	for m in ember qemu; do
		: >"$tmp/err"
		st=0
		if [ "$m" = ember ]; then
			lcmd="$ember run --stats --kernel $kernel --initrd $initrd --mem 512 --vcpus 1 \
--drive path=$disk$engine,bw=$bps --net tap=$tap,rx_bw=$nbytes,tx_bw=$nbytes -- $limited_cmd"
		else
			lcmd=$(monitor_cmd qemu | sed "s|cache=writeback|cache=writeback,throttling.bps-total=$bps|; \
s|$tmp/initrd-qemu.cpio|$tmp/initrd-qemu-limited.cpio|")
		fi
		# shellcheck disable=SC2086 # no spaces in the paths (checked above)
		if [ "$m" = ember ]; then
			timeout "$limit" "$ip" netns exec "$ns" $lcmd </dev/null >"$tmp/raw" 2>"$tmp/err" || st=$?
		else
			timeout "$limit" "$ip" netns exec "$ns" $lcmd "$cmdline" </dev/null >"$tmp/raw" 2>"$tmp/err" || st=$?
		fi
		tr -d '\r' <"$tmp/raw" >"$tmp/out"
		[ "$st" = 0 ] || fail_run "limited $m" 1 "exit status $st"
		f=$(figures "$tmp/out" "seqread_mibs tx_gbits rx_gbits") || fail_run "limited $m" 1 "a figure is missing"
		echo "limited $m$f"
		echo "command limited $m: ip netns exec NS $lcmd"
	done
	echo "limited limits blk_mibs=$limit_mibs net_mbits=$limit_mbits"
fi

echo "command ember: ip netns exec NS $(monitor_cmd ember) $guest_cmd"
printf "command qemu: ip netns exec NS %s '%s' (the initramfs carries: %s)\n" \
	"$(monitor_cmd qemu)" "$cmdline" "$guest_cmd"
echo "command host: sh bench/io-guest.sh blk $disk $direct $rt"
echo "qemu version: $(qemu-system-x86_64 --version | head -n 1)"
echo "fio version: $(fio --version)"
echo "iperf3 version: $(iperf3 --version | head -n 1)"

for s in host ember qemu; do
	keys=$guest_keys
	[ "$s" = host ] && keys=$blk_keys
	line="$s runs=$runs"
	for k in $keys; do
		v=$(summary "$s" "$k") || die "no $k for $s"
		line="$line $k=$v"
	done
	echo "$line"
done
