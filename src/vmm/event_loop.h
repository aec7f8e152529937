/* The vmm thread's loop: console input, signals, and waiting for the VM to stop. */
#ifndef EMBER_EVENT_LOOP_H
#define EMBER_EVENT_LOOP_H

struct vm;

/*
 * Run until the VM stops. Feeds standard input to the guest's serial port (in raw mode
 * when it is a terminal, restored before returning; Ctrl-A then x ends the VM as SIGINT
 * would), turns SIGINT, SIGTERM and SIGHUP into vm_stop(128 + signal).
 */
void event_loop_run(struct vm *vm);

#endif
