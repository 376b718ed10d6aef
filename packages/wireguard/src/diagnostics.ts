// SPDX-License-Identifier: Apache-2.0
// Observability through node:diagnostics_channel (as undici does): the core publishes events, never
// logs. Subscribe with `diagnostics_channel.subscribe('wireguard:handshake', fn)`. Messages are only
// built when someone listens, and never per transport packet.
import diagnostics from 'node:diagnostics_channel';

export interface HandshakeEvent {
  peer: string;
  /** 'initiation-sent' | 'initiation-received' | 'response-sent' | 'complete' | 'gave-up' | 'cookie-received' */
  event:
    | 'initiation-sent'
    | 'initiation-received'
    | 'response-sent'
    | 'complete'
    | 'gave-up'
    | 'cookie-received';
  /** Retransmission count for 'initiation-sent', i.e. 0 for the first. */
  attempt?: number;
  now: number;
}

export interface EndpointEvent {
  peer: string;
  endpoint: { address: string; port: number };
  now: number;
}

export interface KeypairEvent {
  peer: string;
  event: 'installed' | 'confirmed' | 'zeroed';
  isInitiator?: boolean;
  now: number;
}

export interface BindEvent {
  family: 4 | 6;
  port: number;
  /** Receive/send buffer sizes the kernel granted (bytes), after asking for `requested`. */
  recvBufferBytes: number;
  sendBufferBytes: number;
  requested: number;
}

export const handshakeChannel = diagnostics.channel('wireguard:handshake');
export const endpointChannel = diagnostics.channel('wireguard:endpoint');
export const keypairChannel = diagnostics.channel('wireguard:keypair');
export const bindChannel = diagnostics.channel('wireguard:bind');

export function publishHandshake(
  peer: string,
  event: HandshakeEvent['event'],
  now: number,
  attempt?: number,
): void {
  if (handshakeChannel.hasSubscribers)
    handshakeChannel.publish({ peer, event, now, attempt } satisfies HandshakeEvent);
}

export function publishKeypair(
  peer: string,
  event: KeypairEvent['event'],
  now: number,
  isInitiator?: boolean,
): void {
  if (keypairChannel.hasSubscribers)
    keypairChannel.publish({ peer, event, isInitiator, now } satisfies KeypairEvent);
}
