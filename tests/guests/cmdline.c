/* Echoes the boot data Ember handed over: the command line and the E820 map.
 *   cmdline: <command line, byte for byte>
 *   e820: <addr hex> <size hex> <type>	(one per entry, in table order)
 *   e820: N entries */
#include "guest.h"

int main(void)
{
	gprintf("cmdline: %s\n", boot.cmdline);
	if (boot.cmdline_truncated)
		gprintf("cmdline: truncated at %u bytes\n", CMDLINE_MAX - 1);
	for (unsigned i = 0; i < boot.e820_count; i++)
		gprintf("e820: 0x%lx 0x%lx %u\n", boot.e820[i].addr, boot.e820[i].size,
		        boot.e820[i].type);
	if (boot.e820_reported > boot.e820_count)
		gprintf("e820: table claims %u entries, only %u fit\n", boot.e820_reported,
		        boot.e820_count);
	gprintf("e820: %u entries\n", boot.e820_reported);
	return 0;
}
