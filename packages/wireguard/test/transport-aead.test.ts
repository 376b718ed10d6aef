// SPDX-License-Identifier: Apache-2.0
// The transport AEAD has two implementations (OpenSSL through @nexodus/native, sodium-native as the
// fallback); they must agree bit for bit, since a peer may run either.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { loadBinding } from '@nexodus/native';
import { openInPlace, sealInPlace, transportAead, transportAeads } from '../src/crypto.js';

describe('transport AEAD', () => {
  test('Linux uses OpenSSL through @nexodus/native (sodium-native is the fallback)', () => {
    assert.equal(transportAead, process.platform === 'linux' ? 'openssl' : 'sodium');
    assert.equal(sealInPlace === transportAeads.sodium.seal, transportAead === 'sodium');
    assert.equal(openInPlace === transportAeads.sodium.open, transportAead === 'sodium');
  });

  test("on Node 20's OpenSSL the addon composes the AEAD from the exported primitives (checked against EVP)", () => {
    const native = loadBinding().binding;
    assert.ok(native);
    assert.equal(native.aeadPath(), 'primitives');
  });

  test('OpenSSL and sodium seal to the same bytes and open each other, at every size that matters', () => {
    const ssl = transportAeads.openssl;
    assert.ok(ssl, 'the OpenSSL implementation is built');
    const sodium = transportAeads.sodium;
    for (const len of [0, 1, 15, 16, 17, 63, 64, 65, 255, 1420, 1424, 2000, 65519]) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const plain = randomBytes(len);
      const a = Uint8Array.from(plain);
      const b = Uint8Array.from(plain);
      const tagA = new Uint8Array(16);
      const tagB = new Uint8Array(16);
      ssl.seal(key, nonce, a, tagA);
      sodium.seal(key, nonce, b, tagB);
      assert.deepEqual([a, tagA], [b, tagB], `sealed ${len} bytes`);
      assert.equal(ssl.open(key, nonce, b, tagB), true);
      assert.deepEqual(b, new Uint8Array(plain));
      assert.equal(sodium.open(key, nonce, a, tagA), true);
      assert.deepEqual(a, new Uint8Array(plain));
    }
  });

  test('a flipped bit in the ciphertext, the tag, the nonce or the key fails to open in both', () => {
    const ssl = transportAeads.openssl!;
    for (const impl of [ssl, transportAeads.sodium]) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const sealed = randomBytes(1424);
      const tag = new Uint8Array(16);
      impl.seal(key, nonce, sealed, tag);
      const cases: [string, (c: { key: Buffer; nonce: Buffer; buf: Buffer; tag: Buffer }) => void][] = [
        ['ciphertext', (c) => (c.buf[700] ^= 1)],
        ['tag', (c) => (c.tag[15] ^= 0x80)],
        ['nonce', (c) => (c.nonce[0] ^= 1)],
        ['key', (c) => (c.key[31] ^= 1)],
      ];
      for (const [what, flip] of cases) {
        const c = {
          key: Buffer.from(key),
          nonce: Buffer.from(nonce),
          buf: Buffer.from(sealed),
          tag: Buffer.from(tag),
        };
        flip(c);
        assert.equal(impl.open(c.key, c.nonce, c.buf, c.tag), false, `flipped ${what}`);
      }
      // ...and the untouched packet still opens after the failures (no state left behind).
      assert.equal(impl.open(key, nonce, Buffer.from(sealed), Buffer.from(tag)), true);
    }
  });

  test('wrong key, nonce or tag sizes are a TypeError, never a read past a buffer', () => {
    const ssl = transportAeads.openssl!;
    const isArgs = (e: unknown) =>
      e instanceof TypeError && (e as { code?: string }).code === 'NATIVE_ERR_ARGS';
    const buf = new Uint8Array(64);
    assert.throws(() => ssl.seal(new Uint8Array(16), new Uint8Array(12), buf, new Uint8Array(16)), isArgs);
    assert.throws(() => ssl.seal(new Uint8Array(32), new Uint8Array(8), buf, new Uint8Array(16)), isArgs);
    assert.throws(() => ssl.open(new Uint8Array(32), new Uint8Array(12), buf, new Uint8Array(15)), isArgs);
    assert.throws(
      () => ssl.open(new Uint8Array(32), new Uint8Array(12), [1, 2] as never, new Uint8Array(16)),
      isArgs,
    );
  });
});
