# Ember: `make` builds build/ember and the test guests; `make guest` the default Linux
# guest; `make test` runs every test; `make install` installs ember, ember-jailer and the
# default guest.
BUILD   ?= build
CC      ?= gcc
VERSION := 0.1.0

WARN    := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 -Wstrict-prototypes
# OPT and SANITIZE (set by make asan) are ours; a user's CFLAGS is added on top, and a
# CFLAGS given on the command line cannot drop the warnings or the sanitizers.
OPT      ?= -O2 -g
SANITIZE ?=
CFLAGS   ?=
EMBER_CFLAGS := $(OPT) $(SANITIZE) -std=gnu11 $(WARN) -D_GNU_SOURCE \
	-DEMBER_VERSION='"$(VERSION)"' -fstack-protector-strong -D_FORTIFY_SOURCE=2 -MMD -MP $(CFLAGS)
LDFLAGS ?=
STATIC  ?= -static
PREFIX  ?= /usr/local
DESTDIR ?=

# The monitor, by subsystem.
CORE_SRCS := src/main.c src/cli.c src/base/config.c src/base/log.c src/base/signals.c src/doctor.c src/base/file_io.c \
             src/base/crc32c.c src/base/snapshot_file.c src/base/rate_limiter.c src/base/footprint.c src/base/start_trace.c \
             src/default_guest.c src/warm.c
VMM_SRCS  := src/base/kvm.c src/vmm/vm.c src/vmm/initrd.c src/vmm/vcpu.c src/base/event_loop.c src/vmm/vmm_thread.c \
             src/base/term.c src/base/guest_mem.c src/base/bus.c src/vmm/devices.c src/vmm/snapshot.c \
             src/vmm/controller.c src/vmm/ctl_json.c src/vmm/metrics.c
X86_SRCS  := src/arch/x86/arch.c src/arch/x86/kernel.c src/arch/x86/boot_tables.c src/arch/x86/boot_vcpu.c \
             src/arch/x86/elf_load.c src/arch/x86/cpuid.c src/arch/x86/vcpu_state.c
DEV_SRCS  := src/devices/serial.c src/devices/i8042.c src/devices/power.c src/devices/pvpanic.c src/devices/vmgenid.c \
             src/devices/handover.c \
             src/devices/boot_timer.c
ACPI_SRCS := src/acpi/aml.c src/arch/x86/acpi_tables.c
# MMDS, the metadata service: its store, the guest's HTTP and the network stack under it.
MMDS_SRCS := src/mmds/mmds_store.c src/mmds/mmds_http.c src/mmds/mmds_net.c
VIRTIO_SRCS := src/virtio/virtqueue.c src/virtio/virtio_dev.c src/virtio/mmio.c src/virtio/rng.c \
               src/virtio/blk.c src/virtio/blk_sync.c src/virtio/blk_uring.c \
               src/virtio/net.c src/virtio/tap.c src/virtio/vsock.c src/virtio/vsock_conn.c \
               src/virtio/balloon.c src/virtio/vsock_host.c src/virtio/iov.c src/virtio/virtio_state.c src/virtio/vsock_state.c \
               $(MMDS_SRCS)
API_SRCS  := src/api/parse.c src/api/config_json.c src/api/http.c src/api/server.c \
             src/api/api_mode.c
# The seccomp filters: the rules (filters.c) are compiled to BPF at build time by
# seccomp-gen (gen.c, with Debian's libseccomp-dev), which writes seccomp_bpf.c; Ember
# itself links no libseccomp and compiles nothing as it starts.
SECCOMP_SRCS := src/seccomp/seccomp.c src/seccomp/filters.c $(BUILD)/gen/seccomp_bpf.c
# liburing (Debian liburing-dev): virtio-blk's default engine. jansson (libjansson-dev):
# the API's JSON. libhttp-parser (libhttp-parser-dev): the API's HTTP requests.
LIBS := -luring -ljansson -lhttp_parser
EMBER_SRCS := $(CORE_SRCS) $(VMM_SRCS) $(X86_SRCS) $(DEV_SRCS) $(ACPI_SRCS) $(VIRTIO_SRCS) \
              $(API_SRCS) src/seccomp/seccomp.c src/seccomp/filters.c
EMBER_OBJS := $(EMBER_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/seccomp_bpf.o
# The monitor but main.c: the front ends' tests link it (a row of the endpoint table names
# both its parse and its execute function, and the CLI runs its commands on the controller).
MONITOR_SRCS := $(filter-out src/main.c src/seccomp/seccomp.c src/seccomp/filters.c,$(EMBER_SRCS)) \
                $(SECCOMP_SRCS)

# The test-hooks build: the same objects but for the files with #ifdef EMBER_TEST_HOOKS,
# built again with it (a hidden --seccomp-test-violate=KIND flag). Only tests run it.
HOOK_SRCS := src/main.c src/seccomp/seccomp.c
HOOK_OBJS := $(filter-out $(HOOK_SRCS:%.c=$(BUILD)/obj/%.o),$(EMBER_OBJS)) \
             $(HOOK_SRCS:%.c=$(BUILD)/obj-hooks/%.o)

# The jailer: a separate static program (issue 6).
JAILER_SRCS := src/jailer/jailer.c src/jailer/args.c src/jailer/elf.c src/jailer/msg.c \
               src/jailer/proc.c src/jailer/fs.c src/jailer/cgroup.c src/jailer/mount.c \
               src/jailer/privs.c src/jailer/path.c
JAILER_OBJS := $(JAILER_SRCS:%.c=$(BUILD)/obj/%.o)

# ember-oci: the OCI runtime, a separate static program (issue 14) that drives the ember
# binary; the guest side is guest/agent.c, in the default guest's initramfs.
OCI_SRCS := src/oci/main.c src/oci/spec.c src/oci/state.c src/oci/shim.c
OCI_OBJS := $(OCI_SRCS:%.c=$(BUILD)/obj/%.o)

# Unit tests (cmocka): each links its test file with the sources it exercises.
UNIT_TESTS := test_guest_mem test_initrd test_kernel test_elf_load test_boot_tables test_cpuid test_bus \
              test_serial test_config test_aml test_acpi_tables test_power test_virtqueue \
              test_blk test_net test_mmds test_vsock test_i8042 test_api_parse test_api_http \
              test_jailer_args test_jailer_cgroup test_jailer_elf test_seccomp test_devices test_vcpu \
              test_oci_spec test_oci_state test_snapshot_file test_vcpu_state test_metrics test_log \
              test_rate_limiter test_balloon test_vmgenid
test_guest_mem_SRCS   := src/base/guest_mem.c src/base/file_io.c
test_initrd_SRCS      := src/vmm/initrd.c src/base/guest_mem.c src/base/file_io.c
test_kernel_SRCS      := src/arch/x86/kernel.c src/arch/x86/elf_load.c src/base/guest_mem.c \
                         src/base/file_io.c
test_elf_load_SRCS    := src/arch/x86/elf_load.c src/base/guest_mem.c src/base/file_io.c
test_boot_tables_SRCS := src/arch/x86/boot_tables.c src/base/guest_mem.c
test_cpuid_SRCS       := src/arch/x86/cpuid.c
test_bus_SRCS         := src/base/bus.c
test_serial_SRCS      := src/devices/serial.c src/base/start_trace.c
test_config_SRCS      := $(MONITOR_SRCS)
test_config_LIBS      := $(LIBS)
test_aml_SRCS         := src/acpi/aml.c
test_acpi_tables_SRCS := src/arch/x86/acpi_tables.c src/acpi/aml.c src/base/guest_mem.c
test_power_SRCS       := src/devices/power.c src/devices/pvpanic.c src/devices/handover.c
test_vmgenid_SRCS     := src/devices/vmgenid.c src/base/guest_mem.c
test_snapshot_file_SRCS := src/base/snapshot_file.c src/base/crc32c.c
test_rate_limiter_SRCS := src/base/rate_limiter.c
test_vcpu_state_SRCS  := src/arch/x86/vcpu_state.c src/base/snapshot_file.c src/base/crc32c.c
# Virtio device tests drive a device through the fake guest driver in virtio_harness.c.
VIRTIO_TEST_SRCS := tests/unit/virtio_harness.c src/virtio/virtqueue.c src/virtio/virtio_dev.c src/virtio/iov.c \
                    src/virtio/mmio.c src/base/bus.c src/base/config.c \
                    src/base/event_loop.c src/base/guest_mem.c src/base/log.c src/base/rate_limiter.c
test_virtqueue_SRCS   := src/virtio/rng.c $(VIRTIO_TEST_SRCS)
test_blk_SRCS         := src/virtio/blk.c src/virtio/blk_sync.c src/virtio/blk_uring.c \
                         $(VIRTIO_TEST_SRCS)
test_blk_LIBS         := -luring
test_net_SRCS         := src/virtio/net.c src/virtio/tap.c $(MMDS_SRCS) $(VIRTIO_TEST_SRCS)
test_net_LIBS         := -ljansson
test_mmds_SRCS        := $(MMDS_SRCS)
test_mmds_LIBS        := -ljansson
test_balloon_SRCS     := src/virtio/balloon.c $(VIRTIO_TEST_SRCS)
test_vsock_SRCS       := src/virtio/vsock.c src/virtio/vsock_conn.c src/virtio/vsock_host.c \
                         $(VIRTIO_TEST_SRCS)
test_i8042_SRCS       := src/devices/i8042.c
test_jailer_args_SRCS   := src/jailer/args.c
test_jailer_cgroup_SRCS := src/jailer/cgroup.c src/jailer/msg.c src/jailer/path.c
test_jailer_elf_SRCS    := src/jailer/elf.c
test_oci_spec_SRCS    := src/oci/spec.c
test_oci_spec_LIBS    := -ljansson
test_oci_state_SRCS   := src/oci/state.c
test_oci_state_LIBS   := -ljansson
test_api_parse_SRCS   := $(MONITOR_SRCS)
test_api_parse_LIBS   := $(LIBS)
test_api_http_SRCS    := $(MONITOR_SRCS)
test_api_http_LIBS    := $(LIBS)
test_seccomp_SRCS     := $(SECCOMP_SRCS) src/base/log.c
# The metrics line against Firecracker's layout (pure: no VM).
test_metrics_SRCS     := src/vmm/metrics.c
test_metrics_LIBS     := -ljansson
test_log_SRCS         := src/base/log.c
# The device table with every device it makes (vcpu.c for vm_stop, which devices call).
test_devices_SRCS     := src/vmm/devices.c src/vmm/vcpu.c src/base/footprint.c src/base/start_trace.c $(DEV_SRCS) $(VIRTIO_SRCS) \
                         src/base/bus.c src/base/event_loop.c src/base/guest_mem.c src/base/log.c \
                         src/base/config.c src/base/snapshot_file.c src/base/crc32c.c \
                         src/base/rate_limiter.c $(SECCOMP_SRCS)
test_devices_LIBS     := -luring -ljansson
test_vcpu_SRCS        := src/vmm/vcpu.c src/base/footprint.c src/base/start_trace.c src/base/bus.c src/base/log.c $(SECCOMP_SRCS)
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/unit/%)

include tests/guests/guests.mk
GUEST_ELFS := $(addprefix $(BUILD)/guests/,$(addsuffix .elf,$(GUEST_NAMES))) \
              $(BUILD)/guests/hello_pvh.elf

.PHONY: all deps demo run-tests test unit conformance integration asan bench clean format guest guest-generic density compare \
	guest-kernel install uninstall rootfs fuzz fuzz-smoke seccomp-report
all: $(BUILD)/ember $(BUILD)/ember-jailer $(BUILD)/ember-oci $(BUILD)/ember-test-hooks $(GUEST_ELFS)

$(BUILD)/ember-jailer: $(JAILER_OBJS)
	$(CC) $(EMBER_CFLAGS) $(STATIC) -o $@ $^ $(LDFLAGS)

$(BUILD)/ember-oci: $(OCI_OBJS)
	$(CC) $(EMBER_CFLAGS) $(STATIC) -o $@ $^ -ljansson $(LDFLAGS)

$(BUILD)/ember: $(EMBER_OBJS)
	$(CC) $(EMBER_CFLAGS) $(STATIC) -pthread -o $@ $^ $(LIBS) $(LDFLAGS)

$(BUILD)/ember-test-hooks: $(HOOK_OBJS)
	$(CC) $(EMBER_CFLAGS) $(STATIC) -pthread -o $@ $^ $(LIBS) $(LDFLAGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(EMBER_CFLAGS) -pthread -c -o $@ $<

$(BUILD)/obj-hooks/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(EMBER_CFLAGS) -DEMBER_TEST_HOOKS -pthread -c -o $@ $<

# Built with Ember's own flags, so a sanitizer build's filters hold its runtime's rules.
$(BUILD)/seccomp-gen: src/seccomp/gen.c src/seccomp/filters.c $(wildcard src/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(EMBER_CFLAGS)) -o $@ src/seccomp/gen.c src/seccomp/filters.c \
		-lseccomp $(LDFLAGS)

$(BUILD)/gen/seccomp_bpf.c: $(BUILD)/seccomp-gen
	@mkdir -p $(dir $@)
	$(BUILD)/seccomp-gen >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/seccomp_bpf.o: $(BUILD)/gen/seccomp_bpf.c
	@mkdir -p $(dir $@)
	$(CC) $(EMBER_CFLAGS) -Isrc -c -o $@ $<

# What each thread may call once locked down, with the reasons and the totals.
seccomp-report: $(BUILD)/ember
	@$(BUILD)/ember seccomp-report

.SECONDEXPANSION:
$(BUILD)/unit/%: tests/unit/%.c $$(%_SRCS) tests/unit/unit.h tests/unit/virtio_harness.h
	@mkdir -p $(dir $@)
	$(CC) $(EMBER_CFLAGS) -Isrc -pthread -o $@ $< $($*_SRCS) $($*_LIBS) -lcmocka $(LDFLAGS)

unit: $(UNIT_BINS)
	@sh tests/run-unit.sh $(UNIT_BINS)

integration: all
	@EMBER=$(abspath $(BUILD)/ember) GUESTS=$(abspath $(BUILD)/guests) sh tests/run-integration.sh

# Every test: unit tests on the host, then the guests under KVM (directly or in the rig),
# the default Linux guest among them. Both suites always run; the target fails if either did.
test: deps
	@$(MAKE) --no-print-directory all guest $(UNIT_BINS) >/dev/null
	@$(MAKE) --no-print-directory run-tests

run-tests:
	@sh scripts/check-layers.sh
	@$(MAKE) --no-print-directory fuzz-smoke
	@sh tests/install.sh
	@sh tests/readme-rig.sh $(BUILD)
	@$(MAKE) --no-print-directory $(DENSITY_HELPERS) $(BUILD)/bench/runstat $(BUILD)/bench/hello_pvh.elf \
		$(BUILD)/bench/hello_flat.bin >/dev/null
	@sh tests/compare-smoke.sh
	@sh tests/run-unit.sh $(UNIT_BINS); u=$$?; \
	python3 tests/api_conformance.py $(BUILD)/ember docs/reference/firecracker-api.yaml; c=$$?; \
	EMBER=$(abspath $(BUILD)/ember) GUESTS=$(abspath $(BUILD)/guests) sh tests/run-integration.sh; \
	i=$$?; [ $$u -eq 0 ] && [ $$c -eq 0 ] && [ $$i -eq 0 ]

# The API against Firecracker's swagger spec, field by field, on the host (no KVM needed).
conformance: $(BUILD)/ember
	@python3 tests/api_conformance.py $(BUILD)/ember docs/reference/firecracker-api.yaml

# The same tests against an AddressSanitizer + UBSan build (dynamically linked: ASan
# cannot be static). A sanitizer report ends ember with status 86, which no test expects.
asan:
	ASAN_OPTIONS=exitcode=86 UBSAN_OPTIONS=halt_on_error=1:exitcode=86:print_stacktrace=1 $(MAKE) BUILD=build-asan STATIC= OPT="-O1 -g -fno-omit-frame-pointer" \
		SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" test

# Benchmark helpers: a static timer and a guest both Ember and QEMU can boot.
$(BUILD)/bench/runstat: bench/runstat.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

$(BUILD)/bench/now: bench/now.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

$(BUILD)/bench/apilat: bench/apilat.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/bench/listen_floor: bench/listen_floor.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

# Also a test guest: the same image entered by the 64-bit entry and by --boot pvh.
$(BUILD)/bench/hello_pvh.elf $(BUILD)/guests/hello_pvh.elf: bench/hello_pvh.S bench/hello_pvh.ld
	@mkdir -p $(dir $@)
	$(CC) -c -o $@.o bench/hello_pvh.S
	$(LD) -static -nostdlib -T bench/hello_pvh.ld -o $@ $@.o

# The density benchmark's helpers: a background starter that waits for the first console
# line, and the idle guest (one line, then HLT forever) as a PVH ELF and, for kvmtool, as a
# real-mode flat binary.
$(BUILD)/bench/spawn: bench/spawn.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

$(BUILD)/bench/idle_pvh.elf: bench/hello_pvh.S bench/hello_pvh.ld
	@mkdir -p $(dir $@)
	$(CC) -DIDLE -c -o $@.o bench/hello_pvh.S
	$(LD) -static -nostdlib -T bench/hello_pvh.ld -o $@ $@.o

$(BUILD)/bench/idle_flat.bin: bench/idle_flat.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $@.o bench/idle_flat.S
	$(LD) -Ttext=0 --oformat binary -o $@ $@.o

$(BUILD)/bench/hello_flat.bin: bench/idle_flat.S
	@mkdir -p $(dir $@)
	$(CC) -DEXIT -c -o $@.o bench/idle_flat.S
	$(LD) -Ttext=0 --oformat binary -o $@ $@.o

DENSITY_HELPERS = $(BUILD)/bench/spawn $(BUILD)/bench/idle_pvh.elf $(BUILD)/bench/idle_flat.bin

# N idle guests alive at once under Ember, kvmtool and QEMU (bench/density.sh).
density: all guest $(DENSITY_HELPERS)
	sh bench/density.sh

# What isolation costs: Ember against the rig's own processes, crun, runc, gVisor, QEMU and
# kvmtool on the seed studies' axes, in one rig run; writes compare/REPORT.md and charts.
# QUICK=1 for a few minutes. runc, runsc and sysbench: install-deps.sh bench (crun, gnuplot and
# strace are in the base set, for the smoke test).
compare: all guest $(DENSITY_HELPERS) $(BUILD)/bench/runstat $(BUILD)/bench/hello_pvh.elf \
		$(BUILD)/bench/hello_flat.bin
	@sh scripts/install-deps.sh bench || echo "compare: some bench packages are missing; their rows will say so"
	sh bench/compare.sh

deps:
	@sh scripts/install-deps.sh

# libFuzzer over the API's HTTP layer (clang, libclang-rt-14-dev), a bounded run:
# FUZZ_TIME seconds (default 30) from the seed corpus in tests/fuzz/corpus_http.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 30
# The monitor's KVM structs end in a flexible array and sit inside others (kvm_msrs and
# its entries, kvm_irq_routing and its routes), a GNU extension gcc takes quietly.
FUZZ_WARN := -Wno-gnu-variable-sized-type-not-at-end
$(BUILD)/fuzz/fuzz_api_http: tests/fuzz/fuzz_api_http.c $(MONITOR_SRCS) src/api/server.h \
		src/api/http.h src/api/api.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -std=gnu11 $(WARN) $(FUZZ_WARN) -D_GNU_SOURCE \
		-DEMBER_VERSION='"$(VERSION)"' -Isrc \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ \
		$(filter %.c,$^) $(LIBS)

# MMDS's guest-facing frame path (src/mmds/): frames from a hostile guest, seeds in
# tests/fuzz/corpus_mmds.
$(BUILD)/fuzz/fuzz_mmds_net: tests/fuzz/fuzz_mmds_net.c $(MMDS_SRCS) src/mmds/mmds.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -std=gnu11 $(WARN) -D_GNU_SOURCE -Isrc \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ \
		$(filter %.c,$^) -ljansson

fuzz: deps $(BUILD)/fuzz/fuzz_api_http $(BUILD)/fuzz/fuzz_mmds_net
	@mkdir -p $(BUILD)/fuzz/corpus_http $(BUILD)/fuzz/corpus_mmds
	$(BUILD)/fuzz/fuzz_api_http -max_total_time=$(FUZZ_TIME) -max_len=20000 \
		-dict=tests/fuzz/http.dict -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus_http \
		tests/fuzz/corpus_http
	$(BUILD)/fuzz/fuzz_mmds_net -max_total_time=$(FUZZ_TIME) -max_len=8192 \
		-dict=tests/fuzz/mmds.dict -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus_mmds \
		tests/fuzz/corpus_mmds

# A few seconds of the MMDS fuzzer, so that `make test` keeps it building and finding
# nothing new in its seeds; skipped, loudly, without clang.
fuzz-smoke:
	@if command -v $(FUZZ_CC) >/dev/null; then \
		$(MAKE) --no-print-directory $(BUILD)/fuzz/fuzz_mmds_net >/dev/null && \
		mkdir -p $(BUILD)/fuzz/smoke && \
		$(BUILD)/fuzz/fuzz_mmds_net -max_total_time=8 -max_len=8192 -seed=1 \
			-dict=tests/fuzz/mmds.dict -artifact_prefix=$(BUILD)/fuzz/ \
			$(BUILD)/fuzz/smoke tests/fuzz/corpus_mmds >$(BUILD)/fuzz/smoke.log 2>&1 && \
		echo "fuzz-smoke: fuzz_mmds_net ran 8 s, nothing found"; \
		r=$$?; [ $$r -eq 0 ] || tail -30 $(BUILD)/fuzz/smoke.log; exit $$r; \
	else echo "fuzz-smoke: SKIPPED, no $(FUZZ_CC) (scripts/install-deps.sh)"; fi

# The default guest `ember run` boots without --kernel: Debian's cloud kernel and our
# initramfs (guest/init.c, busybox, the virtio modules). Fetches the kernel with apt.
GUEST_FILES := $(addprefix $(BUILD)/guest/,vmlinux bzImage initrd.cpio version)
guest: $(GUEST_FILES)
$(GUEST_FILES) &: guest/init.c guest/agent.c guest/agent.h guest/agent_proto.h guest/vsock.c src/base/handover.h \
		scripts/build-guest.sh
	CC="$(CC)" sh scripts/build-guest.sh $(BUILD)/guest
	@touch $(GUEST_FILES) # the script leaves an unchanged vmlinux alone

# Optional, not run in CI: the same guest on Debian's generic kernel (linux-image-amd64,
# which has VMGenID built in: clones reseed their RNG), for tests/integration/clones.t.sh
# (GUEST_DIR=build/guest-generic). About 70 MB more to download.
guest-generic:
	KERNEL_FLAVOUR=amd64 CC="$(CC)" sh scripts/build-guest.sh $(BUILD)/guest-generic

# Optional, not run in CI: a small microVM kernel from Debian's linux-source-6.1 with
# guest/microvm.config, all built in, for the fastest boots. Installs the build packages
# with apt when missing. From scratch about 13 minutes on 2 CPUs (make -j2 under nice),
# 1.7 GB of disk; a rerun rebuilds only when the fragment changed.
guest-kernel:
	sh scripts/build-guest-kernel.sh $(BUILD)/guest-kernel

# What install puts, and uninstall removes (exactly these, then the directories it made
# if they are empty).
MANDIR ?= $(PREFIX)/share/man
INSTALLED := $(PREFIX)/bin/ember $(PREFIX)/bin/ember-jailer $(PREFIX)/bin/ember-oci \
             $(addprefix $(PREFIX)/share/ember/,vmlinux initrd.cpio version) \
             $(MANDIR)/man1/ember.1 $(MANDIR)/man1/ember-jailer.1
install: $(BUILD)/ember $(BUILD)/ember-jailer $(BUILD)/ember-oci $(GUEST_FILES)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ember $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BUILD)/ember $(DESTDIR)$(PREFIX)/bin/ember
	install -m 0755 $(BUILD)/ember-jailer $(DESTDIR)$(PREFIX)/bin/ember-jailer
	install -m 0755 $(BUILD)/ember-oci $(DESTDIR)$(PREFIX)/bin/ember-oci
	install -m 0644 $(BUILD)/guest/vmlinux $(BUILD)/guest/initrd.cpio $(BUILD)/guest/version \
		$(DESTDIR)$(PREFIX)/share/ember/
	install -m 0644 man/ember.1 man/ember-jailer.1 $(DESTDIR)$(MANDIR)/man1/

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(PREFIX)/share/ember 2>/dev/null

# An ext4 root file system for `ember run --drive path=build/rootfs.ext4,root`: from
# ROOTFS_FROM (a directory or a tarball such as `podman export`), or a busybox root.
ROOTFS_FROM ?=
rootfs:
	sh scripts/make-rootfs.sh $(BUILD)/rootfs.ext4 $(ROOTFS_FROM)

# Boot the test guests and the default Linux guest and show them (natively, or in the
# nested rig where KVM is absent or cannot boot Linux).
demo: deps
	@$(MAKE) --no-print-directory all guest $(BUILD)/bench/runstat >/dev/null
	@sh scripts/demo.sh

bench: all guest $(BUILD)/bench/runstat $(BUILD)/bench/hello_pvh.elf $(BUILD)/bench/apilat \
		$(BUILD)/bench/listen_floor $(BUILD)/bench/now
	sh bench/api.sh
	sh bench/start.sh
	sh bench/boot.sh
	if [ -s build/guest-kernel/vmlinux ]; then BOOT_KERNEL=build/guest-kernel/vmlinux sh bench/boot.sh; fi
	sh bench/io.sh
	sh bench/mmds.sh
	sh bench/jail.sh
	sh bench/snapshot.sh

format:
	clang-format -i $(EMBER_SRCS) $(OCI_SRCS) $(wildcard src/*.h src/*/*.h src/*/*/*.h) $(wildcard tests/unit/*.[ch])

clean:
	rm -rf $(BUILD) build-asan

-include $(EMBER_OBJS:.o=.d) $(JAILER_OBJS:.o=.d) $(OCI_OBJS:.o=.d) $(HOOK_OBJS:.o=.d)
