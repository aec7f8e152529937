#!/bin/sh
# `make install` into a scratch DESTDIR puts the binaries, the default guest and the man
# pages there, `man` reads the installed pages, and `make uninstall` removes exactly what
# install put: nothing is left but the directories that were there before.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
d=$(mktemp -d "${TMPDIR:-/tmp}/ember-install.XXXXXX") || exit 2
trap 'rm -rf "$d"' EXIT
fail() { echo "install: FAIL $*"; exit 1; }
mk() { make -s -C "$top" --no-print-directory DESTDIR="$d" PREFIX=/usr/local "$@"; }
mk install >"$d.log" 2>&1 || { cat "$d.log"; rm -f "$d.log"; fail "make install"; }
rm -f "$d.log"
for f in bin/ember bin/ember-jailer share/ember/vmlinux share/ember/initrd.cpio \
    share/man/man1/ember.1 share/man/man1/ember-jailer.1; do
    [ -s "$d/usr/local/$f" ] || fail "make install did not put $f"
done
if command -v man >/dev/null; then
    MANPATH=$d/usr/local/share/man man ember 2>/dev/null | grep -q 'ember run' ||
        fail "man ember does not show the installed page"
    MANPATH=$d/usr/local/share/man man ember-jailer 2>/dev/null | grep -q 'new-pid-ns' ||
        fail "man ember-jailer does not show the installed page"
fi
mk uninstall >/dev/null 2>&1 || fail "make uninstall"
left=$(cd "$d" && find . -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install: ok (make install, man ember, make uninstall)"
