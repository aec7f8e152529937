/* The signal sets (signals.h). */
#include "signals.h"

#include <pthread.h>

void signals_stop_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

int signals_block(void)
{
	sigset_t set;
	signals_stop_set(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}
