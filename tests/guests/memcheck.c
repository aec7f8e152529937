/* Checks that every page of RAM the E820 map reports is real, distinct memory.
 * Maps all RAM with its own identity page tables (Ember's cover only 4 GiB), writes a
 * pattern unique to each 4 KiB page (its address and complement, at both ends), then
 * verifies every page in a second pass, which catches two guest pages backed by one
 * host page. Skips [2 MiB, 4 MiB), the window guest.ld keeps this image in, so the
 * count of skipped pages does not change when the code does.
 *   memcheck: N pages ok, M skipped
 *   memcheck: FAIL at 0x<page> ...
 * Option memcheck.min=ADDR: check only pages at or above ADDR (fast runs of big VMs). */
#include "guest.h"

#define SKIP_START 0x200000UL
#define SKIP_END   0x400000UL
#define GIB        (1UL << 30)
#define MAX_GIB    64 /* page directories in .bss: 4 KiB per GiB */

static u64 pml4[512] __attribute__((aligned(4096)));
static u64 pdpt[512] __attribute__((aligned(4096)));
static u64 pd[MAX_GIB][512] __attribute__((aligned(4096)));

/* The whole pages in a RAM entry: [*start, *end). */
static void ram_pages(const struct e820_entry *e, u64 *start, u64 *end)
{
	u64 last;

	if (__builtin_add_overflow(e->addr, e->size, &last))
		last = ~0UL;
	*start = (e->addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	*end = last & ~(PAGE_SIZE - 1);
	if (*start < e->addr || *end < *start) /* rounding wrapped, or no whole page */
		*start = *end = 0;
}

static void map_ram(u64 gib)
{
	pml4[0] = (u64)(uintptr_t)pdpt | PTE_P | PTE_RW;
	for (u64 i = 0; i < gib; i++) {
		pdpt[i] = (u64)(uintptr_t)pd[i] | PTE_P | PTE_RW;
		for (u64 j = 0; j < 512; j++)
			pd[i][j] = (i << 30 | j << 21) | PTE_P | PTE_RW | PTE_PS;
	}
	/* Ember's GDT is in RAM we are about to overwrite. */
	gdt_load();
	write_cr3((u64)(uintptr_t)pml4);
}

static void page_fill(u64 p)
{
	volatile u64 *q = (volatile u64 *)(uintptr_t)p;

	q[0] = p;
	q[1] = ~p;
	q[PAGE_SIZE / 8 - 2] = ~p;
	q[PAGE_SIZE / 8 - 1] = p;
}

static bool page_check(u64 p)
{
	volatile u64 *q = (volatile u64 *)(uintptr_t)p;
	u64 w[4] = {q[0], q[1], q[PAGE_SIZE / 8 - 2], q[PAGE_SIZE / 8 - 1]};

	if (w[0] == p && w[1] == ~p && w[2] == ~p && w[3] == p)
		return true;
	gprintf("memcheck: FAIL at 0x%lx: read 0x%lx 0x%lx 0x%lx 0x%lx\n", p, w[0], w[1], w[2],
	        w[3]);
	return false;
}

/* Visit every RAM page at or above min outside the skipped window: fill it (verify
 * false, counting skipped pages into *count) or check it (verify true, counting good
 * pages). Returns 1 at the first page that fails its check, else 0. */
static int walk_ram(u64 min, bool verify, u64 *count)
{
	for (unsigned i = 0; i < boot.e820_count; i++) {
		u64 start, end;

		if (boot.e820[i].type != E820_RAM)
			continue;
		ram_pages(&boot.e820[i], &start, &end);
		for (u64 p = start < min ? min : start; p < end; p += PAGE_SIZE) {
			bool skip = p >= SKIP_START && p < SKIP_END;
			if (!verify) {
				if (skip)
					(*count)++;
				else
					page_fill(p);
			} else if (!skip) {
				if (!page_check(p))
					return 1;
				(*count)++;
			}
		}
	}
	return 0;
}

int main(void)
{
	u64 min = 0, top = 4 * GIB, ok = 0, skipped = 0;

	if (cmdline_get_u64(boot.cmdline, "memcheck.min", &min) &&
	    __builtin_add_overflow(min, PAGE_SIZE - 1, &min))
		min = ~0UL;
	min &= ~(PAGE_SIZE - 1);
	if ((uintptr_t)__image_end > SKIP_END) {
		gprintf("memcheck: FAIL at 0x%lx: image ends past the skipped window\n",
		        (u64)(uintptr_t)__image_end);
		return 1;
	}
	for (unsigned i = 0; i < boot.e820_count; i++) {
		u64 start, end;

		if (boot.e820[i].type != E820_RAM)
			continue;
		ram_pages(&boot.e820[i], &start, &end);
		if (end > top)
			top = end;
	}
	if (top > MAX_GIB * GIB) {
		gprintf("memcheck: FAIL at 0x%lx: RAM beyond the %u GiB this check maps\n", top,
		        MAX_GIB);
		return 1;
	}
	map_ram((top + GIB - 1) / GIB);

	/* Fill every page first, then verify: aliasing shows as a later fill overwriting
	 * an earlier page's pattern. */
	if (walk_ram(min, false, &skipped) || walk_ram(min, true, &ok))
		return 1;
	gprintf("memcheck: %lu pages ok, %lu skipped\n", ok, skipped);
	return 0;
}
