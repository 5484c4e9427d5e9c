-- 0004_separated_queue_live_duplicates.sql - make sure no user has more
-- than one live (pending or assigned) entry per queue, so 0005 can build
-- the unique index that keeps it so.
--
-- Tables the app made have no such rule and can hold duplicates.  By
-- default they are a conflict to report, not to settle silently: the
-- migration fails with SQLSTATE 23505, the count and some user ids, and
-- changes nothing.  With the session setting qsched.resolve_duplicates
-- = 'true' (the schema_migrate plugin sets it from its option
-- resolve_duplicates) each such user keeps one live entry and the others
-- become 'superseded': kept, never deleted.
--
-- Which entry stays live: an 'assigned' one first, because an agent is
-- on the phone with that user and must still be able to complete it;
-- then the lowest queue_position, then the lowest priority_score (lower
-- is more urgent), then the newest created_at.
--
-- The check lives in a function because 0005 runs it again just before
-- it builds the index: the app may add a duplicate between the two
-- files.  Operators can call it too (see qsched-plugins(7)).
--
-- Idempotent: once there are no duplicates the check finds nothing.

-- The table behind a queue name.  Every queue function goes through here,
-- so a wrong name fails the same way everywhere.
CREATE OR REPLACE FUNCTION queue_table(p_queue text)
RETURNS regclass
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	CASE p_queue
	WHEN 'unsigned_users' THEN
		RETURN 'unsigned_users_queue'::regclass;
	WHEN 'outstanding_requests' THEN
		RETURN 'outstanding_requests_queue'::regclass;
	ELSE
		RAISE EXCEPTION 'unknown queue "%"', p_queue
		    USING ERRCODE = 'invalid_parameter_value',
		    HINT = 'The queues are unsigned_users and outstanding_requests.';
	END CASE;
END
$$;

COMMENT ON FUNCTION queue_table(text) IS
    'The table holding queue p_queue (unsigned_users, outstanding_requests); raises on any other name.';

-- Report or resolve users with more than one live entry in P_QUEUE.
-- P_RESOLVE NULL: take it from the session setting
-- qsched.resolve_duplicates.  Returns the number of entries superseded.
CREATE OR REPLACE FUNCTION queue_resolve_duplicates(p_queue text,
    p_resolve boolean DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	v_table		regclass := queue_table(p_queue);
	v_resolve	boolean := p_resolve;
	v_setting	text;
	v_users		bigint;
	v_extra		bigint;
	v_sample	text;
	v_done		bigint;
BEGIN
	IF v_resolve IS NULL THEN
		v_setting := current_setting('qsched.resolve_duplicates', true);
		BEGIN
			v_resolve := coalesce(nullif(v_setting, '')::boolean,
			    false);
		EXCEPTION WHEN invalid_text_representation THEN
			RAISE EXCEPTION 'qsched.resolve_duplicates: "%" is not a boolean',
			    v_setting USING ERRCODE = 'invalid_parameter_value';
		END;
	END IF;

	EXECUTE format($q$
		SELECT count(*), coalesce(sum(d.n - 1), 0),
		    string_agg(d.user_id::text, ', ' ORDER BY d.user_id)
			FILTER (WHERE d.rn <= 10)
		FROM (
			SELECT l.user_id, count(*) AS n,
			    row_number() OVER (ORDER BY l.user_id) AS rn
			FROM %s AS l
			WHERE l.status IN ('pending', 'assigned')
			GROUP BY l.user_id
			HAVING count(*) > 1
		) AS d
	$q$, v_table) INTO v_users, v_extra, v_sample;

	IF v_users = 0 THEN
		RETURN 0;
	END IF;
	IF NOT v_resolve THEN
		RAISE EXCEPTION '%: % users have more than one live (pending or assigned) entry, % entries too many (user_id %)',
		    v_table, v_users, v_extra,
		    v_sample || CASE WHEN v_users > 10 THEN ', ...' ELSE '' END
		    USING ERRCODE = 'unique_violation',
		    DETAIL = 'Each user may have at most one live entry per queue; nothing was changed.',
		    HINT = 'Set resolve_duplicates = true on the schema-migrate job (session setting qsched.resolve_duplicates) to keep the best entry per user live and mark the others superseded; no row is deleted.';
	END IF;

	EXECUTE format($q$
		UPDATE %1$s AS t
		SET status = 'superseded',
		    updated_at = (now() AT TIME ZONE 'UTC')
		FROM (
			SELECT l.id, row_number() OVER (PARTITION BY l.user_id
			    ORDER BY l.status = 'assigned' DESC,
				l.queue_position, l.priority_score,
				l.created_at DESC, l.id) AS rn
			FROM %1$s AS l
			WHERE l.status IN ('pending', 'assigned')
			    AND l.user_id IN (
				SELECT d.user_id FROM %1$s AS d
				WHERE d.status IN ('pending', 'assigned')
				GROUP BY d.user_id
				HAVING count(*) > 1)
		) AS r
		WHERE t.id = r.id AND r.rn > 1
	$q$, v_table);
	GET DIAGNOSTICS v_done = ROW_COUNT;
	RAISE NOTICE '%: % duplicate live entries of % users marked superseded (user_id %)',
	    v_table, v_done, v_users,
	    v_sample || CASE WHEN v_users > 10 THEN ', ...' ELSE '' END;
	RETURN v_done;
END
$$;

COMMENT ON FUNCTION queue_resolve_duplicates(text, boolean) IS
    'Fail (23505) if a user has several live entries in the queue, or with p_resolve keep the best one and mark the others superseded.';

-- Pin the search path of the functions to the schema they live in, with
-- their tables, so a caller's search_path cannot send them elsewhere.
DO $$
DECLARE
	f	regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure FROM pg_proc AS p
		WHERE p.pronamespace = current_schema()::regnamespace
		    AND p.proname IN ('queue_table', 'queue_resolve_duplicates')
	LOOP
		EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp',
		    f, current_schema());
	END LOOP;
END
$$;

-- Report every queue's duplicates before failing, so one run shows the
-- whole conflict.
DO $$
DECLARE
	v_queue		text;
	v_msg		text;
	v_errors	text[] := '{}';
	v_hint		text;
BEGIN
	FOREACH v_queue IN ARRAY ARRAY['unsigned_users', 'outstanding_requests']
	LOOP
		BEGIN
			PERFORM queue_resolve_duplicates(v_queue);
		EXCEPTION WHEN unique_violation THEN
			GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT,
			    v_hint = PG_EXCEPTION_HINT;
			v_errors := v_errors || v_msg;
		END;
	END LOOP;
	IF cardinality(v_errors) > 0 THEN
		RAISE EXCEPTION '%', array_to_string(v_errors, '; ')
		    USING ERRCODE = 'unique_violation',
		    DETAIL = 'Each user may have at most one live entry per queue; nothing was changed.',
		    HINT = v_hint;
	END IF;
END
$$;
