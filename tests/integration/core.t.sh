# Core integration tests: the freestanding guests of tests/guests/ on Ember.
# Each guest's header comment lists its marker lines; these tests assert the exact
# markers, numbers and exit status, so each of them can fail.
# shellcheck shell=sh
# shellcheck disable=SC2154 # T, GUESTS and status come from the harness (lib.sh)

# --- helpers (not tests: only t_* functions are) ---

# The one stderr line of a guest fault (docs/CONTRACTS.md, exit status 1). Text may
# follow the RIP (Ember adds a hint on PVM hosts). A triple fault under SVM has no RIP
# to report (SVM reinitialises the vCPU on shutdown): Ember says "at RIP unknown (SVM".
CORE_FAULT_LINE='^ember: vcpu [0-9]+: .+ at RIP (0x[0-9a-fA-F]+([^0-9a-fA-F]|$)|unknown \(SVM )'
# Test guests are linked at 2 MiB and their code is well under 1 MiB.
CORE_RIP_IN_IMAGE='at RIP 0x0*2[0-9a-fA-F]{5}([^0-9a-fA-F]|$)'
CORE_MMIO='[Mm][Mm][Ii][Oo]'

# core_expect_count out|err N ERE: exactly N lines of $T/out or $T/err match ERE.
# The harness has no counting helper, so a miscount is reported through expect_out or
# expect_err with a pattern that cannot match (it ends in an anchor, ^), which makes the
# harness record the failure with a message that says what was wanted.
core_expect_count() {
	_n=$(grep -cE -- "$3" "$T/$1" 2>/dev/null)
	[ "${_n:-0}" -eq "$2" ] && return 0
	"expect_$1" "($3) $2 times, found ${_n:-0}^"
}

core_expect_once() {
	core_expect_count "$1" 1 "$2"
}

# The guest faulted: status 1 and exactly one fault line.
core_expect_fault() {
	expect_status 1
	core_expect_once err "$CORE_FAULT_LINE"
}

# core_expect_mmio_fault ADDR_ERE: stopped on unclaimed MMIO at the address, by a guest
# instruction.
core_expect_mmio_fault() {
	core_expect_fault
	expect_err "$CORE_MMIO"
	expect_err "$1([^0-9a-fA-F]|\$)"
	expect_err "$CORE_RIP_IN_IMAGE"
}

# A clean end: the guest reset (status 0) and nothing faulted.
core_expect_reset() {
	expect_status 0
	expect_no_err "$CORE_FAULT_LINE"
	expect_no_out 'reset did not stop the machine'
}

# --- hello ---

t_hello() {
	ember_run --kernel "$GUESTS/hello.elf" --mem 128
	core_expect_reset
	core_expect_once out '^Hello from an Ember guest$'
}

# --trace-start: every phase of a start, in order, each time no earlier than the last.
t_trace_start_phases() {
	ember_run --trace-start --kernel "$GUESTS/hello.elf" --mem 128
	core_expect_reset
	core_expect_once out '^Hello from an Ember guest$'
	_want='main parsed devices-made kvm-open vm-created mem-mapped kernel-loaded boot-tables vcpus-built vcpu-run first-output guest-exit torn-down'
	_got=$(sed -n 's/^start: \([a-z-]*\) .*/\1/p' "$T/err" | tr '\n' ' ')
	[ "$_got" = "$_want " ] || expect_err "the phases '$_want' in order, found '$_got'^"
	# The times (ms since main) never go down.
	sed -n 's/^start: [a-z-]* *\([0-9.]*\) ms.*/\1/p' "$T/err" |
		awk 'NR > 1 && $1 < last { bad = 1 } { last = $1 } END { exit bad }' ||
		expect_err "phase times that never go down^"
}

# A small guest costs small pages: the low 4 MiB of guest RAM are kept out of huge pages
# (a guest that prints a line touched two 2 MiB pages before), and the monitor's own
# .bss and thread stacks too (its --stats share was 3.3 MiB under THP "always").
t_small_guest_small_footprint() {
	ember_run --stats --kernel "$GUESTS/hello.elf" --mem 128
	core_expect_reset
	_guest=$(sed -n 's/.*guest RAM resident \([0-9]*\) KiB.*/\1/p' "$T/err")
	_monitor=$(sed -n 's/.*; monitor \([0-9]*\) KiB.*/\1/p' "$T/err")
	[ -n "$_guest" ] && [ "$_guest" -lt 1024 ] ||
		expect_err "guest RAM resident under 1024 KiB, found '$_guest'^"
	# The sanitizers' shadow memory is the monitor's too: no bound to hold it to there.
	[ -n "${ASAN_OPTIONS:-}" ] && return
	[ -n "$_monitor" ] && [ "$_monitor" -lt 2048 ] ||
		expect_err "the monitor under 2048 KiB, found '$_monitor'^"
}

# --- boot data: command line and E820 ---

t_cmdline_intact() {
	# --no-rng: no device announces itself on the line, which must arrive byte for byte.
	ember_run --kernel "$GUESTS/cmdline.elf" --mem 128 --no-rng \
		--cmdline "root=/dev/vda  msg=\"hello world\" q='x y' end"
	core_expect_reset
	core_expect_once out "^cmdline: root=/dev/vda  msg=\"hello world\" q='x y' end\$"
	expect_no_out '^cmdline: truncated'
}

t_e820_128() {
	ember_run --kernel "$GUESTS/cmdline.elf" --mem 128
	core_expect_reset
	core_expect_once out '^e820: 0x0 0x9fc00 1$'
	core_expect_once out '^e820: 0x9fc00 0x60400 2$'
	core_expect_once out '^e820: 0x100000 0x7f00000 1$'
	core_expect_once out '^e820: 3 entries$'
	core_expect_count out 3 '^e820: 0x'
}

# Exactly 3 GiB: low RAM ends at the hole, nothing above 4 GiB.
t_e820_3072() {
	ember_run --kernel "$GUESTS/cmdline.elf" --mem 3072
	core_expect_reset
	core_expect_once out '^e820: 0x0 0x9fc00 1$'
	core_expect_once out '^e820: 0x9fc00 0x60400 2$'
	core_expect_once out '^e820: 0x100000 0xbff00000 1$'
	core_expect_once out '^e820: 3 entries$'
	core_expect_count out 3 '^e820: 0x'
}

# 3200 MiB: the 128 MiB that do not fit below the hole start at 4 GiB.
t_e820_3200() {
	ember_run --kernel "$GUESTS/cmdline.elf" --mem 3200
	core_expect_reset
	core_expect_once out '^e820: 0x0 0x9fc00 1$'
	core_expect_once out '^e820: 0x9fc00 0x60400 2$'
	core_expect_once out '^e820: 0x100000 0xbff00000 1$'
	core_expect_once out '^e820: 0x100000000 0x8000000 1$'
	core_expect_once out '^e820: 4 entries$'
	core_expect_count out 4 '^e820: 0x'
}

# --- memcheck: every RAM page distinct (memcheck skips the 512 pages [2 MiB, 4 MiB)) ---

# 159 pages below 0x9fc00 + 32512 in [1 MiB, 128 MiB) - 512 skipped.
t_memcheck_128() {
	ember_run --kernel "$GUESTS/memcheck.elf" --mem 128
	core_expect_reset
	core_expect_once out '^memcheck: 32159 pages ok, 512 skipped$'
	expect_no_out 'FAIL'
}

# Only the 32768 pages above 4 GiB: maps, backs and keeps apart RAM past the hole.
t_memcheck_3200_high() {
	ember_run --kernel "$GUESTS/memcheck.elf" --mem 3200 --cmdline memcheck.min=0x100000000
	core_expect_reset
	core_expect_once out '^memcheck: 32768 pages ok, 0 skipped$'
	expect_no_out 'FAIL'
}

# All of a 3200 MiB VM: 159 + 786176 + 32768 - 512 pages. Slow (every page is
# faulted in), so only on request.
t_memcheck_3200_full() {
	if [ "${EMBER_SLOW_TESTS:-0}" != 1 ]; then
		skip "touches 3.2 GiB of guest RAM; set EMBER_SLOW_TESTS=1 to run"
		return 0
	fi
	ember_run --kernel "$GUESTS/memcheck.elf" --mem 3200
	core_expect_reset
	core_expect_once out '^memcheck: 818591 pages ok, 512 skipped$'
	expect_no_out 'FAIL'
}

# --- smp: INIT/SIPI bring-up; every APIC id once ---

# core_smp_case VCPUS: APIC ids 0..VCPUS-1 each reported exactly once, and no other.
core_smp_case() {
	ember_run --kernel "$GUESTS/smp.elf" --mem 128 --vcpus "$1" --cmdline "smp.expect=$1"
	core_expect_reset
	core_expect_once out "^smp: $1 cpus up\$"
	core_expect_once out "^smp: cpuid count=$1\$"
	_i=0
	while [ "$_i" -lt "$1" ]; do
		core_expect_once out "^smp: cpu apic=$_i\$"
		_i=$((_i + 1))
	done
	core_expect_count out "$1" '^smp: cpu apic='
	expect_no_out '^smp: (apic id mismatch|duplicate|timeout|unexpected cr3|no valid)'
}

t_smp_1() {
	core_smp_case 1
}

t_smp_2() {
	core_smp_case 2
}

t_smp_4() {
	core_smp_case 4
}

# Expecting more CPUs than exist ends in the guest's bounded wait, not a hang.
t_smp_timeout() {
	ember_run --kernel "$GUESTS/smp.elf" --mem 128 --vcpus 2 --cmdline smp.expect=3
	core_expect_reset
	core_expect_once out '^smp: timeout, 2 up$'
	core_expect_once out '^smp: cpu apic=0$'
	core_expect_once out '^smp: cpu apic=1$'
	core_expect_count out 2 '^smp: cpu apic='
	expect_no_out '^smp: [0-9]+ cpus up$'
}

# --- exit paths ---

t_triple_fault() {
	ember_run --kernel "$GUESTS/triple_fault.elf" --mem 128
	core_expect_fault
	expect_err '[Ss]hutdown|[Tt]riple fault'
	core_expect_once out '^triple_fault: faulting now$'
	expect_no_out 'survived'
}

t_unknown_port() {
	ember_run --kernel "$GUESTS/unknown_port.elf" --mem 128
	core_expect_reset
	core_expect_once out '^unknown port read 0xff$'
	core_expect_once out '^unknown port read16 0xffff$'
	core_expect_once out '^unknown port read32 0xffffffff$'
	core_expect_once out '^unknown port read after write 0xff$'
}

t_unmapped_write() {
	ember_run --kernel "$GUESTS/unmapped_write.elf" --mem 128
	core_expect_mmio_fault '0x0*[eE]0000000'
	core_expect_once out '^unmapped_write: writing 0xe0000000$'
	expect_no_out 'survived'
}

# --- hostile guests ---

t_hostile_ports() {
	ember_run --kernel "$GUESTS/hostile_ports.elf" --mem 128
	core_expect_reset
	core_expect_once out '^hostile ports survived$'
}

t_hole_c0000000() {
	ember_run --kernel "$GUESTS/hostile_hole.elf" --mem 128 --cmdline hole.addr=0xc0000000
	core_expect_mmio_fault '0x0*[cC]0000000'
	core_expect_once out '^hole: writing 0xc0000000$'
	expect_no_out '^hole: survived'
}

t_hole_fffff000() {
	ember_run --kernel "$GUESTS/hostile_hole.elf" --mem 128 --cmdline hole.addr=0xfffff000
	core_expect_mmio_fault '0x0*[fF]{5}000'
	core_expect_once out '^hole: writing 0xfffff000$'
	expect_no_out '^hole: survived'
}

# The LAPIC page is handled in the kernel: no exit to Ember, the guest goes on.
t_hole_lapic_read() {
	ember_run --kernel "$GUESTS/hostile_hole.elf" --mem 128 \
		--cmdline 'hole.addr=0xfee00000 hole.op=read'
	core_expect_reset
	core_expect_once out '^hole: reading 0xfee00000$'
	core_expect_once out '^hole: read 0xfee00000 = 0x[0-9a-f]+$'
	core_expect_once out '^hole: survived 0xfee00000$'
}

# Offset 0 is a reserved LAPIC register: the write is dropped in the kernel.
t_hole_lapic_write() {
	ember_run --kernel "$GUESTS/hostile_hole.elf" --mem 128 --cmdline hole.addr=0xfee00000
	core_expect_reset
	core_expect_once out '^hole: writing 0xfee00000$'
	core_expect_once out '^hole: survived 0xfee00000$'
}

t_hole_ioapic_read() {
	ember_run --kernel "$GUESTS/hostile_hole.elf" --mem 128 \
		--cmdline 'hole.addr=0xfec00000 hole.op=read'
	core_expect_reset
	core_expect_once out '^hole: read 0xfec00000 = 0x[0-9a-f]+$'
	core_expect_once out '^hole: survived 0xfec00000$'
}

# A guest page-table entry pointing at 64 GiB: the read is MMIO nobody claims.
t_pt_far() {
	ember_run --kernel "$GUESTS/hostile_pt.elf" --mem 128
	core_expect_mmio_fault '0x0*1000000000'
	core_expect_once out '^pt: reading 0x1000000000 via va 0x40000000$'
	expect_no_out '^pt: survived'
}

# CR3 itself outside RAM: the next fetch cannot be translated; stopped, one line.
t_pt_cr3() {
	ember_run --kernel "$GUESTS/hostile_pt.elf" --mem 128 --cmdline pt.mode=cr3
	core_expect_fault
	core_expect_once out '^pt: loading cr3 0x1000000000$'
	expect_no_out '^pt: survived'
}

# --- the Xen PVH entry (32-bit protected mode, hvm_start_info in EBX) ---

t_pvh_entry() {
	# hello_pvh has a 64-bit entry and a PVH note; --boot pvh takes the note's entry,
	# which builds its own page tables and jumps to the same code.
	ember_run --kernel "$GUESTS/hello_pvh.elf" --boot pvh
	core_expect_reset
	core_expect_once out '^Hello from an Ember guest'
}

t_pvh_refused_without_note() {
	ember_run --kernel "$GUESTS/hello.elf" --boot pvh
	expect_status 2
	expect_err "^ember: cannot load kernel '.*hello.elf': --boot pvh: the ELF has no Xen PVH entry note$"
}
