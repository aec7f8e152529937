#!/bin/sh
# `make demo`: boot Ember's freestanding guests and its default Linux guest and show what
# they print. Each runs on this host's /dev/kvm when that can run it, otherwise inside the
# nested test rig (and the demo says so): a PVM host runs freestanding guests natively but
# boots only PVM-aware kernels, so there Linux goes to the rig.
set -eu
cd "$(dirname "$0")/.."

in_rig() {
	sh tests/rig/rig.sh --mem 4096 --timeout 600 --add build/ember:/ember/build/ember \
		--add build/guests:/ember/build/guests --add build/guest:/ember/build/guest \
		--add build/bench/runstat:/ember/build/bench/runstat \
		--add "scripts/$1:/ember/scripts/$1" -- sh "scripts/$1"
}

if [ -c /dev/kvm ] && ( exec 3<>/dev/kvm ) 2>/dev/null; then
	echo "demo: freestanding guests on this host's /dev/kvm"
	sh scripts/demo-guests.sh
	if [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
		echo "demo: this host's KVM is PVM, which boots only PVM-aware Linux kernels;"
		echo "demo: the default Linux guest runs inside the nested test rig"
		in_rig demo-linux.sh
	else
		echo "demo: the default Linux guest on this host's /dev/kvm"
		sh scripts/demo-linux.sh
	fi
else
	echo "demo: this host has no usable /dev/kvm; 'ember doctor' says:"
	build/ember doctor | sed 's/^/    /' || true
	echo "demo: so everything runs inside the nested test rig (QEMU TCG emulating an AMD CPU with SVM, kvm-amd inside)"
	in_rig demo-guests.sh
	in_rig demo-linux.sh
fi
