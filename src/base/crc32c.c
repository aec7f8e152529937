/*
 * CRC32C by hand, table-driven: twenty lines, no library to link into a static binary,
 * and fast enough for state files of a few hundred KiB (guest RAM is not checksummed).
 */
#include "crc32c.h"

#include <stdbool.h>

static uint32_t table[256];
static bool table_ready;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		table[i] = c;
	}
	__atomic_store_n(&table_ready, true, __ATOMIC_RELEASE);
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
		table_init(); /* idempotent: two threads racing write the same values */
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
