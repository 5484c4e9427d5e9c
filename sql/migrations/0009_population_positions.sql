-- qsched:no-transaction
-- 0009_population_positions.sql - what the change-proportional refresh
-- of queue_population needs: claims that never come back empty while a
-- refresh holds entries, a dense rank for people to read, and an index
-- that lets the legacy dual-write read call_queue without a sort.
--
-- queue_position no longer runs 1..N.  The refresh keeps the pending
-- entries' positions strictly increasing in the population rule's order
-- but leaves gaps between them (1024 where it numbers a run of entries):
-- a new lead takes a number before the first entry, a user whose score
-- changed one between his new neighbours, and only the entries that
-- changed are written.  When a gap is used up the refresh renumbers a
-- few neighbouring entries, in the same short transaction.  Positions
-- may be negative.  Claim order is unchanged: queue_position, then
-- priority_score.
--
--   queue_claim_next(queue, agent_id)
--	As in 0006, plus: when SKIP LOCKED finds nothing because every
--	available entry is locked (a refresh or another claim is writing
--	them), it claims again and waits for the first of them instead of
--	returning no row; a deadlock between two such claims is caught and
--	the claim tries again.  An empty answer means "nothing to claim".
--   unsigned_users_queue_ranked, outstanding_requests_queue_ranked
--	The pending entries with display_position = 1..N in claim order:
--	the number to show people ("you are 3rd in the queue").
--   call_queue_population_idx
--	call_queue's live rows of the two queue types, by user, in the
--	order the dual-write picks the row it keeps, with the columns it
--	compares: an index-only scan instead of a scan of call_queue and a
--	sort.  Like 0008's indexes it only speeds things up; `prisma db
--	push` drops it (run the statement again by hand afterwards).
--
-- Every statement is safe to run again (IF NOT EXISTS, OR REPLACE).

CREATE INDEX CONCURRENTLY IF NOT EXISTS call_queue_population_idx
	ON call_queue (queue_type, user_id, (status = 'assigned') DESC,
	    queue_position NULLS LAST, created_at DESC, id)
	INCLUDE (status, priority_score, queue_reason, available_from)
	WHERE status IN ('pending', 'assigned')
	    AND queue_type IN ('unsigned_users', 'outstanding_requests');

CREATE OR REPLACE FUNCTION queue_claim_next(p_queue text, p_agent_id integer)
RETURNS SETOF queue_entry
LANGUAGE plpgsql
AS $$
DECLARE
	v_now	timestamp(3) without time zone := now() AT TIME ZONE 'UTC';
	v_uu	boolean := (p_queue = 'unsigned_users');
BEGIN
	IF p_agent_id IS NULL THEN
		RAISE EXCEPTION 'queue_claim_next: agent_id must not be NULL'
		    USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM queue_table(p_queue);	-- raises: unknown queue
	/*
	 * Take the first entry nobody holds (SKIP LOCKED).  When every
	 * available entry is held (a refresh or other claims are writing
	 * them), wait for the first of them rather than answer "nothing".
	 * Two claims waiting for each other's entries end in a deadlock
	 * error for one of them: its wait is rolled back (a subtransaction)
	 * and it tries again, so a claim never fails for that.
	 */
	LOOP
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
		EXIT WHEN FOUND;
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
			FOR UPDATE)
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
			FOR UPDATE)
		    AND q.status = 'pending'
		RETURNING p_queue, q.id, q.user_id, q.claim_id,
		    q.priority_score, q.queue_position, q.status,
		    q.queue_reason, q.available_from, q.assigned_to_agent,
		    q.assigned_at, q.callback_id, q.created_at, q.updated_at;
			END IF;
			EXIT;	-- claimed, or nothing left to claim
		EXCEPTION WHEN deadlock_detected THEN
			NULL;	-- try again
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
    'Atomically assign the next available pending entry to the agent; waits for a locked one rather than return none; no row if none.';

CREATE OR REPLACE VIEW unsigned_users_queue_ranked AS
	SELECT q.*, row_number() OVER (ORDER BY q.queue_position,
	    q.priority_score, q.id) AS display_position
	FROM unsigned_users_queue AS q
	WHERE q.status = 'pending';

CREATE OR REPLACE VIEW outstanding_requests_queue_ranked AS
	SELECT q.*, row_number() OVER (ORDER BY q.queue_position,
	    q.priority_score, q.id) AS display_position
	FROM outstanding_requests_queue AS q
	WHERE q.status = 'pending';

COMMENT ON VIEW unsigned_users_queue_ranked IS
    'Pending entries with display_position 1..N in claim order (queue_position is sparse).';
COMMENT ON VIEW outstanding_requests_queue_ranked IS
    'Pending entries with display_position 1..N in claim order (queue_position is sparse).';
