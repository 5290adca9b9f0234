# kill -9 a backend in the middle of a receive/delete storm (and, in a
# second round, a storm that also sends): the postmaster restarts, and every
# sent-and-committed message is either deleted (recorded in a log table in
# the same transaction as its delete) or still in the queue's message
# table, exactly once: none lost, none duplicated in storage, none both
# deleted and still queued. The queue keeps working afterwards and drains
# to zero with the same accounting. The assertions hold wherever the kill
# lands.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_storm');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
max_connections = 40
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

# Storm sessions run with this statement_timeout (it covers a whole CALL,
# commits inside it included), and are killed if they outlive it anyway.
my $storm_timeout_s = 45;

query(q{
CREATE EXTENSION sqsn;

-- the bodies deleted, one row per successful delete, committed together
-- with the delete
CREATE TABLE storm_deleted (q text NOT NULL, body text NOT NULL);
-- the bodies sent, one row per send, committed together with the send
CREATE TABLE storm_sent (q text NOT NULL, body text NOT NULL);

-- A consumer: up to max_iter rounds of receive (up to 10) / delete_batch /
-- log the deleted bodies / COMMIT. With split, the receive commits on its
-- own and the delete happens in the next transaction (the lease is held
-- across the commit). pause sleeps between the receive and the delete.
-- Stops after max_empty rounds in a row that received nothing.
CREATE PROCEDURE storm_consume(q text, max_iter int, pause float8,
	split boolean, vt int, max_empty int)
LANGUAGE plpgsql AS $$
DECLARE
	hs text[];
	bs text[];
	empty_rounds int := 0;
BEGIN
	FOR i IN 1..max_iter LOOP
		SELECT array_agg(r.receipt_handle), array_agg(r.body) INTO hs, bs
		FROM sqsn.sq_receive(q, 10, vt) AS r;
		IF hs IS NULL THEN
			COMMIT;
			empty_rounds := empty_rounds + 1;
			EXIT WHEN empty_rounds >= max_empty;
			PERFORM pg_sleep(0.05);
			CONTINUE;
		END IF;
		empty_rounds := 0;
		IF split THEN
			COMMIT;
		END IF;
		IF pause > 0 THEN
			PERFORM pg_sleep(pause);
		END IF;
		INSERT INTO storm_deleted (q, body)
		SELECT q, u.b
		FROM unnest(hs, bs) AS u(h, b)
			JOIN sqsn.sq_delete_batch(q, hs) AS d ON d.receipt_handle = u.h
		WHERE d.deleted;
		COMMIT;
	END LOOP;
END
$$;

-- A producer: batches rounds of sq_send_batch of per_batch distinct
-- bodies prefix_i_j, logged in storm_sent, COMMIT. pause sleeps between
-- the (uncommitted) send and the commit.
CREATE PROCEDURE storm_produce(q text, prefix text, batches int,
	per_batch int, pause float8)
LANGUAGE plpgsql AS $$
DECLARE
	bs text[];
BEGIN
	FOR i IN 1..batches LOOP
		bs := ARRAY(SELECT prefix || '_' || i || '_' || j
			FROM generate_series(1, per_batch) AS j);
		PERFORM count(*) FROM sqsn.sq_send_batch(q, bs);
		IF pause > 0 THEN
			PERFORM pg_sleep(pause);
		END IF;
		INSERT INTO storm_sent (q, body) SELECT q, unnest(bs);
		COMMIT;
	END LOOP;
END
$$;
});

# Start a psql running one statement in the background, with its own
# application_name and the storm statement_timeout.
sub start_session
{
	my ($appname, $sql) = @_;
	my ($out, $err) = ('', '');
	my $connstr = $node->connstr('postgres')
	  . " application_name=$appname options='-c statement_timeout=${storm_timeout_s}s'";
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $connstr, '-c', $sql ],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($storm_timeout_s + 30));
	return { name => $appname, h => $h, out => \$out, err => \$err };
}

# Wait for background sessions to end (they fail when the server crashes).
sub finish_sessions
{
	for my $s (@_)
	{
		eval { $s->{h}->finish; };
		if ($@)
		{
			diag("$s->{name}: $@");
			eval { $s->{h}->kill_kill; };
		}
		note("$s->{name} exit " . ($s->{h}->result // 'none')
			  . ', stderr: ' . ${ $s->{err} });
	}
}

sub queue_id
{
	my ($q) = @_;
	return query("SELECT queue_id FROM sqsn.queue WHERE queue_name = '$q'");
}

# Kill -9 the backend of the session named $appname once $ready_sql
# returns 't', then wait until the server is back. Returns the pid killed.
sub kill_during_storm
{
	my ($appname, $ready_sql) = @_;
	ok($node->poll_query_until('postgres', $ready_sql, 't'),
		"storm under way before the kill ($appname)");
	my $pid = query(
		"SELECT pid FROM pg_stat_activity WHERE application_name = '$appname'");
	like($pid, qr/^\d+$/, "backend of $appname found (pid $pid)");
	my $log_offset = -s $node->logfile;
	kill 'KILL', $pid;
	$node->wait_for_log(qr/all server processes terminated; reinitializing/,
		$log_offset);
	$node->poll_query_until('postgres', 'SELECT 1', '1')
	  or die 'server did not come back after the backend crash';
	pass("server restarted after kill -9 of $appname");
	return $pid;
}

# The accounting: $expected_sql lists every committed body (one row each).
# Stored = bodies in the message table UNION ALL bodies in the delete log.
# Checks: no loss, nothing unexpected, no duplicate, nothing both deleted
# and queued, distinct message ids, queue_stats consistent with the table.
sub check_accounting
{
	my ($q, $expected_sql, $what) = @_;
	my $qid = queue_id($q);
	my $stored = "(SELECT body, 'queued' AS src FROM sqsn.q_$qid
		UNION ALL SELECT body, 'deleted' FROM storm_deleted WHERE q = '$q')";
	my $expected = "($expected_sql)";

	my $counts = query(qq{
		SELECT (SELECT count(*) FROM $expected e) || '|'
			|| (SELECT count(*) FROM $stored s) || '|'
			|| (SELECT count(*) FROM sqsn.q_$qid) || '|'
			|| (SELECT count(*) FROM storm_deleted WHERE q = '$q')});
	my ($n_exp, $n_stored, $n_queued, $n_deleted) = split /\|/, $counts;
	note("$what: expected $n_exp, stored $n_stored ($n_queued queued, $n_deleted deleted)");
	cmp_ok($n_exp, '>', 0, "$what: something was committed");

	my $lost = query(qq{
		SELECT count(*) || ' ' || coalesce(string_agg(body, ',') FILTER (WHERE rn <= 10), '')
		FROM (SELECT body, row_number() OVER () AS rn
			FROM (SELECT body FROM $expected e EXCEPT SELECT body FROM $stored s) x) y});
	is($lost, '0 ', "$what: no committed message lost");

	my $unexpected = query(qq{
		SELECT count(*) || ' ' || coalesce(string_agg(body, ',') FILTER (WHERE rn <= 10), '')
		FROM (SELECT body, row_number() OVER () AS rn
			FROM (SELECT body FROM $stored s EXCEPT SELECT body FROM $expected e) x) y});
	is($unexpected, '0 ', "$what: nothing stored that was not committed");

	my $dups = query(qq{
		SELECT count(*) || ' ' || coalesce(string_agg(body || ':' || srcs, ',') FILTER (WHERE rn <= 10), '')
		FROM (SELECT body, string_agg(src, '+') AS srcs, row_number() OVER () AS rn
			FROM $stored s GROUP BY body HAVING count(*) > 1) x});
	is($dups, '0 ', "$what: no body stored twice (queued or deleted)");

	my $both = query(qq{
		SELECT count(*) FROM sqsn.q_$qid m
		WHERE EXISTS (SELECT FROM storm_deleted d WHERE d.q = '$q' AND d.body = m.body)});
	is($both, '0', "$what: no body both deleted and still queued");

	is($n_stored, $n_exp, "$what: stored count equals committed count");

	is(query("SELECT count(*) - count(DISTINCT message_id) FROM sqsn.q_$qid"),
		'0', "$what: message ids in the queue are distinct");
	is(query(qq{
		SELECT visible + in_flight + delayed FROM sqsn.queue_stats WHERE queue_name = '$q'}),
		$n_queued, "$what: queue_stats counts every queued message");
	return $n_queued;
}

# Drain the queue to zero after the restart (leases from before the crash
# have to run out first), then check the accounting again.
sub drain_and_check
{
	my ($q, $expected_sql, $what) = @_;
	my $qid = queue_id($q);
	my $left;
	for my $try (1 .. 60)
	{
		query("SET statement_timeout = '30s'; CALL storm_consume('$q', 1000, 0, false, 30, 1)");
		$left = query("SELECT count(*) FROM sqsn.q_$qid");
		last if $left eq '0';
		sleep(1);
	}
	is($left, '0', "$what: the queue drains to zero after the restart");
	is(query(qq{
		SELECT visible || '|' || in_flight || '|' || delayed FROM sqsn.queue_stats WHERE queue_name = '$q'}),
		'0|0|0', "$what: queue_stats shows an empty queue");
	check_accounting($q, $expected_sql, "$what, drained");
	is(query(qq{
		SELECT count(*) = count(DISTINCT body) FROM storm_deleted WHERE q = '$q'}),
		't', "$what, drained: every body deleted exactly once");
}

# ---------------------------------------------------------------------------
# Round 1: a receive/delete storm over 3000 committed messages, 4 consumers
# (three receive and delete in one transaction, one in two), kill -9 one of
# them once a third of the messages are deleted.

my $n = 3000;
my $q1 = 'storm_q';
query("SELECT sqsn.sq_create_queue('$q1')");
for (my $lo = 1; $lo <= $n; $lo += 500)
{
	my $hi = $lo + 499;
	query(qq{
		SELECT count(*) FROM sqsn.sq_send_batch('$q1',
			ARRAY(SELECT 'm' || g FROM generate_series($lo, $hi) AS g))});
}
my $qid1 = queue_id($q1);
is(query("SELECT count(*) FROM sqsn.q_$qid1"), $n, "$n messages sent and committed");
my $expected1 = "SELECT 'm' || g AS body FROM generate_series(1, $n) AS g";

my @storm1;
for my $c (1 .. 4)
{
	my $split = $c == 4 ? 'true' : 'false';
	push @storm1, start_session("storm_c$c",
		"CALL storm_consume('$q1', 2000, 0.02, $split, 2, 20)");
}
kill_during_storm('storm_c2', qq{
	SELECT count(*) >= @{[ $n / 3 ]} FROM storm_deleted WHERE q = '$q1'});
finish_sessions(@storm1);
for my $s (@storm1)
{
	isnt($s->{h}->result, 0, "$s->{name} was cut off by the crash");
}

my $queued1 = check_accounting($q1, $expected1, 'round 1 after the crash');
cmp_ok($queued1, '>', 0, 'round 1: the crash hit before the queue was empty');
drain_and_check($q1, $expected1, 'round 1');

# ---------------------------------------------------------------------------
# Round 2: a storm of 3 producers (sending in batches of 5, each send logged
# in storm_sent in the same transaction, sleeping before the commit) and 3
# consumers over a queue that starts with 1000 messages; kill -9 a producer
# in the middle. Everything logged as sent must be queued or deleted,
# exactly once; sends in flight at the crash must be gone.

my $q2 = 'storm_q2';
query("SELECT sqsn.sq_create_queue('$q2')");
query(qq{
	SELECT count(*) FROM sqsn.sq_send_batch('$q2',
		ARRAY(SELECT 'i' || g FROM generate_series(1, 1000) AS g));
	INSERT INTO storm_sent (q, body) SELECT '$q2', 'i' || g FROM generate_series(1, 1000) AS g;
});
my $expected2 = "SELECT body FROM storm_sent WHERE q = '$q2'";

my @storm2;
for my $p (1 .. 3)
{
	push @storm2, start_session("storm_p$p",
		"CALL storm_produce('$q2', 'p$p', 1000, 5, 0.01)");
}
for my $c (1 .. 3)
{
	my $split = $c == 3 ? 'true' : 'false';
	push @storm2, start_session("storm_d$c",
		"CALL storm_consume('$q2', 3000, 0.02, $split, 2, 100)");
}
kill_during_storm('storm_p2', qq{
	SELECT (SELECT count(*) >= 1500 FROM storm_sent WHERE q = '$q2')
		AND (SELECT count(*) >= 300 FROM storm_deleted WHERE q = '$q2')});
finish_sessions(@storm2);
for my $s (@storm2)
{
	isnt($s->{h}->result, 0, "$s->{name} was cut off by the crash");
}

my $queued2 = check_accounting($q2, $expected2, 'round 2 after the crash');
cmp_ok($queued2, '>', 0, 'round 2: the crash hit before the queue was empty');
drain_and_check($q2, $expected2, 'round 2');

# the queue keeps working for new sends after all that
my $h = query(qq{
	SELECT sqsn.sq_send('$q2', 'after the storms');
	SELECT receipt_handle FROM sqsn.sq_receive('$q2', 10, 60);
});
($h) = (split /\n/, $h)[-1];
is(query("SELECT sqsn.sq_delete('$q2', '$h')"), 't',
	'send, receive and delete work after the storms');

$node->stop('fast');
done_testing();
