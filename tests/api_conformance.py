#!/usr/bin/env python3
"""Ember's API against Firecracker's published swagger spec, field by field.

Runs `ember --api-sock` on the host (no KVM: everything here happens before InstanceStart)
and checks, for every path and method of the spec:
  - a path Ember serves: every response body validates against the spec's schema (204
    bodies are empty, 200 bodies their definition, 400 bodies Error), with nulls dropped
    (Ember, like Firecracker, shows an absent optional field as null, which swagger 2.0
    cannot say) and no member the spec does not define;
  - every request field the spec defines is either honoured (GET /vm/config shows the
    value sent, and GET /balloon too for the balloon's; or FIELDS names the test that
    covers its behaviour) or refused with a 400 whose message names the field; a refused
    request changes nothing (GET /vm/config is the same before and after); a request
    Firecracker takes only after boot is refused before it in Firecracker's words;
  - PUT and PATCH /mmds (any JSON object) replace and merge the store GET /mmds shows
    (GET /mmds before the first PUT is Firecracker's 200 null, not an object);
  - a path Ember does not serve answers 400 with an Error body.
A field or path the spec has and this file does not classify fails the test: a new spec
(or a newly served path) must be looked at, not passed by default.

Usage: tests/api_conformance.py EMBER SPEC.yaml
A host where `unshare -rn` cannot make a network namespace with a tap (or
EMBER_CONFORMANCE_NO_NETNS=1) skips, loudly, the checks that need a tap that exists.
Prints one line per check that failed and a summary `conformance: N passed, N failed,
N skipped`; exit status 0 only when nothing failed. Needs python3-yaml and
python3-jsonschema (scripts/install-deps.sh).
"""

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

try:
    import yaml
    from jsonschema import Draft4Validator
except ImportError as e:  # pragma: no cover
    print(f"conformance: cannot import {e.name} (scripts/install-deps.sh installs it)")
    sys.exit(2)

# ---- what Ember does with each request field ----------------------------------------
#
# (definition, field) -> (sample value, verdict). A verdict is one of
#   ("config", PATH): accepted, and GET /vm/config shows the value at PATH (a list of
#                     keys and indexes; the value shown may differ, given as a third item)
#   ("test", NAME):   accepted; its effect needs a running VM and is checked by the
#                     integration test NAME (tests/integration/)
#   ("refused",):     refused with a 400 naming the field
# Samples that are files or taps are filled in at run time ("@kernel", "@tap", ...).
TB = {"size": 1000, "refill_time": 100}
# Every member of both buckets given, so GET /vm/config must show each one back as sent.
RL = {"bandwidth": {"size": 1000, "one_time_burst": 500, "refill_time": 100},
      "ops": {"size": 10, "one_time_burst": 0, "refill_time": 1000}}
FIELDS = {
    ("BootSource", "kernel_image_path"): ("@kernel2", ("config", ["boot-source", "kernel_image_path"])),
    ("BootSource", "initrd_path"): ("@initrd", ("config", ["boot-source", "initrd_path"])),
    ("BootSource", "boot_args"): ("console=ttyS0 x=1", ("config", ["boot-source", "boot_args"])),
    ("Drive", "drive_id"): ("d1", ("config", ["drives", 0, "drive_id"])),
    ("Drive", "partuuid"): ("0eaa91a0-01", ("refused",)),
    ("Drive", "is_root_device"): (True, ("config", ["drives", 0, "is_root_device"])),
    ("Drive", "cache_type"): (["Unsafe", "Writeback"], ("config", ["drives", 0, "cache_type"])),
    ("Drive", "is_read_only"): (True, ("config", ["drives", 0, "is_read_only"])),
    ("Drive", "path_on_host"): ("@disk2", ("config", ["drives", 0, "path_on_host"])),
    ("Drive", "rate_limiter"): (RL, ("config", ["drives", 0, "rate_limiter"])),
    ("Drive", "io_engine"): (["Sync", "Async"], ("config", ["drives", 0, "io_engine"])),
    ("Drive", "socket"): ("/tmp/vhost-user.sock", ("refused",)),
    ("PartialDrive", "drive_id"): ("d1", ("test", "api.t.sh: t_api_patch_drive_new_file")),
    ("PartialDrive", "path_on_host"): ("@disk2", ("test", "api.t.sh: t_api_patch_drive_new_file")),
    ("PartialDrive", "rate_limiter"): (RL, ("test", "limits.t.sh: t_limit_blk_patch_lifts")),
    ("Logger", "level"): (["Error", "Warning", "Info", "Debug", "Trace", "Off"],
                          ("test", "api.t.sh: t_api_logger_and_metrics")),
    ("Logger", "log_path"): ("@log", ("test", "api.t.sh: t_api_logger_and_metrics")),
    ("Logger", "show_level"): (True, ("test", "api.t.sh: t_api_logger_and_metrics")),
    # Kept for the log's line format (issue 16's logger part), which prints the origin.
    ("Logger", "show_log_origin"): (True, ("test", "the log line format (issue 16, logger)")),
    ("Logger", "module"): ("api_server::request", ("refused",)),
    ("MachineConfiguration", "cpu_template"): ("T2", ("refused",)),
    ("MachineConfiguration", "smt"): (True, ("refused",)),
    ("MachineConfiguration", "mem_size_mib"): (256, ("config", ["machine-config", "mem_size_mib"])),
    ("MachineConfiguration", "track_dirty_pages"): (True, ("config", ["machine-config", "track_dirty_pages"])),
    ("MachineConfiguration", "vcpu_count"): (2, ("config", ["machine-config", "vcpu_count"])),
    ("MachineConfiguration", "huge_pages"): (["None", "Transparent"],
                                             ("config", ["machine-config", "huge_pages"])),
    ("Metrics", "metrics_path"): ("@metrics", ("test", "api.t.sh: t_api_logger_and_metrics")),
    ("Metrics", "emit_id"): (True, ("refused",)),
    ("Metrics", "properties"): ({"team": "a"}, ("refused",)),
    ("NetworkInterface", "guest_mac"): ("06:00:ac:10:00:02", ("config", ["network-interfaces", 0, "guest_mac"])),
    ("NetworkInterface", "host_dev_name"): ("@tap", ("config", ["network-interfaces", 0, "host_dev_name"])),
    ("NetworkInterface", "iface_id"): ("eth0", ("config", ["network-interfaces", 0, "iface_id"])),
    ("NetworkInterface", "mtu"): (1400, ("config", ["network-interfaces", 0, "mtu"])),
    ("NetworkInterface", "rx_rate_limiter"): (RL, ("config", ["network-interfaces", 0, "rx_rate_limiter"])),
    ("NetworkInterface", "tx_rate_limiter"): (RL, ("config", ["network-interfaces", 0, "tx_rate_limiter"])),
    ("PartialNetworkInterface", "iface_id"): ("eth0", ("test", "api.t.sh: t_api_patch_net_after_boot")),
    ("PartialNetworkInterface", "rx_rate_limiter"): (RL, ("test", "limits.t.sh: t_limit_net_rx_tx")),
    ("PartialNetworkInterface", "tx_rate_limiter"): (RL, ("test", "limits.t.sh: t_limit_net_rx_tx")),
    ("SnapshotCreateParams", "mem_file_path"): ("@snapmem", ("test", "snapshot.t.sh: t_snapshot_api_create_load_counter")),
    ("SnapshotCreateParams", "snapshot_path"): ("@snapstate", ("test", "snapshot.t.sh: t_snapshot_api_create_load_counter")),
    # "Diff" needs track_dirty_pages (refused naming the field without: t_snapshot_api_load_overrides).
    ("SnapshotCreateParams", "snapshot_type"): (["Full", "Diff"], ("test", "snapshot.t.sh: t_snapshot_api_diff_merge")),
    ("SnapshotLoadParams", "enable_diff_snapshots"): (True, ("test", "snapshot.t.sh: t_snapshot_api_load_overrides")),
    ("SnapshotLoadParams", "track_dirty_pages"): (True, ("test", "snapshot.t.sh: t_snapshot_api_load_overrides")),
    ("SnapshotLoadParams", "mem_file_path"): ("@snapmem", ("test", "snapshot.t.sh: t_snapshot_api_create_load_counter")),
    ("SnapshotLoadParams", "mem_backend"): ({"backend_type": "File", "backend_path": "@snapmem"},
                                            ("test", "snapshot.t.sh: t_snapshot_api_create_load_counter")),
    ("SnapshotLoadParams", "snapshot_path"): ("@snapstate", ("test", "snapshot.t.sh: t_snapshot_api_create_load_counter")),
    ("SnapshotLoadParams", "resume_vm"): (True, ("test", "snapshot.t.sh: t_snapshot_api_create_load_counter")),
    ("SnapshotLoadParams", "network_overrides"): ([{"iface_id": "eth0", "host_dev_name": "@tap"}],
                                                  ("test", "snapshot.t.sh: t_snapshot_api_load_overrides")),
    ("SnapshotLoadParams", "vsock_override"): ({"uds_path": "@vsock"}, ("test", "snapshot.t.sh: t_snapshot_api_load_overrides")),
    ("SnapshotLoadParams", "clock_realtime"): (True, ("test", "snapshot.t.sh: t_snapshot_api_create_load_counter")),
    ("SnapshotLoadParams", "huge_pages"): (["Snapshot", "None", "Transparent"],
                                           ("test", "snapshot.t.sh: t_snapshot_api_create_load_counter")),
    ("Vm", "state"): (["Paused", "Resumed"], ("test", "api.t.sh: t_api_lifecycle_pause_resume_ctrl_alt_del")),
    ("EntropyDevice", "rate_limiter"): (RL, ("config", ["entropy", "rate_limiter"])),
    # The balloon: what PUT and PATCH set shows in GET /vm/config and in GET /balloon
    # (BALLOON_DEFS); inflating in a guest is limits.t.sh's (t_balloon_inflate, ...).
    ("Balloon", "amount_mib"): (64, ("config", ["balloon", "amount_mib"])),
    ("Balloon", "deflate_on_oom"): ([True, False], ("config", ["balloon", "deflate_on_oom"])),
    ("Balloon", "stats_polling_interval_s"): (5, ("config", ["balloon", "stats_polling_interval_s"])),
    ("Balloon", "free_page_hinting"): (True, ("refused",)),
    ("Balloon", "free_page_reporting"): ([True, False], ("config", ["balloon", "free_page_reporting"])),
    # Before boot PATCH changes the configured balloon (Firecracker refuses it then).
    ("BalloonUpdate", "amount_mib"): (32, ("config", ["balloon", "amount_mib"])),
    ("BalloonStatsUpdate", "stats_polling_interval_s"): (3, ("config", ["balloon", "stats_polling_interval_s"])),
    ("MmdsConfig", "version"): (["V1", "V2"], ("config", ["mmds-config", "version"])),
    ("MmdsConfig", "network_interfaces"): (["eth0"], ("config", ["mmds-config", "network_interfaces"])),
    ("MmdsConfig", "ipv4_address"): ("169.254.170.2", ("config", ["mmds-config", "ipv4_address"])),
    ("MmdsConfig", "imds_compat"): ([True, False], ("config", ["mmds-config", "imds_compat"])),
    ("SerialDevice", "serial_out_path"): ("@serial", ("test", "api.t.sh: t_api_serial_out_path")),
    ("SerialDevice", "rate_limiter"): (TB, ("refused",)),
    ("Vsock", "guest_cid"): (7, ("config", ["vsock", "guest_cid"])),
    ("Vsock", "uds_path"): ("@vsock", ("config", ["vsock", "uds_path"])),
    ("Vsock", "vsock_id"): ("vsock0", ("config", ["vsock", "vsock_id"])),
    ("InstanceActionInfo", "action_type"): (["FlushMetrics", "InstanceStart", "SendCtrlAltDel"],
                                            ("test", "api.t.sh: t_api_lifecycle_pause_resume_ctrl_alt_del")),
}

# Values refused per field: (definition, field) -> values answered 400 naming it.
REFUSED_VALUES = {
    ("MachineConfiguration", "huge_pages"): ["2M"],
    ("MachineConfiguration", "cpu_template"): ["C3", "T2S", "T2CL", "T2A", "V1N1"],
    ("SnapshotLoadParams", "huge_pages"): ["2M"],
    # More than the guest's memory (128 MiB): refused at the request, as Firecracker's.
    ("Balloon", "amount_mib"): [129],
    ("BalloonUpdate", "amount_mib"): [129],
}

# The smallest body each request takes, with its required fields (files filled in).
BASES = {
    ("PUT", "/actions"): {"action_type": "InstanceStart"},
    ("PUT", "/boot-source"): {"kernel_image_path": "@kernel"},
    ("PUT", "/drives/{drive_id}"): {"drive_id": "d1", "path_on_host": "@disk", "is_root_device": False},
    ("PATCH", "/drives/{drive_id}"): {"drive_id": "d1"},
    ("PUT", "/logger"): {},
    ("PUT", "/machine-config"): {"vcpu_count": 1, "mem_size_mib": 128},
    ("PATCH", "/machine-config"): {},
    ("PUT", "/metrics"): {"metrics_path": "@metrics"},
    ("PUT", "/entropy"): {},
    ("PUT", "/serial"): {},
    ("PUT", "/network-interfaces/{iface_id}"): {"iface_id": "eth0", "host_dev_name": "@tap"},
    ("PATCH", "/network-interfaces/{iface_id}"): {"iface_id": "eth0"},
    ("PUT", "/balloon"): {"amount_mib": 0, "deflate_on_oom": False},
    ("PATCH", "/balloon"): {"amount_mib": 16},
    ("PATCH", "/balloon/statistics"): {"stats_polling_interval_s": 1},
    ("PUT", "/mmds/config"): {"network_interfaces": ["eth0"]},
    ("PUT", "/snapshot/create"): {"snapshot_path": "@snapstate", "mem_file_path": "@snapmem"},
    ("PUT", "/snapshot/load"): {"snapshot_path": "@snapstate", "mem_file_path": "@snapmem"},
    ("PATCH", "/vm"): {"state": "Paused"},
    ("PUT", "/vsock"): {"guest_cid": 3, "uds_path": "@vsock"},
}

# Before InstanceStart these answer 400 whatever their fields (Firecracker's rule, or a
# file the test cannot make): a field is then checked only for being parsed (a 400 that
# names it means refused).
NEEDS_A_VM = {("PATCH", "/drives/{drive_id}"), ("PATCH", "/network-interfaces/{iface_id}"),
              ("PUT", "/snapshot/create"), ("PUT", "/snapshot/load"), ("PATCH", "/vm"),
              ("PUT", "/actions")}

# Of those, the ones whose refusal before InstanceStart is Firecracker's own, word for word.
NOT_BEFORE_BOOT = "The requested operation is not supported before starting the microVM."
PREBOOT_FAULT = {("PATCH", "/drives/{drive_id}"): NOT_BEFORE_BOOT,
                 ("PATCH", "/network-interfaces/{iface_id}"): NOT_BEFORE_BOOT}

# Requests that need an interface on a tap that exists (prep makes eth0 on ctap0).
NEEDS_A_TAP = {("PUT", "/mmds/config")}

# Bodies whose fields GET /balloon shows too (its 200 validated against Balloon).
BALLOON_DEFS = {"Balloon", "BalloonUpdate", "BalloonStatsUpdate"}

# PUT and PATCH /mmds take any JSON object (MmdsContentsObject): checked by check_mmds
# through GET /mmds; the guest's side of it is mmds.t.sh's.
MMDS_CONTENTS = {("PUT", "/mmds"), ("PATCH", "/mmds")}

# Paths of the spec Ember does not serve, and why (the README's table says it too).
NOT_SERVED = {
    "/balloon/hinting/start": "no free page hinting",
    "/balloon/hinting/status": "no free page hinting",
    "/balloon/hinting/stop": "no free page hinting",
    "/cpu-config": "no custom CPU templates",
    "/pmem/{id}": "no pmem devices",
    "/hotplug/memory": "no memory hotplug",
}

GETS = ["/", "/version", "/vm/config", "/machine-config", "/balloon", "/balloon/statistics", "/mmds"]


class Result:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def ok(self):
        self.passed += 1

    def fail(self, what):
        self.failed += 1
        print(f"FAIL {what}")

    def skip(self, what):
        self.skipped += 1
        print(f"SKIP {what}")


def http(sock_path, method, path, body=None):
    """One HTTP/1.1 request on the Unix socket: (status, body text)."""
    data = b"" if body is None else json.dumps(body).encode()
    req = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(data)}\r\n"
    if body is not None:
        req += "Content-Type: application/json\r\n"
    req += "Connection: close\r\n\r\n"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)
    s.sendall(req.encode() + data)
    chunks = []
    while True:
        c = s.recv(65536)
        if not c:
            break
        chunks.append(c)
    s.close()
    raw = b"".join(chunks).decode(errors="replace")
    head, _, text = raw.partition("\r\n\r\n")
    status = int(head.split(" ", 2)[1])
    return status, text


# Embers that did not end as SIGTERM ends one (status 143): a crash, or a sanitizer report
# (make asan: status 86); with the end of their stderr.
BAD_EXITS = []


class Ember:
    """One `ember --api-sock`, in a network namespace of its own with a tap when the host
    allows (unshare -rn), so host_dev_name can name a tap that exists."""

    def __init__(self, binary, work, with_tap):
        self.sock = os.path.join(work, f"api{time.monotonic_ns()}.sock")
        self.err_path = self.sock + ".err"
        cmd = [binary, "--api-sock", self.sock]
        if with_tap:
            cmd = ["unshare", "-rn", "sh", "-c",
                   'ip tuntap add ctap0 mode tap && exec "$0" "$@"'] + cmd
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err)
        for _ in range(500):
            if os.path.exists(self.sock):
                # Bound is not yet listening: ready once a connection is taken.
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(self.sock)
                    return
                except OSError:
                    pass
                finally:
                    probe.close()
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"ember did not open its API socket ({' '.join(cmd)})")

    def req(self, method, path, body=None):
        return http(self.sock, method, path, body)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.returncode not in (143, -15):
            with open(self.err_path, "rb") as f:
                tail = f.read()[-2000:].decode(errors="replace")
            BAD_EXITS.append(f"ember ended with status {self.proc.returncode}: {tail}")


def resolve(spec, schema):
    """The schema with every $ref replaced by its definition, and objects closed
    (additionalProperties false unless the spec says otherwise), as Firecracker's own
    test validator does."""
    if "$ref" in schema:
        return resolve(spec, spec["definitions"][schema["$ref"].split("/")[-1]])
    out = copy.deepcopy(schema)
    if "properties" in out:
        out["properties"] = {k: resolve(spec, v) for k, v in out["properties"].items()}
    if isinstance(out.get("items"), dict):
        out["items"] = resolve(spec, out["items"])
    if out.get("type") == "object" and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def drop_nulls(v):
    if isinstance(v, dict):
        return {k: drop_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [drop_nulls(x) for x in v if x is not None]
    return v


def def_name(ref):
    return ref["$ref"].split("/")[-1]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, spec_path = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    res = Result()
    work = tempfile.mkdtemp(prefix="ember-conformance.")
    try:
        run(spec, binary, work, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for bad in BAD_EXITS:
        res.fail(bad)
    print(f"conformance: {res.passed} passed, {res.failed} failed, {res.skipped} skipped")
    return 0 if res.failed == 0 else 1


def run(spec, binary, work, res):
    files = {}
    for name in ["kernel", "kernel2", "initrd", "disk", "disk2"]:
        p = os.path.join(work, name)
        with open(p, "wb") as f:
            f.write(b"\0" * 4096)
        files["@" + name] = p
    for name in ["log", "metrics", "serial", "snapstate", "snapmem"]:
        files["@" + name] = os.path.join(work, name)
    files["@vsock"] = os.path.join(work, "v.sock")
    files["@tap"] = "ctap0"

    try:
        if os.environ.get("EMBER_CONFORMANCE_NO_NETNS"):
            raise RuntimeError("asked")
        Ember(binary, work, True).stop()
        with_tap = True
    except RuntimeError:
        with_tap = False
        res.skip("no network namespace with a tap (unshare -rn): network interfaces are "
                 "checked for refusals only")

    def fill(v):
        if isinstance(v, str):
            return files.get(v, v)
        if isinstance(v, dict):
            return {k: fill(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fill(x) for x in v]
        return v

    validators = {}

    def validator(schema):
        key = json.dumps(schema, sort_keys=True)
        if key not in validators:
            validators[key] = Draft4Validator(resolve(spec, schema))
        return validators[key]

    error_v = validator({"$ref": "#/definitions/Error"})

    def check_body(what, method, path_spec, status, text):
        """The response validates against what the spec says for its status."""
        responses = spec["paths"][path_spec][method.lower()]["responses"]
        schema = responses.get(status, responses.get(str(status), responses.get("default")))
        if status == 204:
            if text:
                res.fail(f"{what}: 204 with a body: {text[:200]}")
            else:
                res.ok()
            return
        if status not in responses and str(status) not in responses and status != 400:
            res.fail(f"{what}: status {status} is not in the spec ({sorted(map(str, responses))})")
            return
        if schema is None or "schema" not in (schema or {}):
            schema = {"schema": {"$ref": "#/definitions/Error"}}
        try:
            body = json.loads(text)
        except ValueError:
            res.fail(f"{what}: status {status}, body is not JSON: {text[:200]}")
            return
        v = validator(schema["schema"]) if status != 400 else error_v
        errs = sorted(v.iter_errors(drop_nulls(body)), key=str)
        if errs:
            res.fail(f"{what}: status {status} body does not validate: {errs[0].message}")
        else:
            res.ok()

    def vm_config(e):
        st, text = e.req("GET", "/vm/config")
        check_body("GET /vm/config", "GET", "/vm/config", st, text)
        return json.loads(text) if st == 200 else None

    def at(obj, keys):
        for k in keys:
            if isinstance(k, int):
                if not isinstance(obj, list) or len(obj) <= k:
                    return None
            elif not isinstance(obj, dict) or k not in obj:
                return None
            obj = obj[k]
        return obj

    # Every GET Ember serves, on a fresh Ember and on one configured with everything.
    e = Ember(binary, work, with_tap)
    try:
        for p in GETS:
            st, text = e.req("GET", p)
            if p == "/mmds":
                # Before the first PUT /mmds Firecracker answers 200 null (the spec says an
                # object): that, exactly.
                if st == 200 and text.strip() == "null":
                    res.ok()
                else:
                    res.fail(f"GET /mmds before PUT /mmds: {st} {text[:200]}, not Firecracker's 200 null")
                continue
            check_body(f"GET {p}", "GET", p, st, text)
        e.req("PUT", "/boot-source", fill({"kernel_image_path": "@kernel", "initrd_path": "@initrd"}))
        e.req("PUT", "/drives/d1", fill({"drive_id": "d1", "path_on_host": "@disk", "is_root_device": True,
                                        "cache_type": "Writeback"}))
        if with_tap:
            st, text = e.req("PUT", "/network-interfaces/eth0",
                             fill({"iface_id": "eth0", "host_dev_name": "@tap", "guest_mac": "06:00:ac:10:00:02",
                                   "mtu": 1400}))
            if st != 204:
                res.fail(f"PUT /network-interfaces/eth0 on a tap that exists: {st} {text}")
        e.req("PUT", "/vsock", fill({"vsock_id": "v0", "guest_cid": 3, "uds_path": "@vsock"}))
        e.req("PUT", "/entropy", {"rate_limiter": RL})
        for method, path, body in [("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": True,
                                                         "stats_polling_interval_s": 1}),
                                   ("PUT", "/mmds", MMDS_SAMPLE)] + (
                [("PUT", "/mmds/config", {"network_interfaces": ["eth0"]})] if with_tap else []):
            st, text = e.req(method, path, body)
            if st != 204:
                res.fail(f"{method} {path} {body}: {st} {text[:200]}")
        for p in GETS:
            st, text = e.req("GET", p)
            check_body(f"GET {p} (configured)", "GET", p, st, text)
        st, text = e.req("GET", "/mmds")
        if st == 200 and json.loads(text) == MMDS_SAMPLE:
            res.ok()
        else:
            res.fail(f"GET /mmds after PUT /mmds {MMDS_SAMPLE}: {st} {text[:200]}")
    finally:
        e.stop()

    # Files are opened by the request that names them (Firecracker's rule): a missing one
    # is refused there, naming it, and nothing changes.
    missing = os.path.join(work, "no-such-file")
    a_dir = work
    bad = [
        ("PUT", "/boot-source", {"kernel_image_path": missing}),
        ("PUT", "/boot-source", {"kernel_image_path": "@kernel", "initrd_path": missing}),
        ("PUT", "/boot-source", {"kernel_image_path": a_dir}),
        ("PUT", "/drives/d1", {"drive_id": "d1", "path_on_host": missing, "is_root_device": False}),
        ("PUT", "/drives/d1", {"drive_id": "d1", "path_on_host": a_dir, "is_root_device": False}),
        ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "nosuchtap9"}),
        ("PUT", "/serial", {"serial_out_path": os.path.join(missing, "x")}),
    ]
    e = Ember(binary, work, with_tap)
    try:
        before = vm_config(e)
        for method, path, body in bad:
            body = fill(body)
            st, text = e.req(method, path, body)
            named = missing if missing in json.dumps(body) else (
                "nosuchtap9" if "nosuchtap9" in json.dumps(body) else a_dir)
            if st == 400 and named in text:
                res.ok()
            else:
                res.fail(f"{method} {path} {body}: should be refused naming {named}: {st} {text[:200]}")
        if vm_config(e) != before:
            res.fail("refused files changed GET /vm/config")
    finally:
        e.stop()

    # Every path and method of the spec.
    for path_spec, methods in spec["paths"].items():
        concrete = path_spec.replace("{drive_id}", "d1").replace("{iface_id}", "eth0").replace("{id}", "p1")
        for method, op in methods.items():
            method = method.upper()
            body_schema = next((p["schema"] for p in op.get("parameters", []) if p.get("in") == "body"), None)
            what = f"{method} {path_spec}"
            if (method, path_spec) in MMDS_CONTENTS:
                check_mmds(Ember(binary, work, False), res, method, path_spec, check_body)
                continue
            if path_spec in NOT_SERVED:
                e = Ember(binary, work, False)
                try:
                    st, text = e.req(method, concrete, {} if body_schema else None)
                finally:
                    e.stop()
                if st != 400 or "Invalid request method and/or path" not in text:
                    res.fail(f"{what}: not classified ({NOT_SERVED[path_spec]}) but answered "
                             f"{st} {text[:200]}: add its fields to tests/api_conformance.py")
                else:
                    check_body(what, method, path_spec, st, text)
                continue
            if method == "GET":
                if path_spec not in GETS:
                    res.fail(f"{what}: a GET of the spec that this test does not know")
                continue
            if (method, path_spec) not in BASES:
                res.fail(f"{what}: no base body in tests/api_conformance.py")
                continue
            if "$ref" not in (body_schema or {}):
                res.fail(f"{what}: its body is not a definition")
                continue
            dname = def_name(body_schema)
            props = spec["definitions"][dname].get("properties", {})
            base = fill(BASES[(method, path_spec)])
            needs_vm = (method, path_spec) in NEEDS_A_VM

            # The base body itself, and an unknown field.
            e = Ember(binary, work, with_tap)
            try:
                prep(e, method, path_spec, fill)
                st, text = e.req(method, concrete, base)
                check_body(f"{what} (base)", method, path_spec, st, text)
                if needs_vm and (method, path_spec) in PREBOOT_FAULT and \
                        PREBOOT_FAULT[(method, path_spec)] not in text:
                    res.fail(f"{what}: before InstanceStart the base body should be refused with "
                             f"\"{PREBOOT_FAULT[(method, path_spec)]}\", got {st} {text[:200]}")
                if not needs_vm and st != 204:
                    if ("ctap0" in json.dumps(base) or (method, path_spec) in NEEDS_A_TAP) and not with_tap:
                        res.skip(f"{what}: no tap here for the base body")
                    else:
                        res.fail(f"{what}: the base body {base} was refused: {text}")
                before = vm_config(e)
                st, text = e.req(method, concrete, dict(base, ember_bogus_field=1))
                if st == 400 and "ember_bogus_field" in text:
                    res.ok()
                else:
                    res.fail(f"{what}: an unknown field answered {st} {text[:200]}")
                if vm_config(e) != before:
                    res.fail(f"{what}: a refused request changed GET /vm/config")
            finally:
                e.stop()

            for field in props:
                key = (dname, field)
                if key not in FIELDS:
                    res.fail(f"{what}: field '{field}' ({dname}) is not classified in tests/api_conformance.py")
                    continue
                sample, verdict = FIELDS[key]
                values = sample if isinstance(sample, list) and props[field].get("type") != "array" else [sample]
                cases = [(v, verdict) for v in values] + [(v, ("refused",)) for v in REFUSED_VALUES.get(key, [])]
                for value, v in cases:
                    check_field(e_factory=lambda: Ember(binary, work, with_tap), res=res, what=what,
                                method=method, path_spec=path_spec, concrete=concrete, base=base,
                                field=field, value=fill(value), verdict=v, needs_vm=needs_vm,
                                with_tap=with_tap, fill=fill, check_body=check_body, vm_config=vm_config,
                                at=at, dname=dname)


MMDS_SAMPLE = {"latest": {"meta-data": {"ami-id": "ami-1", "placement": {"zone": "eu-1a"}}}, "n": [1, 2]}


def check_mmds(e, res, method, path_spec, check_body):
    """PUT /mmds replaces the store and PATCH /mmds merges into it (RFC 7396: null
    deletes), as GET /mmds shows; PATCH before any PUT is Firecracker's 400; a body that
    is not an object is refused. Every answer validated against the spec."""
    what = f"{method} {path_spec}"

    def step(label, m, body, want_status, want_store, want_text=""):
        st, text = e.req(m, "/mmds", body)
        check_body(f"{what}: {label}", m, path_spec, st, text)
        if st != want_status or want_text not in text:
            res.fail(f"{what}: {label}: {st} {text[:200]}, not {want_status} {want_text}")
        st, text = e.req("GET", "/mmds")
        shown = json.loads(text) if st == 200 else text
        if want_store is None:
            ok = st == 200 and text.strip() == "null"
        else:
            check_body(f"GET /mmds after {label}", "GET", "/mmds", st, text)
            ok = st == 200 and shown == want_store
        if ok:
            res.ok()
        else:
            res.fail(f"{what}: {label}: GET /mmds shows {st} {text[:200]}, not {json.dumps(want_store)}")

    try:
        if method == "PUT":
            step("a first PUT", "PUT", MMDS_SAMPLE, 204, MMDS_SAMPLE)
            step("a second PUT replaces", "PUT", {"x": "y"}, 204, {"x": "y"})
            step("an array", "PUT", [1, 2], 400, {"x": "y"})
        else:
            step("PATCH before PUT", "PATCH", {"a": 1}, 400, None,
                 "The MMDS data store is not initialized.")
            e.req("PUT", "/mmds", MMDS_SAMPLE)
            step("a merge patch", "PATCH",
                 {"latest": {"meta-data": {"ami-id": "ami-2", "placement": None}}, "x": "y"}, 204,
                 {"latest": {"meta-data": {"ami-id": "ami-2"}}, "n": [1, 2], "x": "y"})
            step("an array", "PATCH", [1, 2], 400,
                 {"latest": {"meta-data": {"ami-id": "ami-2"}}, "n": [1, 2], "x": "y"})
    finally:
        e.stop()


def prep(e, method, path_spec, fill):
    """What a request needs configured first: a drive to patch, a balloon to patch, an
    interface for MMDS."""
    if path_spec == "/drives/{drive_id}" and method == "PATCH":
        e.req("PUT", "/drives/d1", fill({"drive_id": "d1", "path_on_host": "@disk", "is_root_device": False}))
    if path_spec in ("/balloon", "/balloon/statistics") and method == "PATCH":
        e.req("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": False})
    if (method, path_spec) in NEEDS_A_TAP:
        e.req("PUT", "/network-interfaces/eth0", fill({"iface_id": "eth0", "host_dev_name": "@tap"}))


def check_field(e_factory, res, what, method, path_spec, concrete, base, field, value, verdict,
                needs_vm, with_tap, fill, check_body, vm_config, at, dname):
    label = f"{what} field '{field}' = {json.dumps(value)[:60]}"
    uses_tap = "ctap0" in json.dumps(value) or "ctap0" in json.dumps(base) or \
        (method, path_spec) in NEEDS_A_TAP
    e = e_factory()
    try:
        prep(e, method, path_spec, fill)
        before = vm_config(e)
        st, text = e.req(method, concrete, dict(base, **{field: value}))
        check_body(label, method, path_spec, st, text)
        names_it = st == 400 and f"'{field}'" in text
        kind = verdict[0]
        if kind == "refused":
            if names_it:
                res.ok()
            else:
                res.fail(f"{label}: should be refused with a 400 naming '{field}', got {st} {text[:200]}")
        elif names_it:
            res.fail(f"{label}: refused ({text[:200]}) but listed as honoured ({verdict})")
        elif kind == "config":
            if st != 204:
                if uses_tap and not with_tap:
                    res.skip(f"{label}: no tap here")
                else:
                    res.fail(f"{label}: refused: {st} {text[:200]}")
            else:
                shown = at(vm_config(e), verdict[1])
                want = verdict[2] if len(verdict) > 2 else value
                if shown == want:
                    res.ok()
                else:
                    res.fail(f"{label}: GET /vm/config shows {shown!r} at {verdict[1]}, not {want!r}")
                if dname in BALLOON_DEFS:
                    st, text = e.req("GET", "/balloon")
                    check_body(f"GET /balloon after {label}", "GET", "/balloon", st, text)
                    shown = json.loads(text).get(field) if st == 200 else None
                    if shown == want:
                        res.ok()
                    else:
                        res.fail(f"{label}: GET /balloon shows {field} {shown!r}, not {want!r}")
        elif kind == "test":
            # Accepted by the parser; with no VM the request itself may be refused.
            fault = PREBOOT_FAULT.get((method, path_spec))
            if st == 400 and fault and fault not in text:
                res.fail(f"{label}: before InstanceStart should be refused with \"{fault}\", got {text[:200]}")
            elif st == 204 or (needs_vm and st == 400):
                res.ok()
            else:
                res.fail(f"{label}: refused ({st} {text[:200]}), but {verdict[1]} covers it as honoured")
        if st >= 400 and vm_config(e) != before:
            res.fail(f"{label}: a refused request changed GET /vm/config")
    finally:
        e.stop()


if __name__ == "__main__":
    sys.exit(main())
