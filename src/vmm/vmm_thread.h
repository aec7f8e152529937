/* The vmm thread's own watches on the VM's event loop: the stop eventfd, signals, console input. */
#ifndef EMBER_VMM_THREAD_H
#define EMBER_VMM_THREAD_H

struct vm;

/*
 * Run until the VM stops. Feeds standard input to the guest's serial port (in raw mode
 * when it is a terminal, restored before returning; Ctrl-A then x ends the VM as SIGINT
 * would), turns SIGINT, SIGTERM and SIGHUP into vm_stop(128 + signal), and calls the
 * handlers of every fd added to vm->loop.
 */
void vmm_thread_run(struct vm *vm);

#endif
