# The maintenance worker's rounds touch only the queues with something due
# (queue/due.c): with 300 queues of which a few hold messages, a round
# sweeps only those, a message expires on time, a new redrive policy moves
# its queue's messages over the limit, and nothing due is missed across an
# immediate shutdown (the map lives in shared memory; the worker's first
# round after a start looks at every queue).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('sqsn_due');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.poll_interval = '200ms'
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

sub poll
{
	my ($sql, $expected, $what) = @_;
	ok($node->poll_query_until('postgres', $sql, $expected), $what);
}

query('CREATE EXTENSION sqsn');
query(q{
	SELECT count(sqsn.sq_create_queue('idle_' || i)) FROM generate_series(1, 300) i;
	SELECT sqsn.sq_create_queue('busy_dlq');
	SELECT sqsn.sq_create_queue('busy_ret', message_retention_period => 60);
	SELECT sqsn.sq_create_queue('busy_src');
});

# the first rounds: one over every queue (the worker has just started),
# then nothing due
poll(q{SELECT full_rounds >= 1 AND queues_swept_last_round = 0 FROM sqsn.worker_status},
	't', 'after the full round of its start, a round sweeps no queue');
is(query(q{SELECT queues_tracked FROM sqsn.worker_status}), '0',
	'no queue has anything due: the map tracks none');
my $full_rounds = query(q{SELECT full_rounds FROM sqsn.worker_status});

# idle_queues_cost_no_round: many rounds later, still nothing swept
my $rounds_seen = 0;
for (1 .. 10)
{
	$rounds_seen++ if query(q{SELECT queues_swept_last_round FROM sqsn.worker_status}) eq '0';
	sleep(0.2);
}
is($rounds_seen, 10, '300 idle queues: every round sweeps none of them');

# a_sent_message_is_tracked_until_it_is_due
my $sent_at = time();
query(q{SELECT sqsn.sq_send('busy_ret', 'expires in a minute')});
poll(q{SELECT queues_tracked FROM sqsn.worker_status}, '1',
	'a queue with a message is tracked');
cmp_ok(query(q{SELECT queues_swept_last_round FROM sqsn.worker_status}), '==', 0,
	'but not swept before its message is due');

# a_new_redrive_policy_makes_its_queue_due_at_once
query(q{
	SELECT sqsn.sq_send('busy_src', 'received twice');
	SELECT count(*) FROM sqsn.sq_receive('busy_src', 1, 0);
	SELECT count(*) FROM sqsn.sq_receive('busy_src', 1, 0);
	SELECT sqsn.sq_set_queue_attributes('busy_src',
		'{"RedrivePolicy": {"deadLetterQueue": "busy_dlq", "maxReceiveCount": 1}}');
});
poll(q{SELECT count(*) FROM sqsn.sq_receive('busy_dlq', 10, 0)}, '1',
	'the worker moved the message over the new limit to the dead-letter queue');
is(query(q{SELECT full_rounds FROM sqsn.worker_status}), $full_rounds,
	'without a round over every queue');

# nothing_due_is_missed_across_an_immediate_shutdown
$node->stop('immediate');
$node->start;
poll("SELECT full_rounds >= 1 FROM sqsn.worker_status", 't',
	'after the restart the worker looks at every queue once');
poll(q{SELECT queues_tracked FROM sqsn.worker_status}, '2',
	'and tracks the queues with messages again (busy_ret, busy_dlq)');
my $ret_id = query(q{SELECT queue_id FROM sqsn.queue WHERE queue_name = 'busy_ret'});
poll("SELECT count(*) FROM sqsn.q_$ret_id", '0',
	'the worker deleted the message after its retention period');
my $expired_after = time() - $sent_at;
cmp_ok($expired_after, '>=', 59, "not before its 60 s ($expired_after s)");
cmp_ok($expired_after, '<', 60 + 5, "and soon after ($expired_after s)");
is(query(q{SELECT messages_expired FROM sqsn.worker_status}), '1',
	'the worker counted it');

$node->stop;
done_testing();
