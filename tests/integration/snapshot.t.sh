# Snapshots (issue 13) with the counter guest: snapshot mid-run, end the process, restore
# in a new one; the count goes on with no value repeated or skipped. And the refusals:
# each one line on stderr and status 2. Driven by the temporary front end
# build/ember-snapshot-test until `ember snapshot`/`restore` and the API exist.
# shellcheck shell=sh
# shellcheck disable=SC2154 # T, GUESTS and status come from the harness (lib.sh)

SNAP=${EMBER_SNAPSHOT_TEST:-$(dirname "$EMBER")/ember-snapshot-test}

# snap ARGS...: run the front end like ember_run (stdout $T/out, stderr $T/err, $status).
snap() {
	"$SNAP" "$@" </dev/null >"$T/out" 2>"$T/err"
	status=$?
}

# Take a snapshot of the counter about 500 ms in: $T/state, $T/mem, $T/before.
snap_take() {
	[ -x "$SNAP" ] || skip "no $SNAP (make builds it)"
	snap run --snapshot-after-ms 500 --snapshot-to "$T/state,$T/mem" \
		--kernel "$GUESTS/counter.elf" --mem 64 "$@" --append "counter.delay=20000000"
	cp "$T/out" "$T/before"
	cp "$T/err" "$T/before.err"
}

# snap_restore_until N: restore $T/state and $T/mem and end the process once the
# guest printed count N (or after 30 s); $T/all is then the output before and after.
snap_restore_until() {
	snap restore "$T/state" "$T/mem" &
	pid=$!
	i=0
	while [ $i -lt 300 ] && ! grep -q "^count $1\$" "$T/out" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	kill "$pid" 2>/dev/null
	wait "$pid"
	cat "$T/before" "$T/out" >"$T/all"
}

# The last count printed before the snapshot.
snap_last() {
	grep -E '^count [0-9]+$' "$1" | tail -n 1 | sed 's/count //'
}

t_snapshot_counter_continues() {
	snap_take
	expect_status 0
	expect_err 'snapshot written'
	last=$(snap_last "$T/before")
	[ -n "$last" ] || { expect_out '^count [0-9]+$'; return 0; }
	[ -s "$T/state" ] && [ -s "$T/mem" ] || expect_err 'state and memory files^'
	# A new process from the files: stop it with the counter at last + 20.
	snap_restore_until $((last + 20))
	# Before and after, joined: the snapshot may fall inside a line, which the restored
	# guest finishes. Every count from 1 on appears once, in order.
	grep -E '^count [0-9]+$' "$T/all" | sed 's/count //' | awk \
		'$1 != NR { print "line " NR ": count " $1; bad = 1; exit } END { exit bad }' \
		>"$T/gaps" || _fail "a count repeated or skipped across the restore" "$T/gaps" "$T/all"
	[ "$(grep -cE '^count [0-9]+$' "$T/all")" -ge $((last + 20)) ] ||
		_fail "the restored guest did not count on to $((last + 20))" "$T/all"
	expect_no_out 'counter: start'
}

# Two vCPUs: the second waits for INIT/SIPI in the snapshot and after.
t_snapshot_two_vcpus_continues() {
	snap_take --vcpus 2
	expect_status 0
	last=$(snap_last "$T/before")
	snap_restore_until $((last + 5))
	grep -E '^count [0-9]+$' "$T/all" | sed 's/count //' | awk '$1 != NR { bad = 1 } END { exit bad }' ||
		_fail "a count repeated or skipped across the restore" "$T/all"
	expect_out "^count $((last + 5))\$"
}

# snap_refused ERE: status 2 and exactly one stderr line, matching ERE.
snap_refused() {
	expect_status 2
	expect_err "$1"
	[ "$(wc -l <"$T/err")" -eq 1 ] || expect_err 'one line only^'
}

t_snapshot_flipped_byte_refused() {
	snap_take
	size=$(wc -c <"$T/state")
	for at in 0 20 100 $((size / 2)) $((size - 9)) $((size - 1)); do
		cp "$T/state" "$T/bad"
		byte=$(od -An -tu1 -j "$at" -N1 "$T/bad" | tr -d ' ')
		printf "$(printf '\\%03o' $(((byte ^ 1) & 255)))" |
			dd of="$T/bad" bs=1 seek="$at" conv=notrunc 2>/dev/null
		snap restore "$T/bad" "$T/mem"
		snap_refused '^ember: .*(damaged|truncated|not an Ember snapshot)'
	done
}

t_snapshot_truncated_memory_refused() {
	snap_take
	size=$(wc -c <"$T/mem")
	head -c $((size - 4096)) "$T/mem" >"$T/short"
	snap restore "$T/state" "$T/short"
	snap_refused "^ember: memory file .* is $((size - 4096)) bytes"
	head -c 100 "$T/state" >"$T/state.short"
	snap restore "$T/state.short" "$T/mem"
	snap_refused '^ember: .*truncated'
}

t_snapshot_other_vcpu_count_refused() {
	snap_take --vcpus 2
	snap restore --vcpus 1 "$T/state" "$T/mem"
	snap_refused '^ember: .*holds 2 vCPUs; this VM has 1'
}
