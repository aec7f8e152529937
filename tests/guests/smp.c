/* SMP bring-up, the way Linux does it: the BSP copies a real-mode trampoline to
 * TRAMP_BASE and sends INIT, SIPI, SIPI to all other CPUs through the xAPIC ICR. Every
 * CPU (BSP included) reports its APIC id once:
 *   smp: cpu apic=<id>			(CPUID.1 EBX[31:24] and the LAPIC ID agree)
 *   smp: apic id mismatch lapic=<id> cpuid=<id>
 *   smp: duplicate apic=<id>
 * then the BSP waits for smp.expect=N CPUs (bounded) and prints
 *   smp: N cpus up			or	smp: timeout, N up
 *   smp: cpuid count=N			(CPUID.1 EBX[23:16])
 * and resets. APs park in cli; hlt. */
#include "guest.h"
#include "smp.h"

#define LAPIC_BASE       0xfee00000UL
#define LAPIC_ID         0x020
#define LAPIC_SVR        0x0f0
#define LAPIC_ICR_LO     0x300
#define LAPIC_ICR_HI     0x310
#define SVR_ENABLE       0x100
#define ICR_INIT         0x00500
#define ICR_STARTUP      0x00600
#define ICR_BUSY         0x01000
#define ICR_ASSERT       0x04000
#define ICR_ALL_BUT_SELF 0xc0000
/* No timer: count TSC ticks. 5e9 is about 1.5-2.5 s on today's CPUs. */
#define WAIT_TSC 5000000000UL

extern char tramp_start[], tramp_end[];
u32 ap_ticket;                                                         /* ap_entry64 */
u8 ap_stacks[SMP_MAX_APS][AP_STACK_SIZE] __attribute__((aligned(16))); /* ap_entry64 */
void ap_main(void);

static struct spinlock print_lock;
static u64 apic_seen[256 / 64];
static u32 cpus_up;

static u32 lapic_read(u32 reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}
static void lapic_write(u32 reg, u32 v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

static void ipi_wait_idle(void)
{
	for (int i = 0; i < 100000 && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
		cpu_relax();
}

static void ipi_all_but_self(u32 icr)
{
	ipi_wait_idle();
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_ASSERT | icr); /* sends */
	ipi_wait_idle();
}

/* Prints this CPU's line, then counts it: the BSP's total never runs ahead of output. */
static void cpu_report(void)
{
	u32 a, b, c, d, id, cpuid_id;

	cpuid(1, 0, &a, &b, &c, &d);
	cpuid_id = b >> 24;
	id = lapic_read(LAPIC_ID) >> 24;
	spin_lock(&print_lock);
	if (id != cpuid_id)
		gprintf("smp: apic id mismatch lapic=%u cpuid=%u\n", id, cpuid_id);
	else if (apic_seen[id / 64] & 1UL << id % 64)
		gprintf("smp: duplicate apic=%u\n", id);
	else
		gprintf("smp: cpu apic=%u\n", id);
	apic_seen[id / 64] |= 1UL << id % 64;
	__atomic_add_fetch(&cpus_up, 1, __ATOMIC_RELEASE);
	spin_unlock(&print_lock);
}

void ap_main(void)
{
	cpu_report();
	guest_halt();
}

int main(void)
{
	u64 expect = 1, t0, cr3 = read_cr3();
	u32 a, b, c, d, up;

	if (!cmdline_get_u64(boot.cmdline, "smp.expect", &expect) || expect < 1 ||
	    expect > SMP_MAX_APS + 1) {
		gprintf("smp: no valid smp.expect=1..%u, assuming 1\n", SMP_MAX_APS + 1);
		expect = 1;
	}
	if (cr3 != EMBER_PML4) /* the trampoline relies on Ember's tables */
		gprintf("smp: unexpected cr3 0x%lx\n", cr3);
	cpu_report();

	memcpy((void *)TRAMP_BASE, tramp_start, (uintptr_t)tramp_end - (uintptr_t)tramp_start);
	/* As Linux does before sending IPIs: software-enable the LAPIC, spurious 0xff. */
	lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | SVR_ENABLE | 0xff);
	ipi_all_but_self(ICR_INIT);
	tsc_delay(10000000);
	ipi_all_but_self(ICR_STARTUP | SIPI_VECTOR);
	tsc_delay(1000000);
	ipi_all_but_self(ICR_STARTUP | SIPI_VECTOR);

	t0 = rdtsc();
	while ((up = __atomic_load_n(&cpus_up, __ATOMIC_ACQUIRE)) < expect &&
	       rdtsc() - t0 < WAIT_TSC)
		cpu_relax();

	cpuid(1, 0, &a, &b, &c, &d);
	spin_lock(&print_lock);
	if (up < expect)
		gprintf("smp: timeout, %u up\n", up);
	else
		gprintf("smp: %u cpus up\n", up);
	gprintf("smp: cpuid count=%u\n", b >> 16 & 0xff);
	spin_unlock(&print_lock);
	return 0;
}
