// SPDX-License-Identifier: Apache-2.0
// DERP framing, the wire protocol of Tailscale's relay (derp/derp.go in tailscale.com, protocol version
// 2): after an HTTP/1.1 upgrade (`Upgrade: DERP`), both sides exchange frames of
//   type (1 byte) | length (4 bytes, big endian) | payload (length bytes).
// Login: server -> ServerKey (magic + its key), client -> ClientInfo (its key + NaCl box of JSON),
// server -> ServerInfo (NaCl box of JSON). Then SendPacket (dst key + data) from clients, RecvPacket
// (src key + data) to them, KeepAlive, Ping/Pong, PeerGone. Keys are Curve25519 public keys, 32 bytes:
// for a WireGuard device its WireGuard key, so the relay addresses peers by the key they already know.
// The reader is a streaming parser with a bound on the frame size; bad input is an error result, never
// an exception, and the connection is then closed.

// --- specification -------------------------------------------------------------------------------
export const DERP_MAGIC = new Uint8Array([0x44, 0x45, 0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91]); // "DERP🔑"
export const DERP_PROTOCOL_VERSION = 2;
export const FRAME_HEADER_SIZE = 5;
export const KEY_SIZE = 32;
export const NONCE_SIZE = 24;
/** Largest packet a client may relay (derp.MaxPacketSize). */
export const MAX_PACKET_SIZE = 64 * 1024;
/** Largest ClientInfo/ServerInfo JSON (derp.MaxInfoLen). */
export const MAX_INFO_SIZE = 1024 * 1024;

export const FRAME_SERVER_KEY = 0x01; // 8B magic + 32B public key (+ future use)
export const FRAME_CLIENT_INFO = 0x02; // 32B public key + 24B nonce + box(json)
export const FRAME_SERVER_INFO = 0x03; // 24B nonce + box(json)
export const FRAME_SEND_PACKET = 0x04; // 32B destination key + packet
export const FRAME_RECV_PACKET = 0x05; // 32B source key + packet
export const FRAME_KEEP_ALIVE = 0x06; // no payload
export const FRAME_NOTE_PREFERRED = 0x07; // 1 byte: this is the client's home relay
export const FRAME_PEER_GONE = 0x08; // 32B key + 1 byte reason
export const FRAME_PEER_PRESENT = 0x09;
export const FRAME_FORWARD_PACKET = 0x0a;
export const FRAME_WATCH_CONNS = 0x10;
export const FRAME_CLOSE_PEER = 0x11;
export const FRAME_PING = 0x12; // 8 bytes, echoed in a pong
export const FRAME_PONG = 0x13;
export const FRAME_HEALTH = 0x14;
export const FRAME_RESTARTING = 0x15;

/** PeerGone reasons. */
export const PEER_GONE_DISCONNECTED = 0x00;
export const PEER_GONE_NOT_HERE = 0x01;

export const PING_SIZE = 8;

// --- implementation ------------------------------------------------------------------------------
export interface Frame {
  type: number;
  /** A view valid until the next push() (copy to keep it). */
  payload: Uint8Array;
}

/** Writes one frame's header and payload into a new buffer (one write per frame on the socket). */
export function encodeFrame(type: number, ...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(FRAME_HEADER_SIZE + len);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, len);
  let off = FRAME_HEADER_SIZE;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames found (views into an internal
 * buffer, valid until the next push) or 'too-large' when a header announces more than `maxFrame`.
 */
export class FrameReader {
  #buf = new Uint8Array(64 * 1024);
  #len = 0;

  constructor(private readonly maxFrame: number) {}

  push(chunk: Uint8Array): Frame[] | 'too-large' {
    this.#compact();
    if (this.#len + chunk.length > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + chunk.length));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(chunk, this.#len);
    this.#len += chunk.length;
    const frames: Frame[] = [];
    let off = this.#start;
    while (this.#len - off >= FRAME_HEADER_SIZE) {
      const b = this.#buf;
      const len = ((b[off + 1] << 24) | (b[off + 2] << 16) | (b[off + 3] << 8) | b[off + 4]) >>> 0;
      if (len > this.maxFrame) return 'too-large';
      if (this.#len - off < FRAME_HEADER_SIZE + len) break;
      frames.push({
        type: b[off],
        payload: b.subarray(off + FRAME_HEADER_SIZE, off + FRAME_HEADER_SIZE + len),
      });
      off += FRAME_HEADER_SIZE + len;
    }
    this.#start = off;
    return frames;
  }

  #start = 0;

  /** Drops consumed bytes: they were handed out by the previous push, whose views end now. */
  #compact(): void {
    if (this.#start === 0) return;
    this.#buf.copyWithin(0, this.#start, this.#len);
    this.#len -= this.#start;
    this.#start = 0;
  }
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
