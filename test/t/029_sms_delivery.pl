# SMS subscriptions, against a fake SMS gateway on 127.0.0.1
# (test/sms_gateway.py): the messaging-API form POST (To, From, Body, Basic
# auth) checked field by field, the gateway's message id and the segments
# recorded, sender id and type from message attributes, no confirmation,
# the opt-out list (nothing to an opted-out number), retries and
# dead-letter of gateway failures, the SSRF guard on the gateway's host, a
# credentials file with unsafe modes refused, and a kill -9 of the delivery
# worker losing nothing.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $gw = SqsnPush::start_sms_gateway("$tmp/gw", '--auth', 'AC0123:tok:en');
my $port = $gw->{port};

my $cred = "$tmp/sms-credentials";
open my $fh, '>', $cred or die $!;
print $fh "AC0123:tok:en\n";
close $fh;
chmod 0600, $cred;

my $node = PostgreSQL::Test::Cluster->new('sqsn_sms');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
sqsn.poll_interval = '200ms'
sqsn.http_allowed_hosts = '127.0.0.1'
sqsn.http_timeout_ms = 30000
sqsn.sms_gateway_url = 'http://127.0.0.1:$port/2010-04-01/Accounts/AC0123/Messages.json'
sqsn.sms_credentials_file = '$cred'
sqsn.sms_sender_id = '+15550001111'
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

sub poll { SqsnPush::poll_until($node, @_); }
sub set_conf { SqsnPush::set_conf($node, @_); }

query(q{
	CREATE EXTENSION sqsn;
	SELECT sqsn.sn_create_topic('alerts');
	SELECT sqsn.sq_create_queue('sms-dlq');
});

# --- subscription and the POST -----------------------------------------------

my $sub = query(q{SELECT sqsn.sn_subscribe('alerts', 'sms', '+15555550100')});
is(query(q{SELECT status FROM sqsn.sn_list_subscriptions('alerts')}), 'confirmed',
	'an sms subscription needs no confirmation');
is(query("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$sub'"), '0',
	'and nothing is sent when subscribing');

query(q{SELECT sqsn.sn_publish('alerts', 'Disk full on db1', subject => 'ignored')});
my ($r) = SqsnPush::wait_for_sms($gw, '+15555550100', 1);
ok($r, 'the gateway got the SMS');
is($r->{path}, '/2010-04-01/Accounts/AC0123/Messages.json', 'POSTed to sqsn.sms_gateway_url');
is($r->{content_type}, 'application/x-www-form-urlencoded', 'a form POST');
is($r->{user}, 'AC0123', 'Basic auth with the account sid of the credentials file');
is($r->{raw}, 'To=%2B15555550100&From=%2B15550001111&Body=Disk%20full%20on%20db1',
	'the form: To, From (sqsn.sms_sender_id), Body, URL-encoded');
poll("SELECT status FROM sqsn.delivery WHERE subscription_id = '$sub'", 'delivered', 'the delivery is delivered');
is(query("SELECT last_result FROM sqsn.delivery WHERE subscription_id = '$sub'"),
	"HTTP status 201, sid $r->{sid}, 1 segment, Transactional",
	"the gateway's message id and the segments are recorded");

# sender id, type and segments from the message and its attributes
my $long = 'x' x 161;
query(qq{SELECT sqsn.sn_publish('alerts', '$long', message_attributes => '{
	"AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "MyBrand"},
	"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Promotional"}}')});
query(q{SELECT sqsn.sn_publish('alerts', 'Grüße ✓')});
my @r = SqsnPush::wait_for_sms($gw, '+15555550100', 3);
is($r[1]{form}{From}, 'MyBrand', 'AWS.SNS.SMS.SenderID is the From');
is($r[1]{form}{Body}, $long, 'a long message is sent whole');
is($r[2]{form}{Body}, "Gr\x{fc}\x{df}e \x{2713}", 'UTF-8 body');
poll("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$sub' AND status = 'delivered'", '3',
	'all three delivered');
is(query("SELECT string_agg(regexp_replace(last_result, 'sid SM[0-9a-f]+', 'sid SM…'), ' | ' ORDER BY delivery_id)
	FROM sqsn.delivery WHERE subscription_id = '$sub'"),
	'HTTP status 201, sid SM…, 1 segment, Transactional | HTTP status 201, sid SM…, 2 segments, Promotional | HTTP status 201, sid SM…, 1 segment, Transactional',
	'segments: 161 GSM-7 characters take 2, short UCS-2 text 1; the type is recorded');

# --- opt-out ---------------------------------------------------------------------

query(q{SELECT sqsn.sn_opt_out_phone_number('+15555550100')});
is(query(q{SELECT sqsn.sn_check_if_phone_number_is_opted_out('+15555550100')}), 't', 'opted out');
is(query(q{SELECT string_agg(n, ',') FROM sqsn.sn_list_phone_numbers_opted_out() n}), '+15555550100',
	'the list of opted-out numbers');
query(q{SELECT sqsn.sn_publish('alerts', 'while opted out')});
poll("SELECT status FROM sqsn.delivery WHERE subscription_id = '$sub' AND message = 'while opted out'", 'failed',
	'an SMS to an opted-out number fails without retries');
like(query("SELECT last_result FROM sqsn.delivery WHERE subscription_id = '$sub' AND message = 'while opted out'"),
	qr/opted out/, 'and says why');
is(scalar(grep { $_->{form}{Body} eq 'while opted out' } SqsnPush::sms($gw)), 0, 'nothing was sent to it');
query(q{SELECT sqsn.sn_opt_in_phone_number('+15555550100')});
is(query(q{SELECT sqsn.sn_check_if_phone_number_is_opted_out('+15555550100')}), 'f', 'opted in again');
query(q{SELECT sqsn.sn_publish('alerts', 'after opt-in')});
ok(scalar(grep { $_->{form}{Body} eq 'after opt-in' } SqsnPush::wait_for_sms($gw, '+15555550100', 5)),
	'after opting in, SMS are sent again');

# --- retries and dead-letter ---------------------------------------------------------

query(q{SELECT sqsn.sn_create_topic('retry')});
my $fail = query(q{SELECT sqsn.sn_subscribe('retry', 'sms', '+15555550500',
	delivery_policy => '{"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}',
	redrive_policy => '{"deadLetterTargetArn": "sms-dlq"}')});
query(q{SELECT sqsn.sn_publish('retry', 'gateway fails')});
poll("SELECT status || ',' || attempts FROM sqsn.delivery WHERE subscription_id = '$fail'", 'dead_lettered,3',
	'a failing gateway: retried per policy, then dead-lettered');
like(query(q{SELECT body || ' ' || message_attributes::text FROM sqsn.sq_receive('sms-dlq', 1)}),
	qr/^gateway fails .*HttpStatus500/, 'the dead-letter queue has the message, with the gateway status');

# --- unsafe credentials file, SSRF guard ------------------------------------------------

sub refused_until_fixed
{
	my ($number, $pattern, $what, $fix) = @_;
	my $id = query("SELECT sqsn.sn_subscribe('setup', 'sms', '$number',
		delivery_policy => '{\"healthyRetryPolicy\": {\"numRetries\": 20, \"minDelayTarget\": 1, \"maxDelayTarget\": 1}}')");
	query("SELECT sqsn.sn_publish('setup', 'setup $number')");
	poll("SELECT count(*) > 0 FROM sqsn.delivery_attempts WHERE subscription_id = '$id' AND error ~* '$pattern'",
		't', "$what: the attempt fails");
	is(scalar(grep { ($_->{form}{To} // '') eq $number } SqsnPush::sms($gw)), 0, "$what: nothing is sent");
	$fix->();
	ok(scalar(SqsnPush::wait_for_sms($gw, $number, 1)), "$what: sent once fixed");
	query("SELECT sqsn.sn_unsubscribe('$id')");
}
query(q{SELECT sqsn.sn_create_topic('setup')});
chmod 0644, $cred;
refused_until_fixed('+15555550201', 'has group or world access',
	'a credentials file readable by others', sub { chmod 0600, $cred; });
set_conf('sqsn.sms_gateway_url', "http://127.0.0.2:$port/x");
refused_until_fixed('+15555550202', '^refused:', 'a gateway outside sqsn.http_allowed_hosts',
	sub { set_conf('sqsn.sms_gateway_url', "http://127.0.0.1:$port/2010-04-01/Accounts/AC0123/Messages.json"); });

# --- kill -9 of the delivery worker -------------------------------------------------------

query(q{SELECT sqsn.sn_create_topic('crash')});
my $ksub = query(q{SELECT sqsn.sn_subscribe('crash', 'sms', '+15555550300')});
query(q{SELECT sqsn.sn_publish_batch('crash', (SELECT array_agg('k' || i) FROM generate_series(1, 200) i))});
poll("SELECT count(*) >= 1 FROM sqsn.delivery WHERE subscription_id = '$ksub' AND status = 'delivered'",
	't', 'the batch is being sent');
my $pid = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker'");
kill 'KILL', $pid;
$node->poll_query_until('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker' AND pid <> $pid", '1')
  or die 'no new delivery worker';
poll("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$ksub' AND status = 'delivered'",
	'200', 'after kill -9 every SMS is sent');
my %got = map { $_->{form}{Body} => 1 } grep { $_->{status} == 201 } SqsnPush::wait_for_sms($gw, '+15555550300', 200);
is(scalar(grep { $got{"k$_"} } 1 .. 200), 200, 'the gateway got all 200 (at least once each)');

done_testing();
