/*
 * test_db.c - db.c without a server: which SQLSTATEs are transient (the
 * retry rule of design section 3.3, step 6), and how a connection target
 * is shown (never with its password).
 */
#include "qsched.h"

#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

struct transient_case {
	char	 state[8];
	bool	 transient;
};

ParameterizedTestParameters(db, transient_sqlstates)
{
	static struct transient_case cases[] = {
		/* Class 08, connection exceptions: all of it. */
		{ "08000", true }, { "08001", true }, { "08003", true },
		{ "08004", true }, { "08006", true }, { "08P01", true },
		{ "40001", true },	/* serialization_failure */
		{ "40P01", true },	/* deadlock_detected */
		{ "55P03", true },	/* lock_not_available */
		{ "57P01", true },	/* admin_shutdown */
		{ "57P02", true },	/* crash_shutdown */
		{ "57P03", true },	/* cannot_connect_now */
		{ "53300", true },	/* too_many_connections */
		/* Neighbours that are not. */
		{ "40002", false }, { "40003", false }, { "55006", false },
		{ "57014", false },	/* query_canceled: ours, a timeout */
		{ "57P04", false }, { "53100", false }, { "53200", false },
		{ "22012", false }, { "23505", false }, { "42P01", false },
		{ "09000", false }, { "0800", false }, { "080000", false },
		{ "", false },
	};

	return (cr_make_param_array(struct transient_case, cases,
	    sizeof cases / sizeof cases[0]));
}

ParameterizedTest(struct transient_case *c, db, transient_sqlstates)
{
	cr_expect_eq(db_transient(c->state), c->transient, "%s: want %s",
	    c->state, c->transient ? "transient" : "not transient");
}

Test(db, null_sqlstate_is_not_transient)
{
	cr_expect_not(db_transient(NULL));
}

struct target_case {
	char	 conninfo[128];
	char	 shown[128];
};

ParameterizedTestParameters(db, targets_never_show_a_password)
{
	static struct target_case cases[] = {
		{ "host=h port=5433 dbname=d user=u password=S3cr3t",
		    "host=h port=5433 dbname=d user=u" },
		{ "postgresql://u:S3cr3t@h:5433/d",
		    "host=h port=5433 dbname=d user=u" },
		{ "dbname=d password=S3cr3t", "dbname=d" },
		{ "", "PG* environment" },
		{ "password=S3cr3t", "defaults" },
		{ "host=h bogus", "unparsable conninfo" },
	};

	return (cr_make_param_array(struct target_case, cases,
	    sizeof cases / sizeof cases[0]));
}

ParameterizedTest(struct target_case *c, db, targets_never_show_a_password)
{
	char	 buf[256];

	cr_expect_str_eq(db_target(c->conninfo, buf, sizeof buf), c->shown);
	cr_expect_null(strstr(buf, "S3cr3t"));
}
