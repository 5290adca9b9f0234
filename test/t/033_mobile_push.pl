# Mobile push (application subscriptions and publishes straight to platform
# endpoints) against fake providers on 127.0.0.1: Firebase Cloud Messaging
# HTTP v1 (test/fcm_fake.py: the service account's RS256 JWT and its claims
# verified at the token endpoint, the access token checked on every send)
# and APNs over HTTP/2 with prior knowledge (test/apns_fake.py: the ES256
# provider JWT verified with the key's public key). Checked: the requests
# byte for byte per platform, the access token and JWT cached, retries and
# dead-letter, invalid device tokens disabling their endpoint (and a
# publish to it then failing), the SSRF guard on the provider hosts, and a
# kill -9 of the delivery worker mid-batch losing nothing. The keys are
# made here with openssl.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;

sub openssl
{
	system(join(' ', 'openssl', @_, '2>/dev/null')) == 0 or die "openssl @_ failed";
}
openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$tmp/fcm.pem");
openssl('pkey', '-in', "$tmp/fcm.pem", '-pubout', '-out', "$tmp/fcm.pub");
openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', "$tmp/apns.p8");
openssl('pkey', '-in', "$tmp/apns.p8", '-pubout', '-out', "$tmp/apns.pub");

my $email = 'push@demo-project.iam.gserviceaccount.com';
my $fcm = SqsnPush::start_fcm_fake("$tmp/fcm", '--public-key', "$tmp/fcm.pub",
	'--client-email', $email);
my $apns = SqsnPush::start_apns_fake("$tmp/apns", '--public-key', "$tmp/apns.pub",
	'--key-id', 'ABC123DEFG', '--team-id', 'TEAM123456', '--bundle-id', 'com.example.app');
my ($fport, $aport) = ($fcm->{port}, $apns->{port});

SqsnPush::write_secret("$tmp/master.key",
	join('', map { sprintf '%02x', int(rand(256)) } 1 .. 32) . "\n");

my $node = SqsnPush::push_node('sqsn_mobile', qq{
sqsn.http_timeout_ms = 30000
sqsn.master_key_file = '$tmp/master.key'
sqsn.fcm_url = 'http://127.0.0.1:$fport'
sqsn.apns_url = 'http://127.0.0.1:$aport'
sqsn.apns_sandbox_url = 'http://127.0.0.1:$aport'
});

sub query { return $node->safe_psql('postgres', $_[0]); }
sub poll { SqsnPush::poll_until($node, @_); }
sub set_conf { SqsnPush::set_conf($node, @_); }
sub literal { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

my $account = encode_json({ type => 'service_account', project_id => 'demo-project',
	client_email => $email, private_key => slurp_file("$tmp/fcm.pem"),
	token_uri => "http://127.0.0.1:$fport/token" });
my $p8 = slurp_file("$tmp/apns.p8");

query(q{CREATE EXTENSION sqsn});
my $gcm_app = query("SELECT sqsn.sn_create_platform_application('android', 'GCM',
	jsonb_build_object('PlatformCredential', " . literal($account) . "))");
my $apns_app = query("SELECT sqsn.sn_create_platform_application('ios', 'APNS',
	jsonb_build_object('PlatformCredential', " . literal($p8) . ",
		'PlatformPrincipal', 'ABC123DEFG', 'ApplePlatformTeamID', 'TEAM123456',
		'ApplePlatformBundleID', 'com.example.app'))");
sub endpoint
{
	my ($app, $token) = @_;
	return query("SELECT sqsn.sn_create_platform_endpoint('$app', '$token')");
}
my $android = endpoint($gcm_app, 'device-1');
my $iphone = endpoint($apns_app, 'a1b2c3d4');

query(q{SELECT sqsn.sn_create_topic('news'); SELECT sqsn.sq_create_queue('mobile-dlq')});
my $sub_a = query("SELECT sqsn.sn_subscribe('news', 'application', '$android')");
my $sub_i = query("SELECT sqsn.sn_subscribe('news', 'application', '$iphone')");

# --- a publish to a topic: one request per platform ---------------------------------

my $id = query(q{SELECT sqsn.sn_publish('news', 'Hello "world"')});
my ($send) = SqsnPush::wait_for_pushes($fcm, '/v1/', 1);
ok($send, 'FCM got the push');
is($send->{path}, '/v1/projects/demo-project/messages:send', 'to the project of the service account');
is($send->{body}, '{"message":{"token":"device-1","notification":{"body":"Hello \"world\""}}}',
	'the FCM body: the device token and the default payload');
is($send->{status}, 200, 'with the access token from the token endpoint');
my @tokens = SqsnPush::pushes($fcm);
@tokens = grep { $_->{path} eq '/token' } @tokens;
is(scalar(@tokens), 1, 'one access token request');
is($tokens[0]{status}, 200, "the service account's JWT verified (RS256, claims)")
  or diag($tokens[0]{error});
is($tokens[0]{claims}{iss}, $email, 'iss is the client_email');
is($tokens[0]{claims}{scope}, 'https://www.googleapis.com/auth/firebase.messaging', 'scope');
is($tokens[0]{claims}{aud}, "http://127.0.0.1:$fport/token", 'aud is the token_uri');
is($send->{headers}{Authorization}, "Bearer $tokens[0]{access_token}", 'the access token as bearer');

my ($push) = SqsnPush::wait_for_pushes($apns, '/3/device/', 1);
ok($push, 'APNs got the push');
is($push->{path}, '/3/device/a1b2c3d4', 'to the device token');
is($push->{body}, '{"aps":{"alert":"Hello \"world\""}}', 'the APNs body: the default payload');
is($push->{status}, 200, 'accepted: the provider JWT verified (ES256)') or diag($push->{error});
is($push->{jwt_header}{kid}, 'ABC123DEFG', 'kid is the key id (PlatformPrincipal)');
is($push->{claims}{iss}, 'TEAM123456', 'iss is the team id');
is($push->{headers}{'apns-topic'}, 'com.example.app', 'apns-topic is the bundle id');
is($push->{headers}{'apns-push-type'}, 'alert', 'apns-push-type alert');
is($push->{headers}{'apns-id'}, $id, 'apns-id is the message id');
poll("SELECT count(*) FROM sqsn.delivery WHERE status = 'delivered'", '2', 'both delivered');

# --- per-platform payloads, tokens cached ------------------------------------------------

my $structured = encode_json({ default => 'fallback',
	GCM => '{"fcmV1Message":{"message":{"data":{"k":"v"},"android":{"priority":"high"}}}}',
	APNS => '{"aps":{"content-available":1},"extra":"x"}' });
query("SELECT sqsn.sn_publish('news', " . literal($structured) . ", message_structure => 'json')");
my @sends = SqsnPush::wait_for_pushes($fcm, '/v1/', 2);
is($sends[1]{body}, '{"message":{"token":"device-1","data": {"k": "v"}, "android": {"priority": "high"}}}',
	'the GCM text of the message: the members of fcmV1Message.message');
my @apns_pushes = SqsnPush::wait_for_pushes($apns, '/3/device/', 2);
is($apns_pushes[1]{body}, '{"aps":{"content-available":1},"extra":"x"}', 'the APNS text as it was given');
is($apns_pushes[1]{headers}{'apns-push-type'}, 'background', 'content-available without alert: background');
is(scalar(grep { $_->{path} eq '/token' } SqsnPush::pushes($fcm)), 1, 'the access token was cached');
is($apns_pushes[1]{headers}{authorization}, $apns_pushes[0]{headers}{authorization},
	'and the provider JWT');

# --- straight to an endpoint -----------------------------------------------------------------

my $direct = query("SELECT sqsn.sn_publish('$iphone', 'direct', subject => 'ignored')");
@apns_pushes = SqsnPush::wait_for_pushes($apns, '/3/device/', 3);
is($apns_pushes[2]{headers}{'apns-id'}, $direct, 'a publish to the endpoint ARN is pushed');
poll("SELECT status FROM sqsn.delivery WHERE message_id = '$direct'", 'delivered', 'and delivered');

# --- retries and dead-letter ------------------------------------------------------------------

my $policy = q{'{"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}'};
my $redrive = q{'{"deadLetterTargetArn": "mobile-dlq"}'};
query(q{SELECT sqsn.sn_create_topic('retry')});
my $failing = endpoint($gcm_app, 'fail500-x');
my $rejected = endpoint($apns_app, 'big-1');
my $s500 = query("SELECT sqsn.sn_subscribe('retry', 'application', '$failing',
	delivery_policy => $policy, redrive_policy => $redrive)");
my $s413 = query("SELECT sqsn.sn_subscribe('retry', 'application', '$rejected',
	delivery_policy => $policy, redrive_policy => $redrive)");
query(q{SELECT sqsn.sn_publish('retry', 'provider trouble')});
poll("SELECT status || ',' || attempts FROM sqsn.delivery WHERE subscription_id = '$s500'", 'dead_lettered,3',
	'FCM 500: retried per the policy, then dead-lettered');
poll("SELECT status || ',' || attempts FROM sqsn.delivery WHERE subscription_id = '$s413'", 'dead_lettered,1',
	'APNs 413 (another 4xx): dead-lettered without retries');
is(query(q{SELECT string_agg(message_attributes->'ErrorCode'->>'StringValue', ',' ORDER BY 1)
	FROM sqsn.sq_receive('mobile-dlq', 10)}), 'HttpStatus413,HttpStatus500',
	'the dead-letter queue has both, with the provider status');

# --- invalid device tokens disable their endpoint ------------------------------------------

sub disabled_by
{
	my ($app, $token, $what) = @_;
	my $ep = endpoint($app, $token);
	my $mid = query("SELECT sqsn.sn_publish('$ep', 'to $token')");
	poll("SELECT status || ',' || attempts FROM sqsn.delivery WHERE message_id = '$mid'", 'failed,1',
		"$what: the delivery fails without retries");
	is(query("SELECT sqsn.sn_get_endpoint_attributes('$ep')->>'Enabled'"), 'false',
		"$what: the endpoint is disabled");
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT sqsn.sn_publish('$ep', 'again')");
	like($err, qr/endpoint is disabled/, "$what: a publish to it then fails (EndpointDisabled)");
	return $ep;
}
disabled_by($gcm_app, 'unregistered-1', 'FCM UNREGISTERED');
disabled_by($gcm_app, 'invalid-1', 'FCM INVALID_ARGUMENT about the token');
disabled_by($apns_app, 'gone-1', 'APNs 410 Unregistered');
my $bad = disabled_by($apns_app, 'bad-1', 'APNs BadDeviceToken');
query("SELECT sqsn.sn_set_endpoint_attributes('$bad', '{\"Enabled\": \"true\"}')");
is(query("SELECT sqsn.sn_get_endpoint_attributes('$bad')->>'Enabled'"), 'true', 'an endpoint can be enabled again');

# --- SSRF guard on the provider hosts -------------------------------------------------------

query(q{SELECT sqsn.sn_create_topic('guard')});
my $gsub = query("SELECT sqsn.sn_subscribe('guard', 'application', '$android',
	delivery_policy => '{\"healthyRetryPolicy\": {\"numRetries\": 20, \"minDelayTarget\": 1, \"maxDelayTarget\": 1}}')");
set_conf('sqsn.fcm_url', "http://127.0.0.2:$fport");
my $before = scalar(SqsnPush::pushes($fcm));
query(q{SELECT sqsn.sn_publish('guard', 'guarded')});
poll("SELECT count(*) > 0 FROM sqsn.delivery_attempts WHERE subscription_id = '$gsub' AND error ~ '^refused:'",
	't', 'FCM on a host outside sqsn.http_allowed_hosts: refused');
is(scalar(SqsnPush::pushes($fcm)), $before, 'nothing reached the provider');
set_conf('sqsn.fcm_url', "http://127.0.0.1:$fport");
poll("SELECT status FROM sqsn.delivery WHERE subscription_id = '$gsub'", 'delivered', 'sent once allowed');

# --- kill -9 of the delivery worker mid-batch ------------------------------------------------

my $slow = endpoint($gcm_app, 'slow-1');
query(q{SELECT sqsn.sn_create_topic('crash')});
my $ksub = query("SELECT sqsn.sn_subscribe('crash', 'application', '$slow')");
my $kfast = query("SELECT sqsn.sn_subscribe('crash', 'application', '$iphone')");
query(q{SELECT sqsn.sn_publish_batch('crash', (SELECT array_agg('k' || i) FROM generate_series(1, 40) i))});
SqsnPush::wait_for_pushes($fcm, '/v1/', scalar(grep { index($_->{path}, '/v1/') == 0 } SqsnPush::pushes($fcm)) + 1);
my $pid = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker'");
kill 'KILL', $pid;
$node->poll_query_until('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker' AND pid <> $pid", '1')
  or die 'no new delivery worker';
poll("SELECT count(*) FROM sqsn.delivery WHERE subscription_id IN ('$ksub', '$kfast') AND status = 'delivered'",
	'80', 'after kill -9 every push is delivered');
my %got;
foreach my $r (SqsnPush::pushes($fcm), SqsnPush::pushes($apns))
{
	next unless $r->{status} == 200 && $r->{path} ne '/token';
	my $b = decode_json($r->{body});
	my $text = $b->{message} ? $b->{message}{notification}{body} : $b->{aps}{alert};
	$got{ ($b->{message} ? 'f' : 'a') . ($text // '') } = 1;
}
is(scalar(grep { $got{"fk$_"} && $got{"ak$_"} } 1 .. 40), 40,
	'both providers got all 40 (at least once each)');

SqsnPush::stop_sink($fcm);
SqsnPush::stop_sink($apns);
done_testing();
