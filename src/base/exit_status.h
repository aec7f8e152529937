/* The process exit statuses Ember promises (docs/CONTRACTS.md). */
#ifndef EMBER_EXIT_STATUS_H
#define EMBER_EXIT_STATUS_H

enum {
	EXIT_GUEST_OK = 0,     /* the guest reset or powered off */
	EXIT_GUEST_FAULT = 1,  /* triple fault, internal error, unhandled exit */
	EXIT_USAGE = 2,        /* bad arguments or a setup failure */
	EXIT_SECCOMP = 3,      /* a thread made a system call its seccomp filter forbids */
	EXIT_SIGNAL_BASE = 128 /* + signal number, after an orderly teardown */
};

#endif
