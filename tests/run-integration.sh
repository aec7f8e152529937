#!/bin/sh
# Run the integration tests where KVM is: on this host's /dev/kvm when it can be opened
# read-write and boots Linux (hardware VMX/SVM), otherwise inside the nested test rig
# (tests/rig/rig.sh: QEMU TCG with an emulated SVM CPU, where kvm-amd gives a real
# /dev/kvm). A PVM host's KVM runs only PVM-aware kernels, so the Linux-guest cases
# would fail there: the rig runs everything.
# Usage: EMBER=build/ember GUESTS=build/guests GUEST_DIR=build/guest \
#        tests/run-integration.sh [CASEFILE...]
# EMBER_TEST_RIG=1 forces the rig, EMBER_TEST_RIG=0 the host. In the rig, RIG_TIMEOUT
# (default 1800 s) bounds the whole run and RIG_MEM (default 6144 MiB) sizes the machine
# (tests run guests of 3.5 GiB). Exit status: run.sh's (0 only if no test
# failed), 124 if the rig stalled three times, or 125 if the rig itself failed. RIG_SMP
# (default 1) sets the rig's vCPUs: with 2, the rig stalled now and then (both emulated
# CPUs busy, no progress), seemingly a livelock between them; one vCPU has no partner.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "integration: $*"; }
die() { echo "integration: $*" >&2; exit 2; }

[ -n "${EMBER:-}" ] || die "EMBER is not set (the ember binary)"
[ -n "${GUESTS:-}" ] || die "GUESTS is not set (the directory of test guests)"
[ -x "$EMBER" ] || die "EMBER=$EMBER is not an executable file"
[ -d "$GUESTS" ] || die "GUESTS=$GUESTS is not a directory"
GUEST_DIR=${GUEST_DIR:-$(dirname "$EMBER")/guest}
export GUEST_DIR

why=
if [ ! -e /dev/kvm ]; then
    why="this host has no /dev/kvm"
elif ! err=$( (true <>/dev/kvm) 2>&1); then
    why="this host's /dev/kvm cannot be opened read-write (${err##*: })"
elif [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
    why="this host's /dev/kvm is PVM, which boots only PVM-aware Linux kernels"
fi
case ${EMBER_TEST_RIG:-} in
    1) why="EMBER_TEST_RIG=1" ;;
    0) [ -z "$why" ] || die "EMBER_TEST_RIG=0 but $why" ;;
esac

# The script that puts a guest command into an initrd, for monitors (and Ember's API mode)
# that cannot pass `-- CMD`.
CMD_INITRD=${CMD_INITRD:-$top/bench/cmd-initrd.sh}
export CMD_INITRD

if [ -z "$why" ]; then
    say "running on this host's /dev/kvm"
    exec sh "$top/tests/integration/run.sh" "$@"
fi

say "################################################################"
say "$why:"
say "running the tests inside the nested rig (QEMU TCG, kvm-amd), tests/rig/rig.sh"
say "################################################################"

# Quote a word for the rig's sh.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# Case files under tests/integration are in the rig already; others are copied in.
adds='' cases='' n=0
for f in "$@"; do
    abs=$(cd "$(dirname "$f")" 2>/dev/null && pwd)/${f##*/}
    case $abs in
        "$top"/tests/integration/*) g=/ember${abs#"$top"} ;;
        *) [ -f "$f" ] || { cases="$cases $(q "$f")"; continue; }  # run.sh reports it
           n=$((n + 1)); g=/ember/cases/$n/${f##*/}
           adds="$adds --add $(q "$f:$g")" ;;
    esac
    cases="$cases $(q "$g")"
done

# A dynamically linked ember (the ASan+UBSan build) needs its shared libraries and the
# dynamic loader in the rig, at the paths ldd names.
if ldd "$EMBER" >/dev/null 2>&1; then
    for lib in $(ldd "$EMBER" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'); do
        adds="$adds --add $(q "$lib:$lib")"
    done
fi

# Host tools the device tests use (taps and namespaces, ext4 images, the host end of
# vsock), with their libraries; the rig's busybox has none of them.
for tool in ip mkfs.ext4 debugfs socat curl; do
    path=$(command -v "$tool") || die "$tool is missing (run scripts/install-deps.sh)"
    adds="$adds --add $(q "$path:$path")"
    for lib in $(ldd "$path" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'); do
        adds="$adds --add $(q "$lib:$lib")"
    done
done

# The jailer sits beside ember.
jailer=$(dirname "$EMBER")/ember-jailer
[ -x "$jailer" ] && adds="$adds --add $(q "$jailer:/ember/build/ember-jailer")"
# So does ember-oci, the OCI runtime (tests/integration/oci.t.sh).
oci=$(dirname "$EMBER")/ember-oci
[ -x "$oci" ] && adds="$adds --add $(q "$oci:/ember/build/ember-oci")"
# So does the test-hooks build (a hidden flag makes a thread break its seccomp filter).
hooks=$(dirname "$EMBER")/ember-test-hooks
[ -x "$hooks" ] && adds="$adds --add $(q "$hooks:/ember/build/ember-test-hooks")"

# The default guest sits beside ember in the rig, as in the build tree.
[ -d "$GUEST_DIR" ] && adds="$adds --add $(q "$GUEST_DIR:/ember/build/guest")"

# The README and what its examples use (tests/integration/readme.t.sh runs them).
adds="$adds --add $(q "$top/README.md:/ember/README.md")"
adds="$adds --add $(q "$top/scripts/make-rootfs.sh:/ember/scripts/make-rootfs.sh")"
adds="$adds --add $(q "$top/docs/examples:/ember/docs/examples")"

env="EMBER=/ember/build/ember GUESTS=/ember/build/guests GUEST_DIR=/ember/build/guest CMD_INITRD=/ember/bench/cmd-initrd.sh"
adds="$adds --add $(q "$top/bench/cmd-initrd.sh:/ember/bench/cmd-initrd.sh")"
[ -z "${EMBER_RUN_TIMEOUT:-}" ] || env="$env EMBER_RUN_TIMEOUT=$(q "$EMBER_RUN_TIMEOUT")"
[ -z "${ASAN_OPTIONS:-}" ] || env="$env ASAN_OPTIONS=$(q "$ASAN_OPTIONS")"
[ -z "${UBSAN_OPTIONS:-}" ] || env="$env UBSAN_OPTIONS=$(q "$UBSAN_OPTIONS")"
eval "set -- $adds"
# The emulated rig has been seen to stall (no progress at all, also with QEMU as the
# nested monitor; with two vCPUs both spun, with one the machine sat idle, as if a timer
# interrupt was lost). Every test prints a line within about two minutes (ember_run's
# 60 s limit, twice at most), so three silent minutes mean a stalled machine: the whole
# run is tried again, up to three times in all, and says so. Any other result, pass or
# fail, is final.
# The rig's own lines (the kernel's warnings) come after the tests' summary: it is said
# again at the very end, so a run's last line is its result.
log=$(mktemp "${TMPDIR:-/tmp}/integration.XXXXXX") || die "mktemp failed"
trap 'rm -f "$log" "$log.st"' EXIT
summary() {
    grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1
}
for attempt in 1 2 3; do
    {
        "$top/tests/rig/rig.sh" --timeout "${RIG_TIMEOUT:-1800}" --mem "${RIG_MEM:-6144}" \
            --idle-timeout "${RIG_IDLE_TIMEOUT:-180}" --smp "${RIG_SMP:-1}" \
            --add "$EMBER:/ember/build/ember" \
            --add "$GUESTS:/ember/build/guests" \
            --add "$top/tests/integration:/ember/tests/integration" \
            "$@" -- "$env sh tests/integration/run.sh$cases"
        echo $? >"$log.st"
    } | tee "$log"
    st=$(cat "$log.st" 2>/dev/null) || st=125
    if [ "$st" -ne 124 ] || [ "$attempt" -ge 3 ]; then
        summary
        exit "$st"
    fi
    say "################################################################"
    say "the rig stalled (see above); running every test again in a new rig"
    say "################################################################"
done
