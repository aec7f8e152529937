/*
 * Guest physical memory. The only way from a guest physical address to a host pointer is
 * gm_ptr(), which checks the whole range with overflow-safe arithmetic.
 */
#ifndef EMBER_GUEST_MEM_H
#define EMBER_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

/* A guest physical address. Never dereference one; translate it with gm_ptr(). */
typedef uint64_t gpa_t;

#define GM_MAX_REGIONS 2

/* One contiguous run of guest RAM, backed by host memory at host. */
struct gm_region {
	gpa_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	uint8_t *mapping;    /* the host mapping that backs every region */
	size_t mapping_size; /* its size, for munmap */
	uint64_t ram_bytes;  /* guest RAM in all regions */
	unsigned nregions;
	struct gm_region regions[GM_MAX_REGIONS];
	/* One bit per 4 KiB page of the mapping, set (atomically, from any thread) where
	 * Ember's own devices wrote guest RAM since the last snapshot: KVM's dirty log sees
	 * only the guest's writes. NULL: dirty pages are not tracked (gm_track_dirty). */
	uint64_t *dirty;
};

#define GM_PAGE 4096u

/* How many 64-bit words a bitmap of gm's pages (mapping order) takes. */
size_t gm_bitmap_words(const struct guest_mem *gm);

/*
 * Split ram_bytes of guest RAM around the architecture's device hole, which starts at
 * hole (where low RAM ends) and ends at high (where RAM resumes): [0, min(ram, hole)) and,
 * for larger guests, [high, high + ram - hole). Fills regions (gpa and size only, host
 * offsets are gpa-relative to the start of the backing: region 1 starts hole bytes in)
 * and returns their count. hole <= high.
 */
unsigned gm_layout(uint64_t ram_bytes, gpa_t hole, gpa_t high,
                   struct gm_region regions[GM_MAX_REGIONS]);

/*
 * Map ram_bytes of anonymous host memory (2 MiB aligned, no huge-page advice) and lay it
 * out with gm_layout(). Returns 0 or -errno.
 */
int gm_create(struct guest_mem *gm, uint64_t ram_bytes, gpa_t hole, gpa_t high);

/* Advise gm_create's RAM for transparent huge pages (madvise MADV_HUGEPAGE: Firecracker's
 * huge_pages "Transparent"), all but its first GM_SMALL_PAGES_LOW bytes, which are advised
 * against them (MADV_NOHUGEPAGE). Returns 0, or -errno where the host has no THP. */
int gm_advise_huge(const struct guest_mem *gm);

/* The low guest RAM kept in small pages under gm_advise_huge: the boot structures, the
 * real-mode area and a small guest's code live there, and each 2 MiB page a guest touches
 * is 2 MiB of host memory. A guest that only prints a line and halts touched two huge
 * pages, 4 MiB, where kvmtool's touched 4 KiB ones (bench/density.sh, 2026-12-07); Linux,
 * loaded at 16 MiB, uses the rest, where huge pages speed its boot. */
#define GM_SMALL_PAGES_LOW (4ULL << 20)

/*
 * As gm_create, but RAM is the file fd (a snapshot's memory file, exactly ram_bytes long:
 * -EINVAL otherwise) mapped MAP_PRIVATE: pages load lazily from it, clones of one snapshot
 * share them in the page cache, and guest writes stay private (copy-on-write). fd may be
 * closed afterwards. Returns 0 or -errno.
 */
int gm_create_from_file(struct guest_mem *gm, int fd, uint64_t ram_bytes, gpa_t hole, gpa_t high);

/*
 * Write all of guest RAM to fd, which must be empty (-EEXIST otherwise), in mapping order
 * (the layout of gm_create_from_file): pages of zeros are skipped, leaving holes, and the
 * last page is always written so the file has its full length. Uses pwritev only. Returns
 * 0 or -errno.
 */
int gm_save(const struct guest_mem *gm, int fd);

/*
 * Start tracking the pages Ember's devices write (gm->dirty), all marked dirty (a booted
 * guest: its RAM was written by the loader, not seen by KVM's log) or none (a restored
 * one: its base is the snapshot it came from). Returns 0 or -ENOMEM.
 */
int gm_track_dirty(struct guest_mem *gm, int all_dirty);

/* Mark the pages of host range [p, p + len) dirty, if tracked and inside guest RAM (any
 * other range is ignored). Cheap; safe from any thread. */
void gm_mark_dirty(const struct guest_mem *gm, const void *p, size_t len);

/* OR the device-dirty bitmap into bits (gm_bitmap_words long, mapping order) and clear it. */
void gm_take_dirty(struct guest_mem *gm, uint64_t *bits);

/*
 * A Diff snapshot's memory file: the pages set in bits (mapping order) written to fd
 * (empty: -EEXIST otherwise) at their offsets, whatever they hold (a page that became
 * zero is data too), and the last page always (the file's full length): holes elsewhere.
 * Returns the count of pages written, or -errno.
 */
int64_t gm_save_pages(const struct guest_mem *gm, int fd, const uint64_t *bits);

/* Unmap what gm_create() mapped. Safe on a zeroed struct. */
void gm_destroy(struct guest_mem *gm);

/* How many bytes of guest RAM are resident in host memory now (mincore), or -errno. */
int64_t gm_resident_bytes(const struct guest_mem *gm);

/*
 * The host pointer for guest physical range [gpa, gpa + len), or NULL unless len >= 1 and
 * the whole range lies inside one RAM region. This is the only gpa-to-pointer function.
 */
void *gm_ptr(const struct guest_mem *gm, gpa_t gpa, uint64_t len);

#endif
