#!/bin/sh
# Runs inside the nested rig, as root: bench/compare.sh's measurements of every platform in
# PLATFORMS (native crun runc runsc ember-oci qemu kvmtool ember), one after another.
# Environment: PLATFORMS, RUNS (hello runs), RUNS_LINUX (Linux guest runs), T (seconds per
# sysbench and fio job), NT (seconds per iperf3 direction), IDLE_S, DENSITY_N, DISK_MIB.
# Files (paths under /ember): build/ember, build/ember-oci, build/peers/lkvm,
# build/bench/{runstat,spawn,hello_pvh.elf,hello_flat.bin,idle_pvh.elf,idle_flat.bin},
# build/guest/bzImage, build/cmp/initrd.cpio (the default guest's initramfs with the
# workload's programs), build/cmp/rootfs (the same programs, the containers' root).
# Prints lines bench/compare.sh reads:
#   value PLATFORM KEY MEDIAN/MIN/MAX N     a figure over N runs
#   na PLATFORM KEY REASON...               no figure, and why
#   cmd PLATFORM KEY COMMAND...             the exact command behind a figure
#   density ...                             bench/density-inner.sh's lines
set -u
cd /ember || exit 1
top=$PWD
tmp=/tmp/cmp
rm -rf "$tmp"
mkdir -p "$tmp" /run
ip=/usr/sbin/ip # iproute2's, by path: busybox sh runs its own ip applet first
[ -x "$ip" ] || ip=/sbin/ip
runstat=$top/build/bench/runstat spawn=$top/build/bench/spawn
kernel=$top/build/guest/bzImage rootfs=$top/build/cmp/rootfs
# The trivial workloads boot the default guest's own initramfs; the workload jobs one with
# fio, iperf3 and sysbench and their libraries added (about 90 MiB: 512 MiB guests then).
base_initrd=$top/build/guest/initrd.cpio work_initrd=$top/build/cmp/initrd.cpio
cmdline="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux loglevel=3"
hello='Hello from an Ember guest'
disk=$tmp/disk.img

na() { echo "na $*"; }
# MEDIAN/MIN/MAX of the numbers on stdin.
stats() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1
	printf "%s/%s/%s\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'; }
q() { printf "'%s'" "$1"; } # single-quoted (the workloads hold no single quote)
# shellcheck disable=SC2016 # the ${WRAP:-} to remove is literal
shown() { tail -n 1 "$tmp/$1.sh" | sed 's/^exec \${WRAP:-} //; s/ \${RUNSC_DEBUG:-}//'; } # NAME: its command
# runsc_why NAME: what gVisor's debug log says when $tmp/NAME.sh fails (runsc prints only EOF).
runsc_why() {
	rm -rf "$tmp/rsd"
	RUNSC_DEBUG="--debug --debug-log=$tmp/rsd/" timeout 120 sh "$tmp/$1.sh" >/dev/null 2>&1 </dev/null
	grep -h 'FATAL' "$tmp"/rsd/*.boot.txt "$tmp"/rsd/*.gofer.txt 2>/dev/null | head -n 2 | cut -c1-300 | tr '\n' ' '
}

# --- the rig: cgroups for the container runtimes, the containers' root, the disk ---
if ! grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; then
	mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null || echo "compare: no cgroup2 at /sys/fs/cgroup" >&2
fi
if [ ! -e "$rootfs/bin/sh" ]; then
	mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" "$rootfs/etc" "$rootfs/run"
	for a in $("$rootfs/bin/busybox" --list); do
		[ -e "$rootfs/bin/$a" ] || ln -s busybox "$rootfs/bin/$a"
	done
fi
dd if=/dev/zero of="$disk" bs=1M count="$DISK_MIB" 2>/dev/null
# ember-oci boots Ember's default guest, build/guest/vmlinux beside build/ember: the same
# kernel as the bzImage the other monitors boot (Ember loads either).
[ -e build/guest/vmlinux ] || ln -s bzImage build/guest/vmlinux
mkdir -p /newroot

# --- networks: a veth into a namespace for the rig's process and the containers (the
# namespace's end is eth0, 10.0.4.2/24), a tap for the guests (the guest is 10.0.5.2/24);
# the host ends are 10.0.4.1 and 10.0.5.1, one iperf3 server listens on both ---
[ -d /sys/module/veth ] || insmod build/cmp/veth.ko || echo "compare: insmod veth.ko failed" >&2
"$ip" link add cmpv0 type veth peer name cmpv1
"$ip" addr add 10.0.4.1/24 dev cmpv0
"$ip" link set cmpv0 up
"$ip" tuntap add dev cmptap mode tap
"$ip" addr add 10.0.5.1/24 dev cmptap
"$ip" link set cmptap up
ip link set lo up 2>/dev/null
iperf3 -s >"$tmp/iperf3-server" 2>&1 &
iperf_pid=$!
# A fresh namespace NS with the veth's far end as eth0, up, 10.0.4.2/24.
mk_netns() { # NS
	"$ip" netns del "$1" 2>/dev/null
	"$ip" netns add "$1" || return 1
	"$ip" link set cmpv1 netns "$1" || return 1
	"$ip" -n "$1" link set cmpv1 name eth0
	"$ip" -n "$1" addr add 10.0.4.2/24 dev eth0
	"$ip" -n "$1" link set eth0 up
	"$ip" -n "$1" link set lo up
}
# Give the veth back (deleting the namespace would destroy it).
rm_netns() { # NS
	"$ip" -n "$1" link set eth0 down 2>/dev/null
	"$ip" -n "$1" link set eth0 name cmpv1 2>/dev/null
	"$ip" -n "$1" link set cmpv1 netns 1 2>/dev/null
	"$ip" netns del "$1" 2>/dev/null
}

# --- the containers' bundles ---
# bundle DIR WORKLOAD [NETNS]: config.json running `sh -c WORKLOAD` in $rootfs, the disk
# bound at /disk.img (but for ember-oci: $p), in NETNS's network namespace (else a new one).
bundle() {
	mkdir -p "$1"
	netns='{"type": "network"}'
	[ -z "${3:-}" ] || netns="{\"type\": \"network\", \"path\": \"/run/netns/$3\"}"
	diskmount=",
            {\"destination\": \"/disk.img\", \"type\": \"bind\", \"source\": \"$disk\", \"options\": [\"rbind\", \"rw\"]}"
	[ "$p" != ember-oci ] || diskmount='' # its mounts are inside the VM: no host paths
	caps='"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"'
	cat >"$1/config.json" <<EOF
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0},
             "args": ["/bin/sh", "-c", "$2"],
             "env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin", "TMPDIR=/tmp"], "cwd": "/",
             "capabilities": {"bounding": [$caps], "effective": [$caps], "permitted": [$caps]},
             "noNewPrivileges": true},
 "root": {"path": "$rootfs", "readonly": false},
 "hostname": "cmp",
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}$diskmount],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, $netns]}}
EOF
}

# launcher PLATFORM NAME WORKLOAD KIND: write $tmp/NAME.sh, which execs the platform's
# command for WORKLOAD (a shell command; KIND linux, or for the VMs hello / idle: the
# freestanding guests); ${WRAP} (e.g. strace) goes before the command. KIND net adds the
# network (the tap for VMs, the namespace cmpns for the rest), disk the disk.
launcher() {
	p=$1 name=$2 w=$3 kind=$4 f=$tmp/$2.sh
	dev='' qdev='' netns='' initrd=$base_initrd mem=256
	case $kind in *work*) initrd=$work_initrd mem=512 ;; esac
	case $kind in *disk*) dev="--drive path=$disk" qdev="-drive file=$disk,if=none,id=d0,format=raw,cache=writeback -device virtio-blk-device,drive=d0" ;; esac
	case $kind in *net*)
		dev="$dev --net tap=cmptap"
		qdev="$qdev -netdev tap,id=n0,ifname=cmptap,script=no,downscript=no,vhost=off -device virtio-net-device,netdev=n0"
		netns=cmpns
		;;
	esac
	case $p in
	native)
		if [ -n "$netns" ]; then
			echo "exec \${WRAP:-} $ip netns exec $netns sh -c $(q "$w")"
		else
			echo "exec \${WRAP:-} sh -c $(q "$w")"
		fi
		;;
	crun | runc | runsc | ember-oci)
		bundle "$tmp/b-$name" "$w" "$netns"
		case $p in
		crun | runc) echo "exec \${WRAP:-} $p --root /run/$p run --no-pivot -b $tmp/b-$name cmp-$name" ;;
		runsc)
			n=none
			[ -z "$netns" ] || n=sandbox
			# runsc's sandbox and gofer pivot_root, which the rig's root (an initramfs)
			# refuses: they run in a mount namespace whose root is a bind mount of it.
			echo "exec \${WRAP:-} unshare -m sh -c 'mount --rbind / /newroot && cd /newroot && mount --move . / && exec chroot . runsc \${RUNSC_DEBUG:-} --root /run/runsc --platform=ptrace --ignore-cgroups --network=$n run -bundle $tmp/b-$name cmp-$name'"
			;;
		ember-oci) echo "exec \${WRAP:-} $top/build/ember-oci --root /run/ember-oci run --bundle $tmp/b-$name cmp-$name" ;;
		esac
		;;
	ember)
		case $kind in
		hello) echo "exec \${WRAP:-} $top/build/ember run --kernel $top/build/bench/hello_pvh.elf --mem 128 --no-rng" ;;
		idle) echo "exec \${WRAP:-} $top/build/ember run --kernel $top/build/bench/idle_pvh.elf --mem 128 --no-rng" ;;
		*) echo "exec \${WRAP:-} $top/build/ember run --kernel $kernel --initrd $initrd --mem $mem --no-rng $dev -- sh -c $(q "$w")" ;;
		esac
		;;
	qemu | kvmtool)
		if [ "$p" = qemu ]; then
			base="qemu-system-x86_64 -M microvm,acpi=on,rtc=on -enable-kvm -cpu host -m $mem -smp 1 -nodefaults -no-user-config -display none -serial stdio -no-reboot"
			hello_args="-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel $top/build/bench/hello_pvh.elf"
			idle_args="-kernel $top/build/bench/idle_pvh.elf"
			before_initrd="$qdev -kernel $kernel -initrd" before_cmdline=-append
		else
			base="$top/build/peers/lkvm run --nodefaults -n mode=none -c 1 -m $mem --console serial"
			hello_args="-k $top/build/bench/hello_flat.bin" idle_args="-k $top/build/bench/idle_flat.bin"
			before_initrd="-k $kernel -i" before_cmdline=-p
		fi
		case $kind in
		hello) echo "exec \${WRAP:-} $base $hello_args" ;;
		idle) echo "exec \${WRAP:-} $base $idle_args" ;;
		*)
			# kvmtool has no ACPI: the init's power-off would leave it running with a
			# halted vCPU. Its guests end with busybox reboot -f (the kernel's i8042
			# reset, reboot=k), which ends kvmtool.
			[ "$p" = qemu ] || w="$w; reboot -f"
			sh bench/cmd-initrd.sh "$initrd" "$tmp/ird-$name.cpio" sh -c "$w"
			echo "exec \${WRAP:-} $base $before_initrd $tmp/ird-$name.cpio $before_cmdline $(q "$cmdline")"
			;;
		esac
		;;
	esac >"$f"
}

# probe PLATFORM KEY NAME MARKER TIMEOUT: one run of $tmp/NAME.sh; its exit status in $st,
# or KEY reported as not measured (with the run's last lines) and status 1.
probe() {
	st=0
	timeout "$5" sh "$tmp/$3.sh" >"$tmp/$3.out" 2>&1 </dev/null || st=$?
	if ! grep -q "$4" "$tmp/$3.out"; then
		why=''
		[ "$1" != runsc ] || why="; gVisor's debug log: $(runsc_why "$3")"
		na "$1" "$2" "the run printed no '$4' (status $st): $(tail -n 3 "$tmp/$3.out" | tr '\n' ' ' | cut -c1-300)$why"
		return 1
	fi
}

# timed PLATFORM KEY NAME MARKER RUNS TIMEOUT: start-to-exit (KEY_start_ms) and first output
# (KEY_first_ms) of $tmp/NAME.sh over RUNS runs.
timed() {
	p=$1 key=$2 name=$3 mark=$4
	echo "cmd $p ${key}_start_ms $(shown "$name")"
	probe "$p" "${key}_start_ms" "$name" "$mark" "$6" || return 0
	# The monitor's stderr (kvmtool's Info lines) apart from runstat's one line.
	line=$("$runstat" -n "$5" -s "$st" -m "$mark" -q -t "$6" -- sh "$tmp/$name.sh" 2>"$tmp/$name.err" | tail -n 1)
	case $line in
	*failures=0*marker_median_ms=[0-9]*)
		r=$(echo "$line" | sed 's/.*median_ms=\([0-9.]*\) min_ms=\([0-9.]*\) max_ms=\([0-9.]*\) .*/\1\/\2\/\3/')
		m=$(echo "$line" | sed 's/.*marker_median_ms=\([0-9.]*\) marker_min_ms=\([0-9.]*\) marker_max_ms=\([0-9.]*\).*/\1\/\2\/\3/')
		echo "value $p ${key}_start_ms $r $5"
		echo "value $p ${key}_first_ms $m $5"
		;;
	*) na "$p" "${key}_start_ms" "runstat: $line" ;;
	esac
}

# syscalls PLATFORM NAME: distinct system calls of one run of $tmp/NAME.sh under strace -f.
syscalls() {
	p=$1 name=$2
	command -v strace >/dev/null || { na "$p" syscalls "no strace in the rig"; return 0; }
	st=0
	WRAP="strace -f -c -o $tmp/strace.$name" timeout 600 sh "$tmp/$name.sh" >"$tmp/$name.sout" 2>&1 </dev/null || st=$?
	n=$(awk '/^-----/ { sep++; next } sep == 1 && NF >= 4 { c++ } END { print c + 0 }' "$tmp/strace.$name" 2>/dev/null)
	if [ "${n:-0}" -gt 0 ] && [ "$st" -eq 0 ]; then
		echo "value $p syscalls $n/$n/$n 1"
		echo "cmd $p syscalls strace -f -c -o FILE $(shown "$name")"
	else
		na "$p" syscalls "under strace -f the run failed (status $st): $(tail -n 3 "$tmp/$name.sout" | tr '\n' ' ' | cut -c1-300)"
	fi
}

# new_pids BEFORE: the processes that were not in BEFORE (a list of PIDs), but for us.
all_pids() { for d in /proc/[0-9]*; do echo "${d#/proc/}"; done | sort -n; }
# Kernel threads (KVM's, kworkers) and zombies have an empty cmdline: left out.
new_pids() {
	for x in $(all_pids | grep -vxF -f "$1" | grep -vx "$$"); do
		[ -n "$(tr -d '\000' <"/proc/$x/cmdline" 2>/dev/null | head -c 1)" ] && echo "$x"
	done
}

# idle PLATFORM KEY NAME MARKER: start $tmp/NAME.sh, wait for MARKER, then the summed PSS of
# every process that appeared (the whole tree: runtime, shim, sandbox, monitor), and their
# CPU time and context switches over IDLE_S seconds.
idle() {
	p=$1 key=$2 name=$3 mark=$4
	all_pids >"$tmp/before"
	line=$("$spawn" -o "$tmp/$name.out" -m "$mark" -t 600 -- sh "$tmp/$name.sh")
	case $line in *first_ms=*) ;; *)
		why=''
		[ "$p" != runsc ] || why="; gVisor's debug log: $(runsc_why "$name")"
		na "$p" "${key}_pss_kib" "$line: $(tail -n 3 "$tmp/$name.out" | tr '\n' ' ' | cut -c1-300)$why"
		return 0
		;;
	esac
	sleep 1
	cand=$(new_pids "$tmp/before")
	sleep 1 # the helpers that listed them (tr, head) have gone by now
	pids=''
	for x in $cand; do [ -d "/proc/$x" ] && pids="$pids $x"; done
	pss=$(for x in $pids; do cat "/proc/$x/smaps_rollup" 2>/dev/null; done | awk '/^Pss:/ { s += $2 } END { print s + 0 }')
	# shellcheck disable=SC2086
	c0=$(for x in $pids; do cat "/proc/$x/stat" 2>/dev/null; done | awk '{ s += $14 + $15 } END { print s + 0 }')
	w0=$(for x in $pids; do cat /proc/"$x"/task/*/status 2>/dev/null; done | awk '/ctxt_switches:/ { s += $2 } END { print s + 0 }')
	sleep "$IDLE_S"
	c1=$(for x in $pids; do cat "/proc/$x/stat" 2>/dev/null; done | awk '{ s += $14 + $15 } END { print s + 0 }')
	w1=$(for x in $pids; do cat /proc/"$x"/task/*/status 2>/dev/null; done | awk '/ctxt_switches:/ { s += $2 } END { print s + 0 }')
	hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
	nproc=$(echo "$pids" | wc -w)
	echo "value $p ${key}_pss_kib $pss/$pss/$pss 1"
	echo "value $p ${key}_procs $nproc/$nproc/$nproc 1"
	echo "info $p ${key}_procs $(for x in $pids; do cat "/proc/$x/comm" 2>/dev/null; done | tr '\n' ' ')"
	echo "value $p ${key}_cpu_ms $(((c1 - c0) * 1000 / hz))/$(((c1 - c0) * 1000 / hz))/$(((c1 - c0) * 1000 / hz)) 1"
	echo "value $p ${key}_ctxsw $((w1 - w0))/$((w1 - w0))/$((w1 - w0)) 1"
	echo "cmd $p ${key}_pss_kib $(shown "$name")"
	# shellcheck disable=SC2086
	kill -9 $pids 2>/dev/null
	case $p in
	crun | runc) "$p" --root "/run/$p" delete -f "cmp-$name" >/dev/null 2>&1 ;;
	runsc) runsc --root /run/runsc delete -force "cmp-$name" >/dev/null 2>&1 ;;
	ember-oci) "$top/build/ember-oci" --root /run/ember-oci delete -f "cmp-$name" >/dev/null 2>&1 ;;
	esac
	sleep 1
}

# work PLATFORM: compare-work.sh (sysbench, fio, iperf3, ping) in the platform, once.
work() {
	p=$1
	case $p in
	native) wd=$top/bench file=$disk direct=0 addr=preset server=10.0.4.1 kind=net ;;
	crun | runc | runsc) wd=/bench file=/disk.img direct=0 addr=preset server=10.0.4.1 kind=net ;;
	ember-oci) wd=/bench file=- direct=0 addr=- server=- kind=work ;;
	kvmtool) wd=/bench file=- direct=1 addr=- server=- kind=work ;;
	*) wd=/bench file=/dev/vda direct=1 addr=10.0.5.2/24 server=10.0.5.1 kind=work-disk-net ;;
	esac
	[ "$kind" != net ] || mk_netns cmpns || { na "$p" work "cannot make the network namespace"; return 0; }
	launcher "$p" work "sh $wd/compare-work.sh $T $NT $file $direct $addr $server" "$kind"
	st=0
	timeout $((600 + 10 * T + 4 * NT)) sh "$tmp/work.sh" >"$tmp/work.out" 2>&1 </dev/null || st=$?
	[ "$kind" != net ] || rm_netns cmpns
	sed -n 's/^io-result: \([a-z0-9_]*\)=\([0-9.]*\).*/\1 \2/p' "$tmp/work.out" | tr -d '\r' >"$tmp/work.vals"
	while read -r k v; do echo "value $p $k $v/$v/$v 1"; done <"$tmp/work.vals"
	echo "cmd $p work $(shown work)"
	if ! grep -q 'io-guest: done' "$tmp/work.out"; then
		why=$(grep 'FAILED' "$tmp/work.out" | tail -n 2 | tr '\n' ' ' | cut -c1-400)
		[ -n "$why" ] || why=$(tail -n 3 "$tmp/work.out" | tr '\n' ' ' | cut -c1-400)
		na "$p" work "status $st: $why"
	fi
	case $p in
	kvmtool)
		na kvmtool disk "not run: kvmtool's x86 devices are virtio-pci; the default guest (pci=off) has virtio-mmio drivers only"
		na kvmtool net "not run: as for the disk, virtio-pci"
		;;
	ember-oci)
		na ember-oci disk "not run: its container root is already the guest's only disk"
		na ember-oci net "not run: its network setup is not driven here"
		;;
	esac
}

seccomp() {
	case $1 in
	ember)
		s=$("$top/build/ember" seccomp-report | sed -n 's/^total: vmm \([0-9]*\).*api \([0-9]*\).*vcpu \([0-9]*\).*/\1 \2 \3/p')
		# shellcheck disable=SC2086 # three numbers
		set -- $s
		echo "value ember seccomp $1/$1/$1 1"
		echo "info ember seccomp vmm $1, api $2, vcpu $3 (build/ember seccomp-report)"
		;;
	ember-oci) na ember-oci seccomp "the microVM's monitor is Ember's (above); the runtime process itself has none" ;;
	native) na native seccomp "none" ;;
	crun | runc) na "$1" seccomp "none: runc and crun install a filter only when the spec has linux.seccomp, and this bundle has none" ;;
	runsc) na runsc seccomp "gVisor's sandbox installs its own filter; its size is not printed by runsc" ;;
	qemu) na qemu seccomp "none: -sandbox is off by default" ;;
	kvmtool) na kvmtool seccomp "none: kvmtool has no seccomp filter" ;;
	esac
}

for p in $PLATFORMS; do
	echo "platform $p"
	case $p in
	native) v=$(busybox | head -n 1) ;;
	crun) v=$(crun --version 2>&1 | head -n 1) ;;
	runc) v=$(runc --version 2>&1 | head -n 1) ;;
	runsc) v=$(runsc --version 2>&1 | head -n 1) ;;
	ember-oci) v=$("$top/build/ember-oci" --version 2>&1 | head -n 1) ;;
	qemu) v=$(qemu-system-x86_64 --version | head -n 1) ;;
	kvmtool) v=$("$top/build/peers/lkvm" version 2>&1 | head -n 1) ;;
	ember) v=$("$top/build/ember" --version 2>&1 | head -n 1) ;;
	*) na "$p" all "unknown platform"; continue ;;
	esac
	echo "info $p version $v"
	case $p in
	ember | qemu | kvmtool)
		launcher "$p" hello '' hello
		timed "$p" hello hello "$hello" "$RUNS" 60
		launcher "$p" idle '' idle
		idle "$p" idle idle "$hello"
		;;
	esac
	launcher "$p" echo 'echo compare-hello' linux
	n=$RUNS_LINUX
	case $p in native | crun | runc | runsc) n=$RUNS ;; esac
	[ "$n" -gt 0 ] && timed "$p" echo echo compare-hello "$n" 600
	launcher "$p" sleep 'echo compare-idle; exec sleep 1000000' linux
	idle "$p" sleep sleep compare-idle
	syscalls "$p" echo
	seccomp "$p"
	[ "$T" -gt 0 ] && work "$p"
done

kill "$iperf_pid" 2>/dev/null
if [ "$DENSITY_N" -gt 0 ]; then
	specs=''
	for p in $PLATFORMS; do
		case $p in ember | qemu | kvmtool) specs="$specs $p:idle:$DENSITY_N" ;; esac
	done
	# shellcheck disable=SC2086 # MONITOR:KIND:N words
	EMBER=build/ember LKVM=build/peers/lkvm SPAWN=build/bench/spawn IDLE_ELF=build/bench/idle_pvh.elf \
		IDLE_FLAT=build/bench/idle_flat.bin sh bench/density-inner.sh "$IDLE_S" $specs | grep -v '^creation'
fi
echo "compare-inner: done"
