#!/bin/sh
# core-graph.sh - fail when the files of core/ call each other in a cycle.
#
# Functions are named by their file and defined KNF-style, the name at the
# start of a line ("run_begin(struct run *r, ..."), so each call to a
# function defined in another core file is an edge between the two files.
# A depth-first search over those edges prints any cycle it finds, as
# "a.c -> b.c -> a.c (a.c calls b_fn, b.c calls a_fn)", and exits 1.
#
#   tests/core-graph.sh [COREDIR]     (default: $QSCHED_SRCDIR/core, else
#                                     core/ beside this script)
set -u
dir=${1:-${QSCHED_SRCDIR:-$(dirname "$0")/..}/core}
[ -d "$dir" ] || { echo "core-graph.sh: no $dir" >&2; exit 2; }

# Comments and string literals would fake calls: strip them first.
strip() {
	sed -e 's|/\*.*\*/||g' "$1" | awk '
		/\/\*/ { inc = 1; sub(/\/\*.*/, "") ; print; next }
		inc && /\*\// { inc = 0; sub(/.*\*\//, "") }
		inc { next }
		{ gsub(/"([^"\\]|\\.)*"/, "\"\""); print }'
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/core-graph.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
for f in "$dir"/*.c; do
	b=$(basename "$f")
	strip "$f" >"$tmp/$b.txt"
	# Definitions: an identifier at column 0 followed by "(".
	sed -n 's/^\([a-z_][a-z0-9_]*\)(.*/\1/p' "$tmp/$b.txt" |
	    sed "s|\$| $b|" >>"$tmp/defs"
done

# Edges "caller callee function", one per pair of files.
for f in "$tmp"/*.c.txt; do
	b=$(basename "$f" .txt)
	grep -o '[a-z_][a-z0-9_]*[ ]*(' "$f" | sed 's/[ ]*($//' | sort -u |
	    awk -v me="$b" 'NR == FNR { def[$1] = $2; next }
		($1 in def) && def[$1] != me { print me, def[$1], $1 }' \
	    "$tmp/defs" -
done | sort -u -k1,2 >"$tmp/edges"

awk '
{ n[$1]++; to[$1, n[$1]] = $2; via[$1, $2] = $3; node[$1] = 1; node[$2] = 1 }
function visit(v, depth,    i, w, k, path) {
	state[v] = 1; stack[depth] = v
	for (i = 1; i <= n[v]; i++) {
		w = to[v, i]
		if (state[w] == 1) {
			for (k = 0; stack[k] != w; k++) ;
			path = ""
			for (; k <= depth; k++)
				path = path stack[k] " -> "
			path = path w " ("
			for (k = 0; stack[k] != w; k++) ;
			for (; k < depth; k++)
				path = path stack[k] " calls " via[stack[k], stack[k + 1]] ", "
			path = path v " calls " via[v, w] ")"
			print "core-graph.sh: call cycle: " path
			found = 1
		} else if (state[w] == 0)
			visit(w, depth + 1)
	}
	state[v] = 2
}
END {
	for (v in node) if (state[v] == 0) visit(v, 0)
	exit found ? 1 : 0
}' "$tmp/edges"
