#!/bin/sh
# pg_metrics.sh - qsched metrics and the daemon's GET /metrics, checked by
# promtool and by a real Prometheus scraping the daemon (qsched(8),
# METRICS).  Run by tests/with-pg.sh with a throwaway PostgreSQL (PGHOST,
# PGPORT set); skipped (77) without prometheus, promtool, curl or jq.
#
# Cases, in order: metrics_listen refused with file:line; qsched metrics
# (text and OpenMetrics, promtool check metrics, the values it reports);
# --output written atomically and its faults; the database unreachable;
# the live daemon's /metrics (promtool, 404, 405, live values); a
# Prometheus scraping it every second, queried over its HTTP API for a
# job's run counter and a queue gauge, with every dashboard expression
# and the shipped rules loaded; a slow database (last good values with
# their age); a failed reload counted; the per-job totals kept as runs
# settle (qsched.job_totals_live) against the history counted again, after
# runs of every status, and in the exposition (every counter), folded
# (before a fold, after one and two, a run still going holding the mark
# back, a fold racing an open insert, two folds at once, the daemon's
# heartbeat), the histogram's
# bounds, deleted folded history; qsched.lock_key() against the keys
# qsched takes, the fold's lock, schema 4 upgraded to 5; an older schema;
# the shipped rules (promtool check rules and test rules).  The daemon's
# prepared plugin queries: a table that goes and comes back.
set -u

for tool in prometheus promtool curl jq; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "pg_metrics.sh: $tool not found: skipped"
		exit 77
	}
done
: "${QSCHED_BIN:?}" "${QSCHED_SRCDIR:?}" "${QSCHED_PLUGIN_BUILDDIR:?}" "${QSCHED_TEST_PLUGINDIR:?}"

t=$(mktemp -d "${TMPDIR:-/tmp}/metrics.XXXXXX")
daemon=
prom=
cleanup() {
	[ -z "$daemon" ] || { kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
	[ -z "$prom" ] || { kill -TERM "$prom" 2>/dev/null; wait "$prom" 2>/dev/null; }
	[ "${QSCHED_TEST_KEEP:-0}" = 1 ] || rm -rf "$t"
}
trap cleanup EXIT

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@" >"$t/out" 2>&1; then ok "$d"; else fail "$d"; sed 's/^/#   /' "$t/out"; fi
}
# The value of the first sample matching the fixed string PATTERN in FILE.
value() { grep -F "$1" "$2" | grep -v '^#' | head -1 | awk '{ print $NF }'; }

psql_q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d app "$@"; }

# A port nobody listens on, from this process's pid.
free_port() {
	p=$((20000 + ($$ * 7 + $1) % 30000))
	# curl: 7 is "connection refused".
	while curl -s -m 1 -o /dev/null "http://127.0.0.1:$p/"; [ $? -ne 7 ]; do
		p=$((p + 1))
	done
	echo "$p"
}
port=$(free_port 1)
pport=$(free_port 2)
[ "$pport" != "$port" ] || pport=$((port + 1))

# The application's schema and a small population.
psql -X -q -d postgres -c "CREATE DATABASE app" || exit 99
for f in "$QSCHED_SRCDIR/sql/fixtures/legacy_schema.sql" \
    "$QSCHED_SRCDIR"/sql/migrations/*.sql \
    "$QSCHED_SRCDIR/sql/fixtures/generate.sql"; do
	psql_q -f "$f" >/dev/null 2>"$t/err" || { cat "$t/err"; exit 99; }
done
psql_q -c "SELECT count(*) FROM qsched_fixture.generate(500, 1)" >/dev/null || exit 99

conf() { # conf FILE [EXTRA-GLOBAL-LINE]
	cat >"$1" <<EOF
database   = "host=$PGHOST port=$PGPORT dbname=app"
plugin_dir = "$QSCHED_PLUGIN_BUILDDIR"
flags_file = "$t/flags.ini"
${2:-}
job "tick" {
    plugin   = "sql"
    schedule = "* * * * * *"
    options { statement = "select 1" }
}
job "bad" {
    plugin   = "sql"
    schedule = "*/2 * * * * *"
    options { statement = "select 1/0" }
}
job "pop" {
    plugin   = "queue_population"
    schedule = "@manual"
    options { queue = "unsigned_users" }
}
EOF
}
: >"$t/flags.ini"
conf "$t/jobs.conf" "metrics_listen = \"$port\""

# metrics_listen: bad values are refused with file:line.
for bad in 99999 "127.0.0.1:" ":80" "::1:80" "[::1]" "host:x"; do
	conf "$t/bad.conf" "metrics_listen = \"$bad\""
	"$QSCHED_BIN" -c "$t/bad.conf" check >"$t/out" 2>&1
	rc=$?
	if [ $rc -eq 2 ] && grep -q "bad.conf:4: metrics_listen: " "$t/out"; then
		ok "metrics_listen \"$bad\" refused"
	else
		fail "metrics_listen \"$bad\" refused (rc $rc)"
		sed 's/^/#   /' "$t/out"
	fi
done

"$QSCHED_BIN" -c "$t/jobs.conf" run tick 2>/dev/null
"$QSCHED_BIN" -c "$t/jobs.conf" run tick 2>/dev/null
"$QSCHED_BIN" -c "$t/jobs.conf" run bad 2>/dev/null
"$QSCHED_BIN" -c "$t/jobs.conf" run pop 2>/dev/null
pending=$(psql_q -c "SELECT count(*) FROM unsigned_users_queue WHERE status = 'pending'")

# qsched metrics: the text format, accepted by promtool.
check "qsched metrics exits 0" "$QSCHED_BIN" -c "$t/jobs.conf" metrics
cp "$t/out" "$t/m.txt"
check "promtool check metrics accepts qsched metrics" sh -c "promtool check metrics <'$t/m.txt'"
[ "$(value 'qsched_job_runs_total{job="tick",status="succeeded"}' "$t/m.txt")" = 2 ] &&
    ok "runs_total of tick: 2 succeeded" || fail "runs_total of tick: 2 succeeded"
[ "$(value 'qsched_job_runs_total{job="bad",status="failed"}' "$t/m.txt")" = 1 ] &&
    ok "runs_total of bad: 1 failed" || fail "runs_total of bad: 1 failed"
[ "$(value 'qsched_job_consecutive_failures{job="bad"}' "$t/m.txt")" = 1 ] &&
    ok "bad: 1 failure in a row" || fail "bad: 1 failure in a row"
[ "$(value 'qsched_job_duration_seconds_count{job="tick"}' "$t/m.txt")" = 2 ] &&
    ok "duration histogram counts 2 runs of tick" || fail "duration histogram counts 2 runs of tick"
[ "$(value 'qsched_job_schedule_interval_seconds{job="bad"}' "$t/m.txt")" = 2 ] &&
    ok "schedule interval of bad: 2 s" || fail "schedule interval of bad: 2 s"
[ -n "$pending" ] && [ "$pending" -gt 0 ] &&
    [ "$(value 'qsched_queue_entries{queue="unsigned_users",status="pending"}' "$t/m.txt")" = "$pending" ] &&
    ok "queue gauge: $pending pending entries" || fail "queue gauge: $pending pending entries"
[ "$(value 'qsched_metrics_source_up{metric="qsched_queue_recent_claims"}' "$t/m.txt")" = 1 ] &&
    ok "the plugin's SQL metrics read" || fail "the plugin's SQL metrics read"
grep -q '^qsched_population_skipped_concurrent_total{job="pop"} 0$' "$t/m.txt" &&
    ok "the plugin's RUN_SUM counter" || fail "the plugin's RUN_SUM counter"
grep -q 'qsched_job_next_fire' "$t/m.txt" &&
    fail "no daemon values from qsched metrics" || ok "no daemon values from qsched metrics"

# A plugin query that fails costs its family only.
psql_q -c "ALTER TABLE outstanding_requests_queue RENAME TO orq_away"
"$QSCHED_BIN" -c "$t/jobs.conf" metrics >"$t/m2.txt" 2>/dev/null
rc=$?
psql_q -c "ALTER TABLE orq_away RENAME TO outstanding_requests_queue"
[ $rc -eq 0 ] && [ "$(value 'qsched_metrics_source_up{metric="qsched_queue_entries"}' "$t/m2.txt")" = 0 ] &&
    [ "$(value 'qsched_job_runs_total{job="tick",status="succeeded"}' "$t/m2.txt")" = 2 ] &&
    ok "a failing plugin query: source_up 0, the rest served" ||
    fail "a failing plugin query: source_up 0, the rest served"

# OpenMetrics.
"$QSCHED_BIN" -c "$t/jobs.conf" metrics --format openmetrics >"$t/om.txt" 2>/dev/null
[ "$(tail -1 "$t/om.txt")" = "# EOF" ] && grep -q '^# TYPE qsched_job_runs counter$' "$t/om.txt" &&
    grep -q '^qsched_job_runs_total{job="tick",status="succeeded"} 2$' "$t/om.txt" &&
    ok "--format openmetrics: counter family without _total, # EOF" ||
    fail "--format openmetrics: counter family without _total, # EOF"
"$QSCHED_BIN" -c "$t/jobs.conf" metrics --format xml >"$t/out" 2>&1
[ $? -eq 2 ] && grep -q -- '--format: "xml"' "$t/out" && ok "--format xml refused" || fail "--format xml refused"

# --output: written whole, nothing left beside it; faults name the file.
mkdir "$t/textfile"
check "--output FILE" "$QSCHED_BIN" -c "$t/jobs.conf" metrics --output "$t/textfile/qsched.prom"
[ "$(ls "$t/textfile")" = qsched.prom ] && [ "$(stat -c %a "$t/textfile/qsched.prom")" = 644 ] &&
    [ "$(grep -c '^qsched_job_runs_total' "$t/textfile/qsched.prom")" = 24 ] &&
    tail -1 "$t/textfile/qsched.prom" | grep -q '^qsched_metrics_db_refresh_seconds ' &&
    ok "--output: one file, mode 644, all of it" || fail "--output: one file, mode 644, all of it"
"$QSCHED_BIN" -c "$t/jobs.conf" metrics --output "$t/nodir/qsched.prom" >"$t/out" 2>&1
[ $? -eq 1 ] && grep -q "nodir/qsched.prom: No such file" "$t/out" &&
    ok "--output into a missing directory: exit 1, named" || fail "--output into a missing directory: exit 1, named"

# The database unreachable: exit 3.
sed "s/port=$PGPORT/port=1/" "$t/jobs.conf" >"$t/down.conf"
"$QSCHED_BIN" -c "$t/down.conf" metrics >"$t/out" 2>&1
[ $? -eq 3 ] && grep -q "database unreachable" "$t/out" && ok "database unreachable: exit 3" ||
    fail "database unreachable: exit 3"

# The daemon.
"$QSCHED_BIN" -c "$t/jobs.conf" daemon 2>"$t/daemon.log" &
daemon=$!
i=0
until grep -q "daemon started" "$t/daemon.log" || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "metrics: serving http://127.0.0.1:$port/metrics" "$t/daemon.log" &&
    ok "daemon serves on 127.0.0.1 (port only: loopback)" || { fail "daemon serves on 127.0.0.1"; cat "$t/daemon.log"; }
sleep 2
url="http://127.0.0.1:$port/metrics"
check "GET /metrics" curl -sf -o "$t/d.txt" "$url"
check "promtool check metrics accepts the daemon's /metrics" sh -c "promtool check metrics <'$t/d.txt'"
[ "$(value 'qsched_daemon_up' "$t/d.txt")" = 1 ] && [ -n "$(value 'qsched_job_next_fire_timestamp_seconds{job="tick"}' "$t/d.txt")" ] &&
    [ "$(value 'qsched_daemon_database_connected' "$t/d.txt")" = 1 ] &&
    ok "the daemon's live values" || fail "the daemon's live values"
grep -q "^qsched_daemon_heartbeat_age_seconds{host=\"[^\"]*\",pid=\"$daemon\",kind=\"daemon\"} " "$t/d.txt" &&
    grep -q "^qsched_daemon_heartbeat_lease_seconds{host=\"[^\"]*\",pid=\"$daemon\",kind=\"daemon\"} " "$t/d.txt" &&
    ok "the daemon's own heartbeat, from qsched.daemons" ||
    { fail "the daemon's own heartbeat, from qsched.daemons"; grep heartbeat "$t/d.txt"; }
[ "$(value 'qsched_job_runs_total{job="tick",status="succeeded"}' "$t/d.txt")" -gt 2 ] &&
    ok "the daemon's runs counted" || fail "the daemon's runs counted"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/other")" = 404 ] &&
    ok "GET /other: 404" || fail "GET /other: 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")" = 405 ] &&
    ok "POST /metrics: 405" || fail "POST /metrics: 405"
curl -sf -H 'Accept: application/openmetrics-text; version=1.0.0' -D "$t/hdr" -o "$t/dom.txt" "$url"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$t/hdr" && [ "$(tail -1 "$t/dom.txt")" = "# EOF" ] &&
    ok "Accept: openmetrics gets OpenMetrics" || fail "Accept: openmetrics gets OpenMetrics"

# The daemon prepares its statements once per connection: a plugin query
# prepared while its table existed fails on its own once the table is
# gone (source_up 0, the rest served), and reads again once it is back.
psql_q -c "ALTER TABLE outstanding_requests_queue RENAME TO orq_away"
curl -sf -o "$t/gone.txt" "$url"
psql_q -c "ALTER TABLE orq_away RENAME TO outstanding_requests_queue"
curl -sf -o "$t/back.txt" "$url"
[ "$(value 'qsched_metrics_source_up{metric="qsched_queue_entries"}' "$t/gone.txt")" = 0 ] &&
    [ "$(value 'qsched_metrics_db_up' "$t/gone.txt")" = 1 ] &&
    [ -n "$(value 'qsched_job_runs_total{job="tick",status="succeeded"}' "$t/gone.txt")" ] &&
    [ "$(value 'qsched_metrics_source_up{metric="qsched_queue_entries"}' "$t/back.txt")" = 1 ] &&
    [ "$(value 'qsched_queue_entries{queue="unsigned_users",status="pending"}' "$t/back.txt")" = "$pending" ] &&
    ok "daemon: a prepared plugin query whose table goes: source_up 0, then 1 once it is back" ||
    fail "daemon: a prepared plugin query whose table goes and comes back"

# A real Prometheus scraping the daemon every second, with the shipped rules.
cat >"$t/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $QSCHED_SRCDIR/monitoring/qsched-alerts.yml
scrape_configs:
  - job_name: qsched
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
prometheus --config.file="$t/prometheus.yml" --storage.tsdb.path="$t/tsdb" \
    --web.listen-address="127.0.0.1:$pport" >"$t/prometheus.log" 2>&1 &
prom=$!
api="http://127.0.0.1:$pport/api/v1"
query() { curl -s --data-urlencode "query=$1" "$api/query"; }
got=
i=0
while [ $i -lt 60 ]; do
	got=$(query 'qsched_job_runs_total{job="tick",status="succeeded"}' 2>/dev/null |
	    jq -r '.data.result[0].value[1] // empty' 2>/dev/null)
	[ -n "$got" ] && break
	sleep 0.5
	i=$((i + 1))
done
[ -n "$got" ] && [ "$got" -gt 2 ] && ok "prometheus: tick's run counter is $got" ||
    { fail "prometheus: tick's run counter"; tail -5 "$t/prometheus.log"; }
got=$(query 'qsched_queue_entries{queue="unsigned_users",status="pending"}' | jq -r '.data.result[0].value[1] // empty')
[ "$got" = "$pending" ] && ok "prometheus: queue gauge $got pending" || fail "prometheus: queue gauge ($got, expected $pending)"
health=$(curl -s "$api/targets" | jq -r '.data.activeTargets[0] | .health + " " + .lastError')
[ "$health" = "up " ] && ok "prometheus: target up, no scrape error" || fail "prometheus: target health \"$health\""
nrules=$(curl -s "$api/rules" | jq '[.data.groups[].rules[]] | length')
[ "$nrules" = 7 ] && ok "prometheus: the 7 shipped rules loaded" || fail "prometheus: rules loaded ($nrules)"
bad=0
jq -r '.panels[].targets[].expr' "$QSCHED_SRCDIR/monitoring/qsched-dashboard.json" |
    sed 's/\$job/.*/g; s/\$__rate_interval/1m/g' >"$t/exprs"
while IFS= read -r e; do
	[ "$(query "$e" | jq -r .status)" = success ] || { bad=$((bad + 1)); echo "#   dashboard: $e"; }
done <"$t/exprs"
[ $bad -eq 0 ] && [ -s "$t/exprs" ] && ok "prometheus: every dashboard expression evaluates" ||
    fail "prometheus: $bad dashboard expressions fail"
# Every metric a dashboard expression names is one qsched exposes: the
# daemon's, and those of the plugins this daemon does not run (the
# backfill's and the legacy archive's throttle counters), from qsched
# metrics with a job of each; a name that is misspelt would evaluate to
# nothing above, silently.
cat >"$t/plugins.conf" <<EOF
database   = "host=$PGHOST port=$PGPORT dbname=app"
plugin_dir = "$QSCHED_PLUGIN_BUILDDIR"
flags_file = "$t/flags.ini"
job "legacy-backfill"    { plugin = "legacy_backfill"     schedule = "@manual" }
job "legacy-deprecation" { plugin = "legacy_deprecation"  schedule = "@manual" }
EOF
"$QSCHED_BIN" -c "$t/plugins.conf" metrics >"$t/plugins.txt" 2>"$t/out"
grep -oh 'qsched_[a-z_]*' "$t/exprs" | sort -u >"$t/names"
missing=
while IFS= read -r m; do
	grep -q "^# TYPE $m " "$t/d.txt" "$t/plugins.txt" ||
	    grep -q "^# TYPE ${m%_bucket} histogram" "$t/d.txt" || missing="$missing $m"
done <"$t/names"
[ -z "$missing" ] && [ "$(wc -l <"$t/names")" -gt 10 ] &&
    ok "every metric the dashboard names is exposed ($(wc -l <"$t/names") names)" ||
    { fail "metrics the dashboard names that qsched does not expose:$missing"; sed 's/^/#   /' "$t/out"; }
thr=$(jq -r '.panels[] | select(.title | test("^Throttled")) | .targets[].expr' \
    "$QSCHED_SRCDIR/monitoring/qsched-dashboard.json")
for m in qsched_backfill_throttled_ms_total qsched_backfill_throttle_pauses_total \
    qsched_legacy_throttled_ms_total qsched_legacy_throttle_pauses_total qsched_job_throttled; do
	printf '%s\n' "$thr" | grep -q "($m{" || { missing="$missing $m"; }
done
[ -z "$missing" ] && ok "the throttled-time panel reads the backfill's and the archive's throttle counters" ||
    fail "the throttled-time panel lacks:$missing"

# A slow database: the last good values, with their age, in bounded time.
psql_q -c "BEGIN; LOCK TABLE qsched.runs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT" >/dev/null &
locker=$!
sleep 0.5
t0=$(date +%s%N)
curl -sf -o "$t/slow.txt" "$url"
ms=$((($(date +%s%N) - t0) / 1000000))
wait $locker
[ "$(value 'qsched_metrics_db_up' "$t/slow.txt")" = 0 ] &&
    [ -n "$(value 'qsched_job_runs_total{job="tick",status="succeeded"}' "$t/slow.txt")" ] &&
    [ -n "$(value 'qsched_metrics_db_age_seconds' "$t/slow.txt")" ] && [ "$ms" -lt 4000 ] &&
    ok "slow database: last good values and their age, in $ms ms" ||
    { fail "slow database ($ms ms)"; grep 'db_\|tick",status="succ' "$t/slow.txt"; }
sleep 1
curl -sf -o "$t/after.txt" "$url"
[ "$(value 'qsched_metrics_db_up' "$t/after.txt")" = 1 ] && ok "database back: db_up 1" || fail "database back: db_up 1"

# A server that does not answer at all (its backend stopped): given up
# after the scrape's wait, then a new connection.
bpid=$(psql_q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'qsched/metrics'")
if [ -n "$bpid" ] && kill -STOP "$bpid" 2>/dev/null; then
	t0=$(date +%s%N)
	curl -sf -m 20 -o "$t/stopped.txt" "$url"
	ms=$((($(date +%s%N) - t0) / 1000000))
	kill -CONT "$bpid"
	[ "$(value 'qsched_metrics_db_up' "$t/stopped.txt")" = 0 ] && [ "$ms" -lt 6000 ] &&
	    ok "a backend that does not answer: given up in $ms ms" ||
	    fail "a backend that does not answer ($ms ms)"
	curl -sf -o "$t/again.txt" "$url"
	[ "$(value 'qsched_metrics_db_up' "$t/again.txt")" = 1 ] &&
	    ok "then a new connection: db_up 1" || fail "then a new connection: db_up 1"
else
	fail "the metrics connection's backend (\"$bpid\") found and stopped"
fi

# Reloads: one failed, one ok.
cp "$t/jobs.conf" "$t/jobs.good"
echo "oops" >>"$t/jobs.conf"
kill -HUP "$daemon"
sleep 1
cp "$t/jobs.good" "$t/jobs.conf"
kill -HUP "$daemon"
sleep 1
curl -sf -o "$t/r.txt" "$url"
[ "$(value 'qsched_daemon_config_reloads_total{result="failed"}' "$t/r.txt")" = 1 ] &&
    [ "$(value 'qsched_daemon_config_reloads_total{result="ok"}' "$t/r.txt")" = 1 ] &&
    ok "reloads counted: 1 ok, 1 failed" || fail "reloads counted"

kill -TERM "$daemon"
wait "$daemon"
rc=$?
daemon=
[ $rc -eq 0 ] && ok "daemon stops cleanly" || fail "daemon stops cleanly (rc $rc)"
curl -s -o /dev/null "$url" && fail "port closed after stop" || ok "port closed after stop"

# The per-job totals (qsched.job_totals_live, core schema 4) equal the history counted again, after runs of every status
# through qsched itself: retries, a timeout, a crash, a dependency not
# met, a dry run, and a run whose qsched was killed (abandoned).
cat >"$t/all.conf" <<EOF
database   = "host=$PGHOST port=$PGPORT dbname=app"
plugin_dir = "$QSCHED_TEST_PLUGINDIR"
flags_file = "$t/flags.ini"
job "t-ok"     { plugin = "result"  schedule = "@manual"  options { rows = 7 } }
job "t-fail"   { plugin = "result"  schedule = "@manual"  options { result = "fail" } }
job "t-retry"  { plugin = "result"  schedule = "@manual"  retries = 2  retry_delay = "10ms"
                 options { result = "retry" } }
job "t-cancel" { plugin = "result"  schedule = "@manual"  options { result = "cancelled" } }
job "t-skip"   { plugin = "result"  schedule = "@manual"  options { result = "skip" } }
job "t-crash"  { plugin = "crash"   schedule = "@manual" }
job "t-hang"   { plugin = "hang"    schedule = "@manual"  timeout = "500ms" }
job "t-held"   { plugin = "hang"    schedule = "@manual" }
job "t-block"  { plugin = "result"  schedule = "@manual"  depends_on = {"t-fail"} }
EOF
for j in t-ok t-ok t-fail t-retry t-cancel t-skip t-crash t-hang t-block t-fail t-ok; do
	"$QSCHED_BIN" -c "$t/all.conf" run "$j" >/dev/null 2>&1
done
"$QSCHED_BIN" -c "$t/all.conf" run t-ok --dry-run >/dev/null 2>&1
"$QSCHED_BIN" -c "$t/all.conf" run t-held >/dev/null 2>&1 &
held=$!
i=0
until [ "$(psql_q -c "SELECT count(*) FROM qsched.runs WHERE job = 't-held' AND status = 'running'")" = 1 ] ||
    [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -KILL "$held"
wait "$held" 2>/dev/null
# The next qsched on this host marks the run of the dead one abandoned.
"$QSCHED_BIN" -c "$t/all.conf" run t-ok >/dev/null 2>&1
psql_q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE application_name LIKE 'qsched/t-held/%'" >/dev/null
statuses=$(psql_q -c "SELECT string_agg(DISTINCT status, ' ' ORDER BY status) FROM qsched.runs
    WHERE job LIKE 't-%'")
[ "$statuses" = "abandoned blocked cancelled crashed failed skipped succeeded timed_out" ] &&
    [ "$(psql_q -c "SELECT count(*) FROM qsched.runs WHERE job = 't-retry' AND trigger = 'retry'")" = 2 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM qsched.runs WHERE dry_run")" -ge 1 ] &&
    ok "runs of every status, retries and a dry run recorded" ||
    fail "runs of every status, retries and a dry run recorded ($statuses)"
# Rows of the totals and of the history counted again that differ.
drift() {
	psql_q -c "SELECT count(*) FROM (
	    (TABLE qsched.job_totals_live EXCEPT SELECT * FROM qsched.job_totals_recount())
	    UNION ALL (SELECT * FROM qsched.job_totals_recount() EXCEPT TABLE qsched.job_totals_live)) x
	    " 2>&1
}
drift_sums() {
	psql_q -c "SELECT count(*) FROM (
	    (TABLE qsched.job_metric_totals_live EXCEPT SELECT * FROM qsched.job_metric_totals_recount())
	    UNION ALL (SELECT * FROM qsched.job_metric_totals_recount()
		EXCEPT TABLE qsched.job_metric_totals_live)) x" 2>&1
}
[ "$(drift)" = 0 ] && [ "$(drift_sums)" = 0 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM qsched.job_totals_live WHERE job LIKE 't-%'")" = 9 ] &&
    [ "$(psql_q -c "SELECT count(*) FROM qsched.job_metric_totals_live WHERE job LIKE 't-%'")" -ge 9 ] &&
    ok "qsched.job_totals_live and job_metric_totals_live equal the history counted again" ||
    { fail "qsched.job_totals_live equal the history counted again (rows differing: $(drift), $(drift_sums))"
      psql_q -c "(TABLE qsched.job_totals_live EXCEPT SELECT * FROM qsched.job_totals_recount())
          UNION ALL (SELECT * FROM qsched.job_totals_recount() EXCEPT TABLE qsched.job_totals_live)" |
	  sed 's/^/#   /'; }
"$QSCHED_BIN" -c "$t/all.conf" metrics >"$t/all.txt" 2>/dev/null
[ "$(value 'qsched_job_runs_total{job="t-retry",status="failed"}' "$t/all.txt")" = 3 ] &&
    [ "$(value 'qsched_job_runs_total{job="t-held",status="abandoned"}' "$t/all.txt")" = 1 ] &&
    [ "$(value 'qsched_job_runs_total{job="t-hang",status="timed_out"}' "$t/all.txt")" = 1 ] &&
    [ "$(value 'qsched_job_runs_total{job="t-crash",status="crashed"}' "$t/all.txt")" = 1 ] &&
    [ "$(value 'qsched_job_runs_total{job="t-ok",status="succeeded"}' "$t/all.txt")" = 4 ] &&
    [ "$(value 'qsched_job_rows_processed_total{job="t-ok"}' "$t/all.txt")" = 28 ] &&
    [ "$(value 'qsched_job_consecutive_failures{job="t-fail"}' "$t/all.txt")" = 2 ] &&
    [ "$(value 'qsched_job_consecutive_failures{job="t-retry"}' "$t/all.txt")" = 3 ] &&
    [ "$(value 'qsched_job_runs_total{job="t-block",status="blocked"}' "$t/all.txt")" = 1 ] &&
    ok "qsched metrics: the totals of every status" ||
    { fail "qsched metrics: the totals of every status"; grep 'job="t-' "$t/all.txt" |
      grep -v 'bucket\|} 0$' | sed 's/^/#   /'; }
# Every job's counters in the exposition, against the history counted again.
psql_q -F ' ' -c "SELECT job, succeeded, failed, timed_out, crashed, skipped, blocked,
    cancelled, abandoned, duration_count, rows_processed, consecutive_failures
    FROM qsched.job_totals_recount() WHERE job LIKE 't-%' ORDER BY job" >"$t/recount"
bad=0
while read -r j su fa to cr sk bl ca ab dc rp cf; do
	for pair in "succeeded $su" "failed $fa" "timed_out $to" "crashed $cr" "skipped $sk" \
	    "blocked $bl" "cancelled $ca" "abandoned $ab"; do
		set -- $pair
		[ "$(value "qsched_job_runs_total{job=\"$j\",status=\"$1\"}" "$t/all.txt")" = "$2" ] ||
		    { bad=$((bad + 1)); echo "#   $j $1: expected $2"; }
	done
	[ "$(value "qsched_job_duration_seconds_count{job=\"$j\"}" "$t/all.txt")" = "$dc" ] &&
	    [ "$(value "qsched_job_rows_processed_total{job=\"$j\"}" "$t/all.txt")" = "$rp" ] &&
	    [ "$(value "qsched_job_consecutive_failures{job=\"$j\"}" "$t/all.txt")" = "$cf" ] ||
	    { bad=$((bad + 1)); echo "#   $j: count, rows or failures in a row"; }
done <"$t/recount"
[ $bad -eq 0 ] && [ "$(wc -l <"$t/recount")" = 9 ] &&
    ok "the exposition says what the history counted again says" ||
    fail "the exposition says what the history counted again says ($bad differ)"

# Folding (qsched.job_totals_fold(), the daemon's heartbeat): the views
# equal the history counted again before a fold, after one, after two,
# with a run still going that holds the mark back while later runs
# finish, and with a fold racing runs that settle.
mark() { psql_q -c "SELECT folded_through FROM qsched.job_totals_mark"; }
maxid() { psql_q -c "SELECT max(id) FROM qsched.runs"; }
# The tables themselves against the history counted up to the mark.
drift_tables() {
	psql_q -c "SELECT count(*) FROM (
	    (TABLE qsched.job_totals EXCEPT SELECT * FROM qsched.job_totals_recount())
	    UNION ALL (SELECT * FROM qsched.job_totals_recount() EXCEPT TABLE qsched.job_totals)) x" 2>&1
}
[ "$(psql_q -c "SELECT qsched.job_totals_fold()")" = "$(maxid)" ] && [ "$(mark)" = "$(maxid)" ] &&
    [ "$(drift)" = 0 ] && [ "$(drift_sums)" = 0 ] && [ "$(drift_tables)" = 0 ] &&
    ok "a fold moves the mark to the last run; tables and views equal the recount" ||
    fail "first fold (mark $(mark), max $(maxid), drift $(drift)/$(drift_sums)/$(drift_tables))"
for j in t-ok t-fail t-skip t-crash t-ok; do
	"$QSCHED_BIN" -c "$t/all.conf" run "$j" >/dev/null 2>&1
done
[ "$(mark)" -lt "$(maxid)" ] && [ "$(drift)" = 0 ] && [ "$(drift_sums)" = 0 ] &&
    [ "$(drift_tables)" != 0 ] &&
    ok "runs settled after a fold are counted live by the views" ||
    fail "runs settled after a fold counted live (drift $(drift)/$(drift_sums))"
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null
[ "$(mark)" = "$(maxid)" ] && [ "$(drift)" = 0 ] && [ "$(drift_sums)" = 0 ] &&
    [ "$(drift_tables)" = 0 ] && ok "a second fold: tables and views equal the recount" ||
    fail "second fold (drift $(drift)/$(drift_sums)/$(drift_tables))"
# A run still going holds the mark back; runs after it finish.
held=$(psql_q -c "INSERT INTO qsched.runs (job, plugin, trigger, status, host, pid,
    qsched_version) VALUES ('t-ok', 'result', 'manual', 'running', 'h', 1, 'test')
    RETURNING id" | head -1)
for j in t-fail t-ok t-cancel; do
	"$QSCHED_BIN" -c "$t/all.conf" run "$j" >/dev/null 2>&1
done
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null
[ "$(mark)" = $((held - 1)) ] && [ "$(drift)" = 0 ] && [ "$(drift_sums)" = 0 ] &&
    ok "a run still going holds the mark; later final runs are counted live" ||
    fail "a run still going holds the mark (mark $(mark), held $held, drift $(drift))"
psql_q -c "UPDATE qsched.runs SET status = 'succeeded', finished_at = clock_timestamp(),
    duration_ms = 5, rows_processed = 3, metrics = '{\"k\": 2}' WHERE id = $held" >/dev/null
d1=$(drift)
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null
[ "$d1" = 0 ] && [ "$(mark)" = "$(maxid)" ] && [ "$(drift)" = 0 ] && [ "$(drift_sums)" = 0 ] &&
    [ "$(drift_tables)" = 0 ] &&
    ok "once it settles, the next fold passes it and counts it once" ||
    fail "the held run settles (drift before fold $d1, after $(drift)/$(drift_tables))"
# A fold racing settles: a run inserted final in a transaction still open
# when a later run commits; the fold must not move the mark past the open
# one (it would never be counted).
psql_q -c "BEGIN" -c "INSERT INTO qsched.runs (job, plugin, trigger, status, finished_at,
    duration_ms, host, pid, qsched_version, metrics) VALUES ('t-ok', 'result', 'manual',
    'succeeded', now(), 7, 'h', 1, 'test', '{\"k\": 1}')" -c "SELECT pg_sleep(1.5)" \
    -c "COMMIT" >/dev/null &
racer=$!
sleep 0.5
"$QSCHED_BIN" -c "$t/all.conf" run t-fail >/dev/null 2>&1
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null
wait "$racer"
d1=$(drift)
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null
[ "$d1" = 0 ] && [ "$(mark)" = "$(maxid)" ] && [ "$(drift)" = 0 ] && [ "$(drift_sums)" = 0 ] &&
    [ "$(drift_tables)" = 0 ] &&
    ok "a fold racing an open insert counts it once, live and then folded" ||
    fail "a fold racing an open insert (drift $d1, then $(drift)/$(drift_sums)/$(drift_tables))"
# Two folders at once: one folds, the other returns the mark.
psql_q -c "INSERT INTO qsched.runs (job, plugin, trigger, status, finished_at, duration_ms,
    host, pid, qsched_version) SELECT 't-ok', 'result', 'manual', 'failed', now(), 1, 'h', 1,
    'test' FROM generate_series(1, 2000)" >/dev/null
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null &
f1=$!
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null
wait "$f1"
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null
[ "$(drift)" = 0 ] && [ "$(drift_tables)" = 0 ] && [ "$(mark)" = "$(maxid)" ] &&
    ok "two folds at once count every run once" ||
    fail "two folds at once (drift $(drift)/$(drift_tables))"
# The daemon folds in its heartbeat (the first one as it connects).
"$QSCHED_BIN" -c "$t/all.conf" run t-ok >/dev/null 2>&1
before=$(mark)
"$QSCHED_BIN" -c "$t/all.conf" daemon 2>"$t/fold.log" &
daemon=$!
i=0
until grep -q "daemon started" "$t/fold.log" || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM "$daemon"
wait "$daemon"
daemon=
[ "$before" -lt "$(maxid)" ] && [ "$(mark)" = "$(maxid)" ] && [ "$(drift_tables)" = 0 ] &&
    ok "the daemon's heartbeat folds" ||
    { fail "the daemon's heartbeat folds (mark $before -> $(mark), max $(maxid))"; sed 's/^/#   /' "$t/fold.log"; }
"$QSCHED_BIN" -c "$t/all.conf" metrics >"$t/all.txt" 2>/dev/null

# The histogram's buckets, at and just past their bounds (qsched(8)).
psql_q -c "INSERT INTO qsched.runs (job, plugin, trigger, status, finished_at,
    duration_ms, host, pid, qsched_version)
    SELECT 't-ok', 'result', 'manual', 'succeeded', now(), d, 'h', 1, 'test'
    FROM unnest('{100, 101, 1000, 60000, 86400000, 86400001}'::bigint[]) AS d" >/dev/null
"$QSCHED_BIN" -c "$t/all.conf" metrics >"$t/h.txt" 2>/dev/null
# Runs added to bucket LE by the insert.
hb() {
	echo $(($(value "qsched_job_duration_seconds_bucket{job=\"t-ok\",le=\"$1\"}" "$t/h.txt") -
	    $(value "qsched_job_duration_seconds_bucket{job=\"t-ok\",le=\"$1\"}" "$t/all.txt")))
}
[ "$(hb 0.1)" = 1 ] && [ "$(hb 1)" = 3 ] && [ "$(hb 5)" = 3 ] && [ "$(hb 60)" = 4 ] &&
    [ "$(hb 21600)" = 4 ] && [ "$(hb 86400)" = 5 ] && [ "$(hb +Inf)" = 6 ] && [ "$(drift)" = 0 ] &&
    ok "histogram buckets: a run at a bound is in it, 1 ms more is not" ||
    { fail "histogram buckets at their bounds"; grep 'bucket{job="t-ok"' "$t/h.txt" | sed 's/^/#   /'; }

# Deleting history leaves the totals: counters never go down.  As
# history_retention does, fold first and delete only runs at or below the
# mark.
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null
"$QSCHED_BIN" -c "$t/all.conf" metrics >"$t/pre.txt" 2>/dev/null
psql_q -c "DELETE FROM qsched.runs WHERE job = 't-fail'
    AND id <= (SELECT folded_through FROM qsched.job_totals_mark)" >/dev/null
"$QSCHED_BIN" -c "$t/all.conf" metrics >"$t/del.txt" 2>/dev/null
pre=$(value 'qsched_job_runs_total{job="t-fail",status="failed"}' "$t/pre.txt")
[ "$pre" -ge 5 ] && [ "$(psql_q -c "SELECT count(*) FROM qsched.runs WHERE job = 't-fail'")" = 0 ] &&
    [ "$(value 'qsched_job_runs_total{job="t-fail",status="failed"}' "$t/del.txt")" = "$pre" ] &&
    ok "deleted folded history stays counted" || fail "deleted folded history stays counted ($pre)"
"$QSCHED_BIN" -c "$t/all.conf" run t-fail >/dev/null 2>&1
psql_q -c "SELECT qsched.job_totals_fold()" >/dev/null
"$QSCHED_BIN" -c "$t/all.conf" metrics >"$t/del.txt" 2>/dev/null
[ "$(value 'qsched_job_runs_total{job="t-fail",status="failed"}' "$t/del.txt")" = $((pre + 1)) ] &&
    [ "$(value 'qsched_job_consecutive_failures{job="t-fail"}' "$t/del.txt")" = \
      "$(psql_q -c "SELECT qsched.job_failures_in_a_row('t-fail')")" ] &&
    ok "after deleted history, a fold adds to the totals" ||
    fail "after deleted history, a fold adds to the totals"

# qsched.lock_key() (core schema 5) is lock.c's key: a job whose lock
# psql holds under qsched.lock_key('job', NAME) is not run (exit 4), for
# a plain name and one with a slash, a space and UTF-8.
cat >"$t/locks.conf" <<EOF
database   = "host=$PGHOST port=$PGPORT dbname=app"
plugin_dir = "$QSCHED_TEST_PLUGINDIR"
flags_file = "$t/flags.ini"
job "l-plain" { plugin = "result"  schedule = "@manual" }
job "l-utf8"  { plugin = "result"  schedule = "@manual"  lock = "Köln/lock 1" }
EOF
# hold_key CLASS NAME SECONDS: psql holds qsched.lock_key(CLASS, NAME) for
# SECONDS in the background ($holder), and is seen holding it.
hold_key() {
	psql_q -c "SELECT pg_advisory_lock(qsched.lock_key('$1', '$2'))" \
	    -c "SELECT pg_sleep($3)" >/dev/null &
	holder=$!
	i=0
	until [ "$(psql_q -c "SELECT count(*) FROM qsched.job_locks
	    WHERE lock_key = qsched.lock_key('$1', '$2') AND granted")" = 1 ] ||
	    [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
}
for l in "l-plain:l-plain" "l-utf8:Köln/lock 1"; do
	j=${l%%:*}
	name=${l#*:}
	hold_key job "$name" 3
	"$QSCHED_BIN" -c "$t/locks.conf" run "$j" >"$t/out" 2>&1
	rc=$?
	wait "$holder"
	"$QSCHED_BIN" -c "$t/locks.conf" run "$j" >/dev/null 2>&1
	rc2=$?
	[ $rc -eq 4 ] && grep -q "lock \"$name\" is held" "$t/out" && [ $rc2 -eq 0 ] &&
	    ok "qsched.lock_key('job', '$name') is the key qsched run takes" ||
	    { fail "qsched.lock_key('job', '$name') is the key qsched run takes (rc $rc, then $rc2)"; sed 's/^/#   /' "$t/out"; }
done
# The fold's lock is qsched.lock_key('qsched', 'job_totals_fold'), the
# key lock.c gives (2752930772147831223): held elsewhere, a fold returns
# the mark without folding; released, it folds.
"$QSCHED_BIN" -c "$t/all.conf" run t-ok >/dev/null 2>&1
m0=$(mark)
hold_key qsched job_totals_fold 2
f1=$(psql_q -c "SELECT qsched.job_totals_fold()")
wait "$holder"
f2=$(psql_q -c "SELECT qsched.job_totals_fold()")
[ "$f1" = "$m0" ] && [ "$m0" -lt "$(maxid)" ] && [ "$f2" = "$(maxid)" ] &&
    [ "$(psql_q -c "SELECT qsched.lock_key('qsched', 'job_totals_fold')")" = 2752930772147831223 ] &&
    ok "the fold's lock is qsched.lock_key('qsched', 'job_totals_fold'): held elsewhere, no fold" ||
    fail "the fold's lock (mark $m0, held: $f1, released: $f2, max $(maxid))"

# A database at schema 4: qsched init applies 5, whose fold takes the
# new key and still folds.
psql -X -q -d postgres -c "CREATE DATABASE v4" || exit 99
{
	echo "BEGIN; CREATE SCHEMA qsched; CREATE TABLE qsched.core_schema (version integer PRIMARY KEY,"
	echo "    name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), qsched_version text NOT NULL);"
	for f in 0001_runs 0002_job_summary 0003_liveness 0004_job_totals; do
		cat "$QSCHED_SRCDIR/sql/core/$f.sql"
		echo "INSERT INTO qsched.core_schema (version, name, qsched_version) VALUES (${f%%_*}, '$f.sql', 'test');"
	done
	echo "COMMIT;"
} >"$t/v4.sql"
psql -X -q -v ON_ERROR_STOP=1 -d v4 -f "$t/v4.sql" >/dev/null 2>"$t/out" || { cat "$t/out"; exit 99; }
sed 's/dbname=app/dbname=v4/' "$t/all.conf" >"$t/v4.conf"
"$QSCHED_BIN" -c "$t/v4.conf" init >"$t/out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "applied 0005_lock_key.sql" "$t/out" && grep -q "version 5" "$t/out" &&
    psql -X -q -t -A -d v4 -c "SELECT prosrc FROM pg_proc WHERE oid = 'qsched.job_totals_fold()'::regprocedure" |
    grep -q "qsched.lock_key('qsched'" &&
    "$QSCHED_BIN" -c "$t/v4.conf" run t-ok >/dev/null 2>&1 &&
    [ "$(psql -X -q -t -A -d v4 -c "SELECT qsched.job_totals_fold() = (SELECT max(id) FROM qsched.runs)")" = t ] &&
    ok "schema 4 to 5: qsched init applies 0005; the fold keys its lock with qsched.lock_key()" ||
    { fail "schema 4 to 5 (rc $rc)"; sed 's/^/#   /' "$t/out"; }

# A schema older than the totals: qsched metrics says what to run.
psql -X -q -d postgres -c "CREATE DATABASE old" || exit 99
psql -X -q -d old -c "CREATE SCHEMA qsched" \
    -c "CREATE TABLE qsched.core_schema (version int)" \
    -c "INSERT INTO qsched.core_schema VALUES (3)" -c "CREATE TABLE qsched.runs ()" \
    -c "CREATE TABLE qsched.daemons ()"
sed 's/dbname=app/dbname=old/' "$t/all.conf" >"$t/old.conf"
"$QSCHED_BIN" -c "$t/old.conf" metrics >"$t/out" 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q 'qsched init. upgrades it' "$t/out" &&
    ok "schema version 3: qsched metrics names qsched init" ||
    { fail "schema version 3: qsched metrics names qsched init (rc $rc)"; sed 's/^/#   /' "$t/out"; }

# The shipped rules.
check "promtool check rules" promtool check rules "$QSCHED_SRCDIR/monitoring/qsched-alerts.yml"
check "promtool test rules" promtool test rules "$QSCHED_SRCDIR/monitoring/qsched-alerts.test.yml"

echo "1..$n"
[ $fails -eq 0 ]
