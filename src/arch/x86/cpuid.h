/* The CPUID a vCPU sees: KVM's supported set, filtered in one place. */
#ifndef EMBER_X86_CPUID_H
#define EMBER_X86_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

/*
 * Adjust n entries (from KVM_GET_SUPPORTED_CPUID) in place for vCPU apic_id of ncpus:
 * - leaf 0 and 0x80000000 report no leaf above the highest one present in the list;
 * - leaf 1: the hypervisor bit, the initial APIC id, the logical processor count, HTT;
 * - leaves 4, 0xb, 0x1f, 0x80000008, 0x8000001e: one package of ncpus cores, one thread
 *   each, with x2APIC ids equal to the vCPU index;
 * - leaf 6 (thermal and power management) and 0xa (performance monitoring) are zeroed:
 *   Ember emulates neither.
 * ncpus must be >= 1 and apic_id < ncpus.
 */
void cpuid_filter(struct kvm_cpuid_entry2 *entries, unsigned n, unsigned apic_id, unsigned ncpus);

#endif
