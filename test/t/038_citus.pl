# sqsn on a Citus cluster of three nodes on loopback (a coordinator and
# two workers; docs/citus.md): each queue's message table is a single-shard
# distributed table on one worker, queues land on both workers, and send,
# receive, delete, dead-letter moves between nodes, FIFO order and a
# topic's fan-out to queues on both workers in one transaction work
# through the coordinator. A worker killed with SIGKILL and restarted keeps
# every committed message, and a queue moved to the other worker with
# citus_move_shard_placement keeps every message.
#
# Skipped when the citus library is not installed in the PostgreSQL under
# test.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);

my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
plan skip_all => 'the citus library is not installed' unless -f "$libdir/citus.so";

my $coordinator = PostgreSQL::Test::Cluster->new('citus_coordinator');
my @workers = map { PostgreSQL::Test::Cluster->new("citus_worker$_") } (1, 2);

for my $node ($coordinator, @workers)
{
	$node->init;
	# every node: Citus creates the extension sqsn on the workers too,
	# and the library defines settings that only a preload may
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus,sqsn'
listen_addresses = '127.0.0.1'
max_prepared_transactions = 20
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
sqsn.poll_interval = '200ms'
restart_after_crash = on
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
}

sub query { return $coordinator->safe_psql('postgres', $_[0]); }

# a_server_with_citus_but_no_nodes_keeps_queues_local: sqsn works as on
# a plain server
query('CREATE EXTENSION sqsn');
query(q{SELECT sqsn.sq_create_queue('early')});
query(q{SELECT sqsn.sq_send('early', 'kept')});
is(query(q{SELECT count(*) FROM citus_tables}), '0',
	'with citus installed but no nodes a queue\'s table stays local');
is(query(q{SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'early'}), '1',
	'and takes messages');

query(sprintf(q{SELECT citus_set_coordinator_host('127.0.0.1', %d)}, $coordinator->port));
query(sprintf(q{SELECT citus_add_node('127.0.0.1', %d)}, $_->port)) for @workers;

# the node (port) holding a queue's messages
sub node_of
{
	my ($queue) = @_;
	return query(qq{
		SELECT s.nodeport FROM citus_shards s JOIN sqsn.queue q
			ON s.table_name OPERATOR(pg_catalog.=) ('sqsn.q_' || q.queue_id)::regclass
		WHERE q.queue_name = '$queue'});
}

# receives every visible message of a queue, deletes each, returns the
# bodies in the order received
sub drain
{
	my ($queue) = @_;
	my @bodies;
	while (1)
	{
		my $got = query(qq{
			SELECT string_agg(body, ',' ORDER BY n) FROM (
				SELECT body, row_number() OVER () AS n,
					sqsn.sq_delete('$queue', receipt_handle) AS deleted
				FROM sqsn.sq_receive('$queue', 10, 60)) r WHERE deleted});
		last if $got eq '';
		push @bodies, split(/,/, $got);
	}
	return @bodies;
}

# queues_spread_over_the_workers
query(q{
	SELECT sqsn.sq_create_queue('q' || i) FROM generate_series(1, 4) i;
	SELECT sqsn.sq_create_queue('dlq');
	SELECT sqsn.sq_create_queue('src', dead_letter_queue => 'dlq', max_receive_count => 1);
	SELECT sqsn.sq_create_queue('order.fifo');
	SELECT sqsn.sq_create_queue('short', message_retention_period => 60);
	SELECT sqsn.sq_send('short', 'expires in a minute');
});
is(query(q{SELECT count(*) FROM citus_tables WHERE table_name::text LIKE 'sqsn.q\_%'}),
	'8', 'every new queue\'s message table is a distributed table');
is(query(q{SELECT count(*) FILTER (WHERE shard_count = 1), count(*) FROM citus_tables
	WHERE table_name::text LIKE 'sqsn.q\_%' AND distribution_column = '<none>'}),
	'8|8', 'each is a single-shard table without a distribution column');
my %ports = map { $_->port => 1 } @workers;
my %used = map { node_of("q$_") => 1 } (1 .. 4);
is_deeply([ sort keys %used ], [ sort keys %ports ], 'four queues are spread over both workers');
is(query(q{SELECT count(*) FROM citus_tables WHERE table_name::text LIKE 'sqsn.%'
	AND table_name::text NOT LIKE 'sqsn.q\_%'}),
	'0', 'sqsn\'s catalogs stay on the coordinator');

# a_worker_node_refuses: sqsn runs on the coordinator
for my $sql (q{SELECT sqsn.sq_create_queue('on_a_worker')}, q{SELECT sqsn.sq_send('q1', 'x')})
{
	my ($stdout, $stderr) = ('', '');
	$workers[0]->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$stdout, stderr => \$stderr);
	like($stderr, qr/0A000: sqsn runs on the coordinator of a Citus cluster/,
		"on a worker node: $sql refuses (0A000)");
}

# send_receive_delete_on_every_node
query(q{SELECT count(sqsn.sq_send('q' || i, 'q' || i || '-' || g))
	FROM generate_series(1, 4) i, generate_series(1, 25) g});
for my $i (1 .. 4)
{
	my @bodies = drain("q$i");
	is(scalar(@bodies), 25, "q$i: 25 messages received and deleted");
	is_deeply(\@bodies, [ map { "q$i-$_" } (1 .. 25) ], "q$i: in send order");
}
is(query(q{SELECT sum(visible + in_flight) FROM sqsn.queue_stats WHERE queue_name LIKE 'q_'}),
	'0', 'nothing left after the deletes');

# a_stale_handle_cannot_delete on a distributed queue
query(q{SELECT sqsn.sq_send('q1', 'lease')});
my $old = query(q{SELECT receipt_handle FROM sqsn.sq_receive('q1', 1, 0)});
my $new = query(q{SELECT receipt_handle FROM sqsn.sq_receive('q1', 1, 60)});
is(query(qq{SELECT sqsn.sq_delete('q1', '$old')}), 'f', 'a handle whose lease was taken over does not delete');
is(query(qq{SELECT sqsn.sq_change_visibility('q1', '$new', 0)}), 't', 'the current handle changes the visibility');
is(join(',', drain('q1')), 'lease', 'and the message is received again');

# batches
is(query(q{SELECT count(*) FROM sqsn.sq_send_batch('q2', ARRAY['b1', 'b2', 'b3'])}), '3',
	'a batch of three is sent');
is(query(q{WITH r AS (SELECT array_agg(receipt_handle) h FROM sqsn.sq_receive('q2', 10, 60))
	SELECT count(*) FILTER (WHERE deleted) FROM r, sqsn.sq_delete_batch('q2', r.h)}), '3',
	'and deleted as a batch');

# dead_letter_move_between_nodes
query(q{SELECT sqsn.sq_send('src', 'poison')});
my $message_id = query(q{SELECT message_id FROM sqsn.sq_receive('src', 1, 0)});
is(query(q{SELECT count(*) FROM sqsn.sq_receive('src', 1, 0)}), '0',
	'the message over its receive limit is not returned');
is(query(q{SELECT message_id || '|' || body FROM sqsn.sq_receive('dlq', 1, 60)}),
	"$message_id|poison", 'it is in the dead-letter queue, same id and body');
is(query(q{SELECT visible + in_flight FROM sqsn.queue_stats WHERE queue_name = 'src'}), '0',
	'and gone from its source queue');

# the_maintenance_worker_moves_dead_letters_between_nodes: a redrive
# policy set on a queue whose message was received twice already
query(q{SELECT sqsn.sq_create_queue('late_policy')});
query(q{SELECT sqsn.sq_send('late_policy', 'received twice')});
query(q{SELECT count(*) FROM sqsn.sq_receive('late_policy', 1, 0)}) for 1 .. 2;
query(q{SELECT sqsn.sq_set_queue_attributes('late_policy',
	'{"RedrivePolicy": {"deadLetterTargetArn": "dlq", "maxReceiveCount": 1}}')});
ok($coordinator->poll_query_until('postgres',
	q{SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'dlq'}, '1'),
	'the worker moves the message over the new limit to the dead-letter queue');
is(query(q{SELECT visible + in_flight FROM sqsn.queue_stats WHERE queue_name = 'late_policy'}), '0',
	'and out of its queue');
is(join(',', drain('dlq')), 'received twice', 'the moved message is received from the dead-letter queue');

# a_long_poll_wakes_when_a_send_commits
my ($lp_out, $lp_err) = ('', '');
my $sender = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $coordinator->connstr('postgres'), '-c',
	  q{SELECT pg_sleep(1); SELECT sqsn.sq_send('q4', 'wake')} ],
	'>', \$lp_out, '2>', \$lp_err);
my $poll_start = time();
is(query(q{SELECT body FROM sqsn.sq_receive('q4', 1, 60, 10)}), 'wake',
	'a receive waiting on a distributed queue gets the message sent meanwhile');
ok(time() - $poll_start < 8, 'before its wait ends');
$sender->finish;
query(q{SELECT sqsn.sq_purge_queue('q4')});

# fifo_order_per_group
query(q{SELECT count(sqsn.sq_send('order.fifo', 'g' || (g % 3) || '-' || g,
	message_group_id => 'g' || (g % 3), message_deduplication_id => 'd' || g))
	FROM generate_series(1, 30) g});
my %groups;
for my $body (drain('order.fifo'))
{
	my ($group, $n) = split /-/, $body;
	push @{ $groups{$group} }, $n;
}
is(scalar(keys %groups), 3, 'FIFO: three groups received');
for my $group (sort keys %groups)
{
	my @got = @{ $groups{$group} };
	is_deeply(\@got, [ sort { $a <=> $b } @got ], "FIFO: group $group in send order");
	is(scalar(@got), 10, "FIFO: group $group complete");
}

# topic_fan_out_to_both_workers_in_one_transaction
query(q{
	SELECT sqsn.sn_create_topic('news');
	SELECT sqsn.sn_subscribe('news', 'sqs', 'q' || i, raw_message_delivery => true)
		FROM generate_series(1, 4) i;
});
query(q{BEGIN; SELECT sqsn.sn_publish('news', 'n' || g) FROM generate_series(1, 3) g; COMMIT;});
is(query(q{SELECT string_agg(queue_name || ':' || visible, ',' ORDER BY queue_name)
	FROM sqsn.queue_stats WHERE queue_name LIKE 'q_'}),
	'q1:3,q2:3,q3:3,q4:3', 'three publishes in one transaction reach the four queues');
query(q{BEGIN; SELECT sqsn.sn_publish('news', 'rolled back'); ROLLBACK;});
is(query(q{SELECT sum(visible) FROM sqsn.queue_stats WHERE queue_name LIKE 'q_'}), '12',
	'a rolled-back publish reaches none');
is(query(q{SELECT count(*) FROM pg_prepared_xacts}), '0', 'no prepared transaction is left behind');
is(join(',', drain('q3')), 'n1,n2,n3', 'the raw bodies arrive in order');

# a_worker_killed_keeps_every_committed_message
my ($victim) = grep { $_->port == node_of('q1') } @workers;
query(q{SELECT count(sqsn.sq_send('q1', 'k' || g)) FROM generate_series(1, 200) g});
$victim->kill9;
my ($ok, $out, $err) = ('', '', '');
$coordinator->psql('postgres', q{SELECT sqsn.sq_send('q1', 'while down')},
	stdout => \$out, stderr => \$err);
like($err, qr/connection|could not|terminat/i, 'a send to a queue on the stopped worker fails');
# its backends leave once they notice the postmaster is gone
my $started = 0;
for (1 .. 60)
{
	last if ($started = $victim->start(fail_ok => 1));
	$victim->{_pid} = undef;    # read from the stale postmaster.pid
	sleep(1);
}
ok($started, 'the killed worker starts again');
my @after = drain('q1');
is(scalar(@after), 203, 'after the restart: every committed message is there (200 + 3 published)');
is(scalar(grep { $_ eq 'while down' } @after), 0, 'and the failed send left nothing');

# moving_a_queue_keeps_every_message
query(q{SELECT count(sqsn.sq_send('q2', 'm' || g)) FROM generate_series(1, 100) g});
my @held = split /\n/, query(q{SELECT receipt_handle FROM sqsn.sq_receive('q2', 10, 600)});
my $from = node_of('q2');
my ($to) = grep { $_ != $from } keys %ports;
query(qq{SELECT citus_move_shard_placement(s.shardid, '127.0.0.1', $from, '127.0.0.1', $to)
	FROM citus_shards s JOIN sqsn.queue q
		ON s.table_name OPERATOR(pg_catalog.=) ('sqsn.q_' || q.queue_id)::regclass
	WHERE q.queue_name = 'q2'});
is(node_of('q2'), $to, 'the queue moved to the other worker');
is(query(q{SELECT visible || '|' || in_flight FROM sqsn.queue_stats WHERE queue_name = 'q2'}),
	'93|10', 'its visible and in-flight messages moved with it');
my @moved = drain('q2');
is(scalar(@moved), 93, 'and the visible ones are received and deleted there');
is(query(sprintf(q{SELECT count(*) FILTER (WHERE sqsn.sq_delete('q2', h)) FROM unnest(ARRAY[%s]) h},
	join(',', map { "'$_'" } @held))), '10',
	'the receipt handles given out before the move delete the in-flight messages');

# sqsn_citus_distribute_places_a_local_queue: the one made before the
# nodes were added
is(query(q{SELECT sqsn.sq_send('early', 'sent while local') IS NOT NULL}), 't',
	'a local queue works beside the distributed ones');
is(query(q{SELECT sqsn.citus_distribute()}), '1', 'citus_distribute places the one local queue');
is(query(q{SELECT sqsn.citus_distribute()}), '0', 'and nothing the second time');
ok(node_of('early') ne '', 'the queue is on a node now');
is(join(',', drain('early')), 'kept,sent while local', 'with its messages');

# the_worker_expires_messages_on_a_distributed_queue (retention 60 s)
ok($coordinator->poll_query_until('postgres',
	q{SELECT messages_expired >= 1 FROM sqsn.worker_status}, 't'),
	'the maintenance worker expires the message past its retention');
my $short = query(q{SELECT 'sqsn.q_' || queue_id FROM sqsn.queue WHERE queue_name = 'short'});
is(query(qq{SELECT count(*) FROM $short}), '0', 'its row is deleted on the worker node');

$coordinator->stop;
$_->stop for @workers;
done_testing();
