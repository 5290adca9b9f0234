// sqs-producer (npm) on sqsn: the producer library of sqs-consumer's
// authors, unmodified. Given no client, it makes its own AWS SDK v3 client
// that sends each request to the queue URL itself (useQueueUrlAsEndpoint).
//
// test/apps/run makes the queues SQSN_APP_QUEUE and <queue>.fifo and a role
// that may only send to them. Messages go out in batches of at most 10
// (SendMessageBatch) with their attributes and delays, checked behind the
// producer's back in SQL; queueSize() reads the queue's counter; an entry
// the service refuses is reported by FailedMessagesError while the rest of
// its batch is sent; a FIFO queue keeps the group's order and drops a
// duplicate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer } from 'sqs-producer';
import { QUEUE, clientConfig, queueCount, queueUrl, sql } from './common.mjs';

// what a user writes: the queue URL, the endpoint, the region and the key
function producer(name) {
  return Producer.create({
    queueUrl: queueUrl(name),
    endpoint: clientConfig.endpoint,
    region: clientConfig.region,
    credentials: clientConfig.credentials,
  });
}

// every message of a queue, in SQL: {body: attributes}
function drain(name) {
  const out = {};
  for (;;) {
    const rows = sql("SELECT body, coalesce(message_attributes::text, '{}') " +
      "FROM sqsn.sq_receive(:'p1', 10, 600)", name);
    if (rows.length === 0) return out;
    for (const [body, attrs] of rows) out[body] = JSON.parse(attrs);
  }
}

test('messages go out in batches with their attributes; queueSize counts them', async () => {
  const p = producer(QUEUE);
  const messages = Array.from({ length: 23 }, (_, i) => ({
    id: `m${i}`,
    body: `message ${i}`,
    messageAttributes: {
      n: { DataType: 'Number', StringValue: String(i) },
      who: { DataType: 'String', StringValue: 'producer' },
      raw: { DataType: 'Binary', BinaryValue: Buffer.from([i, 255]) },
    },
  }));
  messages[22].delaySeconds = 600;
  const sent = await p.send(messages);
  assert.equal(sent.length, 23);
  assert.deepEqual(sent.map((r) => r.Id).sort(), messages.map((m) => m.id).sort());
  assert.ok(sent.every((r) => /^[0-9a-f-]{36}$/.test(r.MessageId)));
  assert.equal(await p.queueSize(), 22, 'the delayed message is not counted');
  assert.equal(queueCount(QUEUE), 23);

  await p.send(['alpha', 'beta']); // a string is its own id and body
  const got = drain(QUEUE);
  assert.deepEqual(Object.keys(got).sort(),
    ['alpha', 'beta', ...messages.slice(0, 22).map((m) => m.body)].sort());
  assert.deepEqual(got['message 7'], {
    n: { DataType: 'Number', StringValue: '7' },
    who: { DataType: 'String', StringValue: 'producer' },
    raw: { DataType: 'Binary', BinaryValue: Buffer.from([7, 255]).toString('base64') },
  });
  sql("SELECT sqsn.sq_purge_queue(:'p1')", QUEUE);
});

test('a refused entry fails alone and is reported', async () => {
  const p = producer(QUEUE);
  let error;
  try {
    await p.send([{ id: 'good1', body: 'fine' }, { id: 'bad', body: 'bell \u0007' },
      { id: 'good2', body: 'fine too' }]);
  } catch (e) {
    error = e;
  }
  // sqs-producer's FailedMessagesError (not exported) names the failed ids
  assert.deepEqual(error?.failedMessages, ['bad'], String(error));
  assert.deepEqual(Object.keys(drain(QUEUE)).sort(), ['fine', 'fine too']);
});

test('a FIFO queue keeps the order of a group and drops a duplicate', async () => {
  const fifo = `${QUEUE}.fifo`;
  const p = producer(fifo);
  const sent = await p.send(['a', 'b', 'c', 'b', 'd'].map((body, i) => ({
    id: `f${i}`, body, groupId: 'g1', deduplicationId: `dedup-${body}`,
  })));
  assert.equal(sent.length, 5);
  const numbers = sent.map((r) => r.SequenceNumber);
  assert.ok(numbers.every((n) => /^[0-9]{20}$/.test(n)), numbers.join());
  const rows = sql("SELECT body FROM sqsn.sq_receive(:'p1', 10, 600)", fifo);
  assert.deepEqual(rows.map((r) => r[0]), ['a', 'b', 'c', 'd']);
});
