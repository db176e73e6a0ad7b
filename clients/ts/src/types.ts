/**
 * Wire types of the mqttspec protocol (docs/PROTOCOL.md) and the option types of the client.
 *
 * Query options keep the protocol's own key names (`filters`, `omit_columns`, `cursor_after`, ...), so
 * that PROTOCOL.md §5 documents them; client-only settings are camelCase (`timeout`, `onResync`).
 */

/** A row: what a read returns when no entity type is given. */
export type Row = Record<string, unknown>;

/** The column names of a row type `T` (all of them when `T` is {@link Row}). */
export type Column<T> = Extract<keyof T, string>;

/** A primary-key value: sent as `record_id` (§3.1 converts it to the key's type). */
export type RecordId = string | number;

/** Canonical filter operators (PROTOCOL §5.2) and their accepted aliases. */
export type Operator =
  | 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte' | 'between' | 'in' | 'not_in' | 'is_null' | 'is_not_null'
  | 'like' | 'ilike' | 'contains' | 'starts_with' | 'ends_with'
  | '=' | '==' | 'ne' | '!=' | '<>' | '>' | '>=' | '<' | '<=' | 'nin' | 'isnull' | 'isnotnull' | 'not_null';

/** `AND` (default) or `OR`: how a filter joins the one before it (§5.1). */
export type LogicOperator = 'AND' | 'OR' | 'and' | 'or';

/** One condition on one column of `T`; `value` must fit that column (an array for `in`/`between`). */
export type Condition<T> = {
  [K in Column<T>]: {
    column: K;
    operator: Operator;
    value?: T[K] | readonly T[K][] | null;
    logic_operator?: LogicOperator;
  };
}[Column<T>];

/** A filter item: a condition, or an `or`/`and` group of items (§5.1). */
export type Filter<T> =
  | Condition<T>
  | { or: readonly Filter<T>[]; logic_operator?: LogicOperator }
  | { and: readonly Filter<T>[]; logic_operator?: LogicOperator };

/** One sort key (§5.4). */
export interface Sort<T> {
  column: Column<T>;
  direction?: 'asc' | 'desc';
}

/** Settings every request takes. */
export interface RequestSettings {
  /** Reply deadline in milliseconds (default: the client's `timeout`). */
  timeout?: number;
  /** Schema, needed only when the entity name exists in several schemas. */
  schema?: string;
}

/** Projection options (§5.5). */
export interface Projection<T> {
  /** Return only these columns (the primary key always comes along). */
  columns?: readonly Column<T>[];
  /** Return all but these columns. */
  omit_columns?: readonly Column<T>[];
}

/** Options of a read of one record. */
export interface ReadOneOptions<T> extends RequestSettings, Projection<T> {
  /** Conditions the record must also satisfy, else `not_found`. */
  filters?: readonly Filter<T>[];
}

/** Options of a read of many records (§5). */
export interface ReadOptions<T> extends RequestSettings, Projection<T> {
  filters?: readonly Filter<T>[];
  sort?: readonly Sort<T>[];
  limit?: number;
  offset?: number;
  /** `exact` (default) or `none` (skips the count; `metadata.total` is then absent). */
  count?: 'exact' | 'none';
  cursor_after?: string;
  cursor_before?: string;
}

/** `metadata` of a read reply (§4.1, §4.2). */
export interface ReadMetadata {
  total?: number;
  count: number;
  limit?: number;
  offset?: number;
  next_cursor?: string | null;
  prev_cursor?: string | null;
}

/** What a read resolves to: `data` (one record or a page) and the reply's `metadata`. */
export interface ReadResult<D> {
  data: D;
  metadata: ReadMetadata;
}

/** The reply of a delete (§4.5). */
export interface DeleteResult {
  deleted: boolean;
  /** The deleted record's key, with the key's JSON type. */
  id: RecordId;
}

/** Column types as `meta` names them (§3.1). */
export type ColumnType = 'integer' | 'float' | 'boolean' | 'text' | 'timestamp' | 'date' | 'uuid' | 'json';

/** One column in a `meta` reply (§4.6). */
export interface ColumnMeta {
  name: string;
  /** One of {@link ColumnType}; a newer server may name others. */
  type: ColumnType | (string & {});
  nullable: boolean;
  primary_key: boolean;
  filterable: boolean;
  sortable: boolean;
  read_only: boolean;
  generated: boolean;
  operators: string[];
}

/** One entity in a `meta` reply (§4.6). */
export interface EntityMeta {
  schema: string;
  entity: string;
  table_name: string;
  primary_key: string;
  operations: { read: boolean; create: boolean; update: boolean; delete: boolean };
  columns: ColumnMeta[];
}

/** How a change relates to a subscription's filters (§7). */
export type Scope = 'enter' | 'stay' | 'leave';

/** A change, as a subscription handler receives it. */
export interface Notification<T> {
  /** The write that caused it. */
  operation: 'create' | 'update' | 'delete';
  /** `enter`: the row now matches; `stay`: it matched and still does; `leave`: drop it. */
  scope: Scope;
  /** Position in the subscription, gapless from 1 (a resync starts a new subscription at 1). */
  seq: number;
  /** The new row (the deleted row for a delete), shaped by the subscription's projection. */
  data: T;
  subscriptionId: string;
  entity: string;
  schema: string;
  timestamp: string;
}

/** Options of {@link MqttspecClient.subscribe}. */
export interface SubscribeOptions<T> extends RequestSettings, Projection<T> {
  /** Only changes of rows that match (before or after the change) are sent. */
  filters?: readonly Filter<T>[];
  /** Narrows the subscription to one record. */
  recordId?: RecordId;
  /**
   * Continue a subscription of an earlier connection or client instance with the same client id
   * (PROTOCOL §7.1), from `afterSeq` on. When the server no longer has it, the client subscribes anew
   * and reports a `resync` event.
   */
  resume?: { subscriptionId: string; afterSeq: number };
  /** Called when changes may have been missed and the subscription started over: re-read then. */
  onResync?: (event: ResyncEvent) => void;
}

/** Reported when a subscription could not be continued without a hole and was started anew. */
export interface ResyncEvent {
  entity: string;
  /** The subscription id that ended. */
  previousId: string;
  /** Its last delivered `seq`. */
  lastSeq: number;
  /** The new subscription id (its `seq` counts from 1), or undefined when subscribing anew failed. */
  newId?: string;
  /** Why: the server's message. */
  reason: string;
}

/** The request envelope (§2), for {@link MqttspecClient.request}. `id` and `type` are filled in. */
export interface RequestEnvelope {
  type?: 'request' | 'subscription' | 'ping';
  operation?: string;
  schema?: string;
  entity?: string;
  record_id?: RecordId;
  data?: unknown;
  options?: Record<string, unknown>;
  subscription_id?: string;
  [key: string]: unknown;
}

/** A successful reply as the server sends it (§4). */
export interface ReplyEnvelope {
  id: string;
  type: 'response' | 'pong';
  success: true;
  data?: unknown;
  metadata?: Record<string, unknown>;
  timestamp?: string;
}
