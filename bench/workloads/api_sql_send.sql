-- bench/api, the SQL side of SendMessage: one sq_send per transaction.
SELECT sqsn.sq_send('sql_send', :body);
