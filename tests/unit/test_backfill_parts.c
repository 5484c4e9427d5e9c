/*
 * test_backfill_parts.c - tests/unit_backfill_parts: the pieces of the
 * legacy_backfill plugin that need no database: the checkpoint format,
 * batch sizing, digest parsing, the statuses option and the SQL text
 * helpers.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "backfill.h"

Test(state, format_then_parse_gives_the_same_state)
{
	struct state	 a, b;
	char		 buf[512];

	memset(&a, 0, sizeof a);
	a.phase = PHASE_COPY;
	a.pass = 42;
	a.hwm = 5000000000LL;	/* past 2^32: an xid8 */
	a.prev = 4999999000LL;
	a.block = 1200;
	a.blocks = 19274;
	a.filenode = 16411;
	a.total = 650000;
	a.done = 12345;
	a.batches = 7;
	a.inserted = 12000;
	a.updated = 3;
	a.unchanged = 2;
	a.conflicts = 340;
	a.digest[0] = UINT64_MAX;
	a.digest[1] = 1;
	a.size = 2500;
	a.ranges = 12;
	cr_assert_lt(state_format(&a, buf, sizeof buf), (int)sizeof buf);
	cr_assert_eq(state_parse(buf, &b), 0, "%s", buf);
	cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "%s", buf);
}

Test(state, a_fresh_pass_starts_at_block_zero)
{
	struct state	 a, b;
	char		 buf[512];

	memset(&a, 0, sizeof a);
	a.phase = PHASE_COPY;
	a.pass = 1;
	a.hwm = 900;
	a.blocks = 10;
	cr_assert_lt(state_format(&a, buf, sizeof buf), (int)sizeof buf);
	cr_assert(strstr(buf, " block=0 blocks=10 ") != NULL, "%s", buf);
	cr_assert_eq(state_parse(buf, &b), 0);
	cr_assert_eq(b.block, 0);
	cr_assert_eq(b.phase, PHASE_COPY);
}

Test(state, unknown_keys_are_ignored)
{
	struct state	 st;

	cr_assert_eq(state_parse("v=1 phase=proof pass=3 hwm=10 prev=0 "
	    "later=yes", &st), 0);
	cr_assert_eq(st.phase, PHASE_PROOF);
	cr_assert_eq(st.pass, 3);
	cr_assert_eq(st.hwm, 10);
}

struct bad_state {
	char	 text[160];
};

static struct bad_state bad_states[] = {
	{ "" },
	{ "garbage" },
	{ "phase=copy pass=3 hwm=10 prev=0" },			/* no version */
	{ "v=2 phase=copy pass=3 hwm=10 prev=0" },		/* newer */
	{ "v=1 phase=copy hwm=10 prev=0" },			/* no pass */
	{ "v=1 phase=copy pass=3 prev=0" },			/* no hwm */
	{ "v=1 pass=3 hwm=10 prev=0" },				/* no phase */
	{ "v=1 phase=paused pass=3 hwm=10 prev=0" },
	{ "v=1 phase=copy pass=3 hwm=10 prev=11" },		/* prev > hwm */
	{ "v=1 phase=copy pass=3 hwm=10 prev=0 done=-4" },
	{ "v=1 phase=copy pass=3 hwm=10 prev=0 done=4x" },
	{ "v=1 phase=copy pass=3 hwm=10 prev=0 block=11 blocks=10" },
	{ "v=1 phase=copy pass=3 hwm=10 prev=0 block=x" },
	{ "v=1 phase=copy pass=3 hwm=10 prev=0 digest_u=18446744073709551616" },
	{ "v=1 phase=copy pass=3 hwm=10 prev=0 digest_o=-1" },
};

ParameterizedTestParameters(state, malformed_values_are_refused)
{
	return (cr_make_param_array(struct bad_state, bad_states,
	    sizeof bad_states / sizeof bad_states[0]));
}

ParameterizedTest(struct bad_state *c, state, malformed_values_are_refused)
{
	struct state	 st;

	cr_assert_eq(state_parse(c->text, &st), -1, "accepted \"%s\"",
	    c->text);
	cr_assert_eq(st.phase, PHASE_NONE, "left half parsed: \"%s\"",
	    c->text);
}

struct size_case {
	int64_t	 size;
	int64_t	 elapsed_ms;
	int64_t	 target_ms;
	int64_t	 next;
};

static struct size_case size_cases[] = {
	{ 5000, 250, 250, 5000 },	/* on target: unchanged */
	{ 5000, 200, 250, 6250 },	/* a little fast: proportional */
	{ 5000, 10, 250, 10000 },	/* much too fast: at most doubled */
	{ 5000, 0, 250, 10000 },	/* no measurable time */
	{ 5000, 300, 250, 4166 },
	{ 5000, 5000, 250, 2500 },	/* much too slow: at most halved */
	{ 150, 5000, 250, BACKFILL_BATCH_MIN },	/* never below 100 */
	{ 40000, 10, 250, BACKFILL_BATCH_MAX },	/* never above 50000 */
	{ BACKFILL_BATCH_MAX, 1, 600000, BACKFILL_BATCH_MAX },
};

ParameterizedTestParameters(state, batch_size_adapts_within_bounds)
{
	return (cr_make_param_array(struct size_case, size_cases,
	    sizeof size_cases / sizeof size_cases[0]));
}

ParameterizedTest(struct size_case *c, state, batch_size_adapts_within_bounds)
{
	cr_assert_eq(state_next_size(c->size, c->elapsed_ms, c->target_ms),
	    c->next, "size %" PRId64 " took %" PRId64 " ms for %" PRId64,
	    c->size, c->elapsed_ms, c->target_ms);
}

struct blocks_case {
	int64_t	 block;
	int64_t	 blocks;
	int64_t	 total;
	int64_t	 size;
	int64_t	 want;
};

static struct blocks_case blocks_cases[] = {
	{ 0, 20000, 650000, 5000, 154 },	/* 32.5 rows a block */
	{ 0, 20000, 650000, 100, 4 },
	{ 19990, 20000, 650000, 5000, 10 },	/* only what is left */
	{ 0, 20000, 200, 5000, 20000 },		/* sparse: all at once */
	{ 0, 20000, 0, 5000, 20000 },		/* nothing known: all */
	{ 0, 500000, 100, 50000, BACKFILL_BLOCKS_MAX },
	{ 0, 20000, 10000000, 100, 1 },		/* never less than one */
};

ParameterizedTestParameters(state, blocks_for_a_batch)
{
	return (cr_make_param_array(struct blocks_case, blocks_cases,
	    sizeof blocks_cases / sizeof blocks_cases[0]));
}

ParameterizedTest(struct blocks_case *c, state, blocks_for_a_batch)
{
	struct state	 st;

	memset(&st, 0, sizeof st);
	st.block = c->block;
	st.blocks = c->blocks;
	st.total = c->total;
	cr_assert_eq(state_batch_blocks(&st, c->size), c->want,
	    "%" PRId64 " rows from block %" PRId64 " of %" PRId64 " (%" PRId64
	    " rows)", c->size, c->block, c->blocks, c->total);
}

struct digest_case {
	char		 text[32];
	int		 rc;
	uint64_t	 value;
};

static struct digest_case digest_cases[] = {
	{ "0", 0, 0 },
	{ "123", 0, 123 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "18446744073709551616", -1, 0 },
	{ "-1", -1, 0 },
	{ "", -1, 0 },
	{ "12a", -1, 0 },
	{ " 1", -1, 0 },
};

ParameterizedTestParameters(state, digests_are_decimal_below_2_64)
{
	return (cr_make_param_array(struct digest_case, digest_cases,
	    sizeof digest_cases / sizeof digest_cases[0]));
}

ParameterizedTest(struct digest_case *c, state, digests_are_decimal_below_2_64)
{
	uint64_t	 v = 7;

	cr_assert_eq(state_digest_parse(c->text, &v), c->rc, "\"%s\"",
	    c->text);
	if (c->rc == 0)
		cr_assert_eq(v, c->value, "\"%s\"", c->text);
}

Test(state, queue_types_are_the_two_copied_ones)
{
	cr_assert_eq(state_type_index("unsigned_users"), 0);
	cr_assert_eq(state_type_index("outstanding_requests"), 1);
	cr_assert_eq(state_type_index("manual_call"), -1);
	cr_assert_eq(state_type_index("unsigned-users"), -1);
	cr_assert_eq(state_type_index("UNSIGNED_USERS"), -1);
}

struct statuses_case {
	char	 text[64];
	bool	 ok;
	char	 err[64];	/* a piece of the message */
};

static struct statuses_case statuses_cases[] = {
	{ "all", true, "" },
	{ "pending", true, "" },
	{ "pending,assigned", true, "" },
	{ "pending, assigned completed ,invalid", true, "" },
	{ "", false, "empty" },
	{ " , ", false, "empty" },
	{ "pending,done", false, "\"done\"" },
	{ "All", false, "\"All\"" },
	{ "pending,all", false, "\"all\"" },
	{ "inactive", false, "\"inactive\"" },
};

ParameterizedTestParameters(query, statuses_option)
{
	return (cr_make_param_array(struct statuses_case, statuses_cases,
	    sizeof statuses_cases / sizeof statuses_cases[0]));
}

ParameterizedTest(struct statuses_case *c, query, statuses_option)
{
	char	 err[256] = "";
	int	 rc = query_statuses_valid(c->text, err, sizeof err);

	cr_assert_eq(rc, c->ok ? 0 : -1, "\"%s\": %s", c->text, err);
	if (!c->ok)
		cr_assert(strstr(err, c->err) != NULL, "\"%s\": %s", c->text,
		    err);
}

Test(query, prefixed_columns)
{
	char	*out = NULL;
	size_t	 len;
	FILE	*f = open_memstream(&out, &len);

	cr_assert_not_null(f);
	query_prefixed(f, "m", "id, user_id,status");
	fclose(f);
	cr_assert_str_eq(out, "m.id, m.user_id, m.status");
	free(out);
}

Test(query, each_table_gets_its_own_columns)
{
	cr_assert_str_eq(query_table("unsigned_users"), "unsigned_users_queue");
	cr_assert_str_eq(query_table("outstanding_requests"),
	    "outstanding_requests_queue");
	cr_assert(strstr(query_columns("unsigned_users"),
	    "signature_missing_since") != NULL);
	cr_assert(strstr(query_columns("unsigned_users"),
	    "requirement_types") == NULL);
	cr_assert(strstr(query_columns("outstanding_requests"),
	    "oldest_requirement_date") != NULL);
	cr_assert(strstr(query_columns("outstanding_requests"),
	    "signature_type") == NULL);
	/* The update skips the key by dropping this prefix. */
	cr_assert_eq(strncmp(query_columns("unsigned_users"), "id, ", 4), 0);
	cr_assert_eq(strncmp(query_columns("outstanding_requests"), "id, ",
	    4), 0);
}

/* The options' bounds hold after the proportional step. */
Test(state, batch_size_stays_within_the_options_bounds)
{
	cr_assert_eq(state_adapt_size(5000, 10, 250, 100, 8000), 8000);
	cr_assert_eq(state_adapt_size(5000, 5000, 250, 3000, 50000), 3000);
	cr_assert_eq(state_adapt_size(5000, 200, 250, 100, 50000), 6250);
	cr_assert_eq(state_adapt_size(20000, 1, 1, 100, 8000), 8000,
	    "a stored size above the maximum is clamped");
	cr_assert_eq(state_adapt_size(5000, 250, 250, 6000, 4000), 6000,
	    "max below min: min wins");
}
