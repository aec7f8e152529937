/*
 * `ember run --warm`: the default guest restored from a snapshot cached when its init was
 * ready for a command, and the command handed over (docs/SNAPSHOT.md, "Warm runs").
 */
#ifndef EMBER_WARM_H
#define EMBER_WARM_H

#include "base/config.h"
#include "vmm/controller.h"

#include <stddef.h>

/* Refuse, with one line in err, what --warm cannot restore: a kernel or initrd of one's own
 * (only the default guest's init takes a handover), drives, interfaces, vsock, and
 * --snapshot-to. Call before the default guest fills kernel_path. Returns 0 or -EINVAL. */
int warm_refuse(const struct vm_config *cfg, char *err, size_t errlen);

/*
 * Find (or, under the entry's lock, build with build(), which boots the configuration it
 * is given and returns its exit status) the cached snapshot for cfg, a validated
 * configuration of the default guest, and fill *load to restore it with cfg's command
 * handed over. The cache directory is $XDG_CACHE_HOME/ember or ~/.cache/ember, 0700,
 * refused when owned by another user or writable by others. build runs in a child
 * process with stdin from /dev/null and its output captured (shown only on failure).
 * Returns 0, or -errno with one line in err. load->handover is malloc'd (warm_release).
 */
int warm_prepare(const struct vm_config *cfg, int (*build)(const struct vm_config *),
                 struct ctl_snapshot_load *load, char *err, size_t errlen);

void warm_release(struct ctl_snapshot_load *load);

#endif
