# Event source mappings survive crashes with exactly-once database effects:
# kill -9 of a function worker in the middle of an invocation (the
# postmaster's crash restart), then an immediate shutdown and restart while
# batches run -- every message is processed, the table the function writes
# (a unique key on the message id, and a log without one) holds each id
# exactly once, and the queue ends empty.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_function_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
sqsn.max_function_workers = 4
max_worker_processes = 16
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

my $n = 600;

query(q{CREATE EXTENSION sqsn});
query(q{
	CREATE TABLE processed (message_id uuid PRIMARY KEY, body text NOT NULL);
	CREATE TABLE calls (message_id uuid NOT NULL, receive_count int NOT NULL);
	-- no ON CONFLICT: a message processed twice would fail its batch
	CREATE FUNCTION handler(event jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		r jsonb;
	BEGIN
		FOR r IN SELECT * FROM jsonb_array_elements(event->'Records') LOOP
			INSERT INTO processed VALUES ((r->>'messageId')::uuid, r->>'body');
			INSERT INTO calls VALUES ((r->>'messageId')::uuid,
				(r->'attributes'->>'ApproximateReceiveCount')::int);
		END LOOP;
		PERFORM pg_sleep(0.1);
	END $$;
	SELECT sqsn.sq_create_queue('work', visibility_timeout => 2);
});

# the mapping starts disabled, so that the whole backlog is there first
my $mapping = query(q{
	SELECT sqsn.sq_create_event_source_mapping('work', 'handler(jsonb)',
		batch_size => 10, maximum_concurrency => 4, enabled => false)});
query(qq{SELECT count(sqsn.sq_send('work', 'm' || g)) FROM generate_series(1, $n) g});
query(qq{CREATE TABLE sent AS SELECT 'm' || g AS body FROM generate_series(1, $n) g});
query(qq{SELECT sqsn.sq_update_event_source_mapping('$mapping', enabled => true)});

# a function worker inside the function (sleeping in pg_sleep): its batch's
# inserts are written but not committed
my $in_function = q{
	SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'sqsn function worker' AND wait_event = 'PgSleep'
	LIMIT 1};

# --- kill -9 of a function worker mid-invocation ------------------------------

ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM ($in_function) w"),
	'a function worker is inside the function');
my $victim = query($in_function);
my $before = query(q{SELECT count(*) FROM processed});
ok($before < $n, "some but not all messages processed before the kill ($before)");
kill 'KILL', $victim;
note("killed function worker $victim after $before messages");

# the postmaster restarts everything; the workers come back and go on
ok($node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'sqsn function worker'}),
	'function workers run again after the crash restart');
ok($node->poll_query_until('postgres', "SELECT count(*) > $before FROM processed"),
	'processing goes on after the crash restart');

# --- immediate shutdown while batches run, and a restart ----------------------

ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM ($in_function) w"),
	'a function worker is inside the function again');
my $mid = query(q{SELECT count(*) FROM processed});
if ($mid < $n)
{
	$node->stop('immediate');
	$node->start;
	note("immediate restart after $mid messages");
}
else
{
	note("every message was processed before the immediate restart");
}

# --- everything processed, each message's effects exactly once ----------------

ok($node->poll_query_until('postgres', "SELECT count(*) = $n FROM processed", 't'),
	"all $n messages processed")
  or diag(query(q{SELECT * FROM sqsn.function_invocations WHERE outcome <> 'succeeded' LIMIT 5}));
is(query(q{SELECT count(*) || '|' || count(DISTINCT message_id) FROM calls}),
	"$n|$n", 'the function\'s log holds every message id exactly once');
is(query(q{SELECT count(*) FROM sent s LEFT JOIN processed p USING (body) WHERE p.body IS NULL}),
	'0', 'no sent message is missing');
ok($node->poll_query_until('postgres',
		q{SELECT visible + in_flight + delayed FROM sqsn.queue_stats WHERE queue_name = 'work'}, '0'),
	'the queue is empty');
is(query(qq{SELECT messages_deleted FROM sqsn.event_source_mapping_stats WHERE mapping_id = '$mapping'}),
	$n, 'the mapping\'s statistics count each message deleted once');
# since the last restart (the invocation log lives in shared memory), no
# invocation failed: none met a message it had processed already
is(query(q{SELECT count(*) FROM sqsn.function_invocations WHERE outcome <> 'succeeded'}),
	'0', 'no invocation failed since the restart');

$node->stop;
done_testing();
