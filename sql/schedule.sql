-- Scheduled sends need pg_cron in the database; without it both functions
-- fail with 55000 and say what to do. (With pg_cron: t/005_scheduled_send.pl.)

-- err(stmt): run a statement; 'ok', or 'SQLSTATE: message' when it fails.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT sqsn.sq_create_queue('sc_q');

-- without_pg_cron_scheduling_fails_with_55000
SELECT pg_temp.err($$SELECT sqsn.sq_schedule_send('sc_job', '* * * * *', 'sc_q', 'tick')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_unschedule_send('sc_job')$$);
\set VERBOSITY default
SELECT sqsn.sq_schedule_send('sc_job', '* * * * *', 'sc_q', 'tick');

-- null_and_empty_arguments_are_rejected_first
SELECT pg_temp.err($$SELECT sqsn.sq_schedule_send(NULL, '* * * * *', 'sc_q', 'tick')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_schedule_send('sc_job', NULL, 'sc_q', 'tick')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_schedule_send('sc_job', '* * * * *', NULL, 'tick')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_schedule_send('sc_job', '* * * * *', 'sc_q', NULL)$$);
SELECT pg_temp.err($$SELECT sqsn.sq_schedule_send('', '* * * * *', 'sc_q', 'tick')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_schedule_send('sc_job', '* * * * *', 'sc_q', '')$$);
SELECT pg_temp.err($$SELECT sqsn.sq_unschedule_send(NULL)$$);

SELECT sqsn.sq_delete_queue('sc_q');
