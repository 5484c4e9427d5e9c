#!/bin/sh
# bench-metrics.sh - the daemon's GET /metrics: scrape latency with 100 jobs
# and 1M history rows, against a baseline qsched in the same run, the
# plans of its queries, and its idle wake-ups.
#
#   [BASELINE_BUILD=DIR] scripts/bench-metrics.sh [-n SCRAPES] [-r ROWS]
#       [-k ROUNDS] [-s SECONDS]
#
# Starts a durable throwaway cluster (scripts/bench-lib.sh) with the
# application's schema and 10000 generated users (for the queue gauges of
# queue_population), and a jobs.conf of 100 sql jobs firing once a day,
# about an hour from now, plus one queue_population job.  BASELINE_BUILD
# is the build directory of another qsched (for example the previous
# commit, built from `git archive`), measured on the same cluster, in
# turns with this one.
#   1. Empty history: ROUNDS rounds (default 5); in each, a new daemon of
#      each build with metrics_listen, one scrape to warm up, then SCRAPES
#      scrapes (default 100) one after the other with curl: p50 and p99.
#   2. ROWS (default 1000000) runs spread over 90 days of the 100 jobs
#      inserted, ANALYZEd; the same rounds; the first scrape of each
#      daemon is reported on its own (a baseline that aggregates the
#      history reads it whole there).  The history is folded first
#      (qsched.job_totals_fold(), the steady state); then 1000 more runs
#      are inserted and the rounds run again before any fold.
#   Figures are medians over the rounds; ratios are this build's over the
#   baseline's, and 1M rows over the empty history.
#   3. One warm scrape of each build under auto_explain (log_analyze,
#      log_buffers): the server time of each statement the metrics
#      connection runs, and their sum; the plans of this build in full.
#   3b. The same per phase (parse, bind, execute) for 20 warm scrapes of
#      each build, from log_min_duration_statement: what planning costs.
#   4. Idle: a daemon with metrics on and one without, side by side,
#      nobody scraping, for SECONDS (default 60): voluntary context
#      switches summed over all their threads (/proc/PID/task/*/status).
# Needs a build (QSCHED_BUILDDIR, default _build/default), curl.
set -eu

. "$(dirname "$0")/bench-lib.sh"
scrapes=100
rows=1000000
rounds=5
secs=60

usage() { echo "usage: [BASELINE_BUILD=DIR] scripts/bench-metrics.sh [-n SCRAPES] [-r ROWS] [-k ROUNDS] [-s SECONDS]" >&2; exit 2; }
while getopts n:r:k:s: opt; do
	case $opt in
	n) scrapes=$OPTARG ;;
	r) rows=$OPTARG ;;
	k) rounds=$OPTARG ;;
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

builds="new"
base=${BASELINE_BUILD:-}
if [ -n "$base" ]; then
	[ -x "$base/qsched" ] || { echo "bench-metrics.sh: no $base/qsched" >&2; exit 2; }
	builds="base new"
fi
bin() { if [ "$1" = base ]; then echo "$base/qsched"; else echo "$qsched"; fi; }
plugdir() { if [ "$1" = base ]; then echo "$base/plugins/.libs"; else echo "$build/plugins/.libs"; fi; }

for f in "$top/sql/fixtures/legacy_schema.sql" "$top"/sql/migrations/*.sql \
    "$top/sql/fixtures/generate.sql"; do
	psqlb -f "$f" >/dev/null
done
psqlb -c "SELECT count(*) FROM qsched_fixture.generate(10000, 1)" >/dev/null

port=$((20000 + $$ % 20000))
at=$(date -u -d '+61 min' '+%M %H')
conf() { # conf FILE BUILD LISTEN-LINE
	{
		echo "database   = \"host=$PGHOST port=$PGPORT dbname=bench user=postgres\""
		echo "plugin_dir = \"$(plugdir "$2")\""
		echo "flags_file = \"$dir/flags.ini\""
		echo "history_retention = \"0\""
		echo "$3"
		for i in $(seq 0 99); do
			printf 'job "job%d" {\n    plugin = "sql"\n    schedule = "%s * * *"\n    options { statement = "select 1" }\n}\n' "$i" "$at"
		done
		printf 'job "pop" {\n    plugin = "queue_population"\n    schedule = "%s * * *"\n    options { queue = "unsigned_users" }\n}\n' "$at"
	} >"$1"
}
: >"$dir/flags.ini"
for b in $builds; do
	conf "$dir/$b.conf" "$b" "metrics_listen = \"$port\""
done
conf "$dir/off.conf" new ""

start() { # start BUILD CONF LOG: sets $started
	"$(bin "$1")" -c "$2" daemon 2>"$3" &
	started=$!
	pids="$pids $started"
	for _ in $(seq 1 100); do
		grep -q "daemon started" "$3" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$3" >&2
	exit 1
}
stop() {
	kill -TERM "$1"
	wait "$1" || true
}
url="http://127.0.0.1:$port/metrics"
scrape_ms() { curl -sf -o /dev/null -w '%{time_total}\n' "$url" | awk '{ printf "%.3f\n", $1 * 1000 }'; }
p99() { sort -g | awk '{ v[NR] = $1 } END { i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; print v[i] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# rounds TAG: for each round and build, a daemon, its first scrape, then
# SCRAPES scrapes; per build, the medians over rounds into $TAG.BUILD.{first,p50,p99}.
rounds() {
	for b in $builds; do : >"$dir/$1.$b.first"; : >"$dir/$1.$b.p50"; : >"$dir/$1.$b.p99"; done
	for r in $(seq 1 "$rounds"); do
		for b in $builds; do
			start "$b" "$dir/$b.conf" "$dir/$1.$b.$r.log"
			d=$started
			scrape_ms >>"$dir/$1.$b.first"
			curl -sf "$url" | wc -c >"$dir/$1.$b.bytes"
			: >"$dir/$1.$b.$r.ms"
			for _ in $(seq 1 "$scrapes"); do scrape_ms >>"$dir/$1.$b.$r.ms"; done
			bench_median <"$dir/$1.$b.$r.ms" >>"$dir/$1.$b.p50"
			p99 <"$dir/$1.$b.$r.ms" >>"$dir/$1.$b.p99"
			stop "$d"
		done
	done
	for b in $builds; do
		for m in first p50 p99; do
			printf '%s: %s %s: rounds %s, median %s ms\n' "$1" "$b" "$m" \
			    "$(tr '\n' ' ' <"$dir/$1.$b.$m")" "$(bench_median <"$dir/$1.$b.$m")"
		done
	done
}
med() { bench_median <"$dir/$1"; }

echo "machine: $(bench_machine), load average $(cut -d' ' -f1-3 /proc/loadavg) (shared)"
echo "command: ${BASELINE_BUILD:+BASELINE_BUILD=$BASELINE_BUILD }scripts/bench-metrics.sh -n $scrapes -r $rows -k $rounds -s $secs"
echo "jobs: 101 (100 sql, 1 queue_population); builds: $builds (new: $build)"

# 1. Empty history.
rounds empty
for b in $builds; do echo "exposition of $b: $(cat "$dir/empty.$b.bytes") bytes (text format)"; done

# 2. ROWS rows over the last 90 days (~460 an hour at 1M): ~9% failed,
# ~3% skipped, the rest succeeded.
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
t1=$(date +%s)
psqlb -c "SELECT qsched.job_totals_fold()" >/dev/null
echo "history: $rows rows inserted and analyzed in $((t1 - t0)) s, folded in $(($(date +%s) - t1)) s;" \
    "rows of qsched.job_totals_live and the history counted again that differ:" \
    "$(psqlb -c "SELECT count(*) FROM ((TABLE qsched.job_totals_live EXCEPT SELECT * FROM qsched.job_totals_recount())
	UNION ALL (SELECT * FROM qsched.job_totals_recount() EXCEPT TABLE qsched.job_totals_live)) x")"
rounds full
# 2b. 1000 more runs settled and not folded yet (as right after a busy
# spell, before the daemon's next heartbeat): the views count them live.
# Each daemon of a round lives less than a heartbeat (30 s), so none folds.
psqlb -c "INSERT INTO qsched.runs (job, plugin, trigger, scheduled_for,
    attempt, status, started_at, finished_at, duration_ms, rows_processed,
    host, pid, qsched_version)
SELECT 'job' || (i % 100), 'sql', 'schedule', t, 1,
    CASE WHEN i % 11 = 0 THEN 'failed' ELSE 'succeeded' END,
    t, t + (i % 5000) * interval '1 millisecond', i % 5000, 1, 'bench', 1,
    'bench'
FROM generate_series(1, 1000) AS i,
    LATERAL (SELECT now() - i * interval '1 s') AS x(t)" >/dev/null
echo "unfolded: $(psqlb -c "SELECT count(*) FROM qsched.runs WHERE id > (SELECT folded_through FROM qsched.job_totals_mark)") runs above the mark"
rounds unfolded
echo "after the rounds: $(psqlb -c "SELECT count(*) FROM qsched.runs WHERE id > (SELECT folded_through FROM qsched.job_totals_mark)") runs above the mark (none folded during them)"

echo "summary (medians over $rounds rounds of $scrapes scrapes; ratios to the baseline in the same run):"
for b in $builds; do
	echo "  $b: empty p50 $(med empty.$b.p50) p99 $(med empty.$b.p99) ms;" \
	    "$rows rows: first $(med full.$b.first) p50 $(med full.$b.p50) p99 $(med full.$b.p99) ms;" \
	    "1M/empty p99 $(ratio "$(med full.$b.p99)" "$(med empty.$b.p99)")"
done
for b in $builds; do
	echo "  $b: $rows rows + 1000 unfolded: first $(med unfolded.$b.first) p50 $(med unfolded.$b.p50) p99 $(med unfolded.$b.p99) ms"
done
if [ -n "$base" ]; then
	echo "  new/base with $rows rows + 1000 unfolded: p50 $(ratio "$(med unfolded.new.p50)" "$(med unfolded.base.p50)"), p99 $(ratio "$(med unfolded.new.p99)" "$(med unfolded.base.p99)")"
	echo "  new/base with $rows rows: first $(ratio "$(med full.new.first)" "$(med full.base.first)")," \
	    "p50 $(ratio "$(med full.new.p50)" "$(med full.base.p50)"), p99 $(ratio "$(med full.new.p99)" "$(med full.base.p99)")"
fi

# 3. Server time and plans, as auto_explain logs them for one warm scrape.
log="$dir/server.log"
psqlb -c "LOAD 'auto_explain'" \
    -c "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'" \
    -c "ALTER SYSTEM SET auto_explain.log_min_duration = 0" \
    -c "ALTER SYSTEM SET auto_explain.log_analyze = on" \
    -c "ALTER SYSTEM SET auto_explain.log_buffers = on" \
    -c "ALTER SYSTEM SET auto_explain.log_timing = on" \
    -c "SELECT pg_reload_conf()" >/dev/null
for b in $builds; do
	start "$b" "$dir/$b.conf" "$dir/explain.$b.log"
	d=$started
	scrape_ms >/dev/null
	scrape_ms >/dev/null
	lines0=$(wc -l <"$log")
	scrape_ms >/dev/null
	sleep 2
	tail -n +"$((lines0 + 1))" "$log" >"$dir/plans.$b"
	stop "$d"
	echo "server time of one warm scrape, $b (auto_explain with log_analyze and log_buffers on, which adds to it):"
	awk '
		/duration: .* plan:/ { d = $0; sub(/.*duration: /, "", d); sub(/ ms.*/, "", d); next }
		/Query Text:/ { q = $0; sub(/.*Query Text: /, "", q); n++
			printf "  %8.3f ms  %s\n", d, substr(q, 1, 90); s += d }
		END { printf "  %8.3f ms  in all (%d statements)\n", s, n }' "$dir/plans.$b"
done
echo "plans of the new build (EXPLAIN ANALYZE, BUFFERS, as auto_explain logs them):"
awk '/duration: .* plan:/ { print ""; next } /Query Text:/ { q = $0; sub(/.*Query Text: /, "", q); print "  -- " substr(q, 1, 160); next }
	/^\t/ { l = $0; sub(/^\t/, "    ", l); print l }' "$dir/plans.new"
psqlb -c "ALTER SYSTEM RESET session_preload_libraries" \
    -c "ALTER SYSTEM RESET auto_explain.log_min_duration" \
    -c "ALTER SYSTEM RESET auto_explain.log_analyze" \
    -c "ALTER SYSTEM RESET auto_explain.log_buffers" \
    -c "ALTER SYSTEM RESET auto_explain.log_timing" \
    -c "SELECT pg_reload_conf()" >/dev/null

# 3b. Where the server time of a scrape goes, parse and plan included
# (auto_explain above times execution only): log_min_duration_statement
# for 20 warm scrapes of each build, the mean per scrape of each phase
# (parse, bind: where an unnamed statement is planned, execute).
psqlb -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
for b in $builds; do
	start "$b" "$dir/$b.conf" "$dir/phases.$b.log"
	d=$started
	scrape_ms >/dev/null
	scrape_ms >/dev/null
	lines0=$(wc -l <"$log")
	for _ in $(seq 1 20); do scrape_ms >/dev/null; done
	sleep 2
	stop "$d"
	tail -n +"$((lines0 + 1))" "$log" | grep 'qsched/metrics' >"$dir/phases.$b" || true
	echo "server time per warm scrape by phase, $b (mean of 20 scrapes, log_min_duration_statement = 0):"
	awk '/duration: [0-9.]+ ms +(parse|bind|execute) / {
			d = $0; sub(/.*duration: /, "", d); sub(/ ms.*/, "", d)
			ph = $0; sub(/.*duration: [0-9.]+ ms +/, "", ph); sub(/ .*/, "", ph)
			s[ph] += d; all += d }
		END { printf "  parse %.3f ms, bind %.3f ms, execute %.3f ms, in all %.3f ms\n",
			s["parse"] / 20, s["bind"] / 20, s["execute"] / 20, all / 20 }' "$dir/phases.$b"
done
psqlb -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null

# 4. Idle wake-ups, metrics on and off, side by side, nobody scraping.
wakeups() { # the voluntary context switches of all threads of PID
	cat /proc/"$1"/task/*/status | awk '$1 == "voluntary_ctxt_switches:" { s += $2 } END { print s }'
}
start new "$dir/new.conf" "$dir/idle-on.log"
on=$started
start new "$dir/off.conf" "$dir/idle-off.log"
off=$started
scrape_ms >/dev/null
sleep 5
on0=$(wakeups "$on")
off0=$(wakeups "$off")
sleep "$secs"
on1=$(wakeups "$on")
off1=$(wakeups "$off")
echo "idle ${secs} s, nobody scraping: metrics on $((on1 - on0)) wake-ups ($(ls /proc/"$on"/task | wc -l) threads), metrics off $((off1 - off0)) wake-ups ($(ls /proc/"$off"/task | wc -l) thread)"
