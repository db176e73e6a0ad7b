// Live subscriptions against a real quickstart: scopes, order, gaps, reconnects, restarts, resyncs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect } from '../dist/index.js';
import { startServer, until } from './helpers/server.mjs';

let server;
let writer;
const clients = [];
before(async () => {
  server = await startServer();
  writer = await connect({ url: server.tcpUrl, clientId: 't-sub-writer', timeout: 5000 });
  clients.push(writer);
});
after(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await server?.stop();
});

let n = 0;
async function client(opts = {}) {
  const c = await connect({ url: server.tcpUrl, clientId: `t-sub-${++n}`, timeout: 5000, ...opts });
  clients.push(c);
  return c;
}

/** Records a client's events by name. */
function events(c) {
  const seen = { error: [], resume: [], resync: [], state: [] };
  for (const k of Object.keys(seen)) c.on(k, (e) => seen[k].push(e));
  return seen;
}

const seqs = (list) => list.map((x) => x.seq);
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('enter, stay and leave follow the subscription\'s filter, in seq order', async () => {
  const c = await client();
  const ev = events(c);
  const tag = `scope-${Date.now()}`;
  const got = [];
  const sub = await c.subscribe(
    'users',
    { filters: [{ column: 'status', operator: 'eq', value: 'active' }, { column: 'email', operator: 'ends_with', value: tag }] },
    (x) => got.push(x),
  );
  assert.match(sub.id, /^sub-[0-9a-f]{32}$/);
  // Writes by the subscriber itself: their notifications arrive before their replies (PROTOCOL §7).
  const a = await c.create('users', { name: 'A', email: `a@${tag}`, status: 'active' }); // enter
  await c.update('users', a.id, { name: 'A2' }); // stay
  await c.update('users', a.id, { status: 'away' }); // leave
  const b = await c.create('users', { name: 'B', email: `b@${tag}`, status: 'away' }); // not matched
  await c.update('users', b.id, { status: 'active' }); // enter
  await c.delete('users', b.id); // leave
  assert.deepEqual(
    got.map((x) => [x.seq, x.operation, x.scope, x.data.id]),
    [[1, 'create', 'enter', a.id], [2, 'update', 'stay', a.id], [3, 'update', 'leave', a.id], [4, 'update', 'enter', b.id], [5, 'delete', 'leave', b.id]],
  );
  assert.equal(got[1].data.name, 'A2');
  assert.equal(got[2].data.status, 'away'); // leave carries the new row
  assert.ok(got.every((x) => x.subscriptionId === sub.id && x.entity === 'users' && x.schema === 'public' && x.timestamp));
  assert.equal(sub.lastSeq, 5);

  // Changes by another client arrive too.
  const d = await writer.create('users', { name: 'D', email: `d@${tag}`, status: 'active' });
  await until(() => got.length === 6, 5000, 'the other client\'s change');
  assert.deepEqual([got[5].scope, got[5].data.id], ['enter', d.id]);

  await sub.unsubscribe();
  await c.update('users', d.id, { name: 'D2' });
  await c.ping();
  assert.equal(got.length, 6);
  await sub.unsubscribe(); // twice is fine
  assert.deepEqual(ev.error, []);
});

test('a record subscription and a projection shape what arrives', async () => {
  const c = await client();
  const u = await c.create('users', { name: 'P', email: 'p@proj', status: 'x' });
  const other = await c.create('users', { name: 'Q', email: 'q@proj', status: 'x' });
  const got = [];
  await c.subscribe('users', { recordId: u.id, columns: ['name'] }, (x) => got.push(x));
  await c.update('users', other.id, { name: 'Q2' });
  await c.update('users', u.id, { name: 'P2', status: 'y' });
  assert.deepEqual(got.map((x) => x.data), [{ id: u.id, name: 'P2' }]);
});

test('a bad subscription is refused with the server\'s error', async () => {
  const c = await client();
  await assert.rejects(
    c.subscribe('users', { filters: [{ column: 'stauts', operator: 'eq', value: 'x' }] }, () => {}),
    (e) => e.code === 'validation_error' && e.details?.column === 'stauts',
  );
  await assert.rejects(c.subscribe('nope', {}, () => {}), (e) => e.code === 'model_not_found');
});

test('a hole in seq is filled by resuming: the handler sees every change once, in order', async () => {
  const c = await client();
  const ev = events(c);
  const tag = `gap-${Date.now()}`;
  const got = [];
  const sub = await c.subscribe('users', { filters: [{ column: 'email', operator: 'ends_with', value: tag }] }, (x) => got.push(x));
  // Lose one notification on the way in, as a broker or network might.
  const emit = c.mqtt.emit;
  let dropped = 0;
  c.mqtt.emit = function (event, topic, ...rest) {
    if (event === 'message' && topic.includes('/notify/') && dropped === 0 && got.length === 1) {
      dropped++;
      return true;
    }
    return emit.call(this, event, topic, ...rest);
  };
  const u = await c.create('users', { name: 'G', email: `g@${tag}` }); // 1
  await c.update('users', u.id, { name: 'G1' }); // 2 (dropped)
  await c.update('users', u.id, { name: 'G2' }); // 3 → gap → resume after 1
  await until(() => got.length === 3, 5000, 'the replayed notifications');
  assert.equal(dropped, 1);
  assert.deepEqual(seqs(got), [1, 2, 3]);
  assert.deepEqual(got.map((x) => x.data.name), ['G', 'G1', 'G2']);
  assert.deepEqual(ev.resume, [{ entity: 'users', subscriptionId: sub.id, afterSeq: 1 }]);
  await c.update('users', u.id, { name: 'G3' });
  assert.deepEqual(seqs(got), [1, 2, 3, 4]);
  assert.deepEqual(ev.resync, []);
});

test('after a dropped connection the subscription resumes: changes made meanwhile arrive without a hole', async () => {
  const c = await client({ reconnectPeriod: 300 });
  const ev = events(c);
  const tag = `reconnect-${Date.now()}`;
  const got = [];
  const sub = await c.subscribe('users', { filters: [{ column: 'email', operator: 'ends_with', value: tag }] }, (x) => got.push(x));
  const u = await writer.create('users', { name: 'R', email: `r@${tag}` });
  await until(() => got.length === 1, 5000, 'the first notification');

  c.mqtt.stream.destroy(); // the network drops
  await until(() => c.state === 'reconnecting', 5000, 'the client to see the drop');
  for (let i = 1; i <= 3; i++) await writer.update('users', u.id, { name: `R${i}` });
  const v = await writer.create('users', { name: 'S', email: `s@${tag}` });
  await writer.delete('users', v.id);
  assert.notEqual(c.state, 'connected', 'the writes should happen while the client is away');

  await until(() => got.length === 6, 10_000, 'the missed changes');
  assert.deepEqual(seqs(got), range(1, 6));
  assert.deepEqual(got.map((x) => x.scope), ['enter', 'stay', 'stay', 'stay', 'enter', 'leave']);
  assert.equal(ev.resume.length, 1);
  assert.deepEqual(ev.resume[0], { entity: 'users', subscriptionId: sub.id, afterSeq: 1 });
  assert.deepEqual(ev.resync, []);
  assert.ok(ev.state.includes('reconnecting') && ev.state.at(-1) === 'connected');
  // Live again.
  await writer.update('users', u.id, { name: 'R4' });
  await until(() => got.length === 7, 5000, 'a live change after the reconnect');
  // Requests still work (and nothing was reported as bad input).
  assert.equal((await c.read('users', u.id)).data.name, 'R4');
  assert.deepEqual(ev.error.filter((e) => e.code !== 'mqtt_error'), []);
});

test('a request sent while the connection is down is answered after the reconnect', async () => {
  const c = await client({ reconnectPeriod: 300 });
  c.mqtt.stream.destroy();
  await until(() => c.state === 'reconnecting', 5000, 'the drop');
  const u = await c.create('users', { name: 'Offline', email: 'offline@x' });
  assert.equal(u.name, 'Offline');
  const { data } = await c.read('users', { filters: [{ column: 'email', operator: 'eq', value: 'offline@x' }] });
  assert.equal(data.length, 1, 'created exactly once');
});

test('a request in flight when the connection drops is sent again and executed once', async () => {
  const c = await client({ reconnectPeriod: 300 });
  const email = `inflight-${Date.now()}@x`;
  server.pause();
  let pending;
  try {
    pending = c.create('users', { name: 'In flight', email });
    await c.mqtt.stream.write(''); // let the publish reach the socket
    c.mqtt.stream.destroy();
  } finally {
    server.resume();
  }
  const u = await pending;
  assert.equal(u.email, email);
  const { data } = await c.read('users', { filters: [{ column: 'email', operator: 'eq', value: email }] });
  assert.equal(data.length, 1, 'created exactly once');
});

test('a restarted client continues its subscription from the last seq it saw', async () => {
  const tag = `restart-${Date.now()}`;
  const id = `t-sub-restart`;
  const first = await connect({ url: server.wsUrl, clientId: id, timeout: 5000 });
  const got1 = [];
  const sub1 = await first.subscribe('users', { filters: [{ column: 'email', operator: 'ends_with', value: tag }] }, (x) => got1.push(x));
  const u = await first.create('users', { name: 'T', email: `t@${tag}` });
  const saved = { subscriptionId: sub1.id, afterSeq: sub1.lastSeq };
  assert.equal(saved.afterSeq, 1);
  await first.close();

  for (let i = 1; i <= 3; i++) await writer.update('users', u.id, { name: `T${i}` });

  const second = await connect({ url: server.wsUrl, clientId: id, timeout: 5000 });
  clients.push(second);
  const ev = events(second);
  const got2 = [];
  const sub2 = await second.subscribe(
    'users',
    { filters: [{ column: 'email', operator: 'ends_with', value: tag }], resume: saved },
    (x) => got2.push(x),
  );
  assert.equal(sub2.id, saved.subscriptionId);
  await until(() => got2.length === 3, 5000, 'the changes made while no client ran');
  assert.deepEqual(seqs(got2), [2, 3, 4]);
  assert.deepEqual(got2.map((x) => x.data.name), ['T1', 'T2', 'T3']);
  assert.deepEqual(ev.resync, []);
});

test('when the log no longer covers the gap, the client subscribes anew and reports a resync', async () => {
  const tag = `resync-${Date.now()}`;
  const id = 't-sub-resync';
  const filters = [{ column: 'email', operator: 'ends_with', value: tag }];
  const first = await connect({ url: server.tcpUrl, clientId: id, timeout: 5000 });
  const sub1 = await first.subscribe('users', { filters }, () => {});
  const saved = { subscriptionId: sub1.id, afterSeq: 0 };
  await first.close();
  // 105 changes while away: the log keeps the last 100 (PROTOCOL §7.1).
  await writer.create('users', range(1, 105).map((i) => ({ name: `N${i}`, email: `n${i}@${tag}` })));

  const second = await connect({ url: server.tcpUrl, clientId: id, timeout: 5000 });
  clients.push(second);
  const ev = events(second);
  const resyncs = [];
  const got = [];
  const sub2 = await second.subscribe('users', { filters, resume: saved, onResync: (e) => resyncs.push(e) }, (x) => got.push(x));
  assert.notEqual(sub2.id, saved.subscriptionId);
  assert.equal(resyncs.length, 1);
  assert.equal(resyncs[0].previousId, saved.subscriptionId);
  assert.equal(resyncs[0].newId, sub2.id);
  assert.equal(resyncs[0].lastSeq, 0);
  assert.match(resyncs[0].reason, /^resync_required: /);
  assert.deepEqual(ev.resync, resyncs);
  assert.deepEqual(got, []); // nothing of the old subscription leaks into the new one
  await writer.create('users', { name: 'After', email: `after@${tag}` });
  await until(() => got.length === 1, 5000, 'the new subscription\'s first change');
  assert.equal(got[0].seq, 1);
  assert.equal(got[0].subscriptionId, sub2.id);
});

test('a resync notice from the server starts the subscription over and is reported', async () => {
  const c = await client();
  const ev = events(c);
  const got = [];
  const tag = `notice-${Date.now()}`;
  const sub = await c.subscribe('users', { filters: [{ column: 'email', operator: 'ends_with', value: tag }] }, (x) => got.push(x));
  const old = sub.id;
  await c.create('users', { name: 'X', email: `x@${tag}` });
  // What an instance that hands the client over sends (PROTOCOL §7.1); a single server never does.
  const notice = { type: 'notification', operation: 'resync', subscription_id: old, schema: 'public', entity: 'users', seq: 1, error: { code: 'resync_required', message: 'client moved to another instance' }, timestamp: new Date().toISOString() };
  c.mqtt.emit('message', `spec/${c.clientId}/notify/${old}`, Buffer.from(JSON.stringify(notice)), { properties: {} });
  await until(() => ev.resync.length === 1, 5000, 'the resync event');
  assert.equal(ev.resync[0].previousId, old);
  assert.equal(ev.resync[0].lastSeq, 1);
  assert.equal(ev.resync[0].reason, 'client moved to another instance');
  assert.notEqual(sub.id, old);
  await c.create('users', { name: 'Y', email: `y@${tag}` });
  assert.deepEqual(got.map((x) => [x.seq, x.data.name]), [[1, 'X'], [1, 'Y']]);
});

test('a throwing handler is reported and does not stop the subscription', async () => {
  const c = await client();
  const ev = events(c);
  const tag = `throw-${Date.now()}`;
  const got = [];
  await c.subscribe('users', { filters: [{ column: 'email', operator: 'ends_with', value: tag }] }, (x) => {
    got.push(x);
    if (x.seq === 1) throw new Error('boom');
  });
  await c.create('users', { name: 'H1', email: `h1@${tag}` });
  await c.create('users', { name: 'H2', email: `h2@${tag}` });
  assert.deepEqual(seqs(got), [1, 2]);
  assert.equal(ev.error.length, 1);
  assert.equal(ev.error[0].code, 'handler_error');
  assert.match(ev.error[0].message, /boom/);
});
