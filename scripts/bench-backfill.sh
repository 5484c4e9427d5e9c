#!/bin/sh
# bench-backfill.sh - the legacy_backfill plugin on 1M generated call_queue
# rows, against (a) one INSERT ... SELECT of the same mapping into the same
# empty tables, same indexes and foreign keys (the ceiling), and (b) one
# client INSERT round trip per row in autocommit, as the app does (20k
# rows).  Same run, same durable throwaway cluster (fsync and
# synchronous_commit on); medians of REPS repetitions, (a) and the
# backfill interleaved so both see the same noise.  Also the worker's peak
# RSS at 100k and at 1M rows.
#
#   scripts/bench-backfill.sh [REPS [ROWS]]     (default 3 reps, 1000000 rows)
set -eu
. "$(dirname "$0")/bench-lib.sh"
reps=${1:-3}
rows=${2:-1000000}
small=$((rows / 10))
bench_setup

psql() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{ printf "%.3f\n", $2 - $1 }'; }

conf_for() {
	cat >"$bench/$1.conf" <<CONF
database   = "host='$PGHOST' port=$PGPORT dbname=$1 user=postgres"
plugin_dir = "$build/plugins/.libs"
flags_file = "$top/flags.ini"
job "schema-migrate" {
	plugin   = "schema_migrate"
	schedule = "@manual"
	options { dir = "$top/sql/migrations" }
}
job "legacy-backfill" {
	plugin     = "legacy_backfill"
	schedule   = "@manual"
	depends_on = {"schema-migrate"}
}
CONF
}

# A database with USERS users and as many call_queue rows, migrated.
load() {
	[ "$1" = bench ] || psql -d postgres -c "CREATE DATABASE $1"
	psql -d "$1" -f "$top/sql/fixtures/legacy_schema.sql"
	psql -d "$1" -f "$top/sql/fixtures/generate.sql"
	psql -d "$1" -c "SELECT * FROM qsched_fixture.generate($2, 1, $2, \
	    '2026-11-29 08:00:00')" >/dev/null
	psql -d "$1" -c "VACUUM ANALYZE"
	conf_for "$1"
	"$qsched" -q -c "$bench/$1.conf" run schema-migrate
}

reset() {
	psql -d "$1" -c "SET client_min_messages = warning" \
	    -c "TRUNCATE unsigned_users_queue, outstanding_requests_queue" \
	    -c "DROP TABLE IF EXISTS qsched.backfill_conflicts, \
	    qsched.backfill_positions" \
	    -c "DELETE FROM qsched.checkpoints" -c "CHECKPOINT"
}

# (a) The ceiling: the same mapping as one INSERT ... SELECT per table, in
# one transaction; NULL positions by a window, duplicates dropped by ON
# CONFLICT DO NOTHING (no conflict is recorded: it is the ceiling).
ceiling_sql() {
	cat <<'SQL'
BEGIN;
INSERT INTO unsigned_users_queue (id, user_id, claim_id, priority_score,
    queue_position, status, queue_reason, signature_missing_since,
    signature_type, available_from, assigned_to_agent, assigned_at,
    created_at, updated_at, callback_id)
SELECT c.id, c.user_id, c.claim_id, c.priority_score,
    coalesce(c.queue_position, (SELECT max(queue_position) FROM call_queue
	WHERE queue_type = 'unsigned_users') + row_number() OVER (
	PARTITION BY c.queue_position IS NULL
	ORDER BY c.priority_score, c.created_at, c.id)),
    CASE c.status WHEN 'invalid' THEN 'inactive' ELSE c.status END,
    c.queue_reason, u.created_at, 'initial',
    coalesce(c.available_from, c.created_at), c.assigned_to_agent_id,
    c.assigned_at, c.created_at, c.updated_at, c.callback_id
FROM call_queue AS c JOIN user_call_scores AS u ON u.user_id = c.user_id
WHERE c.queue_type = 'unsigned_users'
ON CONFLICT DO NOTHING;
INSERT INTO outstanding_requests_queue (id, user_id, claim_id, priority_score,
    queue_position, status, queue_reason, requirement_types,
    total_requirements, pending_requirements, completed_requirements,
    oldest_requirement_date, available_from, assigned_to_agent, assigned_at,
    created_at, updated_at, callback_id)
SELECT c.id, c.user_id, c.claim_id, c.priority_score,
    coalesce(c.queue_position, (SELECT max(queue_position) FROM call_queue
	WHERE queue_type = 'outstanding_requests') + row_number() OVER (
	PARTITION BY c.queue_position IS NULL
	ORDER BY c.priority_score, c.created_at, c.id)),
    CASE c.status WHEN 'invalid' THEN 'inactive' ELSE c.status END,
    c.queue_reason, '["document"]'::jsonb, 1, 1, 0, u.created_at,
    coalesce(c.available_from, c.created_at), c.assigned_to_agent_id,
    c.assigned_at, c.created_at, c.updated_at, c.callback_id
FROM call_queue AS c JOIN user_call_scores AS u ON u.user_id = c.user_id
WHERE c.queue_type = 'outstanding_requests'
ON CONFLICT DO NOTHING;
COMMIT;
SQL
}

# (b) What the app does: one INSERT per row, each its own transaction.
# The statements are written out first (values as literals, as a client
# holding the row sends them) so only the inserts are timed.
per_row_sql() {
	psql -d bench -At -c "SELECT format('INSERT INTO unsigned_users_queue \
	    (id, user_id, claim_id, priority_score, queue_position, status, \
	    queue_reason, signature_missing_since, signature_type, \
	    available_from, assigned_to_agent, assigned_at, created_at, \
	    updated_at, callback_id) VALUES (%L, %s, %L, %s, %s, %L, %L, %L, \
	    ''initial'', %L, %L, %L, %L, %L, %L) ON CONFLICT DO NOTHING;', \
	    c.id, c.user_id, c.claim_id, c.priority_score, \
	    coalesce(c.queue_position, 1000000), CASE c.status WHEN 'invalid' \
	    THEN 'inactive' ELSE c.status END, c.queue_reason, u.created_at, \
	    coalesce(c.available_from, c.created_at), c.assigned_to_agent_id, \
	    c.assigned_at, c.created_at, c.updated_at, c.callback_id) \
	    FROM call_queue AS c JOIN user_call_scores AS u USING (user_id) \
	    WHERE c.queue_type = 'unsigned_users' ORDER BY c.id LIMIT 20000"
}

source_rows() {
	psql -d "$1" -At -c "SELECT count(*) FROM call_queue WHERE queue_type \
	    IN ('unsigned_users', 'outstanding_requests')"
}

metric() {
	psql -d "$1" -At -c "SELECT metrics->>'$2' FROM qsched.runs WHERE \
	    job = 'legacy-backfill' ORDER BY id DESC LIMIT 1"
}

echo "bench-backfill: generating $rows and $small rows" >&2
load bench "$rows"
load bench_small "$small"
n=$(source_rows bench)
ceiling_sql >"$bench/ceiling.sql"
per_row_sql >"$bench/per_row.sql"

: >"$bench/ceiling.s"
: >"$bench/backfill.s"
: >"$bench/per_row.s"
: >"$bench/rss.kb"
: >"$bench/rss_small.kb"
for m in plan_ms copy_ms proof_ms batches final_batch_size; do
	: >"$bench/$m"
done
for i in $(seq "$reps"); do
	reset bench
	t0=$(now); psql -d bench -f "$bench/ceiling.sql"; t1=$(now)
	elapsed "$t0" "$t1" >>"$bench/ceiling.s"
	echo "bench-backfill: rep $i: ceiling $(tail -n 1 "$bench/ceiling.s") s" >&2

	reset bench
	t0=$(now); "$qsched" -q -c "$bench/bench.conf" run legacy-backfill; t1=$(now)
	elapsed "$t0" "$t1" >>"$bench/backfill.s"
	[ "$(metric bench validation)" = ok ] ||
	    { echo "bench-backfill: the proof failed" >&2; exit 1; }
	metric bench worker_peak_rss_kb >>"$bench/rss.kb"
	for m in plan_ms copy_ms proof_ms batches final_batch_size; do
		metric bench "$m" >>"$bench/$m"
	done
	echo "bench-backfill: rep $i: backfill $(tail -n 1 "$bench/backfill.s") s" >&2

	reset bench
	t0=$(now); psql -d bench -f "$bench/per_row.sql"; t1=$(now)
	elapsed "$t0" "$t1" >>"$bench/per_row.s"
	echo "bench-backfill: rep $i: per-row $(tail -n 1 "$bench/per_row.s") s" >&2

	reset bench_small
	"$qsched" -q -c "$bench/bench_small.conf" run legacy-backfill
	metric bench_small worker_peak_rss_kb >>"$bench/rss_small.kb"
done

c_s=$(bench_median <"$bench/ceiling.s")
b_s=$(bench_median <"$bench/backfill.s")
p_s=$(bench_median <"$bench/per_row.s")
rss=$(bench_median <"$bench/rss.kb")
rss_small=$(bench_median <"$bench/rss_small.kb")
c_rate=$(echo "$n $c_s" | awk '{ printf "%.0f", $1 / $2 }')
b_rate=$(echo "$n $b_s" | awk '{ printf "%.0f", $1 / $2 }')
p_n=$(wc -l <"$bench/per_row.sql")
p_rate=$(echo "$p_n $p_s" | awk '{ printf "%.0f", $1 / $2 }')
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }

echo
echo "machine: $(bench_machine)"
echo "command: scripts/bench-backfill.sh $reps $rows"
echo "data: qsched_fixture.generate($rows, 1, $rows): $n call_queue rows of the two copied types"
printf '| method | rows | median wall time | rows/s | vs ceiling |\n|---|---|---|---|---|\n'
printf '| (a) one INSERT ... SELECT (ceiling) | %s | %.1f s | %s | 1.00 |\n' \
    "$n" "$c_s" "$c_rate"
printf '| qsched run legacy-backfill (plan, batches, proof) | %s | %.1f s | %s | %s |\n' \
    "$n" "$b_s" "$b_rate" "$(ratio "$b_rate" "$c_rate")"
printf '| (b) one INSERT per row, autocommit | %s | %.1f s | %s | %s |\n' \
    "$p_n" "$p_s" "$p_rate" "$(ratio "$p_rate" "$c_rate")"
echo
echo "backfill phases (medians): plan $(bench_median <"$bench/plan_ms") ms, copy $(bench_median <"$bench/copy_ms") ms in $(bench_median <"$bench/batches") batches (final batch size $(bench_median <"$bench/final_batch_size") rows), proof $(bench_median <"$bench/proof_ms") ms"
echo
printf '| worker peak RSS (VmHWM) | %s rows | %s rows |\n|---|---|---|\n' \
    "$(source_rows bench_small)" "$n"
printf '| median of %s runs | %s kB | %s kB |\n' "$reps" "$rss_small" "$rss"
echo "(raw seconds: ceiling $(tr '\n' ' ' <"$bench/ceiling.s"); backfill $(tr '\n' ' ' <"$bench/backfill.s"); per-row $(tr '\n' ' ' <"$bench/per_row.s"))"
