-- Deleting with receipt handles: current, stale, malformed, forged and
-- other-queue handles, and sq_delete_batch.

-- err(stmt): run a statement; 'ok', or 'SQLSTATE: message' when it fails.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- counts(q): the queue_stats row of q as one line.
CREATE FUNCTION pg_temp.counts(q text) RETURNS text
LANGUAGE sql AS $$
	SELECT format('visible=%s in_flight=%s delayed=%s', visible, in_flight, delayed)
	FROM sqsn.queue_stats WHERE queue_name = q
$$;

-- tamper(h, pos): h with the character at pos replaced by a different one.
CREATE FUNCTION pg_temp.tamper(h text, pos int) RETURNS text
LANGUAGE sql AS $$
	SELECT overlay(h PLACING CASE WHEN substr(h, pos, 1) = '0' THEN '1' ELSE '0' END
	               FROM pos FOR 1)
$$;

SELECT sqsn.sq_create_queue('dl_q');
SELECT sqsn.sq_create_queue('dl_other');

-- delete_with_current_handle_removes_the_message
SELECT sqsn.sq_send('dl_q', 'to delete') IS NOT NULL AS sent;
SELECT receipt_handle AS h FROM sqsn.sq_receive('dl_q', 1, 600) \gset
SELECT sqsn.sq_delete('dl_q', :'h') AS deleted;
SELECT pg_temp.counts('dl_q');
SELECT count(*) AS received FROM sqsn.sq_receive('dl_q', 10, 0);

-- delete_of_already_deleted_message_returns_false
SELECT sqsn.sq_delete('dl_q', :'h') AS deleted_again;

-- delete_works_after_the_lease_expired_if_not_received_again
SELECT sqsn.sq_send('dl_q', 'lease over') IS NOT NULL AS sent;
SELECT receipt_handle AS h FROM sqsn.sq_receive('dl_q', 1, 0) \gset
SELECT pg_temp.counts('dl_q');
SELECT sqsn.sq_delete('dl_q', :'h') AS deleted;
SELECT pg_temp.counts('dl_q');

-- stale_handle_cannot_delete_a_message_received_again
SELECT sqsn.sq_send('dl_q', 'received twice') IS NOT NULL AS sent;
SELECT receipt_handle AS h_old FROM sqsn.sq_receive('dl_q', 1, 0) \gset
SELECT receipt_handle AS h_new FROM sqsn.sq_receive('dl_q', 1, 600) \gset
SELECT :'h_old' <> :'h_new' AS handles_differ;
SELECT sqsn.sq_delete('dl_q', :'h_old') AS stale_deleted;
SELECT pg_temp.counts('dl_q');
SELECT sqsn.sq_delete('dl_q', :'h_new') AS current_deleted;
SELECT pg_temp.counts('dl_q');

-- delete_only_removes_the_message_of_the_handle
SELECT count(*) AS sent FROM sqsn.sq_send_batch('dl_q', ARRAY['keep1', 'drop', 'keep2']);
CREATE TEMP TABLE r AS SELECT * FROM sqsn.sq_receive('dl_q', 10, 0);
SELECT sqsn.sq_delete('dl_q', receipt_handle) AS deleted FROM r WHERE body = 'drop';
SELECT string_agg(body, ',') AS left FROM sqsn.sq_receive('dl_q', 10, 0);
SELECT sqsn.sq_purge_queue('dl_q');
DROP TABLE r;

-- malformed_handle_is_rejected
SELECT pg_temp.err($$SELECT sqsn.sq_delete('dl_q', 'not a handle')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_delete('dl_q', '')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_delete('dl_q', '00000000-0000-0000-0000-000000000000')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_delete('dl_q', repeat('A', 10000))$$);
SELECT pg_temp.err($$SELECT sqsn.sq_change_visibility('dl_q', 'not a handle', 0)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_delete_batch('dl_q', ARRAY['not a handle'])$$);

-- null_handle_is_rejected
SELECT pg_temp.err($$SELECT sqsn.sq_delete('dl_q', NULL)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_change_visibility('dl_q', NULL, 0)$$);

-- forged_handle_is_rejected_and_changes_nothing
SELECT sqsn.sq_send('dl_q', 'forgery target') IS NOT NULL AS sent;
SELECT receipt_handle AS h FROM sqsn.sq_receive('dl_q', 1, 600) \gset
SELECT pg_temp.err(format('SELECT sqsn.sq_delete(%L, %L)', 'dl_q', pg_temp.tamper(:'h', 1)));
SELECT pg_temp.err(format('SELECT sqsn.sq_delete(%L, %L)', 'dl_q', pg_temp.tamper(:'h', length(:'h') / 2)));
SELECT pg_temp.err(format('SELECT sqsn.sq_delete(%L, %L)', 'dl_q', pg_temp.tamper(:'h', length(:'h') - 2)));
SELECT pg_temp.err(format('SELECT sqsn.sq_delete(%L, %L)', 'dl_q', left(:'h', -1)));
SELECT pg_temp.err(format('SELECT sqsn.sq_delete(%L, %L)', 'dl_q', :'h' || 'x'));
SELECT pg_temp.err(format('SELECT sqsn.sq_change_visibility(%L, %L, 0)', 'dl_q', pg_temp.tamper(:'h', length(:'h') / 2)));
SELECT pg_temp.counts('dl_q');
SELECT sqsn.sq_delete('dl_q', :'h') AS genuine_deleted;

-- handle_of_another_queue_is_rejected_and_changes_nothing
SELECT sqsn.sq_send('dl_other', 'belongs to other') IS NOT NULL AS sent;
SELECT sqsn.sq_send('dl_q', 'belongs to q') IS NOT NULL AS sent;
SELECT receipt_handle AS h_other FROM sqsn.sq_receive('dl_other', 1, 600) \gset
SELECT pg_temp.err(format('SELECT sqsn.sq_delete(%L, %L)', 'dl_q', :'h_other'));
SELECT pg_temp.err(format('SELECT sqsn.sq_change_visibility(%L, %L, 0)', 'dl_q', :'h_other'));
SELECT pg_temp.err(format('SELECT sqsn.sq_delete_batch(%L, ARRAY[%L])', 'dl_q', :'h_other'));
SELECT pg_temp.counts('dl_q');
SELECT pg_temp.counts('dl_other');
SELECT sqsn.sq_delete('dl_other', :'h_other') AS deleted_in_own_queue;
SELECT sqsn.sq_purge_queue('dl_q');

-- handle_of_a_deleted_and_recreated_queue_is_not_current
SELECT sqsn.sq_create_queue('dl_gone');
SELECT sqsn.sq_send('dl_gone', 'old life') IS NOT NULL AS sent;
SELECT receipt_handle AS h_gone FROM sqsn.sq_receive('dl_gone', 1, 600) \gset
SELECT sqsn.sq_delete_queue('dl_gone');
SELECT sqsn.sq_create_queue('dl_gone');
SELECT sqsn.sq_send('dl_gone', 'new life') IS NOT NULL AS sent;
SELECT receipt_handle IS NOT NULL AS received FROM sqsn.sq_receive('dl_gone', 1, 600);
SELECT pg_temp.err(format('SELECT sqsn.sq_delete(%L, %L)', 'dl_gone', :'h_gone')) IN ('ok', '22P02: receipt handle is invalid') AS no_other_error;
SELECT pg_temp.counts('dl_gone');
SELECT sqsn.sq_delete_queue('dl_gone');

-- delete_batch_reports_each_handle_in_input_order
SELECT count(*) AS sent FROM sqsn.sq_send_batch('dl_q', ARRAY['b1', 'b2', 'b3', 'b4']);
CREATE TEMP TABLE r AS SELECT * FROM sqsn.sq_receive('dl_q', 1, 0);
INSERT INTO r SELECT * FROM sqsn.sq_receive('dl_q', 10, 600);
-- r: b1 (stale: received again below), b1 (current), b2, b3, b4
SELECT body, receive_count FROM r ORDER BY body, receive_count;
CREATE TEMP TABLE input AS
	SELECT ord, h
	FROM unnest(ARRAY[
		(SELECT receipt_handle FROM r WHERE body = 'b3'),
		(SELECT receipt_handle FROM r WHERE body = 'b1' AND receive_count = 1),
		(SELECT receipt_handle FROM r WHERE body = 'b1' AND receive_count = 2),
		(SELECT receipt_handle FROM r WHERE body = 'b2')
	]) WITH ORDINALITY AS i(h, ord);
SELECT i.ord, d.receipt_handle = i.h AS same_handle, d.deleted
FROM sqsn.sq_delete_batch('dl_q', ARRAY(SELECT h FROM input ORDER BY ord))
     WITH ORDINALITY AS d(receipt_handle, deleted, ord)
JOIN input i ON i.ord = d.ord
ORDER BY i.ord;
SELECT pg_temp.counts('dl_q');
SELECT sqsn.sq_change_visibility('dl_q', receipt_handle, 0) AS changed FROM r WHERE body = 'b4';
SELECT body FROM sqsn.sq_receive('dl_q', 10, 0);
SELECT sqsn.sq_purge_queue('dl_q');
DROP TABLE r;
DROP TABLE input;

-- delete_batch_with_a_handle_twice_deletes_once
SELECT sqsn.sq_send('dl_q', 'twice') IS NOT NULL AS sent;
SELECT receipt_handle AS h FROM sqsn.sq_receive('dl_q', 1, 600) \gset
SELECT deleted FROM sqsn.sq_delete_batch('dl_q', ARRAY[:'h', :'h']);
SELECT pg_temp.counts('dl_q');

-- delete_batch_of_empty_array_returns_no_rows
SELECT count(*) AS rows FROM sqsn.sq_delete_batch('dl_q', ARRAY[]::text[]);

-- delete_batch_with_a_bad_handle_deletes_nothing
SELECT count(*) AS sent FROM sqsn.sq_send_batch('dl_q', ARRAY['x1', 'x2']);
CREATE TEMP TABLE r AS SELECT * FROM sqsn.sq_receive('dl_q', 10, 600);
SELECT pg_temp.err(format('SELECT sqsn.sq_delete_batch(%L, %L::text[])', 'dl_q',
	ARRAY[(SELECT receipt_handle FROM r WHERE body = 'x1'), 'garbage']));
SELECT pg_temp.err(format('SELECT sqsn.sq_delete_batch(%L, %L::text[])', 'dl_q',
	ARRAY[(SELECT receipt_handle FROM r WHERE body = 'x1'), NULL]));
SELECT pg_temp.err(format('SELECT sqsn.sq_delete_batch(%L, %L::text[])', 'dl_q',
	ARRAY[(SELECT receipt_handle FROM r WHERE body = 'x1'),
	      pg_temp.tamper((SELECT receipt_handle FROM r WHERE body = 'x2'), 1)]));
SELECT pg_temp.counts('dl_q');
SELECT deleted FROM sqsn.sq_delete_batch('dl_q', ARRAY(SELECT receipt_handle FROM r ORDER BY body));
SELECT pg_temp.counts('dl_q');
DROP TABLE r;

-- delete_rolled_back_keeps_the_message
SELECT sqsn.sq_send('dl_q', 'survivor') IS NOT NULL AS sent;
SELECT receipt_handle AS h FROM sqsn.sq_receive('dl_q', 1, 0) \gset
BEGIN;
SELECT sqsn.sq_delete('dl_q', :'h') AS deleted;
ROLLBACK;
SELECT pg_temp.counts('dl_q');
SELECT sqsn.sq_delete('dl_q', :'h') AS deleted;
SELECT pg_temp.counts('dl_q');

-- handle_of_a_purged_message_is_stale
SELECT sqsn.sq_send('dl_q', 'purged') IS NOT NULL AS sent;
SELECT receipt_handle AS h FROM sqsn.sq_receive('dl_q', 1, 600) \gset
SELECT sqsn.sq_purge_queue('dl_q');
SELECT sqsn.sq_delete('dl_q', :'h') AS deleted;
SELECT sqsn.sq_change_visibility('dl_q', :'h', 0) AS changed;
SELECT sqsn.sq_send('dl_q', 'after purge') IS NOT NULL AS sent;
SELECT sqsn.sq_delete('dl_q', :'h') AS deleted_after_new_send;
SELECT pg_temp.counts('dl_q');

-- clean up
SELECT sqsn.sq_delete_queue(q) FROM sqsn.sq_list_queues('dl_') AS q;
