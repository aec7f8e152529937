# Integration cases for the seccomp filters: every thread of a running Ember is filtered
# (/proc/PID/task/*/status), a forbidden call ends Ember with status 3 and a line naming
# the thread and the call (the test-hooks build, $EMBER_HOOKS, default ember-test-hooks
# beside $EMBER), --no-seccomp says so and filters nothing, and the report's totals stay
# under Firecracker's. The rest of the suite runs with the filters on.
# shellcheck shell=sh
# shellcheck disable=SC2154 # T, EMBER, GUESTS and status come from the harness (lib.sh)

HOOKS=${EMBER_HOOKS:-$(dirname "$EMBER")/ember-test-hooks}

# sc_threads PID: one line per thread, "NAME SECCOMP FILTERS".
sc_threads() {
	for _s in /proc/"$1"/task/*/status; do
		awk '/^Name:/ { n = $2 } /^Seccomp:/ { s = $2 } /^Seccomp_filters:/ { f = $2 }
		     END { print n, s, f }' "$_s" 2>/dev/null
	done
}

# Filters this shell itself runs under (0 unless the tests run inside a filtered container).
sc_outer() {
	awk '/^Seccomp_filters:/ { print $2 }' /proc/$$/status
}

# sc_expect_locked PID MIN_THREADS: at least MIN_THREADS threads, each in seccomp mode 2
# with exactly one filter more than this shell.
sc_expect_locked() {
	sc_threads "$1" >"$T/threads"
	_want=$(($(sc_outer) + 1))
	[ "$(wc -l <"$T/threads")" -ge "$2" ] || _fail "fewer than $2 threads" "$T/threads"
	awk -v f="$_want" '$2 != 2 || $3 != f { bad = 1 } END { exit bad }' "$T/threads" ||
		_fail "a thread is not locked down (want Seccomp 2, Seccomp_filters $_want)" "$T/threads"
}

# Every thread in $T/threads has no filter of Ember's (seccomp mode 0 where this shell has
# none either).
sc_expect_unfiltered() {
	awk -v f="$(sc_outer)" '$3 != f || (f == 0 && $2 != 0) { bad = 1 } END { exit bad }' \
		"$T/threads" || _fail "--no-seccomp, yet a thread is filtered" "$T/threads"
}

# sc_curl METHOD PATH [JSON]: one API request; the HTTP status in $code.
sc_curl() {
	http_request "$T/api.sock" "$@"
}

# sc_api_start [ARGS...]: ember serving its API on $T/api.sock (pid in $pid), once it has
# answered a request: then the API thread runs, and is past its lockdown.
sc_api_start() {
	"$EMBER" --api-sock "$T/api.sock" "$@" </dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	for _i in $(seq 1 100); do
		[ -S "$T/api.sock" ] && break
		sleep 0.1
	done
	sc_curl GET /
	sc_expect_code 200
}

sc_expect_code() {
	[ "$code" = "$1" ] || _fail "HTTP status $code, expected $1" "$T/body" "$T/err"
}

t_seccomp_report_under_firecracker() {
	"$EMBER" seccomp-report >"$T/out" 2>"$T/err"
	# shellcheck disable=SC2034 # read by expect_status (lib.sh)
	status=$?
	expect_status 0
	for kind in vmm:50 api:31 vcpu:27; do
		n=$(sed -n "s/^${kind%:*} thread: \([0-9]*\) system calls.*/\1/p" "$T/out")
		[ -n "$n" ] || { _fail "no ${kind%:*} table" "$T/out"; continue; }
		[ "$n" -lt "${kind#*:}" ] || _fail "${kind%:*}: $n calls, Firecracker has ${kind#*:}"
	done
	expect_out '^  ioctl +arg1 == KVM_RUN'
	expect_out '^  mmap +arg2 & PROT_EXEC == 0'
	expect_out '^total: vmm [0-9]+'
}

# ember run: the vmm thread and both vCPU threads are locked down; SIGTERM's teardown
# (join, unmap, close) runs under the vmm filter and ends with 143.
t_seccomp_run_every_thread_locked() {
	"$EMBER" run --kernel "$GUESTS/spin.elf" --vcpus 2 </dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	wait_out '^spin: running' || { kill -KILL "$pid"; return; }
	sc_expect_locked "$pid" 3
	grep -q '^ember-vcpu1 ' "$T/threads" || _fail "no ember-vcpu1 thread" "$T/threads"
	kill -TERM "$pid"
	wait_exit "$pid"
	expect_status 143
	expect_no_err 'seccomp'
}

# The API mode: the API thread locks down before its first client, the vmm thread at
# InstanceStart; post-boot requests, pause and resume, and the teardown (the socket
# removed) all work under the filters.
t_seccomp_api_every_thread_locked() {
	command -v curl >/dev/null || skip "curl is not installed (scripts/install-deps.sh)"
	sc_api_start
	sc_threads "$pid" >"$T/before"
	grep -q '^ember-api 2 ' "$T/before" || _fail "the API thread is not locked down" "$T/before"
	sc_curl PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/spin.elf\"}"
	sc_expect_code 204
	sc_curl PUT /actions '{"action_type": "InstanceStart"}'
	sc_expect_code 204
	wait_out '^spin: running' || { kill -KILL "$pid"; return; }
	sc_expect_locked "$pid" 3
	grep -q '^ember-api ' "$T/threads" || _fail "no ember-api thread" "$T/threads"
	grep -q '^ember-vcpu0 ' "$T/threads" || _fail "no ember-vcpu0 thread" "$T/threads"
	sc_curl PATCH /vm '{"state": "Paused"}'
	sc_expect_code 204
	sc_curl GET /
	sc_expect_code 200
	sc_curl PATCH /vm '{"state": "Resumed"}'
	sc_expect_code 204
	sc_curl GET /vm/config
	sc_expect_code 200
	sc_curl PUT /actions '{"action_type": "FlushMetrics"}'
	sc_expect_code 400 # no metrics file: refused, nothing else
	kill -0 "$pid" 2>/dev/null || _fail "ember died" "$T/err"
	kill -TERM "$pid"
	wait_exit "$pid"
	expect_status 143
	expect_no_err 'seccomp'
	[ ! -e "$T/api.sock" ] || _fail "the API socket is still there after exit"
}

# hook_run KIND ARGS...: ember_run with the test-hooks build, KIND's thread making a
# forbidden call (socket(AF_INET, ...)) right after it locks down.
hook_run() {
	[ -x "$HOOKS" ] || skip "no test-hooks build at $HOOKS (make builds ember-test-hooks)"
	printf '#!/bin/sh\nexec "%s" --seccomp-test-violate=%s "$@"\n' "$HOOKS" "$1" >"$T/hooked"
	chmod +x "$T/hooked"
	shift
	EMBER=$T/hooked ember_run "$@"
}

t_seccomp_forbidden_call_vcpu() {
	hook_run vcpu --kernel "$GUESTS/spin.elf"
	expect_status 3
	expect_err '^ember: seccomp: thread vcpu made a forbidden system call socket \(41\)$'
}

t_seccomp_forbidden_call_vmm() {
	# socket is allowed on the vmm thread, for AF_UNIX only: the argument rule decides.
	hook_run vmm --kernel "$GUESTS/spin.elf"
	expect_status 3
	expect_err '^ember: seccomp: thread vmm made a forbidden system call socket \(41\)$'
}

t_seccomp_forbidden_call_api() {
	[ -x "$HOOKS" ] || skip "no test-hooks build at $HOOKS (make builds ember-test-hooks)"
	"$HOOKS" --seccomp-test-violate=api --api-sock "$T/api.sock" </dev/null >"$T/out" \
		2>"$T/err" &
	wait_exit $!
	expect_status 3
	expect_err '^ember: seccomp: thread api made a forbidden system call socket \(41\)$'
}

# The hooks build without the flag is Ember as usual.
t_seccomp_hooks_build_without_flag() {
	[ -x "$HOOKS" ] || skip "no test-hooks build at $HOOKS (make builds ember-test-hooks)"
	EMBER=$HOOKS ember_run --kernel "$GUESTS/hello.elf"
	expect_status 0
	expect_out '^Hello from an Ember guest$'
}

t_seccomp_off_says_so() {
	"$EMBER" run --no-seccomp --kernel "$GUESTS/spin.elf" </dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	wait_out '^spin: running' || { kill -KILL "$pid"; return; }
	sc_threads "$pid" >"$T/threads"
	sc_expect_unfiltered
	kill -TERM "$pid"
	wait_exit "$pid"
	expect_status 143
	n=$(grep -c 'ember: warning: seccomp is off (--no-seccomp): the guest is not contained' \
		"$T/err")
	[ "$n" = 1 ] || _fail "the warning appears $n times, not once" "$T/err"
}

t_seccomp_off_api_mode() {
	sc_api_start --no-seccomp
	sc_threads "$pid" >"$T/threads"
	grep -q '^ember-api ' "$T/threads" || _fail "no ember-api thread" "$T/threads"
	sc_expect_unfiltered
	kill -TERM "$pid"
	wait_exit "$pid"
	expect_status 143
	expect_err '^ember: warning: seccomp is off \(--no-seccomp\): the guest is not contained$'
}

# After the guest ends, the teardown and --stats (getrusage, mincore) run locked down.
t_seccomp_stats_after_exit() {
	ember_run --kernel "$GUESTS/hello.elf" --stats
	expect_status 0
	expect_err '^ember: stats: peak RSS [0-9]+ KiB'
	expect_no_err 'seccomp'
}

# The synchronous disk engine's calls (preadv, pwritev, fdatasync, fallocate) are allowed on
# the vmm thread: the rest of the suite uses io_uring, so they are exercised here.
t_seccomp_blk_sync_engine() {
	[ -f "${GUEST_DIR:-}/vmlinux" ] || skip "no default guest in GUEST_DIR (make guest)"
	dd if=/dev/urandom of="$T/d.img" bs=1M count=8 2>/dev/null
	ember_run --kernel "$GUEST_DIR/vmlinux" --initrd "$GUEST_DIR/initrd.cpio" \
		--drive "path=$T/d.img,engine=sync" -- sh -c '
		printf sync-engine | dd of=/dev/vda bs=512 seek=100 conv=fsync 2>/dev/null
		echo dd=$?
		echo 3 >/proc/sys/vm/drop_caches
		dd if=/dev/vda bs=512 skip=100 count=1 2>/dev/null | head -c 11; echo
		blkdiscard -o 1048576 -l 1048576 /dev/vda; echo discard=$?'
	expect_status 0
	expect_out '^dd=0$'
	expect_out '^sync-engine$'
	expect_out '^discard=0$'
	expect_no_err 'seccomp'
	got=$(dd if="$T/d.img" bs=512 skip=100 count=1 2>/dev/null | head -c 11)
	[ "$got" = sync-engine ] || _fail "the host file holds '$got' at sector 100"
}
