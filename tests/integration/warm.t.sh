# Integration cases for `ember run --warm`: the default guest restored from its cached
# snapshot gives what a cold run gives (outputs, statuses, stdin, argv), with a fresh RNG and
# the host's clock; the cache is built once, reused, keyed by --mem and --vcpus, safe for
# concurrent first runs, rebuilt when damaged, refused when others could write it.
# Needs the default guest beside $EMBER (make guest).

# A first build boots Linux and writes a 128 MiB snapshot: slow in the nested rig.
EMBER_RUN_TIMEOUT=${WARM_TIMEOUT:-240}
# The cache the comparisons share (built by the first one that runs); the cases about the
# cache itself use their own, under $T.
WARM_SHARED=${TMPDIR:-/tmp}/ember-warm-tests.$(id -u)

warm_guest() {
	[ -f "$(dirname "$EMBER")/guest/vmlinux" ] ||
		_fail "no default guest beside $EMBER (make guest)" || return 1
	mkdir -p "$WARM_SHARED" && chmod 700 "$WARM_SHARED"
}

# same_as_cold HOW IN ARGS...: run `ember run ARGS` cold, then `ember run --warm ARGS`
# (HOW: file or pipe, stdin from IN; XDG_CACHE_HOME is the shared cache); the warm run's
# stdout and status must equal the cold one's. The cold run's are in $T/cold.*.
same_as_cold() {
	_how=$1 _in=$2
	shift 2
	warm_guest || return 1
	_ember_run "$_how" "$_in" "$@"
	cp "$T/out" "$T/cold.out"
	cold_status=$status
	export XDG_CACHE_HOME=$WARM_SHARED
	_ember_run "$_how" "$_in" --warm "$@"
	[ "$status" = "$cold_status" ] ||
		_fail "warm status $status, cold $cold_status" "$T/err" "$T/out" "$T/cold.out"
	cmp -s "$T/out" "$T/cold.out" || _fail "warm stdout differs from cold" "$T/out" "$T/cold.out"
}

t_warm_arguments_intact() {
	same_as_cold file /dev/null -- sh -c 'for a in "$@"; do printf "[%s]" "$a"; done; echo' sh \
		'a  b' "it's" '"q"' '' '-n' '$HOME'
	expect_status 0
	expect_out '^\[a  b\]\[it'"'"'s\]\["q"\]\[\]\[-n\]\[\$HOME\]'
	expect_no_err '.'
}

t_warm_exit_status_3() {
	same_as_cold file /dev/null -- sh -c 'echo before; exit 3'
	expect_status 3
	expect_out '^before'
}

t_warm_failing_commands() {
	same_as_cold file /dev/null -- false
	expect_status 1
	same_as_cold file /dev/null -- /no/such/command
	expect_status 127
	expect_out "ember-init: cannot run '/no/such/command': No such file or directory"
	# A command killed by a signal: 128 + its number, as cold.
	same_as_cold file /dev/null -- sh -c 'kill -TERM $$'
	expect_status 143
}

t_warm_stdin_piped_and_lines() {
	printf 'one\ntwo words\n\nthree\n' >"$T/in"
	same_as_cold pipe "$T/in" -- sh -c 'n=0; while IFS= read -r l; do n=$((n+1)); echo "$n:$l"; done; echo end'
	expect_status 0
	expect_out '^4:three$'
	expect_out '^end$'
	same_as_cold file "$T/in" -- wc -l
	expect_out '^4$'
	# Several lines out, raw (no carriage returns added): as cold.
	same_as_cold file /dev/null -- printf 'x\ny\nz\n'
	[ "$(od -An -c "$T/out" | tr -d ' \n')" = 'x\ny\nz\n' ] || _fail "stdout is not x y z" "$T/out"
}

t_warm_first_use_builds_then_reuses() {
	warm_guest || return 1
	export XDG_CACHE_HOME="$T/cache"
	ember_run --warm -- echo first
	expect_status 0
	expect_out '^first'
	set -- "$T"/cache/ember/warm-*.state
	[ $# -eq 1 ] && [ -f "$1" ] || _fail "no single cache entry after the first run" || return 1
	state=$1
	mode=$(stat -c %a "$T/cache/ember")
	[ "$mode" = 700 ] || _fail "cache directory mode $mode, expected 700"
	ino=$(stat -c %i "$state")
	mtime=$(stat -c %Y "$state")
	ember_run --warm -- echo second
	expect_status 0
	expect_out '^second'
	[ "$(stat -c %i "$state")" = "$ino" ] && [ "$(stat -c %Y "$state")" = "$mtime" ] ||
		_fail "the second run rebuilt the cache entry"
	ls -a "$T/cache/ember" >"$T/ls"
	_no_match "cache directory" "$T/ls" '^\.warm'
}

t_warm_mem_and_vcpus_have_their_own_entries() {
	warm_guest || return 1
	export XDG_CACHE_HOME="$T/cache"
	ember_run --warm -- true
	expect_status 0
	ember_run --warm --mem 256 -- sh -c 'grep MemTotal /proc/meminfo'
	expect_status 0
	ember_run --warm --vcpus 2 -- nproc
	expect_status 0
	expect_out '^2$'
	ls "$T/cache/ember" >"$T/ls"
	_match "cache" "$T/ls" '^warm-.*-128m-1c-.*\.state$'
	_match "cache" "$T/ls" '^warm-.*-256m-1c-.*\.state$'
	_match "cache" "$T/ls" '^warm-.*-128m-2c-.*\.state$'
	[ "$(grep -c '\.state$' "$T/ls")" = 3 ] || _fail "expected 3 entries" "$T/ls"
}

t_warm_concurrent_first_runs() {
	warm_guest || return 1
	export XDG_CACHE_HOME="$T/cache"
	"$EMBER" run --warm -- echo run-a </dev/null >"$T/a.out" 2>"$T/a.err" &
	a=$!
	"$EMBER" run --warm -- echo run-b </dev/null >"$T/b.out" 2>"$T/b.err" &
	b=$!
	wait_exit "$a" 240
	sa=$status
	wait_exit "$b" 240
	sb=$status
	[ "$sa" = 0 ] && [ "$sb" = 0 ] || _fail "statuses $sa and $sb" "$T/a.err" "$T/b.err"
	_match "first run's stdout" "$T/a.out" '^run-a'
	_match "second run's stdout" "$T/b.out" '^run-b'
	ls -a "$T/cache/ember" >"$T/ls"
	[ "$(grep -c '\.state$' "$T/ls")" = 1 ] || _fail "expected 1 entry" "$T/ls"
	_no_match "cache directory" "$T/ls" '^\.warm'
}

t_warm_damaged_entry_rebuilt() {
	warm_guest || return 1
	export XDG_CACHE_HOME="$T/cache"
	ember_run --warm -- true
	expect_status 0
	set -- "$T"/cache/ember/warm-*.state
	state=$1 mem=${1%.state}.mem
	# A flipped byte in the state file: its checksum fails, the entry is rebuilt.
	size=$(stat -c %s "$state")
	printf '\377' | dd of="$state" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
	ember_run --warm -- echo after-flip
	expect_status 0
	expect_out '^after-flip'
	expect_err 'unusable.*rebuilding'
	# A truncated memory file: rebuilt too.
	truncate -s 4096 "$mem" 2>/dev/null || : >"$mem"
	ember_run --warm -- echo after-truncate
	expect_status 0
	expect_out '^after-truncate'
	expect_err 'unusable.*rebuilding'
	[ "$(stat -c %s "$mem")" = $((128 << 20)) ] || _fail "the memory file was not rebuilt"
}

t_warm_runs_get_fresh_random_bytes() {
	warm_guest || return 1
	export XDG_CACHE_HOME=$WARM_SHARED
	ember_run --warm -- sh -c 'head -c 16 /dev/urandom | od -An -tx1'
	expect_status 0
	cp "$T/out" "$T/r1"
	ember_run --warm -- sh -c 'head -c 16 /dev/urandom | od -An -tx1'
	expect_status 0
	[ -s "$T/r1" ] && [ -s "$T/out" ] || _fail "no random bytes printed" "$T/out" || return 1
	cmp -s "$T/r1" "$T/out" && _fail "two warm runs printed the same random bytes" "$T/r1" "$T/out"
	return 0
}

t_warm_wall_clock_is_the_hosts() {
	warm_guest || return 1
	export XDG_CACHE_HOME=$WARM_SHARED
	# The cache exists (an earlier case built it) or is built now; then time a warm run.
	ember_run --warm -- true
	sleep 3 # the snapshot's clock is now behind the host's
	before=$(date +%s)
	ember_run --warm -- date +%s
	after=$(date +%s)
	expect_status 0
	guest=$(tr -d '\r' <"$T/out" | head -n 1)
	[ "$guest" -ge $((before - 2)) ] 2>/dev/null && [ "$guest" -le $((after + 2)) ] ||
		_fail "guest time '$guest' is not within [$before-2, $after+2]" "$T/out"
}

t_warm_unsafe_cache_refused() {
	warm_guest || return 1
	export XDG_CACHE_HOME="$T/cache"
	mkdir -p "$T/cache/ember"
	chmod 777 "$T/cache/ember"
	ember_run --warm -- true
	expect_status 2
	expect_err 'writable by others'
	chmod 700 "$T/cache/ember"
	chown 12345 "$T/cache/ember"
	ember_run --warm -- true
	expect_status 2
	expect_err 'belongs to user 12345'
}

t_warm_refuses_devices_of_ones_own() {
	ember_run --warm --drive path=/dev/null -- true
	expect_status 2
	expect_err '--warm .*not with --drive'
	ember_run --warm --kernel /dev/null -- true
	expect_status 2
	expect_err 'not with --kernel'
}
