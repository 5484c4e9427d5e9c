#!/bin/sh
# bench-daemon-lateness.sh - how late the daemon dispatches fires.
#
#   scripts/bench-daemon-lateness.sh [-s SECONDS] [-n RUNS]
#
# Starts a throwaway PostgreSQL cluster (scripts/pg-cluster.sh, durable:
# fsync on, as in production) and, RUNS times (default 3), a daemon whose
# one job fires every second ("* * * * * *", sql "select 1") for SECONDS
# (default 130: over 120 fires).  Lateness is started_at - scheduled_for of
# each scheduled run: started_at is when the run's row was inserted, which
# is the claim, so it covers waking up, the clock read and the claim.
# Prints p50, p99 and max per run, and the medians.  Needs a build
# (QSCHED_BUILDDIR, default _build/default, built if needed).
set -eu

. "$(dirname "$0")/bench-lib.sh"
secs=130
runs=3

usage() { echo "usage: scripts/bench-daemon-lateness.sh [-s SECONDS] [-n RUNS]" >&2; exit 2; }
while getopts s:n: opt; do
	case $opt in
	s) secs=$OPTARG ;;
	n) runs=$OPTARG ;;
	*) usage ;;
	esac
done
bench_setup
dir=$bench
daemon=
bench_cleanup_extra() {
	[ -z "$daemon" ] || { kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; }
}
psql() { "$PG_BINDIR/psql" -X -q -A -t -d bench "$@"; }

cat >"$dir/jobs.conf" <<EOF
database   = "host=$PGHOST port=$PGPORT dbname=bench user=postgres"
plugin_dir = "$build/plugins/.libs"
flags_file = "$dir/flags.ini"
job "tick" {
    plugin   = "sql"
    schedule = "* * * * * *"
    options { statement = "select 1" }
}
EOF
: >"$dir/flags.ini"

echo "machine: $(nproc) CPU $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr)"
echo "run  fires  p50_ms  p99_ms  max_ms  late_over_50ms"
: >"$dir/p50"
: >"$dir/p99"
for r in $(seq 1 "$runs"); do
	"$build/qsched" -c "$dir/jobs.conf" daemon 2>"$dir/daemon.log" &
	daemon=$!
	sleep "$secs"
	kill -TERM "$daemon"
	wait "$daemon" || true
	daemon=
	line=$(psql -F ' ' -c "
	    WITH l AS (SELECT extract(epoch FROM started_at - scheduled_for)
		* 1000 AS ms FROM qsched.runs WHERE trigger = 'schedule')
	    SELECT count(*),
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
		round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
		round(max(ms)::numeric, 2),
		count(*) FILTER (WHERE ms > 50)
	    FROM l")
	set -- $line
	printf '%3s  %5s  %6s  %6s  %6s  %14s\n' "$r" "$1" "$2" "$3" "$4" "$5"
	echo "$2" >>"$dir/p50"
	echo "$3" >>"$dir/p99"
	psql -c "TRUNCATE qsched.runs"
done
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "median over $runs runs: p50 $(median "$dir/p50") ms, p99 $(median "$dir/p99") ms"
