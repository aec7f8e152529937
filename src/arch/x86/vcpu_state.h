/*
 * x86 state capture and restore for snapshots (arch.h's arch_vm_save .. arch_vcpu_resumed):
 * the pure parts, unit-tested without KVM.
 */
#ifndef EMBER_X86_VCPU_STATE_H
#define EMBER_X86_VCPU_STATE_H

#include "../../base/snapshot_file.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSR_IA32_TSC_DEADLINE 0x6e0
#define VCPU_MAX_MSRS         1024 /* more than KVM lists on any host we know */
#define VCPU_MAX_CPUID        512

/* Whether MSR index holds state the guest can see and a snapshot must carry: TSC, APIC
 * base, TSC_ADJUST, SPEC_CTRL, SYSENTER, MTRRs, PAT, MISC_ENABLE, the x2APIC range,
 * EFER/STAR/LSTAR/CSTAR/SFMASK, FS/GS/KERNEL_GS base, TSC_AUX, TSC_DEADLINE, XSS and the
 * KVM paravirtual MSRs. */
bool vcpu_msr_wanted(uint32_t index);

/* Keep the wanted MSRs of idx[0, n) in order, TSC_DEADLINE moved last (it must follow the
 * TSC and the LAPIC when restored). Returns the new count. */
unsigned vcpu_msrs_filter(uint32_t *idx, unsigned n);

/* The CPU identity a snapshot is stamped with, from the CPUID values: vendor, family,
 * model, stepping and the feature leaves a guest's saved CPUID relies on (1, 7.0, 0xd.0,
 * 0xd.1, 0x80000001). cpuid(leaf, sub, out[4]) supplies them (the instruction, or a test). */
void x86_cpu_identity(uint8_t id[SF_CPU_ID_BYTES],
                      void (*cpuid)(uint32_t leaf, uint32_t sub, uint32_t out[4]));

/* "AuthenticAMD family 0x17 model 0x31 stepping 0" for id. */
void x86_cpu_describe(const uint8_t *id, char *buf, size_t len);

#endif
