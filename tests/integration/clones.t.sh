# Clones (issue 13): several processes restore one snapshot of the default Linux guest at
# once, each with its own tap (--net-override, each tap in a network namespace of the
# test's own with the same private address 10.0.2.1) and its own vsock socket
# (--vsock-uds). Each clone gets a VMGenID of its own, announced through the Generic Event
# Device; its network and vsock work through its own tap and socket. Needs $GUEST_DIR, ip
# and socat (tests/run-integration.sh puts them into the rig).
# shellcheck shell=sh
# shellcheck disable=SC2154 # T, GUEST_DIR, IP and status come from the harness (lib.sh)

# VMGenID's generation ID: 16 bytes at 0xdfff0 (src/arch/x86/layout.h), read by the guest
# through /dev/mem (a reserved page below 1 MiB, which Linux lets root read).
CLONE_GEN='dd if=/dev/mem bs=16 skip=57343 count=1 2>/dev/null | od -An -tx1 | tr -d " \n"'

# The guest's part: its network set up, the first generation ID shown, "ready" (the
# snapshot is taken then); after a restore (the ID changed): the new ID, 16 bytes of
# /dev/urandom, the GED interrupt count, the kernel's reseed line, a ping through the tap,
# a line over vsock to the host, "done"; the same again after every later restore.
CLONE_SCRIPT="gen() { $CLONE_GEN; }
ip link set eth0 up; ip addr add 10.0.2.2/24 dev eth0
ged() { grep Ged /proc/interrupts | awk '{print \$2}'; }
g0=\$(gen); echo \"gen0 \$g0\"; echo \"ged0 \$(ged)\"
[ -d /sys/bus/acpi/devices/ACPI0013:00 ] && echo ged-device
echo ready
while :; do
while [ \"\$(gen)\" = \"\$g0\" ]; do sleep 0.2; done
g=\$(gen); echo \"gen \$g\"
echo \"rand \$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')\"
echo \"ged \$(ged)\"
dmesg | grep -i 'crng reseeded' | sed 's/^/dmesg: /'
echo \"pings \$(ping -c 2 -W 5 10.0.2.1 | grep -c 'bytes from')\"
echo \"vsock-from \$g\" | ember-vsock connect 2 6000; echo \"vsock=\$?\"
echo done
g0=\$g
done"

# clones_ns K: namespace ember-cK-$$ with tap ctapK at 10.0.2.1/24, up.
clones_ns() {
	_ns=ember-c$1-$$
	"$IP" netns add "$_ns" || skip "cannot create a network namespace"
	"$IP" -n "$_ns" tuntap add dev "ctap$1" mode tap || skip "no tap support"
	"$IP" -n "$_ns" link set lo up
	"$IP" -n "$_ns" addr add 10.0.2.1/24 dev "ctap$1"
	"$IP" -n "$_ns" link set "ctap$1" up
	CLONE_NSES="$CLONE_NSES $_ns"
}

clones_done() {
	for _p in $CLONE_PIDS; do kill "$_p" 2>/dev/null; done
	for _p in $CLONE_PIDS; do wait "$_p" 2>/dev/null; done
	for _n in $CLONE_NSES; do "$IP" netns del "$_n" 2>/dev/null; done
}

# clones_run N: snapshot the guest running CLONE_SCRIPT (in namespace 0, on ctap0, vsock
# $T/v0.sock), then N clones restored at once, clone K in namespace K on ctapK with
# $T/cK.sock (the third of three through the API: clone_api); their stdout in $T/cK.out,
# what each sent over vsock in $T/cK.vsock. Fails (returns 1) if the snapshot or a clone's
# "done" does not come.
clones_run() {
	need_iproute2
	[ -c /dev/net/tun ] || skip "no /dev/net/tun (tun module not loaded)"
	command -v socat >/dev/null || skip "socat is not installed (scripts/install-deps.sh)"
	[ -f "${GUEST_DIR:-}/vmlinux" ] || { _fail "no default guest in GUEST_DIR"; return 1; }
	mkdir -p /run/netns 2>/dev/null
	CLONE_NSES='' CLONE_PIDS=''
	trap clones_done EXIT
	for k in $(seq 0 "$1"); do clones_ns "$k"; done
	"$IP" netns exec "ember-c0-$$" "$EMBER" run --snapshot-to "$T/state,$T/mem" \
		--kernel "$GUEST_DIR/vmlinux" --initrd "$GUEST_DIR/initrd.cpio" --mem 128 \
		--net "id=eth0,tap=ctap0,mac=06:00:0a:00:02:02" --vsock "cid=3,uds=$T/v0.sock" \
		-- sh -c "$CLONE_SCRIPT" </dev/null >"$T/out" 2>"$T/err" &
	_pid=$!
	wait_out '^ready' 180 || { kill "$_pid"; wait "$_pid"; return 1; }
	kill -USR2 "$_pid"
	wait_exit "$_pid" 60
	cp "$T/out" "$T/before"
	[ -s "$T/state" ] && [ -s "$T/mem" ] || { _fail "no snapshot" "$T/err"; return 1; }
	for k in $(seq 1 "$1"); do
		socat -u "UNIX-LISTEN:$T/c$k.sock_6000" "CREATE:$T/c$k.vsock" &
		CLONE_PIDS="$CLONE_PIDS $!"
	done
	for k in $(seq 1 "$1"); do
		if [ "$k" -ge 3 ] && [ "$k" -eq "$1" ]; then
			clone_api "$k" || return 1
			continue
		fi
		# Clone 1 can be snapshotted in turn (clone_again).
		"$IP" netns exec "ember-c$k-$$" "$EMBER" restore --net-override "eth0=ctap$k" \
			--vsock-uds "$T/c$k.sock" --snapshot-to "$T/c$k.state,$T/c$k.mem" \
			"$T/state" "$T/mem" </dev/null >"$T/c$k.out" 2>"$T/c$k.err" &
		CLONE_PIDS="$CLONE_PIDS $!"
		[ "$k" -eq 1 ] && CLONE1_PID=$!
	done
	for k in $(seq 1 "$1"); do
		_n=1800
		while [ $_n -gt 0 ] && ! grep -q '^done' "$T/c$k.out"; do
			sleep 0.1
			_n=$((_n - 1))
		done
		grep -q '^done' "$T/c$k.out" ||
			{ _fail "clone $k never finished" "$T/c$k.out" "$T/c$k.err"; return 1; }
	done
}

# clone_api K: clone K through Firecracker's API instead: PUT /snapshot/load with its tap in
# network_overrides and its socket in vsock_override (its console in $T/out, as $T/cK.out).
clone_api() {
	API_NETNS=ember-c$1-$$ api_start || return 1
	CLONE_PIDS="$CLONE_PIDS $api_pid"
	ln -sf "$T/out" "$T/c$1.out"
	ln -sf "$T/err" "$T/c$1.err"
	api PUT /snapshot/load "{\"snapshot_path\": \"$T/state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$T/mem\"}, \"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"ctap$1\"}], \"vsock_override\": {\"uds_path\": \"$T/c$1.sock\"}, \"resume_vm\": true}"
	expect_api 204
}

# clone_again: snapshot clone 1 (SIGUSR2; it was restored with --snapshot-to) and restore
# that in its namespace, on its tap, with vsock $T/c4.sock: stdout $T/c4.out, what it sent
# over vsock $T/c4.vsock.
clone_again() {
	kill -USR2 "$CLONE1_PID"
	wait_exit "$CLONE1_PID" 60
	[ -s "$T/c1.state" ] || { _fail "clone 1 left no snapshot" "$T/c1.err"; return 1; }
	socat -u "UNIX-LISTEN:$T/c4.sock_6000" "CREATE:$T/c4.vsock" &
	CLONE_PIDS="$CLONE_PIDS $!"
	"$IP" netns exec "ember-c1-$$" "$EMBER" restore --vsock-uds "$T/c4.sock" "$T/c1.state" \
		"$T/c1.mem" </dev/null >"$T/c4.out" 2>"$T/c4.err" &
	CLONE_PIDS="$CLONE_PIDS $!"
	_n=1800
	while [ $_n -gt 0 ] && ! grep -q '^done' "$T/c4.out"; do
		sleep 0.1
		_n=$((_n - 1))
	done
	grep -q '^done' "$T/c4.out" || { _fail "the clone's clone never finished" "$T/c4.out" "$T/c4.err"; return 1; }
}

# clone_field K NAME: the value of clone K's "NAME value" line.
clone_field() {
	sed -n "s/^$2 \\([^ ]*\\)\\r*\$/\\1/p" "$T/c$1.out" | tr -d '\r' | head -n 1
}

# Three clones, two by `ember restore` and one by PUT /snapshot/load: each its own
# generation ID (not the snapshot's, not another clone's), announced by one GED interrupt;
# each pings through its own tap and talks over its own vsock socket. Then a snapshot of
# clone 1, restored: yet another ID, a second interrupt, its network and vsock work.
t_clones_own_genid_net_vsock() {
	clones_run 3 || return
	expect_status 0
	_match "before the snapshot" "$T/before" '^ged-device'
	gen0=$(sed -n 's/^gen0 \([0-9a-f]*\).*/\1/p' "$T/before" | head -n 1)
	ged0=$(sed -n 's/^ged0 \([0-9]*\).*/\1/p' "$T/before" | head -n 1)
	[ ${#gen0} -eq 32 ] && [ "$gen0" != 00000000000000000000000000000000 ] ||
		_fail "the booted guest's generation ID is '$gen0'" "$T/before"
	seen=" $gen0 "
	for k in 1 2 3; do
		g=$(clone_field $k gen)
		[ ${#g} -eq 32 ] || _fail "clone $k's generation ID is '$g'" "$T/c$k.out"
		case $seen in
		*" $g "*) _fail "clone $k's generation ID $g is not new" "$T/c$k.out" ;;
		esac
		seen="$seen$g "
		[ "$(clone_field $k ged)" = $((ged0 + 1)) ] ||
			_fail "clone $k: GED interrupts $(clone_field $k ged), expected $((ged0 + 1))" "$T/c$k.out"
		[ "$(clone_field $k pings)" = 2 ] || _fail "clone $k's pings through ctap$k" "$T/c$k.out"
		_match "clone $k" "$T/c$k.out" '^vsock=0'
		_match "clone $k's vsock" "$T/c$k.vsock" "^vsock-from $g\$"
		echo "clone $k: gen $g rand $(clone_field $k rand)"
	done
	echo "snapshot: gen $gen0"
	# A restore of a restored clone's snapshot: a new ID again, a second GED interrupt.
	if clone_again; then
		g=$(clone_field 4 gen)
		case $seen in
		*" $g "*) _fail "the clone's clone has generation ID '$g', not a new one" "$T/c4.out" ;;
		esac
		[ ${#g} -eq 32 ] || _fail "the clone's clone's generation ID is '$g'" "$T/c4.out"
		[ "$(clone_field 4 ged)" = $((ged0 + 2)) ] ||
			_fail "the clone's clone: GED interrupts $(clone_field 4 ged), expected $((ged0 + 2))" "$T/c4.out"
		[ "$(clone_field 4 pings)" = 2 ] || _fail "the clone's clone's pings" "$T/c4.out"
		_match "the clone's clone's vsock" "$T/c4.vsock" "^vsock-from $g\$"
	fi
	r1=$(clone_field 1 rand) r2=$(clone_field 2 rand) r3=$(clone_field 3 rand)
	if [ "$r1" = "$r2" ] || [ "$r2" = "$r3" ] || [ "$r1" = "$r3" ]; then
		echo "NOTE: two clones read the same /dev/urandom bytes (no VMGenID driver?)"
	fi
	clones_done
}

# The reseed itself needs a guest kernel with CONFIG_VMGENID (Linux 5.18+): the clones'
# /dev/urandom bytes differ and the kernel says why.
t_clones_reseed_rng() {
	[ -f "${GUEST_DIR:-}/vmlinux" ] || _fail "no default guest in GUEST_DIR"
	grep -q 'crng reseeded due to virtual machine fork' "$GUEST_DIR/vmlinux" ||
		skip "the guest kernel has no VMGenID driver (CONFIG_VMGENID; Debian's cloud kernel lacks it): t_clones_own_genid_net_vsock shows the ID and its interrupt arrive"
	clones_run 2 || return
	r1=$(clone_field 1 rand) r2=$(clone_field 2 rand)
	[ ${#r1} -eq 32 ] && [ "$r1" != "$r2" ] ||
		_fail "the clones read '$r1' and '$r2' from /dev/urandom" "$T/c1.out" "$T/c2.out"
	for k in 1 2; do
		_match "clone $k's dmesg" "$T/c$k.out" '^dmesg: .*crng reseeded due to virtual machine fork'
	done
	clones_done
}
