#!/bin/sh
# bench-metrics.sh - the daemon's GET /metrics: scrape latency with 100 jobs
# and 1M history rows, the plans of its queries, and its idle wake-ups.
#
#   scripts/bench-metrics.sh [-n SCRAPES] [-r ROWS] [-s SECONDS]
#
# Starts a durable throwaway cluster (scripts/bench-lib.sh) with the
# application's schema and 10000 generated users (for the queue gauges of
# queue_population), and a jobs.conf of 100 sql jobs firing once a day,
# about an hour from now, plus one queue_population job.
#   1. Baseline: a daemon with metrics_listen, empty history; SCRAPES
#      scrapes (default 200) one after the other with curl; p50 and p99.
#   2. ROWS (default 1000000) runs spread over 90 days of the 100 jobs
#      inserted, ANALYZEd; a new daemon; its first scrape (the one that
#      reads the whole history once), then SCRAPES scrapes: p50, p99 and
#      their ratio to the baseline.
#   3. One scrape under auto_explain: the plan of every statement the
#      metrics connection runs (nodes only), as the server logged it.
#   4. Idle: that daemon (metrics on) and one with the same jobs without
#      metrics_listen run side by side, nobody scraping, for SECONDS
#      (default 60): voluntary context switches summed over all their
#      threads (/proc/PID/task/*/status), i.e. wake-ups.
# Needs a build (QSCHED_BUILDDIR, default _build/default), curl.
set -eu

. "$(dirname "$0")/bench-lib.sh"
scrapes=200
rows=1000000
secs=60

usage() { echo "usage: scripts/bench-metrics.sh [-n SCRAPES] [-r ROWS] [-s SECONDS]" >&2; exit 2; }
while getopts n:r:s: opt; do
	case $opt in
	n) scrapes=$OPTARG ;;
	r) rows=$OPTARG ;;
	s) secs=$OPTARG ;;
	*) usage ;;
	esac
done
bench_setup
dir=$bench
pids=
bench_cleanup_extra() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
psqlb() { "$PG_BINDIR/psql" -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }

for f in "$top/sql/fixtures/legacy_schema.sql" "$top"/sql/migrations/*.sql \
    "$top/sql/fixtures/generate.sql"; do
	psqlb -f "$f" >/dev/null
done
psqlb -c "SELECT count(*) FROM qsched_fixture.generate(10000, 1)" >/dev/null

port=$((20000 + $$ % 20000))
at=$(date -u -d '+61 min' '+%M %H')
conf() { # conf FILE LISTEN-LINE
	{
		echo "database   = \"host=$PGHOST port=$PGPORT dbname=bench user=postgres\""
		echo "plugin_dir = \"$build/plugins/.libs\""
		echo "flags_file = \"$dir/flags.ini\""
		echo "history_retention = \"0\""
		echo "$2"
		for i in $(seq 0 99); do
			printf 'job "job%d" {\n    plugin = "sql"\n    schedule = "%s * * *"\n    options { statement = "select 1" }\n}\n' "$i" "$at"
		done
		printf 'job "pop" {\n    plugin = "queue_population"\n    schedule = "%s * * *"\n    options { queue = "unsigned_users" }\n}\n' "$at"
	} >"$1"
}
: >"$dir/flags.ini"
conf "$dir/on.conf" "metrics_listen = \"$port\""
conf "$dir/off.conf" ""

start() { # start CONF LOG: sets $started
	"$qsched" -c "$1" daemon 2>"$2" &
	started=$!
	pids="$pids $started"
	for _ in $(seq 1 100); do
		grep -q "daemon started" "$2" && return 0
		sleep 0.1
	done
	cat "$2" >&2
	exit 1
}
stop() {
	kill -TERM "$1"
	wait "$1" || true
}
url="http://127.0.0.1:$port/metrics"
scrape_ms() { curl -sf -o /dev/null -w '%{time_total}\n' "$url" | awk '{ printf "%.3f\n", $1 * 1000 }'; }
p99() { sort -g | awk '{ v[NR] = $1 } END { i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; print v[i] }'; }
series() { # series FILE: SCRAPES scrapes into FILE
	: >"$1"
	for _ in $(seq 1 "$scrapes"); do scrape_ms >>"$1"; done
}

echo "machine: $(bench_machine)"
echo "command: scripts/bench-metrics.sh -n $scrapes -r $rows -s $secs"
echo "jobs: 101 (100 sql, 1 queue_population), build: $build"

# 1. Baseline: empty history.
start "$dir/on.conf" "$dir/base.log"
d=$started
scrape_ms >/dev/null
series "$dir/base.ms"
b50=$(bench_median <"$dir/base.ms")
b99=$(p99 <"$dir/base.ms")
bytes=$(curl -sf "$url" | wc -c)
stop "$d"
echo "baseline (0 history rows): $scrapes scrapes, p50 $b50 ms, p99 $b99 ms, $bytes bytes"

# 2. ROWS rows over the last 90 days (~460 an hour at 1M): ~9% failed, ~3% skipped, the rest succeeded.
t0=$(date +%s)
psqlb -c "INSERT INTO qsched.runs (job, plugin, trigger, scheduled_for,
    attempt, status, started_at, finished_at, duration_ms, rows_processed,
    host, pid, qsched_version)
SELECT 'job' || (i % 100), 'sql', 'schedule', t, 1,
    CASE WHEN i % 11 = 0 THEN 'failed' WHEN i % 31 = 0 THEN 'skipped'
	ELSE 'succeeded' END,
    t, t + (i % 5000) * interval '1 millisecond', i % 5000, 1, 'bench', 1,
    'bench'
FROM generate_series(1, $rows) AS i,
    LATERAL (SELECT now() - i * (interval '90 days' / $rows)) AS x(t)" >/dev/null
psqlb -c "ANALYZE qsched.runs" >/dev/null
echo "history: $rows rows inserted and analyzed in $(($(date +%s) - t0)) s"
start "$dir/on.conf" "$dir/on.log"
d=$started
first=$(scrape_ms)
series "$dir/full.ms"
f50=$(bench_median <"$dir/full.ms")
f99=$(p99 <"$dir/full.ms")
echo "first scrape after start (reads the whole history once): $first ms"
echo "with $rows rows: $scrapes scrapes, p50 $f50 ms, p99 $f99 ms"
echo "ratio to baseline: p50 $(awk -v a="$f50" -v b="$b50" 'BEGIN { printf "%.2f", a / b }'), p99 $(awk -v a="$f99" -v b="$b99" 'BEGIN { printf "%.2f", a / b }')"

# 3. The plans, as auto_explain logs them for one scrape.
log="$dir/server.log"
psqlb -c "LOAD 'auto_explain'" \
    -c "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'" \
    -c "ALTER SYSTEM SET auto_explain.log_min_duration = 0" \
    -c "ALTER SYSTEM SET auto_explain.log_analyze = on" \
    -c "SELECT pg_reload_conf()" >/dev/null
stop "$d"
start "$dir/on.conf" "$dir/on.log"
d=$started
scrape_ms >/dev/null
lines0=$(wc -l <"$log")
echo "plans of one warm scrape (auto_explain, nodes only):"
scrape_ms >/dev/null
sleep 2
tail -n +"$((lines0 + 1))" "$log" | awk '
	/duration: .* plan:/ {
		d = $0; sub(/.*duration: /, "", d); sub(/ ms.*/, "", d)
		printf "  statement %d (%s ms):\n", ++n, d; next }
	/Query Text:/ { q = $0; sub(/.*Query Text: /, "", q)
		printf "    %s\n", substr(q, 1, 100); next }
	/^\t/ && /(Scan|Join|Aggregate|Loop|Append|Result|Unique|Sort|Limit|Subquery)/ &&
	    !/(Filter|Cond|Key|Buckets|Removed|Method|Output|Searches):/ {
		l = $0; sub(/^[\t ]*(-> *)?/, "", l); sub(/  \(cost=.*/, "", l)
		printf "      %s\n", l }'
psqlb -c "ALTER SYSTEM RESET session_preload_libraries" \
    -c "ALTER SYSTEM RESET auto_explain.log_min_duration" \
    -c "ALTER SYSTEM RESET auto_explain.log_analyze" \
    -c "SELECT pg_reload_conf()" >/dev/null
stop "$d"

# 4. Idle wake-ups, metrics on and off, side by side, nobody scraping.
wakeups() { # the voluntary context switches of all threads of PID
	cat /proc/"$1"/task/*/status | awk '$1 == "voluntary_ctxt_switches:" { s += $2 } END { print s }'
}
start "$dir/on.conf" "$dir/idle-on.log"
on=$started
start "$dir/off.conf" "$dir/idle-off.log"
off=$started
scrape_ms >/dev/null
sleep 5
on0=$(wakeups "$on")
off0=$(wakeups "$off")
sleep "$secs"
on1=$(wakeups "$on")
off1=$(wakeups "$off")
echo "idle ${secs} s, nobody scraping: metrics on $((on1 - on0)) wake-ups ($(ls /proc/"$on"/task | wc -l) threads), metrics off $((off1 - off0)) wake-ups ($(ls /proc/"$off"/task | wc -l) thread)"
