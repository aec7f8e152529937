/* CRC32C (Castagnoli), the checksum of Ember's snapshot files. */
#ifndef EMBER_CRC32C_H
#define EMBER_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC32C of len bytes at data, continuing from crc (0 to start): the reflected
 * polynomial 0x82F63B78, initial and final XOR with ~0, as iSCSI and ext4 use it. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
