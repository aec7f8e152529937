/*
 * virtio-balloon (virtio 1.2, 5.5), as Firecracker offers it: the host sets a target of
 * pages (num_pages), the driver puts that many guest pages into the inflate queue and the
 * device gives their host memory back (MADV_DONTNEED); deflated pages come back on the
 * guest's next touch. With a polling interval the statistics queue is served (the device
 * holds the driver's buffer and returns it every interval to ask for fresh numbers); with
 * deflate_on_oom the driver may take pages back when it runs out of memory. With free page
 * reporting the driver hands over runs of free pages it will not touch until it allocates
 * them again, and their host memory goes back too.
 * The guest is hostile: every PFN is checked against guest RAM (gm_ptr) before its page
 * is touched; one outside RAM is skipped and counted, never followed.
 */
#ifndef EMBER_VIRTIO_BALLOON_H
#define EMBER_VIRTIO_BALLOON_H

#include "../base/config.h"
#include "virtio.h"

#include <stdbool.h>
#include <stdint.h>

/* Feature bits (5.5.3). */
#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_REPORTING      5

#define BALLOON_PAGE_SHIFT 12 /* PFNs are of 4 KiB pages whatever the guest's page size */
#define BALLOON_INFLATEQ   0
#define BALLOON_DEFLATEQ   1
#define BALLOON_STATSQ     2  /* with statistics; the reporting queue follows the last */
#define BALLOON_STATS_NR   16 /* the tags Ember names (Firecracker's BalloonStats) */

/* The latest statistics the driver sent (tag -> value), and when. */
struct balloon_stats {
	bool have[BALLOON_STATS_NR];
	uint64_t val[BALLOON_STATS_NR];
	uint64_t updates; /* buffers received */
};

struct virtio_balloon {
	struct virtio_dev vdev;
	/* private: owned by balloon.c, under vdev.lock */
	bool created;        /* balloon_create succeeded: balloon_destroy has work */
	uint32_t num_pages;  /* the target (device-written configuration) */
	uint32_t actual;     /* what the driver says it holds (driver-written) */
	uint32_t interval_s; /* statistics polling interval; 0: no statistics queue */
	bool stats_held;     /* the driver's statistics buffer is with the device */
	uint16_t stats_head; /* its head */
	int stats_timer_fd;  /* periodic, interval_s; -1 without statistics */
	struct el_handler stats_handler;
	bool stats_watched;
	struct balloon_stats stats;
	uint64_t inflated, deflated; /* pages given back to the host / taken back */
	uint64_t reported;           /* bytes of free pages the driver reported */
	uint64_t bad_pfns;           /* PFNs outside guest RAM, skipped */
	bool bad_pfn_logged;
	struct iovec iov[VQ_MAX_SIZE];
};

/* Make b a virtio-balloon for cfg (enabled), ready for virtio_mmio_add. Returns 0, or
 * -errno with a message in err. */
int balloon_create(struct virtio_balloon *b, const struct balloon_config *cfg, char *err,
                   size_t errlen);

/* Close what balloon_create opened (after virtio_mmio_remove). */
void balloon_destroy(struct virtio_balloon *b);

/* The device's own state in a snapshot (the transport and queues are virtio_state's). */
struct balloon_state {
	uint32_t num_pages, actual, interval_s;
	uint16_t stats_head;
	uint8_t stats_held, pad;
	uint64_t inflated, deflated, reported, bad_pfns;
	struct balloon_stats stats;
};

/* Copy b's state out (VM paused). */
void balloon_save(struct virtio_balloon *b, struct balloon_state *st);

/* Before virtio_state_restore checks the configuration bytes: the saved target and
 * actual (num_pages, actual) back. */
void balloon_restore_target(struct virtio_balloon *b, const struct balloon_state *st);

/* Put a saved state back, after virtio_state_restore: the target, what the driver holds,
 * the polling interval (re-armed), the statistics buffer the device held. Checked: a held
 * buffer needs the statistics queue and a head inside it, an interval needs statistics.
 * Returns 0, or -EINVAL with one line in err. */
int balloon_restore(struct virtio_balloon *b, const struct balloon_state *st, char *err,
                    size_t errlen);

/* PATCH /balloon (vmm thread): a new target in MiB; the driver gets a configuration
 * interrupt. */
void balloon_set_target_mib(struct virtio_balloon *b, uint32_t mib);

/* PATCH /balloon/statistics (vmm thread): a new polling interval (> 0; statistics must
 * have been on from the start). The first request goes out now. */
void balloon_set_interval(struct virtio_balloon *b, uint32_t seconds);

/* A consistent copy of the state GET /balloon/statistics shows (vmm thread). */
struct balloon_report {
	uint32_t target_pages, actual_pages;
	struct balloon_stats stats;
};
void balloon_report(struct virtio_balloon *b, struct balloon_report *out);

/* Firecracker's name of statistics tag i ("swap_in", ...), or NULL. */
const char *balloon_stat_name(unsigned tag);

#endif
