#!/bin/sh
# Run cmocka unit-test binaries: show each one's output, add up cmocka's passed and failed
# counts, end with one line `unit: N passed, N failed, N skipped`.
# Usage: tests/run-unit.sh BIN...
# Exit status 0 only if every binary exited 0 and no test failed. A binary that dies
# before cmocka's summary (a crash, a sanitizer report) counts as one failed test.

if [ "$#" -eq 0 ]; then
	echo "usage: $0 BIN..." >&2
	exit 2
fi

log=$(mktemp "${TMPDIR:-/tmp}/ember-unit.XXXXXX") || exit 2
trap 'rm -f "$log"' EXIT
trap 'rm -f "$log"; exit 130' INT
trap 'rm -f "$log"; exit 143' TERM

# Sum the numbers that sed script $2 extracts from file $1, one per line.
sum() {
	sed -n "$2" "$1" | awk '{ n += $1 } END { print n + 0 }'
}

passed=0
failed=0
skipped=0
status=0
for bin in "$@"; do
	case $bin in
	*/*) run=$bin ;;
	*) run=./$bin ;; # never look a bare name up in PATH
	esac
	echo "== $bin"
	# cmocka's default format, whatever the caller's environment asks for.
	CMOCKA_MESSAGE_OUTPUT=STDOUT "$run" >"$log" 2>&1
	rc=$?
	cat "$log"

	# One summary per cmocka group: "[  PASSED  ] N test(s)." and, when some failed,
	# "[  FAILED  ] N test(s), listed below:".
	groups=$(grep -c '^\[==========\] [0-9][0-9]* test(s) run\.' "$log")
	p=$(sum "$log" 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\.$/\1/p')
	f=$(sum "$log" 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s), listed below:$/\1/p')
	sk=$(sum "$log" 's/^\[  SKIPPED \] \([0-9][0-9]*\) test(s), listed below:$/\1/p')
	started=$(grep -c '^\[==========\] Running [0-9][0-9]* test(s)\.' "$log")
	if [ "$groups" -lt "$started" ] || [ "$groups" -eq 0 ]; then
		# It died mid-run: count the tests that finished, and the one that did not.
		p=$(grep -c '^\[       OK \]' "$log")
		f=$(($(grep -c '^\[  FAILED  \] [^0-9]' "$log") + 1))
		echo "FAIL $bin: stopped before cmocka's summary (exit status $rc)"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL $bin: exit status $rc although no test failed"
	fi
	[ "$rc" -eq 0 ] || status=1
	[ "$f" -eq 0 ] || status=1
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + sk))
done

# Skipped tests (a host without network namespaces, io_uring, ...) said why above.
echo "unit: $passed passed, $failed failed, $skipped skipped"
exit "$status"
