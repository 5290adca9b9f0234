# FIFO stress: 8 concurrent consumers drain a FIFO queue of 20,000 messages
# in 50 message groups. Each consumer records what it processed in a table,
# in the same transaction as its delete; some transactions roll back (the
# receive with them) and some consumers let their leases run out, so
# groups change hands. At the end every message was processed exactly
# once, and within each group in send order (were a group ever held by two
# consumers at once, its messages would be processed out of order).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use SqsnSessions;

my $messages = 20000;
my $groups = 50;
my $consumers = 8;
my $timeout_s = 150;

my $node = PostgreSQL::Test::Cluster->new('sqsn_fifo_stress');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.worker_enabled = off
max_connections = 30
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

query(qq{
CREATE EXTENSION sqsn;
SELECT sqsn.sq_create_queue('stress.fifo', visibility_timeout => 60);

-- what the consumers processed, in the order they committed it
CREATE TABLE processed (
	id bigserial PRIMARY KEY,
	worker int NOT NULL,
	grp text NOT NULL,
	idx int NOT NULL,
	seq text NOT NULL,
	received_at timestamptz NOT NULL,
	lease_until timestamptz NOT NULL);

-- Receives up to 10 messages, records and deletes them, and commits; every
-- 23rd round rolls back instead (nothing recorded, nothing deleted, the
-- lease undone), and worker 1 lets every 7th batch's lease run out (1 s)
-- instead of deleting it. Stops when the queue is empty.
CREATE PROCEDURE consume(w int) LANGUAGE plpgsql AS \$\$
DECLARE
	hs text[];
	vt int;
	round int := 0;
	left_over bigint;
BEGIN
	LOOP
		round := round + 1;
		vt := CASE WHEN w = 1 AND round % 7 = 0 THEN 1 ELSE 60 END;
		WITH r AS (SELECT * FROM sqsn.sq_receive('stress.fifo', 10, vt)),
		rec AS (
			INSERT INTO processed (worker, grp, idx, seq, received_at, lease_until)
			SELECT w, r.message_group_id, split_part(r.body, ':', 2)::int,
				r.sequence_number, clock_timestamp(),
				clock_timestamp() + make_interval(secs => vt)
			FROM r WHERE vt = 60)
		SELECT array_agg(r.receipt_handle) INTO hs FROM r;
		IF hs IS NULL THEN
			COMMIT;
			SELECT visible + in_flight INTO left_over
			FROM sqsn.queue_stats WHERE queue_name = 'stress.fifo';
			EXIT WHEN left_over = 0;
			PERFORM pg_sleep(0.02);
			CONTINUE;
		END IF;
		IF vt = 60 THEN
			PERFORM sqsn.sq_delete_batch('stress.fifo', hs);
		END IF;
		IF round % 23 = 0 THEN
			ROLLBACK;
		ELSE
			COMMIT;
		END IF;
	END LOOP;
END
\$\$;
});

# 20,000 messages, group g<i % 50>, body "g<i % 50>:<i>", sent in batches
query(qq{
SELECT count(*) FROM generate_series(0, $messages / 1000 - 1) AS b,
LATERAL sqsn.sq_send_batch('stress.fifo',
	ARRAY(SELECT 'g' || (i % $groups) || ':' || i FROM generate_series(b * 1000, b * 1000 + 999) i),
	message_group_ids => ARRAY(SELECT 'g' || (i % $groups) FROM generate_series(b * 1000, b * 1000 + 999) i),
	message_deduplication_ids => ARRAY(SELECT i::text FROM generate_series(b * 1000, b * 1000 + 999) i));
});
is(query(q{SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'stress.fifo'}),
	$messages, "$messages messages queued");

my $start = time;
my @sessions = map { SqsnSessions::start_session($node, "consumer$_", "CALL consume($_)", $timeout_s) }
  1 .. $consumers;
my $failed = SqsnSessions::finish_sessions(@sessions);
is($failed, 0, "$consumers consumers ran to the end without errors");
note('drained in ' . (time - $start) . ' s');

is(query(q{SELECT visible + in_flight + delayed FROM sqsn.queue_stats
	WHERE queue_name = 'stress.fifo'}), 0, 'the queue is empty');
is(query(q{SELECT count(*) FROM processed}), $messages,
	'as many messages processed as sent');
is(query(q{SELECT count(DISTINCT (grp, idx)) FROM processed}), $messages,
	'every message processed exactly once');
is(query(qq{SELECT count(*) FROM processed WHERE idx % $groups <> substr(grp, 2)::int}),
	0, 'every message carried its own group id');
is(query(q{SELECT count(*) FROM (
	SELECT idx < lag(idx) OVER (PARTITION BY grp ORDER BY id) AS back,
		seq < lag(seq) OVER (PARTITION BY grp ORDER BY id) AS seq_back
	FROM processed) s WHERE back OR seq_back}),
	0, 'within each group, processed in send order (and sequence number order)');
cmp_ok(query(q{SELECT count(DISTINCT worker) FROM processed}), '>', 1,
	'the work was spread over several consumers');
$node->stop;
done_testing();
