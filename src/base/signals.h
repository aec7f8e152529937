/*
 * The signals Ember uses, in one place: the ones that end a VM (taken through a signalfd
 * by whichever loop is waiting) and the one that interrupts a vCPU inside KVM_RUN.
 */
#ifndef EMBER_SIGNALS_H
#define EMBER_SIGNALS_H

#include <signal.h>

/* The signal that interrupts a vCPU thread inside KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

/* The signal that asks `ember run --snapshot-to` for its snapshot (blocked and read
 * through a signalfd when that option is given, else left to its default). */
#define SNAPSHOT_SIGNAL SIGUSR2

/* Fill *set with the signals that stop Ember: SIGINT, SIGTERM and SIGHUP. */
void signals_stop_set(sigset_t *set);

/* Block, in the calling thread (and so in threads it creates later), the stop signals
 * (read through a signalfd) and VCPU_KICK_SIGNAL (unblocked only in vCPU threads).
 * Returns 0 or -errno. */
int signals_block(void);

#endif
