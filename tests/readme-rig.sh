#!/bin/sh
# The README's rig example (`<!-- readme-test: rig -->`), run as written. The rig cannot
# run inside itself, so this case runs on the host, beside the integration suite rather
# than in it (tests/integration/readme.t.sh runs the README's other examples in the rig).
# Usage: tests/readme-rig.sh BUILD_DIR (the tree's build/ for the example's build/...).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 2
say() { echo "readme-rig: $*"; }

if ldd "$build/ember" >/dev/null 2>&1; then
	# The example copies build/ember alone into the rig: a dynamically linked (sanitizer)
	# build would miss its libraries there. The static build's run covers the example.
	say "SKIP: $build/ember is dynamically linked (a sanitizer build?); the example needs a static one"
	exit 0
fi
[ -f "$build/guest/vmlinux" ] || { say "FAIL: no default guest in $build (make guest)"; exit 1; }

# readme_block, the same reader as the rig-side examples use.
EMBER=$build/ember README=${README:-$top/README.md}
. "$top/tests/integration/readme.t.sh"

d=$(mktemp -d "${TMPDIR:-/tmp}/ember-readme-rig.XXXXXX") || exit 2
trap 'rm -rf "$d"' EXIT
ln -s "$build" "$d/build" && ln -s "$top/tests" "$d/tests"
readme_block rig >"$d/block"
[ -s "$d/block" ] || { say "FAIL: README.md has no block marked readme-test: rig"; exit 1; }
(cd "$d" && RIG_KERNEL_DIR=${RIG_KERNEL_DIR:-$top/build/debian-kernel} timeout 300 sh block) \
	</dev/null >"$d/out" 2>"$d/err"
status=$?
# "prints the guest's uname -a line", as the README says.
if [ "$status" -ne 0 ] || ! grep -Eq '^Linux \(none\) [^ ]+-cloud-amd64 .* x86_64 GNU/Linux$' "$d/out"; then
	say "FAIL: the example ended with status $status and printed:"
	sed 's/^/    | /' "$d/out"
	tail -n 20 "$d/err" | sed 's/^/    err| /'
	exit 1
fi
say "ok (the rig example printed the guest's uname -a line)"
