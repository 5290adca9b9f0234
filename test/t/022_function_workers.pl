# Function consumers run by the function workers: FIFO group order with 4
# concurrent workers and 50 groups; a mapping's maximum_concurrency; the
# batching window; a
# poison message dead-lettered after maxReceiveCount; a timed-out
# invocation retried; reported item failures retried alone; a revoked
# right pausing a mapping (reason recorded) and the grant resuming it; a
# function subscription invoked with the notification event, and a failing
# one retried twice, then dead-lettered (without retries when
# MaximumRetryAttempts is 0); raw message delivery; group commit.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_function_workers');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.max_function_workers = 4
max_worker_processes = 16
sqsn.poll_interval = '200ms'
sqsn.function_retry_delay = '1s'
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

sub poll
{
	my ($sql, $expected, $what) = @_;
	ok($node->poll_query_until('postgres', $sql, $expected), $what)
	  or diag(query(q{SELECT consumer, function_name, outcome, error FROM sqsn.function_invocations LIMIT 10}));
}

query(q{CREATE EXTENSION sqsn});
query(q{
	CREATE TABLE log (id bigserial PRIMARY KEY, message_id uuid NOT NULL UNIQUE,
		body text, group_id text, receive_count int, pid int,
		others_in_function int);
	CREATE FUNCTION record(r jsonb, others int DEFAULT NULL) RETURNS void
	LANGUAGE sql AS $$
		INSERT INTO log (message_id, body, group_id, receive_count, pid, others_in_function)
		VALUES ((r->>'messageId')::uuid, r->>'body', r->'attributes'->>'MessageGroupId',
			(r->'attributes'->>'ApproximateReceiveCount')::int, pg_backend_pid(), others) $$;
});

# --- FIFO: 4 workers, 50 groups, order kept within each group -----------------

query(q{
	CREATE FUNCTION fifo_handler(event jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		r jsonb;
	BEGIN
		FOR r IN SELECT * FROM jsonb_array_elements(event->'Records') LOOP
			PERFORM record(r);
		END LOOP;
		PERFORM pg_sleep(random() * 0.02);
	END $$;
	SELECT sqsn.sq_create_queue('orders.fifo');
});
my $fifo_mapping = query(q{
	SELECT sqsn.sq_create_event_source_mapping('orders.fifo', 'fifo_handler(jsonb)',
		batch_size => 10, maximum_concurrency => 4, enabled => false)});
# interleaved: message i of every group, then message i + 1
query(q{
	SELECT count(sqsn.sq_send('orders.fifo', 'g' || g || ':' || i,
		message_group_id => 'g' || g, message_deduplication_id => g || ':' || i))
	FROM generate_series(1, 8) i, generate_series(1, 50) g});
query(qq{SELECT sqsn.sq_update_event_source_mapping('$fifo_mapping', enabled => true)});
poll(q{SELECT count(*) FROM log WHERE group_id IS NOT NULL}, '400', 'all 400 FIFO messages processed');
is(query(q{
	SELECT count(*) FROM (
		SELECT group_id, array_agg(split_part(body, ':', 2)::int ORDER BY id) AS seq
		FROM log WHERE group_id IS NOT NULL GROUP BY group_id) g
	WHERE seq <> ARRAY[1, 2, 3, 4, 5, 6, 7, 8]}),
	'0', 'each of the 50 groups processed in send order, each message once');
my $fifo_pids = query(q{SELECT count(DISTINCT pid) FROM log WHERE group_id IS NOT NULL});
cmp_ok($fifo_pids, '>=', 2, "the groups were spread over several function workers ($fifo_pids)");
cmp_ok($fifo_pids, '<=', 4, 'no more workers than sqsn.max_function_workers');
query(qq{SELECT sqsn.sq_delete_event_source_mapping('$fifo_mapping')});

# --- maximum_concurrency ------------------------------------------------------

# each batch notes how many other invocations sleep in this function when
# it starts; with maximum_concurrency 2 that is never more than 1
query(q{
	CREATE FUNCTION slow_handler(event jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		r jsonb;
		others int;
	BEGIN
		SELECT count(*) INTO others FROM pg_stat_activity
		WHERE backend_type = 'sqsn function worker' AND wait_event = 'PgSleep';
		FOR r IN SELECT * FROM jsonb_array_elements(event->'Records') LOOP
			PERFORM record(r, others);
		END LOOP;
		PERFORM pg_sleep(0.3);
	END $$;
	SELECT sqsn.sq_create_queue('slow');
	SELECT count(sqsn.sq_send('slow', 's' || g)) FROM generate_series(1, 40) g;
	SELECT sqsn.sq_create_event_source_mapping('slow', 'slow_handler(jsonb)',
		batch_size => 2, maximum_concurrency => 2);
});
poll(q{SELECT count(*) FROM log WHERE body LIKE 's%'}, '40', 'all 40 messages of the slow queue processed');
is(query(q{SELECT max(others_in_function) FROM log WHERE body LIKE 's%'}),
	'1', 'two batches of the mapping ran at once, never three');

# --- the batching window waits for a fuller batch ----------------------------

query(q{
	SELECT sqsn.sq_create_queue('trickle');
	SELECT sqsn.sq_create_event_source_mapping('trickle', 'fifo_handler(jsonb)',
		batch_size => 5, maximum_batching_window_seconds => 4);
	SELECT sqsn.sq_send('trickle', 'w1');
});
sleep(1);
is(query(q{SELECT count(*) FROM log WHERE body LIKE 'w_'}), '0',
	'a batch that is not full waits within the batching window');
query(q{SELECT sqsn.sq_send_batch('trickle', ARRAY['w2', 'w3', 'w4', 'w5'])});
poll(q{SELECT count(*) FROM log WHERE body LIKE 'w_'}, '5', 'the full batch is invoked');
is(query(q{SELECT string_agg(batch_size::text, ',') FROM sqsn.function_invocations WHERE source = 'trickle'}),
	'5', 'in one invocation of 5 messages');

# --- a poison message reaches the dead-letter queue ---------------------------

query(q{
	CREATE FUNCTION picky_handler(event jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		r jsonb;
	BEGIN
		FOR r IN SELECT * FROM jsonb_array_elements(event->'Records') LOOP
			PERFORM record(r);
			IF r->>'body' = 'poison' THEN
				RAISE EXCEPTION 'cannot digest %', r->>'messageId';
			END IF;
		END LOOP;
	END $$;
	SELECT sqsn.sq_create_queue('poison_dlq');
	SELECT sqsn.sq_create_queue('meals', visibility_timeout => 1,
		dead_letter_queue => 'poison_dlq', max_receive_count => 2);
	SELECT sqsn.sq_create_event_source_mapping('meals', 'picky_handler(jsonb)', batch_size => 1);
	SELECT count(sqsn.sq_send('meals', b)) FROM unnest(ARRAY['soup', 'poison', 'bread']) b;
});
poll(q{SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'poison_dlq'}, '1',
	'the poison message reached the dead-letter queue');
is(query(q{SELECT string_agg(body, ',' ORDER BY body) FROM log WHERE body IN ('soup', 'bread', 'poison')}),
	'bread,soup', 'the good messages were processed, the poison one left no effect');
is(query(q{SELECT body FROM sqsn.sq_receive('poison_dlq')}), 'poison', 'the dead letter is the poison message');
poll(q{SELECT visible + in_flight FROM sqsn.queue_stats WHERE queue_name = 'meals'}, '0',
	'the source queue is empty');
is(query(q{SELECT count(*) FROM sqsn.function_invocations WHERE function_name = 'public.picky_handler(jsonb)' AND outcome = 'failed'}),
	'2', 'the poison message failed twice (maxReceiveCount 2)');

# --- a timed-out invocation is retried ----------------------------------------

query(q{
	CREATE FUNCTION sleepy_handler(event jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		r jsonb;
	BEGIN
		FOR r IN SELECT * FROM jsonb_array_elements(event->'Records') LOOP
			PERFORM record(r);
			IF (r->'attributes'->>'ApproximateReceiveCount')::int = 1 THEN
				PERFORM pg_sleep(5);
			END IF;
		END LOOP;
	END $$;
	SELECT sqsn.sq_create_queue('sleepy', visibility_timeout => 2);
	SELECT sqsn.sq_create_event_source_mapping('sleepy', 'sleepy_handler(jsonb)', timeout_seconds => 1);
	SELECT sqsn.sq_send('sleepy', 'nap');
});
poll(q{SELECT receive_count FROM log WHERE body = 'nap'}, '2',
	'the message whose first invocation timed out was processed by the retry');
is(query(q{SELECT string_agg(outcome, ',' ORDER BY started_at) FROM sqsn.function_invocations WHERE function_name = 'public.sleepy_handler(jsonb)'}),
	'timed out,succeeded', 'first invocation timed out, the second succeeded');

# --- reported item failures: only those are retried ---------------------------

query(q{
	CREATE FUNCTION partial_handler(event jsonb) RETURNS jsonb
	LANGUAGE plpgsql AS $$
	DECLARE
		r jsonb;
		failures jsonb := '[]';
	BEGIN
		FOR r IN SELECT * FROM jsonb_array_elements(event->'Records') LOOP
			IF r->>'body' LIKE 'flaky%'
				AND (r->'attributes'->>'ApproximateReceiveCount')::int = 1 THEN
				failures := failures || jsonb_build_object('itemIdentifier', r->>'messageId');
			ELSE
				PERFORM record(r);
			END IF;
		END LOOP;
		RETURN jsonb_build_object('batchItemFailures', failures);
	END $$;
	SELECT sqsn.sq_create_queue('mixed', visibility_timeout => 1);
	SELECT sqsn.sq_send_batch('mixed', ARRAY['steady1', 'flaky1', 'steady2', 'flaky2']);
	SELECT sqsn.sq_create_event_source_mapping('mixed', 'partial_handler(jsonb)',
		report_batch_item_failures => true);
});
poll(q{SELECT count(*) FROM log WHERE body ~ '^(steady|flaky)'}, '4', 'every message of the mixed batch processed');
is(query(q{SELECT string_agg(body || '=' || receive_count, ',' ORDER BY body) FROM log WHERE body ~ '^(steady|flaky)'}),
	'flaky1=2,flaky2=2,steady1=1,steady2=1', 'only the reported failures were received again');

# --- revoking a right pauses the mapping, granting it resumes it --------------

query(q{
	CREATE ROLE fn_owner IN ROLE sqsn_producer, sqsn_consumer;
	GRANT EXECUTE ON FUNCTION fifo_handler(jsonb) TO fn_owner;
	GRANT ALL ON log, log_id_seq TO fn_owner;
	SELECT sqsn.sq_create_queue('owned');
	SELECT sqsn.sq_grant('owned', 'fn_owner', '{send,receive}');
});
my $owned = query(q{
	SET ROLE fn_owner;
	SELECT sqsn.sq_create_event_source_mapping('owned', 'fifo_handler(jsonb)')});
query(q{SELECT sqsn.sq_send('owned', 'first')});
poll(q{SELECT count(*) FROM log WHERE body = 'first'}, '1', 'the owner\'s mapping runs');
query(q{SELECT sqsn.sq_revoke('owned', 'fn_owner', '{receive}')});
query(q{SELECT sqsn.sq_send('owned', 'second')});
poll(qq{SELECT state || ': ' || state_reason FROM sqsn.sq_list_event_source_mappings('owned')},
	'paused: role "fn_owner" may not receive from queue "owned"', 'the revoke paused the mapping, with the reason');
is(query(q{SELECT count(*) FROM log WHERE body = 'second'}), '0', 'a paused mapping invokes nothing');
query(q{SELECT sqsn.sq_grant('owned', 'fn_owner', '{receive}')});
poll(q{SELECT count(*) FROM log WHERE body = 'second'}, '1', 'the grant resumed the mapping');
is(query(q{SELECT state FROM sqsn.sq_list_event_source_mappings('owned')}), 'enabled', 'the mapping is enabled again');

# --- function subscriptions ---------------------------------------------------

query(q{
	CREATE TABLE events (e jsonb);
	CREATE FUNCTION keep_event(event jsonb) RETURNS void
	LANGUAGE sql AS $$ INSERT INTO events VALUES (event) $$;
	CREATE FUNCTION always_fails(event jsonb) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN INSERT INTO events VALUES (event); RAISE EXCEPTION 'down'; END $$;
	SELECT sqsn.sn_create_topic('news');
	SELECT sqsn.sq_create_queue('news_dlq');
	SELECT sqsn.sn_subscribe('news', 'lambda', 'public.keep_event(jsonb)');
	SELECT sqsn.sn_subscribe('news', 'function', 'public.always_fails(jsonb)',
		redrive_policy => '{"deadLetterTargetArn": "news_dlq"}');
	SELECT sqsn.sn_publish('news', 'hello', subject => 'greeting');
});
poll(q{SELECT count(*) FROM events}, '1', 'the function subscription was invoked');
is(query(q{
	SELECT concat_ws('|', e->'Records'->0->>'EventSource', e->'Records'->0->'Sns'->>'Type',
		e->'Records'->0->'Sns'->>'Message', e->'Records'->0->'Sns'->>'Subject',
		e->'Records'->0->'Sns'->>'TopicArn' LIKE '%:news')
	FROM events}),
	'aws:sns|Notification|hello|greeting|t', 'with the notification event of the managed service');
poll(q{SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'news_dlq'}, '1',
	'the failing subscription\'s message reached its dead-letter queue');
is(query(q{SELECT count(*) FROM sqsn.function_invocations WHERE function_name = 'public.always_fails(jsonb)' AND outcome = 'failed'}),
	'3', 'the failing function was invoked three times (two retries)');
is(query(q{SELECT count(*) FROM events}), '1', 'the failed invocations left no effect');

# MaximumRetryAttempts 0: one invocation, then the dead-letter queue; raw
# message delivery hands the function the message itself
query(q{
	SELECT sqsn.sn_create_topic('alerts');
	SELECT sqsn.sq_create_queue('alerts_dlq');
	SELECT sqsn.sn_subscribe('alerts', 'function', 'public.always_fails(jsonb)',
		delivery_policy => '{"MaximumRetryAttempts": 0}',
		redrive_policy => '{"deadLetterTargetArn": "alerts_dlq"}');
	SELECT sqsn.sn_subscribe('alerts', 'function', 'public.keep_event(jsonb)',
		raw_message_delivery => true);
	SELECT sqsn.sn_publish('alerts', '{"level": "high"}');
});
poll(q{SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'alerts_dlq'}, '1',
	'with MaximumRetryAttempts 0 the message is dead-lettered');
is(query(q{SELECT count(*) FROM sqsn.function_invocations i JOIN sqsn.subscription s ON s.subscription_id = i.consumer_id
	JOIN sqsn.topic t USING (topic_id) WHERE t.topic_name = 'alerts' AND i.outcome = 'failed'}),
	'1', 'after one invocation, without retries');
poll(q{SELECT count(*) FROM events WHERE e ? 'level'}, '1', 'the raw subscription was invoked');
is(query(q{SELECT e->>'level' FROM events WHERE e ? 'level'}), 'high',
	'with the message itself as the event (raw message delivery)');

# --- group commit: full batches share a transaction, each keeps its own ------
# subtransaction; with sqsn.function_group_commit 0 every batch commits alone

query(q{
	CREATE TABLE grouped (body text PRIMARY KEY, xid xid8, pid int);
	CREATE FUNCTION note_xact(event jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO grouped SELECT r->>'body', pg_current_xact_id(), pg_backend_pid()
			FROM jsonb_array_elements(event->'Records') r;
		IF event->'Records'->0->>'body' = 'g13' THEN
			RAISE EXCEPTION 'refused';
		END IF;
	END $$;
	ALTER SYSTEM SET sqsn.function_group_commit = '1s';
	SELECT pg_reload_conf();
});
sleep(1);
query(q{
	SELECT sqsn.sq_create_queue('grouped', visibility_timeout => 3600);
	SELECT count(sqsn.sq_send('grouped', 'g' || i)) FROM generate_series(1, 40) i;
	SELECT sqsn.sq_create_event_source_mapping('grouped', 'note_xact(jsonb)', batch_size => 1);
});
poll(q{SELECT count(*) FROM grouped}, '39', 'every batch but the failing one was processed');
my ($xacts, $workers) = split /\|/, query(q{SELECT count(DISTINCT xid), count(DISTINCT pid) FROM grouped});
cmp_ok($xacts, '<', 39 / $workers,
	"the 39 batches committed in $xacts transactions of $workers workers: full batches were grouped");
is(query(q{SELECT in_flight FROM sqsn.queue_stats WHERE queue_name = 'grouped'}), '1',
	'the failing batch of a group was rolled back alone: its message is leased');
query(q{
	ALTER SYSTEM SET sqsn.function_group_commit = 0;
	SELECT pg_reload_conf();
});
sleep(1);
query(q{
	TRUNCATE grouped;
	SELECT count(sqsn.sq_send('grouped', 'h' || i)) FROM generate_series(1, 20) i;
});
poll(q{SELECT count(*) FROM grouped}, '20', 'with group commit off every message was processed');
is(query(q{SELECT count(DISTINCT xid) FROM grouped}), '20', 'with group commit off each batch had its own transaction');

$node->stop;
done_testing();
