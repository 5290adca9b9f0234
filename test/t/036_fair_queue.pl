# Fair queues through the maintenance worker: the first message with a
# group id sent to a standard queue asks for the index fair receives walk,
# and the worker makes it (a queue without group ids never gets one); then
# a group with a backlog no longer holds the others back, also across a
# restart.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_fair_queue');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.poll_interval = '200ms'
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

my $group_index = q{
	SELECT count(*) FROM pg_indexes
	WHERE schemaname = 'sqsn' AND indexdef LIKE '%(message_group_id, msg_seq) WHERE%'
	  AND tablename = (SELECT 'q_' || queue_id FROM sqsn.queue WHERE queue_name = '%s')};

query(q{
	CREATE EXTENSION sqsn;
	SELECT sqsn.sq_create_queue('tenants');
	SELECT sqsn.sq_create_queue('plain');
	SELECT count(sqsn.sq_send('plain', 'p' || i)) FROM generate_series(1, 5) i;
	SELECT count(sqsn.sq_send('tenants', 'big' || i, message_group_id => 'big'))
	FROM generate_series(1, 500) i;
	SELECT count(sqsn.sq_send('tenants', g || i, message_group_id => g))
	FROM generate_series(1, 2) i, unnest(ARRAY['t1', 't2', 't3']) g;
});
ok($node->poll_query_until('postgres', sprintf($group_index, 'tenants'), '1'),
	'the worker made the group index the first grouped send asked for');
is(query(sprintf($group_index, 'plain')), '0',
	'a queue without group ids has no group index');

# another session, which never sent to the queue, receives fairly
my $received = query(q{
	SELECT count(DISTINCT message_group_id) FILTER (WHERE message_group_id <> 'big')
		|| ' ' || count(*) FILTER (WHERE message_group_id = 'big')
	FROM sqsn.sq_receive('tenants', 7, 300)});
is($received, '3 3',
	'one batch of 7 took a message of each small group, not 7 of the backlog');

# after an immediate shutdown the index is there, and receives are fair
# in a new session at once
$node->stop('immediate');
$node->start;
is(query(sprintf($group_index, 'tenants')), '1', 'the group index survives a crash');
is(query(q{
	SELECT count(*) FROM sqsn.sq_receive('tenants', 10, 300)
	WHERE message_group_id IN ('t1', 't2', 't3')}),
	'2', 'after the restart the small groups\' other two messages come at once');
is(query(q{
	SELECT count(*) FROM sqsn.sq_receive('tenants', 10, 300)}),
	'10', 'the backlog is still received');
is(query(q{
	SELECT (a ->> 'ApproximateNumberOfMessages')::int
		+ (a ->> 'ApproximateNumberOfMessagesNotVisible')::int
	FROM sqsn.sq_get_queue_attributes('tenants') a}),
	'506', 'nothing lost: every message sent is still in the queue');

$node->stop;
done_testing();
