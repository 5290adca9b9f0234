# Failover to an asynchronous standby: what can be lost is the unreplicated
# tail, and nothing else.
#
# Producers and consumers run against the primary, which streams to a
# standby without waiting for it (no synchronous_standby_names). The
# stream is cut while the load goes on, so the primary acknowledges sends
# and deletes the standby never receives; then the primary is killed with
# kill -9 and the standby promoted. For every session, what survived is a
# prefix of what its client was told and what was lost a suffix: sends lost
# are the last ones acknowledged, deletes lost are the last ones
# acknowledged and their messages are back in the queue, visible (they
# will be delivered again). Nothing is stored twice, nothing both deleted
# and stored, and the new primary serves the queue.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SqsnFailover;
use Test::More;
use Time::HiRes qw(usleep);

my $tmp = PostgreSQL::Test::Utils::tempdir;
my ($primary, $standby) = SqsnFailover::new_pair('sqsn_async', '', '');
$primary->safe_psql('postgres', q{SELECT sqsn.sq_create_queue('work')});
$standby->start;
$primary->wait_for_catchup($standby);

my $load = SqsnFailover::start_load($primary, $tmp, 'work', 3, 2);
ok(SqsnFailover::wait_for_sends($primary, 'work', 300), 'the load runs');

# cut the stream: the standby stops receiving, the primary goes on
$standby->append_conf('postgresql.conf', "primary_conninfo = ''\n");
$standby->reload;
ok($standby->poll_query_until('postgres', 'SELECT count(*) FROM pg_stat_wal_receiver', '0'),
	'the standby no longer receives WAL');
my $sent_at_cut = SqsnFailover::messages_sent($primary);
usleep(1_500_000);

$primary->kill9;
my $acked = SqsnFailover::finish_load($load);
$standby->promote;
ok(SqsnFailover::wait_for_promotion($standby), 'the standby is promoted; its worker runs');

my $stored = SqsnFailover::stored_bodies($standby, 'work');
my $logged = SqsnFailover::deleted_bodies($standby);

# For each session: the acknowledged items that survived form a prefix, the
# lost ones the rest. Returns (survived, lost).
sub split_tail
{
	my ($items, $survived) = @_;
	my $k = 0;
	$k++ while $k < @$items && $survived->($items->[$k]);
	my @rest = @$items[ $k .. $#$items ];
	return ($k, \@rest);
}

my ($n_sent, $n_deleted, @lost_sends, @lost_deletes) = (0, 0);
my $prefix_ok = 1;
for my $i (sort keys %{ $acked->{p} })
{
	my $items = $acked->{p}{$i};
	$n_sent += @$items;
	my ($k, $rest) = split_tail($items, sub { $stored->{ $_[0] } || $logged->{ $_[0] } });
	my @back = grep { $stored->{$_} || $logged->{$_} } @$rest;
	if (@back)
	{
		$prefix_ok = 0;
		diag("producer $i: lost p$i at position $k but has later sends: @back[0 .. ($#back > 4 ? 4 : $#back)]");
	}
	push @lost_sends, @$rest;
}
for my $i (sort keys %{ $acked->{c} })
{
	my $items = $acked->{c}{$i};
	$n_deleted += @$items;
	my ($k, $rest) = split_tail($items, sub { $logged->{ $_[0] } });
	my @back = grep { $logged->{$_} } @$rest;
	if (@back)
	{
		$prefix_ok = 0;
		diag("consumer $i: a delete lost at position $k but later ones kept: @back[0 .. ($#back > 4 ? 4 : $#back)]");
	}
	push @lost_deletes, @$rest;
}
note("acknowledged: $n_sent sends, $n_deleted deletes; msg_seq $sent_at_cut when the stream was cut");
note('lost with the unreplicated tail: ' . scalar(@lost_sends) . ' sends, '
	  . scalar(@lost_deletes) . ' deletes');
cmp_ok($n_sent, '>', 100, 'sends were acknowledged before the kill');
ok($prefix_ok, 'per session, what was lost is the tail of what was acknowledged');
cmp_ok(scalar(@lost_sends) + scalar(@lost_deletes), '>', 0,
	'the work acknowledged after the stream was cut is lost');

# a lost delete puts its message back, unless its send was lost as well
my %lost_send = map { $_ => 1 } @lost_sends;
my @gone = grep { !$stored->{$_} && !$lost_send{$_} } @lost_deletes;
is(scalar @gone, 0, 'the message of every lost delete is back in the queue')
  or diag("neither deleted nor stored: @gone");

my @twice = grep { $stored->{$_} > 1 } keys %$stored;
is(scalar @twice, 0, 'no message is stored twice');
my @both = grep { $logged->{$_} > 1 || $stored->{$_} } keys %$logged;
is(scalar @both, 0, 'no message is both deleted and stored, or deleted twice');
my %sent = map { $_ => 1 } map { @{ $acked->{p}{$_} } } keys %{ $acked->{p} };
my @extra = grep { !$sent{$_} } keys %$stored;
cmp_ok(scalar @extra, '<=', 3,
	'stored but not acknowledged: at most the send each producer had in flight')
  or diag("extra: @extra");

# every stored message is visible (the receives of the lost deletes were
# lost with them) and is received once on the new primary
is($standby->safe_psql('postgres',
		q{SELECT visible || '/' || in_flight FROM sqsn.queue_stats WHERE queue_name = 'work'}),
	scalar(keys %$stored) . '/0', 'every stored message is visible on the new primary');
my @drained = SqsnFailover::drain($standby, 'work');
is(join(',', @drained), join(',', sort keys %$stored), 'and received once');
like($standby->safe_psql('postgres', q{SELECT sqsn.sq_send('work', 'after')}),
	qr/^[0-9a-f-]{36}$/, 'the new primary takes sends');

$standby->stop;
done_testing();
