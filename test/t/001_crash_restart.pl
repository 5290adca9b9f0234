# Committed messages survive a backend crash (postmaster crash-recovery
# restart) and an immediate shutdown: counts, bodies, attributes and order
# are intact, an in-flight message keeps its lease and its receipt handle
# still deletes it; a send that was not committed at crash time is gone.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION sqsn');

# stats(queue): "visible|in_flight|delayed"
sub stats
{
	my ($queue) = @_;
	return $node->safe_psql('postgres',
		"SELECT visible || '|' || in_flight || '|' || delayed FROM sqsn.queue_stats WHERE queue_name = '$queue'"
	);
}

$node->safe_psql('postgres', q{
	SELECT sqsn.sq_create_queue('crash_q');
	SELECT sqsn.sq_create_queue('crash_attrs', visibility_timeout => 120,
		message_retention_period => 3600, delay_seconds => 5, maximum_message_size => 4096);
	SELECT count(*) FROM sqsn.sq_send_batch('crash_q', ARRAY['m1', 'm2', 'm3', 'm4']);
	SELECT sqsn.sq_send('crash_q', 'with attributes', '{"color": "red", "size": 3}');
	SELECT sqsn.sq_send('crash_q', 'delayed', delay_seconds => 900);
});
my $attrs_before = $node->safe_psql('postgres',
	"SELECT sqsn.sq_get_queue_attributes('crash_attrs') - 'LastModifiedTimestamp'");

# m1 in flight with a long lease; its handle must survive the crash
my $h1 = $node->safe_psql('postgres',
	"SELECT receipt_handle FROM sqsn.sq_receive('crash_q', 1, 3600)");
isnt($h1, '', 'received m1 with a lease');
is(stats('crash_q'), '4|1|1', 'before the crash: 4 visible, 1 in flight, 1 delayed');

# an open transaction that has sent but not committed
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_safe('BEGIN');
$bg->query_safe("SELECT sqsn.sq_send('crash_q', 'uncommitted at crash')");
$bg->query_safe("SELECT sqsn.sq_send_batch('crash_q', ARRAY['u1', 'u2'])");
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
like($pid, qr/^\d+$/, 'backend with the uncommitted send is running');

# kill -9 the backend: the postmaster restarts everything with crash recovery
my $log_offset = -s $node->logfile;
kill 'KILL', $pid;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'server did not come back after the backend crash';
$bg->quit;

is(stats('crash_q'), '4|1|1', 'after crash recovery: the same counts');
is($node->safe_psql('postgres',
		"SELECT sqsn.sq_get_queue_attributes('crash_attrs') - 'LastModifiedTimestamp'"),
	$attrs_before, 'queue attributes survived the crash');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM sqsn.sq_receive('crash_q', 10, 0) WHERE body ~ '^(u[12]|uncommitted)'"),
	'0', 'the uncommitted sends are gone');

# the receive above used visibility 0, so the messages are visible again;
# m1 is still in flight and keeps its handle
is($node->safe_psql('postgres',
		"SELECT string_agg(body || ':' || receive_count, ',') FROM sqsn.sq_receive('crash_q', 10, 0)"),
	'm2:2,m3:2,m4:2,with attributes:2',
	'bodies in send order after the crash, m1 still in flight');
is($node->safe_psql('postgres',
		"SELECT message_attributes FROM sqsn.sq_receive('crash_q', 10, 0) WHERE body = 'with attributes'"),
	'{"size": {"DataType": "Number", "StringValue": "3"}, "color": {"DataType": "String", "StringValue": "red"}}',
	'attributes survived the crash');
is($node->safe_psql('postgres', "SELECT sqsn.sq_delete('crash_q', '$h1')"),
	't', 'the receipt handle issued before the crash deletes m1');
is(stats('crash_q'), '4|0|1', 'm1 is gone, the rest is there');

# now an immediate shutdown with another message in flight and another
# uncommitted send
my $h2 = $node->safe_psql('postgres',
	"SELECT receipt_handle FROM sqsn.sq_receive('crash_q', 1, 3600)");
my $bg2 = $node->background_psql('postgres', on_error_stop => 0);
$bg2->query_safe('BEGIN');
$bg2->query_safe("SELECT sqsn.sq_send('crash_q', 'uncommitted at stop')");
$node->safe_psql('postgres', "SELECT sqsn.sq_send('crash_q', 'committed before stop')");

$node->stop('immediate');
$bg2->quit;
$node->start;

is(stats('crash_q'), '4|1|1', 'after an immediate stop and start: the same counts');
is($node->safe_psql('postgres', "SELECT sqsn.sq_delete('crash_q', '$h2')"),
	't', 'the receipt handle issued before the stop deletes its message');
is($node->safe_psql('postgres',
		"SELECT string_agg(body, ',') FROM sqsn.sq_receive('crash_q', 10, 0)"),
	'm3,m4,with attributes,committed before stop',
	'committed messages are there in order, the uncommitted one is not');

# the queue keeps working
my $h3 = $node->safe_psql('postgres', q{
	SELECT sqsn.sq_send('crash_q', 'after restart');
	SELECT receipt_handle FROM sqsn.sq_receive('crash_q', 10, 600) WHERE body = 'after restart';
});
($h3) = (split /\n/, $h3)[-1];
is($node->safe_psql('postgres', "SELECT sqsn.sq_delete('crash_q', '$h3')"),
	't', 'send, receive and delete work after the restarts');
is($node->safe_psql('postgres', "SELECT sqsn.sq_purge_queue('crash_q')"),
	'5', 'purge counts the remaining messages (4 in flight, 1 delayed)');

$node->stop;
done_testing();
