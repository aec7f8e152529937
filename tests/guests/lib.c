/* The guest-only part of the test-guest library: COM1 output, reset, faults, the GDT,
 * the C entry point crt0 calls, and the mem* functions freestanding gcc may call. */
#include "guest.h"

#define LSR_THRE         0x20
#define I8042_CMD        0x64
#define I8042_STATUS_IBF 0x02
#define I8042_RESET      0xfe

struct boot_info boot;

void serial_init(void)
{
	outb(COM1 + 3, 0x03); /* LCR: 8N1, DLAB off */
	outb(COM1 + 1, 0x00); /* IER: no interrupts */
	outb(COM1 + 4, 0x00); /* MCR: no loopback */
	outb(COM1 + 2, 0x07); /* FCR: FIFOs on, both cleared */
}

void serial_putc(char c)
{
	/* Ember's THRE is always set; the bound keeps a broken UART from hanging us. */
	for (int i = 0; i < 1000 && !(inb(COM1 + 5) & LSR_THRE); i++)
		cpu_relax();
	outb(COM1, (u8)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

static void serial_sink(struct fmt_sink *s, char c)
{
	(void)s;
	serial_putc(c);
}

void gprintf(const char *fmt, ...)
{
	struct fmt_sink s = {.put = serial_sink};
	va_list ap;

	va_start(ap, fmt);
	fmt_vformat(&s, fmt, ap);
	va_end(ap);
}

void guest_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void guest_triple_fault(void)
{
	static const struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) idtr = {0, 0};

	/* int3 -> #GP (vector 3 is past the limit) -> #DF -> shutdown. */
	__asm__ volatile("lidt %0\n\tint3" ::"m"(idtr) : "memory");
	guest_halt();
}

void guest_reset(void)
{
	/* As Linux does: give the controller's input buffer a bounded time to drain. */
	for (int i = 0; i < 1000 && (inb(I8042_CMD) & I8042_STATUS_IBF); i++)
		cpu_relax();
	outb(I8042_CMD, I8042_RESET);
	tsc_delay(200000000);
	serial_puts("guest: i8042 reset did not stop the machine\n");
	guest_triple_fault();
}

/* Accessed bits preset, so loading a segment never writes to the table. */
static u64 lib_gdt[] __attribute__((aligned(16))) = {
    0,                  /* 0x00: null */
    0x00cf9b000000ffff, /* 0x08: 32-bit code */
    0x00af9b000000ffff, /* 0x10: 64-bit code */
    0x00cf93000000ffff, /* 0x18: data */
};

void gdt_load(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) gdtr = {sizeof(lib_gdt) - 1, (u64)(uintptr_t)lib_gdt};

	/* The selectors in use (CS 0x10, DS/ES/SS 0x18) index the same descriptors in both
	 * tables, so the cached segment state stays right and nothing needs reloading. */
	__asm__ volatile("lgdt %0" ::"m"(gdtr) : "memory");
}

/* Called by crt0 with the stack set and .bss zeroed; bp is RSI at entry. */
__attribute__((noreturn)) void guest_start(const void *bp);

void guest_start(const void *bp)
{
	u64 cl = boot_cmdline_addr(bp);

	boot.e820_reported = boot_e820(bp, boot.e820, BP_E820_MAX);
	boot.e820_count = boot.e820_reported < BP_E820_MAX ? boot.e820_reported : BP_E820_MAX;
	/* Ember's page tables map only the first 4 GiB. */
	if (cl && cl < (1UL << 32) - CMDLINE_MAX)
		boot.cmdline_truncated =
		    !cmdline_copy(boot.cmdline, sizeof(boot.cmdline), (const char *)(uintptr_t)cl);
	else if (cl)
		gprintf("guest: command line at 0x%lx is out of reach\n", cl);
	main();
	guest_reset();
}

/* rep movsb/stosb: a C loop here could be turned back into a call to itself. */
void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	if ((uintptr_t)dst <= (uintptr_t)src || (uintptr_t)dst >= (uintptr_t)src + n)
		return memcpy(dst, src, n);
	/* Overlapping with dst above src: copy backwards from the last byte. */
	const u8 *s = (const u8 *)src + n - 1;
	u8 *d = (u8 *)dst + n - 1;

	__asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const volatile u8 *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
