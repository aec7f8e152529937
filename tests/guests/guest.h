/* The freestanding test-guest library: what every guest may call.
 * Guests are entered as docs/CONTRACTS.md describes (64-bit mode, RSI = boot_params);
 * crt0 sets a stack, zeroes .bss, copies the boot data into `boot` and calls main(). */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define PAGE_SIZE 4096UL

/* --- boot data (boot.c: pure C, also builds on the host for smoke tests) --- */

/* Offsets into boot_params (the "zero page"), from the Linux boot protocol. */
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES     0x1e8
#define BP_CMD_LINE_PTR     0x228
#define BP_E820_TABLE       0x2d0
#define BP_E820_MAX         128 /* slots in the zero page's table */
#define E820_ENTRY_SIZE     20
#define E820_RAM            1
#define CMDLINE_MAX         4096

struct e820_entry {
	u64 addr;
	u64 size;
	u32 type;
};

/* Copies up to max entries of bp's E820 table to out. Returns the count the zero page
 * claims, which may exceed max (the caller reports that, it is the monitor's bug). */
unsigned boot_e820(const void *bp, struct e820_entry *out, unsigned max);
/* The command line's guest-physical address (cmd_line_ptr | ext_cmd_line_ptr << 32). */
u64 boot_cmdline_addr(const void *bp);
/* Copies the NUL-terminated src to dst[cap], always terminating. Returns false if src
 * was longer than cap - 1 (dst then holds the truncated start). */
bool cmdline_copy(char *dst, size_t cap, const char *src);
/* Finds the option `key=value` in a space-separated command line; *val and *len give
 * the value (up to the next space or the end). The last occurrence wins, as in Linux. */
bool cmdline_get(const char *cl, const char *key, const char **val, size_t *len);
/* As cmdline_get, for a number: decimal or 0x-prefixed hex, overflow rejected. */
bool cmdline_get_u64(const char *cl, const char *key, u64 *out);
bool cmdline_has(const char *cl, const char *key, const char *value);
bool parse_u64(const char *s, size_t len, u64 *out);

/* What guest_start copied out of boot_params before main(), so guests may overwrite low
 * RAM. */
struct boot_info {
	char cmdline[CMDLINE_MAX];
	bool cmdline_truncated;
	unsigned e820_reported; /* what the zero page said */
	unsigned e820_count;    /* what fits in e820[] */
	struct e820_entry e820[BP_E820_MAX];
};
extern struct boot_info boot;

/* --- formatting (fmt.c: pure C) ---
 * printf subset: %% %c %s %d %i %u %x %p, flag '0', a width, lengths l ll z. */
struct fmt_sink {
	void (*put)(struct fmt_sink *s, char c);
	char *buf;
	size_t len, cap;
};
void fmt_vformat(struct fmt_sink *s, const char *fmt, va_list ap);
int fmt_snprintf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t fmt_strlen(const char *s);

/* --- the rest runs only inside a guest (lib.c) --- */

int main(void);

/* COM1, polled; output is written byte for byte ("\n" is not expanded). */
#define COM1 0x3f8
void serial_init(void); /* LCR=3 (8N1, DLAB off), IER=0, MCR=0, FIFOs on and cleared */
void serial_putc(char c);
void serial_puts(const char *s);
void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Pulses the i8042 reset line (0xFE to port 0x64): Ember exits 0. If the machine is
 * still running afterwards it says so and triple-faults, so a test fails at once. */
__attribute__((noreturn)) void guest_reset(void);
/* Loads an IDT with limit 0 and raises int3: #BP -> #GP -> #DF -> shutdown. */
__attribute__((noreturn)) void guest_triple_fault(void);
__attribute__((noreturn)) void guest_halt(void); /* cli; hlt forever */

/* Loads the library's GDT (0x10 code64 and 0x18 data as in Ember's, plus 0x08 code32),
 * so the guest may overwrite Ember's GDT at 0x500. Segment registers are not reloaded. */
void gdt_load(void);

/* Image bounds from guest.ld. */
extern char __image_start[], __image_end[];

/* Freestanding gcc may emit calls to these. */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* --- port I/O, MMIO, CPU --- */

static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u16 inw(u16 port)
{
	u16 v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u32 inl(u16 port)
{
	u32 v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* One access of exactly the given width (the compiler may not split or merge them). */
static inline u32 mmio_read32(u64 addr)
{
	return *(volatile u32 *)(uintptr_t)addr;
}
static inline u64 mmio_read64(u64 addr)
{
	return *(volatile u64 *)(uintptr_t)addr;
}
static inline void mmio_write32(u64 addr, u32 v)
{
	*(volatile u32 *)(uintptr_t)addr = v;
}
static inline void mmio_write64(u64 addr, u64 v)
{
	*(volatile u64 *)(uintptr_t)addr = v;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}

static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline u64 read_cr3(void)
{
	u64 v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void write_cr3(u64 v)
{
	__asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory");
}

/* Busy-waits about `cycles` TSC ticks: there is no timer, and none is needed. */
static inline void tsc_delay(u64 cycles)
{
	u64 t0 = rdtsc();

	while (rdtsc() - t0 < cycles)
		cpu_relax();
}

/* --- spinlock: test-and-set with pause; guests run with interrupts off --- */

struct spinlock {
	volatile u32 locked;
};

static inline void spin_lock(struct spinlock *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			cpu_relax();
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

/* --- identity page tables, for guests that build their own --- */
#define PTE_P  0x1UL
#define PTE_RW 0x2UL
#define PTE_PS 0x80UL /* 2 MiB page in a page directory */

#endif
