/*
 * The density benchmark's guest for kvmtool, which loads neither ELF nor PVH: the idle
 * PVH guest's work (bench/hello_pvh.S built with -DIDLE) as a real-mode flat binary
 * (kvmtool's `--nodefaults -k FILE` loads it at 0x1000:0x0000): one line on COM1, then
 * HLT with interrupts off, forever. Built with -DEXIT (bench/compare.sh's start-to-exit
 * guest for kvmtool, the hello guest's work) it asks the i8042 for a reset instead, which
 * ends kvmtool.
 */
	.code16
	.globl _start
_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	movw $msg, %si
	movw $0x3f8, %dx
1:	lodsb
	testb %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:
#ifdef EXIT
	movb $0xfe, %al
	outb %al, $0x64
#endif
3:	hlt
	jmp 3b
msg:	.asciz "Hello from an Ember guest\n"
