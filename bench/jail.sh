#!/bin/sh
# The cost of locking Ember down: start-to-exit of the hello guest under Ember with its
# seccomp filters off (--no-seccomp), with them on (the default), under ember-jailer (uid/gid
# 1000, a pids cgroup where there is one, a new mount namespace, pivot_root, the device
# nodes, no capabilities; the exec file bind-mounted read-only, the default), and under
# ember-jailer --copy-exec (the exec file copied into the jail, as Firecracker's jailer does),
# RUNS times each (default 20), with bench/runstat; and `ember --version`, which boots
# nothing, plain and under both jailers. Reports the medians and each one's difference from
# plain --no-seccomp: seccomp's cost is plain's, the jailer's is jailed - plain (issue 6's
# target: under 5 ms).
#
# --copy-exec costs more than its copy: a binary never run before starts slower than one run
# a moment ago, and under the rig's TCG much slower (its translated code is cached by
# physical page, and a new copy sits in new pages). The bind mount runs the same file, and
# pages, as every other start.
#
# Runs are interleaved (one of each mode in turn, so a busy machine slows all alike), each
# timed by runstat from fork to exit; the guest's hard link into each run's directory (the
# jail's root, made before the jailer runs, as Firecracker's users do) is made before the
# clock starts. Where this host's /dev/kvm cannot be used, everything runs inside the
# nested test rig.
#
# Usage: sh bench/jail.sh
# Environment: RUNS; BUILD (default build); EMBER, JAILER, RUNSTAT, GUEST to use other files.
# Inside (where /dev/kvm works): sh bench/jail.sh --inner EMBER JAILER RUNSTAT GUEST RUNS
set -eu

GUEST_MODES="plain-noseccomp plain jailed jailed-copy"
MODES="$GUEST_MODES plain-version jailed-version jailed-copy-version"

# --- where /dev/kvm works: the runs ---
if [ "${1:-}" = --inner ]; then
	ember=$2 jailer=$3 runstat=$4 guest=$5 runs=$6
	# A bare rig mounts no cgroups: mount the pids controller as this project's machines
	# do (v1, its own hierarchy). Anywhere else, whatever is mounted is used.
	if [ -e /rig/cmd ] && ! awk '$3 ~ /^cgroup2?$/ { f = 1 } END { exit !f }' /proc/mounts; then
		mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
		mkdir -p /sys/fs/cgroup/pids
		mount -t cgroup -o pids cgroup /sys/fs/cgroup/pids
	fi
	pids=$(awk '$3 == "cgroup" && $4 ~ /(^|,)pids(,|$)/ { print $2; exit }' /proc/mounts)
	cg=
	[ -n "$pids" ] && cg="--cgroup pids.max=64"
	# Not under /tmp: a tmpfs mounted nodev there would make the jail's /dev/kvm unusable.
	base=/srv/ember-jail-bench.$$
	mkdir -p "$base/plain" "$base/jail"
	trap 'rm -rf "$base"; [ -z "$pids" ] || rmdir "$pids"/ember/* "$pids"/ember 2>/dev/null || true' EXIT
	cp "$guest" "$base/hello.elf"

	# run MODE N [OUT]: one timed run, its runstat line prefixed with MODE, the command's
	# stdout to OUT (default nowhere); the run's files are made before the clock starts.
	run() {
		_m=$1 _n=$2 _out=${3:-/dev/null}
		_d=$base/jail/ember/$_m-$_n/root
		case $_m in
		plain-noseccomp | plain)
			_k=$base/plain/$_m-$_n/hello.elf
			mkdir "${_k%/*}" && ln "$base/hello.elf" "$_k"
			set -- "$ember" run --kernel "$_k" --mem 128
			[ "$_m" = plain ] || set -- "$@" --no-seccomp ;;
		plain-version)
			set -- "$ember" --version ;;
		jailed | jailed-copy)
			mkdir -p "$_d" && ln "$base/hello.elf" "$_d/hello.elf"
			set -- run --kernel /hello.elf --mem 128 ;;
		jailed-version | jailed-copy-version)
			set -- --version ;;
		esac
		_copy=
		case $_m in jailed-copy*) _copy=--copy-exec ;; esac
		case $_m in jailed*)
			# shellcheck disable=SC2086 # $cg and $_copy are zero or more words
			set -- "$jailer" --id "$_m-$_n" --exec-file "$ember" --uid 1000 --gid 1000 \
				--chroot-base-dir "$base/jail" $cg $_copy -- "$@" ;;
		esac
		"$runstat" -n 1 -s 0 -o "$_out" -- "$@" | sed "s/^/$_m /"
	}

	# One run of each that boots first, to check it really runs the guest.
	for m in $GUEST_MODES; do
		run "$m" 0 "$base/out" >/dev/null
		grep -q 'Hello from an Ember guest' "$base/out" ||
			{ echo "bench: $m did not run the guest:"; cat "$base/out"; exit 1; }
	done

	echo "cgroup: ${cg:-none}"
	i=1
	while [ "$i" -le "$runs" ]; do
		for m in $MODES; do
			run "$m" "$i" >>"$base/results"
		done
		i=$((i + 1))
	done
	for m in $MODES; do
		grep "^$m runs=" "$base/results" | awk -v m="$m" '
		{
			for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			ms[NR] = v["median_ms"]; rss[NR] = v["median_rss_kib"]; fail += v["failures"]
		}
		function median(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			med = median(ms, NR); lo = ms[1]; hi = ms[NR]
			printf "%s runs=%d failures=%d median_ms=%.3f min_ms=%.3f max_ms=%.3f median_rss_kib=%d\n",
				m, NR, fail, med, lo, hi, median(rss, NR)
		}'
	done
	exit 0
fi

# --- the driver ---
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
b=${BUILD:-build}
if [ -z "${EMBER:-}${JAILER:-}${RUNSTAT:-}${GUEST:-}" ]; then
	make -s "BUILD=$b" "$b/ember" "$b/ember-jailer" "$b/bench/runstat" "$b/guests/hello.elf"
fi
ember=${EMBER:-$b/ember} jailer=${JAILER:-$b/ember-jailer}
runstat=${RUNSTAT:-$b/bench/runstat} guest=${GUEST:-$b/guests/hello.elf}
for f in "$ember" "$jailer" "$runstat" "$guest"; do
	[ -s "$f" ] || { echo "bench: $f is missing" >&2; exit 1; }
done

if [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then
	[ "$(id -u)" = 0 ] || { echo "bench: the jailer needs root" >&2; exit 1; }
	where="this host's /dev/kvm"
	result=$(sh bench/jail.sh --inner "$ember" "$jailer" "$runstat" "$guest" "$runs")
else
	where="the nested test rig (no usable /dev/kvm on this host)"
	result=$(sh tests/rig/rig.sh --timeout 1200 \
		--add "$ember:/ember/b/ember" --add "$jailer:/ember/b/ember-jailer" \
		--add "$runstat:/ember/b/runstat" --add "$guest:/ember/b/hello.elf" \
		--add bench/jail.sh:/ember/bench/jail.sh \
		-- sh bench/jail.sh --inner /ember/b/ember /ember/b/ember-jailer /ember/b/runstat \
		/ember/b/hello.elf "$runs")
fi
echo "$result" | grep -Eq '^jailed-copy-version runs=' || { echo "$result"; echo "bench: no result"; exit 1; }
if echo "$result" | grep -Eq 'failures=[1-9]'; then
	echo "$result"
	echo "bench: some runs failed"
	exit 1
fi

field() { echo "$result" | sed -n "s/^$1 .*$2=\([0-9.]*\).*/\1/p"; }
cgroup=$(echo "$result" | sed -n 's/^cgroup: //p')
echo "start to exit, $runs runs of each, interleaved, on $where; jailed with ${cgroup:-none}:"
echo "$result" | grep -E '^[a-z-]+ runs='
awk -v n="$(field plain-noseccomp median_ms)" -v p="$(field plain median_ms)" \
	-v j="$(field jailed median_ms)" -v c="$(field jailed-copy median_ms)" \
	-v pv="$(field plain-version median_ms)" -v jv="$(field jailed-version median_ms)" \
	-v cv="$(field jailed-copy-version median_ms)" \
	-v nr="$(field plain-noseccomp median_rss_kib)" -v pr="$(field plain median_rss_kib)" \
	-v jr="$(field jailed median_rss_kib)" -v cr="$(field jailed-copy median_rss_kib)" 'BEGIN {
	printf "| median (ms) | plain --no-seccomp | plain | jailed | jailed --copy-exec |\n"
	printf "| --- | ---: | ---: | ---: | ---: |\n"
	printf "| hello guest, start to exit | %.2f | %.2f | %.2f | %.2f |\n", n, p, j, c
	printf "| difference from plain --no-seccomp | | %+.2f | %+.2f | %+.2f |\n", p - n, j - n, c - n
	printf "| ember --version (no guest) | | %.2f | %.2f | %.2f |\n", pv, jv, cv
	printf "| difference from plain | | | %+.2f | %+.2f |\n", jv - pv, cv - pv
	printf "| peak RSS, hello guest (KiB) | %d | %d | %d | %d |\n", nr, pr, jr, cr
	printf "seccomp: %+.2f ms (plain - plain --no-seccomp); the jailer: %+.2f ms (jailed - plain), %+.2f ms with --copy-exec\n", p - n, j - p, c - p
}'
