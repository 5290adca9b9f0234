// What the Node tests share: clients configured from test/api/run's
// environment, the MD5 of message attributes, error assertions.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SNSClient } from '@aws-sdk/client-sns';

export const URL = process.env.SQSN_API_URL;
if (!URL) throw new Error('SQSN_API_URL is not set: run me from test/api/run');
export const REGION = process.env.AWS_REGION || 'us-east-1';
export const ACCOUNT = process.env.SQSN_API_ACCOUNT_ID || '000000000000';
export const AUTH = process.env.SQSN_API_AUTH || 'sigv4';
export const KEY = process.env.AWS_ACCESS_KEY_ID;
export const SECRET = process.env.AWS_SECRET_ACCESS_KEY;
export const DENIED_KEY = process.env.SQSN_API_DENIED_KEY_ID;
export const DENIED_SECRET = process.env.SQSN_API_DENIED_SECRET;
// every queue and topic of these tests: test/api/run deletes apitest*
export const PREFIX = `apitest-node-${randomBytes(3).toString('hex')}-`;

function config(key, secret) {
  return {
    endpoint: URL,
    region: REGION,
    credentials: { accessKeyId: key, secretAccessKey: secret },
    maxAttempts: 1,
  };
}

export function sqsClient(key = KEY, secret = SECRET) {
  return new SQSClient(config(key, secret));
}

export function snsClient(key = KEY, secret = SECRET) {
  return new SNSClient(config(key, secret));
}

export function md5Hex(data) {
  return createHash('md5').update(data).digest('hex');
}

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

// MD5OfMessageAttributes: names in byte order; for each the length-prefixed
// name and DataType, a transport byte (1 String/Number, 2 Binary) and the
// length-prefixed value.
export function md5OfAttributes(attrs) {
  const names = Object.keys(attrs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const parts = [];
  for (const name of names) {
    const a = attrs[name];
    const nb = Buffer.from(name, 'utf8');
    const db = Buffer.from(a.DataType, 'utf8');
    parts.push(u32(nb.length), nb, u32(db.length), db);
    if (a.DataType.split('.')[0] === 'Binary') {
      const v = Buffer.from(a.BinaryValue);
      parts.push(Buffer.from([2]), u32(v.length), v);
    } else {
      const v = Buffer.from(a.StringValue, 'utf8');
      parts.push(Buffer.from([1]), u32(v.length), v);
    }
  }
  return md5Hex(Buffer.concat(parts));
}

// rejects(promise, code): the call fails with that AWS error code (the
// x-amzn-query-error code when the endpoint sent one, else the error's
// name); returns the error.
export async function rejects(promise, code, status) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected error ${code}, the call succeeded`);
  assert.equal(err.Code ?? err.name, code, `${err.name}: ${err.message}`);
  if (status !== undefined) assert.equal(err.$metadata?.httpStatusCode, status);
  return err;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
