#!/bin/sh
# The demo's body, run where /dev/kvm works (the host or the nested rig), from the
# project root: boot each kind of freestanding guest and show what it prints.
show() {
	echo "--- ember $*"
	build/ember "$@" </dev/null
	echo "(exit status $?)"
}
show doctor
show run --kernel build/guests/hello.elf --stats
show run --kernel build/guests/cmdline.elf --mem 3200 --cmdline 'hello "quoted words"'
show run --kernel build/guests/smp.elf --vcpus 4 --cmdline smp.expect=4
show run --kernel build/guests/triple_fault.elf
show run --kernel build/guests/unmapped_write.elf
echo "--- start-to-exit of the hello guest, 20 runs:"
build/bench/runstat -n 20 -s 0 -- build/ember run --kernel build/guests/hello.elf
