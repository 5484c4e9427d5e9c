/*
 * test_deprecation.c - tests/pg_deprecation: the legacy_deprecation
 * plugin against a real legacy database, with the real migration,
 * backfill and population jobs: the state machine on flag flips, each
 * evidence gate failing on its own, rollback, archive and purge killed
 * with SIGKILL and resumed, referenced rows kept, the drop refused until
 * every condition holds, and restore.
 */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "th.h"
#include "deprecation_fixture.h"

TestSuite(deprecation, .init = th_setup, .fini = th_teardown, .timeout = 300);

#define SLOW_MONITOR	"monitoring_period = \"14d\""
#define NO_MONITOR	"monitoring_period = \"0s\""
#define RETIRED		"queue_type IN ('unsigned_users', " \
			"'outstanding_requests')"

static void
assert_has(const char *s, const char *part)
{
	cr_assert(strstr(s, part) != NULL, "\"%s\" not in \"%s\"", part, s);
}

static long long
transitions(PGconn *c, const char *object, const char *from, const char *to)
{
	return (th_int(c, "SELECT count(*) FROM qsched_legacy.transitions "
	    "WHERE object = '%s' AND from_state = '%s' AND to_state = '%s'",
	    object, from, to));
}

/* Three sessions referencing unsigned_users rows: kept by any purge. */
static void
reference_some(PGconn *c)
{
	th_exec(c, "INSERT INTO call_sessions (id, user_id, call_queue_id, "
	    "updated_at) SELECT gen_random_uuid(), user_id, id, now() FROM "
	    "call_queue WHERE queue_type = 'unsigned_users' ORDER BY id "
	    "LIMIT 3");
}

Test(deprecation, flag_flips_freeze_and_roll_back)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 11, SLOW_MONITOR);
	long long	 run;

	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "dual_write");
	dep_assert_state(c, "call_queue", "dual_write");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.transitions"), 0);
	cr_assert_eq(dep_counter(c, "gate_unsigned_users_consistency"), 1);

	dep_flag(0);
	dep_run(conf, NULL, NULL);
	run = th_int(c, "SELECT max(id) FROM qsched.runs WHERE job = "
	    "'legacy-deprecation'");
	dep_assert_state(c, "unsigned_users", "frozen");
	dep_assert_state(c, "outstanding_requests", "frozen");
	dep_assert_state(c, "call_queue", "frozen");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched_legacy.transitions "
	    "WHERE to_state = 'frozen' AND run_id = %lld AND evidence ? "
	    "'consistency' AND at IS NOT NULL", run), 3);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched_legacy.retirement "
	    "WHERE frozen_at IS NOT NULL"), 3);

	dep_flag(1);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "dual_write");
	dep_assert_state(c, "call_queue", "dual_write");
	cr_assert_eq(transitions(c, "outstanding_requests", "frozen",
	    "dual_write"), 1);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched_legacy.retirement "
	    "WHERE frozen_at IS NULL AND monitoring_since IS NULL"), 3);
	PQfinish(c);
}

Test(deprecation, rollback_from_monitoring_resets_the_clock)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 12, SLOW_MONITOR);
	char		*s;

	dep_monitoring(c, conf);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched_legacy.retirement "
	    "WHERE monitoring_since IS NOT NULL AND object <> 'call_queue'"), 2);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "monitoring");	/* 14d */

	dep_flag(1);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "dual_write");
	dep_assert_state(c, "outstanding_requests", "dual_write");
	cr_assert_eq(transitions(c, "unsigned_users", "monitoring",
	    "dual_write"), 1);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched_legacy.retirement "
	    "WHERE monitoring_since IS NOT NULL"), 0);
	/* The population writes call_queue again. */
	dep_populate(conf);
	s = th_value(c, "SELECT message FROM qsched.runs WHERE job = "
	    "'unsigned-population' ORDER BY id DESC LIMIT 1");
	assert_has(s, "call_queue:");
	free(s);
	PQfinish(c);
}

Test(deprecation, failed_population_run_resets_only_its_clock)
{
	PGconn		*c = th_connect(), *c2 = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 13, SLOW_MONITOR);
	struct th_out	 o;
	char		*s;

	dep_monitoring(c, conf);
	th_exec(c2, "BEGIN; LOCK TABLE unsigned_users_queue IN ACCESS "
	    "EXCLUSIVE MODE");
	cr_assert_neq(th_qsched(&o, conf, "run", "unsigned-population", NULL),
	    0, "the population should fail on lock_timeout");
	th_out_free(&o);
	th_exec(c2, "ROLLBACK");
	PQfinish(c2);

	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "monitoring");
	cr_assert_eq(dep_counter(c, "gate_unsigned_users_healthy"), 0);
	cr_assert_eq(dep_counter(c, "gate_unsigned_users_agents"), 1);
	cr_assert_eq(dep_counter(c, "gate_outstanding_requests_healthy"), 1);
	s = th_value(c, "SELECT note FROM qsched_legacy.transitions WHERE "
	    "object = 'unsigned_users' ORDER BY id DESC LIMIT 1");
	assert_has(s, "monitoring clock reset: gate healthy failed");
	assert_has(s, "1 failed/timed out/crashed");
	free(s);
	cr_assert_eq(transitions(c, "unsigned_users", "monitoring",
	    "monitoring"), 1);
	cr_assert_eq(transitions(c, "outstanding_requests", "monitoring",
	    "monitoring"), 0);
	PQfinish(c);
}

Test(deprecation, legacy_row_after_the_freeze_fails_the_agents_gate)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 14, SLOW_MONITOR);
	char		*s;

	dep_monitoring(c, conf);
	th_exec(c, "INSERT INTO call_queue (id, user_id, queue_type, "
	    "updated_at) SELECT gen_random_uuid(), user_id, "
	    "'unsigned_users', now() FROM user_call_scores ORDER BY user_id "
	    "LIMIT 1");
	dep_run(conf, NULL, NULL);
	cr_assert_eq(dep_counter(c, "gate_unsigned_users_agents"), 0);
	cr_assert_eq(dep_counter(c, "gate_unsigned_users_healthy"), 1);
	cr_assert_eq(dep_counter(c, "gate_outstanding_requests_agents"), 1);
	s = dep_note(c, "gate_unsigned_users_agents_detail");
	assert_has(s, "1 call_queue rows of unsigned_users created or "
	    "assigned since");
	free(s);
	cr_assert_eq(transitions(c, "unsigned_users", "monitoring",
	    "monitoring"), 1);
	cr_assert_eq(transitions(c, "outstanding_requests", "monitoring",
	    "monitoring"), 0);
	PQfinish(c);
}

Test(deprecation, dual_write_mismatch_is_counted_and_holds_the_freeze)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 15, SLOW_MONITOR);
	char		*user, *s;

	user = th_value(c, "DELETE FROM unsigned_users_queue WHERE id = "
	    "(SELECT id FROM unsigned_users_queue WHERE status = 'pending' "
	    "ORDER BY id LIMIT 1) RETURNING user_id");
	dep_run(conf, NULL, NULL);
	cr_assert_eq(dep_counter(c, "gate_unsigned_users_consistency"), 0);
	cr_assert_eq(dep_counter(c, "gate_outstanding_requests_consistency"),
	    1);
	s = dep_note(c, "gate_unsigned_users_consistency_detail");
	assert_has(s, "1 only in call_queue");
	assert_has(s, user);
	free(s);

	dep_flag(0);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "frozen");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched_legacy.retirement "
	    "WHERE object = 'unsigned_users' AND NOT freeze_consistent"), 1);
	dep_populate(conf);
	dep_claim(c);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "frozen");
	dep_assert_state(c, "outstanding_requests", "monitoring");
	s = dep_note(c, "why_unsigned_users");
	assert_has(s, "gate consistency failed");
	free(s);
	free(user);
	PQfinish(c);
}

Test(deprecation, foreign_key_and_other_types_block_the_table)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 16, NO_MONITOR);
	long long	 sessions;
	char		*s;

	reference_some(c);
	dep_monitoring(c, conf);
	dep_run(conf, NULL, NULL);			/* archive */
	dep_run(conf, NULL, NULL);			/* purge */
	dep_assert_state(c, "unsigned_users", "purged");
	dep_assert_state(c, "outstanding_requests", "purged");
	/* Referenced rows are kept, every other one is gone. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue WHERE "
	    RETIRED), th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive AS a WHERE " RETIRED " AND "
	    "EXISTS (SELECT 1 FROM call_sessions AS s WHERE s.call_queue_id "
	    "= a.id)"));
	cr_assert_geq(th_int(c, "SELECT count(*) FROM call_queue WHERE "
	    "queue_type = 'unsigned_users'"), 3);

	th_exec(c, "INSERT INTO call_queue (id, user_id, queue_type, "
	    "updated_at) SELECT gen_random_uuid(), user_id, 'manual_call', "
	    "now() FROM user_call_scores ORDER BY user_id LIMIT 1");
	sessions = th_int(c, "SELECT count(*) FROM call_sessions");
	dep_run(conf, "--set=allow_drop=true",
	    "--set=confirm=0123456789abcdef");
	dep_assert_state(c, "call_queue", "frozen");
	cr_assert_eq(dep_counter(c, "gate_call_queue_independent"), 0);
	s = dep_message(c);
	assert_has(s, "call_sessions_call_queue_id_fkey on "
	    "public.call_sessions(call_queue_id)");
	free(s);
	s = dep_note(c, "gate_call_queue_independent_detail");
	{
		char	 want[96];

		snprintf(want, sizeof want, "%lld rows", sessions);
		assert_has(s, want);
	}
	assert_has(s, "1 rows of other queue types written since");
	assert_has(s, "latest: manual_call");
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_class WHERE relname = "
	    "'call_queue'"), 1);
	PQfinish(c);
}

Test(deprecation, drop_only_with_allow_drop_and_the_right_confirm)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 17, NO_MONITOR);
	char		*before, *after, *digest, *s, arg[64];
	long long	 rows;

	th_exec(c, "ALTER TABLE call_sessions DROP CONSTRAINT "
	    "call_sessions_call_queue_id_fkey");
	before = dep_rows_md5(c, "call_queue", "true");
	rows = th_int(c, "SELECT count(*) FROM call_queue");
	dep_monitoring(c, conf);
	dep_assert_state(c, "call_queue", "monitoring");
	dep_run(conf, NULL, NULL);		/* the types: archive */
	dep_run(conf, NULL, NULL);		/* purge; the table: archive */
	dep_assert_state(c, "call_queue", "archived");
	dep_run(conf, NULL, NULL);		/* the table: purge */
	dep_assert_state(c, "call_queue", "purged");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue"), 0);

	dep_run(conf, NULL, NULL);
	s = dep_message(c);
	assert_has(s, "allow_drop is false");
	assert_has(s, "confirm is not set");
	free(s);
	digest = th_value(c, "SELECT archive_digest FROM "
	    "qsched_legacy.retirement WHERE object = 'call_queue'");
	s = dep_note(c, "archive_digest_call_queue");
	cr_assert_str_eq(s, digest);
	free(s);

	dep_run(conf, "--set=allow_drop=true", NULL);
	s = dep_message(c);
	assert_has(s, "confirm is not set");
	free(s);
	dep_run(conf, "--set=allow_drop=true",
	    "--set=confirm=0123456789abcdef");
	s = dep_message(c);
	assert_has(s, "confirm \"0123456789abcdef\" is not the archive digest");
	free(s);
	dep_assert_state(c, "call_queue", "purged");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_class WHERE relname = "
	    "'call_queue'"), 1);

	snprintf(arg, sizeof arg, "--set=confirm=%s", digest);
	dep_run(conf, "--set=allow_drop=true", arg);
	dep_assert_state(c, "call_queue", "dropped");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_class WHERE relname = "
	    "'call_queue'"), 0);
	/* Everything is in the archive, byte for byte. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive"), rows);
	after = dep_rows_md5(c, "qsched_legacy.call_queue_archive", "true");
	cr_assert_str_eq(before, after);
	dep_run(conf, NULL, NULL);		/* and later runs are fine */
	free(before);
	free(after);
	free(digest);
	PQfinish(c);
}

Test(deprecation, restore_after_purge_gives_back_identical_rows)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 18, NO_MONITOR);
	char		*before, *after;
	long long	 rows;

	before = dep_rows_md5(c, "call_queue", "true");
	rows = th_int(c, "SELECT count(*) FROM call_queue");
	dep_monitoring(c, conf);
	dep_run(conf, NULL, NULL);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "purged");
	cr_assert_lt(th_int(c, "SELECT count(*) FROM call_queue"), rows);

	dep_run(conf, "--set=action=restore", NULL);
	dep_assert_state(c, "unsigned_users", "dual_write");
	dep_assert_state(c, "outstanding_requests", "dual_write");
	dep_assert_state(c, "call_queue", "dual_write");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue"), rows);
	cr_assert_gt(dep_counter(c, "restored_rows"), 0);
	after = dep_rows_md5(c, "call_queue", "true");
	cr_assert_str_eq(before, after, "restored rows differ");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive"), 0);
	free(before);
	free(after);
	PQfinish(c);
}

/* The checkpoint's done=N of pass KEY. */
#define DONE_SQL(key)							\
	"SELECT coalesce((SELECT substring(value FROM 'done=([0-9]+)')"	\
	"::bigint FROM qsched.checkpoints WHERE job = 'legacy-deprecation' "	\
	"AND key = '" key "'), 0)"

static void
kill_worker(PGconn *c, pid_t qs)
{
	pid_t	 worker;
	char	*s;

	cr_assert(th_wait_until(c, "SELECT worker_pid IS NOT NULL FROM "
	    "qsched.runs WHERE job = 'legacy-deprecation' AND status = "
	    "'running'", 10000));
	worker = (pid_t)th_int(c, "SELECT worker_pid FROM qsched.runs WHERE "
	    "job = 'legacy-deprecation' AND status = 'running'");
	cr_assert_eq(kill(worker, SIGKILL), 0);
	cr_assert_eq(th_wait(qs, 20000), 1);
	s = th_value(c, "SELECT status || ' ' || signal FROM qsched.runs "
	    "WHERE job = 'legacy-deprecation' ORDER BY id DESC LIMIT 1");
	cr_assert_str_eq(s, "crashed SIGKILL");
	free(s);
}

#define SLOW_BATCHES	NO_MONITOR " batch_size = 10 pause = \"30ms\""

Test(deprecation, kill_9_mid_archive_then_rerun_archives_once)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 1500, 3000, 19, SLOW_BATCHES);
	char		*src, *arc;
	long long	 at_kill;
	pid_t		 qs;

	dep_monitoring(c, conf);
	qs = th_qsched_spawn(conf, "run", "legacy-deprecation", NULL);
	cr_assert(th_wait_until(c, DONE_SQL("archive_unsigned_users")
	    " >= 100", 60000), "no archive batches committed");
	kill_worker(c, qs);
	at_kill = th_int(c, DONE_SQL("archive_unsigned_users"));
	/* What is archived is exactly what the checkpoint says. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive WHERE queue_type = "
	    "'unsigned_users'"), at_kill);

	dep_run(conf, "--set=pause=0", NULL);
	dep_assert_state(c, "unsigned_users", "archived");
	dep_assert_state(c, "outstanding_requests", "archived");
	cr_assert_eq(transitions(c, "unsigned_users", "monitoring",
	    "archived"), 1);
	src = dep_rows_md5(c, "call_queue", RETIRED);
	arc = dep_rows_md5(c, "qsched_legacy.call_queue_archive", RETIRED);
	cr_assert_str_eq(src, arc, "the archive differs from the source");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue WHERE "
	    RETIRED), th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive"));
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.checkpoints WHERE "
	    "job = 'legacy-deprecation'"), 0);
	free(src);
	free(arc);
	PQfinish(c);
}

/*
 * A row changed behind the archive pass: the proof (the source read now
 * against the hashes the batches summed as they copied) fails, the run
 * fails and the next one archives the type again, from the start.
 */
Test(deprecation, a_row_changed_under_the_archive_fails_the_proof)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 1500, 3000, 28, SLOW_BATCHES);
	char		*s, *src, *arc;
	pid_t		 qs;

	dep_monitoring(c, conf);
	qs = th_qsched_spawn(conf, "run", "legacy-deprecation", NULL);
	cr_assert(th_wait_until(c, DONE_SQL("archive_unsigned_users")
	    " >= 50", 60000), "no archive batches committed");
	s = th_value(c, "SELECT value FROM qsched.checkpoints WHERE key = "
	    "'archive_unsigned_users'");
	assert_has(s, " sum=");
	free(s);
	th_exec(c, "UPDATE call_queue SET priority_score = priority_score + 1 "
	    "WHERE id = (SELECT id FROM qsched_legacy.call_queue_archive WHERE "
	    "queue_type = 'unsigned_users' ORDER BY ctid LIMIT 1)");
	cr_assert_eq(th_wait(qs, 120000), 1, "the run did not fail");
	dep_assert_state(c, "unsigned_users", "monitoring");
	s = dep_message(c);
	assert_has(s, "archive proof fails");
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.checkpoints WHERE "
	    "key = 'archive_unsigned_users'"), 0);

	dep_run(conf, "--set=pause=0", NULL);
	dep_assert_state(c, "unsigned_users", "archived");
	src = dep_rows_md5(c, "call_queue", "queue_type = 'unsigned_users'");
	arc = dep_rows_md5(c, "qsched_legacy.call_queue_archive",
	    "queue_type = 'unsigned_users'");
	cr_assert_str_eq(src, arc, "the archive differs from the source");
	free(src);
	free(arc);
	PQfinish(c);
}

Test(deprecation, kill_9_mid_purge_then_rerun_loses_no_row)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 1500, 3000, 20, SLOW_BATCHES);
	char		*src, *arc;
	long long	 n;
	pid_t		 qs;

	reference_some(c);
	src = dep_rows_md5(c, "call_queue", RETIRED);
	n = th_int(c, "SELECT count(*) FROM call_queue WHERE " RETIRED);
	dep_monitoring(c, conf);
	dep_run(conf, "--set=pause=0", NULL);
	dep_assert_state(c, "unsigned_users", "archived");
	qs = th_qsched_spawn(conf, "run", "legacy-deprecation", NULL);
	cr_assert(th_wait_until(c, DONE_SQL("purge_unsigned_users")
	    " >= 100", 60000), "no purge batches committed");
	kill_worker(c, qs);
	dep_assert_state(c, "unsigned_users", "archived");

	dep_run(conf, "--set=pause=0", NULL);
	dep_assert_state(c, "unsigned_users", "purged");
	dep_assert_state(c, "outstanding_requests", "purged");
	/* No row lost: the archive is the source as it was. */
	arc = dep_rows_md5(c, "qsched_legacy.call_queue_archive", RETIRED);
	cr_assert_str_eq(src, arc);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive WHERE " RETIRED), n);
	/* Referenced rows kept, identical; nothing else left. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue AS c WHERE "
	    RETIRED " AND NOT EXISTS (SELECT 1 FROM call_sessions AS s WHERE "
	    "s.call_queue_id = c.id)"), 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_sessions AS s JOIN "
	    "qsched_legacy.call_queue_archive AS a ON a.id = s.call_queue_id "
	    "WHERE NOT EXISTS (SELECT 1 FROM call_queue AS c WHERE c.id = a.id "
	    "AND c::text = a::text)"), 0);
	cr_assert_geq(th_int(c, "SELECT count(*) FROM call_queue WHERE "
	    "queue_type = 'unsigned_users'"), 3);
	free(src);
	free(arc);
	PQfinish(c);
}

Test(deprecation, dry_run_reports_every_gate_and_changes_nothing)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 21, SLOW_MONITOR);
	struct th_out	 o;
	char		*before, *after;

	dep_flag(0);
	before = dep_rows_md5(c, "call_queue", "true");
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-deprecation",
	    "--dry-run", NULL), 0, "%s", o.err);
	assert_has(o.out, "unsigned_users: dual_write");
	assert_has(o.out, "gate healthy");
	assert_has(o.out, "gate agents");
	assert_has(o.out, "gate consistency");
	assert_has(o.out, "gate independent");
	assert_has(o.out, "next run: freeze (populate_legacy_queue is false)");
	assert_has(o.out, "call_sessions_call_queue_id_fkey");
	th_out_free(&o);
	/* Not even the state tables are created. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_namespace WHERE "
	    "nspname = 'qsched_legacy'"), 0);
	after = dep_rows_md5(c, "call_queue", "true");
	cr_assert_str_eq(before, after);

	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "frozen");
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-deprecation",
	    "--dry-run", NULL), 0, "%s", o.err);
	assert_has(o.out, "unsigned_users: frozen");
	th_out_free(&o);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.transitions"), 3);
	dep_assert_state(c, "unsigned_users", "frozen");
	free(before);
	free(after);
	PQfinish(c);
}

/*
 * A session holding a row the purge wants: each batch attempt times out
 * on lock_timeout, is retried lock_retries times, then the run fails with
 * 55P03 (transient) and the state stays archived; once the lock is gone
 * the next run resumes from the checkpoint and finishes.
 */
Test(deprecation, purge_lock_timeout_is_retried_then_resumed)
{
	PGconn		*c = th_connect(), *c2 = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 22, NO_MONITOR
	    " lock_timeout = \"100ms\" lock_retries = 2");
	struct th_out	 o;
	char		*s;

	dep_monitoring(c, conf);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "archived");
	th_exec(c2, "BEGIN; SELECT * FROM call_queue WHERE queue_type = "
	    "'unsigned_users' AND NOT EXISTS (SELECT 1 FROM call_sessions AS s "
	    "WHERE s.call_queue_id = call_queue.id) ORDER BY id LIMIT 1 "
	    "FOR UPDATE");
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-deprecation", NULL),
	    1, "%s", o.err);
	assert_has(o.err, "retrying");
	th_out_free(&o);
	s = th_value(c, "SELECT sqlstate || ' ' || message FROM qsched.runs "
	    "WHERE job = 'legacy-deprecation' ORDER BY id DESC LIMIT 1");
	assert_has(s, "55P03");
	assert_has(s, "after 2 retries");
	free(s);
	dep_assert_state(c, "unsigned_users", "archived");
	th_exec(c2, "ROLLBACK");
	PQfinish(c2);

	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "purged");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue AS c WHERE "
	    RETIRED " AND NOT EXISTS (SELECT 1 FROM call_sessions AS s WHERE "
	    "s.call_queue_id = c.id)"), 0);
	PQfinish(c);
}

/*
 * The purge counts what it keeps in its batches: the rows still
 * referenced, and, from one count at the end, the row changed since it
 * was archived (which holds the object in archived).
 */
Test(deprecation, purge_counts_kept_and_changed_rows)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 24, NO_MONITOR
	    " batch_size = 40");
	long long	 archived, referenced;
	char		*s, want[256];

	reference_some(c);
	dep_monitoring(c, conf);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "archived");
	archived = th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive WHERE queue_type = "
	    "'unsigned_users'");
	referenced = th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive AS a WHERE queue_type = "
	    "'unsigned_users' AND EXISTS (SELECT 1 FROM call_sessions AS s "
	    "WHERE s.call_queue_id = a.id)");
	cr_assert_gt(archived, 100);
	cr_assert_geq(referenced, 3);
	th_exec(c, "UPDATE call_queue SET queue_reason = 'changed' WHERE id = "
	    "(SELECT id FROM call_queue AS c WHERE queue_type = "
	    "'unsigned_users' AND NOT EXISTS (SELECT 1 FROM call_sessions AS s "
	    "WHERE s.call_queue_id = c.id) ORDER BY id DESC LIMIT 1)");

	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "archived");
	dep_assert_state(c, "outstanding_requests", "purged");
	s = dep_message(c);
	snprintf(want, sizeof want, "unsigned_users: archived (%lld rows "
	    "deleted, %lld kept as referenced by "
	    "call_sessions_call_queue_id_fkey on public.call_sessions("
	    "call_queue_id), 1 kept as changed since archived)",
	    archived - referenced - 1, referenced);
	assert_has(s, want);
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue WHERE "
	    "queue_type = 'unsigned_users'"), referenced + 1);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue WHERE "
	    "queue_reason = 'changed'"), 1);
	PQfinish(c);
}

/*
 * A purge pass begun by the previous build (its checkpoint without
 * kept=N) resumes where it stopped and counts what stays at the end.
 */
Test(deprecation, purge_resumes_a_checkpoint_without_kept)
{
	PGconn		*c = th_connect(), *c2 = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 26, NO_MONITOR
	    " batch_size = 40 lock_timeout = \"100ms\" lock_retries = 0");
	struct th_out	 o;
	long long	 done, referenced;
	char		*s, want[200];

	reference_some(c);
	dep_monitoring(c, conf);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "archived");
	/* The last archived row of the type, held: the pass stops there. */
	th_exec(c2, "BEGIN; SELECT * FROM call_queue WHERE id = (SELECT a.id "
	    "FROM qsched_legacy.call_queue_archive AS a WHERE a.queue_type = "
	    "'unsigned_users' AND NOT EXISTS (SELECT 1 FROM call_sessions AS s "
	    "WHERE s.call_queue_id = a.id) ORDER BY a.ctid DESC LIMIT 1) FOR "
	    "UPDATE");
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-deprecation", NULL),
	    1, "%s", o.err);
	th_out_free(&o);
	th_exec(c2, "ROLLBACK");
	PQfinish(c2);
	done = th_int(c, DONE_SQL("purge_unsigned_users"));
	cr_assert_gt(done, 0, "no purge batch committed before the held row");
	s = th_value(c, "SELECT value FROM qsched.checkpoints WHERE key = "
	    "'purge_unsigned_users'");
	assert_has(s, " kept=");
	free(s);
	th_exec(c, "UPDATE qsched.checkpoints SET value = regexp_replace(value, "
	    "' kept=[0-9]+', '') WHERE key = 'purge_unsigned_users'");

	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "purged");
	referenced = th_int(c, "SELECT count(*) FROM call_queue AS c WHERE "
	    "queue_type = 'unsigned_users' AND EXISTS (SELECT 1 FROM "
	    "call_sessions AS s WHERE s.call_queue_id = c.id)");
	cr_assert_geq(referenced, 3);
	s = th_value(c, "SELECT note FROM qsched_legacy.transitions WHERE "
	    "object = 'unsigned_users' AND to_state = 'purged'");
	snprintf(want, sizeof want, "%lld kept as referenced by "
	    "call_sessions_call_queue_id_fkey on public.call_sessions("
	    "call_queue_id), 0 kept as changed since archived", referenced);
	assert_has(s, want);
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue AS c WHERE "
	    RETIRED " AND NOT EXISTS (SELECT 1 FROM call_sessions AS s WHERE "
	    "s.call_queue_id = c.id)"), 0);
	PQfinish(c);
}

Test(deprecation, a_malformed_confirm_is_refused_before_the_run)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare(c, 600, 900, 23, SLOW_MONITOR);
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-deprecation",
	    "--set=confirm=XYZ", NULL), 2, "%s", o.err);
	assert_has(o.err, "confirm");
	assert_has(o.err, "not an archive digest");
	th_out_free(&o);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE job = "
	    "'legacy-deprecation'"), 0);
	PQfinish(c);
}

/*
 * The job's timeout hits mid-archive: the run is recorded timed_out, what
 * its batches committed stays, and the next run resumes and proves.
 */
Test(deprecation, timeout_mid_archive_then_rerun_resumes)
{
	PGconn		*c = th_connect();
	const char	*conf = dep_prepare_job(c, 1500, 3000, 24,
	    "timeout = \"2s\"", SLOW_BATCHES);
	struct th_out	 o;
	char		*s, *src, *arc;
	long long	 at_timeout;

	dep_monitoring(c, conf);
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-deprecation", NULL),
	    1, "%s", o.err);
	th_out_free(&o);
	s = th_value(c, "SELECT status FROM qsched.runs WHERE job = "
	    "'legacy-deprecation' ORDER BY id DESC LIMIT 1");
	cr_assert_str_eq(s, "timed_out");
	free(s);
	at_timeout = th_int(c, DONE_SQL("archive_unsigned_users"));
	cr_assert_gt(at_timeout, 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive WHERE queue_type = "
	    "'unsigned_users'"), at_timeout);
	dep_assert_state(c, "unsigned_users", "monitoring");

	dep_run(conf, "--set=pause=0", NULL);
	dep_assert_state(c, "unsigned_users", "archived");
	dep_assert_state(c, "outstanding_requests", "archived");
	src = dep_rows_md5(c, "call_queue", RETIRED);
	arc = dep_rows_md5(c, "qsched_legacy.call_queue_archive", RETIRED);
	cr_assert_str_eq(src, arc);
	free(src);
	free(arc);
	PQfinish(c);
}

/*
 * Health throttling: a session waiting for a lock on call_queue (here a
 * SHARE lock behind another session's ROW EXCLUSIVE one, which the
 * archive's reads do not queue behind) pauses the archive between
 * batches; the pause is logged once, counted in the run's metrics and
 * shown by qsched status; when the waiter gives up, the archive resumes
 * and is proved.
 */
Test(deprecation, lock_waiter_on_call_queue_pauses_the_archive)
{
	PGconn		*c = th_connect(), *holder = th_connect();
	PGconn		*waiter = th_connect();
	const char	*conf = dep_prepare(c, 1500, 3000, 25, NO_MONITOR
	    " batch_size = 10 pause = \"20ms\" throttle_interval = \"50ms\" "
	    "canary_latency = \"0\"");
	struct th_out	 o;
	PGresult	*res;
	char		*s;
	pid_t		 qs;

	dep_monitoring(c, conf);
	qs = th_qsched_spawn(conf, "run", "legacy-deprecation", NULL);
	cr_assert(th_wait_until(c, DONE_SQL("archive_unsigned_users")
	    " >= 30", 60000), "no archive batches committed");
	th_exec(holder, "BEGIN; LOCK TABLE call_queue IN ROW EXCLUSIVE MODE");
	cr_assert_eq(PQsendQuery(waiter, "SET lock_timeout = '3s'; "
	    "LOCK TABLE call_queue IN SHARE MODE"), 1);
	cr_assert(th_wait_until(c, "SELECT state LIKE 'throttled: lock "
	    "waiters on %call_queue%' FROM qsched.runs WHERE job = "
	    "'legacy-deprecation' AND status = 'running'", 10000),
	    "qsched status never showed the pause");
	/* The waiter gives up (lock_timeout); the holder lets go. */
	while ((res = PQgetResult(waiter)) != NULL)
		PQclear(res);
	th_exec(holder, "ROLLBACK");
	cr_assert_eq(th_wait(qs, 120000), 0, "the run did not succeed");
	th_output(qs, &o);
	assert_has(o.err, "throttled: lock waiters on");
	assert_has(o.err, "resuming after");
	th_out_free(&o);
	cr_assert_geq(dep_counter(c, "throttle_pauses_lock_waiters"), 1);
	cr_assert_gt(dep_counter(c, "throttled_ms"), 0);
	dep_assert_state(c, "unsigned_users", "archived");
	dep_assert_state(c, "outstanding_requests", "archived");
	s = dep_message(c);
	assert_has(s, "unsigned_users: monitoring -> archived");
	free(s);
	PQfinish(waiter);
	PQfinish(holder);
	PQfinish(c);
}

/* A VACUUM of TABLE that cannot finish: an aggressive one waits for the
 * cleanup lock of a page PIN's open cursor keeps pinned. */
static void
vacuum_held(PGconn *c, PGconn *pin, PGconn *vac, const char *table)
{
	char	 sql[256];

	th_exec(pin, "BEGIN; DECLARE pin CURSOR FOR SELECT * FROM %s; "
	    "FETCH 1 FROM pin", table);
	snprintf(sql, sizeof sql, "VACUUM (FREEZE) %s", table);
	cr_assert(PQsendQuery(vac, sql));
	snprintf(sql, sizeof sql, "SELECT count(*) > 0 FROM "
	    "pg_stat_progress_vacuum WHERE datid = (SELECT oid FROM pg_database "
	    "WHERE datname = current_database()) AND relid = '%s'::regclass",
	    table);
	cr_assert(th_wait_until(c, sql, 10000), "no vacuum of %s", table);
}

static void
vacuum_released(PGconn *pin, PGconn *vac)
{
	PGresult	*r;

	th_exec(pin, "COMMIT");
	while ((r = PQgetResult(vac)) != NULL) {
		cr_assert_neq(PQresultStatus(r), PGRES_FATAL_ERROR, "%s",
		    PQresultErrorMessage(r));
		PQclear(r);
	}
}

/*
 * A VACUUM of call_queue pauses the archive; one of the archive (qsched's
 * own insert-only table) does not: batches go on committing under it.
 */
Test(deprecation, vacuum_pauses_on_call_queue_not_on_the_archive)
{
	PGconn		*c = th_connect(), *pin = th_connect();
	PGconn		*vac = th_connect();
	const char	*conf = dep_prepare(c, 1500, 3000, 30, NO_MONITOR
	    " batch_size = 10 pause = \"20ms\" throttle_interval = \"50ms\" "
	    "canary_latency = \"0\"");
	long long	 done;
	char		 sql[512];
	pid_t		 qs;

	dep_monitoring(c, conf);
	qs = th_qsched_spawn(conf, "run", "legacy-deprecation", NULL);
	cr_assert(th_wait_until(c, DONE_SQL("archive_unsigned_users")
	    " >= 30", 60000), "no archive batches committed");

	vacuum_held(c, pin, vac, "qsched_legacy.call_queue_archive");
	done = th_int(c, DONE_SQL("archive_unsigned_users"));
	snprintf(sql, sizeof sql, DONE_SQL("archive_unsigned_users")
	    " >= %lld", done + 50);
	cr_assert(th_wait_until(c, sql, 10000), "the archive waited for the "
	    "archive's vacuum");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_stat_progress_vacuum "
	    "WHERE relid = 'qsched_legacy.call_queue_archive'::regclass"), 1,
	    "the archive's vacuum ended early: the test proves nothing");
	vacuum_released(pin, vac);

	vacuum_held(c, pin, vac, "call_queue");
	cr_assert(th_wait_until(c, "SELECT state LIKE 'throttled: vacuum on "
	    "call_queue%%' FROM qsched.runs WHERE job = 'legacy-deprecation' "
	    "AND status = 'running'", 10000),
	    "qsched status never showed the pause");
	vacuum_released(pin, vac);
	cr_assert_eq(th_wait(qs, 120000), 0, "the run did not succeed");
	cr_assert_geq(dep_counter(c, "throttle_pauses_vacuum"), 1);
	dep_assert_state(c, "unsigned_users", "archived");
	PQfinish(vac);
	PQfinish(pin);
	PQfinish(c);
}
