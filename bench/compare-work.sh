#!/bin/sh
# bench/compare.sh's workload, the same in every platform (the rig's own processes, the
# containers, the guests): sysbench cpu and memory, the fio jobs of bench/io-guest.sh on
# FILE, and its network test (ping and iperf3 both ways against SERVER, eth0 given ADDR).
# Usage: compare-work.sh T NT FILE DIRECT ADDR/PREFIX SERVER
#   T: seconds per sysbench and fio job; NT: seconds per iperf3 direction; FILE '-' skips
#   the disk, ADDR '-' the network. eth0 must exist and have no address yet, or ADDR is
#   "preset": eth0 is up with its address (the containers' veth, set up from outside).
# Prints "io-result: KEY=VALUE" lines (cpu_eps, mem_mibs, then io-guest.sh's keys) and
# "io-guest: done"; on a failure "io-guest: FAILED: ..." and status 1.
set -u
IO_GUEST_LIB=1
# shellcheck source=bench/io-guest.sh
. "$(dirname "$0")/io-guest.sh"
[ $# -eq 6 ] || fail "usage: $0 T NT FILE DIRECT ADDR/PREFIX SERVER"
num T "$1"
num NT "$2"
sysbench cpu --threads=1 --time="$1" run >"$tmp/sb" 2>&1 || { sed 's/^/io-guest:   sysbench: /' "$tmp/sb"; fail "sysbench cpu failed"; }
v=$(sed -n 's/^ *events per second: *\([0-9.]*\).*/\1/p' "$tmp/sb")
[ -n "$v" ] || fail "sysbench cpu: no events per second"
echo "io-result: cpu_eps=$v"
sysbench memory --threads=1 --memory-block-size=1M --memory-total-size=1000G --time="$1" run \
	>"$tmp/sb" 2>&1 || { sed 's/^/io-guest:   sysbench: /' "$tmp/sb"; fail "sysbench memory failed"; }
v=$(sed -n 's/.*transferred (\([0-9.]*\) MiB\/sec).*/\1/p' "$tmp/sb")
[ -n "$v" ] || fail "sysbench memory: no MiB/sec"
echo "io-result: mem_mibs=$v"
if [ "$3" != - ]; then
	for job in randread randwrite seqread seqwrite; do
		fio_job "$job" "$3" "$4" "$1"
	done
fi
if [ "$5" != - ]; then
	if [ "$5" != preset ] && ip addr show dev eth0 2>/dev/null | grep -q 'inet '; then
		fail "eth0 has an address already: not ours"
	fi
	net "$2" "$5" "$6"
fi
say 'done'
