# Message move tasks run by the maintenance worker: a task listed while it
# runs, its velocity kept (within generous bounds: no tight timing), a
# cancelled task that stops with what it moved where it went, and kill -9
# of the worker in the middle of a task (the postmaster's crash restart):
# the task goes on after the restart, every message arrives exactly once,
# none is lost, and its count is exact.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('sqsn_move_tasks');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

# fill(src, dlq, n): n messages sent to src, each received twice (max
# receive count 1), so that they sit in dlq remembering src as their source
sub fill
{
	my ($src, $dlq, $n) = @_;
	query(qq{SELECT count(sqsn.sq_send('$src', 'm' || g)) FROM generate_series(1, $n) g});
	query(qq{SELECT count(*) FROM sqsn.sq_receive('$src', 1000, 0)});
	query(qq{SELECT count(*) FROM sqsn.sq_receive('$src', 1000, 0)});
	return query(qq{SELECT visible FROM sqsn.queue_stats WHERE queue_name = '$dlq'});
}

sub task
{
	my ($h) = @_;
	return query(qq{SELECT status || '|' || messages_moved || '|' || messages_to_move
		FROM sqsn.message_move_task WHERE task_handle = '$h'});
}

sub wait_status
{
	my ($h, $status) = @_;
	return $node->poll_query_until('postgres',
		qq{SELECT status FROM sqsn.message_move_task WHERE task_handle = '$h'}, $status);
}

query(q{CREATE EXTENSION sqsn});
query(q{
	SELECT sqsn.sq_create_queue('dlq');
	SELECT sqsn.sq_create_queue('src', dead_letter_queue => 'dlq', max_receive_count => 1);
	SELECT sqsn.sq_create_queue('dest');
});

# --- velocity: 200 messages at 50 a second take about 4 s ------------------
my $n = 200;
is(fill('src', 'dlq', $n), $n, "$n messages in the dead-letter queue");
my $t0 = time;
my $h = query(q{SELECT sqsn.sq_start_message_move_task('dlq', max_messages_per_second => 50)});
sleep(1.5);
my ($status, $moved, $to_move) = split /\|/, query(qq{
	SELECT status || '|' || messages_moved || '|' || messages_to_move
	FROM sqsn.sq_list_message_move_tasks('dlq')});
my $elapsed = time - $t0;
is($status, 'RUNNING', 'listed while it runs');
is($to_move, $n, 'the number to move is what the queue held');
ok($moved > 0 && $moved < $n, "some moved after 1.5 s ($moved)");
ok($moved <= 50 * $elapsed * 1.5 + 10, "not faster than the rate ($moved in ${elapsed}s)");
ok(wait_status($h, 'COMPLETED'), 'the task completes');
my $took = query(qq{SELECT extract(epoch FROM finished_at - started_at)
	FROM sqsn.message_move_task WHERE task_handle = '$h'});
ok($took >= 3 && $took <= 20, "200 messages at 50/s took ${took}s (expected about 4)");
is(task($h), "COMPLETED|$n|$n", 'all moved');
is(query(q{SELECT visible || '|' || (SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'dlq')
	FROM sqsn.queue_stats WHERE queue_name = 'src'}), "$n|0",
	'every message is back in its source queue, none left in the dead-letter queue');

# --- cancel: a slow task stops; what it moved stays moved -------------------
query(q{SELECT count(*) FROM sqsn.sq_receive('src', 1000, 0)});
query(q{SELECT count(*) FROM sqsn.sq_receive('src', 1000, 0)});
is(query(q{SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'dlq'}), $n,
	'the messages are in the dead-letter queue again');
$h = query(q{SELECT sqsn.sq_start_message_move_task('dlq', 'dest', 10)});
sleep(2);
my $at_cancel = query(qq{SELECT sqsn.sq_cancel_message_move_task('$h')});
ok(wait_status($h, 'CANCELLED'), 'the cancelled task ends CANCELLED');
my ($st, $final) = split /\|/, task($h);
ok($final >= $at_cancel && $final < $n, "it moved $final of $n ($at_cancel when cancelled)");
is(query(q{SELECT (SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'dest') || '|' ||
	(SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'dlq')}), "$final|" . ($n - $final),
	'the moved messages are in the destination, the rest in the dead-letter queue');
like(query(q{SELECT left(status, 9) FROM sqsn.sq_list_message_move_tasks('dlq', 10) LIMIT 1}),
	qr/CANCELLED/, 'the newest task is listed first');

# --- kill -9 of the worker in the middle of a task --------------------------
query(q{
	SELECT sqsn.sq_create_queue('dlq2');
	SELECT sqsn.sq_create_queue('src2', dead_letter_queue => 'dlq2', max_receive_count => 1);
});
my $m = 500;
is(fill('src2', 'dlq2', $m), $m, "$m messages in the second dead-letter queue");
$h = query(q{SELECT sqsn.sq_start_message_move_task('dlq2', max_messages_per_second => 100)});
ok($node->poll_query_until('postgres',
	qq{SELECT messages_moved > 50 FROM sqsn.message_move_task WHERE task_handle = '$h'}),
	'the task is under way');
my $pid = query(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn worker'});
my $before = (split /\|/, task($h))[1];
kill 'KILL', $pid;
note("killed the maintenance worker $pid after $before messages");
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'sqsn worker' AND pid <> $pid}),
	'the server and its worker are back');
ok(wait_status($h, 'COMPLETED'), 'the task goes on after the restart and completes');
is(task($h), "COMPLETED|$m|$m", 'its count is exact');
is(query(q{SELECT count(*) || '|' || count(DISTINCT body) FROM sqsn.sq_receive('src2', 1000, 600)}),
	"$m|$m", 'every message is in its source queue exactly once');
is(query(q{SELECT visible + in_flight + delayed FROM sqsn.queue_stats WHERE queue_name = 'dlq2'}),
	'0', 'none is left behind');

$node->stop;
done_testing();
