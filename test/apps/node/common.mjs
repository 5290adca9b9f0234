// What the application tests share: the settings test/apps/run exports
// (the endpoint, the key of the application's role, its queue or topic),
// the configuration every AWS SDK v3 client of the endpoint takes, and SQL
// as the superuser for what the test checks behind the application's back.
import { execFileSync } from 'node:child_process';

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run me from test/apps/run`);
  return v;
}

export const ENDPOINT = required('SQSN_API_URL'); // http://127.0.0.1:<port>
export const ACCOUNT = process.env.SQSN_API_ACCOUNT_ID || '000000000000';
export const QUEUE = process.env.SQSN_APP_QUEUE;
export const TOPIC = process.env.SQSN_APP_TOPIC;

// what a user passes to new SQSClient(...) / new SNSClient(...)
export const clientConfig = {
  endpoint: ENDPOINT,
  region: 'us-east-1',
  credentials: {
    accessKeyId: required('SQSN_APP_KEY_ID'),
    secretAccessKey: required('SQSN_APP_SECRET'),
  },
};

export const queueUrl = (name) => `${ENDPOINT}/${ACCOUNT}/${name}`;

// sqlText(query, ...params): what a query run as the superuser prints
// (psql with the PG* settings of test/apps/run, unaligned, tuples only);
// params are bound as psql variables :'p1', :'p2', ...
export function sqlText(query, ...params) {
  const args = ['-X', '-q', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1'];
  params.forEach((p, i) => args.push('-v', `p${i + 1}=${p}`));
  return execFileSync('psql', args, { input: query, encoding: 'utf8' });
}

// sql(query, ...params): the rows of a query of one-line values, each an
// array of text values
export function sql(query, ...params) {
  return sqlText(query, ...params).split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

// the messages of a queue: visible, in flight and delayed
export function queueCount(name) {
  const [[attrs]] = sql("SELECT sqsn.sq_get_queue_attributes(:'p1')", name);
  const a = JSON.parse(attrs);
  return a.ApproximateNumberOfMessages + a.ApproximateNumberOfMessagesNotVisible +
    a.ApproximateNumberOfMessagesDelayed;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// waitFor(fn, what): polls fn until it is true, up to 60 s
export async function waitFor(fn, what, ms = 60000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}
