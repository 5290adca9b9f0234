# HTTPS push: TLS certificates are verified. A sink with a self-signed
# certificate is refused until sqsn.http_ca_file names that certificate;
# then it gets the message over TLS.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $tmp/tls.key -out $tmp/tls.pem -days 2 "
	  . "-subj '/CN=127.0.0.1' -addext 'subjectAltName=IP:127.0.0.1' 2>/dev/null") == 0
  or BAIL_OUT('openssl could not make a certificate');
my $sink = SqsnPush::start_sink("$tmp/sink", '--cert', "$tmp/tls.pem", '--key', "$tmp/tls.key");
my $base = "https://127.0.0.1:$sink->{port}";

my $node = SqsnPush::push_node('sqsn_push_https', qq{
sqsn.http_auto_confirm_hosts = '127.0.0.1'
sqsn.http_timeout_ms = 3000
});

sub query { return $node->safe_psql('postgres', $_[0]); }

query(q{CREATE EXTENSION sqsn; SELECT sqsn.sn_create_topic('tls')});
my $policy = '{"healthyRetryPolicy": {"numRetries": 0}}';

# an_unknown_certificate_is_refused
my $s1 = query("SELECT sqsn.sn_subscribe('tls', 'https', '$base/ok/untrusted', delivery_policy => '$policy')");
query(q{SELECT sqsn.sn_publish('tls', 'over tls')});
ok($node->poll_query_until('postgres', "SELECT status FROM sqsn.delivery WHERE subscription_id = '$s1'", 'failed'),
	'a self-signed endpoint is not trusted');
like(query("SELECT error FROM sqsn.delivery_attempts WHERE subscription_id = '$s1'"),
	qr/SSL|certificate/i, 'the attempt failed on certificate verification');
is(scalar(SqsnPush::requests_to($sink, '/ok/untrusted')), 0, 'nothing was POSTed to it');

# sqsn.http_ca_file_makes_it_trusted
$node->append_conf('postgresql.conf', "sqsn.http_ca_file = '$tmp/tls.pem'");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('sqsn.http_ca_file') <> ''}) or die;
sleep 1;
my $s2 = query("SELECT sqsn.sn_subscribe('tls', 'https', '$base/ok/trusted', delivery_policy => '$policy')");
query("SELECT sqsn.sn_unsubscribe('$s1')");
my $mid = query(q{SELECT sqsn.sn_publish('tls', 'over tls, trusted')});
ok($node->poll_query_until('postgres', "SELECT status FROM sqsn.delivery WHERE subscription_id = '$s2'", 'delivered'),
	'with sqsn.http_ca_file naming its certificate the endpoint gets the message');
my @r = SqsnPush::requests_to($sink, '/ok/trusted');
is(scalar(@r), 1, 'one POST over TLS');
is(decode_json($r[0]{body})->{MessageId}, $mid, 'the envelope arrived');

done_testing();
$node->stop;
SqsnPush::stop_sink($sink);
