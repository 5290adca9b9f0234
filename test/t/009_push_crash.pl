# Push delivery survives crashes: kill -9 of the delivery worker and an
# immediate restart of the cluster while POSTs are in flight lose nothing
# (every message is POSTed again, at least once); a retry scheduled before
# a restart happens on schedule after it; an endpoint that is down for a
# while and comes back receives everything, in the retry windows.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;
use Time::HiRes qw(usleep);

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $sink = SqsnPush::start_sink("$tmp/sink");
my $base = "http://127.0.0.1:$sink->{port}";

my $node = SqsnPush::push_node('sqsn_push_crash', qq{
sqsn.http_auto_confirm_hosts = '127.0.0.1'
sqsn.http_timeout_ms = 15000
});

sub query { return $node->safe_psql('postgres', $_[0]); }

sub poll
{
	my ($sql, $expected, $what) = @_;
	ok($node->poll_query_until('postgres', $sql, $expected), $what)
	  or diag(query("SELECT delivery_id, status, attempts, leased_until, last_result FROM sqsn.delivery ORDER BY 1"));
}

# the message ids the sink answered 200 for
sub delivered_ids
{
	my ($prefix) = @_;
	my %ids;
	foreach my $r (SqsnPush::requests_to($sink, $prefix))
	{
		$ids{ $r->{headers}{'x-amz-sns-message-id'} }++ if $r->{answer} eq '200';
	}
	return \%ids;
}

my $worker_pid_sql =
  "SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker'";

query(q{CREATE EXTENSION sqsn});

# --- kill -9 the delivery worker with 20 POSTs in flight ---------------------

query(q{SELECT sqsn.sn_create_topic('crash')});
# One batch, so all 20 are claimed together, and a sink slow enough that
# none of them can finish between seeing them in flight and the kill.
my $sub = query("SELECT sqsn.sn_subscribe('crash', 'http', '$base/slow/4000/kill')");
my @ids = split /\n/, query(q{SELECT * FROM sqsn.sn_publish_batch('crash',
	ARRAY['1','2','3','4','5','6','7','8','9','10',
	      '11','12','13','14','15','16','17','18','19','20'])});
poll(q{SELECT count(*) FROM sqsn.delivery WHERE leased_until IS NOT NULL}, '20',
	'20 POSTs in flight');
# The worker commits its claims without waiting for the WAL flush (a lost
# claim only means one more POST); a commit that does wait flushes the WAL
# up to here, so the claims of these 20 survive the crash and each
# interrupted attempt must be counted. The transaction must write WAL of
# its own: one that only takes a transaction id commits asynchronously.
query(q{CREATE TABLE wal_flushed_past_the_claims ()});
my $pid = query($worker_pid_sql);
like($pid, qr/^\d+$/, 'the delivery worker runs');
kill 'KILL', $pid;
# the postmaster restarts every backend; the new worker finds the leases
$node->poll_query_until('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker' AND pid <> $pid", '1')
  or die 'no new delivery worker';
poll("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$sub' AND status = 'delivered'",
	'20', 'after kill -9 every delivery is made');
my $got = delivered_ids('/slow/4000/kill');
is(scalar(grep { $got->{$_} } @ids), 20, 'the endpoint got all 20 messages (at least once each)');
# at least two: a loaded machine may need a further retry, never fewer
ok(query("SELECT min(attempts) FROM sqsn.delivery WHERE subscription_id = '$sub'") >= 2,
	'the interrupted attempt counts: each delivery took a second attempt')
  or diag(query("SELECT attempts, count(*) FROM sqsn.delivery WHERE subscription_id = '$sub' GROUP BY 1"));

# --- immediate restart of the cluster with POSTs in flight -------------------

my $sub2 = query("SELECT sqsn.sn_subscribe('crash', 'http', '$base/slow/1500/restart')");
query("SELECT sqsn.sn_unsubscribe('$sub')");
@ids = split /\n/, query(q{SELECT * FROM sqsn.sn_publish_batch('crash',
	ARRAY['a','b','c','d','e','f','g','h','i','j'])});
poll(q{SELECT count(*) FROM sqsn.delivery WHERE leased_until IS NOT NULL}, '10',
	'10 POSTs in flight');
$node->stop('immediate');
$node->start;
poll("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$sub2' AND status = 'delivered'",
	'10', 'after an immediate restart every delivery is made');
$got = delivered_ids('/slow/1500/restart');
is(scalar(grep { $got->{$_} } @ids), 10, 'the endpoint got all 10 messages');

# --- a retry scheduled before a restart happens on schedule after it --------

my $sub3 = query("SELECT sqsn.sn_subscribe('crash', 'http', '$base/flaky/1/retry',
	delivery_policy => '{\"healthyRetryPolicy\": {\"numRetries\": 1, \"minDelayTarget\": 4, \"maxDelayTarget\": 4}}')");
query("SELECT sqsn.sn_unsubscribe('$sub2')");
query(q{SELECT sqsn.sn_publish('crash', 'retry me')});
poll("SELECT attempts || ',' || (next_attempt_at > now()) FROM sqsn.delivery WHERE subscription_id = '$sub3'",
	'1,true', 'the first attempt failed; a retry is scheduled');
$node->stop('immediate');
$node->start;
poll("SELECT status FROM sqsn.delivery WHERE subscription_id = '$sub3'", 'delivered',
	'the retry was made after the restart');
my @r = SqsnPush::requests_to($sink, '/flaky/1/retry');
is(scalar(@r), 2, 'two POSTs: the failed attempt and the retry');
my $gap = $r[1]{start} - $r[0]{start};
ok($gap >= 3.9 && $gap < 7, "the retry came on schedule, 4 s after the attempt ($gap)");

# --- an endpoint down for a while, then up ----------------------------------

my $sub4 = query("SELECT sqsn.sn_subscribe('crash', 'http', '$base/switch/down',
	delivery_policy => '{\"healthyRetryPolicy\": {\"numRetries\": 20, \"minDelayTarget\": 1, \"maxDelayTarget\": 2}}')");
query("SELECT sqsn.sn_unsubscribe('$sub3')");
PostgreSQL::Test::Utils::append_to_file("$sink->{dir}/down", 'down');
@ids = ();
push @ids, split /\n/, query(q{SELECT * FROM sqsn.sn_publish_batch('crash', ARRAY['1','2','3','4','5','6','7','8','9','10'])})
  for 1 .. 3;
poll("SELECT min(attempts) >= 3 FROM sqsn.delivery WHERE subscription_id = '$sub4'", 't',
	'while the endpoint is down, every message is retried');
is(query("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$sub4' AND status = 'pending'"),
	'30', 'and nothing is given up');
unlink "$sink->{dir}/down";
poll("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$sub4' AND status = 'delivered'",
	'30', 'once it is back, all 30 are delivered');
$got = delivered_ids('/switch/down');
is(scalar(grep { $got->{$_} } @ids), 30, 'the endpoint got every message');
ok(query("SELECT bool_and(next_attempt_at - attempted_at BETWEEN interval '0.9 s' AND interval '2.1 s')
	FROM sqsn.delivery_attempts WHERE subscription_id = '$sub4' AND next_attempt_at IS NOT NULL") eq 't',
	'each retry was scheduled 1 to 2 s after the failed attempt');

done_testing();
$node->stop;
SqsnPush::stop_sink($sink);
