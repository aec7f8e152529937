#!/bin/sh
# Build Ember's default guest (what `ember run` boots without --kernel) into OUTDIR:
#   OUTDIR/bzImage       Debian's cloud kernel, as packaged
#   OUTDIR/vmlinux       the ELF inside it (Ember loads its PT_LOAD segments)
#   OUTDIR/init          guest/init.c with guest/agent.c (ember-oci's agent), static
#   OUTDIR/initrd.cpio   uncompressed newc initramfs: /init, busybox and its applets,
#                        /bin/ember-vsock (guest/vsock.c: vsock connect and echo), the
#                        virtio/vsock/pvpanic modules and /etc/ember/modules listing them
#   OUTDIR/version       the kernel release
# The kernel comes from tests/rig/fetch-kernel.sh (into build/debian-kernel, shared with the
# test rig). Needs root: the initramfs must hold a /dev/console node.
# Usage: scripts/build-guest.sh [OUTDIR]     (environment: CC, default gcc; KERNEL_FLAVOUR)
set -eu

die() { echo "build-guest: $*" >&2; exit 1; }
[ $# -le 1 ] || die "usage: $0 [OUTDIR]"
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/guest}
# KERNEL_FLAVOUR=amd64: Debian's generic kernel instead of its cloud one (it has VMGenID,
# which the cloud kernel lacks), extracted into build/debian-kernel-amd64.
flavour=${KERNEL_FLAVOUR:-cloud-amd64}
case $flavour in
    cloud-amd64) kdir=$top/build/debian-kernel ;;
    *) kdir=$top/build/debian-kernel-$flavour ;;
esac
CC=${CC:-gcc}
busybox=/bin/busybox
# The modules the init loads; their dependencies are added from modules.dep.
# pvpanic-mmio drives the ACPI QEMU0001 device at port 0x505 (port or MMIO resource alike).
wanted="virtio virtio_ring virtio_mmio virtio_blk virtio_net net_failover failover vsock
        vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport virtio-rng pvpanic-mmio
        virtio_balloon"

[ "$(id -u)" -eq 0 ] || die "must run as root: the initramfs needs a /dev/console device node"
for t in cpio lz4 readelf od dd; do
    command -v "$t" >/dev/null || die "$t not found (run scripts/install-deps.sh)"
done
[ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static)"
# The guest has no libc to offer a dynamic busybox.
readelf -lW "$busybox" | grep -q 'Requesting program interpreter' &&
    die "$busybox is dynamically linked; install busybox-static"

KERNEL_FLAVOUR=$flavour sh "$top/tests/rig/fetch-kernel.sh" "$kdir"
release=$(cat "$kdir/version")
moddir=$kdir/lib/modules/$release
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep missing (rerun tests/rig/fetch-kernel.sh)"

mkdir -p "$out"
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM HUP

u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 --endian=little -j "$2" -N4 "$1" | tr -d ' '; }

# The ELF kernel inside a bzImage, from its setup header (Documentation/x86/boot.rst):
# the protected-mode code starts after setup_sects+1 sectors, and the compressed payload
# lies at payload_offset within it, payload_length bytes long.
extract_vmlinux() { # BZIMAGE OUT
    [ "$(od -An -c -j $((0x202)) -N4 "$1" | tr -d ' ')" = HdrS ] || die "$1 is not a bzImage"
    sects=$(u8 "$1" $((0x1f1)))
    [ "$sects" -eq 0 ] && sects=4
    start=$(( (sects + 1) * 512 + $(u32 "$1" $((0x248))) ))
    len=$(u32 "$1" $((0x24c)))
    if [ "$len" -le 4 ] || [ $((start + len)) -gt "$(wc -c <"$1")" ]; then
        die "$1: payload (offset $start, $len bytes) lies outside the file"
    fi
    dd if="$1" of="$tmp/payload" bs=64K iflag=skip_bytes,count_bytes skip="$start" \
        count="$len" status=none
    # The kernel build ends the payload with the decompressed size (u32 LE): appended
    # after the stream for every format but gzip, whose own trailer holds it. The
    # decompressors reject those 4 extra bytes (lz4 -d exits 1), so cut them off.
    size=$(u32 "$tmp/payload" $((len - 4)))
    magic=$(od -An -tx1 -N4 "$tmp/payload" | tr -d ' \n')
    case $magic in
        1f8b*)    dec="gzip -dc" ;;
        02214c18) dec="lz4 -dc"; len=$((len - 4)) ;; # lz4 legacy frame
        fd377a58) dec="xz -dc"; len=$((len - 4)) ;;
        28b52ffd) dec="zstd -qdc"; len=$((len - 4)) ;;
        *) die "$1: unknown payload compression (magic $magic)" ;;
    esac
    # shellcheck disable=SC2086 # $dec is a command and its flags
    head -c "$len" "$tmp/payload" | $dec >"$tmp/vmlinux" || die "$1: cannot decompress with $dec"
    got=$(wc -c <"$tmp/vmlinux")
    [ "$got" -eq "$size" ] || die "$1: decompressed $got bytes, the kernel says $size"
    # ELF magic, 64-bit, little-endian; e_machine 62 = x86-64.
    if [ "$(od -An -tx1 -N6 "$tmp/vmlinux" | tr -d ' \n')" != 7f454c460201 ] ||
        [ "$(od -An -tu2 --endian=little -j 18 -N2 "$tmp/vmlinux" | tr -d ' ')" -ne 62 ]; then
        die "$1: the payload is not an x86-64 ELF"
    fi
    readelf -lW "$tmp/vmlinux" | grep -Eq '^ +LOAD +0x[0-9a-f]+ 0x[0-9a-f]+ 0x0+1000000 ' ||
        die "$1: the ELF has no PT_LOAD at physical 0x1000000"
    mv "$tmp/vmlinux" "$2"
}

# Unpacking takes a while: skip it when the kernel has not changed.
if ! cmp -s "$kdir/vmlinuz" "$out/bzImage" || [ ! -f "$out/vmlinux" ]; then
    extract_vmlinux "$kdir/vmlinuz" "$out/vmlinux.new"
    cp "$kdir/vmlinuz" "$out/bzImage"
    mv "$out/vmlinux.new" "$out/vmlinux"
fi

# shellcheck disable=SC2086 # CC may carry flags
$CC -static -Os -s -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 \
    -Wstrict-prototypes -o "$tmp/init" "$top/guest/init.c" "$top/guest/agent.c"
cp "$tmp/init" "$out/init"
# shellcheck disable=SC2086
$CC -static -Os -s -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 \
    -Wstrict-prototypes -o "$tmp/ember-vsock" "$top/guest/vsock.c"

# The wanted modules and all they depend on, dependencies first. modules.dep lists each
# module's whole dependency closure; a depth-first walk over it gives a load order.
awk -v wanted="$wanted" -v builtin="$moddir/modules.builtin" '
    function visit(m,   i, n, d) {
        if (m in done)
            return
        done[m] = 1
        n = split(deps[m], d, " ")
        for (i = n; i >= 1; i--)
            visit(d[i])
        print m
    }
    function base(p) {
        sub(/.*\//, "", p)
        sub(/\.ko(\.(xz|zst|gz))?$/, "", p)
        return p
    }
    {
        p = $1
        sub(/:$/, "", p)
        $1 = ""
        deps[p] = $0
        path[base(p)] = p
    }
    END {
        while ((getline line < builtin) > 0)
            inkernel[base(line)] = 1
        n = split(wanted, w, " ")
        for (i = 1; i <= n; i++) {
            if (w[i] in path)
                visit(path[w[i]])
            else if (!(w[i] in inkernel)) {
                print "build-guest: module " w[i] " not found in modules.dep" > "/dev/stderr"
                bad = 1
            }
        }
        exit bad
    }' "$moddir/modules.dep" >"$tmp/modlist" || die "cannot resolve the module list"

# The initramfs tree.
root=$tmp/root
mkdir -p "$root"
(cd "$root" && mkdir -p bin sbin usr/bin usr/sbin proc sys dev tmp run root mnt etc/ember)
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$out/init" "$root/init"
cp "$busybox" "$root/bin/busybox"
cp "$tmp/ember-vsock" "$root/bin/ember-vsock"
# What `busybox --install -s` would do at boot, done once here.
"$busybox" --list-full | while read -r applet; do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
: >"$root/etc/ember/modules"
while read -r m; do
    src=$moddir/$m
    dst=lib/modules/$release/${m%.ko*}.ko
    mkdir -p "$root/$(dirname "$dst")"
    # finit_module wants plain .ko files (compressed ones need kernel support).
    case $m in
        *.ko)     cp "$src" "$root/$dst" ;;
        *.ko.xz)  xz -dc "$src" >"$root/$dst" ;;
        *.ko.zst) zstd -qdc "$src" >"$root/$dst" ;;
        *.ko.gz)  gzip -dc "$src" >"$root/$dst" ;;
    esac
    echo "/$dst" >>"$root/etc/ember/modules"
done <"$tmp/modlist"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
# The kernel opens /dev/console from the initramfs to give init its stdin/out/err.
mknod -m 0600 "$root/dev/console" c 5 1

# Deterministic archive: sorted names (parents before children), fixed times and owners.
find "$root" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
(cd "$root" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort |
    cpio -o -H newc -R 0:0 --reproducible --quiet) >"$tmp/initrd.cpio"
mv "$tmp/initrd.cpio" "$out/initrd.cpio"
printf '%s\n' "$release" >"$out/version"

echo "build-guest: $release in $out; modules:"
sed 's/^/    /' "$root/etc/ember/modules"
for f in vmlinux bzImage initrd.cpio; do
    printf 'build-guest: %-12s %10d bytes\n' "$f" "$(wc -c <"$out/$f")"
done
