/*
 * deprecation_fixture.c - see deprecation_fixture.h.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "th.h"
#include "backfill_fixture.h"
#include "deprecation_fixture.h"

void
dep_flag(int on)
{
	th_writef("flags.ini", "[queue_migration]\nuse_new_queues = true\n"
	    "populate_separated_tables = true\nfallback_to_legacy = true\n"
	    "populate_legacy_queue = %s\n", on ? "true" : "false");
}

static void
dep_job(const char *conf, const char *job, const char *arg1,
    const char *arg2)
{
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", job, arg1, arg2, NULL), 0,
	    "%s: %s", job, o.err);
	th_out_free(&o);
}

void
dep_run(const char *conf, const char *arg1, const char *arg2)
{
	dep_job(conf, "legacy-deprecation", arg1, arg2);
}

void
dep_populate(const char *conf)
{
	dep_job(conf, "unsigned-population", NULL, NULL);
	dep_job(conf, "outstanding-population", NULL, NULL);
}

const char *
dep_prepare(PGconn *c, int users, int rows, int seed, const char *extra)
{
	return (dep_prepare_job(c, users, rows, seed, "", extra));
}

const char *
dep_prepare_job(PGconn *c, int users, int rows, int seed,
    const char *settings, const char *extra)
{
	const char	*conf = dep_conf(settings, extra);

	dep_load(c, conf, users, rows, seed);
	return (conf);
}

const char *
dep_conf(const char *settings, const char *extra)
{
	const char	*src = getenv("QSCHED_SRCDIR");
	const char	*conf;
	char		*jobs;

	cr_assert_not_null(src, "QSCHED_SRCDIR is not set");
	cr_assert_gt(asprintf(&jobs,
	    "job \"schema-migrate\" {\n"
	    "  plugin = \"schema_migrate\"\n  schedule = \"@manual\"\n"
	    "  options { dir = \"%s/sql/migrations\" }\n}\n"
	    "job \"legacy-backfill\" {\n"
	    "  plugin = \"legacy_backfill\"\n  schedule = \"@manual\"\n}\n"
	    "job \"unsigned-population\" {\n"
	    "  plugin = \"queue_population\"\n  schedule = \"@manual\"\n"
	    "  lock_timeout = \"300ms\"\n"
	    "  options { queue = \"unsigned_users\" }\n}\n"
	    "job \"outstanding-population\" {\n"
	    "  plugin = \"queue_population\"\n  schedule = \"@manual\"\n"
	    "  options { queue = \"outstanding_requests\" }\n}\n"
	    "job \"legacy-deprecation\" {\n"
	    "  plugin = \"legacy_deprecation\"\n  %s\n"
	    "  %s\n  options { %s }\n}\n", src,
	    settings != NULL && strstr(settings, "schedule") != NULL ? "" :
	    "schedule = \"@manual\"", settings != NULL ? settings : "",
	    extra != NULL ? extra : ""), 0);
	conf = th_conf_shipped(jobs);
	free(jobs);
	return (conf);
}

void
dep_load(PGconn *c, const char *conf, int users, int rows, int seed)
{
	bf_load(c, users, rows, seed);
	dep_flag(1);
	dep_job(conf, "schema-migrate", NULL, NULL);
	dep_job(conf, "legacy-backfill", NULL, NULL);
	dep_populate(conf);
	th_exec(c, "UPDATE call_queue AS c SET status = 'completed' WHERE "
	    "c.status IN ('pending', 'assigned') AND ("
	    "(c.queue_type = 'unsigned_users' AND NOT EXISTS (SELECT 1 FROM "
	    "unsigned_users_queue AS q WHERE q.user_id = c.user_id AND "
	    "q.status IN ('pending', 'assigned'))) OR "
	    "(c.queue_type = 'outstanding_requests' AND NOT EXISTS (SELECT 1 "
	    "FROM outstanding_requests_queue AS q WHERE q.user_id = c.user_id "
	    "AND q.status IN ('pending', 'assigned'))))");
}

void
dep_claim(PGconn *c)
{
	th_exec(c, "SELECT * FROM queue_claim_next('unsigned_users', 1); "
	    "SELECT * FROM queue_claim_next('outstanding_requests', 2)");
}

char *
dep_state(PGconn *c, const char *object)
{
	return (th_value(c, "SELECT state FROM qsched_legacy.retirement "
	    "WHERE object = '%s'", object));
}

void
dep_assert_state(PGconn *c, const char *object, const char *state)
{
	char	*s = dep_state(c, object);

	cr_assert_str_eq(s, state, "%s is %s, expected %s", object, s, state);
	free(s);
}

char *
dep_note(PGconn *c, const char *name)
{
	return (th_value(c, "SELECT coalesce(metrics->>'%s', '') FROM "
	    "qsched.runs WHERE job = 'legacy-deprecation' ORDER BY id DESC "
	    "LIMIT 1", name));
}

long long
dep_counter(PGconn *c, const char *name)
{
	return (th_int(c, "SELECT (metrics->>'%s')::bigint FROM qsched.runs "
	    "WHERE job = 'legacy-deprecation' ORDER BY id DESC LIMIT 1", name));
}

char *
dep_message(PGconn *c)
{
	return (th_value(c, "SELECT coalesce(message, '') FROM qsched.runs "
	    "WHERE job = 'legacy-deprecation' ORDER BY id DESC LIMIT 1"));
}

void
dep_monitoring(PGconn *c, const char *conf)
{
	dep_flag(0);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "frozen");
	dep_populate(conf);
	dep_claim(c);
	dep_run(conf, NULL, NULL);
	dep_assert_state(c, "unsigned_users", "monitoring");
	dep_assert_state(c, "outstanding_requests", "monitoring");
}

char *
dep_rows_md5(PGconn *c, const char *table, const char *where)
{
	return (th_value(c, "SELECT md5(coalesce(string_agg(t::text, '|' "
	    "ORDER BY t.id), '')) FROM %s AS t WHERE %s", table, where));
}
