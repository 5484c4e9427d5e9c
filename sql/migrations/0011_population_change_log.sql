-- 0011_population_change_log.sql - the change log that lets a
-- queue_population refresh cost what changed, not what is queued.
--
-- Without it every refresh compares the whole population rule with the
-- whole queue (and call_queue), even when nothing changed: about a
-- second at 1M users.  With it, a refresh reads the users whose rows
-- changed since the last refresh, plus the few whose time boundary
-- passed (next_call_after, read from the application's own index), and
-- compares only those; a full comparison still runs now and then
-- (the plugin's option full_refresh_every) and whenever the log cannot be
-- trusted.  qsched-plugins(7), "The change log", says what an operator
-- must know.
--
-- Everything lives in the schema qsched_population, which qsched owns:
-- Prisma (db push, db pull, migrate diff) looks at the application's
-- schema only, and ignores triggers.
--
--   qsched_population.changes (queue, user_id)
--	One row per user and queue whose rule inputs changed: appended by
--	the triggers below, deleted by the refresh that reads it, in the
--	refresh's own transaction (a change committed after the refresh's
--	snapshot stays for the next one).  Unlogged tables would lose
--	rows on a crash without saying so: it is an ordinary table.
--   qsched_population.state (queue)
--	Per queue: the time the last refresh saw as now, the last full
--	comparison, the options that shape the rule (max_size,
--	cooling_period, the legacy dual-write), and the triggers it relied
--	on.  A queue without a row
--	is compared in full at its next refresh.  The triggers log both
--	queue types whether or not a job refreshes them: a queue no job
--	refreshes any more needs its rows deleted by hand (qsched-plugins(7)).
--   user_call_scores_population_changes_{ins,upd,del}
--	Statement-level triggers with transition tables (one statement,
--	one INSERT into the log, however many rows it changed).  An UPDATE
--	is logged only for rows whose rule inputs changed (score, queue
--	type, is_active, next_call_after, created_at, user_id), so the
--	application's bookkeeping updates (last_queue_check, updated_at)
--	add nothing.  PostgreSQL allows one event per trigger with
--	transition tables, hence three triggers on one function.
--   user_call_scores_population_truncate
--	TRUNCATE logs no rows: it forgets every queue's state, so the next
--	refresh of each compares in full.
--   <queue table>_population_{ins,del,upd,truncate}
--	Writes to the queues that the refresh did not make (it says so
--	with the setting qsched.population_refresh): entries added
--	(queue_add, the backfill) or deleted log their users, up to 1000
--	a statement (more mark the queue's state dirty); an UPDATE
--	that sets queue_position, priority_score, queue_reason,
--	available_from or user_id, and a TRUNCATE, mark the queue's state
--	dirty, so its next refresh compares in full.  Claims, completions
--	and releases set none of those columns and fire none of these.
--   <queue table>_population_done
--	A row trigger on a change of status to anything but 'assigned'
--	(a completion, a release, an expired assignment): logs the user,
--	whom the rule may queue again.  Its WHEN clause is evaluated
--	without calling the function, so a claim (pending to assigned)
--	costs nothing more.

CREATE SCHEMA IF NOT EXISTS qsched_population;

CREATE TABLE IF NOT EXISTS qsched_population.changes (
	queue	text NOT NULL,
	user_id	bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_queue_user_id_idx
	ON qsched_population.changes (queue, user_id);

CREATE TABLE IF NOT EXISTS qsched_population.state (
	queue		text PRIMARY KEY,
	last_now	timestamp(3) without time zone NOT NULL,
	last_full	timestamp(3) without time zone NOT NULL,
	rule		text NOT NULL,
	trigger_oids	text NOT NULL,
	trusted		boolean NOT NULL,
	dirty		text
);

CREATE OR REPLACE FUNCTION qsched_population.log_user_changes()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		DELETE FROM qsched_population.state;
	ELSIF TG_OP = 'INSERT' THEN
		INSERT INTO qsched_population.changes (queue, user_id)
		SELECT n.current_queue_type, n.user_id
		FROM new_rows AS n
		WHERE n.current_queue_type IN ('unsigned_users',
		    'outstanding_requests');
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO qsched_population.changes (queue, user_id)
		SELECT o.current_queue_type, o.user_id
		FROM old_rows AS o
		WHERE o.current_queue_type IN ('unsigned_users',
		    'outstanding_requests');
	ELSE
		INSERT INTO qsched_population.changes (queue, user_id)
		SELECT DISTINCT x.queue, x.user_id
		FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id,
		    LATERAL (VALUES (o.current_queue_type, o.user_id),
			(n.current_queue_type, n.user_id)) AS x(queue, user_id)
		WHERE (o.current_score, o.current_queue_type, o.is_active,
			o.next_call_after, o.created_at, o.user_id)
		    IS DISTINCT FROM (n.current_score, n.current_queue_type,
			n.is_active, n.next_call_after, n.created_at,
			n.user_id)
		    AND x.queue IN ('unsigned_users', 'outstanding_requests');
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION qsched_population.log_entry_changes()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF current_setting('qsched.population_refresh', true) = 'on' THEN
		RETURN NULL;
	END IF;
	/*
	 * A bulk write (the backfill copies thousands of entries a batch)
	 * would double its own cost in log rows: more than 1000 entries in
	 * one statement mark the queue dirty instead, and its next refresh
	 * compares in full.
	 */
	IF TG_OP = 'INSERT' THEN
		IF (SELECT count(*) FROM (SELECT 1 FROM new_rows
		    LIMIT 1001) AS x) <= 1000 THEN
			INSERT INTO qsched_population.changes (queue, user_id)
			SELECT DISTINCT TG_ARGV[0], n.user_id
			FROM new_rows AS n;
			RETURN NULL;
		END IF;
	ELSIF TG_OP = 'DELETE' THEN
		IF (SELECT count(*) FROM (SELECT 1 FROM old_rows
		    LIMIT 1001) AS x) <= 1000 THEN
			INSERT INTO qsched_population.changes (queue, user_id)
			SELECT DISTINCT TG_ARGV[0], o.user_id
			FROM old_rows AS o;
			RETURN NULL;
		END IF;
	END IF;
	UPDATE qsched_population.state
	SET dirty = CASE TG_OP WHEN 'TRUNCATE'
	    THEN 'the queue was truncated'
	    WHEN 'UPDATE' THEN 'entries were moved from outside'
	    ELSE 'more than 1000 entries were added or deleted '
		'from outside' END
	WHERE queue = TG_ARGV[0];
	RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER user_call_scores_population_changes_ins
	AFTER INSERT ON user_call_scores
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT
	EXECUTE FUNCTION qsched_population.log_user_changes();
CREATE OR REPLACE TRIGGER user_call_scores_population_changes_upd
	AFTER UPDATE ON user_call_scores
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT
	EXECUTE FUNCTION qsched_population.log_user_changes();
CREATE OR REPLACE TRIGGER user_call_scores_population_changes_del
	AFTER DELETE ON user_call_scores
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT
	EXECUTE FUNCTION qsched_population.log_user_changes();
CREATE OR REPLACE TRIGGER user_call_scores_population_truncate
	AFTER TRUNCATE ON user_call_scores
	FOR EACH STATEMENT
	EXECUTE FUNCTION qsched_population.log_user_changes();

CREATE OR REPLACE FUNCTION qsched_population.log_entry_done()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO qsched_population.changes (queue, user_id)
	VALUES (TG_ARGV[0], NEW.user_id);
	RETURN NULL;
END
$$;

DO $$
DECLARE
	q	text;
BEGIN
	FOREACH q IN ARRAY ARRAY['unsigned_users', 'outstanding_requests']
	LOOP
		EXECUTE format('CREATE OR REPLACE TRIGGER %1$I '
		    'AFTER INSERT ON %2$I REFERENCING NEW TABLE AS new_rows '
		    'FOR EACH STATEMENT EXECUTE FUNCTION '
		    'qsched_population.log_entry_changes(%3$L)',
		    q || '_queue_population_ins', q || '_queue', q);
		EXECUTE format('CREATE OR REPLACE TRIGGER %1$I '
		    'AFTER DELETE ON %2$I REFERENCING OLD TABLE AS old_rows '
		    'FOR EACH STATEMENT EXECUTE FUNCTION '
		    'qsched_population.log_entry_changes(%3$L)',
		    q || '_queue_population_del', q || '_queue', q);
		EXECUTE format('CREATE OR REPLACE TRIGGER %1$I '
		    'AFTER UPDATE OF queue_position, priority_score, '
		    'queue_reason, available_from, user_id ON %2$I '
		    'FOR EACH STATEMENT EXECUTE FUNCTION '
		    'qsched_population.log_entry_changes(%3$L)',
		    q || '_queue_population_upd', q || '_queue', q);
		EXECUTE format('CREATE OR REPLACE TRIGGER %1$I '
		    'AFTER TRUNCATE ON %2$I '
		    'FOR EACH STATEMENT EXECUTE FUNCTION '
		    'qsched_population.log_entry_changes(%3$L)',
		    q || '_queue_population_truncate', q || '_queue', q);
		EXECUTE format('CREATE OR REPLACE TRIGGER %1$I '
		    'AFTER UPDATE OF status ON %2$I FOR EACH ROW '
		    'WHEN (NEW.status IS DISTINCT FROM OLD.status '
		    'AND NEW.status IS DISTINCT FROM ''assigned'') '
		    'EXECUTE FUNCTION qsched_population.log_entry_done(%3$L)',
		    q || '_queue_population_done', q || '_queue', q);
	END LOOP;
END
$$;

COMMENT ON TABLE qsched_population.changes IS
    'Users whose population rule inputs changed, per queue, until the next queue_population refresh of that queue reads them.';
COMMENT ON TABLE qsched_population.state IS
    'Per queue: what the last queue_population refresh saw (its now, its last full comparison, the trigger it relied on).';
