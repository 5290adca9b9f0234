# The background worker: it runs before the extension exists and after it
# is dropped, sweeps expired messages (also from dead-letter queues) and
# messages over a lowered receive limit, reports in sqsn.worker_status,
# survives a broken queue, reloads its settings on SIGHUP, comes back after
# kill -9 in the middle of a long retention sweep and finishes it without
# removing anything that had not expired, and leases in flight survive an
# immediate shutdown and expire on time.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_worker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
sqsn.poll_interval = '200ms'
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

sub poll
{
	my ($sql, $expected, $what) = @_;
	ok($node->poll_query_until('postgres', $sql, $expected), $what);
}

my $worker_pid_sql =
  "SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn worker'";

# worker_runs_without_the_extension
poll("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn worker'",
	'1', 'the worker runs before the extension is created');
my $pid = query($worker_pid_sql);
like($pid, qr/^\d+$/, 'the worker has a pid');

# worker_status_reports_idle_after_a_round
query('CREATE EXTENSION sqsn');
poll("SELECT state || ',' || (last_sweep_at IS NOT NULL) || ',' || (pid = $pid) FROM sqsn.worker_status",
	'idle,true,true', 'worker_status: idle, has swept, same pid');

# worker_removes_expired_messages_and_keeps_the_rest
my $qid = query(q{
	SELECT sqsn.sq_create_queue('ret_q', message_retention_period => 60);
	SELECT count(*) FROM sqsn.sq_send_batch('ret_q', ARRAY['keep 1', 'old 1', 'old 2', 'keep 2']);
	SELECT queue_id FROM sqsn.queue WHERE queue_name = 'ret_q';
});
($qid) = (split /\n/, $qid)[-1];
query("UPDATE sqsn.q_$qid SET expires_at = now() - interval '1 second' WHERE body LIKE 'old%'");
# the worker looks only at queues with something due: a change of the
# queue's attributes has it look again (the expiry written behind its back
# would otherwise be found when the messages were due, in 60 s)
query(q{SELECT sqsn.sq_set_queue_attributes('ret_q', '{"MessageRetentionPeriod": 60}')});
poll("SELECT string_agg(body, ',' ORDER BY msg_seq) FROM sqsn.q_$qid",
	'keep 1,keep 2', 'the worker removed the expired messages only');
is(query(q{SELECT messages_expired FROM sqsn.worker_status}), '2',
	'worker_status counts 2 expired messages');

# worker_moves_messages_over_a_lowered_receive_limit
query(q{
	SELECT sqsn.sq_create_queue('ret_dead', message_retention_period => 60);
	SELECT sqsn.sq_create_queue('ret_src');
	SELECT sqsn.sq_send('ret_src', 'tried twice');
	SELECT count(*) FROM sqsn.sq_receive('ret_src', 1, 0);
	SELECT count(*) FROM sqsn.sq_receive('ret_src', 1, 0);
	SELECT sqsn.sq_set_queue_attributes('ret_src',
		'{"RedrivePolicy": {"deadLetterQueue": "ret_dead", "maxReceiveCount": 1}}');
});
poll("SELECT string_agg(body, ',') FROM sqsn.sq_receive('ret_dead', 10, 0)",
	'tried twice', 'the worker moved the message to the dead-letter queue');
is(query(q{SELECT messages_moved_to_dlq FROM sqsn.worker_status}), '1',
	'worker_status counts 1 moved message');

# worker_expires_messages_in_a_dead_letter_queue
my $dead_id = query("SELECT queue_id FROM sqsn.queue WHERE queue_name = 'ret_dead'");
query("UPDATE sqsn.q_$dead_id SET expires_at = now() - interval '1 second'");
query(q{SELECT sqsn.sq_set_queue_attributes('ret_dead', '{"MessageRetentionPeriod": 60}')});
poll("SELECT count(*) FROM sqsn.q_$dead_id", '0',
	'the worker removed the expired message from the dead-letter queue');

# a_broken_queue_does_not_stop_the_worker
my $broken_id = query(q{
	SELECT sqsn.sq_create_queue('broken');
	SELECT queue_id FROM sqsn.queue WHERE queue_name = 'broken';
});
($broken_id) = (split /\n/, $broken_id)[-1];
# the attribute change has the worker look at the queue, and finds its
# table gone
query(qq{
	BEGIN;
	SELECT sqsn.sq_set_queue_attributes('broken', '{"DelaySeconds": 0}');
	DROP TABLE sqsn.q_$broken_id;
	COMMIT;
});
poll("SELECT last_error LIKE '%broken%missing%' FROM sqsn.worker_status", 't',
	'the failing queue is reported in last_error');
query("SELECT sqsn.sq_send('ret_q', 'old 3')");
query("UPDATE sqsn.q_$qid SET expires_at = now() - interval '1 second' WHERE body = 'old 3'");
query(q{SELECT sqsn.sq_set_queue_attributes('ret_q', '{"MessageRetentionPeriod": 60}')});
poll("SELECT string_agg(body, ',' ORDER BY msg_seq) FROM sqsn.q_$qid",
	'keep 1,keep 2', 'other queues are still swept');
is(query($worker_pid_sql), $pid, 'the worker did not restart');
query("DELETE FROM sqsn.queue WHERE queue_name = 'broken'");

# sighup_reloads_the_settings
query('ALTER SYSTEM SET sqsn.worker_enabled = off');
$node->reload;
poll(q{SELECT state FROM sqsn.worker_status}, 'disabled',
	'after reload with sqsn.worker_enabled = off the worker is disabled');
query('ALTER SYSTEM RESET sqsn.worker_enabled');
$node->reload;
poll(q{SELECT state FROM sqsn.worker_status}, 'idle',
	'after reload with the setting removed the worker sweeps again');
is(query($worker_pid_sql), $pid, 'reloading did not restart the worker');

# worker_survives_drop_extension
query('DROP EXTENSION sqsn');
sleep(1);
is(query($worker_pid_sql), $pid, 'the worker keeps running after DROP EXTENSION');
query('CREATE EXTENSION sqsn');
poll(q{SELECT state FROM sqsn.worker_status}, 'idle',
	'the worker works again once the extension is back');
is(query($worker_pid_sql), $pid, 'still the same worker');

# worker_killed_during_a_sweep_comes_back_and_finishes
# 20000 expired messages, swept 100 per batch and 1000 per round, so the
# sweep takes many rounds; kill -9 the worker in the middle of it.
query('ALTER SYSTEM SET sqsn.retention_batch_size = 100');
query('ALTER SYSTEM SET sqsn.worker_enabled = off');
$node->reload;
poll(q{SELECT state FROM sqsn.worker_status}, 'disabled', 'worker paused to set up the backlog');
$qid = query(q{
	SELECT sqsn.sq_create_queue('ret_q', message_retention_period => 60);
	SELECT count(*) FROM generate_series(1, 20) AS g,
		LATERAL sqsn.sq_send_batch('ret_q', array_fill('old ' || g, ARRAY[1000]));
	SELECT sqsn.sq_send('ret_q', 'keep');
	SELECT queue_id FROM sqsn.queue WHERE queue_name = 'ret_q';
});
($qid) = (split /\n/, $qid)[-1];
is(query("UPDATE sqsn.q_$qid SET expires_at = now() - interval '1 second' WHERE body LIKE 'old%' RETURNING 1")
	=~ tr/1//, 20000, '20000 expired messages');
query(q{SELECT sqsn.sq_set_queue_attributes('ret_q', '{"MessageRetentionPeriod": 60}')});
my $expired_before = query(q{SELECT messages_expired FROM sqsn.worker_status});
query('ALTER SYSTEM RESET sqsn.worker_enabled');
$node->reload;
poll("SELECT messages_expired > $expired_before FROM sqsn.worker_status", 't',
	'the sweep has started');
my $left = query("SELECT count(*) FROM sqsn.q_$qid");
cmp_ok($left, '>', 1, "the sweep is not done yet ($left rows left)");
my $log_offset = -s $node->logfile;
kill 'KILL', $pid;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
poll("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sqsn worker' AND pid <> $pid",
	'1', 'a new worker runs after kill -9');
poll("SELECT string_agg(body, ',') FROM sqsn.q_$qid", 'keep',
	'the new worker finished the sweep and removed only what expired');
query('ALTER SYSTEM RESET sqsn.retention_batch_size');
$node->reload;

# leases_survive_an_immediate_shutdown_and_expire_on_time
my $out = query(q{
	SELECT sqsn.sq_create_queue('lease_q');
	SELECT count(*) FROM sqsn.sq_send_batch('lease_q', ARRAY['long', 'short']);
	SELECT receipt_handle FROM sqsn.sq_receive('lease_q', 1, 3600);
	SELECT extract(epoch FROM now() + interval '6 seconds') FROM sqsn.sq_receive('lease_q', 1, 6);
});
my ($h_long, $short_until) = (split /\n/, $out)[-2, -1];
$node->stop('immediate');
$node->start;
is(query("SELECT in_flight FROM sqsn.queue_stats WHERE queue_name = 'lease_q'"), '2',
	'both leases survived the immediate shutdown');
poll("SELECT visible FROM sqsn.queue_stats WHERE queue_name = 'lease_q'", '1',
	'the short lease ran out after the restart');
is(query("SELECT extract(epoch FROM now()) >= $short_until"), 't',
	'and not before it was due');
is(query("SELECT body FROM sqsn.sq_receive('lease_q', 10, 0)"), 'short',
	'the message of the short lease is received again');
is(query("SELECT sqsn.sq_delete('lease_q', '$h_long')"), 't',
	'the long lease still holds: its handle deletes its message');

$node->stop('fast');
done_testing();
