/* Attaching to a host tap: the one place that knows the tun driver's ioctls. */
#include "tap.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TAP_VNET_HDR_SIZE 12 /* virtio 1.x struct virtio_net_hdr with num_buffers */

/* The kernel's rule for interface names (dev_valid_name), so a bad one gets our message
 * rather than EINVAL from the tun driver. */
static bool tap_valid_name(const char *name)
{
	size_t len = strnlen(name, IFNAMSIZ);
	if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' || isspace((unsigned char)name[i]))
			return false;
	return true;
}

/* A hint for the errors a person can fix. */
static const char *tap_hint(int e)
{
	switch (e) {
	case EBUSY:
		return " (another process has it open)";
	case EPERM:
		return " (it belongs to another user, or Ember lacks CAP_NET_ADMIN)";
	case EINVAL:
		return " (not a tap device, or a multi-queue one)";
	default:
		return "";
	}
}

int tap_open(const char *name, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd = -1, ret;

	if (!name || !tap_valid_name(name)) {
		snprintf(err, errlen,
		         "cannot attach to tap '%.64s': a tap name is 1 to %d bytes without "
		         "'/', ':' or spaces",
		         name ? name : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	/* TUNSETIFF creates a tap that does not exist; ask first, so a mistyped name gets a
	 * clear message and not a throwaway interface (or EPERM for an unprivileged user). */
	if (!if_nametoindex(name) && errno == ENODEV) {
		snprintf(err, errlen,
		         "cannot attach to tap '%s': no such device (create it first, e.g. "
		         "ip tuntap add %s mode tap)",
		         name, name);
		return -ENODEV;
	}

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach to tap '%s': cannot open /dev/net/tun: %s",
		         name, strerror(errno));
		return ret;
	}

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach to tap '%s': %s%s", name, strerror(errno),
		         tap_hint(errno));
		goto out;
	}
	/* Only a persistent tap outlives the process that made it, so a tap without
	 * IFF_PERSIST is one TUNSETIFF just created: the name vanished after the check
	 * above. Closing fd removes it again. */
	if (ioctl(fd, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_PERSIST)) {
		ret = -ENODEV;
		snprintf(err, errlen, "cannot attach to tap '%s': no such device", name);
		goto out;
	}

	int hdr = TAP_VNET_HDR_SIZE;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach to tap '%s': setting the vnet header size: %s",
		         name, strerror(errno));
		goto out;
	}
	/* A previous user may have left offloads on: nothing partial or GSO reaches us
	 * until the guest says it accepts it. */
	ret = tap_set_offload(fd, 0);
	if (ret < 0) {
		snprintf(err, errlen, "cannot attach to tap '%s': clearing its offloads: %s", name,
		         strerror(-ret));
		goto out;
	}
	return fd;
out:
	close(fd);
	return ret;
}

int tap_set_offload(int fd, unsigned offloads)
{
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0)
		return -errno;
	return 0;
}
