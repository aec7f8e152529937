/* VMGenID: a fresh ID at start, a new one written and announced at every restore, the
 * guest's writes to it never used, and a snapshot from another layout refused. */
#include "unit.h"

#include "base/guest_mem.h"
#include "devices/vmgenid.h"

#define MiB  (1ULL << 20)
#define ADDR 0xdfff0ULL
#define GSI  23

static struct guest_mem gm;
static unsigned raised, raised_gsi;

static void raise_irq(void *ctx, unsigned gsi)
{
	assert_ptr_equal(ctx, &gm);
	raised++;
	raised_gsi = gsi;
}

static int setup(void **state)
{
	(void)state;
	raised = raised_gsi = 0;
	return gm_create(&gm, 2 * MiB, 0xc0000000ULL, 0x100000000ULL) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	gm_destroy(&gm);
	return 0;
}

static const uint8_t *guest_id(void)
{
	const uint8_t *p = gm_ptr(&gm, ADDR, VMGENID_SIZE);
	assert_non_null(p);
	return p;
}

static void boot_writes_a_fresh_id(void **state)
{
	(void)state;
	struct vmgenid a, b;
	static const uint8_t zero[VMGENID_SIZE];
	assert_int_equal(vmgenid_init(&a, &gm, ADDR, GSI, raise_irq, &gm), 0);
	assert_int_equal(vmgenid_init(&b, &gm, ADDR, GSI, raise_irq, &gm), 0);
	assert_memory_not_equal(a.id, b.id, VMGENID_SIZE);
	assert_memory_not_equal(a.id, zero, VMGENID_SIZE);
	assert_int_equal(vmgenid_write(&a), 0);
	assert_memory_equal(guest_id(), a.id, VMGENID_SIZE);
	assert_int_equal(raised, 0); /* a first boot announces nothing */
}

static void restore_renews_and_notifies(void **state)
{
	(void)state;
	struct vmgenid before, after;
	struct vmgenid_state st;
	assert_int_equal(vmgenid_init(&before, &gm, ADDR, GSI, raise_irq, &gm), 0);
	assert_int_equal(vmgenid_write(&before), 0);
	/* The guest scribbles on its copy: the snapshot keeps Ember's. */
	memset(gm_ptr(&gm, ADDR, VMGENID_SIZE), 0x5a, VMGENID_SIZE);
	vmgenid_save(&before, &st);
	assert_memory_equal(st.id, before.id, VMGENID_SIZE);
	assert_int_equal(st.addr, ADDR);
	assert_int_equal(st.gsi, GSI);

	assert_int_equal(vmgenid_init(&after, &gm, ADDR, GSI, raise_irq, &gm), 0);
	/* Even a new device that drew the snapshot's ID must move on from it. */
	memcpy(after.id, st.id, VMGENID_SIZE);
	assert_int_equal(vmgenid_restore(&after, &st), 0);
	assert_memory_not_equal(after.id, st.id, VMGENID_SIZE);
	assert_memory_equal(guest_id(), after.id, VMGENID_SIZE);
	assert_int_equal(raised, 1);
	assert_int_equal(raised_gsi, GSI);

	/* A restore of the restored VM's snapshot: another new ID, another notification. */
	struct vmgenid again;
	struct vmgenid_state st2;
	vmgenid_save(&after, &st2);
	assert_int_equal(vmgenid_init(&again, &gm, ADDR, GSI, raise_irq, &gm), 0);
	assert_int_equal(vmgenid_restore(&again, &st2), 0);
	assert_memory_not_equal(again.id, after.id, VMGENID_SIZE);
	assert_memory_equal(guest_id(), again.id, VMGENID_SIZE);
	assert_int_equal(raised, 2);
}

static void refuses_another_layout(void **state)
{
	(void)state;
	struct vmgenid g;
	struct vmgenid_state st;
	assert_int_equal(vmgenid_init(&g, &gm, ADDR, GSI, raise_irq, &gm), 0);
	memset(gm_ptr(&gm, ADDR, VMGENID_SIZE), 0, VMGENID_SIZE);
	vmgenid_save(&g, &st);
	st.addr = ADDR + 16;
	assert_int_equal(vmgenid_restore(&g, &st), -EINVAL);
	vmgenid_save(&g, &st);
	st.gsi = GSI - 1;
	assert_int_equal(vmgenid_restore(&g, &st), -EINVAL);
	vmgenid_save(&g, &st);
	st.pad = 1;
	assert_int_equal(vmgenid_restore(&g, &st), -EINVAL);
	/* Nothing written, nothing raised. */
	static const uint8_t zero[VMGENID_SIZE];
	assert_memory_equal(guest_id(), zero, VMGENID_SIZE);
	assert_int_equal(raised, 0);
}

static void outside_ram_is_refused(void **state)
{
	(void)state;
	struct vmgenid g;
	struct vmgenid_state st;
	/* 2 MiB of RAM: an address past it, and one whose 16 bytes cross its end. */
	assert_int_equal(vmgenid_init(&g, &gm, 4 * MiB, GSI, raise_irq, &gm), 0);
	assert_int_equal(vmgenid_write(&g), -EFAULT);
	assert_int_equal(vmgenid_init(&g, &gm, 2 * MiB - 8, GSI, raise_irq, &gm), 0);
	assert_int_equal(vmgenid_write(&g), -EFAULT);
	vmgenid_save(&g, &st);
	memset(st.id, 0, sizeof(st.id));
	assert_int_equal(vmgenid_restore(&g, &st), -EFAULT);
	assert_int_equal(raised, 0);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(boot_writes_a_fresh_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(restore_renews_and_notifies, setup, teardown),
	    cmocka_unit_test_setup_teardown(refuses_another_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(outside_ram_is_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
