# Replays of a FIFO topic's archive run by the maintenance worker: a
# ReplayPolicy set on a subscription is replayed in small batches, the
# worker is killed (kill -9, the postmaster's crash restart) twice in the
# middle of it, and the replay goes on after each restart and completes:
# the queue ends with exactly one replayed copy of every archived message
# of the window -- none lost, none doubled -- marked "Replayed", in
# sequence order within each message group, and a message published after
# the policy was set arrives once, live. The worker also deletes archived
# messages past the topic's retention.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_topic_replay');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
sqsn.poll_interval = 100ms
sqsn.retention_batch_size = 20
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

my $n = 2000;
my $groups = 10;

query(q{CREATE EXTENSION sqsn});
query(q{
	SELECT sqsn.sn_create_topic('orders.fifo');
	SELECT sqsn.sn_set_topic_attributes('orders.fifo',
		'{"ArchivePolicy": {"MessageRetentionPeriod": "30"}}');
	SELECT sqsn.sq_create_queue('replay.fifo');
	CREATE TABLE sub AS SELECT sqsn.sn_subscribe('orders.fifo', 'sqs', 'replay.fifo') AS id;
});
query(qq{
	SELECT count(sqsn.sn_publish('orders.fifo', 'm' || g,
		message_group_id => 'g' || (g % $groups), message_deduplication_id => 'd' || g))
	FROM generate_series(1, $n) g});
is(query(q{SELECT count(*) FROM sqsn.topic_archive}), $n, "all $n publishes archived");

# the live copies are gone: what the queue holds from now on is replayed
query(q{SELECT sqsn.sq_purge_queue('replay.fifo')});

query(q{
	SELECT sqsn.sn_set_subscription_attributes(id, jsonb_build_object('ReplayPolicy',
		jsonb_build_object('PointType', 'Timestamp', 'StartingPoint',
			sqsn.sn_get_topic_attributes('orders.fifo') ->> 'BeginningArchiveTime')))
	FROM sub});
query(q{SELECT sqsn.sn_publish('orders.fifo', 'live', message_group_id => 'g0',
	message_deduplication_id => 'live')});

my $status = q{SELECT a ->> 'ReplayStatus' FROM sub, sqsn.sn_get_subscription_attributes(id) a};

# --- kill -9 of the worker in the middle of the replay, twice -------------

for my $round (1, 2)
{
	ok($node->poll_query_until('postgres', qq{
		SELECT status = 'In progress' AND messages_replayed > $round * $n / 5
		FROM sqsn.subscription_replay}),
		"replay $round/5 of the way in progress");
	my $pid = query(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn worker'});
	my $done = query(q{SELECT messages_replayed FROM sqsn.subscription_replay});
	kill 'KILL', $pid;
	note("killed the worker ($pid) after $done replayed messages");
	ok($node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		WHERE backend_type = 'sqsn worker' AND pid <> $pid}),
		"the worker runs again after kill -9 number $round");
}

ok($node->poll_query_until('postgres', "SELECT ($status) = 'Completed'", 't'),
	'the replay completes after the crash restarts');
is(query(q{SELECT messages_replayed FROM sqsn.subscription_replay}), $n,
	'the replay counted every archived message once');

# --- what the queue holds ------------------------------------------------

# receive and delete everything, keeping what arrived in order
query(q{
	CREATE TABLE got (n serial, body jsonb, group_id text, queue_seq text, dedup text);
	DO $$
	DECLARE
		r record;
		k int;
	BEGIN
		LOOP
			k := 0;
			FOR r IN SELECT * FROM sqsn.sq_receive('replay.fifo', 10, 60) LOOP
				INSERT INTO got (body, group_id, queue_seq, dedup)
				VALUES (r.body::jsonb, r.message_group_id, r.sequence_number,
					r.message_deduplication_id);
				PERFORM sqsn.sq_delete('replay.fifo', r.receipt_handle);
				k := k + 1;
			END LOOP;
			EXIT WHEN k = 0;
		END LOOP;
	END $$;
});

is(query(q{SELECT count(*) FROM got WHERE body ->> 'Message' <> 'live'}), $n,
	"$n replayed copies in the queue");
is(query(q{
	SELECT count(DISTINCT (body ->> 'MessageId')) FROM got
	WHERE body ->> 'Message' <> 'live'}), $n, 'each archived message exactly once');
is(query(q{
	SELECT count(*) FROM sqsn.topic_archive a
	WHERE NOT EXISTS (SELECT FROM got g WHERE (g.body ->> 'MessageId')::uuid = a.message_id
		AND g.body ->> 'Message' = a.message)
	AND a.message <> 'live'}), 0, 'no archived message lost');
is(query(q{SELECT count(*) FROM got WHERE body ->> 'Message' = 'live'}), 1,
	'the message published after the policy arrived once');
is(query(q{SELECT bool_and((body -> 'Replayed')::boolean) FROM got WHERE body ->> 'Message' <> 'live'}),
	't', 'every replayed copy says Replayed');
is(query(q{SELECT count(*) FROM got WHERE body ? 'Replayed' AND body ->> 'Message' = 'live'}),
	0, 'the live copy is not marked replayed');
is(query(q{SELECT count(DISTINCT dedup) FROM got}), $n + 1,
	'every copy has a deduplication id of its own');
# within each group, the copies are in the queue in sequence order
is(query(q{
	SELECT count(*) FROM (
		SELECT body ->> 'SequenceNumber' AS s,
			lag(body ->> 'SequenceNumber') OVER (PARTITION BY group_id ORDER BY queue_seq) AS prev
		FROM got WHERE body ->> 'Message' <> 'live') x
	WHERE s <= prev}), 0, 'replayed in sequence order within every group');

# --- retention: the worker deletes what is past it ------------------------

query(q{
	UPDATE sqsn.topic_archive SET published_at = published_at - interval '31 days'
	WHERE message IN (SELECT 'm' || g FROM generate_series(1, 100) g)});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM sqsn.topic_archive WHERE published_at < now() - interval '30 days'}),
	'the worker deletes archived messages past the retention');
is(query(q{SELECT count(*) FROM sqsn.topic_archive}), $n + 1 - 100,
	'and keeps the others');

$node->stop;
done_testing();
