# ember-oci, the OCI runtime (issue 14): the runc command line on a busybox bundle made
# here, each container a microVM of the default guest with its agent (guest/agent.c).
# shellcheck shell=sh

OCI=${EMBER_OCI:-$(dirname "$EMBER")/ember-oci}

oci() { "$OCI" --root "$T/root" "$@"; }

# make_bundle DIR ARGS_JSON: a busybox root and a config.json running ARGS_JSON.
make_bundle() {
    [ -x "$OCI" ] || skip "no ember-oci beside $EMBER"
    bb=/bin/busybox
    [ -x "$bb" ] || bb=$(command -v busybox) || skip "no busybox"
    mkdir -p "$1/rootfs/bin" "$1/rootfs/proc" "$1/rootfs/sys" "$1/rootfs/dev" \
        "$1/rootfs/tmp" "$1/rootfs/run" "$1/rootfs/etc"
    cp "$bb" "$1/rootfs/bin/busybox"
    for a in $("$bb" --list); do
        [ "$a" = busybox ] || ln -s busybox "$1/rootfs/bin/$a"
    done
    cat >"$1/config.json" <<EOF2
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": $2,
             "env": ["PATH=/bin", "GREETING=hello"], "cwd": "/tmp",
             "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}],
             "noNewPrivileges": true},
 "root": {"path": "rootfs", "readonly": false},
 "hostname": "oci-test",
 "annotations": {"org.example.key": "value"},
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}],
 "linux": {"resources": {"memory": {"limit": 201326592}}}}
EOF2
}

# oci_status ID: the status field of `state ID`.
oci_status() {
    oci state "$1" 2>/dev/null | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p'
}

# wait_status ID STATUS [SECONDS]
wait_status() {
    _n=$((${3:-60} * 10))
    while [ "$_n" -gt 0 ]; do
        [ "$(oci_status "$1")" = "$2" ] && return 0
        sleep 0.1
        _n=$((_n - 1))
    done
    oci state "$1" >"$T/state" 2>&1
    _fail "container $1 never became $2" "$T/state" "$T/root/$1/console.log"
}

t_oci_cli() {
    [ -x "$OCI" ] || skip "no ember-oci beside $EMBER"
    "$OCI" --version >"$T/out" 2>"$T/err"
    status=$?
    expect_status 0
    expect_out '^ember-oci version .*'
    expect_out '^spec: 1\.'
    "$OCI" frobnicate >"$T/out" 2>"$T/err"
    status=$?
    expect_status 1
    expect_err "No help topic for 'frobnicate'"
    "$OCI" state --frob x >"$T/out" 2>"$T/err"
    status=$?
    expect_status 1
    expect_err 'flag provided but not defined: --frob'
    "$OCI" features >"$T/out" 2>"$T/err"
    status=$?
    expect_status 0
    expect_out '"ociVersionMax"'
    oci state nosuch >"$T/out" 2>"$T/err"
    status=$?
    expect_status 1
    expect_err 'container "nosuch" does not exist'
}

# No config.json, bad JSON, a missing root, a field of the wrong type: one clear line
# each, exit status 1, and nothing left under --root.
t_oci_broken_bundles() {
    make_bundle "$T/b" '["true"]'
    mv "$T/b/config.json" "$T/good.json"
    oci create --bundle "$T/b" c1 >"$T/out" 2>"$T/err"
    status=$?
    expect_status 1
    expect_err 'cannot read .*/b/config.json: No such file'
    echo '{"ociVersion": "1.0.2", "process": ' >"$T/b/config.json"
    oci create --bundle "$T/b" c1 >"$T/out" 2>"$T/err"
    status=$?
    expect_status 1
    expect_err 'config.json is not valid JSON'
    sed 's/"path": "rootfs"/"path": "nothere"/' "$T/good.json" >"$T/b/config.json"
    oci create --bundle "$T/b" c1 >"$T/out" 2>"$T/err"
    status=$?
    expect_status 1
    expect_err 'root.path .*/nothere: No such file'
    sed 's/"args": \[[^]]*\]/"args": "true"/' "$T/good.json" >"$T/b/config.json"
    oci create --bundle "$T/b" c1 >"$T/out" 2>"$T/err"
    status=$?
    expect_status 1
    expect_err 'process.args must be a non-empty array of strings'
    [ "$(wc -l <"$T/err")" -eq 1 ] || _fail "more than one line of error" "$T/err"
    [ -z "$(ls -A "$T/root" 2>/dev/null)" ] || { ls -lR "$T/root" >"$T/left"; _fail "left behind" "$T/left"; }
}

# run: stdout and stderr apart, the process spec honoured, the exit status passed through.
t_oci_run_status() {
    make_bundle "$T/b" '["sh", "-c", "echo out-$GREETING $(hostname) $(pwd) $(ulimit -n); echo err-line >&2; exit 42"]'
    oci run --bundle "$T/b" r42 >"$T/out" 2>"$T/err" </dev/null
    status=$?
    expect_status 42
    expect_out '^out-hello oci-test /tmp 512$'
    expect_no_out 'err-line'
    expect_err '^err-line$'
    [ ! -e "$T/root/r42" ] || _fail "run left its state behind"
    make_bundle "$T/c" '["true"]'
    oci run --bundle "$T/c" r0 >"$T/out" 2>"$T/err" </dev/null
    status=$?
    expect_status 0
    make_bundle "$T/d" '["false"]'
    oci run --bundle "$T/d" r1 >"$T/out" 2>"$T/err" </dev/null
    status=$?
    expect_status 1
}

# create, state, start, kill TERM reaching the process, delete; delete refused while
# running, with the state's fields along the way.
t_oci_lifecycle() {
    make_bundle "$T/b" '["sh", "-c", "trap \"echo got-term; exit 7\" TERM; echo started; while :; do sleep 0.2; done"]'
    oci create --bundle "$T/b" --pid-file "$T/pid" life >"$T/out" 2>"$T/err" </dev/null
    status=$?
    expect_status 0
    oci state life >"$T/state" 2>&1
    _match state "$T/state" '"status": "created"'
    _match state "$T/state" '"ociVersion": "1\.'
    _match state "$T/state" '"id": "life"'
    _match state "$T/state" "\"bundle\": \"$T/b\""
    _match state "$T/state" '"org.example.key": "value"'
    pid=$(cat "$T/pid")
    _match state "$T/state" "\"pid\": $pid,"
    kill -0 "$pid" || _fail "the pid $pid is not alive"
    oci start life >>"$T/out" 2>>"$T/err"
    status=$?
    expect_status 0
    wait_out '^started$'
    [ "$(oci_status life)" = running ] || _fail "not running after start"
    oci delete life 2>"$T/err"
    status=$?
    expect_status 1
    expect_err 'cannot delete container life that is not stopped: running'
    oci kill life TERM 2>>"$T/err"
    wait_status life stopped
    wait_out '^got-term$'
    _n=100
    while [ $_n -gt 0 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; _n=$((_n - 1)); done
    kill -0 "$pid" 2>/dev/null && _fail "the host process outlived the container"
    [ "$(cat "$T/root/life/exit" 2>/dev/null)" = 7 ] || _fail "exit status not 7"
    oci delete life 2>>"$T/err"
    status=$?
    expect_status 0
    [ ! -e "$T/root/life" ] || _fail "delete left the state directory"
}

# SIGKILL through kill: run returns 137; delete --force of a running container.
t_oci_kill_force() {
    make_bundle "$T/b" '["sleep", "600"]'
    oci run --bundle "$T/b" k9 >"$T/out" 2>"$T/err" </dev/null &
    rpid=$!
    wait_status k9 running
    oci kill k9 KILL 2>>"$T/err"
    wait_exit "$rpid" 60
    expect_status 137
    make_bundle "$T/c" '["sleep", "600"]'
    oci create --bundle "$T/c" f1 >"$T/out" 2>"$T/err" </dev/null
    oci start f1 2>>"$T/err"
    pid=$(oci state f1 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
    oci delete --force f1 2>>"$T/err"
    status=$?
    expect_status 0
    [ ! -e "$T/root/f1" ] || _fail "delete --force left the state directory"
    kill -0 "$pid" 2>/dev/null && _fail "delete --force left the host process $pid"
    pgrep -f "ember_agent=1" >/dev/null && _fail "an ember of the container is still running"
    return 0
}

# exec into a running container: output, status, and ps.
t_oci_exec() {
    make_bundle "$T/b" '["sleep", "600"]'
    oci create --bundle "$T/b" ex >"$T/out" 2>"$T/err" </dev/null
    oci start ex 2>>"$T/err"
    oci exec ex sh -c 'echo in-$(hostname); exit 3' >"$T/out" 2>>"$T/err" </dev/null
    status=$?
    expect_status 3
    expect_out '^in-oci-test$'
    oci ps --format json ex >"$T/ps" 2>&1
    _match ps "$T/ps" '^\[[0-9]+\]$'
    oci delete --force ex 2>>"$T/err"
}
