/**
 * Reading what the server publishes. Pure functions: no MQTT, no state, so that every kind of bad
 * input can be tested on its own. Nothing here throws on bad input; it is classified as `invalid`.
 */
import { MqttspecError } from './errors.js';

/** A notification as it is on the wire (PROTOCOL §7). */
export interface WireNotification {
  type: 'notification';
  operation: string;
  subscription_id: string;
  schema?: string;
  entity?: string;
  data?: unknown;
  seq: number;
  scope?: string;
  timestamp?: string;
  /** Present on a resync notice (§7.1): `{code: "resync_required", message}`. */
  error?: { code?: string; message?: string };
}

/** What one inbound message is. */
export type Inbound =
  | { kind: 'reply'; id: string; correlationId?: string; data: unknown; metadata?: Record<string, unknown> }
  | { kind: 'failure'; id: string; correlationId?: string; error: MqttspecError }
  | { kind: 'notification'; notification: WireNotification }
  | { kind: 'invalid'; error: MqttspecError; correlationId?: string };

/** Where the client's messages arrive. */
export interface InboundContext {
  /** `{prefix}/{client}/response` */
  responseTopic: string;
  /** `{prefix}/{client}/notify/` (with the trailing slash) */
  notifyPrefix: string;
  /** Larger payloads are refused unread. */
  maxPayload: number;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes MQTT 5 Correlation Data (bytes or text) to text; undefined when absent or not UTF-8. */
export function decodeCorrelation(data: unknown): string | undefined {
  if (data === undefined || data === null) return undefined;
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array) {
    try {
      return decoder.decode(data);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Classifies one inbound MQTT message; never throws. */
export function parseInbound(
  topic: string,
  payload: Uint8Array | string,
  correlationData: unknown,
  ctx: InboundContext,
): Inbound {
  const correlationId = decodeCorrelation(correlationData);
  const invalid = (code: string, message: string): Inbound => ({
    kind: 'invalid',
    error: new MqttspecError(code, message, { topic }, correlationId),
    ...(correlationId !== undefined ? { correlationId } : {}),
  });
  const isReply = topic === ctx.responseTopic || topic.startsWith(ctx.responseTopic + '/');
  const isNotify = topic.startsWith(ctx.notifyPrefix) && topic.length > ctx.notifyPrefix.length;
  const badCode = isNotify ? 'bad_notification' : 'bad_reply';
  if (!isReply && !isNotify) return invalid('bad_reply', `message on an unexpected topic ${topic}`);

  const size = typeof payload === 'string' ? payload.length : payload.byteLength;
  if (size > ctx.maxPayload) {
    return invalid('oversized', `payload of ${size} bytes on ${topic} exceeds maxPayload (${ctx.maxPayload})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : decoder.decode(payload));
  } catch (e) {
    return invalid(badCode, `payload on ${topic} is not UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!isObject(value)) return invalid(badCode, `payload on ${topic} is not a JSON object`);

  if (isNotify) {
    const subId = topic.slice(ctx.notifyPrefix.length);
    if (value.type !== 'notification') return invalid(badCode, `notification on ${topic} has type ${String(value.type)}`);
    if (value.subscription_id !== subId) {
      return invalid(badCode, `notification on ${topic} names subscription ${String(value.subscription_id)}`);
    }
    if (typeof value.operation !== 'string') return invalid(badCode, `notification on ${topic} has no operation`);
    const seq = value.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
      return invalid(badCode, `notification on ${topic} has no valid seq`);
    }
    if (value.operation !== 'resync') {
      if (seq < 1) return invalid(badCode, `notification on ${topic} has seq ${seq}`);
      if (value.scope !== 'enter' && value.scope !== 'stay' && value.scope !== 'leave') {
        return invalid(badCode, `notification on ${topic} has an unknown scope ${String(value.scope)}`);
      }
      if (!isObject(value.data)) return invalid(badCode, `notification on ${topic} has no row`);
    }
    return { kind: 'notification', notification: value as unknown as WireNotification };
  }

  const id = value.id;
  if (typeof id !== 'string') return invalid(badCode, 'reply without a string id');
  const corr = correlationId !== undefined ? { correlationId } : {};
  if (value.type !== 'response' && value.type !== 'pong') {
    return invalid(badCode, `reply ${id} has an unknown type ${String(value.type)}`);
  }
  if (value.success === true) {
    const metadata = isObject(value.metadata) ? value.metadata : undefined;
    return { kind: 'reply', id, ...corr, data: value.data, ...(metadata ? { metadata } : {}) };
  }
  if (value.success === false) {
    const err = value.error;
    if (!isObject(err) || typeof err.code !== 'string' || typeof err.message !== 'string') {
      return invalid(badCode, `error reply ${id} lacks error.code or error.message`);
    }
    const details = isObject(err.details) ? err.details : undefined;
    return { kind: 'failure', id, ...corr, error: new MqttspecError(err.code, err.message, details, id) };
  }
  return invalid(badCode, `reply ${id} has no boolean success`);
}
