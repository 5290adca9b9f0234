-- sqsn: publish one message to a topic with 10 subscribed queues.
SELECT sqsn.sn_publish('fanout', :body);
