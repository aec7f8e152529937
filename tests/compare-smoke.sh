#!/bin/sh
# A smoke test of `make compare` (bench/compare.sh) for `make test`: a QUICK run with few
# platforms, small N and no workload jobs, then checks on the report it wrote: a row per
# platform in every table, each cell a figure, a '-' (row not applicable) or "n/a [k]" with
# its footnote; Ember's own start, idle memory and density figures are numbers; every
# chart named in the report exists. Like tests/readme-rig.sh it runs on the host, since
# it starts the rig itself. Environment: COMPARE_SMOKE_PLATFORMS (default "native crun ember").
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "compare-smoke: $*"; }
if ldd "$top/build/ember" >/dev/null 2>&1; then
	say "SKIP: build/ember is dynamically linked (a sanitizer build?); the rig needs a static one"
	exit 0
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/compare-smoke.XXXXXX") || exit 2
trap 'rm -rf "$out"' EXIT
platforms=${COMPARE_SMOKE_PLATFORMS:-native crun ember}
if ! (cd "$top" && QUICK=1 COMPARE_PLATFORMS="$platforms" COMPARE_RUNS=2 COMPARE_RUNS_LINUX=0 \
	COMPARE_T=0 COMPARE_IDLE_S=2 COMPARE_DENSITY_N=3 COMPARE_OUT="$out" \
	timeout 900 sh bench/compare.sh) >"$out/log" 2>&1; then
	tail -n 30 "$out/log" | sed 's/^/compare-smoke:   /'
	say "FAIL: bench/compare.sh failed"
	exit 1
fi
# shellcheck disable=SC2086 # the platforms' names, one word each
sh "$top/tests/compare-check.sh" "$out/REPORT.md" $platforms || { say "FAIL: see above"; exit 1; }
say "PASS: QUICK report for $platforms checked"
