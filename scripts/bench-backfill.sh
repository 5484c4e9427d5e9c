#!/bin/sh
# bench-backfill.sh - the legacy_backfill plugin against the ceiling, one
# INSERT ... SELECT of the same mapping into the same empty tables (same
# indexes and foreign keys), on generated call_queue rows: the project's
# fixture (qsched_fixture.generate(ROWS, 1, ROWS)) and a duplicate-heavy
# variant (a tenth as many users for as many rows: generate(ROWS / 10, 1,
# ROWS)), with parallel = 1 and each N of PARALLEL.  Same run, same
# durable throwaway cluster (fsync and synchronous_commit on, default
# shared_buffers); the ceiling and the backfills interleaved so all see
# the same noise; medians of REPS.  Also the worker's peak RSS.
#
# Besides the wall time, the CPU seconds the cluster spent on each run
# (every server process: the backend, autovacuum, checkpointer, WAL
# writer; read from /proc) and the checkpoints that started during it.
# On a machine shared with other work the wall time stretches with the
# others' load, and the backfill (longer, many short transactions) is
# stretched more than the ceiling; the CPU ratio is the work each does.
#
#   scripts/bench-backfill.sh [REPS [SIZES [PARALLEL [DATA]]]]
#       defaults: 3 "100000 1000000" "2 3" "fixture dup"
#
# With --claims: claim latency of 8 agents (pgbench -c 8 -j 2, committed
# queue_claim_next() calls on unsigned_users_queue, which holds 100000
# extra pending entries at positions before every copied one, so the
# agents never claim a copy and the proof holds) idle, while a backfill of ROWS fixture rows runs
# with throttle = false, while one runs with the default throttling, and
# while one runs with canary_latency at twice the rep's idle p99, a limit
# the backfill's load can actually cross; p50/p99 per run, medians of
# REPS, and the pauses and time throttled.
#
#   scripts/bench-backfill.sh --claims [REPS [SECS [ROWS]]]
#       defaults: 3 10 300000
#
# With --batch: one batch's statement against the ceiling's statements
# restricted to the same heap blocks, half way through a pass of ROWS
# rows of DATA (fixture or dup); see batch_bench.
#
#   scripts/bench-backfill.sh --batch [REPS [ROWS [DATA]]]
#       defaults: 3 1000000 dup
set -eu
. "$(dirname "$0")/bench-lib.sh"
mode=copy
case ${1:-} in
--claims)	mode=claims; shift ;;
--batch)	mode=batch; shift ;;
esac
reps=${1:-3}
case $mode in
copy)
	sizes=${2:-100000 1000000}
	pars=${3:-2 3}
	kinds=${4:-fixture dup}
	;;
claims)
	secs=${2:-10}
	crows=${3:-300000}
	;;
batch)
	brows=${2:-1000000}
	bkind=${3:-dup}
	;;
esac
bench_setup

psql() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{ printf "%.3f\n", $2 - $1 }'; }
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }

conf_for() {
	cat >"$bench/$1.conf" <<CONF
database   = "host='$PGHOST' port=$PGPORT dbname=$1 user=postgres"
plugin_dir = "$build/plugins/.libs"
flags_file = ""
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

# load DB USERS ROWS: a database with generated data, migrated.
load() {
	[ "$1" = bench ] || psql -d postgres -c "CREATE DATABASE $1"
	psql -d "$1" -f "$top/sql/fixtures/legacy_schema.sql"
	psql -d "$1" -f "$top/sql/fixtures/generate.sql"
	psql -d "$1" -c "SELECT * FROM qsched_fixture.generate($2, 1, $3, \
	    '2026-11-29 08:00:00')" >/dev/null
	psql -d "$1" -c "VACUUM ANALYZE"
	conf_for "$1"
	"$qsched" -q -c "$bench/$1.conf" run schema-migrate
}

reset() {
	psql -d "$1" -c "SET client_min_messages = warning" \
	    -c "TRUNCATE unsigned_users_queue, outstanding_requests_queue" \
	    -c "DROP TABLE IF EXISTS qsched.backfill_conflicts, \
	    qsched.backfill_positions, qsched.backfill_ranges" \
	    -c "DELETE FROM qsched.checkpoints" -c "CHECKPOINT"
}

# The ceiling: the same mapping as one INSERT ... SELECT per table, in one
# transaction; NULL positions by a window, and of a user's live rows of a
# queue type the one the backfill keeps (its plan's rule, qsched-plugins(7):
# assigned first, then the lowest position, priority_score, the newest
# created_at, the id), the others left out; nothing is recorded (it is the
# ceiling).  ON CONFLICT DO NOTHING alone would keep whichever live row
# came first: the same number of rows, but not the same ones, so not the
# same result; the benchmark checks that the ceiling's tables equal the
# backfill's (same_tables).  It runs with the work_mem the backfill sets
# on its own connection by default (option work_mem, 64MB), so neither
# sorts or hashes in less memory than the other.
#
# With FIRST and STOP (--batch): only the rows in heap blocks [FIRST,
# STOP) of call_queue, and each type's largest position as a constant
# read from database $db, so the statements do what one batch does.
ceiling_sql() {
	for t in unsigned_users outstanding_requests; do
		maxpos="(SELECT max(queue_position) FROM call_queue WHERE \
queue_type = '$t')"
		range=
		if [ $# -eq 2 ]; then
			maxpos=$(psql -d "$db" -At -c "SELECT \
			    coalesce(max(queue_position), 0) FROM call_queue \
			    WHERE queue_type = '$t'")
			range="AND c.ctid >= '($1,0)'::tid AND c.ctid < '($2,0)'::tid"
		fi
		if [ $t = unsigned_users ]; then
			cols="signature_missing_since, signature_type"
			vals="u.created_at, 'initial'"
		else
			cols="requirement_types, total_requirements, \
    pending_requirements, completed_requirements, oldest_requirement_date"
			vals="'[\"document\"]'::jsonb, 1, 1, 0, u.created_at"
		fi
		cat <<SQL
INSERT INTO ${t}_queue (id, user_id, claim_id, priority_score,
    queue_position, status, queue_reason, $cols, available_from,
    assigned_to_agent, assigned_at, created_at, updated_at, callback_id)
SELECT c.id, c.user_id, c.claim_id, c.priority_score, c.pos,
    CASE c.status WHEN 'invalid' THEN 'inactive' ELSE c.status END,
    c.queue_reason, $vals, coalesce(c.available_from, c.created_at),
    c.assigned_to_agent_id, c.assigned_at, c.created_at, c.updated_at,
    c.callback_id
FROM (SELECT c.*, row_number() OVER (PARTITION BY c.user_id,
	c.status IN ('pending', 'assigned') ORDER BY c.status = 'assigned'
	DESC, c.pos, c.priority_score, c.created_at DESC, c.id) AS rn
    FROM (SELECT c.*, coalesce(c.queue_position, $maxpos
	+ row_number() OVER (PARTITION BY c.queue_position IS NULL
	ORDER BY c.priority_score, c.created_at, c.id)) AS pos
	FROM call_queue AS c WHERE c.queue_type = '$t' $range) AS c) AS c
JOIN user_call_scores AS u ON u.user_id = c.user_id
WHERE c.rn = 1 OR c.status NOT IN ('pending', 'assigned')
ON CONFLICT DO NOTHING;
SQL
	done | sed "1i BEGIN; SET LOCAL work_mem = '64MB';"
	echo "COMMIT;"
}

# An order-independent digest of both target tables' rows.
tables_digest() {
	psql -d "$1" -At -c "SELECT (SELECT count(*) || ':' || \
	    coalesce(sum(hash_record_extended(t, 0)::numeric), 0) FROM \
	    unsigned_users_queue AS t) || ' ' || (SELECT count(*) || ':' || \
	    coalesce(sum(hash_record_extended(t, 0)::numeric), 0) FROM \
	    outstanding_requests_queue AS t)"
}

# same_tables DB WHAT: after the first rep's run, the tables must be the
# ones the ceiling wrote, or the two did not compute the same thing.
same_tables() {
	[ "$i" = 1 ] || return 0
	d=$(tables_digest "$1")
	if [ "$2" = ceiling ]; then
		echo "$d" >"$bench/$1.digest"
	elif [ "$d" != "$(cat "$bench/$1.digest")" ]; then
		echo "bench-backfill: $1: the tables after $2 differ from the ceiling's ($d against $(cat "$bench/$1.digest"))" >&2
		exit 1
	fi
}

# CPU seconds used so far by the cluster's processes: the postmaster
# with the children it has reaped, and its live children.  Linux /proc.
# A child that has exited but is not reaped yet shows no time at all, so
# read until two readings a moment apart agree (or ten tries).
cluster_cpu() {
	c1=$(cluster_cpu_once)
	for try in 1 2 3 4 5 6 7 8 9 10; do
		sleep 0.2
		c2=$(cluster_cpu_once)
		[ "$c1" != "$c2" ] || break
		c1=$c2
	done
	echo "$c2"
}
cluster_cpu_once() {
	pm=$(head -n 1 "$QSCHED_TEST_PGDATA/postmaster.pid")
	{
		awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
		for c in $(cat /proc/"$pm"/task/*/children); do
			awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null ||
			    true
		done
	} | awk -v hz="$(getconf CLK_TCK)" '{ s += $1 }
	    END { printf "%.2f\n", s / hz }'
}

checkpoints() {
	psql -d postgres -At -c "SELECT checkpoints_timed + checkpoints_req \
	    FROM pg_stat_bgwriter"
}

# settle DB: wait until no client is connected to DB, so a backend that
# is still exiting has been reaped and its CPU time counted.
settle() {
	while [ "$(psql -d postgres -At -c "SELECT count(*) FROM \
	    pg_stat_activity WHERE datname = '$1' AND \
	    backend_type = 'client backend'")" != 0 ]; do
		sleep 0.1
	done
}

# mark, then since DB FILE: the CPU seconds and the checkpoints started
# in between, as a line "cpu checkpoints" appended to FILE.
mark() {
	cpu0=$(cluster_cpu)
	ck0=$(checkpoints)
}
since() {
	settle "$1"
	echo "$cpu0 $(cluster_cpu) $ck0 $(checkpoints)" |
	    awk '{ printf "%.2f %d\n", $2 - $1, $4 - $3 }' >>"$2"
}

source_rows() {
	psql -d "$1" -At -c "SELECT count(*) FROM call_queue WHERE queue_type \
	    IN ('unsigned_users', 'outstanding_requests')"
}

metric() {
	psql -d "$1" -At -c "SELECT metrics->>'$2' FROM qsched.runs WHERE \
	    job = 'legacy-backfill' ORDER BY id DESC LIMIT 1"
}

# backfill DB OPTION...: one run, timed, proof checked; seconds on stdout.
backfill() {
	db=$1
	shift
	set -- $(for o in "$@"; do printf ' --set=%s' "$o"; done)
	t0=$(now)
	"$qsched" -q -c "$bench/$db.conf" run legacy-backfill "$@" >&2
	t1=$(now)
	[ "$(metric "$db" validation)" = ok ] ||
	    { echo "bench-backfill: the proof failed" >&2; exit 1; }
	elapsed "$t0" "$t1"
}

# med FILE FIELD: the median of a column of FILE.
med() { awk -v f="$2" '{ print $f }' "$1" | bench_median; }

copy_bench() {
	ceiling_sql >"$bench/ceiling.sql"
	echo "machine: $(bench_machine)" >"$bench/report"
	echo "command: scripts/bench-backfill.sh $reps \"$sizes\" \"$pars\" \"$kinds\"" \
	    >>"$bench/report"
	printf '\n| data | source rows | conflicts | ceiling | parallel = 1 | vs ceiling |' \
	    >>"$bench/report"
	for n in $pars; do
		printf ' parallel = %s | vs ceiling |' "$n" >>"$bench/report"
	done
	printf '\n|---|---|---|---|---|---|' >>"$bench/report"
	for n in $pars; do printf -- '---|---|' >>"$bench/report"; done
	echo >>"$bench/report"
	for size in $sizes; do
		for kind in $kinds; do
			db=${kind}_$size
			users=$size
			[ "$kind" = dup ] && users=$((size / 10))
			echo "bench-backfill: generating $db ($users users, $size rows)" >&2
			load "$db" "$users" "$size"
			for f in ceiling p1 $(for n in $pars; do echo "p$n"; done); do
				: >"$bench/$db.$f"
				: >"$bench/$db.$f.cpu"
			done
			for f in rss plan copy proof throttled; do
				: >"$bench/$db.$f"
			done
			for i in $(seq "$reps"); do
				reset "$db"
				mark
				t0=$(now); psql -d "$db" -f "$bench/ceiling.sql"; t1=$(now)
				elapsed "$t0" "$t1" >>"$bench/$db.ceiling"
				since "$db" "$bench/$db.ceiling.cpu"
				same_tables "$db" ceiling
				reset "$db"
				mark
				backfill "$db" parallel=1 >>"$bench/$db.p1"
				since "$db" "$bench/$db.p1.cpu"
				same_tables "$db" "parallel = 1"
				metric "$db" worker_peak_rss_kb >>"$bench/$db.rss"
				metric "$db" plan_ms >>"$bench/$db.plan"
				metric "$db" copy_ms >>"$bench/$db.copy"
				metric "$db" proof_ms >>"$bench/$db.proof"
				metric "$db" throttled_ms >>"$bench/$db.throttled"
				for n in $pars; do
					reset "$db"
					mark
					backfill "$db" parallel="$n" >>"$bench/$db.p$n"
					since "$db" "$bench/$db.p$n.cpu"
					same_tables "$db" "parallel = $n"
				done
				echo "bench-backfill: $db rep $i: ceiling $(tail -n 1 "$bench/$db.ceiling") s, parallel=1 $(tail -n 1 "$bench/$db.p1") s" >&2
			done
			c=$(bench_median <"$bench/$db.ceiling")
			b=$(bench_median <"$bench/$db.p1")
			printf '| %s | %s | %s | %.2f s | %.2f s | %s |' "$kind" \
			    "$(source_rows "$db")" "$(metric "$db" conflicts)" \
			    "$c" "$b" "$(ratio "$c" "$b")" >>"$bench/report"
			for n in $pars; do
				p=$(bench_median <"$bench/$db.p$n")
				printf ' %.2f s | %s |' "$p" "$(ratio "$c" "$p")" \
				    >>"$bench/report"
			done
			echo >>"$bench/report"
			cc=$(med "$bench/$db.ceiling.cpu" 1)
			printf '| %s | %s | CPU | %.2f s | %.2f s | %s |' "$kind" \
			    "$(source_rows "$db")" "$cc" \
			    "$(med "$bench/$db.p1.cpu" 1)" \
			    "$(ratio "$cc" "$(med "$bench/$db.p1.cpu" 1)")" \
			    >>"$bench/cpureport"
			for n in $pars; do
				printf ' %.2f s | %s |' "$(med "$bench/$db.p$n.cpu" 1)" \
				    "$(ratio "$cc" "$(med "$bench/$db.p$n.cpu" 1)")" \
				    >>"$bench/cpureport"
			done
			echo >>"$bench/cpureport"
			echo "$db checkpoints started during each run: ceiling $(awk '{ print $2 }' "$bench/$db.ceiling.cpu" | tr '\n' ' ')/ parallel=1 $(awk '{ print $2 }' "$bench/$db.p1.cpu" | tr '\n' ' '); raw CPU seconds: ceiling $(awk '{ print $1 }' "$bench/$db.ceiling.cpu" | tr '\n' ' ')/ parallel=1 $(awk '{ print $1 }' "$bench/$db.p1.cpu" | tr '\n' ' ')" \
			    >>"$bench/phases"
			echo "$db phases at parallel = 1 (medians): plan $(bench_median <"$bench/$db.plan") ms, copy $(bench_median <"$bench/$db.copy") ms, proof $(bench_median <"$bench/$db.proof") ms, paused by the throttle $(tr '\n' ' ' <"$bench/$db.throttled")ms; worker peak RSS $(bench_median <"$bench/$db.rss") kB; raw seconds: ceiling $(tr '\n' ' ' <"$bench/$db.ceiling")/ p1 $(tr '\n' ' ' <"$bench/$db.p1")" \
			    >>"$bench/phases"
			psql -d postgres -c "DROP DATABASE $db"
		done
	done
	echo
	cat "$bench/report"
	echo
	echo "CPU seconds of the cluster's processes during each run (medians), and the ratio ceiling / backfill:"
	echo
	sed -n '4,5p' "$bench/report" | sed 's/| conflicts |/| |/'
	cat "$bench/cpureport"
	echo
	cat "$bench/phases"
}

# Claims: "p50_ms p99_ms claims" of one pgbench run of SECS seconds.
measure() {
	rm -rf "$bench/log" && mkdir "$bench/log"
	(cd "$bench/log" && "$PG_BINDIR/pgbench" -n -c 8 -j 2 -T "$secs" \
	    -f "$bench/claim.sql" -l claims) >"$bench/pgbench.out" 2>&1
	cat "$bench/log"/* | awk '{ print $3 / 1000 }' | sort -g >"$bench/lat"
	n=$(wc -l <"$bench/lat")
	p50=$(sed -n "$(( (n + 1) / 2 ))p" "$bench/lat")
	p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$bench/lat")
	echo "$p50 $p99 $n"
}

# Claims while a backfill with OPTION runs: the backfill must outlast
# pgbench, or the figures mix in idle claims; "busy" says which.
during() {
	"$qsched" -q -c "$bench/claims.conf" run legacy-backfill "$@" >&2 &
	bpid=$!
	sleep 1
	m=$(measure)
	if kill -0 "$bpid" 2>/dev/null; then busy=yes; else busy=no; fi
	wait "$bpid" || { echo "bench-backfill: the backfill failed" >&2; exit 1; }
	echo "$m $busy $(metric claims throttle_pauses) $(metric claims throttled_ms)"
}

refill() {
	reset claims
	psql -d claims <<'SQL'
INSERT INTO user_call_scores (id, user_id, current_score, current_queue_type,
    created_at, updated_at)
SELECT gen_random_uuid(), 100000000 + g, g % 50, 'unsigned_users',
    '2026-11-28', '2026-11-29' FROM generate_series(1, 100000) g
ON CONFLICT DO NOTHING;
INSERT INTO unsigned_users_queue (user_id, priority_score, queue_position,
    available_from)
SELECT 100000000 + g, g % 50, g - 100001, '2026-11-29'
FROM generate_series(1, 100000) g;
VACUUM ANALYZE unsigned_users_queue;
SQL
}

claims_bench() {
	echo "bench-backfill: generating $crows rows for the claims" >&2
	load claims "$crows" "$crows"
	echo "SELECT id FROM queue_claim_next('unsigned_users', :client_id + 1);" \
	    >"$bench/claim.sql"
	: >"$bench/idle"; : >"$bench/off"; : >"$bench/on"; : >"$bench/trip"
	: >"$bench/limits"
	for i in $(seq "$reps"); do
		refill
		measure >>"$bench/idle"
		# A canary limit the backfill's own load can cross: twice
		# this rep's idle p99 (the default, 100 ms, never tripped
		# here).
		lim=$(tail -n 1 "$bench/idle" | awk '{ v = int(2 * $2 + 0.999)
		    print v < 1 ? 1 : v }')
		echo "$lim" >>"$bench/limits"
		refill
		during --set=throttle=false >>"$bench/off"
		refill
		during >>"$bench/on"
		refill
		during --set=canary_latency="${lim}ms" >>"$bench/trip"
		echo "bench-backfill: claims rep $i: idle $(tail -n 1 "$bench/idle"); unthrottled $(tail -n 1 "$bench/off"); throttled $(tail -n 1 "$bench/on"); canary ${lim} ms $(tail -n 1 "$bench/trip")" >&2
	done
	echo
	echo "machine: $(bench_machine)"
	echo "command: scripts/bench-backfill.sh --claims $reps $secs $crows"
	echo "8 agents (pgbench -c 8 -j 2, $secs s), backfill of generate($crows, 1, $crows); medians of $reps"
	printf '| claims | p50 | p99 | p99 vs idle | backfill outlasted the claims | pauses | throttled |\n|---|---|---|---|---|---|---|\n'
	printf '| idle | %.2f ms | %.2f ms | 1.00 | - | - | - |\n' \
	    "$(med "$bench/idle" 1)" "$(med "$bench/idle" 2)"
	for f in off on trip; do
		case $f in
		off) label="during a backfill, throttle = false" ;;
		on) label="during a backfill, default throttling" ;;
		trip) label="during a backfill, default throttling with canary_latency = 2 x the rep's idle p99 ($(tr '\n' ' ' <"$bench/limits")ms)" ;;
		esac
		printf '| %s | %.2f ms | %.2f ms | %s | %s | %s | %s ms |\n' \
		    "$label" "$(med "$bench/$f" 1)" "$(med "$bench/$f" 2)" \
		    "$(ratio "$(med "$bench/$f" 2)" "$(med "$bench/idle" 2)")" \
		    "$(awk '{ print $4 }' "$bench/$f" | tr '\n' ' ')" \
		    "$(med "$bench/$f" 5)" "$(med "$bench/$f" 6)"
	done
	echo "(raw p99 ms: idle $(awk '{ print $2 }' "$bench/idle" | tr '\n' ' '); unthrottled $(awk '{ print $2 }' "$bench/off" | tr '\n' ' '); throttled $(awk '{ print $2 }' "$bench/on" | tr '\n' ' '); canary at 2x idle p99 $(awk '{ print $2 }' "$bench/trip" | tr '\n' ' '); pauses of the last $(awk '{ print $5 }' "$bench/trip" | tr '\n' ' '))"
}

# --batch: one batch of a pass stopped half way against the ceiling's two
# statements on the same heap blocks, on the same tables, each in a
# transaction rolled back; EXPLAIN ANALYZE's execution times (after
# triggers included), alternated REPS times.  Answers whether a batch's
# statement costs more than the ceiling's for the same rows at the same
# table size.
batch_bench() {
	db=${bkind}_$brows
	users=$brows
	[ "$bkind" = dup ] && users=$((brows / 10))
	echo "bench-backfill: generating $db ($users users, $brows rows)" >&2
	load "$db" "$users" "$brows"
	reset "$db"
	# The statement's text and parameters, from the server's log.
	psql -d postgres -c "ALTER DATABASE $db SET log_min_duration_statement = 0"
	from=$(wc -l <"$bench/server.log")
	# Batches of a fixed 5000 rows: the adaptive size follows the
	# machine's load, and the ceiling's statements have a fixed cost
	# (a hash of user_call_scores each) that a small batch would show
	# out of proportion.
	"$qsched" -q -c "$bench/$db.conf" run legacy-backfill \
	    --set=throttle=false --set=batch_size=5000 \
	    --set=batch_size_min=5000 --set=batch_size_max=5000 >&2 &
	qpid=$!
	# Stop it half way with kill -9, as a crash would: the batch in
	# flight rolls back, the checkpoint says where the next one starts.
	while :; do
		st=$(psql -d "$db" -At -c "SELECT value FROM qsched.checkpoints \
		    WHERE job = 'legacy-backfill' AND key = 'state'")
		block=$(echo "$st" | sed -n 's/.* block=\([0-9]*\).*/\1/p')
		blocks=$(echo "$st" | sed -n 's/.* blocks=\([0-9]*\).*/\1/p')
		if [ -n "$block" ] && [ "$block" -ge $((blocks / 2)) ]; then
			break
		fi
		kill -0 "$qpid" 2>/dev/null ||
		    { echo "bench-backfill: the backfill ended early" >&2; exit 1; }
		sleep 0.2
	done
	kill -9 "$qpid"
	wait "$qpid" 2>/dev/null || true
	settle "$db"
	psql -d postgres -c "ALTER DATABASE $db RESET log_min_duration_statement"
	st=$(psql -d "$db" -At -c "SELECT value FROM qsched.checkpoints WHERE \
	    job = 'legacy-backfill' AND key = 'state'")
	block=$(echo "$st" | sed -n 's/.* block=\([0-9]*\).*/\1/p')
	hwm=$(echo "$st" | sed -n 's/.* hwm=\([0-9]*\).*/\1/p')
	prev=$(echo "$st" | sed -n 's/.* prev=\([0-9]*\).*/\1/p')
	pass=$(echo "$st" | sed -n 's/.* pass=\([0-9]*\).*/\1/p')
	tail -n +"$((from + 1))" "$bench/server.log" >"$bench/batch.log"
	sql=$(grep -m 1 'execute <unnamed>: WITH src AS MATERIALIZED' \
	    "$bench/batch.log" | sed 's/.*execute <unnamed>: //')
	# The last batch's span in blocks: the next one is about as long.
	span=$(grep "parameters: \$1 = '(" "$bench/batch.log" | tail -n 1 |
	    sed -n "s/.*\$1 = '(\([0-9]*\),0)'.*\$5 = '(\([0-9]*\),0)'.*/\2 \1/p" |
	    awk '{ print $1 - $2 }')
	[ -n "$sql" ] && [ -n "$span" ] ||
	    { echo "bench-backfill: no batch in the server's log" >&2; exit 1; }
	stop=$((block + span))
	{
		echo "PREPARE b (tid, bigint, bigint, text[], tid, bigint, bigint) AS $sql;"
		echo "BEGIN; SET LOCAL jit = off;"
		echo "EXPLAIN (ANALYZE, TIMING OFF) EXECUTE b ('($block,0)', $hwm, $prev, NULL, '($stop,0)', $pass, $pass);"
		echo "ROLLBACK;"
	} >"$bench/batch.sql"
	ceiling_sql "$block" "$stop" |
	    sed -e 's/^INSERT INTO/EXPLAIN (ANALYZE, TIMING OFF) INSERT INTO/' \
	    -e 's/^COMMIT;/ROLLBACK;/' >"$bench/ceilbatch.sql"
	rows=$(psql -d "$db" -At -c "SELECT count(*) FROM call_queue WHERE \
	    ctid >= '($block,0)' AND ctid < '($stop,0)' AND queue_type IN \
	    ('unsigned_users', 'outstanding_requests')")
	: >"$bench/b.ms"; : >"$bench/c.ms"
	for i in $(seq "$reps"); do
		psql -d "$db" -f "$bench/batch.sql" | awk '/Execution Time/ {
		    s += $3 } END { print s }' >>"$bench/b.ms"
		psql -d "$db" -f "$bench/ceilbatch.sql" | awk '/Execution Time/ {
		    s += $3 } END { print s }' >>"$bench/c.ms"
	done
	echo
	echo "machine: $(bench_machine)"
	echo "command: scripts/bench-backfill.sh --batch $reps $brows $bkind"
	echo "blocks $block-$stop of $blocks ($rows source rows), the tables as the pass left them half way; medians of $reps"
	echo "| statement | ms (median) | raw ms |"
	echo "|---|---|---|"
	echo "| the batch | $(bench_median <"$bench/b.ms") | $(tr '\n' ' ' <"$bench/b.ms")|"
	echo "| the ceiling's two statements | $(bench_median <"$bench/c.ms") | $(tr '\n' ' ' <"$bench/c.ms")|"
}

case $mode in
copy)	copy_bench ;;
claims)	claims_bench ;;
batch)	batch_bench ;;
esac
