-- bench/soak: a consumer of queue :queue. Receives up to 10 messages,
-- waiting up to 10 s for one (long poll), writes each one's end-to-end
-- latency (send -> receive) into soak.latency under :label, and deletes
-- them in one batch.
WITH r AS (SELECT * FROM sqsn.sq_receive(:queue, 10, 30, 10)),
	l AS (INSERT INTO soak.latency (workload, ms)
		SELECT :label, 1000 * extract(epoch FROM clock_timestamp() - sent_at) FROM r)
SELECT count(*) AS n, coalesce(array_agg(receipt_handle), '{}') AS hs FROM r \gset
\if :n > 0
SELECT count(*) FROM sqsn.sq_delete_batch(:queue, :hs) WHERE deleted;
\endif
