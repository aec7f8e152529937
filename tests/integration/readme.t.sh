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
	sed -E "s|$linux|Linux (none) VERSION|" "$T/want" >"$T/want.n" &&
		sed -E "s|$linux|Linux (none) VERSION|" "$T/got" >"$T/got.n" ||
		_fail "cannot normalise the kernel's version" || return 1
	[ -s "$T/want.n" ] || _fail "the README's block shows no output to compare" || return 1
	if ! cmp -s "$T/want.n" "$T/got.n"; then
		diff "$T/want.n" "$T/got.n" >"$T/diff" 2>&1 || true
		_fail "the output differs from README.md's (- README, + got)" "$T/diff" "$T/err"
	fi
}

# readme_ip: IP is iproute2's ip (the examples get a function that calls it by path).
readme_ip() {
	need_iproute2
	# iproute2 keeps namespaces in /run/netns; the examples name /var/run/netns, which
	# is the same directory on Debian, where /var/run is a link to /run. The rig's
	# /var/run is made one too.
	if [ -e /rig/cmd ] && [ ! -L /var/run ]; then
		mkdir -p /run && cp -a /var/run/. /run/ 2>/dev/null
		rm -rf /var/run && mkdir -p /var && ln -s /run /var/run || _fail "cannot link /var/run to /run"
	fi
	mkdir -p /run/netns
	[ /var/run/netns -ef /run/netns ] || skip "/var/run/netns is not /run/netns on this machine"
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
	# The tap and its address go into a network namespace of the test's own.
	readme_ip
	{ echo "ip() { $IP \"\$@\"; }"; cat "$T/block"; } >"$T/run"
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
	rm -f /tmp/v.sock /tmp/v.sock_6000 /tmp/v.log
	readme_sh vsock 240
	expect_status 0
	_match "output" "$T/out" '^hello$'
	_match "output" "$T/out" '^hi$'
	_match "the echoing guest's console" /tmp/v.log 'echoed 6 bytes'
	rm -f /tmp/v.sock /tmp/v.sock_6000 /tmp/v.log
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

# readme_cgroup2_pids_memory: the cgroup v2 hierarchy offers pids and memory, as on a
# host that boots with systemd's unified layout. In the rig, jailer.t.sh may have bound
# pids to a v1 hierarchy of its own: that one is emptied and unmounted, which gives the
# controller back to v2 (the kernel does so once the hierarchy is gone, asynchronously).
readme_cgroup2_pids_memory() {
	if [ -e /rig/cmd ]; then
		v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)pids(,|$)/ { print $2; exit }' /proc/mounts)
		if [ -n "$v1" ]; then
			find "$v1" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
			umount "$v1" || _fail "cannot unmount the v1 pids hierarchy at $v1" || return 1
		fi
		if ! awk '$3 == "cgroup2" { f = 1 } END { exit !f }' /proc/mounts; then
			mount -t cgroup2 cgroup2 /sys/fs/cgroup || _fail "cannot mount cgroup2" || return 1
		fi
	fi
	V2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$V2" ] || skip "no cgroup v2 hierarchy is mounted"
	i=0
	until grep -qw pids "$V2/cgroup.controllers" && grep -qw memory "$V2/cgroup.controllers"; do
		i=$((i + 1))
		[ "$i" -lt 50 ] || skip "cgroup v2 at $V2 lacks pids or memory: $(cat "$V2/cgroup.controllers")"
		sleep 0.2
	done
}

t_readme_jailer() {
	[ "$(id -u)" = 0 ] || skip "the jailer needs root"
	command -v curl >/dev/null || skip "needs curl"
	command -v mkfs.ext4 >/dev/null || skip "needs mkfs.ext4"
	jailer=$(dirname "$EMBER")/ember-jailer
	[ -x "$jailer" ] || skip "no ember-jailer beside $EMBER"
	need_static_ember "$jailer"
	readme_ip
	readme_cgroup2_pids_memory || return 1
	readme_dir jailer || return 1
	sh scripts/make-rootfs.sh rootfs.ext4 >/dev/null || return 1
	{ echo "ip() { $IP \"\$@\"; }"; cat "$T/block"; } >"$T/run"
	id=vm1
	rm -rf "/srv/jailer/ember/$id"
	sh "$T/run" </dev/null >"$T/out" 2>&1 &
	wait_exit $! 150
	if [ "$status" -ne 0 ]; then
		_fail "the example ended with status $status; its console:" "$id.console"
		pkill -KILL -f -- "--api-sock /run/api.sock" 2>/dev/null
	fi
	# Booted from the ext4 root through the jail's files, with the tap of its namespace.
	_match "console" "$id.console" '# '
	# In the cgroup the example asked for, which the jailer leaves to its caller.
	[ "$(cat "$V2/ember/$id/pids.max" 2>&1)" = 64 ] || _fail "pids.max of ember/$id is not 64"
	[ "$(cat "$V2/ember/$id/memory.max" 2>&1)" = 536870912 ] ||
		_fail "memory.max of ember/$id is not 536870912"
	# What the README says to clean up, cleaned up (so a second run starts afresh).
	"$IP" netns del "$id"
	rm -rf "/srv/jailer/ember/$id"
	rmdir "$V2/ember/$id" 2>/dev/null
	rmdir "$V2/ember" 2>/dev/null
	true
}
