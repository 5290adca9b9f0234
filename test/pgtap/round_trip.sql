-- A message goes round: send, receive, change visibility, delete, with the
-- counters following, and a batch keeps its order.
BEGIN;
SELECT plan(16);

DO $$ BEGIN PERFORM sqsn.sq_create_queue('tap_trip'); END $$;

SELECT isa_ok(sqsn.sq_send('tap_trip', 'hello', '{"lang": "en", "n": 1}'), 'uuid', 'sq_send result');
SELECT results_eq($$SELECT visible, in_flight, delayed FROM sqsn.queue_stats WHERE queue_name = 'tap_trip'$$,
	$$VALUES (1::bigint, 0::bigint, 0::bigint)$$, 'one visible message after a send');

CREATE TEMP TABLE got AS SELECT * FROM sqsn.sq_receive('tap_trip', 10, 600);
SELECT results_eq($$SELECT body, receive_count, message_attributes FROM got$$,
	$$VALUES ('hello'::text, 1, '{"n": {"DataType": "Number", "StringValue": "1"}, "lang": {"DataType": "String", "StringValue": "en"}}'::jsonb)$$,
	'receive returns the body, a first receive count and typed attributes');
SELECT ok((SELECT first_received_at >= sent_at FROM got), 'first_received_at is not before sent_at');
SELECT results_eq($$SELECT visible, in_flight FROM sqsn.queue_stats WHERE queue_name = 'tap_trip'$$,
	$$VALUES (0::bigint, 1::bigint)$$, 'the received message is in flight');
SELECT is_empty($$SELECT * FROM sqsn.sq_receive('tap_trip', 10, 0)$$, 'an in-flight message is not received again');

SELECT is(sqsn.sq_change_visibility('tap_trip', (SELECT receipt_handle FROM got), 0), true, 'change_visibility to 0 succeeds');
SELECT results_eq($$SELECT message_id, body, receive_count FROM sqsn.sq_receive('tap_trip', 10, 600)$$,
	$$SELECT message_id, body, 2 FROM got$$, 'the message is received again with receive_count 2');
SELECT is(sqsn.sq_delete('tap_trip', (SELECT receipt_handle FROM got)), false, 'the first handle is stale now');
SELECT results_eq($$SELECT visible, in_flight FROM sqsn.queue_stats WHERE queue_name = 'tap_trip'$$,
	$$VALUES (0::bigint, 1::bigint)$$, 'a stale delete removed nothing');
SELECT is(sqsn.sq_purge_queue('tap_trip'), 1::bigint, 'purge removes the one message');

CREATE TEMP TABLE ids AS
	SELECT id, ord FROM sqsn.sq_send_batch('tap_trip', ARRAY['one', 'two', 'three']) WITH ORDINALITY AS s(id, ord);
CREATE TEMP TABLE batch AS SELECT * FROM sqsn.sq_receive('tap_trip', 10, 600);
SELECT results_eq($$SELECT body FROM batch$$, ARRAY['one', 'two', 'three'], 'a batch is received in send order');
SELECT results_eq($$SELECT b.body FROM ids JOIN batch b ON b.message_id = ids.id ORDER BY ids.ord$$,
	ARRAY['one', 'two', 'three'], 'sq_send_batch returns ids in input order');
SELECT results_eq($$SELECT deleted FROM sqsn.sq_delete_batch('tap_trip', ARRAY(SELECT receipt_handle FROM batch))$$,
	ARRAY[true, true, true], 'sq_delete_batch deletes them all');
SELECT results_eq($$SELECT visible, in_flight, delayed FROM sqsn.queue_stats WHERE queue_name = 'tap_trip'$$,
	$$VALUES (0::bigint, 0::bigint, 0::bigint)$$, 'the queue is empty again');
SELECT results_eq($$SELECT * FROM sqsn.sq_list_queues('tap_trip')$$, ARRAY['tap_trip'], 'the queue is listed');

SELECT * FROM finish();
ROLLBACK;
