/*
 * test_population.c - tests/pg_population: the queue_population plugin
 * end to end (qsched run) on generated data in a real PostgreSQL: the
 * queue against an independent statement of the rule, writes only where
 * something changed, assigned entries and the lease, claims and readers
 * during a refresh, the flags and the legacy dual-write; then the change
 * log and the scoped refresh.
 *
 * The tests before the change log's compare the whole queue at every
 * refresh (PF_FULL): they are the tests of the full comparison, which
 * stays the safety net, and several write the queue behind the log on
 * purpose.  The scoped refresh's tests check each result against a full
 * comparison.
 */
#include <config.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "th.h"
#include "population_fixture.h"

TestSuite(population, .init = th_setup, .fini = th_teardown,
    .timeout = 600);

static const struct pf_queue *const queues[] = { &pf_unsigned,
    &pf_outstanding };

/* The pending entries of Q. */
static long long
pending(PGconn *c, const struct pf_queue *q)
{
	return (th_int(c, "SELECT count(*) FROM %s WHERE status = 'pending'",
	    q->table));
}

/* Whether USER_ID has a pending entry in Q. */
static bool
queued(PGconn *c, const struct pf_queue *q, long long user_id)
{
	return (th_int(c, "SELECT count(*) FROM %s WHERE status = 'pending' "
	    "AND user_id = %lld", q->table, user_id) == 1);
}

/*
 * Users at the rule's edges, ids 90000001..: a new lead inside the
 * cooling period (stage A ignores it), scored users EDGE_S inside and
 * outside it, next_call_after EDGE_S past and to come, an inactive user,
 * stray and NULL queue types, and three new leads created at the same
 * instant (user_id orders them).  EDGE_S is as close to the edge as a
 * test can get without a fake clock: the runs that follow must all see
 * the same side of it.
 */
#define EDGE_S	300
static void
edge_users(PGconn *c, const struct pf_queue *q)
{
	char	 qt[64];

	snprintf(qt, sizeof qt, "'%s'", q->name);
	pf_user(c, 90000001, qt, 0, true, 60, true, 0);
	pf_user(c, 90000002, qt, 3, true, 7200 - EDGE_S, true, 0);
	pf_user(c, 90000003, qt, 3, true, 7200 + EDGE_S, true, 0);
	pf_user(c, 90000004, qt, 0, true, 3600, false, -EDGE_S);
	pf_user(c, 90000005, qt, 0, true, 3600, false, EDGE_S);
	pf_user(c, 90000006, qt, 0, false, 3600, true, 0);
	pf_user(c, 90000007, "'UNSIGNED_USERS'", 0, true, 3600, true, 0);
	pf_user(c, 90000008, "'manual_call'", 0, true, 3600, true, 0);
	pf_user(c, 90000009, "NULL", 0, true, 3600, true, 0);
	for (long long u = 90000013; u >= 90000011; u--)
		pf_user(c, u, qt, 0, true, 5000, true, 0);
	th_exec(c, "UPDATE user_call_scores SET created_at = (SELECT "
	    "created_at FROM user_call_scores WHERE user_id = 90000011) "
	    "WHERE user_id IN (90000012, 90000013)");
}

struct rule_case {
	int	 queue;		/* index into queues[] */
	long	 max;
};

static struct rule_case rule_cases[] = {
	{ 0, 200 }, { 1, 200 }, { 0, 500 }, { 1, 500 }, { 0, 0 }, { 1, 0 },
};

ParameterizedTestParameters(population, queue_is_the_rule)
{
	return (cr_make_param_array(struct rule_case, rule_cases,
	    sizeof rule_cases / sizeof rule_cases[0]));
}

/*
 * 3000 users give each queue more new leads than a cap of 200 (stage A
 * alone), fewer than 500 (stage B fills the rest) and no cap at all.
 * Then the data moves (scores, activity, next_call_after, an entry's
 * available_from pushed into the future) and the second refresh must
 * match the rule again, writing no row it did not have to.
 */
ParameterizedTest(struct rule_case *rc, population, queue_is_the_rule)
{
	const struct pf_queue *q = queues[rc->queue];
	const char	*conf;
	PGconn		*c;
	long long	 n, stage_a;
	char		*s;

	pf_flags(true, false);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 7, false);
	edge_users(c, q);

	pf_refresh_set(conf, q->job, rc->max, false, PF_FULL, 0);
	pf_expect(c, q, rc->max, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0, "%s max_size %ld: the queue "
	    "differs from the rule", q->name, rc->max);
	n = th_int(c, "SELECT count(*) FROM pf_expect");
	stage_a = th_int(c, "SELECT count(*) FROM pf_expect WHERE score = 0");
	cr_assert_eq(pending(c, q), n);
	cr_assert_gt(stage_a, 200, "the fixture must have new leads beyond "
	    "the cap");
	if (rc->max > 0)
		cr_assert_eq(n, stage_a > rc->max ? stage_a : rc->max,
		    "new leads are never capped; scored users fill up to "
		    "max_size");
	else
		cr_assert_gt(n, stage_a);
	cr_assert_eq(pf_metric(c, q->job, "eligible"), n);
	cr_assert_eq(pf_metric(c, q->job, "inserted"), n);
	cr_assert_eq(pf_metric(c, q->job, "updated"), 0);
	cr_assert_eq(pf_metric(c, q->job, "removed"), 0);

	/* The edges, one by one. */
	cr_assert(queued(c, q, 90000001), "new lead inside the cooling period");
	cr_assert(!queued(c, q, 90000002), "scored user inside the cooling "
	    "period");
	cr_assert_eq(queued(c, q, 90000003), th_int(c, "SELECT count(*) FROM "
	    "pf_expect WHERE user_id = 90000003") == 1);
	if (rc->max == 0)
		cr_assert(queued(c, q, 90000003), "scored user just past the "
		    "cooling period");
	cr_assert(queued(c, q, 90000004), "next_call_after passed");
	for (long long u = 90000005; u <= 90000009; u++)
		cr_assert(!queued(c, q, u), "user %lld must not be queued", u);
	s = th_value(c, "SELECT string_agg(user_id::text, ',' ORDER BY "
	    "queue_position) FROM %s WHERE user_id BETWEEN 90000011 AND "
	    "90000013", q->table);
	cr_assert_str_eq(s, "90000011,90000012,90000013");
	free(s);

	/* Fresh entries: available_from is next_call_after, or the time of
	 * the run; every entry is pending with no claim. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM %s AS e "
	    "JOIN user_call_scores AS u USING (user_id), "
	    "(SELECT started_at AT TIME ZONE 'UTC' AS t0, "
	    "  finished_at AT TIME ZONE 'UTC' AS t1 FROM qsched.runs "
	    "  WHERE job = '%s') AS r "
	    "WHERE NOT (CASE WHEN u.next_call_after IS NOT NULL "
	    "  THEN e.available_from = u.next_call_after "
	    "  ELSE e.available_from BETWEEN date_trunc('milliseconds', r.t0) "
	    "    AND r.t1 END) OR e.claim_id IS NOT NULL "
	    "  OR e.status <> 'pending'", q->table, q->job), 0);

	/* The data moves. */
	th_exec(c, "UPDATE user_call_scores SET current_score = "
	    "(current_score + 7) %% 40 WHERE user_id %% 10 = 3; "
	    "UPDATE user_call_scores SET is_active = NOT is_active "
	    "WHERE user_id %% 17 = 0; "
	    "UPDATE user_call_scores SET next_call_after = (now() AT TIME "
	    "ZONE 'UTC') + interval '1 day' WHERE user_id %% 23 = 0; "
	    "UPDATE user_call_scores SET next_call_after = NULL "
	    "WHERE user_id %% 29 = 0; "
	    "UPDATE %s SET available_from = (now() AT TIME ZONE 'UTC') + "
	    "interval '1 hour' WHERE user_id %% 31 = 0", q->table);
	pf_snapshot(c, q->table, "before");
	pf_refresh_set(conf, q->job, rc->max, false, PF_FULL, 0);
	pf_expect(c, q, rc->max, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0, "%s max_size %ld, second "
	    "refresh: the queue differs from the rule", q->name, rc->max);
	cr_assert_eq(pf_written_same(c, q->table, "before"), 0,
	    "rows rewritten with the same content");
	cr_assert_eq(pf_written(c, q->table, "before"),
	    pf_metric(c, q->job, "inserted") + pf_metric(c, q->job, "updated") +
	    pf_metric(c, q->job, "removed"));
	cr_assert_gt(pf_metric(c, q->job, "removed"), 0);
	cr_assert_gt(pf_metric(c, q->job, "updated"), 0);
	PQfinish(c);
}

struct max_case {
	long	 max;
};

static struct max_case max_cases[] = { { 200 }, { 0 } };

ParameterizedTestParameters(population, nothing_changed_writes_nothing)
{
	return (cr_make_param_array(struct max_case, max_cases,
	    sizeof max_cases / sizeof max_cases[0]));
}

/* Both queues and the legacy dual-write: a second run writes no row. */
ParameterizedTest(struct max_case *mc, population,
    nothing_changed_writes_nothing)
{
	const char	*conf;
	PGconn		*c;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 11, false);
	for (int i = 0; i < 2; i++)
		pf_refresh_set(conf, queues[i]->job, mc->max, false, PF_FULL, 0);
	pf_snapshot(c, "unsigned_users_queue", "s_unsigned");
	pf_snapshot(c, "outstanding_requests_queue", "s_outstanding");
	pf_snapshot(c, "call_queue", "s_legacy");
	for (int i = 0; i < 2; i++) {
		const struct pf_queue *q = queues[i];

		pf_refresh_set(conf, q->job, mc->max, false, PF_FULL, 0);
		cr_assert_eq(pf_metric(c, q->job, "unchanged"),
		    pf_metric(c, q->job, "eligible"));
		cr_assert_gt(pf_metric(c, q->job, "unchanged"), 200);
		cr_assert_eq(pf_metric(c, q->job, "legacy_unchanged") +
		    th_int(c, "SELECT count(DISTINCT user_id) FROM call_queue "
		    "WHERE queue_type = '%s' AND status = 'assigned' AND "
		    "user_id IN (SELECT user_id FROM %s)", q->name, q->table),
		    pf_metric(c, q->job, "eligible"));
		cr_assert_eq(th_int(c, "SELECT rows_processed FROM qsched.runs "
		    "WHERE job = '%s' ORDER BY id DESC LIMIT 1", q->job), 0);
	}
	cr_assert_eq(pf_written(c, "unsigned_users_queue", "s_unsigned"), 0);
	cr_assert_eq(pf_written(c, "outstanding_requests_queue",
	    "s_outstanding"), 0);
	cr_assert_eq(pf_written(c, "call_queue", "s_legacy"), 0);
	PQfinish(c);
}

ParameterizedTestParameters(population, one_percent_changed)
{
	return (cr_make_param_array(struct max_case, max_cases,
	    sizeof max_cases / sizeof max_cases[0]));
}

/*
 * 1% of the scores change: the rows written are exactly the entries
 * whose content had to change (their own score, or a position that
 * moved), in the queue and in call_queue; a change to users the rule
 * does not queue writes nothing.
 */
ParameterizedTest(struct max_case *mc, population, one_percent_changed)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c;
	long long	 written;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 13, false);
	pf_refresh_set(conf, q->job, mc->max, false, PF_FULL, 0);
	pf_snapshot(c, q->table, "s_queue");
	pf_snapshot(c, "call_queue", "s_legacy");
	cr_assert_eq(th_int(c, "WITH u AS (UPDATE user_call_scores SET "
	    "current_score = CASE WHEN current_score = 0 THEN 3 ELSE "
	    "current_score + 1 END WHERE user_id %% 100 = 42 RETURNING 1) "
	    "SELECT count(*) FROM u"), 30);
	pf_refresh_set(conf, q->job, mc->max, false, PF_FULL, 0);
	pf_expect(c, q, mc->max, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);
	written = pf_written(c, q->table, "s_queue");
	cr_assert_gt(written, 0);
	cr_assert_eq(written, pf_metric(c, q->job, "inserted") +
	    pf_metric(c, q->job, "updated") + pf_metric(c, q->job, "removed"));
	cr_assert_eq(pf_written_same(c, q->table, "s_queue"), 0,
	    "queue entries rewritten with the same content");
	cr_assert_eq(pf_written_same(c, "call_queue", "s_legacy"), 0,
	    "call_queue rows rewritten with the same content");
	/* Every entry that kept its content was left alone. */
	cr_assert_eq(pf_metric(c, q->job, "unchanged"), th_int(c,
	    "SELECT count(*) FROM %s AS t JOIN s_queue AS s ON s.id = t.id "
	    "WHERE s.j = to_jsonb(t) - 'updated_at' AND t.status = 'pending'",
	    q->table));

	/* Users outside the queue change: nothing to write. */
	pf_snapshot(c, q->table, "s_queue");
	pf_snapshot(c, "call_queue", "s_legacy");
	th_exec(c, "UPDATE user_call_scores SET current_score = "
	    "current_score + 1 WHERE user_id %% 100 = 43 AND (NOT is_active "
	    "OR current_queue_type IS DISTINCT FROM '%s')", q->name);
	pf_refresh_set(conf, q->job, mc->max, false, PF_FULL, 0);
	cr_assert_eq(pf_written(c, q->table, "s_queue"), 0);
	cr_assert_eq(pf_written(c, "call_queue", "s_legacy"), 0);
	PQfinish(c);
}

/*
 * Five entries claimed by agents.  The refresh leaves the three with a
 * live lease exactly as they are, even when their user left the rule or
 * changed score, and queues none of their users as pending; the two
 * claimed 31 minutes ago go back to pending and take their place in the
 * rule again.
 */
Test(population, assigned_entries_stay_and_old_ones_expire)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c;
	char		 ids[5][40];
	long long	 users[5];

	pf_flags(true, false);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 17, false);
	pf_refresh_set(conf, q->job, -1, false, PF_FULL, 0);
	for (int i = 0; i < 5; i++) {
		char	*s = th_value(c, "SELECT id || ' ' || user_id FROM "
		    "queue_claim_next('unsigned_users', %d)", i + 1);

		cr_assert(sscanf(s, "%39s %lld", ids[i], &users[i]) == 2);
		free(s);
	}
	th_exec(c, "UPDATE %s SET assigned_at = (now() AT TIME ZONE 'UTC') - "
	    "interval '31 minutes' WHERE id IN ('%s', '%s')", q->table,
	    ids[0], ids[1]);
	th_exec(c, "UPDATE user_call_scores SET next_call_after = (now() AT "
	    "TIME ZONE 'UTC') + interval '1 day' WHERE user_id = %lld",
	    users[2]);
	th_exec(c, "UPDATE user_call_scores SET current_score = 7 "
	    "WHERE user_id = %lld", users[3]);
	pf_snapshot(c, q->table, "s_queue");

	pf_refresh_set(conf, q->job, -1, false, PF_FULL, 0);
	cr_assert_eq(pf_metric(c, q->job, "expired_assignments"), 2);
	cr_assert_eq(pf_metric(c, q->job, "kept_assigned"), 3);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM %s AS t JOIN s_queue AS s "
	    "ON s.id = t.id WHERE t.id IN ('%s', '%s', '%s') AND s.x = "
	    "t.xmin::text AND s.tid = t.ctid::text AND t.status = 'assigned' "
	    "AND t.assigned_to_agent = (s.j->>'assigned_to_agent')::int",
	    q->table, ids[2], ids[3], ids[4]), 3,
	    "entries with a live lease must not be written");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM %s WHERE status = "
	    "'pending' AND user_id IN (%lld, %lld, %lld)", q->table, users[2],
	    users[3], users[4]), 0, "users with an assigned entry re-queued");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM %s WHERE id IN ('%s', "
	    "'%s') AND status = 'pending' AND assigned_to_agent IS NULL AND "
	    "assigned_at IS NULL", q->table, ids[0], ids[1]), 2,
	    "expired assignments go back to pending, the same entries");
	pf_expect(c, q, 200, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);
	PQfinish(c);
}

/*
 * An agent claims two entries and holds its transaction open; the
 * refresh means to update the first (its reason is stale) and remove the
 * second (its user became inactive).  The refresh waits for the claim,
 * readers still see the whole old queue meanwhile, and after the commit
 * both entries stay assigned as the agent left them.
 */
Test(population, claim_during_refresh_is_kept)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c, *agent;
	PGresult	*res;
	char		 x[40], y[40], *s;
	long long	 ux, uy, before;
	pid_t		 pid;

	pf_flags(true, false);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 19, false);
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	s = th_value(c, "SELECT string_agg(id || ' ' || user_id, ' ' ORDER BY "
	    "queue_position, priority_score) FROM (SELECT * FROM %s WHERE "
	    "status = 'pending' AND available_from <= now() AT TIME ZONE 'UTC' "
	    "ORDER BY queue_position, priority_score LIMIT 2) AS h", q->table);
	cr_assert(sscanf(s, "%39s %lld %39s %lld", x, &ux, y, &uy) == 4, "%s",
	    s);
	free(s);
	th_exec(c, "UPDATE %s SET queue_reason = 'stale' WHERE id = '%s'",
	    q->table, x);
	th_exec(c, "UPDATE user_call_scores SET is_active = false "
	    "WHERE user_id = %lld", uy);
	before = pending(c, q);

	agent = th_connect();
	th_exec(agent, "BEGIN");
	s = th_value(agent, "SELECT id FROM queue_claim_next('%s', 3)",
	    q->name);
	cr_assert_str_eq(s, x);
	free(s);
	s = th_value(agent, "SELECT id FROM queue_claim_next('%s', 3)",
	    q->name);
	cr_assert_str_eq(s, y);
	free(s);

	pid = th_qsched_spawn(conf, "run", q->job, "--set", "max_size=0",
	    NULL);
	cr_assert(th_wait_until(c, "SELECT EXISTS (SELECT 1 FROM "
	    "pg_stat_activity WHERE datname = current_database() AND "
	    "application_name LIKE 'qsched/" PF_UNSIGNED "/%' AND "
	    "wait_event_type = 'Lock')", 60000),
	    "the refresh never waited for the claimed entry");
	cr_assert_eq(pending(c, q), before, "a reader saw a partial queue");
	res = PQexec(agent, "COMMIT");
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	cr_assert_eq(th_wait(pid, 120000), 0, "the refresh failed");

	s = th_value(c, "SELECT string_agg(concat_ws(' ', status, "
	    "assigned_to_agent, queue_reason), ', ' ORDER BY queue_position) "
	    "FROM %s WHERE id IN ('%s', '%s')", q->table, x, y);
	cr_assert(strncmp(s, "assigned 3 stale, assigned 3 ", 29) == 0,
	    "claimed entries were changed: %s", s);
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM %s WHERE user_id IN "
	    "(%lld, %lld) AND status = 'pending'", q->table, ux, uy), 0);
	cr_assert_eq(pf_metric(c, q->job, "skipped_concurrent"), 2);

	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	cr_assert_eq(pf_metric(c, q->job, "skipped_concurrent"), 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM %s WHERE id IN ('%s', "
	    "'%s') AND status = 'assigned'", q->table, x, y), 2);
	pf_expect(c, q, 0, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);
	PQfinish(agent);
	PQfinish(c);
}

#define READER_MAX	200000

struct reader {
	const char	*table;
	volatile int	 stop;
	long long	*seen;		/* pending counts, in order */
	int		 n;
	char		 error[256];
};

/* Poll the pending count on a connection of its own until told to stop. */
static void *
reader_main(void *arg)
{
	struct reader	*r = arg;
	PGconn		*conn = PQconnectdb(th_conninfo);
	char		 sql[128];

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(r->error, sizeof r->error, "%s",
		    PQerrorMessage(conn));
		PQfinish(conn);
		return (NULL);
	}
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE status = "
	    "'pending'", r->table);
	while (!r->stop && r->n < READER_MAX) {
		PGresult	*res = PQexec(conn, sql);

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			snprintf(r->error, sizeof r->error, "%s",
			    PQresultErrorMessage(res));
			PQclear(res);
			break;
		}
		r->seen[r->n++] = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	PQfinish(conn);
	return (NULL);
}

/*
 * 100k users, no cap (about 27k entries), 5% of the scores changing
 * before each of 20 refreshes: a reader polling the pending count the
 * whole time never sees 0, and never a count the queue did not have
 * between two refreshes (a partial queue).
 */
Test(population, readers_never_see_an_empty_or_partial_queue)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c;
	struct reader	 r;
	pthread_t	 t;
	long long	 counts[21], min;
	int		 bad = 0;

	pf_flags(true, false);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 100000, 23, false);
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	counts[0] = pending(c, q);
	cr_assert_gt(counts[0], 20000);

	memset(&r, 0, sizeof r);
	r.table = q->table;
	r.seen = calloc(READER_MAX, sizeof *r.seen);
	cr_assert(r.seen != NULL);
	cr_assert_eq(pthread_create(&t, NULL, reader_main, &r), 0);
	for (int i = 1; i <= 20; i++) {
		th_exec(c, "UPDATE user_call_scores SET current_score = "
		    "(current_score + %d) %% 50 WHERE (user_id + %d) %% 20 = 0",
		    i, i);
		pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
		cr_assert_gt(pf_metric(c, q->job, "updated"), 0);
		counts[i] = pending(c, q);
	}
	r.stop = 1;
	pthread_join(t, NULL);
	cr_assert_str_empty(r.error, "reader: %s", r.error);
	cr_assert_gt(r.n, 20, "the reader polled only %d times", r.n);
	min = r.seen[0];
	for (int i = 0; i < r.n; i++) {
		bool	 known = false;

		if (r.seen[i] < min)
			min = r.seen[i];
		for (int k = 0; k <= 20 && !known; k++)
			known = r.seen[i] == counts[k];
		bad += !known;
	}
	cr_assert_gt(min, 0, "a reader saw an empty queue");
	cr_assert_eq(bad, 0, "%d of %d reads saw a count no refresh left "
	    "(a partial queue)", bad, r.n);
	free(r.seen);
	PQfinish(c);
}

Test(population, populate_separated_tables_false_skips)
{
	const char	*conf;
	PGconn		*c;
	char		*s;

	pf_flags(false, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 500, 29, false);
	pf_snapshot(c, "call_queue", "s_legacy");
	pf_refresh_set(conf, PF_UNSIGNED, -1, false, PF_FULL, 4);
	s = th_value(c, "SELECT status || ': ' || message FROM qsched.runs "
	    "WHERE job = '" PF_UNSIGNED "'");
	cr_assert_str_eq(s, "skipped: populate_separated_tables is false: the "
	    "unsigned_users queue is not refreshed");
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM unsigned_users_queue"),
	    0);
	cr_assert_eq(pf_written(c, "call_queue", "s_legacy"), 0);
	PQfinish(c);
}

Test(population, populate_legacy_queue_false_leaves_call_queue_alone)
{
	const char	*conf;
	PGconn		*c;

	pf_flags(true, false);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 500, 31, false);
	pf_snapshot(c, "call_queue", "s_legacy");
	pf_refresh_set(conf, PF_OUTSTANDING, -1, false, PF_FULL, 0);
	cr_assert_gt(pending(c, &pf_outstanding), 0);
	cr_assert_eq(pf_written(c, "call_queue", "s_legacy"), 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "metrics ? 'legacy_inserted'"), 0);
	PQfinish(c);
}

/*
 * The legacy dual-write.  Sessions reference five pending unsigned rows
 * whose users the rule does not queue, and a duplicate pending row of a
 * queued user: all six must survive, marked completed.  The other
 * queue types' rows are not touched; pending unsigned rows end up one
 * per queued user (unless the user holds an assigned row), placed as
 * the rule says; a second run writes nothing.
 */
Test(population, legacy_dual_write_keeps_session_rows)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c;
	long long	 sessions, dup_user;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 37, false);
	th_exec(c, "CREATE TABLE referenced AS SELECT c.id FROM call_queue "
	    "AS c JOIN user_call_scores AS u USING (user_id) WHERE "
	    "c.queue_type = 'unsigned_users' AND c.status = 'pending' AND "
	    "u.current_queue_type IS DISTINCT FROM 'unsigned_users' AND NOT "
	    "EXISTS (SELECT 1 FROM call_sessions AS s WHERE s.call_queue_id "
	    "= c.id) ORDER BY c.id LIMIT 5");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM referenced"), 5);
	/* A queued user (a new lead, no next call planned) with two pending
	 * rows; the session references the one that is not kept. */
	dup_user = th_int(c, "SELECT min(user_id) FROM user_call_scores "
	    "WHERE current_queue_type = 'unsigned_users' AND is_active AND "
	    "current_score = 0 AND next_call_after IS NULL AND user_id NOT IN "
	    "(SELECT user_id FROM call_queue WHERE queue_type = "
	    "'unsigned_users' AND status IN ('pending', 'assigned'))");
	th_exec(c, "INSERT INTO call_queue (id, user_id, queue_type, "
	    "queue_position, status, updated_at) VALUES "
	    "(gen_random_uuid(), %lld, 'unsigned_users', 1, 'pending', now()), "
	    "('00000000-0000-0000-0000-00000000d0b1', %lld, 'unsigned_users', "
	    "2, 'pending', now())", dup_user, dup_user);
	th_exec(c, "INSERT INTO referenced VALUES "
	    "('00000000-0000-0000-0000-00000000d0b1')");
	th_exec(c, "INSERT INTO call_sessions (id, user_id, call_queue_id, "
	    "updated_at) SELECT gen_random_uuid(), 1, id, now() "
	    "FROM referenced");
	sessions = th_int(c, "SELECT count(*) FROM call_sessions");
	pf_snapshot(c, "call_queue", "s_legacy");

	pf_refresh_set(conf, q->job, -1, false, PF_FULL, 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue WHERE id IN "
	    "(SELECT id FROM referenced) AND status = 'completed'"), 6,
	    "session-referenced rows must be kept, marked completed");
	cr_assert_eq(pf_metric(c, q->job, "legacy_completed"), 6);
	cr_assert_gt(pf_metric(c, q->job, "legacy_removed"), 0);
	cr_assert_gt(pf_metric(c, q->job, "legacy_inserted"), 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_sessions"),
	    sessions);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM s_legacy AS s WHERE "
	    "s.j->>'queue_type' <> 'unsigned_users' AND NOT EXISTS (SELECT 1 "
	    "FROM call_queue AS t WHERE t.id = s.id AND t.xmin::text = s.x "
	    "AND t.ctid::text = s.tid)"), 0, "rows of other queue types were "
	    "written");

	pf_expect(c, q, 200, 7200);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue WHERE "
	    "queue_type = 'unsigned_users' AND status = 'pending' GROUP BY "
	    "user_id ORDER BY count(*) DESC LIMIT 1"), 1,
	    "a user with several pending legacy rows");
	cr_assert_eq(pf_mismatches(c, q), 0);
	/* Legacy rows carry the separated entry's position. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pf_expect AS e "
	    "FULL JOIN (SELECT * FROM call_queue WHERE queue_type = "
	    "'unsigned_users' AND status = 'pending') AS p USING (user_id) "
	    "LEFT JOIN unsigned_users_queue AS s ON s.user_id = e.user_id "
	    "AND s.status = 'pending' "
	    "WHERE NOT coalesce(p.queue_position = s.queue_position "
	    "AND p.priority_score "
	    "= e.score AND p.queue_reason = e.reason AND p.available_from <= "
	    "now() AT TIME ZONE 'UTC', false) AND NOT EXISTS (SELECT 1 FROM "
	    "call_queue AS a WHERE a.queue_type = 'unsigned_users' AND "
	    "a.status = 'assigned' AND a.user_id = coalesce(e.user_id, "
	    "p.user_id))"), 0, "pending legacy rows differ from the rule");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue WHERE "
	    "queue_type = 'unsigned_users' AND status = 'pending' AND user_id "
	    "= %lld", dup_user), 1);

	pf_snapshot(c, "call_queue", "s_legacy");
	pf_refresh_set(conf, q->job, -1, false, PF_FULL, 0);
	cr_assert_eq(pf_written(c, "call_queue", "s_legacy"), 0);
	PQfinish(c);
}

Test(population, dry_run_writes_nothing)
{
	const char	*conf;
	PGconn		*c;
	char		*s;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 1000, 41, false);
	pf_snapshot(c, "call_queue", "s_legacy");
	pf_refresh_set(conf, PF_UNSIGNED, -1, true, PF_FULL, 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM unsigned_users_queue"),
	    0);
	cr_assert_eq(pf_written(c, "call_queue", "s_legacy"), 0);
	s = th_value(c, "SELECT message FROM qsched.runs WHERE job = '"
	    PF_UNSIGNED "'");
	cr_assert(strncmp(s, "dry run (rolled back): unsigned_users: ", 39) ==
	    0, "%s", s);
	free(s);
	cr_assert_gt(pf_metric(c, PF_UNSIGNED, "inserted"), 0);
	cr_assert_eq(th_int(c, "SELECT rows_processed FROM qsched.runs WHERE "
	    "job = '" PF_UNSIGNED "'"), 0);
	PQfinish(c);
}

/*
 * Tables the application's `prisma db push` made and its own jobs
 * filled, adopted by the migrations: the first refresh brings both
 * queues to the rule, removes the entries of users who have no
 * user_call_scores row, and expires the stale assignments.
 */
Test(population, adopted_tables_are_brought_to_the_rule)
{
	const char	*conf;
	PGconn		*c;

	pf_flags(true, false);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 43, true);
	for (int i = 0; i < 2; i++) {
		const struct pf_queue *q = queues[i];

		cr_assert_gt(th_int(c, "SELECT count(*) FROM %s WHERE user_id "
		    "<= 10 AND status = 'pending'", q->table), 0);
		pf_refresh_set(conf, q->job, -1, false, PF_FULL, 0);
		pf_expect(c, q, 200, 7200);
		cr_assert_eq(pf_mismatches(c, q), 0, "%s", q->name);
		cr_assert_eq(th_int(c, "SELECT count(*) FROM %s WHERE user_id "
		    "<= 10 AND status = 'pending'", q->table), 0,
		    "entries of unknown users must go");
		cr_assert_gt(pf_metric(c, q->job, "expired_assignments"), 0);
		cr_assert_eq(th_int(c, "SELECT count(*) FROM %s WHERE status = "
		    "'assigned' AND assigned_at < now() AT TIME ZONE 'UTC' - "
		    "interval '30 minutes'", q->table), 0);
	}
	PQfinish(c);
}

/* Without the migrations the run fails and says what to do. */
Test(population, missing_tables_fail_with_a_clear_message)
{
	const char	*conf;
	PGconn		*c;
	struct th_out	 o;
	char		*s;

	conf = th_conf_shipped("job \"" PF_UNSIGNED "\" {\n"
	    "  plugin = \"queue_population\"\n"
	    "  schedule = \"@manual\"\n"
	    "  options { queue = \"unsigned_users\" }\n"
	    "}\n");
	c = th_connect();
	th_exec_file(c, "sql/fixtures/legacy_schema.sql");
	pf_refresh_set(conf, PF_UNSIGNED, -1, false, PF_FULL, 1);
	s = th_value(c, "SELECT message FROM qsched.runs");
	cr_assert_str_eq(s, "table unsigned_users_queue does not exist: apply "
	    "the migrations first (job schema-migrate)");
	free(s);
	cr_assert_neq(th_qsched(&o, conf, "check", NULL), 0);
	cr_assert(strstr(o.out, "table unsigned_users_queue does not exist")
	    != NULL, "%s", o.out);
	th_out_free(&o);
	PQfinish(c);
}

struct bad_option {
	char	 options[64];
	char	 expect[64];
};

static struct bad_option bad_options[] = {
	{ "", "queue" },
	{ "queue = \"callbacks\"", "queue" },
	{ "queue = \"unsigned_users\" max_size = -1", "max_size" },
	{ "queue = \"unsigned_users\" cooling_period = 2", "cooling_period" },
	{ "queue = \"unsigned_users\" assignment_lease = \"0s\"",
	    "assignment_lease" },
};

ParameterizedTestParameters(population, bad_options_are_config_errors)
{
	return (cr_make_param_array(struct bad_option, bad_options,
	    sizeof bad_options / sizeof bad_options[0]));
}

ParameterizedTest(struct bad_option *bo, population,
    bad_options_are_config_errors)
{
	char		 jobs[512];
	const char	*conf;
	struct th_out	 o;

	snprintf(jobs, sizeof jobs, "job \"p\" {\n"
	    "  plugin = \"queue_population\"\n"
	    "  schedule = \"@manual\"\n"
	    "  options { %s }\n"
	    "}\n", bo->options);
	conf = th_conf_shipped(jobs);
	cr_assert_eq(th_qsched(&o, conf, "check", NULL), 2, "%s", o.err);
	cr_assert(strstr(o.err, bo->expect) != NULL, "want %s in: %s",
	    bo->expect, o.err);
	th_out_free(&o);
}

/* A work_mem the server would refuse is refused where it is written:
 * exit 2 naming the line, and nothing runs or is recorded. */
Test(population, bad_work_mem_is_refused_at_load)
{
	const char	*conf;
	struct th_out	 o;

	conf = th_conf_shipped("job \"" PF_UNSIGNED "\" {\n"
	    "  plugin = \"queue_population\"\n"
	    "  schedule = \"@manual\"\n"
	    "  options { queue = \"unsigned_users\" work_mem = \"lots\" }\n"
	    "}\n");
	cr_assert_eq(th_qsched(&o, conf, "run", PF_UNSIGNED, NULL), 2, "%s",
	    o.err);
	cr_assert(strstr(o.err, "jobs.conf:13: job \"" PF_UNSIGNED "\": "
	    "options: work_mem: \"lots\": not a memory size") != NULL, "%s",
	    o.err);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", PF_UNSIGNED, "--set",
	    "work_mem=64MB", NULL), 2, "the file is still refused");
	th_out_free(&o);
}

/*
 * A user deleted while the refresh queues them: the refresh waits for
 * the deleting transaction, fails its foreign key check (23503), rolls
 * back and refreshes again at once, in the same run; the second refresh
 * finds the user gone.
 */
Test(population, user_deleted_during_refresh_is_refreshed_again)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c, *app;
	PGresult	*res;
	long long	 user;
	pid_t		 pid;
	char		*s;

	pf_flags(true, false);
	conf = pf_conf("retries = 1 retry_delay = \"1s\"");
	c = th_connect();
	pf_load(c, conf, 3000, 47, false);
	user = th_int(c, "SELECT min(user_id) FROM user_call_scores WHERE "
	    "current_queue_type = 'unsigned_users' AND is_active AND "
	    "current_score = 0 AND next_call_after IS NULL AND user_id NOT IN "
	    "(SELECT user_id FROM call_queue)");
	app = th_connect();
	th_exec(app, "BEGIN; DELETE FROM user_call_scores WHERE user_id = %lld",
	    user);
	pid = th_qsched_spawn(conf, "run", q->job, NULL);
	cr_assert(th_wait_until(c, "SELECT EXISTS (SELECT 1 FROM "
	    "pg_stat_activity WHERE datname = current_database() AND "
	    "application_name LIKE 'qsched/" PF_UNSIGNED "/%' AND "
	    "wait_event_type = 'Lock')", 60000),
	    "the refresh never waited for the deleted user");
	res = PQexec(app, "COMMIT");
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	cr_assert_eq(th_wait(pid, 120000), 0, "the retry failed");
	s = th_value(c, "SELECT string_agg(concat_ws(' ', attempt, status, "
	    "sqlstate), ', ' ORDER BY id) FROM qsched.runs WHERE job = '%s'",
	    q->job);
	cr_assert_str_eq(s, "1 succeeded");
	free(s);
	cr_assert_eq(pf_metric(c, q->job, "race_retries"), 1);
	cr_assert(!queued(c, q, user));
	pf_expect(c, q, 200, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);
	PQfinish(app);
	PQfinish(c);
}

/*
 * Agents claiming while refreshes run.  Each claimer claims the next
 * entry and completes it at once (a claim that released its entry would
 * find it again, unlocked, whatever the refresh locks); the queue holds
 * thousands more entries than the claims take.  An empty claim is a
 * claim that came back with no row.
 */
struct claimer {
	int		 agent;
	volatile int	*stop;
	volatile int	*refreshing;
	long long	 claims;
	long long	 during;	/* claims made while a refresh ran */
	long long	 empty;
	char		 error[256];
};

static void *
claimer_main(void *arg)
{
	struct claimer	*cl = arg;
	PGconn		*conn = PQconnectdb(th_conninfo);
	char		 sql[160];

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(cl->error, sizeof cl->error, "%s",
		    PQerrorMessage(conn));
		PQfinish(conn);
		return (NULL);
	}
	snprintf(sql, sizeof sql, "SELECT id FROM queue_claim_next("
	    "'unsigned_users', %d)", cl->agent);
	while (!*cl->stop) {
		int		 during = *cl->refreshing;
		PGresult	*res = PQexec(conn, sql);
		char		 rel[160];

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			snprintf(cl->error, sizeof cl->error, "claim: %s",
			    PQresultErrorMessage(res));
			PQclear(res);
			break;
		}
		cl->claims++;
		cl->during += during || *cl->refreshing;
		if (PQntuples(res) == 0) {
			cl->empty++;
			PQclear(res);
			continue;
		}
		snprintf(rel, sizeof rel, "SELECT 1 FROM queue_complete("
		    "'unsigned_users', '%s', %d)", PQgetvalue(res, 0, 0),
		    cl->agent);
		PQclear(res);
		/*
		 * No retry: a claim that waits holds no entry (migration
		 * 0010), so completing never meets a deadlock here.
		 */
		res = PQexec(conn, rel);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			snprintf(cl->error, sizeof cl->error, "complete: %s",
			    PQresultErrorMessage(res));
			PQclear(res);
			break;
		}
		PQclear(res);
	}
	PQfinish(conn);
	return (NULL);
}

#define CLAIMERS	4

/*
 * Four agents claim in a loop while refreshes run that rewrite the whole
 * queue (positions set out of order first, so every entry moves) and
 * refreshes after a new lead and 5% of the scores changed.  No claim
 * ever comes back empty while thousands of entries are pending: a claim
 * that finds every available entry locked waits for one instead.
 */
Test(population, claims_never_come_back_empty_during_refreshes)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c;
	struct claimer	 cl[CLAIMERS];
	pthread_t	 t[CLAIMERS];
	volatile int	 stop = 0, refreshing = 0;
	long long	 claims = 0, during = 0, empty = 0, n;
	long long	 updated[8];
	char		 runs[8][1024];
	int		 status = 0;
	char		 err[512] = "";

	pf_flags(true, false);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 30000, 41, false);
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	n = pending(c, q);
	cr_assert_gt(n, 5000);

	memset(cl, 0, sizeof cl);
	for (int i = 0; i < CLAIMERS; i++) {
		cl[i].agent = i + 1;
		cl[i].stop = &stop;
		cl[i].refreshing = &refreshing;
		cr_assert_eq(pthread_create(&t[i], NULL, claimer_main, &cl[i]),
		    0);
	}
	/*
	 * Nothing here may assert while the claimers run (they use this
	 * frame): failures are kept and asserted after the join.
	 */
	for (int i = 0; i < 8 && status == 0; i++) {
		struct th_out	 o;

		if (i % 2 == 0) {
			/* Every position out of order: the refresh must
			 * write every pending entry. */
			th_exec(c, "UPDATE %s SET queue_position = "
			    "-queue_position WHERE status = 'pending'",
			    q->table);
		} else {
			pf_user(c, 91000000 + i, "'unsigned_users'", 0, true,
			    5, true, 0);
			th_exec(c, "UPDATE user_call_scores SET current_score "
			    "= current_score + 1 WHERE (user_id + %d) %% 20 "
			    "= 0", i);
		}
		refreshing = 1;
		status = th_qsched(&o, conf, "run", q->job, "--set",
		    "max_size=0", "--set", i % 2 == 0 ? PF_FULL :
		    "full_refresh_every=1h", NULL);
		refreshing = 0;
		if (status != 0)
			snprintf(err, sizeof err, "%s", o.err);
		th_out_free(&o);
		updated[i] = status == 0 ? pf_metric(c, q->job, "updated") : 0;
		if (status == 0) {
			char	*m = th_value(c, "SELECT metrics - 'flags' "
			    "FROM qsched.runs WHERE job = '%s' ORDER BY id "
			    "DESC LIMIT 1", q->job);

			snprintf(runs[i], sizeof runs[i], "%s", m);
			free(m);
		}
	}
	stop = 1;
	for (int i = 0; i < CLAIMERS; i++) {
		pthread_join(t[i], NULL);
		claims += cl[i].claims;
		during += cl[i].during;
		empty += cl[i].empty;
	}
	cr_log_info("%lld claims, %lld during refreshes", claims, during);
	for (int i = 0; i < 8; i++)
		cr_log_info("refresh %d: %s", i, runs[i]);
	cr_assert_eq(status, 0, "a refresh failed: %s", err);
	for (int i = 0; i < CLAIMERS; i++)
		cr_assert_str_empty(cl[i].error, "agent %d: %s", i + 1,
		    cl[i].error);
	for (int i = 0; i < 8; i++)
		cr_assert_gt(updated[i], i % 2 == 0 ? n / 2 : 0, "refresh %d "
		    "updated %lld entries", i, updated[i]);
	cr_assert_gt(claims, 1000, "only %lld claims", claims);
	cr_assert_gt(during, 100, "only %lld claims during a refresh", during);
	cr_assert_eq(empty, 0, "%lld of %lld claims came back empty (%lld "
	    "during a refresh) with thousands of entries pending", empty,
	    claims, during);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM %s WHERE status = "
	    "'assigned'", q->table), 0);
	cr_assert_gt(pending(c, q), 1000, "the claims emptied the queue");
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	pf_expect(c, q, 0, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);
	PQfinish(c);
}

/* Scores of K pending entries of Q with a score above 0 change. */
static void
change_scores(PGconn *c, const struct pf_queue *q, int k, int offset)
{
	cr_assert_eq(th_int(c, "WITH u AS (UPDATE user_call_scores SET "
	    "current_score = current_score + 1 WHERE user_id IN (SELECT "
	    "user_id FROM %s WHERE status = 'pending' AND priority_score > 0 "
	    "ORDER BY md5(user_id::text) LIMIT %d OFFSET %d) RETURNING 1) "
	    "SELECT count(*) FROM u", q->table, k, offset), k);
}

/*
 * The rows a refresh writes follow the changes, not the queue: one new
 * lead is one row in the queue and one in call_queue; k changed scores
 * are k rows plus the few moved to make room; an entry the application
 * added out of place (queue_add at the end) is the one row moved.  The
 * ranked view numbers the pending entries 1..N in claim order.
 */
Test(population, rows_written_follow_the_changes)
{
	const struct pf_queue *q = &pf_unsigned;
	static const int ks[] = { 1, 10, 100 };
	const char	*conf;
	PGconn		*c;
	long long	 n, w, moved;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 43, false);
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	n = pending(c, q);
	cr_assert_gt(n, 500);

	pf_user(c, 91000001, "'unsigned_users'", 0, true, 10, true, 0);
	pf_snapshot(c, q->table, "s_queue");
	pf_snapshot(c, "call_queue", "s_legacy");
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	cr_assert_eq(pf_written(c, q->table, "s_queue"), 1,
	    "one new lead must write one entry");
	cr_assert_eq(pf_written(c, "call_queue", "s_legacy"), 1);
	cr_assert_eq(pf_metric(c, q->job, "inserted"), 1);
	cr_assert_eq(pf_metric(c, q->job, "unchanged"), n);
	cr_assert_eq(th_int(c, "SELECT (queue_position < (SELECT "
	    "min(queue_position) FROM %s WHERE status = 'pending' AND "
	    "user_id <> 91000001))::int FROM %s WHERE user_id = 91000001",
	    q->table, q->table), 1, "the new lead must come first");

	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
		change_scores(c, q, ks[i], (int)i * 200);
		pf_snapshot(c, q->table, "s_queue");
		pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
		w = pf_written(c, q->table, "s_queue");
		moved = pf_metric(c, q->job, "moved");
		cr_assert_eq(w - moved, ks[i], "%d changed: %lld written, "
		    "%lld moved", ks[i], w, moved);
		cr_assert_leq(moved, ks[i] / 4 + 2, "%d changed: %lld moved "
		    "to make room", ks[i], moved);
		cr_assert_eq(pf_metric(c, q->job, "renumbered_all"), 0);
		pf_expect(c, q, 0, 7200);
		cr_assert_eq(pf_mismatches(c, q), 0);
	}

	/* The application queues a new lead at the end. */
	pf_user(c, 91000002, "NULL", 0, true, 20, true, 0);
	th_exec(c, "SELECT queue_add('unsigned_users', 91000002)");
	th_exec(c, "UPDATE user_call_scores SET current_queue_type = "
	    "'unsigned_users' WHERE user_id = 91000002");
	pf_snapshot(c, q->table, "s_queue");
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	cr_assert_eq(pf_written(c, q->table, "s_queue"), 1);
	cr_assert_eq(pf_metric(c, q->job, "inserted"), 0);
	pf_expect(c, q, 0, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);

	/* An entry put out of place by hand is the only one moved. */
	th_exec(c, "UPDATE %s SET queue_position = (SELECT "
	    "max(queue_position) + 5 FROM %s) WHERE user_id = (SELECT user_id "
	    "FROM %s WHERE status = 'pending' ORDER BY queue_position LIMIT 1 "
	    "OFFSET 10)", q->table, q->table, q->table);
	pf_snapshot(c, q->table, "s_queue");
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	cr_assert_eq(pf_written(c, q->table, "s_queue"), 1);
	cr_assert_eq(pf_metric(c, q->job, "moved"), 1);
	pf_expect(c, q, 0, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);

	cr_assert_eq(th_int(c, "SELECT count(*) FROM (SELECT "
	    "display_position, row_number() OVER (ORDER BY queue_position, "
	    "priority_score) AS rk FROM unsigned_users_queue_ranked) AS v "
	    "WHERE display_position <> rk"), 0);
	cr_assert_eq(th_int(c, "SELECT max(display_position) FROM "
	    "unsigned_users_queue_ranked"), pending(c, q));
	PQfinish(c);
}

/*
 * New users land one after another in the same gap between two entries
 * until its numbers run out: the refresh then renumbers a few
 * neighbours, not the queue, and the order stays the rule's.
 */
Test(population, a_used_up_gap_is_renumbered_locally)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c;
	long long	 moved_total = 0, hi_user;
	char		*s;
	int		 score;

	pf_flags(true, false);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 47, false);
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	/* Two neighbours of the same score, far apart in created_at. */
	s = th_value(c, "SELECT user_id || ' ' || priority_score FROM (SELECT "
	    "e.user_id, e.priority_score, lead(e.signature_missing_since) "
	    "OVER w AS next_ca, e.signature_missing_since AS ca, "
	    "lead(e.priority_score) OVER w AS next_s FROM %s AS e WHERE "
	    "e.status = 'pending' AND e.priority_score > 0 WINDOW w AS "
	    "(ORDER BY e.queue_position)) AS x WHERE next_s = priority_score "
	    "AND ca - next_ca > interval '1 second' ORDER BY user_id LIMIT 1",
	    q->table);
	cr_assert(sscanf(s, "%lld %d", &hi_user, &score) == 2, "%s", s);
	free(s);
	for (int i = 1; i <= 16; i++) {
		long long	 w, moved;

		th_exec(c, "INSERT INTO user_call_scores (id, user_id, "
		    "current_score, current_queue_type, is_active, "
		    "created_at, updated_at) SELECT gen_random_uuid(), %d, %d, "
		    "'unsigned_users', true, created_at - interval '%d ms', "
		    "now() FROM user_call_scores WHERE user_id = %lld",
		    92000000 + i, score, i, hi_user);
		pf_snapshot(c, q->table, "s_queue");
		pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
		w = pf_written(c, q->table, "s_queue");
		moved = pf_metric(c, q->job, "moved");
		moved_total += moved;
		cr_assert_eq(pf_metric(c, q->job, "inserted"), 1);
		cr_assert_eq(w, 1 + moved);
		cr_assert_leq(moved, 64, "round %d: %lld entries renumbered",
		    i, moved);
		cr_assert_eq(pf_metric(c, q->job, "renumbered_all"), 0);
		pf_expect(c, q, 0, 7200);
		cr_assert_eq(pf_mismatches(c, q), 0, "round %d", i);
	}
	cr_assert_gt(moved_total, 0, "the gap never ran out");
	PQfinish(c);
}

/*
 * A deadlock between the refresh and a session holding entries (an
 * application transaction that locked one and waits for another) makes
 * the refresh the
 * victim, SQLSTATE 40P01.  Nothing was written, so the run refreshes
 * again at once and succeeds, with no SQLSTATE and race_retries = 1,
 * instead of failing (and, with retries, failing the deprecation's
 * "healthy" gate).  The test is the other side of the deadlock: it holds
 * one entry, and once the refresh waits for it, asks for all the others.
 */
Test(population, a_refresh_that_loses_a_deadlock_refreshes_again)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c, *t;
	struct th_out	 o;
	pid_t		 qs;
	char		*s, sql[512];
	int		 st;

	pf_flags(true, false);
	conf = pf_conf(NULL);
	c = th_connect();
	t = th_connect();
	pf_load(c, conf, 3000, 43, false);
	pf_refresh_set(conf, q->job, 0, false, PF_FULL, 0);
	/* Every position out of order: the refresh rewrites every entry. */
	th_exec(c, "UPDATE %s SET queue_position = -queue_position WHERE "
	    "status = 'pending'", q->table);
	th_exec(t, "BEGIN; SELECT id FROM %s WHERE status = 'pending' ORDER "
	    "BY id LIMIT 1 FOR UPDATE", q->table);
	qs = th_qsched_spawn(conf, "run", q->job, "--set", "max_size=0",
	    "--set", PF_FULL, NULL);
	snprintf(sql, sizeof sql, "SELECT count(*) > 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name LIKE "
	    "'qsched/%s/%%' AND wait_event_type = 'Lock'", q->job);
	cr_assert(th_wait_until(c, sql, 20000), "the refresh never waited");
	/* The refresh waits for T and holds entries T now asks for: the
	 * refresh, waiting longer, finds the deadlock and is the victim. */
	th_exec(t, "SELECT count(*) FROM (SELECT id FROM %s WHERE status = "
	    "'pending' FOR UPDATE) AS l; ROLLBACK", q->table);
	st = th_wait(qs, 60000);
	th_output(qs, &o);
	cr_assert_eq(st, 0, "qsched run exited %d: %s", st, o.err);
	cr_assert(strstr(o.err, "lost a race (attempt 1 of 3)") != NULL,
	    "no deadlock happened: %s", o.err);
	th_out_free(&o);
	cr_assert_eq(pf_metric(c, q->job, "race_retries"), 1);
	s = th_value(c, "SELECT status || ':' || coalesce(sqlstate, '') FROM "
	    "qsched.runs WHERE job = '%s' ORDER BY id DESC LIMIT 1", q->job);
	cr_assert_str_eq(s, "succeeded:");
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM %s WHERE status = "
	    "'pending' AND queue_position < 0", q->table), 0,
	    "the second refresh did not rewrite the queue");
	PQfinish(t);
	PQfinish(c);
}

/*
 * The change log (migration 0011) and the scoped refresh.
 */

/* Rows of the change log for Q. */
static long long
logged(PGconn *c, const struct pf_queue *q)
{
	return (th_int(c, "SELECT count(*) FROM qsched_population.changes "
	    "WHERE queue = '%s'", q->name));
}

/* The newest run of JOB's full_reason ("" for a scoped refresh). */
static char *
full_reason(PGconn *c, const char *job)
{
	return (th_value(c, "SELECT coalesce(metrics->>'full_reason', '') "
	    "FROM qsched.runs WHERE job = '%s' ORDER BY id DESC LIMIT 1",
	    job));
}

/*
 * A full comparison right after a scoped refresh writes nothing: the
 * scoped refresh left the queue (and call_queue) exactly as a full one
 * would, in the rule's order.
 */
static void
full_writes_nothing(PGconn *c, const char *conf, const struct pf_queue *q,
    long max)
{
	pf_snapshot(c, q->table, "s_full");
	pf_snapshot(c, "call_queue", "s_full_legacy");
	pf_refresh_set(conf, q->job, max, false, PF_FULL, 0);
	cr_assert_eq(pf_metric(c, q->job, "scoped"), 0);
	cr_assert_eq(pf_written(c, q->table, "s_full"), 0,
	    "a full comparison after the scoped refresh wrote entries");
	cr_assert_eq(pf_written(c, "call_queue", "s_full_legacy"), 0,
	    "a full comparison after the scoped refresh wrote call_queue");
	pf_expect(c, q, max, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);
}

static struct max_case scoped_cases[] = { { 200 }, { 0 }, { 5000 } };

ParameterizedTestParameters(population, nothing_changed_is_scoped)
{
	return (cr_make_param_array(struct max_case, scoped_cases,
	    sizeof scoped_cases / sizeof scoped_cases[0]));
}

/*
 * Nothing changed for the rule: the refresh reads the change log, finds
 * only changes the rule ignores, consumes them and writes no row.  The
 * application's bookkeeping updates are not even logged.
 */
ParameterizedTest(struct max_case *mc, population, nothing_changed_is_scoped)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c;
	char		*s;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 61, false);
	pf_refresh(conf, q->job, mc->max, false, 0);
	s = full_reason(c, q->job);
	cr_assert_str_eq(s, "first refresh with the change log");
	free(s);
	th_exec(c, "UPDATE user_call_scores SET last_queue_check = now(), "
	    "updated_at = now() WHERE user_id %% 10 = 1");
	cr_assert_eq(logged(c, q), 0, "bookkeeping updates were logged");
	/* Logged, but the rule's answer stays: available_from is now. */
	cr_assert_gt(th_int(c, "WITH u AS (UPDATE user_call_scores SET "
	    "next_call_after = (now() AT TIME ZONE 'UTC') - interval '1 day' "
	    "WHERE next_call_after IS NULL AND current_queue_type = "
	    "'unsigned_users' AND user_id %% 10 = 2 RETURNING 1) SELECT "
	    "count(*) FROM u"), 10);
	cr_assert_gt(logged(c, q), 10);
	pf_snapshot(c, q->table, "s_queue");
	pf_snapshot(c, "call_queue", "s_legacy");
	pf_refresh(conf, q->job, mc->max, false, 0);
	cr_assert_eq(pf_metric(c, q->job, "scoped"), 1);
	cr_assert_gt(pf_metric(c, q->job, "change_log_rows"), 10);
	cr_assert_eq(logged(c, q), 0, "the change log was not consumed");
	cr_assert_eq(pf_written(c, q->table, "s_queue"), 0);
	cr_assert_eq(pf_written(c, "call_queue", "s_legacy"), 0);
	cr_assert_eq(th_int(c, "SELECT rows_processed FROM qsched.runs "
	    "WHERE job = '%s' ORDER BY id DESC LIMIT 1", q->job), 0);
	full_writes_nothing(c, conf, q, mc->max);
	PQfinish(c);
}

ParameterizedTestParameters(population, k_changed_users_write_k_rows)
{
	return (cr_make_param_array(struct max_case, scoped_cases,
	    sizeof scoped_cases / sizeof scoped_cases[0]));
}

/*
 * k users change (score up or down, a new lead, one leaving the queue
 * type): the scoped refresh writes only their entries and call_queue
 * rows, places them between neighbours it does not write, and leaves
 * the queue exactly as a full comparison would.
 */
ParameterizedTest(struct max_case *mc, population,
    k_changed_users_write_k_rows)
{
	const struct pf_queue *q = &pf_unsigned;
	static const int ks[] = { 1, 10, 100 };
	const char	*conf;
	PGconn		*c;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 67, false);
	pf_refresh(conf, q->job, mc->max, false, 0);
	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
		th_exec(c, "DROP TABLE IF EXISTS changed; CREATE TABLE "
		    "changed AS SELECT user_id FROM user_call_scores WHERE "
		    "current_queue_type = 'unsigned_users' AND is_active "
		    "ORDER BY md5(user_id::text || '%zu') LIMIT %d", i, ks[i]);
		th_exec(c, "UPDATE user_call_scores SET current_score = CASE "
		    "WHEN current_score = 0 THEN 4 WHEN user_id %% 3 = 0 "
		    "THEN 0 ELSE current_score + 2 END WHERE user_id IN "
		    "(SELECT user_id FROM changed)");
		pf_user(c, 92000000 + (long long)i, "'unsigned_users'", 0,
		    true, 30 + (long)i, true, 0);
		th_exec(c, "INSERT INTO changed VALUES (%lld)",
		    92000000 + (long long)i);
		pf_snapshot(c, q->table, "s_queue");
		pf_snapshot(c, "call_queue", "s_legacy");
		pf_refresh(conf, q->job, mc->max, false, 0);
		cr_assert_eq(pf_metric(c, q->job, "scoped"), 1, "k = %d", ks[i]);
		if (mc->max == 0)
			cr_assert_leq(pf_metric(c, q->job, "compared"),
			    ks[i] + 1);
		/* Only the changed users' rows, and at most their moved
		 * neighbours: here none, since gaps have room. */
		cr_assert_eq(th_int(c, "SELECT count(*) FROM %s AS t FULL "
		    "JOIN s_queue AS s ON s.id = t.id WHERE (s.id IS NULL OR "
		    "t.id IS NULL OR s.x <> t.xmin::text OR s.tid <> "
		    "t.ctid::text) AND coalesce(t.user_id, (s.j->>'user_id')"
		    "::bigint) NOT IN (SELECT user_id FROM changed)",
		    q->table), 0, "k = %d: rows of unchanged users written",
		    ks[i]);
		cr_assert_eq(th_int(c, "SELECT count(*) FROM call_queue AS t "
		    "FULL JOIN s_legacy AS s ON s.id = t.id WHERE (s.id IS "
		    "NULL OR t.id IS NULL OR s.x <> t.xmin::text OR s.tid <> "
		    "t.ctid::text) AND coalesce(t.user_id, (s.j->>'user_id')"
		    "::bigint) NOT IN (SELECT user_id FROM changed)"), 0,
		    "k = %d: call_queue rows of unchanged users written",
		    ks[i]);
		cr_assert_gt(pf_written(c, q->table, "s_queue"), 0);
		cr_assert_leq(pf_written(c, q->table, "s_queue"), ks[i] + 1);
		full_writes_nothing(c, conf, q, mc->max);
	}
	PQfinish(c);
}

/*
 * A user whose next_call_after passes between two refreshes is queued
 * by the second, with no write to user_call_scores in between: the
 * scoped refresh reads the boundary from the index, not from the log.
 */
Test(population, next_call_after_passing_is_queued)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 71, false);
	pf_user(c, 93000001, "'unsigned_users'", 0, true, 600, false, 3);
	pf_user(c, 93000002, "'unsigned_users'", 0, true, 700, false, 3);
	pf_refresh(conf, q->job, 200, false, 0);
	cr_assert(!queued(c, q, 93000001));
	pf_refresh(conf, q->job, 200, false, 0);
	cr_assert_eq(pf_metric(c, q->job, "scoped"), 1);
	cr_assert(th_wait_until(c, "SELECT min(next_call_after) < now() AT "
	    "TIME ZONE 'UTC' FROM user_call_scores WHERE user_id IN "
	    "(93000001, 93000002)", 10000));
	th_exec(c, "SELECT pg_sleep(0.1)");
	cr_assert_eq(logged(c, q), 0);
	pf_snapshot(c, "user_call_scores", "s_scores");
	pf_refresh(conf, q->job, 200, false, 0);
	cr_assert_eq(pf_metric(c, q->job, "scoped"), 1);
	cr_assert_eq(pf_metric(c, q->job, "change_log_rows"), 0);
	cr_assert(queued(c, q, 93000001), "next_call_after passed, not "
	    "queued");
	cr_assert(queued(c, q, 93000002));
	cr_assert_eq(pf_metric(c, q->job, "inserted"), 2);
	cr_assert_eq(pf_written(c, "user_call_scores", "s_scores"), 0);
	full_writes_nothing(c, conf, q, 200);
	PQfinish(c);
}

/*
 * A change committed while a refresh runs, after its snapshot, is not
 * lost: the refresh deletes only the log rows it saw, and the next one
 * sees the rest.  The test holds an entry the refresh must update, so
 * the refresh waits inside its statement; meanwhile a new lead commits.
 */
Test(population, a_change_committed_during_a_refresh_is_seen_next)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c, *t;
	struct th_out	 o;
	pid_t		 qs;
	long long	 held;
	char		 sql[512];
	int		 st;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	t = th_connect();
	pf_load(c, conf, 3000, 73, false);
	pf_refresh(conf, q->job, 200, false, 0);
	held = th_int(c, "SELECT user_id FROM %s WHERE status = 'pending' "
	    "ORDER BY queue_position LIMIT 1 OFFSET 20", q->table);
	th_exec(c, "UPDATE user_call_scores SET current_score = 1 WHERE "
	    "user_id = %lld", held);
	th_exec(t, "BEGIN; SELECT id FROM %s WHERE user_id = %lld AND status "
	    "= 'pending' FOR UPDATE", q->table, held);
	qs = th_qsched_spawn(conf, "run", q->job, "--set", "max_size=200",
	    NULL);
	snprintf(sql, sizeof sql, "SELECT count(*) > 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name LIKE "
	    "'qsched/%s/%%' AND wait_event_type = 'Lock'", q->job);
	cr_assert(th_wait_until(c, sql, 20000), "the refresh never waited");
	pf_user(c, 93100001, "'unsigned_users'", 0, true, 5, true, 0);
	cr_assert_eq(logged(c, q), 1 + 1, "the held change and the new lead");
	th_exec(t, "ROLLBACK");
	st = th_wait(qs, 60000);
	th_output(qs, &o);
	cr_assert_eq(st, 0, "qsched run exited %d: %s", st, o.err);
	th_out_free(&o);
	cr_assert_eq(pf_metric(c, q->job, "scoped"), 1);
	cr_assert(!queued(c, q, 93100001), "the refresh saw a change "
	    "committed after its snapshot");
	cr_assert_eq(logged(c, q), 1, "the later change's log row is gone");
	pf_refresh(conf, q->job, 200, false, 0);
	cr_assert_eq(pf_metric(c, q->job, "scoped"), 1);
	cr_assert(queued(c, q, 93100001), "the change was lost");
	cr_assert_eq(logged(c, q), 0);
	full_writes_nothing(c, conf, q, 200);
	PQfinish(t);
	PQfinish(c);
}

/*
 * Changes made behind the log's back (its trigger disabled) stay until
 * a full comparison: the next one after full_refresh_every repairs
 * them.  A trigger disabled at refresh time makes that refresh and the
 * next full; so do new rule options.
 */
Test(population, the_full_comparison_repairs_what_the_log_missed)
{
	const struct pf_queue *q = &pf_unsigned;
	const char	*conf;
	PGconn		*c;
	char		*s;

	pf_flags(true, true);
	conf = pf_conf(NULL);
	c = th_connect();
	pf_load(c, conf, 3000, 79, false);
	pf_refresh(conf, q->job, 200, false, 0);
	th_exec(c, "ALTER TABLE user_call_scores DISABLE TRIGGER "
	    "user_call_scores_population_changes_upd");
	th_exec(c, "UPDATE user_call_scores SET current_score = CASE WHEN "
	    "current_score = 0 THEN 6 ELSE 0 END WHERE current_queue_type = "
	    "'unsigned_users' AND user_id %% 50 = 7");
	th_exec(c, "ALTER TABLE user_call_scores ENABLE TRIGGER "
	    "user_call_scores_population_changes_upd");
	cr_assert_eq(logged(c, q), 0);
	pf_refresh(conf, q->job, 200, false, 0);
	cr_assert_eq(pf_metric(c, q->job, "scoped"), 1);
	pf_expect(c, q, 200, 7200);
	cr_assert_gt(pf_mismatches(c, q), 0, "the divergence must survive "
	    "a scoped refresh for this test to mean anything");

	/* full_refresh_every (1h by default) has passed. */
	th_exec(c, "UPDATE qsched_population.state SET last_full = last_full "
	    "- interval '61 minutes'");
	pf_refresh(conf, q->job, 200, false, 0);
	s = full_reason(c, q->job);
	cr_assert_str_eq(s, "full_refresh_every has passed");
	free(s);
	pf_expect(c, q, 200, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);
	pf_refresh(conf, q->job, 200, false, 0);
	cr_assert_eq(pf_metric(c, q->job, "scoped"), 1);

	/* Disabled at refresh time: this refresh and the next are full. */
	th_exec(c, "ALTER TABLE user_call_scores DISABLE TRIGGER "
	    "user_call_scores_population_changes_ins");
	pf_refresh(conf, q->job, 200, false, 0);
	s = full_reason(c, q->job);
	cr_assert_str_eq(s, "a change log trigger is missing or disabled");
	free(s);
	th_exec(c, "ALTER TABLE user_call_scores ENABLE TRIGGER "
	    "user_call_scores_population_changes_ins");
	pf_refresh(conf, q->job, 200, false, 0);
	s = full_reason(c, q->job);
	cr_assert_str_eq(s, "the last refresh ran without the change log's "
	    "triggers");
	free(s);

	/* Another max_size: the whole queue follows another rule. */
	pf_refresh(conf, q->job, 0, false, 0);
	s = full_reason(c, q->job);
	cr_assert_str_eq(s, "max_size, cooling_period or the legacy "
	    "dual-write changed");
	free(s);
	pf_expect(c, q, 0, 7200);
	cr_assert_eq(pf_mismatches(c, q), 0);
	pf_refresh(conf, q->job, 0, false, 0);
	cr_assert_eq(pf_metric(c, q->job, "scoped"), 1);
	PQfinish(c);
}
