/*
 * ops.c - the operations measured, each once as the application does it
 * on the legacy call_queue and once on the separated table through the
 * queue_*() functions (sql/migrations/0006_queue_functions.sql).
 *
 * The legacy statements are the application's: its claim is a SELECT of
 * the first pending row, then an UPDATE of that id with no status guard
 * (origin-app.md); the others are the plain statements that give the
 * same answer as the function they are compared with.  A function's plan
 * is not visible from outside it, so a step calling one names the
 * statement inside it as the one to EXPLAIN.
 *
 * In the SQL, {T} is the separated queue table and {S} the clause that
 * keeps call_queue rows referenced by call_sessions out of the remove
 * sample (their DELETE would fail on the RESTRICT foreign key).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define NOW	"(now() AT TIME ZONE 'UTC')"

#define SEP_CLAIM							\
	"UPDATE {T} AS q SET status = 'assigned', "			\
	"assigned_to_agent = $1::integer, assigned_at = " NOW ", "	\
	"updated_at = " NOW " WHERE q.id = (SELECT c.id FROM {T} AS c "	\
	"WHERE c.status = 'pending' AND c.available_from <= " NOW " "	\
	"ORDER BY c.queue_position, c.priority_score LIMIT 1 "		\
	"FOR UPDATE SKIP LOCKED) AND q.status = 'pending' RETURNING q.id"

#define SEP_ADD								\
	"INSERT INTO {T} AS q (id, user_id, priority_score, "		\
	"queue_position, status, available_from, created_at, "		\
	"updated_at) VALUES (gen_random_uuid(), $1::bigint, 0, "	\
	"(SELECT coalesce(max(p.queue_position), 0) + 1 FROM {T} AS p "	\
	"WHERE p.status = 'pending'), 'pending', " NOW ", " NOW ", "	\
	NOW ") ON CONFLICT (user_id) WHERE status IN ('pending', "	\
	"'assigned') DO NOTHING RETURNING q.id"

/* The population's eligible-set read: both stages of the rule, in the
 * order refresh.c ranks them, with its default cap and cooling period. */
#define ELIGIBLE							\
	"WITH a AS (SELECT u.user_id, row_number() OVER (ORDER BY "	\
	"u.created_at DESC, u.user_id) AS pos FROM user_call_scores AS u " \
	"WHERE u.current_queue_type = $1 AND u.is_active AND "		\
	"u.current_score = 0 AND (u.next_call_after IS NULL OR "	\
	"u.next_call_after <= " NOW ")), b AS (SELECT u.user_id FROM "	\
	"user_call_scores AS u WHERE u.current_queue_type = $1 AND "	\
	"u.is_active AND u.current_score > 0 AND (u.next_call_after IS "	\
	"NULL OR u.next_call_after <= " NOW ") AND u.created_at <= "	\
	NOW " - interval '2 hours' ORDER BY u.current_score, "		\
	"u.created_at DESC, u.user_id LIMIT 200) "			\
	"SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b)"

const struct bench_op bench_ops[] = {
	{ "claim", BV_LEGACY, NULL, true, 2, {
	    { "SELECT id FROM call_queue WHERE queue_type = $1 AND "
	      "status = 'pending' AND (available_from IS NULL OR "
	      "available_from <= " NOW ") ORDER BY priority_score, "
	      "created_at LIMIT 1", 1, { BP_QUEUE }, NULL, 0, { 0 } },
	    { "UPDATE call_queue SET status = 'assigned', "
	      "assigned_to_agent_id = $1::integer, assigned_at = " NOW ", "
	      "updated_at = " NOW " WHERE id = $2::uuid", 2,
	      { BP_AGENT, BP_PREV }, NULL, 0, { 0 } } } },
	{ "claim", BV_SEPARATED, NULL, true, 1, {
	    { "SELECT id FROM queue_claim_next($1, $2::integer)", 2,
	      { BP_QUEUE, BP_AGENT }, SEP_CLAIM, 1, { BP_AGENT } } } },

	{ "get", BV_LEGACY,
	  "SELECT user_id FROM call_queue WHERE queue_type = $1 AND "
	  "status IN ('pending', 'assigned') LIMIT 512", false, 1, {
	    { "SELECT id, status FROM call_queue WHERE user_id = $1::bigint "
	      "AND queue_type = $2 AND status IN ('pending', 'assigned')", 2,
	      { BP_USER, BP_QUEUE }, NULL, 0, { 0 } } } },
	{ "get", BV_SEPARATED,
	  "SELECT user_id FROM {T} WHERE status IN ('pending', 'assigned') "
	  "LIMIT 512", false, 1, {
	    { "SELECT id, status FROM queue_get($1, $2::bigint)", 2,
	      { BP_QUEUE, BP_USER },
	      "SELECT id, status FROM {T} WHERE user_id = $1::bigint AND "
	      "status IN ('pending', 'assigned')", 1, { BP_USER } } } },

	{ "add", BV_LEGACY,
	  "SELECT user_id FROM user_call_scores WHERE current_queue_type = $1 "
	  "LIMIT 512", false, 1, {
	    { "INSERT INTO call_queue (id, user_id, queue_type, "
	      "priority_score, queue_position, status, available_from, "
	      "created_at, updated_at) VALUES (gen_random_uuid(), $1::bigint, "
	      "$2, 0, (SELECT coalesce(max(p.queue_position), 0) + 1 FROM "
	      "call_queue AS p WHERE p.queue_type = $2 AND p.status = "
	      "'pending'), 'pending', " NOW ", " NOW ", " NOW ") RETURNING id",
	      2, { BP_USER, BP_QUEUE }, NULL, 0, { 0 } } } },
	{ "add", BV_SEPARATED,
	  "SELECT user_id FROM user_call_scores WHERE current_queue_type = $1 "
	  "LIMIT 512", false, 1, {
	    { "SELECT id FROM queue_add($1, $2::bigint)", 2,
	      { BP_QUEUE, BP_USER }, SEP_ADD, 1, { BP_USER } } } },

	{ "remove", BV_LEGACY,
	  "SELECT q.user_id FROM call_queue AS q WHERE q.queue_type = $1 AND "
	  "q.status = 'pending' {S} LIMIT 512", false, 1, {
	    { "DELETE FROM call_queue WHERE user_id = $1::bigint AND "
	      "queue_type = $2 AND status = 'pending'", 2,
	      { BP_USER, BP_QUEUE }, NULL, 0, { 0 } } } },
	{ "remove", BV_SEPARATED,
	  "SELECT user_id FROM {T} WHERE status = 'pending' LIMIT 512",
	  false, 1, {
	    { "SELECT queue_remove($1, $2::bigint)", 2,
	      { BP_QUEUE, BP_USER },
	      "DELETE FROM {T} AS q WHERE q.user_id = $1::bigint AND "
	      "q.status = 'pending'", 1, { BP_USER } } } },

	{ "eligible", BV_SHARED, NULL, false, 1, {
	    { ELIGIBLE, 1, { BP_QUEUE }, NULL, 0, { 0 } } } },

	{ "next_pending", BV_LEGACY, NULL, false, 1, {
	    { "SELECT id, user_id, priority_score FROM call_queue WHERE "
	      "queue_type = $1 AND status = 'pending' AND (available_from IS "
	      "NULL OR available_from <= " NOW ") ORDER BY priority_score, "
	      "created_at LIMIT $2::integer", 2, { BP_QUEUE, BP_N }, NULL, 0,
	      { 0 } } } },
	{ "next_pending", BV_SEPARATED, NULL, false, 1, {
	    { "SELECT id, user_id, priority_score, queue_position FROM {T} "
	      "WHERE status = 'pending' AND available_from <= " NOW " ORDER "
	      "BY queue_position, priority_score LIMIT $1::integer", 1,
	      { BP_N }, NULL, 0, { 0 } } } },
};
const int bench_nops = (int)(sizeof bench_ops / sizeof bench_ops[0]);

/* The control: the same round trips as an operation, touching no table
 * and taking no lock, so its latency is the host's and the server's, not
 * the queue's (bench.c, store.c). */
const struct bench_op bench_control = { "control", BV_SHARED, NULL, false,
    1, { { "SELECT 1", 0, { 0 }, NULL, 0, { 0 } } } };

static const char *const ops_names[] = { "claim", "get", "add", "remove",
    "eligible", "next_pending" };

const char *
ops_variant_name(enum bench_variant v)
{
	switch (v) {
	case BV_LEGACY:
		return ("legacy");
	case BV_SEPARATED:
		return ("separated");
	default:
		return ("shared");
	}
}

/* Whether NAME (LEN bytes) is an operation. */
static bool
ops_known(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof ops_names / sizeof ops_names[0]; i++)
		if (strlen(ops_names[i]) == len &&
		    strncmp(ops_names[i], name, len) == 0)
			return (true);
	return (false);
}

int
ops_names_valid(const char *list, char *err, size_t errlen)
{
	const char	*p = list, *e;

	if (strcmp(list, "all") == 0)
		return (0);
	for (;;) {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		if (!ops_known(p, (size_t)(e - p))) {
			snprintf(err, errlen, "\"%.*s\" is not an operation "
			    "(all, or a list of claim, get, add, remove, "
			    "eligible, next_pending)", (int)(e - p), p);
			return (-1);
		}
		if (*e == '\0')
			return (0);
		p = e + 1;
	}
}

bool
ops_selected(const char *list, const char *name)
{
	size_t		 n = strlen(name);
	const char	*p = list;

	if (strcmp(list, "all") == 0)
		return (true);
	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ',') && (p[n] == ',' ||
		    p[n] == '\0'))
			return (true);
		p += n;
	}
	return (false);
}

char *
ops_sql(const char *template, const char *table, bool sessions)
{
	static const char sess[] = "AND NOT EXISTS (SELECT 1 FROM "
	    "call_sessions AS s WHERE s.call_queue_id = q.id)";
	size_t		 cap = strlen(template) + 1, len = 0;
	const char	*p;
	char		*out;

	for (p = template; (p = strchr(p, '{')) != NULL; p++)
		cap += strlen(table) + sizeof sess;
	if ((out = malloc(cap)) == NULL)
		return (NULL);
	for (p = template; *p != '\0'; p++) {
		if (strncmp(p, "{T}", 3) == 0) {
			len += (size_t)snprintf(out + len, cap - len, "%s",
			    table);
			p += 2;
		} else if (strncmp(p, "{S}", 3) == 0) {
			if (sessions)
				len += (size_t)snprintf(out + len, cap - len,
				    "%s", sess);
			p += 2;
		} else
			out[len++] = *p;
	}
	out[len] = '\0';
	return (out);
}
