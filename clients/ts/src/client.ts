import mqtt from 'mqtt';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';

import { MqttspecError } from './errors.js';
import { parseInbound, type InboundContext, type WireNotification } from './inbound.js';
import type {
  DeleteResult,
  EntityMeta,
  Notification,
  ReadMetadata,
  ReadOneOptions,
  ReadOptions,
  ReadResult,
  RecordId,
  RequestEnvelope,
  RequestSettings,
  ResyncEvent,
  Row,
  SubscribeOptions,
} from './types.js';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Broker URL: `mqtt://host:1883` (Node), `ws://host:8083/mqtt` (Node and browsers), `wss://`, `mqtts://`. */
  url: string;
  /** MQTT client id, which is also the identity on the topics (default: `mqttspec-` + random hex). */
  clientId?: string;
  username?: string;
  password?: string;
  /** Topic prefix (default `spec`). */
  prefix?: string;
  /** Default reply deadline of a request, and of the first connection, in ms (default 10 000). */
  timeout?: number;
  /** Largest inbound payload read, in bytes (default 16 MiB); larger ones are reported and dropped. */
  maxPayload?: number;
  /** 5 (default; adds Correlation Data to requests) or 4 (MQTT 3.1.1). */
  protocolVersion?: 4 | 5;
  /** Delay between reconnection attempts in ms (default 1000; 0 disables reconnecting). */
  reconnectPeriod?: number;
  /** Further MQTT.js options; `clientId`, `clean` and `resubscribe` are always set by the client. */
  mqttOptions?: IClientOptions;
}

/** Where the connection is. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Events of {@link MqttspecClient.on}. */
export interface ClientEvents {
  /** Bad input from the server, a throwing handler, an MQTT error: reported here, never thrown. */
  error: MqttspecError;
  /** The connection changed state. */
  state: ConnectionState;
  /** A subscription was continued after a gap or a reconnect (PROTOCOL §7.1 resume). */
  resume: { entity: string; subscriptionId: string; afterSeq: number };
  /** A subscription could not be continued without a hole and was started anew: re-read. */
  resync: ResyncEvent;
}

/** A live subscription. */
export interface Subscription {
  /** The server's subscription id (changes when a resync starts a new subscription). */
  readonly id: string;
  readonly entity: string;
  /** The last `seq` delivered to the handler (0 before the first). Keep it to resume later. */
  readonly lastSeq: number;
  /** Ends the subscription on the server. */
  unsubscribe(): Promise<void>;
}

interface Pending {
  id: string;
  payload: string;
  resolve: (r: { data: unknown; metadata?: Record<string, unknown> }) => void;
  reject: (e: MqttspecError) => void;
  timer: ReturnType<typeof setTimeout>;
  /** Connection epoch of the first publish (undefined: not yet published). */
  sentEpoch?: number;
}

type Listener<T> = (payload: T) => void;

/** A bounded set of strings that forgets its oldest entries. */
class RecentSet {
  private readonly items = new Set<string>();
  constructor(private readonly cap: number) {}
  add(v: string): void {
    this.items.delete(v);
    this.items.add(v);
    if (this.items.size > this.cap) this.items.delete(this.items.values().next().value as string);
  }
  has(v: string): boolean {
    return this.items.has(v);
  }
  delete(v: string): void {
    this.items.delete(v);
  }
}

function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).byteLength;
}

class SubscriptionState<T> implements Subscription {
  id = '';
  lastSeq = 0;
  /** A resume request is in flight. */
  resuming = false;
  /** Subscribing anew after a resync is in flight. */
  restarting = false;
  /** Subscribing anew failed: retried at the next reconnect. */
  broken = false;
  active = true;

  constructor(
    private readonly client: MqttspecClient,
    readonly entity: string,
    readonly schema: string | undefined,
    readonly recordId: RecordId | undefined,
    readonly wireOptions: Record<string, unknown>,
    readonly timeout: number | undefined,
    readonly handler: (n: Notification<T>) => void,
    readonly onResync: ((e: ResyncEvent) => void) | undefined,
  ) {}

  unsubscribe(): Promise<void> {
    return this.client['endSubscription'](this);
  }
}

/**
 * An mqttspec client over one MQTT connection. Create it with {@link connect}.
 *
 * Requests are published at QoS 1 on `{prefix}/{clientId}/request` and matched to their replies by
 * `id` (and MQTT 5 Correlation Data). After a reconnect the client re-subscribes its topics, sends
 * again every request still waiting (the server answers a repeated `id` from its idempotency store
 * without executing it twice) and resumes every subscription from its last `seq`.
 */
export class MqttspecClient {
  /** The client id used on the topics. */
  readonly clientId: string;
  /** The topic prefix. */
  readonly prefix: string;
  /** The MQTT.js client underneath (for advanced use; the client owns its listeners). */
  readonly mqtt: MqttClient;

  private readonly requestTopic: string;
  private readonly inbound: InboundContext;
  private readonly timeout: number;
  private readonly v5: boolean;
  private readonly tag = randomHex(6);
  private counter = 0;
  private epoch = 0;
  private currentState: ConnectionState = 'connecting';
  private readonly pending = new Map<string, Pending>();
  private readonly done = new RecentSet(4096);
  private readonly timedOut = new RecentSet(4096);
  private readonly subs = new Map<string, SubscriptionState<never>>();
  private readonly all = new Set<SubscriptionState<never>>();
  private readonly ended = new RecentSet(4096);
  private readonly early: WireNotification[] = [];
  private subscribing = 0;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener<any>>>();
  private readyWaiter?: { resolve: () => void; reject: (e: MqttspecError) => void };

  /** Use {@link connect}. */
  constructor(options: ConnectOptions) {
    this.clientId = options.clientId ?? `mqttspec-${randomHex(6)}`;
    this.prefix = options.prefix ?? 'spec';
    this.timeout = options.timeout ?? 10_000;
    this.v5 = (options.protocolVersion ?? 5) === 5;
    const base = `${this.prefix}/${this.clientId}`;
    this.requestTopic = `${base}/request`;
    this.inbound = {
      responseTopic: `${base}/response`,
      notifyPrefix: `${base}/notify/`,
      maxPayload: options.maxPayload ?? 16 * 1024 * 1024,
    };
    const opts: IClientOptions = {
      connectTimeout: this.timeout,
      reconnectPeriod: options.reconnectPeriod ?? 1000,
      ...options.mqttOptions,
      clientId: this.clientId,
      protocolVersion: this.v5 ? 5 : 4,
      clean: true,
      resubscribe: false,
    };
    if (options.username !== undefined) opts.username = options.username;
    if (options.password !== undefined) opts.password = options.password;
    this.mqtt = mqtt.connect(options.url, opts);
    this.mqtt.on('connect', () => void this.onConnect());
    this.mqtt.on('close', () => this.onClose());
    this.mqtt.on('error', (e: Error & { code?: unknown }) => this.onMqttError(e));
    this.mqtt.on('message', (topic: string, payload: Uint8Array, packet: IPublishPacket) =>
      this.onMessage(topic, payload, packet),
    );
  }

  /** The connection's state now. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** Listens to an event; returns a function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Resolves when the first connection is up (used by {@link connect}). */
  ready(): Promise<void> {
    if (this.currentState === 'connected') return Promise.resolve();
    if (this.currentState === 'closed') return Promise.reject(new MqttspecError('closed', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiter = undefined;
        void this.mqtt.endAsync(true).catch(() => {});
        this.setState('closed');
        reject(new MqttspecError('timeout', `no connection to the broker within ${this.timeout} ms`));
      }, this.timeout);
      this.readyWaiter = {
        resolve: () => {
          clearTimeout(timer);
          this.readyWaiter = undefined;
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          this.readyWaiter = undefined;
          reject(e);
        },
      };
    });
  }

  /** Reads one record by primary key; `data` is the record. Missing → `not_found`. */
  read<T extends object = Row>(entity: string, id: RecordId, options?: ReadOneOptions<T>): Promise<ReadResult<T>>;
  /** Reads a page of records (filters, sort, paging, cursors, projection: PROTOCOL §5). */
  read<T extends object = Row>(entity: string, options?: ReadOptions<T>): Promise<ReadResult<T[]>>;
  async read<T extends object = Row>(
    entity: string,
    idOrOptions?: RecordId | ReadOptions<T>,
    maybeOptions?: ReadOneOptions<T>,
  ): Promise<ReadResult<T> | ReadResult<T[]>> {
    const target = typeof idOrOptions === 'string' || typeof idOrOptions === 'number';
    const { timeout, schema, ...wire } = (target ? maybeOptions : idOrOptions) ?? {};
    const r = await this.send(
      { operation: 'read', entity, schema, record_id: target ? idOrOptions : undefined, options: wire },
      timeout,
    );
    return { data: r.data, metadata: (r.metadata ?? { count: 0 }) as unknown as ReadMetadata } as ReadResult<T[]>;
  }

  /** Creates a batch of records in one transaction (all or nothing); resolves to them as stored. */
  create<T extends object = Row, D extends object = Partial<T>>(
    entity: string,
    data: readonly D[],
    settings?: RequestSettings,
  ): Promise<T[]>;
  /** Creates one record; resolves to it as stored (generated key and defaults filled in). */
  create<T extends object = Row, D extends object = Partial<T>>(
    entity: string,
    data: D,
    settings?: RequestSettings,
  ): Promise<T>;
  async create(entity: string, data: object, settings?: RequestSettings): Promise<unknown> {
    return (await this.send({ operation: 'create', entity, schema: settings?.schema, data }, settings?.timeout)).data;
  }

  /** Changes the given columns of one record; resolves to the whole updated record. */
  async update<T extends object = Row, D extends object = Partial<T>>(
    entity: string,
    id: RecordId,
    patch: D,
    settings?: RequestSettings,
  ): Promise<T> {
    const r = await this.send(
      { operation: 'update', entity, schema: settings?.schema, record_id: id, data: patch },
      settings?.timeout,
    );
    return r.data as T;
  }

  /** Deletes one record. Missing → `not_found`. */
  async delete(entity: string, id: RecordId, settings?: RequestSettings): Promise<DeleteResult> {
    const r = await this.send({ operation: 'delete', entity, schema: settings?.schema, record_id: id }, settings?.timeout);
    return r.data as DeleteResult;
  }

  /** Describes one entity (columns, types, operators, allowed operations). */
  meta(entity: string, settings?: RequestSettings): Promise<EntityMeta>;
  /** Describes every entity (of `settings.schema` when given). */
  meta(settings?: RequestSettings): Promise<EntityMeta[]>;
  async meta(entityOrSettings?: string | RequestSettings, maybe?: RequestSettings): Promise<EntityMeta | EntityMeta[]> {
    const entity = typeof entityOrSettings === 'string' ? entityOrSettings : undefined;
    const settings = (typeof entityOrSettings === 'string' ? maybe : entityOrSettings) ?? {};
    const r = await this.send({ operation: 'meta', entity, schema: settings.schema }, settings.timeout);
    if (entity !== undefined) return r.data as EntityMeta;
    const list = (r.data as { entities?: unknown } | null)?.entities;
    if (!Array.isArray(list)) throw new MqttspecError('bad_reply', 'meta reply without `entities`');
    return list as EntityMeta[];
  }

  /** Round trip to the server. */
  async ping(settings?: RequestSettings): Promise<void> {
    await this.send({ type: 'ping' }, settings?.timeout);
  }

  /**
   * Sends any request envelope (PROTOCOL §2) and resolves to the reply's `data` and `metadata`;
   * `id` is filled in and `type` defaults to `request`. For what the typed methods do not cover.
   */
  request(envelope: RequestEnvelope, settings?: { timeout?: number }): Promise<{ data: unknown; metadata?: Record<string, unknown> }> {
    return this.send(envelope, settings?.timeout);
  }

  /**
   * Subscribes to changes of `entity` that match `options.filters`. The handler gets every change in
   * `seq` order without holes: a gap in `seq` or a reconnect makes the client resume the subscription
   * from its last `seq` (PROTOCOL §7.1); when the server cannot, the client subscribes anew and
   * reports a `resync` event (and calls `options.onResync`), after which the application re-reads.
   * Resolves once the server has accepted the subscription.
   */
  async subscribe<T extends object = Row>(
    entity: string,
    options: SubscribeOptions<T>,
    handler: (notification: Notification<T>) => void,
  ): Promise<Subscription> {
    const { timeout, schema, recordId, resume, onResync, ...wire } = options;
    const sub = new SubscriptionState<T>(this, entity, schema, recordId, wire, timeout, handler, onResync);
    const s = sub as unknown as SubscriptionState<never>;
    if (resume) {
      sub.id = resume.subscriptionId;
      sub.lastSeq = resume.afterSeq;
      this.all.add(s);
      this.subs.set(sub.id, s);
      await this.resumeSubscription(s);
      if (sub.broken) {
        this.all.delete(s);
        throw new MqttspecError('resync_required', `subscription ${resume.subscriptionId} could not be resumed nor started anew`);
      }
    } else {
      await this.startSubscription(s);
      this.all.add(s);
    }
    return sub;
  }

  /**
   * Closes the connection. Waiting requests fail with `closed`. Subscriptions are not ended on the
   * server: they stay resumable for a while (see `subscribe`'s `resume`); unsubscribe to end them.
   */
  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    this.setState('closed');
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new MqttspecError('closed', 'the client was closed', undefined, p.id));
    }
    this.pending.clear();
    this.subs.clear();
    this.all.clear();
    // Forced: waiting for acknowledgements of requests nobody waits for any more could hang.
    await this.mqtt.endAsync(true);
  }

  // ---- internals ----

  private isClosed(): boolean {
    return this.currentState === 'closed';
  }

  private emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
    for (const l of this.listeners.get(event) ?? []) {
      try {
        l(payload);
      } catch (e) {
        if (event !== 'error') this.emit('error', new MqttspecError('handler_error', `a ${event} listener threw: ${String(e)}`));
      }
    }
  }

  private setState(s: ConnectionState): void {
    if (this.currentState === s) return;
    this.currentState = s;
    this.emit('state', s);
  }

  private send(envelope: RequestEnvelope, timeout?: number): Promise<{ data: unknown; metadata?: Record<string, unknown> }> {
    const id = `${this.tag}-${++this.counter}`;
    const body: Record<string, unknown> = { ...envelope, id, type: envelope.type ?? 'request' };
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    const payload = JSON.stringify(body);
    const ms = timeout ?? this.timeout;
    return new Promise((resolve, reject) => {
      if (this.currentState === 'closed') {
        reject(new MqttspecError('closed', 'the client is closed', undefined, id));
        return;
      }
      const max = this.mqtt.connected ? this.maxPacket() : undefined;
      if (max !== undefined && utf8Length(payload) + utf8Length(this.requestTopic) + 64 > max) {
        reject(new MqttspecError('too_large', `request of ${utf8Length(payload)} bytes exceeds the server's maximum packet size (${max})`, undefined, id));
        return;
      }
      const what = `${String(body.operation ?? body.type)}${body.entity ? ` ${String(body.entity)}` : ''}`;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.timedOut.add(id);
        reject(new MqttspecError('timeout', `no reply to ${what} (${id}) within ${ms} ms`, undefined, id));
      }, ms);
      const p: Pending = { id, payload, resolve, reject, timer };
      this.pending.set(id, p);
      if (this.currentState === 'connected') this.publish(p);
    });
  }

  private maxPacket(): number | undefined {
    const props = (this.mqtt as unknown as { connackPacket?: { properties?: { maximumPacketSize?: number } } }).connackPacket
      ?.properties;
    return props?.maximumPacketSize;
  }

  private publish(p: Pending): void {
    p.sentEpoch ??= this.epoch;
    const opts: { qos: 1; properties?: { correlationData: Buffer } } = { qos: 1 };
    // MQTT.js writes a string as UTF-8 bytes (also in browsers, where Buffer is not global).
    if (this.v5) opts.properties = { correlationData: p.id as unknown as Buffer };
    this.mqtt.publish(this.requestTopic, p.payload, opts, (err) => {
      // A publish cut by a disconnect is sent again after the reconnect; anything else fails the request.
      if (err && this.mqtt.connected && this.pending.get(p.id) === p) {
        clearTimeout(p.timer);
        this.pending.delete(p.id);
        p.reject(new MqttspecError('mqtt_error', `request ${p.id} could not be published: ${err.message}`, undefined, p.id));
      }
    });
  }

  private async onConnect(): Promise<void> {
    if (this.currentState === 'closed') return;
    const epoch = ++this.epoch;
    const base = `${this.prefix}/${this.clientId}`;
    try {
      await this.mqtt.subscribeAsync({ [`${base}/response`]: { qos: 1 }, [`${base}/notify/+`]: { qos: 1 } });
    } catch (e) {
      const err = new MqttspecError('mqtt_error', `subscribing the response topics failed: ${(e as Error).message}`);
      if (this.readyWaiter) {
        this.readyWaiter.reject(err);
        void this.mqtt.endAsync(true).catch(() => {});
        this.setState('closed');
      } else this.emit('error', err);
      return;
    }
    if (epoch !== this.epoch || this.isClosed()) return;
    // Requests still waiting (sent before the connection dropped, or while it was down) go out first;
    // a repeated id is answered from the server's idempotency store, never executed twice.
    for (const p of [...this.pending.values()]) this.publish(p);
    this.setState('connected');
    this.readyWaiter?.resolve();
    if (epoch > 1) {
      for (const s of this.all) {
        if (s.restarting || s.resuming) continue; // their requests were just sent again
        if (s.broken) void this.restartSubscription(s, 'subscribing anew after a failed resync');
        else void this.resumeSubscription(s);
      }
    }
  }

  private onClose(): void {
    if (this.currentState === 'closed') return;
    if (this.currentState === 'connected' && this.mqtt.options.reconnectPeriod === 0) {
      void this.close(); // no reconnect will come: fail what waits
      return;
    }
    if (this.currentState === 'connected') this.setState('reconnecting');
    if (this.readyWaiter && this.mqtt.options.reconnectPeriod === 0) {
      this.readyWaiter.reject(new MqttspecError('connect_failed', 'the connection closed before it was established'));
      this.setState('closed');
    }
  }

  private onMqttError(e: Error & { code?: unknown }): void {
    if (this.readyWaiter) {
      // A busy server (CONNACK 3 / 0x88, e.g. right after a takeover) or a network error is retried;
      // a refusal (bad credentials, not authorized) ends the attempt.
      const code = e.code;
      const refused = typeof code === 'number' && code !== 3 && code !== 0x88;
      if (refused) {
        this.readyWaiter.reject(new MqttspecError('connect_failed', `connection refused: ${e.message}`, { reasonCode: code }));
        void this.mqtt.endAsync(true).catch(() => {});
        this.setState('closed');
      }
      return;
    }
    this.emit('error', new MqttspecError('mqtt_error', e.message));
  }

  private onMessage(topic: string, payload: Uint8Array, packet: IPublishPacket): void {
    if (this.currentState === 'closed') return;
    const msg = parseInbound(topic, payload, packet?.properties?.correlationData, this.inbound);
    switch (msg.kind) {
      case 'invalid': {
        const p = msg.correlationId !== undefined ? this.pending.get(msg.correlationId) : undefined;
        if (p) this.settle(p, undefined, msg.error);
        this.emit('error', msg.error);
        return;
      }
      case 'reply':
      case 'failure': {
        const key = this.pending.has(msg.id)
          ? msg.id
          : msg.correlationId !== undefined && this.pending.has(msg.correlationId)
            ? msg.correlationId
            : undefined;
        if (key === undefined) {
          if (this.done.has(msg.id)) return; // a duplicate delivery (QoS 1) or a repeated reply
          const late = this.timedOut.has(msg.id);
          this.emit(
            'error',
            new MqttspecError(
              'unexpected_reply',
              late ? `reply ${msg.id} arrived after its request timed out` : `reply for an unknown request id ${JSON.stringify(msg.id)}`,
              undefined,
              msg.id,
            ),
          );
          return;
        }
        const p = this.pending.get(key)!;
        if (msg.kind === 'reply') this.settle(p, { data: msg.data, ...(msg.metadata ? { metadata: msg.metadata } : {}) });
        else this.settle(p, undefined, msg.error);
        return;
      }
      case 'notification':
        this.onNotification(msg.notification);
        return;
    }
  }

  private settle(p: Pending, ok?: { data: unknown; metadata?: Record<string, unknown> }, err?: MqttspecError): void {
    clearTimeout(p.timer);
    this.pending.delete(p.id);
    this.done.add(p.id);
    if (err) p.reject(err);
    else p.resolve(ok!);
  }

  private onNotification(n: WireNotification): void {
    const sub = this.subs.get(n.subscription_id);
    if (!sub) {
      if (this.ended.has(n.subscription_id)) return;
      if (this.subscribing > 0 && this.early.length < 10_000) {
        this.early.push(n); // may arrive before the subscribe reply (PROTOCOL §4.7)
        return;
      }
      this.emit('error', new MqttspecError('bad_notification', `notification for an unknown subscription ${n.subscription_id}`));
      return;
    }
    if (n.operation === 'resync') {
      void this.restartSubscription(sub, n.error?.message ?? 'the server ended the subscription (resync)');
      return;
    }
    if (n.seq <= sub.lastSeq) return; // already delivered (a resume replays from after_seq)
    if (n.seq !== sub.lastSeq + 1) {
      // A hole: fetch what is missing; this one comes again in the replay.
      void this.resumeSubscription(sub);
      return;
    }
    sub.lastSeq = n.seq;
    const out: Notification<never> = {
      operation: n.operation as Notification<never>['operation'],
      scope: n.scope as Notification<never>['scope'],
      seq: n.seq,
      data: n.data as never,
      subscriptionId: n.subscription_id,
      entity: n.entity ?? sub.entity,
      schema: n.schema ?? '',
      timestamp: n.timestamp ?? '',
    };
    try {
      sub.handler(out);
    } catch (e) {
      this.emit('error', new MqttspecError('handler_error', `subscription handler for ${sub.entity} threw: ${String(e)}`));
    }
  }

  private subscribeEnvelope(s: SubscriptionState<never>, resume?: { subscription_id: string; after_seq: number }): RequestEnvelope {
    return {
      type: 'subscription',
      operation: 'subscribe',
      entity: s.entity,
      schema: s.schema,
      record_id: s.recordId,
      options: resume ? { ...s.wireOptions, resume } : s.wireOptions,
    };
  }

  /** Subscribes anew; throws the server's error. */
  private async startSubscription(s: SubscriptionState<never>): Promise<void> {
    this.subscribing++;
    const epoch = this.epoch;
    try {
      const r = await this.send(this.subscribeEnvelope(s), s.timeout);
      const id = (r.data as { subscription_id?: unknown } | null)?.subscription_id;
      if (typeof id !== 'string') throw new MqttspecError('bad_reply', 'subscribe reply without subscription_id');
      if (!s.active) {
        // Unsubscribed meanwhile (during a resync): end the new one too.
        this.ended.add(id);
        void this.send({ type: 'subscription', operation: 'unsubscribe', subscription_id: id }).catch(() => {});
        return;
      }
      s.id = id;
      s.lastSeq = 0;
      s.broken = false;
      this.subs.set(id, s);
      const mine = this.early.filter((n) => n.subscription_id === id);
      if (mine.length) {
        this.early.splice(0, this.early.length, ...this.early.filter((n) => n.subscription_id !== id));
        for (const n of mine) this.onNotification(n);
      }
      // Created on a connection that has dropped since: it is not delivering, so resume it here.
      if (epoch !== this.epoch) void this.resumeSubscription(s);
    } finally {
      if (--this.subscribing === 0 && this.early.length) {
        const stray = this.early.splice(0);
        for (const n of stray) {
          if (!this.subs.has(n.subscription_id) && !this.ended.has(n.subscription_id)) {
            this.emit('error', new MqttspecError('bad_notification', `notification for an unknown subscription ${n.subscription_id}`));
          }
        }
      }
    }
  }

  /** Resumes from `lastSeq`; on refusal subscribes anew and reports a resync. Never throws. */
  private async resumeSubscription(s: SubscriptionState<never>): Promise<void> {
    if (s.resuming || s.restarting || !s.active || this.currentState === 'closed') return;
    s.resuming = true;
    const id = s.id;
    const afterSeq = s.lastSeq;
    this.emit('resume', { entity: s.entity, subscriptionId: id, afterSeq });
    let failure: MqttspecError | undefined;
    try {
      await this.send(this.subscribeEnvelope(s, { subscription_id: id, after_seq: afterSeq }), s.timeout);
    } catch (e) {
      failure = e instanceof MqttspecError ? e : new MqttspecError('internal_error', String(e));
    } finally {
      s.resuming = false;
    }
    if (!failure || !s.active || failure.code === 'closed') return;
    // A timeout while the connection is down is retried by the reconnect.
    if (failure.code === 'timeout' && this.currentState !== 'connected') return;
    await this.restartSubscription(s, `${failure.code}: ${failure.message}`);
  }

  /** Starts a subscription over after it could not be continued, then reports the resync. */
  private async restartSubscription(s: SubscriptionState<never>, reason: string): Promise<void> {
    if (!s.active || this.currentState === 'closed') return;
    const previousId = s.id;
    const lastSeq = s.lastSeq;
    this.subs.delete(previousId);
    this.ended.add(previousId);
    const event: ResyncEvent = { entity: s.entity, previousId, lastSeq, reason };
    s.restarting = true;
    try {
      await this.startSubscription(s);
      event.newId = s.id;
    } catch (e) {
      s.broken = true;
      this.emit('error', e instanceof MqttspecError ? e : new MqttspecError('internal_error', String(e)));
    } finally {
      s.restarting = false;
    }
    if (!s.active) return;
    this.emit('resync', event);
    try {
      s.onResync?.(event);
    } catch (e) {
      this.emit('error', new MqttspecError('handler_error', `onResync for ${s.entity} threw: ${String(e)}`));
    }
  }

  private async endSubscription(s: SubscriptionState<never>): Promise<void> {
    if (!s.active) return;
    s.active = false;
    this.all.delete(s);
    this.subs.delete(s.id);
    this.ended.add(s.id);
    if (s.broken || this.currentState === 'closed') return;
    try {
      await this.send({ type: 'subscription', operation: 'unsubscribe', subscription_id: s.id }, s.timeout);
    } catch (e) {
      if (!(e instanceof MqttspecError && e.code === 'subscription_not_found')) throw e;
    }
  }
}

/**
 * Connects to an mqttspec server and resolves once the client's topics are subscribed.
 * Rejects with `connect_failed` when the broker refuses the connection, `timeout` when none is made
 * within `options.timeout`.
 *
 * ```ts
 * const client = await connect({ url: 'ws://127.0.0.1:8083/mqtt', clientId: 'alice' });
 * const { data } = await client.read<User>('users', { filters: [{ column: 'status', operator: 'eq', value: 'active' }] });
 * ```
 */
export async function connect(options: ConnectOptions): Promise<MqttspecClient> {
  const client = new MqttspecClient(options);
  await client.ready();
  return client;
}
