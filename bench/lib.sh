# shellcheck shell=sh
# Helpers shared by the benchmarks that run peers inside the nested rig (bench/density.sh,
# bench/compare.sh). Sourced with `. bench/lib.sh` from the top of the tree.

bench_die() { echo "bench: $*" >&2; exit 1; }

# A temporary directory in $tmp, removed at exit.
bench_tmp() { # NAME
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	# shellcheck disable=SC2064 # $tmp is fixed now
	trap "rm -rf '$tmp'" EXIT
}

# Print the path of a static kvmtool (build/peers/lkvm), building it the first time from
# the source snapshot beside KVMTOOL_BUILD (default ../shared/peers/build-kvmtool.sh);
# status 1, with the reason on stderr, where there is none.
bench_kvmtool() {
	[ -x build/peers/lkvm ] && { echo build/peers/lkvm; return 0; }
	b=${KVMTOOL_BUILD:-../shared/peers/build-kvmtool.sh}
	[ -f "$b" ] || { echo "no kvmtool: $b is missing (set KVMTOOL_BUILD)" >&2; return 1; }
	sh "$b" build/peers >/dev/null || { echo "no kvmtool: $b failed" >&2; return 1; }
	echo build/peers/lkvm
}

# Append to $tmp/adds the rig's --add words for a host program and every library ldd lists.
bench_add_prog() { # PATH GUESTPATH
	echo "--add $1:$2" >>"$tmp/adds"
	ldd "$1" >/dev/null 2>&1 || return 0 # static
	for lib in $(ldd "$1" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		echo "--add $lib:$lib" >>"$tmp/adds"
	done
}

# The Markdown table of bench/density-inner.sh's "density" lines in FILE.
bench_density_table() { # FILE
	awk '
	function f(x) { return x == "none" ? "-" : sprintf("%.1f", x) }
	/^density / {
		delete v
		for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (!hdr++) {
			print "| monitor | guest | alive / asked | 1st start ms | Nth start ms | median 1st 10 | median last 10 | last 10 / 1st 10 | PSS total MiB | PSS per guest MiB | idle CPU ms (all, " v["idle_s"] " s) | context switches per guest | stopped |"
			print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
		}
		if ("failed" in v) { printf "| %s | %s | - | - | - | - | - | - | - | - | - | - | %s |\n", $2, $3, v["failed"]; next }
		r = (v["first10_ms"] != "none" && v["first10_ms"] > 0) ? sprintf("%.2fx", v["last10_ms"] / v["first10_ms"]) : "-"
		printf "| %s | %s | %d / %d | %s | %s | %s | %s | %s | %.1f | %.2f | %d | %s | %s |\n", $2, $3,
		       v["alive"], v["n"], f(v["first_ms"]), f(v["nth_ms"]), f(v["first10_ms"]), f(v["last10_ms"]), r,
		       v["pss_kib"] / 1024, v["pss_per_kib"] / 1024, v["idle_cpu_ms"], v["idle_ctxsw_per"], v["stop"]
	}' "$1"
}
