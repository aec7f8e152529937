#!/bin/sh
# bench/compare.sh's report: reads DIR/raw.txt (the rig run's lines) and writes
# DIR/REPORT.md and one gnuplot PNG per axis in DIR (headline.png: start and memory).
# Every cell is a measured median (min-max over the runs) or names why there is none.
# Usage: compare-report.sh DIR
set -eu
dir=$1
raw=$dir/raw.txt
[ -s "$raw" ] || { echo "compare-report: $raw is missing" >&2; exit 1; }
meta() { sed -n "s/^meta $1 //p" "$raw"; }
platforms=$(meta platforms)

# table TITLE KEY:HEADING... : a Markdown table, a row per platform; the reasons after it.
table() {
	title=$1
	shift
	echo "### $title"
	echo
	awk -v plats="$platforms" -v keys="$*" '
	function fmt(x) { x += 0; return x == int(x) ? sprintf("%d", x) : x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : x >= 1 ? sprintf("%.2f", x) : sprintf("%.3f", x) }
	$1 == "value" { v[$2, $3] = $4; n[$2, $3] = $5 }
	$1 == "na" { r = $0; sub(/^na [^ ]+ [^ ]+ /, "", r); na[$2, $3] = r }
	function reason(p, k,   s) {
		if ((p, k) in na) return na[p, k]
		s = k; sub(/_first_ms$/, "_start_ms", s); sub(/_(procs|cpu_ms|ctxsw)$/, "_pss_kib", s)
		if ((p, s) in na) return na[p, s]
		if (k ~ /^(cpu_eps|mem_mibs|randread_iops|randwrite_iops|seqread_mibs|seqwrite_mibs|tx_gbits|rx_gbits|ping_ms)$/) {
			if (k ~ /iops|seq/ && (p, "disk") in na) return na[p, "disk"]
			if (k ~ /gbits|ping/ && (p, "net") in na) return na[p, "net"]
			if ((p, "work") in na) return na[p, "work"]
		}
		if ((p, "all") in na) return na[p, "all"]
		return ""
	}
	END {
		nk = split(keys, kk, " ")
		head = "| platform |"; sep = "| --- |"
		for (i = 1; i <= nk; i++) { split(kk[i], kh, ":"); key[i] = kh[1]; head = head " " kh[2] " |"; sep = sep " ---: |" }
		print head; print sep
		np = split(plats, pp, " ")
		for (j = 1; j <= np; j++) {
			p = pp[j]; row = "| " p " |"
			for (i = 1; i <= nk; i++) {
				k = key[i]
				if ((p, k) in v) {
					split(v[p, k], a, "/")
					cell = fmt(a[1]); if (n[p, k] > 1) cell = cell " (" fmt(a[2]) "-" fmt(a[3]) ")"
				} else if ((r = reason(p, k)) != "") {
					if (!(r in note)) { note[r] = ++notes; order[notes] = r; who[notes] = p }
					cell = "n/a [" note[r] "]"
				} else cell = "-"
				row = row " " cell " |"
			}
			print row
		}
		if (notes) print ""
		for (i = 1; i <= notes; i++) printf "[%d] %s: %s\n\n", i, who[i], order[i]
	}' "$raw"
	echo
}

# The charts' common gnuplot settings.
plot_style() {
	echo 'set style fill solid 0.6'
	echo 'set boxwidth 0.6'
	echo 'set yrange [0:*]'
	echo 'set grid ytics'
	echo 'set xtics rotate by -30'
	echo 'unset key'
}

# chart KEY TITLE YLABEL [log]: DIR/KEY.png, a bar per platform that has a figure (log: a
# logarithmic axis, for figures that span orders of magnitude).
chart() {
	awk -v k="$1" '$1 == "value" && $3 == k { split($4, a, "/"); print $2, a[1], a[2], a[3] }' "$raw" >"$dir/.chart.dat"
	[ -s "$dir/.chart.dat" ] || { rm -f "$dir/.chart.dat" "$dir/$1.png"; return 0; }
	command -v gnuplot >/dev/null || { echo "compare-report: no gnuplot: no $1.png" >&2; return 0; }
	gnuplot <<EOF
set terminal pngcairo size 720,400 font ",10"
set output "$dir/$1.png"
set title "$2"
set ylabel "$3"
$(plot_style)
$([ "${4:-}" = log ] && printf 'set logscale y\nset yrange [*:*]\n')
plot "$dir/.chart.dat" using 0:2:xtic(1) with boxes lc rgb "#d9541e", \
     "" using 0:2:3:4 with yerrorbars lc rgb "black" pt 0
EOF
	rm -f "$dir/.chart.dat"
	echo "![$2]($1.png)"
	echo
}

headline() {
	for k in echo_start_ms sleep_pss_kib; do
		awk -v k="$k" '$1 == "value" && $3 == k { split($4, a, "/"); print $2, (k ~ /kib/ ? a[1] / 1024 : a[1]) }' "$raw" >"$dir/.$k.dat"
	done
	command -v gnuplot >/dev/null || return 0
	gnuplot <<EOF
set terminal pngcairo size 1000,400 font ",10"
set output "$dir/headline.png"
set multiplot layout 1,2 title "What isolation costs, in the nested rig (TCG: compare ratios, not absolute figures)"
$(plot_style)
set title "start to exit of 'echo' (ms, median, log scale; VMs boot Linux)"
set logscale y
set yrange [*:*]
plot "$dir/.echo_start_ms.dat" using 0:2:xtic(1) with boxes lc rgb "#d9541e"
set title "idle memory, PSS of the whole tree (MiB)"
unset logscale y
set yrange [0:*]
plot "$dir/.sleep_pss_kib.dat" using 0:2:xtic(1) with boxes lc rgb "#1e6fd9"
unset multiplot
EOF
	rm -f "$dir"/.*.dat
}

{
	echo "# What isolation costs: Ember against containers, gVisor and other monitors"
	echo
	echo "Made by \`make compare\` (bench/compare.sh) on $(meta started), in $(meta minutes) min,"
	echo "commit $(meta commit). Machine: $(meta host)."
	echo "Settings: $(meta settings)."
	echo
	echo "**Everything ran inside the nested test rig**: a QEMU TCG machine emulating an AMD CPU"
	echo "with SVM, one vCPU, kvm-amd inside; the VMs run under that KVM and every instruction of"
	echo "the rig is emulated. Absolute times are therefore many times those of real hardware and"
	echo "the ratios between platforms are the result; CPU-bound figures (sysbench) measure TCG"
	echo "as much as the platform. The machine is shared (other jobs ran beside it): spreads"
	echo "are wide. Medians, with (min-max) where there was more than one run; n/a names why a"
	echo "figure is missing; - means the row does not apply (the minimal guest is for VMs only)."
	echo
	headline
	[ -s "$dir/headline.png" ] && echo "![headline](headline.png)" && echo
	echo "## Start"
	echo
	echo "The trivial workload is \`sh -c 'echo compare-hello'\`: in the rig's own process, in a"
	echo "container (busybox root), or in a VM booting the default guest (Debian's kernel, Ember's"
	echo "init, the same initramfs for all three monitors). The minimal guest prints a line and"
	echo "exits without an OS (bench/hello_pvh.S; for kvmtool, which loads no ELF, the same work"
	echo "as a real-mode flat binary, bench/idle_flat.S -DEXIT). Start is fork to exit, first"
	echo "output fork to the line on stdout (bench/runstat)."
	echo
	table "Start to exit and to first output (ms)" echo_start_ms:echo,start-to-exit echo_first_ms:echo,first-output \
		hello_start_ms:minimal-guest,start-to-exit hello_first_ms:minimal-guest,first-output
	chart echo_start_ms "start to exit of sh -c echo (ms, log scale)" ms log
	chart hello_start_ms "start to exit of the minimal guest (ms)" ms
	echo "## Memory and idle CPU"
	echo
	echo "One instance idle (\`echo; exec sleep\`; for VMs also the minimal idle guest): the summed"
	echo "PSS (/proc/PID/smaps_rollup) of every process that appeared with it (runtime, shim,"
	echo "sandbox, gofer, monitor), their number, and their CPU time (utime+stime) and context"
	echo "switches (all threads) over the idle seconds."
	echo
	table "Idle instance" sleep_pss_kib:PSS-KiB sleep_procs:processes sleep_cpu_ms:idle-CPU-ms sleep_ctxsw:context-switches \
		idle_pss_kib:minimal-guest-PSS-KiB idle_cpu_ms:its-CPU-ms idle_ctxsw:its-switches
	chart sleep_pss_kib "idle instance, PSS of the whole tree (KiB, log scale)" KiB log
	echo "## CPU and memory bandwidth"
	echo
	table "sysbench (one thread)" cpu_eps:cpu-events/s mem_mibs:memory-MiB/s
	chart cpu_eps "sysbench cpu, events/s (higher is better)" events/s
	chart mem_mibs "sysbench memory, 1 MiB blocks, MiB/s (higher is better)" MiB/s
	echo "## Disk"
	echo
	echo "fio (bench/io-guest.sh's jobs, libaio, iodepth 32) on a 64 MiB file on the rig's tmpfs:"
	echo "the rig's process and the containers open it directly (direct=0: tmpfs has no O_DIRECT),"
	echo "the VMs see it as a virtio-blk disk (direct=1 in the guest, the host's page cache below)."
	echo
	table "fio" randread_iops:4KiB-randread-IOPS randwrite_iops:4KiB-randwrite-IOPS seqread_mibs:1MiB-read-MiB/s seqwrite_mibs:1MiB-write-MiB/s
	chart randread_iops "fio 4 KiB random read, IOPS" IOPS
	chart seqread_mibs "fio 1 MiB sequential read, MiB/s" MiB/s
	echo "## Network"
	echo
	echo "iperf3 (one TCP stream each way) and ping against a server in the rig: the rig's"
	echo "process and the containers through a veth into their network namespace, the VMs"
	echo "through a tap and virtio-net (QEMU vhost=off, like Ember: both in user space)."
	echo
	table "Network" tx_gbits:out-Gbit/s rx_gbits:in-Gbit/s ping_ms:ping-RTT-ms
	chart tx_gbits "iperf3 out of the instance, Gbit/s" Gbit/s
	chart ping_ms "ping median RTT, ms (lower is better)" ms
	echo "## Host system calls"
	echo
	echo "Distinct system calls the platform's processes made on the host in one run of the"
	echo "trivial workload (\`strace -f -c\`; for VMs the whole Linux boot), and the size of the"
	echo "seccomp allowlist where the platform installs one."
	echo
	table "System calls" syscalls:distinct-calls seccomp:seccomp-allowlist
	chart syscalls "distinct host system calls in one run" calls
	echo "## Density"
	echo
	echo "Minimal idle guests started one after another and kept alive (bench/density-inner.sh):"
	echo "the Nth creation against the first. bench/density.sh runs the full version (1000"
	echo "guests, and the Linux guest); its figures are in the README."
	echo
	if grep -q '^density ' "$raw"; then
		# shellcheck source=bench/lib.sh
		. "$(dirname "$0")/lib.sh"
		bench_density_table "$raw"
	else
		echo "Not run (COMPARE_DENSITY_N=0)."
	fi
	echo
	echo "## What the numbers say, and what they cannot"
	echo
	if [ -s "$dir/READING.md" ]; then cat "$dir/READING.md"; else echo "(no reading written for this run)"; fi
	echo
	echo "## Versions and commands"
	echo
	sed -n 's/^info \([^ ]*\) version \(.*\)/- \1: \2/p' "$raw"
	sed -n 's/^info ember seccomp \(.*\)/- Ember seccomp: \1/p' "$raw"
	echo
	echo '```'
	sed -n 's/^cmd \([^ ]*\) \([^ ]*\) \(.*\)/\1 \2: \3/p' "$raw"
	echo '```'
} >"$dir/REPORT.md.tmp"
mv "$dir/REPORT.md.tmp" "$dir/REPORT.md"
