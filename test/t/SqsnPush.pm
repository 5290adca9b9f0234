# Helpers for the push delivery TAP tests: the HTTP sink (test/http_sink.py),
# the SMTP sink (test/smtp_sink.py), the SMS gateway (test/sms_gateway.py)
# and reading what they recorded.
package SqsnPush;

use strict;
use warnings;

use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use MIME::Base64;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

my $sink_script = dirname(__FILE__) . '/../http_sink.py';
my $smtp_sink_script = dirname(__FILE__) . '/../smtp_sink.py';
my $sms_gateway_script = dirname(__FILE__) . '/../sms_gateway.py';

# start_sink(dir, [extra args]): starts the HTTP sink on a free port of
# 127.0.0.1; returns { dir, port, handle }.
sub start_sink
{
	my ($dir, @extra) = @_;
	return start_script('python3', $sink_script, $dir, @extra);
}

# start_smtp_sink(dir, [extra args]): the same for the SMTP sink, run by
# Debian's python3 (python3-aiosmtpd).
sub start_smtp_sink
{
	my ($dir, @extra) = @_;
	return start_script('/usr/bin/python3', $smtp_sink_script, $dir, @extra);
}

# start_sms_gateway(dir, [extra args]): the fake SMS gateway
sub start_sms_gateway
{
	my ($dir, @extra) = @_;
	return start_script('python3', $sms_gateway_script, $dir, @extra);
}

# start_fcm_fake(dir, extra args) and start_apns_fake(dir, extra args): the
# fake push providers (test/fcm_fake.py, test/apns_fake.py), run by Debian's
# python3 (python3-jwt, python3-cryptography, python3-h2).
sub start_fcm_fake
{
	my ($dir, @extra) = @_;
	return start_script('/usr/bin/python3', dirname(__FILE__) . '/../fcm_fake.py', $dir, @extra);
}

sub start_apns_fake
{
	my ($dir, @extra) = @_;
	return start_script('/usr/bin/python3', dirname(__FILE__) . '/../apns_fake.py', $dir, @extra);
}

# pushes(fake): every request a fake provider got, in arrival order
sub pushes
{
	my ($fake) = @_;
	my $file = "$fake->{dir}/push.jsonl";
	return () unless -e $file;
	open my $fh, '<', $file or die $!;
	my @r = map { chomp; $_ ? decode_json($_) : () } <$fh>;
	close $fh;
	return @r;
}

# wait_for_pushes(fake, path prefix, n): waits until at least n requests to
# paths starting with the prefix arrived; returns them.
sub wait_for_pushes
{
	my ($fake, $prefix, $n) = @_;
	my @r;
	for (my $i = 0; $i < 60 * 20; $i++)
	{
		@r = grep { index($_->{path} // '', $prefix) == 0 } pushes($fake);
		return @r if @r >= $n;
		usleep(50_000);
	}
	return @r;
}

# sms(gateway): every request the gateway got, in arrival order
sub sms
{
	my ($gw) = @_;
	my $file = "$gw->{dir}/sms.jsonl";
	return () unless -e $file;
	open my $fh, '<', $file or die $!;
	my @r = map { chomp; $_ ? decode_json($_) : () } <$fh>;
	close $fh;
	return @r;
}

# wait_for_sms(gateway, number, n): waits until at least n requests for the
# number arrived; returns them.
sub wait_for_sms
{
	my ($gw, $to, $n) = @_;
	my @r;
	for (my $i = 0; $i < 60 * 20; $i++)
	{
		@r = grep { ($_->{form}{To} // '') eq $to } sms($gw);
		return @r if @r >= $n;
		usleep(50_000);
	}
	return @r;
}

sub start_script
{
	my ($python, $script, $dir, @extra) = @_;
	mkdir $dir;
	unlink "$dir/port";
	my $h = IPC::Run::start(
		[ $python, $script, '--dir', $dir, '--port-file', "$dir/port", @extra ],
		'>', "$dir/stdout", '2>', "$dir/stderr");
	for (my $i = 0; $i < 500 && !-e "$dir/port"; $i++) { usleep(20_000); }
	die "the sink did not start: " . slurp_file("$dir/stderr") unless -e "$dir/port";
	my $port = slurp_file("$dir/port");
	return { dir => $dir, port => $port, handle => $h };
}

# mails(sink): every accepted mail, in arrival order: { rcpt_tos,
# mail_from, tls, user, raw (the bytes received), headers (list of
# [name, value] as written, folding kept), head (the header block),
# body (the base64 body decoded) }.
sub mails
{
	my ($sink) = @_;
	my $file = "$sink->{dir}/mail.jsonl";
	return () unless -e $file;
	my @m;
	open my $fh, '<', $file or die $!;
	while (my $line = <$fh>)
	{
		chomp $line;
		next unless $line;
		my $mail = decode_json($line);
		if (defined $mail->{data})
		{
			my $raw = decode_base64($mail->{data});
			my ($head, $body) = split /\r\n\r\n/, $raw, 2;
			my @headers;
			foreach my $l (split /\r\n(?![ \t])/, $head)
			{
				my ($n, $v) = split /: /, $l, 2;
				push @headers, [ $n, $v ];
			}
			$mail->{raw} = $raw;
			$mail->{head} = $head;
			$mail->{headers} = \@headers;
			$mail->{body_b64} = $body;
			$mail->{body} = decode_base64($body);
		}
		push @m, $mail;
	}
	close $fh;
	return @m;
}

# mails_to(sink, address): the mails for one recipient.
sub mails_to
{
	my ($sink, $to) = @_;
	return grep { grep { $_ eq $to } @{ $_->{rcpt_tos} } } mails($sink);
}

# wait_for_mails(sink, address, n, [timeout s]): waits until at least n
# mails for the address arrived; returns them.
sub wait_for_mails
{
	my ($sink, $to, $n, $timeout) = @_;
	$timeout ||= 60;
	my @r;
	for (my $i = 0; $i < $timeout * 20; $i++)
	{
		@r = mails_to($sink, $to);
		return @r if @r >= $n;
		usleep(50_000);
	}
	return @r;
}

# header(mail, name): the value of the first header of that name.
sub header
{
	my ($mail, $name) = @_;
	foreach my $h (@{ $mail->{headers} })
	{
		return $h->[1] if lc($h->[0]) eq lc($name);
	}
	return undef;
}

# push_node(name, extra_conf): a started node with sqsn preloaded, the
# delivery worker polling every 200 ms and pushes allowed to 127.0.0.1,
# plus the test's own settings
sub push_node
{
	my ($name, $extra_conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
sqsn.poll_interval = '200ms'
sqsn.http_allowed_hosts = '127.0.0.1'
$extra_conf
});
	$node->start;
	return $node;
}

# write_secret(path, content): a file only its owner may read, as sqsn
# wants its credentials and key files
sub write_secret
{
	my ($path, $content) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh $content;
	close $fh;
	chmod 0600, $path;
}

# poll_until(node, sql, expected, what): a test that the query comes to
# give expected; shows the outbox when it does not
sub poll_until
{
	my ($node, $sql, $expected, $what) = @_;
	Test::More::ok($node->poll_query_until('postgres', $sql, $expected), $what)
	  or Test::More::diag($node->safe_psql('postgres',
		"SELECT delivery_id, status, attempts, last_result FROM sqsn.delivery ORDER BY delivery_id"));
}

# set_conf(node, name, value): ALTER SYSTEM and reload; the delivery worker
# reads the file on its next loop, within a second
sub set_conf
{
	my ($node, $name, $value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $name = '$value'");
	$node->reload;
	sleep 1;
}

sub stop_sink
{
	my ($sink) = @_;
	$sink->{handle}->kill_kill;
}

# requests(sink): every recorded request, as hashes, in arrival order.
sub requests
{
	my ($sink) = @_;
	my $file = "$sink->{dir}/requests.jsonl";
	return () unless -e $file;
	my @r;
	open my $fh, '<', $file or die $!;
	while (my $line = <$fh>)
	{
		chomp $line;
		next unless $line;
		my $req = decode_json($line);
		# header names in lower case
		my %h = map { lc($_) => $req->{headers}{$_} } keys %{ $req->{headers} || {} };
		$req->{headers} = \%h;
		push @r, $req;
	}
	close $fh;
	return @r;
}

# requests to paths starting with prefix
sub requests_to
{
	my ($sink, $prefix) = @_;
	return grep { index($_->{path}, $prefix) == 0 } requests($sink);
}

# wait_for_requests(sink, prefix, n, [timeout s]): waits until at least n
# requests to the prefix arrived; returns them.
sub wait_for_requests
{
	my ($sink, $prefix, $n, $timeout) = @_;
	$timeout ||= 60;
	my @r;
	for (my $i = 0; $i < $timeout * 20; $i++)
	{
		@r = requests_to($sink, $prefix);
		return @r if @r >= $n;
		usleep(50_000);
	}
	return @r;
}

1;
