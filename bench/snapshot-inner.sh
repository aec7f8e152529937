#!/bin/sh
# Runs where /dev/kvm works (the host, or inside the nested rig): snapshots under Ember and
# QEMU's microvm machine on the same kernel and initramfs (bench/snapshot.sh says what).
# Usage: snapshot-inner.sh EMBER RUNSTAT NOW KERNEL TICK_INITRD IDLE_INITRD RUNS CLONES CMDLINE
#        snapshot-inner.sh first-reply COMMAND...   (internal: see below)
# Prints one line per measurement, then summary lines "NAME median=X min=X max=X" (ms, or
# KiB for the PSS lines).
set -eu

# first-reply COMMAND...: run COMMAND (a restore), copy its output until the first "tick",
# print "tick", then stop it: runstat -m times that line.
if [ "${1:-}" = first-reply ]; then
	shift
	pidf=$(mktemp)
	{
		"$@" </dev/null 2>/dev/null &
		echo $! >"$pidf"
		wait
	} | {
		grep -m 1 -q tick || true
		echo tick
		kill "$(cat "$pidf")" 2>/dev/null || true
		cat >/dev/null
	}
	rm -f "$pidf"
	exit 0
fi

[ $# -eq 9 ] || { echo "usage: $0 EMBER RUNSTAT NOW KERNEL TICK IDLE RUNS CLONES CMDLINE" >&2; exit 2; }
ember=$1 runstat=$2 now=$3 kernel=$4 tick=$5 idle=$6 runs=$7 clones=$8 cmdline=$9
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME=$tmp/cache

qemu_cmd() { # INITRD: QEMU microvm as bench/boot.sh runs it, with 128 MiB
	echo qemu-system-x86_64 -M microvm,acpi=on,rtc=on -enable-kvm -cpu host -m 128 -smp 1 \
		-nodefaults -no-user-config -display none -serial stdio -no-reboot \
		-kernel "$kernel" -initrd "$1"
}

# wait_for FILE TEXT: up to 300 s for TEXT in FILE.
wait_for() {
	_w=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		_w=$((_w + 1))
		[ $_w -lt 3000 ] || { echo "bench: no '$2' after 300 s:"; tail -n 20 "$1"; exit 1; }
		sleep 0.1
	done
}

# summary NAME: median/min/max of the values in $tmp/NAME (one a line).
summary() {
	sort -n "$tmp/$1" | awk -v name="$1" '
	{ v[NR] = $1 }
	END {
		if (NR == 0) { print name " none"; exit }
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%s median=%.1f min=%.1f max=%.1f n=%d\n", name, med, v[1], v[NR], NR
	}'
}

ms_since() { # T0 (us)
	echo $((($("$now") - $1) / 1000))
}

# --- Ember: a Full snapshot of the ticking guest, SIGUSR2 to exit ---
: >"$tmp/ember_create_ms"
i=1
while [ $i -le "$runs" ]; do
	rm -f "$tmp/e.state" "$tmp/e.mem"
	"$ember" run --kernel "$kernel" --initrd "$tick" --mem 128 --cmdline "$cmdline" \
		--snapshot-to "$tmp/e.state,$tmp/e.mem" </dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	wait_for "$tmp/out" tick
	t0=$("$now")
	kill -USR2 $pid
	st=0
	wait $pid || st=$?
	ms=$(ms_since "$t0")
	[ $st -eq 0 ] && [ -s "$tmp/e.state" ] || { echo "bench: ember snapshot failed ($st)"; cat "$tmp/err"; exit 1; }
	echo "ember create run=$i ms=$ms"
	echo "$ms" >>"$tmp/ember_create_ms"
	i=$((i + 1))
done
echo "ember snapshot files: state $(wc -c <"$tmp/e.state") bytes, memory $(du -k "$tmp/e.mem" | cut -f1) KiB on disk"

# --- QEMU: migrate "exec:cat > FILE" of the same guest, the monitor on a pipe ---
: >"$tmp/qemu_create_ms"
i=1
while [ $i -le "$runs" ]; do
	rm -f "$tmp/q.mig" "$tmp/mon.in" "$tmp/mon.out"
	mkfifo "$tmp/mon.in" "$tmp/mon.out"
	# shellcheck disable=SC2046
	$(qemu_cmd "$tick") -append "$cmdline" -monitor pipe:"$tmp/mon" </dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	exec 3<>"$tmp/mon.in"
	cat "$tmp/mon.out" >"$tmp/monlog" &
	catpid=$!
	wait_for "$tmp/out" tick
	t0=$("$now")
	# HMP's migrate (without -d) holds the monitor until it completes: quit comes after.
	printf 'migrate "exec:cat > %s"\nquit\n' "$tmp/q.mig" >&3
	wait $pid || true
	ms=$(ms_since "$t0")
	exec 3>&-
	kill $catpid 2>/dev/null || true
	wait $catpid 2>/dev/null || true
	[ -s "$tmp/q.mig" ] || { echo "bench: qemu migration failed"; cat "$tmp/err" "$tmp/monlog"; exit 1; }
	echo "qemu create run=$i ms=$ms"
	echo "$ms" >>"$tmp/qemu_create_ms"
	i=$((i + 1))
done
echo "qemu migration file: $(wc -c <"$tmp/q.mig") bytes"

# --- restore to the guest's first reply: the next "tick" the restored loop prints ---
line=$("$runstat" -n "$runs" -s 0 -m tick -q -t 300 -- sh "$self" first-reply \
	"$ember" restore "$tmp/e.state" "$tmp/e.mem")
echo "ember restore $line"
# shellcheck disable=SC2046
line=$("$runstat" -n "$runs" -s 0 -m tick -q -t 300 -- sh "$self" first-reply \
	$(qemu_cmd "$tick") -append "$cmdline" -incoming "exec:cat $tmp/q.mig")
echo "qemu incoming $line"

# --- ember run --warm -- true against ember run -- true ---
"$ember" run --warm -- true </dev/null || { echo "bench: the warm cache could not be built"; exit 1; }
echo "warm cache: $(ls "$XDG_CACHE_HOME/ember" | tr '\n' ' ')"
line=$("$runstat" -n "$runs" -s 0 -t 300 -- "$ember" run -- true)
echo "cold run $line"
line=$("$runstat" -n "$runs" -s 0 -t 300 -- "$ember" run --warm -- true)
echo "warm run $line"

# --- idle clones of one snapshot: the sum of their PSS ---
rm -f "$tmp/i.state" "$tmp/i.mem"
"$ember" run --kernel "$kernel" --initrd "$idle" --mem 128 --cmdline "$cmdline" \
	--snapshot-to "$tmp/i.state,$tmp/i.mem" </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for "$tmp/out" booted
sleep 2
kill -USR2 $pid
wait $pid || { echo "bench: idle snapshot failed"; cat "$tmp/err"; exit 1; }
for n in $clones; do
	pids=
	i=0
	while [ $i -lt "$n" ]; do
		"$ember" restore "$tmp/i.state" "$tmp/i.mem" </dev/null >/dev/null 2>"$tmp/clone.err" &
		pids="$pids $!"
		i=$((i + 1))
	done
	# Let every clone run and settle into idle.
	sleep $((5 + n / 2))
	alive=0 pss=0 rss=0
	for p in $pids; do
		[ -r /proc/$p/smaps_rollup ] || continue
		alive=$((alive + 1))
		pss=$((pss + $(awk '/^Pss:/ { print $2 }' /proc/$p/smaps_rollup)))
		rss=$((rss + $(awk '/^Rss:/ { print $2 }' /proc/$p/smaps_rollup)))
	done
	echo "clones n=$n alive=$alive pss_kib=$pss rss_kib=$rss"
	# shellcheck disable=SC2086
	kill $pids 2>/dev/null || true
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	[ "$alive" -eq "$n" ] || { echo "bench: only $alive of $n clones ran:"; cat "$tmp/clone.err"; }
done

for f in ember_create_ms qemu_create_ms; do summary $f; done
echo "qemu version: $(qemu-system-x86_64 --version | head -n 1)"
