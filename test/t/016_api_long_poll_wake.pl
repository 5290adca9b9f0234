# The endpoint answers a long-polling ReceiveMessage as soon as a message is
# committed, even when that request is the only connection of its worker:
# the resumed connection is sent at once, not at the worker's next event
# (before, it waited for the loop's timeout, up to a second).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use IPC::Run;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('sqsn_api_wake');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.database_name = 'postgres'
});
$node->start;
$node->safe_psql('postgres',
	"CREATE EXTENSION sqsn; SELECT sqsn.sq_create_queue('wake_q')");

# One worker, so no other connection's traffic wakes it.
my $port = PostgreSQL::Test::Cluster::get_free_port();
$node->append_conf('postgresql.conf', qq{
sqsn.api_port = $port
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_workers = 1
sqsn.api_auth = 'none'
});
$node->restart;

my $queue_url = "http://127.0.0.1:$port/000000000000/wake_q";

# Sends a ReceiveMessage (query protocol, Connection: close) and returns
# the socket to read the answer from; undef if the endpoint does not accept.
sub start_receive
{
	my ($wait) = @_;
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 5);
	return undef unless $sock;
	(my $qurl = $queue_url) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
	my $body = "Action=ReceiveMessage&Version=2012-11-05&QueueUrl=$qurl"
	  . "&WaitTimeSeconds=$wait";
	print $sock "POST / HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
	  . "Content-Type: application/x-www-form-urlencoded\r\n"
	  . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n"
	  . $body;
	return $sock;
}

# The whole answer (headers and body), read until the endpoint closes.
sub finish_receive
{
	my ($sock) = @_;
	my $answer = '';
	local $/;
	$answer = <$sock>;
	close $sock;
	return $answer // '';
}

sub receive
{
	my $sock = start_receive($_[0]);
	return $sock ? finish_receive($sock) : '';
}

# The endpoint is up.
my $up = 0;
for (1 .. 100)
{
	if (receive(0) =~ /ReceiveMessageResponse/)
	{
		$up = 1;
		last;
	}
	sleep 0.1;
}
ok($up, 'the endpoint answers an empty receive');

# A long poll with nothing to receive waits, then answers empty.
my $t0 = time;
my $out = receive(1);
my $waited = time - $t0;
like($out, qr{<ReceiveMessageResult\s*/>|<ReceiveMessageResult></ReceiveMessageResult>},
	'an empty long poll answers an empty result');
cmp_ok($waited, '>=', 0.9, 'an empty long poll waits its WaitTimeSeconds');

# Seven wakes: each long poll is answered well within half a second of the
# commit. Before the fix, the answer waited for the worker's next event, so
# each wake took anywhere up to a second: seven under 0.5 s had a chance of
# 1 in 128.
# The sends come from one open psql session, so no process start is timed.
my ($psql_in, $psql_out) = ('', '');
my $psql = IPC::Run::start(
	[
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres')
	],
	'<', \$psql_in, '>', \$psql_out, '2>', \$psql_out,
	IPC::Run::timeout(180));
my @took;
for my $i (1 .. 7)
{
	my $sock = start_receive(20);
	# let the request arrive and be suspended
	sleep 0.5;
	my $sent = time;
	$psql_in .= "SELECT sqsn.sq_send('wake_q', 'wake $i');\n";
	$psql->pump_nb;
	my $o = finish_receive($sock);
	my $took = time - $sent;
	push @took, $took;
	like($o, qr{<Body>wake $i</Body>}, "wake $i: the long poll returns the message");
	cmp_ok($took, '<', 0.5, "wake $i: answered within 0.5 s of the send");
	if ($o =~ m{<ReceiptHandle>([^<]+)</ReceiptHandle>})
	{
		my $handle = $1;
		$handle =~ s/&amp;/&/g;
		$node->safe_psql('postgres',
			"SELECT sqsn.sq_delete('wake_q', '$handle')");
	}
}
$psql_in .= "\\q\n";
$psql->finish;
unlike($psql_out, qr/ERROR/, 'the sends raised no error');
note(sprintf('wake times (s): %s', join(' ', map { sprintf '%.3f', $_ } @took)));

$node->stop;
done_testing();
