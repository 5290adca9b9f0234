# Helpers for the push delivery TAP tests: the HTTP sink (test/http_sink.py)
# and reading what it recorded.
package SqsnPush;

use strict;
use warnings;

use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

my $sink_script = dirname(__FILE__) . '/../http_sink.py';

# start_sink(dir, [extra args]): starts the sink on a free port of
# 127.0.0.1; returns { dir, port, handle }.
sub start_sink
{
	my ($dir, @extra) = @_;
	mkdir $dir;
	unlink "$dir/port";
	my $h = IPC::Run::start(
		[ 'python3', $sink_script, '--dir', $dir, '--port-file', "$dir/port", @extra ],
		'>', "$dir/stdout", '2>', "$dir/stderr");
	for (my $i = 0; $i < 500 && !-e "$dir/port"; $i++) { usleep(20_000); }
	die "the sink did not start: " . slurp_file("$dir/stderr") unless -e "$dir/port";
	my $port = slurp_file("$dir/port");
	return { dir => $dir, port => $port, handle => $h };
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
