# pg_upgrade of a cluster that uses sqsn: queues (with a dead-letter queue,
# a FIFO queue), topics and subscriptions, and messages (visible, delayed,
# in flight) come through unchanged; a receipt handle given out before the
# upgrade still deletes its message; the workers run and the queues work
# on the upgraded cluster.
#
# The new cluster is the PostgreSQL this test runs with. The old one is the
# installation whose pg_config SQSN_UPGRADE_FROM_PG_CONFIG names (sqsn
# installed into it, same sqsn version), by default the same installation:
# make test runs 15 -> 15; an upgrade between major versions is run by
# hand, e.g.
#   SQSN_UPGRADE_FROM_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config \
#   PG_CONFIG=/usr/lib/postgresql/17/bin/pg_config \
#   make test SUITE=tap TEST=025_pg_upgrade

use strict;
use warnings;

use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $old_pg_config = $ENV{SQSN_UPGRADE_FROM_PG_CONFIG};
my %old_install;
if ($old_pg_config)
{
	my $bindir = `$old_pg_config --bindir`;
	chomp $bindir;
	die "no bindir from $old_pg_config" unless -x "$bindir/postgres";
	%old_install = (install_path => dirname($bindir));
}

my $conf = qq{
shared_preload_libraries = 'sqsn'
sqsn.poll_interval = '200ms'
};

my $old = PostgreSQL::Test::Cluster->new('sqsn_upgrade_old', %old_install);
$old->init;
$old->append_conf('postgresql.conf', $conf);
$old->start;
my $old_version = $old->safe_psql('postgres', 'SHOW server_version_num');

$old->safe_psql('postgres', q{
CREATE EXTENSION sqsn;
SELECT sqsn.sq_create_queue('orders_dlq');
SELECT sqsn.sq_create_queue('orders', visibility_timeout => 20, delay_seconds => 0,
	dead_letter_queue => 'orders_dlq', max_receive_count => 3);
SELECT sqsn.sq_create_queue('jobs.fifo', content_based_deduplication => true);
SELECT sqsn.sn_create_topic('events');
SELECT sqsn.sn_subscribe('events', 'sqs', 'orders', raw_message_delivery => true);
SELECT sqsn.sq_send('orders', 'o' || i, '{"n": {"DataType": "Number", "StringValue": "1"}}')
	FROM generate_series(1, 5) i;
SELECT sqsn.sq_send('orders', 'later', NULL, 900);
SELECT sqsn.sn_publish('events', 'published');
SELECT sqsn.sq_send('jobs.fifo', 'j' || i, message_group_id => 'g' || (i % 2))
	FROM generate_series(1, 4) i;
SELECT sqsn.sq_send('orders_dlq', 'dead');
});
my $handle = $old->safe_psql('postgres',
	q{SELECT receipt_handle FROM sqsn.sq_receive('orders', 1, 600)});
isnt($handle, '', 'a message is in flight with a 600 s lease');

# Everything about the queues and topics an upgrade must keep.
sub state_of
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT format(E'%s\n%s\n%s', q::text,
			sqsn.sq_get_queue_attributes(q.queue_name),
			query_to_xml(format('SELECT * FROM sqsn.q_%s t ORDER BY t::text', q.queue_id),
				true, false, ''))
		FROM sqsn.queue q ORDER BY q.queue_id;
		SELECT t::text FROM sqsn.topic t ORDER BY t::text;
		SELECT s::text FROM sqsn.subscription s ORDER BY s::text;
		SELECT extversion FROM pg_extension WHERE extname = 'sqsn';
	});
}
my $before = state_of($old);
$old->stop;

# From 18 on initdb enables data checksums by default, and pg_upgrade needs
# the two clusters to agree: an older cluster is upgraded into one without.
my $new = PostgreSQL::Test::Cluster->new('sqsn_upgrade_new');
my ($new_major) = $new->config_data('--version') =~ /PostgreSQL (\d+)/;
$new->init(extra => ($new_major >= 18 && $old_version < 180000) ? ['--no-data-checksums'] : []);
$new->append_conf('postgresql.conf', $conf);
note("pg_upgrade from server_version_num $old_version to the installation on PATH");

my @upgrade = (
	'pg_upgrade', '--no-sync',
	'-d', $old->data_dir, '-D', $new->data_dir,
	'-b', $old->config_data('--bindir'), '-B', $new->config_data('--bindir'),
	'-s', $new->host, '-p', $old->port, '-P', $new->port);
{
	# pg_upgrade writes its logs into the current directory (15) or the new
	# data directory (16 on)
	chdir $tmp or die "cannot chdir to $tmp: $!";
	command_ok([ @upgrade, '--check' ], 'pg_upgrade --check accepts the cluster');
	command_ok(\@upgrade, 'pg_upgrade');
}
$new->start;
ok($new->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn worker'}, '1'),
	'the maintenance worker runs on the upgraded cluster');

is(state_of($new), $before, 'queues, messages, topics and subscriptions are unchanged');
is($new->safe_psql('postgres', "SELECT sqsn.sq_delete('orders', '$handle')"), 't',
	'the receipt handle of before the upgrade deletes its message');
is($new->safe_psql('postgres', q{SELECT string_agg(body, ',' ORDER BY body) FROM sqsn.sq_receive('orders', 10)}),
	'o2,o3,o4,o5,published', 'the visible messages are received');
is($new->safe_psql('postgres', q{SELECT string_agg(body, ',' ORDER BY body) FROM sqsn.sq_receive('jobs.fifo', 10)}),
	'j1,j2,j3,j4', 'the FIFO queue hands out its messages');
is($new->safe_psql('postgres', q{
	SELECT sqsn.sq_send('jobs.fifo', 'j1', message_group_id => 'g1');
	SELECT sqsn.sq_send('jobs.fifo', 'j5', message_group_id => 'g1');
	SELECT visible || '/' || in_flight FROM sqsn.queue_stats WHERE queue_name = 'jobs.fifo'}) =~ s/.*\n//sr,
	'1/4', 'the deduplication window of before the upgrade holds (j1 again is dropped)');
is($new->safe_psql('postgres', q{SELECT count(*) FROM sqsn.sq_receive('jobs.fifo', 10)}),
	'0', 'nothing of a group with messages in flight is handed out');
like($new->safe_psql('postgres', q{SELECT sqsn.sn_publish('events', 'after')}),
	qr/^[0-9a-f-]{36}$/, 'publish works');
is($new->safe_psql('postgres', q{SELECT body FROM sqsn.sq_receive('orders', 10)}),
	'after', 'and fans out to the subscribed queue');

$new->stop;
done_testing();
