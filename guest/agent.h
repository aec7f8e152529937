/* The agent mode of the default guest's init (guest/agent.c), for ember-oci. */
#ifndef EMBER_GUEST_AGENT_H
#define EMBER_GUEST_AGENT_H

/*
 * Run the container the host sends over vsock, in the root PID 1 has entered. Returns the
 * status to power off with: the container process's, or 125 when the agent failed.
 */
int agent_main(void);

#endif
