# The long-lived processes of sqsn keep flat memory under load: the
# memory-context total (pg_log_backend_memory_contexts) of the delivery
# worker, the maintenance worker, the endpoint's worker and a long-lived
# SQL session, read when idle after a warm-up round, grows by less than
# $BOUND bytes over a few thousand pushes (delivered, throttled,
# dead-lettered), SQL sends, receives and deletes (long polls, FIFO groups,
# dead-letter moves, retention sweeps) and endpoint calls (SQS and SNS).
# A leak of a few dozen bytes per push or request adds up to more than that
# over these rounds (the delivery worker once kept the list of every claim:
# about 100 kB over 3,000 pushes).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SqsnMemory;
use SqsnPush;
use SqsnQueryApi;
use Test::More;

my $BOUND = 64 * 1024;

my $node = PostgreSQL::Test::Cluster->new('sqsn_memory');
my $api_port = PostgreSQL::Test::Cluster::get_free_port();
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.database_name = 'postgres'
sqsn.poll_interval = '200ms'
sqsn.http_allowed_hosts = '127.0.0.1'
sqsn.http_auto_confirm_hosts = '127.0.0.1'
sqsn.api_port = $api_port
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_workers = 1
sqsn.api_auth = 'none'
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

my $sink = SqsnPush::start_sink("${PostgreSQL::Test::Utils::tmp_check}/sink", '--quiet');
my $base = "http://127.0.0.1:$sink->{port}";

query(qq{
CREATE EXTENSION sqsn;
SELECT sqsn.sq_create_queue('mem_q');
SELECT sqsn.sq_create_queue('mem_empty');
SELECT sqsn.sq_create_queue('mem.fifo');
SELECT sqsn.sq_create_queue('mem_dlq');
SELECT sqsn.sq_create_queue('mem_src', dead_letter_queue => 'mem_dlq', max_receive_count => 1);
SELECT sqsn.sq_create_queue('mem_ret', message_retention_period => 60);
SELECT sqsn.sq_create_queue('mem_api');
SELECT sqsn.sq_create_queue('mem_fan');
SELECT sqsn.sq_create_queue('mem_push_dlq');
SELECT sqsn.sn_create_topic('mem_push');
SELECT sqsn.sn_subscribe('mem_push', 'http', '$base/ok/plain');
SELECT sqsn.sn_subscribe('mem_push', 'http', '$base/ok/throttled',
	delivery_policy => '{"throttlePolicy": {"maxReceivesPerSecond": 1000}}');
SELECT sqsn.sn_subscribe('mem_push', 'http', '$base/fail/dlq',
	delivery_policy => '{"healthyRetryPolicy": {"numRetries": 0}}',
	redrive_policy => '{"deadLetterTargetArn": "mem_push_dlq"}');
SELECT sqsn.sn_subscribe('mem_push', 'sqs', 'mem_fan', raw_message_delivery => true);
});

my $ret_table = 'sqsn.q_' . query("SELECT queue_id FROM sqsn.queue WHERE queue_name = 'mem_ret'");

# A session that lives through the whole test, as an application's would.
my $session = $node->background_psql('postgres', on_error_stop => 1);
my $session_pid = $session->query_safe('SELECT pg_backend_pid()');

# The endpoint, through the SQS query protocol (api_auth none).
my $api = SqsnQueryApi->new($api_port);
my $api_queue_url = $api->queue_url('mem_api');
sub api_call { return $api->call(@_); }

# One round of every kind of work, n times over; returns when every push
# has been delivered or dead-lettered and the sweeps have run.
sub round
{
	my ($n) = @_;

	# SQL: send, receive, delete; FIFO groups; a few long polls that wait
	# for nothing; dead-letter moves; messages for the retention sweep.
	$session->query_safe(qq{
DO \$\$
DECLARE
	h text;
	hs text[];
BEGIN
	FOR i IN 1..$n LOOP
		PERFORM sqsn.sq_send('mem_q', 'body ' || i, '{"k": {"DataType": "String", "StringValue": "v"}}');
		SELECT receipt_handle INTO h FROM sqsn.sq_receive('mem_q', 1);
		PERFORM sqsn.sq_delete('mem_q', h);
		IF i % 10 = 0 THEN
			PERFORM sqsn.sq_send('mem.fifo', 'fifo ' || i, message_group_id => 'g' || (i % 7),
				message_deduplication_id => i::text || random()::text);
			SELECT receipt_handle INTO h FROM sqsn.sq_receive('mem.fifo', 1);
			PERFORM sqsn.sq_delete('mem.fifo', h);
			PERFORM sqsn.sq_send('mem_src', 'to the dlq ' || i);
			PERFORM sqsn.sq_receive('mem_src', 1, 0);
			PERFORM sqsn.sq_receive('mem_src', 1, 0);
			SELECT array_agg(receipt_handle) INTO hs FROM sqsn.sq_receive('mem_dlq', 10);
			IF hs IS NOT NULL THEN
				PERFORM sqsn.sq_delete_batch('mem_dlq', hs);
			END IF;
			PERFORM sqsn.sq_send('mem_ret', 'expires ' || i);
		END IF;
		IF i = 1 THEN
			PERFORM sqsn.sq_receive('mem_empty', 1, NULL, 1);
		END IF;
		COMMIT;
	END LOOP;
END
\$\$;
});

	# pushes, one publish per transaction, so the delivery worker claims
	# often
	$session->query_safe(qq{
DO \$\$
BEGIN
	FOR i IN 1..$n LOOP
		PERFORM sqsn.sn_publish('mem_push', 'push ' || i,
			'{"k": {"DataType": "String", "StringValue": "v"}}');
		COMMIT;
	END LOOP;
END
\$\$;
});

	# the endpoint: send, receive, delete, and a publish every tenth time
	for my $i (1 .. $n / 3)
	{
		api_call(Action => 'SendMessage', QueueUrl => $api_queue_url,
			MessageBody => "api $i");
		my $xml = api_call(Action => 'ReceiveMessage', QueueUrl => $api_queue_url,
			MaxNumberOfMessages => 1);
		my ($handle) = $xml =~ m{<ReceiptHandle>([^<]+)</ReceiptHandle>};
		die "no message received through the endpoint: $xml" unless defined $handle;
		api_call(Action => 'DeleteMessage', QueueUrl => $api_queue_url,
			ReceiptHandle => $handle);
		api_call(Action => 'Publish', Version => '2010-03-31',
			TopicArn => 'arn:aws:sns:us-east-1:000000000000:mem_push',
			Message => "api publish $i")
		  if $i % 10 == 0;
	}

	# the retention sweep: what was sent to mem_ret has expired
	query("UPDATE $ret_table SET expires_at = now() - interval '1 second'");
	# an attribute change has the worker look at the queue at once (it
	# would otherwise sweep it when its messages were due to expire)
	query(q{SELECT sqsn.sq_set_queue_attributes('mem_ret', '{"DelaySeconds": 0}')});
	$node->poll_query_until('postgres', qq{
		SELECT (SELECT count(*) FROM sqsn.delivery WHERE status = 'pending')
			+ (SELECT count(*) FROM $ret_table)},
		'0')
	  or die 'the deliveries or the retention sweep did not finish';
	$session->query_safe(q{SELECT sqsn.sq_purge_queue('mem_fan'), sqsn.sq_purge_queue('mem_push_dlq')});
	# the workers go idle again
	sleep 1;
}

sub readings
{
	my ($procs) = @_;
	my %r;
	for my $type (sort keys %$procs)
	{
		$r{"$type $_"} = SqsnMemory::settled_total($node, $_) for @{ $procs->{$type} };
	}
	$r{"client backend $session_pid"} = SqsnMemory::settled_total($node, $session_pid);
	return \%r;
}

my $procs = SqsnMemory::sqsn_processes($node);
is(scalar(map { @$_ } values %$procs), 3,
	'a maintenance worker, a delivery worker and an endpoint worker run');

# warming_up: caches, plans, connections and context blocks reach their size
round(300);
# the maintenance worker sweeps only the queues with something due
# (queue/due.c): have it sweep every queue once, the FIFO queue's
# deduplication records included, before the first reading
query(q{UPDATE sqsn.fifo_dedup SET expires_at = now() - interval '1 second'});
query(q{SELECT count(sqsn.sq_set_queue_attributes(q, '{"DelaySeconds": 0}'))
	FROM sqsn.sq_list_queues() q});
sleep 2;
my $before = readings($procs);
my $rss_before = SqsnMemory::rss_anon_kb($procs->{'sqsn delivery worker'}[0]);

# a_few_thousand_pushes_receives_and_endpoint_calls
my $posts0 = scalar(SqsnPush::requests($sink));
round(1500) for 1 .. 2;
my $posts = scalar(SqsnPush::requests($sink)) - $posts0;
cmp_ok($posts, '>=', 9000, "the measured rounds made $posts POSTs to three subscriptions");

is_deeply(SqsnMemory::sqsn_processes($node), $procs, 'no process was restarted');
my $after = readings($procs);
for my $p (sort keys %$before)
{
	my $growth = $after->{$p} - $before->{$p};
	cmp_ok($growth, '<', $BOUND,
		"$p: memory contexts $before->{$p} -> $after->{$p} bytes (grew by $growth)");
}
my $rss_after = SqsnMemory::rss_anon_kb($procs->{'sqsn delivery worker'}[0]);
note("delivery worker RssAnon: $rss_before kB -> $rss_after kB") if defined $rss_before;

$session->quit;
SqsnPush::stop_sink($sink);
$node->stop;
done_testing();
