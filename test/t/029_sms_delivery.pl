# SMS subscriptions, against a fake SMS gateway on 127.0.0.1
# (test/sms_gateway.py): the messaging-API form POST (To, From, Body, Basic
# auth) checked field by field, the gateway's message id and the segments
# recorded, sender id and type from message attributes, no confirmation,
# the opt-out list (nothing to an opted-out number), retries and
# dead-letter of gateway failures, the SSRF guard on the gateway's host, a
# credentials file with unsafe modes refused, SMS published straight to a
# phone number (sn_publish_sms: content, rollback, opt-out, retries,
# encryption while pending), and a kill -9 of the delivery worker losing
# nothing.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $gw = SqsnPush::start_sms_gateway("$tmp/gw", '--auth', 'AC0123:tok:en');
my $port = $gw->{port};

my $cred = "$tmp/sms-credentials";
SqsnPush::write_secret($cred, "AC0123:tok:en\n");

my $node = SqsnPush::push_node('sqsn_sms', qq{
sqsn.http_timeout_ms = 30000
sqsn.sms_gateway_url = 'http://127.0.0.1:$port/2010-04-01/Accounts/AC0123/Messages.json'
sqsn.sms_credentials_file = '$cred'
sqsn.sms_sender_id = '+15550001111'
});

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

# --- SMS straight to a phone number (sn_publish_sms) ---------------------------------------

my $direct = query(q{SELECT sqsn.sn_publish_sms('+15555550400', 'Your code is 1234', '{
	"AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "MyBank"},
	"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}')});
($r) = SqsnPush::wait_for_sms($gw, '+15555550400', 1);
is($r->{raw}, 'To=%2B15555550400&From=MyBank&Body=Your%20code%20is%201234',
	'a direct SMS: the form with To, the sender id attribute as From, Body');
is($r->{user}, 'AC0123', 'through the same gateway and credentials');
poll("SELECT status FROM sqsn.delivery WHERE message_id = '$direct'", 'delivered', 'the direct SMS is delivered');
is(query("SELECT coalesce(subscription_id::text, 'none') || ' ' || last_result FROM sqsn.delivery WHERE message_id = '$direct'"),
	"none HTTP status 201, sid $r->{sid}, 1 segment, Transactional",
	'its row has no subscription and records the sid, segments and type');
is(query("SELECT count(*) FROM sqsn.delivery_attempts WHERE message_id = '$direct' AND subscription_id IS NULL AND http_status = 201"),
	'1', 'its attempt is recorded without a subscription');

# rolled back: nothing is sent; a later SMS overtakes nothing
query(q{BEGIN; SELECT sqsn.sn_publish_sms('+15555550401', 'rolled back'); ROLLBACK;});
query(q{SELECT sqsn.sn_publish_sms('+15555550401', 'committed')});
my @d = SqsnPush::wait_for_sms($gw, '+15555550401', 1);
is(join(',', map { $_->{form}{Body} } @d), 'committed', 'a rolled-back direct SMS is never sent');

# opted out: refused when publishing; opted out after publishing: not sent
query(q{SELECT sqsn.sn_opt_out_phone_number('+15555550402')});
my ($ret, $out, $err) = $node->psql('postgres',
	q{\set VERBOSITY verbose
	SELECT sqsn.sn_publish_sms('+15555550402', 'to an opted-out number')});
like($err, qr/55000: phone number "\+15555550402" has opted out of SMS/, 'a direct SMS to an opted-out number is refused (55000)');
set_conf('sqsn.delivery_enabled', 'off');
my $late = query(q{SELECT sqsn.sn_publish_sms('+15555550403', 'opted out after publishing')});
query(q{SELECT sqsn.sn_opt_out_phone_number('+15555550403')});
set_conf('sqsn.delivery_enabled', 'on');
poll("SELECT status FROM sqsn.delivery WHERE message_id = '$late'", 'failed',
	'a number opted out after the publish: the SMS fails without retries');
is(scalar(grep { ($_->{form}{To} // '') =~ /^\+1555555040[23]$/ } SqsnPush::sms($gw)), 0,
	'nothing was sent to either opted-out number');

# a gateway failure is retried (default policy: 3 retries, 20 s apart, the
# first at once) and then recorded as failed: there is no dead-letter queue
set_conf('sqsn.delivery_enabled', 'off');
my $retried = query(q{SELECT sqsn.sn_publish_sms('+15555550500', 'gateway fails')});
set_conf('sqsn.delivery_enabled', 'on');
poll("SELECT count(*) FROM sqsn.delivery_attempts WHERE message_id = '$retried' AND http_status = 500", '1',
	'a failing direct SMS: the first attempt is recorded');
is(query("SELECT status || ' ' || (next_attempt_at > now()) FROM sqsn.delivery WHERE message_id = '$retried'"),
	'pending true', 'it waits for its retry');

# encrypted while pending (sqsn.sms_encrypt_direct), opened for the POST
my $key = "$tmp/master-key";
SqsnPush::write_secret($key, join('', map { sprintf '%02x', int(rand(256)) } 1 .. 32) . "\n");
set_conf('sqsn.master_key_file', $key);
set_conf('sqsn.sms_encrypt_direct', 'on');
set_conf('sqsn.delivery_enabled', 'off');
my $sealed = query(q{SELECT sqsn.sn_publish_sms('+15555550404', 'secret 4242', '{
	"AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "Sealed"}}')});
is(query("SELECT message LIKE 'sqsn1:%' AND position('4242' IN message) = 0 AND position('Sealed' IN message_attributes::text) = 0
	FROM sqsn.delivery WHERE message_id = '$sealed'"), 't', 'the pending row is sealed');
set_conf('sqsn.delivery_enabled', 'on');
($r) = SqsnPush::wait_for_sms($gw, '+15555550404', 1);
is($r->{raw}, 'To=%2B15555550404&From=Sealed&Body=secret%204242', 'and opened for the POST, attributes included');
set_conf('sqsn.sms_encrypt_direct', 'off');

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

# the same for SMS published straight to a number, in one transaction
query(q{SELECT count(sqsn.sn_publish_sms('+15555550301', 'd' || i)) FROM generate_series(1, 200) i});
poll("SELECT count(*) >= 1 FROM sqsn.delivery WHERE phone_number = '+15555550301' AND status = 'delivered'",
	't', 'the direct SMS are being sent');
$pid = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker'");
kill 'KILL', $pid;
$node->poll_query_until('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker' AND pid <> $pid", '1')
  or die 'no new delivery worker';
poll("SELECT count(*) FROM sqsn.delivery WHERE phone_number = '+15555550301' AND status = 'delivered'",
	'200', 'after kill -9 every direct SMS is sent');
%got = map { $_->{form}{Body} => 1 } grep { $_->{status} == 201 } SqsnPush::wait_for_sms($gw, '+15555550301', 200);
is(scalar(grep { $got{"d$_"} } 1 .. 200), 200, 'the gateway got all 200 direct SMS (at least once each)');

done_testing();
