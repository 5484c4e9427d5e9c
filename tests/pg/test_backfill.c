/*
 * test_backfill.c - tests/pg_backfill: the legacy_backfill plugin against
 * a real PostgreSQL with generated legacy data (every quirk of
 * qsched_fixture.generate: NULL positions and availability, duplicate
 * live rows, call rows, junk queue types): the mapping, the proof, the
 * live-entry rule, conflicts, reruns and sync passes, dry runs, options,
 * statement timeouts.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "th.h"
#include "backfill_fixture.h"

TestSuite(backfill, .init = th_setup, .fini = th_teardown, .timeout = 240);

static void
run_ok(const char *conf, const char *arg)
{
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill", arg, NULL),
	    0, "legacy-backfill %s: %s", arg != NULL ? arg : "", o.err);
	th_out_free(&o);
}

/* Zero rows match the query: "<what> broke on N rows". */
static void
none(PGconn *c, const char *what, const char *sql)
{
	long long	 n = th_int(c, "SELECT count(*) FROM (%s) AS q", sql);

	cr_assert_eq(n, 0, "%s: %lld rows", what, n);
}

Test(backfill, full_run_maps_every_row_and_the_proof_holds)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 3000, 3000, 7, "");
	char		*before, *after, *s;
	PGresult	*res;

	before = bf_source_state(c);
	run_ok(conf, NULL);

	s = bf_message(c);
	cr_assert(strstr(s, "proof holds") != NULL, "%s", s);
	free(s);
	s = th_value(c, "SELECT metrics->>'validation' FROM qsched.runs "
	    "WHERE job = 'legacy-backfill'");
	cr_assert_str_eq(s, "ok");
	free(s);
	bf_assert_accounted(c);
	bf_assert_live_rule(c);
	cr_assert_eq(bf_metric(c, "inserted") + bf_metric(c, "conflicts"),
	    th_int(c, "SELECT count(*) FROM call_queue WHERE queue_type IN "
	    "('unsigned_users', 'outstanding_requests')"));
	cr_assert_eq(bf_metric(c, "inserted"), th_int(c, "SELECT (SELECT "
	    "count(*) FROM unsigned_users_queue) + (SELECT count(*) FROM "
	    "outstanding_requests_queue)"));
	cr_assert_gt(bf_metric(c, "batches"), 0);
	cr_assert_gt(bf_metric(c, "final_batch_size"), 0);
	cr_assert_gt(bf_metric(c, "worker_peak_rss_kb"), 0);

	/* The mapping, column by column, for both tables. */
	none(c, "unsigned mapping", "SELECT 1 FROM unsigned_users_queue AS t "
	    "JOIN call_queue AS c ON c.id = t.id "
	    "JOIN user_call_scores AS u ON u.user_id = c.user_id "
	    "WHERE c.queue_type <> 'unsigned_users' "
	    "OR t.user_id <> c.user_id "
	    "OR t.claim_id IS DISTINCT FROM c.claim_id "
	    "OR t.priority_score <> c.priority_score "
	    "OR t.status <> CASE c.status WHEN 'invalid' THEN 'inactive' "
	    "ELSE c.status END "
	    "OR t.queue_reason IS DISTINCT FROM c.queue_reason "
	    "OR t.available_from <> coalesce(c.available_from, c.created_at) "
	    "OR t.assigned_to_agent IS DISTINCT FROM c.assigned_to_agent_id "
	    "OR t.assigned_at IS DISTINCT FROM c.assigned_at "
	    "OR t.callback_id IS DISTINCT FROM c.callback_id "
	    "OR t.created_at <> c.created_at OR t.updated_at <> c.updated_at "
	    "OR t.signature_missing_since <> u.created_at "
	    "OR t.signature_type <> 'initial' "
	    "OR (c.queue_position IS NOT NULL "
	    "AND t.queue_position <> c.queue_position)");
	none(c, "outstanding mapping", "SELECT 1 FROM "
	    "outstanding_requests_queue AS t "
	    "JOIN call_queue AS c ON c.id = t.id "
	    "JOIN user_call_scores AS u ON u.user_id = c.user_id "
	    "WHERE c.queue_type <> 'outstanding_requests' "
	    "OR t.user_id <> c.user_id "
	    "OR t.status <> CASE c.status WHEN 'invalid' THEN 'inactive' "
	    "ELSE c.status END "
	    "OR t.available_from <> coalesce(c.available_from, c.created_at) "
	    "OR t.assigned_to_agent IS DISTINCT FROM c.assigned_to_agent_id "
	    "OR t.callback_id IS DISTINCT FROM c.callback_id "
	    "OR t.requirement_types <> '[\"document\"]' "
	    "OR t.total_requirements <> 1 OR t.pending_requirements <> 1 "
	    "OR t.completed_requirements <> 0 "
	    "OR t.oldest_requirement_date <> u.created_at "
	    "OR (c.queue_position IS NOT NULL "
	    "AND t.queue_position <> c.queue_position)");
	/* The quirks were there to be mapped. */
	cr_assert_gt(th_int(c, "SELECT count(*) FROM unsigned_users_queue AS "
	    "t JOIN call_queue AS c ON c.id = t.id WHERE c.available_from IS "
	    "NULL"), 0);
	cr_assert_gt(th_int(c, "SELECT count(*) FROM outstanding_requests_queue"
	    " WHERE status = 'inactive'"), 0);
	cr_assert_gt(th_int(c, "SELECT count(*) FROM outstanding_requests_queue"
	    " WHERE callback_id IS NOT NULL"), 0);

	/*
	 * NULL positions: after every legacy position of the type, one
	 * each, in (priority_score, created_at, id) order.
	 */
	for (int i = 0; i < 2; i++) {
		const char *type = i == 0 ? "unsigned_users" :
		    "outstanding_requests";

		cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue AS c "
		    "JOIN qsched.backfill_positions AS p ON p.legacy_id = c.id "
		    "WHERE c.queue_type = '%s' AND (p.queue_position <= (SELECT "
		    "max(queue_position) FROM call_queue WHERE queue_type = "
		    "'%s') OR c.queue_position IS NOT NULL)", type, type), 0,
		    "%s: a planned position is not after the existing ones",
		    type);
		cr_assert_eq(th_int(c, "SELECT count(*) FROM (SELECT "
		    "p.queue_position - (SELECT max(queue_position) FROM "
		    "call_queue WHERE queue_type = '%s') AS pos, row_number() "
		    "OVER (ORDER BY c.priority_score, c.created_at, c.id) AS rn "
		    "FROM call_queue AS c JOIN qsched.backfill_positions AS p "
		    "ON p.legacy_id = c.id WHERE c.queue_type = '%s') AS o "
		    "WHERE pos <> rn", type, type), 0,
		    "%s: positions out of (priority_score, created_at) order",
		    type);
		cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue WHERE "
		    "queue_type = '%s' AND queue_position IS NULL", type),
		    th_int(c, "SELECT count(*) FROM qsched.backfill_positions "
		    "WHERE queue_type = '%s'", type));
	}
	none(c, "copies carry their planned position", "SELECT 1 FROM "
	    "qsched.backfill_positions AS p LEFT JOIN unsigned_users_queue AS "
	    "u ON u.id = p.legacy_id LEFT JOIN outstanding_requests_queue AS "
	    "o ON o.id = p.legacy_id WHERE coalesce(u.queue_position, "
	    "o.queue_position) <> p.queue_position");

	/* call_sessions.call_queue_id still joins, to the copies too. */
	cr_assert_gt(th_int(c, "SELECT count(*) FROM call_sessions AS s JOIN "
	    "unsigned_users_queue AS t ON t.id = s.call_queue_id"), 0);

	/* Duplicates: exactly the surplus live rows, each losing to a live
	 * copy of the same user. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.backfill_conflicts "
	    "WHERE reason = 'duplicate_live_entry'"),
	    th_int(c, "SELECT count(*) - count(DISTINCT (queue_type, user_id)) "
	    "FROM call_queue WHERE queue_type IN ('unsigned_users', "
	    "'outstanding_requests') AND status IN ('pending', 'assigned')"));
	none(c, "duplicates lose to a live copy", "SELECT 1 FROM "
	    "qsched.backfill_conflicts AS k LEFT JOIN (SELECT id, user_id, "
	    "status FROM unsigned_users_queue UNION ALL SELECT id, user_id, "
	    "status FROM outstanding_requests_queue) AS w ON w.id = k.other_id "
	    "WHERE k.reason = 'duplicate_live_entry' AND (w.id IS NULL OR "
	    "w.user_id <> k.user_id OR w.status NOT IN ('pending', "
	    "'assigned'))");
	/* An assigned duplicate wins over a pending one. */
	none(c, "assigned wins", "SELECT 1 FROM qsched.backfill_conflicts AS k "
	    "JOIN call_queue AS c ON c.id = k.legacy_id JOIN call_queue AS w "
	    "ON w.id = k.other_id WHERE c.status = 'assigned' AND w.status = "
	    "'pending'");

	/* Every other queue type stays in call_queue, counted per value;
	 * call_queue itself is untouched. */
	res = PQexec(c, "SELECT queue_type, count(*) FROM call_queue WHERE "
	    "queue_type NOT IN ('unsigned_users', 'outstanding_requests') "
	    "GROUP BY 1");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	cr_assert_geq(PQntuples(res), 5, "manual, inbound, direct, callback, "
	    "junk");
	for (int r = 0; r < PQntuples(res); r++) {
		char	 name[96];

		snprintf(name, sizeof name, "skipped_%s",
		    PQgetvalue(res, r, 0));
		cr_assert_eq(bf_metric(c, name), atoll(PQgetvalue(res, r, 1)),
		    "%s", name);
	}
	PQclear(res);
	after = bf_source_state(c);
	cr_assert_str_eq(before, after, "call_queue changed");
	free(before);
	free(after);
	PQfinish(c);
}

Test(backfill, rerun_copies_nothing_and_a_sync_pass_touches_only_changes)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 2000, 2000, 11, "");
	char		*s;

	run_ok(conf, NULL);
	run_ok(conf, NULL);
	cr_assert_eq(bf_metric(c, "inserted"), 0);
	cr_assert_eq(bf_metric(c, "updated"), 0);
	cr_assert_eq(bf_metric(c, "examined"), 0);
	cr_assert_eq(bf_metric(c, "previous_high_water_mark"),
	    th_int(c, "SELECT (metrics->>'high_water_mark')::bigint FROM "
	    "qsched.runs WHERE job = 'legacy-backfill' ORDER BY id LIMIT 1"));

	/* The app changes 100 copied rows and adds 100, as it does during
	 * the transition (client-set ids and updated_at). */
	th_exec(c, "UPDATE call_queue SET queue_reason = 'changed by the app', "
	    "updated_at = updated_at + interval '1 second' WHERE id IN (SELECT "
	    "t.id FROM unsigned_users_queue AS t UNION ALL SELECT t.id FROM "
	    "outstanding_requests_queue AS t ORDER BY 1 LIMIT 100)");
	th_exec(c, "INSERT INTO call_queue (id, user_id, queue_type, "
	    "priority_score, status, queue_reason, created_at, updated_at) "
	    "SELECT gen_random_uuid(), user_id, CASE WHEN user_id %% 2 = 0 "
	    "THEN 'unsigned_users' ELSE 'outstanding_requests' END, 3, "
	    "'completed', 'added by the app', now() AT TIME ZONE 'UTC', "
	    "now() AT TIME ZONE 'UTC' FROM user_call_scores ORDER BY user_id "
	    "LIMIT 100");
	run_ok(conf, NULL);
	cr_assert_eq(bf_metric(c, "examined"), 200);
	cr_assert_eq(bf_metric(c, "updated"), 100);
	cr_assert_eq(bf_metric(c, "inserted"), 100);
	cr_assert_eq(bf_metric(c, "conflicts"), 0);
	cr_assert_eq(bf_metric(c, "unchanged"), 0);
	cr_assert_eq(th_int(c, "SELECT (SELECT count(*) FROM "
	    "unsigned_users_queue WHERE queue_reason IN ('changed by the app', "
	    "'added by the app')) + (SELECT count(*) FROM "
	    "outstanding_requests_queue WHERE queue_reason IN ('changed by the "
	    "app', 'added by the app'))"), 200);
	s = th_value(c, "SELECT metrics->>'validation' FROM qsched.runs "
	    "WHERE job = 'legacy-backfill' ORDER BY id DESC LIMIT 1");
	cr_assert_str_eq(s, "ok");
	free(s);
	bf_assert_accounted(c);

	run_ok(conf, NULL);
	cr_assert_eq(bf_metric(c, "inserted"), 0);
	cr_assert_eq(bf_metric(c, "examined"), 0);
	PQfinish(c);
}

Test(backfill, dry_run_shows_the_proof_and_writes_nothing)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 1000, 1000, 3, "");
	struct th_out	 o;
	char		 want[64];
	char		*s;

	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill", "--dry-run",
	    NULL), 0, "%s", o.err);
	snprintf(want, sizeof want, "rows to examine: %lld ", th_int(c,
	    "SELECT count(*) FROM call_queue WHERE queue_type IN "
	    "('unsigned_users', 'outstanding_requests')"));
	cr_assert(strstr(o.out, want) != NULL, "want \"%s\" in: %s", want,
	    o.out);
	cr_assert(strstr(o.out, "outstanding_requests") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, "stays in call_queue: manual_call") != NULL,
	    "%s", o.out);
	th_out_free(&o);
	cr_assert_eq(th_int(c, "SELECT (SELECT count(*) FROM "
	    "unsigned_users_queue) + (SELECT count(*) FROM "
	    "outstanding_requests_queue) + (SELECT count(*) FROM "
	    "qsched.checkpoints)"), 0);
	s = th_value(c, "SELECT to_regclass('qsched.backfill_conflicts') IS "
	    "NULL AND to_regclass('qsched.backfill_positions') IS NULL");
	cr_assert_str_eq(s, "t", "a dry run created the bookkeeping tables");
	free(s);

	run_ok(conf, NULL);
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill", "--dry-run",
	    NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "proof holds") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, "rows to examine: 0 ") != NULL, "%s", o.out);
	th_out_free(&o);
	s = bf_message(c);
	cr_assert(strstr(s, "dry run") != NULL && strstr(s, "holds") != NULL,
	    "%s", s);
	free(s);
	PQfinish(c);
}

Test(backfill, conflicts_are_recorded_once_with_their_reason)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 1000, 1000, 5, "");
	char		*s, *entry, *user;

	/* A user with no live legacy unsigned row gets a live entry in the
	 * new table first (the population job, or the app); then a legacy
	 * row for the same user would be a second one. */
	user = th_value(c, "SELECT u.user_id FROM user_call_scores AS u WHERE "
	    "NOT EXISTS (SELECT 1 FROM call_queue AS c WHERE c.user_id = "
	    "u.user_id) ORDER BY u.user_id LIMIT 1");
	entry = th_value(c, "SELECT id FROM queue_add('unsigned_users', %s)",
	    user);
	th_exec(c, "INSERT INTO call_queue (id, user_id, queue_type, status, "
	    "created_at, updated_at) VALUES ('00000000-0000-4000-8000-"
	    "000000000001', %s, 'unsigned_users', 'pending', '" BF_NOW "', '"
	    BF_NOW "')", user);
	/* A status the mapping does not know. */
	th_exec(c, "INSERT INTO call_queue (id, user_id, queue_type, status, "
	    "created_at, updated_at) SELECT '00000000-0000-4000-8000-"
	    "000000000002', min(user_id), 'outstanding_requests', 'on_hold', '"
	    BF_NOW "', '" BF_NOW "' FROM user_call_scores");
	/* A user with no user_call_scores row (the app dropped the legacy
	 * foreign key somewhere along the way). */
	th_exec(c, "ALTER TABLE call_queue DROP CONSTRAINT "
	    "call_queue_user_id_fkey; INSERT INTO call_queue (id, user_id, "
	    "queue_type, status, created_at, updated_at) VALUES ("
	    "'00000000-0000-4000-8000-000000000003', 999, 'unsigned_users', "
	    "'completed', '" BF_NOW "', '" BF_NOW "')");

	run_ok(conf, NULL);
	s = th_value(c, "SELECT string_agg(legacy_id || ' ' || reason || ' ' "
	    "|| coalesce(other_id::text, '-'), ', ' ORDER BY legacy_id) FROM "
	    "qsched.backfill_conflicts WHERE legacy_id::text LIKE "
	    "'00000000-0000-4000-8000-%%'");
	{
		char	 want[512];

		snprintf(want, sizeof want,
		    "00000000-0000-4000-8000-000000000001 live_entry_exists %s, "
		    "00000000-0000-4000-8000-000000000002 unmapped_status -, "
		    "00000000-0000-4000-8000-000000000003 no_score_row -", entry);
		cr_assert_str_eq(s, want);
	}
	free(s);
	cr_assert_eq(bf_metric(c, "conflict_live_entry_exists"), 1);
	cr_assert_eq(bf_metric(c, "conflict_unmapped_status"), 1);
	cr_assert_eq(bf_metric(c, "conflict_no_score_row"), 1);
	s = th_value(c, "SELECT legacy_status || ' ' || queue_type || ' ' || "
	    "user_id || ' ' || (run_id = (SELECT max(id) FROM qsched.runs)) "
	    "FROM qsched.backfill_conflicts WHERE legacy_id = "
	    "'00000000-0000-4000-8000-000000000002'");
	cr_assert(strncmp(s, "on_hold outstanding_requests ", 29) == 0 &&
	    strcmp(s + strlen(s) - 5, " true") == 0, "%s", s);
	free(s);
	bf_assert_live_rule(c);
	bf_assert_accounted(c);

	/* Examined again, they are not recorded twice. */
	cr_assert_gt(th_int(c, "SELECT count(*) FROM "
	    "qsched.backfill_conflicts"), 3);
	s = th_value(c, "SELECT count(*) || ' ' || count(DISTINCT legacy_id) "
	    "FROM qsched.backfill_conflicts");
	run_ok(conf, "--set=resync=true");
	{
		char	*again = th_value(c, "SELECT count(*) || ' ' || "
		    "count(DISTINCT legacy_id) FROM qsched.backfill_conflicts");

		cr_assert_str_eq(again, s);
		free(again);
	}
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.backfill_conflicts "
	    "WHERE last_run_id <> (SELECT max(id) FROM qsched.runs)"), 0,
	    "a resync examines every conflict again");
	cr_assert_eq(bf_metric(c, "inserted"), 0);
	free(entry);
	free(user);
	PQfinish(c);
}

Test(backfill, statuses_option_limits_the_copy)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 1000, 1000, 9,
	    "options { statuses = \"pending, assigned\" }");
	struct th_out	 o;
	long long	 runs;

	run_ok(conf, NULL);
	cr_assert_eq(th_int(c, "SELECT (SELECT count(*) FROM "
	    "unsigned_users_queue WHERE status NOT IN ('pending', 'assigned')) "
	    "+ (SELECT count(*) FROM outstanding_requests_queue WHERE status "
	    "NOT IN ('pending', 'assigned'))"), 0);
	cr_assert_eq(bf_metric(c, "inserted") + bf_metric(c, "conflicts"),
	    th_int(c, "SELECT count(*) FROM call_queue WHERE queue_type IN "
	    "('unsigned_users', 'outstanding_requests') AND status IN "
	    "('pending', 'assigned')"));
	cr_assert_eq(bf_metric(c, "skipped_status"), th_int(c, "SELECT "
	    "count(*) FROM call_queue WHERE queue_type IN ('unsigned_users', "
	    "'outstanding_requests') AND status NOT IN ('pending', "
	    "'assigned')"));

	/* A status that does not exist is refused before anything runs:
	 * exit 2, nothing recorded. */
	runs = th_int(c, "SELECT count(*) FROM qsched.runs");
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill",
	    "--set=statuses=pending,done", NULL), 2, "%s", o.err);
	cr_assert(strstr(o.err, "statuses: \"done\"") != NULL, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs"), runs);
	PQfinish(c);
}

Test(backfill, proof_failure_names_the_type_and_range_and_resync_repairs)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 1000, 1000, 13, "");
	struct th_out	 o;
	char		*id, *s;

	run_ok(conf, NULL);
	/* Someone changes a copy behind the backfill's back. */
	id = th_value(c, "UPDATE outstanding_requests_queue SET priority_score "
	    "= priority_score + 1 WHERE id = (SELECT id FROM "
	    "outstanding_requests_queue ORDER BY id OFFSET 100 LIMIT 1) "
	    "RETURNING id");
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill", NULL), 1,
	    "%s", o.err);
	th_out_free(&o);
	s = bf_message(c);
	cr_assert(strstr(s, "proof failed: outstanding_requests:") != NULL,
	    "%s", s);
	/* The range named holds the changed row, and few others. */
	{
		char	*in = th_value(c, "SELECT '%s'::uuid BETWEEN "
		    "substring($m$%s$m$ from 'range ([0-9a-f-]{36}) ..')::uuid "
		    "AND substring($m$%s$m$ from '\\.\\. ([0-9a-f-]{36})')"
		    "::uuid", id, s, s);

		cr_assert_str_eq(in, "t", "%s not in: %s", id, s);
		free(in);
	}
	cr_assert_leq(th_int(c, "SELECT substring($m$%s$m$ from "
	    "'\\(([0-9]+) source rows\\)$')::int", s), 16, "%s", s);
	free(s);
	s = th_value(c, "SELECT status || ' ' || (metrics->>'validation' LIKE "
	    "'outstanding_requests:%%') FROM qsched.runs WHERE job = "
	    "'legacy-backfill' ORDER BY id DESC LIMIT 1");
	cr_assert_str_eq(s, "failed true");
	free(s);

	run_ok(conf, "--set=resync=true");
	cr_assert_eq(bf_metric(c, "updated"), 1);
	s = th_value(c, "SELECT metrics->>'validation' FROM qsched.runs WHERE "
	    "job = 'legacy-backfill' ORDER BY id DESC LIMIT 1");
	cr_assert_str_eq(s, "ok");
	free(s);
	free(id);
	PQfinish(c);
}

Test(backfill, statement_timeout_halves_the_batch_and_retries_it)
{
	PGconn		*c = th_connect(), *locker;
	const char	*conf = bf_prepare(c, 2000, 2000, 17,
	    "statement_timeout = \"1s\"\n"
	    "  options { batch_size = 4000 }");
	struct th_out	 o;
	pid_t		 qs;

	/* Inserts into the table wait behind this lock until the batch's
	 * statement times out, twice; then the lock goes away. */
	locker = th_connect();
	th_exec(locker, "BEGIN; LOCK TABLE outstanding_requests_queue IN "
	    "SHARE MODE");
	qs = th_qsched_spawn(conf, "run", "legacy-backfill", NULL);
	cr_assert(th_wait_until(c, "SELECT count(*) > 0 FROM pg_stat_activity "
	    "WHERE application_name LIKE 'qsched/legacy-backfill/%' AND "
	    "wait_event_type = 'Lock'", 20000), "the batch never waited");
	usleep(2300 * 1000);
	th_exec(locker, "COMMIT");
	cr_assert_eq(th_wait(qs, 60000), 0);
	th_output(qs, &o);
	cr_assert(strstr(o.err, "hit the statement timeout; retrying with "
	    "2000 rows") != NULL && strstr(o.err, "retrying with 1000 rows") !=
	    NULL, "%s", o.err);
	th_out_free(&o);
	cr_assert_geq(bf_metric(c, "statement_timeouts"), 2);
	cr_assert_eq(bf_metric(c, "inserted") + bf_metric(c, "conflicts"),
	    th_int(c, "SELECT count(*) FROM call_queue WHERE queue_type IN "
	    "('unsigned_users', 'outstanding_requests')"));
	bf_assert_accounted(c);
	PQfinish(locker);
	PQfinish(c);
}

Test(backfill, a_second_backfill_job_is_skipped)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 500, 500, 19, "");
	struct th_out	 o;

	/* The plugin's own lock, as another legacy_backfill job holds it:
	 * the documented key, FNV-1a 64 of "legacy_backfill/bookkeeping". */
	th_exec(c, "SELECT pg_advisory_lock(%lld)", bf_lock_key());
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill", NULL), 4,
	    "%s", o.err);
	cr_assert(strstr(o.err, "another legacy_backfill job") != NULL, "%s",
	    o.err);
	th_out_free(&o);
	th_exec(c, "SELECT pg_advisory_unlock_all()");
	run_ok(conf, NULL);
	PQfinish(c);
}

Test(backfill, max_rate_and_pause_pace_the_copy)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 1000, 1000, 41,
	    "options { max_rate = 1000 }");
	long long	 rows;

	/* One batch of all ~650 rows, then the wait that keeps it at 1000
	 * rows a second. */
	run_ok(conf, NULL);
	rows = bf_metric(c, "examined");
	cr_assert_gt(rows, 500);
	cr_assert_geq(bf_metric(c, "copy_ms"), rows * 1000 / 1000 - 50,
	    "%lld rows in %lld ms", rows, bf_metric(c, "copy_ms"));

	/* A pause after every batch. */
	bf_reset(c);
	run_ok(conf, "--set=max_rate=100000000");
	cr_assert_lt(bf_metric(c, "copy_ms"), rows * 1000 / 1000 - 50,
	    "unpaced: %lld ms", bf_metric(c, "copy_ms"));
	bf_reset(c);
	run_ok(conf, "--set=pause=300ms");
	cr_assert_geq(bf_metric(c, "copy_ms"), 300 * bf_metric(c, "batches"));
	PQfinish(c);
}

Test(backfill, check_says_what_is_missing_before_the_migration)
{
	PGconn		*c = th_connect();
	const char	*conf;
	struct th_out	 o;

	bf_load(c, 100, 100, 43);
	conf = bf_conf("");
	cr_assert_eq(th_qsched(&o, conf, "check", NULL), 1, "%s%s", o.out,
	    o.err);
	cr_assert(strstr(o.out, "job \"legacy-backfill\": check failed: "
	    "missing: unsigned_users_queue, outstanding_requests_queue") !=
	    NULL, "%s", o.out);
	th_out_free(&o);
	bf_migrate(conf);
	cr_assert_eq(th_qsched(&o, conf, "check", NULL), 0, "%s%s", o.out,
	    o.err);
	cr_assert(strstr(o.out, "job \"legacy-backfill\": check ok") != NULL,
	    "%s", o.out);
	th_out_free(&o);
	PQfinish(c);
}

/* Throttling degrades: without queue_claim_next() there is no canary. */
Test(backfill, without_queue_claim_next_the_canary_is_off)
{
	PGconn		*c = th_connect();
	const char	*conf = bf_prepare(c, 500, 500, 79, "");
	struct th_out	 o;
	char		*s;

	th_exec(c, "DROP FUNCTION queue_claim_next(text, integer)");
	cr_assert_eq(th_qsched(&o, conf, "run", "legacy-backfill", NULL), 0,
	    "%s", o.err);
	cr_assert(strstr(o.err, "no canary claim in this run") != NULL, "%s",
	    o.err);
	th_out_free(&o);
	cr_assert_eq(bf_metric(c, "canary_claims"), 0);
	s = bf_message(c);
	cr_assert(strstr(s, "proof holds") != NULL, "%s", s);
	free(s);
	PQfinish(c);
}
