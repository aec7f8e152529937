# The README's examples, run as written (issue 18). Each block the README marks with
# `<!-- readme-test: NAME -->` is read from README.md itself (so the test fails when the
# README and the program drift apart) and run in a directory of its own where build/,
# scripts/ and docs/ are the tree's. In a ```console block each `$ ` line is run and the
# lines after it are the output it must print, exactly; the one tolerance is a
# `Linux (none) ...` line, whose kernel version is whatever `make guest` fetched, and
# `$ make` lines, which make test has already done. A ```sh block runs whole, and the
# case checks what its comments promise.

README=${README:-$(cd "$(dirname "$EMBER")/.." && pwd)/README.md}

# readme_block NAME: the marked block's lines, without its fences.
readme_block() {
	awk -v m="<!-- readme-test: $1 -->" '
		$0 == m { want = 1; next }
		want == 1 && /^```/ { want = 2; next }
		want == 2 && /^```/ { exit }
		want == 2 { print }' "$README"
}

# readme_dir: a fresh working directory like a checkout's top, entered.
readme_dir() {
	[ -f "$README" ] || _fail "no README at $README" || return 1
	top=$(dirname "$README")
	mkdir -p "$T/w" && cd "$T/w" || return 1
	for d in build scripts docs; do ln -s "$top/$d" "$d"; done
	[ -f "$top/build/guest/vmlinux" ] || _fail "no default guest (make guest)" || return 1
	readme_block "$1" >"$T/block"
	[ -s "$T/block" ] || _fail "README.md has no block marked readme-test: $1"
}

# readme_sh NAME [SECONDS]: run the whole block with sh, stdin /dev/null, under a
# timeout (default 120 s); output in $T/out (stderr too), status in $status.
readme_sh() {
	readme_dir "$1" || return 1
	sh "$T/block" </dev/null >"$T/out" 2>&1 &
	_pid=$!
	wait_exit "$_pid" "${2:-120}"
}

# readme_console NAME: run each `$ ` line and compare what it prints with the README.
readme_console() {
	readme_dir "$1" || return 1
	: >"$T/want"
	: >"$T/got"
	while IFS= read -r line; do
		case $line in
		'$ make'*) ;;
		'$ '*)
			printf '%s\n' "${line#\$ }" >"$T/cmd"
			sh "$T/cmd" </dev/null >>"$T/got" 2>>"$T/err" &
			wait_exit $! 120
			;;
		*) printf '%s\n' "$line" >>"$T/want" ;;
		esac
	done <"$T/block"
	# The kernel's version is the one make guest fetched.
	linux='^Linux \(none\) [^ ]+-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian [^ ]+ \([0-9-]+\) x86_64 GNU/Linux$'
	sed -E "s/$linux/Linux (none) VERSION/" "$T/want" >"$T/want.n"
	sed -E "s/$linux/Linux (none) VERSION/" "$T/got" >"$T/got.n"
	if ! cmp -s "$T/want.n" "$T/got.n"; then
		diff "$T/want.n" "$T/got.n" >"$T/diff" 2>&1 || true
		_fail "the output differs from README.md's (- README, + got)" "$T/diff" "$T/err"
	fi
}

t_readme_intro() {
	readme_console intro
}

t_readme_running_a_guest() {
	readme_sh running
	expect_status 0
	_match "output" "$T/out" '^processor'
	_match "output" "$T/out" '^4$'
	_match "output" "$T/out" '^Hello from an Ember guest'
	_match "output" "$T/out" 'KVM'
}

t_readme_piped_stdin() {
	readme_console piped
}

t_readme_disk_and_network() {
	command -v ip >/dev/null && command -v mkfs.ext4 >/dev/null || skip "needs ip and mkfs.ext4"
	readme_dir disk-net || return 1
	# The tap and its address go into a network namespace of the test's own. Busybox's
	# sh (the rig's) runs its own ip applet before any in PATH: iproute2's by path.
	IP=
	for p in /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip; do
		[ -x "$p" ] && [ ! -L "$p" ] && IP=$p && break
	done
	[ -n "$IP" ] || skip "iproute2's ip is not installed"
	{ echo "ip() { $IP \"\$@\"; }"; cat "$T/block"; } >"$T/run"
	mkdir -p /run/netns 2>/dev/null
	ns=readme$$
	"$IP" netns add "$ns" || return 1
	"$IP" netns exec "$ns" sh "$T/run" </dev/null >"$T/out" 2>&1 &
	wait_exit $! 180
	"$IP" netns del "$ns"
	expect_status 0
	_match "output" "$T/out" '3 packets received'
	command -v debugfs >/dev/null &&
		debugfs -R 'cat /hello' data.img 2>/dev/null | grep -qx hello ||
		_fail "data.img has no /hello with 'hello'" "$T/out"
}

t_readme_rootfs() {
	readme_console rootfs
}

t_readme_vsock() {
	command -v socat >/dev/null || skip "needs socat"
	rm -f /tmp/v.sock /tmp/v.sock_6000
	readme_sh vsock 240
	expect_status 0
	_match "output" "$T/out" '^hello$'
	_match "output" "$T/out" '^hi$'
	rm -f /tmp/v.sock /tmp/v.sock_6000
}

t_readme_api() {
	command -v curl >/dev/null || skip "needs curl"
	rm -f /tmp/ember.sock /tmp/ember.console
	readme_dir api || return 1
	sh scripts/make-rootfs.sh rootfs.ext4 >/dev/null || return 1
	sh "$T/block" </dev/null >"$T/out" 2>&1 &
	wait_exit $! 180
	expect_status 0
	_match "output" "$T/out" '"vcpu_count": ?2,'
	# loglevel=3: the console has the shell's prompt, not the kernel's boot.
	n=$(wc -l </tmp/ember.console)
	[ "$n" -lt 30 ] || _fail "the console has $n lines" /tmp/ember.console
	rm -f /tmp/ember.sock /tmp/ember.console
}

t_readme_config_file() {
	readme_dir config-file || return 1
	cmd=$(sed 's/ *#.*//' "$T/block")
	sh scripts/make-rootfs.sh build/rootfs.ext4 >/dev/null || return 1
	# A shell on the console: type into it once its prompt shows.
	mkfifo "$T/in"
	sh -c "$cmd" <"$T/in" >"$T/out" 2>"$T/err" &
	pid=$!
	exec 3>"$T/in"
	wait_out '# ' 120 && printf 'cat /etc/os-release; poweroff\n' >&3
	wait_exit "$pid" 120
	exec 3>&-
	expect_status 0
	expect_out 'Ember busybox root'
	rm -f build/rootfs.ext4
}

t_readme_jailer_and_rig_are_shell() {
	# Not run here: the jailer's cgroup settings need a host's hierarchy (the rig binds
	# pids to v1), and the rig cannot nest itself. Both must still be valid sh.
	readme_dir jailer || return 1
	sh -n "$T/block" || _fail "the jailer example is not valid sh" "$T/block"
	readme_dir rig || return 1
	sh -n "$T/block" || _fail "the rig example is not valid sh" "$T/block"
}
