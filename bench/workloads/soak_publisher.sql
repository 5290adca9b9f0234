-- bench/soak: a publisher, one message per transaction to topic :topic,
-- with one message attribute.
SELECT sqsn.sn_publish(:topic, :body, '{"kind": {"DataType": "String", "StringValue": "soak"}}');
