// SPDX-License-Identifier: Apache-2.0
// NAT traversal: STUN (RFC 8489) Binding codec, responder and client; DERP relay server and client.

export { openFrom, publicKeyOf, sealTo } from './derp/box.js';
export {
  DERP_CONNECT_TIMEOUT_MS,
  DERP_PING_INTERVAL_MS,
  DERP_PING_TIMEOUT_MS,
  DERP_RECONNECT_MAX_MS,
  DerpClient,
  type DerpClientCounters,
  type DerpClientOptions,
  type DerpClientState,
} from './derp/client.js';
export {
  DERP_MAGIC,
  DERP_PROTOCOL_VERSION,
  encodeFrame,
  equalBytes,
  FrameReader,
  MAX_PACKET_SIZE,
  toHex,
} from './derp/frames.js';
export { DerpServer, type DerpServerCounters, type DerpServerOptions } from './derp/server.js';
export { formatAddress, parseAddress } from './stun/address.js';
export { classifyNat, type NatClassification, StunClient, type StunClientOptions } from './stun/client.js';
export * from './stun/message.js';
export { answerBinding, type StunVerdict } from './stun/responder.js';
export {
  STUN_DEFAULT_PORT,
  StunServer,
  type StunServerCounters,
  type StunServerOptions,
} from './stun/server.js';
