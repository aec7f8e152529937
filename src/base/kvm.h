/* /dev/kvm: opening it, the capabilities Ember relies on, and which kind of KVM it is. */
#ifndef EMBER_KVM_H
#define EMBER_KVM_H

#include <stdbool.h>
#include <stddef.h>

#define KVM_DEVICE "/dev/kvm"

enum kvm_flavour {
	KVM_FLAVOUR_NONE,    /* no KVM module at all */
	KVM_FLAVOUR_VMX,     /* kvm_intel: hardware virtualization */
	KVM_FLAVOUR_SVM,     /* kvm_amd: hardware virtualization */
	KVM_FLAVOUR_PVM,     /* kvm_pvm: shadow paging without VMX/SVM */
	KVM_FLAVOUR_UNKNOWN, /* kvm is loaded, but none of the above */
};

struct kvm_cap_desc {
	int cap;          /* KVM_CAP_* */
	const char *name; /* for messages */
	const char *why;  /* what Ember uses it for */
};

/* Every capability Ember requires, in the order it is checked. */
extern const struct kvm_cap_desc kvm_required_caps[];
extern const size_t kvm_required_caps_count;

/* Which KVM module provides /dev/kvm here, from /sys/module. */
enum kvm_flavour kvm_flavour_detect(void);

/* A short name for a flavour: "VMX", "SVM", "PVM", "none", "unknown". */
const char *kvm_flavour_name(enum kvm_flavour f);

/*
 * Open /dev/kvm read-write with close-on-exec, check the API version is 12 and every
 * capability in kvm_required_caps is present. Returns the fd, or -errno with a message in
 * err that says what is missing and what to do (load a module, fix permissions).
 */
int kvm_open(char *err, size_t errlen);

#endif
