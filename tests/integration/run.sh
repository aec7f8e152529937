#!/bin/sh
# Integration-test runner (POSIX sh; busybox ash, dash and bash). See docs/CONTRACTS.md.
# Usage: EMBER=path/to/ember GUESTS=path/to/guests tests/integration/run.sh [CASEFILE...]
# Runs every function t_NAME() defined at the start of a line in each case file
# (default: tests/integration/*.t.sh), each in its own subshell with lib.sh loaded and
# a fresh directory $T. Prints `ok NAME`, `FAIL NAME: reason` or `skip NAME: reason`
# per test and `N passed, N failed, N skipped` at the end; exits 0 only if none failed.

here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- "$here"/*.t.sh

die() { echo "run.sh: $*" >&2; exit 2; }
[ -n "${EMBER:-}" ] || die "EMBER is not set (the ember binary)"
[ -n "${GUESTS:-}" ] || die "GUESTS is not set (the directory of test guests)"
case $EMBER in /*) ;; *) EMBER=$(pwd)/$EMBER ;; esac
case $GUESTS in /*) ;; *) GUESTS=$(pwd)/$GUESTS ;; esac
[ -x "$EMBER" ] || die "EMBER=$EMBER is not an executable file"
[ -d "$GUESTS" ] || die "GUESTS=$GUESTS is not a directory"
export EMBER GUESTS

base=$(mktemp -d "${TMPDIR:-/tmp}/ember-it.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$base"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE

passed=0 failed=0 skipped=0 n=0
for file in "$@"; do
    case $file in */*) ;; *) file=./$file ;; esac
    if [ ! -f "$file" ]; then
        printf 'FAIL %s: no such case file\n' "$file"
        failed=$((failed + 1))
        continue
    fi
    # shellcheck disable=SC2013 # names are single words
    for name in $(sed -n 's/^t_\([A-Za-z0-9_]*\)[[:space:]]*().*/\1/p' "$file"); do
        n=$((n + 1))
        T=$base/$n-$name
        mkdir "$T"
        # shellcheck disable=SC1090,SC1091
        (. "$here/lib.sh"; . "$file"; "t_$name") </dev/null >"$T/log" 2>&1
        rc=$?
        if [ -s "$T/.fail" ]; then
            printf 'FAIL %s: %s\n' "$name" "$(head -n 1 "$T/.fail")"
            sed '1d; s/^/    /' "$T/.fail"
        elif [ -e "$T/.skip" ]; then
            printf 'skip %s: %s\n' "$name" "$(cat "$T/.skip")"
            skipped=$((skipped + 1))
            continue
        elif [ "$rc" -ne 0 ]; then
            echo "FAIL $name: t_$name returned status $rc"
        else
            echo "ok $name"
            passed=$((passed + 1))
            continue
        fi
        failed=$((failed + 1))
        if [ -s "$T/log" ]; then
            echo "    test output:"
            tail -n 20 "$T/log" | sed 's/^/    | /'
        fi
    done
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
