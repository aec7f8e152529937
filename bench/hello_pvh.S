/*
 * The start benchmark's guest: the hello guest's work (one line on COM1, then stop),
 * bootable by Ember's 64-bit ELF entry and by QEMU's PVH entry (the Xen PVH ELF note,
 * entered in 32-bit protected mode), so both monitors run the same instructions.
 * It stops QEMU through its isa-debug-exit port (0xf4, absent under Ember, where the
 * write is ignored) and Ember through the i8042 reset command.
 * Built with -DIDLE (the density benchmark's idle guest) it prints the same line and then
 * halts with interrupts off, forever: no exit, no timer, no wakeup.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.pvh, "a", @note
	.balign 4
	.long 4, 8, XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.quad pvh_entry

	.section .text
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	lgdt gdt_ptr
	movl $0x20, %eax		/* CR4.PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl $0x80000001, %eax		/* CR0.PG | CR0.PE */
	movl %eax, %cr0
	ljmp $0x08, $_start

	.code64
	.globl _start
_start:
	leaq msg(%rip), %rsi
	movw $0x3f8, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:
#ifndef IDLE
	xorl %eax, %eax
	outb %al, $0xf4			/* QEMU: isa-debug-exit */
	movb $0xfe, %al
	outb %al, $0x64			/* Ember (and a PC): i8042 reset */
#endif
3:	hlt
	jmp 3b

	.section .rodata
msg:	.asciz "Hello from an Ember guest\n"
gdt:	.quad 0
	.quad 0x00af9a000000ffff	/* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff	/* 0x10: data */
gdt_ptr:
	.word gdt_ptr - gdt - 1
	.long gdt

	.section .data
	.balign 4096
pml4:	.quad pdpt + 3
	.fill 511, 8, 0
pdpt:	.quad pd + 3
	.fill 511, 8, 0
pd:	/* identity map of the first GiB in 2 MiB pages */
	.set i, 0
	.rept 512
	.quad (i << 21) | 0x83
	.set i, i + 1
	.endr
