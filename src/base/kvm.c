/* Opening /dev/kvm and checking that it offers what Ember needs. */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

const struct kvm_cap_desc kvm_required_caps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM from host memory"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel PIC, IOAPIC and LAPIC"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2", "in-kernel PIT timer"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", "the PC interrupt routing the MADT describes"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "filtered CPUID per vCPU"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "TSS area for VMX"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "stopping vCPUs without races"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "device interrupts from eventfds"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "device notifications without exits"},
};
const size_t kvm_required_caps_count = sizeof(kvm_required_caps) / sizeof(kvm_required_caps[0]);

static bool module_loaded(const char *name)
{
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return stat(path, &st) == 0;
}

enum kvm_flavour kvm_flavour_detect(void)
{
	if (module_loaded("kvm_intel"))
		return KVM_FLAVOUR_VMX;
	if (module_loaded("kvm_amd"))
		return KVM_FLAVOUR_SVM;
	if (module_loaded("kvm_pvm"))
		return KVM_FLAVOUR_PVM;
	if (module_loaded("kvm"))
		return KVM_FLAVOUR_UNKNOWN;
	return KVM_FLAVOUR_NONE;
}

const char *kvm_flavour_name(enum kvm_flavour f)
{
	switch (f) {
	case KVM_FLAVOUR_VMX:
		return "VMX";
	case KVM_FLAVOUR_SVM:
		return "SVM";
	case KVM_FLAVOUR_PVM:
		return "PVM";
	case KVM_FLAVOUR_NONE:
		return "none";
	default:
		return "unknown";
	}
}

int kvm_open(char *err, size_t errlen)
{
	int fd = open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen,
			         "%s does not exist: this host offers no KVM "
			         "(run 'ember doctor' for details)",
			         KVM_DEVICE);
		else if (e == EACCES || e == EPERM)
			snprintf(err, errlen,
			         "no permission to open %s: run as root or join "
			         "the group that owns it",
			         KVM_DEVICE);
		else
			snprintf(err, errlen, "cannot open %s: %s", KVM_DEVICE, strerror(e));
		return -e;
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		snprintf(err, errlen, "%s speaks KVM API version %d, Ember needs %d", KVM_DEVICE,
		         version, KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < kvm_required_caps_count; i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "this KVM lacks %s (%s)", kvm_required_caps[i].name,
			         kvm_required_caps[i].why);
			close(fd);
			return -ENOTSUP;
		}
	}
	return fd;
}
