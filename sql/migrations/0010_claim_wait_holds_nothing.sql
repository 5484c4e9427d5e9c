-- 0010_claim_wait_holds_nothing.sql - queue_claim_next waits without
-- holding the lock of any entry it does not take.
--
-- 0009's claim, when SKIP LOCKED found every available entry locked,
-- claimed again with a plain FOR UPDATE.  That walk locks each entry it
-- reaches, and an entry that another agent had claimed meanwhile fails
-- the recheck but stays locked by the waiting claim until it commits.
-- The waiting claim then holds the entry an agent is about to complete
-- while it waits for an entry a refresh holds, and the refresh may wait
-- for that agent: a three-way deadlock, and PostgreSQL picks a victim
-- (40P01), sometimes the agent's queue_complete().
--
-- Now the claim only ever takes an entry with SKIP LOCKED.  When there
-- is none but available entries exist, it reads the first of them
-- without locking, waits for whoever holds it by asking for a share lock
-- in a subtransaction, gives the lock straight back (the subtransaction
-- is rolled back on purpose) and claims again.  While it waits it holds
-- no entry, so it cannot close a cycle of waits; a deadlock can still
-- reach it from locks the caller's own transaction holds, and is caught
-- there as before.  An empty answer still means "nothing to claim".
--
-- Same signature, result and claim order as 0006/0009; idempotent.

CREATE OR REPLACE FUNCTION queue_claim_next(p_queue text, p_agent_id integer)
RETURNS SETOF queue_entry
LANGUAGE plpgsql
AS $$
DECLARE
	v_now	timestamp(3) without time zone := now() AT TIME ZONE 'UTC';
	v_uu	boolean := (p_queue = 'unsigned_users');
	v_held	uuid;
	v_got	boolean;
BEGIN
	IF p_agent_id IS NULL THEN
		RAISE EXCEPTION 'queue_claim_next: agent_id must not be NULL'
		    USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM queue_table(p_queue);	-- raises: unknown queue
	LOOP
		/*
		 * In a subtransaction: an entry claimed by another agent
		 * after this statement's snapshot is locked on the way (and
		 * skipped once it is seen as assigned); rolled back when
		 * nothing was claimed, so the wait below holds no such lock.
		 */
		BEGIN
			IF v_uu THEN
				RETURN QUERY
			UPDATE unsigned_users_queue AS q
			SET status = 'assigned', assigned_to_agent = p_agent_id,
			    assigned_at = v_now, updated_at = v_now
			WHERE q.id = (
				SELECT c.id FROM unsigned_users_queue AS c
				WHERE c.status = 'pending'
				    AND c.available_from <= v_now
				ORDER BY c.queue_position, c.priority_score
				LIMIT 1
				FOR UPDATE SKIP LOCKED)
			    AND q.status = 'pending'
			RETURNING p_queue, q.id, q.user_id, q.claim_id,
			    q.priority_score, q.queue_position, q.status,
			    q.queue_reason, q.available_from, q.assigned_to_agent,
			    q.assigned_at, q.callback_id, q.created_at, q.updated_at;
			ELSE
				RETURN QUERY
			UPDATE outstanding_requests_queue AS q
			SET status = 'assigned', assigned_to_agent = p_agent_id,
			    assigned_at = v_now, updated_at = v_now
			WHERE q.id = (
				SELECT c.id FROM outstanding_requests_queue AS c
				WHERE c.status = 'pending'
				    AND c.available_from <= v_now
				ORDER BY c.queue_position, c.priority_score
				LIMIT 1
				FOR UPDATE SKIP LOCKED)
			    AND q.status = 'pending'
			RETURNING p_queue, q.id, q.user_id, q.claim_id,
			    q.priority_score, q.queue_position, q.status,
			    q.queue_reason, q.available_from, q.assigned_to_agent,
			    q.assigned_at, q.callback_id, q.created_at, q.updated_at;
			END IF;
			v_got := FOUND;
			IF NOT v_got THEN
				RAISE EXCEPTION USING ERRCODE = 'QSW01';
			END IF;
		EXCEPTION
			WHEN SQLSTATE 'QSW01' THEN NULL;
		END;
		EXIT WHEN v_got;
		/* Every available entry is held, or there is none. */
		IF v_uu THEN
			SELECT c.id INTO v_held FROM unsigned_users_queue AS c
			WHERE c.status = 'pending' AND c.available_from <= v_now
			ORDER BY c.queue_position, c.priority_score
			LIMIT 1;
		ELSE
			SELECT c.id INTO v_held
			FROM outstanding_requests_queue AS c
			WHERE c.status = 'pending' AND c.available_from <= v_now
			ORDER BY c.queue_position, c.priority_score
			LIMIT 1;
		END IF;
		EXIT WHEN v_held IS NULL;	-- nothing to claim
		BEGIN
			IF v_uu THEN
				PERFORM 1 FROM unsigned_users_queue AS c
				WHERE c.id = v_held FOR SHARE;
			ELSE
				PERFORM 1 FROM outstanding_requests_queue AS c
				WHERE c.id = v_held FOR SHARE;
			END IF;
			/* Its holder has finished: give the lock back. */
			RAISE EXCEPTION USING ERRCODE = 'QSW01';
		EXCEPTION
			WHEN SQLSTATE 'QSW01' THEN NULL;
			WHEN deadlock_detected THEN NULL;
		END;
	END LOOP;
END
$$;

DO $$
BEGIN
	EXECUTE format('ALTER FUNCTION queue_claim_next(text, integer) '
	    'SET search_path = %I, pg_temp', current_schema());
END
$$;

COMMENT ON FUNCTION queue_claim_next(text, integer) IS
    'Atomically assign the next available pending entry to the agent; waits for a locked one, holding none, rather than return none; no row if none.';
