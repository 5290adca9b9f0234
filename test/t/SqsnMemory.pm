# Helpers for the memory TAP tests: the memory-context total of a server
# process, as pg_log_backend_memory_contexts() writes it to the server log,
# and the processes of sqsn that live as long as the server.
package SqsnMemory;

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

# The long-lived processes of sqsn, as backend_type => [pids]: the
# maintenance worker, the delivery worker and the endpoint's workers.
sub sqsn_processes
{
	my ($node) = @_;
	my %p;
	for my $line (
		split /\n/,
		$node->safe_psql(
			'postgres',
			"SELECT backend_type || '|' || pid FROM pg_stat_activity"
			  . " WHERE backend_type IN ('sqsn worker', 'sqsn delivery worker', 'sqsn api')"
			  . " ORDER BY backend_type, pid"))
	{
		my ($type, $pid) = split /\|/, $line;
		push @{ $p{$type} }, $pid;
	}
	return \%p;
}

# context_total(node, pid): the "Grand total" of the process's memory
# contexts in bytes (what its memory contexts hold, free space in their
# blocks included), read once.
sub context_total
{
	my ($node, $pid) = @_;
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
	for (my $i = 0; $i < 1000; $i++)
	{
		my $log = slurp_file($node->logfile, $offset);
		return $1 if $log =~ /\[$pid\][^\n]*Grand total: (\d+) bytes/;
		usleep(20_000);
	}
	die "process $pid did not log its memory contexts";
}

# settled_total(node, pid): the smallest of three readings 300 ms apart.
# A process logs its contexts wherever it next checks for interrupts, which
# may be in the middle of a transaction; the smallest reading leaves out
# what only that transaction held.
sub settled_total
{
	my ($node, $pid) = @_;
	my $min;
	for my $i (1 .. 3)
	{
		my $t = context_total($node, $pid);
		$min = $t if !defined $min || $t < $min;
		usleep(300_000) if $i < 3;
	}
	return $min;
}

# The RssAnon of a process in kB (its private, resident memory), or undef
# when /proc does not tell.
sub rss_anon_kb
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/status" or return undef;
	while (my $line = <$fh>)
	{
		return $1 if $line =~ /^RssAnon:\s+(\d+)\s+kB/;
	}
	return undef;
}

1;
