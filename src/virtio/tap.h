/* Host tap devices for virtio-net: attach to one by name and set its offloads. */
#ifndef EMBER_TAP_H
#define EMBER_TAP_H

#include <stddef.h>

/*
 * Attach to the existing tap `name` as IFF_TAP | IFF_NO_PI | IFF_VNET_HDR with a 12-byte
 * vnet header (virtio 1.x, num_buffers included), non-blocking and close-on-exec, with no
 * offloads yet. The name must be 1..15 bytes, without '/', ':' or white space. A tap that
 * does not exist is not created. Returns the fd, or -errno with a message naming the tap
 * in err ("cannot attach to tap 'x': ...").
 */
int tap_open(const char *name, char *err, size_t errlen);

/* Tell the kernel which offloads the reader of fd accepts (TUN_F_* of linux/if_tun.h):
 * frames with partial checksums or GSO come only when allowed. Returns 0 or -errno. */
int tap_set_offload(int fd, unsigned offloads);

#endif
