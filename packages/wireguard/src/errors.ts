// SPDX-License-Identifier: Apache-2.0
// Typed errors for the library's API boundary. Packet input never throws: it counts drops instead.

export type WireGuardErrorCode =
  | 'WG_ERR_BAD_KEY' // a key is not 32 bytes / not 44 characters of base64
  | 'WG_ERR_BAD_CIDR' // an allowed-IPs entry is not `address/prefix`
  | 'WG_ERR_BAD_ENDPOINT' // an endpoint is not an IP literal with a port 1..65535
  | 'WG_ERR_DUPLICATE_PEER' // addPeer with a public key already present
  | 'WG_ERR_UNKNOWN_PEER' // updatePeer/removePeer with a public key that is not present
  | 'WG_ERR_BAD_CONFIG' // other invalid device options
  | 'WG_ERR_BIND'; // the Node binding could not open its UDP sockets

export class WireGuardError extends Error {
  readonly code: WireGuardErrorCode;
  constructor(code: WireGuardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WireGuardError';
    this.code = code;
  }
}
