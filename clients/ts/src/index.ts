/**
 * mqttspec client for Node and browsers: typed requests, replies and live subscriptions over MQTT.js.
 * The protocol is described in docs/PROTOCOL.md of the mqttspec repository.
 */
export { connect, MqttspecClient } from './client.js';
export type { ClientEvents, ConnectOptions, ConnectionState, Subscription } from './client.js';
export { MqttspecError } from './errors.js';
export type { ClientErrorCode, ErrorCode, ServerErrorCode } from './errors.js';
export { parseInbound } from './inbound.js';
export type { Inbound, InboundContext, WireNotification } from './inbound.js';
export type * from './types.js';
