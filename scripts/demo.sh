#!/bin/sh
# `make demo`: boot Ember's freestanding guests and show what they print, on this host's
# /dev/kvm when it works, otherwise inside the nested test rig (and say so).
set -eu
cd "$(dirname "$0")/.."
if [ -c /dev/kvm ] && ( exec 3<>/dev/kvm ) 2>/dev/null; then
	echo "demo: running on this host's /dev/kvm"
	sh scripts/demo-guests.sh
else
	echo "demo: this host has no usable /dev/kvm; 'ember doctor' says:"
	build/ember doctor | sed 's/^/    /' || true
	echo "demo: so it runs inside the nested test rig (QEMU TCG emulating an AMD CPU with SVM, kvm-amd inside)"
	sh tests/rig/rig.sh --mem 4096 --timeout 300 --add build/ember:/ember/build/ember \
		--add build/guests:/ember/build/guests --add build/bench/runstat:/ember/build/bench/runstat \
		--add scripts/demo-guests.sh:/ember/scripts/demo-guests.sh -- sh scripts/demo-guests.sh
fi
