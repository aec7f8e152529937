#!/bin/sh
# The nested test rig: run COMMAND inside a QEMU TCG machine emulating an AMD CPU with
# SVM, booting Debian's cloud kernel, where kvm-amd provides a real /dev/kvm. Used
# where the host has no usable /dev/kvm (or one, like PVM's, that cannot boot Linux).
#
# Usage: tests/rig/rig.sh [--mem MiB] [--smp N] [--timeout SECONDS] [--idle-timeout SECONDS]
#                         [--with-qemu] [--verbose] [--add HOSTPATH:GUESTPATH]... -- COMMAND...
#   --smp        the rig's vCPUs, default 1: with 2 (multi-threaded TCG) the rig was slower
#                and now and then stalled with both emulated CPUs busy and no progress
#   --idle-timeout  stop the rig when its console has been silent that long once it is up
#                (default 0: never); it then exits 124, so a caller can tell a stalled
#                machine from a failed one
#   --add        copy a host file or directory (recursively, symlinks followed) to
#                GUESTPATH in the rig; directories added to the same place merge
#   --with-qemu  also put the host's qemu-system-x86_64 (with its libraries and
#                microvm firmware) into the rig, for side-by-side benchmarks
#   --verbose    show the whole console, kernel boot messages included (or RIG_VERBOSE=1)
# COMMAND's words are joined with spaces and run by sh in /ember (as ssh does), so
#   rig.sh -- 'ls -l /dev/kvm; grep -c svm /proc/cpuinfo'
# works. Inside: busybox, PATH=/usr/bin:/bin..., stdin is /dev/null.
# Exit status: COMMAND's; 124 if it stalled (--idle-timeout); 125 if the rig itself failed (bad usage, no kernel, boot
# failure, kernel panic, /dev/kvm missing in the rig, timeout): a `rig: ...` line on
# stderr says why.
# Environment: RIG_KERNEL_DIR (default build/debian-kernel, fetched if missing),
# RIG_CACHE_DIR (default build/rig), RIG_APPEND (extra kernel command line), RIG_CPU
# (default EPYC,+svm,+npt), RIG_BOOT_TIMEOUT (default 120 s), RIG_TSC_KHZ (default: the host's),
# QEMU (default qemu-system-x86_64).
# shellcheck disable=SC2317 # functions called through traps and build_cached
set -u
RIG_FAIL=125
RIG_STALLED=124

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kdir=${RIG_KERNEL_DIR:-$top/build/debian-kernel}
cache=${RIG_CACHE_DIR:-$top/build/rig}
qemu=${QEMU:-qemu-system-x86_64}
mem=2048 smp=1 timeout=600 idle=0 with_qemu=0 verbose=${RIG_VERBOSE:-0}

say() { echo "rig: $*" >&2; }
die() { say "$*"; exit $RIG_FAIL; }
usage() { sed -n '6,12s/^# \{0,1\}//p' "$0" >&2; exit $RIG_FAIL; }

# --- temp files and QEMU are always cleaned up ---
tmp='' qpid='' wpid='' apid=''
cleanup() {
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
    [ -n "$qpid" ] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
    [ -n "$apid" ] && kill "$apid" 2>/dev/null
    [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rig.XXXXXX") || die "cannot make a temp directory"
stage=$tmp/stage
mkdir -p "$stage/rig" "$stage/ember"

num() { case $2 in ''|*[!0-9]*) die "$1 needs a number, got '$2'";; esac; }
add() {
    case $1 in *:/*) ;; *) die "--add needs HOSTPATH:/GUESTPATH, got '$1'";; esac
    h=${1%:*} g=${1##*:}
    [ -e "$h" ] || die "--add: $h does not exist"
    if [ -d "$h" ]; then
        mkdir -p "$stage$g" && cp -RL "$h/." "$stage$g/"
    else
        mkdir -p "$stage$(dirname "$g")" && cp -L "$h" "$stage$g"
    fi || die "--add: cannot copy $h"
}
while [ $# -gt 0 ]; do
    case $1 in
        --mem) [ $# -ge 2 ] || usage; num "$1" "$2"; mem=$2; shift 2 ;;
        --smp) [ $# -ge 2 ] || usage; num "$1" "$2"; smp=$2; shift 2 ;;
        --timeout) [ $# -ge 2 ] || usage; num "$1" "$2"; timeout=$2; shift 2 ;;
        --idle-timeout) [ $# -ge 2 ] || usage; num "$1" "$2"; idle=$2; shift 2 ;;
        --add) [ $# -ge 2 ] || usage; add "$2"; shift 2 ;;
        --with-qemu) with_qemu=1; shift ;;
        --verbose) verbose=1; shift ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
[ $# -gt 0 ] || usage

# --- the kernel ---
if [ ! -s "$kdir/version" ]; then
    [ -z "${RIG_KERNEL_DIR:-}" ] || die "no kernel in $kdir (run tests/rig/fetch-kernel.sh $kdir)"
    "$here/fetch-kernel.sh" "$kdir" >&2 || die "cannot fetch the kernel"
fi
for f in vmlinuz modules/irqbypass.ko modules/kvm.ko modules/kvm-amd.ko modules/tun.ko; do
    [ -f "$kdir/$f" ] || die "$kdir/$f missing (rerun tests/rig/fetch-kernel.sh $kdir)"
done
command -v "$qemu" >/dev/null || die "$qemu not found (apt-get install qemu-system-x86)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"

# --- the rig's /init (busybox sh, PID 1) ---
# shellcheck disable=SC2016 # expanded by the rig's shell, not this one
init='#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
ln -s /proc/self/fd /dev/fd 2>/dev/null
nonce=$(cat /rig/nonce)
fail() {
    echo "rig: ################################################################"
    echo "rig: $*"
    echo "rig: ################################################################"
    dmesg | grep -iE "kvm|svm" | tail -n 10 | sed "s/^/rig: dmesg: /"
    echo "rig-failed-$nonce"
    poweroff -f; sleep 5; reboot -f
}
for m in irqbypass kvm kvm-amd tun; do
    insmod /lib/modules/rig/$m.ko || echo "rig: insmod $m.ko failed"
done
[ -c /dev/kvm ] || fail "/dev/kvm missing (kvm-amd did not load or bind: no SVM in the CPU?)"
(exec 3<>/dev/kvm) 2>/dev/null || fail "/dev/kvm cannot be opened read-write"
# Keep kernel messages off the console while the command runs (panics still show);
# report the ones at warning level or worse after it.
klines=$(dmesg | wc -l)
dmesg -n 1
echo "rig-ready-$nonce"
cd /ember
sh /rig/cmd </dev/null
st=$?
echo
# Not shown: the "Unhandled WRMSR(0xc0010007)" for each Linux guest (the
# guest kernel probing an AMD performance counter the emulated CPU lacks; harmless),
# dozens per test run, which would bury the summary the command printed last.
dmesg -r | tail -n +$((klines + 1)) | grep -E "^<[0-4]>" |
    grep -v "Unhandled WRMSR(0xc0010007)" | head -n 100 >/tmp/.rig-klog
if [ -s /tmp/.rig-klog ]; then
    echo "rig: the kernel logged, while the command ran:"
    sed "s/^<[0-9]>/rig: kernel: /" /tmp/.rig-klog
fi
echo "rig-exit-$nonce $st"
poweroff -f; sleep 5; reboot -f
'

# --- cached base archives: busybox + modules + init; optionally QEMU ---
mkdir -p "$cache" || die "cannot create $cache"
# build_cached NAME KEY FUNCTION: (re)build $cache/NAME.cpio from a tree that FUNCTION
# fills in "$1" unless $cache/NAME.key equals KEY. Atomic, so parallel rigs are safe.
build_cached() {
    [ -f "$cache/$1.cpio" ] && [ "$(cat "$cache/$1.key" 2>/dev/null)" = "$2" ] && return 0
    _d=$tmp/base-$1
    { mkdir -p "$_d" && "$3" "$_d"; } || die "cannot assemble the $1 archive"
    (cd "$_d" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
        >"$cache/$1.cpio.$$" || die "cpio failed for the $1 archive"
    mv "$cache/$1.cpio.$$" "$cache/$1.cpio"
    printf '%s\n' "$2" >"$cache/$1.key"
    rm -rf "$_d"
}
busybox=/bin/busybox
[ -x $busybox ] || busybox=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked (apt-get install busybox-static)"
fi
fill_base() {
    mkdir -p "$1/bin" "$1/lib/modules/rig" "$1/proc" "$1/sys" "$1/dev" "$1/tmp" \
             "$1/root" "$1/etc" "$1/ember" "$1/rig" || return 1
    cp "$busybox" "$1/bin/busybox" &&
    cp "$kdir"/modules/irqbypass.ko "$kdir"/modules/kvm.ko "$kdir"/modules/kvm-amd.ko "$kdir"/modules/tun.ko \
       "$1/lib/modules/rig/" &&
    printf '%s' "$init" >"$1/init" && chmod 755 "$1/init" &&
    echo 'root:x:0:0:root:/root:/bin/sh' >"$1/etc/passwd" &&
    echo 'root:x:0:' >"$1/etc/group"
}
key=$(printf '%s\n' "$init" "$(cat "$kdir/version")" |
      cat - "$busybox" "$kdir"/modules/*.ko | cksum)
build_cached base "$key" fill_base
layers=$cache/base.cpio

if [ "$with_qemu" = 1 ]; then
    qbin=$(command -v "$qemu")
    qshare=$(cd "$(dirname "$qbin")/../share/qemu" && pwd) || die "no share/qemu next to $qbin"
    qmods=$(cd "$(dirname "$qbin")/../lib/x86_64-linux-gnu/qemu" 2>/dev/null && pwd)
    # Firmware the microvm machine opens (found with strace), plus the PVH/option ROMs
    # a -kernel boot on microvm or pc may want; accel-tcg so kvm:tcg fallback works.
    qfw="bios-microvm.bin linuxboot_dma.bin linuxboot.bin pvh.bin kvmvapic.bin"
    fill_qemu() {
        mkdir -p "$1/usr/bin" "$1/usr/share/qemu" || return 1
        cp "$qbin" "$1/usr/bin/qemu-system-x86_64" || return 1
        # every library ldd lists, and the dynamic loader, at their own paths
        for _l in $(ldd "$qbin" "$qmods"/accel-tcg-x86_64.so 2>/dev/null |
                    sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' |
                    sort -u); do
            mkdir -p "$1$(dirname "$_l")" && cp -L "$_l" "$1$_l" || return 1
        done
        for _f in $qfw; do
            [ -f "$qshare/$_f" ] && cp "$qshare/$_f" "$1/usr/share/qemu/"
        done
        [ -f "$1/usr/share/qemu/bios-microvm.bin" ] || return 1
        if [ -n "$qmods" ] && [ -f "$qmods/accel-tcg-x86_64.so" ]; then
            mkdir -p "$1/usr/lib/x86_64-linux-gnu/qemu" &&
            cp "$qmods/accel-tcg-x86_64.so" "$1/usr/lib/x86_64-linux-gnu/qemu/"
        fi
        return 0
    }
    qkey=$( (echo "$qfw"; ldd "$qbin" | sed 's/ (0x[0-9a-f]*)$//') | cat - "$qbin" | cksum)
    build_cached qemu "$qkey" fill_qemu
    layers="$layers $cache/qemu.cpio"
fi

# --- this run's archive: the --add files and the command ---
nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
echo "$nonce" >"$stage/rig/nonce"
printf '%s\n' "$*" >"$stage/rig/cmd"
(cd "$stage" && find . | cpio -o -H newc -R 0:0 --quiet) >"$tmp/run.cpio" ||
    die "cpio failed for this run's files"
# The kernel unpacks concatenated newc archives in order, later files winning.
# shellcheck disable=SC2086 # $layers is a list of paths without spaces
cat $layers "$tmp/run.cpio" >"$tmp/initrd" || die "cannot write the initramfs"
rm -rf "$stage" "$tmp/run.cpio"

# --- boot ---
# Under TCG the guest's TSC is the host's TSC. Tell the kernel its frequency: when the
# host is busy, the kernel's PIT calibration fails ("tsc: Unable to calibrate against
# PIT", no HPET or PM timer on microvm) and the boot then hangs for good.
host_tsc_mhz() {
    _k=$(dmesg 2>/dev/null)
    for _re in 'tsc: Refined TSC clocksource calibration: \([0-9.]*\) MHz' \
               'tsc: Detected \([0-9.]*\) MHz'; do
        _m=$(printf '%s\n' "$_k" | sed -n "s/.*$_re.*/\\1/p" | tail -n 1)
        [ -n "$_m" ] && { echo "$_m"; return; }
    done
    # In a VM "cpu MHz" is the TSC's; on bare metal with cpufreq it is not: then let
    # the kernel calibrate.
    [ -d /sys/devices/system/cpu/cpu0/cpufreq ] ||
        sed -n 's/^cpu MHz[[:space:]]*: \([0-9.]*\)$/\1/p' /proc/cpuinfo | head -n 1
}
tsc_khz=${RIG_TSC_KHZ:-}
[ -n "$tsc_khz" ] || tsc_khz=$(host_tsc_mhz | awk '{ printf "%d", $1 * 1000 }')
# reboot=t: on a panic, reset by triple fault (QEMU then exits, -no-reboot); the default
# ACPI-then-keyboard sequence hung in about one panic in three on microvm.
cmdline="console=ttyS0 quiet panic=-1 reboot=t rdinit=/init no_timer_check tsc=reliable"
[ -n "$tsc_khz" ] && [ "$tsc_khz" -gt 0 ] && cmdline="$cmdline tsc_early_khz=$tsc_khz"
cmdline="$cmdline ${RIG_APPEND:-}"
# A boot that hangs should not cost the whole --timeout.
boot_timeout=${RIG_BOOT_TIMEOUT:-120}
[ "$boot_timeout" -lt "$timeout" ] || boot_timeout=$timeout

mkfifo "$tmp/console" || die "mkfifo failed"
t0=$(date +%s.%N)
"$qemu" -M microvm,acpi=on -accel tcg,thread=multi -cpu "${RIG_CPU:-EPYC,+svm,+npt}" \
    -m "$mem" -smp "$smp" -nographic -no-reboot \
    -kernel "$kdir/vmlinuz" -initrd "$tmp/initrd" \
    -append "$cmdline" \
    </dev/null >"$tmp/console" 2>"$tmp/qemu.err" &
qpid=$!

# Enforce the timeouts; and if this script dies without cleaning up (SIGKILL), stop
# QEMU and remove the temp files in its place.
watchdog() {
    _t=0 _quiet=0 _size=0
    while kill -0 $$ 2>/dev/null; do
        if [ "$_t" -ge "$timeout" ] || { [ "$_t" -ge "$boot_timeout" ] && [ ! -e "$tmp/up" ]; }; then
            : >"$tmp/timedout"
            kill "$qpid"; sleep 5; kill -9 "$qpid"
            exit 0
        fi
        # A console silent for --idle-timeout seconds once the rig is up: stalled.
        _now=$(wc -c <"$tmp/console.log" 2>/dev/null || echo 0)
        if [ "$_now" != "$_size" ] || [ ! -e "$tmp/up" ]; then
            _size=$_now _quiet=0
        else
            _quiet=$((_quiet + 1))
        fi
        if [ "$idle" -gt 0 ] && [ "$_quiet" -ge "$idle" ]; then
            : >"$tmp/stalled"
            kill "$qpid"; sleep 5; kill -9 "$qpid"
            exit 0
        fi
        sleep 1
        _t=$((_t + 1))
    done
    kill -9 "$qpid"
    rm -rf "$tmp"
}
watchdog </dev/null >/dev/null 2>&1 &
wpid=$!

# Stream the console: hide the kernel's boot messages until the rig is up, then pass
# everything through but the markers; the rig's own `rig: ...` lines go to stderr, so
# stdout is the command's output. The whole console goes to console.log.
# mawk reads a pipe in big blocks unless told to work line by line.
awk_il=
awk -W version 2>/dev/null | grep -q mawk && awk_il="-W interactive"
# shellcheck disable=SC2086
awk $awk_il -v nonce="$nonce" -v verbose="$verbose" -v t0="$t0" \
    -v logf="$tmp/console.log" -v result="$tmp/result" -v up="$tmp/up" '
function err(s) { print s > "/dev/stderr"; fflush("/dev/stderr") }
function out(s) { while (blank > 0) { print ""; blank-- }; print s; fflush() }
{
    sub(/\r+$/, ""); gsub(/\r/, "")
    print > logf; fflush(logf)
    if ($0 == "rig-ready-" nonce) {
        state = 1; printf "" > up; close(up)
        "date +%s.%N" | getline now; close("date +%s.%N")
        err(sprintf("rig: up in %.1f s (QEMU TCG, kvm-amd loaded); running the command", now - t0))
        next
    }
    if (index($0, "rig-exit-" nonce " ") == 1) {
        print substr($0, length("rig-exit-" nonce " ") + 1) > result; close(result)
        state = 2; blank = 0; next
    }
    if ($0 == "rig-failed-" nonce) { state = 2; blank = 0; next }
    if (!verbose && state != 1 && $0 ~ /^\[ *[0-9]+\.[0-9]+\] /) next
    if (state == 1 && $0 == "") { blank++; next }
    if ($0 ~ /^rig: /) { err($0); next }
    out($0)
}' <"$tmp/console" &
apid=$!
wait $apid
apid=
wait $qpid; qst=$?
qpid=

st=$(cat "$tmp/result" 2>/dev/null)
case $st in
    [0-9]*) exit "$st" ;;
esac
# The rig failed: say why, and show what the console and QEMU said.
if [ -e "$tmp/stalled" ]; then
    say "STALLED: no console output for $idle s (--idle-timeout). The emulated machine"
    say "stopped making progress; this has also happened with QEMU, not Ember, as the"
    say "nested monitor, and more often when the host's cores are busy."
    grep -v "TCG doesn't support requested feature" "$tmp/qemu.err" | sed 's/^/rig: qemu: /' >&2
    exit $RIG_STALLED
elif [ -e "$tmp/timedout" ] && [ ! -e "$tmp/up" ]; then
    say "BOOT TIMED OUT: the rig was not up after $boot_timeout s (RIG_BOOT_TIMEOUT)"
elif [ -e "$tmp/timedout" ]; then
    say "TIMED OUT after $timeout s (--timeout)"
elif grep -q "rig-failed-$nonce" "$tmp/console.log" 2>/dev/null; then
    say "setup inside the rig failed (see above)"
elif grep -q "Kernel panic" "$tmp/console.log" 2>/dev/null; then
    say "the rig's kernel panicked"
elif [ "$qst" -ne 0 ]; then
    say "QEMU failed with status $qst"
else
    say "the rig stopped without reporting the command's exit status"
fi
# Before the rig was up the kernel's messages were hidden: show the last ones.
if [ "$verbose" != 1 ] && [ ! -e "$tmp/up" ] &&
   grep -q '^\[ *[0-9]*\.[0-9]*\] ' "$tmp/console.log" 2>/dev/null; then
    say "last kernel messages:"
    grep '^\[ *[0-9]*\.[0-9]*\] ' "$tmp/console.log" | tail -n 25 | sed 's/^/rig: | /' >&2
fi
grep -v "TCG doesn't support requested feature" "$tmp/qemu.err" | sed 's/^/rig: qemu: /' >&2
say "FAILED (status $RIG_FAIL)"
exit $RIG_FAIL
