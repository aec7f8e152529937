/* Guest RAM: one anonymous host mapping split into regions around the device hole. */
#include "guest_mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define HUGE_2M (2ULL << 20)

unsigned gm_layout(uint64_t ram_bytes, gpa_t hole, gpa_t high,
                   struct gm_region regions[GM_MAX_REGIONS])
{
	uint64_t low = ram_bytes < hole ? ram_bytes : hole;
	unsigned n = 0;

	if (low) {
		regions[n] = (struct gm_region){.gpa = 0, .size = low, .host = NULL};
		n++;
	}
	if (ram_bytes > hole) {
		regions[n] =
		    (struct gm_region){.gpa = high, .size = ram_bytes - hole, .host = NULL};
		n++;
	}
	return n;
}

/* Reserve ram_bytes of address space on a 2 MiB boundary (over-mapping by 2 MiB and
 * trimming): with guest and host addresses congruent modulo 2 MiB, KVM can back guest
 * pages with huge pages. prot: PROT_NONE for a range the caller maps over. */
static uint8_t *map_aligned(uint64_t ram_bytes, int prot)
{
	size_t size = (size_t)ram_bytes + HUGE_2M;
	uint8_t *map = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	uint8_t *base = (uint8_t *)(((uintptr_t)map + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	size_t head = (size_t)(base - map);
	if (head)
		munmap(map, head);
	size_t tail = size - head - ram_bytes;
	if (tail)
		munmap(base + ram_bytes, tail);
	return base;
}

/* gm describes ram_bytes of RAM at base, laid out around the hole. */
static void fill(struct guest_mem *gm, uint8_t *base, uint64_t ram_bytes, gpa_t hole, gpa_t high)
{
	gm->mapping = base;
	gm->mapping_size = ram_bytes;
	gm->ram_bytes = ram_bytes;
	gm->nregions = gm_layout(ram_bytes, hole, high, gm->regions);
	uint64_t offset = 0;
	for (unsigned i = 0; i < gm->nregions; i++) {
		gm->regions[i].host = base + offset;
		offset += gm->regions[i].size;
	}
}

int gm_create(struct guest_mem *gm, uint64_t ram_bytes, gpa_t hole, gpa_t high)
{
	memset(gm, 0, sizeof(*gm));
	if (ram_bytes == 0 || ram_bytes > SIZE_MAX - HUGE_2M)
		return -EINVAL;
	uint8_t *base = map_aligned(ram_bytes, PROT_READ | PROT_WRITE);
	if (!base)
		return -errno;
	fill(gm, base, ram_bytes, hole, high);
	return 0;
}

int gm_advise_huge(const struct guest_mem *gm)
{
	/* Advice only: fails harmlessly where THP is compiled out. */
	size_t low = gm->mapping_size < GM_SMALL_PAGES_LOW ? gm->mapping_size : GM_SMALL_PAGES_LOW;
	if (madvise(gm->mapping, low, MADV_NOHUGEPAGE) < 0)
		return -errno;
	if (gm->mapping_size > low &&
	    madvise(gm->mapping + low, gm->mapping_size - low, MADV_HUGEPAGE) < 0)
		return -errno;
	return 0;
}

int gm_create_from_file(struct guest_mem *gm, int fd, uint64_t ram_bytes, gpa_t hole, gpa_t high)
{
	struct stat st;
	memset(gm, 0, sizeof(*gm));
	if (ram_bytes == 0 || ram_bytes > SIZE_MAX - HUGE_2M)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != ram_bytes)
		return -EINVAL;
	uint8_t *base = map_aligned(ram_bytes, PROT_NONE);
	if (!base)
		return -errno;
	if (mmap(base, (size_t)ram_bytes, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0) == MAP_FAILED) {
		int e = errno;
		munmap(base, (size_t)ram_bytes);
		return -e;
	}
	fill(gm, base, ram_bytes, hole, high);
	return 0;
}

static int zero_page(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

static int write_at(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		struct iovec iov = {(void *)p, len};
		ssize_t n = pwritev(fd, &iov, 1, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n, len -= (size_t)n, off += (uint64_t)n;
	}
	return 0;
}

int gm_save(const struct guest_mem *gm, int fd)
{
	enum { PAGE = 4096, RUN = 64 * PAGE };
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size != 0)
		return -EEXIST; /* old bytes would show through the holes */
	size_t size = gm->mapping_size;
	uint64_t off = 0;
	while (off < size) {
		/* A run of non-zero pages, written with one call. */
		size_t len = 0;
		while (off + len < size && len < RUN) {
			size_t page = size - off - len < PAGE ? size - off - len : PAGE;
			bool last = off + len + page == size;
			if (zero_page(gm->mapping + off + len, page) && !last)
				break;
			len += page;
		}
		if (len) {
			int r = write_at(fd, gm->mapping + off, len, off);
			if (r < 0)
				return r;
			off += len;
		} else {
			off += PAGE;
		}
	}
	return 0;
}

size_t gm_bitmap_words(const struct guest_mem *gm)
{
	size_t pages = (gm->mapping_size + GM_PAGE - 1) / GM_PAGE;
	return (pages + 63) / 64;
}

int gm_track_dirty(struct guest_mem *gm, int all_dirty)
{
	size_t words = gm_bitmap_words(gm);
	free(gm->dirty);
	gm->dirty = calloc(words ? words : 1, sizeof(uint64_t));
	if (!gm->dirty)
		return -ENOMEM;
	if (all_dirty)
		memset(gm->dirty, 0xff, words * sizeof(uint64_t));
	return 0;
}

void gm_mark_dirty(const struct guest_mem *gm, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)gm->mapping;
	if (!gm->dirty || !len || a < base || a - base >= gm->mapping_size ||
	    len > gm->mapping_size - (a - base))
		return;
	size_t first = (a - base) / GM_PAGE, last = (a - base + len - 1) / GM_PAGE;
	for (size_t i = first; i <= last; i++)
		__atomic_fetch_or(&gm->dirty[i / 64], 1ULL << (i % 64), __ATOMIC_RELAXED);
}

void gm_take_dirty(struct guest_mem *gm, uint64_t *bits)
{
	if (!gm->dirty)
		return;
	for (size_t i = 0; i < gm_bitmap_words(gm); i++)
		bits[i] |= __atomic_exchange_n(&gm->dirty[i], 0, __ATOMIC_RELAXED);
}

static bool page_set(const uint64_t *bits, size_t page)
{
	return bits[page / 64] >> (page % 64) & 1;
}

int64_t gm_save_pages(const struct guest_mem *gm, int fd, const uint64_t *bits)
{
	enum { RUN = 64 };
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size != 0)
		return -EEXIST; /* old bytes would show through the holes */
	size_t size = gm->mapping_size, pages = (size + GM_PAGE - 1) / GM_PAGE;
	int64_t written = 0;
	for (size_t i = 0; i < pages;) {
		size_t n = 0;
		while (i + n < pages && n < RUN && (page_set(bits, i + n) || i + n == pages - 1))
			n++;
		if (!n) {
			i++;
			continue;
		}
		uint64_t off = (uint64_t)i * GM_PAGE;
		size_t len = n * GM_PAGE;
		if (len > size - off)
			len = size - off;
		int r = write_at(fd, gm->mapping + off, len, off);
		if (r < 0)
			return r;
		written += (int64_t)n;
		i += n;
	}
	return written;
}

void gm_destroy(struct guest_mem *gm)
{
	free(gm->dirty);
	if (gm->mapping)
		munmap(gm->mapping, gm->mapping_size);
	memset(gm, 0, sizeof(*gm));
}

int64_t gm_resident_bytes(const struct guest_mem *gm)
{
	enum { CHUNK_PAGES = 4096 };
	unsigned char vec[CHUNK_PAGES];
	size_t page = 4096, total = 0;

	for (size_t off = 0; off < gm->mapping_size; off += CHUNK_PAGES * page) {
		size_t len = gm->mapping_size - off;
		if (len > CHUNK_PAGES * page)
			len = CHUNK_PAGES * page;
		if (mincore(gm->mapping + off, len, vec) < 0)
			return -errno;
		for (size_t i = 0; i < (len + page - 1) / page; i++)
			total += vec[i] & 1;
	}
	return (int64_t)(total * page);
}

void *gm_ptr(const struct guest_mem *gm, gpa_t gpa, uint64_t len)
{
	uint64_t last;

	if (len == 0 || __builtin_add_overflow(gpa, len - 1, &last))
		return NULL;
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gm_region *r = &gm->regions[i];
		/* r->size >= 1, so r->gpa + r->size - 1 cannot overflow for a valid layout. */
		if (gpa >= r->gpa && last <= r->gpa + (r->size - 1))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}
