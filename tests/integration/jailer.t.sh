# Integration cases for ember-jailer (src/jailer/): Ember jailed and booting a test guest
# through its API socket, as Firecracker's users run it; the jailed process's uid, gid,
# capabilities, no_new_privs, root, cgroup and /dev seen from outside through /proc; its
# exec file a read-only mount that only its namespace sees, or a copy (--copy-exec); bad
# inputs and failed starts that leave nothing behind, in both modes; --new-pid-ns, --netns,
# --daemonize.
# Runs as root where KVM is (the rig); the jailer sits beside ember, as in the build tree.
# shellcheck shell=sh
# shellcheck disable=SC2154 # T, EMBER, GUESTS and status come from the harness (lib.sh)

JAILER=$(dirname "$EMBER")/ember-jailer
JAIL_CG=/sys/fs/cgroup

# --- helpers (not tests: only t_* functions are) ---

# Every case: the jailer, root, and cgroups where this machine has them. A bare rig mounts
# none: there the hierarchy this project's machines use is mounted (v1 pids on its own,
# v2 at unified with the other controllers), each part that an earlier case file (say,
# firecracker.t.sh's cpuset) has not mounted already; never on any other machine.
jail_need() {
	[ -x "$JAILER" ] || skip "no ember-jailer beside $EMBER"
	[ "$(id -u)" = 0 ] || skip "the jailer needs root"
	if [ -e /rig/cmd ]; then
		if ! awk -v d="$JAIL_CG" '$2 == d { f = 1 } END { exit !f }' /proc/mounts; then
			mount -t tmpfs -o mode=755 cgroup "$JAIL_CG" || _fail "cannot mount a tmpfs at $JAIL_CG"
		fi
		if [ -z "$(jail_v1_pids_mount)" ]; then
			{ mkdir -p "$JAIL_CG/pids" && mount -t cgroup -o pids cgroup "$JAIL_CG/pids"; } ||
				_fail "cannot mount cgroup v1 pids in the rig"
		fi
		if ! awk '$3 == "cgroup2" { f = 1 } END { exit !f }' /proc/mounts; then
			{ mkdir -p "$JAIL_CG/unified" && mount -t cgroup2 cgroup2 "$JAIL_CG/unified"; } ||
				_fail "cannot mount cgroup2 in the rig"
		fi
	fi
	BASE=$T/jail
}


# Where cgroup v1's pids controller is mounted, or nothing.
jail_v1_pids_mount() {
	awk '$3 == "cgroup" && $4 ~ /(^|,)pids(,|$)/ { print $2; exit }' /proc/mounts
}

# jail_v1_pids / jail_v2_controller: skip unless the hierarchy is there.
jail_v1_pids() {
	V1_PIDS=$(jail_v1_pids_mount)
	[ -n "$V1_PIDS" ] || skip "no cgroup v1 pids hierarchy is mounted"
}
# Sets V2 (the cgroup2 mount) and V2_FILE/V2_VALUE: pids.max=64 when v2 offers pids, else
# memory.max (in the rig, pids is bound to v1).
jail_v2_controller() {
	V2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$V2" ] || skip "no cgroup v2 hierarchy is mounted"
	if grep -qw pids "$V2/cgroup.controllers"; then
		V2_FILE=pids.max V2_VALUE=64
	elif grep -qw memory "$V2/cgroup.controllers"; then
		V2_FILE=memory.max V2_VALUE=536870912
	else
		skip "cgroup v2 at $V2 offers neither pids nor memory"
	fi
}

# A probe that is not a monitor (busybox) gets its ARGS alone: --no-monitor-args in $plain.
jail_plain_args() {
	case ${1##*/} in busybox) plain=--no-monitor-args ;; *) plain= ;; esac
}

# jail_start ID EXEC [JAILER ARGS...] [-- ARGS...]: start the jailer in the background with
# --uid 1000 --gid 1000 and base $BASE; stdout $T/out, stderr $T/err, its pid $jail_pid,
# the jail's root $ROOT.
jail_start() {
	_id=$1 _exec=$2
	shift 2
	ROOT=$BASE/${_exec##*/}/$_id/root
	jail_plain_args "$_exec"
	"$JAILER" --id "$_id" --exec-file "$_exec" --uid 1000 --gid 1000 \
		--chroot-base-dir "$BASE" $plain "$@" </dev/null >"$T/out" 2>"$T/err" &
	jail_pid=$!
}

# jail_run ID EXEC [ARGS...]: the same in the foreground; its status in $status.
jail_run() {
	_id=$1 _exec=$2
	shift 2
	ROOT=$BASE/${_exec##*/}/$_id/root
	jail_plain_args "$_exec"
	"$JAILER" --id "$_id" --exec-file "$_exec" --uid 1000 --gid 1000 \
		--chroot-base-dir "$BASE" $plain "$@" </dev/null >"$T/out" 2>"$T/err"
	status=$?
}

# jail_wait_for FILE: up to 10 s for FILE to exist.
jail_wait_for() {
	for _i in $(seq 1 100); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	_fail "$1 did not appear within 10 s" "$T/err" "$T/out"
	return 1
}

# jail_api METHOD PATH [JSON]: a request on the jailed Ember's socket; status in $code.
jail_api() {
	http_request "$ROOT/api.sock" "$1" "$2" ${3+"$3"}
	[ "$code" = "${4:-204}" ] || _fail "$1 $2: HTTP $code, expected ${4:-204}" "$T/body" "$T/err"
}

# jail_status_is PID FIELD VALUE-ERE: a line of /proc/PID/status.
jail_status_is() {
	grep "^$2:" "/proc/$1/status" >"$T/status-$2"
	_match "/proc/$1/status $2" "$T/status-$2" "^$2:[[:space:]]+$3\$"
}

# The jail directory and cgroups of ID under exec name NAME are gone (or never were).
jail_expect_nothing_left() {
	[ ! -e "$BASE" ] || { find "$BASE" >"$T/left" 2>&1; _fail "$BASE is left behind" "$T/left"; }
	for _d in "$JAIL_CG"/*/"$1" "$JAIL_CG"/*/"$1"/"$2"; do
		[ ! -e "$_d" ] || _fail "cgroup $_d is left behind"
	done
}

# Remove a finished jail's cgroups (the jailer leaves them to the caller, as Firecracker's).
jail_cg_clean() {
	for _d in "$JAIL_CG"/*/"$1"/"$2"; do [ -d "$_d" ] && rmdir "$_d"; done
	for _d in "$JAIL_CG"/*/"$1"; do [ -d "$_d" ] && rmdir "$_d" 2>/dev/null; done
	return 0
}

# A static busybox to jail as a probe: `sh -c` with builtins, `id`, `sleep`, `ip`.
jail_busybox() {
	BB=
	for _b in /bin/busybox /usr/bin/busybox; do
		[ -x "$_b" ] && BB=$_b && break
	done
	[ -n "$BB" ] || skip "no busybox to jail"
	# Under its own name, which busybox takes from argv[0] to mean "run argv[1]"
	# (a dynamically linked one is refused).
	mkdir -p "$T/bin" && cp "$BB" "$T/bin/busybox" || return 1
	BB=$T/bin/busybox
}

# jail_boot_hello ID [JAILER ARGS...]: Ember jailed runs the hello guest. As Firecracker's
# users do, the caller puts the guest's files into the jail's root before the jailer runs.
jail_boot_hello() {
	need_static_ember "$JAILER"
	cp "$EMBER" "$T/ember" || return 1
	mkdir -p "$BASE/ember/$1/root" && cp "$GUESTS/hello.elf" "$BASE/ember/$1/root/" || return 1
	_hid=$1
	shift
	jail_run "$_hid" "$T/ember" "$@" -- run --kernel /hello.elf --mem 128
	expect_status 0
	expect_out '^Hello from an Ember guest$'
	expect_no_err '^ember-jailer: '
}

# --- Ember jailed, booting a guest ---

t_jailer_boots_hello_cgroup_v1() {
	jail_need
	jail_v1_pids
	jail_boot_hello hello-v1 --cgroup pids.max=64
	jail_cg_clean ember hello-v1
}

t_jailer_boots_hello_cgroup_v2() {
	jail_need
	jail_v2_controller
	jail_boot_hello hello-v2 --cgroup-version 2 --cgroup "$V2_FILE=$V2_VALUE"
	jail_cg_clean ember hello-v2
}

# Production use: the jailer starts Ember's API server; the kernel goes into the jail's root
# afterwards, and the guest is configured and started through the socket.
t_jailer_api_boot() {
	jail_need
	need_static_ember "$JAILER"
	command -v curl >/dev/null || skip "curl is not installed"
	cp "$EMBER" "$T/ember"
	jail_start api-1 "$T/ember" -- --api-sock /api.sock
	jail_wait_for "$ROOT/api.sock" || { kill "$jail_pid"; return; }
	cp "$GUESTS/hello.elf" "$ROOT/hello.elf"
	jail_api PUT /boot-source '{"kernel_image_path": "/hello.elf", "boot_args": "console=ttyS0"}'
	jail_api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}'
	jail_api PUT /actions '{"action_type": "InstanceStart"}'
	[ "$code" = 204 ] || { kill -KILL "$jail_pid"; return; }
	wait_exit "$jail_pid"
	expect_status 0
	expect_out '^Hello from an Ember guest$'
	[ ! -e "$ROOT/api.sock" ] || _fail "the API socket is still there after exit"
}

# Firecracker's usual line: the socket in the jail's /run; the id the jailer passes is
# Ember's instance id.
t_jailer_api_sock_in_run() {
	jail_need
	need_static_ember "$JAILER"
	command -v curl >/dev/null || skip "curl is not installed"
	cp "$EMBER" "$T/ember"
	jail_start run-1 "$T/ember" -- --api-sock /run/api.sock
	jail_wait_for "$ROOT/run/api.sock" || { kill "$jail_pid"; return; }
	http_request "$ROOT/run/api.sock" GET /
	[ "$code" = 200 ] || _fail "GET /: HTTP $code" "$T/body" "$T/err"
	_match "GET /" "$T/body" '"id": ?"run-1"'
	kill -TERM "$jail_pid"
	wait_exit "$jail_pid"
	expect_status 143
	[ ! -e "$ROOT/run/api.sock" ] || _fail "the API socket is still there after exit"
}

# --parent-cgroup: the jail's cgroup under the given parent, not the exec file's name.
t_jailer_parent_cgroup() {
	jail_need
	need_static_ember "$JAILER"
	jail_v1_pids
	command -v curl >/dev/null || skip "curl is not installed"
	cp "$EMBER" "$T/ember"
	jail_start pc-1 "$T/ember" --parent-cgroup fcvms/group-a --cgroup pids.max=64 \
		-- --api-sock /api.sock
	jail_wait_for "$ROOT/api.sock" || { kill "$jail_pid"; return; }
	cat "/proc/$jail_pid/cgroup" >"$T/cgroup"
	_match "/proc/PID/cgroup" "$T/cgroup" '^[0-9]+:pids:/fcvms/group-a/pc-1$'
	[ "$(cat "$V1_PIDS/fcvms/group-a/pc-1/pids.max")" = 64 ] || _fail "pids.max is not 64"
	[ ! -e "$V1_PIDS/ember/pc-1" ] || _fail "a cgroup under the exec file's name was made"
	kill -TERM "$jail_pid"
	wait_exit "$jail_pid"
	rmdir "$V1_PIDS/fcvms/group-a/pc-1" "$V1_PIDS/fcvms/group-a" "$V1_PIDS/fcvms"
	# A path that climbs out is refused before anything is made.
	jail_run pc-2 "$T/ember" --parent-cgroup ../x --cgroup pids.max=64 -- --api-sock /a
	expect_status 2
	expect_err "--parent-cgroup '../x'"
	[ ! -e "$V1_PIDS/x" ] || _fail "a cgroup was made for a bad --parent-cgroup"
}

# cgroup v2, --parent-cgroup and no --cgroup: the jailer joins that cgroup if it exists, as
# Firecracker's does (and makes nothing).
t_jailer_parent_cgroup_v2_join() {
	jail_need
	need_static_ember "$JAILER"
	jail_v2_controller
	command -v curl >/dev/null || skip "curl is not installed"
	cp "$EMBER" "$T/ember"
	mkdir "$V2/fcparent$$" || return
	jail_start pc-3 "$T/ember" --cgroup-version 2 --parent-cgroup "fcparent$$" \
		-- --api-sock /api.sock
	jail_wait_for "$ROOT/api.sock" || { kill "$jail_pid"; rmdir "$V2/fcparent$$"; return; }
	cat "/proc/$jail_pid/cgroup" >"$T/cgroup"
	_match "/proc/PID/cgroup" "$T/cgroup" "^0::/fcparent$$\$"
	kill -TERM "$jail_pid"
	wait_exit "$jail_pid"
	rmdir "$V2/fcparent$$" || _fail "cannot remove $V2/fcparent$$"
}

# --- what the jailed process is, seen from outside ---

t_jailer_process_state() {
	jail_need
	need_static_ember "$JAILER"
	jail_v1_pids
	command -v curl >/dev/null || skip "curl is not installed"
	cp "$EMBER" "$T/ember"
	jail_start state-1 "$T/ember" --cgroup pids.max=64 -- --api-sock /api.sock
	jail_wait_for "$ROOT/api.sock" || { kill "$jail_pid"; return; }
	p=$jail_pid
	# The jailer exec'd Ember in place: the same process.
	jail_status_is "$p" Uid '1000[[:space:]]+1000[[:space:]]+1000[[:space:]]+1000'
	jail_status_is "$p" Gid '1000[[:space:]]+1000[[:space:]]+1000[[:space:]]+1000'
	jail_status_is "$p" Groups ''
	for c in CapInh CapPrm CapEff CapBnd CapAmb; do
		jail_status_is "$p" "$c" 0000000000000000
	done
	jail_status_is "$p" NoNewPrivs 1
	# Its root is the jail's root directory (the same inode, whatever path /proc shows).
	[ "$(stat -Lc '%d:%i' "/proc/$p/root")" = "$(stat -c '%d:%i' "$ROOT")" ] ||
		_fail "/proc/$p/root is not $ROOT"
	[ -e "/proc/$p/root/ember" ] || _fail "the jail's root has no /ember"
	# Its cgroup, and the limit written there.
	cat "/proc/$p/cgroup" >"$T/cgroup"
	_match "/proc/$p/cgroup" "$T/cgroup" '^[0-9]+:pids:/ember/state-1$'
	[ "$(cat "$V1_PIDS/ember/state-1/pids.max")" = 64 ] || _fail "pids.max is not 64"
	grep -qx "$p" "$V1_PIDS/ember/state-1/cgroup.procs" || _fail "$p is not in the cgroup"
	# No environment; no-file defaults to 2048 as Firecracker's.
	[ ! -s "/proc/$p/environ" ] || _fail "the jailed process has an environment"
	_match "/proc/$p/limits" "/proc/$p/limits" '^Max open files +2048 +2048 '
	# /dev holds exactly the three nodes, the jailed user's, with their numbers and modes.
	(cd "$ROOT/dev" && find . | sort) >"$T/dev"
	printf '.\n./kvm\n./net\n./net/tun\n./urandom\n' >"$T/dev.want"
	cmp -s "$T/dev" "$T/dev.want" || _fail "the jail's /dev is not kvm, net/tun, urandom" "$T/dev"
	jail_node kvm 'crw-rw---- a e8'
	jail_node net/tun 'crw-rw---- a c8'
	jail_node urandom 'crw-rw-rw- 1 9'
	# The root holds the binary (root's, the group's to run), /dev, /run and the socket.
	top=$(cd "$ROOT" && find . -mindepth 1 -maxdepth 1 | sort | tr '\n' ' ')
	[ "$top" = "./api.sock ./dev ./ember ./run " ] || _fail "the jail's root holds: $top"
	[ "$(stat -c '%a %u %g' "$ROOT/run")" = "755 1000 1000" ] ||
		_fail "/run is $(stat -c '%a %u %g' "$ROOT/run"), expected 755 1000 1000"
	# Ember was given the id and the start times first, as Firecracker's jailer gives them.
	tr '\0' ' ' <"/proc/$p/cmdline" >"$T/cmdline"
	_match "its command line" "$T/cmdline" \
		'^/ember --id state-1 --start-time-us [0-9]+ --start-time-cpu-us [0-9]+ --parent-cpu-time-us [0-9]+ --api-sock /api.sock $'
	# From the host, /ember is the empty file the exec file is mounted on; the jailed
	# process sees $T/ember itself there.
	[ "$(stat -c '%a %u %g %s' "$ROOT/ember")" = "550 0 1000 0" ] ||
		_fail "/ember is $(stat -c '%a %u %g %s' "$ROOT/ember"), expected 550 0 1000 0"
	[ "$(stat -Lc '%d:%i' "/proc/$p/root/ember")" = "$(stat -c '%d:%i' "$T/ember")" ] ||
		_fail "the jailed process's /ember is not $T/ember"
	jail_exec_mount_ro "$p" /ember
	[ "$(stat -c '%a %u %g' "$ROOT")" = "700 1000 1000" ] ||
		_fail "the root is $(stat -c '%a %u %g' "$ROOT"), expected 700 1000 1000"
	# And the API answers.
	jail_api GET / '' 200
	kill -TERM "$p"
	wait_exit "$p"
	expect_status 143
	jail_cg_clean ember state-1
}

# jail_node NAME 'MODE MAJOR MINOR' (hex, as stat prints them): $ROOT/dev/NAME is that
# node, the jailed user's.
jail_node() {
	_got=$(stat -c '%A %t %T %u %g' "$ROOT/dev/$1")
	[ "$_got" = "$2 1000 1000" ] || _fail "/dev/$1 is '$_got', expected '$2 1000 1000'"
}

# jail_exec_mount_ro PID PATH: PATH is a read-only, nosuid, nodev mount in PID's mount table.
jail_exec_mount_ro() {
	awk -v p="$2" '$5 == p' "/proc/$1/mountinfo" >"$T/exec-mount"
	_match "the mount on $2 in /proc/$1/mountinfo" "$T/exec-mount" \
		'^[0-9]+ [0-9]+ [0-9]+:[0-9]+ [^ ]+ [^ ]+ ro,(.*,)?nosuid,(.*,)?nodev(,| )'
}

# The host's mount table: each mount point and its options, sorted.
jail_host_mounts() {
	awk '{ print $5, $6 }' /proc/self/mountinfo | sort
}

# jail_same_mounts FILE WHAT: FILE (jail_host_mounts's) is $T/mounts.before.
jail_same_mounts() {
	cmp -s "$T/mounts.before" "$1" && return 0
	diff "$T/mounts.before" "$1" >"$T/mounts.diff"
	_fail "$2" "$T/mounts.diff"
}

# --- the exec file in the jail: a read-only mount by default, a copy with --copy-exec ---

# The jailed process cannot change its exec file even as its owner: the mount is read-only.
# The host's mount table never shows the mount, and the host sees only the empty file.
t_jailer_exec_read_only_mount() {
	jail_need
	jail_busybox || return
	# Root's file (the jailer mounts no other); the mount is checked before the
	# permissions, so the refusals say read-only.
	jail_host_mounts >"$T/mounts.before"
	was=$(stat -c '%a %u %g %s %Y' "$BB")
	jail_run ro-1 "$BB" -- sh -c 'touch /busybox; chmod 700 /busybox; echo done'
	if [ "$status" = 2 ] && grep -q 'dynamically linked' "$T/err"; then
		skip "busybox is dynamically linked"
	fi
	expect_status 0
	expect_out '^done$'
	expect_err '^touch: /busybox: Read-only file system$'
	expect_err '^chmod: /busybox: Read-only file system$'
	[ "$(stat -c '%a %u %g %s %Y' "$BB")" = "$was" ] ||
		_fail "$BB changed: $was to $(stat -c '%a %u %g %s %Y' "$BB")"

	jail_start ro-2 "$BB" -- sleep 30
	jail_wait_for "$ROOT/dev/urandom"
	sleep 0.2
	p=$jail_pid
	jail_exec_mount_ro "$p" /busybox
	[ "$(stat -Lc '%d:%i' "/proc/$p/root/busybox")" = "$(stat -c '%d:%i' "$BB")" ] ||
		_fail "the jailed process's /busybox is not $BB"
	[ "$(stat -c '%a %u %g %s' "$ROOT/busybox")" = "550 0 1000 0" ] ||
		_fail "from the host, /busybox is $(stat -c '%a %u %g %s' "$ROOT/busybox")"
	# Neither ro-1's ended jail nor ro-2's running one shows in the host's mount table.
	jail_host_mounts >"$T/mounts.during"
	jail_same_mounts "$T/mounts.during" "the jail's mounts show on the host"

	kill -KILL "$p"
	wait_exit "$p"
	# An end leaves the jail's files (as Firecracker's jailer does), and no mount.
	jail_host_mounts >"$T/mounts.after"
	jail_same_mounts "$T/mounts.after" "a mount is left on the host"
	[ ! -s "$ROOT/busybox" ] || _fail "the empty file in the jail got content"
}

# --copy-exec: the jail holds its own copy, root's and the group's to run, and boots.
t_jailer_copy_exec_boots_hello() {
	jail_need
	jail_boot_hello copy-1 --copy-exec
	cmp -s "$T/ember" "$ROOT/ember" || _fail "$ROOT/ember is not a copy of $T/ember"
	[ "$(stat -c '%a %u %g' "$ROOT/ember")" = "550 0 1000" ] ||
		_fail "the copy is $(stat -c '%a %u %g' "$ROOT/ember"), expected 550 0 1000"
	[ "$(stat -c '%d:%i' "$ROOT/ember")" != "$(stat -c '%d:%i' "$T/ember")" ] ||
		_fail "the copy is the same file"
	jail_cg_clean ember copy-1
}

# --- bad inputs: status 2, one line, nothing made ---

# jail_bad WHAT-ERE ID EXEC [ARGS...]
jail_bad() {
	_what=$1
	shift
	jail_run "$@"
	[ "$status" = 2 ] || _fail "$* exited $status, expected 2" "$T/err"
	_match "stderr for $*" "$T/err" "^ember-jailer: .*$_what"
	[ "$(wc -l <"$T/err")" -eq 1 ] || _fail "more than one line for $*" "$T/err"
	jail_expect_nothing_left "${2##*/}" "$1"
}

t_jailer_bad_inputs_leave_nothing() {
	jail_need
	need_static_ember "$JAILER"
	cp "$EMBER" "$T/ejbad"
	BASE=$T/jail/base # made by the jailer: must be gone again after each failure
	jail_bad "--id 'a/b'" a/b "$T/ejbad"
	jail_bad "--id '\.\.'" .. "$T/ejbad"
	jail_bad "--id '\.\./x'" ../x "$T/ejbad"
	jail_bad "--id ''" "" "$T/ejbad"
	jail_bad "--exec-file '$T/missing': No such file" bad-1 "$T/missing"
	jail_bad "--exec-file '$T': not an executable regular file" bad-1 "$T"
	printf '#!/bin/sh\necho hi\n' >"$T/script"
	chmod +x "$T/script"
	jail_bad "script" bad-1 "$T/script"
	jail_bad "unknown cgroup controller 'bogus'" bad-1 "$T/ejbad" --cgroup bogus.max=1
	jail_bad "unknown cgroup file" bad-1 "$T/ejbad" --cgroup pids=1
	jail_bad "controller" bad-1 "$T/ejbad" --cgroup cgroup.procs=1
	good_base=$BASE
	BASE=srv/jailer
	jail_bad "not an absolute path" bad-1 "$T/ejbad"
	BASE=$T/jail/../jail/base
	jail_bad "'\.\.' component" bad-1 "$T/ejbad"
	BASE=$good_base
	jail_bad "--netns '$T/nope'" bad-1 "$T/ejbad" --netns "$T/nope"
	jail_bad "not a namespace file" bad-1 "$T/ejbad" --netns "$T/script"
	jail_bad "unknown resource" bad-1 "$T/ejbad" --resource-limit cpu=1
	jail_bad "1 or 2" bad-1 "$T/ejbad" --cgroup-version 3
	# The jailed process runs the file itself unless it is copied: 1000:1000 must be able
	# to. A copy is root's and the group's to run, so --copy-exec would take it.
	cp "$T/ejbad" "$T/ejroot" && chmod 0700 "$T/ejroot"
	jail_bad "uid 1000, gid 1000 may not run it \\(mode 0700, owner 0:0\\); use --copy-exec" \
		bad-1 "$T/ejroot"
	"$JAILER" --id bad-1 --exec-file "$T/ejbad" --uid abc --gid 1 --chroot-base-dir "$BASE" \
		2>"$T/err"
	status=$?
	[ "$status" = 2 ] || _fail "--uid abc exited $status, expected 2"
	expect_err "^ember-jailer: --uid 'abc': not a number"
	# Run in place, the exec file must be root's and writable by nobody else.
	cp "$T/ejbad" "$T/ejuser" && chown 1000:1000 "$T/ejuser"
	jail_bad "must be root's and not writable by its group or others to be mounted" \
		bad-1 "$T/ejuser"
	cp "$T/ejbad" "$T/ejw" && chmod 0757 "$T/ejw"
	jail_bad "must be root's and not writable" bad-1 "$T/ejw"
	# The jailed process never runs as root, not even without capabilities.
	"$JAILER" --id bad-1 --exec-file "$T/ejbad" --uid 0 --gid 1000 --chroot-base-dir "$BASE" \
		2>"$T/err"
	status=$?
	[ "$status" = 2 ] || _fail "--uid 0 exited $status, expected 2"
	expect_err "^ember-jailer: --uid 0: the jailed process may not run as root"
	# Directories others may write to are refused (they could swap what lies under them
	# while the jailer works there as root), and left as they were.
	mkdir -p "$BASE" && chmod 0777 "$BASE"
	jail_run bad-1 "$T/ejbad"
	[ "$status" = 1 ] || _fail "a world-writable base: status $status, expected 1" "$T/err"
	expect_err "must be root's and not writable by its group or others"
	[ "$(find "$BASE" | wc -l)" = 1 ] || _fail "a world-writable base: things were made"
	rm -rf "$BASE"
	mkdir -p "$BASE/ejbad/bad-3/root" && chmod 0777 "$BASE/ejbad/bad-3/root"
	jail_run bad-3 "$T/ejbad"
	[ "$status" = 1 ] || _fail "a world-writable root: status $status, expected 1" "$T/err"
	expect_err "is writable by its group or others \\(mode 0777\\)"
	[ "$(stat -c '%a %u' "$BASE/ejbad/bad-3/root")" = "777 0" ] ||
		_fail "a refused root was changed: $(stat -c '%a %u' "$BASE/ejbad/bad-3/root")"
	[ "$(find "$BASE" | wc -l)" = 4 ] || _fail "a world-writable root: things were made"
	rm -rf "$BASE"
	# A file the kernel does not have is found only once the cgroup exists: the jail
	# directory and the cgroup made by then are taken back.
	if [ -n "$(jail_v1_pids_mount)" ]; then
		jail_bad "unknown cgroup file 'pids.bogus'" bad-2 "$T/ejbad" --cgroup pids.bogus=1
		jail_bad "unknown cgroup file 'pids.bogus'" bad-2 "$T/ejbad" --cgroup pids.max=5 \
			--cgroup pids.bogus=1
	fi
}

# --- failed starts: status 1, a line naming the step, nothing left ---

t_jailer_failed_start_leaves_nothing() {
	jail_need
	need_static_ember "$JAILER"
	cp "$EMBER" "$T/ejfail"
	BASE=$T/jail/base
	cg=
	[ -n "$(jail_v1_pids_mount)" ] && cg="--cgroup pids.max=10"
	jail_host_mounts >"$T/mounts.before"
	# The limits are the last step before the privileges go, after pivot_root and the
	# device nodes: a no-file above the kernel's nr_open fails there. With and without a
	# PID namespace (where the jailer's parent does the undo); the exec file mounted (whose
	# mount point only the host's namespace can remove) and copied.
	nr_open=$(cat /proc/sys/fs/nr_open)
	for copy in "" --copy-exec; do
		for pidns in "" --new-pid-ns; do
			# shellcheck disable=SC2086 # $cg, $copy and $pidns are zero or more words
			jail_run fail-1 "$T/ejfail" $cg $copy $pidns \
				--resource-limit "no-file=$((nr_open + 1))"
			[ "$status" = 1 ] ||
				_fail "a failed start ($copy $pidns) exited $status" "$T/err"
			expect_err "^ember-jailer: rlimits: no-file=$((nr_open + 1)): "
			jail_expect_nothing_left ejfail fail-1
		done
		jail_fail_in_given_root "$copy"
	done
	jail_host_mounts >"$T/mounts.after"
	jail_same_mounts "$T/mounts.after" "the failed starts left a mount"

	# An id taken: a root that holds the exec file (another jail's, running or done) is
	# refused before anything is made or changed.
	mkdir -p "$BASE/ejfail/fail-2/root"
	cp "$T/ejfail" "$BASE/ejfail/fail-2/root/ejfail"
	# shellcheck disable=SC2086
	jail_run fail-2 "$T/ejfail" $cg
	[ "$status" = 1 ] || _fail "a taken id exited $status" "$T/err"
	expect_err "^ember-jailer: jail: '.*/ejfail/fail-2/root/ejfail' exists: another jail has the id 'fail-2'"
	[ "$(stat -c '%u:%g' "$BASE/ejfail/fail-2/root")" = 0:0 ] ||
		_fail "the taken root's owner changed"
	[ ! -e "$BASE/ejfail/fail-2/root/dev" ] || _fail "the taken root got a /dev"
	for d in "$JAIL_CG"/*/ejfail; do [ ! -e "$d" ] || _fail "cgroup $d was made"; done
}

# jail_fail_in_given_root [--copy-exec]: a root the caller made, with the guest's files: a
# failed start takes back only what it added, and gives the root its owner back. Once late
# (the limits) and once while entering the jail, just after the exec file's mount (a
# .old_root of the caller's is in the way of pivot_root's). Uses $cg and $nr_open.
jail_fail_in_given_root() {
	for _why in limits old_root; do
		rm -rf "$BASE"
		_r=$BASE/ejfail/fail-2/root
		mkdir -p "$_r" && : >"$_r/vmlinux" || return 1
		_want=". ./ejfail ./ejfail/fail-2 ./ejfail/fail-2/root"
		_lim=
		if [ "$_why" = old_root ]; then
			mkdir "$_r/.old_root"
			_want="$_want ./ejfail/fail-2/root/.old_root"
		else
			_lim="--resource-limit no-file=$((nr_open + 1))"
		fi
		_want="$_want ./ejfail/fail-2/root/vmlinux "
		# shellcheck disable=SC2086 # zero or more words each
		jail_run fail-2 "$T/ejfail" $cg $1 $_lim
		[ "$status" = 1 ] ||
			_fail "a failed start ($_why $1) in a given root exited $status" "$T/err"
		if [ "$_why" = old_root ]; then
			expect_err "^ember-jailer: mount: cannot create '.*/\.old_root'"
		fi
		_left=$(cd "$BASE" && find . | sort | tr '\n' ' ')
		[ "$_left" = "$_want" ] ||
			_fail "after a failed start ($_why $1) in a given root, $BASE holds: $_left" \
				"$T/err"
		[ "$(stat -c '%u:%g' "$_r")" = 0:0 ] ||
			_fail "the given root's owner is $(stat -c '%u:%g' "$_r") ($_why $1)"
		for _d in "$JAIL_CG"/*/ejfail; do
			[ ! -e "$_d" ] || _fail "cgroup $_d is left behind ($_why $1)"
		done
	done
	rm -rf "$BASE"
}

# --- --new-pid-ns: PID 1 of its own namespace ---

t_jailer_new_pid_ns() {
	jail_need
	jail_busybox || return
	# shellcheck disable=SC2016 # expanded by the jailed shell
	jail_run pidns-1 "$BB" --new-pid-ns -- sh -c 'echo "pid=$$ uid=$(id -u) gid=$(id -g)"'
	if [ "$status" = 2 ] && grep -q 'dynamically linked' "$T/err"; then
		skip "busybox is dynamically linked"
	fi
	expect_status 0
	# The jailer returns once the child runs; the child writes on its own.
	for _i in $(seq 1 50); do grep -q pid= "$T/out" && break; sleep 0.1; done
	expect_out '^pid=1 uid=1000 gid=1000$'
	[ -s "$ROOT/busybox.pid" ] || _fail "no pid file $ROOT/busybox.pid"

	# A running one: its pid file names it, and NSpid shows it is 1 inside.
	jail_run pidns-2 "$BB" --new-pid-ns -- sleep 30
	expect_status 0
	p=$(cat "$ROOT/busybox.pid")
	if [ -z "$p" ] || [ ! -d "/proc/$p" ]; then
		_fail "the pid file says '$p', which is not running"
		return
	fi
	jail_status_is "$p" NSpid "${p}[[:space:]]+1"
	jail_status_is "$p" Uid '1000[[:space:]]+1000[[:space:]]+1000[[:space:]]+1000'
	jail_status_is "$p" CapEff 0000000000000000
	jail_status_is "$p" NoNewPrivs 1
	kill -KILL "$p"
}

# --- --netns: a namespace the test creates ---

t_jailer_netns() {
	jail_need
	jail_busybox || return
	need_iproute2
	NS=ember-jt$$
	mkdir -p /run/netns
	"$IP" netns add "$NS" || skip "cannot create a network namespace"
	"$IP" -n "$NS" link add jdummy0 type dummy 2>/dev/null
	# The jailed busybox's ip applet sees the namespace's links, not the host's.
	jail_run netns-1 "$BB" --netns "/run/netns/$NS" -- ip -o link
	expect_status 0
	expect_out '^1: lo:'
	if "$IP" -n "$NS" link show jdummy0 >/dev/null 2>&1; then
		expect_out 'jdummy0'
	fi
	# And a running one is in it: the same namespace inode.
	jail_start netns-2 "$BB" --netns "/run/netns/$NS" -- sleep 30
	jail_wait_for "$ROOT/dev/urandom"
	sleep 0.2
	[ "$(stat -Lc %i "/proc/$jail_pid/ns/net")" = "$(stat -c %i "/run/netns/$NS")" ] ||
		_fail "the jailed process is not in $NS"
	kill -KILL "$jail_pid"
	wait "$jail_pid" 2>/dev/null
	"$IP" netns del "$NS"
}

# --- --daemonize: a session of its own, standard I/O on /dev/null ---

t_jailer_daemonize() {
	jail_need
	jail_busybox || return
	jail_start daemon-1 "$BB" --daemonize -- sleep 30
	jail_wait_for "$ROOT/dev/urandom"
	sleep 0.2
	p=$jail_pid
	# The jailer's own pid (no fork), leading its new session.
	sid=$(cut -d' ' -f6 "/proc/$p/stat")
	[ "$sid" = "$p" ] || _fail "session $sid, expected $p"
	for fd in 0 1 2; do
		[ "$(readlink "/proc/$p/fd/$fd")" = /dev/null ] ||
			_fail "fd $fd is $(readlink "/proc/$p/fd/$fd"), not /dev/null"
	done
	(cd "/proc/$p/fd" && find . -mindepth 1 | sort) >"$T/fds"
	printf './0\n./1\n./2\n' >"$T/fds.want"
	cmp -s "$T/fds" "$T/fds.want" || _fail "the jailed process has more descriptors" "$T/fds"
	kill -KILL "$p"
	wait "$p" 2>/dev/null
	return 0
}
