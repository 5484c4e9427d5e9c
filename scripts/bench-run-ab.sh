#!/bin/sh
# bench-run-ab.sh - scripts/bench-run.sh for two builds in turns: what
# `qsched run` costs with this build against another (say main's), each
# as a ratio to `psql -c 'select 1'` measured in the same invocation.
# Alternating A B A B ... shares out the load of a shared machine.
#
#   scripts/bench-run-ab.sh BASELINE_BUILDDIR [RUNS] [REPEATS]
#       (default 100 runs, 3 repeats of each build)
#
# Prints each invocation's psql and qsched medians and ratio, then per
# build the median of the ratios and of the qsched medians.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
base=${1:?usage: scripts/bench-run-ab.sh BASELINE_BUILDDIR [RUNS] [REPEATS]}
runs=${2:-100}
repeats=${3:-3}
new=${QSCHED_BUILDDIR:-$here/../_build/default}
out=$(mktemp -d "${TMPDIR:-/tmp}/bench-run-ab.XXXXXX")
trap 'rm -rf "$out"' EXIT
med() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
for i in $(seq 1 "$repeats"); do
	for b in base new; do
		if [ "$b" = base ]; then dir=$base; else dir=$new; fi
		QSCHED_BUILDDIR=$dir sh "$here/bench-run.sh" "$runs" \
		    >"$out/$b.$i" 2>/dev/null
		line=$(grep '^| qsched run' "$out/$b.$i")
		psql_ms=$(grep '^| psql' "$out/$b.$i" | awk -F'|' '{ print $3 }' | awk '{ print $1 }')
		q_ms=$(echo "$line" | awk -F'|' '{ print $3 }' | awk '{ print $1 }')
		r=$(echo "$line" | awk -F'|' '{ print $4 }' | tr -d ' ')
		echo "$r" >>"$out/$b.ratios"
		echo "$q_ms" >>"$out/$b.ms"
		echo "$psql_ms" >>"$out/$b.psql"
		echo "repeat $i $b ($dir): psql $psql_ms ms, qsched run $q_ms ms, ratio $r"
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for b in base new; do
	echo "$b: median ratio $(med <"$out/$b.ratios") (of $(tr '\n' ' ' <"$out/$b.ratios")), median qsched run $(med <"$out/$b.ms") ms, median psql $(med <"$out/$b.psql") ms"
done
