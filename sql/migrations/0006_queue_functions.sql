-- 0006_queue_functions.sql - the queue operations the app calls.
--
--   queue_add(queue, user_id [, priority_score, queue_position,
--             available_from, queue_reason, callback_id])   -> entry
--   queue_remove(queue, user_id)                            -> count
--   queue_get(queue, user_id)                               -> entry
--   queue_claim_next(queue, agent_id)                       -> entry
--   queue_complete(queue, entry_id, agent_id)               -> entry
--   queue_release(queue, entry_id [, agent_id])             -> entry
--   queue_expire_assignments(queue [, lease])               -> count
--
-- One set of functions taking the queue name ('unsigned_users',
-- 'outstanding_requests', as user_call_scores.current_queue_type and the
-- jobs' queue option spell it), not one set per table: the app already
-- holds the queue as a value, the rules are the same for both queues, and
-- a third queue needs one line in queue_table() (0004) instead of seven
-- new functions.  The price is dynamic SQL, planned at each call (a
-- fraction of a millisecond), except in queue_claim_next, the hot path.
-- queue_table() maps the name, and rejects any other.
--
-- Entries come back as rows of type queue_entry: the columns both tables
-- share, plus the queue name.  Functions return SETOF queue_entry, so
-- "nothing" is no row rather than a row of NULLs.
--
-- Times: the columns hold UTC (timestamp(3) without time zone, as Prisma
-- writes them), so every "now" here is (now() AT TIME ZONE 'UTC'),
-- whatever the session's TimeZone.
--
-- Misuse (unknown queue, unknown entry, completing someone else's entry)
-- raises an error naming what was wrong; races the app must expect
-- (nothing to claim, entry already taken) return no row.
--
-- Idempotent: CREATE OR REPLACE, and the type is created only if missing.

DO $$
BEGIN
	IF to_regtype('queue_entry') IS NULL THEN
		CREATE TYPE queue_entry AS (
			queue			text,
			id			uuid,
			user_id			bigint,
			claim_id		bigint,
			priority_score		integer,
			queue_position		integer,
			status			text,
			queue_reason		text,
			available_from		timestamp(3) without time zone,
			assigned_to_agent	integer,
			assigned_at		timestamp(3) without time zone,
			callback_id		uuid,
			created_at		timestamp(3) without time zone,
			updated_at		timestamp(3) without time zone
		);
		COMMENT ON TYPE queue_entry IS
		    'A queue entry as the queue_* functions return it.';
	END IF;
END
$$;

-- queue_add: a pending entry for the user, unless the user already has
-- a live one in that queue (then that one is returned, unchanged).
-- queue_position defaults to after the last pending entry,
-- available_from to now.  The user must have a user_call_scores row.
CREATE OR REPLACE FUNCTION queue_add(p_queue text, p_user_id bigint,
    p_priority_score integer DEFAULT 0, p_queue_position integer DEFAULT NULL,
    p_available_from timestamp without time zone DEFAULT NULL,
    p_queue_reason text DEFAULT NULL, p_callback_id uuid DEFAULT NULL)
RETURNS SETOF queue_entry
LANGUAGE plpgsql
AS $$
DECLARE
	v_table	regclass := queue_table(p_queue);
	v_now	timestamp(3) without time zone := now() AT TIME ZONE 'UTC';
BEGIN
	IF p_user_id IS NULL THEN
		RAISE EXCEPTION 'queue_add: user_id must not be NULL'
		    USING ERRCODE = 'null_value_not_allowed';
	END IF;
	RETURN QUERY EXECUTE format($q$
		INSERT INTO %1$s AS q (id, user_id, priority_score,
		    queue_position, status, queue_reason, available_from,
		    callback_id, created_at, updated_at)
		VALUES (gen_random_uuid(), $1, coalesce($2, 0),
		    coalesce($3, (SELECT coalesce(max(p.queue_position), 0) + 1
			FROM %1$s AS p WHERE p.status = 'pending')),
		    'pending', $4, coalesce($5, $6), $7, $6, $6)
		ON CONFLICT (user_id) WHERE status IN ('pending', 'assigned')
		    DO NOTHING
		RETURNING $8, q.id, q.user_id, q.claim_id, q.priority_score,
		    q.queue_position, q.status, q.queue_reason, q.available_from,
		    q.assigned_to_agent, q.assigned_at, q.callback_id,
		    q.created_at, q.updated_at
	$q$, v_table) USING p_user_id, p_priority_score, p_queue_position,
	    p_queue_reason, p_available_from, v_now, p_callback_id, p_queue;
	IF NOT FOUND THEN
		RETURN QUERY SELECT * FROM queue_get(p_queue, p_user_id);
	END IF;
END
$$;

-- queue_remove: delete the user's pending entry; returns how many (0 or
-- 1).  An assigned entry is left to its agent (complete or release):
-- pulling it away mid-call is what the old cron routes did wrong.
CREATE OR REPLACE FUNCTION queue_remove(p_queue text, p_user_id bigint)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
	v_table	regclass := queue_table(p_queue);
	v_count	integer;
BEGIN
	EXECUTE format($q$
		DELETE FROM %s AS q
		WHERE q.user_id = $1 AND q.status = 'pending'
	$q$, v_table) USING p_user_id;
	GET DIAGNOSTICS v_count = ROW_COUNT;
	RETURN v_count;
END
$$;

-- queue_get: the user's live (pending or assigned) entry, if any.
CREATE OR REPLACE FUNCTION queue_get(p_queue text, p_user_id bigint)
RETURNS SETOF queue_entry
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_table	regclass := queue_table(p_queue);
BEGIN
	RETURN QUERY EXECUTE format($q$
		SELECT $2, q.id, q.user_id, q.claim_id, q.priority_score,
		    q.queue_position, q.status, q.queue_reason, q.available_from,
		    q.assigned_to_agent, q.assigned_at, q.callback_id,
		    q.created_at, q.updated_at
		FROM %s AS q
		WHERE q.user_id = $1 AND q.status IN ('pending', 'assigned')
	$q$, v_table) USING p_user_id, p_queue;
END
$$;

-- queue_claim_next: give the agent the next available entry, atomically.
--
-- One statement: the subquery walks *_claim_idx in claim order
-- (queue_position, then priority_score), skips entries not yet available
-- and entries another agent's transaction has locked (SKIP LOCKED: no
-- waiting, no failure), and locks the first one left; the UPDATE assigns
-- it.  The outer "status = 'pending'" is re-checked against the latest
-- row version, so an entry claimed and committed meanwhile is never
-- claimed twice.  No row: nothing to claim right now.
--
-- This is the hot path, so unlike the other operations it does not build
-- its statement at run time: one static statement per queue lets
-- PL/pgSQL keep the plan, which takes a third off each claim.
CREATE OR REPLACE FUNCTION queue_claim_next(p_queue text, p_agent_id integer)
RETURNS SETOF queue_entry
LANGUAGE plpgsql
AS $$
DECLARE
	v_now	timestamp(3) without time zone := now() AT TIME ZONE 'UTC';
BEGIN
	IF p_agent_id IS NULL THEN
		RAISE EXCEPTION 'queue_claim_next: agent_id must not be NULL'
		    USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF p_queue = 'unsigned_users' THEN
		RETURN QUERY
		UPDATE unsigned_users_queue AS q
		SET status = 'assigned', assigned_to_agent = p_agent_id,
		    assigned_at = v_now, updated_at = v_now
		WHERE q.id = (
			SELECT c.id FROM unsigned_users_queue AS c
			WHERE c.status = 'pending' AND c.available_from <= v_now
			ORDER BY c.queue_position, c.priority_score
			LIMIT 1
			FOR UPDATE SKIP LOCKED)
		    AND q.status = 'pending'
		RETURNING p_queue, q.id, q.user_id, q.claim_id,
		    q.priority_score, q.queue_position, q.status,
		    q.queue_reason, q.available_from, q.assigned_to_agent,
		    q.assigned_at, q.callback_id, q.created_at, q.updated_at;
	ELSIF p_queue = 'outstanding_requests' THEN
		RETURN QUERY
		UPDATE outstanding_requests_queue AS q
		SET status = 'assigned', assigned_to_agent = p_agent_id,
		    assigned_at = v_now, updated_at = v_now
		WHERE q.id = (
			SELECT c.id FROM outstanding_requests_queue AS c
			WHERE c.status = 'pending' AND c.available_from <= v_now
			ORDER BY c.queue_position, c.priority_score
			LIMIT 1
			FOR UPDATE SKIP LOCKED)
		    AND q.status = 'pending'
		RETURNING p_queue, q.id, q.user_id, q.claim_id,
		    q.priority_score, q.queue_position, q.status,
		    q.queue_reason, q.available_from, q.assigned_to_agent,
		    q.assigned_at, q.callback_id, q.created_at, q.updated_at;
	ELSE
		PERFORM queue_table(p_queue);	-- raises: unknown queue
	END IF;
END
$$;

-- Why an entry could not be completed or released, as an error.
CREATE OR REPLACE FUNCTION queue_entry_refuse(p_func text, p_queue text,
    p_entry_id uuid, p_agent_id integer)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	v_status	text;
	v_agent		integer;
BEGIN
	EXECUTE format('SELECT status, assigned_to_agent FROM %s WHERE id = $1',
	    queue_table(p_queue)) INTO v_status, v_agent USING p_entry_id;
	IF v_status IS NULL THEN
		RAISE EXCEPTION '%: no entry % in queue %', p_func, p_entry_id,
		    p_queue USING ERRCODE = 'no_data_found';
	ELSIF v_status <> 'assigned' THEN
		RAISE EXCEPTION '%: entry % in queue % is %, not assigned',
		    p_func, p_entry_id, p_queue, v_status
		    USING ERRCODE = 'object_not_in_prerequisite_state';
	ELSE
		RAISE EXCEPTION '%: entry % in queue % is assigned to agent %, not %',
		    p_func, p_entry_id, p_queue, coalesce(v_agent::text, 'none'),
		    p_agent_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
END
$$;

-- queue_complete: the assigned agent marks the entry completed.  Only
-- from 'assigned' and only by that agent; anything else raises, saying
-- which (no such entry; not assigned; assigned to another agent).
CREATE OR REPLACE FUNCTION queue_complete(p_queue text, p_entry_id uuid,
    p_agent_id integer)
RETURNS SETOF queue_entry
LANGUAGE plpgsql
AS $$
DECLARE
	v_table	regclass := queue_table(p_queue);
BEGIN
	RETURN QUERY EXECUTE format($q$
		UPDATE %s AS q
		SET status = 'completed', updated_at = $3
		WHERE q.id = $1 AND q.status = 'assigned'
		    AND q.assigned_to_agent = $2
		RETURNING $4, q.id, q.user_id, q.claim_id, q.priority_score,
		    q.queue_position, q.status, q.queue_reason, q.available_from,
		    q.assigned_to_agent, q.assigned_at, q.callback_id,
		    q.created_at, q.updated_at
	$q$, v_table) USING p_entry_id, p_agent_id,
	    now() AT TIME ZONE 'UTC', p_queue;
	IF NOT FOUND THEN
		PERFORM queue_entry_refuse('queue_complete', p_queue,
		    p_entry_id, p_agent_id);
	END IF;
END
$$;

-- queue_release: an assigned entry goes back to pending, keeping its
-- place, so the next claim can take it.  With an agent id only that
-- agent's entry is released; with NULL (a supervisor) whoever holds it.
CREATE OR REPLACE FUNCTION queue_release(p_queue text, p_entry_id uuid,
    p_agent_id integer DEFAULT NULL)
RETURNS SETOF queue_entry
LANGUAGE plpgsql
AS $$
DECLARE
	v_table	regclass := queue_table(p_queue);
BEGIN
	RETURN QUERY EXECUTE format($q$
		UPDATE %s AS q
		SET status = 'pending', assigned_to_agent = NULL,
		    assigned_at = NULL, updated_at = $3
		WHERE q.id = $1 AND q.status = 'assigned'
		    AND ($2::integer IS NULL OR q.assigned_to_agent = $2)
		RETURNING $4, q.id, q.user_id, q.claim_id, q.priority_score,
		    q.queue_position, q.status, q.queue_reason, q.available_from,
		    q.assigned_to_agent, q.assigned_at, q.callback_id,
		    q.created_at, q.updated_at
	$q$, v_table) USING p_entry_id, p_agent_id,
	    now() AT TIME ZONE 'UTC', p_queue;
	IF NOT FOUND THEN
		PERFORM queue_entry_refuse('queue_release', p_queue,
		    p_entry_id, p_agent_id);
	END IF;
END
$$;

-- queue_expire_assignments: entries assigned longer than P_LEASE ago (or
-- assigned with no time at all) go back to pending; returns how many.
-- Entries locked right now (an agent completing one) are skipped, not
-- waited for: the next run gets them if they are still stale.
CREATE OR REPLACE FUNCTION queue_expire_assignments(p_queue text,
    p_lease interval DEFAULT '30 minutes')
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	v_table	regclass := queue_table(p_queue);
	v_now	timestamp(3) without time zone := now() AT TIME ZONE 'UTC';
	v_count	bigint;
BEGIN
	IF p_lease IS NULL OR p_lease <= interval '0' THEN
		RAISE EXCEPTION 'queue_expire_assignments: lease must be a positive interval, not %',
		    coalesce(p_lease::text, 'NULL')
		    USING ERRCODE = 'invalid_parameter_value';
	END IF;
	EXECUTE format($q$
		UPDATE %1$s AS q
		SET status = 'pending', assigned_to_agent = NULL,
		    assigned_at = NULL, updated_at = $1
		WHERE q.id IN (
			SELECT s.id FROM %1$s AS s
			WHERE s.status = 'assigned'
			    AND (s.assigned_at < $1 - $2 OR s.assigned_at IS NULL)
			FOR UPDATE SKIP LOCKED)
		    AND q.status = 'assigned'
	$q$, v_table) USING v_now, p_lease;
	GET DIAGNOSTICS v_count = ROW_COUNT;
	RETURN v_count;
END
$$;

COMMENT ON FUNCTION queue_add(text, bigint, integer, integer,
    timestamp without time zone, text, uuid) IS
    'Add a pending entry for the user unless one is live; returns the live entry.';
COMMENT ON FUNCTION queue_remove(text, bigint) IS
    'Delete the user''s pending entry; returns the number deleted.';
COMMENT ON FUNCTION queue_get(text, bigint) IS
    'The user''s live (pending or assigned) entry, if any.';
COMMENT ON FUNCTION queue_claim_next(text, integer) IS
    'Atomically assign the next available pending entry to the agent; no row if none.';
COMMENT ON FUNCTION queue_complete(text, uuid, integer) IS
    'Mark an entry assigned to this agent completed; raises otherwise.';
COMMENT ON FUNCTION queue_release(text, uuid, integer) IS
    'Put an assigned entry back to pending (agent NULL: whoever holds it); raises otherwise.';
COMMENT ON FUNCTION queue_expire_assignments(text, interval) IS
    'Put entries assigned longer than the lease back to pending; returns the count.';

DO $$
DECLARE
	f	regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure FROM pg_proc AS p
		WHERE p.pronamespace = current_schema()::regnamespace
		    AND p.proname IN ('queue_add', 'queue_remove', 'queue_get',
			'queue_claim_next', 'queue_entry_refuse',
			'queue_complete', 'queue_release',
			'queue_expire_assignments')
	LOOP
		EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp',
		    f, current_schema());
	END LOOP;
END
$$;
