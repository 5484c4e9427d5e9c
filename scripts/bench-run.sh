#!/bin/sh
# bench-run.sh - what `qsched run` costs: a no-op sql job (select 1) against
# `psql -c 'select 1'`, both timed by hyperfine in the same run on the same
# durable throwaway cluster; medians.
#
#   scripts/bench-run.sh [RUNS]      (default 100 runs of each, 5 warm-up)
set -eu
. "$(dirname "$0")/bench-lib.sh"
runs=${1:-100}
bench_setup

conf="$bench/bench.conf"
cat >"$conf" <<CONF
database   = "host='$PGHOST' port=$PGPORT dbname=bench user=postgres"
plugin_dir = "$build/plugins/.libs"
flags_file = ""
job "noop" {
	plugin   = "sql"
	schedule = "@manual"
	options { statement = "select 1" }
}
CONF
"$qsched" -q -c "$conf" run noop	# creates the qsched schema once

hyperfine -N --style basic --warmup 5 --runs "$runs" \
    --export-json "$bench/run.json" \
    -n psql "$PG_BINDIR/psql -X -q -c 'select 1'" \
    -n qsched "$qsched -q -c $conf run noop" >&2

psql_ms=$(jq '.results[] | select(.command == "psql") | .median * 1000' "$bench/run.json")
qsched_ms=$(jq '.results[] | select(.command == "qsched") | .median * 1000' "$bench/run.json")
runs_done=$("$PG_BINDIR/psql" -X -Atc "SELECT count(*) FROM qsched.runs WHERE status = 'succeeded'")
echo
echo "machine: $(bench_machine)"
echo "command: scripts/bench-run.sh $runs"
printf '| command | median wall time | ratio |\n|---|---|---|\n'
printf '| psql -c '"'"'select 1'"'"' | %.2f ms | 1.00 |\n' "$psql_ms"
printf '| qsched run noop (sql: select 1) | %.2f ms | %.2f |\n' "$qsched_ms" \
    "$(echo "$qsched_ms $psql_ms" | awk '{ print $1 / $2 }')"
echo "(qsched.runs holds $runs_done succeeded runs: every one was recorded)"
