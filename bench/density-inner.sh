#!/bin/sh
# Runs where /dev/kvm works (inside the nested rig): the density benchmark's runs. For each
# MONITOR:KIND:N word, start up to N idle guests of KIND (idle: the freestanding idle guest,
# linux: the default Linux guest running `echo; sleep`) one after another, each waited for
# until its first console line (bench/spawn), all kept alive; then the summed PSS of their
# processes (/proc/PID/smaps_rollup), their CPU time (utime+stime) and context switches
# (every thread's voluntary and involuntary) over IDLE_S seconds of idleness; then stop them.
# A guest that fails to start, or MemAvailable falling below 384 MiB, ends that population
# early: the summary says how many were alive and why it stopped.
# Usage: density-inner.sh IDLE_S MONITOR:KIND:N...
# Environment (paths inside the rig): EMBER, LKVM, SPAWN, IDLE_ELF, IDLE_FLAT, KERNEL,
# INITRD (the default guest's initramfs with the idle command, bench/cmd-initrd.sh).
# Prints per guest "creation MONITOR KIND I MS", then per population one line:
#   density MONITOR KIND n=N alive=A stop=REASON first_ms= nth_ms= first10_ms= last10_ms=
#           total_s= pss_kib= pss_per_kib= idle_cpu_ms= idle_ctxsw= idle_ctxsw_per=
set -u
idle_s=$1
shift
tmp=$(mktemp -d)
cmdline="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux loglevel=3"
hello='Hello from an Ember guest'
idle_mark='density-guest-idle'
min_avail_kib=393216

# The command line of one idle guest of KIND under MONITOR, and the marker it prints.
guest_cmd() { # MONITOR KIND
	case $1:$2 in
	ember:idle) echo "$EMBER run --kernel $IDLE_ELF --mem 16 --no-rng" ;;
	kvmtool:idle) echo "$LKVM run --nodefaults -n mode=none -c 1 -m 16 --console serial -k $IDLE_FLAT" ;;
	qemu:idle) echo "qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 16 -smp 1 -nodefaults \
-no-user-config -display none -serial stdio -no-reboot -kernel $IDLE_ELF" ;;
	ember:linux) echo "$EMBER run --kernel $KERNEL --initrd $INITRD --mem 128 --no-rng --cmdline" ;;
	kvmtool:linux) echo "$LKVM run --nodefaults -n mode=none -c 1 -m 128 --console serial \
-k $KERNEL -i $INITRD -p" ;;
	qemu:linux) echo "qemu-system-x86_64 -M microvm,acpi=on,rtc=on -enable-kvm -cpu host -m 128 -smp 1 \
-nodefaults -no-user-config -display none -serial stdio -no-reboot -kernel $KERNEL -initrd $INITRD -append" ;;
	*) return 1 ;;
	esac
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "none"; exit }
	printf "%.3f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
avail_kib() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }
cpu_ticks() { # PIDS: summed utime+stime, clock ticks
	for p; do cat "/proc/$p/stat" 2>/dev/null; done | awk '{ s += $14 + $15 } END { print s + 0 }'
}
ctxsw() { # PIDS: summed context switches of every thread
	for p; do cat /proc/"$p"/task/*/status 2>/dev/null; done |
		awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}

one() { # MONITOR KIND N
	m=$1 k=$2 n=$3
	base=$(guest_cmd "$m" "$k") || { echo "density $m $k failed=unknown-monitor-or-kind"; return; }
	mark=$hello
	[ "$k" = linux ] && mark=$idle_mark
	pids='' i=0 stop=all t0=$(date +%s)
	: >"$tmp/times"
	while [ "$i" -lt "$n" ]; do
		if [ "$(avail_kib)" -lt "$min_avail_kib" ]; then
			stop=MemAvailable-below-$((min_avail_kib / 1024))MiB
			break
		fi
		i=$((i + 1))
		# shellcheck disable=SC2086 # $base: words without spaces; the command line is one word
		if [ "$k" = linux ]; then
			line=$("$SPAWN" -o "$tmp/out.$m.$i" -m "$mark" -t 300 -- $base "$cmdline")
		else
			line=$("$SPAWN" -o "$tmp/out.$m.$i" -m "$mark" -t 60 -- $base)
		fi
		case $line in
		*first_ms=*)
			pids="$pids ${line%% *}"
			ms=${line##*first_ms=}
			echo "$ms" >>"$tmp/times"
			echo "creation $m $k $i $ms"
			;;
		*)
			stop="guest-$i-${line##*failed=}"
			echo "density: $m $k guest $i: $line" >&2
			tail -n 5 "$tmp/out.$m.$i" | sed 's/^/density:   console: /' >&2
			i=$((i - 1))
			break
			;;
		esac
	done
	total=$(($(date +%s) - t0))
	pids=$(echo "$pids" | sed 's/pid=//g')
	alive=0
	for p in $pids; do [ -d "/proc/$p" ] && alive=$((alive + 1)); done
	# shellcheck disable=SC2086
	if [ -n "$pids" ]; then
		pss=$(for p in $pids; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
			awk '/^Pss:/ { s += $2 } END { print s + 0 }')
		c0=$(cpu_ticks $pids) w0=$(ctxsw $pids)
		sleep "$idle_s"
		c1=$(cpu_ticks $pids) w1=$(ctxsw $pids)
		kill -9 $pids 2>/dev/null
		for p in $pids; do wait "$p" 2>/dev/null; done
		sleep 2
	else
		pss=0 c0=0 c1=0 w0=0 w1=0
	fi
	hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
	f10=$(head -n 10 "$tmp/times" | median) l10=$(tail -n 10 "$tmp/times" | median)
	first=$(head -n 1 "$tmp/times") nth=$(tail -n 1 "$tmp/times")
	echo "density $m $k n=$n alive=$alive stop=$stop first_ms=${first:-none} nth_ms=${nth:-none}" \
		"first10_ms=$f10 last10_ms=$l10 total_s=$total pss_kib=$pss" \
		"pss_per_kib=$((i > 0 ? pss / i : 0)) idle_s=$idle_s" \
		"idle_cpu_ms=$(((c1 - c0) * 1000 / hz)) idle_ctxsw=$((w1 - w0))" \
		"idle_ctxsw_per=$(awk -v w=$((w1 - w0)) -v i="$i" 'BEGIN { printf "%.2f", i ? w / i : 0 }')"
	rm -f "$tmp"/out.*
}

for spec; do
	rest=${spec#*:}
	one "${spec%%:*}" "${rest%%:*}" "${rest#*:}"
done
rm -rf "$tmp"
