# What the endpoint's requests do to a message table reaches the cumulative
# statistics, so autovacuum vacuums a queue used only through the endpoint:
# after 200 messages sent, received and deleted through the endpoint,
# pg_stat_user_tables counts 200 inserts and 200 deletes on the queue's
# message table, and autovacuum (scale factor 0.01, threshold 500 on
# message tables; a lower threshold here) vacuums it. Before, the
# endpoint's workers never reported their statistics: the table of such a
# queue grew without end (bench/soak: 1.4 MB every 30 s at 55 msgs/s).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SqsnQueryApi;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_api_stats');
my $api_port = PostgreSQL::Test::Cluster::get_free_port();
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.database_name = 'postgres'
sqsn.api_port = $api_port
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_workers = 1
sqsn.api_auth = 'none'
autovacuum_naptime = 1
});
$node->start;

my $table = $node->safe_psql('postgres', q{
	CREATE EXTENSION sqsn;
	SELECT sqsn.sq_create_queue('stats_q');
	SELECT 'sqsn.q_' || queue_id FROM sqsn.queue WHERE queue_name = 'stats_q';
});
($table) = (split /\n/, $table)[-1];
$node->safe_psql('postgres',
	"ALTER TABLE $table SET (autovacuum_vacuum_threshold = 50)");

my $api = SqsnQueryApi->new($api_port);
my $url = $api->queue_url('stats_q');
for my $i (1 .. 200)
{
	$api->call(Action => 'SendMessage', QueueUrl => $url, MessageBody => "m$i");
	my $xml = $api->call(Action => 'ReceiveMessage', QueueUrl => $url);
	my ($handle) = $xml =~ m{<ReceiptHandle>([^<]+)</ReceiptHandle>};
	die "nothing received: $xml" unless defined $handle;
	$api->call(Action => 'DeleteMessage', QueueUrl => $url, ReceiptHandle => $handle);
}

ok( $node->poll_query_until('postgres',
		"SELECT n_tup_ins >= 200 AND n_tup_del >= 200 FROM pg_stat_user_tables"
		  . " WHERE relid = '$table'::regclass"),
	'the inserts and deletes made through the endpoint are in pg_stat_user_tables');
ok( $node->poll_query_until('postgres',
		"SELECT autovacuum_count > 0 FROM pg_stat_user_tables WHERE relid = '$table'::regclass"),
	'autovacuum vacuumed the message table');

$node->stop;
done_testing();
