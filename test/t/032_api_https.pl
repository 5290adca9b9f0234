# HTTPS on the endpoint (sqsn.api_tls_cert_file, sqsn.api_tls_key_file):
# boto3 and the AWS CLI talk to it while verifying its certificate against
# a CA made for the test, and the queue URLs it hands out say https; a
# client that does not trust the CA is refused by its own check, and plain
# HTTP gets no answer. A key file others may read, or one TLS setting
# without the other, leaves the endpoint off with a warning instead of
# serving plain HTTP.

use strict;
use warnings;

use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $python = '/usr/bin/python3';
plan skip_all => 'no /usr/bin/python3 with boto3'
  unless -x $python && system($python, '-c', 'import boto3') == 0;
plan skip_all => 'no openssl' unless system('openssl version >/dev/null 2>&1') == 0;

my $dir = PostgreSQL::Test::Utils::tempdir();
sub openssl
{
	my $cmd = join(' ', 'openssl', @_);
	system("$cmd >$dir/openssl.log 2>&1") == 0 or die "$cmd failed: " . slurp_file("$dir/openssl.log");
}
# a CA, and a certificate for 127.0.0.1 that it signs
openssl(qw(req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sqsn-test-ca),
	"-keyout $dir/ca.key -out $dir/ca.pem");
openssl(qw(req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1), "-keyout $dir/server.key -out $dir/server.csr");
open my $ext, '>', "$dir/san.ext" or die;
print $ext "subjectAltName = IP:127.0.0.1\n";
close $ext;
openssl(qw(x509 -req -days 2 -CAcreateserial), "-in $dir/server.csr -CA $dir/ca.pem -CAkey $dir/ca.key",
	"-extfile $dir/san.ext -out $dir/server.pem");
chmod 0600, "$dir/server.key";

my $node = PostgreSQL::Test::Cluster->new('sqsn_api_https');
my $api_port = PostgreSQL::Test::Cluster::get_free_port();
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.api_port = $api_port
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_auth = 'none'
sqsn.api_tls_cert_file = '$dir/server.pem'
sqsn.api_tls_key_file = '$dir/server.key'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION sqsn');
my $url = "https://127.0.0.1:$api_port";

my $client = "$dir/client.py";
open my $fh, '>', $client or die "cannot write $client: $!";
print $fh <<'PY';
import sys, boto3
from botocore.config import Config
url, verify, cmd = sys.argv[1], sys.argv[2], sys.argv[3]
sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test",
                   verify=(True if verify == "system" else verify),
                   config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                 connect_timeout=5, read_timeout=30))
try:
    if cmd == "roundtrip":
        q = sqs.create_queue(QueueName="secure")["QueueUrl"]
        sqs.send_message(QueueUrl=q, MessageBody="over tls")
        m = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=1)["Messages"][0]
        sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
        print(q)
        print(m["Body"])
    else:
        sqs.list_queues()
        print("answered")
except Exception as e:
    print("error %s: %s" % (type(e).__name__, e))
PY
close $fh;

sub client
{
	my ($verify, $cmd) = @_;
	my ($out, $err) = run_command([ $python, $client, $url, $verify, $cmd ]);
	chomp $out;
	return $out;
}

$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'sqsn api'})
  or die 'the endpoint did not start';
is(client("$dir/ca.pem", 'roundtrip'), "$url/000000000000/secure\nover tls",
	'boto3 verifying the certificate: create, send, receive, delete; the queue URL says https');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sqsn.queue WHERE queue_name = 'secure'}), '1',
	'the queue made over HTTPS is there');
like(client('system', 'list'), qr/^error SSLError:.*certificate verify failed/,
	'a client that does not trust the CA refuses the certificate');

my $aws = '/usr/bin/aws';
SKIP:
{
	skip 'no AWS CLI at /usr/bin/aws', 1 unless -x $aws;
	local $ENV{AWS_ACCESS_KEY_ID} = 'test';
	local $ENV{AWS_SECRET_ACCESS_KEY} = 'test';
	local $ENV{AWS_CONFIG_FILE} = '/dev/null';
	my ($out, $err) = run_command([ $aws, '--endpoint-url', $url, '--ca-bundle', "$dir/ca.pem",
		'--region', 'us-east-1', '--output', 'text', 'sqs', 'list-queues' ]);
	like($out, qr{^QUEUEURLS\s+\Q$url\E/000000000000/secure$}m, 'the AWS CLI lists the queue over HTTPS')
	  or diag($err);
}

# plain HTTP on the same port gets no HTTP answer
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $api_port, Timeout => 5)
  or die "cannot connect: $!";
print $sock "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
  . "Content-Length: 17\r\nConnection: close\r\n\r\nAction=ListQueues";
my $reply = '';
while (my $got = <$sock>) { $reply .= $got; }
close $sock;
unlike($reply, qr/ListQueuesResponse/, 'plain HTTP gets no answer from the HTTPS endpoint');

# unsafe settings leave the endpoint off
sub restart_with
{
	my ($conf) = @_;
	$node->stop;
	$node->append_conf('postgresql.conf', $conf);
	my $offset = -s $node->logfile;
	$node->start;
	$node->safe_psql('postgres', 'SELECT 1');
	return $offset;
}

sub endpoint_off
{
	my ($what, $offset, $warning) = @_;
	ok($node->wait_for_log(qr/sqsn endpoint not started: $warning/, $offset), "$what: the log says why");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn api'}),
		'0', "$what: no endpoint worker runs");
	ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $api_port, Timeout => 2),
		"$what: the port takes no connection");
}

chmod 0644, "$dir/server.key";
endpoint_off('a key file others may read', restart_with(''),
	qr/TLS key file ".*server\.key" has group or world access/);
chmod 0600, "$dir/server.key";
endpoint_off('a certificate without a key', restart_with("sqsn.api_tls_key_file = ''\n"),
	qr/sqsn\.api_tls_cert_file is set but sqsn\.api_tls_key_file is not/);

$node->stop;
done_testing();
