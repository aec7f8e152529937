/* Entry of every test guest. Ember enters here in 64-bit mode with interrupts off and
 * RSI = boot_params (docs/CONTRACTS.md); we take our own stack, zero .bss (the loader
 * need not), and call guest_start(boot_params), which never returns. */

#define BOOT_STACK_SIZE 16384

	.section .text.entry, "ax"
	.globl _start
	.type _start, @function
_start:
	cli
	cld
	lea boot_stack_top(%rip), %rsp
	mov %rsi, %r12			/* rep stosb clobbers rdi, rcx */
	lea __bss_start(%rip), %rdi
	lea __bss_end(%rip), %rcx
	sub %rdi, %rcx
	xor %eax, %eax
	rep stosb			/* also zeroes the stack: nothing is on it yet */
	mov %r12, %rdi
	xor %ebp, %ebp
	call guest_start
1:	cli
	hlt
	jmp 1b
	.size _start, . - _start

	.section .bss.stack, "aw", @nobits
	.balign 16
boot_stack:
	.skip BOOT_STACK_SIZE
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
