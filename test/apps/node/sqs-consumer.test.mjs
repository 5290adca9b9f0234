// sqs-consumer (npm) on sqsn: the consumer library most Node.js services
// use to poll SQS, unmodified, with the AWS SDK v3 client it is given.
//
// test/apps/run makes the queue SQSN_APP_QUEUE with a dead-letter queue
// (<queue>-dlq, after 2 receives) and a role that may only receive from it
// (receive, delete, change visibility). The messages are sent in SQL, as an
// application's own transaction would (the transactional outbox), and
// consumed through the endpoint. Every message is handled once; a message
// whose handler throws is made visible again at once
// (terminateVisibilityTimeout), handled again, and after its second receive
// lands in the dead-letter queue; batches are acknowledged with
// DeleteMessageBatch; the queue ends empty.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import { QUEUE, clientConfig, queueCount, queueUrl, sql, waitFor } from './common.mjs';

const DLQ = `${QUEUE}-dlq`;

function sendInSql(body, attributes) {
  sql("SELECT sqsn.sq_send(:'p1', :'p2', :'p3'::jsonb)", QUEUE, body,
    JSON.stringify(attributes ?? {}));
}

function consumer(options) {
  const c = Consumer.create({
    queueUrl: queueUrl(QUEUE),
    sqs: new SQSClient(clientConfig),
    waitTimeSeconds: 1,
    pollingWaitTimeMs: 0,
    ...options,
  });
  const errors = [];
  c.on('error', (err) => errors.push(err));
  return { c, errors };
}

test('every message is handled once; a failing one retried, then dead-lettered', async () => {
  const seen = new Map(); // body -> receive counts
  const processingErrors = [];
  for (let i = 0; i < 19; i++) {
    sendInSql(`order-${i}`, { kind: { DataType: 'String', StringValue: 'order' },
      n: { DataType: 'Number', StringValue: String(i) } });
  }
  sendInSql('poison', { kind: { DataType: 'String', StringValue: 'poison' } });

  const { c, errors } = consumer({
    batchSize: 5,
    messageAttributeNames: ['All'],
    messageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
    terminateVisibilityTimeout: true, // a failed message comes back at once
    handleMessage: async (message) => {
      const counts = seen.get(message.Body) ?? [];
      counts.push(Number(message.Attributes.ApproximateReceiveCount));
      seen.set(message.Body, counts);
      assert.ok(Number(message.Attributes.SentTimestamp) > Date.now() - 600000);
      if (message.MessageAttributes.kind.StringValue === 'poison') {
        throw new Error('cannot handle this one');
      }
      assert.equal(message.Body, `order-${message.MessageAttributes.n.StringValue}`);
      return message;
    },
  });
  c.on('processing_error', (err, message) => processingErrors.push(message.Body));
  c.start();
  try {
    await waitFor(() => seen.size === 20 && (seen.get('poison') ?? []).length >= 2 &&
      queueCount(DLQ) === 1, 'every message and the poison in the dead-letter queue');
    await waitFor(() => queueCount(QUEUE) === 0, 'the queue to be empty');
  } finally {
    c.stop();
  }
  for (let i = 0; i < 19; i++) assert.deepEqual(seen.get(`order-${i}`), [1], `order-${i}`);
  assert.deepEqual(seen.get('poison'), [1, 2]);
  assert.deepEqual(processingErrors, ['poison', 'poison']);
  assert.deepEqual(sql("SELECT body FROM sqsn.sq_receive(:'p1', 10)", DLQ), [['poison']]);
  assert.deepEqual(errors, []);
});

test('batches are handled together and deleted with DeleteMessageBatch', async () => {
  for (let i = 0; i < 25; i++) sendInSql(`item-${i}`);
  const batches = [];
  const { c, errors } = consumer({
    batchSize: 10,
    handleMessageBatch: async (messages) => {
      batches.push(messages.map((m) => m.Body));
      return messages; // all acknowledged
    },
  });
  c.start();
  try {
    await waitFor(() => batches.flat().length >= 25, 'all 25 messages');
    await waitFor(() => queueCount(QUEUE) === 0, 'the queue to be empty');
  } finally {
    c.stop();
  }
  const bodies = batches.flat().sort();
  assert.deepEqual(bodies, Array.from({ length: 25 }, (_, i) => `item-${i}`).sort());
  assert.ok(batches.every((b) => b.length <= 10), 'at most 10 a batch');
  assert.ok(batches.some((b) => b.length > 1), 'messages came in batches');
  assert.deepEqual(errors, []);
});
