# Virtio integration tests: the guests of tests/guests/ with their own polling
# virtio-mmio driver (tests/guests/virtio.c) drive Ember's devices: vlist (what is
# announced), vblk, vrng, vnet, and vhostile (one malformed request or queue per mode).
# Each guest's header comment lists its markers; guest check failures print "FAIL" and
# exit 3, a missing device exits 4.
# shellcheck shell=sh
# shellcheck disable=SC2154 # T, GUESTS and status come from the harness (lib.sh)

# --- helpers (not tests: only t_* functions are) ---

# The one stderr line of a device that met a malformed request (virtio_dev_fail).
VIRTIO_RESET_LINE='^ember: virtio-[a-z]+( [^:]+)?: .+; the device stops until the guest resets it$'
# A guest fault (docs/CONTRACTS.md): none of these tests may cause one.
VIRTIO_FAULT_LINE='^ember: vcpu [0-9]+: '
SECTOR_PAD_Z=$(printf '%0493d' 0 | tr 0 Z) # "ember sector NNNNNN" is 19 bytes of 512

# virtio_expect_count out|err N ERE: exactly N lines of $T/out or $T/err match ERE. A
# miscount goes through expect_out/expect_err with a pattern that cannot match (it ends
# in an anchor, ^), so the harness records it with a message saying what was wanted.
virtio_expect_count() {
	_n=$(grep -cE -- "$3" "$T/$1" 2>/dev/null)
	[ "${_n:-0}" -eq "$2" ] && return 0
	"expect_$1" "($3) $2 times, found ${_n:-0}^"
}

# The guest ended by itself with status 0: no fault, no device failure, no FAIL line.
virtio_expect_clean() {
	expect_status 0
	expect_no_err "$VIRTIO_FAULT_LINE"
	virtio_expect_count err 0 "$VIRTIO_RESET_LINE"
	expect_no_out 'FAIL'
}

# virtio_disk FILE SECTORS: a raw image whose sector s reads "ember sector %06d" (s),
# then 'Z' up to 512 bytes (what vblk expects).
virtio_disk() {
	awk -v n="$2" -v pad="$SECTOR_PAD_Z" \
		'BEGIN { for (i = 0; i < n; i++) printf "ember sector %06d%s", i, pad }' >"$1"
}

# virtio_written FILE SECTOR: FILE as vblk leaves it after writing SECTOR ("vblk wrote
# %06d", then 'W' up to 512 bytes), every other sector as before; to $T/expected.img.
virtio_written() {
	{
		dd if="$1" bs=512 count="$2" 2>/dev/null
		awk -v s="$2" 'BEGIN { x = sprintf("vblk wrote %06d", s)
			while (length(x) < 512) x = x "W"; printf "%s", x }'
		dd if="$1" bs=512 skip=$(($2 + 1)) 2>/dev/null
	} >"$T/expected.img"
}

# virtio_same WHAT A B: files A and B are byte for byte equal.
virtio_same() {
	cmp "$2" "$3" >"$T/.cmp" 2>&1 || _fail "$1: $(cat "$T/.cmp")"
}

# --- what is announced (vlist) ---

# `ember run` has a virtio-rng by default: one device, in the first window.
t_vlist_default() {
	ember_run --kernel "$GUESTS/vlist.elf"
	virtio_expect_clean
	virtio_expect_count out 1 '^vlist: 0x'
	expect_out '^vlist: 0xd0000000 irq 5 id 4 version 2 qmax 256 features 0x[0-9a-f]+$'
	expect_out '^vlist: 1 devices$'
}

t_vlist_no_rng() {
	ember_run --kernel "$GUESTS/vlist.elf" --no-rng
	virtio_expect_clean
	expect_out '^vlist: 0 devices$'
}

# Drives first in command-line order, then the rng; windows and IRQs one after another.
t_vlist_order() {
	virtio_disk "$T/a.img" 16
	virtio_disk "$T/b.img" 16
	ember_run --kernel "$GUESTS/vlist.elf" --drive "path=$T/a.img" --drive "path=$T/b.img,ro"
	virtio_expect_clean
	sed -n 's/^\(vlist: 0x[0-9a-f]* irq [0-9]* id [0-9]*\) .*/\1/p' "$T/out" >"$T/list"
	printf '%s\n' 'vlist: 0xd0000000 irq 5 id 2' 'vlist: 0xd0001000 irq 6 id 2' \
		'vlist: 0xd0002000 irq 7 id 4' >"$T/list.want"
	virtio_same "the device list" "$T/list.want" "$T/list"
	expect_out '^vlist: 3 devices$'
}

# --- virtio-rng ---

t_vrng() {
	ember_run --kernel "$GUESTS/vrng.elf"
	virtio_expect_clean
	expect_out '^vrng: device 0xd0000000 irq 5$'
	virtio_expect_count out 2 '^vrng: got [0-9]+ bytes$'
	expect_out '^vrng: ok$'
}

t_vrng_absent() {
	ember_run --kernel "$GUESTS/vrng.elf" --no-rng
	expect_status 4
	expect_out '^vrng: no virtio-rng device$'
}

# --- virtio-blk ---

t_vblk_rw() {
	virtio_disk "$T/disk.img" 2048
	virtio_written "$T/disk.img" 5
	ember_run --kernel "$GUESTS/vblk.elf" --drive "path=$T/disk.img,id=testdisk"
	virtio_expect_clean
	expect_out '^vblk: device 0xd0000000 irq 5$'
	expect_out '^vblk: capacity 2048 sectors$'
	expect_out '^vblk: sector 0 ok$'
	expect_out '^vblk: sector 2047 ok$'
	expect_out '^vblk: 16 sectors in 8 segments ok$'
	expect_out '^vblk: 4 sectors indirect ok$'
	expect_out '^vblk: id testdisk$'
	expect_out '^vblk: past the end ioerr ok$'
	expect_out '^vblk: unknown type unsupp ok$'
	expect_out '^vblk: wrote sector 5$'
	expect_out '^vblk: flush ok$'
	expect_out '^vblk: read back sector 5 ok$'
	expect_out '^vblk: ok$'
	# On the host: sector 5 holds what the guest wrote, and nothing else changed.
	virtio_same "the image after the guest's write" "$T/expected.img" "$T/disk.img"
}

# A flushed write is in the image once the flush completed: the guest writes, flushes and
# reads back, then spins; Ember is killed with SIGKILL (no teardown, nothing of its own
# runs) and the image on the host holds the write.
t_vblk_flush_survives_sigkill() {
	virtio_disk "$T/disk.img" 2048
	virtio_written "$T/disk.img" 7
	"$EMBER" run --kernel "$GUESTS/vblk.elf" --drive "path=$T/disk.img,id=testdisk" \
		--append 'vblk.write=7 vblk.hold=1' </dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	wait_out '^vblk: holding$' 60
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	status=$?
	expect_status 137
	expect_out '^vblk: flush ok$'
	expect_out '^vblk: read back sector 7 ok$'
	expect_no_out 'FAIL'
	virtio_same "the image after SIGKILL" "$T/expected.img" "$T/disk.img"
}

t_vblk_ro() {
	virtio_disk "$T/disk.img" 64
	cp "$T/disk.img" "$T/orig.img"
	ember_run --kernel "$GUESTS/vblk.elf" --drive "path=$T/disk.img,ro,id=rodisk" \
		--append 'vblk.mode=ro vblk.write=9'
	virtio_expect_clean
	expect_out '^vblk: capacity 64 sectors$'
	expect_out '^vblk: id rodisk$'
	expect_out '^vblk: read-only$'
	expect_out '^vblk: write refused ioerr$'
	expect_out '^vblk: sector 9 unchanged$'
	expect_out '^vblk: ok$'
	virtio_same "the read-only image" "$T/orig.img" "$T/disk.img"
}

# The second of two drives is the second window, and only it is written.
t_vblk_second_drive() {
	virtio_disk "$T/a.img" 32
	virtio_disk "$T/b.img" 48
	cp "$T/a.img" "$T/a.orig"
	virtio_written "$T/b.img" 40
	ember_run --kernel "$GUESTS/vblk.elf" --drive "path=$T/a.img,id=first" \
		--drive "path=$T/b.img,id=second" --append 'vblk.index=1 vblk.write=40'
	virtio_expect_clean
	expect_out '^vblk: device 0xd0001000 irq 6$'
	expect_out '^vblk: capacity 48 sectors$'
	expect_out '^vblk: id second$'
	expect_out '^vblk: ok$'
	virtio_same "the first image" "$T/a.orig" "$T/a.img"
	virtio_same "the second image" "$T/expected.img" "$T/b.img"
}

# The root drive takes the first window whatever its place on the command line (Linux
# names disks in probe order, so it becomes /dev/vda); the others follow in order.
t_vblk_root_first() {
	virtio_disk "$T/a.img" 16
	virtio_disk "$T/b.img" 24
	ember_run --kernel "$GUESTS/vblk.elf" --drive "path=$T/a.img,id=data" \
		--drive "path=$T/b.img,id=rootfs,root"
	virtio_expect_clean
	expect_out '^vblk: device 0xd0000000 irq 5$'
	expect_out '^vblk: capacity 24 sectors$'
	expect_out '^vblk: id rootfs$'
	expect_out '^vblk: ok$'
}

# Without id= the drive is named by its position.
t_vblk_default_id() {
	virtio_disk "$T/disk.img" 16
	ember_run --kernel "$GUESTS/vblk.elf" --drive "path=$T/disk.img"
	virtio_expect_clean
	expect_out '^vblk: id drive0$'
	expect_out '^vblk: ok$'
}

t_vblk_missing_file() {
	ember_run --kernel "$GUESTS/vblk.elf" --drive "path=$T/nonexistent.img"
	expect_status 2
	expect_err "^ember: .*nonexistent\\.img"
	expect_no_out '^vblk:'
}

# --- virtio-net: a tap in a network namespace of the test's own ---

# virtio_need_tap: skip unless this test can make a network namespace with a tap.
virtio_need_tap() {
	[ "$(id -u)" = 0 ] || skip "needs root for a network namespace and a tap"
	command -v unshare >/dev/null 2>&1 || skip "needs unshare(1)"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun (in the rig: tun.ko must be loaded)"
	unshare -n true 2>/dev/null || skip "cannot make a network namespace (unshare -n)"
}

# Writes $T/ember-netns, which runs ember in a new network namespace holding a tap
# "vtap0" at 10.0.2.1/24; afterwards the tap's address and counters are in $T/tap.
virtio_netns_wrapper() {
	cat >"$T/netns.sh" <<EOF
# The tap: iproute2's ip by its path (in the rig, busybox sh runs its own ip applet,
# which has no tuntap, for a bare "ip"), else busybox tunctl.
{ /usr/sbin/ip tuntap add dev vtap0 mode tap || /sbin/ip tuntap add dev vtap0 mode tap ||
	tunctl -t vtap0; } >/dev/null 2>&1 || { echo "netns.sh: cannot make tap vtap0" >&2; exit 90; }
ip link set lo up && ip addr add 10.0.2.1/24 dev vtap0 && ip link set vtap0 up || exit 91
"$EMBER" "\$@" &
pid=\$!
trap 'kill -TERM \$pid' TERM INT
wait \$pid
st=\$?
while kill -0 \$pid 2>/dev/null; do wait \$pid; st=\$?; done
# Not /sys/class/net: sysfs shows the namespace it was mounted in. /proc/net/dev has,
# after "vtap0:", received bytes and packets first and sent ones from the ninth field.
{
	ip link show vtap0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/address \1/p'
	sed -n 's/^ *vtap0: *//p' /proc/net/dev | awk '{ print "rx_packets", \$2; print "tx_packets", \$10 }'
} >"$T/tap"
exit \$st
EOF
	printf '#!/bin/sh\nexec unshare -n sh %s "$@"\n' "$T/netns.sh" >"$T/ember-netns"
	chmod +x "$T/ember-netns"
}

t_vnet() {
	virtio_need_tap
	virtio_netns_wrapper
	EMBER=$T/ember-netns ember_run --kernel "$GUESTS/vnet.elf" \
		--net tap=vtap0,mac=52:54:00:12:34:56
	virtio_expect_clean
	expect_out '^vnet: device 0xd0000000 irq 5$'
	expect_out '^vnet: mac 52:54:00:12:34:56$'
	expect_out '^vnet: sent arp request for 10.0.2.1$'
	expect_out '^vnet: received [0-9]+ bytes$'
	_mac=$(sed -n 's/^address //p' "$T/tap" 2>/dev/null)
	[ -n "$_mac" ] || _fail "no tap address recorded" "$T/tap" "$T/err"
	expect_out "^vnet: arp reply from 10.0.2.1 at $_mac\$"
	expect_out '^vnet: sent ping to 10.0.2.1$'
	expect_out '^vnet: ping reply from 10.0.2.1, 33 bytes of payload intact$'
	expect_out '^vnet: ok$'
	# The host saw the guest's two frames and sent it at least the two replies.
	_rx=$(sed -n 's/^rx_packets //p' "$T/tap" 2>/dev/null)
	_tx=$(sed -n 's/^tx_packets //p' "$T/tap" 2>/dev/null)
	[ "${_rx:-0}" -ge 2 ] || _fail "the tap received ${_rx:-0} frames, expected 2 or more" "$T/tap"
	[ "${_tx:-0}" -ge 2 ] || _fail "the tap sent ${_tx:-0} frames, expected 2 or more" "$T/tap"
}

# --- hostile drivers (vhostile) ---

# virtio_hostile MODE WHY_ERE [blk|rng]: the device refuses the malformed MODE with one
# stderr line (whose reason matches WHY_ERE), is reset by the guest and serves again;
# the guest ends normally.
virtio_hostile() {
	virtio_disk "$T/disk.img" 16
	if [ "${3:-blk}" = rng ]; then
		ember_run --kernel "$GUESTS/vhostile.elf" --append "vhostile.mode=$1 vhostile.dev=rng"
		_dev='virtio-rng'
	else
		ember_run --kernel "$GUESTS/vhostile.elf" --drive "path=$T/disk.img,id=hd" \
			--no-rng --append "vhostile.mode=$1"
		_dev='virtio-blk hd'
	fi
	expect_status 0
	expect_no_err "$VIRTIO_FAULT_LINE"
	virtio_expect_count err 1 "$VIRTIO_RESET_LINE"
	expect_err "^ember: $_dev: .*($2).*; the device stops until the guest resets it\$"
	expect_out "^vhostile: $1: needs reset\$"
	expect_out "^vhostile: $1: served after reset\$"
	expect_out "^vhostile: $1 ok\$"
	expect_no_out 'FAIL'
}

# virtio_hostile_harmless MODE: not a malformed request; the device goes on serving.
virtio_hostile_harmless() {
	virtio_disk "$T/disk.img" 16
	ember_run --kernel "$GUESTS/vhostile.elf" --drive "path=$T/disk.img,id=hd" \
		--append "vhostile.mode=$1"
	virtio_expect_clean
	expect_out "^vhostile: $1: still serving\$"
	expect_out "^vhostile: $1 ok\$"
}

t_hostile_desc_loop()            { virtio_hostile desc_loop 'loop'; }
t_hostile_next_out_of_range()    { virtio_hostile next_out_of_range 'out of range'; }
t_hostile_chain_too_long()       { virtio_hostile chain_too_long 'longer than the queue'; }
t_hostile_addr_outside_ram()     { virtio_hostile addr_outside_ram 'outside guest RAM'; }
t_hostile_len_wraps()            { virtio_hostile len_wraps 'outside guest RAM'; }
t_hostile_indirect_self()        { virtio_hostile indirect_self 'indirect'; }
t_hostile_indirect_bad_len()     { virtio_hostile indirect_bad_len 'multiple of 16'; }
t_hostile_indirect_zero_len()    { virtio_hostile indirect_zero_len 'zero'; }
t_hostile_indirect_next()        { virtio_hostile indirect_next 'NEXT'; }
t_hostile_indirect_outside_ram() { virtio_hostile indirect_outside_ram 'outside guest RAM'; }
t_hostile_indirect_unnegotiated() { virtio_hostile indirect_unnegotiated 'without INDIRECT_DESC'; }
t_hostile_write_then_read()      { virtio_hostile write_then_read 'readable buffer follows'; }
t_hostile_write_only_header()    { virtio_hostile write_only_header 'header'; }
t_hostile_head_out_of_range()    { virtio_hostile head_out_of_range 'out of range'; }
t_hostile_avail_idx_jump()       { virtio_hostile avail_idx_jump 'avail index'; }
t_hostile_qsize_not_pow2()       { virtio_hostile qsize_not_pow2 'power of two'; }
t_hostile_qsize_too_big()        { virtio_hostile qsize_too_big 'QueueNumMax'; }
t_hostile_ring_outside_ram()     { virtio_hostile ring_outside_ram 'outside guest RAM'; }
t_hostile_driver_ok_early()      { virtio_hostile driver_ok_early 'without FEATURES_OK'; }
t_hostile_notify_unconfigured()  { virtio_hostile_harmless notify_unconfigured; }
t_hostile_queue_sel_out_of_range() { virtio_hostile_harmless queue_sel_out_of_range; }
t_hostile_features_refused()     { virtio_hostile_harmless features_refused; }
t_hostile_live_queue_rewrite()   { virtio_hostile_harmless live_queue_rewrite; }
t_hostile_config_out_of_range()  { virtio_hostile_harmless config_out_of_range; }

# The same checks guard every device: a few modes on the rng.
t_hostile_rng_desc_loop()        { virtio_hostile desc_loop 'loop' rng; }
t_hostile_rng_indirect_self()    { virtio_hostile indirect_self 'indirect' rng; }
t_hostile_rng_addr_outside_ram() { virtio_hostile addr_outside_ram 'outside guest RAM' rng; }
t_hostile_rng_avail_idx_jump()   { virtio_hostile avail_idx_jump 'avail index' rng; }
