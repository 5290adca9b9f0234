# Push delivery to HTTP endpoints, against a real HTTP server on 127.0.0.1
# (test/http_sink.py): confirmation, the envelope and headers, signatures a
# receiver can verify, raw delivery, nothing for rolled-back publishes or
# unconfirmed subscriptions, many POSTs in flight at once, retries on the
# policy's schedule, the dead-letter queue after the last retry, failed
# deliveries recorded, timeouts, redirects not followed, throttling, the
# SSRF guard, the attempts and stats views, and cleanup of delivered rows.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;

# a signing key pair, as make demo makes one
system_or_bail('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
	'-keyout', "$tmp/key.pem", '-out', "$tmp/cert.pem", '-days', '2',
	'-subj', '/CN=sqsn test signing', '-loglevel', 'error')
  if 0;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $tmp/key.pem -out $tmp/cert.pem -days 2 -subj '/CN=sqsn test signing' 2>/dev/null") == 0
  or BAIL_OUT('openssl could not make a key pair');

my $sink = SqsnPush::start_sink("$tmp/sink");
my $port = $sink->{port};
my $base = "http://127.0.0.1:$port";

my $node = PostgreSQL::Test::Cluster->new('sqsn_push');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.poll_interval = '200ms'
sqsn.http_allowed_hosts = '127.0.0.1'
sqsn.http_timeout_ms = 1500
sqsn.signing_key_file = '$tmp/key.pem'
sqsn.signing_certificate_file = '$tmp/cert.pem'
sqsn.signing_certificate_url = 'https://sqsn.example/cert.pem'
sqsn.delivery_retention = 3600
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

sub poll
{
	my ($sql, $expected, $what) = @_;
	ok($node->poll_query_until('postgres', $sql, $expected), $what)
	  or diag(query("SELECT * FROM sqsn.delivery ORDER BY delivery_id"));
}

query(q{
	CREATE EXTENSION sqsn;
	SELECT sqsn.sn_create_topic('orders');
	SELECT sqsn.sq_create_queue('push-dlq');
});

# --- confirmation -----------------------------------------------------------

# http_subscription_starts_pending_and_gets_a_confirmation_request
my $sub = query("SELECT sqsn.sn_subscribe('orders', 'http', '$base/ok/confirm')");
like($sub, qr/^[0-9a-f-]{36}$/, 'sn_subscribe returns the subscription id');
is(query(q{SELECT status FROM sqsn.sn_list_subscriptions('orders')}),
	'pending confirmation', 'the subscription is pending confirmation');

my @conf = SqsnPush::wait_for_requests($sink, '/ok/confirm', 1);
is(scalar(@conf), 1, 'one confirmation request POSTed');
my $c = $conf[0];
my $env = decode_json($c->{body});
is($env->{Type}, 'SubscriptionConfirmation', 'Type is SubscriptionConfirmation');
is($c->{headers}{'x-amz-sns-message-type'}, 'SubscriptionConfirmation',
	'x-amz-sns-message-type header');
like($env->{Token}, qr/^[0-9a-f]{64}$/, 'the request carries a token');
is($env->{TopicArn}, 'arn:aws:sns:us-east-1:000000000000:orders', 'TopicArn names the topic');
like($env->{SubscribeURL}, qr/Action=ConfirmSubscription.*Token=$env->{Token}/,
	'SubscribeURL has the token');
like($env->{Message}, qr/You have chosen to subscribe to the topic/, 'Message');
like($env->{Timestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'Timestamp');
like($env->{MessageId}, qr/^[0-9a-f-]{36}$/, 'MessageId');
is($env->{SignatureVersion}, '2', 'SignatureVersion 2');
ok(length($env->{Signature}) > 100, 'the request is signed');

# unconfirmed_subscriptions_receive_nothing
query(q{SELECT sqsn.sn_publish('orders', 'before confirmation')});

# a wrong token is refused and changes nothing
my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT sqsn.sn_confirm_subscription('orders', 'nope')});
like($err, qr/invalid confirmation token for topic "orders"/, 'a wrong token is refused');

is(query("SELECT sqsn.sn_confirm_subscription('orders', '$env->{Token}')"), $sub,
	'sn_confirm_subscription returns the subscription id');
is(query("SELECT sqsn.sn_confirm_subscription('orders', '$env->{Token}')"), $sub,
	'confirming again returns it again');
is(query(q{SELECT status FROM sqsn.sn_list_subscriptions('orders')}),
	'confirmed', 'the subscription is confirmed');

# --- notification envelope and headers --------------------------------------

my $mid = query(q{SELECT sqsn.sn_publish('orders', 'order 42 "shipped"',
	message_attributes => '{"color": "red", "size": 3}', subject => 'Status')});
my @n = SqsnPush::wait_for_requests($sink, '/ok/confirm', 2);
is(scalar(@n), 2, 'one notification after the confirmation, none from before it');
my $r = $n[1];
$env = decode_json($r->{body});
is($env->{Type}, 'Notification', 'Type Notification');
is($env->{MessageId}, $mid, 'MessageId is the id sn_publish returned');
is($env->{Message}, 'order 42 "shipped"', 'Message');
is($env->{Subject}, 'Status', 'Subject');
is($env->{TopicArn}, 'arn:aws:sns:us-east-1:000000000000:orders', 'TopicArn');
is_deeply($env->{MessageAttributes},
	{ color => { Type => 'String', Value => 'red' }, size => { Type => 'Number', Value => '3' } },
	'MessageAttributes');
is($env->{SigningCertURL}, 'https://sqsn.example/cert.pem', 'SigningCertURL');
like($env->{UnsubscribeURL}, qr/Action=Unsubscribe.*SubscriptionArn=arn:aws:sns:us-east-1:000000000000:orders:$sub/,
	'UnsubscribeURL');
is($r->{method}, 'POST', 'a POST');
is($r->{headers}{'content-type'}, 'text/plain; charset=UTF-8', 'Content-Type');
is($r->{headers}{'x-amz-sns-message-type'}, 'Notification', 'x-amz-sns-message-type');
is($r->{headers}{'x-amz-sns-message-id'}, $mid, 'x-amz-sns-message-id');
is($r->{headers}{'x-amz-sns-topic-arn'}, 'arn:aws:sns:us-east-1:000000000000:orders', 'x-amz-sns-topic-arn');
is($r->{headers}{'x-amz-sns-subscription-arn'}, "arn:aws:sns:us-east-1:000000000000:orders:$sub",
	'x-amz-sns-subscription-arn');
like($r->{headers}{'user-agent'}, qr/^sqsn\//, 'User-Agent names sqsn');
ok(!exists $r->{headers}{'x-amz-sns-rawdelivery'}, 'no raw delivery header');

# signatures_verify_with_the_certificate (the receiver code of docs/topics.md)
my $cert = query('SELECT sqsn.signing_certificate()');
like($cert, qr/BEGIN CERTIFICATE/, 'sqsn.signing_certificate() returns the PEM certificate');
PostgreSQL::Test::Utils::append_to_file("$tmp/served_cert.pem", $cert);
open my $fh, '>', "$tmp/bodies.json" or die;
print $fh encode_json([ $c->{body}, $r->{body} ]);
close $fh;
my $doc = slurp_file(dirname_of_test() . '/../../docs/topics.md');
my ($verify) = $doc =~ /```python\n(# verify_sns\.py.*?)```/s;
ok(defined $verify, 'docs/topics.md has the receiver verification code');
PostgreSQL::Test::Utils::append_to_file("$tmp/verify_sns.py", $verify . q{
import json, sys
cert = open(sys.argv[1], "rb").read()
for body in json.load(open(sys.argv[2])):
    print(verify(json.loads(body), cert))
msg = json.loads(json.load(open(sys.argv[2]))[1])
msg["Message"] = "tampered"
print(verify(msg, cert))
});
my $verified = `python3 $tmp/verify_sns.py $tmp/served_cert.pem $tmp/bodies.json 2>&1`;
is($verified, "True\nTrue\nFalse\n",
	'both signatures verify with the certificate; a tampered message does not');

sub dirname_of_test { use File::Basename; return dirname(__FILE__); }

# raw_delivery_posts_the_message_alone
my $raw = query("SELECT sqsn.sn_subscribe('orders', 'http', '$base/ok/raw', raw_message_delivery => true)");
query("SELECT sqsn.sn_confirm_subscription('orders', confirmation_token) FROM sqsn.subscription WHERE subscription_id = '$raw'");
query(q{SELECT sqsn.sn_publish('orders', 'just the body')});
poll("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$raw' AND message_type = 'Notification' AND status = 'delivered'",
	'1', 'the raw notification was delivered');
my @raw = grep { $_->{headers}{'x-amz-sns-message-type'} eq 'Notification' }
  SqsnPush::requests_to($sink, '/ok/raw');
is(scalar(@raw), 1, 'the raw subscription got one notification');
is($raw[0]{body}, 'just the body', 'raw delivery: the body is the message');
is($raw[0]{headers}{'x-amz-sns-rawdelivery'}, 'true', 'x-amz-sns-rawdelivery: true');

# a rolled-back publish delivers nothing
query(q{BEGIN; SELECT sqsn.sn_publish('orders', 'rolled back'); ROLLBACK;});
query(q{SELECT sqsn.sn_publish('orders', 'after rollback')});
SqsnPush::wait_for_requests($sink, '/ok/confirm', 3);
my @bodies = map { $_->{body} } SqsnPush::requests($sink);
ok(!grep(/rolled back/, @bodies), 'a rolled-back publish POSTs nothing');
ok(grep(/before confirmation/, @bodies) == 0, 'the message published before confirmation never arrives');

poll(q{SELECT delivered FROM sqsn.subscription_stats WHERE endpoint LIKE '%/ok/confirm'},
	'4', 'subscription_stats: 4 delivered (the confirmation and 3 notifications)');

# --- retries, dead-letter queue, failures ----------------------------------

# from here on, subscriptions to the sink are confirmed at once
$node->append_conf('postgresql.conf', "sqsn.http_auto_confirm_hosts = '127.0.0.1, 127.0.0.2'");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('sqsn.http_auto_confirm_hosts') <> ''})
  or die;

sub subscribe
{
	my ($topic, $path, $policy, $dlq) = @_;
	my $args = '';
	$args .= ", delivery_policy => '$policy'" if $policy;
	$args .= qq{, redrive_policy => '{"deadLetterTargetArn": "$dlq"}'} if $dlq;
	my $id = query("SELECT sqsn.sn_subscribe('$topic', 'http', '$base$path'$args)");
	is(query("SELECT status FROM sqsn.sn_list_subscriptions('$topic') WHERE subscription_id = '$id'"),
		'confirmed', "$path: auto-confirmed (sqsn.http_auto_confirm_hosts)");
	return $id;
}

query(q{SELECT sqsn.sn_create_topic('retry')});
# retries_follow_the_policy_then_the_message_goes_to_the_dead_letter_queue
my $dsub = subscribe('retry', '/fail/dlq',
	'{"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 2}}',
	'push-dlq');
my $dmid = query(q{SELECT sqsn.sn_publish('retry', 'doomed', subject => 'S')});
poll("SELECT status FROM sqsn.delivery WHERE subscription_id = '$dsub'",
	'dead_lettered', 'after the last retry the delivery is dead-lettered');
my @f = SqsnPush::requests_to($sink, '/fail/dlq');
is(scalar(@f), 3, 'three POSTs: the attempt and 2 retries');
my $gap1 = $f[1]{start} - $f[0]{start};
my $gap2 = $f[2]{start} - $f[1]{start};
ok($gap1 >= 0.95 && $gap1 < 1.9, "first retry about 1 s later ($gap1)");
ok($gap2 >= 1.95 && $gap2 < 2.9, "second retry about 2 s later ($gap2)");
is($f[2]{headers}{'x-amz-sns-message-id'}, $dmid, 'retries keep the message id');
is(query("SELECT string_agg(attempt || ':' || http_status || ':' || error || ':' || (next_attempt_at IS NOT NULL), ',' ORDER BY attempt)
	FROM sqsn.delivery_attempts WHERE subscription_id = '$dsub'"),
	'1:500:HTTP status 500:true,2:500:HTTP status 500:true,3:500:HTTP status 500:false',
	'delivery_attempts: three attempts with status, error and next attempt time');
ok(query("SELECT bool_and(latency_ms >= 0) FROM sqsn.delivery_attempts WHERE subscription_id = '$dsub'") eq 't',
	'delivery_attempts: latency recorded');
my $dl = query(q{SELECT body || '|' || (message_attributes->'ErrorCode'->>'StringValue') || '|'
	|| (message_attributes->'AttemptCount'->>'StringValue') || '|'
	|| (message_attributes->'SubscriptionArn'->>'StringValue') || '|'
	|| (message_attributes->'ErrorMessage'->>'StringValue')
	FROM sqsn.sq_receive('push-dlq', 10)});
my ($dbody, $dcode, $dcount, $darn, $dmsg) = split /\|/, $dl;
is(decode_json($dbody)->{Message}, 'doomed', 'the dead-letter queue holds the envelope');
is($dcode, 'HttpStatus500', 'ErrorCode attribute');
is($dcount, '3', 'AttemptCount attribute');
is($darn, "arn:aws:sns:us-east-1:000000000000:retry:$dsub", 'SubscriptionArn attribute');
is($dmsg, 'HTTP status 500', 'ErrorMessage attribute');
is(query("SELECT delivered || ',' || failed || ',' || dead_lettered || ',' || pending FROM sqsn.subscription_stats WHERE subscription_id = '$dsub'"),
	'0,0,1,0', 'subscription_stats: one dead-lettered');

# without_a_dead_letter_queue_the_delivery_is_marked_failed
my $fsub = subscribe('retry', '/fail/nodlq', '{"healthyRetryPolicy": {"numRetries": 0}}');
# a recovering endpoint gets the message on a retry
my $ksub = subscribe('retry', '/flaky/2/k',
	'{"healthyRetryPolicy": {"numRetries": 3, "minDelayTarget": 1, "maxDelayTarget": 1}}');
# a dropped connection, a timeout, a redirect and a refused destination are failed attempts
my $xsub = subscribe('retry', '/drop/x', '{"healthyRetryPolicy": {"numRetries": 0}}');
my $tsub = subscribe('retry', '/slow/4000/t', '{"healthyRetryPolicy": {"numRetries": 0}}');
my $rsub = subscribe('retry', '/status/302/r', '{"healthyRetryPolicy": {"numRetries": 0}}');
my $ssrf = query(qq{SELECT sqsn.sn_subscribe('retry', 'http', 'http://127.0.0.2:$port/ok/ssrf',
	delivery_policy => '{"healthyRetryPolicy": {"numRetries": 0}}')});
# a subscription whose owner may no longer send to its dead-letter queue
# does not dead-letter there: the delivery fails and says why
query(q{
	CREATE ROLE push_owner IN ROLE sqsn_consumer;
	SELECT sqsn.sq_create_queue('push-dlq-owned');
	SELECT sqsn.sq_grant('push-dlq-owned', 'push_owner', '{send}');
	SELECT sqsn.sn_grant('retry', 'push_owner', '{subscribe}');
});
my $osub = $node->safe_psql('postgres', qq{
	SET ROLE push_owner;
	SELECT sqsn.sn_subscribe('retry', 'http', '$base/fail/owner',
		delivery_policy => '{"healthyRetryPolicy": {"numRetries": 0}}',
		redrive_policy => '{"deadLetterTargetArn": "push-dlq-owned"}');
});
query(q{SELECT sqsn.sq_revoke('push-dlq-owned', 'push_owner', '{send}')});
query(q{SELECT sqsn.sn_unsubscribe(subscription_id) FROM sqsn.subscription WHERE endpoint LIKE '%/fail/dlq'});
query(q{SELECT sqsn.sn_publish('retry', 'second')});
poll("SELECT count(*) FROM sqsn.delivery WHERE status = 'pending'
	AND subscription_id IN ('$fsub', '$ksub', '$xsub', '$tsub', '$rsub', '$ssrf', '$osub')",
	'0', 'every delivery finished');
is(query("SELECT status FROM sqsn.delivery WHERE subscription_id = '$fsub'"), 'failed',
	'no dead-letter queue: marked failed');
is(query("SELECT last_result FROM sqsn.delivery WHERE subscription_id = '$fsub'"), 'HTTP status 500',
	'the failed delivery keeps its last error');
is(query("SELECT status || ': ' || last_result FROM sqsn.delivery WHERE subscription_id = '$osub'"),
	qq{failed: HTTP status 500; dead-letter queue "push-dlq-owned": the subscription's owner "push_owner" may not send to it},
	'a dead-letter queue its owner may no longer send to: failed, not dead-lettered');
is(query(q{SELECT count(*) FROM sqsn.sq_receive('push-dlq-owned', 10)}), '0',
	'nothing reached that dead-letter queue');
is(query("SELECT status || ',' || attempts FROM sqsn.delivery WHERE subscription_id = '$ksub'"),
	'delivered,3', 'a flaky endpoint got the message on the second retry');
is(query("SELECT string_agg(http_status::text, ',' ORDER BY attempt) FROM sqsn.delivery_attempts WHERE subscription_id = '$ksub'"),
	'500,500,200', 'its attempts: 500, 500, 200');
like(query("SELECT (http_status IS NULL) || ' ' || error FROM sqsn.delivery_attempts WHERE subscription_id = '$xsub'"),
	qr/^true .*(nothing|reset|closed|empty)/i, 'a dropped connection is a failed attempt with a connection error');
like(query("SELECT error FROM sqsn.delivery_attempts WHERE subscription_id = '$tsub'"),
	qr/Timeout/i, 'a slow endpoint times out (sqsn.http_timeout_ms)');
is(query("SELECT http_status || ',' || status FROM sqsn.delivery_attempts a JOIN sqsn.delivery d USING (subscription_id) WHERE subscription_id = '$rsub'"),
	'302,failed', 'a redirect is not followed: a failed attempt');
is(scalar(SqsnPush::requests_to($sink, '/status/302')), 1, 'the redirect target was not requested');
like(query("SELECT error FROM sqsn.delivery_attempts WHERE subscription_id = '$ssrf'"),
	qr/refused: address 127\.0\.0\.2 is internal .* sqsn\.http_allowed_hosts/,
	'127.0.0.2 is refused: not in sqsn.http_allowed_hosts');
is(scalar(SqsnPush::requests_to($sink, '/ok/ssrf')), 0, 'nothing reached the refused destination');
is(query("SELECT failed FROM sqsn.subscription_stats WHERE subscription_id = '$ssrf'"), '1',
	'subscription_stats counts the refused delivery as failed');

# --- many in flight at once, throttling -------------------------------------

query(q{SELECT sqsn.sn_create_topic('busy')});
my $csub = subscribe('busy', '/slow/1000/c');
query(q{SELECT count(*) FROM sqsn.sn_publish_batch('busy', ARRAY['1','2','3','4','5','6','7','8','9','10'])});
query(q{SELECT count(*) FROM sqsn.sn_publish_batch('busy', ARRAY['11','12','13','14','15','16','17','18','19','20'])});
poll("SELECT delivered FROM sqsn.subscription_stats WHERE subscription_id = '$csub'",
	'20', 'the 20 slow deliveries arrived');
my @slow = SqsnPush::requests_to($sink, '/slow/1000/c');
my $overlap = 0;
foreach my $a (@slow)
{
	my $n = grep { $_->{start} <= $a->{start} && $_->{end} > $a->{start} } @slow;
	$overlap = $n if $n > $overlap;
}
ok($overlap >= 10, "POSTs run concurrently ($overlap of 20 in flight at once)");

query(q{SELECT sqsn.sn_create_topic('throttled')});
my $thr = subscribe('throttled', '/ok/throttle',
	'{"throttlePolicy": {"maxReceivesPerSecond": 2}}');
query(q{SELECT count(*) FROM sqsn.sn_publish_batch('throttled', ARRAY['1','2','3','4','5','6','7'])});
poll("SELECT delivered FROM sqsn.subscription_stats WHERE subscription_id = '$thr'",
	'7', 'the throttled subscription got all 7');
is(query("SELECT max(n) || ',' || (count(*) >= 4) FROM (SELECT date_trunc('second', attempted_at), count(*) AS n
	FROM sqsn.delivery_attempts WHERE subscription_id = '$thr' GROUP BY 1) s"),
	'2,true', 'maxReceivesPerSecond 2: at most 2 POSTs started per second, over at least 4 seconds');
is(query("SELECT max(attempts) FROM sqsn.delivery WHERE subscription_id = '$thr'"), '1',
	'throttling costs no attempt');

# --- cleanup ----------------------------------------------------------------

my $before = query("SELECT delivered FROM sqsn.subscription_stats WHERE subscription_id = '$csub'");
$node->append_conf('postgresql.conf', "sqsn.delivery_retention = 0");
$node->reload;
poll("SELECT count(*) FROM sqsn.delivery WHERE status = 'delivered'", '0',
	'the worker cleans up delivered outbox rows');
poll("SELECT count(*) FROM sqsn.delivery_attempt a WHERE NOT EXISTS (SELECT FROM sqsn.delivery d WHERE d.delivery_id = a.delivery_id AND d.status = 'pending')",
	'0', 'and their attempts');
is(query("SELECT delivered FROM sqsn.subscription_stats WHERE subscription_id = '$csub'"), $before,
	'subscription_stats still counts them');
is(query(q{SELECT count(*) FROM sqsn.delivery WHERE status = 'failed'}), '6',
	'failed deliveries are kept');

# unsubscribing removes pending deliveries
query(q{SELECT sqsn.sn_create_topic('gone')});
my $gsub = subscribe('gone', '/fail/gone', '{"healthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 60, "maxDelayTarget": 60}}');
query(q{SELECT sqsn.sn_publish('gone', 'x')});
poll("SELECT attempts FROM sqsn.delivery WHERE subscription_id = '$gsub'", '1', 'first attempt made');
query("SELECT sqsn.sn_unsubscribe('$gsub')");
is(query("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$gsub'"), '0',
	'unsubscribing removes its pending deliveries');

done_testing();
$node->stop;
SqsnPush::stop_sink($sink);
