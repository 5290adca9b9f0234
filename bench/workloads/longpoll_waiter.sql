-- A long-polling receiver: waits up to :wait seconds for a message on
-- 'wake' and records how long after its send it got it.
WITH r AS (SELECT sent_at FROM sqsn.sq_receive('wake', 1, 30, wait_time_seconds => :wait))
INSERT INTO bench.wake_latency (ms)
SELECT extract(epoch FROM clock_timestamp() - r.sent_at) * 1000 FROM r;
