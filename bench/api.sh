#!/bin/sh
# API benchmark: Ember's REST API against QEMU's QMP, the control socket of the nearest
# peer Debian packages (Firecracker is not in Debian), in the same run, on this host (no
# guest runs: both are timed before any VM starts, so no KVM is needed).
#   - process start to control socket ready (Ember: accepts a connection; QEMU: the QMP
#     greeting), over API_STARTS starts (default 50);
#   - API_REQUESTS (default 10000) requests on one connection: Ember's GET / and
#     PUT /machine-config, QEMU's query-status and qom-set.
# Prints a Markdown table of medians, p99 and minimum, and the ratios.
set -eu
cd "$(dirname "$0")/.."
die() { echo "bench: $*" >&2; exit 1; }
starts=${API_STARTS:-50}
requests=${API_REQUESTS:-10000}
make -s build/ember build/bench/apilat build/bench/listen_floor
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (make deps)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/api-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

floor=$(build/bench/apilat build/bench/listen_floor "$tmp/floor.sock" 0 "$starts") ||
	die "FAILED: the floor program"
ember=$(build/bench/apilat build/ember "$tmp/ember.sock" "$requests" "$starts") ||
	die "FAILED: Ember"
qemu=$(build/bench/apilat --qmp qemu-system-x86_64 "$tmp/qmp.sock" "$requests" "$starts" \
	2>"$tmp/qemu.err") || { cat "$tmp/qemu.err" >&2; die "FAILED: QEMU"; }
echo "floor $floor"
echo "ember $ember"
echo "qemu $qemu"
echo
echo "Control socket, $starts starts and $requests requests of each kind on one connection,"
echo "on this host ($(nproc) CPUs). Median / p99 / min, microseconds:"
echo
printf '%s\n%s\n%s\n' "floor $floor" "ember $ember" "qemu $qemu" | awk '
function f(s,  a) { split(s, a, "/"); return sprintf("%.0f / %.0f / %.0f", a[1], a[2], a[3]) }
function m(s,  a) { split(s, a, "/"); return a[1] }
{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[$1, kv[1]] = kv[2] } }
END {
	print "| | Ember (REST API) | QEMU (QMP) | QEMU / Ember (medians) |"
	print "| --- | ---: | ---: | ---: |"
	printf "| process start to socket ready | %s | %s | %.1fx |\n", f(v["ember","ready_us"]), f(v["qemu","ready_us"]), m(v["qemu","ready_us"]) / m(v["ember","ready_us"])
	printf "| the same for bench/listen_floor (exec + socket + bind + listen, nothing else) | %s | | |\n", f(v["floor","ready_us"])
	printf "| read request (`GET /`; `query-status`) | %s | %s | %.1fx |\n", f(v["ember","get_us"]), f(v["qemu","get_us"]), m(v["qemu","get_us"]) / m(v["ember","get_us"])
	printf "| write request (`PUT /machine-config`; `qom-set`) | %s | %s | %.1fx |\n", f(v["ember","put_us"]), f(v["qemu","put_us"]), m(v["qemu","put_us"]) / m(v["ember","put_us"])
}'
echo
echo "QEMU runs as: qemu-system-x86_64 -M none -nodefaults -display none -qmp unix:SOCK,server=on,wait=off"
