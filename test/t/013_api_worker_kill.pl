# The endpoint survives an API worker killed with kill -9 while a request is
# in progress: the postmaster restarts the server (crash recovery) and the
# API workers with it, the port serves again, and every message committed
# through the endpoint before the kill is still there, in SQL and through
# the endpoint. The client is Debian's boto3 (/usr/bin/python3).

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $python = '/usr/bin/python3';
plan skip_all => 'no /usr/bin/python3 with boto3'
  unless -x $python && system($python, '-c', 'import boto3') == 0;

my $node = PostgreSQL::Test::Cluster->new('sqsn_api_kill');
my $api_port = PostgreSQL::Test::Cluster::get_free_port();
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
sqsn.api_port = $api_port
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_workers = 2
sqsn.api_auth = 'none'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION sqsn');
my $url = "http://127.0.0.1:$api_port";

# A small client: create NAME | send URL PREFIX N | receive_all URL |
# wait URL SECONDS | ping
my $client = "${PostgreSQL::Test::Utils::tmp_check}/api_client.py";
open my $fh, '>', $client or die "cannot write $client: $!";
print $fh <<'EOF';
import sys, boto3
from botocore.config import Config
url, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test",
                   config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                 connect_timeout=2, read_timeout=60))
if cmd == "ping":
    sqs.list_queues()
elif cmd == "create":
    print(sqs.create_queue(QueueName=args[0])["QueueUrl"])
elif cmd == "send":
    q, prefix, n = args[0], args[1], int(args[2])
    sent = 0
    for start in range(0, n, 10):
        r = sqs.send_message_batch(QueueUrl=q, Entries=[
            {"Id": "m%d" % i, "MessageBody": "%s-%d" % (prefix, i)}
            for i in range(start, min(n, start + 10))])
        assert not r.get("Failed"), r
        sent += len(r["Successful"])
    print(sent)
elif cmd == "receive_all":
    bodies = []
    while True:
        r = sqs.receive_message(QueueUrl=args[0], MaxNumberOfMessages=10, VisibilityTimeout=600)
        if not r.get("Messages"):
            break
        bodies += [m["Body"] for m in r["Messages"]]
    print("\n".join(sorted(bodies)))
elif cmd == "wait":
    print("waiting", flush=True)
    try:
        r = sqs.receive_message(QueueUrl=args[0], WaitTimeSeconds=int(args[1]))
        print("done %d" % len(r.get("Messages", [])))
    except Exception as e:
        print("error %s" % type(e).__name__)
EOF
close $fh;

sub api
{
	my @cmd = ($python, $client, $url, @_);
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	chomp $out;
	return wantarray ? ($ok, $out, $err) : $out;
}

# the endpoint answers (polled: the workers start with the server)
sub wait_for_endpoint
{
	for (my $i = 0; $i < 300; $i++)
	{
		my ($ok) = api('ping');
		return 1 if $ok;
		usleep(100_000);
	}
	return 0;
}

sub api_pids
{
	return split /\n/, $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn api' ORDER BY pid");
}

ok(wait_for_endpoint(), 'the endpoint answers');
my @pids = api_pids();
is(scalar @pids, 2, 'two API workers (sqsn.api_workers)');

my $n = 50;
my ($ok, $q, $err) = api('create', 'kill_q');
ok($ok, 'CreateQueue through the endpoint') or diag($err);
is($q, "$url/000000000000/kill_q", 'the queue URL');
my $wait_q = api('create', 'kill_wait');
is(api('send', $q, 'before', $n), $n, "$n messages sent through the endpoint");
is($node->safe_psql('postgres',
		"SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'kill_q'"),
	$n, 'SQL sees them');

# a long poll in progress on an empty queue
my ($wout, $werr) = ('', '');
my $waiter = IPC::Run::start([ $python, $client, $url, 'wait', $wait_q, '20' ],
	'>', \$wout, '2>', \$werr);
for (my $i = 0; $i < 100 && $wout !~ /waiting/; $i++)
{
	$waiter->pump_nb;
	usleep(50_000);
}
like($wout, qr/waiting/, 'a ReceiveMessage with WaitTimeSeconds=20 is under way');
usleep(1_000_000);    # let it reach a worker and suspend there
$waiter->pump_nb;
unlike($wout, qr/done|error/, 'it is still waiting');

# kill -9 one API worker
my $log_offset = -s $node->logfile;
ok(kill('KILL', $pids[0]), "kill -9 the API worker $pids[0]");
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'the server did not come back after the API worker was killed';
ok(wait_for_endpoint(), 'the endpoint answers again after the restart');
my @new_pids;
for (my $i = 0; $i < 100; $i++)
{
	@new_pids = api_pids();
	last if @new_pids == 2;
	usleep(100_000);
}
is(scalar @new_pids, 2, 'both API workers are back');
ok(!grep({ my $p = $_; grep { $_ == $p } @pids } @new_pids), 'as new processes');

# the interrupted request ended (with an error or an empty answer), it does
# not hang
my $finished = 0;
for (my $i = 0; $i < 600; $i++)
{
	if (!$waiter->pumpable)
	{
		$finished = 1;
		last;
	}
	$waiter->pump_nb;
	usleep(50_000);
}
ok($finished, 'the interrupted long poll ended') or $waiter->kill_kill;
$waiter->finish if $finished;
like($wout, qr/done 0|error/, "its client saw an error or no message");

($ok, my $out, $err) = api('send', $q, 'after', 1);
ok($ok && $out eq '1', 'SendMessage succeeds after the restart') or diag($err);
is($node->safe_psql('postgres',
		"SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'kill_q'"),
	$n + 1, 'every message committed before the kill is still there (SQL)');
my $bodies = api('receive_all', $q);
my @want = sort(map({ "before-$_" } 0 .. $n - 1), 'after-0');
is($bodies, join("\n", @want), 'and all are received through the endpoint');
is($node->safe_psql('postgres',
		"SELECT visible || '/' || in_flight FROM sqsn.queue_stats WHERE queue_name = 'kill_q'"),
	'0/' . ($n + 1), 'all in flight now');

$node->stop;
done_testing();
