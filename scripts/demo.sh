#!/bin/sh
# demo.sh - the README's demo command: qsched against a throwaway database.
#
#   scripts/demo.sh          build and install qsched under _build/demo-root,
#                            start PostgreSQL in a temporary directory, load
#                            a generated legacy dialler database, run the
#                            migration (schema-migrate, legacy-backfill, both
#                            queue populations, perf-benchmark), show the
#                            history and the report, clean up
#   scripts/demo.sh --keep   leave the cluster running and say how to use it
#
# Each step is a function, run in order at the bottom.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
build="$top/_build/demo"
prefix="$top/_build/demo-root"
qsched="$prefix/bin/qsched"
keep=no
demo=
current=

for arg in "$@"; do
	case $arg in
	--keep) keep=yes ;;
	*) echo "usage: scripts/demo.sh [--keep]" >&2; exit 2 ;;
	esac
done

step() { current=$*; printf '\n==> %s\n' "$*"; }

# Show a command, then run it.
show() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
	status=$?
	if [ "$status" -ne 0 ] && [ -n "$current" ]; then
		echo "demo.sh: step \"$current\" failed (exit status $status)" >&2
	fi
	[ -n "$demo" ] || return 0
	if [ "$keep" = yes ]; then
		echo "the cluster in $demo keeps running; stop it with:"
		echo "  sh $top/scripts/pg-cluster.sh stop $demo && rm -rf $demo"
		return 0
	fi
	sh "$top/scripts/pg-cluster.sh" stop "$demo" >/dev/null 2>&1 || true
	rm -rf "$demo"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

step_deps() {
	step "dependencies"
	sh "$top/scripts/deps.sh"
}

# qsched as an operator gets it: built and installed under a private
# prefix, so the installed jobs.conf, plugins and migrations are used.
step_build() {
	step "build and install (prefix $prefix)"
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
	if [ ! -f "$build/Makefile" ]; then
		mkdir -p "$build"
		(cd "$build" && "$top/configure" -q --prefix="$prefix")
	fi
	make -C "$build" -s -j"$(nproc 2>/dev/null || echo 2)"
	make -C "$build" -s install >/dev/null
}

# A durable cluster (fsync on, as in production) with a "dialler" database.
step_cluster() {
	step "PostgreSQL in a temporary directory"
	demo=$(mktemp -d "${TMPDIR:-/tmp}/qsched-demo.XXXXXX")
	eval "$(sh "$top/scripts/pg-cluster.sh" start --durable "$demo")"
	echo "server: socket in $PGHOST, port $PGPORT, log $demo/server.log"
	show "$PG_BINDIR/psql" -X -q -c "CREATE DATABASE dialler"
	PGDATABASE=dialler; export PGDATABASE
}

# The app's legacy schema with generated data and every production quirk.
step_legacy_data() {
	step "a legacy dialler database (generated, 20000 users)"
	show sh "$prefix/share/qsched/scripts/gen-legacy-data.sh" --size 20000 \
	    --seed 42
}

# The installed jobs.conf, pointed at the demo database.
step_config() {
	step "configuration: the installed jobs.conf, database set"
	conf="$demo/jobs.conf"
	sed "s|^database .*|database = \"host='$PGHOST' port=$PGPORT dbname=dialler user=postgres\"|" \
	    "$prefix/etc/qsched/jobs.conf" >"$conf"
	# The reading commands never write: create the qsched schema first.
	show "$qsched" -c "$conf" init
	show "$qsched" -c "$conf" list
}

# Plan steps 1, 2, 5.
step_migrate() {
	step "schema-migrate: what it would apply, then apply it"
	show "$qsched" -c "$conf" run schema-migrate --dry-run
	show "$qsched" -c "$conf" run schema-migrate
	q="SELECT version, name, left(checksum, 16)"
	q="$q AS checksum, duration_ms FROM qsched.schema_migrations ORDER BY 1"
	show "$PG_BINDIR/psql" -X -c "$q"
	show "$qsched" -c "$conf" check
}

# Plan step 3.
step_backfill() {
	step "legacy-backfill: copy call_queue into the separated tables"
	show "$qsched" -c "$conf" run legacy-backfill
	q="SELECT metrics->>'validation' AS proof,"
	q="$q metrics->>'inserted' AS inserted, metrics->>'conflicts' AS"
	q="$q conflicts FROM qsched.runs WHERE job = 'legacy-backfill'"
	q="$q ORDER BY id DESC LIMIT 1"
	show "$PG_BINDIR/psql" -X -c "$q"
	q="SELECT queue_type, reason, count(*)"
	q="$q FROM qsched.backfill_conflicts GROUP BY 1, 2 ORDER BY 1, 2"
	show "$PG_BINDIR/psql" -X -c "$q"
	step "legacy-backfill again: a sync pass, nothing new to copy"
	show "$qsched" -c "$conf" run legacy-backfill
}

# Plan steps 4, 6: what the daemon runs every five minutes.
step_populate() {
	step "both queue populations (the daemon runs them every 5 minutes)"
	show "$qsched" -c "$conf" run unsigned-population
	show "$qsched" -c "$conf" run outstanding-population
	q="SELECT queue_position, user_id,"
	q="$q priority_score, queue_reason FROM unsigned_users_queue WHERE"
	q="$q status = 'pending' ORDER BY queue_position LIMIT 5"
	show "$PG_BINDIR/psql" -X -c "$q"
	step "refresh again: nothing changed, nothing written"
	show "$qsched" -c "$conf" run unsigned-population
	q="SELECT job, metrics->>'inserted' AS"
	q="$q inserted, metrics->>'updated' AS updated, metrics->>'removed' AS"
	q="$q removed, metrics->>'unchanged' AS unchanged FROM qsched.runs"
	q="$q WHERE job LIKE '%population' ORDER BY id"
	show "$PG_BINDIR/psql" -X -c "$q"
}

# Plan steps 7, 9: the retirement of call_queue and its evidence gates.
step_deprecation() {
	step "legacy-deprecation: one step, then the gate report"
	show "$qsched" -c "$conf" run legacy-deprecation
	show "$qsched" -c "$conf" run legacy-deprecation --dry-run
}

# Plan step 8.2: legacy against separated, rolled back, then compared.
step_bench() {
	step "perf-benchmark: each queue operation on both tables, rolled back"
	show "$qsched" -c "$conf" run perf-benchmark --set duration=1s
	show "$qsched" -c "$conf" report --job perf-benchmark
}

step_history() {
	step "run history and report"
	show "$qsched" -c "$conf" history
	show "$qsched" -c "$conf" report
}

step_keep() {
	[ "$keep" = yes ] || return 0
	step "the cluster keeps running"
	cat <<EOF
  use it:   eval "\$(sh $top/scripts/pg-cluster.sh env $demo)"
            $qsched -c $conf history
            psql -d dialler
EOF
}

step_deps
step_build
step_cluster
step_legacy_data
step_config
step_migrate
step_backfill
step_populate
step_deprecation

step_bench
step_history
step_keep
