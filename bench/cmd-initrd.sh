#!/bin/sh
# Write OUT: INITRD followed by the command archive `ember run -- CMD ARG...` appends in
# guest memory (docs/CONTRACTS.md: 4-byte aligned, a newc cpio holding /ember.cmd with
# "tty=0", an empty string and argv, NUL-terminated), so that another monitor, or Ember
# without `-- CMD`, boots the default guest's init with the same command, byte for byte.
# Usage: bench/cmd-initrd.sh INITRD OUT CMD [ARG...]
set -eu
[ $# -ge 3 ] || { echo "usage: $0 INITRD OUT CMD [ARG...]" >&2; exit 2; }
in=$1 out=$2
shift 2
body=$(mktemp)
trap 'rm -f "$body"' EXIT
{ printf 'tty=0\000\000'; for a; do printf '%s\000' "$a"; done; } >"$body"

pad4() { # zero bytes up to the next multiple of 4 after $1 bytes
	case $(($1 % 4)) in 1) printf '\000\000\000' ;; 2) printf '\000\000' ;; 3) printf '\000' ;; esac
}
entry() { # NAME MODE INO FILE: one newc entry, as src/vmm/initrd.c writes it
	_n=$((${#1} + 1)) _s=$(($(wc -c <"$4")))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$3" "$2" 0 0 1 0 "$_s" 0 0 0 0 "$_n" 0
	printf '%s\000' "$1"
	pad4 $((110 + _n))
	cat "$4"
	pad4 "$_s"
}
{
	cat "$in"
	pad4 $(($(wc -c <"$in")))
	entry ember.cmd $((0100400)) 1 "$body"
	entry 'TRAILER!!!' 0 0 /dev/null
} >"$out"
