// SPDX-License-Identifier: Apache-2.0
// Public surface of @nexodus/wireguard: the pure core, keys, errors, constants and the Node binding.
export {
  DEFAULT_TIMERS,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_KEEPALIVE_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  REPLAY_WINDOW_SIZE,
  type TimerConstants,
} from './constants.js';
export type { DeviceOutput, DropCounters, SendDropCounters } from './context.js';
export { tcpChecksumOffloadAvailable, transportAead, transportAeads } from './crypto.js';
export {
  type DeviceOptions,
  type PeerConfig,
  type PeerStatus,
  type PeerStatusKey,
  type PeerUpdate,
  WireGuardDevice,
} from './device.js';
export type { BindEvent, EndpointEvent, HandshakeEvent, KeypairEvent } from './diagnostics.js';
export { WireGuardError, type WireGuardErrorCode } from './errors.js';
export { decodeKey, encodeKey, generatePrivateKey, publicKeyFromPrivate } from './keys.js';
export { type NodeOptions, type NodeSendDropCounters, WireGuardNode } from './node/udp-binding.js';
export type { Endpoint } from './peer.js';
export type { SendResult } from './send.js';
