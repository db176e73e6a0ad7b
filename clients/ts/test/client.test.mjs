// Requests, replies and errors against a real quickstart server (embedded broker, SQLite).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import mqtt from 'mqtt';

import { connect, MqttspecError } from '../dist/index.js';
import { startServer, until } from './helpers/server.mjs';

let server;
const clients = [];
before(async () => {
  server = await startServer();
});
after(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await server?.stop();
});

let n = 0;
async function client(opts = {}) {
  const c = await connect({ url: server.tcpUrl, clientId: `t-client-${++n}`, timeout: 5000, ...opts });
  clients.push(c);
  return c;
}

/** Collects a client's error events. */
function errors(c) {
  const list = [];
  c.on('error', (e) => list.push(e));
  return list;
}

async function rejects(promise, code) {
  const err = await promise.then(
    () => assert.fail(`expected ${code}, the request succeeded`),
    (e) => e,
  );
  assert.ok(err instanceof MqttspecError, `not an MqttspecError: ${err}`);
  assert.equal(err.code, code, err.message);
  return err;
}

for (const transport of ['tcp', 'ws']) {
  test(`every operation over ${transport}`, async () => {
    const c = await client({ url: transport === 'tcp' ? server.tcpUrl : server.wsUrl });
    assert.equal(c.state, 'connected');
    const all = await c.meta();
    assert.deepEqual(all.map((e) => e.entity), ['users']);
    const meta = await c.meta('users');
    assert.equal(meta.primary_key, 'id');
    assert.deepEqual(meta.columns.map((col) => [col.name, col.type, col.nullable]), [
      ['id', 'integer', false], ['name', 'text', false], ['email', 'text', false], ['status', 'text', true],
    ]);
    const tag = `${transport}-${Date.now()}`;
    const ann = await c.create('users', { name: `Ann ${tag}`, email: `ann@${tag}`, status: 'active' });
    assert.equal(typeof ann.id, 'number');
    assert.equal(ann.status, 'active');
    const batch = await c.create('users', [
      { name: `Bob ${tag}`, email: `bob@${tag}` },
      { name: `Cid ${tag}`, email: `cid@${tag}`, status: 'active' },
    ]);
    assert.equal(batch.length, 2);
    assert.equal(batch[0].status, null);

    const page = await c.read('users', {
      filters: [{ column: 'email', operator: 'ends_with', value: `@${tag}` }, { column: 'status', operator: 'eq', value: 'active' }],
      sort: [{ column: 'name', direction: 'desc' }],
      limit: 1,
    });
    assert.deepEqual(page.data.map((u) => u.name), [`Cid ${tag}`]);
    assert.equal(page.metadata.total, 2);
    assert.equal(page.metadata.count, 1);
    assert.equal(typeof page.metadata.next_cursor, 'string');
    const next = await c.read('users', {
      filters: [{ column: 'email', operator: 'ends_with', value: `@${tag}` }, { column: 'status', operator: 'eq', value: 'active' }],
      sort: [{ column: 'name', direction: 'desc' }],
      limit: 1,
      cursor_after: page.metadata.next_cursor,
    });
    assert.deepEqual(next.data.map((u) => u.name), [`Ann ${tag}`]);

    const one = await c.read('users', ann.id, { columns: ['name'] });
    assert.deepEqual(one.data, { id: ann.id, name: `Ann ${tag}` });
    const byText = await c.read('users', String(ann.id));
    assert.equal(byText.data.email, `ann@${tag}`);

    const updated = await c.update('users', ann.id, { status: null, name: `Ann B ${tag}` });
    assert.deepEqual(updated, { id: ann.id, name: `Ann B ${tag}`, email: `ann@${tag}`, status: null });
    assert.deepEqual(await c.delete('users', ann.id), { deleted: true, id: ann.id });
    await rejects(c.read('users', ann.id), 'not_found');
    await c.ping();
    const raw = await c.request({ operation: 'read', entity: 'users', options: { count: 'none', limit: 0 } });
    assert.deepEqual(raw.data, []);
    assert.equal(raw.metadata.total, undefined);
  });
}

test('the server\'s errors arrive as MqttspecError with code, message and details', async () => {
  const c = await client();
  const bad = await rejects(
    c.read('users', { filters: [{ column: 'stauts', operator: 'eq', value: 'x' }] }),
    'validation_error',
  );
  assert.equal(bad.message, 'column `stauts`: no such column');
  assert.deepEqual(bad.details, { column: 'stauts' });
  assert.ok(bad.requestId);

  const nf = await rejects(c.read('users', 999_999), 'not_found');
  assert.equal(nf.message, 'users 999999 not found');
  await rejects(c.update('users', 999_999, { name: 'x' }), 'not_found');
  await rejects(c.delete('users', 999_999), 'not_found');
  await rejects(c.read('nope'), 'model_not_found');
  await rejects(c.meta('nope'), 'model_not_found');
  await rejects(c.read('users', 'abc'), 'validation_error');
  await rejects(c.read('users', { limit: -1 }), 'validation_error');
  await rejects(c.read('users', { filters: [{ column: 'name', operator: 'approx', value: 1 }] }), 'validation_error');
  await rejects(c.create('users', { name: 'no email' }), 'validation_error');
  await rejects(c.create('users', { id: 5, name: 'x', email: 'y' }), 'validation_error');
  await rejects(c.create('users', []), 'validation_error');
  const batch = await rejects(c.create('users', [{ name: 'ok', email: 'ok@x' }, { name: 'bad' }]), 'validation_error');
  assert.equal(batch.details.index, 1);
  assert.match(batch.message, /^record 1:/);
  await rejects(c.update('users', 1, {}), 'validation_error');

  // Bad requests, through the raw envelope.
  await rejects(c.request({ operation: 'create', entity: 'users', data: 5 }), 'invalid_message');
  await rejects(c.request({ operation: 'frob', entity: 'users' }), 'invalid_operation');
  await rejects(c.request({ type: 'bogus' }), 'invalid_message_type');
  await rejects(c.request({ type: 'subscription', operation: 'read', entity: 'users' }), 'invalid_operation');
  await rejects(c.request({ type: 'subscription', operation: 'unsubscribe', subscription_id: 'sub-0123' }), 'subscription_not_found');
  const resync = await rejects(
    c.request({ type: 'subscription', entity: 'users', options: { resume: { subscription_id: `sub-${'0'.repeat(32)}`, after_seq: 0 } } }),
    'resync_required',
  );
  assert.ok(resync.message.length > 0);
});

test('a request without a reply times out; the late reply is reported, not thrown', async () => {
  const c = await client();
  const errs = errors(c);
  await c.ping();
  server.pause();
  try {
    const started = Date.now();
    const err = await rejects(c.read('users', { timeout: 300 }), 'timeout');
    const took = Date.now() - started;
    assert.ok(took >= 290 && took < 3000, `timed out after ${took} ms`);
    assert.match(err.message, /no reply to read users .* within 300 ms/);
  } finally {
    server.resume();
  }
  await until(() => errs.find((e) => e.code === 'unexpected_reply'), 5000, 'the late reply');
  assert.match(errs[0].message, /after its request timed out/);
  await c.ping(); // still working
});

test('close() fails waiting requests with `closed`', async () => {
  const c = await client();
  server.pause();
  try {
    const waiting = rejects(c.read('users', { timeout: 5000 }), 'closed');
    await c.close();
    await waiting;
  } finally {
    server.resume();
  }
  await rejects(c.ping(), 'closed');
});

test('connect() fails with connect_failed when the broker refuses the client id', async () => {
  await rejects(connect({ url: server.tcpUrl, clientId: 'bad/id', timeout: 5000 }), 'connect_failed');
});

test('connect() times out when nothing listens', async () => {
  const { freePort } = await import('./helpers/server.mjs');
  const port = await freePort();
  const started = Date.now();
  await rejects(connect({ url: `mqtt://127.0.0.1:${port}`, clientId: 'nobody', timeout: 500, reconnectPeriod: 100 }), 'timeout');
  assert.ok(Date.now() - started < 3000);
});

test('a request over the server\'s maximum packet size is refused before sending', async () => {
  const c = await client();
  await rejects(c.create('users', { name: 'x'.repeat(1_100_000), email: 'big@x' }), 'too_large');
  await c.ping();
});

test('a reply for an unknown request id is reported through the error event', async () => {
  const c = await client();
  const errs = errors(c);
  // A request published around the client (same session, so the broker allows it).
  await c.mqtt.publishAsync(`spec/${c.clientId}/request`, JSON.stringify({ id: 'foreign-1', type: 'ping' }), { qos: 1 });
  await until(() => errs.length, 5000, 'the error event');
  assert.equal(errs[0].code, 'unexpected_reply');
  assert.match(errs[0].message, /unknown request id "foreign-1"/);
  await c.ping();
});

test('garbage on the response and notify topics is reported, never thrown', async () => {
  const c = await client();
  const errs = errors(c);
  const deliver = (topic, payload, properties = {}) => c.mqtt.emit('message', topic, Buffer.from(payload), { topic, properties });
  deliver(`spec/${c.clientId}/response`, 'not json{');
  deliver(`spec/${c.clientId}/response`, '[1,2,3]');
  deliver(`spec/${c.clientId}/response`, JSON.stringify({ id: 'x', type: 'response' }));
  deliver(`spec/${c.clientId}/notify/sub-1`, '{"type":"notification"}');
  deliver(`spec/${c.clientId}/notify/sub-1`, JSON.stringify({ type: 'notification', operation: 'create', subscription_id: 'sub-1', seq: 1, scope: 'enter', data: {} }));
  deliver(`spec/${c.clientId}/response`, 'x'.repeat(17 * 1024 * 1024));
  assert.deepEqual(errs.map((e) => e.code), ['bad_reply', 'bad_reply', 'bad_reply', 'bad_notification', 'bad_notification', 'oversized']);
  const p = c.ping();
  await p;
});

test('an oversized reply fails its request at once (matched by correlation data)', async () => {
  const c = await client({ maxPayload: 400 });
  const errs = errors(c);
  for (let i = 0; i < 4; i++) await c.create('users', { name: `pad ${i}`, email: `pad${i}@x` });
  const started = Date.now();
  const err = await rejects(c.read('users', { timeout: 4000 }), 'oversized');
  assert.ok(Date.now() - started < 2000);
  assert.ok(err.requestId);
  assert.equal(errs[0].code, 'oversized');
});

test('MQTT 3.1.1 works too (no correlation data)', async () => {
  const c = await client({ protocolVersion: 4 });
  const u = await c.create('users', { name: 'v311', email: 'v311@x' });
  assert.equal((await c.read('users', u.id)).data.name, 'v311');
});

test('the broker keeps others off the client\'s response topic', async () => {
  const victim = await client();
  const errs = errors(victim);
  const raw = await mqtt.connectAsync(server.tcpUrl, { clientId: 'intruder', protocolVersion: 5, reconnectPeriod: 0 });
  try {
    await assert.rejects(
      raw.publishAsync(`spec/${victim.clientId}/response`, 'garbage', { qos: 1 }),
      (e) => e.code === 0x87,
    );
  } finally {
    await raw.endAsync();
  }
  await victim.ping();
  assert.deepEqual(errs, []);
});
