/*
 * vCPU state at the kernel's entry: the Linux 64-bit boot protocol (long mode, flat
 * segments, RSI = boot_params) or the Xen PVH ABI (32-bit protected mode, no paging,
 * EBX = hvm_start_info).
 */
#include "boot.h"
#include "layout.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define CR0_PE   (1ULL << 0)
#define CR0_MP   (1ULL << 1)
#define CR0_ET   (1ULL << 4)
#define CR0_NE   (1ULL << 5)
#define CR0_WP   (1ULL << 16)
#define CR0_PG   (1ULL << 31)
#define CR4_PAE  (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define MSR_IA32_TSC            0x10
#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102
#define MISC_ENABLE_FAST_STRING 0x1
#define MTRR_ENABLE_WB          ((1ULL << 11) | 6) /* MTRRs on, default type write-back */

/* The hidden part of a segment register, decoded from the GDT entry the guest can see,
 * so the two always agree. */
static struct kvm_segment seg_from_gdt(uint16_t selector)
{
	uint64_t d = boot_gdt_entry(selector / 8);
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	struct kvm_segment s = {
	    .base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000)),
	    .selector = selector,
	    .type = (d >> 40) & 0xf,
	    .s = (d >> 44) & 1,
	    .dpl = (d >> 45) & 3,
	    .present = (d >> 47) & 1,
	    .avl = (d >> 52) & 1,
	    .l = (d >> 53) & 1,
	    .db = (d >> 54) & 1,
	    .g = (d >> 55) & 1,
	};
	s.limit = s.g ? (limit << 12) | 0xfff : limit;
	return s;
}

static int setup_sregs(int fd, enum boot_entry kind, char *err, size_t errlen)
{
	struct kvm_sregs sregs;
	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
		return -errno;
	}
	bool pvh = kind == BOOT_ENTRY_PVH;
	sregs.cs = seg_from_gdt(pvh ? BOOT_CS32 : BOOT_CS);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg_from_gdt(BOOT_DS);
	sregs.tr = seg_from_gdt(BOOT_TSS);
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = BOOT_GDT_LIMIT;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	if (pvh) {
		/* The PVH ABI: protected mode, paging off, CR4 and EFER clear. */
		sregs.cr0 = CR0_PE | CR0_ET;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
	} else {
		sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
	}
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0) {
		snprintf(err, errlen, "KVM_SET_SREGS (%s): %s", pvh ? "PVH" : "long mode",
		         strerror(errno));
		return -errno;
	}
	return 0;
}

static int setup_regs(int fd, enum boot_entry kind, uint64_t rip, char *err, size_t errlen)
{
	struct kvm_regs regs = {
	    .rip = rip,
	    .rsi = kind == BOOT_ENTRY_LINUX64 ? LAYOUT_ZERO_PAGE : 0,
	    .rbx = kind == BOOT_ENTRY_PVH ? LAYOUT_PVH_INFO : 0,
	    .rsp = LAYOUT_BOOT_STACK,
	    .rbp = LAYOUT_BOOT_STACK,
	    .rflags = 0x2,
	};
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0) {
		snprintf(err, errlen, "KVM_SET_REGS: %s", strerror(errno));
		return -errno;
	}
	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0) {
		snprintf(err, errlen, "KVM_SET_FPU: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int setup_msrs(int fd, char *err, size_t errlen)
{
	static const struct {
		uint32_t index;
		uint64_t value;
	} boot_msrs[] = {
	    {MSR_IA32_SYSENTER_CS, 0},
	    {MSR_IA32_SYSENTER_ESP, 0},
	    {MSR_IA32_SYSENTER_EIP, 0},
	    {MSR_STAR, 0},
	    {MSR_LSTAR, 0},
	    {MSR_CSTAR, 0},
	    {MSR_SYSCALL_MASK, 0},
	    {MSR_KERNEL_GS_BASE, 0},
	    {MSR_IA32_TSC, 0},
	    {MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
	    {MSR_MTRR_DEF_TYPE, MTRR_ENABLE_WB},
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[N];
	} msrs;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = N;
	for (unsigned i = 0; i < N; i++) {
		msrs.e[i].index = boot_msrs[i].index;
		msrs.e[i].data = boot_msrs[i].value;
	}
	int set = ioctl(fd, KVM_SET_MSRS, &msrs);
	if (set < 0) {
		snprintf(err, errlen, "KVM_SET_MSRS: %s", strerror(errno));
		return -errno;
	}
	if (set != N) {
		/* KVM stops at the first MSR it refuses: name it. */
		snprintf(err, errlen, "KVM refused boot MSR 0x%x", boot_msrs[set].index);
		return -EINVAL;
	}
	return 0;
}

int boot_setup_vcpu(int vcpu_fd, enum boot_entry kind, uint64_t rip, char *err, size_t errlen)
{
	int r = setup_sregs(vcpu_fd, kind, err, errlen);
	if (!r)
		r = setup_regs(vcpu_fd, kind, rip, err, errlen);
	if (!r)
		r = setup_msrs(vcpu_fd, err, errlen);
	return r;
}

#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

static void lvt_set_mode(struct kvm_lapic_state *lapic, unsigned reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, &lapic->regs[reg], sizeof(v));
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&lapic->regs[reg], &v, sizeof(v));
}

int boot_setup_lapic(int vcpu_fd)
{
	struct kvm_lapic_state lapic;
	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	lvt_set_mode(&lapic, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	lvt_set_mode(&lapic, APIC_LVT_LINT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}
