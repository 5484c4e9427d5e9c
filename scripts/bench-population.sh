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
#   scripts/bench-population.sh [USERS [REPS [APP_USERS]]]
#       (default 1000000 users, 7 repetitions, 20000 users for the app)
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
load() {
	db=$1 n=$2
	[ "$(psql_ -d postgres -c "SELECT count(*) FROM pg_database
	    WHERE datname = '$db'")" = 1 ] ||
	    psql_ -d postgres -c "CREATE DATABASE $db"
	sh "$top/scripts/gen-legacy-data.sh" --size "$n" --seed 1 -d "$db" \
	    >/dev/null
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
plugin_dir = "$build/plugins/.libs"
flags_file = "$bench/$db-$flags.ini"
job "schema-migrate" {
	plugin   = "schema_migrate"
	schedule = "@manual"
	options { dir = "$top/sql/migrations" }
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
rss=$(psql_ -d bench -c "SELECT max((metrics->>'peak_rss_kb')::bigint)
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

ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }

echo
echo "machine: $(bench_machine)"
echo "command: scripts/bench-population.sh $users $reps $app_users"
echo "data: $users user_call_scores, $users call_queue rows; unsigned queue" \
    "$entries_u entries at max_size 200 ($entries0 at max_size 0)," \
    "outstanding $entries_o at max_size 200"
echo
echo "| case | median refresh | rows written | ratio |"
echo "|---|---|---|---|"
echo "| max_size 200, nothing changed (unsigned_users, $entries_u entries) | $s200_u ms | $s200_u_rows (counters: $s200_u_counted) | |"
echo "| max_size 200, nothing changed (outstanding_requests, $entries_o entries) | $s200_o ms | $s200_o_rows | |"
echo "| max_size 200, nothing changed, without user_call_scores_queue_population_idx | $s200_noidx ms | | $(ratio "$s200_noidx" "$s200_u") × with it |"
echo "| max_size 200, nothing changed, legacy dual-write on | $s200_l ms | $s200_l_rows | |"
echo "| max_size 200, after 1% of scores changed | $p200_ms ms | $p200_rows | |"
echo "| max_size 0: bare INSERT ... SELECT into an empty table (ceiling) | $ceil_ms ms | $ceil_rows | 1.00 |"
echo "| max_size 0: full refresh into an empty queue | $full_ms ms | $entries0 | $(ratio "$full_ms" "$ceil_ms") × ceiling |"
echo "| max_size 0: nothing changed | $unch0_ms ms | $unch0_rows | $(ratio "$unch0_ms" "$full_ms") × full |"
echo "| max_size 0: after 1% of scores changed | $p0_ms ms | $p0_rows | $(ratio "$p0_ms" "$full_ms") × full |"
echo "| app's way, $app_users users: delete all, $app_entries INSERTs in autocommit | $app_ms ms | $((app_entries * 2)) | 1.00 |"
echo "| qsched, $app_users users: full refresh into an empty queue | $appq_full ms | $app_entries | $(ratio "$appq_full" "$app_ms") × app |"
echo "| qsched, $app_users users: nothing changed | $appq_unch ms | 0 | $(ratio "$appq_unch" "$app_ms") × app |"
echo "(worker peak RSS: ${rss} kB)"
