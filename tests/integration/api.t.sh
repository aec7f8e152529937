# Integration cases for the Firecracker-compatible API: Ember driven only by `curl
# --unix-socket`, as a script that drives Firecracker would (configure, start, pause,
# resume, Ctrl-Alt-Del, exit), the config-file path, and requests that must fail with
# 400 and change nothing. Needs curl on the host (the rig gets it from run-integration.sh).

# Wait (up to $2 s, default 60) for ember to exit; its status in $status.
api_wait_exit() {
	wait_exit "$api_pid" "${1:-60}"
}

# Wait (up to 30 s) for stdout to match ERE.
api_wait_out() {
	wait_out "$1" 30
}

t_api_lifecycle_pause_resume_ctrl_alt_del() {
	api_start || return
	api GET /
	expect_api 200 '"state": ?"Not started"'
	api PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/kbd_cad.elf\", \"boot_args\": \"console=ttyS0\"}"
	expect_api 204
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
	expect_api 204
	api GET /machine-config
	expect_api 200 '"mem_size_mib": ?64'
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	api GET /
	expect_api 200 '"state": ?"Running"'
	api_wait_out '^kbd_cad: waiting' || { kill "$api_pid"; return; }
	api PATCH /vm '{"state": "Paused"}'
	expect_api 204
	api GET /
	expect_api 200 '"state": ?"Paused"'
	api PATCH /vm '{"state": "Resumed"}'
	expect_api 204
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 400 'fault_message'
	api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 64}'
	expect_api 400 'not supported after starting'
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	expect_api 204
	api_wait_exit
	expect_status 0
	expect_out '^kbd_cad: ctrl-alt-del'
	[ ! -e "$SOCK" ] || _fail "the API socket is still there after exit"
}

t_api_refusals_change_nothing() {
	api_start || return
	api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
	expect_api 204
	api PUT /machine-config '{"vcpu_count": 99, "mem_size_mib": 256}'
	expect_api 400 'vcpu_count'
	api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256, "bogus": 1}'
	expect_api 400 'bogus'
	api PUT /machine-config '{"vcpu_count": "two", "mem_size_mib": 256}'
	expect_api 400 'vcpu_count'
	api PUT /machine-config '{not json'
	expect_api 400 'fault_message'
	api PUT /nowhere '{}'
	expect_api 400 'nowhere'
	api DELETE /machine-config
	expect_api 400 'fault_message'
	api PUT /drives/a%2fb '{"drive_id": "a/b", "is_root_device": false, "path_on_host": "/x"}'
	expect_api 400 'fault_message'
	api PUT /drives/d1 '{"drive_id": "d2", "is_root_device": false, "path_on_host": "/x"}'
	expect_api 400 'fault_message'
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 400 'kernel'
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	expect_api 400 'fault_message'
	api GET /machine-config
	expect_api 200 '"vcpu_count": ?2'
	_match "machine-config" "$T/body" '"mem_size_mib": ?256'
	api GET /vm/config
	expect_api 200 '"drives": ?\[\]'
	kill -TERM "$api_pid"
	api_wait_exit
	expect_status 143
	[ ! -e "$SOCK" ] || _fail "the API socket is still there after SIGTERM"
}

t_api_socket_in_use_refused() {
	api_start || return
	"$EMBER" --api-sock "$SOCK" >"$T/out2" 2>"$T/err2"
	second=$?
	[ "$second" = 2 ] || _fail "a second ember on the same socket exited $second, not 2" "$T/err2"
	_match "second ember's stderr" "$T/err2" 'in use|EADDRINUSE|already'
	api GET /version
	expect_api 200 'firecracker_version'
	kill -TERM "$api_pid"
	api_wait_exit
}

t_api_config_file_no_api() {
	cat >"$T/vm.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$GUESTS/hello.elf", "boot_args": "console=ttyS0"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}
}
JSON
	ember_run_raw() { "$EMBER" "$@" </dev/null >"$T/out" 2>"$T/err"; status=$?; }
	ember_run_raw --config-file "$T/vm.json" --no-api
	expect_status 0
	expect_out '^Hello from an Ember guest'
	printf '{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}' >"$T/bad.json"
	ember_run_raw --config-file "$T/bad.json" --no-api
	expect_status 2
	expect_err 'boot-source'
	# A refusal while configuring says its message, not the API's JSON body.
	printf '{"boot-source": {"kernel_image_path": "%s"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}' \
		"$T/no-such-kernel" >"$T/bad2.json"
	ember_run_raw --config-file "$T/bad2.json" --no-api
	expect_status 2
	expect_err "^ember: config file '.*bad2.json': .*cannot open kernel '.*no-such-kernel'"
	expect_no_err 'fault_message'
	ember_run_raw --no-api
	expect_status 2
	expect_err 'config-file'
}

t_api_linux_guest_like_firecracker() {
	# Firecracker's getting-started sequence, with Ember's default guest; the command
	# rides in the initrd (the API has no `-- CMD`).
	[ -f "${GUEST_DIR:-}/vmlinux" ] || _fail "no default guest in GUEST_DIR"
	sh "$CMD_INITRD" "$GUEST_DIR/initrd.cpio" "$T/initrd.cpio" sh -c \
		'cat /proc/cmdline; head -c 4 /dev/vda; echo' || _fail "cannot build the initrd"
	printf 'EMBR' >"$T/disk.img"
	dd if=/dev/zero of="$T/disk.img" bs=512 seek=1 count=2047 2>/dev/null
	api_start || return
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/vmlinux\", \"initrd_path\": \"$T/initrd.cpio\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off loglevel=3 api.t=1\"}"
	expect_api 204
	api PUT /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$T/disk.img\", \"is_root_device\": false, \"is_read_only\": true}"
	expect_api 204
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
	expect_api 204
	api PUT /entropy '{}'
	expect_api 204
	api GET /vm/config
	expect_api 200 '"drive_id": ?"scratch"'
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	api_wait_exit 120
	expect_status 0
	expect_out 'api\.t=1'
	expect_out '^EMBR'
}

t_api_logger_and_metrics() {
	api_start --id test-vm --log-path "$T/log" --level Info --metrics-path "$T/metrics" || return
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
	expect_api 204
	api PUT /machine-config '{"vcpu_count": 0, "mem_size_mib": 64}'
	expect_api 400
	# Before InstanceStart Firecracker refuses FlushMetrics: the line comes at exit.
	api PUT /actions '{"action_type": "FlushMetrics"}'
	expect_api 400 'not supported before starting the microVM'
	api GET /
	expect_api 200 '"id": ?"test-vm"'
	# The refused request is logged with its reason, in Firecracker's line format.
	_match "log" "$T/log" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9} \[test-vm:vmm\] API put_machine_config: 204$'
	_match "log" "$T/log" 'test-vm.*API put_machine_config: 400 .*vcpu_count'
	# The logger again (Firecracker allows it before boot): a new file, the level shown.
	api PUT /logger "{\"log_path\": \"$T/log2\", \"show_level\": true}"
	expect_api 204
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 96}'
	expect_api 204
	_match "log2" "$T/log2" '\[test-vm:vmm:INFO\] API put_machine_config: 204'
	kill -TERM "$api_pid"
	api_wait_exit
	# The line at exit: the refused request counts too, as a failure (Firecracker's names).
	_match "metrics" "$T/metrics" '"machine_cfg_count":3,"machine_cfg_fails":1'
}

t_api_level_debug_without_a_log_file() {
	# --level without --log-path: the lines go to stderr, Debug ones included; refusals
	# (a bad body, an unknown path) are logged and counted like any request.
	api_start --level Debug --metrics-path "$T/metrics" || return
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64, "bogus": 1}'
	expect_api 400
	api PUT /nowhere '{}'
	expect_api 400
	api GET /machine-config
	expect_api 200
	expect_err 'API put_machine_config: 400 .*bogus'
	expect_err 'API request: 400 .*nowhere'
	expect_err 'API request GET /machine-config'
	expect_err 'API get_machine_config: reply \{'
	kill -TERM "$api_pid"
	api_wait_exit
	_match "metrics" "$T/metrics" '"machine_cfg_count":1,"machine_cfg_fails":1'
}

t_api_linux_ctrl_alt_del_powers_off() {
	# The keys reach Linux's i8042/atkbd driver, the kernel hands Ctrl-Alt-Del to PID 1
	# (the init disabled the immediate reboot), and the init powers off with status 0.
	[ -f "${GUEST_DIR:-}/vmlinux" ] || _fail "no default guest in GUEST_DIR"
	sh "$CMD_INITRD" "$GUEST_DIR/initrd.cpio" "$T/initrd.cpio" sh -c \
		'echo guest-ready; sleep 100; echo not-stopped' || _fail "cannot build the initrd"
	api_start || return
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/vmlinux\", \"initrd_path\": \"$T/initrd.cpio\"}"
	expect_api 204
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	api_wait_out '^guest-ready' || { kill "$api_pid"; return; }
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	expect_api 204
	api_wait_exit 30
	expect_status 0
	expect_no_out 'not-stopped'
}

t_api_malformed_http_never_wedges() {
	command -v socat >/dev/null || skip "socat is not installed (scripts/install-deps.sh)"
	api_start || return
	# Send the bytes, keep the connection open a moment for the answers.
	send() { (printf "$1"; sleep 1) | socat -t 2 - "UNIX-CONNECT:$SOCK" >"$T/raw" 2>/dev/null; }
	send 'GARBAGE\r\n\r\n'
	_match "bad request line" "$T/raw" '^HTTP/1.1 400'
	send 'PUT /machine-config HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n'
	_match "oversized body" "$T/raw" 'limit is 51200'
	send 'PUT /machine-config HTTP/1.1\r\nContent-Length: -5\r\n\r\n'
	_match "bad Content-Length" "$T/raw" '^HTTP/1.1 400'
	head -c 20000 /dev/zero | tr '\0' 'a' >"$T/big"
	{ printf 'GET / HTTP/1.1\r\nX: '; cat "$T/big"; printf '\r\n\r\n'; } |
		socat -t 2 - "UNIX-CONNECT:$SOCK" >"$T/raw" 2>/dev/null
	# A 400, or a reset before the client could read it: the server closed on the 8 KiB
	# limit while the client was still sending (tests/unit/test_api_http.c checks the 400).
	[ ! -s "$T/raw" ] || _match "huge header" "$T/raw" '^HTTP/1.1 400'
	head -c 4096 /dev/urandom | socat -t 2 - "UNIX-CONNECT:$SOCK" >/dev/null 2>&1
	send 'GET / HTTP/1.1\r\n\r\nGET /version HTTP/1.1\r\n\r\n'
	# (a response's body is not followed by a newline: count matches, not lines)
	[ "$(grep -o 'HTTP/1.1 200' "$T/raw" | wc -l)" -eq 2 ] ||
		_fail "pipelined: not two answers" "$T/raw"
	# A truncated body waits; meanwhile other clients are served.
	printf 'PUT /machine-config HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"vcpu' |
		socat -t 3 - "UNIX-CONNECT:$SOCK" >/dev/null 2>&1 &
	slow=$!
	api GET /
	expect_api 200 '"state"'
	wait "$slow" # not a bare wait: ember itself is a background job here
	kill -0 "$api_pid" 2>/dev/null || _fail "ember died"
	kill -TERM "$api_pid"
	api_wait_exit
	expect_status 143
	expect_no_err 'AddressSanitizer|runtime error'
}

t_api_patch_drive_new_file() {
	# Firecracker's PATCH /drives: refused before boot; after it a new backing file of
	# another size, and the guest sees the new size (a configuration interrupt) and the
	# new bytes. The guest waits for the size to change, then drops its page cache so the
	# read goes to the device.
	[ -f "${GUEST_DIR:-}/vmlinux" ] || _fail "no default guest in GUEST_DIR"
	sh "$CMD_INITRD" "$GUEST_DIR/initrd.cpio" "$T/initrd.cpio" sh -c '
		echo "size $(cat /sys/block/vda/size)"; head -c 4 /dev/vda; echo; echo guest-ready
		i=0
		while [ "$(cat /sys/block/vda/size)" = 2048 ] && [ $i -lt 600 ]; do
			sleep 0.1; i=$((i + 1))
		done
		echo 3 >/proc/sys/vm/drop_caches
		echo "size $(cat /sys/block/vda/size)"; head -c 4 /dev/vda; echo
		sleep 100; echo not-stopped' ||
		_fail "cannot build the initrd"
	printf 'OLD1' >"$T/old.img"
	dd if=/dev/zero of="$T/old.img" bs=512 seek=1 count=2047 2>/dev/null
	printf 'NEW2' >"$T/new.img"
	dd if=/dev/zero of="$T/new.img" bs=512 seek=1 count=4095 2>/dev/null
	api_start || return
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/vmlinux\", \"initrd_path\": \"$T/initrd.cpio\"}"
	expect_api 204
	api PUT /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$T/old.img\", \"is_root_device\": false, \"is_read_only\": true}"
	expect_api 204
	api PATCH /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$T/new.img\"}"
	expect_api 400 'not supported before starting the microVM'
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	api_wait_out '^guest-ready' || { kill "$api_pid"; return; }
	api PATCH /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$T/nope.img\"}"
	expect_api 400 'nope\.img'
	api PATCH /drives/scratch '{"drive_id": "scratch"}'
	expect_api 400 'nothing to change'
	api PATCH /drives/other "{\"drive_id\": \"other\", \"path_on_host\": \"$T/new.img\"}"
	expect_api 400 "no drive with the id 'other'"
	api GET /vm/config
	expect_api 200 'old\.img'
	api PATCH /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$T/new.img\"}"
	expect_api 204
	api GET /vm/config
	expect_api 200 'new\.img'
	api_wait_out '^NEW2' || { kill "$api_pid"; return; }
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	expect_api 204
	api_wait_exit 60
	expect_status 0
	expect_out '^size 2048'
	expect_out '^OLD1'
	expect_out '^size 4096'
	expect_no_out 'not-stopped'
}

t_api_serial_out_path() {
	# PUT /serial: the console goes to the file, not stdout; before boot only.
	api_start || return
	api PUT /serial "{\"serial_out_path\": \"$T/nodir/console\"}"
	expect_api 400 'nodir'
	api PUT /serial "{\"serial_out_path\": \"$T/console\"}"
	expect_api 204
	api PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/kbd_cad.elf\", \"boot_args\": \"console=ttyS0\"}"
	expect_api 204
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	for _i in $(seq 1 300); do
		grep -q '^kbd_cad: waiting' "$T/console" 2>/dev/null && break
		sleep 0.1
	done
	api PUT /serial "{\"serial_out_path\": \"$T/console2\"}"
	expect_api 400 'not supported after starting'
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	expect_api 204
	api_wait_exit
	expect_status 0
	_match "serial_out_path" "$T/console" '^kbd_cad: ctrl-alt-del'
	expect_no_out 'kbd_cad'
}

t_api_patch_net_after_boot() {
	# PATCH /network-interfaces: after boot only; its rate limiters change the running
	# device and GET /vm/config shows them; an empty one is 204, as Firecracker's.
	netns_with_tap ptap0
	API_NETNS=$NS api_start || { netns_done; return; }
	api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "nosuchtap"}'
	expect_api 400 'nosuchtap'
	api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "ptap0"}'
	expect_api 204
	api PATCH /network-interfaces/eth0 '{"iface_id": "eth0"}'
	expect_api 400 'not supported before starting the microVM'
	api PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/kbd_cad.elf\", \"boot_args\": \"console=ttyS0\"}"
	expect_api 204
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	api_wait_out '^kbd_cad: waiting' || { kill "$api_pid"; netns_done; return; }
	api PATCH /network-interfaces/eth0 '{"iface_id": "eth0", "rx_rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}}}'
	expect_api 204
	api GET /vm/config
	expect_api 200 '"size": ?1000,'
	api PATCH /network-interfaces/eth0 '{"iface_id": "eth0", "tx_rate_limiter": {"bandwidth": {"size": -1, "refill_time": 100}}}'
	expect_api 400 "size"
	api PATCH /network-interfaces/eth1 '{"iface_id": "eth1"}'
	expect_api 400 "no network interface with the id 'eth1'"
	api PATCH /network-interfaces/eth0 '{"iface_id": "eth0"}'
	expect_api 204
	api PUT /actions '{"action_type": "FlushMetrics"}'
	expect_api 400 'metrics are not configured'
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	expect_api 204
	api_wait_exit
	expect_status 0
	netns_done
}

# "hg" or "nohg": whether the 64 MiB mapping (guest RAM) of process $1 is advised for
# transparent huge pages (smaps' VmFlags).
# The 64 MiB guest RAM's advice: "nohg" unadvised, one mapping; "hg" advised for huge pages
# but for its low 4 MiB, a mapping of their own advised against them (gm_advise_huge).
api_ram_advice() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { split($1, r, "-"); start = r[1]; end = r[2]; sz = 0 }
	     /^Size:/ { sz = $2 }
	     /^VmFlags:/ {
		if (sz == 65536) print ($0 ~ / hg/) ? "hg" : "nohg"
		if (sz == 4096 && $0 ~ / nh/) low_end[end] = 1
		if (sz == 61440 && $0 ~ / hg/ && (start in low_end)) print "hg"
	     }' "/proc/$1/smaps"
}

t_api_huge_pages_advice() {
	# huge_pages "None" (the default) leaves guest RAM unadvised; "Transparent" advises it
	# (all but its low 4 MiB).
	for hp in None Transparent; do
		api_start || return
		api PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/kbd_cad.elf\", \"boot_args\": \"console=ttyS0\"}"
		expect_api 204
		api PUT /machine-config "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"huge_pages\": \"$hp\"}"
		expect_api 204
		api GET /vm/config
		expect_api 200 "\"huge_pages\": ?\"$hp\""
		api PUT /actions '{"action_type": "InstanceStart"}'
		expect_api 204
		api_wait_out '^kbd_cad: waiting' || { kill "$api_pid"; return; }
		got=$(api_ram_advice "$api_pid")
		want=nohg
		[ "$hp" = Transparent ] && want=hg
		[ "$got" = "$want" ] || _fail "huge_pages $hp: guest RAM is '$got', not '$want'"
		api PUT /actions '{"action_type": "SendCtrlAltDel"}'
		expect_api 204
		api_wait_exit
		expect_status 0
	done
}
