#!/bin/sh
# The layers of Ember's source point down (docs/ARCHITECTURE.md, "Layers"): a file may
# include only files of its own layer or of a lower one. Prints every include that points
# up and exits 1 if there is one. Run by `make test`.
set -eu
cd "$(dirname "$0")/.."

# rank PATH: the layer of a file under src/ (lower is more basic); the jailer is a
# separate program and sits outside the layers, and so does ember-oci (src/oci).
rank() {
	case $1 in
	src/base/*) echo 0 ;;
	src/acpi/* | src/seccomp/*) echo 1 ;;
	src/devices/* | src/virtio/* | src/mmds/*) echo 2 ;;
	src/arch/*) echo 3 ;;
	src/vmm/*) echo 4 ;;
	src/api/* | src/*.c | src/*.h) echo 5 ;;
	*) echo x ;;
	esac
}

bad=0 n=0
for f in $(find src -name '*.[ch]' ! -path 'src/jailer/*' ! -path 'src/oci/*' | sort); do
	from=$(rank "$f")
	dir=$(dirname "$f")
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		target=$(realpath -m --relative-to=. "$dir/$inc")
		to=$(rank "$target")
		n=$((n + 1))
		if [ "$to" = x ] || [ "$from" = x ]; then
			echo "check-layers: $f includes $inc, outside the layers"
			bad=1
		elif [ "$to" -gt "$from" ]; then
			echo "check-layers: $f (layer $from) includes $inc (layer $to): a lower layer must not include a higher one"
			bad=1
		fi
	done
done
[ $bad -eq 0 ] && echo "check-layers: $n includes, none points up"
exit $bad
