// SPDX-License-Identifier: Apache-2.0
// TX checksum offload: sealInPlace(..., true) fills the TCP checksum of the IP packet it seals. Checked
// against RFC 1071 written out here, on IPv4 (with options) and IPv6, odd lengths and padded buffers;
// what is not a whole TCP segment (UDP, fragments, garbage) is sealed untouched.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { loadBinding, type NativeBinding } from '../src/index.js';

const native = loadBinding().binding as NativeBinding;

/** RFC 1071 over big-endian 16-bit words, pseudo-header included; 0 when the segment verifies. */
function tcpChecksumResidue(packet: Uint8Array): number {
  const v4 = packet[0] >> 4 === 4;
  const hl = v4 ? (packet[0] & 15) * 4 : 40;
  const total = v4 ? (packet[2] << 8) | packet[3] : 40 + ((packet[4] << 8) | packet[5]);
  const len = total - hl;
  const words: number[] = [];
  const add = (b: Uint8Array) => {
    for (let i = 0; i < b.length; i += 2) words.push((b[i] << 8) | (i + 1 < b.length ? b[i + 1] : 0));
  };
  add(v4 ? packet.subarray(12, 20) : packet.subarray(8, 40));
  words.push(6, len >>> 16, len & 0xffff);
  add(packet.subarray(hl, total));
  let sum = words.reduce((a, b) => a + b, 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Tcp(payload: number, options = 0, protocol = 6, fragment = 0): Uint8Array {
  const hl = 20 + options;
  const p = new Uint8Array(randomBytes(hl + 20 + payload));
  p[0] = 0x40 | (hl / 4);
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[6] = fragment >> 8;
  p[7] = fragment & 0xff;
  p[9] = protocol;
  p[hl + 12] = 5 << 4;
  return p;
}

function ipv6Tcp(payload: number): Uint8Array {
  const p = new Uint8Array(randomBytes(40 + 20 + payload));
  p[0] = 0x60;
  p[4] = (20 + payload) >> 8;
  p[5] = (20 + payload) & 0xff;
  p[6] = 6;
  return p;
}

/** Seals `packet` (padded to `pad` more bytes) with offload, opens it again, returns the plaintext. */
function roundTrip(packet: Uint8Array, pad = 0): Uint8Array {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const buf = new Uint8Array(packet.length + pad);
  buf.set(packet);
  const tag = new Uint8Array(16);
  native.sealInPlace(key, nonce, buf, tag, true);
  assert.equal(native.openInPlace(key, nonce, buf, tag), true);
  return buf.subarray(0, packet.length);
}

describe('TCP checksum offload in sealInPlace', {
  skip: process.platform !== 'linux' && 'Linux only',
}, () => {
  test('IPv4 (with and without options) and IPv6 segments of every parity get a checksum that verifies', () => {
    for (const payload of [0, 1, 2, 3, 511, 1367, 1368, 1380]) {
      for (const packet of [ipv4Tcp(payload), ipv4Tcp(payload, 12), ipv6Tcp(payload)]) {
        const before = packet.slice();
        const out = roundTrip(packet, 13);
        assert.equal(tcpChecksumResidue(out), 0, `v${packet[0] >> 4} payload ${payload}`);
        // Nothing but the two checksum bytes changed.
        const hl = packet[0] >> 4 === 4 ? (packet[0] & 15) * 4 : 40;
        out[hl + 16] = before[hl + 16];
        out[hl + 17] = before[hl + 17];
        assert.deepEqual(out, before);
      }
    }
  });

  test('UDP, fragments, truncated headers and non-IP bytes are sealed untouched', () => {
    const cases = [
      ipv4Tcp(100, 0, 17), // UDP
      ipv4Tcp(100, 0, 6, 0x2000), // more fragments
      ipv4Tcp(100, 0, 6, 0x0010), // a later fragment
      ipv4Tcp(0).subarray(0, 30), // shorter than its total length says
      new Uint8Array(randomBytes(64)).fill(0x00, 0, 1), // version 0
    ];
    for (const packet of cases) {
      const before = packet.slice();
      assert.deepEqual(roundTrip(packet), before);
    }
  });

  test('without the flag (the default) the checksum field is sealed as given', () => {
    const packet = ipv4Tcp(200);
    packet[36] = 0xab;
    packet[37] = 0xcd;
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const tag = new Uint8Array(16);
    const buf = packet.slice();
    native.sealInPlace(key, nonce, buf, tag);
    assert.equal(native.openInPlace(key, nonce, buf, tag), true);
    assert.deepEqual(buf, packet);
  });
});
