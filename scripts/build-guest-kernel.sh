#!/bin/sh
# Build a small microVM kernel from Debian's linux-source package with the config fragment
# guest/microvm.config, into OUTDIR:
#   OUTDIR/vmlinux      the ELF (debug info stripped), what Ember loads
#   OUTDIR/bzImage      the same kernel, LZ4-compressed, for monitors that want a bzImage
#   OUTDIR/config       the final .config
#   OUTDIR/build-time   seconds the configure and compile took (the last build that ran),
#                       then a line saying how it ran
# The source is unpacked once into build/linux-src; the objects live in OUTDIR/obj, so a
# changed fragment rebuilds only what it touches, and an unchanged one rebuilds nothing.
# Installs what the build needs with apt-get when it is missing (needs root then).
# Not run in CI. Usage: scripts/build-guest-kernel.sh [OUTDIR]   (environment: JOBS)
set -eu

die() { echo "build-guest-kernel: $*" >&2; exit 1; }
say() { echo "build-guest-kernel: $*"; }
[ $# -le 1 ] || die "usage: $0 [OUTDIR]"
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/guest-kernel}
mkdir -p "$out"
out=$(cd "$out" && pwd)
obj=$out/obj
src=$top/build/linux-src
frag=$top/guest/microvm.config
pkg=linux-source-6.1
tarball=/usr/src/$pkg.tar.xz
jobs=${JOBS:-$(nproc)}
[ -r "$frag" ] || die "$frag not found"

# What the build runs, and the package that brings it. libelf-dev is for objtool (the ORC
# unwinder); bc, bison and flex for Kbuild itself; lz4 compresses the bzImage. Nothing
# needs OpenSSL or pahole: module signing, trusted keys and BTF are off.
need=
command -v gcc >/dev/null || need="$need gcc"
command -v make >/dev/null || need="$need make"
[ -f /usr/include/stdio.h ] || need="$need libc6-dev"
command -v bc >/dev/null || need="$need bc"
command -v bison >/dev/null || need="$need bison"
command -v flex >/dev/null || need="$need flex"
[ -f /usr/include/gelf.h ] || need="$need libelf-dev"
command -v lz4 >/dev/null || need="$need lz4"
command -v xz >/dev/null || need="$need xz-utils"
command -v objcopy >/dev/null || need="$need binutils"
[ -f "$tarball" ] || need="$need $pkg"
if [ -n "$need" ]; then
    [ "$(id -u)" -eq 0 ] || die "missing packages:$need (as root: apt-get install$need)"
    say "installing:$need"
    # shellcheck disable=SC2086 # a list of package names
    apt-get install -y -q --no-install-recommends $need >/dev/null ||
        die "apt-get install$need failed"
fi
[ -f "$tarball" ] || die "$tarball missing after installing $pkg"

# Unpack the source once; again only when the package changed. Unpacked files keep the
# tarball's old times, so objects built from an older source would look up to date:
# start those over.
srcid=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || stat -c '%s %Y' "$tarball")
if [ "$(cat "$src/.ember-source" 2>/dev/null)" != "$srcid" ]; then
    say "unpacking $tarball ($pkg $srcid) into $src"
    t0=$(date +%s)
    rm -rf "$src" "$src.new" "$obj"
    mkdir -p "$src.new"
    nice -n 19 tar -xJf "$tarball" -C "$src.new" --strip-components=1
    printf '%s\n' "$srcid" >"$src.new/.ember-source"
    mv "$src.new" "$src"
    say "unpacked in $(($(date +%s) - t0)) s"
fi

# Nothing to do when this fragment was built from this source and the results are there.
stamp="$srcid $(sha256sum <"$frag" | cut -d' ' -f1)"
if [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ] &&
    [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ] && [ -f "$out/config" ]; then
    say "up to date ($out; built in $(head -n1 "$out/build-time" 2>/dev/null || echo '?') s)"
    exit 0
fi

kmake() { nice -n 19 make -C "$src" O="$obj" ARCH=x86_64 "$@"; }
mkdir -p "$obj"
t0=$(date +%s)

# A symbol the source does not know (a typo, a rename in a stable update) would pass the
# check below unnoticed when the fragment asks for it to be off.
find "$src" -name 'Kconfig*' -exec grep -hoE '^\s*(menu)?config\s+\w+' {} + |
    awk '{ print "CONFIG_" $2 }' | sort -u >"$obj/symbols"
unknown=$(sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=.*/\1/p' \
    -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1/p' "$frag" |
    sort -u | comm -23 - "$obj/symbols" | tr '\n' ' ' | sed 's/ $//')
[ -z "$unknown" ] || die "$frag names options $pkg does not have: $unknown"

# allnoconfig with the fragment merged in: merge_config.sh -n runs allnoconfig with the
# fragment as KCONFIG_ALLCONFIG, so every option the fragment does not name is off (also
# the ones it makes visible), and it warns about requests that did not take; olddefconfig
# then settles anything left. merge_config.sh runs make in its working directory with a
# seed file it writes there: run it in the object tree, whose Makefile (written by the
# first allnoconfig) points at the source.
kmake -s allnoconfig
(cd "$obj" && ARCH=x86_64 nice -n 19 sh "$src/scripts/kconfig/merge_config.sh" -n "$frag") \
    >"$obj/merge.log" 2>&1 || {
    cat "$obj/merge.log" >&2
    die "merge_config.sh failed"
}
kmake -s olddefconfig

# Every line of the fragment must hold: a dependency it lacks silently drops an option.
bad=$(sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=.*/&/p' \
    -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1=n/p' "$frag" |
    while IFS='=' read -r sym want; do
        got=$(sed -n "s/^$sym=//p" "$obj/.config")
        [ "$want" = n ] && [ -z "$got" ] && continue
        [ "$got" = "$want" ] && continue
        printf '    %s: wanted %s, got %s\n' "$sym" "$want" "${got:-unset}"
    done)
if [ -n "$bad" ]; then
    printf '%s\n' "$bad" >&2
    die "the final .config does not hold these lines of $frag (a dependency missing?" \
        "merge_config.sh's report: $obj/merge.log)"
fi

# A fragment edit that changes no option (a comment) needs no build.
if cmp -s "$obj/.config" "$out/config" && [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ]; then
    echo "$stamp" >"$out/stamp"
    say "the fragment changed but the .config did not: nothing to build"
    exit 0
fi

kind=incremental
[ -f "$obj/vmlinux" ] || kind="from scratch"
load=$(cut -d' ' -f1 /proc/loadavg)
say "building $(kmake -s kernelrelease) $kind in $obj (make -j$jobs under nice -n 19)"
kmake -s -j"$jobs" bzImage
secs=$(($(date +%s) - t0))

# Debug info is off already; --strip-debug makes sure nothing of it is left in the ELF.
objcopy --strip-debug "$obj/vmlinux" "$out/vmlinux.new"
mv "$out/vmlinux.new" "$out/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage"
cp "$obj/.config" "$out/config"
printf '%s\n%s build (configure and compile), make -j%s under nice -n 19 on %s CPUs, %s\n' \
    "$secs" "$kind" "$jobs" "$(nproc)" "load average $load at the start" >"$out/build-time"
echo "$stamp" >"$out/stamp"

say "built in $secs s:"
for f in vmlinux bzImage; do
    printf 'build-guest-kernel: %-8s %10d bytes\n' "$f" "$(wc -c <"$out/$f")"
done
