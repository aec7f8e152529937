#!/bin/sh
# bench/mmds.sh's runs, where KVM is (this host, or inside the nested rig), as root:
# the default guest (API mode, --config-file, --metadata) on a tap in a network namespace
# made here, whose host end (10.0.3.1/24) serves the same value with busybox httpd. The
# guest times N sequential busybox wget GETs of one MMDS key (169.254.169.254, answered
# inside Ember's vmm thread) and N of the same body from the host's kernel TCP stack over
# the tap: one process start, one TCP connection and one HTTP exchange each. N is rounded
# down to tens (at least 10).
# Usage: mmds-inner.sh EMBER VMLINUX INITRD N RUNS; prints "run K mmds_ms=.. host_ms=.."
# per run (milliseconds per GET) and a last line "mmds mmds_ms=MED host_ms=MED".
set -eu
ember=$1 vmlinux=$2 initrd=$3 n=$4 runs=$5
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/mmds-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Interleaved in rounds of 10 GETs each way, so that both see the same load on a busy host.
sh "$dir/cmd-initrd.sh" "$initrd" "$tmp/initrd.cpio" sh -c '
ip link set eth0 up && ip addr add 169.254.0.2/16 dev eth0 && ip addr add 10.0.3.2/24 dev eth0
up() { cut -d" " -f1 /proc/uptime | tr -d .; }
get() { i=0; while [ $i -lt 10 ]; do wget -q -O /dev/null "$1" || echo "wget failed: $1"; i=$((i + 1)); done; }
M=http://169.254.169.254/latest/meta-data/ami-id H=http://10.0.3.1/ami-id
get $M; get $H
m=0 h=0 r=0
while [ $r -lt $(('"$n"' / 10)) ]; do
	a=$(up); get $M; b=$(up); get $H; c=$(up)
	m=$((m + b - a)) h=$((h + c - b)) r=$((r + 1))
done
k=$((r * 10))
echo "result mmds_ms=$((m * 10 / k)).$((m * 100 / k % 10)) host_ms=$((h * 10 / k)).$((h * 100 / k % 10))"'

printf '{"latest": {"meta-data": {"ami-id": "ami-1"}}}' >"$tmp/meta.json"
mkdir "$tmp/www"
printf 'ami-1' >"$tmp/www/ami-id"
cat >"$tmp/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$vmlinux", "initrd_path": "$tmp/initrd.cpio",
  "boot_args": "console=ttyS0 reboot=k panic=1 pci=off loglevel=3"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
 "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "vtap0", "guest_mac": "06:00:0a:00:03:02"}],
 "mmds-config": {"version": "V1", "network_interfaces": ["eth0"]}}
JSON
cat >"$tmp/netns.sh" <<NS
set -e
{ /usr/sbin/ip tuntap add dev vtap0 mode tap || /sbin/ip tuntap add dev vtap0 mode tap ||
	tunctl -t vtap0; } >/dev/null 2>&1
ip link set lo up; ip addr add 10.0.3.1/24 dev vtap0; ip link set vtap0 up
busybox httpd -f -p 10.0.3.1:80 -h "$tmp/www" & h=\$!
"$ember" --no-api --config-file "$tmp/vm.json" --metadata "$tmp/meta.json" </dev/null
kill \$h
NS
k=1
while [ "$k" -le "$runs" ]; do
	unshare -n sh "$tmp/netns.sh" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
	line=$(tr -d '\r' <"$tmp/out" | sed -n 's/^result //p')
	[ -n "$line" ] || { echo "run $k: no result" >&2; tail -20 "$tmp/out" "$tmp/err" >&2; exit 1; }
	if tr -d '\r' <"$tmp/out" | grep -q 'wget failed'; then
		echo "run $k: a GET failed" >&2
		exit 1
	fi
	echo "run $k $line"
	echo "$line" >>"$tmp/all"
	k=$((k + 1))
done
med() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$tmp/all" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "mmds mmds_ms=$(med mmds_ms) host_ms=$(med host_ms)"
