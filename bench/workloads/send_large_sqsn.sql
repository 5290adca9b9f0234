-- sqsn: send one 1 MiB message per transaction.
SELECT sqsn.sq_send('large', body) FROM bench.large_body;
