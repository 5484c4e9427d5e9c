/*
 * test_backfill_faults.c - tests/pg_backfill_faults: the legacy_backfill
 * plugin interrupted for real: its worker killed with SIGKILL in the
 * middle of a run, and the server restarted under it.  Either way the
 * next attempt resumes from the last committed batch and ends exactly
 * where an uninterrupted run ends.
 */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "th.h"
#include "backfill_fixture.h"

TestSuite(backfill_faults, .fini = th_teardown, .timeout = 300);

/* Slow enough to interrupt: small batches, a pause between them. */
#define SLOW	"options { batch_size = 100 batch_time = \"10ms\" " \
		"pause = \"150ms\" }"

/* Batches committed so far, from the checkpoint. */
#define BATCHES_SQL							\
	"SELECT coalesce((SELECT substring(value FROM 'batches=([0-9]+)')"	\
	"::int FROM qsched.checkpoints WHERE job = 'legacy-backfill'), 0)"

/* The heap block the checkpoint resumes at. */
#define BLOCK_SQL							\
	"SELECT substring(value FROM 'block=([0-9]+)')::bigint AS b FROM "	\
	"qsched.checkpoints WHERE job = 'legacy-backfill'"

/*
 * The end state an uninterrupted run reaches from the same data: reset
 * the backfill, run it again in one go on one connection, and return its
 * end state.
 */
static char *
uninterrupted_state(PGconn *c, const char *conf)
{
	struct th_out	 o;

	bf_reset(c);
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill",
	    "--set=pause=0", "--set=parallel=1", NULL), 0, "%s", o.err);
	th_out_free(&o);
	return (bf_end_state(c));
}

Test(backfill_faults, kill_9_mid_run_then_rerun_ends_as_an_uninterrupted_run,
    .init = th_setup)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 23, SLOW);
	struct th_out	 o;
	char		*resumed, *clean, *s;
	long long	 at_kill;
	pid_t		 qs, worker;

	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, BATCHES_SQL " >= 5", 60000),
	    "no batches committed");
	/* qsched records the worker's pid with its progress. */
	cr_assert(th_wait_until(c, "SELECT worker_pid IS NOT NULL FROM "
	    "qsched.runs WHERE job = 'legacy-backfill'", 10000));
	worker = (pid_t)th_int(c, "SELECT worker_pid FROM qsched.runs WHERE "
	    "job = 'legacy-backfill' AND status = 'running'");
	cr_assert_eq(kill(worker, SIGKILL), 0);
	cr_assert_eq(th_wait(qs, 20000), 1);
	s = th_value(c, "SELECT status || ' ' || signal FROM qsched.runs "
	    "WHERE job = 'legacy-backfill'");
	cr_assert_str_eq(s, "crashed SIGKILL");
	free(s);
	at_kill = th_int(c, "SELECT substring(value FROM 'done=([0-9]+)')"
	    "::bigint FROM qsched.checkpoints WHERE job = 'legacy-backfill'");
	cr_assert_gt(at_kill, 0);
	/*
	 * What the killed batch did went with its transaction: every row in
	 * the heap blocks before the checkpoint's is copied or a conflict,
	 * and nothing after them is copied (duplicates are recorded up
	 * front, by the plan).
	 */
	cr_assert_eq(th_int(c, "WITH k AS (" BLOCK_SQL "), "
	    "r AS (SELECT c.id, (c.ctid::text::point)[0] < k.b AS before "
	    "FROM call_queue AS c, k) "
	    "SELECT (SELECT count(*) FROM unsigned_users_queue) + (SELECT "
	    "count(*) FROM outstanding_requests_queue) + (SELECT count(*) FROM "
	    "qsched.backfill_conflicts AS x JOIN r ON r.id = x.legacy_id "
	    "WHERE r.before)"), at_kill);
	cr_assert_eq(th_int(c, "WITH k AS (" BLOCK_SQL "), "
	    "r AS (SELECT c.id, (c.ctid::text::point)[0] < k.b AS before "
	    "FROM call_queue AS c, k) "
	    "SELECT count(*) FROM (SELECT id FROM unsigned_users_queue UNION "
	    "ALL SELECT id FROM outstanding_requests_queue) AS t JOIN r ON "
	    "r.id = t.id WHERE NOT r.before"), 0);

	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill",
	    "--set=pause=0", NULL), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(bf_metric(c, "resumed_after"), at_kill);
	cr_assert_eq(bf_metric(c, "pass_examined"), th_int(c, "SELECT count(*) "
	    "FROM call_queue WHERE queue_type IN ('unsigned_users', "
	    "'outstanding_requests')"), "every row examined once");
	s = bf_message(c);
	cr_assert(strstr(s, "proof holds") != NULL, "%s", s);
	free(s);
	bf_assert_accounted(c);
	bf_assert_live_rule(c);
	resumed = bf_end_state(c);

	clean = uninterrupted_state(c, conf);
	cr_assert_str_eq(resumed, clean, "the resumed run ended elsewhere");
	free(resumed);
	free(clean);
	PQfinish(c);
}

/*
 * The server goes down mid-run: the batch in flight fails with a
 * connection error, which is transient, and the next attempt resumes
 * from the checkpoint.  (While qsched run's own bookkeeping connection
 * does not survive a server restart, the retry cannot be recorded and
 * qsched exits 3; then the next qsched run resumes instead.  Both ways
 * must end in the uninterrupted state.)
 */
Test(backfill_faults, server_restart_mid_run_resumes_from_the_checkpoint,
    .init = th_setup_exclusive)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 29,
	    "retries = 3\n  retry_delay = \"1s\"\n  " SLOW);
	struct th_out	 o;
	char		*resumed, *clean, *s;
	long long	 at_restart;
	pid_t		 qs;
	int		 status;

	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, BATCHES_SQL " >= 5", 60000),
	    "no batches committed");
	PQfinish(c);
	th_pg_restart();
	c = th_connect();
	at_restart = th_int(c, "SELECT substring(value FROM 'done=([0-9]+)')"
	    "::bigint FROM qsched.checkpoints WHERE job = 'legacy-backfill'");
	cr_assert_gt(at_restart, 0);
	status = th_wait(qs, 120000);
	th_output(qs, &o);
	cr_assert(strstr(o.err, "retrying in") != NULL, "the connection "
	    "error was not taken as transient: %s", o.err);
	if (status == 0) {
		/* The retry ran in the same qsched run. */
		s = th_value(c, "SELECT string_agg(status || ':' || attempt, "
		    "' ' ORDER BY id) FROM qsched.runs WHERE job = "
		    "'legacy-backfill'");
		cr_assert(strncmp(s, "failed:1 ", 9) == 0 &&
		    strstr(s, "succeeded:") != NULL, "%s", s);
		free(s);
	} else {
		cr_assert_eq(status, 3, "%s", o.err);
		cr_assert_eq(th_qsched(NULL, conf, "run", "legacy-backfill",
		    NULL), 0);
	}
	th_out_free(&o);
	cr_assert_geq(bf_metric(c, "resumed_after"), at_restart);
	s = bf_message(c);
	cr_assert(strstr(s, "proof holds") != NULL, "%s", s);
	free(s);
	bf_assert_accounted(c);
	resumed = bf_end_state(c);

	clean = uninterrupted_state(c, conf);
	cr_assert_str_eq(resumed, clean, "the resumed run ended elsewhere");
	free(resumed);
	free(clean);
	PQfinish(c);
}

/*
 * The app keeps writing call_queue while a pass runs: rows it changes or
 * adds then are newer than the pass's high-water mark, so the pass leaves
 * them (its proof holds without them) and the next pass takes exactly
 * those.
 */
Test(backfill_faults, app_writes_during_a_pass_go_to_the_next_pass,
    .init = th_setup)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 31, SLOW);
	struct th_out	 o;
	char		*s;
	pid_t		 qs;

	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, BATCHES_SQL " >= 3", 60000),
	    "no batches committed");
	/* 20 rows copied already, 20 the pass has not reached (the last in
	 * the table: it is far from there), and 20 new ones. */
	th_exec(c, "WITH k AS (" BLOCK_SQL "), r AS (SELECT c.id, c.ctid, "
	    "(c.ctid::text::point)[0] < k.b AS before FROM call_queue AS c, k "
	    "WHERE c.queue_type IN ('unsigned_users', 'outstanding_requests') "
	    "AND c.status = 'completed') "
	    "UPDATE call_queue SET queue_reason = 'changed mid-pass', "
	    "updated_at = updated_at + interval '1 second' WHERE id IN ("
	    "(SELECT id FROM r WHERE before ORDER BY id LIMIT 20) UNION ALL "
	    "(SELECT id FROM r WHERE NOT before ORDER BY ctid DESC LIMIT 20))");
	th_exec(c, "INSERT INTO call_queue (id, user_id, queue_type, status, "
	    "queue_reason, created_at, updated_at) SELECT gen_random_uuid(), "
	    "user_id, 'outstanding_requests', 'completed', 'added mid-pass', "
	    "now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' FROM "
	    "user_call_scores ORDER BY user_id LIMIT 20");
	cr_assert_eq(th_wait(qs, 120000), 0);
	th_output(qs, &o);
	th_out_free(&o);
	s = bf_message(c);
	cr_assert(strstr(s, "proof holds") != NULL, "%s", s);
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM (SELECT queue_reason FROM "
	    "unsigned_users_queue UNION ALL SELECT queue_reason FROM "
	    "outstanding_requests_queue) AS t WHERE queue_reason LIKE "
	    "'%% mid-pass'"), 0, "the pass took rows written after it began");

	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill",
	    "--set=pause=0", NULL), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(bf_metric(c, "examined"), 60);
	cr_assert_eq(bf_metric(c, "inserted"), 40, "20 new, 20 never copied");
	cr_assert_eq(bf_metric(c, "updated"), 20);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM (SELECT queue_reason FROM "
	    "unsigned_users_queue UNION ALL SELECT queue_reason FROM "
	    "outstanding_requests_queue) AS t WHERE queue_reason LIKE "
	    "'%% mid-pass'"), 60);
	bf_assert_accounted(c);
	PQfinish(c);
}

/*
 * VACUUM FULL moves every row of call_queue between two batches: the
 * next batch notices and scans again from the start, and the end state is
 * the uninterrupted one.
 */
Test(backfill_faults, table_rewrite_mid_run_rescans_to_the_same_end_state,
    .init = th_setup)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 37, SLOW);
	struct th_out	 o;
	char		*rewritten, *clean;
	pid_t		 qs;

	/* Holes first, so the rewrite really moves rows. */
	th_exec(c, "DELETE FROM call_queue AS c WHERE c.queue_type = "
	    "'manual_call' AND NOT EXISTS (SELECT 1 FROM call_sessions AS s "
	    "WHERE s.call_queue_id = c.id)");
	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, BATCHES_SQL " >= 3", 60000),
	    "no batches committed");
	th_exec(c, "VACUUM FULL call_queue");
	cr_assert_eq(th_wait(qs, 120000), 0);
	th_output(qs, &o);
	cr_assert(strstr(o.err, "call_queue was rewritten") != NULL, "%s",
	    o.err);
	th_out_free(&o);
	bf_assert_accounted(c);
	bf_assert_live_rule(c);
	rewritten = bf_end_state(c);
	clean = uninterrupted_state(c, conf);
	cr_assert_str_eq(rewritten, clean, "the rescan ended elsewhere");
	free(rewritten);
	free(clean);
	PQfinish(c);
}

/* ^C stops between batches, cleanly; the next run resumes. */
Test(backfill_faults, interrupt_cancels_and_the_next_run_resumes,
    .init = th_setup)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 47, SLOW);
	char		*s;
	pid_t		 qs;

	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, BATCHES_SQL " >= 3", 60000),
	    "no batches committed");
	th_kill(qs, SIGINT);
	cr_assert_eq(th_wait(qs, 20000), 1);
	s = th_value(c, "SELECT status || ': ' || message FROM qsched.runs "
	    "WHERE job = 'legacy-backfill'");
	cr_assert(strncmp(s, "cancelled: ", 11) == 0 && strstr(s, "the next "
	    "run resumes") != NULL, "%s", s);
	free(s);
	cr_assert_eq(th_qsched(NULL, conf, "run", "legacy-backfill",
	    "--set=pause=0", NULL), 0);
	cr_assert_gt(bf_metric(c, "resumed_after"), 0);
	cr_assert_eq(bf_metric(c, "pass_examined"), th_int(c, "SELECT count(*) "
	    "FROM call_queue WHERE queue_type IN ('unsigned_users', "
	    "'outstanding_requests')"));
	bf_assert_accounted(c);
	PQfinish(c);
}

/*
 * Health throttling.  Each signal is made real in another session; the
 * run must show "throttled: <reason>" in qsched.runs.state while it
 * waits, count the pause, and finish with the proof holding once the
 * signal clears.  The other signals are switched off in each test so the
 * one under test is the reason shown.
 */
#define THROTTLE_ONLY(signal)						\
	"options { batch_size = 100 batch_time = \"10ms\" "		\
	"pause = \"100ms\" throttle_interval = \"50ms\" "		\
	"pause_on_vacuum = false pause_on_lock_waiters = false "	\
	"canary_latency = 0 max_archive_backlog = 0 " signal " }"

#define STATE_LIKE(pattern)						\
	"SELECT coalesce(state LIKE '" pattern "', false) FROM qsched.runs "	\
	"WHERE job = 'legacy-backfill' ORDER BY id DESC LIMIT 1"

/* The run ends well, unthrottled, with the pause counted. */
static void
throttled_then_done(PGconn *c, pid_t qs, const char *signal)
{
	struct th_out	 o;
	char		*s;

	cr_assert_eq(th_wait(qs, 120000), 0);
	th_output(qs, &o);
	cr_assert(strstr(o.err, "throttled: ") != NULL, "%s", o.err);
	cr_assert(strstr(o.err, "resuming after") != NULL, "%s", o.err);
	th_out_free(&o);
	s = bf_message(c);
	cr_assert(strstr(s, "proof holds") != NULL, "%s", s);
	free(s);
	cr_assert_geq(bf_metric(c, "throttle_pauses"), 1);
	cr_assert_geq(bf_metric(c, signal), 1, "%s not counted", signal);
	cr_assert_gt(bf_metric(c, "throttled_ms"), 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE job = "
	    "'legacy-backfill' AND coalesce(state, '') <> ''"), 0,
	    "the state was not cleared");
	bf_assert_accounted(c);
	bf_assert_live_rule(c);
}

/* Another session waits for a lock on a target table. */
Test(backfill_faults, lock_waiters_on_a_target_pause_the_backfill,
    .init = th_setup)
{
	PGconn		*c = th_connect(), *holder = th_connect();
	PGconn		*waiter = th_connect();
	const char	*conf = bf_prepare(c, 2000, 2000, 53,
	    THROTTLE_ONLY("pause_on_lock_waiters = true"));
	PGresult	*r;
	long long	 batches;
	pid_t		 qs;

	/* After the plan, which reads the targets too. */
	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, BATCHES_SQL " >= 2", 60000),
	    "no batches committed");
	th_exec(holder, "BEGIN; LOCK TABLE outstanding_requests_queue IN "
	    "ACCESS SHARE MODE");
	cr_assert(PQsendQuery(waiter, "BEGIN; LOCK TABLE "
	    "outstanding_requests_queue IN ACCESS EXCLUSIVE MODE; COMMIT"));
	cr_assert(th_wait_until(c, STATE_LIKE("throttled: lock waiters on "
	    "outstanding_requests_queue%%"), 30000), "never throttled");
	/* Paused: nothing is copied while the waiter waits. */
	batches = th_int(c, BATCHES_SQL);
	usleep(300000);
	cr_assert_eq(th_int(c, BATCHES_SQL), batches, "copied while paused");
	th_exec(holder, "ROLLBACK");
	while ((r = PQgetResult(waiter)) != NULL) {
		cr_assert_neq(PQresultStatus(r), PGRES_FATAL_ERROR, "%s",
		    PQresultErrorMessage(r));
		PQclear(r);
	}
	throttled_then_done(c, qs, "throttle_pauses_lock_waiters");
	PQfinish(waiter);
	PQfinish(holder);
	PQfinish(c);
}

/*
 * A VACUUM works on a target table and cannot finish: an aggressive one
 * (FREEZE) waits for the cleanup lock of a page another session's open
 * cursor keeps pinned.
 */
Test(backfill_faults, vacuum_on_a_target_pauses_the_backfill,
    .init = th_setup)
{
	PGconn		*c = th_connect(), *pin = th_connect();
	PGconn		*vac = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 59,
	    THROTTLE_ONLY("pause_on_vacuum = true"));
	PGresult	*r;
	pid_t		 qs;

	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, BATCHES_SQL " >= 3", 60000),
	    "no batches committed");
	th_exec(pin, "BEGIN; DECLARE pin CURSOR FOR SELECT * FROM "
	    "unsigned_users_queue; FETCH 1 FROM pin");
	cr_assert(PQsendQuery(vac, "VACUUM (FREEZE) unsigned_users_queue"));
	cr_assert(th_wait_until(c, "SELECT count(*) > 0 FROM "
	    "pg_stat_progress_vacuum WHERE datid = (SELECT oid FROM pg_database "
	    "WHERE datname = current_database()) AND relid = "
	    "'unsigned_users_queue'::regclass", 10000), "no vacuum");
	cr_assert(th_wait_until(c, STATE_LIKE("throttled: vacuum on "
	    "unsigned_users_queue%%"), 30000), "never throttled");
	th_exec(pin, "COMMIT");
	while ((r = PQgetResult(vac)) != NULL) {
		cr_assert_neq(PQresultStatus(r), PGRES_FATAL_ERROR, "%s",
		    PQresultErrorMessage(r));
		PQclear(r);
	}
	throttled_then_done(c, qs, "throttle_pauses_vacuum");
	PQfinish(vac);
	PQfinish(pin);
	PQfinish(c);
}

/* An agent's claim is slow: a trigger sleeps in every claim's UPDATE. */
Test(backfill_faults, a_slow_canary_claim_pauses_the_backfill,
    .init = th_setup)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 61,
	    THROTTLE_ONLY("canary_latency = \"100ms\""));
	pid_t		 qs;

	th_exec(c, "CREATE FUNCTION qsched_test_slow() RETURNS trigger "
	    "LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(0.3); RETURN NEW; "
	    "END$$; CREATE TRIGGER slow BEFORE UPDATE ON unsigned_users_queue "
	    "FOR EACH ROW EXECUTE FUNCTION qsched_test_slow()");
	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	/* Once the first pending entries are copied, claims are slow. */
	cr_assert(th_wait_until(c, STATE_LIKE("throttled: canary claim took "
	    "%% ms > 100 ms"), 60000), "never throttled");
	th_exec(c, "DROP TRIGGER slow ON unsigned_users_queue");
	throttled_then_done(c, qs, "throttle_pauses_canary");
	cr_assert_gt(bf_metric(c, "canary_claims"), 1);
	cr_assert_geq(bf_metric(c, "canary_max_us"), 300000);
	/* The canary's claims were rolled back: nothing assigned by one. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM unsigned_users_queue AS q "
	    "JOIN call_queue AS c ON c.id = q.id WHERE q.status = 'assigned' "
	    "AND c.status <> 'assigned'"), 0);
	PQfinish(c);
}

/*
 * An agent's claim is slow because its commit waits for the WAL flush,
 * while the claim itself is fast: every flush sleeps 100 ms (commit_delay
 * with commit_siblings = 0, which needs fsync and synchronous_commit on).  The canary commits
 * after undoing its claim to a savepoint, so it sees the wait; a canary
 * rolled back whole writes no commit record and never tripped here.
 */
Test(backfill_faults, a_slow_commit_trips_the_canary,
    .init = th_setup_exclusive)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 73,
	    THROTTLE_ONLY("canary_latency = \"50ms\""));
	pid_t		 qs;

	/* The test cluster runs with both off: a commit flushes nothing. */
	th_exec(c, "ALTER SYSTEM SET fsync = on");
	th_exec(c, "ALTER SYSTEM SET synchronous_commit = on");
	th_exec(c, "ALTER SYSTEM SET commit_delay = 100000");
	th_exec(c, "ALTER SYSTEM SET commit_siblings = 0");
	th_exec(c, "SELECT pg_reload_conf()");
	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, STATE_LIKE("throttled: canary claim took "
	    "%% ms > 50 ms"), 60000), "never throttled");
	th_exec(c, "ALTER SYSTEM RESET commit_siblings");
	th_exec(c, "ALTER SYSTEM RESET commit_delay");
	th_exec(c, "ALTER SYSTEM RESET synchronous_commit");
	th_exec(c, "ALTER SYSTEM RESET fsync");
	th_exec(c, "SELECT pg_reload_conf()");
	throttled_then_done(c, qs, "throttle_pauses_canary");
	cr_assert_geq(bf_metric(c, "canary_max_us"), 100000);
	/* The canary committed, but its claims were undone: no entry is
	 * assigned that was not assigned in call_queue. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM unsigned_users_queue AS q "
	    "JOIN call_queue AS c ON c.id = q.id WHERE q.status = 'assigned' "
	    "AND c.status <> 'assigned'"), 0);
	PQfinish(c);
}

/*
 * WAL waits for an archiver whose command fails.  Needs archive_mode on,
 * so the server restarts with it (and without it afterwards).
 */
Test(backfill_faults, a_failing_archive_command_pauses_the_backfill,
    .init = th_setup_exclusive)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 2000, 2000, 67,
	    THROTTLE_ONLY("max_archive_backlog = 2"));
	pid_t		 qs;

	th_exec(c, "ALTER SYSTEM SET archive_mode = on");
	th_exec(c, "ALTER SYSTEM SET archive_command = '/bin/false'");
	PQfinish(c);
	th_pg_restart();
	c = th_connect();
	for (int i = 0; i < 4; i++)
		th_exec(c, "CREATE TEMP TABLE w%d AS SELECT 1; SELECT "
		    "pg_switch_wal()", i);
	cr_assert(th_wait_until(c, "SELECT count(*) > 2 FROM "
	    "pg_ls_archive_statusdir() WHERE name LIKE '%%.ready'", 30000));
	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, STATE_LIKE("throttled: WAL archive backlog "
	    "%% segments > 2"), 30000), "never throttled");
	cr_assert_eq(th_int(c, BATCHES_SQL), 0);
	th_exec(c, "ALTER SYSTEM SET archive_command = '/bin/true'");
	th_exec(c, "SELECT pg_reload_conf()");
	throttled_then_done(c, qs, "throttle_pauses_archive");
	th_exec(c, "ALTER SYSTEM RESET archive_command");
	th_exec(c, "ALTER SYSTEM RESET archive_mode");
	PQfinish(c);
	th_pg_restart();
}

/* scripts/pg-cluster.sh standby ACTION for this suite's cluster. */
static char *
standby(const char *action)
{
	static char	 cmd[8192];
	const char	*argv[] = { "sh", "-c", cmd, NULL };
	struct th_out	 o;
	char		*port;
	int		 st;

	snprintf(cmd, sizeof cmd, "sh '%s/scripts/pg-cluster.sh' standby %s "
	    "\"$(dirname '%s')\"", getenv("QSCHED_SRCDIR"), action,
	    getenv("QSCHED_TEST_PGDATA"));
	st = th_run(&o, argv);
	cr_assert_eq(st, 0, "standby %s: %s", action, o.err);
	port = strdup(o.out);
	th_out_free(&o);
	port[strcspn(port, "\n")] = '\0';
	return (port);
}

/*
 * Whatever happened, no standby is left to throttle the next tests; then
 * the usual teardown (which may run twice).
 */
static void
standby_gone(void)
{
	free(standby("stop"));
	th_teardown();
}

/*
 * A standby whose replay is paused falls behind while the backfill
 * writes: replay lag grows past max_replica_lag (the walsender reports a
 * stuck replay as growing lag) and the backfill pauses; once replay
 * resumes and the standby catches up, the backfill finishes.  The limit
 * is well above what a streaming standby shows on a loaded test machine
 * (up to about 1 s with its replies every second), so only the paused
 * replay trips it.
 */
Test(backfill_faults, a_lagging_replica_pauses_the_backfill,
    .init = th_setup_exclusive, .fini = standby_gone)
{
	PGconn		*c = th_connect(), *sb;
	const char	*conf = bf_prepare(c, 8000, 8000, 71,
	    THROTTLE_ONLY("max_replica_lag = \"2s\""));
	char		*port, info[4096];
	pid_t		 qs;

	port = standby("start");
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM "
	    "pg_stat_replication WHERE state = 'streaming'", 30000),
	    "the standby does not stream");
	snprintf(info, sizeof info, "host='%s' port=%s dbname='%s' "
	    "user=postgres", getenv("PGHOST"), port, th_dbname);
	sb = PQconnectdb(info);
	cr_assert_eq(PQstatus(sb), CONNECTION_OK, "%s", PQerrorMessage(sb));
	th_exec(sb, "SELECT pg_wal_replay_pause()");
	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, STATE_LIKE("throttled: replica lag %% ms "
	    "> 2000 ms"), 60000), "never throttled");
	th_exec(sb, "SELECT pg_wal_replay_resume()");
	throttled_then_done(c, qs, "throttle_pauses_replica_lag");
	PQfinish(sb);
	free(port);
	PQfinish(c);
}

/* Every signal off-threshold: no pause, nothing counted. */
Test(backfill_faults, a_healthy_database_is_never_throttled,
    .init = th_setup)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 1000, 1000, 71, "");
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill", NULL), 0,
	    "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(bf_metric(c, "throttle_pauses"), 0);
	cr_assert_gt(bf_metric(c, "canary_claims"), 0);
	PQfinish(c);
}

/* Batches committed by parallel workers so far, from the ranges. */
#define RANGE_BATCHES_SQL						\
	"SELECT coalesce((SELECT sum(batches) FROM qsched.backfill_ranges), 0)"

/*
 * parallel = 3, the worker killed mid-run: each range resumes after its
 * last committed batch, and the end state is that of one uninterrupted
 * serial run.
 */
Test(backfill_faults, parallel_kill_9_mid_run_resumes_every_range_exactly_once,
    .init = th_setup)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 73,
	    "options { batch_size = 100 batch_time = \"10ms\" "
	    "pause = \"150ms\" parallel = 3 }");
	struct th_out	 o;
	char		*resumed, *clean, *s;
	long long	 at_kill;
	pid_t		 qs, worker;

	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, "SELECT to_regclass("
	    "'qsched.backfill_ranges') IS NOT NULL", 60000));
	cr_assert(th_wait_until(c, RANGE_BATCHES_SQL " >= 6", 60000),
	    "no batches committed");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_stat_activity WHERE "
	    "datname = current_database() AND application_name LIKE "
	    "'qsched/legacy-backfill/%%/%%'"), 3, "three worker connections");
	cr_assert(th_wait_until(c, "SELECT worker_pid IS NOT NULL FROM "
	    "qsched.runs WHERE job = 'legacy-backfill'", 10000));
	worker = (pid_t)th_int(c, "SELECT worker_pid FROM qsched.runs WHERE "
	    "job = 'legacy-backfill' AND status = 'running'");
	cr_assert_eq(kill(worker, SIGKILL), 0);
	cr_assert_eq(th_wait(qs, 20000), 1);
	cr_assert(th_wait_until(c, "SELECT count(*) = 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name LIKE "
	    "'qsched/legacy-backfill/%%'", 20000));
	at_kill = th_int(c, "SELECT sum(done) FROM qsched.backfill_ranges");
	cr_assert_gt(at_kill, 0);
	/*
	 * Within each range, every row before its next_block is copied or a
	 * conflict, and nothing from next_block on is copied.
	 */
	th_exec(c, "CREATE TEMP TABLE pos AS SELECT c.id, "
	    "(c.ctid::text::point)[0] AS blk FROM call_queue AS c WHERE "
	    "c.queue_type IN ('unsigned_users', 'outstanding_requests')");
	th_exec(c, "CREATE TEMP TABLE rng AS SELECT coalesce(lag(end_block) "
	    "OVER (ORDER BY range_no), 0) AS first, next_block, end_block "
	    "FROM qsched.backfill_ranges");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pos JOIN rng ON pos.blk "
	    ">= rng.first AND pos.blk < rng.next_block WHERE NOT EXISTS ("
	    "SELECT 1 FROM unsigned_users_queue AS t WHERE t.id = pos.id) AND "
	    "NOT EXISTS (SELECT 1 FROM outstanding_requests_queue AS t WHERE "
	    "t.id = pos.id) AND NOT EXISTS (SELECT 1 FROM "
	    "qsched.backfill_conflicts AS k WHERE k.legacy_id = pos.id)"), 0,
	    "a row of a committed batch is missing");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pos JOIN rng ON pos.blk "
	    ">= rng.next_block AND pos.blk < rng.end_block WHERE EXISTS ("
	    "SELECT 1 FROM unsigned_users_queue AS t WHERE t.id = pos.id) OR "
	    "EXISTS (SELECT 1 FROM outstanding_requests_queue AS t WHERE "
	    "t.id = pos.id)"), 0, "a row of the killed batch stayed");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pos JOIN rng ON pos.blk "
	    ">= rng.first AND pos.blk < rng.next_block"), at_kill,
	    "the ranges count the rows of their committed batches");

	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill",
	    "--set=pause=0", NULL), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(bf_metric(c, "pass_examined"), th_int(c, "SELECT count(*) "
	    "FROM call_queue WHERE queue_type IN ('unsigned_users', "
	    "'outstanding_requests')"), "every row examined once");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.backfill_ranges"),
	    0, "the ranges are folded into the checkpoint");
	cr_assert_eq(bf_metric(c, "resumed_after"), at_kill);
	cr_assert_eq(bf_metric(c, "examined") + at_kill, bf_metric(c,
	    "pass_examined"), "this run examined only what was left");
	s = bf_message(c);
	cr_assert(strstr(s, "proof holds") != NULL, "%s", s);
	free(s);
	bf_assert_accounted(c);
	bf_assert_live_rule(c);
	resumed = bf_end_state(c);

	clean = uninterrupted_state(c, conf);
	cr_assert_str_eq(resumed, clean, "the resumed run ended elsewhere");
	free(resumed);
	free(clean);
	PQfinish(c);
}

/*
 * parallel = 2 throttles too: the batches in flight commit, no new one
 * starts while another session waits for a lock, and the copy goes on
 * afterwards.
 */
Test(backfill_faults, parallel_copy_pauses_for_lock_waiters_and_resumes,
    .init = th_setup)
{
	PGconn		*c = th_connect(), *holder = th_connect();
	PGconn		*waiter = th_connect();
	const char	*conf = bf_prepare(c, 4000, 4000, 83,
	    THROTTLE_ONLY("pause_on_lock_waiters = true parallel = 2"));
	PGresult	*r;
	long long	 batches;
	pid_t		 qs;

	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, "SELECT to_regclass("
	    "'qsched.backfill_ranges') IS NOT NULL", 60000));
	cr_assert(th_wait_until(c, RANGE_BATCHES_SQL " >= 2", 60000),
	    "no batches committed");
	th_exec(holder, "BEGIN; LOCK TABLE unsigned_users_queue IN ACCESS "
	    "SHARE MODE");
	cr_assert(PQsendQuery(waiter, "BEGIN; LOCK TABLE unsigned_users_queue "
	    "IN ACCESS EXCLUSIVE MODE; COMMIT"));
	cr_assert(th_wait_until(c, STATE_LIKE("throttled: lock waiters on "
	    "unsigned_users_queue%%"), 30000), "never throttled");
	batches = th_int(c, RANGE_BATCHES_SQL);
	usleep(300000);
	cr_assert_eq(th_int(c, RANGE_BATCHES_SQL), batches,
	    "copied while paused");
	th_exec(holder, "ROLLBACK");
	while ((r = PQgetResult(waiter)) != NULL) {
		cr_assert_neq(PQresultStatus(r), PGRES_FATAL_ERROR, "%s",
		    PQresultErrorMessage(r));
		PQclear(r);
	}
	throttled_then_done(c, qs, "throttle_pauses_lock_waiters");
	cr_assert_eq(bf_metric(c, "parallel_connections"), 2);
	PQfinish(waiter);
	PQfinish(holder);
	PQfinish(c);
}
