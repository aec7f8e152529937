/* `ember doctor`: what this host's KVM offers and what that means for guests. */
#ifndef EMBER_DOCTOR_H
#define EMBER_DOCTOR_H

/* Print the report to stdout. Returns 0 if Ember can run guests on this host's /dev/kvm,
 * 1 if it cannot (the report says why). */
int doctor_run(void);

#endif
