/* --trace-start: when each phase of a start was reached, printed at exit, so the time from
 * `ember run` to the guest's first output and to its end can be split into its parts.
 *
 * Each mark is one CLOCK_MONOTONIC read (the vDSO: no system call, so any thread may mark,
 * locked down or not) into a fixed slot; only the first mark of a phase counts, and a phase
 * already marked costs one load. Marks are always taken (a dozen clock reads per run), so
 * main's can come before the option that asks for the report. */
#ifndef EMBER_BASE_START_TRACE_H
#define EMBER_BASE_START_TRACE_H

enum start_phase {
	START_MAIN,       /* main() entered */
	START_PARSED,     /* the command line parsed into a configuration */
	START_DEVICES,    /* the controller set up and the devices made (host ends open) */
	START_KVM_OPEN,   /* /dev/kvm open */
	START_VM_CREATED, /* KVM_CREATE_VM and the interrupt controllers */
	START_MEM_MAPPED, /* guest RAM mapped and given to KVM */
	START_KERNEL_LOADED,
	START_BOOT_TABLES,  /* boot parameters, ACPI, the initrd placed */
	START_VCPUS_BUILT,  /* vCPUs created and set up for the kernel */
	START_VCPU_RUN,     /* the boot vCPU's first KVM_RUN */
	START_FIRST_OUTPUT, /* the guest's first byte out of the serial port */
	START_GUEST_EXIT,   /* the VM asked to stop (the guest's exit, a signal, an error) */
	START_TORN_DOWN,    /* the VM destroyed, about to exit */
	START_PHASES
};

/* Print the report at exit (from the option parser). */
void start_trace_enable(void);

/* Note that phase p was reached now (the first call for p wins). */
void start_trace_mark(enum start_phase p);

/* When on: one line per phase reached on stderr, with its time since START_MAIN and
 * since the phase before, in microseconds. */
void start_trace_print(void);

#endif
