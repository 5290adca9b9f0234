// sns-validator (npm) on sqsn: an HTTP subscriber of a topic that checks
// every message pushed to it, as subscribers of the managed service do,
// before it confirms the subscription or accepts a notification. The
// validator fetches the signing certificate from SigningCertURL over HTTPS
// and checks the RSA-SHA256 signature (SignatureVersion 2).
//
// test/apps/run makes the topic SQSN_APP_TOPIC and a role that may only
// subscribe to it and publish to it. This test serves sqsn's signing
// certificate over HTTPS (sqsn.signing_certificate_url points there) and
// lets the push worker reach 127.0.0.1 (sqsn.http_allowed_hosts) for its
// duration. The subscriber confirms through the SubscribeURL once the
// confirmation validates; every notification validates; a notification
// changed on the way, or one naming a certificate elsewhere, does not; the
// UnsubscribeURL ends the subscription.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PublishCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import MessageValidator from 'sns-validator';
import { ACCOUNT, TOPIC, clientConfig, sleep, sql, sqlText, waitFor } from './common.mjs';

const topicArn = `arn:aws:sns:us-east-1:${ACCOUNT}:${TOPIC}`;
const sns = new SNSClient(clientConfig);
let certServer;
let hook;
let validator;
const saved = {};
const received = []; // {valid, message, error}

function setting(name, value) {
  sql(value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = :'p1'`, value);
}

// the subscriber: validate, then confirm or keep
function subscriber(req, res) {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    res.writeHead(200).end();
    const message = JSON.parse(body);
    validator.validate(message, (error, valid) => {
      received.push({ valid: !error, message, error });
      if (!error && valid.Type === 'SubscriptionConfirmation') {
        http.get(valid.SubscribeURL, (r) => r.resume());
      }
    });
  });
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

function validate(message) {
  return new Promise((resolve) => validator.validate(message, (error) => resolve(error ?? null)));
}

before(async () => {
  // a TLS certificate for 127.0.0.1, trusted by this process only
  const dir = mkdtempSync(join(tmpdir(), 'sqsn-sns-validator-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const tlsCert = readFileSync(join(dir, 'cert.pem'));
  https.globalAgent.options.ca = tlsCert;

  // where subscribers fetch sqsn's signing certificate from
  const signingCert = sqlText('SELECT sqsn.signing_certificate()').trim();
  assert.match(signingCert, /BEGIN CERTIFICATE/);
  certServer = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: tlsCert },
    (req, res) => {
      if (req.url === '/sqsn-signing.pem') res.writeHead(200).end(signingCert + '\n');
      else res.writeHead(404).end();
    });
  const certPort = await listen(certServer);
  hook = http.createServer(subscriber);
  const hookPort = await listen(hook);
  hook.url = `http://127.0.0.1:${hookPort}/hook`;
  // the host the certificate may come from: where we serve it
  validator = new MessageValidator(new RegExp(`^127\\.0\\.0\\.1:${certPort}$`));

  for (const name of ['sqsn.http_allowed_hosts', 'sqsn.signing_certificate_url']) {
    saved[name] = sql(`SELECT setting FROM pg_settings WHERE name = '${name}'`)[0]?.[0] ?? '';
  }
  setting('sqsn.http_allowed_hosts', '127.0.0.1');
  setting('sqsn.signing_certificate_url', `https://127.0.0.1:${certPort}/sqsn-signing.pem`);
  sql('SELECT pg_reload_conf()');
  await sleep(1000);
});

after(() => {
  for (const [name, value] of Object.entries(saved)) setting(name, value === '' ? null : value);
  sql('SELECT pg_reload_conf()');
  hook?.close();
  certServer?.close();
});

test('a validating subscriber confirms, accepts signed notifications, rejects changed ones',
  async () => {
    const sub = await sns.send(new SubscribeCommand({
      TopicArn: topicArn, Protocol: 'http', Endpoint: hook.url,
    }));
    assert.equal(sub.SubscriptionArn, 'pending confirmation');
    await waitFor(() => received.length >= 1, 'the subscription confirmation');
    assert.ok(received[0].valid, String(received[0].error));
    await waitFor(() => sql("SELECT count(*) FROM sqsn.sn_list_subscriptions(:'p1') s " +
      "WHERE s.status = 'confirmed'", TOPIC)[0][0] === '1', 'the subscriber to confirm');
    assert.equal(received.length, 1);
    assert.equal(received[0].message.Type, 'SubscriptionConfirmation');

    const published = [];
    published.push((await sns.send(new PublishCommand({
      TopicArn: topicArn, Message: 'order 1 shipped', Subject: 'shipping',
    }))).MessageId);
    published.push((await sns.send(new PublishCommand({
      TopicArn: topicArn, Message: JSON.stringify({ order: 2, items: ['a', 'b'] }),
      MessageAttributes: { kind: { DataType: 'String', StringValue: 'json' } },
    }))).MessageId);
    published.push((await sns.send(new PublishCommand({
      TopicArn: topicArn, Message: 'line one\nline two ünïcode',
    }))).MessageId);
    await waitFor(() => received.length >= 4, 'three notifications');
    const notes = received.slice(1);
    assert.ok(notes.every((r) => r.valid), notes.map((r) => String(r.error)).join());
    assert.deepEqual(notes.map((r) => r.message.MessageId).sort(), [...published].sort());
    const byId = Object.fromEntries(notes.map((r) => [r.message.MessageId, r.message]));
    assert.equal(byId[published[0]].Subject, 'shipping');
    assert.equal(byId[published[2]].Message, 'line one\nline two ünïcode');
    assert.equal(byId[published[1]].MessageAttributes.kind.Value, 'json');

    // changed on the way, or signed elsewhere: refused
    const note = byId[published[0]];
    const changed = await validate({ ...note, Message: 'order 1 cancelled' });
    assert.match(String(changed), /signature/i);
    const elsewhere = await validate({ ...note,
      SigningCertURL: 'https://certs.example.com/sqsn-signing.pem' });
    assert.match(String(elsewhere), /certificate/i);
    assert.equal(await validate(note), null, 'the original still validates');

    // the link every notification carries ends the subscription
    await new Promise((resolve, reject) => http.get(note.UnsubscribeURL, (r) => {
      r.resume();
      r.on('end', () => (r.statusCode === 200 ? resolve() : reject(new Error(`${r.statusCode}`))));
    }).on('error', reject));
    assert.equal(sql("SELECT count(*) FROM sqsn.sn_list_subscriptions(:'p1')", TOPIC)[0][0], '0');
  });
