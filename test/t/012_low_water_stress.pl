# Low-water marks under load: 4 producers and 6 consumers on one standard
# queue, with the marks moved on every 5 ms by the receives and every round
# by the worker. Producers record each send in the same transaction,
# commit some of them late (a pause before COMMIT) and roll some back;
# consumers record and delete in one transaction, roll some back, hand
# some messages back at once (change_visibility 0) and let some leases run
# out. At the end every committed message was processed exactly once and
# nothing rolled back was: the marks skipped nothing and resurrected
# nothing. The same again with 24 consumers receiving one message per
# transaction and holding it a moment before the delete, so that more
# than 8 receives are in flight and most start past the rows the others
# leased rather than at the marks (lowwater.c, "Many receivers at once"):
# the spread skips nothing either. Then a crash: the marks are gone, the
# messages are not.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use SqsnSessions;

my $producers = 4;
my $timeout_s = 240;

my $node = PostgreSQL::Test::Cluster->new('sqsn_low_water_stress');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.low_water_interval = 5ms
sqsn.poll_interval = 200ms
max_connections = 40
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

query(qq{
CREATE EXTENSION sqsn;
CREATE TABLE sent (q text, body text, PRIMARY KEY (q, body));
CREATE TABLE processed (id bigserial PRIMARY KEY, q text NOT NULL, worker int NOT NULL, body text NOT NULL);
CREATE TABLE producers_done (q text, w int, PRIMARY KEY (q, w));

-- n sends, one per transaction, each recorded with it; every 11th rolls
-- back, every 5th waits 0-40 ms before its commit.
CREATE PROCEDURE produce(q text, w int, n int) LANGUAGE plpgsql AS \$\$
BEGIN
	FOR i IN 1 .. n LOOP
		PERFORM sqsn.sq_send(q, format('p%s:%s', w, i));
		INSERT INTO sent VALUES (q, format('p%s:%s', w, i));
		IF i % 5 = 0 THEN
			PERFORM pg_sleep(random() * 0.04);
		END IF;
		IF i % 11 = 0 THEN
			ROLLBACK;
		ELSE
			COMMIT;
		END IF;
	END LOOP;
	INSERT INTO producers_done VALUES (q, w);
	COMMIT;
END
\$\$;

-- Receives up to batch, records and deletes them, pausing pause seconds
-- in between. Every 17th round rolls back; worker 1 hands every 7th batch
-- back at once; worker 2 lets every 9th batch's lease (1 s) run out. Stops
-- when the producers are done and the queue is empty.
CREATE PROCEDURE consume(q text, w int, batch int, pause float8) LANGUAGE plpgsql AS \$\$
DECLARE
	hs text[];
	vt int;
	round int := 0;
	left_over bigint;
	nack boolean;
BEGIN
	LOOP
		round := round + 1;
		vt := CASE WHEN w = 2 AND round % 9 = 0 THEN 1 ELSE 60 END;
		nack := w = 1 AND round % 7 = 0;
		WITH r AS (SELECT * FROM sqsn.sq_receive(q, batch, vt)),
		rec AS (
			INSERT INTO processed (q, worker, body)
			SELECT q, w, r.body FROM r WHERE vt = 60 AND NOT nack)
		SELECT array_agg(r.receipt_handle) INTO hs FROM r;
		IF hs IS NULL THEN
			COMMIT;
			SELECT visible + in_flight + delayed INTO left_over
			FROM sqsn.queue_stats WHERE queue_name = q;
			EXIT WHEN left_over = 0
				AND (SELECT count(*) FROM producers_done d WHERE d.q = consume.q) = $producers;
			PERFORM pg_sleep(0.005);
			CONTINUE;
		END IF;
		IF pause > 0 THEN
			PERFORM pg_sleep(pause);
		END IF;
		IF nack THEN
			PERFORM sqsn.sq_change_visibility(q, h, 0) FROM unnest(hs) h;
		ELSIF vt = 60 THEN
			PERFORM sqsn.sq_delete_batch(q, hs);
		END IF;
		IF round % 17 = 0 THEN
			ROLLBACK;
		ELSE
			COMMIT;
		END IF;
	END LOOP;
END
\$\$;
});

# stress(queue, producers' sends each, consumers, batch, pause): runs the
# producers and consumers on a new queue and checks that every committed
# message was processed exactly once.
sub stress
{
	my ($q, $per_producer, $consumers, $batch, $pause) = @_;
	query(qq{SELECT sqsn.sq_create_queue('$q', visibility_timeout => 60)});
	my $start = time;
	my @sessions;
	push @sessions,
	  SqsnSessions::start_session($node, "producer$_", "CALL produce('$q', $_, $per_producer)", $timeout_s)
	  for 1 .. $producers;
	push @sessions,
	  SqsnSessions::start_session($node, "consumer$_", "CALL consume('$q', $_, $batch, $pause)", $timeout_s)
	  for 1 .. $consumers;
	my $failed = SqsnSessions::finish_sessions(@sessions);
	is($failed, 0, "$q: $producers producers and $consumers consumers ran to the end");
	note("$q ran for " . (time - $start) . ' s');

	my $committed = $producers * ($per_producer - int($per_producer / 11));
	is(query(qq{SELECT count(*) FROM sent WHERE q = '$q'}), $committed, "$q: $committed sends committed");
	is(query(qq{SELECT visible + in_flight + delayed FROM sqsn.queue_stats
		WHERE queue_name = '$q'}), 0, "$q: the queue is empty");
	is(query(qq{SELECT count(*) FROM processed WHERE q = '$q'}), $committed,
		"$q: as many messages processed as committed");
	is(query(qq{SELECT count(*) FROM sent s WHERE q = '$q' AND NOT EXISTS
		(SELECT FROM processed p WHERE p.q = s.q AND p.body = s.body)}), 0,
		"$q: every committed message was processed");
	is(query(qq{SELECT count(*) FROM (SELECT body FROM processed WHERE q = '$q'
		GROUP BY body HAVING count(*) > 1) d}), 0, "$q: none twice");
	is(query(qq{SELECT count(*) FROM processed p WHERE q = '$q' AND NOT EXISTS
		(SELECT FROM sent s WHERE s.q = p.q AND s.body = p.body)}), 0,
		"$q: nothing rolled back was processed");
	cmp_ok(query(qq{SELECT hard_after FROM sqsn.queue_low_water WHERE queue_name = '$q'}),
		'>', 0, "$q: the marks moved on");
	cmp_ok(query(qq{SELECT count(DISTINCT worker) FROM processed WHERE q = '$q'}), '>', 1,
		"$q: the work was spread over several consumers");
}

stress('lw_stress', 2500, 6, 10, 0);
stress('lw_many', 1000, 24, 1, 0.002);

# A crash forgets the marks (they live in shared memory): the first steps
# after the restart walk from the beginning, and receives find what was
# committed.
query(q{SELECT sqsn.sq_send('lw_stress', 'after crash ' || i) FROM generate_series(1, 3) i});
$node->stop('immediate');
$node->start;
is(query(q{SELECT string_agg(body, ',' ORDER BY body) FROM sqsn.sq_receive('lw_stress', 10)}),
	'after crash 1,after crash 2,after crash 3', 'what was committed before the crash is received');

$node->stop;
done_testing();
