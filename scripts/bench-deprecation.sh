#!/bin/sh
# bench-deprecation.sh - the legacy_deprecation plugin's archive and purge
# of ROWS call_queue rows of the two retired queue types, half of them
# (SHAPE half) or one in twenty (SHAPE few) referenced by call_sessions
# (so kept), against one INSERT ... SELECT
# into an archive table plus one DELETE of the unreferenced rows, in one
# transaction (the ceiling).  Same run, same durable throwaway cluster;
# each repetition starts from copies of one template database (the
# retirement in monitoring, monitoring_period 0s, so the next run
# archives): the ceiling, then the plugin, both with nothing else running,
# for the ratio; then the plugin again on a third copy while 4 clients
# claim on the separated queues (queue_claim_next() then ROLLBACK), for
# the claim latency against the same load when idle.  Also the worker's
# peak RSS, the plugin's phases and its throttle pauses.
#
#   scripts/bench-deprecation.sh [REPS [ROWS [SHAPE [OPTIONS]]]]
#   (default 3 reps, 1000000 rows, half, no options: the plugin's defaults)
#
# OPTIONS is added to the job's options { } block, for example
# 'batch_size = 20000'.
set -eu
. "$(dirname "$0")/bench-lib.sh"
reps=${1:-3}
rows=${2:-1000000}
shape=${3:-half}
options=${4:-}
case $shape in
half) referenced='g / 2 % 2 = 0' ;;
few) referenced='g % 20 = 0' ;;
*) echo "bench-deprecation: SHAPE is half or few, not $shape" >&2; exit 2 ;;
esac
users=20000
bench_setup

psql() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{ printf "%.3f\n", $2 - $1 }'; }
flags() {
	# Only flags the plugins of this jobs.conf declare: qsched refuses
	# the others.
	printf '[queue_migration]\npopulate_separated_tables = true\npopulate_legacy_queue = %s\n' \
	    "$1" >"$bench/flags.ini"
}

conf_for() {
	cat >"$bench/$1.conf" <<CONF
database   = "host='$PGHOST' port=$PGPORT dbname=$1 user=postgres"
plugin_dir = "$build/plugins/.libs"
flags_file = "$bench/flags.ini"
job "schema-migrate" {
	plugin   = "schema_migrate"
	schedule = "@manual"
	options { dir = "$top/sql/migrations" }
}
job "unsigned-population" {
	plugin   = "queue_population"
	schedule = "@manual"
	options { queue = "unsigned_users" }
}
job "outstanding-population" {
	plugin   = "queue_population"
	schedule = "@manual"
	options { queue = "outstanding_requests" }
}
job "legacy-deprecation" {
	plugin            = "legacy_deprecation"
	schedule          = "@manual"
	statement_timeout = "5m"
	options { monitoring_period = "0s" $options }
}
CONF
}

run() { "$qsched" -q -c "$bench/$1.conf" run "$2"; }
state() {
	psql -d "$1" -At -c "SELECT string_agg(state, ',' ORDER BY object) \
	    FROM qsched_legacy.retirement WHERE object <> 'call_queue'"
}

# The template: the generator's small database, ROWS more completed rows
# of the retired types (half referenced by a session), migrated,
# populated, frozen and monitored the real way.
template() {
	psql -d postgres -c "CREATE DATABASE tpl"
	psql -d tpl -f "$top/sql/fixtures/legacy_schema.sql"
	psql -d tpl -f "$top/sql/fixtures/generate.sql"
	psql -d tpl -c "SELECT * FROM qsched_fixture.generate($users, 1, \
	    $users, '2026-11-29 08:00:00')" >/dev/null
	psql -d tpl -c "INSERT INTO call_queue (id, user_id, queue_type, \
	    priority_score, queue_position, status, queue_reason, created_at, \
	    updated_at) SELECT md5('bench' || g)::uuid, u.user_id, CASE WHEN \
	    g % 2 = 0 THEN 'unsigned_users' ELSE 'outstanding_requests' END, \
	    g % 50, g % 200, 'completed', 'bench row', timestamp '2026-10-01' \
	    + g * interval '1 second', timestamp '2026-10-01' + g * interval \
	    '1 second' FROM generate_series(1, $rows) AS g JOIN (SELECT \
	    user_id, row_number() OVER (ORDER BY user_id) - 1 AS k FROM \
	    user_call_scores) AS u ON u.k = g % $users"
	psql -d tpl -c "INSERT INTO call_sessions (id, user_id, call_queue_id, \
	    updated_at) SELECT md5('session' || g)::uuid, NULL, \
	    md5('bench' || g)::uuid, timestamp '2026-10-02' FROM \
	    generate_series(1, $rows) AS g WHERE $referenced"
	psql -d tpl -c "VACUUM ANALYZE"
	conf_for tpl
	flags true
	run tpl schema-migrate
	run tpl unsigned-population
	run tpl outstanding-population
	psql -d tpl -c "UPDATE call_queue AS c SET status = 'completed' WHERE \
	    c.status IN ('pending', 'assigned') AND NOT EXISTS (SELECT 1 FROM \
	    (SELECT user_id, 'unsigned_users' AS t FROM unsigned_users_queue \
	    WHERE status IN ('pending', 'assigned') UNION ALL SELECT user_id, \
	    'outstanding_requests' FROM outstanding_requests_queue WHERE \
	    status IN ('pending', 'assigned')) AS q WHERE q.user_id = \
	    c.user_id AND q.t = c.queue_type)"
	flags false
	run tpl legacy-deprecation
	run tpl unsigned-population
	run tpl outstanding-population
	psql -d tpl -c "SELECT * FROM queue_claim_next('unsigned_users', 1)" \
	    -c "SELECT * FROM queue_claim_next('outstanding_requests', 2)" \
	    >/dev/null
	run tpl legacy-deprecation
	[ "$(state tpl)" = monitoring,monitoring ] ||
	    { echo "bench-deprecation: template not monitoring" >&2; exit 1; }
	psql -d tpl -c "VACUUM ANALYZE" -c "CHECKPOINT"
}

ceiling_sql() {
	cat <<'SQL'
BEGIN;
CREATE TABLE bench_archive (LIKE call_queue);
INSERT INTO bench_archive SELECT * FROM call_queue
WHERE queue_type IN ('unsigned_users', 'outstanding_requests');
DELETE FROM call_queue AS c
WHERE queue_type IN ('unsigned_users', 'outstanding_requests')
AND NOT EXISTS (SELECT 1 FROM call_sessions AS s WHERE s.call_queue_id = c.id);
COMMIT;
SQL
}

cat >"$bench/claim.sql" <<'SQL'
BEGIN;
SELECT id FROM queue_claim_next('unsigned_users', :client_id + 1);
ROLLBACK;
SQL

# Claim latencies (ms), one per line, into FILE, for SECONDS.
claims() {
	"$PG_BINDIR/pgbench" -n -c 4 -T "$2" -f "$bench/claim.sql" \
	    --log --log-prefix="$bench/pgb" "$3" >/dev/null 2>&1 || true
	cat "$bench"/pgb.* 2>/dev/null | awk '{ print $3 / 1000 }' >>"$1"
	rm -f "$bench"/pgb.*
}
p99() {
	sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan";
	    else print v[int((NR * 99 + 99) / 100)] }'
}

echo "bench-deprecation: generating $rows rows" >&2
template
n=$(psql -d tpl -At -c "SELECT count(*) FROM call_queue WHERE queue_type \
    IN ('unsigned_users', 'outstanding_requests')")
kept=$(psql -d tpl -At -c "SELECT count(*) FROM call_queue AS c WHERE \
    queue_type IN ('unsigned_users', 'outstanding_requests') AND EXISTS \
    (SELECT 1 FROM call_sessions AS s WHERE s.call_queue_id = c.id)")
ceiling_sql >"$bench/ceiling.sql"
for f in ceiling.s plugin.s loaded.s archive.ms purge.ms rss.kb idle.p99 \
    busy.p99 pauses; do
	: >"$bench/$f"
done
for i in $(seq "$reps"); do
	psql -d postgres -c "CREATE DATABASE b TEMPLATE tpl" \
	    -c "CREATE DATABASE p TEMPLATE tpl" -c "CREATE DATABASE q TEMPLATE tpl"
	conf_for p
	conf_for q
	t0=$(now); psql -d b -f "$bench/ceiling.sql"; t1=$(now)
	elapsed "$t0" "$t1" >>"$bench/ceiling.s"
	echo "bench-deprecation: rep $i: ceiling $(tail -n 1 "$bench/ceiling.s") s" >&2

	t0=$(now)
	run p legacy-deprecation
	run p legacy-deprecation
	t1=$(now)
	elapsed "$t0" "$t1" >>"$bench/plugin.s"
	[ "$(state p)" = purged,purged ] ||
	    { echo "bench-deprecation: not purged: $(state p)" >&2; exit 1; }
	psql -d p -At -c "SELECT sum((metrics->>'archive_ms_unsigned_users')::bigint \
	    + (metrics->>'archive_ms_outstanding_requests')::bigint) FROM \
	    qsched.runs WHERE job = 'legacy-deprecation' AND metrics ? \
	    'archive_ms_unsigned_users'" >>"$bench/archive.ms"
	psql -d p -At -c "SELECT sum((metrics->>'purge_ms_unsigned_users')::bigint \
	    + (metrics->>'purge_ms_outstanding_requests')::bigint) FROM \
	    qsched.runs WHERE job = 'legacy-deprecation' AND metrics ? \
	    'purge_ms_unsigned_users'" >>"$bench/purge.ms"
	psql -d p -At -c "SELECT max((metrics->>'worker_peak_rss_kb')::bigint) \
	    FROM qsched.runs WHERE job = 'legacy-deprecation'" >>"$bench/rss.kb"
	echo "bench-deprecation: rep $i: plugin $(tail -n 1 "$bench/plugin.s") s" >&2

	: >"$bench/idle.lat"
	claims "$bench/idle.lat" 5 q
	p99 "$bench/idle.lat" >>"$bench/idle.p99"
	: >"$bench/busy.lat"
	t0=$(now)
	( run q legacy-deprecation && run q legacy-deprecation ) &
	job=$!
	while kill -0 "$job" 2>/dev/null; do
		claims "$bench/busy.lat" 2 q
	done
	wait "$job"
	t1=$(now)
	elapsed "$t0" "$t1" >>"$bench/loaded.s"
	p99 "$bench/busy.lat" >>"$bench/busy.p99"
	[ "$(state q)" = purged,purged ] ||
	    { echo "bench-deprecation: not purged: $(state q)" >&2; exit 1; }
	psql -d q -At -c "SELECT sum((metrics->>'throttle_pauses')::bigint) \
	    FROM qsched.runs WHERE job = 'legacy-deprecation' AND id > \
	    (SELECT max(id) - 2 FROM qsched.runs WHERE job = \
	    'legacy-deprecation')" >>"$bench/pauses"
	echo "bench-deprecation: rep $i: plugin under claims $(tail -n 1 "$bench/loaded.s") s" >&2
	psql -d postgres -c "DROP DATABASE b" -c "DROP DATABASE p" \
	    -c "DROP DATABASE q"
done

c_s=$(bench_median <"$bench/ceiling.s")
p_s=$(bench_median <"$bench/plugin.s")
c_rate=$(echo "$n $c_s" | awk '{ printf "%.0f", $1 / $2 }')
p_rate=$(echo "$n $p_s" | awk '{ printf "%.0f", $1 / $2 }')
idle=$(bench_median <"$bench/idle.p99")
busy=$(bench_median <"$bench/busy.p99")

echo
echo "machine: $(bench_machine)"
echo "command: scripts/bench-deprecation.sh $reps $rows $shape${options:+ '$options'}"
echo "data: $n call_queue rows of the retired types ($kept referenced by call_sessions, kept); options monitoring_period=0s ${options:-(defaults: batch_size=5000, lock_timeout=2s, throttle=true, canary_latency=100ms, throttle_interval=1s)}"
printf '| method | rows | median wall time | rows/s | vs ceiling |\n|---|---|---|---|---|\n'
printf '| one INSERT ... SELECT + one DELETE, one transaction (ceiling) | %s | %.1f s | %s | 1.00 |\n' \
    "$n" "$c_s" "$c_rate"
printf '| qsched run legacy-deprecation, archive run + purge run | %s | %.1f s | %s | %s |\n' \
    "$n" "$p_s" "$p_rate" "$(echo "$p_rate $c_rate" | awk '{ printf "%.2f", $1 / $2 }')"
l_s=$(bench_median <"$bench/loaded.s")
l_rate=$(echo "$n $l_s" | awk '{ printf "%.0f", $1 / $2 }')
printf '| the same while 4 clients claim (not a like-for-like ratio) | %s | %.1f s | %s | %s |\n' \
    "$n" "$l_s" "$l_rate" "$(echo "$l_rate $c_rate" | awk '{ printf "%.2f", $1 / $2 }')"
echo
# Per repetition, ceiling and plugin ran back to back: their ratio is
# steadier on a shared machine than the ratio of the medians.
reprat=$(paste "$bench/ceiling.s" "$bench/plugin.s" | awk '{ printf "%.2f\n", $1 / $2 }')
echo "ratio per repetition: $(echo "$reprat" | tr '\n' ' ')(median $(echo "$reprat" | bench_median))"
echo "raw seconds: ceiling $(tr '\n' ' ' <"$bench/ceiling.s"); plugin $(tr '\n' ' ' <"$bench/plugin.s"); under claims $(tr '\n' ' ' <"$bench/loaded.s"); throttle pauses under claims $(tr '\n' ' ' <"$bench/pauses")"
echo "plugin phases (medians): archive incl. proof $(bench_median <"$bench/archive.ms") ms, purge $(bench_median <"$bench/purge.ms") ms; worker peak RSS (VmHWM) $(bench_median <"$bench/rss.kb") kB"
echo "claim p99 (4 clients, queue_claim_next + ROLLBACK): idle $idle ms, during archive/purge $busy ms ($(echo "$busy $idle" | awk '{ printf "%.2f", $1 / $2 }')x)"
