# Integration cases for the console of the default guest when Ember's stdin is not a
# terminal (docs/CONTRACTS.md, "tty=0"): input written before the guest reads is held, not
# lost; the end of a pipe or file is the end of the guest's input; the tty's special bytes
# pass literally; and the default guest's /mnt. Needs the default guest beside $EMBER.

con_guest() {
	[ -f "$(dirname "$EMBER")/guest/vmlinux" ] ||
		_fail "no default guest beside $EMBER (make guest)"
}

t_console_piped_script_to_the_shell() {
	# The README's example: the lines reach the shell although they were all written
	# long before it started, nothing is echoed, and `exit 3` is the status.
	con_guest || return 1
	printf 'uname -a\nexit 3\n' >"$T/in"
	ember_run_piped "$T/in"
	expect_status 3
	expect_out '^Linux .* x86_64'
	expect_no_out 'uname -a|exit 3|# '
	expect_no_err '.'
}

t_console_eof_ends_the_shell() {
	con_guest || return 1
	echo 'echo hi' >"$T/in"
	ember_run_piped "$T/in"
	expect_status 0
	[ "$(cat "$T/out")" = hi ] || _fail "stdout is not exactly 'hi'" "$T/out"
	expect_no_err '.'
}

t_console_eof_reaches_a_command() {
	# More lines than the guest tty's 4 KiB buffer: Ember holds them while the tty's
	# RTS is down, and the command sees every line, then the end of its input.
	con_guest || return 1
	i=0
	while [ $i -lt 1500 ]; do
		echo "line $i"
		i=$((i + 1))
	done >"$T/in"
	ember_run_piped "$T/in" -- sh -c 'wc -l; echo done'
	expect_status 0
	expect_out '^1500$'
	expect_out '^done$'
}

t_console_special_bytes_pass_literally() {
	# ^D and ^V inside the data are data (Ember sends each after a ^V); ^A x does not
	# quit when stdin is not a terminal.
	con_guest || return 1
	printf 'a\004b\026c\001x\n' >"$T/in"
	ember_run_piped "$T/in" -- od -An -tx1
	expect_status 0
	expect_out '61 04 62 16 63 01 78 0a'
}

t_console_file_and_dev_null_as_stdin() {
	# A regular file cannot be polled: Ember reads it as the guest takes its bytes.
	con_guest || return 1
	printf 'from-a-file\n' >"$T/in"
	ember_run_stdin "$T/in" -- cat
	expect_status 0
	expect_out '^from-a-file$'
	# /dev/null: the shell reads the end of its input at once and exits 0.
	ember_run
	expect_status 0
	expect_no_err '.'
}

t_console_default_guest_has_mnt() {
	# The README's disk example mounts on /mnt.
	con_guest || return 1
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed"
	truncate -s 16M "$T/data.img" && mkfs.ext4 -q "$T/data.img" || return 1
	ember_run --drive "path=$T/data.img,id=data" -- \
		sh -c 'mount /dev/vda /mnt && echo hello >/mnt/hello && cat /mnt/hello && umount /mnt'
	expect_status 0
	expect_out '^hello$'
	expect_no_err '.'
}
