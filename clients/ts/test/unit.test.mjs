// Unit tests without a server: the inbound parser (every kind of bad input) and the type generator.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { generateTypes, typeName } from '../dist/codegen.js';
import { MqttspecError, parseInbound } from '../dist/index.js';

const ctx = { responseTopic: 'spec/me/response', notifyPrefix: 'spec/me/notify/', maxPayload: 1024 };
const enc = (v) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const parse = (topic, payload, corr) => parseInbound(topic, enc(payload), corr, ctx);

test('a success reply is read with data and metadata', () => {
  const r = parse('spec/me/response', { id: 'a-1', type: 'response', success: true, data: [1], metadata: { count: 1 } });
  assert.deepEqual(r, { kind: 'reply', id: 'a-1', data: [1], metadata: { count: 1 } });
  const pong = parse('spec/me/response', { id: 'p', type: 'pong', success: true });
  assert.equal(pong.kind, 'reply');
});

test('an error reply becomes an MqttspecError with code, message and details', () => {
  const r = parse('spec/me/response', {
    id: 'a-2', type: 'response', success: false,
    error: { code: 'validation_error', message: 'column `stauts`: no such column', details: { column: 'stauts' } },
  });
  assert.equal(r.kind, 'failure');
  assert.ok(r.error instanceof MqttspecError);
  assert.equal(r.error.code, 'validation_error');
  assert.equal(r.error.message, 'column `stauts`: no such column');
  assert.deepEqual(r.error.details, { column: 'stauts' });
  assert.equal(r.error.requestId, 'a-2');
});

test('correlation data (bytes or text) is decoded', () => {
  const r = parse('spec/me/response', { id: 'x', type: 'response', success: true }, Buffer.from('req-9'));
  assert.equal(r.correlationId, 'req-9');
  assert.equal(parse('spec/me/response', { id: 'x', type: 'response', success: true }, 'req-8').correlationId, 'req-8');
  assert.equal(parse('spec/me/response', { id: 'x', type: 'response', success: true }, Buffer.from([0xff, 0xfe])).correlationId, undefined);
});

test('bad replies are classified, never thrown', () => {
  const cases = [
    ['not json{', 'bad_reply'],
    ['[1,2]', 'bad_reply'],
    ['"text"', 'bad_reply'],
    ['null', 'bad_reply'],
    [{ type: 'response', success: true }, 'bad_reply'], // no id
    [{ id: 7, type: 'response', success: true }, 'bad_reply'], // id not a string
    [{ id: 'x', type: 'weird', success: true }, 'bad_reply'],
    [{ id: 'x', type: 'response' }, 'bad_reply'], // no success
    [{ id: 'x', type: 'response', success: false }, 'bad_reply'], // no error object
    [{ id: 'x', type: 'response', success: false, error: { code: 1, message: 'm' } }, 'bad_reply'],
  ];
  for (const [payload, code] of cases) {
    const r = parse('spec/me/response', payload);
    assert.equal(r.kind, 'invalid', JSON.stringify(payload));
    assert.equal(r.error.code, code);
  }
  const notUtf8 = parseInbound('spec/me/response', new Uint8Array([0x7b, 0xff, 0x7d]), undefined, ctx);
  assert.equal(notUtf8.kind, 'invalid');
});

test('an oversized payload is refused unread, keeping its correlation id', () => {
  const big = { id: 'x', type: 'response', success: true, data: 'y'.repeat(2000) };
  const r = parse('spec/me/response', big, 'req-1');
  assert.equal(r.kind, 'invalid');
  assert.equal(r.error.code, 'oversized');
  assert.equal(r.correlationId, 'req-1');
});

test('notifications are checked against their topic', () => {
  const n = { type: 'notification', operation: 'update', subscription_id: 'sub-1', entity: 'users', schema: 'public', data: { id: 1 }, seq: 3, scope: 'stay' };
  assert.equal(parse('spec/me/notify/sub-1', n).kind, 'notification');
  const bad = [
    { ...n, subscription_id: 'sub-2' }, // topic and payload disagree
    { ...n, seq: 0 },
    { ...n, seq: 1.5 },
    { ...n, seq: '3' },
    { ...n, scope: 'elsewhere' },
    { ...n, data: null },
    { ...n, type: 'response' },
    { ...n, operation: undefined },
  ];
  for (const p of bad) {
    const r = parse('spec/me/notify/sub-1', p);
    assert.equal(r.kind, 'invalid', JSON.stringify(p));
    assert.equal(r.error.code, 'bad_notification');
  }
  const resync = { type: 'notification', operation: 'resync', subscription_id: 'sub-1', seq: 4, error: { code: 'resync_required', message: 'moved' } };
  assert.equal(parse('spec/me/notify/sub-1', resync).kind, 'notification');
  assert.equal(parse('spec/other/response', { id: 'x', type: 'response', success: true }).kind, 'invalid');
  assert.equal(parse('spec/me/notify/', n).kind, 'invalid');
});

test('type names follow the entity names', () => {
  assert.equal(typeName('users'), 'User');
  assert.equal(typeName('sensor_readings'), 'SensorReading');
  assert.equal(typeName('categories'), 'Category');
  assert.equal(typeName('addresses'), 'Address');
  assert.equal(typeName('status'), 'Status');
  assert.equal(typeName('2fa_codes'), 'E2faCode');
});

test('the generator writes interfaces, column unions, create shapes and the entity map', () => {
  const col = (name, type, extra = {}) => ({
    name, type, nullable: false, primary_key: false, filterable: true, sortable: true, read_only: false, generated: false, operators: [], ...extra,
  });
  const text = generateTypes([
    {
      schema: 'public', entity: 'users', table_name: 'users', primary_key: 'id',
      operations: { read: true, create: true, update: true, delete: true },
      columns: [col('id', 'integer', { primary_key: true, generated: true }), col('note', 'text', { nullable: true }), col('meta', 'json'), col('made-at', 'timestamp', { read_only: true })],
    },
    {
      schema: 'audit', entity: 'users', table_name: 'users', primary_key: 'id',
      operations: { read: true, create: false, update: false, delete: false },
      columns: [col('id', 'uuid', { primary_key: true })],
    },
  ]);
  assert.match(text, /export interface PublicUser \{/);
  assert.match(text, /export interface AuditUser \{/);
  assert.match(text, /  note: string \| null;/);
  assert.match(text, /  meta: JsonValue;/);
  assert.match(text, /  "made-at": string;/);
  assert.match(text, /export type PublicUserColumn = 'id' \| 'note' \| 'meta' \| 'made-at';/);
  assert.match(text, /export interface PublicUserCreate \{\n  note\?: string \| null;\n  meta: JsonValue;\n\}/);
  assert.doesNotMatch(text, /AuditUserCreate/);
  assert.match(text, /"audit\.users": AuditUser;/);
  assert.match(text, /"public\.users": PublicUser;/);
});
