/*
 * ledger.c - the retirement's persisted state: qsched_legacy.retirement,
 * one row per retired object (the two queue types of call_queue, and the
 * table), and qsched_legacy.transitions, every state change with its
 * time, run id and the evidence that allowed it.  Only this plugin writes
 * them.
 *
 * The schema is qsched_legacy, not qsched: the core owns and versions
 * qsched (sql/core), while these tables, and above all the archive of the
 * app's rows, belong to the retirement and must outlive a reinstall of
 * qsched's bookkeeping; they can be granted, dumped and dropped on their
 * own.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deprecation.h"

const char *const ledger_states[] = {
	"dual_write", "frozen", "monitoring", "archived", "purged", "dropped",
	NULL,
};

int
ledger_prepare(const struct qsched_host *host, struct qsched_run *run)
{
	return (health_command(host, run, "creating " DEP_SCHEMA,
	    "SET client_min_messages = warning; "
	    "CREATE SCHEMA IF NOT EXISTS " DEP_SCHEMA "; "
	    "CREATE TABLE IF NOT EXISTS " DEP_SCHEMA ".retirement ("
	    "object text PRIMARY KEY CHECK (object IN ('unsigned_users', "
	    "'outstanding_requests', 'call_queue')), "
	    "state text NOT NULL DEFAULT 'dual_write' CHECK (state IN "
	    "('dual_write', 'frozen', 'monitoring', 'archived', 'purged', "
	    "'dropped')), "
	    "state_since timestamptz NOT NULL DEFAULT now(), "
	    "frozen_at timestamptz, monitoring_since timestamptz, "
	    "freeze_consistent boolean, archived_rows bigint, "
	    "archive_digest text, gates jsonb NOT NULL DEFAULT '{}', "
	    "gates_at timestamptz, run_id bigint, "
	    "CHECK (state <> 'dropped' OR object = 'call_queue')); "
	    "CREATE TABLE IF NOT EXISTS " DEP_SCHEMA ".transitions ("
	    "id bigserial PRIMARY KEY, "
	    "at timestamptz NOT NULL DEFAULT clock_timestamp(), "
	    "run_id bigint, object text NOT NULL, from_state text NOT NULL, "
	    "to_state text NOT NULL, note text NOT NULL, "
	    "evidence jsonb NOT NULL); "
	    "INSERT INTO " DEP_SCHEMA ".retirement (object) VALUES "
	    "('unsigned_users'), ('outstanding_requests'), ('call_queue') "
	    "ON CONFLICT DO NOTHING; "
	    /* No index: the archive is walked by block range (range.c),
	     * and one on a random uuid costs more than the copy. */
	    "DO $$ BEGIN IF to_regclass('call_queue') IS NOT NULL THEN "
	    "CREATE TABLE IF NOT EXISTS " DEP_ARCHIVE " (LIKE call_queue); "
	    "END IF; END $$; "
	    /* Per archive batch: which blocks of the archive hold the copies
	     * of which blocks of call_queue, so the purge joins two block
	     * ranges instead of probing call_queue's key row by row. */
	    "CREATE TABLE IF NOT EXISTS " DEP_MAP " ("
	    "object text NOT NULL, src_from bigint NOT NULL, "
	    "src_to bigint NOT NULL, arc_from tid NOT NULL, "
	    "arc_to tid NOT NULL, PRIMARY KEY (object, src_from)); "
	    "RESET client_min_messages"));
}

int
ledger_exists(const struct qsched_host *host, struct qsched_run *run)
{
	PGresult	*res;
	int		 rc;

	res = host->exec(run, "looking for " DEP_SCHEMA, "SELECT "
	    "to_regclass('" DEP_SCHEMA ".retirement') IS NOT NULL AND "
	    "to_regclass('" DEP_SCHEMA ".transitions') IS NOT NULL", 0, NULL);
	if (res == NULL)
		return (-1);
	rc = *PQgetvalue(res, 0, 0) == 't';
	PQclear(res);
	return (rc);
}

static enum dep_state
ledger_state(const char *name)
{
	for (int i = 0; ledger_states[i] != NULL; i++)
		if (strcmp(name, ledger_states[i]) == 0)
			return ((enum dep_state)i);
	return (ST_DUAL_WRITE);
}

int
ledger_read(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj, int64_t period_s, bool exists)
{
	char		 period[24];
	const char	*params[2] = { obj->name, period };
	PGresult	*res;

	snprintf(period, sizeof period, "%" PRId64, period_s);
	res = host->exec(run, "reading " DEP_SCHEMA ".retirement", exists ?
	    "SELECT r.state, r.monitoring_since IS NOT NULL, coalesce("
	    "extract(epoch FROM now() - r.monitoring_since)::bigint, 0), "
	    "coalesce(r.monitoring_since, r.frozen_at, now() - "
	    "make_interval(secs => $2::bigint))::text, "
	    "coalesce(r.freeze_consistent, false), "
	    "coalesce(r.archive_digest, ''), coalesce(r.archived_rows, 0), "
	    "coalesce(r.frozen_at, r.monitoring_since, now() - "
	    "make_interval(secs => $2::bigint))::text "
	    "FROM " DEP_SCHEMA ".retirement AS r WHERE r.object = $1" :
	    "SELECT 'dual_write', false, 0, (now() - "
	    "make_interval(secs => $2::bigint))::text, false, '', 0, (now() - "
	    "make_interval(secs => $2::bigint))::text "
	    "WHERE $1::text IS NOT NULL", 2, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		host->message(run, "%s.retirement has no row for %s",
		    DEP_SCHEMA, obj->name);
		return (-1);
	}
	obj->state = ledger_state(PQgetvalue(res, 0, 0));
	obj->clock = *PQgetvalue(res, 0, 1) == 't';
	obj->clock_age_s = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	snprintf(obj->window, sizeof obj->window, "%s", PQgetvalue(res, 0, 3));
	obj->freeze_consistent = *PQgetvalue(res, 0, 4) == 't';
	snprintf(obj->digest, sizeof obj->digest, "%s", PQgetvalue(res, 0, 5));
	obj->archived = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
	snprintf(obj->frozen, sizeof obj->frozen, "%s", PQgetvalue(res, 0, 7));
	PQclear(res);
	return (0);
}

char *
ledger_gates_json(const struct object *obj)
{
	char	*buf = NULL;
	size_t	 len;
	FILE	*f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return (NULL);
	fputc('{', f);
	for (int i = 0; i < DEP_NGATES; i++) {
		const struct gate *g = &obj->gates[i];

		fprintf(f, "%s\"%s\": {\"applies\": %s, \"ok\": %s, "
		    "\"measured\": %s}", i > 0 ? ", " : "", gate_names[i],
		    g->applies ? "true" : "false", g->ok ? "true" : "false",
		    g->evidence != NULL ? g->evidence : "null");
	}
	fputc('}', f);
	if (fclose(f) != 0) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

int
ledger_store_gates(const struct qsched_host *host, struct qsched_run *run,
    const struct object *obj)
{
	char		 id[24], *gates;
	const char	*params[3] = { obj->name, NULL, id };
	PGresult	*res;

	if ((gates = ledger_gates_json(obj)) == NULL) {
		host->message(run, "out of memory");
		return (-1);
	}
	params[1] = gates;
	snprintf(id, sizeof id, "%" PRId64, host->run_id(run));
	res = host->exec(run, "storing the gates", "UPDATE " DEP_SCHEMA
	    ".retirement SET gates = $2::jsonb, gates_at = now(), "
	    "run_id = $3::bigint WHERE object = $1", 3, params);
	free(gates);
	if (res == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

int
ledger_move(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj, enum dep_state to, int clock, const char *note)
{
	char		 id[24], clk[4], *gates;
	const char	*params[7] = { obj->name, ledger_states[to], clk, id,
	    NULL, note, NULL };
	PGresult	*res;

	if ((gates = ledger_gates_json(obj)) == NULL) {
		host->message(run, "out of memory");
		return (-1);
	}
	params[4] = gates;
	snprintf(clk, sizeof clk, "%d", clock);
	snprintf(id, sizeof id, "%" PRId64, host->run_id(run));
	/* At the freeze, remember whether the dual-write was consistent:
	 * it is the evidence the next step needs. */
	if (to == ST_FROZEN && obj->state != ST_FROZEN)
		params[6] = obj->gates[2].ok ? "true" : "false";
	res = host->exec(run, "recording a transition",
	    "WITH o AS (SELECT state FROM " DEP_SCHEMA ".retirement "
	    "WHERE object = $1 FOR UPDATE), "
	    "u AS (UPDATE " DEP_SCHEMA ".retirement AS r SET state = $2, "
	    "state_since = CASE WHEN r.state <> $2 THEN now() ELSE "
	    "r.state_since END, "
	    "frozen_at = CASE WHEN $2 = 'dual_write' THEN NULL "
	    "WHEN $2 = 'frozen' AND r.state = 'dual_write' THEN now() "
	    "ELSE r.frozen_at END, "
	    "monitoring_since = CASE $3 WHEN '1' THEN now() WHEN '0' THEN "
	    "NULL ELSE r.monitoring_since END, "
	    "freeze_consistent = coalesce($7::boolean, r.freeze_consistent), "
	    "archive_digest = CASE WHEN $2 = 'dual_write' THEN NULL ELSE "
	    "r.archive_digest END, "
	    "archived_rows = CASE WHEN $2 = 'dual_write' THEN NULL ELSE "
	    "r.archived_rows END, "
	    "gates = $5::jsonb, gates_at = now(), run_id = $4::bigint "
	    "WHERE r.object = $1) "
	    "INSERT INTO " DEP_SCHEMA ".transitions (run_id, object, "
	    "from_state, to_state, note, evidence) SELECT $4::bigint, $1, "
	    "o.state, $2, $6, $5::jsonb FROM o", 7, params);
	free(gates);
	if (res == NULL)
		return (-1);
	PQclear(res);
	host->log(run, QSCHED_LOG_NOTICE, "%s: %s -> %s: %s", obj->name,
	    ledger_states[obj->state], ledger_states[to], note);
	obj->state = to;
	if (clock == 1) {
		obj->clock = true;
		obj->clock_age_s = 0;
	} else if (clock == 0)
		obj->clock = false;
	return (0);
}

void
ledger_free(struct object *obj)
{
	for (int i = 0; i < DEP_NGATES; i++) {
		free(obj->gates[i].detail);
		free(obj->gates[i].evidence);
		obj->gates[i].detail = obj->gates[i].evidence = NULL;
	}
}
