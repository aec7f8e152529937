/* Constants shared by smp.c and smp_tramp.S (so: no C in here). */
#ifndef SMP_H
#define SMP_H

#define TRAMP_BASE     0x10000 /* SIPI vector 0x10; free RAM in Ember's low-memory layout */
#define SIPI_VECTOR    (TRAMP_BASE >> 12)
#define EMBER_PML4     0x9000 /* docs/CONTRACTS.md: Ember's identity page tables */
#define SMP_MAX_APS    64
#define AP_STACK_SHIFT 12
#define AP_STACK_SIZE  (1 << AP_STACK_SHIFT)

#endif
