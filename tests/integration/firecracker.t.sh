# Integration cases for Ember as a drop-in for Firecracker (issue 16, the operations half):
# its flags (--version anywhere, no arguments, the jailer's start times, --boot-timer,
# --seccomp-filter), the metrics line's deltas, and replays of Firecracker's documented
# sequences (docs/getting-started.md, docs/network-setup.md, docs/jailer.md at firecracker
# 81b38b9) against ember-jailer and ember as written for Firecracker, booting the default
# guest. Needs curl, iproute2's ip and mkfs.ext4 in the rig (tests/run-integration.sh).

api_wait_exit() { wait_exit "$api_pid" "${1:-60}"; }
api_wait_out() { wait_out "$1" 30; }

fc_guest() {
	[ -n "${GUEST_DIR:-}" ] && [ -f "$GUEST_DIR/vmlinux" ] && [ -f "$GUEST_DIR/initrd.cpio" ] ||
		_fail "GUEST_DIR='${GUEST_DIR:-}' has no vmlinux and initrd.cpio (make guest)"
}

# The last metrics line with everything that may be non-zero after a flush with nothing
# done taken out (the timestamp, api_server's and latencies_us's values, the flush's own
# actions_count 1): no digit but 0 may remain after a colon.
fc_quiet_line() {
	tail -n 1 "$1" | sed -e 's/"utc_timestamp_ms":[0-9]*//' \
		-e 's/"api_server":{[^}]*}//' -e 's/"latencies_us":{[^}]*}//' \
		-e 's/"actions_count":1,/"actions_count":0,/'
}

# --- flags ---

t_fc_version_anywhere_and_refused_flags() {
	for args in '--version' '--api-sock /x --version' '--level Debug --version --bogus' \
		'run --kernel x --version'; do
		# shellcheck disable=SC2086 # words on purpose
		"$EMBER" $args >"$T/out" 2>"$T/err" </dev/null
		status=$?
		expect_status 0
		expect_out '^ember [0-9]+\.[0-9]+\.[0-9]+'
	done
	"$EMBER" --api-sock "$T/s" --enable-pci >"$T/out" 2>"$T/err" </dev/null
	status=$?
	expect_status 2
	expect_err 'no PCI transport'
	"$EMBER" --api-sock "$T/s" --module vmm::devices >"$T/out" 2>"$T/err" </dev/null
	status=$?
	expect_status 2
	expect_err "--module takes one of Ember's log modules"
	"$EMBER" --api-sock "$T/s" --start-time-us soon >"$T/out" 2>"$T/err" </dev/null
	status=$?
	expect_status 2
	expect_err 'start-time-us takes a whole number'
	"$EMBER" --api-sock "$T/s" --no-seccomp --seccomp-filter "$T/f" >"$T/out" 2>"$T/err" </dev/null
	status=$?
	expect_status 2
	expect_err 'one or the other'
	[ ! -e "$T/s" ] || _fail "a refused line made the socket"
}

# With no arguments at all Ember serves the API on its default socket, as Firecracker does
# on its own; it says where on stderr.
t_fc_no_arguments_serves_the_default_socket() {
	command -v curl >/dev/null || skip "curl is not installed"
	[ -e /run/ember.socket ] && skip "/run/ember.socket exists: another Ember runs here"
	mkdir -p /run
	"$EMBER" </dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	for _i in $(seq 1 100); do [ -S /run/ember.socket ] && break; sleep 0.1; done
	http_request /run/ember.socket GET /
	[ "$code" = 200 ] || _fail "GET / on /run/ember.socket: HTTP $code" "$T/body" "$T/err"
	_match "GET /" "$T/body" '"state": ?"Not started"'
	expect_err 'no arguments: serving .* on /run/ember.socket'
	kill -TERM "$pid"
	wait_exit "$pid"
	expect_status 143
	[ ! -e /run/ember.socket ] || _fail "the socket is still there after exit"
}

# The words Firecracker's jailer puts first also go before `run`, and the start times make
# the metrics' api_server values (from the given start, so at least its age).
t_fc_jailer_words_and_startup_metrics() {
	"$EMBER" --id vm-9 --start-time-us 5 --start-time-cpu-us 0 --parent-cpu-time-us 7 \
		run --kernel "$GUESTS/hello.elf" --mem 64 </dev/null >"$T/out" 2>"$T/err"
	status=$?
	expect_status 0
	expect_out '^Hello from an Ember guest$'
	# Started at CLOCK_MONOTONIC 0: the value is the clock now, seconds at least.
	api_start --start-time-us 0 --start-time-cpu-us 0 --parent-cpu-time-us 3000000 \
		--metrics-path "$T/metrics" || return
	kill -TERM "$api_pid"
	api_wait_exit
	_match metrics "$T/metrics" '"api_server":\{"process_startup_time_us":[1-9][0-9]{6,},"process_startup_time_cpu_us":[3-9][0-9]{6}\}'
}

# --- the boot timer ---

t_fc_boot_timer_logs_the_boot_time_once() {
	api_start --boot-timer --log-path "$T/log" --level Info || return
	api PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/boot_timer.elf\"}"
	expect_api 204
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	api_wait_exit
	expect_status 0
	expect_out '^boot_timer: marked$'
	_match log "$T/log" '\] Guest-boot-time = +[0-9]+ us [0-9]+ ms, +[0-9]+ CPU us [0-9]+ CPU ms$'
	n=$(grep -c 'Guest-boot-time' "$T/log")
	[ "$n" = 1 ] || _fail "the boot time is logged $n times, not once" "$T/log"
	# Without --boot-timer nothing answers there: the guest's write stops the VM.
	api_start || return
	api PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/boot_timer.elf\"}"
	api PUT /actions '{"action_type": "InstanceStart"}'
	api_wait_exit
	expect_status 1
	expect_err '0xc0000000'
}

# --- --seccomp-filter: a user's BPF per thread kind (docs/SECCOMP.md) ---

# fc_bytes HEX...: the bytes, written with printf's octal escapes (POSIX).
fc_bytes() {
	for _h; do printf "\\$(printf %03o "0x$_h")"; done
}

# fc_filter FILE API-NR: vmm and vcpu allow everything; the api thread traps system call
# API-NR (0 to 255) and allows the rest.
fc_filter() {
	{
		printf EMBRBPF1
		fc_bytes 76 6d 6d 00 00 00 00 00 01 00 00 00 06 00 00 00 00 00 ff 7f
		fc_bytes 76 63 70 75 00 00 00 00 01 00 00 00 06 00 00 00 00 00 ff 7f
		fc_bytes 61 70 69 00 00 00 00 00 04 00 00 00
		fc_bytes 20 00 00 00 00 00 00 00                          # A = nr
		fc_bytes 15 00 00 01 "$(printf %02x "$2")" 00 00 00     # nr == API-NR?
		fc_bytes 06 00 00 00 00 00 03 00                          # trap
		fc_bytes 06 00 00 00 00 00 ff 7f                          # allow
	} >"$1"
}

t_fc_seccomp_filter_applied_and_refused() {
	command -v curl >/dev/null || skip "curl is not installed"
	# accept4 is 288: above one byte; trap epoll_wait (232), which the API thread's loop
	# makes as soon as it runs.
	fc_filter "$T/filter" 232
	"$EMBER" --api-sock "$T/s" --seccomp-filter "$T/filter" </dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	wait_exit "$pid" 20
	expect_status 3
	expect_err 'seccomp: thread api made a forbidden system call epoll_wait'
	# A filter that traps nothing the API thread does (uname, 63): Ember serves.
	fc_filter "$T/filter2" 63
	api_start --seccomp-filter "$T/filter2" || return
	api GET /
	expect_api 200 '"state"'
	kill -TERM "$api_pid"
	api_wait_exit
	expect_status 143
	# Files that are not filters are refused before anything starts.
	printf 'EMBRBPF1' >"$T/short"
	fc_bytes 15 00 05 00 00 00 00 00 >"$T/tail" # a jump past the end: the kernel refuses
	for f in short bad nothere; do
		case $f in
		bad) { printf EMBRBPF1
		       fc_bytes 76 6d 6d 00 00 00 00 00 01 00 00 00; cat "$T/tail"
		       fc_bytes 76 63 70 75 00 00 00 00 01 00 00 00 06 00 00 00 00 00 ff 7f
		       fc_bytes 61 70 69 00 00 00 00 00 01 00 00 00 06 00 00 00 00 00 ff 7f
		     } >"$T/bad" ;;
		esac
		"$EMBER" --api-sock "$T/s3" --seccomp-filter "$T/$f" </dev/null >"$T/out" 2>"$T/err"
		status=$?
		expect_status 2
		expect_err "--seccomp-filter.*$T/$f"
		[ ! -e "$T/s3" ] || _fail "a refused filter left a socket"
	done
	expect_err 'cannot open'
	grep -q "refuses the vmm thread's program" "$T/err" ||
		{ "$EMBER" --api-sock "$T/s3" --seccomp-filter "$T/bad" </dev/null 2>"$T/err"
		  expect_err "the kernel refuses the vmm thread's program"; }
}

# --- metrics: Firecracker's groups, counts since the last flush ---

t_fc_metrics_are_deltas() {
	api_start --metrics-path "$T/metrics" || return
	api PUT /machine-config '{"vcpu_count": 0, "mem_size_mib": 64}'
	expect_api 400
	api PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/kbd_cad.elf\"}"
	expect_api 204
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	api_wait_out '^kbd_cad: waiting' || { kill "$api_pid"; return; }
	api PATCH /vm '{"state": "Paused"}'
	expect_api 204
	api PUT /actions '{"action_type": "FlushMetrics"}'
	expect_api 204
	# The refused request, the boot source and InstanceStart (and this flush), counted.
	_match metrics "$T/metrics" '"put_api_requests":\{"actions_count":2,"actions_fails":0,"boot_source_count":1,"boot_source_fails":0,'
	_match metrics "$T/metrics" '"machine_cfg_count":1,"machine_cfg_fails":1'
	_match metrics "$T/metrics" '"latencies_us":\{"vmm_pause_vm":[0-9]+,'
	# The guest's serial writes are port exits.
	_match metrics "$T/metrics" '"vcpu":\{"exit_io_in":[0-9]+,"exit_io_out":[1-9][0-9]*,'
	# Paused, nothing else asked: the next line counts only its own flush.
	api PUT /actions '{"action_type": "FlushMetrics"}'
	expect_api 204
	api PUT /actions '{"action_type": "FlushMetrics"}'
	expect_api 204
	[ "$(wc -l <"$T/metrics")" -ge 3 ] || _fail "fewer than 3 metrics lines" "$T/metrics"
	fc_quiet_line "$T/metrics" >"$T/quiet"
	_no_match "a flush after nothing" "$T/quiet" ':[1-9]'
	_match "a flush after nothing" "$T/quiet" '"put_api_requests":\{"actions_count":0,'
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	api PATCH /vm '{"state": "Resumed"}'
	api_wait_exit
	expect_status 0
}

# --- Firecracker's documented sequences, replayed ---

# sudo, as the docs write it: root already, the host side inside this test's network
# namespace ($NS), iproute2's ip by path (busybox's applet has no tuntap).
fc_netns() {
	need_iproute2
	[ -c /dev/net/tun ] || skip "no /dev/net/tun (tun module not loaded)"
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed"
	command -v curl >/dev/null || skip "curl is not installed"
	NS=ember-fc$$
	mkdir -p /run/netns /var/run 2>/dev/null
	"$IP" netns add "$NS" || skip "cannot create a network namespace"
	"$IP" -n "$NS" link set lo up
}

sudo() {
	if [ "$1" = ip ]; then
		shift
		"$IP" netns exec "$NS" "$IP" "$@"
	else
		"$IP" netns exec "$NS" "$@"
	fi
}

# An ext4 root file system at $1 (the docs' Ubuntu image, here busybox) whose guest command
# (the default guest's init runs it, in the initrd at $2) configures eth0 as the network
# setup guide's "In The Guest" says, pings the tap, and leaves its results in /result.
fc_rootfs_and_initrd() {
	rm -rf "$T/rootfs"
	mkdir -p "$T/rootfs/bin" "$T/rootfs/proc" "$T/rootfs/sys" "$T/rootfs/dev" \
		"$T/rootfs/tmp" "$T/rootfs/run"
	cp /bin/busybox "$T/rootfs/bin/busybox"
	for a in sh cat echo ip ping grep sync; do ln -s busybox "$T/rootfs/bin/$a"; done
	echo 'the ext4 root' >"$T/rootfs/marker"
	truncate -s 64M "$1"
	mkfs.ext4 -q -F -d "$T/rootfs" "$1" || _fail "mkfs.ext4 failed"
	sh "$CMD_INITRD" "$GUEST_DIR/initrd.cpio" "$2" sh -c '
		cat /marker; grep " / " /proc/mounts
		ip addr add 172.16.0.2/30 dev eth0
		ip link set eth0 up
		ip route add default via 172.16.0.1 dev eth0
		cat /sys/class/net/eth0/address
		n=$(ping -c 3 -W 5 172.16.0.1 | grep -c "bytes from")
		echo "pings=$n" | tee /result; sync' || _fail "cannot build the initrd"
}

# docs/getting-started.md "Starting Firecracker" with docs/network-setup.md: the lines as
# written (sudo as above), but for: the binary's name (./ember); --enable-pci left out
# (Ember has no PCI transport; the guide calls the flag optional, devices are then
# virtio-mmio); the kernel is the default guest's, and its boot source also names the
# default guest's initrd (Debian's kernel has virtio as modules, which the initrd loads;
# Firecracker's CI kernel has them built in); the rootfs is built here; the host's internet
# side (iptables, jq) is left out: no internet in the rig, and the guest pings the tap.
t_fc_replay_getting_started_and_network() {
	fc_guest || return
	fc_netns
	cd "$T" || return
	cp "$EMBER" ./ember && cp "$GUEST_DIR/vmlinux" ./vmlinux-6.1 || return
	fc_rootfs_and_initrd ./ubuntu-24.04.ext4 ./initrd.cpio || { "$IP" netns del "$NS"; return; }

	API_SOCKET="/tmp/firecracker.socket"

	# Remove API unix socket
	sudo rm -f $API_SOCKET

	# Run firecracker
	sudo ./ember --api-sock "${API_SOCKET}" </dev/null >"$T/out" 2>"$T/err" &
	fc_pid=$!
	for _i in $(seq 1 100); do [ -S "$API_SOCKET" ] && break; sleep 0.1; done

	TAP_DEV="tap0"
	TAP_IP="172.16.0.1"
	MASK_SHORT="/30"

	# Setup network interface
	sudo ip link del "$TAP_DEV" 2> /dev/null || true
	sudo ip tuntap add dev "$TAP_DEV" mode tap
	sudo ip addr add "${TAP_IP}${MASK_SHORT}" dev "$TAP_DEV"
	sudo ip link set dev "$TAP_DEV" up

	# Enable ip forwarding
	sudo sh -c "echo 1 > /proc/sys/net/ipv4/ip_forward"

	API_SOCKET="/tmp/firecracker.socket"
	LOGFILE="./firecracker.log"

	# Set log file
	sudo curl -X PUT --unix-socket "${API_SOCKET}" \
	    --data "{
	        \"log_path\": \"${LOGFILE}\",
	        \"level\": \"Debug\",
	        \"show_level\": true,
	        \"show_log_origin\": true
	    }" \
	    "http://localhost/logger"

	KERNEL="./$(ls vmlinux* | tail -1)"
	KERNEL_BOOT_ARGS="console=ttyS0 reboot=k panic=1"

	# Set boot source (and the default guest's initrd)
	sudo curl -X PUT --unix-socket "${API_SOCKET}" \
	    --data "{
	        \"kernel_image_path\": \"${KERNEL}\",
	        \"initrd_path\": \"./initrd.cpio\",
	        \"boot_args\": \"${KERNEL_BOOT_ARGS}\"
	    }" \
	    "http://localhost/boot-source"

	ROOTFS="./$(ls *.ext4 | tail -1)"

	# Set rootfs
	sudo curl -X PUT --unix-socket "${API_SOCKET}" \
	    --data "{
	        \"drive_id\": \"rootfs\",
	        \"path_on_host\": \"${ROOTFS}\",
	        \"is_root_device\": true,
	        \"is_read_only\": false
	    }" \
	    "http://localhost/drives/rootfs"

	FC_MAC="06:00:AC:10:00:02"

	# Set network interface
	sudo curl -X PUT --unix-socket "${API_SOCKET}" \
	    --data "{
	        \"iface_id\": \"net1\",
	        \"guest_mac\": \"$FC_MAC\",
	        \"host_dev_name\": \"$TAP_DEV\"
	    }" \
	    "http://localhost/network-interfaces/net1"

	# API requests are handled asynchronously, it is important the configuration is
	# set, before `InstanceStart`.
	sleep 0.015s

	# Start microVM
	sudo curl -X PUT --unix-socket "${API_SOCKET}" \
	    --data "{
	        \"action_type\": \"InstanceStart\"
	    }" \
	    "http://localhost/actions"

	wait_exit "$fc_pid" 180
	"$IP" netns del "$NS"
	expect_status 0
	expect_out '^the ext4 root$'
	expect_out '^/dev/vda / ext4 rw'
	expect_out '^06:00:ac:10:00:02$'
	expect_out '^pings=3$'
	# The log: Firecracker's line, the level and the origin, as the logger call asked.
	_match firecracker.log ./firecracker.log \
		'^[0-9-]{10}T[0-9:.]{18} \[anonymous-instance:vmm:INFO:src/vmm/controller\.c:[0-9]+\] the microVM started$'
	_match firecracker.log ./firecracker.log ':DEBUG:src/api/[a-z_]+\.c:[0-9]+\] API request PUT /drives/'
	[ ! -e "$API_SOCKET" ] || _fail "$API_SOCKET is still there after exit"
}

# docs/jailer.md "Example Run": the jailer line as written (binary names aside: ember-jailer,
# /usr/bin/ember), in the network namespace /var/run/netns/my_netns with the tap, then the
# getting-started requests on the jail's socket (Ember's default, /run/ember.socket: no
# --api-sock is given, as in the example) with the kernel, initrd and rootfs put into the
# jail's root as Firecracker's users do. --daemonize sends the console to /dev/null, so the
# guest leaves its results on the rootfs.
t_fc_replay_jailer() {
	fc_guest || return
	JAILER=$(dirname "$EMBER")/ember-jailer
	[ -x "$JAILER" ] || skip "no ember-jailer beside $EMBER"
	need_static_ember "$JAILER"
	[ -r /sys/devices/system/node/node0/cpulist ] ||
		skip "no /sys/devices/system/node/node0/cpulist: the rig has no NUMA node 0"
	# The example's cgroups are v1 cpuset's: mount that hierarchy beside the others if the
	# rig has none (a controller v2 uses cannot be; then this is skipped, and says so).
	CPUSET=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/ { print $2; exit }' /proc/mounts)
	if [ -z "$CPUSET" ]; then
		base=$(awk '$3 == "cgroup" { print $2; exit }' /proc/mounts)
		CPUSET=${base%/*}/cpuset
		mkdir -p "$CPUSET" && mount -t cgroup -o cpuset cpuset "$CPUSET" 2>"$T/mount" ||
			skip "no cgroup v1 cpuset hierarchy, and none can be mounted: $(cat "$T/mount")"
	fi
	command -v debugfs >/dev/null || skip "debugfs is not installed"
	fc_netns
	"$IP" netns del "$NS"
	NS=my_netns
	"$IP" netns add my_netns || skip "cannot create the namespace my_netns"
	[ -e /var/run/netns ] || ln -s /run/netns /var/run/netns
	sudo ip tuntap add dev tap0 mode tap
	sudo ip addr add 172.16.0.1/30 dev tap0
	sudo ip link set tap0 up
	cp "$EMBER" /usr/bin/ember && chmod 755 /usr/bin/ember || return
	ID=551e7604-e35c-42b3-b825-416853441234
	CHROOT=/srv/jailer/ember/$ID/root
	mkdir -p "$CHROOT" || return
	fc_rootfs_and_initrd "$CHROOT/rootfs.ext4" "$CHROOT/initrd.cpio" || return
	cp "$GUEST_DIR/vmlinux" "$CHROOT/vmlinux"
	chown 123:100 "$CHROOT/rootfs.ext4" "$CHROOT/vmlinux" "$CHROOT/initrd.cpio"

	"$JAILER" --id 551e7604-e35c-42b3-b825-416853441234 \
	--cgroup cpuset.mems=0 --cgroup cpuset.cpus=$(cat /sys/devices/system/node/node0/cpulist) \
	--exec-file /usr/bin/ember --uid 123 --gid 100 \
	--netns /var/run/netns/my_netns --daemonize </dev/null >"$T/out" 2>"$T/err" &
	jail_pid=$!

	S=$CHROOT/run/ember.socket
	for _i in $(seq 1 100); do [ -S "$S" ] && break; sleep 0.1; done
	[ -S "$S" ] || _fail "no socket at $S" "$T/err"
	tr '\0' ' ' <"/proc/$jail_pid/cmdline" >"$T/cmdline"
	_match "ember's command line" "$T/cmdline" \
		"^/ember --id $ID --start-time-us [0-9]+ --start-time-cpu-us [0-9]+ --parent-cpu-time-us [0-9]+ \$"
	curl -s -X PUT --unix-socket "$S" --data '{"log_path": "/fc.log", "level": "Info"}' \
		"http://localhost/logger"
	curl -s -X PUT --unix-socket "$S" --data '{"metrics_path": "/fc.metrics"}' \
		"http://localhost/metrics"
	curl -s -X PUT --unix-socket "$S" --data '{
	        "kernel_image_path": "/vmlinux", "initrd_path": "/initrd.cpio",
	        "boot_args": "console=ttyS0 reboot=k panic=1"}' "http://localhost/boot-source"
	curl -s -X PUT --unix-socket "$S" --data '{"drive_id": "rootfs",
	        "path_on_host": "/rootfs.ext4", "is_root_device": true, "is_read_only": false}' \
		"http://localhost/drives/rootfs"
	curl -s -X PUT --unix-socket "$S" --data '{"iface_id": "net1",
	        "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "tap0"}' \
		"http://localhost/network-interfaces/net1"
	curl -s -X PUT --unix-socket "$S" --data '{"action_type": "InstanceStart"}' \
		"http://localhost/actions" >"$T/start"
	wait_exit "$jail_pid" 180
	expect_status 0
	got=$(debugfs -R 'cat /result' "$CHROOT/rootfs.ext4" 2>/dev/null)
	[ "$got" = "pings=3" ] || _fail "the guest's /result holds '$got'" "$T/start" "$CHROOT/fc.log"
	_match fc.log "$CHROOT/fc.log" "\\[$ID:vmm\\] the microVM started"
	# The jailer's start times reached the metrics (taken when the API was ready).
	_match fc.metrics "$CHROOT/fc.metrics" '"process_startup_time_us":[1-9][0-9]*,"process_startup_time_cpu_us":[1-9]'
	for d in "$CPUSET/ember/$ID" "$CPUSET/ember"; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	"$IP" netns del my_netns
	rm -rf /srv/jailer/ember /usr/bin/ember
}
