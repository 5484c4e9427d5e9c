#!/bin/sh
# bench-deprecation.sh - the legacy_deprecation plugin's archive and purge
# of ROWS call_queue rows of the two retired queue types, half of them
# (SHAPE half) or one in twenty (SHAPE few) referenced by call_sessions
# (so kept), against one INSERT ... SELECT
# into an archive table plus one DELETE of the unreferenced rows, in one
# transaction (the ceiling).  Same run, same durable throwaway cluster;
# each repetition starts from copies of one template database (the
# retirement in monitoring, monitoring_period 0s, so the next run
# archives): the ceiling and the plugin (and the plugin with ALT_OPTIONS,
# when given), in an order that alternates between repetitions, each
# with nothing else running, for the ratio; then the plugin again on
# another copy while 4 clients claim on the separated queues
# (queue_claim_next() then ROLLBACK), for the claim latency against the
# same load when idle.  Also the worker's peak RSS, the plugin's phases
# and its throttle pauses.
#
# Each timed part starts alike: its database copied with STRATEGY
# FILE_COPY (no WAL for the copies, whose 400 MB each would otherwise
# start checkpoints and full-page writes inside the timed parts), a
# CHECKPOINT just before (no dirty buffers or checkpoint left by the part
# before), and the database of the part before dropped (no autovacuum of
# its leftovers running meanwhile).  Each part is timed twice: to the end
# of its work, and to the end of a VACUUM (ANALYZE) of call_queue and of
# its archive table after it, the cleanup both leave (the ceiling's
# autovacuum comes after its timing; the plugin's longer run has
# autovacuum do part of the same work inside it).
#
#   scripts/bench-deprecation.sh [REPS [ROWS [SHAPE [OPTIONS [ALT_OPTIONS]]]]]
#   (default 3 reps, 1000000 rows, half, no options: the plugin's defaults)
#
# OPTIONS is added to the job's options { } block, for example
# 'batch_size = 20000'; ALT_OPTIONS, when given, times the plugin with
# those options instead, interleaved in the same repetitions.  With
# ALT_PLUGIN_DIR set (the plugins/.libs of another build, an earlier
# commit's for example), that second configuration loads the plugin from
# there, with ALT_OPTIONS (possibly none).
set -eu
. "$(dirname "$0")/bench-lib.sh"
reps=${1:-3}
rows=${2:-1000000}
shape=${3:-half}
options=${4:-}
alt=${5:-}
alt_dir=${ALT_PLUGIN_DIR:-}
if [ -n "$alt" ] || [ -n "$alt_dir" ]; then has_alt=yes; else has_alt=; fi
alt_name="${alt:-the same options}${alt_dir:+ (plugin from $alt_dir)}"
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

# conf_for DB [OPTIONS [PLUGIN_DIR]]: the jobs.conf of DB, the plugin
# with OPTIONS (default: the script's) from PLUGIN_DIR (default: this
# build's).
conf_for() {
	opts=${2-$options}
	cat >"$bench/$1.conf" <<CONF
database   = "host='$PGHOST' port=$PGPORT dbname=$1 user=postgres"
plugin_dir = "${3:-$build/plugins/.libs}"
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
	options { monitoring_period = "0s" $opts }
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

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench-deprecation: generating $rows rows" >&2
template
n=$(psql -d tpl -At -c "SELECT count(*) FROM call_queue WHERE queue_type \
    IN ('unsigned_users', 'outstanding_requests')")
kept=$(psql -d tpl -At -c "SELECT count(*) FROM call_queue AS c WHERE \
    queue_type IN ('unsigned_users', 'outstanding_requests') AND EXISTS \
    (SELECT 1 FROM call_sessions AS s WHERE s.call_queue_id = c.id)")
ceiling_sql >"$bench/ceiling.sql"
archive=qsched_legacy.call_queue_archive
for f in ceiling.s plugin.s alt.s ceiling.vs plugin.vs alt.vs ceiling.cpu \
    plugin.cpu alt.cpu loaded.s \
    archive.ms purge.ms rss.kb idle.p99 busy.p99 pauses idle.pauses; do
	: >"$bench/$f"
done

# CPU seconds the server has used so far: the postmaster's children,
# live and reaped.  On a shared machine the wall times vary with the
# others' load; the CPU each part costs varies much less.  Read a second
# after the part, when its backends have been reaped.
cpu_s() {
	sleep 1
	pm=$(head -n 1 "$bench/data/postmaster.pid")
	{ cat "/proc/$pm/stat"; for c in $(cat /proc/"$pm"/task/*/children); do
		cat "/proc/$c/stat" 2>/dev/null || true; done; } |
	    sed 's/^.*) //' | awk -v hz="$(getconf CLK_TCK)" \
	    '{ t += $12 + $13 + $14 + $15 } END { printf "%.2f\n", t / hz }'
}

# The ceiling on database b, timed into ceiling.s.
time_ceiling() {
	psql -d postgres -c "CHECKPOINT"
	u0=$(cpu_s)
	t0=$(now); psql -d b -f "$bench/ceiling.sql"; t1=$(now)
	psql -d b -c "VACUUM (ANALYZE) call_queue, bench_archive"; t2=$(now)
	elapsed "$u0" "$(cpu_s)" >>"$bench/ceiling.cpu"
	elapsed "$t0" "$t1" >>"$bench/ceiling.s"
	elapsed "$t0" "$t2" >>"$bench/ceiling.vs"
	psql -d postgres -c "DROP DATABASE b"
	echo "bench-deprecation: rep $i: ceiling $(tail -n 1 "$bench/ceiling.s") s" >&2
}

# time_plugin DB FILE: the archive run and the purge run on DB, timed
# into FILE; the phases and the peak RSS of the plugin.s ones kept.
time_plugin() {
	psql -d postgres -c "CHECKPOINT"
	u0=$(cpu_s)
	t0=$(now)
	run "$1" legacy-deprecation
	run "$1" legacy-deprecation
	t1=$(now)
	psql -d "$1" -c "VACUUM (ANALYZE) call_queue, $archive"; t2=$(now)
	elapsed "$u0" "$(cpu_s)" >>"$bench/${2%.s}.cpu"
	elapsed "$t0" "$t1" >>"$bench/$2"
	elapsed "$t0" "$t2" >>"$bench/${2%.s}.vs"
	[ "$(state "$1")" = purged,purged ] ||
	    { echo "bench-deprecation: not purged: $(state "$1")" >&2; exit 1; }
	if [ "$2" = plugin.s ]; then
		psql -d "$1" -At -c "SELECT sum((metrics->>'archive_ms_unsigned_users')::bigint \
		    + (metrics->>'archive_ms_outstanding_requests')::bigint) FROM \
		    qsched.runs WHERE job = 'legacy-deprecation' AND metrics ? \
		    'archive_ms_unsigned_users'" >>"$bench/archive.ms"
		psql -d "$1" -At -c "SELECT sum((metrics->>'purge_ms_unsigned_users')::bigint \
		    + (metrics->>'purge_ms_outstanding_requests')::bigint) FROM \
		    qsched.runs WHERE job = 'legacy-deprecation' AND metrics ? \
		    'purge_ms_unsigned_users'" >>"$bench/purge.ms"
		psql -d "$1" -At -c "SELECT max((metrics->>'worker_peak_rss_kb')::bigint) \
		    FROM qsched.runs WHERE job = 'legacy-deprecation'" >>"$bench/rss.kb"
		psql -d "$1" -At -c "SELECT sum((metrics->>'throttle_pauses')::bigint) \
		    || '/' || sum((metrics->>'throttled_ms')::bigint) FROM \
		    qsched.runs WHERE job = 'legacy-deprecation' AND metrics ? \
		    'throttled_ms'" >>"$bench/idle.pauses"
	fi
	psql -d postgres -c "DROP DATABASE $1"
	echo "bench-deprecation: rep $i: plugin on $1 $(tail -n 1 "$bench/$2") s" >&2
}

for i in $(seq "$reps"); do
	for d in b p q ${has_alt:+r}; do
		psql -d postgres -c "CREATE DATABASE $d TEMPLATE tpl STRATEGY FILE_COPY"
	done
	conf_for p
	conf_for q
	[ -z "$has_alt" ] || conf_for r "$alt" "$alt_dir"
	if [ $((i % 2)) -eq 1 ]; then
		time_ceiling
		time_plugin p plugin.s
		[ -z "$has_alt" ] || time_plugin r alt.s
	else
		[ -z "$has_alt" ] || time_plugin r alt.s
		time_plugin p plugin.s
		time_ceiling
	fi

	psql -d postgres -c "CHECKPOINT"
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
	psql -d postgres -c "DROP DATABASE q"
done

c_s=$(bench_median <"$bench/ceiling.s")
p_s=$(bench_median <"$bench/plugin.s")
c_rate=$(echo "$n $c_s" | awk '{ printf "%.0f", $1 / $2 }')
p_rate=$(echo "$n $p_s" | awk '{ printf "%.0f", $1 / $2 }')
idle=$(bench_median <"$bench/idle.p99")
busy=$(bench_median <"$bench/busy.p99")

echo
echo "machine: $(bench_machine)"
echo "command: ${alt_dir:+ALT_PLUGIN_DIR=$alt_dir }scripts/bench-deprecation.sh $reps $rows $shape${options:+ '$options'}${alt:+ '$alt'}"
echo "load average before / after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $n call_queue rows of the retired types ($kept referenced by call_sessions, kept); options monitoring_period=0s ${options:-(defaults: batch_size=5000, lock_timeout=2s, throttle=true, canary_latency=100ms, throttle_interval=1s)}"
printf '| method | rows | median wall time | rows/s | vs ceiling |\n|---|---|---|---|---|\n'
printf '| one INSERT ... SELECT + one DELETE, one transaction (ceiling) | %s | %.1f s | %s | 1.00 |\n' \
    "$n" "$c_s" "$c_rate"
printf '| qsched run legacy-deprecation, archive run + purge run | %s | %.1f s | %s | %s |\n' \
    "$n" "$p_s" "$p_rate" "$(echo "$p_rate $c_rate" | awk '{ printf "%.2f", $1 / $2 }')"
if [ -n "$has_alt" ]; then
	a_s=$(bench_median <"$bench/alt.s")
	a_rate=$(echo "$n $a_s" | awk '{ printf "%.0f", $1 / $2 }')
	printf '| the same with %s | %s | %.1f s | %s | %s |\n' "$alt_name" \
	    "$n" "$a_s" "$a_rate" "$(echo "$a_rate $c_rate" | awk '{ printf "%.2f", $1 / $2 }')"
fi
l_s=$(bench_median <"$bench/loaded.s")
l_rate=$(echo "$n $l_s" | awk '{ printf "%.0f", $1 / $2 }')
printf '| the same while 4 clients claim (not a like-for-like ratio) | %s | %.1f s | %s | %s |\n' \
    "$n" "$l_s" "$l_rate" "$(echo "$l_rate $c_rate" | awk '{ printf "%.2f", $1 / $2 }')"
echo
# Per repetition, ceiling and plugin ran back to back: their ratio is
# steadier on a shared machine than the ratio of the medians.
reprat=$(paste "$bench/ceiling.s" "$bench/plugin.s" | awk '{ printf "%.2f\n", $1 / $2 }')
echo "ratio per repetition: $(echo "$reprat" | tr '\n' ' ')(median $(echo "$reprat" | bench_median))"
vrat=$(paste "$bench/ceiling.vs" "$bench/plugin.vs" | awk '{ printf "%.2f\n", $1 / $2 }')
echo "with the closing VACUUM (ANALYZE): ceiling $(bench_median <"$bench/ceiling.vs") s, plugin $(bench_median <"$bench/plugin.vs") s, ratio of the medians $(echo "$(bench_median <"$bench/ceiling.vs") $(bench_median <"$bench/plugin.vs")" | awk '{ printf "%.2f", $1 / $2 }'), per repetition: $(echo "$vrat" | tr '\n' ' ')"
if [ -n "$has_alt" ]; then
	vrat=$(paste "$bench/ceiling.vs" "$bench/alt.vs" | awk '{ printf "%.2f\n", $1 / $2 }')
	echo "with the closing VACUUM (ANALYZE), $alt_name: plugin $(bench_median <"$bench/alt.vs") s, ratio of the medians $(echo "$(bench_median <"$bench/ceiling.vs") $(bench_median <"$bench/alt.vs")" | awk '{ printf "%.2f", $1 / $2 }'), per repetition: $(echo "$vrat" | tr '\n' ' ')"
fi
if [ -n "$has_alt" ]; then
	altrat=$(paste "$bench/ceiling.s" "$bench/alt.s" | awk '{ printf "%.2f\n", $1 / $2 }')
	echo "ratio per repetition with $alt_name: $(echo "$altrat" | tr '\n' ' ')(median $(echo "$altrat" | bench_median))"
fi
crat=$(paste "$bench/ceiling.cpu" "$bench/plugin.cpu" | awk '{ printf "%.2f\n", $1 / $2 }')
echo "server CPU seconds, with the closing VACUUM (medians): ceiling $(bench_median <"$bench/ceiling.cpu"), plugin $(bench_median <"$bench/plugin.cpu")${has_alt:+, with $alt_name $(bench_median <"$bench/alt.cpu")}; ratio per repetition: $(echo "$crat" | tr '\n' ' ')(median $(echo "$crat" | bench_median))"
echo "raw seconds: ceiling $(tr '\n' ' ' <"$bench/ceiling.s") (with VACUUM $(tr '\n' ' ' <"$bench/ceiling.vs")); plugin $(tr '\n' ' ' <"$bench/plugin.s") (with VACUUM $(tr '\n' ' ' <"$bench/plugin.vs"));${has_alt:+ with $alt_name $(tr '\n' ' ' <"$bench/alt.s") (with VACUUM $(tr '\n' ' ' <"$bench/alt.vs"));} under claims $(tr '\n' ' ' <"$bench/loaded.s"); throttle pauses under claims $(tr '\n' ' ' <"$bench/pauses"); throttle pauses/ms of the timed plugin runs $(tr '\n' ' ' <"$bench/idle.pauses")"
echo "plugin phases (medians): archive incl. proof $(bench_median <"$bench/archive.ms") ms, purge $(bench_median <"$bench/purge.ms") ms; worker peak RSS (VmHWM) $(bench_median <"$bench/rss.kb") kB"
echo "claim p99 (4 clients, queue_claim_next + ROLLBACK): idle $idle ms, during archive/purge $busy ms ($(echo "$busy $idle" | awk '{ printf "%.2f", $1 / $2 }')x)"
