#!/bin/sh
# bench-claim.sh - claiming the next queue entry with 8 concurrent agents on
# a 1M-entry queue: queue_claim_next() (one statement, FOR UPDATE SKIP
# LOCKED) beside the app's legacy pattern on call_queue (select the first
# pending row of a type, then update it by id), same cluster, same run.
#
#   scripts/bench-claim.sh [SECONDS] [ENTRIES] [REPEATS]
#                          (defaults: 15 s per measurement, 1000000, 3)
#
# For each pattern: claim latency p50/p99 and claims/s from pgbench's
# per-transaction log (median of REPEATS runs), then a run that logs every
# claim to count entries claimed more than once.
#
# CLAIM_BASELINE=NNNN also measures queue_claim_next() as migration NNNN
# defined it (0009: the wait that kept locks), taking turns with the
# current definition on the same data: the function is replaced before
# each run, so both see the same queue.
set -eu
. "$(dirname "$0")/bench-lib.sh"
secs=${1:-15}
entries=${2:-1000000}
repeats=${3:-3}
bench_setup
psql() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "loading the legacy schema, migrating, $entries entries per table..." >&2
psql -f "$top/sql/fixtures/legacy_schema.sql"
conf="$bench/bench.conf"
cat >"$conf" <<CONF
database   = "host='$PGHOST' port=$PGPORT dbname=bench user=postgres"
plugin_dir = "$build/plugins/.libs"
flags_file = ""
job "schema-migrate" {
	plugin = "schema_migrate"
	schedule = "@manual"
	options { dir = "$top/sql/migrations" }
}
CONF
"$qsched" -q -c "$conf" run schema-migrate
psql <<SQL
INSERT INTO agents (id, email, password_hash, first_name, last_name,
    updated_at)
SELECT g, 'agent' || g || '@bench', '', 'A', 'B', now()
FROM generate_series(1, 8) g;
INSERT INTO user_call_scores (id, user_id, current_score,
    current_queue_type, created_at, updated_at)
SELECT gen_random_uuid(), g, g % 50, 'unsigned_users',
    now() AT TIME ZONE 'UTC' - interval '1 day', now() AT TIME ZONE 'UTC'
FROM generate_series(1, $entries) g;
-- The separated queue: one pending entry per user, in position order.
INSERT INTO unsigned_users_queue (user_id, priority_score, queue_position,
    available_from)
SELECT g, g % 50, g, now() AT TIME ZONE 'UTC' - interval '1 hour'
FROM generate_series(1, $entries) g;
-- The legacy queue: the same entries as call_queue rows.
INSERT INTO call_queue (id, user_id, queue_type, priority_score,
    queue_position, status, available_from, created_at, updated_at)
SELECT gen_random_uuid(), g, 'unsigned_users', g % 50, g, 'pending',
    now() AT TIME ZONE 'UTC' - interval '1 hour',
    now() AT TIME ZONE 'UTC' - interval '1 day' + g * interval '1 ms',
    now() AT TIME ZONE 'UTC'
FROM generate_series(1, $entries) g;
CREATE TABLE claim_log (entry uuid, agent int);
VACUUM ANALYZE;
SQL

cat >"$bench/new.sql" <<'SQL'
SELECT id FROM queue_claim_next('unsigned_users', :client_id + 1);
SQL
# What the app does today: read the first pending row, then update it by
# id, with no status guard.
cat >"$bench/legacy.sql" <<'SQL'
SELECT id AS entry FROM call_queue WHERE queue_type = 'unsigned_users' AND status = 'pending' ORDER BY priority_score, created_at LIMIT 1 \gset
UPDATE call_queue SET status = 'assigned', assigned_to_agent_id = :client_id + 1, assigned_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC' WHERE id = ':entry';
SQL
cat >"$bench/new-logged.sql" <<'SQL'
INSERT INTO claim_log SELECT id, :client_id + 1 FROM queue_claim_next('unsigned_users', :client_id + 1);
SQL
cat >"$bench/legacy-logged.sql" <<'SQL'
SELECT id AS entry FROM call_queue WHERE queue_type = 'unsigned_users' AND status = 'pending' ORDER BY priority_score, created_at LIMIT 1 \gset
UPDATE call_queue SET status = 'assigned', assigned_to_agent_id = :client_id + 1, assigned_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC' WHERE id = ':entry';
INSERT INTO claim_log VALUES (':entry', :client_id + 1);
SQL

# One pgbench run of SCRIPT: prints "p50_ms p99_ms claims_per_s".
measure() {
	rm -rf "$bench/log" && mkdir "$bench/log"
	(cd "$bench/log" && "$PG_BINDIR/pgbench" -n -c 8 -j 2 -T "$secs" \
	    -f "$bench/$1" -l bench) >"$bench/pgbench.out" 2>&1
	tps=$(awk '/^tps/ { print $3; exit }' "$bench/pgbench.out")
	cat "$bench/log"/* | awk '{ print $3 / 1000 }' | sort -g >"$bench/lat"
	n=$(wc -l <"$bench/lat")
	p50=$(sed -n "$(( (n + 1) / 2 ))p" "$bench/lat")
	p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$bench/lat")
	echo "$p50 $p99 $tps"
}

# Median of field F over the REPEATS lines of file.
med() { awk -v f="$2" '{ print $f }' "$1" | bench_median; }

# The claim function as a migration file defines it.
claim_function() {
	sed -n '/^CREATE OR REPLACE FUNCTION queue_claim_next/,/^\$\$;/p' \
	    "$top"/sql/migrations/"$1"_*.sql
}
current=$(ls "$top"/sql/migrations/*.sql | xargs grep -l \
    '^CREATE OR REPLACE FUNCTION queue_claim_next' | tail -1)
current=$(basename "$current" | cut -d_ -f1)
patterns="new legacy"
if [ -n "${CLAIM_BASELINE:-}" ]; then
	claim_function "$CLAIM_BASELINE" >"$bench/baseline-fn.sql"
	claim_function "$current" >"$bench/current-fn.sql"
	[ -s "$bench/baseline-fn.sql" ] || {
		echo "bench-claim.sh: no queue_claim_next in migration" \
		    "$CLAIM_BASELINE" >&2; exit 2; }
	cp "$bench/new.sql" "$bench/baseline.sql"
	patterns="new baseline legacy"
fi
for pattern in $patterns; do
	: >"$bench/$pattern.runs"
done
i=0
while [ $i -lt "$repeats" ]; do
	for pattern in $patterns; do
		case $pattern in
		new)	  [ -z "${CLAIM_BASELINE:-}" ] ||
			    psql -f "$bench/current-fn.sql" ;;
		baseline) psql -f "$bench/baseline-fn.sql" ;;
		esac
		echo "$pattern: run $((i + 1)) of $repeats ($secs s)..." >&2
		measure "$pattern.sql" >>"$bench/$pattern.runs"
	done
	i=$((i + 1))
done
[ -z "${CLAIM_BASELINE:-}" ] || psql -f "$bench/current-fn.sql"
doubles() {
	psql -c "TRUNCATE claim_log"
	"$PG_BINDIR/pgbench" -n -c 8 -j 2 -T "$secs" -f "$bench/$1" \
	    >/dev/null 2>&1 || true
	psql -At -c "SELECT count(*) || ' ' || (count(*) - count(DISTINCT entry)) FROM claim_log"
}
echo "counting double claims..." >&2
new_d=$(doubles new-logged.sql)
legacy_d=$(doubles legacy-logged.sql)

echo
echo "machine: $(bench_machine)"
echo "command: ${CLAIM_BASELINE:+CLAIM_BASELINE=$CLAIM_BASELINE }scripts/bench-claim.sh $secs $entries $repeats"
echo "8 agents (pgbench -c 8 -j 2), $entries pending entries, $secs s per run, medians of $repeats runs"
printf '| pattern | p50 | p99 | claims/s | claims logged | double claims |\n|---|---|---|---|---|---|\n'
printf '| queue_claim_next() | %.2f ms | %.2f ms | %.0f | %s | %s |\n' \
    "$(med "$bench/new.runs" 1)" "$(med "$bench/new.runs" 2)" \
    "$(med "$bench/new.runs" 3)" ${new_d}
[ -z "${CLAIM_BASELINE:-}" ] ||
printf '| queue_claim_next() as in %s | %.2f ms | %.2f ms | %.0f | | |\n' \
    "$CLAIM_BASELINE" "$(med "$bench/baseline.runs" 1)" \
    "$(med "$bench/baseline.runs" 2)" "$(med "$bench/baseline.runs" 3)"
printf '| legacy select-then-update | %.2f ms | %.2f ms | %.0f | %s | %s |\n' \
    "$(med "$bench/legacy.runs" 1)" "$(med "$bench/legacy.runs" 2)" \
    "$(med "$bench/legacy.runs" 3)" ${legacy_d}
