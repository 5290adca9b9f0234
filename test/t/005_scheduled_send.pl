# Scheduled sends through pg_cron: sq_schedule_send creates a pg_cron job in
# the database whose command sends the message, owned by the caller;
# scheduling the same name again replaces it; sq_unschedule_send removes
# it. The queue and the message are checked when the job is scheduled.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_schedule');
$node->init;
# a master key, for the encrypted queue below
my $key_file = $node->data_dir . '/sqsn_master_key';
open my $kf, '>', $key_file or die $!;
print $kf join('', map { sprintf '%02x', int(rand(256)) } 1 .. 32), "\n";
close $kf;
chmod 0600, $key_file;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn,pg_cron'
cron.database_name = 'postgres'
sqsn.master_key_file = '$key_file'
});
$node->start;

sub query { return $node->safe_psql('postgres', $_[0]); }

# error(sql): the SQLSTATE and message of a failing statement
sub error
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=sqlstate' ]);
	chomp $err;
	return $err;
}

query('CREATE EXTENSION sqsn');
like(error(q{SELECT sqsn.sq_schedule_send('j', '* * * * *', 'q', 'x')}),
	qr/55000/, 'without pg_cron: 55000');
like(error(q{SELECT sqsn.sq_unschedule_send('j')}),
	qr/55000/, 'without pg_cron, unscheduling: 55000');

query('CREATE EXTENSION pg_cron');
query(q{SELECT sqsn.sq_create_queue('sched_q')});

# schedule_send_creates_a_cron_job_that_sends
my $jobid = query(q{SELECT sqsn.sq_schedule_send('nightly', '0 3 * * *', 'sched_q',
	'it''s time', '{"kind": "nightly"}')});
like($jobid, qr/^\d+$/, 'sq_schedule_send returns the job id');
is(query(qq{SELECT jobname || '|' || schedule || '|' || username || '|' || database FROM cron.job WHERE jobid = $jobid}),
	'nightly|0 3 * * *|postgres|postgres', 'the job is in cron.job, owned by the caller');
my $command = query(qq{SELECT command FROM cron.job WHERE jobid = $jobid});
query($command);
is(query(q{SELECT body || ' ' || (message_attributes->'kind'->>'StringValue') FROM sqsn.sq_receive('sched_q', 10, 0)}),
	"it's time nightly", 'running the job command sends the message');

# scheduling_the_same_name_again_replaces_the_job
query(q{SELECT sqsn.sq_schedule_send('nightly', '0 4 * * *', 'sched_q', 'later')});
is(query(q{SELECT count(*) || '|' || min(schedule) FROM cron.job WHERE jobname = 'nightly'}),
	'1|0 4 * * *', 'one job, with the new schedule');

# an encrypted queue takes no scheduled sends: the body would stay in the
# clear in cron.job
query(q{SELECT sqsn.sq_create_queue('sched_enc', encrypted => true)});
like(error(q{SELECT sqsn.sq_schedule_send('j_enc', '* * * * *', 'sched_enc', 'secret')}),
	qr/0A000/, 'scheduling a send to an encrypted queue: 0A000');
is(query(q{SELECT count(*) FROM cron.job WHERE jobname = 'j_enc'}), '0', 'and no job is created');

# bad_input_is_rejected_when_scheduling
like(error(q{SELECT sqsn.sq_schedule_send('j', '* * * * *', 'no_such_queue', 'x')}),
	qr/42704/, 'unknown queue: 42704');
like(error(q{SELECT sqsn.sq_schedule_send('j', '* * * * *', 'sched_q', '')}),
	qr/22023/, 'empty body: 22023');
like(error(q{SELECT sqsn.sq_schedule_send('j', '* * * * *', 'sched_q', 'x', '{"AWS.x": 1}')}),
	qr/22023/, 'bad attribute: 22023');
like(error(q{SELECT sqsn.sq_schedule_send(NULL, '* * * * *', 'sched_q', 'x')}),
	qr/22004/, 'NULL job name: 22004');
like(error(q{SELECT sqsn.sq_schedule_send('j', 'not a schedule', 'sched_q', 'x')}),
	qr/ERROR/, 'pg_cron rejects a bad schedule');
is(query(q{SELECT count(*) FROM cron.job WHERE jobname = 'j'}), '0',
	'no job was created by the failed calls');

# a_producer_schedules_jobs_that_run_as_itself
query(q{
	CREATE ROLE sched_producer LOGIN;
	GRANT sqsn_producer TO sched_producer;
	GRANT USAGE ON SCHEMA cron TO sched_producer;
});
# (the queue's grants decide too: none yet, so scheduling is refused)
my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT sqsn.sq_schedule_send('hourly', '0 * * * *', 'sched_q', 'ping')},
	extra_params => [ '-U', 'sched_producer' ]);
like($err, qr/permission denied to use queue "sched_q"/,
	'a producer without a grant on the queue cannot schedule sends to it');
query(q{SELECT sqsn.sq_grant('sched_q', 'sched_producer', '{send}')});
$node->safe_psql('postgres',
	q{SELECT sqsn.sq_schedule_send('hourly', '0 * * * *', 'sched_q', 'ping')},
	extra_params => [ '-U', 'sched_producer' ]);
is(query(q{SELECT username FROM cron.job WHERE jobname = 'hourly'}),
	'sched_producer', 'the job runs as the producer');
is($node->safe_psql('postgres', q{SELECT sqsn.sq_unschedule_send('nightly')},
		extra_params => [ '-U', 'sched_producer' ]),
	'f', 'a producer cannot unschedule another role\'s job');

# unschedule_send_removes_the_job
is(query(q{SELECT sqsn.sq_unschedule_send('nightly')}), 't', 'unscheduling returns true');
is(query(q{SELECT count(*) FROM cron.job WHERE jobname = 'nightly'}), '0', 'the job is gone');
is(query(q{SELECT sqsn.sq_unschedule_send('nightly')}), 'f', 'unscheduling again returns false');

$node->stop;
done_testing();
