#!/bin/sh
# Make an ext4 image for `ember run --drive path=IMAGE,root` (the default guest's init
# mounts it and runs the command there).
# Usage: scripts/make-rootfs.sh IMAGE [DIR | TARBALL]
#   DIR      a root file system tree (e.g. from debootstrap, or an unpacked image)
#   TARBALL  a tar of one (e.g. `podman export CONTAINER >rootfs.tar`, or `docker export`;
#            .tar, .tar.gz, .tar.xz); run as root to keep its owners and device nodes
#   neither  a minimal root: the host's static busybox (Debian's busybox-static), with
#            its applets as links, and an /etc/os-release naming it
# The image is the tree's size and half again, at least 32 MiB; mkfs.ext4 -d fills it,
# so no mount and no root are needed. `make rootfs` runs this for build/rootfs.ext4.
set -eu
die() { echo "make-rootfs: $*" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: make-rootfs.sh IMAGE [DIR | TARBALL]"
out=$1 src=${2:-}
command -v mkfs.ext4 >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 is missing (apt-get install e2fsprogs)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/make-rootfs.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
tree=$tmp/root
mkdir "$tree"
if [ -z "$src" ]; then
    busybox=
    for b in /bin/busybox /usr/bin/busybox; do
        if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
    done
    [ -n "$busybox" ] || die "no static busybox (apt-get install busybox-static), or give DIR or TARBALL"
    mkdir -p "$tree/bin" "$tree/sbin" "$tree/usr/bin" "$tree/usr/sbin" "$tree/etc" \
        "$tree/proc" "$tree/sys" "$tree/dev" "$tree/tmp" "$tree/run" "$tree/root" "$tree/mnt"
    chmod 1777 "$tree/tmp"
    cp "$busybox" "$tree/bin/busybox"
    for applet in $("$busybox" --list-full); do
        [ -e "$tree/$applet" ] || ln -s /bin/busybox "$tree/$applet"
    done
    cat >"$tree/etc/os-release" <<'OS'
PRETTY_NAME="Ember busybox root"
NAME="Ember busybox root"
ID=ember-busybox
OS
elif [ -d "$src" ]; then
    cp -a "$src/." "$tree/"
elif [ -f "$src" ]; then
    tar -xf "$src" -C "$tree" 2>"$tmp/tar.err" || { cat "$tmp/tar.err" >&2; die "cannot unpack '$src'"; }
else
    die "'$src' is neither a directory nor a file"
fi
# The init moves /proc, /sys, /dev, /tmp and /run into the root where they exist.
for d in proc sys dev tmp run; do mkdir -p "$tree/$d"; done
kib=$(du -sk "$tree" | cut -f1)
mib=$((kib * 3 / 2 / 1024 + 16))
[ "$mib" -ge 32 ] || mib=32
rm -f "$out"
truncate -s "${mib}M" "$out" || die "cannot create '$out'"
mkfs.ext4 -q -F -L rootfs -d "$tree" "$out" || die "mkfs.ext4 failed"
echo "make-rootfs: $out, $mib MiB"
