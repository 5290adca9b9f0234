-- Storage workloads, sqsn consumer: receive up to 10 from queue :q, delete
-- them in one batch; back off 10 ms when nothing is visible.
BEGIN;
SELECT count(*) AS n, coalesce(array_agg(receipt_handle), '{}') AS hs
FROM sqsn.sq_receive(:q, 10, 30) \gset
\if :n > 0
SELECT count(*) FROM sqsn.sq_delete_batch(:q, :hs) WHERE deleted;
\endif
COMMIT;
\if :n = 0
\sleep 10 ms
\endif
