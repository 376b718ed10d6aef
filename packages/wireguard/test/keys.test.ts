// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  decodeKey,
  encodeKey,
  generatePrivateKey,
  publicKeyFromPrivate,
  WireGuardError,
} from '../src/index.js';
import { seededRandom } from '../src/testing/memory-bind.js';

const WG = '/usr/bin/wg';
const noWg = existsSync(WG) ? false : 'wireguard-tools (/usr/bin/wg) not installed';

describe('keys', () => {
  test('generated private keys are clamped like X25519 scalars', () => {
    const r = seededRandom(3);
    for (let i = 0; i < 50; i++) {
      const k = generatePrivateKey(r);
      assert.equal(k.length, 32);
      assert.equal(k[0] & 7, 0);
      assert.equal(k[31] & 0x80, 0);
      assert.equal(k[31] & 0x40, 0x40);
    }
  });

  test('encodeKey/decodeKey round-trip as 44-character base64', () => {
    const k = generatePrivateKey(seededRandom(4));
    const s = encodeKey(k);
    assert.match(s, /^[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(decodeKey(s), k);
  });

  test('decodeKey rejects bad input with WG_ERR_BAD_KEY and says what it expected', () => {
    for (const bad of ['', 'abc', `${'A'.repeat(43)}`, `${'A'.repeat(42)}B=`, `${'A'.repeat(44)}=`, '!!!!']) {
      assert.throws(
        () => decodeKey(bad),
        (e: unknown) =>
          e instanceof WireGuardError && e.code === 'WG_ERR_BAD_KEY' && /44 characters/.test(e.message),
        bad,
      );
    }
  });

  test('publicKeyFromPrivate rejects a wrong-length key', () => {
    assert.throws(() => publicKeyFromPrivate(new Uint8Array(31)), { code: 'WG_ERR_BAD_KEY' });
  });

  test('public keys equal `wg pubkey`, for `wg genkey` keys and ours', { skip: noWg }, () => {
    const keys = [
      execFileSync(WG, ['genkey'], { encoding: 'utf8' }).trim(),
      execFileSync(WG, ['genkey'], { encoding: 'utf8' }).trim(),
      encodeKey(generatePrivateKey(seededRandom(5))),
    ];
    for (const priv of keys) {
      const expected = execFileSync(WG, ['pubkey'], { input: `${priv}\n`, encoding: 'utf8' }).trim();
      assert.equal(encodeKey(publicKeyFromPrivate(decodeKey(priv))), expected);
    }
  });

  test('an unclamped private key gives the same public key as wg (which clamps)', { skip: noWg }, () => {
    const raw = new Uint8Array(32).fill(0xff);
    const expected = execFileSync(WG, ['pubkey'], { input: `${encodeKey(raw)}\n`, encoding: 'utf8' }).trim();
    assert.equal(encodeKey(publicKeyFromPrivate(raw)), expected);
  });
});
