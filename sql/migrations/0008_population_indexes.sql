-- qsched:no-transaction
-- 0008_population_indexes.sql - two indexes on the application's tables
-- that keep the queue_population refresh cheap, built CONCURRENTLY so the
-- application keeps writing while they are built.
--
--   user_call_scores_queue_population_idx
--	(current_queue_type, current_score, created_at DESC, user_id)
--	INCLUDE (next_call_after) WHERE is_active
--	The population rule's own order: for one queue type, the score-0
--	users newest first, then every score in ascending order, newest
--	first.  A refresh reads the users it queues from this index alone
--	(an index-only scan: no sort, no visit to the table), and stops
--	after max_size entries when the new leads leave room for scored
--	users.  Its columns are in the table's indexes already, except
--	created_at, which the application never changes: it takes no HOT
--	update away from the application.
--   call_sessions_call_queue_id_idx
--	(call_queue_id), the name Prisma gives @@index([call_queue_id])
--	The foreign key call_sessions.call_queue_id has no index: deleting
--	a call_queue row made PostgreSQL scan all of call_sessions to
--	enforce ON DELETE RESTRICT, once per row.  The legacy dual-write
--	deletes call_queue rows and asks the same question before it does.
--
-- Both only speed things up; nothing depends on them for correctness.
-- An application that runs `prisma db push` drops indexes its schema does
-- not declare: add @@index([call_queue_id]) to CallSession, and after a
-- push run the two statements below again by hand (IF NOT EXISTS makes
-- that safe).  A build that fails leaves an INVALID index, which the
-- schema_migrate plugin drops before it runs the file again.

CREATE INDEX CONCURRENTLY IF NOT EXISTS user_call_scores_queue_population_idx
	ON user_call_scores (current_queue_type, current_score,
	    created_at DESC, user_id)
	INCLUDE (next_call_after)
	WHERE is_active;

CREATE INDEX CONCURRENTLY IF NOT EXISTS call_sessions_call_queue_id_idx
	ON call_sessions (call_queue_id);
