# The queue counters in shared memory across a crash and a full counter
# table: with sqsn.metrics_queues = 2 a third queue is not counted and its
# increments show as sqsn_metrics_overflow_total on /metrics; dropping a
# queue frees its slot for another; after a backend is killed with kill -9
# the server restarts, the counters start again from zero (what Prometheus
# takes as a counter reset) while the messages and their depth are all
# there, and counting goes on. An event source mapping's counters restart
# from zero too, while its exact figures, kept in a table, stay.
use strict;
use warnings;

use HTTP::Tiny;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PostgreSQL::Test::Cluster->new('sqsn_metrics');
my $api_port = PostgreSQL::Test::Cluster::get_free_port();
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
sqsn.metrics_queues = 2
sqsn.metrics_cache_time = 0
sqsn.api_port = $api_port
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_workers = 1
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

# counters(queue): "sent received deleted visible" of sqsn.queue_metrics
sub counters
{
	my ($q) = @_;
	return query(qq{SELECT concat_ws(' ', coalesce("NumberOfMessagesSent"::text, 'null'),
		coalesce("NumberOfMessagesReceived"::text, 'null'),
		coalesce("NumberOfMessagesDeleted"::text, 'null'),
		"ApproximateNumberOfMessagesVisible")
		FROM sqsn.queue_metrics WHERE queue_name = '$q'});
}

# sample(exposition, name, label filter): the first matching sample's value
sub sample
{
	my ($text, $name, $labels) = @_;
	for my $line (split /\n/, $text)
	{
		return $1 if $line =~ /^\Q$name\E\{[^}]*\Q$labels\E[^}]*\} (\S+)$/;
	}
	return undef;
}

sub scrape
{
	my $res;
	for (1 .. 100)
	{
		$res = HTTP::Tiny->new(timeout => 10)->get("http://127.0.0.1:$api_port/metrics");
		return $res->{content} if $res->{status} == 200;
		sleep 0.1;
	}
	die "no /metrics: $res->{status} $res->{content}";
}

query(q{
	CREATE EXTENSION sqsn;
	SELECT sqsn.sq_create_queue('alpha');
	SELECT sqsn.sq_create_queue('beta');
	SELECT sqsn.sq_create_queue('gamma');
});

# alpha and beta take the two slots; gamma finds none
query(q{SELECT count(sqsn.sq_send('alpha', 'a' || i)) FROM generate_series(1, 3) i});
query(q{SELECT count(sqsn.sq_send('beta', 'b' || i)) FROM generate_series(1, 2) i});
query(q{SELECT count(sqsn.sq_send('gamma', 'g' || i)) FROM generate_series(1, 4) i});
is(counters('alpha'), '3 0 0 3', 'alpha is counted');
is(counters('beta'), '2 0 0 2', 'beta is counted');
is(counters('gamma'), 'null null null 4',
	'gamma finds no slot: no counters, its depth is still measured');

my $text = scrape();
is(sample($text, 'sqsn_metrics_slots', 'table="queues"'), '2', '/metrics shows the table size');
is(sample($text, 'sqsn_metrics_slots_used', 'table="queues"'), '2', 'both slots are used');
cmp_ok(sample($text, 'sqsn_metrics_overflow_total', 'table="queues"'), '>=', 4,
	'the sends to gamma show as overflow');
ok(!defined sample($text, 'sqsn_queue_messages_sent_total', 'queue="gamma"'),
	'/metrics has no counters for gamma');
is(sample($text, 'sqsn_queue_messages_visible', 'queue="gamma"'), '4',
	'/metrics has the depth of gamma');

# dropping beta frees its slot: gamma counts from then on
query(q{SELECT sqsn.sq_delete_queue('beta')});
query(q{SELECT count(sqsn.sq_send('gamma', 'g' || i)) FROM generate_series(5, 6) i});
is(counters('gamma'), '2 0 0 6', 'gamma takes the freed slot and counts what follows');

query(q{SELECT count(sqsn.sq_delete('alpha', receipt_handle)) FROM sqsn.sq_receive('alpha', 2)});
is(counters('alpha'), '3 2 2 1', 'alpha counts its receives and deletes');

# a mapping's invocation, counted in shared memory and in its table (on
# zeta, the last queue: after the restart alpha and gamma still take the
# two queue slots first)
query(q{
	CREATE FUNCTION public.consume(e jsonb) RETURNS void LANGUAGE sql AS 'SELECT';
	SELECT sqsn.sq_create_queue('zeta');
	SELECT count(sqsn.sq_send('zeta', 'z' || i)) FROM generate_series(1, 2) i;
});
my $mapping = query(q{SELECT sqsn.sq_create_event_source_mapping('zeta',
	'public.consume(jsonb)', enabled => false)});
is(query(qq{SELECT outcome FROM sqsn.run_event_source_mapping('$mapping')}),
	'succeeded', 'the mapping consumes its batch');
is(query(q{SELECT concat_ws(' ', invocations, messages_processed)
	FROM sqsn.event_source_mapping_metrics}), '1 2', 'the mapping is counted');

# kill -9 the maintenance worker: the postmaster restarts everything
my $pid = query(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn worker'});
like($pid, qr/^\d+$/, 'the maintenance worker runs');
kill 'KILL', $pid;
ok($node->wait_for_log(qr/terminating any other active server processes/), 'the server restarts');
ok($node->poll_query_until('postgres', 'SELECT 1', '1'), 'the server is back after kill -9');
$node->poll_query_until('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn api'}, '1');

is(counters('alpha'), '0 0 0 1', 'after the crash alpha counts from zero; its message is there');
is(counters('gamma'), '0 0 0 6', 'gamma too; it finds a slot again');
query(q{SELECT count(sqsn.sq_send('alpha', 'again'))});
is(counters('alpha'), '1 0 0 2', 'counting goes on after the restart');

$text = scrape();
is(sample($text, 'sqsn_queue_messages_sent_total', 'queue="alpha"'), '1',
	'/metrics shows the reset counter');
is(sample($text, 'sqsn_metrics_overflow_total', 'table="queues"'), '0',
	'the overflow counter restarted too');

is(query(q{SELECT concat_ws(' ', invocations, messages_processed)
	FROM sqsn.event_source_mapping_metrics}), '0 0',
	'the mapping counters start again from zero');
is(query(q{SELECT invocations FROM sqsn.event_source_mapping_stats}), '1',
	'its exact figures, kept in a table, stay');
is(sample($text, 'sqsn_function_invocations_total', "mapping=\"$mapping\""), '0',
	'/metrics shows the reset mapping counter');

$node->stop;
done_testing();
