/* The machine's device table: every row whole, and the instances, the DSDT's devices and
 * the command line's device words all generated from it, in bus order. */
#include "unit.h"

#include "virtio/virtio.h"
#include "vmm/devices.h"
#include "vmm/vm.h"

#include <stdlib.h>

/* Every row carries what the machine needs, and the rows fit VM_MAX_DEVICES. */
static void rows_complete(void **state)
{
	(void)state;
	unsigned total = 0;
	assert_true(device_kind_count >= 1);
	for (unsigned i = 0; i < device_kind_count; i++) {
		const struct device_kind *k = device_kinds[i];
		assert_non_null(k->name);
		assert_true(k->size > 0);
		assert_true(k->max >= 1);
		assert_non_null(k->count);
		assert_non_null(k->create);
		assert_true(k->nports <= 2);
		for (unsigned p = 0; p < k->nports; p++) {
			assert_non_null(k->ports[p].ops);
			assert_true(k->ports[p].len > 0);
		}
		if (k->acpi_name[0])
			assert_non_null(k->hid);
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(device_kinds[j]->name, k->name);
		total += k->max;
	}
	assert_true(total <= VM_MAX_DEVICES);
}

static char img_ro[64], img_rw[64];

static int make_images(void **state)
{
	(void)state;
	snprintf(img_ro, sizeof(img_ro), "/tmp/ember-devices-ro.XXXXXX");
	snprintf(img_rw, sizeof(img_rw), "/tmp/ember-devices-rw.XXXXXX");
	int a = mkstemp(img_ro), b = mkstemp(img_rw);
	if (a < 0 || b < 0 || ftruncate(a, 1 << 20) < 0 || ftruncate(b, 1 << 20) < 0)
		return -1;
	close(a);
	close(b);
	return 0;
}

static int remove_images(void **state)
{
	(void)state;
	unlink(img_ro);
	unlink(img_rw);
	return 0;
}

/* Two drives, the root one given second, and the entropy device. */
static void two_drives(struct vm_config *cfg)
{
	config_defaults(cfg);
	cfg->entropy = true;
	cfg->ndrives = 2;
	cfg->drives[0] = (struct drive_config){.id = "data"};
	snprintf(cfg->drives[0].path, sizeof(cfg->drives[0].path), "%s", img_rw);
	cfg->drives[1] = (struct drive_config){.id = "rootfs", .read_only = true, .is_root = true};
	snprintf(cfg->drives[1].path, sizeof(cfg->drives[1].path), "%s", img_ro);
}

static struct vm vm;

static void instances_in_bus_order(void **state)
{
	(void)state;
	static struct vm_config cfg;
	char err[256] = "";
	two_drives(&cfg);
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	assert_int_equal(devices_create(&vm, &cfg, err, sizeof(err)), 0);
	/* serial, i8042, power, pvpanic, two drives (root first), entropy, vmgenid */
	assert_int_equal(vm.ndevs, 8);
	assert_string_equal(vm.devs[0].kind->name, "serial");
	assert_null(vm.devs[0].vdev);
	assert_string_equal(vm.devs[4].kind->name, "virtio-blk");
	assert_string_equal(vm.devs[4].vdev->name, "virtio-blk rootfs");
	assert_string_equal(vm.devs[5].vdev->name, "virtio-blk data");
	assert_string_equal(vm.devs[6].kind->name, "virtio-rng");
	assert_int_equal(vm.devs[4].mmio_base, ARCH_VIRTIO_MMIO_BASE);
	assert_int_equal(vm.devs[6].mmio_base, ARCH_VIRTIO_MMIO_BASE + 2 * 0x1000);
	assert_int_equal(vm.devs[4].gsi, ARCH_VIRTIO_FIRST_GSI);
	assert_int_equal(vm.devs[6].gsi, ARCH_VIRTIO_FIRST_GSI + 2);
	assert_ptr_equal(vm_device_find(&vm, "virtio-blk", 1), &vm.devs[5]);
	assert_null(vm_device_find(&vm, "virtio-blk", 2));
	assert_null(vm_device_find(&vm, "virtio-net", 0));
	assert_string_equal(vm.devs[7].kind->name, "vmgenid");
	assert_null(vm.devs[7].vdev);

	char line[512];
	int n = devices_cmdline(&vm, &cfg, line, sizeof(line));
	assert_int_equal(n, (int)strlen(line));
	assert_string_equal(line, "virtio_mmio.device=4K@0xd0000000:5 "
	                          "virtio_mmio.device=4K@0xd0001000:6 "
	                          "virtio_mmio.device=4K@0xd0002000:7 root=/dev/vda ro ");
	assert_int_equal(devices_cmdline(&vm, &cfg, line, 40), -ENOSPC);

	devices_destroy(&vm);
	assert_int_equal(vm.ndevs, 0);
}

/* The DSDT's devices come from the rows: the ports the bus gets are the ports described. */
static void acpi_from_rows(void **state)
{
	(void)state;
	static struct vm_config cfg;
	struct acpi_dev acpi[VM_MAX_DEVICES];
	char err[256] = "";
	two_drives(&cfg);
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	assert_int_equal(devices_create(&vm, &cfg, err, sizeof(err)), 0);
	unsigned n = devices_acpi(&vm, acpi);
	/* COM1, KBD_, PEVT, VR00..VR02, VGEN; the power registers are the FADT's, not a
	 * device. */
	assert_int_equal(n, 7);
	assert_string_equal(acpi[0].name, "COM1");
	assert_int_equal(acpi[0].io[0].base, 0x3f8);
	assert_int_equal(acpi[0].io[0].len, 8);
	assert_int_equal(acpi[0].isa_irq, 4);
	assert_string_equal(acpi[1].name, "KBD_");
	assert_int_equal(acpi[1].nio, 2);
	assert_int_equal(acpi[1].io[0].base, 0x60);
	assert_int_equal(acpi[1].io[1].base, 0x64);
	assert_int_equal(acpi[1].isa_irq, 1);
	assert_string_equal(acpi[2].name, "PEVT");
	assert_string_equal(acpi[2].hid, "QEMU0001");
	for (unsigned i = 0; i < 3; i++) {
		const struct acpi_dev *v = &acpi[3 + i];
		char name[5];
		snprintf(name, sizeof(name), "VR%02X", i);
		assert_string_equal(v->name, name);
		assert_string_equal(v->hid, "LNRO0005");
		assert_int_equal(v->uid, (int)i);
		assert_int_equal(v->mem_base, vm.devs[4 + i].mmio_base);
		assert_int_equal(v->gsi, (int)vm.devs[4 + i].gsi);
		assert_int_equal(v->nio, 0);
		assert_int_equal(v->event_gsi, 0);
	}
	/* VMGenID: no resources of its own; its address, and its event on the GED. */
	assert_string_equal(acpi[6].name, "VGEN");
	assert_string_equal(acpi[6].cid, "VM_Gen_Counter");
	assert_int_equal(acpi[6].addr, ARCH_VMGENID_ADDR);
	assert_int_equal(acpi[6].event_gsi, ARCH_EVENT_GSI);
	assert_true(ARCH_EVENT_GSI > ARCH_LAST_GSI);
	assert_int_equal(acpi[6].nio, 0);
	assert_int_equal(acpi[6].isa_irq, -1);
	assert_int_equal(acpi[6].gsi, -1);
	assert_int_equal(acpi[6].mem_size, 0);
	for (unsigned i = 0; i < device_kind_count; i++) {
		const struct device_kind *k = device_kinds[i];
		for (unsigned j = 0; j < n && k->acpi_name[0]; j++)
			if (!strcmp(acpi[j].name, k->acpi_name))
				for (unsigned p = 0; p < k->nports; p++)
					assert_int_equal(acpi[j].io[p].base, k->ports[p].base);
	}
	devices_destroy(&vm);
}

/* A device that cannot be made leaves nothing behind and says why. */
static void failure_leaves_nothing(void **state)
{
	(void)state;
	static struct vm_config cfg;
	char err[256] = "";
	two_drives(&cfg);
	snprintf(cfg.drives[0].path, sizeof(cfg.drives[0].path), "/nonexistent/ember-test.img");
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	assert_true(devices_create(&vm, &cfg, err, sizeof(err)) < 0);
	assert_int_equal(vm.ndevs, 0);
	assert_non_null(strstr(err, "/nonexistent/ember-test.img"));

	two_drives(&cfg);
	cfg.ndrives = CONFIG_MAX_DRIVES + 1;
	for (unsigned i = 2; i < cfg.ndrives && i < CONFIG_MAX_DRIVES; i++)
		cfg.drives[i] = cfg.drives[0];
	err[0] = 0;
	assert_int_equal(devices_create(&vm, &cfg, err, sizeof(err)), -EINVAL);
	assert_int_equal(vm.ndevs, 0);
	assert_non_null(strstr(err, "at most"));
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rows_complete),
	    cmocka_unit_test(instances_in_bus_order),
	    cmocka_unit_test(acpi_from_rows),
	    cmocka_unit_test(failure_leaves_nothing),
	};
	return cmocka_run_group_tests(tests, make_images, remove_images);
}
