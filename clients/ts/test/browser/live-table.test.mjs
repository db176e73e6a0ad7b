// The live page (examples/web) in headless Chromium against a real quickstart: two pages on the same
// table, a create, update and delete in one shows in the other within a second; errors as the server
// phrased them; the filter box; a screenshot (UPDATE_SCREENSHOT=1 rewrites examples/web/screenshot.png).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { connect } from '../../dist/index.js';
import { startWebServer } from '../../../../examples/web/serve.mjs';
import { startServer, until } from '../helpers/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// The committed README picture is rewritten only on request (UPDATE_SCREENSHOT=1); otherwise the
// screenshot goes to the test's temporary directory, and the checkout stays clean.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? path.resolve(here, '../../../../examples/web/screenshot.png')
  : path.join(process.env.MQTTSPEC_TEST_TMPDIR ?? tmpdir(), 'mqttspec-live-table.png');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const LIVE_MS = 1000; // a change must show in the other page within this

let server;
let web;
let context;
let profile;
let base;
let seeder;
const pages = [];

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  server = await startServer();
  web = await startWebServer({ port: 0, host: '127.0.0.1', ws: server.wsUrl });
  base = `http://127.0.0.1:${web.address().port}`;
  profile = mkdtempSync(path.join(tmpdir(), 'mqttspec-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 760 },
    deviceScaleFactor: 1,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // Two pages side by side: neither may be throttled as a background tab.
      '--disable-background-timer-throttling', '--disable-backgrounding-occluded-windows', '--disable-renderer-backgrounding',
    ],
  });
  seeder = await connect({ url: server.tcpUrl, clientId: 'browser-test-seeder', timeout: 5000 });
});

after(async () => {
  await seeder?.close().catch(() => {});
  await context?.close().catch(() => {});
  await new Promise((r) => (web ? web.close(r) : r()));
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function openPage() {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.problems = problems;
  await page.goto(`${base}/`); // the server adds ?ws=… for its broker
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 10_000 });
  await page.waitForFunction(() => !document.querySelector('#rows tr.empty')?.textContent.includes('Loading'), null, { timeout: 10_000 });
  pages.push(page);
  return page;
}

const row = (email) => `#rows tr[data-id][data-email="${email}"]`;

/**
 * Clicks `trigger` in page `from`, then waits (polling the DOM, deadline `LIVE_MS` from the click) for
 * `selector` in page `to`; resolves to the milliseconds it took. (The time Playwright spends before
 * the click, checking that the button is stable, is not counted.)
 */
async function seenWithin(to, selector, from, trigger) {
  await from.click(trigger);
  const clicked = Date.now();
  await to.waitForSelector(selector, { timeout: LIVE_MS, state: 'attached' });
  return Date.now() - clicked;
}

test('the page opens live against the quickstart and shows its state', async () => {
  const page = await openPage();
  assert.equal(await page.textContent('#conn-text'), 'Live');
  assert.equal(await page.textContent('#broker-url'), server.wsUrl);
  assert.match(await page.textContent('#client-id'), /^web-[0-9a-f]{8}$/);
  assert.deepEqual(page.problems, []);
});

test('a create, an update and a delete in one page show in the other within a second', async () => {
  const [a, b] = [pages[0] ?? (await openPage()), await openPage()];
  const email = 'grace@example.org';

  await a.fill('#f-name', 'Grace Hopper');
  await a.fill('#f-email', email);
  await a.selectOption('#f-status', 'active');
  const createMs = await seenWithin(b, `${row(email)}.flash-enter`, a, '#submit');
  assert.equal(await b.textContent(`${row(email)} td.name`), 'Grace Hopper');
  assert.equal(await b.textContent(`${row(email)} td.status`), 'active');
  await a.waitForSelector(row(email), { timeout: LIVE_MS }); // the writer's own page too

  await a.click(`${row(email)} button[data-action="edit"]`);
  assert.equal(await a.textContent('#form-title'), `Edit user #${await a.getAttribute(row(email), 'data-id')}`);
  await a.fill('#f-name', 'Rear Admiral Hopper');
  await a.selectOption('#f-status', 'suspended');
  const updateMs = await seenWithin(b, `${row(email)}.flash-stay >> text=Rear Admiral Hopper`, a, '#submit');
  assert.equal(await b.textContent(`${row(email)} td.status`), 'suspended');

  await a.click(`${row(email)} button[data-action="delete"]`);
  const deleteMs = await seenWithin(b, `${row(email)}.leaving`, a, `${row(email)} button[data-action="delete"].confirm`);
  await b.waitForSelector(row(email), { state: 'detached', timeout: 2000 });
  await a.waitForSelector(row(email), { state: 'detached', timeout: 2000 });
  console.log(`# live latency: create ${createMs} ms, update ${updateMs} ms, delete ${deleteMs} ms`);
  assert.equal(await b.textContent('#activity li:first-child .scope'), 'leave');
  assert.deepEqual([...a.problems, ...b.problems], []);
});

test('errors are shown as the server phrased them', async () => {
  const a = pages[0];
  await a.fill('#f-name', 'No Email');
  await a.fill('#f-email', '');
  await a.click('#submit');
  await a.waitForSelector('#error:not([hidden])', { timeout: 2000 });
  assert.equal(await a.textContent('#error-code'), 'validation_error');
  assert.equal(await a.textContent('#error-message'), 'column `email`: required field is missing');
  await a.click('#error-close');
  await a.fill('#f-name', '');
});

test('the filter box narrows the table on the server, and rows leave it live', async () => {
  const [a, b] = pages;
  const made = await seeder.create('users', [
    { name: 'Ivy Ives', email: 'ivy@example.org', status: 'invited' },
    { name: 'Abe Active', email: 'abe@example.org', status: 'active' },
  ]);
  await b.waitForSelector(row('abe@example.org'), { timeout: LIVE_MS });
  await b.fill('#filter', 'invited');
  await b.waitForSelector(row('abe@example.org'), { state: 'detached', timeout: 3000 });
  await b.waitForSelector(row('ivy@example.org'), { timeout: 3000 });
  assert.equal(await b.textContent('#count'), '1');
  // Ivy accepts the invitation in the other page: she leaves the filtered view.
  await a.click(`${row('ivy@example.org')} button[data-action="edit"]`);
  await a.selectOption('#f-status', 'active');
  await seenWithin(b, `${row('ivy@example.org')}.leaving`, a, '#submit');
  await b.waitForSelector('#rows tr.empty >> text=No user matches the filter.', { timeout: 2000 });
  await b.fill('#filter', '');
  await b.waitForSelector(row('ivy@example.org'), { timeout: 3000 });
  await seeder.delete('users', made[0].id);
  await seeder.delete('users', made[1].id);
  await b.waitForSelector(row('abe@example.org'), { state: 'detached', timeout: 3000 });
});

test('screenshot of the live table', async () => {
  const [a, b] = pages;
  await b.evaluate(() => document.activeElement?.blur()); // no focus ring on the filter box in the picture
  await seeder.create('users', [
    { name: 'Ada Lovelace', email: 'ada@analytical.engine', status: 'active' },
    { name: 'Alan Turing', email: 'alan@bletchley.park', status: 'active' },
    { name: 'Katherine Johnson', email: 'katherine@nasa.gov', status: 'invited' },
    { name: 'Edsger Dijkstra', email: 'edsger@eindhoven.nl', status: null },
    { name: 'Barbara Liskov', email: 'barbara@mit.edu', status: 'active' },
    { name: 'Linus Torvalds', email: 'linus@kernel.org', status: 'suspended' },
  ]);
  await b.waitForSelector(row('linus@kernel.org'), { timeout: LIVE_MS, state: 'attached' });
  // Let the entry flashes fade (they end themselves), then change one row live for the picture.
  const settle = Date.now();
  await until(async () => (await b.$$('#rows tr.flash-enter, #rows tr.flash-stay, #rows tr.leaving')).length === 0, 10_000, 'flashes to end');
  console.log(`# flashes ended after ${Date.now() - settle} ms`);
  await a.click(`${row('katherine@nasa.gov')} button[data-action="edit"]`);
  await a.selectOption('#f-status', 'active');
  await a.click('#submit');
  await b.waitForSelector(`${row('katherine@nasa.gov')}.flash-stay`, { timeout: LIVE_MS });
  await b.screenshot({ path: SCREENSHOT });
  assert.ok(existsSync(SCREENSHOT));
  assert.deepEqual([...a.problems, ...b.problems], []);
});
