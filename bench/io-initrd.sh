#!/bin/sh
# Write OUT: INITRD (the default guest's initramfs) followed by a second newc archive
# holding the host's fio and iperf3 (or the programs IO_TOOLS names), every shared library
# `ldd` lists for them and the dynamic loader, all at the paths ldd names, and
# bench/io-guest.sh and bench/compare-work.sh in /bench. With IO_STAGE=DIR, the files of
# that archive are also left in DIR (bench/compare.sh's container root file system).
# Linux unpacks concatenated archives in order, so the guest then has both. The libraries
# are the host's own: the guest runs the same fio and iperf3 binaries as the host side.
# Usage: bench/io-initrd.sh INITRD OUT
set -eu
[ $# -eq 2 ] || { echo "usage: $0 INITRD OUT" >&2; exit 2; }
in=$1 out=$2
die() { echo "io-initrd: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
[ -s "$in" ] || die "$in is missing or empty"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/io-initrd.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bench" "$stage/tmp"
cp "$here/io-guest.sh" "$here/compare-work.sh" "$stage/bench/"
for tool in ${IO_TOOLS:-fio iperf3}; do
	path=$(command -v "$tool") || die "$tool is missing (apt-get install $tool)"
	# The guest's PATH is /bin:/sbin:/usr/bin:/usr/sbin; /usr/bin is free of busybox.
	mkdir -p "$stage/usr/bin"
	cp -L "$path" "$stage/usr/bin/$tool"
	libs=$(ldd "$path") || die "ldd $path failed"
	! printf '%s\n' "$libs" | grep -q 'not found' || die "ldd $path: a library is missing"
	for lib in $(printf '%s\n' "$libs" |
		sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
done
[ -e "$stage/lib64/ld-linux-x86-64.so.2" ] || die "ldd named no dynamic loader"

pad4() { # zero bytes up to the next multiple of 4 after $1 bytes
	case $(($1 % 4)) in 1) printf '\000\000\000' ;; 2) printf '\000\000' ;; 3) printf '\000' ;; esac
}
{
	cat "$in"
	pad4 $(($(wc -c <"$in")))
	(cd "$stage" && find . ! -name . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
} >"$out.tmp" || die "cannot write $out"
mv "$out.tmp" "$out"
if [ -n "${IO_STAGE:-}" ]; then
	{ mkdir -p "$IO_STAGE" && cp -R "$stage/." "$IO_STAGE/"; } || die "cannot copy the files to $IO_STAGE"
fi
