#!/bin/sh
# pg_prisma.sh - the shipped prisma/schema.prisma and the generated
# prisma/migrations folder, checked with the real Prisma 6.19.3 CLI and
# client on a database migrated by `qsched run schema-migrate` with
# prisma_ledger = true.  How Prisma runs offline here, and the
# workarounds it needs: tests/prisma/README.md.
#
# Run by tests/with-pg.sh (the name starts with pg_): PGHOST, PGPORT,
# PGUSER point at a throwaway cluster.  Exit 77 (skipped) without node and
# npm, in the sanitizer build and under distcheck, so one CI run executes
# it once; 77 too when npm cannot install the packages (no registry).
set -u

me=pg_prisma
src=${QSCHED_SRCDIR:?}
build=${QSCHED_BUILDDIR:?}
qsched=${QSCHED_BIN:?}
plugins=${QSCHED_PLUGIN_BUILDDIR:?}

skip() { echo "$me: SKIP: $*"; exit 77; }
failures=0
start=$(date +%s)
# Seconds since the start, on each result line: the CLI is slow to start.
ok() { echo "ok - $* [$(($(date +%s) - start)) s]"; }
fail() { echo "FAIL - $* [$(($(date +%s) - start)) s]"; failures=$((failures + 1)); }

command -v node >/dev/null 2>&1 || skip "no node (scripts/deps.sh installs nodejs and npm)"
command -v npm >/dev/null 2>&1 || skip "no npm (scripts/deps.sh installs nodejs and npm)"
[ "${QSCHED_SANITIZERS:-no}" = yes ] && skip "sanitizer build: nothing of qsched's C changes here; run in the default build"
# distcheck builds in $(distdir)/_build/sub (its srcdir given as ../..).
src=$(cd "$src" && pwd) && build=$(cd "$build" && pwd) || exit 99
case $build in
"$src"/_build/sub) skip "distcheck build: run in the default build" ;;
esac

# The npm install, cached per build folder, redone when package.json
# changes.  --ignore-scripts: Prisma's postinstall would download engines.
cache="$build/prisma-node"
mkdir -p "$cache"
if ! cmp -s "$src/tests/prisma/package.json" "$cache/package.json" ||
    [ ! -x "$cache/node_modules/.bin/prisma" ]; then
	rm -rf "$cache/node_modules" "$cache/package.json"
	if ! (cd "$cache" && cp "$src/tests/prisma/package.json" package.json.new &&
	    mv package.json.new package.json &&
	    npm install --ignore-scripts --no-audit --no-fund --no-package-lock \
	    --loglevel=error >npm-install.log 2>&1); then
		cat "$cache/npm-install.log"
		rm -f "$cache/package.json"
		skip "npm install failed (is the npm registry reachable?)"
	fi
fi

work="${TMPDIR:-/tmp}/prisma"
rm -rf "$work"
mkdir -p "$work"
ln -s "$cache/node_modules" "$work/node_modules"
cp "$src/tests/prisma/prisma.config.ts" "$src/tests/prisma/queue-service.ts" \
    "$src/tests/prisma/queue-check.ts" "$src/tests/prisma/compare-models.mjs" \
    "$work/"
cd "$work" || exit 99

schema="$src/prisma/schema.prisma"
migrations="$build/prisma/migrations"
[ -f "$migrations/migration_lock.toml" ] || { echo "$me: $migrations: not built"; exit 99; }
QSCHED_PRISMA_SCHEMA=$schema
QSCHED_PRISMA_MIGRATIONS=$migrations
# The generator says nothing of the engine: the client and the CLI use the
# query compiler, so no native engine (a download) is needed.
PRISMA_CLIENT_ENGINE_TYPE=client
# The schema's datasource url; the CLI connects through the adapter, but
# a schema it cannot load makes it fall back to the native engine.
DATABASE_URL="postgresql://$PGUSER@localhost:$PGPORT/app?host=$PGHOST"
CHECKPOINT_DISABLE=1
PRISMA_HIDE_UPDATE_MESSAGE=1
export QSCHED_PRISMA_SCHEMA QSCHED_PRISMA_MIGRATIONS PRISMA_CLIENT_ENGINE_TYPE \
    DATABASE_URL CHECKPOINT_DISABLE PRISMA_HIDE_UPDATE_MESSAGE
prisma="$work/node_modules/.bin/prisma"

# prisma ARGS...: run the CLI (at most 60 s) into $work/out.
prisma() {
	timeout 60 "$prisma" "$@" >"$work/out" 2>&1
	rc=$?
	return $rc
}
# prisma_on DB ARGS...: the same on database DB.
prisma_on() { (PGDATABASE=$1; export PGDATABASE; shift; prisma "$@"); }
show() { sed 's/^/    /' "$work/out"; }

psql_db() { db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
sql() { db=$1; shift; psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$*"; }

# A database with the app's legacy schema and some generated users.
legacy_db() {
	createdb "$1" || exit 99
	psql_db "$1" -f "$src/sql/fixtures/legacy_schema.sql" >/dev/null &&
	    psql_db "$1" -f "$src/sql/fixtures/generate.sql" >/dev/null &&
	    sql "$1" "SELECT count(*) FROM qsched_fixture.generate(200, 7)" \
	    >/dev/null || exit 99
}

# jobs.conf for database $1, migrations from $2.
conf() {
	cat >"$work/jobs-$1.conf" <<EOF
database   = "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$1"
plugin_dir = "$plugins"
flags_file = ""
job "schema-migrate" {
    plugin   = "schema_migrate"
    schedule = "@manual"
    options {
        dir           = "$2"
        prisma_ledger = true
    }
}
EOF
	echo "$work/jobs-$1.conf"
}

# What Prisma could touch: columns, indexes, constraints, comments.
catalog() {
	sql "$1" "
	SELECT 'column', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
	    a.attnotnull::text, pg_get_expr(d.adbin, d.adrelid)
	FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
	    AND a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT 'index', c.relname, i.relname, pg_get_indexdef(i.oid),
	    x.indisvalid::text, NULL
	FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
	JOIN pg_class c ON c.oid = x.indrelid
	WHERE c.relnamespace = 'public'::regnamespace
	UNION ALL
	SELECT 'constraint', c.relname, k.conname, pg_get_constraintdef(k.oid),
	    k.convalidated::text, NULL
	FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
	WHERE c.relnamespace = 'public'::regnamespace
	UNION ALL
	SELECT 'comment', c.relname, coalesce(a.attname, ''),
	    obj_description(c.oid, 'pg_class'), NULL, col_description(c.oid, a.attnum)
	FROM pg_class c
	LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
	    AND col_description(c.oid, a.attnum) IS NOT NULL
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
	ORDER BY 1, 2, 3"
}

# --- the folder matches the plugin's mirror --------------------------------
legacy_db app
conf=$(conf app "$src/sql/migrations")
if "$qsched" -c "$conf" run schema-migrate >"$work/migrate.out" 2>&1; then
	ok "schema-migrate with prisma_ledger = true"
else
	sed 's/^/    /' "$work/migrate.out"
	fail "schema-migrate with prisma_ledger = true"
	exit 1
fi
export PGDATABASE=app

ledger=$(sql app "SELECT migration_name || ' ' || checksum FROM _prisma_migrations
    WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY 1")
folder=$(cd "$migrations" && for d in */; do
	d=${d%/}
	echo "$d $(sha256sum "$d/migration.sql" | cut -d' ' -f1)"
done)
if [ "$ledger" = "$folder" ] && [ -n "$folder" ]; then
	ok "folder names and checksums are the ledger's ($(echo "$folder" | wc -l) migrations)"
else
	printf '    ledger:\n%s\n    folder:\n%s\n' "$ledger" "$folder"
	fail "folder names and checksums are the ledger's"
fi
files=$(sha256sum "$src"/sql/migrations/[0-9]*_*.sql | cut -d' ' -f1 | sort)
copies=$(sha256sum "$migrations"/*/migration.sql | cut -d' ' -f1 | sort)
if [ "$files" = "$copies" ]; then
	ok "one byte-identical migration.sql per file of sql/migrations ($(echo "$files" | wc -l))"
else
	fail "one byte-identical migration.sql per file of sql/migrations"
fi

# --- migrate status and deploy ---------------------------------------------
if prisma migrate status && grep -q 'Database schema is up to date!' "$work/out"; then
	ok "prisma migrate status: up to date"
else
	show; fail "prisma migrate status: up to date"
fi
rows=$(sql app "SELECT count(*) FROM _prisma_migrations")
if prisma migrate deploy && grep -q 'No pending migrations to apply' "$work/out" &&
    [ "$(sql app "SELECT count(*) FROM _prisma_migrations")" = "$rows" ]; then
	ok "prisma migrate deploy: nothing to apply"
else
	show; fail "prisma migrate deploy: nothing to apply"
fi

# --- db push changes nothing -----------------------------------------------
catalog app >"$work/catalog.before"
if prisma db push --skip-generate &&
    grep -q 'The database is already in sync with the Prisma schema' "$work/out"; then
	ok "prisma db push: already in sync"
else
	show; fail "prisma db push: already in sync"
fi
catalog app >"$work/catalog.after"
if [ -s "$work/catalog.before" ] && cmp -s "$work/catalog.before" "$work/catalog.after"; then
	ok "db push left every column, index, constraint and comment ($(wc -l <"$work/catalog.before") catalog rows)"
else
	diff "$work/catalog.before" "$work/catalog.after" | sed 's/^/    /'
	fail "db push left the catalog unchanged"
fi
for i in unsigned_users_queue_user_id_live_key outstanding_requests_queue_claim_idx \
    user_call_scores_queue_population_idx; do
	grep -q "|$i|" "$work/catalog.after" || fail "index $i after db push"
done

# --- db pull agrees with the shipped models --------------------------------
queues="UnsignedUsersQueue OutstandingRequestsQueue"
others="Agent UserCallScore CallQueue CallSession Callback"
if prisma db pull --print && cp "$work/out" "$work/pulled.prisma" &&
    node compare-models.mjs "$schema" "$work/pulled.prisma" $queues $others \
    >"$work/out" 2>&1; then
	ok "prisma db pull: $queues $others agree"
else
	show; fail "prisma db pull agrees with the shipped models"
fi
# ... and says so when a migration changes a table the models describe.
sql app "ALTER TABLE unsigned_users_queue ADD COLUMN qsched_test_extra integer;
    ALTER TABLE outstanding_requests_queue ALTER COLUMN queue_position DROP NOT NULL"
if prisma db pull --print && cp "$work/out" "$work/pulled2.prisma" &&
    ! node compare-models.mjs "$schema" "$work/pulled2.prisma" $queues >"$work/out" 2>&1 &&
    grep -q 'UnsignedUsersQueue.qsched_test_extra' "$work/out" &&
    grep -q 'OutstandingRequestsQueue.queuePosition' "$work/out"; then
	ok "db pull comparison reports a changed table"
else
	show; fail "db pull comparison reports a changed table"
fi
sql app "ALTER TABLE unsigned_users_queue DROP COLUMN qsched_test_extra;
    ALTER TABLE outstanding_requests_queue ALTER COLUMN queue_position SET NOT NULL"

# --- the same on tables the app's db push made first (production) -----------
createdb adopt || exit 99
psql_db adopt -f "$src/sql/fixtures/legacy_schema.sql" \
    -f "$src/sql/fixtures/app_separated_tables.sql" \
    -f "$src/sql/fixtures/generate.sql" >/dev/null &&
    sql adopt "SELECT count(*) FROM qsched_fixture.generate(200, 7)" >/dev/null &&
    sql adopt "SELECT count(*) FROM qsched_fixture.generate_separated(7, 5)" \
    >/dev/null || exit 99
conf=$(conf adopt "$src/sql/migrations")
sed 's/prisma_ledger = true/&\n        resolve_duplicates = true/' "$conf" >"$conf.new" &&
    mv "$conf.new" "$conf"
"$qsched" -c "$conf" run schema-migrate >"$work/migrate-adopt.out" 2>&1 ||
    { sed 's/^/    /' "$work/migrate-adopt.out"; fail "schema-migrate adopting the app's tables"; }
catalog adopt >"$work/catalog.before"
if prisma_on adopt db push --skip-generate &&
    grep -q 'already in sync' "$work/out" &&
    catalog adopt >"$work/catalog.after" &&
    cmp -s "$work/catalog.before" "$work/catalog.after"; then
	ok "adopted tables: db push in sync, catalog unchanged"
else
	show; diff "$work/catalog.before" "$work/catalog.after" | sed 's/^/    /'
	fail "adopted tables: db push in sync, catalog unchanged"
fi
if prisma_on adopt db pull --print && cp "$work/out" "$work/pulled-adopt.prisma" &&
    node compare-models.mjs "$schema" "$work/pulled-adopt.prisma" $queues $others \
    >"$work/out" 2>&1; then
	ok "adopted tables: db pull agrees with the shipped models"
else
	show; fail "adopted tables: db pull agrees with the shipped models"
fi

# --- the app's queue service on a generated client -------------------------
# From a copy beside node_modules: generate looks for @prisma/client
# from the schema's folder up.
mkdir -p "$work/app/prisma"
cp "$schema" "$work/app/prisma/schema.prisma"
ln -s "$cache/node_modules" "$work/app/node_modules"
if (cd "$work/app" && QSCHED_PRISMA_SCHEMA="$work/app/prisma/schema.prisma" \
    timeout 60 "$prisma" generate --config "$work/prisma.config.ts") \
    >"$work/out" 2>&1; then
	ok "prisma generate from the shipped schema"
else
	show; fail "prisma generate from the shipped schema"
fi
if node_modules/.bin/tsc --noEmit --strict --target es2022 --module commonjs \
    --moduleResolution node --skipLibCheck queue-service.ts >"$work/out" 2>&1; then
	ok "queue service type-checks (tsc --strict) against the generated client"
else
	show; fail "queue service type-checks against the generated client"
fi
if grep -v '^ *//' queue-service.ts | grep -n ' as ' >"$work/out"; then
	show; fail "queue service has no cast"
fi
if timeout 60 node_modules/.bin/jiti queue-check.ts >"$work/out" 2>&1 &&
    grep -q 'queue-check: ok' "$work/out"; then
	ok "queue service: add, get, remove, claim in a transaction, P2002 on a second live entry"
else
	show; fail "queue service on the migrated database"
fi

# --- prisma migrate deploy and qsched together ----------------------------
# The app's deploy step runs prisma migrate deploy while the operator runs
# schema-migrate.  qsched holds Prisma's lock 72707369 only while it
# writes the mirror, and claims every pending migration there first, so
# deploy neither waits behind a migration nor applies one itself.

# What Prisma reads of the mirror, as a finished run must leave it.
mirror() {
	sql "$1" "SELECT migration_name, checksum, finished_at IS NOT NULL,
	    rolled_back_at IS NULL, applied_steps_count, logs IS NULL
	    FROM _prisma_migrations ORDER BY 1, 2, 3, 4, 5, 6"
}
# wait_for DB SQL: until SQL is true, at most 30 s.
wait_for() {
	i=0
	until [ "$(sql "$1" "SELECT ($2)")" = t ]; do
		i=$((i + 1)); [ $i -lt 300 ] || return 1; sleep 0.1
	done
}
# blocker_start DB SQL: a session that runs SQL in a REPEATABLE READ
# transaction and keeps it open until blocker_stop: CREATE INDEX
# CONCURRENTLY waits for its snapshot, DDL for the locks it took.
blocker_start() {
	PGAPPNAME=qsched-test-blocker psql -X -q -d "$1" -c "BEGIN ISOLATION LEVEL
	    REPEATABLE READ; $2; SELECT pg_sleep(300)" >/dev/null 2>&1 &
	blocker=$!
	wait_for "$1" "EXISTS (SELECT 1 FROM pg_stat_activity WHERE
	    application_name = 'qsched-test-blocker' AND wait_event = 'PgSleep')"
}
blocker_stop() {
	sql "$1" "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	    WHERE application_name = 'qsched-test-blocker'" >/dev/null
	wait "$blocker"
}
holders="SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
    AND classid = 0 AND objid = 72707369 AND objsubid = 1"
build="EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE
    'qsched/schema-migrate/%' AND query LIKE 'CREATE INDEX CONCURRENTLY%'
    AND state = 'active')"

# 1. During 0005's concurrent index build: the first migration of a
# database, with schema-migrate's default options.
legacy_db race
conf=$(conf race "$src/sql/migrations")
blocker_start race "SELECT count(*) FROM agents"
"$qsched" -c "$conf" run schema-migrate >"$work/migrate-race.out" 2>&1 &
qpid=$!
wait_for race "$build" || fail "0005's index build starts"
t0=$(date +%s)
prisma_on race migrate deploy; drc=$?
cp "$work/out" "$work/deploy-race.out"
t1=$(date +%s)
still=$(sql race "SELECT count(*) FROM qsched.schema_migrations WHERE version = 5")
if [ $drc -eq 0 ] && grep -q 'No pending migrations to apply' "$work/out" &&
    [ "$still" = 0 ] && kill -0 $qpid 2>/dev/null && wait_for race "$build"; then
	ok "prisma migrate deploy during 0005's index build: nothing to apply, in $((t1 - t0)) s, the build still running"
else
	show; echo "    0005 in qsched's ledger: $still"
	fail "prisma migrate deploy during 0005's index build (exit $drc)"
fi
# What migrate status says meanwhile (qsched-plugins(7) says so too).
if prisma_on race migrate status && grep -q 'Database schema is up to date!' "$work/out" &&
    [ "$(sql race "SELECT count(*) FROM qsched.schema_migrations WHERE version = 5")" = 0 ]; then
	ok "prisma migrate status during the build: up to date (the claims count as applied)"
else
	show; fail "prisma migrate status during the build"
fi
blocker_stop race
wait "$qpid"; qrc=$?
if [ $qrc -eq 0 ]; then
	ok "schema-migrate with prisma migrate deploy beside it: succeeded"
else
	sed 's/^/    /' "$work/migrate-race.out"
	fail "schema-migrate with prisma migrate deploy beside it (exit $qrc)"
fi
mirror app >"$work/mirror.alone"
mirror race >"$work/mirror.race"
if [ -s "$work/mirror.alone" ] && cmp -s "$work/mirror.alone" "$work/mirror.race"; then
	ok "the mirror is the one a run alone leaves ($(wc -l <"$work/mirror.race") rows: names, checksums, finished, applied_steps_count 1)"
else
	diff "$work/mirror.alone" "$work/mirror.race" | sed 's/^/    /'
	fail "the mirror is the one a run alone leaves"
fi
held=$(sql race "SELECT metrics->>'prisma_lock_held_ms' FROM qsched.runs
    WHERE job = 'schema-migrate' ORDER BY id DESC LIMIT 1")
if [ -n "$held" ] && [ "$held" -lt 1000 ]; then
	ok "qsched held Prisma's lock $held ms (Prisma waits 10 s)"
else
	fail "qsched held Prisma's lock briefly (held: ${held:-?} ms)"
fi
if [ "$(sql race "SELECT count(*) FROM pg_index WHERE NOT indisvalid")" = 0 ] &&
    prisma_on race migrate status && grep -q 'Database schema is up to date!' "$work/out"; then
	ok "afterwards: no INVALID index, prisma migrate status up to date"
else
	show; fail "afterwards: no INVALID index, prisma migrate status up to date"
fi

# 2. A build that fails mid-way (the test cancels it): the claims are
# withdrawn, so Prisma says what is true, and a rerun completes the mirror.
legacy_db broken
conf=$(conf broken "$src/sql/migrations")
# The build waits without timing out, so the test's cancel finds it.
sed 's/prisma_ledger = true/&\n        lock_timeout = "1h"/' "$conf" >"$conf.new" &&
    mv "$conf.new" "$conf"
blocker_start broken "SELECT count(*) FROM agents"
"$qsched" -c "$conf" run schema-migrate >"$work/migrate-broken.out" 2>&1 &
qpid=$!
wait_for broken "$build" || fail "0005's index build starts"
sql broken "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
    WHERE application_name LIKE 'qsched/schema-migrate/%'
    AND query LIKE 'CREATE INDEX CONCURRENTLY%'" >/dev/null
wait "$qpid"; qrc=$?
blocker_stop broken
rows=$(sql broken "SELECT count(*) FROM _prisma_migrations")
if [ $qrc -eq 1 ] && [ "$rows" = 4 ] &&
    ! prisma_on broken migrate status &&
    grep -q '00000000000005_separated_queue_indexes' "$work/out" &&
    grep -q 'have not yet been applied' "$work/out"; then
	ok "a cancelled build: the run fails, its claims go, migrate status lists 0005 and later as not yet applied"
else
	sed 's/^/    /' "$work/migrate-broken.out"; show
	fail "a cancelled build leaves a truthful mirror (qsched exit $qrc, $rows rows)"
fi
# A deploy in that window tries 0005 itself and cannot run it (CREATE
# INDEX CONCURRENTLY in a multi-statement script; through adapter-pg it
# fails earlier, splitting the DO block at its semicolons), so it
# records 0005 failed: every later deploy refuses (P3009) until the rerun.
prisma_on broken migrate deploy; drc=$?
failed=$(sql broken "SELECT count(*) FROM _prisma_migrations
    WHERE finished_at IS NULL AND rolled_back_at IS NULL")
if [ $drc -ne 0 ] && [ "$failed" = 1 ]; then
	ok "prisma migrate deploy before the rerun fails on 0005 (exit $drc) and records it failed"
else
	show; fail "prisma migrate deploy before the rerun (exit $drc, $failed failed rows)"
fi
if "$qsched" -c "$conf" run schema-migrate >"$work/migrate-broken2.out" 2>&1 &&
    [ "$(sql broken "SELECT count(*) FROM _prisma_migrations
        WHERE finished_at IS NULL AND rolled_back_at IS NULL")" = 0 ] &&
    [ "$(sql broken "SELECT count(*) FROM pg_index WHERE NOT indisvalid")" = 0 ] &&
    prisma_on broken migrate status && grep -q 'Database schema is up to date!' "$work/out"; then
	ok "the rerun completes it: the failed row resolved, no INVALID index, migrate status up to date"
else
	sed 's/^/    /' "$work/migrate-broken2.out"; show
	fail "the rerun completes the mirror"
fi

# 3. During a transactional migration held up by a table lock: the same.
cp -r "$src/sql/migrations" "$work/sql-migrations"
cat >"$work/sql-migrations/0999_prisma_concurrency_test.sql" <<'EOF'
-- A test migration: one column on a legacy table.
ALTER TABLE user_call_scores ADD COLUMN IF NOT EXISTS qsched_test_note text;
EOF
sh "$src/prisma/migrations.sh" "$work/prisma-migrations" "$work"/sql-migrations/*.sql ||
    exit 99
conf=$(conf app "$work/sql-migrations")
blocker_start app "LOCK TABLE user_call_scores IN ACCESS EXCLUSIVE MODE"
"$qsched" -c "$conf" run schema-migrate >"$work/migrate2.out" 2>&1 &
qpid=$!
wait_for app "EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name
    LIKE 'qsched/schema-migrate/%' AND query LIKE '%qsched_test_note%')" ||
    fail "0999 starts"
QSCHED_PRISMA_MIGRATIONS="$work/prisma-migrations" prisma migrate deploy; drc=$?
cp "$work/out" "$work/deploy.out"
kill -0 $qpid 2>/dev/null; alive=$?
blocker_stop app
wait "$qpid"; qrc=$?
if [ $qrc -eq 0 ] && [ $drc -eq 0 ] && [ $alive -eq 0 ] &&
    grep -q 'No pending migrations to apply' "$work/deploy.out" &&
    [ "$(sql app "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '00000000000999_prisma_concurrency_test' AND applied_steps_count = 1")" = 1 ] &&
    [ "$(sql app "SELECT count(*) FROM qsched.schema_migrations WHERE version = 999")" = 1 ] &&
    [ "$(sql app "$holders")" = 0 ]; then
	ok "prisma migrate deploy during a transactional migration: nothing to apply, both succeed, applied once, by qsched"
else
	echo "    qsched exited $qrc:"; sed 's/^/    /' "$work/migrate2.out"
	echo "    prisma migrate deploy exited $drc:"; sed 's/^/    /' "$work/deploy.out"
	fail "prisma migrate deploy during a transactional migration"
fi

if [ "$failures" -gt 0 ]; then
	echo "$me: $failures failed"
	exit 1
fi
echo "$me: all passed"
