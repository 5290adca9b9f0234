-- One message to the long-polling receivers.
SELECT sqsn.sq_send('wake', :body);
