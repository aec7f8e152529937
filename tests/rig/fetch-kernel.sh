#!/bin/sh
# Fetch Debian's cloud kernel (linux-image-cloud-amd64) and extract it into OUTDIR:
#   OUTDIR/vmlinuz                      the kernel (bzImage)
#   OUTDIR/config, OUTDIR/System.map    from the package's /boot
#   OUTDIR/modules/{irqbypass,kvm,kvm-amd,tun}.ko   (uncompressed) for the nested test rig
#   OUTDIR/lib/modules/RELEASE/...      the whole modules tree, with modules.dep
#                                       (for Linux guests)
#   OUTDIR/version                      the kernel release, e.g. 6.1.0-56-cloud-amd64
#   OUTDIR/package                      "PACKAGE DEBIAN-VERSION" it came from
# Idempotent: does nothing when OUTDIR already holds the package apt would fetch now.
# Usage: tests/rig/fetch-kernel.sh OUTDIR
set -eu

die() { echo "fetch-kernel: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1
# KERNEL_FLAVOUR: Debian's kernel flavour (cloud-amd64, the default; amd64 has VMGenID).
meta=linux-image-${KERNEL_FLAVOUR:-cloud-amd64}
mods="irqbypass kvm kvm-amd tun"

# Resolve the metapackage to the versioned image package and its candidate version.
pkg=$(apt-cache depends "$meta" 2>/dev/null |
      sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
ver=
[ -n "$pkg" ] && ver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
if [ -z "$pkg" ] || [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    # Offline or no apt lists: an existing extraction is good enough.
    [ -s "$out/version" ] && [ -f "$out/vmlinuz" ] && {
        echo "fetch-kernel: cannot resolve $meta with apt; keeping $(cat "$out/package")" >&2
        exit 0
    }
    die "cannot resolve $meta (run apt-get update?)"
fi
release=${pkg#linux-image-}

is_complete() {
    [ -f "$out/vmlinuz" ] && [ -d "$out/lib/modules/$release" ] || return 1
    for m in $mods; do [ -f "$out/modules/$m.ko" ] || return 1; done
    [ "$(cat "$out/version" 2>/dev/null)" = "$release" ] &&
    [ "$(cat "$out/package" 2>/dev/null)" = "$pkg $ver" ]
}
if is_complete; then
    echo "fetch-kernel: $pkg $ver already in $out"
    exit 0
fi
# One fetch at a time (make -j, parallel rigs); the winner's result serves the others.
mkdir -p "$(dirname "$out")"
if command -v flock >/dev/null; then
    exec 9>"$out.lock"
    flock 9
    is_complete && { echo "fetch-kernel: $pkg $ver already in $out"; exit 0; }
fi

# Refuse to wipe a directory we did not create.
if [ -e "$out" ] && [ ! -f "$out/version" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    die "$out exists, is not empty and is not a kernel extraction; not touching it"
fi

tmp=$(mktemp -d "$(dirname "$out")/.fetch-kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM HUP

echo "fetch-kernel: downloading $pkg $ver"
# As root, apt drops to user _apt, which cannot write to our 0700 temp dir; download
# as root then (this is what apt would fall back to, minus its warning).
sandbox=
[ "$(id -u)" -eq 0 ] && sandbox="-o APT::Sandbox::User=root"
# shellcheck disable=SC2086 # $sandbox is empty or two words
(cd "$tmp" && apt-get download -q $sandbox "$pkg=$ver") >&2 || die "apt-get download $pkg=$ver failed"
deb=$(ls "$tmp"/*.deb) || die "no .deb downloaded"

echo "fetch-kernel: extracting $(basename "$deb")"
dpkg-deb -x "$deb" "$tmp/x"
new=$tmp/new
mkdir -p "$new/modules" "$new/lib/modules"
cp "$tmp/x/boot/vmlinuz-$release" "$new/vmlinuz"
cp "$tmp/x/boot/config-$release" "$new/config" 2>/dev/null || true
cp "$tmp/x/boot/System.map-$release" "$new/System.map" 2>/dev/null || true
mv "$tmp/x/lib/modules/$release" "$new/lib/modules/"

# The rig loads these three with busybox insmod: give it plain .ko files, whatever
# compression the package uses (bookworm ships them plain, later releases .ko.xz).
for m in $mods; do
    f=$(find "$new/lib/modules/$release/kernel" -name "$m.ko*" | head -n 1)
    [ -n "$f" ] || die "module $m not found in $pkg"
    case $f in
        *.ko)     cp "$f" "$new/modules/$m.ko" ;;
        *.ko.xz)  xz -dc "$f" >"$new/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$f" >"$new/modules/$m.ko" ;;
        *.ko.gz)  gzip -dc "$f" >"$new/modules/$m.ko" ;;
        *) die "unknown module format: $f" ;;
    esac
done
# The package leaves modules.dep to its postinst: generate it, so modprobe works.
if command -v depmod >/dev/null; then
    depmod -b "$new" "$release"
elif command -v busybox >/dev/null; then
    busybox depmod -b "$new" "$release"
fi || echo "fetch-kernel: no depmod; $new/lib/modules/$release has no modules.dep" >&2
printf '%s\n' "$release" >"$new/version"
printf '%s %s\n' "$pkg" "$ver" >"$new/package"

# Swap in the new extraction.
rm -rf "$out"
mv "$new" "$out"
echo "fetch-kernel: $pkg $ver ready in $out"
