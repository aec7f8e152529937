/* A guest that never ends on its own: one marker line, then a busy loop. Tests stop it
 * from outside (SIGTERM, SIGINT) to check that Ember tears the VM down cleanly. */
#include "guest.h"

int main(void)
{
	serial_puts("spin: running until stopped\n");
	for (;;)
		cpu_relax();
}
