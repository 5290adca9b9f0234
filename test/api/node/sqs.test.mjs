// SQS through the endpoint with the AWS SDK for JavaScript v3, which speaks
// AWS JSON 1.0 to SQS (and checks MD5OfBody / MD5OfMessageBody itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CancelMessageMoveTaskCommand,
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListDeadLetterSourceQueuesCommand,
  ListMessageMoveTasksCommand,
  ListQueueTagsCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  StartMessageMoveTaskCommand,
  TagQueueCommand,
  UntagQueueCommand,
} from '@aws-sdk/client-sqs';
import {
  ACCOUNT, AUTH, DENIED_KEY, DENIED_SECRET, PREFIX, REGION, SECRET, URL,
  md5Hex, md5OfAttributes, rejects, sqsClient,
} from './common.mjs';

const sqs = sqsClient();

async function createQueue(suffix, Attributes) {
  const r = await sqs.send(new CreateQueueCommand({ QueueName: PREFIX + suffix, Attributes }));
  return r.QueueUrl;
}

async function attrs(QueueUrl, ...names) {
  const r = await sqs.send(new GetQueueAttributesCommand({
    QueueUrl, AttributeNames: names.length ? names : ['All'],
  }));
  return r.Attributes;
}

async function receive(QueueUrl, extra = {}) {
  const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, ...extra }));
  return r.Messages ?? [];
}

test('md5 of attributes: the self-check values', () => {
  assert.equal(md5OfAttributes({ a: { DataType: 'String', StringValue: 'v' } }),
    'a18cbb58171ebf4ce88d9fb787f9210b');
  assert.equal(md5Hex('hi'), '49f68a5c8493ec2c0bf489821c21fc3b');
});

test('CreateQueue, GetQueueUrl, queue attributes', async () => {
  const created = {
    VisibilityTimeout: '45', MessageRetentionPeriod: '3600', MaximumMessageSize: '2048',
    DelaySeconds: '0', ReceiveMessageWaitTimeSeconds: '1',
  };
  const url = await createQueue('create', created);
  assert.equal(url, `${URL}/${ACCOUNT}/${PREFIX}create`);
  assert.equal(await createQueue('create', created), url, 'idempotent');
  await rejects(createQueue('create', { VisibilityTimeout: '46' }), 'QueueAlreadyExists');
  const got = await sqs.send(new GetQueueUrlCommand({ QueueName: PREFIX + 'create' }));
  assert.equal(got.QueueUrl, url);

  const all = await attrs(url);
  assert.equal(all.VisibilityTimeout, '45');
  assert.equal(all.MessageRetentionPeriod, '3600');
  assert.equal(all.MaximumMessageSize, '2048');
  assert.equal(all.ReceiveMessageWaitTimeSeconds, '1');
  assert.equal(all.QueueArn, `arn:aws:sqs:${REGION}:${ACCOUNT}:${PREFIX}create`);
  assert.ok(Math.abs(Number(all.CreatedTimestamp) - Date.now() / 1000) < 3600, 'epoch seconds');
  for (const n of ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesDelayed', 'LastModifiedTimestamp', 'DelaySeconds']) {
    assert.ok(n in all, n);
  }
  assert.deepEqual(await attrs(url, 'VisibilityTimeout'), { VisibilityTimeout: '45' });

  await sqs.send(new SetQueueAttributesCommand({
    QueueUrl: url, Attributes: { VisibilityTimeout: '60', DelaySeconds: '2' },
  }));
  assert.deepEqual(await attrs(url, 'VisibilityTimeout', 'DelaySeconds'),
    { VisibilityTimeout: '60', DelaySeconds: '2' });
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { DelaySeconds: '0' } }));
  await rejects(sqs.send(new SetQueueAttributesCommand({
    QueueUrl: url, Attributes: { ApproximateNumberOfMessages: '3' },
  })), 'InvalidAttributeName');
  await rejects(sqs.send(new SetQueueAttributesCommand({
    QueueUrl: url, Attributes: { MaximumMessageSize: '10' },
  })), 'InvalidAttributeValue');

  // the read-only counters
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'one' }));
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'two' }));
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'three', DelaySeconds: 600 }));
  assert.equal((await receive(url, { VisibilityTimeout: 600 })).length, 1);
  assert.deepEqual(await attrs(url, 'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'), {
    ApproximateNumberOfMessages: '1',
    ApproximateNumberOfMessagesNotVisible: '1',
    ApproximateNumberOfMessagesDelayed: '1',
  });
});

test('ListQueues: prefix, MaxResults and NextToken', async () => {
  const urls = [];
  for (let i = 0; i < 5; i++) urls.push(await createQueue(`list-${i}`));
  urls.sort();
  const all = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: PREFIX + 'list-' }));
  assert.deepEqual([...all.QueueUrls].sort(), urls);
  assert.equal(all.NextToken, undefined);
  const seen = [];
  let NextToken;
  let pages = 0;
  do {
    const page = await sqs.send(new ListQueuesCommand({
      QueueNamePrefix: PREFIX + 'list-', MaxResults: 2, NextToken,
    }));
    pages++;
    assert.ok(page.QueueUrls.length <= 2);
    seen.push(...page.QueueUrls);
    NextToken = page.NextToken;
    assert.ok(pages < 10, 'pagination ends');
  } while (NextToken);
  assert.equal(pages, 3);
  assert.deepEqual(seen.sort(), urls);
  const none = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: PREFIX + 'nothing' }));
  assert.deepEqual(none.QueueUrls ?? [], []);
});

test('ListDeadLetterSourceQueues: paging, bad tokens', async () => {
  const dlq = await createQueue('dlsrc-dead');
  const { QueueArn } = await attrs(dlq, 'QueueArn');
  const RedrivePolicy = JSON.stringify({ deadLetterTargetArn: QueueArn, maxReceiveCount: 3 });
  const srcs = [];
  for (let i = 0; i < 3; i++) srcs.push(await createQueue(`dlsrc-${i}`, { RedrivePolicy }));
  await createQueue('dlsrc-other');
  const all = await sqs.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq }));
  assert.deepEqual([...all.queueUrls].sort(), srcs.sort());
  assert.equal(all.NextToken, undefined);
  const first = await sqs.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq, MaxResults: 2 }));
  assert.equal(first.queueUrls.length, 2);
  assert.ok(first.NextToken);
  const second = await sqs.send(new ListDeadLetterSourceQueuesCommand({
    QueueUrl: dlq, MaxResults: 2, NextToken: first.NextToken,
  }));
  assert.deepEqual([...first.queueUrls, ...second.queueUrls].sort(), srcs.sort());
  assert.equal(second.NextToken, undefined);
  await rejects(sqs.send(new ListDeadLetterSourceQueuesCommand({
    QueueUrl: dlq, MaxResults: 2, NextToken: 'bogus',
  })), 'InvalidParameterValue');
  // a ListQueues token is not one of ListDeadLetterSourceQueues
  const lq = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: PREFIX + 'dlsrc-', MaxResults: 1 }));
  await rejects(sqs.send(new ListDeadLetterSourceQueuesCommand({
    QueueUrl: dlq, MaxResults: 2, NextToken: lq.NextToken,
  })), 'InvalidParameterValue');
});

test('message move tasks: start, list while running, cancel, complete', async () => {
  const dlq = await createQueue('mt-dlq');
  const { QueueArn: dlqArn } = await attrs(dlq, 'QueueArn');
  const src = await createQueue('mt-src', {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }),
  });
  const { QueueArn: srcArn } = await attrs(src, 'QueueArn');
  for (let i = 0; i < 30; i++) {
    await sqs.send(new SendMessageCommand({ QueueUrl: src, MessageBody: `m${i}` }));
  }
  // received twice: over maxReceiveCount 1, so into the dead-letter queue
  for (let round = 0; round < 2; round++) {
    for (let k = 0; k < 3; k++) {
      await receive(src, { MaxNumberOfMessages: 10, VisibilityTimeout: 0 });
    }
  }
  assert.equal((await attrs(dlq, 'ApproximateNumberOfMessages')).ApproximateNumberOfMessages, '30');
  await rejects(sqs.send(new StartMessageMoveTaskCommand({ SourceArn: srcArn })),
    'AWS.SimpleQueueService.UnsupportedOperation', 400);
  await rejects(sqs.send(new StartMessageMoveTaskCommand({
    SourceArn: dlqArn, MaxNumberOfMessagesPerSecond: 501,
  })), 'InvalidParameterValue', 400);
  // slow: 2 a second, listed while running, then cancelled
  const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({
    SourceArn: dlqArn, MaxNumberOfMessagesPerSecond: 2,
  }));
  assert.ok(TaskHandle);
  await rejects(sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn })),
    'AWS.SimpleQueueService.UnsupportedOperation', 400);
  const listed = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }));
  assert.equal(listed.Results.length, 1);
  const [t] = listed.Results;
  assert.equal(t.Status, 'RUNNING');
  assert.equal(t.TaskHandle, TaskHandle);
  assert.equal(t.SourceArn, dlqArn);
  assert.equal(t.MaxNumberOfMessagesPerSecond, 2);
  assert.equal(t.ApproximateNumberOfMessagesToMove, 30);
  assert.ok(Math.abs(t.StartedTimestamp - Date.now()) < 600000);
  const cancelled = await sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle }));
  assert.ok(cancelled.ApproximateNumberOfMessagesMoved < 30);
  await rejects(sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle: '00000000-0000-0000-0000-000000000000' })),
    'ResourceNotFoundException', 404);
  // the worker turns CANCELLING into CANCELLED, then a fast task moves the rest
  let status;
  for (let i = 0; i < 100; i++) {
    [{ Status: status }] = (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results;
    if (status === 'CANCELLED') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 'CANCELLED');
  await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
  let last;
  for (let i = 0; i < 100; i++) {
    [last] = (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 10 }))).Results;
    if (last.Status === 'COMPLETED') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(last.Status, 'COMPLETED');
  assert.equal(last.TaskHandle, undefined);
  const all = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 10 }));
  assert.equal(all.Results.length, 2);
  assert.equal(all.Results[0].ApproximateNumberOfMessagesMoved + all.Results[1].ApproximateNumberOfMessagesMoved, 30);
  assert.equal((await attrs(src, 'ApproximateNumberOfMessages')).ApproximateNumberOfMessages, '30');
});

test('1 MiB messages over JSON', async () => {
  const QueueUrl = await createQueue('onemib', { MaximumMessageSize: '1048576' });
  const body = '\u00e9'.repeat(400000) + 'y'.repeat(1048576 - 800000);
  assert.equal(Buffer.byteLength(body), 1048576);
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
  assert.equal(sent.MD5OfMessageBody, md5Hex(body));
  const [m] = await receive(QueueUrl, { VisibilityTimeout: 60 });
  assert.equal(m.Body, body);
  await rejects(sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body + 'z' })),
    'InvalidParameterValue', 400);
  await rejects(sqs.send(new SetQueueAttributesCommand({
    QueueUrl, Attributes: { MaximumMessageSize: '1048577' },
  })), 'InvalidAttributeValue', 400);
});

test('tags: CreateQueue tags, TagQueue, UntagQueue, ListQueueTags', async () => {
  const r = await sqs.send(new CreateQueueCommand({
    QueueName: PREFIX + 'tags', tags: { team: 'orders', env: 'prod' },
  }));
  const QueueUrl = r.QueueUrl;
  assert.deepEqual((await sqs.send(new ListQueueTagsCommand({ QueueUrl }))).Tags,
    { env: 'prod', team: 'orders' });
  await sqs.send(new TagQueueCommand({ QueueUrl, Tags: { env: 'staging', 'cost:center': '42' } }));
  await sqs.send(new UntagQueueCommand({ QueueUrl, TagKeys: ['team'] }));
  assert.deepEqual((await sqs.send(new ListQueueTagsCommand({ QueueUrl }))).Tags,
    { 'cost:center': '42', env: 'staging' });
  await rejects(sqs.send(new TagQueueCommand({ QueueUrl, Tags: { 'aws:x': 'v' } })),
    'InvalidParameterValue', 400);
  const many = {};
  for (let i = 0; i < 49; i++) many[`k${i}`] = 'v';
  await rejects(sqs.send(new TagQueueCommand({ QueueUrl, Tags: many })), 'InvalidParameterValue', 400);
  assert.equal(Object.keys((await sqs.send(new ListQueueTagsCommand({ QueueUrl }))).Tags).length, 2);
  await rejects(sqs.send(new CreateQueueCommand({
    QueueName: PREFIX + 'badtags', tags: { 'bad!': 'v' },
  })), 'InvalidParameterValue', 400);
  await rejects(sqs.send(new GetQueueUrlCommand({ QueueName: PREFIX + 'badtags' })),
    'AWS.SimpleQueueService.NonExistentQueue', 400);
});

test('SendMessage and ReceiveMessage with attributes and checksums', async () => {
  const url = await createQueue('send');
  const body = 'h\u00e9llo \u2603 \u{1F600} <&> "quoted" line\r\nend';
  const MessageAttributes = {
    color: { DataType: 'String', StringValue: 'red' },
    size: { DataType: 'Number', StringValue: '42' },
    blob: { DataType: 'Binary', BinaryValue: Uint8Array.from([0, 1, 254, 255]) },
    kind: { DataType: 'String.custom', StringValue: 'k\u00fc' },
  };
  // the SDK itself checks MD5OfMessageBody against the body it sent
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageAttributes }));
  assert.equal(sent.MD5OfMessageBody, md5Hex(body));
  assert.equal(sent.MD5OfMessageAttributes, md5OfAttributes(MessageAttributes));
  assert.match(sent.MessageId, /^[0-9a-f-]{36}$/);
  const plain = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'plain' }));
  assert.equal(plain.MD5OfMessageAttributes, undefined);

  const before = Date.now();
  const [m] = await receive(url, {
    MaxNumberOfMessages: 1, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'],
  });
  assert.equal(m.MessageId, sent.MessageId);
  assert.equal(m.Body, body);
  assert.equal(m.MD5OfBody, md5Hex(body));
  assert.equal(m.MD5OfMessageAttributes, md5OfAttributes(MessageAttributes));
  assert.deepEqual(m.MessageAttributes.color, { DataType: 'String', StringValue: 'red' });
  assert.deepEqual(m.MessageAttributes.size, { DataType: 'Number', StringValue: '42' });
  assert.equal(m.MessageAttributes.blob.DataType, 'Binary');
  assert.deepEqual([...m.MessageAttributes.blob.BinaryValue], [0, 1, 254, 255]);
  assert.deepEqual(m.MessageAttributes.kind, { DataType: 'String.custom', StringValue: 'k\u00fc' });
  assert.equal(m.Attributes.ApproximateReceiveCount, '1');
  assert.ok(Math.abs(Number(m.Attributes.SentTimestamp) - before) < 600000, 'epoch milliseconds');
  assert.ok(Number(m.Attributes.ApproximateFirstReceiveTimestamp) >= Number(m.Attributes.SentTimestamp));

  // MaxNumberOfMessages, VisibilityTimeout; nothing unasked for
  for (let i = 0; i < 4; i++) {
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `bulk${i}` }));
  }
  const bulk = await receive(url, { MaxNumberOfMessages: 3, VisibilityTimeout: 600 });
  assert.equal(bulk.length, 3);
  assert.equal(bulk[0].Attributes, undefined);
  assert.equal(bulk[0].MessageAttributes, undefined);
  const rest = await receive(url, { MaxNumberOfMessages: 10, VisibilityTimeout: 600 });
  assert.deepEqual([...bulk, ...rest].map((x) => x.Body).sort(),
    ['bulk0', 'bulk1', 'bulk2', 'bulk3', 'plain']);
  assert.deepEqual(await receive(url), []);
  await rejects(receive(url, { MaxNumberOfMessages: 11 }), 'InvalidParameterValue');
  await rejects(receive(url, { WaitTimeSeconds: 21 }), 'InvalidParameterValue');
  await rejects(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', DelaySeconds: 901 })),
    'InvalidParameterValue');
});

test('ReceiveMessage attribute selection: All, names, prefix.*', async () => {
  const url = await createQueue('select');
  await sqs.send(new SendMessageCommand({
    QueueUrl: url, MessageBody: 'sel', MessageAttributes: {
      'app.x': { DataType: 'String', StringValue: '1' },
      'app.y': { DataType: 'Number', StringValue: '2' },
      other: { DataType: 'String', StringValue: '3' },
    },
  }));
  const one = async (extra) => {
    const [m] = await receive(url, { VisibilityTimeout: 0, ...extra });
    if (m.MessageAttributes) {
      assert.equal(m.MD5OfMessageAttributes, md5OfAttributes(m.MessageAttributes));
    }
    return m;
  };
  assert.deepEqual(Object.keys((await one({ MessageAttributeNames: ['app.*'] })).MessageAttributes).sort(),
    ['app.x', 'app.y']);
  assert.deepEqual(Object.keys((await one({ MessageAttributeNames: ['other'] })).MessageAttributes), ['other']);
  assert.deepEqual(Object.keys((await one({ MessageAttributeNames: ['All'] })).MessageAttributes).sort(),
    ['app.x', 'app.y', 'other']);
  assert.equal((await one({ MessageAttributeNames: ['none'] })).MessageAttributes, undefined);
  const m = await one({ MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'] });
  assert.deepEqual(Object.keys(m.Attributes).sort(), ['ApproximateReceiveCount', 'SentTimestamp']);
  assert.equal(m.Attributes.ApproximateReceiveCount, '5');
  // the older AttributeNames member still works
  const m2 = await one({ AttributeNames: ['ApproximateReceiveCount'] });
  assert.deepEqual(m2.Attributes, { ApproximateReceiveCount: '6' });
});

test('SenderId and DeadLetterQueueSourceArn, by either attribute-name member', async () => {
  const dlq = await createQueue('sys-dlq');
  const { QueueArn: dlqArn } = await attrs(dlq, 'QueueArn');
  const src = await createQueue('sys-src', {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }),
  });
  const { QueueArn: srcArn } = await attrs(src, 'QueueArn');
  await sqs.send(new SendMessageCommand({ QueueUrl: src, MessageBody: 'sys' }));
  const [m] = await receive(src, { VisibilityTimeout: 0, MessageSystemAttributeNames: ['SenderId'] });
  // the role the key maps to (with sqsn.api_auth = none, the bootstrap superuser)
  if (AUTH === 'sigv4') assert.deepEqual(m.Attributes, { SenderId: 'sqsn_api_tester' });
  else assert.deepEqual(Object.keys(m.Attributes), ['SenderId']);
  const sender = m.Attributes.SenderId;
  // a second receive is over maxReceiveCount: the message moves to the dead-letter queue
  assert.deepEqual(await receive(src, { VisibilityTimeout: 0 }), []);
  const [d] = await receive(dlq, {
    VisibilityTimeout: 0, MessageSystemAttributeNames: ['DeadLetterQueueSourceArn'],
    AttributeNames: ['SenderId'],
  });
  assert.deepEqual(d.Attributes, { DeadLetterQueueSourceArn: srcArn, SenderId: sender });
  const [all] = await receive(dlq, { VisibilityTimeout: 0, MessageSystemAttributeNames: ['All'] });
  assert.deepEqual(Object.keys(all.Attributes).sort(), [
    'ApproximateFirstReceiveTimestamp', 'ApproximateReceiveCount', 'DeadLetterQueueSourceArn',
    'SenderId', 'SentTimestamp',
  ]);
  const [legacy] = await receive(dlq, { VisibilityTimeout: 0, AttributeNames: ['All'] });
  assert.equal(legacy.Attributes.DeadLetterQueueSourceArn, srcArn);
  assert.equal(legacy.Attributes.ApproximateReceiveCount, '3');
});

test('SendMessageBatch with a partial failure', async () => {
  const url = await createQueue('batch');
  const entries = [
    { Id: 'a', MessageBody: 'first', MessageAttributes: { n: { DataType: 'Number', StringValue: '1' } } },
    { Id: 'b', MessageBody: 'second' },
    { Id: 'bad', MessageBody: 'not \u0001 allowed' },
    { Id: 'c', MessageBody: 'third' },
  ];
  const r = await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
  assert.deepEqual(r.Successful.map((e) => e.Id).sort(), ['a', 'b', 'c']);
  const a = r.Successful.find((e) => e.Id === 'a');
  assert.equal(a.MD5OfMessageBody, md5Hex('first'));
  assert.equal(a.MD5OfMessageAttributes, md5OfAttributes(entries[0].MessageAttributes));
  assert.equal(r.Failed.length, 1);
  assert.equal(r.Failed[0].Id, 'bad');
  assert.equal(r.Failed[0].SenderFault, true);
  assert.equal(r.Failed[0].Code, 'InvalidMessageContents');
  const got = await receive(url, { MaxNumberOfMessages: 10, VisibilityTimeout: 600 });
  assert.deepEqual(got.map((m) => m.Body).sort(), ['first', 'second', 'third']);
});

test('DeleteMessage, ChangeMessageVisibility and their batches', async () => {
  const url = await createQueue('vis');
  for (let i = 0; i < 4; i++) {
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `v${i}` }));
  }
  const handles = {};
  for (const m of await receive(url, { MaxNumberOfMessages: 10, VisibilityTimeout: 600 })) {
    handles[m.Body] = m.ReceiptHandle;
  }
  assert.deepEqual(Object.keys(handles).sort(), ['v0', 'v1', 'v2', 'v3']);

  await sqs.send(new ChangeMessageVisibilityCommand({
    QueueUrl: url, ReceiptHandle: handles.v0, VisibilityTimeout: 0,
  }));
  const [again] = await receive(url, { VisibilityTimeout: 600, MessageSystemAttributeNames: ['ApproximateReceiveCount'] });
  assert.equal(again.Body, 'v0');
  assert.equal(again.Attributes.ApproximateReceiveCount, '2');
  handles.v0 = again.ReceiptHandle;
  await rejects(sqs.send(new ChangeMessageVisibilityCommand({
    QueueUrl: url, ReceiptHandle: 'garbage', VisibilityTimeout: 0,
  })), 'ReceiptHandleIsInvalid');

  const cv = await sqs.send(new ChangeMessageVisibilityBatchCommand({
    QueueUrl: url, Entries: [
      { Id: 'one', ReceiptHandle: handles.v1, VisibilityTimeout: 0 },
      { Id: 'two', ReceiptHandle: handles.v2, VisibilityTimeout: 0 },
      { Id: 'bad', ReceiptHandle: 'not-a-handle', VisibilityTimeout: 0 },
    ],
  }));
  assert.deepEqual(cv.Successful.map((e) => e.Id).sort(), ['one', 'two']);
  assert.deepEqual(cv.Failed.map((f) => [f.Id, f.Code, f.SenderFault]), [['bad', 'ReceiptHandleIsInvalid', true]]);
  for (const m of await receive(url, { MaxNumberOfMessages: 10, VisibilityTimeout: 600 })) {
    handles[m.Body] = m.ReceiptHandle;
  }

  await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: handles.v0 }));
  await rejects(sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'garbage' })),
    'ReceiptHandleIsInvalid');
  const del = await sqs.send(new DeleteMessageBatchCommand({
    QueueUrl: url, Entries: [
      { Id: 'x1', ReceiptHandle: handles.v1 },
      { Id: 'x2', ReceiptHandle: handles.v2 },
      { Id: 'x3', ReceiptHandle: handles.v3 },
      { Id: 'x4', ReceiptHandle: 'also-garbage' },
    ],
  }));
  assert.deepEqual(del.Successful.map((e) => e.Id).sort(), ['x1', 'x2', 'x3']);
  assert.deepEqual(del.Failed.map((f) => [f.Id, f.Code, f.SenderFault]), [['x4', 'ReceiptHandleIsInvalid', true]]);
  assert.deepEqual(await attrs(url, 'ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'),
    { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
});

test('long polling: a waiting receive wakes when another client sends', async () => {
  const url = await createQueue('poll');
  const other = sqsClient();
  const t0 = Date.now();
  const waiting = sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5 }));
  await new Promise((r) => setTimeout(r, 1000));
  await other.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'wake up' }));
  const r = await waiting;
  const elapsed = Date.now() - t0;
  assert.deepEqual((r.Messages ?? []).map((m) => m.Body), ['wake up']);
  assert.ok(elapsed < 4900, `returned when the message came (${elapsed} ms)`);
  // and an empty queue waits
  const t1 = Date.now();
  assert.deepEqual(await receive(url, { WaitTimeSeconds: 1 }), []);
  assert.ok(Date.now() - t1 >= 900);
});

test('PurgeQueue and DeleteQueue', async () => {
  const url = await createQueue('purge');
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
  await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
  assert.deepEqual(await attrs(url, 'ApproximateNumberOfMessages'), { ApproximateNumberOfMessages: '0' });
  await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
  const err = await rejects(sqs.send(new GetQueueUrlCommand({ QueueName: PREFIX + 'purge' })),
    'AWS.SimpleQueueService.NonExistentQueue', 400);
  assert.equal(err.name, 'QueueDoesNotExist');
  assert.equal(err.Type, 'Sender');
  await rejects(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })),
    'AWS.SimpleQueueService.NonExistentQueue');
});

test('dead-letter queue through RedrivePolicy', async () => {
  const dlq = await createQueue('dlq');
  const { QueueArn } = await attrs(dlq, 'QueueArn');
  const src = await createQueue('src', {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: QueueArn, maxReceiveCount: 3 }),
  });
  const policy = JSON.parse((await attrs(src, 'RedrivePolicy')).RedrivePolicy);
  assert.equal(policy.deadLetterTargetArn, QueueArn);
  assert.equal(Number(policy.maxReceiveCount), 3);
  await sqs.send(new SendMessageCommand({ QueueUrl: src, MessageBody: 'poison' }));
  for (let i = 1; i <= 3; i++) {
    const [m] = await receive(src, { VisibilityTimeout: 0, MessageSystemAttributeNames: ['ApproximateReceiveCount'] });
    assert.equal(m.Attributes.ApproximateReceiveCount, String(i));
  }
  assert.deepEqual(await receive(src, { VisibilityTimeout: 0 }), []);
  const moved = await receive(dlq, { WaitTimeSeconds: 2 });
  assert.deepEqual(moved.map((m) => m.Body), ['poison']);
});

test('FIFO queues: group order, deduplication, sequence numbers', async () => {
  const url = await createQueue('order.fifo', { FifoQueue: 'true', ContentBasedDeduplication: 'true' });
  const a = await attrs(url, 'FifoQueue', 'ContentBasedDeduplication');
  assert.deepEqual(a, { FifoQueue: 'true', ContentBasedDeduplication: 'true' });
  const seq = [];
  const ids = {};
  for (const [body, group] of [['g1-a', 'g1'], ['g2-a', 'g2'], ['g1-b', 'g1'], ['g1-c', 'g1']]) {
    const r = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageGroupId: group }));
    assert.match(r.SequenceNumber, /^[0-9]+$/);
    seq.push(BigInt(r.SequenceNumber));
    ids[body] = r.MessageId;
  }
  for (let i = 1; i < seq.length; i++) assert.ok(seq[i] > seq[i - 1], 'increasing sequence numbers');
  const dup = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'g1-a', MessageGroupId: 'g1' }));
  assert.equal(dup.MessageId, ids['g1-a'], 'a duplicate returns the first id');
  assert.deepEqual(await attrs(url, 'ApproximateNumberOfMessages'), { ApproximateNumberOfMessages: '4' });

  const [first] = await receive(url, { VisibilityTimeout: 600, MessageSystemAttributeNames: ['All'] });
  assert.equal(first.Body, 'g1-a');
  assert.equal(first.Attributes.MessageGroupId, 'g1');
  assert.equal(BigInt(first.Attributes.SequenceNumber), seq[0]);
  const others = (await receive(url, { MaxNumberOfMessages: 10, VisibilityTimeout: 600 })).map((m) => m.Body);
  assert.deepEqual(others, ['g2-a'], 'g1 is held while its first message is in flight');
  await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first.ReceiptHandle }));
  const next = (await receive(url, { MaxNumberOfMessages: 10 })).map((m) => m.Body);
  assert.deepEqual(next, ['g1-b', 'g1-c']);
  await rejects(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'no group' })), 'MissingParameter');
});

test('error codes', async () => {
  const url = await createQueue('errors');
  const ghost = `${URL}/${ACCOUNT}/${PREFIX}ghost`;
  const err = await rejects(sqs.send(new GetQueueAttributesCommand({ QueueUrl: ghost, AttributeNames: ['All'] })),
    'AWS.SimpleQueueService.NonExistentQueue', 400);
  assert.equal(err.name, 'QueueDoesNotExist');
  await rejects(sqs.send(new CreateQueueCommand({ QueueName: 'bad name!' })), 'InvalidParameterValue');
  await rejects(sqs.send(new SendMessageBatchCommand({
    QueueUrl: url, Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x' })),
  })), 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest');
  await rejects(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [] })),
    'AWS.SimpleQueueService.EmptyBatchRequest');
  await rejects(sqs.send(new DeleteMessageBatchCommand({
    QueueUrl: url, Entries: [{ Id: 'same', ReceiptHandle: 'a' }, { Id: 'same', ReceiptHandle: 'b' }],
  })), 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct');
  await rejects(sqs.send(new ChangeMessageVisibilityBatchCommand({
    QueueUrl: url, Entries: [{ Id: 'no spaces', ReceiptHandle: 'a', VisibilityTimeout: 1 }],
  })), 'AWS.SimpleQueueService.InvalidBatchEntryId');
});

test('authentication and access', { skip: AUTH === 'none' ? 'sqsn.api_auth = none' : false }, async () => {
  const wrong = sqsClient(process.env.AWS_ACCESS_KEY_ID, SECRET + 'x');
  await rejects(wrong.send(new ListQueuesCommand({})), 'SignatureDoesNotMatch', 403);
  const unknown = sqsClient('AKIAUNKNOWNKEY000000', 'whatever');
  await rejects(unknown.send(new ListQueuesCommand({})), 'InvalidClientTokenId', 403);

  const url = await createQueue('private');
  const denied = sqsClient(DENIED_KEY, DENIED_SECRET);
  await rejects(denied.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })), 'AccessDenied', 403);
  await rejects(denied.send(new ReceiveMessageCommand({ QueueUrl: url })), 'AccessDenied', 403);
  await rejects(denied.send(new PurgeQueueCommand({ QueueUrl: url })), 'AccessDenied', 403);
  assert.deepEqual(await attrs(url, 'ApproximateNumberOfMessages'), { ApproximateNumberOfMessages: '0' });
});

test('a Policy grants another key through AWS JSON', { skip: AUTH === 'none' || !DENIED_KEY ? 'no key of a role without grants' : false }, async () => {
  const url = await createQueue('policy');
  const { QueueArn } = await attrs(url, 'QueueArn');
  const other = sqsClient(DENIED_KEY, DENIED_SECRET);
  await rejects(other.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })), 'AccessDenied', 403);
  const Policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'other', Effect: 'Allow', Principal: { AWS: DENIED_KEY },
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage'], Resource: QueueArn }],
  });
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy } }));
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'for the other key' }));
  const r = await other.send(new ReceiveMessageCommand({ QueueUrl: url }));
  assert.deepEqual(r.Messages.map((m) => m.Body), ['for the other key']);
  await other.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: r.Messages[0].ReceiptHandle }));
  await rejects(other.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })), 'AccessDenied', 403);
  // delete without receive would widen the grant: refused, nothing changed
  const err = await rejects(sqs.send(new SetQueueAttributesCommand({
    QueueUrl: url,
    Attributes: { Policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'sqs:DeleteMessage' }] }) },
  })), 'InvalidAttributeValue', 400);
  assert.match(err.message, /statement 1/);
  assert.deepEqual(JSON.parse((await attrs(url, 'Policy')).Policy), JSON.parse(Policy));
});
