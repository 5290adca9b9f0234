-- Comparison: the same 10 copies as 10 sq_send calls in one transaction.
BEGIN;
SELECT sqsn.sq_send('sendfan1', :body);
SELECT sqsn.sq_send('sendfan2', :body);
SELECT sqsn.sq_send('sendfan3', :body);
SELECT sqsn.sq_send('sendfan4', :body);
SELECT sqsn.sq_send('sendfan5', :body);
SELECT sqsn.sq_send('sendfan6', :body);
SELECT sqsn.sq_send('sendfan7', :body);
SELECT sqsn.sq_send('sendfan8', :body);
SELECT sqsn.sq_send('sendfan9', :body);
SELECT sqsn.sq_send('sendfan10', :body);
COMMIT;
