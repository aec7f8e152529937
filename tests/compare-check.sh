#!/bin/sh
# Check a report of bench/compare.sh: tests/compare-check.sh REPORT.md PLATFORM...
# Every table has a row per PLATFORM; each cell is a number (with an optional spread), '-',
# or "n/a [k]" whose footnote [k] follows the table; Ember's minimal-guest start, idle
# PSS and density rows are numbers; every chart the report shows exists beside it.
set -u
report=$1
shift
dir=$(dirname "$report")
fail=0
bad() { echo "compare-check: $*"; fail=1; }
[ -s "$report" ] || { bad "no report $report"; exit 1; }
tables=$(grep -c '^| platform |' "$report")
[ "$tables" -ge 6 ] || bad "$tables tables, not the 6 axes' at least"
for p in "$@"; do
	n=$(awk -v p="| $p |" '/^\| platform/ { t = 1 } /^$/ { t = 0 } t && index($0, p) == 1 { n++ } END { print n + 0 }' "$report")
	[ "$n" -eq "$tables" ] || bad "$p has $n rows in $tables tables"
done
# The cells: a number, a number (min-max), '-', or n/a [k].
awk -F'|' '/^\| platform/ { t = 1; next } /^$/ { t = 0 } t && /^\| [a-z]/ {
	for (i = 3; i < NF; i++) {
		c = $i; gsub(/^ +| +$/, "", c)
		if (c !~ /^([0-9.]+( \([0-9.]+-[0-9.]+\))?|-|n\/a \[[0-9]+\])$/) { print "compare-check: bad cell \"" c "\" in: " $0; bad = 1 }
	}
} END { exit bad }' "$report" || fail=1
# Each n/a [k] has its footnote in the same section.
awk '/^### / { delete used; delete have }
	/^\| / { s = $0; while (match(s, /n\/a \[[0-9]+\]/)) { k = substr(s, RSTART + 5, RLENGTH - 6); used[k] = 1; s = substr(s, RSTART + RLENGTH) } }
	/^\[[0-9]+\] / { k = substr($1, 2, length($1) - 2); have[k] = 1 }
	/^#/ && !/^### / { for (k in used) if (!(k in have)) { print "compare-check: footnote [" k "] missing before: " $0; bad = 1 }; delete used; delete have }
	END { exit bad }' "$report" || fail=1
# Ember's minimal-guest start (Start, column 4) and idle PSS (Idle instance, columns 1, 5).
awk -F'|' '/^### Start/ { t = 1 } /^### Idle/ { t = 2 } /^### / && !/Start|Idle/ { t = 0 }
	t && $2 == " ember " {
		c = (t == 1 ? $5 : $3 $7); gsub(/ /, "", c)
		if (c !~ /^[0-9.]/ || (t == 2 && $7 !~ /[0-9]/)) { print "compare-check: Ember has no figure: " $0; bad = 1 }
	}
	END { exit bad }' "$report" || fail=1
grep -qE '^\| ember \| idle \| [0-9]+ / [0-9]+ \| [0-9.]+ \| [0-9.]+ ' "$report" || bad "no Ember density row with figures"
sed -n 's/^!\[[^]]*\](\([^)]*\.png\))$/\1/p' "$report" | while read -r png; do
	[ -s "$dir/$png" ] || { echo "compare-check: the report shows $png, which is missing"; echo x; }
done | grep -q '^x$' && fail=1
exit $fail
