# Integration cases for virtio devices under the default Linux guest (Debian's kernel
# finds them through ACPI): disks (raw writes reach the host file after sync, an ext4
# root, read-only drives, discard), a network interface on a tap in a network namespace
# each test creates itself (private 10.0.2.0/24 addresses only there), and vsock in both
# directions through Firecracker-style Unix sockets. Needs $GUEST_DIR, and ip, mkfs.ext4,
# debugfs and socat on the host (tests/run-integration.sh puts them into the rig).

dev_guest() {
	[ -n "${GUEST_DIR:-}" ] && [ -f "$GUEST_DIR/vmlinux" ] && [ -f "$GUEST_DIR/initrd.cpio" ] ||
		_fail "GUEST_DIR='${GUEST_DIR:-}' has no vmlinux and initrd.cpio (make guest)"
}

dev_run() {
	dev_guest || return 1
	ember_run --kernel "$GUEST_DIR/vmlinux" --initrd "$GUEST_DIR/initrd.cpio" "$@"
}

dev_need() {
	for _t in "$@"; do
		command -v "$_t" >/dev/null || skip "$_t is not installed (scripts/install-deps.sh)"
	done
}

# A raw image of $2 MiB at $1, filled with zeroes.
dev_image() {
	dd if=/dev/zero of="$1" bs=1M count="$2" 2>/dev/null
}

# --- virtio-blk ---

t_dev_blk_write_reaches_host() {
	dev_image "$T/disk.img" 8
	printf 'host-pattern-0123' | dd of="$T/disk.img" bs=512 seek=7 conv=notrunc 2>/dev/null
	dev_run --drive "path=$T/disk.img,id=scratch" -- sh -c '
		cat /sys/block/vda/size; cat /sys/block/vda/serial; echo
		dd if=/dev/vda bs=512 skip=7 count=1 2>/dev/null | head -c 17; echo
		printf "guest-wrote-this" | dd of=/dev/vda bs=512 seek=100 conv=fsync 2>/dev/null
		echo dd=$?'
	expect_status 0
	expect_out '^16384$'
	expect_out '^scratch$'
	expect_out '^host-pattern-0123$'
	expect_out '^dd=0$'
	expect_no_err '.'
	got=$(dd if="$T/disk.img" bs=512 skip=100 count=1 2>/dev/null | head -c 16)
	[ "$got" = guest-wrote-this ] || _fail "the host file holds '$got' at sector 100"
}

# An ext4 image at $1 holding a static busybox and a marker file: a root file system.
dev_rootfs() {
	rm -rf "$T/root"
	mkdir -p "$T/root/bin" "$T/root/proc" "$T/root/sys" "$T/root/dev" "$T/root/tmp"
	cp /bin/busybox "$T/root/bin/busybox"
	for a in sh cat echo sync ls mount grep; do ln -s busybox "$T/root/bin/$a"; done
	echo 'from the ext4 image' >"$T/root/marker"
	mkfs.ext4 -q -F -d "$T/root" "$1" 32M || _fail "mkfs.ext4 failed"
}

t_dev_blk_ext4_root() {
	dev_need mkfs.ext4 debugfs
	dev_rootfs "$T/root.img" || return
	dev_run --drive "path=$T/root.img,root" -- sh -c '
		cat /marker; grep " / " /proc/mounts; echo written-by-guest >/new; sync'
	expect_status 0
	expect_out '^from the ext4 image$'
	expect_out '^/dev/vda / ext4 rw'
	expect_no_err '.'
	got=$(debugfs -R 'cat /new' "$T/root.img" 2>/dev/null)
	[ "$got" = written-by-guest ] || _fail "the image's /new holds '$got'"
}

t_dev_blk_read_only() {
	dev_image "$T/ro.img" 4
	printf 'keep' | dd of="$T/ro.img" bs=512 conv=notrunc 2>/dev/null
	before=$(md5sum <"$T/ro.img")
	dev_run --drive "path=$T/ro.img,ro" -- sh -c '
		cat /sys/block/vda/ro
		dd if=/dev/vda bs=4 count=1 2>/dev/null; echo
		printf xxxx | dd of=/dev/vda bs=512 conv=fsync 2>/dev/null; echo dd=$?'
	expect_status 0
	expect_out '^1$'
	expect_out '^keep$'
	expect_no_out '^dd=0$'
	[ "$(md5sum <"$T/ro.img")" = "$before" ] || _fail "the read-only image changed"
}

t_dev_blk_discard_frees_blocks() {
	# A file with real blocks; the guest discards it all; the host file keeps its size
	# and loses its blocks (fallocate punch).
	dd if=/dev/urandom of="$T/d.img" bs=1M count=8 2>/dev/null
	dev_run --drive "path=$T/d.img" -- sh -c 'blkdiscard /dev/vda; echo discard=$?; sync'
	expect_status 0
	expect_out '^discard=0$'
	[ "$(wc -c <"$T/d.img")" -eq 8388608 ] || _fail "the image changed size"
	kb=$(du -k "$T/d.img" | cut -f1)
	[ "$kb" -lt 1024 ] || _fail "the image still uses $kb KiB after the discard"
}

t_dev_blk_two_drives_root_first() {
	dev_need mkfs.ext4
	dev_rootfs "$T/a.img" || return
	dev_image "$T/b.img" 2
	# The root drive is named second but becomes vda.
	dev_run --drive "path=$T/b.img,id=data" --drive "path=$T/a.img,id=rootdisk,root" \
		-- sh -c 'cat /sys/block/vda/serial; echo; cat /sys/block/vdb/serial; echo'
	expect_status 0
	expect_out '^rootdisk$'
	expect_out '^data$'
}

t_dev_blk_missing_file_refused() {
	dev_run --drive "path=$T/nope.img" -- true
	expect_status 2
	expect_err "nope\.img"
}

# --- virtio-net: a tap in a namespace this test creates ---

dev_netns() {
	netns_with_tap etap0
	"$IP" -n "$NS" link set lo up
	"$IP" -n "$NS" addr add 10.0.2.1/24 dev etap0
	"$IP" -n "$NS" link set etap0 up
}

dev_netns_done() {
	netns_done
}

t_dev_net_ping_and_tcp() {
	dev_need socat
	dev_netns
	head -c 3000000 /dev/urandom >"$T/down.bin"
	down=$(md5sum <"$T/down.bin" | cut -d' ' -f1)
	"$IP" netns exec "$NS" socat -u TCP-LISTEN:5001,reuseaddr "CREATE:$T/up.bin" &
	up_pid=$!
	"$IP" netns exec "$NS" socat -u "FILE:$T/down.bin" TCP-LISTEN:5002,reuseaddr &
	down_pid=$!
	# Ember opens the tap by name, so it runs inside the namespace.
	printf '#!/bin/sh\nexec %s netns exec %s %s "$@"\n' "$IP" "$NS" "$EMBER" >"$T/ember-in-ns"
	chmod +x "$T/ember-in-ns"
	EMBER=$T/ember-in-ns EMBER_RUN_TIMEOUT=120 ember_run --kernel "$GUEST_DIR/vmlinux" \
		--initrd "$GUEST_DIR/initrd.cpio" --mem 256 \
		--net "tap=etap0,mac=06:00:0a:00:02:02" -- sh -c '
		ip link set eth0 up; ip addr add 10.0.2.2/24 dev eth0
		cat /sys/class/net/eth0/address
		ping -c 3 -W 5 10.0.2.1 | grep -c "bytes from"
		head -c 2000000 /dev/urandom >/tmp/up.bin; echo "up-md5=$(md5sum </tmp/up.bin)"
		nc 10.0.2.1 5001 </tmp/up.bin; echo up=$?
		echo "down-md5=$(nc 10.0.2.1 5002 </dev/null | md5sum)"'
	# The upload's listener ends by itself once it has written the whole stream.
	for _i in $(seq 1 50); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.2; done
	kill "$up_pid" "$down_pid" 2>/dev/null
	wait
	kill "$down_pid" 2>/dev/null
	dev_netns_done
	expect_status 0
	expect_out '^06:00:0a:00:02:02$'
	expect_out '^3$'
	expect_out '^up=0$'
	expect_out "^down-md5=$down"
	sent=$(sed -n 's/^up-md5=\([0-9a-f]*\).*/\1/p' "$T/out")
	got=$(md5sum <"$T/up.bin" | cut -d' ' -f1)
	[ -n "$sent" ] && [ "$sent" = "$got" ] ||
		_fail "upload: guest sent $sent, host got $got ($(wc -c <"$T/up.bin") bytes)"
}

t_dev_net_missing_tap_refused() {
	dev_run --net tap=no-such-tap0 -- true
	expect_status 2
	expect_err "no-such-tap0"
}

# --- virtio-vsock ---

t_dev_vsock_guest_to_host() {
	dev_need socat
	socat "UNIX-LISTEN:$T/v.sock_6000" EXEC:cat &
	echo_pid=$!
	dev_run --vsock "cid=3,uds=$T/v.sock" -- sh -c \
		'echo hello-from-guest | ember-vsock connect 2 6000; echo rc=$?'
	kill "$echo_pid" 2>/dev/null
	expect_status 0
	expect_out '^hello-from-guest$'
	expect_out '^rc=0$'
}

t_dev_vsock_no_listener_refused() {
	dev_run --vsock "cid=3,uds=$T/v.sock" -- sh -c 'echo x | ember-vsock connect 2 6001; echo rc=$?'
	expect_status 0
	expect_out '^rc=1$'
}

t_dev_vsock_host_to_guest() {
	dev_need socat
	# Keep trying until the guest listens: "CONNECT 5000" before that gets a reset.
	(
		for _i in $(seq 1 100); do
			if [ -S "$T/v.sock" ]; then
				printf 'CONNECT 5000\nhello-from-host\n' |
					socat -t 5 - "UNIX-CONNECT:$T/v.sock" >"$T/host.out" 2>/dev/null
				grep -q hello-from-host "$T/host.out" && exit 0
			fi
			sleep 0.3
		done
	) &
	client=$!
	dev_run --vsock "cid=3,uds=$T/v.sock" -- ember-vsock echo 5000
	wait "$client"
	expect_status 0
	_match "host side" "$T/host.out" '^OK [0-9]+$'
	_match "host side" "$T/host.out" '^hello-from-host$'
	expect_out 'ember-vsock: echoed 16 bytes'
	[ ! -e "$T/v.sock" ] || _fail "ember left its socket $T/v.sock behind"
}
