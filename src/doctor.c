/* `ember doctor`: report KVM's presence, flavour and capabilities, and what can run here. */
#include "doctor.h"
#include "base/kvm.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void explain_flavour(enum kvm_flavour f)
{
	switch (f) {
	case KVM_FLAVOUR_VMX:
	case KVM_FLAVOUR_SVM:
		printf("guests:   hardware virtualization: freestanding guests and stock Linux "
		       "kernels run directly\n");
		break;
	case KVM_FLAVOUR_PVM:
		printf(
		    "guests:   PVM runs freestanding 64-bit guests natively; a stock Linux "
		    "kernel cannot boot (PVM runs guest kernels at CPL 3 and only PVM-aware "
		    "kernels cope). Linux guests run in the nested test rig (tests/rig/rig.sh)\n");
		break;
	default:
		printf("guests:   unknown KVM flavour: try a freestanding guest first\n");
		break;
	}
}

int doctor_run(void)
{
	enum kvm_flavour f = kvm_flavour_detect();
	bool pvm_module = exists("/sys/module/kvm_pvm");

	printf("kvm module: %s\n", kvm_flavour_name(f));
	if (!exists(KVM_DEVICE)) {
		printf("%s: missing\n", KVM_DEVICE);
		if (pvm_module)
			printf("why:      kvm_pvm is in this kernel but did not register %s; it "
			       "refuses to when this kernel is itself a PVM guest (see dmesg "
			       "for 'kvm-pvm')\n",
			       KVM_DEVICE);
		else if (f == KVM_FLAVOUR_NONE)
			printf("why:      no KVM module is loaded (modprobe kvm_intel or kvm_amd; "
			       "the CPU or the host's hypervisor must expose VMX or SVM)\n");
		printf("guests:   none can run on this host directly; the nested test rig "
		       "(tests/rig/rig.sh, QEMU TCG emulating an AMD CPU with SVM) runs them all, "
		       "slowly\n");
		return 1;
	}
	char err[256];
	int fd = open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("%s: present but cannot be opened: %s\n", KVM_DEVICE, strerror(errno));
		return 1;
	}
	printf("%s: present, API version %d\n", KVM_DEVICE, ioctl(fd, KVM_GET_API_VERSION, 0));
	printf("capabilities:\n");
	for (size_t i = 0; i < kvm_required_caps_count; i++) {
		int have = ioctl(fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) > 0;
		printf("  %-24s %-3s  %s\n", kvm_required_caps[i].name, have ? "yes" : "NO",
		       kvm_required_caps[i].why);
	}
	printf("  %-24s %d\n", "KVM_CAP_MAX_VCPUS",
	       ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS));
	close(fd);
	fd = kvm_open(err, sizeof(err));
	if (fd < 0) {
		printf("usable:   no: %s\n", err);
		return 1;
	}
	close(fd);
	printf("usable:   yes\n");
	explain_flavour(f);
	return 0;
}
