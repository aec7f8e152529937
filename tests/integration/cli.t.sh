# Integration cases for Ember's command line and its refusals: bad arguments, bad kernel
# files, and stopping a running VM by signal. Every refusal is one line and status 2.

CLI_ONE_LINE() {
	# stderr holds exactly one line, an "ember: " message matching $1.
	expect_err "^ember: $1"
	[ "$(wc -l <"$T/err")" -eq 1 ] || _fail "stderr has $(wc -l <"$T/err") lines, expected 1" "$T/err"
}

t_no_kernel_and_no_default_guest() {
	# A copy of ember with no guest/ beside it and no ../share/ember.
	mkdir -p "$T/bin"
	cp "$EMBER" "$T/bin/ember"
	EMBER=$T/bin/ember ember_run
	expect_status 2
	CLI_ONE_LINE "no --kernel given and no default guest in .*/bin/guest or .*/bin/../share/ember \\(build it with 'make guest'\\)"
}

t_mem_zero() {
	ember_run --kernel "$GUESTS/hello.elf" --mem 0
	expect_status 2
	CLI_ONE_LINE "--mem must be at least 1 MiB"
}

t_mem_too_large() {
	ember_run --kernel "$GUESTS/hello.elf" --mem 100000000
	expect_status 2
	CLI_ONE_LINE "--mem 100000000 MiB is more than this host's [0-9]+ MiB"
}

t_mem_not_a_number() {
	for bad in 12abc -5 '' 0x10 99999999999999999999999; do
		ember_run --kernel "$GUESTS/hello.elf" --mem "$bad"
		expect_status 2
		CLI_ONE_LINE "--mem takes a whole number of MiB"
	done
}

t_vcpus_out_of_range() {
	for bad in 0 33; do
		ember_run --kernel "$GUESTS/hello.elf" --vcpus "$bad"
		expect_status 2
		CLI_ONE_LINE "--vcpus must be between 1 and 32, not $bad"
	done
}

t_unknown_option() {
	ember_run --kernel "$GUESTS/hello.elf" --bogus
	expect_status 2
	CLI_ONE_LINE "unknown option '--bogus'"
}

t_stray_argument() {
	ember_run --kernel "$GUESTS/hello.elf" extra
	expect_status 2
	CLI_ONE_LINE "unexpected argument 'extra'"
}

t_missing_kernel_file() {
	ember_run --kernel "$T/nonexistent.elf"
	expect_status 2
	CLI_ONE_LINE "cannot open kernel '.*nonexistent.elf': No such file or directory"
}

t_unreadable_kernel_file() {
	# root reads anything, so make the file unreadable by being a directory instead
	mkdir "$T/dir.elf"
	ember_run --kernel "$T/dir.elf"
	expect_status 2
	CLI_ONE_LINE "kernel '.*dir.elf' is not a regular file"
}

t_random_bytes_kernel() {
	dd if=/dev/urandom of="$T/random.elf" bs=4096 count=4 2>/dev/null
	ember_run --kernel "$T/random.elf"
	expect_status 2
	CLI_ONE_LINE "cannot load kernel '.*random.elf': not a kernel: neither an ELF file nor a bzImage"
}

t_empty_kernel() {
	: >"$T/empty.elf"
	ember_run --kernel "$T/empty.elf"
	expect_status 2
	CLI_ONE_LINE "cannot load kernel '.*empty.elf': file too short to be a kernel \\(0 bytes\\)"
}

t_truncated_kernel() {
	# Keep the headers, cut the segments' bytes off.
	dd if="$GUESTS/hello.elf" of="$T/trunc.elf" bs=1024 count=1 2>/dev/null
	ember_run --kernel "$T/trunc.elf"
	expect_status 2
	CLI_ONE_LINE "cannot load kernel '.*trunc.elf': ELF segment [0-9]+: its bytes lie outside the file"
}

t_wrong_arch_kernel() {
	# e_machine (offset 18) = 3, i386
	cp "$GUESTS/hello.elf" "$T/i386.elf"
	printf '\003' | dd of="$T/i386.elf" bs=1 seek=18 conv=notrunc 2>/dev/null
	ember_run --kernel "$T/i386.elf"
	expect_status 2
	CLI_ONE_LINE "cannot load kernel '.*i386.elf': ELF machine is 3, not x86_64"
}

t_kernel_too_big_for_memory() {
	# Test guests load at 2 MiB: a 2 MiB guest has no room for them.
	ember_run --kernel "$GUESTS/hello.elf" --mem 2
	expect_status 2
	CLI_ONE_LINE "cannot load kernel .* does not fit in guest RAM \\(2 MiB\\)"
}

# Start the spin guest, wait for its marker, send a signal; Ember must tear down and
# exit 128 + signal with nothing on stderr.
cli_signal() {
	"$EMBER" run --kernel "$GUESTS/spin.elf" </dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	i=0
	while ! grep -q 'spin: running' "$T/out" && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	expect_out 'spin: running until stopped'
	kill "-$1" "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		_fail "ember still running 10 s after SIG$1" "$T/err"
	fi
	wait "$pid"
	status=$?
}

t_sigterm_tears_down() {
	cli_signal TERM
	expect_status 143
	expect_no_err '.'
}

t_sigint_tears_down() {
	cli_signal INT
	expect_status 130
	expect_no_err '.'
}

t_doctor_on_working_kvm() {
	"$EMBER" doctor >"$T/out" 2>"$T/err"
	status=$?
	expect_status 0
	expect_out '^kvm module: (VMX|SVM|PVM)$'
	expect_out '^/dev/kvm: present, API version 12$'
	expect_out '^usable: +yes$'
	expect_no_out ' NO '
}

t_help_in_every_mode() {
	# --help helps wherever it is given, and the hint after a typo names a command that
	# works; none of these starts a VM or a server (no socket named --help appears).
	cd "$T" || return 1
	for args in '--help' 'run --help' 'run --kernel x --help' '--api-sock --help' \
		'--api-sock /x --help' '--config-file --help' 'doctor --help' 'seccomp-report --help'; do
		# shellcheck disable=SC2086 # words on purpose
		"$EMBER" $args >"$T/out" 2>"$T/err" </dev/null
		status=$?
		expect_status 0
		expect_out '^usage: ember'
		expect_no_err '.'
	done
	[ ! -e "$T/--help" ] || _fail "a file named --help appeared"
	"$EMBER" --api-sock "$T/s" --bogus >"$T/out" 2>"$T/err" </dev/null
	status=$?
	expect_status 2
	hint=$(sed -n "s/.*(see '\(.*\)').*/\1/p" "$T/err")
	[ -n "$hint" ] || _fail "no hint" "$T/err"
	# The hint starts with "ember": run it with this ember.
	# shellcheck disable=SC2086
	"$EMBER" ${hint#ember } >"$T/out" 2>&1 </dev/null
	status=$?
	expect_status 0
	expect_out '--http-api-max-payload-size BYTES'
	expect_out 'the largest request body'
	"$EMBER" doctor extra >"$T/out" 2>"$T/err" </dev/null
	status=$?
	expect_status 2
	expect_err "'ember doctor' takes no arguments"
}
