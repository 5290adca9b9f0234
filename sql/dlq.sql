-- Dead-letter queues: redrive configuration, moving a message after
-- max_receive_count receives, what the moved message keeps, and the rules
-- that protect a queue used as a DLQ.

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

-- queue_with_dlq_shows_redrive_policy
SELECT sqsn.sq_create_queue('dq_dead');
SELECT sqsn.sq_create_queue('dq_src', dead_letter_queue => 'dq_dead', max_receive_count => 2);
SELECT sqsn.sq_get_queue_attributes('dq_src')->'RedrivePolicy' AS redrive_policy;
SELECT sqsn.sq_get_queue_attributes('dq_dead') ? 'RedrivePolicy' AS dlq_has_redrive_policy;

-- same_redrive_policy_again_is_a_noop_and_a_different_one_fails
SELECT sqsn.sq_create_queue('dq_src', dead_letter_queue => 'dq_dead', max_receive_count => 2);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('dq_src', dead_letter_queue => 'dq_dead', max_receive_count => 3)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('dq_src')$$);
SELECT sqsn.sq_get_queue_attributes('dq_src')->'RedrivePolicy' AS redrive_policy;

-- message_is_received_max_receive_count_times
SELECT sqsn.sq_send('dq_src', 'poison', '{"kind":"bad","n":7}') AS poison_id \gset
SELECT body, receive_count FROM sqsn.sq_receive('dq_src', 1, 0);
SELECT body, receive_count, sent_at AS poison_sent_at FROM sqsn.sq_receive('dq_src', 1, 0) \gset
SELECT :'body' AS body, :receive_count AS receive_count;
SELECT pg_temp.counts('dq_src');
SELECT pg_temp.counts('dq_dead');

-- next_receive_moves_message_to_dlq_instead_of_returning_it
SELECT count(*) AS received FROM sqsn.sq_receive('dq_src', 10, 0);
SELECT pg_temp.counts('dq_src');
SELECT pg_temp.counts('dq_dead');

-- moved_message_keeps_id_body_attributes_and_sent_at_and_restarts_count
SELECT message_id = :'poison_id'::uuid AS same_id,
       body,
       message_attributes,
       sent_at = :'poison_sent_at'::timestamptz AS same_sent_at,
       receive_count
FROM sqsn.sq_receive('dq_dead', 10, 600);
SELECT pg_temp.counts('dq_dead');
SELECT sqsn.sq_purge_queue('dq_dead');

-- receive_moves_exhausted_messages_and_returns_the_others
SELECT count(*) AS sent FROM sqsn.sq_send_batch('dq_src', ARRAY['e1', 'ok1', 'e2', 'ok2']);
SELECT body, receive_count FROM sqsn.sq_receive('dq_src', 10, 0) WHERE body LIKE 'e%';
-- second receive of all four; the ok-messages are processed and deleted
CREATE TEMP TABLE r AS SELECT * FROM sqsn.sq_receive('dq_src', 10, 0);
SELECT body, receive_count FROM r;
SELECT body, sqsn.sq_delete('dq_src', receipt_handle) AS deleted FROM r WHERE body LIKE 'ok%';
DROP TABLE r;
SELECT pg_temp.counts('dq_src');
SELECT count(*) AS sent FROM sqsn.sq_send_batch('dq_src', ARRAY['ok3', 'ok4']);
SELECT body, receive_count FROM sqsn.sq_receive('dq_src', 10, 0);
SELECT pg_temp.counts('dq_src');
SELECT string_agg(body, ',') AS dead_letters FROM sqsn.sq_receive('dq_dead', 10, 0);
SELECT sqsn.sq_purge_queue('dq_src');
SELECT sqsn.sq_purge_queue('dq_dead');

-- move_to_dlq_is_rolled_back_with_the_receive
SELECT sqsn.sq_send('dq_src', 'rollback move') IS NOT NULL AS sent;
SELECT count(*) AS received FROM sqsn.sq_receive('dq_src', 1, 0);
SELECT count(*) AS received FROM sqsn.sq_receive('dq_src', 1, 0);
BEGIN;
SELECT count(*) AS received FROM sqsn.sq_receive('dq_src', 1, 0);
SELECT pg_temp.counts('dq_src');
SELECT pg_temp.counts('dq_dead');
ROLLBACK;
SELECT pg_temp.counts('dq_src');
SELECT pg_temp.counts('dq_dead');
SELECT count(*) AS received FROM sqsn.sq_receive('dq_src', 1, 0);
SELECT pg_temp.counts('dq_src');
SELECT pg_temp.counts('dq_dead');
SELECT sqsn.sq_purge_queue('dq_dead');

-- message_in_flight_is_not_moved_before_its_lease_ends
SELECT sqsn.sq_send('dq_src', 'slow consumer') IS NOT NULL AS sent;
SELECT count(*) AS received FROM sqsn.sq_receive('dq_src', 1, 0);
SELECT receipt_handle AS h FROM sqsn.sq_receive('dq_src', 1, 600) \gset
SELECT count(*) AS received FROM sqsn.sq_receive('dq_src', 10, 0);
SELECT pg_temp.counts('dq_src');
SELECT pg_temp.counts('dq_dead');
SELECT sqsn.sq_delete('dq_src', :'h') AS deleted_by_last_handle;
SELECT pg_temp.counts('dq_src');

-- old_handle_is_stale_after_message_moved_to_dlq
SELECT sqsn.sq_send('dq_src', 'moved away') IS NOT NULL AS sent;
SELECT count(*) AS received FROM sqsn.sq_receive('dq_src', 1, 0);
SELECT receipt_handle AS h FROM sqsn.sq_receive('dq_src', 1, 0) \gset
SELECT count(*) AS received FROM sqsn.sq_receive('dq_src', 1, 0);
SELECT sqsn.sq_delete('dq_src', :'h') AS deleted;
SELECT pg_temp.counts('dq_dead');
SELECT sqsn.sq_purge_queue('dq_dead');

-- max_receive_count_one_moves_on_second_receive
SELECT sqsn.sq_create_queue('dq_once', dead_letter_queue => 'dq_dead', max_receive_count => 1);
SELECT sqsn.sq_send('dq_once', 'only once') IS NOT NULL AS sent;
SELECT body, receive_count FROM sqsn.sq_receive('dq_once', 1, 0);
SELECT count(*) AS received FROM sqsn.sq_receive('dq_once', 1, 0);
SELECT pg_temp.counts('dq_once');
SELECT body, receive_count FROM sqsn.sq_receive('dq_dead', 1, 0);
SELECT sqsn.sq_purge_queue('dq_dead');

-- dlq_is_an_ordinary_queue
SELECT sqsn.sq_send('dq_dead', 'sent directly') IS NOT NULL AS sent;
SELECT receipt_handle AS h, body FROM sqsn.sq_receive('dq_dead', 1, 600) \gset
SELECT :'body' AS body, sqsn.sq_delete('dq_dead', :'h') AS deleted;

-- dlq_with_its_own_dlq_moves_again
SELECT sqsn.sq_create_queue('dq_last');
SELECT sqsn.sq_create_queue('dq_mid', dead_letter_queue => 'dq_last', max_receive_count => 1);
SELECT sqsn.sq_create_queue('dq_first', dead_letter_queue => 'dq_mid', max_receive_count => 1);
SELECT sqsn.sq_send('dq_first', 'hop') IS NOT NULL AS sent;
SELECT count(*) AS received FROM sqsn.sq_receive('dq_first', 1, 0);
SELECT count(*) AS received FROM sqsn.sq_receive('dq_first', 1, 0);
SELECT body, receive_count FROM sqsn.sq_receive('dq_mid', 1, 0);
SELECT count(*) AS received FROM sqsn.sq_receive('dq_mid', 1, 0);
SELECT body, receive_count FROM sqsn.sq_receive('dq_last', 1, 0);

-- redrive_settings_must_be_valid
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('dq_bad', dead_letter_queue => 'dq_dead')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('dq_bad', max_receive_count => 3)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('dq_bad', dead_letter_queue => 'dq_missing', max_receive_count => 3)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('dq_bad', dead_letter_queue => 'dq_dead', max_receive_count => 0)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('dq_bad', dead_letter_queue => 'dq_dead', max_receive_count => 1001)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('dq_bad', dead_letter_queue => 'bad name!', max_receive_count => 3)$$);
SELECT count(*) AS created FROM sqsn.sq_list_queues('dq_bad');
SELECT sqsn.sq_create_queue('dq_max', dead_letter_queue => 'dq_dead', max_receive_count => 1000);
SELECT sqsn.sq_get_queue_attributes('dq_max')->'RedrivePolicy' AS redrive_policy;

-- queue_cannot_be_its_own_dlq
SELECT pg_temp.err($$SELECT sqsn.sq_set_queue_attributes('dq_max',
	'{"RedrivePolicy": {"deadLetterQueue": "dq_max", "maxReceiveCount": 3}}')$$);
SELECT sqsn.sq_get_queue_attributes('dq_max')->'RedrivePolicy' AS redrive_policy;
SELECT pg_temp.err($$SELECT sqsn.sq_create_queue('dq_self', dead_letter_queue => 'dq_self', max_receive_count => 3)$$) <> 'ok' AS self_rejected;
SELECT count(*) AS created FROM sqsn.sq_list_queues('dq_self');

-- queue_used_as_dlq_cannot_be_deleted
SELECT pg_temp.err($$SELECT sqsn.sq_delete_queue('dq_dead')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_delete_queue('dq_last')$$);
SELECT count(*) AS still_there FROM sqsn.sq_list_queues('dq_dead');
SELECT sqsn.sq_get_queue_attributes('dq_src')->'RedrivePolicy' AS redrive_policy;

-- dlq_can_be_deleted_once_no_queue_uses_it
SELECT sqsn.sq_delete_queue('dq_src');
SELECT sqsn.sq_delete_queue('dq_once');
SELECT sqsn.sq_set_queue_attributes('dq_max', '{"RedrivePolicy": null}');
SELECT sqsn.sq_get_queue_attributes('dq_max') ? 'RedrivePolicy' AS has_redrive_policy;
SELECT sqsn.sq_delete_queue('dq_dead');
SELECT count(*) AS left FROM sqsn.sq_list_queues('dq_dead');

-- removing_redrive_policy_stops_moving
SELECT sqsn.sq_send('dq_max', 'no more dlq') IS NOT NULL AS sent;
SELECT count(*) AS received FROM sqsn.sq_receive('dq_max', 1, 0);
SELECT count(*) AS received FROM sqsn.sq_receive('dq_max', 1, 0);
SELECT body, receive_count FROM sqsn.sq_receive('dq_max', 1, 0);

-- redrive_policy_can_be_set_later_and_applies_to_queued_messages
SELECT sqsn.sq_create_queue('dq_dead2');
SELECT sqsn.sq_set_queue_attributes('dq_max',
	'{"RedrivePolicy": {"deadLetterQueue": "dq_dead2", "maxReceiveCount": 3}}');
SELECT sqsn.sq_get_queue_attributes('dq_max')->'RedrivePolicy' AS redrive_policy;
SELECT count(*) AS received FROM sqsn.sq_receive('dq_max', 1, 0);
SELECT pg_temp.counts('dq_max');
SELECT pg_temp.counts('dq_dead2');

-- dead_letter_source_queues_are_the_queues_redriving_into_it
SELECT sqsn.sq_create_queue('dq_src_b', dead_letter_queue => 'dq_dead2', max_receive_count => 5);
SELECT sqsn.sq_create_queue('dq_src_a', dead_letter_queue => 'dq_dead2', max_receive_count => 5);
SELECT * FROM sqsn.sq_list_dead_letter_source_queues('dq_dead2');
SELECT count(*) AS sources FROM sqsn.sq_list_dead_letter_source_queues('dq_src_a');
SELECT sqsn.sq_set_queue_attributes('dq_src_b', '{"RedrivePolicy": null}');
SELECT * FROM sqsn.sq_list_dead_letter_source_queues('dq_dead2');
SELECT pg_temp.err($$SELECT sqsn.sq_list_dead_letter_source_queues('dq_nosuch')$$) AS unknown_queue;
SELECT pg_temp.err($$SELECT sqsn.sq_list_dead_letter_source_queues(NULL)$$) AS null_queue;
SELECT sqsn.sq_delete_queue('dq_src_a');
SELECT sqsn.sq_delete_queue('dq_src_b');

-- queues_can_be_deleted_in_dependency_order_in_one_statement
SELECT sqsn.sq_delete_queue(q)
FROM unnest(ARRAY['dq_first', 'dq_mid', 'dq_last']) WITH ORDINALITY AS u(q, ord)
ORDER BY ord;
SELECT count(*) AS left FROM sqsn.sq_list_queues() AS q WHERE q IN ('dq_first', 'dq_mid', 'dq_last');

-- clean up
-- (one statement each, whether or not the test above deleted them)
SELECT pg_temp.err($$SELECT sqsn.sq_delete_queue('dq_first')$$) IS NOT NULL AS done;
SELECT pg_temp.err($$SELECT sqsn.sq_delete_queue('dq_mid')$$) IS NOT NULL AS done;
SELECT pg_temp.err($$SELECT sqsn.sq_delete_queue('dq_last')$$) IS NOT NULL AS done;
SELECT sqsn.sq_delete_queue('dq_max');
SELECT sqsn.sq_delete_queue('dq_dead2');
SELECT count(*) AS left_over FROM sqsn.sq_list_queues('dq_');
