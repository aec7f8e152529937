/* `ember --api-sock PATH ...` and `ember --config-file FILE --no-api`: Firecracker's way
 * of running a microVM, driven by its REST API or a config file. */
#ifndef EMBER_API_MODE_H
#define EMBER_API_MODE_H

#include <stdbool.h>
#include <stdint.h>

/* Run the API mode with the whole argv; returns the process exit status. */
int api_mode_main(int argc, char **argv, uint64_t host_mem_mib);

#endif
