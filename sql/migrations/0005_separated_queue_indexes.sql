-- qsched:no-transaction
-- 0005_separated_queue_indexes.sql - the separated queues' indexes, built
-- CONCURRENTLY so the app keeps writing while they are built.
--
-- Runs statement by statement in autocommit (first line above): CREATE
-- INDEX CONCURRENTLY refuses to run inside a transaction block.
--
-- Per table:
--   *_status_priority_score_idx, *_available_from_idx,
--   *_queue_position_idx   the app's own (Prisma) indexes: already there
--			    on adopted tables, created here on new ones so
--			    both end up alike
--   *_status_priority_avail_idx (status, priority_score, available_from)
--   *_user_id_idx	    (user_id): the plan's two indexes
--   *_user_id_live_key	    UNIQUE (user_id) WHERE status IN ('pending',
--			    'assigned'): at most one live entry per user
--   *_claim_idx	    (queue_position, priority_score, available_from)
--			    WHERE status = 'pending': queue_claim_next()
--			    reads it in claim order and stops at the first
--			    unlocked available entry, however long the queue
--   *_assigned_at_idx	    (assigned_at) WHERE status = 'assigned':
--			    queue_expire_assignments() reads only assigned
--			    entries
--   *_assigned_to_agent_idx, *_callback_id_idx
--			    partial, on the non-NULL values: deleting an
--			    agent or a callback (ON DELETE SET NULL) finds
--			    its entries without a table scan
--
-- Re-running from the start is safe: each CREATE has IF NOT EXISTS.  A
-- concurrent build that fails leaves an INVALID index that IF NOT EXISTS
-- would then skip, so the first statement refuses to go on while one of
-- these indexes is INVALID (the schema_migrate plugin drops such an index
-- and runs the file again; by hand: DROP INDEX CONCURRENTLY it).

DO $$
DECLARE
	v_index	text;
BEGIN
	SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO v_index
	FROM pg_index AS i
	JOIN pg_class AS c ON c.oid = i.indexrelid
	WHERE i.indrelid IN ('unsigned_users_queue'::regclass,
	    'outstanding_requests_queue'::regclass)
	    AND NOT i.indisvalid
	    AND c.relname ~ '^(unsigned_users|outstanding_requests)_queue_(status_priority_score_idx|available_from_idx|queue_position_idx|status_priority_avail_idx|user_id_idx|user_id_live_key|claim_idx|assigned_at_idx|assigned_to_agent_idx|callback_id_idx)$';
	IF v_index IS NOT NULL THEN
		RAISE EXCEPTION 'INVALID index left by an earlier failed build: %',
		    v_index USING ERRCODE = 'object_not_in_prerequisite_state',
		    HINT = 'DROP INDEX CONCURRENTLY each of them, then apply this file again.';
	END IF;
END
$$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_status_priority_score_idx
	ON unsigned_users_queue (status, priority_score);
CREATE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_available_from_idx
	ON unsigned_users_queue (available_from);
CREATE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_queue_position_idx
	ON unsigned_users_queue (queue_position);
CREATE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_status_priority_avail_idx
	ON unsigned_users_queue (status, priority_score, available_from);
CREATE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_user_id_idx
	ON unsigned_users_queue (user_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_claim_idx
	ON unsigned_users_queue (queue_position, priority_score, available_from)
	WHERE status = 'pending';
CREATE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_assigned_at_idx
	ON unsigned_users_queue (assigned_at)
	WHERE status = 'assigned';
CREATE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_assigned_to_agent_idx
	ON unsigned_users_queue (assigned_to_agent)
	WHERE assigned_to_agent IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_callback_id_idx
	ON unsigned_users_queue (callback_id)
	WHERE callback_id IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_status_priority_score_idx
	ON outstanding_requests_queue (status, priority_score);
CREATE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_available_from_idx
	ON outstanding_requests_queue (available_from);
CREATE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_queue_position_idx
	ON outstanding_requests_queue (queue_position);
CREATE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_status_priority_avail_idx
	ON outstanding_requests_queue (status, priority_score, available_from);
CREATE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_user_id_idx
	ON outstanding_requests_queue (user_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_claim_idx
	ON outstanding_requests_queue (queue_position, priority_score, available_from)
	WHERE status = 'pending';
CREATE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_assigned_at_idx
	ON outstanding_requests_queue (assigned_at)
	WHERE status = 'assigned';
CREATE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_assigned_to_agent_idx
	ON outstanding_requests_queue (assigned_to_agent)
	WHERE assigned_to_agent IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_callback_id_idx
	ON outstanding_requests_queue (callback_id)
	WHERE callback_id IS NOT NULL;

-- The unique indexes last, each right after a fresh duplicate check (or
-- resolution, with qsched.resolve_duplicates): 0004 ran in an earlier
-- transaction and the app may have added a duplicate since.  One that
-- slips in during the build makes the build fail, leaving an INVALID
-- index for the plugin to drop before the next attempt.
SELECT queue_resolve_duplicates('unsigned_users');
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS unsigned_users_queue_user_id_live_key
	ON unsigned_users_queue (user_id)
	WHERE status IN ('pending', 'assigned');

SELECT queue_resolve_duplicates('outstanding_requests');
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS outstanding_requests_queue_user_id_live_key
	ON outstanding_requests_queue (user_id)
	WHERE status IN ('pending', 'assigned');
