-- Storage workloads, sqsn producer: one message per transaction to queue :q.
SELECT sqsn.sq_send(:q, :body);
