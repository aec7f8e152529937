/* CPUID filtering: a made-up KVM_GET_SUPPORTED_CPUID list in, the guest's view out. */
#include "unit.h"

#include "arch/x86/cpuid.h"

#define SIG_FLAG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

#define L1_EBX_KEEP 0x0000ffffu /* brand index and CLFLUSH line size */
#define L1_ECX_HV   (1u << 31)
#define L1_EDX_HTT  (1u << 28)

/* Leaf 4 EAX: cache type in [4:0], level in [7:5], other low bits kept; [25:14] and
 * [31:26] are set by the filter, so they start as junk here. */
#define L4(level, type) (0xfc000000u | 0x03ffc000u | 0x100u | ((level) << 5) | (type))

enum {
	I_0,
	I_1,
	I_4_L1D,
	I_4_L1I,
	I_4_L2,
	I_4_L3,
	I_4_END,
	I_6,
	I_A,
	I_B0,
	I_B1,
	I_B2,
	I_KVM,
	I_KVM_FEAT,
	I_80,
	I_88,
	I_8E,
	N_LEAVES
};

static const struct kvm_cpuid_entry2 supported[N_LEAVES] = {
    [I_0] = {.function = 0, .eax = 0x20, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69},
    [I_1] = {.function = 1,
             .eax = 0x000906ea,
             .ebx = 0x7f200801,
             .ecx = 0x7ffafbff,
             .edx = 0xbfebfbff & ~L1_EDX_HTT},
    [I_4_L1D] = {.function = 4,
                 .index = 0,
                 .flags = SIG_FLAG,
                 .eax = L4(1, 1),
                 .ebx = 0x01c0003f,
                 .ecx = 0x3f},
    [I_4_L1I] = {.function = 4,
                 .index = 1,
                 .flags = SIG_FLAG,
                 .eax = L4(1, 2),
                 .ebx = 0x01c0003f,
                 .ecx = 0x3f},
    [I_4_L2] = {.function = 4,
                .index = 2,
                .flags = SIG_FLAG,
                .eax = L4(2, 3),
                .ebx = 0x03c0003f,
                .ecx = 0x3ff},
    [I_4_L3] = {.function = 4,
                .index = 3,
                .flags = SIG_FLAG,
                .eax = L4(3, 3),
                .ebx = 0x03c0003f,
                .ecx = 0x2fff,
                .edx = 6},
    [I_4_END] = {.function = 4, .index = 4, .flags = SIG_FLAG},
    [I_6] = {.function = 6, .eax = 0x77, .ebx = 2, .ecx = 9, .edx = 1},
    [I_A] = {.function = 0xa, .eax = 0x07300404, .ebx = 0, .ecx = 0, .edx = 0x603},
    [I_B0] = {.function = 0xb,
              .index = 0,
              .flags = SIG_FLAG,
              .eax = 1,
              .ebx = 2,
              .ecx = 0x100,
              .edx = 0x55},
    [I_B1] = {.function = 0xb,
              .index = 1,
              .flags = SIG_FLAG,
              .eax = 7,
              .ebx = 0x30,
              .ecx = 0x201,
              .edx = 0x55},
    [I_B2] = {.function = 0xb,
              .index = 2,
              .flags = SIG_FLAG,
              .eax = 9,
              .ebx = 9,
              .ecx = 0x302,
              .edx = 0x55},
    [I_KVM] = {.function = 0x40000000,
               .eax = 0x40000001,
               .ebx = 0x4b4d564b,
               .ecx = 0x564b4d56,
               .edx = 0x4d},
    [I_KVM_FEAT] = {.function = 0x40000001, .eax = 0x01007afb, .edx = 1},
    [I_80] = {.function = 0x80000000, .eax = 0x80000028},
    [I_88] =
        {.function = 0x80000008, .eax = 0x3030, .ebx = 0x1234, .ecx = 0xffffffff, .edx = 0x5678},
    [I_8E] = {.function = 0x8000001e, .eax = 0x99, .ebx = 0x0107, .ecx = 0x0303, .edx = 0xabcd},
};

static struct kvm_cpuid_entry2 leaves[N_LEAVES];

static void filter(unsigned apic_id, unsigned ncpus)
{
	memcpy(leaves, supported, sizeof(leaves));
	cpuid_filter(leaves, N_LEAVES, apic_id, ncpus);
	/* The filter adjusts values, never which leaves exist or their identity. */
	for (unsigned i = 0; i < N_LEAVES; i++) {
		assert_int_equal(leaves[i].function, supported[i].function);
		assert_int_equal(leaves[i].index, supported[i].index);
		assert_int_equal(leaves[i].flags, supported[i].flags);
	}
}

static void max_leaves_clamped(void **state)
{
	(void)state;
	filter(3, 4);
	assert_int_equal(leaves[I_0].eax, 0xb);
	assert_int_equal(leaves[I_80].eax, 0x8000001e);
	/* The vendor string is left alone. */
	assert_int_equal(leaves[I_0].ebx, supported[I_0].ebx);
	assert_int_equal(leaves[I_0].ecx, supported[I_0].ecx);
	assert_int_equal(leaves[I_0].edx, supported[I_0].edx);
}

static void max_leaves_not_raised(void **state)
{
	(void)state;
	struct kvm_cpuid_entry2 e[] = {
	    {.function = 0, .eax = 1}, {.function = 1},
	    {.function = 0xb},         {.function = 0x80000000, .eax = 0x80000001},
	    {.function = 0x80000001},  {.function = 0x80000008},
	};
	/* A limit below the highest leaf present is reported as it is. */
	cpuid_filter(e, 6, 0, 1);
	assert_int_equal(e[0].eax, 1);
	assert_int_equal(e[3].eax, 0x80000001);
}

static void leaf1_apic_id_and_count(void **state)
{
	(void)state;
	filter(3, 4);
	assert_int_equal(leaves[I_1].ebx >> 24, 3);
	assert_int_equal((leaves[I_1].ebx >> 16) & 0xff, 4);
	assert_int_equal(leaves[I_1].ebx & L1_EBX_KEEP, supported[I_1].ebx & L1_EBX_KEEP);
	assert_int_equal((leaves[I_1].ebx >> 8) & 0xff, 0x08); /* CLFLUSH: 64-byte lines */
	assert_int_equal(leaves[I_1].ecx, supported[I_1].ecx | L1_ECX_HV);
	assert_int_equal(leaves[I_1].edx, supported[I_1].edx | L1_EDX_HTT);
	assert_int_equal(leaves[I_1].eax, supported[I_1].eax);
}

static void leaf1_single_cpu(void **state)
{
	(void)state;
	struct kvm_cpuid_entry2 e = supported[I_1];
	e.edx |= L1_EDX_HTT;

	cpuid_filter(&e, 1, 0, 1);
	assert_int_equal(e.ebx >> 24, 0);
	assert_int_equal((e.ebx >> 16) & 0xff, 1);
	assert_int_equal(e.ebx & L1_EBX_KEEP, supported[I_1].ebx & L1_EBX_KEEP);
	assert_false(e.edx & L1_EDX_HTT);
	assert_int_equal(e.edx, supported[I_1].edx & ~L1_EDX_HTT);
	assert_true(e.ecx & L1_ECX_HV);
}

static void leaf4_caches(void **state)
{
	(void)state;
	filter(3, 4);
	for (unsigned i = I_4_L1D; i <= I_4_L3; i++) {
		uint32_t eax = leaves[i].eax;
		assert_int_equal(eax >> 26, 3);                            /* cores - 1 */
		assert_int_equal(eax & 0x3fff, supported[i].eax & 0x3fff); /* type, level */
		assert_int_equal(leaves[i].ebx, supported[i].ebx);
		assert_int_equal(leaves[i].ecx, supported[i].ecx);
		assert_int_equal(leaves[i].edx, supported[i].edx);
	}
	/* Threads sharing - 1: L1 and L2 private to a core, L3 shared by all four. */
	assert_int_equal((leaves[I_4_L1D].eax >> 14) & 0xfff, 0);
	assert_int_equal((leaves[I_4_L1I].eax >> 14) & 0xfff, 0);
	assert_int_equal((leaves[I_4_L2].eax >> 14) & 0xfff, 0);
	assert_int_equal((leaves[I_4_L3].eax >> 14) & 0xfff, 3);
	/* The terminating subleaf still says "no more caches". */
	assert_int_equal(leaves[I_4_END].eax & 0x1f, 0);
}

static void leaf4_single_cpu(void **state)
{
	(void)state;
	filter(0, 1);
	assert_int_equal(leaves[I_4_L3].eax >> 26, 0);
	assert_int_equal((leaves[I_4_L3].eax >> 14) & 0xfff, 0);
}

static void leaves_6_and_a_zeroed(void **state)
{
	(void)state;
	filter(3, 4);
	assert_int_equal(leaves[I_6].eax, 0);
	assert_int_equal(leaves[I_6].ebx, 0);
	assert_int_equal(leaves[I_6].ecx, 0);
	assert_int_equal(leaves[I_6].edx, 0);
	assert_int_equal(leaves[I_A].eax, 0);
	assert_int_equal(leaves[I_A].ebx, 0);
	assert_int_equal(leaves[I_A].ecx, 0);
	assert_int_equal(leaves[I_A].edx, 0);
}

static void leaf_b_topology(void **state)
{
	(void)state;
	filter(3, 4);
	/* Subleaf 0, SMT: one thread per core, so no bits to shift past. */
	assert_int_equal(leaves[I_B0].eax & 0x1f, 0);
	assert_int_equal(leaves[I_B0].ebx & 0xffff, 1);
	assert_int_equal(leaves[I_B0].ecx & 0xffff, 0x100);
	/* Subleaf 1, core: four cores need 2 bits of x2APIC id. */
	assert_int_equal(leaves[I_B1].eax & 0x1f, 2);
	assert_int_equal(leaves[I_B1].ebx & 0xffff, 4);
	assert_int_equal(leaves[I_B1].ecx & 0xffff, 0x201);
	/* Subleaf 2: invalid level, its number echoed in ECX[7:0]. */
	assert_int_equal(leaves[I_B2].eax, 0);
	assert_int_equal(leaves[I_B2].ebx, 0);
	assert_int_equal(leaves[I_B2].ecx & 0xffff, 2);
	/* Every subleaf reports this vCPU's x2APIC id. */
	assert_int_equal(leaves[I_B0].edx, 3);
	assert_int_equal(leaves[I_B1].edx, 3);
	assert_int_equal(leaves[I_B2].edx, 3);
}

static void leaf_b_32_cpus(void **state)
{
	(void)state;
	filter(31, 32);
	assert_int_equal(leaves[I_B1].eax & 0x1f, 5);
	assert_int_equal(leaves[I_B1].ebx & 0xffff, 32);
	assert_int_equal(leaves[I_B0].edx, 31);
	assert_int_equal(leaves[I_1].ebx >> 24, 31);
	assert_int_equal((leaves[I_1].ebx >> 16) & 0xff, 32);
	assert_int_equal(leaves[I_4_L1D].eax >> 26, 31);
	assert_int_equal((leaves[I_4_L3].eax >> 14) & 0xfff, 31);
}

static void amd_leaves(void **state)
{
	(void)state;
	filter(3, 4);
	assert_int_equal(leaves[I_88].ecx & 0xff, 3);        /* NC: cores - 1 */
	assert_int_equal((leaves[I_88].ecx >> 12) & 0xf, 2); /* ApicIdCoreIdSize */
	assert_int_equal(leaves[I_88].ecx & ~0xf0ffu, supported[I_88].ecx & ~0xf0ffu);
	assert_int_equal(leaves[I_88].eax, supported[I_88].eax); /* address sizes kept */
	assert_int_equal(leaves[I_8E].eax, 3);                   /* extended APIC id */
}

static void kvm_leaves_unchanged(void **state)
{
	(void)state;
	filter(3, 4);
	assert_memory_equal(&leaves[I_KVM], &supported[I_KVM], sizeof(leaves[0]));
	assert_memory_equal(&leaves[I_KVM_FEAT], &supported[I_KVM_FEAT], sizeof(leaves[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(max_leaves_clamped),
	    cmocka_unit_test(max_leaves_not_raised),
	    cmocka_unit_test(leaf1_apic_id_and_count),
	    cmocka_unit_test(leaf1_single_cpu),
	    cmocka_unit_test(leaf4_caches),
	    cmocka_unit_test(leaf4_single_cpu),
	    cmocka_unit_test(leaves_6_and_a_zeroed),
	    cmocka_unit_test(leaf_b_topology),
	    cmocka_unit_test(leaf_b_32_cpus),
	    cmocka_unit_test(amd_leaves),
	    cmocka_unit_test(kvm_leaves_unchanged),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
