/* Application-processor startup. tramp_start..tramp_end is copied by the BSP to
 * TRAMP_BASE, where SIPI starts each AP in real mode at CS=TRAMP_BASE>>4, IP=0. It goes
 * to protected mode with its own GDT, then to long mode on Ember's page tables (they
 * map the first 4 GiB, so both this copy and the image are reachable), and jumps to
 * ap_entry64 in the image, which takes a stack slot and calls ap_main(). */
#include "smp.h"

#define CR0_PE 0x00000001
#define CR0_MP 0x00000002
#define CR0_ET 0x00000010
#define CR0_NE 0x00000020
#define CR0_WP 0x00010000
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100

#define SEL_CODE32 0x08
#define SEL_CODE64 0x10
#define SEL_DATA 0x18

/* Offset inside the copy (real mode, CS base = TRAMP_BASE), and linear address. */
#define REL(x) ((x) - tramp_start)
#define ABS(x) (TRAMP_BASE + REL(x))

	.section .text.tramp, "ax"
	.globl tramp_start, tramp_end

	.code16
tramp_start:
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	lgdtl REL(tramp_gdtr)
	/* Protected mode; also clears CD and NW, which INIT sets. */
	movl $(CR0_PE | CR0_ET), %eax
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ABS(tramp32)

	.code32
tramp32:
	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $EMBER_PML4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	/* The same CR0 Ember gives the BSP. */
	movl $(CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG), %eax
	movl %eax, %cr0
	ljmp $SEL_CODE64, $ABS(tramp64)

	.code64
tramp64:
	movl $ap_entry64, %eax		/* absolute: this copy is not where it was linked */
	jmp *%rax

	.balign 8
tramp_gdt:				/* accessed bits preset: the CPU never writes it */
	.quad 0
	.quad 0x00cf9b000000ffff	/* 0x08: 32-bit code, flat */
	.quad 0x00af9b000000ffff	/* 0x10: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x18: data, flat */
tramp_gdt_end:
tramp_gdtr:
	.word tramp_gdt_end - tramp_gdt - 1
	.long ABS(tramp_gdt)
tramp_end:

	.text
	.globl ap_entry64
	.type ap_entry64, @function
ap_entry64:
	movl $1, %eax
	lock xaddl %eax, ap_ticket(%rip)
	cmpl $SMP_MAX_APS, %eax
	jae 1f				/* more APs than stacks: park this one */
	leaq 1(%rax), %rdx		/* stack top of slot eax */
	shlq $AP_STACK_SHIFT, %rdx
	leaq ap_stacks(%rip), %rsp
	addq %rdx, %rsp
	xorl %ebp, %ebp
	call ap_main
1:	cli
	hlt
	jmp 1b
	.size ap_entry64, . - ap_entry64

	.section .note.GNU-stack, "", @progbits
