# DROP EXTENSION while the workers are busy: the maintenance worker sweeping
# queues, the delivery worker claiming and POSTing notifications (some to an
# endpoint that fails, so they stay due), a function worker running an event
# source mapping. Every drop succeeds (a worker never holds part of sqsn's
# tables while waiting for the rest, which deadlocks with the drop), and the
# workers carry on after each new CREATE EXTENSION.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;
use Time::HiRes qw(usleep);

my $tmp = PostgreSQL::Test::Utils::tempdir;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $tmp/key.pem -out $tmp/cert.pem -days 2 -subj '/CN=sqsn test signing' 2>/dev/null") == 0
  or BAIL_OUT('openssl could not make a key pair');

my $sink = SqsnPush::start_sink("$tmp/sink");
my $base = "http://127.0.0.1:$sink->{port}";

my $node = PostgreSQL::Test::Cluster->new('sqsn_drop_busy');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.poll_interval = '10ms'
sqsn.http_allowed_hosts = '127.0.0.1'
sqsn.http_timeout_ms = 1500
sqsn.signing_key_file = '$tmp/key.pem'
sqsn.signing_certificate_file = '$tmp/cert.pem'
sqsn.signing_certificate_url = 'https://sqsn.example/cert.pem'
deadlock_timeout = '20ms'
});
$node->start;

# One cycle's objects: queues the maintenance worker sweeps, a topic whose
# subscriptions keep the delivery worker claiming, a mapping that keeps a
# function worker receiving.
my $setup = qq{
SET sqsn.http_auto_confirm_hosts = '127.0.0.1';
CREATE EXTENSION sqsn;
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS public.seen (body text);
CREATE OR REPLACE FUNCTION public.consume(event jsonb)
RETURNS void LANGUAGE sql AS \$\$INSERT INTO public.seen SELECT r->>'body' FROM jsonb_array_elements(event->'Records') r\$\$;
SELECT sqsn.sq_create_queue('busy_' || i, message_retention_period => 60) FROM generate_series(1, 5) i;
SELECT (SELECT count(*) FROM sqsn.sq_send_batch('busy_' || i, array_fill('m'::text, ARRAY[50])))
FROM generate_series(1, 5) i;
SELECT sqsn.sq_set_queue_attributes('busy_1',
	'{"RedrivePolicy": {"deadLetterQueue": "busy_2", "maxReceiveCount": 1}}');
SELECT sqsn.sq_create_queue('busy_fn');
SELECT sqsn.sq_create_event_source_mapping('busy_fn', 'public.consume(jsonb)'::regprocedure, batch_size => 5) IS NOT NULL;
SELECT count(*) FROM sqsn.sq_send_batch('busy_fn', array_fill('f'::text, ARRAY[200]));
SELECT sqsn.sn_create_topic('busy_topic');
SELECT sqsn.sn_subscribe('busy_topic', 'http', '$base/ok/busy') IS NOT NULL;
SELECT sqsn.sn_subscribe('busy_topic', 'http', '$base/fail/busy',
	delivery_policy => '{"healthyRetryPolicy": {"numRetries": 50, "minDelayTarget": 1, "maxDelayTarget": 1}}') IS NOT NULL;
SELECT count(*) FROM sqsn.sn_publish_batch('busy_topic', array_fill('p'::text, ARRAY[100]));
};

my $cycles = 40;
my $failed_drops = 0;
my $failed_setups = 0;
for my $cycle (1 .. $cycles)
{
	my ($rc, $out, $err) = $node->psql('postgres', $setup, on_error_stop => 1);
	if ($rc != 0)
	{
		$failed_setups++;
		diag("cycle $cycle: setting up failed: $err");
	}
	# let the workers get going: between 0 and 300 ms
	usleep(7_500 * $cycle);
	($rc, $out, $err) = $node->psql('postgres', 'DROP EXTENSION sqsn CASCADE');
	if ($rc != 0)
	{
		$failed_drops++;
		diag("cycle $cycle: DROP EXTENSION failed: $err");
		$node->psql('postgres', 'DROP EXTENSION IF EXISTS sqsn CASCADE');
	}
}
is($failed_setups, 0, "$cycles cycles: every CREATE EXTENSION and setup succeeded");
is($failed_drops, 0, "$cycles cycles: every DROP EXTENSION succeeded while the workers were busy");

# the workers are still there, and work once sqsn is back
$node->safe_psql('postgres', 'TRUNCATE public.seen');
$node->safe_psql('postgres', $setup);
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 100 FROM sqsn.delivery WHERE status = 'delivered'}),
	'the delivery worker delivers after the last CREATE EXTENSION');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 200 FROM public.seen WHERE body = 'f'}),
	'the function worker consumes after the last CREATE EXTENSION');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('sqsn worker', 'sqsn delivery worker')}),
	'2', 'the maintenance and delivery workers still run, none restarted by an error');

SqsnPush::stop_sink($sink);
$node->stop;
done_testing();
