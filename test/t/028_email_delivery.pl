# Email and email-json subscriptions, against a real SMTP server on
# 127.0.0.1 (test/smtp_sink.py, aiosmtpd): the confirmation mail and its
# token, nothing for unconfirmed subscriptions, the mail byte for byte
# (MIME structure, encoded subject, no header from a subject or an
# attribute), email-json's envelope, authentication with the credentials
# file and its refusal when group or others may read it, STARTTLS required
# by default, retries of 4xx replies, dead-letter of 5xx rejections, the
# SSRF guard on the relay's host, and a kill -9 of the delivery worker with
# mails in flight losing nothing.
use strict;
use warnings;

use JSON::PP;
use MIME::Base64;
use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;

my $sink = SqsnPush::start_smtp_sink("$tmp/smtp", '--auth', 'mailer:s3cret:pw');
my $port = $sink->{port};

# a relay that offers STARTTLS (and refuses mail without it), with a
# certificate for 127.0.0.1 that sqsn.http_ca_file trusts
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $tmp/smtp-key.pem -out $tmp/smtp-cert.pem"
	. " -days 2 -subj '/CN=127.0.0.1' -addext 'subjectAltName=IP:127.0.0.1' 2>/dev/null") == 0
  or BAIL_OUT('openssl could not make a certificate');
my $tls_sink = SqsnPush::start_smtp_sink("$tmp/smtp-tls", '--tls-cert', "$tmp/smtp-cert.pem",
	'--tls-key', "$tmp/smtp-key.pem", '--require-tls', '--auth', 'mailer:s3cret:pw');

my $cred = "$tmp/smtp-credentials";
SqsnPush::write_secret($cred, "mailer:s3cret:pw\n");

my $node = SqsnPush::push_node('sqsn_email', qq{
sqsn.http_timeout_ms = 30000
sqsn.smtp_url = 'smtp://127.0.0.1:$port'
sqsn.smtp_from = 'notifications\@sqsn.example'
sqsn.smtp_credentials_file = '$cred'
sqsn.smtp_require_starttls = off
sqsn.http_ca_file = '$tmp/smtp-cert.pem'
});

sub query { return $node->safe_psql('postgres', $_[0]); }

sub poll { SqsnPush::poll_until($node, @_); }
sub set_conf { SqsnPush::set_conf($node, @_); }

my $arn = 'arn:aws:sns:us-east-1:000000000000:news';

query(q{
	CREATE EXTENSION sqsn;
	SELECT sqsn.sn_create_topic('news');
	SELECT sqsn.sq_create_queue('mail-dlq');
});

# --- confirmation ------------------------------------------------------------

# email_subscription_gets_a_confirmation_mail_with_a_token
my $sub = query(q{SELECT sqsn.sn_subscribe('news', 'email', 'ok-1@example.com')});
like($sub, qr/^[0-9a-f-]{36}$/, 'sn_subscribe returns the subscription id');
is(query(q{SELECT status FROM sqsn.sn_list_subscriptions('news')}),
	'pending confirmation', 'an email subscription starts pending confirmation');
my ($conf) = SqsnPush::wait_for_mails($sink, 'ok-1@example.com', 1);
ok($conf, 'the confirmation mail arrived');
is(SqsnPush::header($conf, 'Subject'), 'sqsn Notification - Subscription Confirmation',
	'confirmation subject');
is($conf->{mail_from}, 'notifications@sqsn.example', 'envelope sender is sqsn.smtp_from');
is($conf->{user}, 'mailer', 'the relay was logged in to with the credentials file');
my ($token) = $conf->{body} =~ /sn_confirm_subscription\('news', '([0-9a-f]{64})'\)/;
ok($token, 'the confirmation mail names the SQL call with its token');
like($conf->{body}, qr/\Q$arn\E/, 'the confirmation mail names the topic');
unlike($conf->{body}, qr/https?:/, 'no link while the endpoint is off');

# unconfirmed_email_subscription_gets_nothing
my $pending = query(q{SELECT sqsn.sn_subscribe('news', 'email', 'ok-2@example.com')});
SqsnPush::wait_for_mails($sink, 'ok-2@example.com', 1);
query(q{SELECT sqsn.sn_publish('news', 'before confirmation')});
is(query("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$sub' AND message_type = 'Notification'"),
	'0', 'nothing is queued for an unconfirmed subscription');

is(query("SELECT sqsn.sn_confirm_subscription('news', '$token')"), $sub,
	'sn_confirm_subscription with the mailed token confirms it');
is(query("SELECT status FROM sqsn.sn_list_subscriptions('news') WHERE subscription_id = '$sub'"),
	'confirmed', 'the subscription is confirmed');

# --- the mail, byte for byte -------------------------------------------------

my $subject = "Grüße aus Köln — ünïcödé subject that is long enough to need two encoded-words";
my $message = "line one\nline two\r\n.a line starting with a dot\n\nÄrger ✓\n";
my $msgid = query(qq{SELECT sqsn.sn_publish('news', E'line one\\nline two\\r\\n.a line starting with a dot\\n\\nÄrger ✓\\n',
	subject => '$subject',
	message_attributes => '{"evil": {"DataType": "String", "StringValue": "x\\r\\nBcc: victim\@example.com"}}')});
my @m = SqsnPush::wait_for_mails($sink, 'ok-1@example.com', 2);
my $mail = $m[1];
ok($mail, 'the notification mail arrived');
my @names = map { $_->[0] } @{ $mail->{headers} };
is(join(',', @names), 'From,To,Subject,Date,Message-ID,MIME-Version,Content-Type,Content-Transfer-Encoding',
	'exactly the expected headers, in order (no header from an attribute)');
is(SqsnPush::header($mail, 'From'), 'notifications@sqsn.example', 'From');
is(SqsnPush::header($mail, 'To'), 'ok-1@example.com', 'To');
is(SqsnPush::header($mail, 'Message-ID'), "<$msgid\@sqsn.example>", 'Message-ID is the message id');
like(SqsnPush::header($mail, 'Date'), qr/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000$/,
	'Date in RFC 5322 form');
is(SqsnPush::header($mail, 'Content-Type'), 'text/plain; charset=UTF-8', 'Content-Type');
is(SqsnPush::header($mail, 'Content-Transfer-Encoding'), 'base64', 'base64 body');
my $subj_raw = SqsnPush::header($mail, 'Subject');
like($subj_raw, qr/^=\?UTF-8\?B\?[A-Za-z0-9+\/=]+\?=(\r\n =\?UTF-8\?B\?[A-Za-z0-9+\/=]+\?=)+$/,
	'a non-ASCII subject is folded RFC 2047 encoded-words');
ok(!grep({ length($_) > 76 } split /\r\n/, $mail->{head}), 'no header line longer than 76 characters')
  or diag($mail->{head});
my $decoded = join('', map { decode_base64($_) } $subj_raw =~ /=\?UTF-8\?B\?([^?]+)\?=/g);
my $subject_bytes = $subject;
utf8::encode($subject_bytes) if utf8::is_utf8($subject_bytes);
is($decoded, $subject_bytes, 'the encoded words decode to the subject');
foreach my $w ($subj_raw =~ /=\?UTF-8\?B\?([^?]+)\?=/g)
{
	my $bytes = decode_base64($w);
	ok(utf8::decode($bytes), 'each encoded word is whole UTF-8 characters') or last;
}
my $expected_text = "line one\r\nline two\r\n.a line starting with a dot\r\n\r\nÄrger ✓\r\n"
  . "\r\n\r\n--\r\nIf you wish to stop receiving notifications from this topic, visit the link below to unsubscribe:\r\n"
  . "sqsn:?Action=Unsubscribe&SubscriptionArn=$arn:$sub\r\n";
is($mail->{body}, $expected_text, 'body: the message with CRLF line ends and the unsubscribe link');
is($mail->{body_b64}, encode_base64($expected_text, "\r\n"),
	'the base64 body is in lines of 76 characters ending in CRLF');
is(join('', map { "$_->[0]: $_->[1]\r\n" } @{ $mail->{headers} }) . "\r\n" . $mail->{body_b64},
	$mail->{raw}, 'the mail is its headers, an empty line and the body, nothing else');

# a subject with line breaks is refused at publish
my ($ret, $out, $err) = $node->psql('postgres',
	qq{SELECT sqsn.sn_publish('news', 'm', subject => E'hi\\r\\nBcc: victim\@example.com')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/22023.*subject must not contain line breaks/s, 'a subject with CR/LF is refused (22023)');

# the default subject, and an ASCII subject with "=?" is encoded
query(q{SELECT sqsn.sn_publish('news', 'no subject')});
query(q{SELECT sqsn.sn_publish('news', 'tricky', subject => 'price =?UTF-8?B?x?= now')});
@m = SqsnPush::wait_for_mails($sink, 'ok-1@example.com', 4);
my ($nosubj) = grep { $_->{body} =~ /^no subject/ } @m;
is(SqsnPush::header($nosubj, 'Subject'), 'sqsn Notification Message', 'the default subject');
my ($tricky) = grep { $_->{body} =~ /^tricky/ } @m;
is(decode_base64((SqsnPush::header($tricky, 'Subject') =~ /^=\?UTF-8\?B\?([^?]+)\?=$/)[0] // ''),
	'price =?UTF-8?B?x?= now', 'an ASCII subject containing "=?" is encoded, not passed as an encoded word');

# --- email-json ---------------------------------------------------------------

my $jsub = query(q{SELECT sqsn.sn_subscribe('news', 'email-json', 'ok-json@example.com')});
my ($jconf) = SqsnPush::wait_for_mails($sink, 'ok-json@example.com', 1);
my $jenv = decode_json($jconf->{body});
is($jenv->{Type}, 'SubscriptionConfirmation', 'email-json: the confirmation is the JSON envelope');
like($jenv->{Token}, qr/^[0-9a-f]{64}$/, 'email-json: with its token');
query("SELECT sqsn.sn_confirm_subscription('news', '$jenv->{Token}')");
my $jid = query(q{SELECT sqsn.sn_publish('news', 'json body', subject => 'JSON',
	message_attributes => '{"color": {"DataType": "String", "StringValue": "blue"}}')});
my @jm = SqsnPush::wait_for_mails($sink, 'ok-json@example.com', 2);
my $env = decode_json($jm[1]{body});
is($env->{Type}, 'Notification', 'email-json: Type');
is($env->{MessageId}, $jid, 'email-json: MessageId');
is($env->{Message}, 'json body', 'email-json: Message');
is($env->{Subject}, 'JSON', 'email-json: Subject');
is($env->{TopicArn}, $arn, 'email-json: TopicArn');
is($env->{MessageAttributes}{color}{Value}, 'blue', 'email-json: MessageAttributes');
like($env->{UnsubscribeURL}, qr/Action=Unsubscribe/, 'email-json: UnsubscribeURL');
is(SqsnPush::header($jm[1], 'Subject'), 'JSON', 'email-json: the mail subject is the publish subject');

# --- retries and dead-letter --------------------------------------------------

# email_sub(topic, address, policy, dlq): a subscription confirmed in the
# transaction that made it, so no confirmation mail is ever sent to it
sub email_sub
{
	my ($topic, $address, $policy, $dlq) = @_;
	my $args = '';
	$args .= ", delivery_policy => '$policy'" if $policy;
	$args .= qq{, redrive_policy => '{"deadLetterTargetArn": "$dlq"}'} if $dlq;
	query(qq{DO \$\$ DECLARE id uuid; BEGIN
		id := sqsn.sn_subscribe('$topic', 'email', '$address'$args);
		PERFORM sqsn.sn_confirm_subscription('$topic',
			(SELECT confirmation_token FROM sqsn.subscription WHERE subscription_id = id));
	END \$\$});
	return query("SELECT subscription_id FROM sqsn.subscription WHERE endpoint = '$address'");
}
query(q{SELECT sqsn.sn_create_topic('retry')});
my $quick = '{"healthyRetryPolicy": {"numRetries": 3, "minDelayTarget": 1, "maxDelayTarget": 1}}';
my $flaky = email_sub('retry', 'flaky2-a@example.com', $quick);
my $reject = email_sub('retry', 'reject-a@example.com', $quick, 'mail-dlq');
my $temp = email_sub('retry', 'temp-a@example.com',
	'{"healthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1}}', 'mail-dlq');
query(q{SELECT sqsn.sn_publish('retry', 'retry me', subject => 'R')});

poll("SELECT status FROM sqsn.delivery WHERE subscription_id = '$flaky' AND message_type = 'Notification'",
	'delivered', '451 replies are retried until the mail is accepted');
is(query("SELECT string_agg(coalesce(http_status::text, '-'), ',' ORDER BY attempt) FROM sqsn.delivery_attempts
	WHERE subscription_id = '$flaky'"),
	'451,451,250', 'attempts record the SMTP replies: 451, 451, 250');
is(scalar(SqsnPush::mails_to($sink, 'flaky2-a@example.com')), 1, 'one mail for the flaky address');

poll("SELECT status || ',' || attempts FROM sqsn.delivery WHERE subscription_id = '$reject' AND message_type = 'Notification'",
	'dead_lettered,1', 'a 550 rejection is dead-lettered at once, without retries');
poll("SELECT status || ',' || attempts FROM sqsn.delivery WHERE subscription_id = '$temp' AND message_type = 'Notification'",
	'dead_lettered,2', '451 replies are retried as the policy says, then dead-lettered');
my $dl = query(q{SELECT string_agg(message_attributes::text, ' ') FROM sqsn.sq_receive('mail-dlq', 10)});
like($dl, qr/SmtpStatus451.*SmtpStatus550|SmtpStatus550.*SmtpStatus451/, 'the dead-letter queue holds both, with the SMTP reply as error code')
  or diag(query(q{SELECT * FROM sqsn.sq_receive('mail-dlq', 10, visibility_timeout => 0)}));

# --- unsafe credentials file, STARTTLS, SSRF guard -----------------------------

query(q{SELECT sqsn.sn_create_topic('setup')});
sub setup_sub
{
	my ($address) = @_;
	my $id = query("SELECT sqsn.sn_subscribe('setup', 'email', '$address',
		delivery_policy => '{\"healthyRetryPolicy\": {\"numRetries\": 20, \"minDelayTarget\": 1, \"maxDelayTarget\": 1}}')");
	return $id;
}

# refused_until_fixed(address, error pattern, what, fix): a confirmation
# mail to a new subscription fails with that error and is not sent; after
# fix() it goes on a retry
sub refused_until_fixed
{
	my ($address, $pattern, $what, $fix) = @_;
	my $id = setup_sub($address);
	poll("SELECT count(*) > 0 FROM sqsn.delivery_attempts WHERE subscription_id = '$id' AND error ~* '$pattern'",
		't', "$what: the attempt fails");
	is(scalar(SqsnPush::mails_to($sink, $address)), 0, "$what: no mail is sent");
	$fix->();
	SqsnPush::wait_for_mails($sink, $address, 1);
	is(scalar(SqsnPush::mails_to($sink, $address)), 1, "$what: sent once fixed");
}

# credentials_file_readable_by_others_is_refused
chmod 0644, $cred;
refused_until_fixed('ok-cred@example.com', 'has group or world access',
	'a credentials file readable by others', sub { chmod 0600, $cred; });

# starttls_is_required_by_default
set_conf('sqsn.smtp_require_starttls', 'on');
refused_until_fixed('ok-tls@example.com', 'STARTTLS|SSL',
	'STARTTLS required by a relay without it',
	sub { set_conf('sqsn.smtp_require_starttls', 'off'); });

# ssrf_guard_applies_to_the_smtp_host
set_conf('sqsn.smtp_url', "smtp://127.0.0.2:$port");
refused_until_fixed('ok-ssrf@example.com', '^refused:',
	'a relay outside sqsn.http_allowed_hosts',
	sub { set_conf('sqsn.smtp_url', "smtp://127.0.0.1:$port"); });

# starttls_is_used_when_required_and_offered: the mail goes over TLS
set_conf('sqsn.smtp_require_starttls', 'on');
set_conf('sqsn.smtp_url', "smtp://127.0.0.1:$tls_sink->{port}");
setup_sub('ok-starttls@example.com');
my ($tls_mail) = SqsnPush::wait_for_mails($tls_sink, 'ok-starttls@example.com', 1);
ok($tls_mail && $tls_mail->{tls}, 'with STARTTLS required, a relay offering it gets the mail over TLS');
is($tls_mail && $tls_mail->{user}, 'mailer', 'and the login over TLS');
set_conf('sqsn.smtp_require_starttls', 'off');
set_conf('sqsn.smtp_url', "smtp://127.0.0.1:$port");

# --- kill -9 of the delivery worker in the middle of a batch ----------------

# libcurl waits for the relay's answer to the end of a mail's data without
# returning to the multi loop, so a relay that takes 200 ms per mail has the
# worker send about five mails a second: the kill comes with part of the
# batch sent and the rest claimed or waiting.
query(q{SELECT sqsn.sn_create_topic('crash')});
my $ksub = email_sub('crash', 'slow200-kill@example.com');
my @ids = split /\n/, query(q{SELECT * FROM sqsn.sn_publish_batch('crash',
	ARRAY['k1','k2','k3','k4','k5','k6','k7','k8','k9','k10'])});
push @ids, split /\n/, query(q{SELECT * FROM sqsn.sn_publish_batch('crash',
	ARRAY['k11','k12','k13','k14','k15','k16','k17','k18','k19','k20'])});
push @ids, split /\n/, query(q{SELECT * FROM sqsn.sn_publish_batch('crash',
	ARRAY['k21','k22','k23','k24','k25','k26','k27','k28','k29','k30'])});
poll("SELECT count(*) >= 3 FROM sqsn.delivery WHERE subscription_id = '$ksub' AND status = 'delivered'",
	't', 'the batch is being sent');
my $pid = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker'");
like($pid, qr/^\d+$/, 'the delivery worker runs');
my $before = query("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$ksub' AND status = 'delivered'");
kill 'KILL', $pid;
$node->poll_query_until('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn delivery worker' AND pid <> $pid", '1')
  or die 'no new delivery worker';
ok($before < 30, "the kill came mid-batch ($before of 30 recorded as sent)");
poll("SELECT count(*) FROM sqsn.delivery WHERE subscription_id = '$ksub' AND status = 'delivered'",
	'30', 'after kill -9 every mail is sent');
my %got;
foreach my $m (SqsnPush::mails_to($sink, 'slow200-kill@example.com'))
{
	my ($id) = (SqsnPush::header($m, 'Message-ID') // '') =~ /^<([0-9a-f-]+)\@/;
	$got{$id}++ if $id;
}
is(scalar(grep { $got{$_} } @ids), 30, 'the relay got all 30 mails (at least once each)');

# --- stats ---------------------------------------------------------------------

is(query("SELECT delivered FROM sqsn.subscription_stats WHERE subscription_id = '$jsub'"), '2',
	'subscription_stats counts the confirmation and the notification of email-json');

is(scalar(SqsnPush::mails_to($sink, 'ok-2@example.com')), 1,
	'the unconfirmed subscription only ever got its confirmation mail');

done_testing();
