# Rate limiters (and the balloon) with the default Linux guest: a limited drive, interface
# or entropy device delivers at its limit; PATCH changes it while the guest runs. The
# limits sit far below what the nested rig does unlimited, so the bounds mean something:
# each case measures the unlimited rate in the same boot where it can.
# shellcheck shell=sh
# shellcheck disable=SC2154 # T, GUEST_DIR, CMD_INITRD and status come from the harness

# --- helpers (not tests: only t_* functions are) ---

limits_guest() {
	[ -f "${GUEST_DIR:-}/vmlinux" ] && [ -f "${GUEST_DIR:-}/initrd.cpio" ] ||
		_fail "GUEST_DIR='${GUEST_DIR:-}' has no vmlinux and initrd.cpio (make guest)"
}

# limits_initrd CMD...: the default initrd with the guest command in it (the API has no
# `-- CMD`), to $T/initrd.cpio.
limits_initrd() {
	sh "$CMD_INITRD" "$GUEST_DIR/initrd.cpio" "$T/initrd.cpio" "$@" ||
		_fail "cannot build the initrd"
}

LIMITS_BOOT_ARGS='console=ttyS0 reboot=k panic=1 pci=off loglevel=3'

# limits_config FILE DRIVES_JSON [MORE_SECTIONS]: a config file for the default guest
# with $T/initrd.cpio, 256 MiB.
limits_config() {
	cat >"$1" <<EOC
{
  "boot-source": {"kernel_image_path": "$GUEST_DIR/vmlinux", "initrd_path": "$T/initrd.cpio",
                  "boot_args": "$LIMITS_BOOT_ARGS"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
  "drives": $2${3:+,
  $3}
}
EOC
}

# limits_run_config FILE: ember --config-file FILE --no-api under the run timeout.
limits_run_config() {
	"$EMBER" --config-file "$1" --no-api </dev/null >"$T/out" 2>"$T/err" &
	wait_exit $! "${EMBER_RUN_TIMEOUT:-60}"
}

# limits_secs NAME: the seconds the guest printed as "NAME <start> <end>" (uptime).
limits_secs() {
	sed -n "s/^$1 \([0-9.]*\) \([0-9.]*\).*/\1 \2/p" "$T/out" | tr -d '\r' |
		awk '{ printf "%.2f", $2 - $1 }'
}

# limits_within WHAT VALUE LOW HIGH: LOW <= VALUE <= HIGH (decimals).
limits_within() {
	awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v != "" && v >= lo && v <= hi) }' ||
		_fail "$1 is '$2', expected $3 to $4" "$T/out" "$T/err"
}

# A guest shell snippet: time CMD between two /proc/uptime readings as "NAME a b".
limits_timed() {
	printf 'a=$(cut -d" " -f1 /proc/uptime); %s; echo "%s $a $(cut -d" " -f1 /proc/uptime)"; ' \
		"$2" "$1"
}

# --- virtio-blk ---

# 10 MiB/s as Firecracker writes it (a 1 MiB bucket refilled every 100 ms): 50 MiB of
# O_DIRECT reads take 4.5 to 6 s (1 MiB at once, 49 at the rate), while the same reads of
# an unlimited drive in the same guest go at least twice as fast. Set in a config file;
# GET-able as the configuration (the file's own shape is what GET /vm/config shows).
t_limit_blk_bandwidth() {
	limits_guest || return
	truncate -s 64M "$T/lim.img" "$T/free.img"
	limits_initrd sh -c "$(limits_timed free 'dd if=/dev/vdb of=/dev/null bs=1M count=50 iflag=direct 2>/dev/null')$(limits_timed lim 'dd if=/dev/vda of=/dev/null bs=1M count=50 iflag=direct 2>/dev/null')"
	limits_config "$T/vm.json" "[
    {\"drive_id\": \"lim\", \"path_on_host\": \"$T/lim.img\", \"is_root_device\": false,
     \"rate_limiter\": {\"bandwidth\": {\"size\": 1048576, \"refill_time\": 100}}},
    {\"drive_id\": \"free\", \"path_on_host\": \"$T/free.img\", \"is_root_device\": false}]"
	limits_run_config "$T/vm.json"
	expect_status 0
	lim=$(limits_secs lim)
	free=$(limits_secs free)
	echo "limited: $lim s, unlimited: $free s"
	limits_within "50 MiB at 10 MiB/s (s)" "$lim" 4.5 6
	limits_within "50 MiB unlimited (s)" "$free" 0 "$(awk -v l="$lim" 'BEGIN { print l / 2 }')"
}

# An ops limit of 10 requests a second: 60 reads of 4 KiB (O_DIRECT, each its own request)
# take about 5 s (a bucket of 10 refilled each second: 10 at once, 50 at the rate); the
# unlimited drive does them far faster (about 75 a second in the rig). Set with --drive
# iops= on the command line.
t_limit_blk_ops() {
	limits_guest || return
	truncate -s 16M "$T/lim.img" "$T/free.img"
	linux_cmd="$(limits_timed free 'dd if=/dev/vdb of=/dev/null bs=4k count=60 iflag=direct 2>/dev/null')$(limits_timed lim 'dd if=/dev/vda of=/dev/null bs=4k count=60 iflag=direct 2>/dev/null')"
	ember_run --kernel "$GUEST_DIR/vmlinux" --initrd "$GUEST_DIR/initrd.cpio" --mem 256 \
		--drive "path=$T/lim.img,id=lim,iops=10" --drive "path=$T/free.img,id=free" \
		-- sh -c "$linux_cmd"
	expect_status 0
	lim=$(limits_secs lim)
	free=$(limits_secs free)
	echo "limited: $lim s, unlimited: $free s"
	limits_within "60 reads at 10/s (s)" "$lim" 4.5 7
	limits_within "60 reads unlimited (s)" "$free" 0 "$(awk -v l="$lim" 'BEGIN { print l / 2 }')"
}

# PATCH /drives/{id} lifts the limit while the guest reads: 1 MiB chunks at 2 MiB/s, then
# much faster once the limit is gone; GET /vm/config shows each state. Each 1 MiB read is
# larger than the 200 KiB bucket: it goes through and the next one waits for its debt.
# From the third chunk on each took 0.5 s in the rig, as it should; the second took only
# 0.14 s there, which a simulation of the bucket does not reproduce (not understood yet),
# so the rate is measured over chunks 4 to 6.
t_limit_blk_patch_lifts() {
	limits_guest || return
	truncate -s 64M "$T/lim.img"
	limits_initrd sh -c 'i=0; while [ $i -lt 48 ]; do dd if=/dev/vda of=/dev/null bs=1M count=1 skip=$i iflag=direct 2>/dev/null; i=$((i+1)); echo "chunk $i $(cut -d" " -f1 /proc/uptime)"; done'
	api_start || return
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/vmlinux\", \"initrd_path\": \"$T/initrd.cpio\", \"boot_args\": \"$LIMITS_BOOT_ARGS\"}"
	expect_api 204
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
	expect_api 204
	api PUT /drives/lim "{\"drive_id\": \"lim\", \"path_on_host\": \"$T/lim.img\", \"is_root_device\": false, \"rate_limiter\": {\"bandwidth\": {\"size\": 209715, \"refill_time\": 100}}}"
	expect_api 204
	api GET /vm/config
	expect_api 200 '"size": ?209715'
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	wait_out '^chunk 3 ' 120 || { kill "$api_pid"; return; }
	h3=$(cut -d' ' -f1 /proc/uptime)
	wait_out '^chunk 6 ' 60 || { kill "$api_pid"; return; }
	h6=$(cut -d' ' -f1 /proc/uptime)
	# A bad body changes nothing; then the limit goes (a bucket of size 0 is none).
	api PATCH /drives/lim '{"drive_id": "lim", "rate_limiter": {"bandwidth": {"size": 1}}}'
	expect_api 400 'refill_time'
	api PATCH /drives/lim '{"drive_id": "lim", "rate_limiter": {"bandwidth": {"size": 0, "refill_time": 0}}}'
	expect_api 204
	api GET /vm/config
	expect_api 200 '"rate_limiter": ?null'
	wait_exit "$api_pid" 120
	expect_status 0
	# Chunks 2-4 (limited) and the last 20 (after the PATCH): seconds per chunk.
	tr -d '\r' <"$T/out" | awk '
		/^chunk / { t[$2] = $3; n = $2 }
		END {
			slow = (t[6] - t[3]) / 3; fast = (t[n] - t[n - 20]) / 20
			printf "limited %.3f s/chunk, lifted %.3f s/chunk\n", slow, fast
			exit !(n == 48 && slow >= 0.4 && slow <= 1 && fast * 3 <= slow)
		}' >"$T/rates" || _fail "the rate did not rise after the PATCH" "$T/rates" "$T/out"
	echo "host: chunks 4-6 took $(awk -v a="$h3" -v b="$h6" 'BEGIN { print b - a }') s" >>"$T/rates"
	cat "$T/rates"
}


# --- virtio-balloon ---

# limits_api_boot BALLOON_JSON: the default guest with $T/initrd.cpio, 256 MiB, and the
# balloon, started through the API.
limits_api_boot() {
	api_start || return 1
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/vmlinux\", \"initrd_path\": \"$T/initrd.cpio\", \"boot_args\": \"$LIMITS_BOOT_ARGS\"}"
	expect_api 204
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
	expect_api 204
	api PUT /balloon "$1"
	expect_api 204
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
}

# limits_stat FIELD: an integer field of the last reply ($T/body).
limits_stat() {
	sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" "$T/body"
}

# limits_wait_actual MIB SECONDS: until GET /balloon/statistics says actual_mib MIB.
limits_wait_actual() {
	_n=$(($2 * 2))
	while [ "$_n" -gt 0 ]; do
		api GET /balloon/statistics
		[ "$(limits_stat actual_mib)" = "$1" ] && return 0
		sleep 0.5
		_n=$((_n - 1))
	done
	_fail "the balloon never held $1 MiB" "$T/body" "$T/out"
	return 1
}

limits_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Inflating by 64 MiB in a 256 MiB guest: its MemTotal drops by 64 MiB (no deflate on
# OOM: the driver takes the pages off the guest's total), the host process's RSS drops by
# about as much (the pages were touched before, then freed in the guest), and the
# statistics, polled every second, show the smaller total. Deflating gives them back.
t_balloon_inflate() {
	limits_guest || return
	limits_initrd sh -c 'mem() { grep -E "^(MemTotal|MemAvailable):" /proc/meminfo | tr -s " " | tr "\n" " "; echo; }; echo "before $(mem)"; dd if=/dev/zero of=/fill bs=1M count=150 2>/dev/null; rm /fill; echo filled; while :; do sleep 1; echo "now $(mem)"; done'
	limits_api_boot '{"amount_mib": 0, "deflate_on_oom": false, "stats_polling_interval_s": 1}' ||
		return
	wait_out '^filled' 120 || { kill "$api_pid"; return; }
	sleep 2
	api GET /balloon/statistics
	expect_api 200 '"total_memory"'
	total1=$(limits_stat total_memory)
	rss1=$(limits_rss_kib "$api_pid")
	api PATCH /balloon '{"amount_mib": 300}'
	expect_api 400 'more than'
	api PATCH /balloon '{"amount_mib": 64}'
	expect_api 204
	limits_wait_actual 64 60 || { kill "$api_pid"; return; }
	sleep 3 # a statistics interval or more, and the guest's next meminfo line
	rss2=$(limits_rss_kib "$api_pid")
	api GET /balloon/statistics
	expect_api 200 '"target_mib": ?64'
	total2=$(limits_stat total_memory)
	api GET /balloon
	expect_api 200 '"amount_mib": ?64'
	api GET /vm/config
	expect_api 200 '"stats_polling_interval_s": ?1'
	# A VM with an inflated balloon snapshots (snapshot.t.sh restores one), and runs on.
	api PATCH /vm '{"state": "Paused"}'
	api PUT /snapshot/create "{\"snapshot_path\": \"$T/state\", \"mem_file_path\": \"$T/mem\"}"
	expect_api 204
	api PATCH /vm '{"state": "Resumed"}'
	api PATCH /balloon/statistics '{"stats_polling_interval_s": 0}'
	expect_api 400 'cannot be turned off'
	# Deflate: the balloon empties.
	api PATCH /balloon '{"amount_mib": 0}'
	expect_api 204
	limits_wait_actual 0 60
	kill "$api_pid"
	wait "$api_pid" 2>/dev/null
	tr -d '\r' <"$T/out" >"$T/guest"
	m1=$(sed -n 's/^before MemTotal: \([0-9]*\).*/\1/p' "$T/guest" | head -n 1)
	# The lowest MemTotal the guest saw while inflated.
	m2=$(sed -n 's/^now MemTotal: \([0-9]*\).*/\1/p' "$T/guest" | sort -n | head -n 1)
	freed=$((rss1 - rss2))
	echo "guest MemTotal $m1 -> $m2 kB; host RSS $rss1 -> $rss2 kB ($freed kB freed for 64 MiB, $(awk -v f="$freed" 'BEGIN { printf "%.2f", f / 1024 / 64 }') MiB per MiB); statistics total_memory $total1 -> $total2"
	limits_within "guest MemTotal drop (kB)" "$((m1 - m2))" $((60 * 1024)) $((66 * 1024))
	limits_within "host RSS drop (kB)" "$freed" $((56 * 1024)) $((80 * 1024))
	limits_within "statistics total_memory drop (bytes)" "$((total1 - total2))" \
		$((60 << 20)) $((66 << 20))
}

# Deflate on OOM: with 160 MiB of 256 in the balloon, the guest writes 90 MiB to its
# tmpfs (more than it has left; the tmpfs itself takes 111 MiB): the driver gives pages
# back instead of the OOM killer running, the write succeeds and the balloon holds less.
t_balloon_deflate_on_oom() {
	limits_guest || return
	limits_initrd sh -c 'avail() { awk "/^MemAvailable:/ { print \$2 }" /proc/meminfo; }; i=0; while [ "$(avail)" -gt 60000 ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i+1)); done; echo "inflated, available $(avail) kB"; if dd if=/dev/zero of=/fill bs=1M count=90 2>/dev/null; then echo "alloc ok, available $(avail) kB"; else echo "alloc failed"; fi; sleep 2; echo done; sleep 600'
	limits_api_boot '{"amount_mib": 160, "deflate_on_oom": true, "stats_polling_interval_s": 1}' ||
		return
	wait_out '^done' 120 || { kill "$api_pid"; return; }
	api GET /balloon/statistics
	actual=$(limits_stat actual_mib)
	kill "$api_pid"
	wait "$api_pid" 2>/dev/null
	expect_out '^inflated, available'
	expect_out '^alloc ok'
	expect_no_out 'Out of memory|Killed process'
	echo "balloon after the allocation: $actual MiB of 160"
	limits_within "balloon after the allocation (MiB)" "$actual" 0 150
}

# Free page reporting: the guest fills 150 MiB of its tmpfs, then deletes it; the driver
# reports the freed runs (those that merged into 2 MiB blocks) and the host process's RSS
# drops, with no target set at all: by 92 MiB within 30 s in one rig run.
t_balloon_free_page_reporting() {
	limits_guest || return
	limits_initrd sh -c 'dd if=/dev/zero of=/fill bs=1M count=150 2>/dev/null; echo filled; sleep 3; rm /fill; echo freed; while :; do sleep 1; done'
	limits_api_boot '{"amount_mib": 0, "deflate_on_oom": false, "free_page_reporting": true}' ||
		return
	wait_out '^filled' 120 || { kill "$api_pid"; return; }
	sleep 1
	rss1=$(limits_rss_kib "$api_pid")
	wait_out '^freed' 30 || { kill "$api_pid"; return; }
	_i=0
	rss2=$rss1
	while [ $((rss1 - rss2)) -lt $((64 * 1024)) ] && [ $_i -lt 60 ]; do
		sleep 0.5
		rss2=$(limits_rss_kib "$api_pid")
		_i=$((_i + 1))
	done
	api GET /balloon
	expect_api 200 '"free_page_reporting": ?true'
	kill "$api_pid"
	wait "$api_pid" 2>/dev/null
	echo "host RSS $rss1 -> $rss2 kB after the guest freed 150 MiB (in $((_i / 2)) s)"
	limits_within "host RSS drop after the guest freed 150 MiB (kB)" "$((rss1 - rss2))" \
		$((64 * 1024)) $((200 * 1024))
}

# --- virtio-net ---

# limits_uptime: the rig's (host's) seconds since boot, 10 ms steps.
limits_uptime() { cut -d' ' -f1 /proc/uptime; }

# A guest serving a 1 MiB file over busybox httpd (guest tx: the host downloads it) and
# draining connections with nc (guest rx: the host sends 1 MiB), through a tap in a
# network namespace of the test's own; the host end times both. First unlimited, then
# PATCH /network-interfaces sets tx to 128 KiB/s and rx to 192 KiB/s while the guest runs:
# each direction then takes its own time (about 7.9 s and 5.2 s). TCP through the rig is
# slow and uneven (3 MiB took 15 s one way unlimited with nc as the sender; the first
# transfers after boot are the slowest: one took 8.9 s for 1 MiB where the next took 1.5),
# so the limits sit well below what it does, a warm-up round goes first, and the unlimited
# transfers are measured in the same boot. After the warm-up, unlimited 1 MiB took 0.4 to
# 2.5 s out and 0.7 to 1.9 s in over three runs; at these limits 8.16 s out and 5.65 s in.
t_limit_net_rx_tx() {
	limits_guest || return
	[ "$(id -u)" = 0 ] || skip "needs root for a network namespace and a tap"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v socat >/dev/null && command -v curl >/dev/null || skip "needs socat and curl"
	IP=
	for p in /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip; do
		[ -x "$p" ] && [ ! -L "$p" ] && IP=$p && break
	done
	[ -n "$IP" ] || skip "iproute2's ip is not installed"
	mkdir -p /run/netns 2>/dev/null
	ns=limits$$
	"$IP" netns add "$ns" || { _fail "cannot make network namespace $ns"; return; }
	nx() { "$IP" netns exec "$ns" "$@"; }
	if ! { nx "$IP" tuntap add dev vtap0 mode tap && nx "$IP" link set lo up &&
		nx "$IP" addr add 10.0.2.1/24 dev vtap0 && nx "$IP" link set vtap0 up; }; then
		"$IP" netns del "$ns"
		_fail "cannot make tap vtap0 in $ns"
		return
	fi
	dd if=/dev/zero of="$T/src.bin" bs=64k count=16 2>/dev/null
	limits_initrd sh -c 'ip addr add 10.0.2.2/24 dev eth0 && ip link set eth0 up || exit 9; mkdir /www; dd if=/dev/zero of=/www/f bs=64k count=16 2>/dev/null; httpd -p 8080 -h /www || exit 8; echo ready; while :; do nc -l -p 5002 | wc -c; done'
	printf '#!/bin/sh\nexec %s netns exec %s %s "$@"\n' "$IP" "$ns" "$EMBER" >"$T/ember-ns"
	chmod +x "$T/ember-ns"
	EMBER=$T/ember-ns api_start || { "$IP" netns del "$ns"; return; }
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/vmlinux\", \"initrd_path\": \"$T/initrd.cpio\", \"boot_args\": \"$LIMITS_BOOT_ARGS\"}"
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
	api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "vtap0"}'
	expect_api 204
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
	if wait_out '^ready' 120; then
		sleep 1
		# net_round NAME: the guest's tx (a download) and rx (an upload) in seconds,
		# as NAME_tx and NAME_rx.
		net_round() {
			_tx=$(nx curl -s -o "$T/down" -w '%{time_total}' --max-time 60 http://10.0.2.2:8080/f)
			[ "$(wc -c <"$T/down")" = 1048576 ] || _fail "$1: downloaded $(wc -c <"$T/down") bytes"
			_n=$(grep -c '^1048576' "$T/out")
			_a=$(limits_uptime)
			nx socat -u OPEN:"$T/src.bin" TCP:10.0.2.2:5002 || _fail "$1: socat could not send"
			_i=0
			while [ "$(grep -c '^1048576' "$T/out")" -le "$_n" ] && [ $_i -lt 600 ]; do
				sleep 0.05
				_i=$((_i + 1))
			done
			_rx=$(awk -v a="$_a" -v b="$(limits_uptime)" 'BEGIN { printf "%.2f", b - a }')
			eval "$1_tx=\$_tx $1_rx=\$_rx"
		}
		net_round warm # the first transfers after boot are slow in the rig
		net_round free
		api PATCH /network-interfaces/eth0 '{"iface_id": "eth0", "tx_rate_limiter": {"bandwidth": {"size": 13107, "refill_time": 100}}, "rx_rate_limiter": {"bandwidth": {"size": 19660, "refill_time": 100}}}'
		expect_api 204
		api GET /vm/config
		expect_api 200 '"size": ?19660'
		net_round lim
	fi
	kill "$api_pid"
	wait "$api_pid" 2>/dev/null
	"$IP" netns del "$ns"
	echo "1 MiB tx: unlimited ${free_tx:-?} s, at 128 KiB/s ${lim_tx:-?} s; rx: unlimited ${free_rx:-?} s, at 192 KiB/s ${lim_rx:-?} s"
	limits_within "1 MiB sent at 128 KiB/s (s)" "${lim_tx:-}" 6.5 11
	limits_within "1 MiB received at 192 KiB/s (s)" "${lim_rx:-}" 4.2 9
	limits_within "1 MiB sent unlimited (s)" "${free_tx:-}" 0 "$(awk -v l="${lim_tx:-0}" 'BEGIN { print l / 2 }')"
	limits_within "1 MiB received unlimited (s)" "${free_rx:-}" 0 "$(awk -v l="${lim_rx:-0}" 'BEGIN { print l / 2 }')"
}

# --- virtio-rng ---

# An entropy device limited to 16 KiB/s (1638 bytes every 100 ms) delivers 64 KiB in about
# 4 s (the kernel's own hwrng reader takes some of the budget too, which can only slow it).
t_limit_entropy() {
	limits_guest || return
	limits_initrd sh -c "cat /sys/class/misc/hw_random/rng_current; $(limits_timed rng 'dd if=/dev/hwrng of=/dev/null bs=1024 count=64 iflag=fullblock 2>/dev/null')"
	cat >"$T/vm.json" <<EOC
{
  "boot-source": {"kernel_image_path": "$GUEST_DIR/vmlinux", "initrd_path": "$T/initrd.cpio",
                  "boot_args": "$LIMITS_BOOT_ARGS"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
  "entropy": {"rate_limiter": {"bandwidth": {"size": 1638, "refill_time": 100}}}
}
EOC
	limits_run_config "$T/vm.json"
	expect_status 0
	expect_out '^virtio_rng'
	rng=$(limits_secs rng)
	echo "64 KiB at 16 KiB/s: $rng s"
	limits_within "64 KiB of entropy at 16 KiB/s (s)" "$rng" 3.5 8
}
