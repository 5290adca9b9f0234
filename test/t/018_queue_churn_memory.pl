# Queues come and go without leaving memory behind: a session creates,
# uses and deletes queues in batches of 50 (10 more per batch through the
# endpoint), each batch swept by the maintenance worker before it goes.
# Over 500 such queues after a warm-up, the memory-context totals of the
# session, the maintenance worker and the endpoint's worker grow by no more
# than those of a session that creates, uses and drops 500 tables of the
# same shape with plain SQL, plus 256 kB: PostgreSQL's own catalog caches
# keep a few kB per table ever created and dropped in any backend that
# touched it, sqsn's queue cache keeps nothing of a deleted queue (it kept
# its plans, 50 to 90 kB per queue). sqsn's shared memory stays as it was.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SqsnMemory;
use SqsnQueryApi;
use Test::More;
use Time::HiRes qw(usleep);

my $BATCH = 50;
my $BATCHES = 10;
my $SLACK = 256 * 1024;

my $node = PostgreSQL::Test::Cluster->new('sqsn_churn');
my $api_port = PostgreSQL::Test::Cluster::get_free_port();
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.database_name = 'postgres'
sqsn.poll_interval = '100ms'
sqsn.api_port = $api_port
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_workers = 1
sqsn.api_auth = 'none'
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

query(q{CREATE EXTENSION sqsn; SELECT sqsn.sq_create_queue('model')});
my $model = 'sqsn.q_' . query(q{SELECT queue_id FROM sqsn.queue WHERE queue_name = 'model'});
my $options = query(qq{SELECT coalesce(array_to_string(reloptions, ', '), '')
	FROM pg_class WHERE oid = '$model'::regclass});

my $session = $node->background_psql('postgres', on_error_stop => 1);
my $plain = $node->background_psql('postgres', on_error_stop => 1);
my $session_pid = $session->query_safe('SELECT pg_backend_pid()');
my $plain_pid = $plain->query_safe('SELECT pg_backend_pid()');
my $api = SqsnQueryApi->new($api_port);
my $procs = SqsnMemory::sqsn_processes($node);
my $worker_pid = $procs->{'sqsn worker'}[0];
my $api_pid = $procs->{'sqsn api'}[0];

# One batch k: queues q<k>_1..q<k>_50 created, each sent to, received from
# and deleted from in transactions of their own; 10 of them used through the
# endpoint, which also creates and deletes 10 queues; once the worker has
# swept them all, every one deleted. The plain session does the same with
# tables of the same shape: insert, update, delete a row, drop.
sub batch
{
	my ($k) = @_;
	$session->query_safe(qq{
DO \$\$
DECLARE
	h text;
BEGIN
	FOR i IN 1..$BATCH LOOP
		PERFORM sqsn.sq_create_queue(format('q%s_%s', $k, i));
		PERFORM sqsn.sq_send(format('q%s_%s', $k, i), 'body');
		COMMIT;
		SELECT receipt_handle INTO h FROM sqsn.sq_receive(format('q%s_%s', $k, i), 1);
		COMMIT;
		PERFORM sqsn.sq_delete(format('q%s_%s', $k, i), h);
		COMMIT;
	END LOOP;
END
\$\$;
});
	for my $i (1 .. 10)
	{
		my $url = $api->queue_url("q${k}_$i");
		$api->call(Action => 'SendMessage', QueueUrl => $url, MessageBody => 'api');
		$api->call(Action => 'ReceiveMessage', QueueUrl => $url);
		$api->call(Action => 'CreateQueue', QueueName => "a${k}_$i");
		$api->call(Action => 'SendMessage', QueueUrl => $api->queue_url("a${k}_$i"),
			MessageBody => 'api');
	}
	my $t = query('SELECT clock_timestamp()');
	$node->poll_query_until('postgres',
		"SELECT last_sweep_at > '$t' FROM sqsn.worker_status")
	  or die 'the worker did not sweep';
	$api->call(Action => 'DeleteQueue', QueueUrl => $api->queue_url("a${k}_$_")) for 1 .. 10;
	$session->query_safe(qq{
DO \$\$
BEGIN
	FOR i IN 1..$BATCH LOOP
		PERFORM sqsn.sq_delete_queue(format('q%s_%s', $k, i));
		COMMIT;
	END LOOP;
END
\$\$;
});

	$plain->query_safe(qq{
DO \$\$
BEGIN
	FOR i IN 1..$BATCH LOOP
		EXECUTE format('CREATE TABLE public.%I (LIKE $model INCLUDING ALL) WITH ($options)',
			format('p%s_%s', $k, i));
		EXECUTE format('INSERT INTO public.%I (sent_at, visible_at, expires_at, message_id, body)'
			' VALUES (now(), now(), now() + interval ''1 day'', gen_random_uuid(), ''body'')',
			format('p%s_%s', $k, i));
		COMMIT;
		EXECUTE format('UPDATE public.%I SET visible_at = now() + interval ''30 s'','
			' receive_count = receive_count + 1 WHERE msg_seq = 1', format('p%s_%s', $k, i));
		COMMIT;
		EXECUTE format('DELETE FROM public.%I WHERE msg_seq = 1', format('p%s_%s', $k, i));
		COMMIT;
		EXECUTE format('DROP TABLE public.%I', format('p%s_%s', $k, i));
		COMMIT;
	END LOOP;
END
\$\$;
});
}

sub sqsn_shmem
{
	return query(q{SELECT string_agg(name || ' ' || allocated_size, ', ' ORDER BY name)
		FROM pg_shmem_allocations WHERE name LIKE 'sqsn%'});
}

sub readings
{
	return {
		session => SqsnMemory::settled_total($node, $session_pid),
		plain => SqsnMemory::settled_total($node, $plain_pid),
		worker => SqsnMemory::settled_total($node, $worker_pid),
		api => SqsnMemory::settled_total($node, $api_pid),
	};
}

# warm-up: two batches, so the caches reach the size of one batch
batch($_) for 1 .. 2;
my $shmem_before = sqsn_shmem();
my $before = readings();

# five_hundred_queues_created_used_and_deleted
batch($_) for 3 .. 2 + $BATCHES;
is(query(q{SELECT count(*) FROM sqsn.queue}), '1', 'every churned queue is gone');
is(query(q{SELECT count(*) FROM pg_class WHERE relname ~ '^q_\d+$'}), '1',
	'so is every message table but the model\'s');
my $after = readings();
my %growth = map { $_ => $after->{$_} - $before->{$_} } keys %$before;
my $n = $BATCH * $BATCHES;
note(sprintf("%s: %d -> %d bytes, %+d (%.0f bytes per queue)",
		$_, $before->{$_}, $after->{$_}, $growth{$_}, $growth{$_} / $n))
  for sort keys %$before;

for my $p ('session', 'worker', 'api')
{
	cmp_ok($growth{$p}, '<', $growth{plain} + $SLACK,
		"$p: grew by $growth{$p} bytes over $n queues; a plain-SQL session by $growth{plain}");
}
is(sqsn_shmem(), $shmem_before, "sqsn's shared memory is as it was: $shmem_before");

$session->quit;
$plain->quit;
$node->stop;
done_testing();
