/*
 * Snapshots on x86: each vCPU's state (CPUID, MSRs, registers, XSAVE, XCRs, debug
 * registers, LAPIC, MP state, events, TSC frequency) and the VM's (PIC, IOAPIC, PIT,
 * kvmclock), out to sections of a state file and back into a new VM, in the order KVM
 * needs. Everything read back from KVM or from a file is size-checked before use.
 */
#include "vcpu_state.h"
#include "../../base/fail.h"
#include "../arch.h"

#include <cpuid.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* ---- pure parts ---- */

bool vcpu_msr_wanted(uint32_t i)
{
	return i == 0x10                                 /* TSC */
	       || i == 0x11 || i == 0x12                 /* KVM's old wall clock and system time */
	       || i == 0x1b                              /* APIC base */
	       || i == 0x3b                              /* TSC_ADJUST */
	       || i == 0x48                              /* SPEC_CTRL */
	       || (i >= 0x174 && i <= 0x176)             /* SYSENTER CS, ESP, EIP */
	       || i == 0x1a0                             /* MISC_ENABLE */
	       || (i >= 0x200 && i <= 0x21f)             /* variable MTRRs */
	       || i == 0x250 || i == 0x258 || i == 0x259 /* fixed MTRRs */
	       || (i >= 0x268 && i <= 0x26f) || i == 0x277                 /* PAT */
	       || i == 0x2ff                                               /* MTRR default type */
	       || i == MSR_IA32_TSC_DEADLINE || (i >= 0x800 && i <= 0x8ff) /* x2APIC */
	       || i == 0xda0                                               /* XSS */
	       || (i >= 0xc0000080 && i <= 0xc0000084)  /* EFER, STAR, LSTAR, CSTAR, SFMASK */
	       || (i >= 0xc0000100 && i <= 0xc0000103)  /* FS, GS, KERNEL_GS base; TSC_AUX */
	       || (i >= 0x4b564d00 && i <= 0x4b564dff); /* KVM paravirtual */
}

unsigned vcpu_msrs_filter(uint32_t *idx, unsigned n)
{
	unsigned k = 0;
	bool deadline = false;
	for (unsigned i = 0; i < n; i++) {
		if (idx[i] == MSR_IA32_TSC_DEADLINE)
			deadline = true;
		else if (vcpu_msr_wanted(idx[i]))
			idx[k++] = idx[i];
	}
	if (deadline)
		idx[k++] = MSR_IA32_TSC_DEADLINE;
	return k;
}

void x86_cpu_identity(uint8_t id[SF_CPU_ID_BYTES],
                      void (*cpuid)(uint32_t leaf, uint32_t sub, uint32_t out[4]))
{
	static const struct {
		uint32_t leaf, sub;
		uint8_t regs; /* bit 0 EAX .. bit 3 EDX */
	} leaves[] = {
	    {1, 0, 0x1 | 0x4 | 0x8}, /* signature, features (EBX holds the APIC id: left out) */
	    {7, 0, 0x2 | 0x4 | 0x8}, {0xd, 0, 0x1}, {0xd, 1, 0x1}, {0x80000001u, 0, 0x4 | 0x8},
	};
	uint32_t v[4];
	size_t at = 0;
	memset(id, 0, SF_CPU_ID_BYTES);
	cpuid(0, 0, v);
	memcpy(id, &v[1], 4); /* vendor: EBX, EDX, ECX */
	memcpy(id + 4, &v[3], 4);
	memcpy(id + 8, &v[2], 4);
	at = 12;
	uint32_t max_basic = v[0];
	cpuid(0x80000000u, 0, v);
	uint32_t max_ext = v[0];
	for (unsigned l = 0; l < sizeof(leaves) / sizeof(leaves[0]); l++) {
		bool present = leaves[l].leaf >= 0x80000000u ? leaves[l].leaf <= max_ext
		                                             : leaves[l].leaf <= max_basic;
		memset(v, 0, sizeof(v));
		if (present)
			cpuid(leaves[l].leaf, leaves[l].sub, v);
		for (unsigned reg = 0; reg < 4; reg++)
			if (leaves[l].regs >> reg & 1) {
				memcpy(id + at, &v[reg], 4);
				at += 4;
			}
	}
}

void x86_cpu_describe(const uint8_t *id, char *buf, size_t len)
{
	char vendor[13] = {0};
	uint32_t sig;
	memcpy(vendor, id, 12);
	for (unsigned i = 0; i < 12; i++)
		if (vendor[i] < 0x20 || vendor[i] > 0x7e)
			vendor[i] = '?';
	memcpy(&sig, id + 12, 4);
	unsigned family = sig >> 8 & 0xf, model = sig >> 4 & 0xf;
	if (family == 0xf)
		family += sig >> 20 & 0xff;
	if (family >= 6)
		model |= (sig >> 16 & 0xf) << 4;
	snprintf(buf, len, "%s family 0x%x model 0x%x stepping %u", vendor, family, model,
	         sig & 0xf);
}

/* ---- KVM: the VM ---- */

static void host_cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	__cpuid_count(leaf, sub, out[0], out[1], out[2], out[3]);
}

void arch_cpu_identity(uint8_t *id)
{
	x86_cpu_identity(id, host_cpuid);
}

void arch_cpu_describe(const uint8_t *id, char *buf, size_t len)
{
	x86_cpu_describe(id, buf, len);
}

static const unsigned chips[] = {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC};

int arch_vm_save(int vm_fd, struct sf_writer *w, char *err, size_t errlen)
{
	int r = 0;
	for (unsigned i = 0; i < 3; i++) {
		struct kvm_irqchip chip = {.chip_id = chips[i]};
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			FAIL(-errno, "KVM_GET_IRQCHIP %u: %s", chips[i], strerror(errno));
		sf_add(w, SF_VM_IRQCHIP, chips[i], &chip, sizeof(chip));
	}
	struct kvm_pit_state2 pit;
	if (ioctl(vm_fd, KVM_GET_PIT2, &pit) < 0)
		FAIL(-errno, "KVM_GET_PIT2: %s", strerror(errno));
	sf_add(w, SF_VM_PIT, 0, &pit, sizeof(pit));
	struct kvm_clock_data clock = {0};
	if (ioctl(vm_fd, KVM_GET_CLOCK, &clock) < 0)
		FAIL(-errno, "KVM_GET_CLOCK: %s", strerror(errno));
	sf_add(w, SF_VM_CLOCK, 0, &clock, sizeof(clock));
out:
	return r;
}

int arch_vm_restore(int vm_fd, const struct sf_reader *rd, bool clock_realtime, char *err,
                    size_t errlen)
{
	int r = 0;
	for (unsigned i = 0; i < 3; i++) {
		struct kvm_irqchip chip;
		char what[32];
		snprintf(what, sizeof(what), "interrupt controller %u", chips[i]);
		if ((r = sf_get(rd, SF_VM_IRQCHIP, chips[i], &chip, sizeof(chip), what, err,
		                errlen)) < 0)
			goto out;
		if (chip.chip_id != chips[i])
			FAIL(-EINVAL, "the snapshot's %s names chip %u", what, chip.chip_id);
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			FAIL(-errno, "KVM_SET_IRQCHIP %u: %s", chips[i], strerror(errno));
	}
	struct kvm_pit_state2 pit;
	if ((r = sf_get(rd, SF_VM_PIT, 0, &pit, sizeof(pit), "PIT", err, errlen)) < 0)
		goto out;
	if (ioctl(vm_fd, KVM_SET_PIT2, &pit) < 0)
		FAIL(-errno, "KVM_SET_PIT2: %s", strerror(errno));
	struct kvm_clock_data clock;
	if ((r = sf_get(rd, SF_VM_CLOCK, 0, &clock, sizeof(clock), "kvmclock", err, errlen)) < 0)
		goto out;
	/* Without KVM_CLOCK_REALTIME the guest's clock goes on from the snapshot's instant;
	 * with it (clock_realtime), KVM adds the wall-clock time that passed since. */
	clock.flags &= clock_realtime ? KVM_CLOCK_REALTIME : 0;
	if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
		FAIL(-errno, "KVM_SET_CLOCK: %s", strerror(errno));
out:
	return r;
}

/* ---- KVM: a vCPU ---- */

/* The size of this host's XSAVE area (KVM_CAP_XSAVE2 gives it; else the legacy 4 KiB). */
static size_t xsave_size(int kvm_fd)
{
	int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	return n > (int)sizeof(struct kvm_xsave) ? (size_t)n : sizeof(struct kvm_xsave);
}

static int save_cpuid(int fd, unsigned index, struct sf_writer *w, char *err, size_t errlen)
{
	int r = 0;
	struct kvm_cpuid2 *c = NULL;
	for (unsigned nent = 64; nent <= VCPU_MAX_CPUID; nent *= 2) {
		free(c);
		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			FAIL(-ENOMEM, "out of memory");
		c->nent = nent;
		if (ioctl(fd, KVM_GET_CPUID2, c) == 0)
			break;
		if (errno != E2BIG || nent == VCPU_MAX_CPUID)
			FAIL(-errno, "KVM_GET_CPUID2 for vcpu %u: %s", index, strerror(errno));
	}
	if (c->nent > VCPU_MAX_CPUID)
		FAIL(-EINVAL, "KVM_GET_CPUID2 returned %u entries", c->nent);
	sf_add(w, SF_VCPU_CPUID, index, c->entries, c->nent * sizeof(c->entries[0]));
out:
	free(c);
	return r;
}

/* The MSRs to carry: KVM's list, filtered. Returns the count (idx has VCPU_MAX_MSRS). */
static int msr_list(int kvm_fd, uint32_t *idx, char *err, size_t errlen)
{
	int r = 0;
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + VCPU_MAX_MSRS * sizeof(uint32_t));
	if (!l)
		FAIL(-ENOMEM, "out of memory");
	l->nmsrs = VCPU_MAX_MSRS;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0)
		FAIL(-errno, "KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
	if (l->nmsrs > VCPU_MAX_MSRS)
		FAIL(-EINVAL, "KVM_GET_MSR_INDEX_LIST returned %u MSRs", l->nmsrs);
	memcpy(idx, l->indices, l->nmsrs * sizeof(uint32_t));
	r = (int)vcpu_msrs_filter(idx, l->nmsrs);
out:
	free(l);
	return r;
}

static int save_msrs(int kvm_fd, int fd, unsigned index, struct sf_writer *w, char *err,
                     size_t errlen)
{
	int r = 0;
	uint32_t *idx = calloc(VCPU_MAX_MSRS, sizeof(*idx));
	struct kvm_msr_entry *out = calloc(VCPU_MAX_MSRS, sizeof(*out));
	struct kvm_msrs *m = calloc(1, sizeof(*m) + VCPU_MAX_MSRS * sizeof(m->entries[0]));
	if (!idx || !out || !m)
		FAIL(-ENOMEM, "out of memory");
	int n = msr_list(kvm_fd, idx, err, errlen);
	if (n < 0) {
		r = n;
		goto out;
	}
	/* KVM stops at the first MSR it cannot read (one this CPU lacks): drop it, go on. */
	unsigned kept = 0;
	for (unsigned from = 0; from < (unsigned)n;) {
		m->nmsrs = (unsigned)n - from;
		for (unsigned i = 0; i < m->nmsrs; i++)
			m->entries[i] = (struct kvm_msr_entry){.index = idx[from + i]};
		int got = ioctl(fd, KVM_GET_MSRS, m);
		if (got < 0)
			FAIL(-errno, "KVM_GET_MSRS for vcpu %u: %s", index, strerror(errno));
		if ((unsigned)got > m->nmsrs)
			FAIL(-EINVAL, "KVM_GET_MSRS returned %d of %u", got, m->nmsrs);
		memcpy(out + kept, m->entries, (unsigned)got * sizeof(*out));
		kept += (unsigned)got;
		from += (unsigned)got + 1; /* skip the one it refused */
	}
	sf_add(w, SF_VCPU_MSRS, index, out, kept * sizeof(*out));
out:
	free(m);
	free(out);
	free(idx);
	return r;
}

/* The fixed-size state: one ioctl each, in the order they are restored. */
static const struct fixed_state {
	uint32_t type;
	const char *what;
	unsigned long get, set;
	size_t size;
} fixed[] = {
    {SF_VCPU_MP_STATE, "MP state", KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state)},
    {SF_VCPU_REGS, "registers", KVM_GET_REGS, KVM_SET_REGS, sizeof(struct kvm_regs)},
    {SF_VCPU_SREGS, "system registers", KVM_GET_SREGS, KVM_SET_SREGS, sizeof(struct kvm_sregs)},
    {SF_VCPU_XCRS, "XCRs", KVM_GET_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs)},
    {SF_VCPU_DEBUGREGS, "debug registers", KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
     sizeof(struct kvm_debugregs)},
    {SF_VCPU_LAPIC, "LAPIC", KVM_GET_LAPIC, KVM_SET_LAPIC, sizeof(struct kvm_lapic_state)},
    {SF_VCPU_EVENTS, "events", KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
     sizeof(struct kvm_vcpu_events)},
};
enum { NFIXED = sizeof(fixed) / sizeof(fixed[0]) };

int arch_vcpu_save(int kvm_fd, int vcpu_fd, unsigned index, struct sf_writer *w, char *err,
                   size_t errlen)
{
	int r;
	uint8_t buf[sizeof(struct kvm_lapic_state) + sizeof(struct kvm_sregs)];
	uint8_t *xsave = NULL;
	if ((r = save_cpuid(vcpu_fd, index, w, err, errlen)) < 0)
		goto out;
	for (unsigned i = 0; i < NFIXED; i++) {
		memset(buf, 0, sizeof(buf));
		if (ioctl(vcpu_fd, fixed[i].get, buf) < 0)
			FAIL(-errno, "vcpu %u: cannot read its %s: %s", index, fixed[i].what,
			     strerror(errno));
		sf_add(w, fixed[i].type, index, buf, fixed[i].size);
	}
	size_t xs = xsave_size(kvm_fd);
	xsave = calloc(1, xs);
	if (!xsave)
		FAIL(-ENOMEM, "out of memory");
	if (ioctl(vcpu_fd, xs > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xsave) <
	    0)
		FAIL(-errno, "vcpu %u: KVM_GET_XSAVE: %s", index, strerror(errno));
	sf_add(w, SF_VCPU_XSAVE, index, xsave, xs);
	int khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0)
		FAIL(khz < 0 ? -errno : -EINVAL, "vcpu %u: KVM_GET_TSC_KHZ: %s", index,
		     khz < 0 ? strerror(errno) : "zero");
	uint64_t k = (uint64_t)khz;
	sf_add(w, SF_VCPU_TSC_KHZ, index, &k, sizeof(k));
	/* Last: the MSRs, TSC_DEADLINE among them, after the LAPIC they depend on. */
	r = save_msrs(kvm_fd, vcpu_fd, index, w, err, errlen);
out:
	free(xsave);
	return r;
}

/* Variable sections: present, a whole number of entries, within bounds. */
static const void *entries(const struct sf_reader *rd, uint32_t type, unsigned index, size_t entry,
                           size_t max, size_t *n, const char *what, char *err, size_t errlen)
{
	size_t len;
	const void *p = sf_find(rd, type, index, &len);
	if (!p)
		snprintf(err, errlen, "the snapshot has no %s for vCPU %u", what, index);
	else if (len % entry || len / entry > max || len == 0)
		snprintf(err, errlen, "vCPU %u's %s is %zu bytes, not 1 to %zu entries of %zu",
		         index, what, len, max, entry);
	else {
		*n = len / entry;
		return p;
	}
	return NULL;
}

int arch_vcpu_check(int kvm_fd, const struct sf_reader *rd, unsigned index, char *err,
                    size_t errlen)
{
	size_t n, len;
	char what[64];
	if (!entries(rd, SF_VCPU_CPUID, index, sizeof(struct kvm_cpuid_entry2), VCPU_MAX_CPUID, &n,
	             "CPUID", err, errlen) ||
	    !entries(rd, SF_VCPU_MSRS, index, sizeof(struct kvm_msr_entry), VCPU_MAX_MSRS, &n,
	             "MSRs", err, errlen))
		return -EINVAL;
	for (unsigned i = 0; i < NFIXED; i++) {
		if (!sf_find(rd, fixed[i].type, index, &len))
			len = (size_t)-1;
		if (len != fixed[i].size) {
			snprintf(what, sizeof(what), "%s", fixed[i].what);
			snprintf(err, errlen, "vCPU %u's %s %s", index, what,
			         len == (size_t)-1 ? "are missing from the snapshot"
			                           : "have the wrong size in the snapshot");
			return -EINVAL;
		}
	}
	size_t xs = xsave_size(kvm_fd);
	if (!sf_find(rd, SF_VCPU_XSAVE, index, &len) || len != xs) {
		snprintf(err, errlen,
		         "vCPU %u's XSAVE area is not the %zu bytes this host's KVM uses", index,
		         xs);
		return -EINVAL;
	}
	if (!sf_find(rd, SF_VCPU_TSC_KHZ, index, &len) || len != sizeof(uint64_t)) {
		snprintf(err, errlen, "the snapshot has no TSC frequency for vCPU %u", index);
		return -EINVAL;
	}
	return 0;
}

static int restore_msrs(int fd, const struct sf_reader *rd, unsigned index, char *err,
                        size_t errlen)
{
	int r = 0;
	size_t n;
	const void *p = entries(rd, SF_VCPU_MSRS, index, sizeof(struct kvm_msr_entry),
	                        VCPU_MAX_MSRS, &n, "MSRs", err, errlen);
	struct kvm_msrs *m = NULL;
	if (!p)
		return -EINVAL;
	m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
	if (!m)
		FAIL(-ENOMEM, "out of memory");
	m->nmsrs = (uint32_t)n;
	memcpy(m->entries, p, n * sizeof(m->entries[0]));
	int set = ioctl(fd, KVM_SET_MSRS, m);
	if (set < 0)
		FAIL(-errno, "vcpu %u: KVM_SET_MSRS: %s", index, strerror(errno));
	if ((size_t)set != n)
		FAIL(-EINVAL, "vcpu %u: KVM refused MSR 0x%x from the snapshot", index,
		     m->entries[set].index);
out:
	free(m);
	return r;
}

int arch_vcpu_restore(int kvm_fd, int vcpu_fd, unsigned index, const struct sf_reader *rd,
                      char *err, size_t errlen)
{
	int r = arch_vcpu_check(kvm_fd, rd, index, err, errlen);
	struct kvm_cpuid2 *c = NULL;
	uint8_t buf[sizeof(struct kvm_lapic_state) + sizeof(struct kvm_sregs)];
	size_t n, len;
	if (r < 0)
		return r;
	/* The TSC rate first: KVM scales the TSC MSR restored below by it. A host that
	 * cannot scale keeps its own rate (the guest's clock sources then drift). */
	uint64_t khz;
	memcpy(&khz, sf_find(rd, SF_VCPU_TSC_KHZ, index, &len), sizeof(khz));
	int now = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (now > 0 && (uint64_t)now != khz && khz <= UINT32_MAX &&
	    ioctl(vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
		FAIL(-errno,
		     "vcpu %u: the snapshot's TSC runs at %llu kHz, this host's at %d kHz, "
		     "and KVM cannot scale it: %s",
		     index, (unsigned long long)khz, now, strerror(errno));
	const void *p = entries(rd, SF_VCPU_CPUID, index, sizeof(struct kvm_cpuid_entry2),
	                        VCPU_MAX_CPUID, &n, "CPUID", err, errlen);
	c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c)
		FAIL(-ENOMEM, "out of memory");
	c->nent = (uint32_t)n;
	memcpy(c->entries, p, n * sizeof(c->entries[0]));
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		FAIL(-errno, "vcpu %u: KVM_SET_CPUID2: %s", index, strerror(errno));
	/* MP state, regs, sregs; then XSAVE; then XCRs, debugregs, LAPIC; MSRs; events. */
	for (unsigned i = 0; i < NFIXED; i++) {
		if (fixed[i].type == SF_VCPU_XCRS) {
			const void *xs = sf_find(rd, SF_VCPU_XSAVE, index, &len);
			void *copy = malloc(len);
			if (!copy)
				FAIL(-ENOMEM, "out of memory");
			memcpy(copy, xs, len);
			int ok = ioctl(vcpu_fd, KVM_SET_XSAVE, copy);
			free(copy);
			if (ok < 0)
				FAIL(-errno, "vcpu %u: KVM_SET_XSAVE: %s", index, strerror(errno));
		}
		if (fixed[i].type == SF_VCPU_EVENTS &&
		    (r = restore_msrs(vcpu_fd, rd, index, err, errlen)) < 0)
			goto out;
		memcpy(buf, sf_find(rd, fixed[i].type, index, &len), fixed[i].size);
		if (fixed[i].type == SF_VCPU_EVENTS) {
			struct kvm_vcpu_events ev;
			memcpy(&ev, buf, sizeof(ev));
			/* KVM reports these but restores them only when asked to. */
			ev.flags |=
			    KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
			memcpy(buf, &ev, sizeof(ev));
		}
		if (ioctl(vcpu_fd, fixed[i].set, buf) < 0)
			FAIL(-errno, "vcpu %u: cannot restore its %s: %s", index, fixed[i].what,
			     strerror(errno));
	}
out:
	free(c);
	return r;
}

void arch_vcpu_resumed(int kvm_fd, int vcpu_fd)
{
	/* Tell a kvmclock guest it was stopped, so its soft-lockup watchdog does not fire.
	 * EINVAL: the guest has not enabled kvmclock, nothing to tell. */
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL) > 0)
		(void)ioctl(vcpu_fd, KVM_KVMCLOCK_CTRL, 0);
}
