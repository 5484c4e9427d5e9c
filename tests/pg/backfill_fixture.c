/*
 * backfill_fixture.c - see backfill_fixture.h.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "th.h"
#include "backfill_fixture.h"

void
bf_load(PGconn *c, int users, int rows, int seed)
{
	th_exec_file(c, "sql/fixtures/legacy_schema.sql");
	th_exec_file(c, "sql/fixtures/generate.sql");
	th_exec(c, "SELECT * FROM qsched_fixture.generate(%d, %d, %d, '"
	    BF_NOW "')", users, seed, rows);
}

const char *
bf_conf(const char *extra)
{
	const char	*src = getenv("QSCHED_SRCDIR");
	char		*jobs;
	const char	*path;

	cr_assert_not_null(src, "QSCHED_SRCDIR is not set");
	cr_assert_gt(asprintf(&jobs,
	    "job \"schema-migrate\" {\n"
	    "  plugin = \"schema_migrate\"\n"
	    "  schedule = \"@manual\"\n"
	    "  options { dir = \"%s/sql/migrations\" }\n"
	    "}\n"
	    "job \"legacy-backfill\" {\n"
	    "  plugin = \"legacy_backfill\"\n"
	    "  schedule = \"@manual\"\n"
	    "  depends_on = {\"schema-migrate\"}\n"
	    "  %s\n"
	    "}\n", src, extra != NULL ? extra : ""), 0);
	path = th_conf_shipped(jobs);
	free(jobs);
	return (path);
}

void
bf_migrate(const char *conf)
{
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "schema-migrate", NULL), 0,
	    "schema-migrate: %s", o.err);
	th_out_free(&o);
}

const char *
bf_prepare(PGconn *c, int users, int rows, int seed, const char *extra)
{
	const char	*conf;

	bf_load(c, users, rows, seed);
	conf = bf_conf(extra);
	bf_migrate(conf);
	return (conf);
}

long long
bf_metric(PGconn *c, const char *name)
{
	return (th_int(c, "SELECT (metrics->>'%s')::bigint FROM qsched.runs "
	    "WHERE job = 'legacy-backfill' ORDER BY id DESC LIMIT 1", name));
}

char *
bf_message(PGconn *c)
{
	return (th_value(c, "SELECT coalesce(message, '') FROM qsched.runs "
	    "WHERE job = 'legacy-backfill' ORDER BY id DESC LIMIT 1"));
}

char *
bf_end_state(PGconn *c)
{
	return (th_value(c, "SELECT md5(coalesce(string_agg(x, '|' ORDER BY "
	    "x), '')) FROM ("
	    "SELECT 'u' || t::text FROM unsigned_users_queue AS t "
	    "UNION ALL SELECT 'o' || t::text FROM outstanding_requests_queue "
	    "AS t "
	    "UNION ALL SELECT 'k' || ROW(k.legacy_id, k.queue_type, k.user_id, "
	    "k.reason, k.other_id, k.legacy_status)::text "
	    "FROM qsched.backfill_conflicts AS k) AS s(x)"));
}

char *
bf_source_state(PGconn *c)
{
	return (th_value(c, "SELECT md5(string_agg(c::text, '|' ORDER BY "
	    "c.id)) FROM call_queue AS c"));
}

void
bf_assert_live_rule(PGconn *c)
{
	static const char *const tables[] = {
		"unsigned_users_queue", "outstanding_requests_queue",
	};

	for (size_t i = 0; i < 2; i++)
		cr_assert_eq(th_int(c, "SELECT count(*) FROM (SELECT user_id "
		    "FROM %s WHERE status IN ('pending', 'assigned') GROUP BY "
		    "user_id HAVING count(*) > 1) AS d", tables[i]), 0,
		    "%s: a user has two live entries", tables[i]);
}

void
bf_assert_accounted(PGconn *c)
{
	static const char *const types[][2] = {
		{ "unsigned_users", "unsigned_users_queue" },
		{ "outstanding_requests", "outstanding_requests_queue" },
	};

	for (size_t i = 0; i < 2; i++) {
		long long	 source, copied, conflicts, both;

		source = th_int(c, "SELECT count(*) FROM call_queue WHERE "
		    "queue_type = '%s'", types[i][0]);
		copied = th_int(c, "SELECT count(*) FROM call_queue AS c JOIN "
		    "%s AS t ON t.id = c.id WHERE c.queue_type = '%s'",
		    types[i][1], types[i][0]);
		conflicts = th_int(c, "SELECT count(*) FROM call_queue AS c "
		    "JOIN qsched.backfill_conflicts AS k ON k.legacy_id = c.id "
		    "WHERE c.queue_type = '%s'", types[i][0]);
		both = th_int(c, "SELECT count(*) FROM qsched.backfill_conflicts "
		    "AS k JOIN %s AS t ON t.id = k.legacy_id", types[i][1]);
		cr_assert_gt(source, 0, "%s: no rows generated", types[i][0]);
		cr_assert_eq(both, 0, "%s: %lld rows both copied and "
		    "conflicts", types[i][0], both);
		cr_assert_eq(source, copied + conflicts, "%s: %lld source rows, "
		    "%lld copied, %lld conflicts", types[i][0], source, copied,
		    conflicts);
	}
}

void
bf_reset(PGconn *c)
{
	th_exec(c, "TRUNCATE unsigned_users_queue, outstanding_requests_queue, "
	    "qsched.backfill_conflicts, qsched.backfill_positions, "
	    "qsched.backfill_ranges; "
	    "DELETE FROM qsched.checkpoints WHERE job = 'legacy-backfill'");
}

long long
bf_lock_key(void)
{
	const char	*s = "legacy_backfill/bookkeeping";
	unsigned long long h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return ((long long)h);
}
