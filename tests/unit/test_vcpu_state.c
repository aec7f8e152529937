/* x86 snapshot state, the parts that need no KVM: which MSRs travel, in which order, and
 * the CPU identity a snapshot is stamped with. */
#include "unit.h"

#include "arch/x86/vcpu_state.h"

static void msrs_kept_and_ordered(void **state)
{
	(void)state;
	uint32_t idx[] = {0x10,       0x6e0,      0x1b,       0x3a /* FEATURE_CONTROL */,
	                  0x174,      0x176,      0x177,      0x1a0,
	                  0x200,      0x2ff,      0x277,      0xc0000080,
	                  0xc0000084, 0xc0000085, 0xc0000103, 0xc0000104,
	                  0x4b564d00, 0x4b564d07, 0x4b564e00, 0x8b /* microcode rev */,
	                  0xda0,      0x48,       0x3b,       0x830};
	unsigned n = vcpu_msrs_filter(idx, sizeof(idx) / sizeof(idx[0]));
	uint32_t want[] = {0x10,  0x1b,       0x174,      0x176,      0x1a0,      0x200,      0x2ff,
	                   0x277, 0xc0000080, 0xc0000084, 0xc0000103, 0x4b564d00, 0x4b564d07, 0xda0,
	                   0x48,  0x3b,       0x830,      0x6e0 /* TSC_DEADLINE last */};
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(idx[i], want[i]);
	assert_false(vcpu_msr_wanted(0xc0000104));
	assert_false(vcpu_msr_wanted(0x900));
	assert_true(vcpu_msr_wanted(0x8ff));
	assert_true(vcpu_msr_wanted(0x4b564dff));
}

static uint32_t fake_family_sig = 0x00830f10; /* AMD family 0x17 model 0x31 stepping 0 */
static uint32_t fake_apic_id;

static void fake_cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	memset(out, 0, 16);
	if (leaf == 0) {
		out[0] = 0xd;
		memcpy(&out[1], "Auth", 4);
		memcpy(&out[3], "enti", 4);
		memcpy(&out[2], "cAMD", 4);
	} else if (leaf == 1) {
		out[0] = fake_family_sig;
		out[1] = fake_apic_id << 24;
		out[2] = 0x1234;
	} else if (leaf == 0x80000000u) {
		out[0] = 0x80000008u;
	} else if (leaf == 0xd) {
		out[0] = sub ? 0xf : 0x7;
	}
}

static void identity_ignores_apic_id(void **state)
{
	(void)state;
	uint8_t a[SF_CPU_ID_BYTES], b[SF_CPU_ID_BYTES];
	fake_apic_id = 0;
	x86_cpu_identity(a, fake_cpuid);
	fake_apic_id = 3; /* another host CPU of the same model */
	x86_cpu_identity(b, fake_cpuid);
	assert_memory_equal(a, b, sizeof(a));
	char text[128];
	x86_cpu_describe(a, text, sizeof(text));
	assert_string_equal(text, "AuthenticAMD family 0x17 model 0x31 stepping 0");
	fake_family_sig = 0x00830f11; /* another stepping */
	x86_cpu_identity(b, fake_cpuid);
	assert_memory_not_equal(a, b, sizeof(a));
	fake_family_sig = 0x00830f10;
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(msrs_kept_and_ordered),
	    cmocka_unit_test(identity_ignores_apic_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
