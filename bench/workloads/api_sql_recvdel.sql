-- bench/api, the SQL side of ReceiveMessage (1 message) + DeleteMessage:
-- two statements, each its own transaction, as the endpoint runs each
-- request in its own. An empty queue makes \gset fail: the queue must
-- never run dry.
SELECT receipt_handle AS h FROM sqsn.sq_receive('sql_recv', 1, 30) \gset
SELECT sqsn.sq_delete('sql_recv', :h);
