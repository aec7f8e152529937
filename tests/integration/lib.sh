# Helpers for integration test cases (POSIX sh; busybox ash, dash and bash).
# run.sh sources this file and the case file into a fresh subshell for each test, with
# $T set to the test's own empty directory. See docs/CONTRACTS.md.
#
# A failed expectation is recorded and the test goes on, so one run shows every
# mismatch; the test fails if any expectation failed, or if t_NAME returns non-zero.
# Everything a test prints goes to $T/log and is shown only when it fails.

EMBER_RUN_TIMEOUT=${EMBER_RUN_TIMEOUT:-60}

# ember_run ARGS...: run "$EMBER" run ARGS with stdin from /dev/null under a timeout;
# stdout to $T/out, stderr to $T/err, exit status in $status. On timeout ember gets
# SIGTERM (then SIGKILL 5 s later), $status is 124 and $T/err says so.
# ember_run_stdin FILE ARGS...: the same with stdin from FILE; ember_run_piped FILE
# ARGS...: with stdin a pipe that `cat FILE` fills (as from a script).
ember_run() { _ember_run file /dev/null "$@"; }
ember_run_stdin() { _ember_run file "$@"; }
ember_run_piped() { _ember_run pipe "$@"; }
_ember_run() {
    _how=$1 _in=$2
    shift 2
    rm -f "$T/.timedout"
    if [ "$_how" = pipe ]; then
        cat "$_in" | "$EMBER" run "$@" >"$T/out" 2>"$T/err" &
    else
        "$EMBER" run "$@" <"$_in" >"$T/out" 2>"$T/err" &
    fi
    _pid=$!
    _ember_watchdog "$_pid" </dev/null >/dev/null 2>&1 &
    _wd=$!
    wait "$_pid"
    status=$?
    kill "$_wd" 2>/dev/null
    wait "$_wd" 2>/dev/null
    if [ -e "$T/.timedout" ]; then
        status=124
        echo "ember_run: timed out after $EMBER_RUN_TIMEOUT s" >>"$T/err"
    fi
    return 0
}

_ember_watchdog() {
    trap 'kill $_s 2>/dev/null; exit 0' TERM
    sleep "$EMBER_RUN_TIMEOUT" & _s=$!
    wait $_s
    : >"$T/.timedout"
    kill -TERM "$1"
    sleep 5 & _s=$!
    wait $_s
    kill -KILL "$1"
}

# _fail REASON [FILE...]: record a failed expectation, with the tail of each FILE.
_fail() {
    {
        printf '%s\n' "$1"
        shift
        for _f in "$@"; do
            if [ -s "$_f" ]; then
                echo "    ${_f##*/}:"
                tail -n 20 "$_f" | sed 's/^/    | /'
            else
                echo "    ${_f##*/}: (empty)"
            fi
        done
    } >>"$T/.fail"
    return 1
}

# _match WHAT FILE ERE / _no_match WHAT FILE ERE
_match() {
    grep -Eq -- "$3" "$2" || _fail "$1 does not match /$3/" "$2"
}
_no_match() {
    grep -Eq -- "$3" "$2" || return 0
    grep -En -- "$3" "$2" | head -n 5 >"$T/.matches"
    _fail "$1 matches /$3/ (it should not)" "$T/.matches"
}

expect_status() {
    [ "$status" = "$1" ] || _fail "exit status $status, expected $1" "$T/err" "$T/out"
}
expect_out()    { _match stdout "$T/out" "$1"; }
expect_err()    { _match stderr "$T/err" "$1"; }
expect_no_out() { _no_match stdout "$T/out" "$1"; }
expect_no_err() { _no_match stderr "$T/err" "$1"; }

# skip REASON: mark the test skipped and end it.
skip() {
    printf '%s\n' "$*" >"$T/.skip"
    exit 0
}

# need_static_ember JAILER: skip unless JAILER would run $EMBER, which it refuses when it is
# dynamically linked (the ASan build). The jailer says so itself: the rig has no file(1),
# and the --netns here exists nowhere, so nothing is ever made.
need_static_ember() {
    "$1" --id probe --exec-file "$EMBER" --uid 1000 --gid 1000 --netns "$T/none" 2>"$T/probe"
    if grep -q 'dynamically linked' "$T/probe"; then
        skip "$EMBER is dynamically linked (a sanitizer build?): the jailer runs static ones"
    fi
}

# need_iproute2: IP is iproute2's ip, by path (busybox's sh, the rig's, runs its own ip
# applet first, which has no netns or tuntap); skips the test where there is none.
need_iproute2() {
    IP=
    for _p in /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip; do
        [ -x "$_p" ] && [ ! -L "$_p" ] && IP=$_p && break
    done
    [ -n "$IP" ] || skip "iproute2's ip is not installed (scripts/install-deps.sh)"
}

# wait_exit PID [SECONDS]: wait (default 60 s) for PID, a child of this shell, to end; its
# status in $status. Killed, and the test failed, if it is still running then. Never wait
# without a PID here: ember may be running in the background.
wait_exit() {
    _n=$((${2:-60} * 10))
    while [ "$_n" -gt 0 ] && kill -0 "$1" 2>/dev/null; do
        sleep 0.1
        _n=$((_n - 1))
    done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1"
        _fail "process $1 did not exit within ${2:-60} s" "$T/err" "$T/out"
    fi
    wait "$1"
    status=$?
}

# wait_out ERE [SECONDS]: wait (default 60 s) for $T/out to match ERE; fails the test if
# it never does.
wait_out() {
    _n=$((${2:-60} * 10))
    while [ "$_n" -gt 0 ]; do
        grep -Eq -- "$1" "$T/out" && return 0
        sleep 0.1
        _n=$((_n - 1))
    done
    _fail "stdout never matched /$1/" "$T/out" "$T/err"
    return 1
}

# http_request SOCKET METHOD PATH [JSON]: one request to an API socket with curl; the HTTP
# status in $code, the body in $T/body.
http_request() {
    _sock=$1
    shift
    if [ $# -ge 3 ]; then
        code=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$_sock" -X "$1" \
            -H 'Content-Type: application/json' -d "$3" "http://localhost$2")
    else
        code=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$_sock" -X "$1" \
            "http://localhost$2")
    fi
}

# Start "ember --api-sock $T/api.sock EXTRA..." in the background, stdout to $T/out and
# stderr to $T/err (inside the network namespace $API_NETNS when set: netns_with_tap); wait
# (up to 10 s) for the socket. Sets $api_pid.
api_start() {
    command -v curl >/dev/null || skip "curl is not installed (scripts/install-deps.sh)"
    SOCK=$T/api.sock
    if [ -n "${API_NETNS:-}" ]; then
        "$IP" netns exec "$API_NETNS" "$EMBER" --api-sock "$SOCK" "$@" \
            <"${API_STDIN:-/dev/null}" >"$T/out" 2>"$T/err" &
    else
        "$EMBER" --api-sock "$SOCK" "$@" <"${API_STDIN:-/dev/null}" >"$T/out" 2>"$T/err" &
    fi
    api_pid=$!
    for _i in $(seq 1 100); do
        [ -S "$SOCK" ] && return 0
        sleep 0.1
    done
    _fail "no API socket after 10 s" "$T/err"
    return 1
}

# api METHOD PATH [JSON]: one request; the HTTP status in $code, the body in $T/body.
api() {
    http_request "$SOCK" "$@"
}

# expect_api CODE [ERE]: the last request's status, and its body matching ERE.
expect_api() {
    [ "$code" = "$1" ] || _fail "HTTP status $code, expected $1" "$T/body"
    [ $# -lt 2 ] || _match "response body" "$T/body" "$2"
}

# netns_with_tap TAP: a network namespace of the test's own ($NS) holding the tap TAP, and
# iproute2's ip in $IP (need_iproute2); skips the test where the host cannot. netns_done removes it.
netns_with_tap() {
    need_iproute2
    [ -c /dev/net/tun ] || skip "no /dev/net/tun (tun module not loaded)"
    NS=ember-t$$
    mkdir -p /run/netns 2>/dev/null # ip netns needs it; a bare rig has no /run
    "$IP" netns add "$NS" || skip "cannot create a network namespace"
    "$IP" -n "$NS" tuntap add dev "$1" mode tap ||
        { "$IP" netns del "$NS"; skip "no tap support"; }
}

netns_done() {
    "$IP" netns del "$NS" 2>/dev/null
}

# mmds_netns: EMBER becomes a wrapper that runs ember in a new network namespace holding an
# up tap "vtap0" without an address (MMDS's frames never reach it).
mmds_netns() {
    [ "$(id -u)" = 0 ] || skip "needs root for a network namespace and a tap"
    command -v unshare >/dev/null || skip "unshare is not installed"
    [ -f "${GUEST_DIR:-}/vmlinux" ] || _fail "no default guest in GUEST_DIR"
    cat >"$T/netns.sh" <<EOF
{ /usr/sbin/ip tuntap add dev vtap0 mode tap || /sbin/ip tuntap add dev vtap0 mode tap ||
    tunctl -t vtap0; } >/dev/null 2>&1 || { echo "netns.sh: cannot make tap vtap0" >&2; exit 90; }
ip link set lo up && ip link set vtap0 up || exit 91
exec "$EMBER" "\$@"
EOF
    printf '#!/bin/sh\nexec unshare -n sh %s "$@"\n' "$T/netns.sh" >"$T/ember-netns"
    chmod +x "$T/ember-netns"
    EMBER=$T/ember-netns
}
