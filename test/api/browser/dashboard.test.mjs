// The /dashboard page in a real browser: Debian's Chromium driven by
// playwright-core. Signs in with an access key, sees a queue created in SQL
// appear with its depth, watches the depth change after sends, redrives a
// dead-letter queue with the button and checks in SQL that the messages
// moved, shows an event source mapping with its invocations and errors and
// pauses and resumes it with the buttons, refuses forged action requests,
// and shows a read-only role no action buttons. Screenshots go to $SQSN_API_TEST_OUT (test/api/run's
// output directory).
//
// Run by test/api/run (test "browser"), which exports SQSN_API_URL and
// PGHOST/PGPORT/PGDATABASE for psql.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const URL = process.env.SQSN_API_URL;
const OUT = process.env.SQSN_API_TEST_OUT || mkdtempSync(join(tmpdir(), 'sqsn-browser-'));
const SUFFIX = Math.random().toString(36).slice(2, 8);
const SOURCE = `apitest-dash-${SUFFIX}`;
const DLQ = `apitest-dash-${SUFFIX}-dlq`;
const FNQ = `apitest-dash-${SUFFIX}-fn`;
const FN = `public.apitest_dash_fn_${SUFFIX}`;
const ADMIN_ROLE = 'sqsn_dash_admin';
const READER_ROLE = 'sqsn_dash_reader';

function sql(query) {
  return execFileSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', query],
    { encoding: 'utf8' }).trim();
}

function key(role) {
  const [id, secret] = sql(`SELECT access_key_id || ' ' || secret_access_key
    FROM sqsn.api_create_credentials('${role}')`).split(' ');
  return { id, secret };
}

function depth(queue) {
  return Number(sql(`SELECT visible + in_flight + delayed FROM sqsn.queue_stats
    WHERE queue_name = '${queue}'`));
}

let context;
let page;
let userDataDir;
let admin;
let reader;

before(async () => {
  mkdirSync(OUT, { recursive: true });
  sql(`DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${ADMIN_ROLE}') THEN
      CREATE ROLE ${ADMIN_ROLE}; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${READER_ROLE}') THEN
      CREATE ROLE ${READER_ROLE}; END IF;
  END $$`);
  sql(`GRANT sqsn_admin TO ${ADMIN_ROLE}`);
  sql(`GRANT sqsn_consumer TO ${READER_ROLE}`);
  admin = key(ADMIN_ROLE);
  reader = key(READER_ROLE);

  userDataDir = mkdtempSync(join(tmpdir(), 'sqsn-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] || await context.newPage();
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  for (const k of [admin, reader]) {
    if (k) sql(`SELECT sqsn.api_drop_credentials('${k.id}')`);
  }
  sql(`DROP FUNCTION IF EXISTS ${FN}(jsonb)`);
});

async function signIn(k) {
  await page.goto(`${URL}/dashboard`);
  await page.locator('#signin').waitFor({ state: 'visible' });
  await page.fill('#key', k.id);
  await page.fill('#secret', k.secret);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#whoami').waitFor({ state: 'visible' });
}

async function shot(name) {
  await page.screenshot({ path: join(OUT, `dashboard-${name}.png`), fullPage: true });
}

// text of a cell, waited for until it equals want
async function expectText(selector, want, timeout = 20000) {
  await page.waitForFunction(([sel, w]) => {
    const el = document.querySelector(sel);
    return el !== null && el.textContent.trim() === w;
  }, [selector, want], { timeout });
}

test('a wrong secret is refused and the page asks again', async () => {
  await page.goto(`${URL}/dashboard`);
  await page.locator('#signin').waitFor({ state: 'visible' });
  await page.fill('#key', admin.id);
  await page.fill('#secret', admin.secret + 'x');
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent !== '');
  assert.match(await page.textContent('#signin-error'), /wrong secret|unknown access key/);
  assert.equal(await page.isVisible('#board'), false);
});

test('the session cookie is HttpOnly, SameSite=Strict and limited to /dashboard', async () => {
  await signIn(admin);
  const cookies = await context.cookies(URL + '/dashboard/');
  const session = cookies.find((c) => c.name === 'sqsn_session');
  assert.ok(session, 'a session cookie is set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(session.path, '/dashboard');
  assert.equal(await page.evaluate(() => document.cookie.includes('sqsn_session')), false);
});

test('a queue created in SQL appears with its depth, which follows sends', async () => {
  sql(`SELECT sqsn.sq_create_queue('${DLQ}')`);
  sql(`SELECT sqsn.sq_create_queue('${SOURCE}', dead_letter_queue => '${DLQ}',
    max_receive_count => 1)`);
  sql(`SELECT sqsn.sq_grant('${SOURCE}', '${READER_ROLE}', '{receive}')`);
  const row = `tr[data-queue="${SOURCE}"]`;
  await page.locator(row).waitFor({ timeout: 20000 });
  await expectText(`${row} .visible`, '0');
  sql(`SELECT count(sqsn.sq_send('${SOURCE}', 'message ' || i)) FROM generate_series(1, 3) i`);
  await expectText(`${row} .visible`, '3');
  await shot('1-queue-after-sends');
});

test('the redrive button moves dead letters back to their source', async () => {
  // two receives with no visibility timeout: the second moves all three
  sql(`SELECT count(*) FROM sqsn.sq_receive('${SOURCE}', 10, 0)`);
  sql(`SELECT count(*) FROM sqsn.sq_receive('${SOURCE}', 10, 0)`);
  assert.equal(depth(DLQ), 3);
  assert.equal(depth(SOURCE), 0);
  const dlqRow = `tr[data-dlq="${DLQ}"]`;
  await expectText(`${dlqRow} .depth`, '3');
  await shot('2-dead-letter-queue');
  await page.click(`${dlqRow} button[data-action="redrive"]`);
  await page.waitForFunction(() =>
    /Redrove 3 message/.test(document.getElementById('action-message').textContent));
  assert.equal(depth(DLQ), 0);
  assert.equal(depth(SOURCE), 3);
  await expectText(`tr[data-queue="${SOURCE}"] .visible`, '3');
  await expectText(`${dlqRow} .depth`, '0');
  await shot('3-after-redrive');
});

test('function consumers show, and their buttons pause and resume a mapping', async () => {
  sql(`SELECT sqsn.sq_create_queue('${FNQ}')`);
  sql(`SELECT sqsn.sq_grant('${FNQ}', '${READER_ROLE}', '{receive}')`);
  sql(`CREATE FUNCTION ${FN}(e jsonb) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN IF e::text LIKE '%boom%' THEN RAISE 'boom'; END IF; END $$`);
  const id = sql(`SELECT sqsn.sq_create_event_source_mapping('${FNQ}', '${FN}(jsonb)',
    maximum_batching_window_seconds => 0, enabled => false)`);
  sql(`SELECT sqsn.sq_send('${FNQ}', 'fine')`);
  assert.equal(sql(`SELECT outcome FROM sqsn.run_event_source_mapping('${id}')`), 'succeeded');
  sql(`SELECT sqsn.sq_send('${FNQ}', 'boom')`);
  assert.equal(sql(`SELECT outcome FROM sqsn.run_event_source_mapping('${id}')`), 'failed');
  sql(`SELECT sqsn.sq_purge_queue('${FNQ}')`);

  const row = `tr[data-mapping="${id}"]`;
  await page.locator(row).waitFor({ timeout: 20000 });
  await expectText(`${row} .invocations`, '2');
  await expectText(`${row} .errors`, '1');
  await expectText(`${row} .state`, 'disabled');
  await page.click(`${row} button[data-action="resume_mapping"]`);
  await page.waitForFunction(() =>
    /Resumed event source mapping/.test(document.getElementById('action-message').textContent));
  assert.equal(sql(`SELECT enabled FROM sqsn.event_source_mapping WHERE mapping_id = '${id}'`), 't');
  await expectText(`${row} .state`, 'enabled');
  await shot('3b-function-consumers');
  await page.click(`${row} button[data-action="pause_mapping"]`);
  await page.waitForFunction(() =>
    /Paused event source mapping/.test(document.getElementById('action-message').textContent));
  assert.equal(sql(`SELECT enabled FROM sqsn.event_source_mapping WHERE mapping_id = '${id}'`), 'f');
  await expectText(`${row} .state`, 'disabled');
});

test('forged action requests are refused', async () => {
  // from the page itself, without the CSRF token
  const noToken = await page.evaluate(async (queue) => {
    const res = await fetch('/dashboard/api/action', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ action: 'purge', queue }),
    });
    return { status: res.status, body: await res.json() };
  }, SOURCE);
  assert.equal(noToken.status, 403);
  assert.match(noToken.body.error, /CSRF/);

  // from another site: a plain form posted to the action URL
  const other = await context.newPage();
  await other.setContent(`<form method="POST" action="${URL}/dashboard/api/action">
    <input name="action" value="purge"><input name="queue" value="${SOURCE}">
    </form>`);
  const [response] = await Promise.all([
    other.waitForNavigation(),
    other.evaluate(() => document.forms[0].submit()),
  ]);
  assert.equal(response.status(), 403);
  await other.close();
  assert.equal(depth(SOURCE), 3, 'nothing was purged');
});

test('a role without admin sees no action buttons and cannot act', async () => {
  await page.click('#signout');
  await page.locator('#signin').waitFor({ state: 'visible' });
  await signIn(reader);
  const row = `tr[data-queue="${SOURCE}"]`;
  await page.locator(row).waitFor({ timeout: 20000 });
  await expectText(`${row} .visible`, '3');
  assert.match(await page.textContent('#whoami'), new RegExp(READER_ROLE));
  assert.equal(await page.locator('button[data-action]').count(), 0);
  // the dead-letter queue is not the reader's: it is not shown
  assert.equal(await page.locator(`tr[data-queue="${DLQ}"]`).count(), 0);
  await shot('4-read-only');

  // with its own valid token, the grants of the SQL function still refuse
  const res = await page.evaluate(async (queue) => {
    const state = await (await fetch('/dashboard/api/state')).json();
    const r = await fetch('/dashboard/api/action', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Sqsn-Csrf': state.csrf },
      body: JSON.stringify({ action: 'purge', queue }),
    });
    return { status: r.status, body: await r.json() };
  }, SOURCE);
  assert.equal(res.status, 403);
  assert.equal(res.body.sqlstate, '42501');
  assert.equal(depth(SOURCE), 3);

  // it sees the mapping of a queue it may receive from, without buttons,
  // and may not resume it
  const mapping = sql(`SELECT mapping_id FROM sqsn.event_source_mapping m
    JOIN sqsn.queue q USING (queue_id) WHERE q.queue_name = '${FNQ}'`);
  await page.locator(`tr[data-mapping="${mapping}"]`).waitFor({ timeout: 20000 });
  assert.equal(await page.locator('button[data-action]').count(), 0);
  const resume = await page.evaluate(async (id) => {
    const state = await (await fetch('/dashboard/api/state')).json();
    const r = await fetch('/dashboard/api/action', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Sqsn-Csrf': state.csrf },
      body: JSON.stringify({ action: 'resume_mapping', mapping: id }),
    });
    return { status: r.status, body: await r.json() };
  }, mapping);
  assert.equal(resume.status, 403);
  assert.equal(resume.body.sqlstate, '42501');
  assert.equal(sql(`SELECT enabled FROM sqsn.event_source_mapping WHERE mapping_id = '${mapping}'`), 'f');
});

test('the admin view, for the manual', async () => {
  // a topic fanning out to the queue and to an endpoint the SSRF guard
  // refuses (its failures show)
  const topic = `apitest-dash-${SUFFIX}-orders`;
  sql(`SELECT sqsn.sn_create_topic('${topic}')`);
  sql(`SELECT sqsn.sn_subscribe('${topic}', 'sqs', '${SOURCE}')`);
  sql(`SET sqsn.http_auto_confirm_hosts = '127.0.0.1';
    SELECT sqsn.sn_subscribe('${topic}', 'http', 'http://127.0.0.1:9/hook')`);
  sql(`SELECT count(sqsn.sn_publish('${topic}', 'order ' || i)) FROM generate_series(1, 4) i`);
  await page.click('#signout');
  await signIn(admin);
  await page.locator(`tr[data-queue="${SOURCE}"]`).waitFor({ timeout: 20000 });
  // both subscriptions are listed; the refused endpoint shows its failure
  const subs = `tr[data-subscription][data-topic="${topic}"]`;
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 2, subs,
    { timeout: 20000 });
  await page.waitForFunction((sel) => [...document.querySelectorAll(`${sel} .error`)]
    .some((td) => /refused/.test(td.textContent)), subs, { timeout: 30000 });
  assert.equal(await page.locator(`${subs} button[data-action="pause"]`).count(), 1);
  // traffic over a few polls, so that the rate charts have points
  for (let i = 0; i < 9; i++) {
    sql(`SELECT count(sqsn.sq_send('${SOURCE}', 'load ' || n)) FROM generate_series(1, ${10 + 5 * i}) n`);
    sql(`SELECT count(sqsn.sq_delete('${SOURCE}', receipt_handle))
      FROM sqsn.sq_receive('${SOURCE}', 10, 30)`);
    await page.waitForTimeout(1000);
  }
  await shot('5-admin');
});
