#!/bin/sh
# The demo's Linux part, run where /dev/kvm boots Linux (a host with VMX/SVM, or the
# nested rig), from the project root: the default guest (Debian's kernel, Ember's init)
# runs commands like `docker run`, with a VM around each.
show() {
	echo "--- ember $*"
	build/ember "$@" </dev/null
	echo "(exit status $?)"
}
show run -- uname -a
show run --vcpus 2 --mem 512 -- sh -c 'echo "$(nproc) vCPUs"; grep MemTotal /proc/meminfo'
show run -- sh -c 'echo "the command'"'"'s status is Ember'"'"'s"; exit 7'
show run --kernel build/guest/bzImage --initrd build/guest/initrd.cpio -- cat /proc/cmdline
echo "--- 5 boots of 'ember run -- true': medians from start to the init's first line (marker_*)"
echo "    and to exit, in ms, and peak RSS (guest RAM included) in KiB:"
build/bench/runstat -n 5 -s 0 -m 'ember-init: ready' -q -- build/ember run --append ember_mark=1 -- true
