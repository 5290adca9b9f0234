# A small client of the endpoint's SQS/SNS query protocol for TAP tests
# (sqsn.api_auth = 'none': no signatures): form-encoded POSTs over one
# keep-alive connection, each request one write with TCP_NODELAY, so that
# no answer waits for a delayed acknowledgement.
package SqsnQueryApi;

use strict;
use warnings;

use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);

sub new
{
	my ($class, $port) = @_;
	return bless { port => $port, sock => undef }, $class;
}

sub queue_url
{
	my ($self, $name) = @_;
	return "http://127.0.0.1:$self->{port}/000000000000/$name";
}

sub _encode
{
	my ($v) = @_;
	$v =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
	return $v;
}

# call(Action => ..., ...): the body of the answer; dies unless HTTP 200.
sub call
{
	my ($self, %form) = @_;
	my $body = join('&', map { "$_=" . _encode($form{$_}) } sort keys %form);
	if (!$self->{sock})
	{
		$self->{sock} = IO::Socket::INET->new(
			PeerAddr => '127.0.0.1',
			PeerPort => $self->{port},
			Proto => 'tcp',
			Timeout => 30) or die "cannot connect to the endpoint: $!";
		setsockopt($self->{sock}, IPPROTO_TCP, TCP_NODELAY, 1);
	}
	my $sock = $self->{sock};
	my $req = "POST / HTTP/1.1\r\nHost: 127.0.0.1:$self->{port}\r\n"
	  . "Content-Type: application/x-www-form-urlencoded\r\n"
	  . "Content-Length: " . length($body) . "\r\n\r\n" . $body;
	defined(syswrite($sock, $req)) or die "endpoint: write: $!";
	my $head = '';
	while (index($head, "\r\n\r\n") < 0)
	{
		sysread($sock, $head, 65536, length $head) or die 'endpoint: connection closed';
	}
	my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
	my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
	my $content = substr($head, index($head, "\r\n\r\n") + 4);
	while (length($content) < ($len // 0))
	{
		sysread($sock, $content, 65536, length $content) or die 'endpoint: connection closed';
	}
	die "endpoint: $form{Action}: HTTP $status: $content" unless $status == 200;
	return $content;
}

1;
