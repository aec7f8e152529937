/* One function decides what CPUID a guest sees (Intel SDM vol. 2A, AMD APM vol. 3). */
#include "cpuid.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT        (1u << 28)

/* Bits needed to hold ids 0..n-1. */
static unsigned id_bits(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

static uint32_t max_leaf_present(const struct kvm_cpuid_entry2 *e, unsigned n, uint32_t base)
{
	uint32_t max = base;
	for (unsigned i = 0; i < n; i++)
		if (e[i].function >= base && e[i].function < base + 0x10000000u &&
		    e[i].function > max)
			max = e[i].function;
	return max;
}

static void topology_leaf(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned ncpus)
{
	/* Level 0 is SMT (one thread per core), level 1 is the core level, then invalid. */
	e->edx = apic_id;
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (1u << 8) | e->index;
		break;
	case 1:
		e->eax = id_bits(ncpus);
		e->ebx = ncpus;
		e->ecx = (2u << 8) | e->index;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
}

void cpuid_filter(struct kvm_cpuid_entry2 *entries, unsigned n, unsigned apic_id, unsigned ncpus)
{
	uint32_t max_basic = max_leaf_present(entries, n, 0);
	uint32_t max_ext = max_leaf_present(entries, n, 0x80000000u);

	for (unsigned i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *e = &entries[i];
		switch (e->function) {
		case 0:
			if (e->eax > max_basic)
				e->eax = max_basic;
			break;
		case 1:
			e->ebx = (e->ebx & 0x0000ffffu) | (apic_id << 24) |
			         ((ncpus > 255 ? 255 : ncpus) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4: {
			/* Cores per package - 1 in [31:26]; L1/L2 private, L3 shared by all. */
			unsigned level = (e->eax >> 5) & 7;
			unsigned sharing = level >= 3 ? ncpus - 1 : 0;
			e->eax = (e->eax & 0x3fffu) | ((ncpus - 1) & 0x3f) << 26 |
			         (sharing & 0xfff) << 14;
			break;
		}
		case 6:
		case 0xa:
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0xb:
		case 0x1f:
			topology_leaf(e, apic_id, ncpus);
			break;
		case 0x80000000u:
			if (e->eax > max_ext)
				e->eax = max_ext;
			break;
		case 0x80000008u:
			/* AMD: NC (cores - 1) in [7:0], ApicIdCoreIdSize in [15:12]. */
			e->ecx = (e->ecx & ~0xf0ffu) | ((ncpus - 1) & 0xff) | id_bits(ncpus) << 12;
			break;
		case 0x8000001eu:
			/* AMD: extended APIC id, one thread per compute unit, node 0. */
			e->eax = apic_id;
			e->ebx = apic_id & 0xff;
			e->ecx = 0;
			break;
		default:
			break;
		}
	}
}
