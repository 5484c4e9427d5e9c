#!/bin/sh
# bench-population.sh - what a queue_population refresh costs, on a durable
# throwaway cluster with USERS generated users (and as many call_queue
# rows), against baselines measured in the same run:
#
#   * the shipped configuration (max_size = 200): refresh time with nothing
#     changed and the rows it writes, separated queues only and with the
#     legacy dual-write;
#   * max_size = 0 (every eligible user queued): a full refresh into an
#     empty queue against a bare INSERT ... SELECT of the same ranked set
#     into an empty table with the same indexes (the ceiling); a refresh
#     with nothing changed; a refresh after 1% of the scores changed;
#   * the application's way on APP_USERS users: delete the queue, then one
#     INSERT per entry in autocommit, against a qsched refresh of the same
#     data.
#
#   * claims during a refresh (PARTS=claims): 8 agents (pgbench -c 8 -j 2)
#     claim from unsigned_users_queue for CLAIM_SECS seconds, idle and
#     while refreshes run back to back in the shipped configuration
#     (max_size 200, populate_legacy_queue = true), each after one new
#     lead or after 1% of the scores changed; claim p50/p99 of the claims
#     that started while a refresh ran, empty claims, rows written and
#     refresh time, and what the agents' backends waited for (sampled
#     from pg_stat_activity every 20 ms: CPU, row locks, LWLocks, I/O).
#     CLAIM_LOADS picks the agents' load: "flat" (no think time) and/or
#     total claim rates (pgbench -R), e.g. CLAIM_LOADS="flat 40";
#     CLAIM_LOADS=" " runs the nothing-changed refreshes alone.
#     With BASELINE_SRC (a source tree) and BASELINE_BUILD
#     (its build directory), the same cases run on a copy of the data
#     migrated and refreshed by that qsched: "today's" figures, measured
#     in the same run.
#
#   * the change log (PARTS=scoped; not in the default PARTS): the
#     shipped configuration (max_size 200, populate_legacy_queue = true)
#     refreshing with nothing changed, after one new lead and after 1%
#     of the scores changed: refresh time and rows written (the queue
#     and call_queue), this code against BASELINE_SRC/BASELINE_BUILD
#     (main, its own qsched binary and plugins) on a copy of the same
#     data, the two taking turns, REPS times each; and what the change
#     log's triggers cost the application's writes to user_call_scores
#     (a one-row UPDATE in a fresh connection and in a warm one, pgbench
#     latency average; a 10 000-row UPDATE, psql \timing), triggers
#     enabled and disabled in turns.
#
#   scripts/bench-population.sh [USERS [REPS [APP_USERS]]]
#       (default 1000000 users, 7 repetitions, 20000 users for the app)
#   PARTS="refresh claims" (default both; "scoped" on request);
#   CLAIM_SECS (default 15),
#   CLAIM_RUNS (default 3), CLAIM_LOADS (default flat)
#
# Times are the plugin's refresh_ms (BEGIN to COMMIT, as qsched.runs
# records it) and, for SQL baselines, psql's \timing of BEGIN to COMMIT;
# medians of REPS runs.  Rows written are pg_stat_user_tables'
# n_tup_ins + n_tup_upd + n_tup_del of the table, before and after.
set -eu
. "$(dirname "$0")/bench-lib.sh"
users=${1:-1000000}
reps=${2:-7}
app_users=${3:-20000}
parts=${PARTS:-refresh claims}
claim_secs=${CLAIM_SECS:-15}
claim_runs=${CLAIM_RUNS:-3}
bench_setup

psql_() { "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# Boundaries: generated times are spread continuously across the rule's
# two time boundaries, so users would cross them during the measurement
# and every refresh would have real changes to write.  Move every future
# next_call_after a day further, and squeeze created_at within the cooling
# period into its newer half: nobody crosses for an hour.
freeze() {
	psql_ -d "$1" <<'SQL'
UPDATE user_call_scores SET next_call_after = next_call_after + interval '1 day'
    WHERE next_call_after > now() AT TIME ZONE 'UTC';
UPDATE user_call_scores SET created_at = (now() AT TIME ZONE 'UTC')
    - ((now() AT TIME ZONE 'UTC') - created_at) / 2
    WHERE created_at > (now() AT TIME ZONE 'UTC') - interval '2 hours';
VACUUM ANALYZE;
CHECKPOINT;
SQL
}

# A database with USERS users, migrated, frozen; writes $bench/DB.conf and
# $bench/DB-legacy.conf (the same jobs with the legacy dual-write on).
# With a third argument, the database is a copy of that one (generated,
# not migrated yet), and BASELINE_SRC/BASELINE_BUILD migrate and refresh
# it.
load() {
	db=$1 n=$2 from=${3:-}
	src=$top plugins=$build/plugins/.libs
	if [ -n "$from" ]; then
		src=$BASELINE_SRC plugins=$BASELINE_BUILD/plugins/.libs
		psql_ -d postgres -c "CREATE DATABASE $db TEMPLATE $from"
	else
		[ "$(psql_ -d postgres -c "SELECT count(*) FROM pg_database
		    WHERE datname = '$db'")" = 1 ] ||
		    psql_ -d postgres -c "CREATE DATABASE $db"
		sh "$top/scripts/gen-legacy-data.sh" --size "$n" --seed 1 \
		    -d "$db" >/dev/null
		[ -z "${BASELINE_SRC:-}" ] || [ "$db" != bench ] ||
		    psql_ -d postgres -c "CREATE DATABASE bench_gen
		    TEMPLATE $db"
	fi
	for flags in separated legacy; do
		case $flags in
		separated) conf="$bench/$db.conf" legacy=false ;;
		legacy) conf="$bench/$db-legacy.conf" legacy=true ;;
		esac
		cat >"$bench/$db-$flags.ini" <<INI
[queue_migration]
populate_separated_tables = true
populate_legacy_queue     = $legacy
INI
		cat >"$conf" <<CONF
database   = "host='$PGHOST' port=$PGPORT dbname=$db user=postgres"
plugin_dir = "$plugins"
flags_file = "$bench/$db-$flags.ini"
job "schema-migrate" {
	plugin   = "schema_migrate"
	schedule = "@manual"
	options { dir = "$src/sql/migrations" }
}
job "unsigned" {
	plugin   = "queue_population"
	schedule = "*/5 * * * *"
	options { queue = "unsigned_users" }
}
job "outstanding" {
	plugin   = "queue_population"
	schedule = "*/5 * * * *"
	options { queue = "outstanding_requests" }
}
CONF
	done
	"$qsched" -q -c "$bench/$db.conf" run schema-migrate
	freeze "$db"
}

# run DB CONF JOB MAX: one refresh; prints its refresh_ms.
run() {
	"$qsched" -q -c "$2" run "$3" --set "max_size=$4"
	psql_ -d "$1" -c "SELECT metrics->>'refresh_ms' FROM qsched.runs
	    WHERE job = '$3' ORDER BY id DESC LIMIT 1"
}

# Rows inserted, updated and deleted in TABLE so far (after the last
# worker's backend has reported its counters on exit).
written() {
	sleep 1
	psql_ -d "$1" -c "SELECT n_tup_ins + n_tup_upd + n_tup_del
	    FROM pg_stat_user_tables WHERE relname = '$2'"
}

metric() {
	psql_ -d "$1" -c "SELECT coalesce(sum((metrics->>'$3')::bigint), 0)
	    FROM (SELECT metrics FROM qsched.runs WHERE job = '$2'
	    ORDER BY id DESC LIMIT $4) AS r"
}

# reps DB CONF JOB MAX N: N refreshes; prints the median refresh_ms.
reps() {
	i=0
	: >"$bench/times"
	while [ "$i" -lt "$5" ]; do
		run "$1" "$2" "$3" "$4" >>"$bench/times"
		i=$((i + 1))
	done
	bench_median <"$bench/times"
}

# The rule's ranked set for the ceiling, as one INSERT ... SELECT.
ceiling_sql() {
	cat <<'SQL'
\timing on
BEGIN;
SET LOCAL work_mem = '64MB';
INSERT INTO ceiling (id, user_id, priority_score, queue_position, status,
    queue_reason, signature_missing_since, signature_type, available_from,
    created_at, updated_at)
SELECT gen_random_uuid(), e.user_id, e.current_score,
    row_number() OVER (ORDER BY e.current_score, e.created_at DESC,
	e.user_id),
    'pending',
    CASE WHEN e.current_score = 0 THEN 'New lead - Missing signature'
	WHEN e.current_score <= 5 THEN 'High priority - Missing signature'
	WHEN e.current_score <= 10 THEN 'Medium priority - Missing signature'
	ELSE 'Aged lead - Missing signature' END,
    e.created_at, 'initial',
    coalesce(e.next_call_after, now() AT TIME ZONE 'UTC'),
    now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM user_call_scores AS e
WHERE e.current_queue_type = 'unsigned_users' AND e.is_active
    AND e.current_score >= 0
    AND (e.next_call_after IS NULL
	OR e.next_call_after <= now() AT TIME ZONE 'UTC')
    AND (e.current_score = 0 OR e.created_at <= now() AT TIME ZONE 'UTC'
	- interval '2 hours')
ORDER BY 4;
COMMIT;
SQL
}

# Sum of the "Time:" lines of psql \timing output, in ms.
timing_sum() {
	awk '/^Time: / { t += $2 } END { printf "%.0f\n", t }'
}

echo "loading $users users (and $users call_queue rows)" >&2
load bench "$users"
conf="$bench/bench.conf"
lconf="$bench/bench-legacy.conf"

want() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }


if want refresh; then
# --- the shipped configuration: max_size = 200 ---------------------------
echo "shipped configuration (max_size = 200)" >&2
run bench "$conf" unsigned 200 >/dev/null
run bench "$conf" outstanding 200 >/dev/null
entries_u=$(psql_ -d bench -c "SELECT count(*) FROM unsigned_users_queue")
entries_o=$(psql_ -d bench -c "SELECT count(*) FROM outstanding_requests_queue")
w0=$(written bench unsigned_users_queue)
s200_u=$(reps bench "$conf" unsigned 200 "$reps")
w1=$(written bench unsigned_users_queue)
s200_u_rows=$((w1 - w0))
s200_u_counted=$(( $(metric bench unsigned inserted "$reps") + \
    $(metric bench unsigned updated "$reps") + \
    $(metric bench unsigned removed "$reps") ))
w0=$(written bench outstanding_requests_queue)
s200_o=$(reps bench "$conf" outstanding 200 "$reps")
w1=$(written bench outstanding_requests_queue)
s200_o_rows=$((w1 - w0))

# Without the rule's index (migration 0008): a sort of the eligible set.
psql_ -d bench -c "DROP INDEX user_call_scores_queue_population_idx"
s200_noidx=$(reps bench "$conf" unsigned 200 "$reps")
psql_ -d bench -c "CREATE INDEX user_call_scores_queue_population_idx
    ON user_call_scores (current_queue_type, current_score,
    created_at DESC, user_id) INCLUDE (next_call_after) WHERE is_active" \
    -c "VACUUM ANALYZE user_call_scores"

# The legacy dual-write: a first run brings call_queue to the rule.
run bench "$lconf" unsigned 200 >/dev/null
w0=$(written bench call_queue)
q0=$(written bench unsigned_users_queue)
s200_l=$(reps bench "$lconf" unsigned 200 "$reps")
w1=$(written bench call_queue)
q1=$(written bench unsigned_users_queue)
s200_l_rows=$((w1 - w0 + q1 - q0))

# 1% of the scores change (10 000 users at 1M), then one refresh; REPS
# times with different users.
pct_changed() {
	db=$1 cf=$2 max=$3
	: >"$bench/pct-times"
	: >"$bench/pct-rows"
	i=0
	while [ "$i" -lt "$reps" ]; do
		psql_ -d "$db" -c "UPDATE user_call_scores SET current_score =
		    CASE WHEN current_score = 0 THEN 3 ELSE current_score + 1 END
		    WHERE user_id % 100 = $((i * 7 % 100))"
		w0=$(written "$db" unsigned_users_queue)
		run "$db" "$cf" unsigned "$max" >>"$bench/pct-times"
		w1=$(written "$db" unsigned_users_queue)
		echo $((w1 - w0)) >>"$bench/pct-rows"
		i=$((i + 1))
	done
	echo "$(bench_median <"$bench/pct-times") $(bench_median <"$bench/pct-rows")"
}
set -- $(pct_changed bench "$conf" 200)
p200_ms=$1 p200_rows=$2

# --- max_size = 0: every eligible user -----------------------------------
echo "max_size = 0" >&2
: >"$bench/full"
: >"$bench/ceil"
i=0
while [ "$i" -lt "$reps" ]; do
	psql_ -d bench -c "TRUNCATE unsigned_users_queue" -c "CHECKPOINT"
	run bench "$conf" unsigned 0 >>"$bench/full"
	psql_ -d bench -c "DROP TABLE IF EXISTS ceiling" \
	    -c "CREATE TABLE ceiling (LIKE unsigned_users_queue INCLUDING ALL)" \
	    -c "CHECKPOINT"
	ceiling_sql | "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d bench |
	    timing_sum >>"$bench/ceil"
	i=$((i + 1))
done
full_ms=$(bench_median <"$bench/full")
ceil_ms=$(bench_median <"$bench/ceil")
entries0=$(psql_ -d bench -c "SELECT count(*) FROM unsigned_users_queue")
ceil_rows=$(psql_ -d bench -c "SELECT count(*) FROM ceiling")
psql_ -d bench -c "DROP TABLE ceiling" -c "VACUUM ANALYZE unsigned_users_queue"

w0=$(written bench unsigned_users_queue)
unch0_ms=$(reps bench "$conf" unsigned 0 "$reps")
w1=$(written bench unsigned_users_queue)
unch0_rows=$((w1 - w0))

set -- $(pct_changed bench "$conf" 0)
p0_ms=$1 p0_rows=$2
rss=$(psql_ -d bench -c "SELECT max((metrics->>'worker_peak_rss_kb')::bigint)
    FROM qsched.runs WHERE job IN ('unsigned', 'outstanding')")

# --- the application's way, on APP_USERS users ---------------------------
echo "the application's way ($app_users users)" >&2
load app "$app_users"
psql_ -d app >"$bench/app.sql" <<'SQL'
SELECT 'DELETE FROM unsigned_users_queue;';
WITH a AS (
	SELECT u.*, row_number() OVER (ORDER BY u.created_at DESC) AS rn
	FROM user_call_scores AS u
	WHERE u.current_queue_type = 'unsigned_users' AND u.is_active
	    AND u.current_score = 0 AND (u.next_call_after IS NULL
		OR u.next_call_after <= now() AT TIME ZONE 'UTC')
), b AS (
	SELECT u.*, (SELECT count(*) FROM a) + row_number() OVER (ORDER BY
	    u.current_score, u.created_at DESC) AS rn
	FROM user_call_scores AS u
	WHERE u.current_queue_type = 'unsigned_users' AND u.is_active
	    AND u.current_score > 0 AND (u.next_call_after IS NULL
		OR u.next_call_after <= now() AT TIME ZONE 'UTC')
	    AND u.created_at <= now() AT TIME ZONE 'UTC' - interval '2 hours'
)
SELECT format('INSERT INTO unsigned_users_queue (id, user_id, '
    'priority_score, queue_position, status, queue_reason, '
    'signature_missing_since, signature_type, available_from, created_at, '
    'updated_at) VALUES (gen_random_uuid(), %s, %s, %s, ''pending'', %L, '
    '%L, ''initial'', %L, now() AT TIME ZONE ''UTC'', '
    'now() AT TIME ZONE ''UTC'');', user_id, current_score, rn,
    CASE WHEN current_score = 0 THEN 'New lead - Missing signature'
	WHEN current_score <= 5 THEN 'High priority - Missing signature'
	WHEN current_score <= 10 THEN 'Medium priority - Missing signature'
	ELSE 'Aged lead - Missing signature' END,
    created_at, coalesce(next_call_after, now() AT TIME ZONE 'UTC'))
FROM (SELECT * FROM a UNION ALL SELECT * FROM b WHERE rn <= 200) AS x
ORDER BY rn;
SQL
app_entries=$(($(wc -l <"$bench/app.sql") - 1))
: >"$bench/app-times"
: >"$bench/app-full"
: >"$bench/app-unch"
i=0
while [ "$i" -lt "$reps" ]; do
	# The app deletes a full queue and inserts it again, row by row.
	run app "$bench/app.conf" unsigned 200 >/dev/null
	(printf '%s\n' '\timing on'; cat "$bench/app.sql") |
	    "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d app |
	    timing_sum >>"$bench/app-times"
	psql_ -d app -c "TRUNCATE unsigned_users_queue" -c "CHECKPOINT"
	run app "$bench/app.conf" unsigned 200 >>"$bench/app-full"
	run app "$bench/app.conf" unsigned 200 >>"$bench/app-unch"
	i=$((i + 1))
done
app_ms=$(bench_median <"$bench/app-times")
appq_full=$(bench_median <"$bench/app-full")
appq_unch=$(bench_median <"$bench/app-unch")

echo
echo "machine: $(bench_machine)"
echo "command: scripts/bench-population.sh $users $reps $app_users"
echo "data: $users user_call_scores, $users call_queue rows; unsigned queue" \
    "$entries_u entries at max_size 200 ($entries0 at max_size 0)," \
    "outstanding $entries_o at max_size 200"
echo
echo "| case | median refresh | rows written | ratio |"
echo "|---|---|---|---|"
echo "| max_size 200, populate_legacy_queue = false, nothing changed (unsigned_users, $entries_u entries) | $s200_u ms | $s200_u_rows (counters: $s200_u_counted) | |"
echo "| max_size 200, populate_legacy_queue = false, nothing changed (outstanding_requests, $entries_o entries) | $s200_o ms | $s200_o_rows | |"
echo "| max_size 200, populate_legacy_queue = false, nothing changed, without user_call_scores_queue_population_idx | $s200_noidx ms | | $(ratio "$s200_noidx" "$s200_u") × with it |"
echo "| max_size 200, populate_legacy_queue = true (shipped flags), nothing changed | $s200_l ms | $s200_l_rows | |"
echo "| max_size 200, populate_legacy_queue = false, after 1% of scores changed | $p200_ms ms | $p200_rows | |"
echo "| max_size 0: bare INSERT ... SELECT into an empty table (ceiling) | $ceil_ms ms | $ceil_rows | 1.00 |"
echo "| max_size 0: full refresh into an empty queue | $full_ms ms | $entries0 | $(ratio "$full_ms" "$ceil_ms") × ceiling |"
echo "| max_size 0: nothing changed | $unch0_ms ms | $unch0_rows | $(ratio "$unch0_ms" "$full_ms") × full |"
echo "| max_size 0: after 1% of scores changed | $p0_ms ms | $p0_rows | $(ratio "$p0_ms" "$full_ms") × full |"
echo "| app's way, $app_users users: delete all, $app_entries INSERTs in autocommit | $app_ms ms | $((app_entries * 2)) | 1.00 |"
echo "| qsched, $app_users users: full refresh into an empty queue | $appq_full ms | $app_entries | $(ratio "$appq_full" "$app_ms") × app |"
echo "| qsched, $app_users users: nothing changed | $appq_unch ms | 0 | $(ratio "$appq_unch" "$app_ms") × app |"
echo "(worker peak RSS: ${rss} kB)"
fi

# --- claims during a refresh ---------------------------------------------
# claim_ready DB CONF: every entry pending again, the queue refreshed,
# the claim log empty.
claim_ready() {
	psql_ -d "$1" -c "UPDATE unsigned_users_queue SET status = 'pending',
	    assigned_to_agent = NULL, assigned_at = NULL
	    WHERE status = 'assigned'" \
	    -c "SET client_min_messages = warning" \
	    -c "CREATE TABLE IF NOT EXISTS claim_log (entry uuid,
	    at timestamptz)" -c "TRUNCATE claim_log"
	run "$1" "$2" unsigned 200 >/dev/null
	psql_ -d "$1" -c "VACUUM ANALYZE unsigned_users_queue" \
	    -c "VACUUM ANALYZE call_queue"
}

# change DB KIND I: one new lead, or 1% of the scores.
change() {
	case $2 in
	lead)
		psql_ -d "$1" -c "INSERT INTO user_call_scores (id, user_id,
		    current_score, current_queue_type, created_at, updated_at)
		    VALUES (gen_random_uuid(), 50000000 + $3, 0,
		    'unsigned_users', now() AT TIME ZONE 'UTC',
		    now() AT TIME ZONE 'UTC')" ;;
	pct)
		psql_ -d "$1" -c "UPDATE user_call_scores SET current_score =
		    CASE WHEN current_score = 0 THEN 3
		    ELSE current_score + 1 END
		    WHERE user_id % 100 = $(( ($3 * 7 + 50) % 100 ))" ;;
	esac
}

# Latencies (ms) of the pgbench log in $bench/clog whose claim overlapped
# one of the windows in $bench/windows ("start end", epoch s), or of
# every claim with "all".  claim_case uses "all": with refreshes back to
# back nearly every claim overlaps one.
claim_lat() {
	echo "0 0" >>"$bench/windows"	# never empty: NR == FNR below
	cat "$bench/clog"/* | awk -v all="$1" '
	    NR == FNR { ws[n] = $1; we[n] = $2; n++; next }
	    { lat = $3 / 1e6; end = $5 + $6 / 1e6; st = end - lat
	      if (all == "all") { print lat * 1000; next }
	      for (i = 0; i < n; i++)
		if (st <= we[i] && end >= ws[i]) { print lat * 1000; break } }' \
	    "$bench/windows" - | sort -g
}

pct_of() {
	n=$(wc -l <"$1")
	[ "$n" -gt 0 ] || { echo nan; return; }
	sed -n "$(( (n * $2 + 99) / 100 ))p" "$1"
}

# claim_case DB CONF KIND: one run of CLAIM_SECS seconds; KIND idle, or
# lead/pct with refreshes back to back.  Prints "p50 p99 claims empty
# empty_during pending refreshes rows_median refresh_ms_median".
claim_case() {
	db=$1 cf=$2 kind=$3
	claim_ready "$db" "$cf"
	t0=$(psql_ -d "$db" -c "SELECT max(id) FROM qsched.runs")
	rm -rf "$bench/clog" && mkdir "$bench/clog"
	(cd "$bench/clog" && "$PG_BINDIR/pgbench" -n -c 8 -j 2 $rate_opt \
	    -T "$claim_secs" -f "$bench/claim.sql" -l "$db") \
	    >"$bench/pgbench.out" 2>&1 &
	pgb=$!
	sample_start "$db"
	i=0
	if [ "$kind" != idle ]; then
		sleep 1
		while kill -0 "$pgb" 2>/dev/null; do
			seq=$((seq + 1))
			change "$db" "$kind" "$seq"
			run "$db" "$cf" unsigned 200 >/dev/null
			i=$((i + 1))
		done
	fi
	wait "$pgb"
	sample_stop
	if [ "$kind" = idle ]; then
		: >"$bench/windows"
		claim_lat all >"$bench/lat"
		during="(true)"
	else
		psql_ -d "$db" -c "SELECT extract(epoch FROM started_at) || ' ' ||
		    extract(epoch FROM finished_at) FROM qsched.runs
		    WHERE id > $t0 AND job = 'unsigned'" >"$bench/windows"
		# Refreshes run back to back for the whole run: every
		# claim is measured (those overlapping no refresh are the
		# few made while the next change was written).
		claim_lat all >"$bench/lat"
		during="EXISTS (SELECT 1 FROM qsched.runs AS r
		    WHERE r.id > $t0 AND r.job = 'unsigned'
		    AND l.at BETWEEN r.started_at AND r.finished_at)"
	fi
	set -- $(psql_ -d "$db" -F ' ' -c "SELECT count(*),
	    count(*) FILTER (WHERE entry IS NULL),
	    count(*) FILTER (WHERE entry IS NULL AND $during),
	    (SELECT count(*) FROM unsigned_users_queue
		WHERE status = 'pending')
	    FROM claim_log AS l")
	claims=$1 empty=$2 empty_during=$3 pending=$4
	# Claims that failed (an error aborts a pgbench client) count as
	# empty: they gave the agent nothing.
	failed=$(awk '/^number of failed transactions:/ { f = $5 }
	    /aborted/ { a++ } END { print f + a }' "$bench/pgbench.out")
	empty=$((empty + failed))
	psql_ -d "$db" -c "SELECT (metrics->>'inserted')::bigint +
	    (metrics->>'updated')::bigint + (metrics->>'removed')::bigint +
	    coalesce((metrics->>'legacy_inserted')::bigint +
	    (metrics->>'legacy_updated')::bigint +
	    (metrics->>'legacy_removed')::bigint +
	    (metrics->>'legacy_completed')::bigint, 0) || ' ' ||
	    (metrics->>'refresh_ms') FROM qsched.runs
	    WHERE id > $t0 AND job = 'unsigned'
	    AND metrics ? 'refresh_ms'" >"$bench/rr"
	rows=$(awk '{ print $1 }' "$bench/rr" | bench_median)
	rms=$(awk '{ print $2 }' "$bench/rr" | bench_median)
	echo "$(pct_of "$bench/lat" 50) $(pct_of "$bench/lat" 99) $claims" \
	    "$empty $empty_during $pending $i $rows $rms $(sample_counts)"
}

# What the agents' backends were doing while they claimed: every 20 ms,
# pg_stat_activity of the pgbench sessions that are running a claim,
# one line per session, "W <wait_event_type>:<wait_event>" (CPU when no
# wait event: on the CPU, or ready to run and waiting for one).  Each
# sample is its own transaction (\watch), so the sampler holds no
# snapshot that would keep dead entries from being pruned.
sample_start() {
	"$PG_BINDIR/psql" -X -q -At -d "$1" >"$bench/samples" 2>/dev/null <<'SQL' &
SELECT 'W ' || coalesce(wait_event_type || ':' || wait_event, 'CPU')
FROM pg_stat_activity
WHERE application_name = 'pgbench' AND state = 'active'
    AND pid <> pg_backend_pid()
\watch 0.02
SQL
	sampler=$!
}

sample_stop() {
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
}

# "cpu lock lwlock io other": the samples of sample_start by class.
# Lock is a heavyweight lock (a row being written: transactionid,
# tuple); LWLock a shared-memory lock (WAL insertion, buffers); IO reads
# and WAL flushes at commit.
sample_counts() {
	awk '$1 == "W" { split($2, w, ":"); n[w[1]]++ }
	    END { o = n["Client"] + n["IPC"] + n["Timeout"] + n["Activity"]
		o += n["Extension"] + n["BufferPin"]
		printf "%d %d %d %d %d", n["CPU"], n["Lock"], n["LWLock"],
		    n["IO"], o }' \
	    "$bench/samples"
}

# nothing DB CONF LABEL: REPS refreshes with nothing changed, no agents;
# median refresh_ms and rows written in all.
nothing() {
	claim_ready "$1" "$2"
	t0=$(psql_ -d "$1" -c "SELECT max(id) FROM qsched.runs")
	w0=$(written "$1" unsigned_users_queue)
	l0=$(written "$1" call_queue)
	ms=$(reps "$1" "$2" unsigned 200 "$reps")
	w1=$(written "$1" unsigned_users_queue)
	l1=$(written "$1" call_queue)
	echo "$3 - nothing - - 0 0 0 - 0 $((w1 - w0 + l1 - l0)) $ms"
}

# claim_cases DB CONF LABEL: CLAIM_RUNS runs of each kind, medians, for
# each agent load of CLAIM_LOADS: "flat" (no think time: 8 agents keep
# both cores busy) or a total rate in claims/s (pgbench -R, Poisson
# arrivals; the latency then includes any delay of a claim behind its
# schedule).  Prints "LABEL LOAD KIND" and the medians and sums.
claim_cases() {
	nothing "$1" "$2" "$3"
	for load in $claim_loads; do
		rate_opt=
		[ "$load" = flat ] || rate_opt="-R $load"
		for kind in idle lead pct; do
			: >"$bench/cc-$kind"
			r=0
			while [ "$r" -lt "$claim_runs" ]; do
				echo "claims: $3, load $load, $kind, run" \
				    "$((r + 1)) of $claim_runs" >&2
				claim_case "$1" "$2" "$kind" >>"$bench/cc-$kind"
				cat "$bench/samples" \
				    >>"$bench/samples-$3-$load-$kind"
				r=$((r + 1))
			done
			m() { awk -v f="$1" '{ print $f }' "$bench/cc-$kind" |
			    bench_median; }
			s() { awk -v f="$1" '{ t += $f } END { print t }' \
			    "$bench/cc-$kind"; }
			echo "$3 $load $kind $(m 1) $(m 2) $(s 3) $(s 4) $(s 5)" \
			    "$(m 6) $(s 7) $(m 8) $(m 9) $(s 10) $(s 11) $(s 12)" \
			    "$(s 13) $(s 14)"
		done
	done
}

# Percentage of B in A+B+C+D+E (the sampler's classes).
share() {
	echo "$1 $2 $3 $4 $5 $6" | awk '{ t = $2 + $3 + $4 + $5 + $6
	    if (t == 0) print "-"; else printf "%.0f%%", 100 * $1 / t }'
}

if want claims; then
	seq=0
	claim_loads=${CLAIM_LOADS:-flat}
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	cat >"$bench/claim.sql" <<'SQL'
INSERT INTO claim_log SELECT (SELECT id FROM queue_claim_next('unsigned_users', :client_id + 1) LIMIT 1), clock_timestamp();
SQL
	lconf="$bench/bench-legacy.conf"
	claim_cases bench "$lconf" qsched >"$bench/claims"
	if [ -n "${BASELINE_SRC:-}" ]; then
		echo "loading the baseline's copy" >&2
		load base "$users" bench_gen
		claim_cases base "$bench/base-legacy.conf" baseline \
		    >>"$bench/claims"
	fi
	echo
	echo "machine: $(bench_machine); load average before:" \
	    "$load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "command: PARTS=claims CLAIM_SECS=$claim_secs" \
	    "CLAIM_RUNS=$claim_runs CLAIM_LOADS=\"$claim_loads\"${BASELINE_SRC:+ BASELINE_SRC=... BASELINE_BUILD=...}" \
	    "scripts/bench-population.sh $users $reps"
	echo "flags: populate_separated_tables = true, populate_legacy_queue =" \
	    "true (shipped); max_size 200 (shipped); 8 agents, pgbench -c 8 -j 2"
	echo
	echo "| code | agents | case | claim p50 | claim p99 | p99 / idle p99 (same code, same agents) | claims | empty (during a refresh) | pending at the end | refreshes | rows written per refresh | refresh time | agent samples: CPU / Lock / LWLock / IO / other |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	while read -r code load kind p50 p99 claims empty ed pend refr rows rms \
	    cpu lck lw io oth; do
		if [ "$kind" = nothing ]; then
			echo "| $code | none | no agents, nothing changed" \
			    "(rows: all $reps refreshes) | | | | | | | $reps |" \
			    "$rows | $rms ms | |"
			continue
		fi
		case $kind in
		idle) what="idle" ;;
		lead) what="refreshes, each after 1 new lead" ;;
		pct) what="refreshes, each after 1% of scores changed" ;;
		esac
		case $load in
		flat) agents="no think time" ;;
		*) agents="$load claims/s in all (-R $load)" ;;
		esac
		idle_p99=$(awk -v c="$code" -v l="$load" '$1 == c &&
		    $2 == l && $3 == "idle" { print $5 }' "$bench/claims")
		[ "$kind" = idle ] && rows=- rms=- refr=0
		echo "| $code | $agents | $what | $p50 ms | $p99 ms |" \
		    "$(ratio "$p99" "$idle_p99") | $claims | $empty ($ed) |" \
		    "$pend | $refr | $rows | $rms ms |" \
		    "$(share "$cpu" "$cpu" "$lck" "$lw" "$io" "$oth") /" \
		    "$(share "$lck" "$cpu" "$lck" "$lw" "$io" "$oth") /" \
		    "$(share "$lw" "$cpu" "$lck" "$lw" "$io" "$oth") /" \
		    "$(share "$io" "$cpu" "$lck" "$lw" "$io" "$oth") /" \
		    "$(share "$oth" "$cpu" "$lck" "$lw" "$io" "$oth")" \
		    "($((cpu + lck + lw + io + oth))) |"
	done <"$bench/claims"
	echo
	echo "Agent samples by wait event (the four most frequent, share of" \
	    "all samples of the case):"
	for f in "$bench"/samples-*; do
		[ -f "$f" ] || continue
		printf -- '- %s: ' "${f#"$bench"/samples-}"
		awk '$1 == "W" { n[$2]++; t++ } END {
		    for (e in n) printf "%d %s\n", n[e], e }' "$f" |
		    sort -rn | head -n 4 | awk -v t="$(grep -c '^W ' "$f")" \
		    '{ printf "%s%s %.0f%%", (NR > 1 ? ", " : ""), $2,
			100 * $1 / t } END { print "" }'
	done
fi

# --- the change log: scoped refreshes, this code against the baseline -----
# written2 DB: rows written to the unsigned queue and call_queue so far.
written2() {
	sleep 1
	psql_ -d "$1" -c "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del)
	    FROM pg_stat_user_tables
	    WHERE relname IN ('unsigned_users_queue', 'call_queue')"
}

# scoped_case KIND: REPS rounds; in each, the change KIND (nothing, lead,
# pct) in both databases, then one refresh of each, in turns.  Appends
# "code ms rows" lines to $bench/scoped.
scoped_case() {
	i=0
	while [ "$i" -lt "$reps" ]; do
		for code in qsched baseline; do
			case $code in
			qsched) db=bench cf="$bench/bench-legacy.conf" bin=$qsched ;;
			baseline) db=base cf="$bench/base-legacy.conf"
				bin=$BASELINE_BUILD/qsched ;;
			esac
			[ "$1" = nothing ] || change "$db" "$1" "$((i + 100))"
			w0=$(written2 "$db")
			"$bin" -q -c "$cf" run unsigned --set max_size=200
			ms=$(psql_ -d "$db" -c "SELECT metrics->>'refresh_ms'
			    FROM qsched.runs WHERE job = 'unsigned'
			    ORDER BY id DESC LIMIT 1")
			w1=$(written2 "$db")
			echo "$1 $code $ms $((w1 - w0))" >>"$bench/scoped"
		done
		i=$((i + 1))
	done
}

# med KIND CODE COLUMN: the median of a column of $bench/scoped.
scoped_med() {
	awk -v k="$1" -v c="$2" -v f="$3" '$1 == k && $2 == c { print $f }' \
	    "$bench/scoped" | bench_median
}

# trig_set on|off: the change log's triggers on user_call_scores.
trig_set() {
	case $1 in on) verb=ENABLE ;; *) verb=DISABLE ;; esac
	for t in changes_ins changes_upd changes_del truncate; do
		psql_ -d bench -c "ALTER TABLE user_call_scores $verb TRIGGER
		    user_call_scores_population_$t"
	done
}

# trig_case NAME PGBENCH-ARGS...: pgbench's latency average of one-row
# UPDATEs of random users' scores, REPS times with the change log's
# triggers on user_call_scores enabled and disabled in turns.
trig_case() {
	name=$1
	shift
	i=0
	while [ "$i" -lt "$reps" ]; do
		for state in on off; do
			trig_set "$state"
			"$PG_BINDIR/pgbench" -n "$@" -f "$bench/upd1.sql" bench \
			    >"$bench/pgb.out" 2>&1
			awk -v n="$name" -v s="$state" '/latency average/ {
			    print n, s, $4 }' "$bench/pgb.out" >>"$bench/trig"
		done
		i=$((i + 1))
	done
	trig_set on
}
trig_med() {
	awk -v n="$1" -v s="$2" '$1 == n && $2 == s { print $3 }' \
	    "$bench/trig" | bench_median
}

if want scoped; then
	[ -n "${BASELINE_SRC:-}" ] && [ -n "${BASELINE_BUILD:-}" ] || {
		echo "PARTS=scoped needs BASELINE_SRC and BASELINE_BUILD" >&2
		exit 2
	}
	echo "loading the baseline's copy" >&2
	load base "$users" bench_gen
	for db in bench base; do
		case $db in
		bench) cf="$bench/bench-legacy.conf" bin=$qsched ;;
		base) cf="$bench/base-legacy.conf" bin=$BASELINE_BUILD/qsched ;;
		esac
		# The first refresh brings both queues to the rule; the second
		# is the first with the change log's state in place.
		"$bin" -q -c "$cf" run unsigned --set max_size=200
		"$bin" -q -c "$cf" run unsigned --set max_size=200
		psql_ -d "$db" -c "VACUUM ANALYZE"
	done
	entries=$(psql_ -d bench -c "SELECT count(*) FROM unsigned_users_queue
	    WHERE status = 'pending'")
	: >"$bench/scoped"
	echo "scoped: nothing changed" >&2
	scoped_case nothing
	echo "scoped: one new lead" >&2
	scoped_case lead
	echo "scoped: 1% of the scores" >&2
	scoped_case pct
	scoped_runs=$(psql_ -d bench -c "SELECT count(*) FILTER (WHERE
	    (metrics->>'scoped')::int = 1) || ' of ' || count(*) FROM (SELECT
	    metrics FROM qsched.runs WHERE job = 'unsigned' ORDER BY id DESC
	    LIMIT $((reps * 3))) AS r")

	echo "trigger cost" >&2
	cat >"$bench/upd1.sql" <<SQL
\set u random(10000001, $((10000000 + users)))
UPDATE user_call_scores SET current_score = current_score + 1
    WHERE user_id = :u;
SQL
	: >"$bench/trig"
	trig_case fresh -C -c 1 -t 200
	trig_case warm -c 1 -t 2000
	: >"$bench/bulk"
	i=0
	while [ "$i" -lt "$reps" ]; do
		for state in on off; do
			trig_set "$state"
			lo=$((10000001 + (i * 2 + 1) * 20011 % (users - 10000)))
			printf '%s\n' '\timing on' "UPDATE user_call_scores SET
			    current_score = current_score + 1 WHERE user_id
			    BETWEEN $lo AND $((lo + 9999));" |
			    "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d bench |
			    timing_sum | sed "s/^/$state /" >>"$bench/bulk"
		done
		i=$((i + 1))
	done
	trig_set on
	bulk_on=$(awk '$1 == "on" { print $2 }' "$bench/bulk" | bench_median)
	bulk_off=$(awk '$1 == "off" { print $2 }' "$bench/bulk" | bench_median)

	echo
	echo "machine: $(bench_machine); load average at the end:" \
	    "$(cut -d' ' -f1-3 /proc/loadavg) (shared with other work)"
	echo "command: PARTS=scoped BASELINE_SRC=... BASELINE_BUILD=..." \
	    "scripts/bench-population.sh $users $reps"
	echo "flags: populate_separated_tables = true, populate_legacy_queue" \
	    "= true; max_size 200, cooling_period 2h, full_refresh_every 1h" \
	    "(all shipped); unsigned_users, $entries pending entries;" \
	    "medians of $reps, the two codes in turns; $scoped_runs of this" \
	    "code's runs scoped"
	echo
	echo "| case | this code: refresh | rows written | baseline: refresh | rows written | this / baseline |"
	echo "|---|---|---|---|---|---|"
	for kind in nothing lead pct; do
		case $kind in
		nothing) what="nothing changed" ;;
		lead) what="after 1 new lead" ;;
		pct) what="after 1% of the scores changed" ;;
		esac
		n_ms=$(scoped_med "$kind" qsched 3)
		b_ms=$(scoped_med "$kind" baseline 3)
		echo "| $what | $n_ms ms | $(scoped_med "$kind" qsched 4) |" \
		    "$b_ms ms | $(scoped_med "$kind" baseline 4) |" \
		    "$(ratio "$n_ms" "$b_ms") |"
	done
	echo
	echo "| application write to user_call_scores | triggers on | triggers off | on / off |"
	echo "|---|---|---|---|"
	for n in fresh warm; do
		case $n in
		fresh) what="one-row UPDATE, fresh connection each (pgbench -C -c 1 -t 200, latency average)" ;;
		warm) what="one-row UPDATE, one connection (pgbench -c 1 -t 2000, latency average)" ;;
		esac
		on=$(trig_med "$n" on)
		off=$(trig_med "$n" off)
		echo "| $what | $on ms | $off ms | $(ratio "$on" "$off") |"
	done
	echo "| 10 000-row UPDATE of scores (psql timing) | $bulk_on ms | $bulk_off ms | $(ratio "$bulk_on" "$bulk_off") |"
fi
