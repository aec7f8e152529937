# Integration cases for MMDS: the default Linux guest, configured through the API with a
# virtio-net interface over a tap in a network namespace of the test's own, reaches the
# metadata service at 169.254.169.254 with busybox wget and nc (V1 and V2 token flows), a
# PATCH from the host shows in its next read, and malformed HTTP and TCP leave the service
# answering. Needs root (namespace, tap) and curl.

mmds_wait_exit() {
	wait_exit "$api_pid" "${1:-120}"
}

# mmds_boot VERSION SCRIPT: an API instance with the default guest running SCRIPT, eth0 on
# vtap0 allowed to reach MMDS VERSION, the store filled; then InstanceStart.
mmds_boot() {
	sh "$CMD_INITRD" "$GUEST_DIR/initrd.cpio" "$T/initrd.cpio" sh -c "$2" ||
		_fail "cannot build the initrd"
	api_start || return 1
	api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/vmlinux\", \"initrd_path\": \"$T/initrd.cpio\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off loglevel=3\"}"
	expect_api 204
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}'
	expect_api 204
	api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "vtap0", "guest_mac": "06:00:a9:fe:00:02"}'
	expect_api 204
	api PUT /mmds/config "{\"version\": \"$1\", \"network_interfaces\": [\"eth0\"]}"
	expect_api 204
	api PUT /mmds '{"latest": {"meta-data": {"ami-id": "ami-1", "placement": {"zone": "eu-1a"}, "local-ipv4": "169.254.0.2"}}}'
	expect_api 204
	api GET /vm/config
	expect_api 200 '"ipv4_address": ?"169.254.169.254"'
	api PUT /actions '{"action_type": "InstanceStart"}'
	expect_api 204
}

# The guest's network: eth0 in 169.254.0.0/16, which routes MMDS's address.
MMDS_NET='ip link set eth0 up && ip addr add 169.254.0.2/16 dev eth0 || echo "no eth0"
U=http://169.254.169.254/latest/meta-data'

t_mmds_v1_nested_patch_and_hostile_guest() {
	mmds_netns
	mmds_boot V1 "$MMDS_NET"'
echo "nested=$(wget -q -O - $U/placement/zone)"
echo "list=$(wget -q -O - $U/ | tr "\n" ,)"
echo "json=$(wget -q -O - --header "Accept: application/json" $U/placement)"
echo "missing=$(wget -q -O - $U/nothing 2>&1)"
echo "port81=$(nc -w 2 169.254.169.254 81 </dev/null 2>&1 | tr "\n" " "; echo)"
echo "garbage=$(printf "GARBAGE\r\n\r\n" | nc -w 2 169.254.169.254 80 | head -n 1)"
echo "method=$(printf "DELETE / HTTP/1.1\r\nConnection: close\r\n\r\n" | nc -w 2 169.254.169.254 80 | head -n 1)"
head -c 9000 /dev/urandom | nc -w 2 169.254.169.254 80 >/dev/null 2>&1
printf "GET /%05000d HTTP/1.1\r\n" 0 | nc -w 2 169.254.169.254 80 >/dev/null 2>&1
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do nc -w 1 169.254.169.254 80 </dev/null >/dev/null 2>&1 & done
wait
echo "after=$(wget -q -O - $U/ami-id)"
echo ready
i=0
while [ $i -lt 150 ]; do
	v=$(wget -q -O - $U/ami-id)
	[ "$v" = ami-2 ] && break
	sleep 0.2
	i=$((i + 1))
done
echo "patched=$v"' || return
	wait_out '^ready' 120 || { kill "$api_pid"; return; }
	api PATCH /mmds '{"latest": {"meta-data": {"ami-id": "ami-2"}}}'
	expect_api 204
	mmds_wait_exit 120
	expect_status 0
	expect_out '^nested=eu-1a'
	expect_out '^list=ami-id,local-ipv4,placement/'
	expect_out '^json=\{"zone":"eu-1a"\}'
	expect_out '^missing=.*404'
	expect_out '^port81=.*refused'
	expect_out '^garbage=HTTP/1.1 400'
	expect_out '^method=HTTP/1.1 405'
	expect_out '^after=ami-1'
	expect_out '^patched=ami-2'
	api_pid=
}

t_mmds_v2_token_flow() {
	mmds_netns
	mmds_boot V2 "$MMDS_NET"'
echo "notoken=$(wget -q -O - $U/ami-id 2>&1)"
T=$(printf "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 2\r\nConnection: close\r\n\r\n" | nc -w 5 169.254.169.254 80 | tail -n 1)
echo "tokenlen=${#T}"
echo "withtoken=$(wget -q -O - --header "X-metadata-token: $T" $U/ami-id 2>&1)"
echo "badtoken=$(wget -q -O - --header "X-metadata-token: x$T" $U/ami-id 2>&1)"
sleep 3
echo "expired=$(wget -q -O - --header "X-metadata-token: $T" $U/ami-id 2>&1)"' || return
	mmds_wait_exit 120
	expect_status 0
	expect_out '^notoken=.*401'
	expect_out '^tokenlen=32'
	expect_out '^withtoken=ami-1'
	expect_out '^badtoken=.*401'
	expect_out '^expired=.*401'
}

t_mmds_config_file_and_metadata_flag() {
	# Without a guest: --metadata fills the store, the config file's mmds-config must
	# name an interface it has; GET /mmds and /vm/config show them.
	printf '{"a": {"b": "c"}}' >"$T/meta.json"
	api_start --metadata "$T/meta.json" --mmds-size-limit 64 || return
	api GET /mmds
	expect_api 200 '^\{"a":\{"b":"c"\}\}$'
	api PATCH /mmds "{\"x\": \"$(printf '%070d' 0)\"}"
	expect_api 400 "doesn't fit"
	api PUT /mmds/config '{"network_interfaces": ["eth9"]}'
	expect_api 400 'does not correspond'
	api_stop_mmds
}

api_stop_mmds() {
	kill "$api_pid" 2>/dev/null
	wait "$api_pid" || :
}
