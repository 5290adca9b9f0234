# The first receive of a new session, with nothing cached yet (queues,
# receipt-handle key), that moves one message to the dead-letter queue and
# returns another: the exhausted message lands in the DLQ, the fresh one is
# returned, and the server keeps running. Also for every later session.
# (A TAP test with its own cluster, so that a server crash here cannot take
# other suites down with it.)

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_dlq_session');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION sqsn');

$node->safe_psql('postgres', q{
	SELECT sqsn.sq_create_queue('fresh_dead');
	SELECT sqsn.sq_create_queue('fresh', dead_letter_queue => 'fresh_dead', max_receive_count => 1);
	SELECT sqsn.sq_send('fresh', 'exhausted 1');
	SELECT sqsn.sq_send('fresh', 'exhausted 2');
	SELECT count(*) FROM sqsn.sq_receive('fresh', 10, 0);
	SELECT sqsn.sq_send('fresh', 'fresh 1');
});

# each safe_psql is a new session
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT string_agg(body || ':' || receive_count, ',') FROM sqsn.sq_receive('fresh', 10, 0)");
is($rc, 0, 'the receive that moves and returns succeeds in a new session');
is($out, 'fresh 1:1', 'it returns only the message under max_receive_count');
is($err, '', 'without an error');
ok(!$node->log_contains('terminated by signal'), 'no server process crashed');

# the server is still (or again) up
$node->poll_query_until('postgres', 'SELECT 1', '1');
is($node->safe_psql('postgres',
		"SELECT string_agg(body || ':' || receive_count, ',') FROM sqsn.sq_receive('fresh_dead', 10, 0)"),
	'exhausted 1:1,exhausted 2:1', 'the exhausted messages are in the DLQ, in send order');

# the same with a queue whose DLQ was never opened by the session, and the
# returned message first in the queue
$node->safe_psql('postgres', q{
	SELECT sqsn.sq_create_queue('fresh2_dead');
	SELECT sqsn.sq_create_queue('fresh2', dead_letter_queue => 'fresh2_dead', max_receive_count => 1);
	SELECT sqsn.sq_send('fresh2', 'old');
	SELECT count(*) FROM sqsn.sq_receive('fresh2', 10, 0);
	SELECT sqsn.sq_send('fresh2', 'new', NULL, 0);
});
($rc, $out, $err) = $node->psql('postgres',
	"SELECT string_agg(body, ',') FROM sqsn.sq_receive('fresh2', 10, 0)");
is($out, 'new', 'a new session receives the new message');
is($node->safe_psql('postgres', "SELECT string_agg(body, ',') FROM sqsn.sq_receive('fresh2_dead', 10, 0)"),
	'old', 'and the old one was moved');

$node->stop;
done_testing();
