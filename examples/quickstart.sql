-- sqsn quickstart: a work queue with a dead-letter queue, a topic fanning
-- out to two queues, and a FIFO queue.
--
-- Run it with psql in a database where the extension is installed:
--   CREATE EXTENSION sqsn;
--   \i examples/quickstart.sql
-- (`make demo` does exactly that in a fresh database called sqsn_demo.)

\echo
\echo '== 1. Create a queue and its dead-letter queue (DLQ)'
-- A message that is received 3 times without being deleted moves to the
-- DLQ instead of being delivered again.
SELECT sqsn.sq_create_queue('orders-dlq');
SELECT sqsn.sq_create_queue('orders',
                            visibility_timeout => 30,
                            dead_letter_queue  => 'orders-dlq',
                            max_receive_count  => 3);
SELECT * FROM sqsn.sq_list_queues();

\echo
\echo '== 2. Send messages'
-- The body is any text; sq_send returns the new message id.
SELECT sqsn.sq_send('orders', '{"order_id": 1, "item": "book"}');
-- Attributes travel beside the body: the simple form {"name": value} or the
-- typed form of the managed service, {"name": {"DataType": ..., "StringValue": ...}}.
SELECT sqsn.sq_send('orders', '{"order_id": 2, "item": "lamp"}',
                    message_attributes => '{"priority": {"DataType": "Number", "StringValue": "5"},
                                            "customer": "ada"}');
-- Several messages in one call.
SELECT * FROM sqsn.sq_send_batch('orders', ARRAY['{"order_id": 3}', '{"order_id": 4}']);
-- A send is part of your transaction: rolled back, the message never existed.
BEGIN;
SELECT sqsn.sq_send('orders', 'this one is rolled back');
ROLLBACK;
SELECT queue_name, visible, in_flight, delayed FROM sqsn.queue_stats ORDER BY queue_name;

\echo
\echo '== 3. Receive one message and delete it with its receipt handle'
-- Receiving hides the message for the visibility timeout (30 s here); it
-- stays in the queue until the consumer deletes it. \gset keeps the columns
-- in psql variables.
SELECT message_id, receipt_handle, body, message_attributes, receive_count
  FROM sqsn.sq_receive('orders', 1) \gset
\echo received message :message_id with body :body
-- ... process the message, then delete it; true means it was ours to delete.
SELECT sqsn.sq_delete('orders', :'receipt_handle') AS deleted;

\echo
\echo '== 4. Receive up to 10 messages at once'
-- The rest are now in flight: invisible to other consumers for 30 s.
SELECT body, message_attributes, receive_count
  FROM sqsn.sq_receive('orders', 10)
 ORDER BY body;
SELECT queue_name, visible, in_flight, delayed FROM sqsn.queue_stats ORDER BY queue_name;

\echo
\echo '== 5. A message that keeps failing ends up in the DLQ'
-- A consumer that never deletes: each receive uses visibility_timeout => 0,
-- so the message is visible again at once, as if processing had failed.
SELECT sqsn.sq_create_queue('jobs-dlq');
SELECT sqsn.sq_create_queue('jobs', dead_letter_queue => 'jobs-dlq',
                            max_receive_count => 2);
SELECT sqsn.sq_send('jobs', 'poison pill');
SELECT body, receive_count FROM sqsn.sq_receive('jobs', visibility_timeout => 0);
SELECT body, receive_count FROM sqsn.sq_receive('jobs', visibility_timeout => 0);
-- The third receive exceeds max_receive_count: the message moves to the DLQ
-- and this receive returns nothing.
SELECT body, receive_count FROM sqsn.sq_receive('jobs', visibility_timeout => 0);
SELECT queue_name, visible, in_flight, delayed FROM sqsn.queue_stats
 WHERE queue_name LIKE 'jobs%' ORDER BY queue_name;
-- The DLQ is an ordinary queue: inspect the message there.
SELECT body FROM sqsn.sq_receive('jobs-dlq');

\echo
\echo '== 6. Queue attributes and statistics'
SELECT jsonb_pretty(sqsn.sq_get_queue_attributes('orders'));
SELECT * FROM sqsn.queue_stats ORDER BY queue_name;

\echo
\echo '== 7. A topic fans a message out to several queues'
-- Every subscribed queue gets its own copy, in the publishing transaction.
SELECT sqsn.sq_create_queue('audit');
SELECT sqsn.sq_create_queue('billing');
SELECT sqsn.sn_create_topic('order-events');
-- audit gets everything as a JSON envelope; billing only paid orders, raw
SELECT sqsn.sn_subscribe('order-events', 'sqs', 'audit') IS NOT NULL AS subscribed;
SELECT sqsn.sn_subscribe('order-events', 'sqs', 'billing',
                         filter_policy => '{"status": ["paid"]}',
                         raw_message_delivery => true) IS NOT NULL AS subscribed;
SELECT sqsn.sn_publish('order-events', 'order 7 paid', '{"status": "paid"}') IS NOT NULL AS published;
SELECT sqsn.sn_publish('order-events', 'order 8 created', '{"status": "new"}') IS NOT NULL AS published;
SELECT body::jsonb ->> 'Message' AS message, body::jsonb ->> 'Type' AS type
  FROM sqsn.sq_receive('audit', 10) ORDER BY 1;
SELECT body, message_attributes FROM sqsn.sq_receive('billing', 10);

\echo
\echo '== 8. A FIFO queue: in order per message group, duplicates dropped'
-- The name ends in .fifo. Each send names a message group; messages of one
-- group are received in send order, by one consumer at a time. With
-- content-based deduplication the same body sent again within 5 minutes is
-- dropped (without it, give message_deduplication_id).
SELECT sqsn.sq_create_queue('payments.fifo', content_based_deduplication => true);
SELECT sqsn.sq_send('payments.fifo', 'account 7: +10', message_group_id => 'account-7') IS NOT NULL AS sent;
SELECT sqsn.sq_send('payments.fifo', 'account 9: +5', message_group_id => 'account-9') IS NOT NULL AS sent;
SELECT sqsn.sq_send('payments.fifo', 'account 7: -3', message_group_id => 'account-7') IS NOT NULL AS sent;
-- the same body again: a duplicate, stored once
SELECT sqsn.sq_send('payments.fifo', 'account 7: -3', message_group_id => 'account-7') IS NOT NULL AS sent;
-- one receive takes account-7's messages in order (and account-9's)
SELECT body, message_group_id, sequence_number
  FROM sqsn.sq_receive('payments.fifo', 10) ORDER BY sequence_number;
-- while they are in flight, their groups give nothing to other consumers
SELECT count(*) AS received FROM sqsn.sq_receive('payments.fifo', 10);
