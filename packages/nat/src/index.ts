// SPDX-License-Identifier: Apache-2.0
// NAT traversal: STUN (RFC 8489) Binding codec, responder and client; DERP relay server and client.
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
