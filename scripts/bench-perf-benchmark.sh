#!/bin/sh
# bench-perf-benchmark.sh - the benchmark of the benchmark: the same
# rolled-back claim (BEGIN; queue_claim_next(); ROLLBACK) on a 1M-entry
# queue, measured by the perf_benchmark plugin and by pgbench with the
# same clients and duration, alternately (each first in every other
# pair), REPEATS times each, on one cluster.
#
#   scripts/bench-perf-benchmark.sh [SECONDS] [ENTRIES] [REPEATS] [CLIENTS]
#                                   [PROTOCOL]
#                                   (defaults: 10 s, 1000000, 5, 4, extended)
#
# Prints the medians of p50, p99 and transactions/s for both, their
# ratios (perf_benchmark / pgbench: within 0.85..1.15 is the target), and
# the run-to-run spread of perf_benchmark's p99 (the median absolute
# change between consecutive runs, and (max - min) / median), which the
# regression threshold must sit above, and the gate's verdict on each of
# the repeated runs of the unchanged database (with the shipped gate
# options: none may fail).  pgbench's latencies come from its
# per-transaction log, BEGIN to ROLLBACK as perf_benchmark times them,
# with -M extended (perf_benchmark's statements are parameterised;
# PROTOCOL simple runs pgbench -M simple instead: perf_benchmark sends
# BEGIN and ROLLBACK as simple queries, pgbench -M extended as extended
# ones, so neither mode is exactly perf_benchmark's mix) and -j 1 (one
# thread drives every client, as perf_benchmark does).
set -eu
. "$(dirname "$0")/bench-lib.sh"
secs=${1:-10}
entries=${2:-1000000}
repeats=${3:-5}
clients=${4:-4}
protocol=${5:-extended}
bench_setup
psql() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "loading the legacy schema, migrating, $entries entries..." >&2
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
job "perf-benchmark" {
	plugin = "perf_benchmark"
	schedule = "@manual"
	options {
		operations = "claim"
		variants   = "separated"
		clients    = $clients
		duration   = "${secs}s"
		warmup     = "1s"
		max_active_backends = 100
	}
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
INSERT INTO unsigned_users_queue (user_id, priority_score, queue_position,
    available_from)
SELECT g, g % 50, g, now() AT TIME ZONE 'UTC' - interval '1 hour'
FROM generate_series(1, $entries) g;
VACUUM ANALYZE;
SQL

# perf_benchmark claims for the lowest agent id, 1; so does pgbench.
cat >"$bench/claim.sql" <<'SQL'
BEGIN;
SELECT id FROM queue_claim_next('unsigned_users', 1);
ROLLBACK;
SQL

# One perf_benchmark run: "p50_ms p99_ms tps".
measure_plugin() {
	st=0
	"$qsched" -q -c "$conf" run perf-benchmark >&2 || st=$?
	echo "$(psql -At -F ' ' -c "SELECT p50_ms, p99_ms, ops_per_s,
	    coalesce(vs_previous_pct || '%', '-'),
	    'host+' || coalesce(host_slower_pct, 0) || '%',
	    'limit+' || coalesce(limit_pct, threshold_pct) || '%',
	    replace(verdict, ' ', '_')
	    FROM qsched_bench.comparison WHERE op = 'claim'
	    ORDER BY run_id DESC LIMIT 1") exit=$st load=$(cut -d ' ' -f 1 \
	    /proc/loadavg)"
}

# One pgbench run: "p50_ms p99_ms tps".
measure_pgbench() {
	rm -rf "$bench/log" && mkdir "$bench/log"
	(cd "$bench/log" && "$PG_BINDIR/pgbench" -n -M "$protocol" -c "$clients" \
	    -j 1 -T "$secs" -f "$bench/claim.sql" -l bench) \
	    >"$bench/pgbench.out" 2>&1
	tps=$(awk '/^tps/ { print $3; exit }' "$bench/pgbench.out")
	cat "$bench/log"/* | awk '{ print $3 / 1000 }' | sort -g >"$bench/lat"
	n=$(wc -l <"$bench/lat")
	p50=$(sed -n "$(( (n + 1) / 2 ))p" "$bench/lat")
	p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$bench/lat")
	echo "$p50 $p99 $tps"
}

med() { awk -v f="$2" '{ print $f }' "$1" | bench_median; }

: >"$bench/plugin.runs"
: >"$bench/pgbench.runs"
i=0
while [ $i -lt "$repeats" ]; do
	# Which goes first alternates, so neither always follows the other
	# (the other's dead row versions, its exit, the load's drift).
	if [ $((i % 2)) -eq 0 ]; then
		echo "run $((i + 1)) of $repeats: perf_benchmark, then pgbench ($secs s each)..." >&2
		measure_plugin >>"$bench/plugin.runs"
		measure_pgbench >>"$bench/pgbench.runs"
	else
		echo "run $((i + 1)) of $repeats: pgbench, then perf_benchmark ($secs s each)..." >&2
		measure_pgbench >>"$bench/pgbench.runs"
		measure_plugin >>"$bench/plugin.runs"
	fi
	i=$((i + 1))
done

p50a=$(med "$bench/plugin.runs" 1); p99a=$(med "$bench/plugin.runs" 2)
tpsa=$(med "$bench/plugin.runs" 3)
p50b=$(med "$bench/pgbench.runs" 1); p99b=$(med "$bench/pgbench.runs" 2)
tpsb=$(med "$bench/pgbench.runs" 3)
# p99 spread of perf_benchmark: consecutive changes, and range / median.
step=$(awk 'NR > 1 { d = $2 / p - 1; if (d < 0) d = -d; print d * 100 }
    { p = $2 }' "$bench/plugin.runs" | bench_median)
range=$(awk -v m="$p99a" 'NR == 1 || $2 < lo { lo = $2 }
    NR == 1 || $2 > hi { hi = $2 } END { printf "%.1f", (hi - lo) / m * 100 }' \
    "$bench/plugin.runs")
verdicts=$(psql -At -c "SELECT string_agg(verdict, ', ' ORDER BY run_id)
    FROM qsched_bench.comparison WHERE op = 'claim'")
failed=$(grep -c -v ' exit=0 ' "$bench/plugin.runs" || true)

echo
echo "machine: $(bench_machine)"
echo "command: scripts/bench-perf-benchmark.sh $secs $entries $repeats $clients $protocol"
echo "claim rolled back (BEGIN; queue_claim_next(); ROLLBACK), $clients clients, $entries pending entries, $secs s per run, medians of $repeats runs each, alternating, each first in every other pair"
printf '| measured by | p50 | p99 | transactions/s |\n|---|---|---|---|\n'
printf '| perf_benchmark | %.3f ms | %.3f ms | %.0f |\n' "$p50a" "$p99a" "$tpsa"
printf "| pgbench -M $protocol -j 1 | %.3f ms | %.3f ms | %.0f |\n" "$p50b" "$p99b" "$tpsb"
awk -v a="$p50a" -v b="$p50b" -v c="$p99a" -v d="$p99b" -v e="$tpsa" \
    -v f="$tpsb" 'BEGIN { printf "| ratio | %.2f | %.2f | %.2f |\n", a / b, c / d, e / f }'
# Each perf_benchmark run against the pgbench run right after it: the
# two saw nearly the same load, so the median of these ratios is less
# sensitive to the load drifting over the whole run than the ratio of
# the medians.
paste -d ' ' "$bench/plugin.runs" "$bench/pgbench.runs" | awk '{
    print $1 / $(NF - 2), $2 / $(NF - 1), $3 / $NF }' >"$bench/pairs"
awk -v a="$(med "$bench/pairs" 1)" -v b="$(med "$bench/pairs" 2)" \
    -v c="$(med "$bench/pairs" 3)" 'BEGIN {
    printf "| median of the paired ratios | %.2f | %.2f | %.2f |\n", a, b, c }'
echo
echo "perf_benchmark runs (p50 p99 tps, p99 vs the gate's reference, host slower by (control p99), limit, verdict, exit status, load average):"
sed 's/^/  /' "$bench/plugin.runs"
echo "pgbench runs (p50 p99 tps):"
sed 's/^/  /' "$bench/pgbench.runs"
echo "perf_benchmark p99 run-to-run: median change ${step}%, range ${range}% of the median"
echo "gate verdicts of the repeated runs: $verdicts; runs failed: $failed of $repeats"
