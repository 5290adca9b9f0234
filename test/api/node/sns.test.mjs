// SNS (query protocol) through the endpoint with the AWS SDK for JavaScript
// v3: a topic fanning out to SQS queues, one of them behind a filter policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateTopicCommand,
  DeleteTopicCommand,
  ListSubscriptionsByTopicCommand,
  PublishCommand,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { ACCOUNT, PREFIX, REGION, rejects, snsClient, sqsClient } from './common.mjs';

const sns = snsClient();
const sqs = sqsClient();

async function queue(suffix) {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: PREFIX + suffix }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl, arn: Attributes.QueueArn };
}

async function drain(url) {
  const all = [];
  for (;;) {
    const r = await sqs.send(new ReceiveMessageCommand({
      QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: all.length ? 0 : 2,
      MessageAttributeNames: ['All'],
    }));
    if (!r.Messages?.length) return all;
    all.push(...r.Messages);
  }
}

test('CreateTopic, Subscribe with a filter policy, Publish, the envelope in SQS', async () => {
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: PREFIX + 'topic' }));
  assert.equal(TopicArn, `arn:aws:sns:${REGION}:${ACCOUNT}:${PREFIX}topic`);
  const again = await sns.send(new CreateTopicCommand({ Name: PREFIX + 'topic' }));
  assert.equal(again.TopicArn, TopicArn, 'idempotent');

  const all = await queue('all');
  const red = await queue('red');
  const s1 = await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: all.arn }));
  assert.ok(s1.SubscriptionArn.startsWith(TopicArn + ':'), s1.SubscriptionArn);
  const s2 = await sns.send(new SubscribeCommand({
    TopicArn, Protocol: 'sqs', Endpoint: red.arn,
    Attributes: { FilterPolicy: JSON.stringify({ color: ['red'], size: [{ numeric: ['>', 10] }] }) },
  }));
  assert.ok(s2.SubscriptionArn.startsWith(TopicArn + ':'));
  const subs = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn }));
  assert.deepEqual(subs.Subscriptions.map((s) => s.Endpoint).sort(), [all.arn, red.arn].sort());

  const p1 = await sns.send(new PublishCommand({
    TopicArn, Message: 'big red', Subject: 'colours',
    MessageAttributes: {
      color: { DataType: 'String', StringValue: 'red' },
      size: { DataType: 'Number', StringValue: '11' },
    },
  }));
  assert.match(p1.MessageId, /^[0-9a-f-]{36}$/);
  await sns.send(new PublishCommand({
    TopicArn, Message: 'small red',
    MessageAttributes: {
      color: { DataType: 'String', StringValue: 'red' },
      size: { DataType: 'Number', StringValue: '3' },
    },
  }));
  await sns.send(new PublishCommand({ TopicArn, Message: 'no attributes' }));

  const got = (await drain(all.url)).map((m) => JSON.parse(m.Body));
  assert.deepEqual(got.map((e) => e.Message).sort(), ['big red', 'no attributes', 'small red']);
  const env = got.find((e) => e.Message === 'big red');
  assert.equal(env.Type, 'Notification');
  assert.equal(env.MessageId, p1.MessageId);
  assert.equal(env.TopicArn, TopicArn);
  assert.equal(env.Subject, 'colours');
  assert.match(env.Timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(env.MessageAttributes.color, { Type: 'String', Value: 'red' });
  assert.deepEqual(env.MessageAttributes.size, { Type: 'Number', Value: '11' });

  const filtered = (await drain(red.url)).map((m) => JSON.parse(m.Body).Message);
  assert.deepEqual(filtered, ['big red'], 'only what the filter policy lets through');

  await rejects(sns.send(new SubscribeCommand({
    TopicArn, Protocol: 'sqs', Endpoint: all.arn,
    Attributes: { FilterPolicy: '{"color": "not an array"}' },
  })), 'InvalidParameter', 400);
  await rejects(sns.send(new PublishCommand({
    TopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:${PREFIX}ghost`, Message: 'x',
  })), 'NotFound', 404);

  await sns.send(new DeleteTopicCommand({ TopicArn }));
  await rejects(sns.send(new PublishCommand({ TopicArn, Message: 'gone' })), 'NotFound');
});
