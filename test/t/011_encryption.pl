# Encryption at rest, on a real cluster: after a CHECKPOINT the plaintext of
# an encrypted queue's messages (body and attributes, inline and TOASTed)
# and of an encrypted topic's push outbox is in none of the relation files
# nor the WAL, while an unencrypted control queue's is (so the grep works);
# the delivery worker still POSTs the plaintext. Then the key: a wrong key,
# no key, and unusable key files give clear errors and lose nothing; the
# right key gets every message back intact; rotation to a new key with the
# old one as a previous key, sq_rotate_queue_key, and retiring the old key.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;
use Time::HiRes qw(usleep);

my $tmp = PostgreSQL::Test::Utils::tempdir;

# write_key(name, hex, mode): a key file
sub write_key
{
	my ($name, $hex, $mode) = @_;
	my $path = "$tmp/$name";
	open my $fh, '>', $path or die $!;
	print $fh "$hex\n";
	close $fh;
	chmod $mode, $path;
	return $path;
}

sub random_hex { return join '', map { sprintf '%02x', int(rand(256)) } 1 .. 32; }

my $key1 = write_key('key1', random_hex(), 0600);
my $key2 = write_key('key2', random_hex(), 0600);
my $open_key = write_key('open_key', random_hex(), 0644);
my $short_key = write_key('short_key', substr(random_hex(), 0, 40), 0600);

my $sink = SqsnPush::start_sink("$tmp/sink");
my $base = "http://127.0.0.1:$sink->{port}";

my $node = PostgreSQL::Test::Cluster->new('sqsn_encryption');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.poll_interval = '200ms'
sqsn.http_allowed_hosts = '127.0.0.1'
sqsn.delivery_retention = 86400
sqsn.http_timeout_ms = 1000
});

# set_keys(current, previous): rewrite the key settings and reload
sub set_keys
{
	my ($current, $previous) = @_;
	$node->append_conf('postgresql.conf', qq{
sqsn.master_key_file = '$current'
sqsn.previous_master_key_files = '$previous'
});
	$node->reload;
	$node->poll_query_until('postgres',
		"SELECT current_setting('sqsn.master_key_file') = '$current'"
		  . " AND current_setting('sqsn.previous_master_key_files') = '$previous'")
	  or die 'the reload did not take effect';
}
$node->append_conf('postgresql.conf', "sqsn.master_key_file = '$key1'\n");
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

# try(sql): (stdout, stderr) of a statement that may fail
sub try
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}

query(q{
	CREATE EXTENSION sqsn;
	SELECT sqsn.sq_create_queue('enc', visibility_timeout => 0, encrypted => true);
	SELECT sqsn.sq_create_queue('ctl', visibility_timeout => 0);
	SELECT sqsn.sn_create_topic('enc_topic', encrypted => true);
});

# --- nothing in the clear on disk ------------------------------------------

# the markers: bodies, an attribute value, a TOASTed body, a pushed message
my $m_body = 'EncBodyMarker7c1f';
my $m_attr = 'EncAttrMarker52aa';
my $m_toast = 'EncToastMarker9e3b';
my $m_push = 'EncPushMarker31d0';
my $m_ctl = 'CtlBodyMarker4410';
my $big = join(' ', map { "$m_toast-$_" } 1 .. 600);    # ~14 kB, TOASTed

query(qq{
	SELECT sqsn.sq_send('enc', 'body $m_body', '{"secret": "$m_attr"}');
	SELECT sqsn.sq_send('enc', '$big');
	SELECT sqsn.sq_send_batch('enc', ARRAY['batch $m_body 1', 'batch $m_body 2']);
	SELECT sqsn.sq_send('ctl', 'body $m_ctl', '{"a": "$m_ctl"}');
});
my $sub = query("SELECT sqsn.sn_subscribe('enc_topic', 'http', '$base/enc')");
query(qq{SELECT sqsn.sn_confirm_subscription('enc_topic', confirmation_token)
	FROM sqsn.subscription WHERE subscription_id = '$sub'});
query(qq{SELECT sqsn.sn_publish('enc_topic', 'pushed $m_push', '{"k": "$m_attr"}', subject => 'subj $m_push')});

# the confirmation request, then the notification
my @posts = grep { ($_->{headers}{'x-amz-sns-message-type'} // '') eq 'Notification' }
  SqsnPush::wait_for_requests($sink, '/enc', 2);
is(scalar(@posts), 1, 'the encrypted topic\'s notification was POSTed');
my $env = decode_json($posts[0]{body} // '{}');
is($env->{Message}, "pushed $m_push", 'the worker decrypted the message before the POST');
is($env->{Subject}, "subj $m_push", 'and the subject');
is($env->{MessageAttributes}{k}{Value}, $m_attr, 'and the attributes');
is(query("SELECT status FROM sqsn.delivery WHERE subscription_id = '$sub' AND message_type = 'Notification'"),
	'delivered', 'the outbox row is delivered (and kept, still sealed)');

query('CHECKPOINT');

# files(relation): the data file of a relation and of its TOAST table
sub files
{
	my ($rel) = @_;
	my @paths = split /\n/, query(qq{
		SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.oid = '$rel'::regclass
		UNION ALL
		SELECT pg_relation_filepath(c.reltoastrelid) FROM pg_class c
		WHERE c.oid = '$rel'::regclass AND c.reltoastrelid <> 0});
	return map { $node->data_dir . "/$_" } @paths;
}

# found(marker, files): whether any file contains the marker
sub found
{
	my ($marker, @files) = @_;
	for my $f (@files)
	{
		next unless -f $f;
		open my $fh, '<:raw', $f or die "$f: $!";
		local $/;
		my $data = <$fh>;
		close $fh;
		return 1 if index($data, $marker) >= 0;
	}
	return 0;
}

my $enc_table = 'sqsn.q_' . query("SELECT queue_id FROM sqsn.queue WHERE queue_name = 'enc'");
my $ctl_table = 'sqsn.q_' . query("SELECT queue_id FROM sqsn.queue WHERE queue_name = 'ctl'");
my @enc_files = files($enc_table);
my @ctl_files = files($ctl_table);
my @outbox_files = files('sqsn.delivery');
my @wal = glob($node->data_dir . '/pg_wal/0*');
is(scalar(@enc_files), 2, 'the encrypted queue has a table and a TOAST table');
ok(-s $enc_files[1] > 0, 'its TOAST table holds data (the big message)');

ok(found($m_ctl, @ctl_files), 'control: the clear body is in the unencrypted queue\'s table file');
ok(found($m_ctl, @wal), 'control: and in the WAL');
ok(!found($m_body, @enc_files), 'the encrypted bodies are not in the table files');
ok(!found($m_attr, @enc_files), 'nor the attribute values');
ok(!found($m_toast, @enc_files), 'nor the TOASTed body');
ok(!found($m_push, @outbox_files), 'the pushed message and subject are not in the outbox files');
ok(!found($m_attr, @outbox_files), 'nor its attributes');
for my $m ($m_body, $m_attr, $m_toast, $m_push)
{
	ok(!found($m, @wal), "$m is not in the WAL");
}

# --- keys ------------------------------------------------------------------

my $count_sql = "SELECT count(*), sum(receive_count) FROM $enc_table";
is(query($count_sql), '4|0', 'four messages stored, none received');

# a wrong key after a restart: a clear error, nothing leased or lost
$node->stop;
$node->append_conf('postgresql.conf', "sqsn.master_key_file = '$key2'\n");
$node->start;
my ($out, $err) = try("SELECT body FROM sqsn.sq_receive('enc', 10)");
like($err, qr/55000: cannot decrypt a message of queue "enc"/, 'wrong key: receive fails with 55000');
like($err, qr/encrypted with master key [0-9a-f]{8}, which is not loaded \(current key: [0-9a-f]{8}\)/,
	'wrong key: the error names the key ids');
is($out, '', 'wrong key: no garbage is returned');
is(query($count_sql), '4|0', 'wrong key: every message is still there, none leased');

# no key at all
set_keys('', '');
($out, $err) = try("SELECT body FROM sqsn.sq_receive('enc', 10)");
like($err, qr/55000: cannot decrypt.*current key: none/s, 'no key: receive fails with 55000');
($out, $err) = try("SELECT sqsn.sq_send('enc', 'x')");
like($err, qr/55000: a message must be encrypted, but no master key is loaded/, 'no key: send fails with 55000');
like($err, qr/sqsn.master_key_file is not set/, 'no key: the detail says the setting is empty');
($out, $err) = try("SELECT sqsn.sq_create_queue('enc2', encrypted => true)");
like($err, qr/55000: queue "enc2" is to be encrypted, but no master key is loaded/,
	'no key: creating an encrypted queue fails with 55000');
is(query("SELECT count(*) FROM sqsn.queue WHERE queue_name = 'enc2'"), '0', 'and creates nothing');
($out, $err) = try("SELECT sqsn.sq_set_queue_attributes('ctl', '{\"SqsManagedSseEnabled\": true}')");
like($err, qr/55000: queue "ctl" is to be encrypted/, 'no key: turning encryption on fails');
is(query("SELECT sqsn.sq_get_queue_attributes('ctl')->>'SqsManagedSseEnabled'"), 'false', 'and changes nothing');
($out, $err) = try("SELECT sqsn.sn_publish('enc_topic', 'x')");
like($err, qr/55000/, 'no key: publishing to an encrypted topic with a push subscription fails');
is(query("SELECT sqsn.sq_send('ctl', 'plain') IS NOT NULL"), 't', 'no key: unencrypted queues work as before');

# unusable key files
set_keys($open_key, '');
($out, $err) = try("SELECT sqsn.sq_send('enc', 'x')");
like($err, qr/55000.*master key file ".*open_key" has group or world access/s,
	'a key file readable by others is refused');
set_keys($short_key, '');
($out, $err) = try("SELECT sqsn.sq_send('enc', 'x')");
like($err, qr/55000.*must hold exactly 64 hexadecimal digits/s, 'a key of the wrong length is refused');
set_keys("$tmp/no_such_key", '');
($out, $err) = try("SELECT sqsn.sq_send('enc', 'x')");
like($err, qr/55000.*could not read master key file/s, 'a missing key file is refused');
is(query($count_sql), '4|0', 'after all that, the four messages are untouched');

# the right key again: everything comes back intact
set_keys($key1, '');
my $got = query("SELECT body, message_attributes->'secret'->>'StringValue' FROM sqsn.sq_receive('enc', 10, 30) ORDER BY body");
is($got, join("\n", "$big|", "batch $m_body 1|", "batch $m_body 2|", "body $m_body|$m_attr"),
	'the right key: every message is received intact');
query("SELECT sqsn.sq_purge_queue('enc')");

# --- rotation --------------------------------------------------------------

query(q{SELECT sqsn.sq_send_batch('enc', ARRAY['old 1', 'old 2', 'old 3'])});
set_keys($key2, $key1);
query(q{SELECT sqsn.sq_send('enc', 'new 1')});
is(query("SELECT string_agg(body, ',' ORDER BY body) FROM sqsn.sq_receive('enc', 10, 0)"),
	'new 1,old 1,old 2,old 3', 'after rotation both keys decrypt');
is(query("SELECT sqsn.sq_rotate_queue_key('enc')"), '3', 'sq_rotate_queue_key re-encrypts the three old messages');
is(query("SELECT sqsn.sq_rotate_queue_key('enc')"), '0', 'a second run has nothing to do');
set_keys($key2, '');
is(query("SELECT string_agg(body, ',' ORDER BY body) FROM sqsn.sq_receive('enc', 10, 0)"),
	'new 1,old 1,old 2,old 3', 'with the old key retired every message still decrypts');
set_keys($key1, '');
($out, $err) = try("SELECT body FROM sqsn.sq_receive('enc', 10)");
like($err, qr/55000: cannot decrypt/, 'and the old key alone no longer does');
set_keys($key2, "$tmp/no_such_key");
($out, $err) = try("SELECT count(*) FROM sqsn.sq_receive('enc', 10, 0)");
like($err, qr/could not read master key file/, 'an unreadable previous key file is reported');
like($out, qr/^4$/, 'while messages under the current key are still received');

# --- the delivery worker without the key -----------------------------------

# a notification sealed under key2 is committed while the worker has only
# key1: it logs a warning and leaves the row; with key2 back it delivers
set_keys($key2, '');
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN');
$bg->query_safe(qq{SELECT sqsn.sn_publish('enc_topic', 'late $m_push')});
set_keys($key1, '');
sleep 2;    # the worker rereads its settings within a poll interval
my $log_offset = -s $node->logfile;
$bg->query_safe('COMMIT');
$bg->quit;

my $warned = 0;
for (my $i = 0; $i < 300 && !$warned; $i++)
{
	$warned = slurp_file($node->logfile, $log_offset) =~ /cannot decrypt push delivery \d+ of message/;
	usleep(100_000) unless $warned;
}
ok($warned, 'without the key the delivery worker logs that it cannot decrypt the row');
is(query(q{SELECT status FROM sqsn.delivery WHERE message_type = 'Notification' ORDER BY delivery_id DESC LIMIT 1}),
	'pending', 'the row stays pending');
is(scalar(grep { ($_->{body} // '') =~ /late $m_push/ } SqsnPush::requests_to($sink, '/enc')), 0,
	'nothing was POSTed for it');
set_keys($key2, '');
@posts = grep { ($_->{body} // '') =~ /late $m_push/ } SqsnPush::wait_for_requests($sink, '/enc', 3, 60);
is(scalar(@posts), 1, 'with the key back the notification is delivered');
is(decode_json($posts[0]{body} // '{}')->{Message}, "late $m_push", 'decrypted intact');

SqsnPush::stop_sink($sink);
$node->stop;
done_testing();
