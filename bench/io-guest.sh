#!/bin/sh
# The I/O benchmark's workload, for bench/io.sh: the same fio jobs run on the host side
# against the disk's backing file and inside the guest against /dev/vda, so the two cannot
# differ; in the guest, also iperf3 and ping against the host end of the tap.
# POSIX sh: runs under the guest's busybox, the rig's busybox and the host's sh.
#
# Usage: io-guest.sh blk FILE DIRECT RUNTIME
#            the six fio jobs (fio_job) on FILE (a block device or a regular file), with
#            direct=DIRECT (1 or 0), each RUNTIME seconds
#        io-guest.sh job NAME RUNTIME
#            inside the guest: the one fio job NAME on /dev/vda with direct=1 (for the
#            per-job counters of bench/io.sh's IO_PHASES runs)
#        io-guest.sh guest RUNTIME NETTIME ADDR/PREFIX SERVER
#            inside the guest: the fio jobs on /dev/vda with direct=1, then eth0 gets
#            ADDR/PREFIX, ping -c 20 -i 0.2 SERVER, and iperf3 -c SERVER for NETTIME
#            seconds each way (an iperf3 server must be listening on SERVER)
#        io-guest.sh limited RUNTIME NETTIME ADDR/PREFIX SERVER
#            as guest, but of the fio jobs only seqread (for bench/io.sh's rate-limited
#            row: the rate a limited disk and interface achieve against their limit)
# Prints one line per figure, "io-result: KEY=VALUE" (randread_iops, randwrite_iops,
# seqread_mibs, seqwrite_mibs, lat_p50_us, lat_p99_us, jobs4_iops; in the guest also ping_ms, tx_gbits = guest to host,
# rx_gbits = host to guest), then "io-guest: done". On any failure: a line
# "io-guest: FAILED: ..." with what the tool printed, and exit status 1.
set -u
say() { echo "io-guest: $*"; }
mode=
fail() {
	# In the guest, the kernel's errors (hidden by loglevel=3) often say why: a driver
	# that found its device misbehaving ("... is not a head!") gives up on it for good.
	[ "$mode" != guest ] || dmesg -r 2>/dev/null | grep '^<[0-3]>' | tail -n 10 |
		sed 's/^<[0-9]>/io-guest:   kernel: /'
	say "FAILED: $*"
	exit 1
}
num() { case $2 in '' | *[!0-9]*) fail "$1 must be a number, not '$2'" ;; esac; }
tmp=${TMPDIR:-/tmp}/io-guest.$$
mkdir -p "$tmp" || fail "cannot create $tmp"
trap 'rm -rf "$tmp"' EXIT

# One fio job over FILE; prints the job's figures. The same parameters for every job:
# libaio, time-based, no random map (random offsets may repeat, as they do on real
# workloads, and fio needs no per-block bitmap); iodepth and the number of jobs vary.
#   randread, randwrite, seqread, seqwrite: iodepth 32, one job (IOPS or MiB/s)
#   lat:  random 4 KiB reads at iodepth 1, one job: the completion latency's p50 and p99 (us)
#   jobs4: random 4 KiB reads from 4 jobs at iodepth 8 each (32 in flight in all), IOPS
fio_job() { # NAME FILE DIRECT RUNTIME
	case $1 in
	randread | lat | jobs4) rw=randread bs=4k ;;
	randwrite) rw=randwrite bs=4k ;;
	seqread) rw=read bs=1M ;;
	seqwrite) rw=write bs=1M ;;
	*) fail "unknown fio job $1" ;;
	esac
	depth=32 jobs=1
	[ "$1" = lat ] && depth=1
	[ "$1" = jobs4 ] && depth=8 jobs=4
	if ! fio --minimal --name="$1" --filename="$2" --rw="$rw" --bs="$bs" --ioengine=libaio \
		--iodepth="$depth" --numjobs="$jobs" --group_reporting --direct="$3" \
		--runtime="$4" --time_based --norandommap --randrepeat=0 >"$tmp/fio" 2>&1; then
		sed 's/^/io-guest:   fio: /' "$tmp/fio"
		fail "fio job $1 on $2 failed"
	fi
	# Terse format 3: field 5 the error, 7/8 read KiB/s and IOPS, 18-37 the read
	# completion latency's percentiles ("50.000000%=123", in us), 48/49 write KiB/s, IOPS.
	awk -F';' -v job="$1" '
	function pct(p,   i, kv) {
		for (i = 18; i <= 37; i++) {
			split($i, kv, "=")
			if (kv[1] == p "%") return kv[2]
		}
		return -1
	}
	$1 == 3 && $3 == job {
		found = 1
		if ($5 != 0) exit 1
		if (job == "lat") {
			p50 = pct("50.000000"); p99 = pct("99.000000")
			if (p50 <= 0 || p99 <= 0) exit 1
			printf "lat_p50_us=%.1f\nlat_p99_us=%.1f\n", p50, p99
			next
		}
		if (job == "randread" || job == "jobs4") v = $8
		else if (job == "randwrite") v = $49
		else if (job == "seqread") v = $7 / 1024
		else v = $48 / 1024
		if (v <= 0) exit 1
		printf "%s=%.1f\n", (job == "jobs4" ? "jobs4_iops" : job ~ /^rand/ ? job "_iops" : job "_mibs"), v
	}
	END { if (!found) exit 1 }' "$tmp/fio" >"$tmp/fig" || {
		sed 's/^/io-guest:   fio: /' "$tmp/fio"
		fail "fio job $1 on $2: no result, or an error, in its output"
	}
	sed 's/^/io-result: /' "$tmp/fig"
}

blk() { # FILE DIRECT RUNTIME
	[ -e "$1" ] || fail "$1 does not exist"
	for job in randread randwrite seqread seqwrite lat jobs4; do
		fio_job "$job" "$@"
	done
}

# The bitrate of iperf3's "receiver" summary line, in Gbit/s (-f m prints Mbit/s).
iperf_gbits() { # FILE
	awk '/ receiver$/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") v = $(i - 1) }
	END { if (v == "" || v <= 0) exit 1; printf "%.3f\n", v / 1000 }' "$1"
}

net() { # NETTIME ADDR/PREFIX|preset SERVER (preset: eth0 is up with its address already)
	if [ "$2" != preset ]; then
		ip link set lo up
		ip link set eth0 up || fail "no eth0 (is virtio_net loaded? $(ls /sys/class/net))"
		ip addr add "$2" dev eth0 || fail "cannot give eth0 $2"
	fi
	# The first replies wait for ARP and the link: up to 10 tries.
	n=0
	until ping -c 1 -W 2 "$3" >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt 10 ] || fail "no ping reply from $3 in 10 tries"
	done
	ping -c 20 -i 0.2 "$3" >"$tmp/ping" 2>&1 || {
		sed 's/^/io-guest:   ping: /' "$tmp/ping"
		fail "ping -c 20 -i 0.2 $3 failed"
	}
	# The median of the 20 replies' times.
	sed -n 's/.* time=\([0-9.]*\) *ms.*/\1/p' "$tmp/ping" | sort -n | awk '
	{ v[NR] = $1 }
	END {
		if (NR < 20) exit 1
		printf "io-result: ping_ms=%.3f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	}' || { sed 's/^/io-guest:   ping: /' "$tmp/ping"; fail "fewer than 20 ping replies"; }
	for dir in tx rx; do
		r=
		[ "$dir" = rx ] && r='-R --rcv-timeout 30000' # only a receiving client takes it
		# A stalled transfer is reported from here, with what iperf3 printed, rather
		# than by the monitor's timeout outside.
		st=0
		# shellcheck disable=SC2086 # $r is empty or options without spaces
		timeout $(($1 + 60)) iperf3 -c "$3" -t "$1" -f m --connect-timeout 10000 $r \
			>"$tmp/iperf" 2>&1 || st=$?
		if [ "$st" != 0 ] || ! g=$(iperf_gbits "$tmp/iperf"); then
			sed 's/^/io-guest:   iperf3: /' "$tmp/iperf"
			case $st in
			124 | 143) fail "iperf3 -c $3 $r stalled: killed after $(($1 + 60)) s" ;;
			0) fail "iperf3 -c $3 $r gave no receiver figure" ;;
			*) fail "iperf3 -c $3 $r failed with status $st" ;;
			esac
		fi
		echo "io-result: ${dir}_gbits=$g"
		sleep 1 # the server's end of the test may still be closing
	done
}

# Sourced by bench/compare-work.sh for its functions only.
[ "${IO_GUEST_LIB:-}" = 1 ] && return 0

[ $# -ge 1 ] || fail "usage: $0 blk FILE DIRECT RUNTIME | guest|limited RUNTIME NETTIME ADDR/PREFIX SERVER | job NAME RUNTIME"
mode=$1
shift
case $mode in
blk)
	[ $# -eq 3 ] || fail "usage: $0 blk FILE DIRECT RUNTIME"
	num DIRECT "$2"
	num RUNTIME "$3"
	blk "$@"
	;;
guest)
	[ $# -eq 4 ] || fail "usage: $0 guest RUNTIME NETTIME ADDR/PREFIX SERVER"
	num RUNTIME "$1"
	num NETTIME "$2"
	# Only inside the benchmark's guest, whose init read its command from /ember.cmd:
	# elsewhere /dev/vda may be a disk that matters, and eth0 an interface in use.
	if [ ! -e /ember.cmd ] || [ ! -e /etc/ember/modules ]; then
		fail "guest mode runs only in the default guest: it overwrites /dev/vda"
	fi
	blk /dev/vda 1 "$1"
	net "$2" "$3" "$4"
	;;
limited)
	[ $# -eq 4 ] || fail "usage: $0 limited RUNTIME NETTIME ADDR/PREFIX SERVER"
	num RUNTIME "$1"
	num NETTIME "$2"
	if [ ! -e /ember.cmd ] || [ ! -e /etc/ember/modules ]; then
		fail "limited mode runs only in the default guest: it reads /dev/vda"
	fi
	fio_job seqread /dev/vda 1 "$1"
	net "$2" "$3" "$4"
	;;
job)
	[ $# -eq 2 ] || fail "usage: $0 job NAME RUNTIME"
	num RUNTIME "$2"
	if [ ! -e /ember.cmd ] || [ ! -e /etc/ember/modules ]; then
		fail "job mode runs only in the default guest: it overwrites /dev/vda"
	fi
	fio_job "$1" /dev/vda 1 "$2"
	;;
*) fail "unknown mode '$mode'" ;;
esac
say 'done'
