# sqsn on a hot standby and across a failover to a synchronous standby.
#
# On the standby: the maintenance and delivery workers do not run (the
# worker status says it waits for the promotion) and nothing logs errors in
# a loop; functions that write fail with SQLSTATE 25006 naming the
# standby, reads and views work; the endpoint answers reads and refuses
# writes with ServiceUnavailable, logged once.
#
# Then, with synchronous_commit = on and the standby in
# synchronous_standby_names: producers and consumers run, the primary is
# killed with kill -9, the standby is promoted. Every acknowledged send is
# there exactly once, every acknowledged delete stays deleted, leases taken
# before the failover still hold (and their receipt handles still delete),
# the pending pushes of the outbox are all delivered to a loopback sink,
# long polls wake on the new primary, and the endpoint serves writes there.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SqsnFailover;
use SqsnPush;
use Test::More;
use Time::HiRes qw(usleep time);

my $python = '/usr/bin/python3';
my $have_boto3 = -x $python && system($python, '-c', 'import boto3') == 0;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $sink = SqsnPush::start_sink("$tmp/sink");
my $base = "http://127.0.0.1:$sink->{port}";
my $primary_api = PostgreSQL::Test::Cluster::get_free_port();
my $standby_api = PostgreSQL::Test::Cluster::get_free_port();

my $push_conf = qq{
sqsn.http_allowed_hosts = '127.0.0.1'
sqsn.http_auto_confirm_hosts = '127.0.0.1'
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_workers = 1
sqsn.api_auth = 'none'
};
my ($primary, $standby) = SqsnFailover::new_pair('sqsn_sync',
	"$push_conf\nsqsn.api_port = $primary_api\n",
	"sqsn.api_port = $standby_api\n");

sub on_primary { return $primary->safe_psql('postgres', $_[0]); }
sub on_standby { return $standby->safe_psql('postgres', $_[0]); }

on_primary(q{
SELECT sqsn.sq_create_queue('work');
SELECT sqsn.sq_create_queue('held');
SELECT sqsn.sq_create_queue('poll');
SELECT sqsn.sq_create_queue('late', delay_seconds => 4);
SELECT sqsn.sn_create_topic('events');
});
# pushes fail while the sink's switch is down: they stay in the outbox
PostgreSQL::Test::Utils::append_to_file("$sink->{dir}/down", 'down');
my $sub = on_primary("SELECT sqsn.sn_subscribe('events', 'http', '$base/switch/events',
	delivery_policy => '{\"healthyRetryPolicy\": {\"numRetries\": 100, \"minDelayTarget\": 1, \"maxDelayTarget\": 1}}')");

$standby->start;
$primary->append_conf('postgresql.conf', qq{
synchronous_standby_names = '@{[ $standby->name ]}'
synchronous_commit = on
});
$primary->reload;
ok($primary->poll_query_until('postgres',
		"SELECT sync_state FROM pg_stat_replication WHERE application_name = '@{[ $standby->name ]}'",
		'sync'),
	'the standby is synchronous');

# --- the standby ------------------------------------------------------------

on_primary(q{SELECT sqsn.sq_send('work', 'before-' || i) FROM generate_series(1, 5) i});
$primary->wait_for_catchup($standby);
ok($standby->poll_query_until('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn api'", '1'),
	'the API worker runs on the standby');
# a few rounds of sqsn.poll_interval pass
usleep(2_000_000);
is(on_standby(q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type IN ('sqsn worker', 'sqsn delivery worker')}),
	'0', 'the maintenance and delivery workers do not run on the standby');
is(on_standby(q{SELECT state FROM sqsn.worker_status}), 'waiting for promotion',
	'sqsn.worker_status says the worker waits for the promotion');

my ($rc, $out, $err) = $standby->psql('postgres',
	q{SELECT sqsn.sq_send('work', 'on the standby')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  25006: cannot run sqsn\.sq_send\(\) on a standby server/,
	'sq_send fails with SQLSTATE 25006 naming the standby');
like($err, qr/Server "sqsn_sync_standby" is a hot standby/,
	'the detail names the server');
for my $call ("sqsn.sq_receive('work')", "sqsn.sq_delete('work', 'x')",
	"sqsn.sq_create_queue('new')", "sqsn.sn_publish('events', 'x')",
	"sqsn.sq_purge_queue('work')", "sqsn.run_maintenance()",
	"sqsn.sq_delete_event_source_mapping(gen_random_uuid())",
	"sqsn.sn_pause_subscription(gen_random_uuid())")
{
	($rc, $out, $err) = $standby->psql('postgres', "SELECT $call",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	my ($fn) = $call =~ /^(sqsn\.\w+)/;
	like($err, qr/ERROR:  25006: cannot run \Q$fn\E\(\) on a standby server/,
		"$fn fails with 25006 on the standby");
}
is(on_standby(q{SELECT string_agg(q, ',' ORDER BY q) FROM sqsn.sq_list_queues() q}),
	'held,late,poll,work', 'sq_list_queues works on the standby');
is(on_standby(q{SELECT sqsn.sq_get_queue_attributes('work')->>'ApproximateNumberOfMessages'}),
	'5', 'sq_get_queue_attributes works on the standby');
is(on_standby(q{SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'work'}),
	'5', 'sqsn.queue_stats works on the standby');
is(on_standby(q{SELECT count(*) FROM sqsn.sn_list_topics()}), '1',
	'sn_list_topics works on the standby');
is(on_standby(q{SELECT sqsn.sn_get_topic_attributes('events') ? 'TopicArn'}), 't',
	'sn_get_topic_attributes works on the standby');
is(on_standby(q{SELECT count(*) FROM sqsn.sn_list_subscriptions()}), '1',
	'sn_list_subscriptions works on the standby');
like(on_standby(q{SELECT count(*) FROM sqsn.delivery_attempts}), qr/^\d+$/,
	'sqsn.delivery_attempts works on the standby');

# The endpoint on the standby: reads answered, writes refused.
my $client = "$tmp/api_client.py";
PostgreSQL::Test::Utils::append_to_file($client, <<'EOF');
import sys, boto3, botocore
from botocore.config import Config
url, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test",
                   config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                 connect_timeout=2, read_timeout=30))
q = url + "/000000000000/" + (args[0] if args else "")
try:
    if cmd == "list":
        print(",".join(sorted(u.rsplit("/", 1)[1] for u in sqs.list_queues().get("QueueUrls", []))))
    elif cmd == "attrs":
        print(sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
    elif cmd == "send":
        sqs.send_message(QueueUrl=q, MessageBody=args[1])
        print("sent")
    elif cmd == "receive":
        r = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10)
        print(",".join(sorted(m["Body"] for m in r.get("Messages", []))))
except botocore.exceptions.ClientError as e:
    print("error %s %d" % (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]))
EOF

sub api
{
	my ($port, @args) = @_;
	my ($o, $e) = ('', '');
	IPC::Run::run([ $python, $client, "http://127.0.0.1:$port", @args ], '>', \$o, '2>', \$e);
	chomp $o;
	diag($e) if $e ne '' && $o eq '';
	return $o;
}

SKIP:
{
	skip 'no /usr/bin/python3 with boto3', 5 unless $have_boto3;
	my $got = '';
	for (my $i = 0; $i < 100 && $got eq ''; $i++)
	{
		$got = api($standby_api, 'list');
		usleep(100_000) if $got eq '';
	}
	is($got, 'held,late,poll,work', 'ListQueues on the standby endpoint');
	is(api($standby_api, 'attrs', 'work'), '5', 'GetQueueAttributes on the standby endpoint');
	my $offset = -s $standby->logfile;
	is(api($standby_api, 'send', 'work', 'x'), 'error ServiceUnavailable 503',
		'SendMessage on the standby endpoint: ServiceUnavailable (503)');
	is(api($standby_api, 'receive', 'work'), 'error ServiceUnavailable 503',
		'ReceiveMessage on the standby endpoint: ServiceUnavailable (503)');
	my $log = slurp_file($standby->logfile, $offset);
	my @lines = $log =~ /this server is a standby: actions that write/g;
	is(scalar @lines, 1, 'the refusal is logged once');
}

# nothing complains in a loop on the standby
my $standby_log = slurp_file($standby->logfile);
# (the refusals of the calls above are the test's own, from its sessions)
my @errors = grep { /sqsn|background worker/ && /ERROR|FATAL|exited with exit code/ && !/standby_failover\.pl/ }
  split /\n/, $standby_log;
is(scalar(@errors), 0, 'no sqsn errors in the standby log')
  or diag(join("\n", @errors[0 .. ($#errors > 9 ? 9 : $#errors)]));

# --- state before the failover ---------------------------------------------

# leases taken before the failover, for 600 s
on_primary(q{SELECT sqsn.sq_send('held', 'held-' || i) FROM generate_series(1, 20) i});
my @held = split /\n/, on_primary(q{SELECT receipt_handle FROM sqsn.sq_receive('held', 10, 600)
	UNION ALL SELECT receipt_handle FROM sqsn.sq_receive('held', 10, 600)});
is(scalar @held, 20, '20 messages received with a 600 s lease on the primary');
# delayed messages (visible 4 s after the send)
on_primary(q{SELECT sqsn.sq_send('late', 'late-' || i) FROM generate_series(1, 3) i});
# pending pushes
my @pushed = split /\n/, on_primary(q{SELECT * FROM sqsn.sn_publish_batch('events',
	ARRAY['e1','e2','e3','e4','e5','e6','e7','e8','e9','e10'])});
ok($primary->poll_query_until('postgres',
		"SELECT min(attempts) >= 1 FROM sqsn.delivery WHERE subscription_id = '$sub'", 't'),
	'the pushes were attempted and wait for a retry');

# producers and consumers
my $load = SqsnFailover::start_load($primary, $tmp, 'work', 3, 2);
ok(SqsnFailover::wait_for_sends($primary, 'work', 300), 'the load runs');

# --- kill -9 the primary, promote the standby -------------------------------

$primary->kill9;
my $acked = SqsnFailover::finish_load($load);
$standby->promote;
ok(SqsnFailover::wait_for_promotion($standby), 'the standby is promoted; its worker runs');

my @sent = map { @{ $acked->{p}{$_} } } sort keys %{ $acked->{p} };
my @deleted = map { @{ $acked->{c}{$_} } } sort keys %{ $acked->{c} };
note(scalar(@sent) . ' acknowledged sends, ' . scalar(@deleted) . ' acknowledged deletes');
cmp_ok(scalar @sent, '>', 100, 'sends were acknowledged before the kill');
cmp_ok(scalar @deleted, '>', 0, 'deletes were acknowledged before the kill');

# (a delete committed but not yet acknowledged when the primary died is
# logged in failover_deleted, in its transaction)
my $stored = SqsnFailover::stored_bodies($standby, 'work');
my $logged = SqsnFailover::deleted_bodies($standby);
my @lost = grep { !$stored->{$_} && !$logged->{$_} } @sent;
is(scalar @lost, 0, 'every acknowledged send is on the new primary (or was deleted)')
  or diag("lost: @lost[0 .. ($#lost > 9 ? 9 : $#lost)]");
my @twice = grep { $stored->{$_} > 1 } keys %$stored;
is(scalar @twice, 0, 'no message is stored twice');
my @both = grep { $logged->{$_} > 1 || $stored->{$_} } keys %$logged;
is(scalar @both, 0, 'no message is both deleted and stored, or deleted twice')
  or diag("both: @both");
my @undeleted = grep { $stored->{$_} || !$logged->{$_} } @deleted;
is(scalar @undeleted, 0, 'every acknowledged delete stays deleted')
  or diag("back: @undeleted");
my %sent = map { $_ => 1 } @sent;
my @extra = grep { !$sent{$_} && !/^before-/ } keys %$stored;
cmp_ok(scalar @extra, '<=', 3,
	'stored but not acknowledged: at most the send each producer had in flight')
  or diag("extra: @extra");

# leases: the pre-failover leases hold, and their handles still delete
is(on_standby(q{SELECT count(*) FROM sqsn.sq_receive('held', 10)}), '0',
	'no message whose lease was taken before the failover is received again');
is(on_standby(q{SELECT in_flight FROM sqsn.queue_stats WHERE queue_name = 'held'}), '20',
	'the 20 leases are in flight on the new primary');
my $handles = join(',', map { "'$_'" } @held);
is(on_standby("SELECT count(*) FILTER (WHERE deleted) FROM sqsn.sq_delete_batch('held', ARRAY[$handles])"),
	'20', 'the receipt handles of before the failover delete on the new primary');

# the new primary serves the queue: the rest drains, exactly once each
my @drained = SqsnFailover::drain($standby, 'work');
is(join(',', @drained), join(',', sort keys %$stored),
	'every stored message is received once on the new primary');

# delayed messages become visible on schedule
ok($standby->poll_query_until('postgres',
		q{SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'late'}, '3'),
	'the delayed messages become visible');

# long polls wake on the new primary
my ($lp_out, $lp_err) = ('', '');
my $t0 = time();
my $lp = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $standby->connstr('postgres'), '-c',
	  q{SELECT body FROM sqsn.sq_receive('poll', 1, 30, 20)} ],
	'>', \$lp_out, '2>', \$lp_err);
usleep(1_000_000);
on_standby(q{SELECT sqsn.sq_send('poll', 'wake up')});
$lp->finish;
my $waited = time() - $t0;
is($lp_out, "wake up\n", 'a long poll on the new primary gets the message');
ok($waited < 8, "and returns at once (after $waited s, of 20)");

# the outbox resumes: every pending push is delivered
unlink "$sink->{dir}/down";
ok($standby->poll_query_until('postgres',
		"SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$sub' AND status = 'delivered'", '10'),
	'every pending push is delivered by the new primary');
my %got;
for my $r (SqsnPush::requests_to($sink, '/switch/events'))
{
	$got{ $r->{headers}{'x-amz-sns-message-id'} }++ if $r->{answer} eq '200';
}
is(scalar(grep { $got{$_} } @pushed), 10, 'the sink got all 10 messages');
is(on_standby("SELECT sqsn.sn_publish('events', 'after')") =~ /^[0-9a-f-]{36}$/ ? 1 : 0, 1,
	'publish works on the new primary');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$sub' AND status = 'delivered'", '11'),
	'and its push is delivered');

SKIP:
{
	skip 'no /usr/bin/python3 with boto3', 2 unless $have_boto3;
	is(api($standby_api, 'send', 'poll', 'through the endpoint'), 'sent',
		'SendMessage on the promoted endpoint');
	is(api($standby_api, 'receive', 'poll'), 'through the endpoint',
		'ReceiveMessage on the promoted endpoint');
}
ok(slurp_file($standby->logfile) =~ /the server was promoted; actions that write are served/,
	'the API worker logged the promotion');

$standby->stop;
SqsnPush::stop_sink($sink);
done_testing();
