/** Error codes the server sends (PROTOCOL §6). */
export type ServerErrorCode =
  | 'invalid_message'
  | 'invalid_message_type'
  | 'invalid_operation'
  | 'model_not_found'
  | 'validation_error'
  | 'not_found'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'hook_error'
  | 'subscription_not_found'
  | 'too_many_subscriptions'
  | 'resync_required'
  | 'unavailable'
  | 'internal_error';

/**
 * Error codes the client itself produces:
 * - `timeout`: no reply within the request's timeout (or no connection within the connect timeout);
 * - `closed`: the client was closed while the request waited;
 * - `connect_failed`: the first connection was refused (bad credentials, not authorized, unreachable);
 * - `bad_reply`: a reply that is not JSON, not an object or lacks required keys;
 * - `unexpected_reply`: a reply for an id the client is not waiting for;
 * - `bad_notification`: a notification that cannot be read or names no known subscription;
 * - `oversized`: an incoming payload over `maxPayload`;
 * - `too_large`: a request larger than the server's Maximum Packet Size (it was not sent);
 * - `handler_error`: a subscription handler or event listener threw (the client carries on);
 * - `mqtt_error`: an error of the MQTT connection.
 */
export type ClientErrorCode =
  | 'timeout'
  | 'closed'
  | 'connect_failed'
  | 'bad_reply'
  | 'unexpected_reply'
  | 'bad_notification'
  | 'oversized'
  | 'too_large'
  | 'handler_error'
  | 'mqtt_error';

/** Every code an {@link MqttspecError} may carry; unknown server codes pass through as strings. */
export type ErrorCode = ServerErrorCode | ClientErrorCode | (string & {});

/** An error of a request, as the server phrased it (`code`, `message`, `details`), or of the client. */
export class MqttspecError extends Error {
  /** The protocol's error code (PROTOCOL §6) or a {@link ClientErrorCode}. */
  readonly code: ErrorCode;
  /** Structured extras from the server, e.g. `{ column: "email" }` or `{ index: 2 }`. */
  readonly details?: Record<string, unknown>;
  /** The `id` of the request this error answers, when there is one. */
  readonly requestId?: string;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, requestId?: string) {
    super(message);
    this.name = 'MqttspecError';
    this.code = code;
    if (details !== undefined) this.details = details;
    if (requestId !== undefined) this.requestId = requestId;
  }
}
