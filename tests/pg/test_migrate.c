/*
 * test_migrate.c - tests/pg_migrate: the schema_migrate plugin and the
 * separated-queue schema on generated legacy data: fresh and adopted
 * databases, drift, duplicates, an interrupted concurrent index build,
 * concurrent migrators, lock timeouts, the claim function under
 * concurrency, and the Prisma ledger mirror: claims that keep a concurrent
 * `prisma migrate deploy` off, withdrawn when a build fails.
 */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "th.h"

TestSuite(migrate, .init = th_setup, .fini = th_teardown, .timeout = 180);

/* The files in sql/migrations, and the highest version among them. */
static int
migrations(int *latest)
{
	char		 path[4096];
	DIR		*d;
	struct dirent	*e;
	int		 n = 0, v;

	snprintf(path, sizeof path, "%s/sql/migrations",
	    getenv("QSCHED_SRCDIR"));
	cr_assert_not_null(d = opendir(path), "%s", path);
	*latest = 0;
	while ((e = readdir(d)) != NULL) {
		if (sscanf(e->d_name, "%d_", &v) != 1 ||
		    strstr(e->d_name, ".sql") == NULL)
			continue;
		n++;
		*latest = v > *latest ? v : *latest;
	}
	closedir(d);
	return (n);
}

#define MIGRATIONS	migrations(&(int){ 0 })

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* The legacy app schema with generated data; ADOPT adds the app-made
 * separated tables holding DUPS duplicated live users. */
static void
legacy_db(PGconn *c, int users, bool adopt, int dups)
{
	th_exec_file(c, "sql/fixtures/legacy_schema.sql");
	if (adopt)
		th_exec_file(c, "sql/fixtures/app_separated_tables.sql");
	th_exec_file(c, "sql/fixtures/generate.sql");
	th_exec(c, "SELECT * FROM qsched_fixture.generate(%d, 7)", users);
	if (adopt)
		th_exec(c, "SELECT * FROM qsched_fixture.generate_separated(7, "
		    "%d)", dups);
}

/* jobs.conf with a schema-migrate job over DIR (NULL: the repository's
 * sql/migrations) plus EXTRA option lines. */
static const char *
migrate_conf(const char *dir, const char *extra)
{
	char	 jobs[4096];

	snprintf(jobs, sizeof jobs,
	    "job \"schema-migrate\" { plugin = \"schema_migrate\" "
	    "schedule = \"@manual\"\n options { dir = \"%s%s\"\n%s } }\n"
	    "job \"schema-migrate-2\" { plugin = \"schema_migrate\" "
	    "schedule = \"@manual\"\n options { dir = \"%s%s\"\n%s } }\n",
	    dir ? dir : getenv("QSCHED_SRCDIR"), dir ? "" : "/sql/migrations",
	    extra ? extra : "",
	    dir ? dir : getenv("QSCHED_SRCDIR"), dir ? "" : "/sql/migrations",
	    extra ? extra : "");
	return (th_conf_shipped(jobs));
}

static int
migrate(const char *conf, struct th_out *o)
{
	return (th_qsched(o, conf, "run", "schema-migrate", NULL));
}

/* A copy of sql/migrations in th_tmp/migrations, to edit. */
static const char *
migrations_copy(void)
{
	static char	 dir[4096];
	char		 cmd[8192];
	const char	*argv[] = { "sh", "-c", cmd, NULL };

	snprintf(dir, sizeof dir, "%s/migrations", th_tmp);
	snprintf(cmd, sizeof cmd, "cp -r '%s/sql/migrations' '%s'",
	    getenv("QSCHED_SRCDIR"), dir);
	cr_assert_eq(th_run(NULL, argv), 0);
	return (dir);
}

static long long
invalid_indexes(PGconn *c)
{
	return (th_int(c, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"));
}

/* Every object the migrations promise, read from the catalogs. */
static void
assert_schema(PGconn *c)
{
	static const char *const tables[] = { "unsigned_users_queue",
	    "outstanding_requests_queue", NULL };
	static const char *const columns[] = { "id", "user_id", "claim_id",
	    "priority_score", "queue_position", "status", "queue_reason",
	    "available_from", "assigned_to_agent", "assigned_at",
	    "created_at", "updated_at", "callback_id", NULL };
	static const char *const functions[] = { "queue_add", "queue_remove",
	    "queue_get", "queue_claim_next", "queue_complete",
	    "queue_release", "queue_expire_assignments", NULL };

	for (int t = 0; tables[t] != NULL; t++) {
		for (int i = 0; columns[i] != NULL; i++)
			cr_assert_eq(th_int(c, "SELECT count(*) FROM "
			    "information_schema.columns WHERE table_name = '%s' "
			    "AND column_name = '%s'", tables[t], columns[i]), 1,
			    "%s.%s", tables[t], columns[i]);
		/* Database defaults for id and updated_at. */
		cr_assert_eq(th_int(c, "SELECT count(*) FROM "
		    "information_schema.columns WHERE table_name = '%s' AND "
		    "column_name IN ('id', 'updated_at') AND column_default IS "
		    "NOT NULL", tables[t]), 2, "%s defaults", tables[t]);
		/* FKs to user_call_scores, agents and callbacks. */
		cr_assert_eq(th_int(c, "SELECT count(DISTINCT confrelid) FROM "
		    "pg_constraint WHERE conrelid = '%s'::regclass AND contype "
		    "= 'f' AND confrelid IN ('user_call_scores'::regclass, "
		    "'agents'::regclass, 'callbacks'::regclass)", tables[t]), 3,
		    "%s foreign keys", tables[t]);
		cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_constraint "
		    "WHERE conrelid = '%s'::regclass AND contype = 'c' AND "
		    "pg_get_constraintdef(oid) LIKE '%%status%%'", tables[t]),
		    1, "%s status check", tables[t]);
		/* One live entry per user: a partial unique index. */
		cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_index i WHERE "
		    "indrelid = '%s'::regclass AND indisunique AND indisvalid "
		    "AND pg_get_indexdef(indexrelid) LIKE '%%(user_id) WHERE%%'",
		    tables[t]), 1, "%s live unique index", tables[t]);
		/* The plan's indexes. */
		cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_indexes WHERE "
		    "tablename = '%s' AND indexdef LIKE '%%(status, "
		    "priority_score, available_from)'", tables[t]), 1);
		cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_indexes WHERE "
		    "tablename = '%s' AND indexdef LIKE '%%btree (user_id)'",
		    tables[t]), 1);
	}
	for (int f = 0; functions[f] != NULL; f++)
		cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_proc WHERE "
		    "proname = '%s'", functions[f]), 1, "%s()", functions[f]);
	cr_assert_eq(invalid_indexes(c), 0);
}

Test(migrate, fresh_database_gets_everything_and_a_rerun_is_a_no_op)
{
	PGconn		*c = th_connect();
	const char	*conf = migrate_conf(NULL, NULL);
	struct th_out	 o;
	char		*ledger, *again, *cq, *cq2;

	legacy_db(c, 2000, false, 0);
	cq = th_value(c, "SELECT md5(string_agg(t::text, '' ORDER BY id)) "
	    "FROM call_queue t");
	cr_assert_eq(migrate(conf, &o), 0, "%s", o.err);
	th_out_free(&o);
	assert_schema(c);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.schema_migrations"),
	    MIGRATIONS);
	ledger = th_value(c, "SELECT string_agg(version || checksum || "
	    "applied_at, ',' ORDER BY version) FROM qsched.schema_migrations");
	cr_assert_eq(migrate(conf, &o), 0, "%s", o.err);
	th_out_free(&o);
	again = th_value(c, "SELECT string_agg(version || checksum || "
	    "applied_at, ',' ORDER BY version) FROM qsched.schema_migrations");
	cr_assert_str_eq(again, ledger, "a rerun changes nothing");
	free(again);
	again = th_value(c, "SELECT message FROM qsched.runs ORDER BY id DESC "
	    "LIMIT 1");
	{
		char	 want[64];
		int	 latest;

		(void)migrations(&latest);
		snprintf(want, sizeof want, "up to date at version %d",
		    latest);
		cr_assert_str_eq(again, want);
	}
	/* call_queue is left untouched. */
	cq2 = th_value(c, "SELECT md5(string_agg(t::text, '' ORDER BY id)) "
	    "FROM call_queue t");
	cr_assert_str_eq(cq2, cq);
	free(ledger);
	free(again);
	free(cq);
	free(cq2);
	PQfinish(c);
}

Test(migrate, dry_run_lists_pending_files_and_changes_nothing)
{
	PGconn		*c = th_connect();
	const char	*conf = migrate_conf(NULL, NULL);
	struct th_out	 o;

	legacy_db(c, 100, false, 0);
	cr_assert_eq(th_qsched(&o, conf, "run", "schema-migrate", "--dry-run",
	    NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "pending  0001_separated_queue_tables.sql  "
	    "sha256 ") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, "0005_separated_queue_indexes.sql  sha256 ")
	    != NULL && strstr(o.out, "no transaction") != NULL, "%s", o.out);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_class WHERE relname = "
	    "'unsigned_users_queue'"), 0);
	th_out_free(&o);
	PQfinish(c);
}

Test(migrate, target_stops_at_a_version)
{
	PGconn		*c = th_connect();
	const char	*conf = migrate_conf(NULL, "target = \"2\"");
	struct th_out	 o;

	legacy_db(c, 100, false, 0);
	cr_assert_eq(migrate(conf, &o), 0, "%s", o.err);
	cr_assert_eq(th_int(c, "SELECT max(version) FROM "
	    "qsched.schema_migrations"), 2);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "schema-migrate", "--set",
	    "target=latest", NULL), 0, "%s", o.err);
	{
		int	 latest;

		(void)migrations(&latest);
		cr_assert_eq(th_int(c, "SELECT max(version) FROM "
		    "qsched.schema_migrations"), latest);
	}
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "schema-migrate", "--set",
	    "target=two", NULL), 1);
	cr_assert(strstr(o.err, "target") != NULL, "%s", o.err);
	th_out_free(&o);
	PQfinish(c);
}

Test(migrate, an_edited_applied_file_is_drift)
{
	PGconn		*c = th_connect();
	const char	*dir = migrations_copy();
	const char	*conf = migrate_conf(dir, NULL);
	struct th_out	 o;
	char		 path[4096], *text, *edited;

	legacy_db(c, 100, false, 0);
	cr_assert_eq(migrate(conf, &o), 0, "%s", o.err);
	th_out_free(&o);
	snprintf(path, sizeof path, "%s/0002_separated_queue_constraints.sql",
	    dir);
	text = th_read(path);
	cr_assert(asprintf(&edited, "%s\n-- an innocent comment\n", text) > 0);
	th_write(path, edited);
	cr_assert_eq(migrate(conf, &o), 1);
	cr_assert(strstr(o.err, "drift") != NULL && strstr(o.err,
	    "0002_separated_queue_constraints.sql") != NULL, "%s", o.err);
	free(text);
	text = th_value(c, "SELECT metrics->>'drift' FROM qsched.runs "
	    "ORDER BY id DESC LIMIT 1");
	cr_assert_str_eq(text, "0002_separated_queue_constraints.sql");
	th_out_free(&o);
	free(text);
	free(edited);
	PQfinish(c);
}

Test(migrate, adopting_duplicates_fails_cleanly_then_resolves_keeping_rows)
{
	PGconn		*c = th_connect();
	const char	*conf = migrate_conf(NULL, NULL);
	struct th_out	 o;
	char		*before, *after;
	long long	 rows;

	legacy_db(c, 3000, true, 40);
	rows = th_int(c, "SELECT (SELECT count(*) FROM unsigned_users_queue) "
	    "+ (SELECT count(*) FROM outstanding_requests_queue)");
	before = th_value(c, "SELECT md5(string_agg(t::text, '' ORDER BY id)) "
	    "FROM (SELECT * FROM unsigned_users_queue UNION ALL SELECT id, "
	    "user_id, claim_id, priority_score, queue_position, status, "
	    "queue_reason, NULL, NULL, available_from, assigned_to_agent, "
	    "assigned_at, created_at, updated_at FROM "
	    "outstanding_requests_queue) t");
	cr_assert_eq(migrate(conf, &o), 1);
	cr_assert(strstr(o.err, "23505") != NULL, "%s", o.err);
	cr_assert(strstr(o.err, "0004_separated_queue_live_duplicates.sql")
	    != NULL, "the file is named: %s", o.err);
	th_out_free(&o);
	cr_assert_eq(invalid_indexes(c), 0, "no INVALID index left");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM unsigned_users_queue "
	    "WHERE status = 'superseded'"), 0);
	after = th_value(c, "SELECT md5(string_agg(t::text, '' ORDER BY id)) "
	    "FROM (SELECT id, user_id, claim_id, priority_score, "
	    "queue_position, status, queue_reason, signature_missing_since, "
	    "signature_type, available_from, assigned_to_agent, assigned_at, "
	    "created_at, updated_at FROM unsigned_users_queue UNION ALL "
	    "SELECT id, user_id, claim_id, priority_score, queue_position, "
	    "status, queue_reason, NULL, NULL, available_from, "
	    "assigned_to_agent, assigned_at, created_at, updated_at FROM "
	    "outstanding_requests_queue) t");
	cr_assert_str_eq(after, before, "no row changed");

	cr_assert_eq(th_qsched(&o, conf, "run", "schema-migrate", "--set",
	    "resolve_duplicates=true", NULL), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_int(c, "SELECT (SELECT count(*) FROM "
	    "unsigned_users_queue) + (SELECT count(*) FROM "
	    "outstanding_requests_queue)"), rows, "no row lost");
	cr_assert(th_int(c, "SELECT count(*) FROM unsigned_users_queue "
	    "WHERE status = 'superseded'") > 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM (SELECT user_id FROM "
	    "unsigned_users_queue WHERE status IN ('pending', 'assigned') "
	    "GROUP BY user_id HAVING count(*) > 1) d"), 0);
	/* Entries whose user has no score row are kept; the user foreign
	 * key stays NOT VALID instead. */
	cr_assert_gt(th_int(c, "SELECT count(*) FROM unsigned_users_queue q "
	    "WHERE NOT EXISTS (SELECT 1 FROM user_call_scores s WHERE "
	    "s.user_id = q.user_id)"), 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_constraint WHERE "
	    "conrelid = 'unsigned_users_queue'::regclass AND contype = 'f' "
	    "AND confrelid = 'user_call_scores'::regclass AND NOT "
	    "convalidated"), 1);
	assert_schema(c);
	free(before);
	free(after);
	PQfinish(c);
}

/*
 * The Prisma mirror as a finished run leaves it: one row per migration
 * file, its checksum qsched's, finished, one step, no logs, no failed or
 * rolled-back row, and no claim.
 */
static void
assert_prisma_mirror_complete(PGconn *c)
{
	cr_assert_eq(th_int(c, "SELECT count(*) FROM \"_prisma_migrations\""),
	    MIGRATIONS, "one row per file, nothing else");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.schema_migrations "
	    "s JOIN \"_prisma_migrations\" p ON p.migration_name = "
	    "lpad(s.version::text, 14, '0') || '_' || s.name AND p.checksum = "
	    "s.checksum AND p.finished_at IS NOT NULL AND p.rolled_back_at IS "
	    "NULL AND p.applied_steps_count = 1 AND p.logs IS NULL AND "
	    "length(p.id) = 36"), MIGRATIONS, "each row as Prisma writes an "
	    "applied migration, with qsched's checksum");
}

Test(migrate, kill_9_during_a_concurrent_index_build_is_repaired)
{
	PGconn		*c = th_connect(), *blocker = th_connect();
	const char	*conf = migrate_conf(NULL, "lock_timeout = \"1h\" "
	    "prisma_ledger = true");
	struct th_out	 o;
	pid_t		 qs;
	char		 want[64];

	legacy_db(c, 500, false, 0);
	/*
	 * CREATE INDEX CONCURRENTLY waits for every older transaction: an
	 * open one holds the build in its first phase, index INVALID.
	 */
	th_exec(blocker, "BEGIN ISOLATION LEVEL REPEATABLE READ; "
	    "SELECT count(*) FROM agents");
	qs = th_qsched_spawn(conf, "run", "schema-migrate", NULL);
	cr_assert(th_wait_until(c, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND wait_event_type = 'Lock' "
	    "AND query LIKE 'CREATE INDEX CONCURRENTLY%') AND EXISTS (SELECT 1 "
	    "FROM pg_index WHERE NOT indisvalid)", 30000),
	    "a build waits, its index INVALID");
	th_kill(qs, SIGKILL);
	cr_assert_eq(th_wait(qs, 10000), 128 + SIGKILL);
	/* The dead worker's backend ends within its check interval; only
	 * then may the blocker go, or the orphaned build would finish. */
	cr_assert(th_wait_until(c, "SELECT count(*) = 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name LIKE "
	    "'qsched/schema-migrate/%'", 10000));
	th_exec(blocker, "COMMIT");
	cr_assert_geq(invalid_indexes(c), 1, "the interrupted build left an "
	    "INVALID index");
	/* Nobody was left to withdraw the claims of 0005 and later. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM \"_prisma_migrations\" "
	    "WHERE applied_steps_count = 0 AND logs LIKE 'qsched: applying%%'"),
	    MIGRATIONS - 4);
	cr_assert_eq(migrate(conf, &o), 0, "%s", o.err);
	snprintf(want, sizeof want, "deleted %d claims", MIGRATIONS - 4);
	cr_assert(strstr(o.err, want) != NULL, "%s", o.err);
	th_out_free(&o);
	assert_schema(c);
	assert_prisma_mirror_complete(c);
	cr_assert(th_int(c, "SELECT (metrics->>'invalid_indexes_dropped')::int "
	    "FROM qsched.runs ORDER BY id DESC LIMIT 1") >= 1);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.schema_migrations"),
	    MIGRATIONS);
	PQfinish(blocker);
	PQfinish(c);
}

Test(migrate, concurrent_migrators_serialise_and_record_each_once)
{
	PGconn		*c = th_connect();
	const char	*conf = migrate_conf(NULL, NULL);
	pid_t		 a, b;

	legacy_db(c, 2000, false, 0);
	/* Two jobs, so the job lock does not keep one of them out: the
	 * migrators' own lock must serialise them. */
	a = th_qsched_spawn(conf, "run", "schema-migrate", NULL);
	b = th_qsched_spawn(conf, "run", "schema-migrate-2", NULL);
	cr_assert_eq(th_wait(a, 60000), 0);
	cr_assert_eq(th_wait(b, 60000), 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.schema_migrations"),
	    MIGRATIONS);
	cr_assert_eq(th_int(c, "SELECT sum((metrics->>'applied')::int) FROM "
	    "qsched.runs"), MIGRATIONS, "each migration applied once");
	assert_schema(c);
	PQfinish(c);
}

/* Time one statement on CONN, in ms. */
static long long
timed(PGconn *conn, const char *sql)
{
	long long	 t0 = now_ms();

	th_exec(conn, "%s", sql);
	return (now_ms() - t0);
}

Test(migrate, a_long_transaction_makes_ddl_retry_without_blocking_others)
{
	PGconn		*c = th_connect(), *holder = th_connect();
	PGconn		*reader = th_connect();
	const char	*conf = migrate_conf(NULL,
	    "lock_timeout = \"300ms\" lock_retries = 200");
	long long	 worst = 0, t, t0;
	pid_t		 qs;

	legacy_db(c, 500, false, 0);
	/* A long write transaction on user_call_scores: adding the foreign
	 * keys that reference it must wait for it. */
	th_exec(holder, "BEGIN; UPDATE user_call_scores SET last_outcome = "
	    "last_outcome WHERE user_id = (SELECT min(user_id) FROM "
	    "user_call_scores)");
	qs = th_qsched_spawn(conf, "run", "schema-migrate", NULL);
	cr_assert(th_wait_until(c, "SELECT EXISTS (SELECT 1 FROM pg_locks l "
	    "JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND "
	    "a.application_name LIKE 'qsched/schema-migrate/%')", 30000),
	    "the migration waits for its lock");
	/* Readers and writers of the table keep going meanwhile, each
	 * delayed at most about one lock_timeout. */
	t0 = now_ms();
	while (now_ms() - t0 < 3000) {
		t = timed(reader, "SELECT count(*) FROM user_call_scores");
		worst = t > worst ? t : worst;
		t = timed(reader, "UPDATE user_call_scores SET last_outcome = "
		    "last_outcome WHERE user_id = (SELECT max(user_id) FROM "
		    "user_call_scores)");
		worst = t > worst ? t : worst;
	}
	cr_assert_lt(worst, 1000, "a query waited %lld ms behind the "
	    "migration (lock_timeout 300 ms)", worst);
	cr_assert_eq(th_wait(qs, 100), -1, "still retrying");
	th_exec(holder, "COMMIT");
	cr_assert_eq(th_wait(qs, 60000), 0);
	assert_schema(c);
	PQfinish(holder);
	PQfinish(reader);
	PQfinish(c);
}

/*
 * A migrated database whose unsigned queue holds ENTRIES pending entries
 * (users 9000001.., positions 1..ENTRIES, available a minute ago), and
 * AGENTS agents numbered from FIRST_AGENT.
 */
static void
claim_queue(PGconn *c, const char *conf, int first_agent, int agents,
    int entries)
{
	struct th_out	 o;

	legacy_db(c, 10, false, 0);
	cr_assert_eq(migrate(conf, &o), 0, "%s", o.err);
	th_out_free(&o);
	th_exec(c, "TRUNCATE unsigned_users_queue; "
	    "INSERT INTO agents (id, email, password_hash, first_name, "
	    "last_name, updated_at) SELECT g, 'claim' || g || '@x', '', '', '', "
	    "now() FROM generate_series(%d, %d) g; "
	    "INSERT INTO user_call_scores (id, user_id, updated_at) "
	    "SELECT gen_random_uuid(), 9000000 + g, now() "
	    "FROM generate_series(1, %d) g; "
	    "INSERT INTO unsigned_users_queue (user_id, queue_position, "
	    "available_from) SELECT 9000000 + g, g, now() AT TIME ZONE 'UTC' - "
	    "interval '1 minute' FROM generate_series(1, %d) g", first_agent,
	    first_agent + agents - 1, entries, entries);
}

/* One agent: claim until the queue is empty, logging what it got. */
static void __attribute__((noreturn))
claimer(int agent)
{
	PGconn		*conn = PQconnectdb(th_conninfo);
	PGresult	*res;
	char		 sql[256];

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "claimer %d: %s", agent, PQerrorMessage(conn));
		_exit(2);
	}
	snprintf(sql, sizeof sql, "INSERT INTO claims SELECT id, %d FROM "
	    "queue_claim_next('unsigned_users', %d) RETURNING 1", agent,
	    agent);
	for (;;) {
		res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "claimer %d: %s", agent,
			    PQresultErrorMessage(res));
			_exit(3);
		}
		if (PQntuples(res) == 0)
			break;
		PQclear(res);
	}
	PQclear(res);
	PQfinish(conn);
	_exit(0);
}

Test(migrate, eight_agents_claim_ten_thousand_entries_each_exactly_once)
{
	PGconn		*c = th_connect();
	const char	*conf = migrate_conf(NULL, NULL);
	pid_t		 kids[8];
	int		 st;

	claim_queue(c, conf, 9001, 8, 10000);
	th_exec(c, "CREATE TABLE claims (entry uuid, agent int)");
	for (int i = 0; i < 8; i++) {
		kids[i] = fork();
		cr_assert_neq(kids[i], -1);
		if (kids[i] == 0)
			claimer(9001 + i);
	}
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(waitpid(kids[i], &st, 0), kids[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "claimer %d "
		    "failed", i);
	}
	cr_assert_eq(th_int(c, "SELECT count(*) FROM claims"), 10000);
	cr_assert_eq(th_int(c, "SELECT count(DISTINCT entry) FROM claims"),
	    10000, "no entry claimed twice");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM claims k JOIN "
	    "unsigned_users_queue q ON q.id = k.entry AND q.assigned_to_agent "
	    "= k.agent AND q.status = 'assigned'"), 10000);
	cr_assert(th_int(c, "SELECT count(DISTINCT agent) FROM claims") > 1,
	    "the agents really ran concurrently");
	PQfinish(c);
}

/*
 * A claim that waits holds no entry (migration 0010).  Entry 1 is being
 * claimed by agent A (uncommitted) and entry 2 rewritten by a refresh
 * (uncommitted), so a third claim finds nothing to skip to and waits.
 * A commits; the claim must not now keep entry 1 locked while it waits
 * for entry 2: A completes entry 1 under a lock_timeout shorter than
 * deadlock_timeout.  With 0009's FOR UPDATE walk the completion waited
 * for the claim (55P03 here; in production a three-way deadlock, 40P01,
 * once the refresh needed one of A's rows).  When the refresh commits,
 * the waiting claim gets entry 2.
 */
Test(migrate, a_waiting_claim_keeps_no_lock_on_entries_it_does_not_take)
{
	PGconn		*c = th_connect(), *a = th_connect();
	PGconn		*refresh = th_connect(), *waiter = th_connect();
	const char	*conf = migrate_conf(NULL, NULL);
	PGresult	*res;
	char		*e1, *e2, *got, sql[160];

	claim_queue(c, conf, 9101, 3, 2);
	e1 = th_value(c, "SELECT id FROM unsigned_users_queue "
	    "WHERE queue_position = 1");
	e2 = th_value(c, "SELECT id FROM unsigned_users_queue "
	    "WHERE queue_position = 2");

	th_exec(a, "BEGIN");
	got = th_value(a, "SELECT id FROM queue_claim_next('unsigned_users', "
	    "9101)");
	cr_assert_str_eq(got, e1);
	free(got);
	th_exec(refresh, "BEGIN; UPDATE unsigned_users_queue SET "
	    "queue_position = 3 WHERE id = '%s'", e2);
	cr_assert_eq(PQsendQuery(waiter, "SELECT id FROM queue_claim_next("
	    "'unsigned_users', 9103)"), 1);
	snprintf(sql, sizeof sql, "SELECT pg_blocking_pids(%d) = "
	    "ARRAY[%d]", PQbackendPID(waiter), PQbackendPID(a));
	cr_assert(th_wait_until(c, sql, 10000), "the claim never waited "
	    "for entry 1");
	th_exec(a, "COMMIT");
	snprintf(sql, sizeof sql, "SELECT pg_blocking_pids(%d) = "
	    "ARRAY[%d]", PQbackendPID(waiter), PQbackendPID(refresh));
	cr_assert(th_wait_until(c, sql, 10000), "the claim never went on "
	    "to wait for entry 2");
	th_exec(a, "SET lock_timeout = '300ms'");
	snprintf(sql, sizeof sql, "SELECT id FROM queue_complete("
	    "'unsigned_users', '%s', 9101)", e1);
	res = PQexec(a, sql);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "completing "
	    "entry 1 waited for the claim: %s", PQresultErrorMessage(res));
	PQclear(res);
	cr_assert_eq(PQconsumeInput(waiter), 1);
	cr_assert(PQisBusy(waiter), "the claim came back while entry 2 was "
	    "held");

	th_exec(refresh, "COMMIT");
	res = PQgetResult(waiter);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s",
	    PQresultErrorMessage(res));
	cr_assert_eq(PQntuples(res), 1, "the waiting claim came back empty");
	cr_assert_str_eq(PQgetvalue(res, 0, 0), e2);
	PQclear(res);
	while ((res = PQgetResult(waiter)) != NULL)
		PQclear(res);
	free(e1);
	free(e2);
	PQfinish(waiter);
	PQfinish(refresh);
	PQfinish(a);
	PQfinish(c);
}

Test(migrate, prisma_mirror_rows_carry_names_and_checksums)
{
	PGconn		*c = th_connect();
	char		 dir[4096], *v;
	const char	*conf;
	struct th_out	 o;

	/* prisma-ledger.md's test vector: "SELECT 1;\n". */
	snprintf(dir, sizeof dir, "%s/vectors", th_tmp);
	cr_assert_eq(mkdir(dir, 0755), 0);
	th_writef("vectors/0001_select_one.sql", "SELECT 1;\n");
	th_writef("vectors/0002_named.sql", "-- qsched:prisma-name "
	    "20251201120000_create_separated_queue_tables\nSELECT 2;\n");
	conf = migrate_conf(dir, "prisma_ledger = true expect_tables = \"\"");
	/* A failed Prisma row of the same name must not survive success. */
	th_exec(c, "CREATE TABLE \"_prisma_migrations\" (id varchar(36) "
	    "PRIMARY KEY NOT NULL, checksum varchar(64) NOT NULL, finished_at "
	    "timestamptz, migration_name varchar(255) NOT NULL, logs text, "
	    "rolled_back_at timestamptz, started_at timestamptz NOT NULL "
	    "DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0); "
	    "INSERT INTO \"_prisma_migrations\" (id, checksum, migration_name, "
	    "logs) VALUES ('x', 'y', '00000000000001_select_one', 'boom')");
	cr_assert_eq(migrate(conf, &o), 0, "%s", o.err);
	th_out_free(&o);
	v = th_value(c, "SELECT string_agg(migration_name || ' ' || checksum "
	    "|| ' ' || applied_steps_count || ' ' || (finished_at IS NOT "
	    "NULL) || ' ' || (logs IS NULL) || ' ' || (length(id) = 36), "
	    "',' ORDER BY migration_name) FROM \"_prisma_migrations\" "
	    "WHERE rolled_back_at IS NULL");
	cr_assert_str_eq(v, "00000000000001_select_one "
	    "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd "
	    "1 true true true,"
	    "20251201120000_create_separated_queue_tables "
	    "650ad5aecc34fff1eedc516139d82aed156436ef4ac33bc63f751ee9537632e4 "
	    "1 true true true");
	free(v);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM \"_prisma_migrations\" "
	    "WHERE finished_at IS NULL AND rolled_back_at IS NULL"), 0,
	    "no failed row left after success");
	/* The same checksum in qsched's own ledger. */
	v = th_value(c, "SELECT checksum FROM qsched.schema_migrations "
	    "WHERE version = 1");
	cr_assert_str_eq(v, "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e8"
	    "0932567b4085dcd");
	free(v);
	/* Rerun: nothing added. */
	cr_assert_eq(migrate(conf, &o), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM \"_prisma_migrations\""),
	    3);
	PQfinish(c);
}

/* A transaction whose snapshot every CREATE INDEX CONCURRENTLY waits for;
 * true once schema-migrate's build is seen waiting for it. */
static bool
build_waiting(PGconn *c)
{
	return (th_wait_until(c, "SELECT EXISTS (SELECT 1 FROM "
	    "pg_stat_activity WHERE datname = current_database() AND "
	    "wait_event_type = 'Lock' AND application_name LIKE "
	    "'qsched/schema-migrate/%' AND query LIKE "
	    "'CREATE INDEX CONCURRENTLY%')", 30000));
}

#define PRISMA_LOCK_HOLDERS	"SELECT count(*) FROM pg_locks WHERE " \
	"locktype = 'advisory' AND classid = 0 AND objid = 72707369 AND " \
	"objsubid = 1"

Test(migrate, prisma_lock_is_free_during_a_concurrent_build_and_claims_keep_deploy_off)
{
	PGconn		*c = th_connect(), *blocker = th_connect();
	PGconn		*deploy = th_connect();
	const char	*conf = migrate_conf(NULL, "prisma_ledger = true "
	    "lock_timeout = \"1h\"");
	long long	 t0, waited;
	pid_t		 qs;

	legacy_db(c, 500, false, 0);
	th_exec(blocker, "BEGIN ISOLATION LEVEL REPEATABLE READ; "
	    "SELECT count(*) FROM agents");
	qs = th_qsched_spawn(conf, "run", "schema-migrate", NULL);
	cr_assert(build_waiting(c), "0005's build waits for the open "
	    "transaction");
	cr_assert_eq(th_int(c, PRISMA_LOCK_HOLDERS), 0, "nobody holds "
	    "Prisma's lock while the build runs");
	/*
	 * What `prisma migrate deploy` does: wait for the lock inside a
	 * statement (10 s at most), read the ledger, apply what has no
	 * row that is not rolled back, and fail on a row neither finished
	 * nor rolled back (P3009).
	 */
	t0 = now_ms();
	th_exec(deploy, "SET statement_timeout = '10s'; "
	    "SELECT pg_advisory_lock(72707369)");
	waited = now_ms() - t0;
	cr_assert_lt(waited, 2000, "deploy waited %lld ms for the lock",
	    waited);
	cr_assert_eq(th_int(deploy, "SELECT count(*) FROM "
	    "\"_prisma_migrations\" WHERE finished_at IS NULL AND "
	    "rolled_back_at IS NULL"), 0, "no row deploy calls failed");
	cr_assert_eq(th_int(deploy, "SELECT count(DISTINCT migration_name) "
	    "FROM \"_prisma_migrations\" WHERE rolled_back_at IS NULL"),
	    MIGRATIONS, "every migration has a row deploy leaves alone");
	cr_assert_geq(th_int(deploy, "SELECT count(*) FROM "
	    "\"_prisma_migrations\" WHERE applied_steps_count = 0 AND logs "
	    "LIKE 'qsched: applying%%' AND migration_name LIKE "
	    "'00000000000005_%%'"), 1, "0005 is claimed, not yet applied");
	/* Holding Prisma's lock now delays neither the build nor the run. */
	th_exec(blocker, "COMMIT");
	cr_assert_eq(th_wait(qs, 60000), 0);
	th_exec(deploy, "SELECT pg_advisory_unlock(72707369)");
	assert_prisma_mirror_complete(c);
	assert_schema(c);
	cr_assert_lt(th_int(c, "SELECT (metrics->>'prisma_lock_held_ms')::int "
	    "FROM qsched.runs ORDER BY id DESC LIMIT 1"), 1000,
	    "Prisma's lock held well under its 10 s wait");
	PQfinish(deploy);
	PQfinish(blocker);
	PQfinish(c);
}

/* How the build is stopped mid-way (arrays, not pointers: Criterion
 * copies parameters into the test's process). */
struct build_stop {
	char	 fn[32];
	int	 status;		/* qsched's exit status */
};
static struct build_stop build_stops[] = {
	/* The statement fails (57014): the job failed. */
	{ "pg_cancel_backend", 1 },
	/* The run's connection goes too (08006): the database is
	 * unreachable; the claims go through a connection of their own. */
	{ "pg_terminate_backend", 3 },
};

ParameterizedTestParameters(migrate, a_failed_build_withdraws_the_claims)
{
	return (cr_make_param_array(struct build_stop, build_stops,
	    sizeof build_stops / sizeof build_stops[0]));
}

ParameterizedTest(struct build_stop *stop, migrate,
    a_failed_build_withdraws_the_claims)
{
	PGconn		*c = th_connect(), *blocker = th_connect();
	const char	*conf = migrate_conf(NULL, "prisma_ledger = true "
	    "lock_timeout = \"1h\"");
	struct th_out	 o;
	pid_t		 qs;
	int		 rc;
	char		 want[64];

	legacy_db(c, 500, false, 0);
	th_exec(blocker, "BEGIN ISOLATION LEVEL REPEATABLE READ; "
	    "SELECT count(*) FROM agents");
	qs = th_qsched_spawn(conf, "run", "schema-migrate", NULL);
	cr_assert(build_waiting(c));
	th_exec(c, "SELECT %s(pid) FROM pg_stat_activity WHERE datname = "
	    "current_database() AND query LIKE 'CREATE INDEX CONCURRENTLY%%' "
	    "AND application_name LIKE 'qsched/schema-migrate/%%'", stop->fn);
	rc = th_wait(qs, 30000);
	th_output(qs, &o);
	cr_assert_eq(rc, stop->status, "%s: the run fails: %s", stop->fn,
	    o.err);
	if (strcmp(stop->fn, "pg_cancel_backend") == 0)
		cr_assert_eq(invalid_indexes(c), 0, "the failed build's "
		    "INVALID index is dropped at once");
	/* 0005 and every file after it. */
	snprintf(want, sizeof want, "withdrew %d claims", MIGRATIONS - 4);
	cr_assert(strstr(o.err, want) != NULL, "%s", o.err);
	th_out_free(&o);
	th_exec(blocker, "COMMIT");
	/*
	 * What Prisma reads: 0001-0004 applied; nothing for the others,
	 * so `migrate status` lists them as not yet applied (a rolled-back
	 * row would make it say "up to date"); no failed row.
	 */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM \"_prisma_migrations\""),
	    4);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM \"_prisma_migrations\" "
	    "WHERE migration_name < '00000000000005' AND finished_at IS NOT "
	    "NULL AND rolled_back_at IS NULL AND applied_steps_count = 1"), 4);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.schema_migrations"),
	    4);
	cr_assert_eq(migrate(conf, &o), 0, "%s", o.err);
	th_out_free(&o);
	assert_prisma_mirror_complete(c);
	assert_schema(c);
	PQfinish(blocker);
	PQfinish(c);
}
