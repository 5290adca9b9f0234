# Helpers for the failover TAP tests: a primary with a streaming standby,
# producers and consumers running against the primary as psql sessions, and
# what their clients were told (the acknowledged sends and deletes).
package SqsnFailover;

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# new_pair(name, primary_conf, standby_conf): a primary (sqsn preloaded,
# allows streaming) with sqsn created in postgres, and a hot standby
# streaming from it (not started). Returns (primary, standby).
sub new_pair
{
	my ($name, $primary_conf, $standby_conf) = @_;
	my $primary = PostgreSQL::Test::Cluster->new("${name}_primary");
	$primary->init(allows_streaming => 1);
	$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
max_connections = 40
sqsn.poll_interval = '200ms'
$primary_conf
});
	$primary->start;
	$primary->safe_psql('postgres', 'CREATE EXTENSION sqsn');
	$primary->backup('base');
	my $standby = PostgreSQL::Test::Cluster->new("${name}_standby");
	$standby->init_from_backup($primary, 'base', has_streaming => 1);
	$standby->append_conf('postgresql.conf', qq{
hot_standby = on
$standby_conf
});
	return ($primary, $standby);
}

# start_load(node, dir, queue, producers, consumers): producers send
# "p<i>-<n>" bodies one transaction each; consumers receive up to 5 and
# delete them in the same statement, which also logs the deleted bodies in
# the table failover_deleted. Each session's client output (one line per
# acknowledged send or delete) goes to a file under dir. The sessions stop
# on the first error, such as the server going away.
sub start_load
{
	my ($node, $dir, $queue, $producers, $consumers) = @_;
	my @sessions;
	my $connstr = $node->connstr('postgres');
	$node->safe_psql('postgres', 'CREATE TABLE failover_deleted (body text NOT NULL)');
	for my $kind (qw(p c))
	{
		my $count = $kind eq 'p' ? $producers : $consumers;
		for my $i (1 .. $count)
		{
			my $script = "$dir/$kind$i.sql";
			open my $fh, '>', $script or die "cannot write $script: $!";
			for my $n (1 .. 20000)
			{
				print $fh $kind eq 'p'
				  ? "SELECT 'p$i-$n' FROM sqsn.sq_send('$queue', 'p$i-$n');\n"
				  : "WITH d AS (SELECT m.body FROM sqsn.sq_receive('$queue', 5, 600) m"
				  . " WHERE sqsn.sq_delete('$queue', m.receipt_handle))"
				  . " INSERT INTO failover_deleted SELECT body FROM d RETURNING body;\n";
			}
			close $fh;
			my $h = IPC::Run::start(
				[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $connstr, '-f', $script ],
				'<', \undef, '>', "$dir/$kind$i.out", '2>', "$dir/$kind$i.err");
			push @sessions, { kind => $kind, i => $i, h => $h, out => "$dir/$kind$i.out" };
		}
	}
	return \@sessions;
}

# finish_load(sessions): waits for every session to end (the server they
# use is gone); returns { p => { i => [bodies in order] }, c => { i =>
# [bodies in order] } }, what each client was told.
sub finish_load
{
	my ($sessions) = @_;
	my %acked = (p => {}, c => {});
	for my $s (@$sessions)
	{
		eval { $s->{h}->finish; };
		eval { $s->{h}->kill_kill; } if $@;
		my @lines = -e $s->{out} ? split(/\n/, slurp_file($s->{out})) : ();
		$acked{ $s->{kind} }{ $s->{i} } = [ grep { /^p\d+-\d+$/ } @lines ];
	}
	return \%acked;
}

# wait_for_sends(node, queue, count): polls until count more messages were
# sent (to any queue: they all draw msg_seq from sqsn.message_seq, and only
# the load on queue sends meanwhile); a load must be under way before the
# primary is killed.
sub wait_for_sends
{
	my ($node, $queue, $count) = @_;
	my $base = messages_sent($node);
	return $node->poll_query_until('postgres',
		"SELECT coalesce(pg_sequence_last_value('sqsn.message_seq'), 0) >= $base + $count");
}

# messages_sent(node): the last msg_seq drawn on the node, for any queue
sub messages_sent
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(pg_sequence_last_value('sqsn.message_seq'), 0)");
}

sub queue_id
{
	my ($node, $queue) = @_;
	return $node->safe_psql('postgres',
		"SELECT queue_id FROM sqsn.queue WHERE queue_name = '$queue'");
}

# stored_bodies(node, queue): body => number of rows holding it.
sub stored_bodies
{
	my ($node, $queue) = @_;
	my $qid = queue_id($node, $queue);
	my %stored;
	$stored{$_}++
	  for split /\n/, $node->safe_psql('postgres', "SELECT body FROM sqsn.q_$qid");
	return \%stored;
}

# deleted_bodies(node): body => number of logged deletes of it.
sub deleted_bodies
{
	my ($node) = @_;
	my %deleted;
	$deleted{$_}++
	  for split /\n/, $node->safe_psql('postgres', 'SELECT body FROM failover_deleted');
	return \%deleted;
}

# drain(node, queue): receives every visible message of the queue in one
# transaction (each once: received rows stay in flight for 600 s); returns
# their bodies, sorted.
sub drain
{
	my ($node, $queue) = @_;
	return sort split /\n/, $node->safe_psql('postgres', qq{
CREATE FUNCTION pg_temp.drain(q text) RETURNS SETOF text LANGUAGE plpgsql AS \$\$
DECLARE
	b text;
	n int;
BEGIN
	LOOP
		n := 0;
		FOR b IN SELECT body FROM sqsn.sq_receive(q, 10, 600) LOOP
			n := n + 1;
			RETURN NEXT b;
		END LOOP;
		EXIT WHEN n = 0;
	END LOOP;
END
\$\$;
SELECT * FROM pg_temp.drain('$queue');
});
}

# wait_for_promotion(node): the promoted server accepts writes and its
# maintenance worker runs.
sub wait_for_promotion
{
	my ($node) = @_;
	return $node->poll_query_until('postgres',
		"SELECT NOT pg_is_in_recovery() AND EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'sqsn worker')");
}

1;
