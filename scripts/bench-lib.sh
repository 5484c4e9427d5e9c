# bench-lib.sh - shared by the benchmark drivers (sourced, not run):
# build qsched, start a durable throwaway cluster, clean up on exit.
# Sets: top, build (QSCHED_BUILDDIR, default _build/default), qsched, bench
# (the temporary directory), and the PG* environment of the cluster.
# bench_cleanup_extra, if a driver defines it, runs first at exit.

top=$(cd "$(dirname "$0")/.." && pwd)
build=${QSCHED_BUILDDIR:-$top/_build/default}
qsched="$build/qsched"
bench=

bench_cleanup() {
	if command -v bench_cleanup_extra >/dev/null 2>&1; then
		bench_cleanup_extra
	fi
	[ -n "$bench" ] || return 0
	sh "$top/scripts/pg-cluster.sh" stop "$bench" >/dev/null 2>&1 || true
	rm -rf "$bench"
}

bench_setup() {
	sh "$top/scripts/deps.sh" --bench >&2
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) >&2
	if [ ! -f "$build/Makefile" ]; then
		mkdir -p "$build"
		(cd "$build" && "$top/configure" -q) >&2
	fi
	make -C "$build" -s -j"$(nproc 2>/dev/null || echo 2)" >&2
	bench=$(mktemp -d "${TMPDIR:-/tmp}/qsched-bench.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# Default durability: fsync and synchronous_commit on, as in production.
	eval "$(sh "$top/scripts/pg-cluster.sh" start --durable "$bench")"
	"$PG_BINDIR/psql" -X -q -c "CREATE DATABASE bench"
	PGDATABASE=bench
	export PGDATABASE
}

# Median of the numbers on standard input, one per line.
bench_median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2];
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench_machine() {
	echo "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{ print $3 }')"
}
