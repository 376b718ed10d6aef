// SPDX-License-Identifier: Apache-2.0
// The pure half of a STUN server (RFC 8489 section 6.3): a datagram and its source in, the answer out.
// Binding requests get a success response with the source as XOR-MAPPED-ADDRESS; a request with an
// unknown comprehension-required attribute gets 420 (section 6.3.1); indications, responses and
// anything that is not STUN get nothing (undefined), never an exception.
import {
  BINDING_REQUEST,
  createBindingError,
  createBindingSuccess,
  parseStun,
  type TransportAddress,
  unknownRequiredAttributes,
} from './message.js';

export type StunVerdict =
  | { kind: 'answer'; response: Uint8Array }
  | { kind: 'drop'; reason: 'malformed' | 'not-a-request' };

export function answerBinding(datagram: Uint8Array, from: TransportAddress, software?: string): StunVerdict {
  const msg = parseStun(datagram);
  if (typeof msg === 'string') return { kind: 'drop', reason: 'malformed' };
  if (msg.type !== BINDING_REQUEST) return { kind: 'drop', reason: 'not-a-request' };
  const unknown = unknownRequiredAttributes(msg);
  if (unknown.length > 0) {
    return {
      kind: 'answer',
      response: createBindingError(msg.transactionId, 420, 'Unknown Attribute', unknown),
    };
  }
  const response = createBindingSuccess(msg.transactionId, from, software);
  return response ? { kind: 'answer', response } : { kind: 'drop', reason: 'malformed' };
}
