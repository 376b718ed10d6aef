// SPDX-License-Identifier: Apache-2.0
// Known-answer tests of the handshake primitives and of whole handshakes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KEY_SIZE, MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE_SIZE, TAI64N_SIZE } from '../src/constants.js';
import { CookieChecker, CookieGenerator } from '../src/cookie.js';
import { hash, hmacBlake2s, kdf, mac } from '../src/crypto.js';
import { clampPrivateKey } from '../src/keys.js';
import {
  beginSymmetricSession,
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  Handshake,
  localStatic,
} from '../src/noise.js';
import { tai64n, tai64nAfter } from '../src/tai64n.js';
import { seededRandom } from '../src/testing/memory-bind.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const ascii = (s: string) => new TextEncoder().encode(s);

describe('primitives', () => {
  test('HASH is BLAKE2s-256 (RFC 7693 appendix B "abc")', () => {
    assert.equal(hex(hash(ascii('abc'))), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });

  test('HASH of several parts equals HASH of their concatenation', () => {
    assert.equal(hex(hash(ascii('ab'), ascii('c'))), hex(hash(ascii('abc'))));
  });

  test('MAC is keyed BLAKE2s with 16-byte output (BLAKE2 KAT key 00..1f, empty input)', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    assert.equal(hex(mac(key, new Uint8Array(0))), '9536f9b267655743dee97b8a670f9f53');
  });

  test('KDF1/2/3 match the vectors used by wireguard-go kdf_test.go', () => {
    const vectors = [
      {
        key: '746573742d6b6579',
        input: '746573742d696e707574',
        t: [
          '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633',
          'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a',
          'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24',
        ],
      },
      {
        key: '776972656775617264',
        input: '776972656775617264',
        t: [
          '491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8',
          '1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f',
          '31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160',
        ],
      },
      {
        key: '',
        input: '',
        t: [
          '8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0',
          '58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e',
          '0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e',
        ],
      },
    ];
    for (const v of vectors) {
      const [k1] = kdf(1, unhex(v.key), unhex(v.input));
      const [a2, b2] = kdf(2, unhex(v.key), unhex(v.input));
      const out3 = kdf(3, unhex(v.key), unhex(v.input));
      assert.equal(hex(k1), v.t[0]);
      assert.deepEqual([hex(a2), hex(b2)], v.t.slice(0, 2));
      assert.deepEqual(out3.map(hex), v.t);
    }
  });

  test('HMAC-BLAKE2s: KDF1 output is HMAC(HMAC(key, input), 0x01)', () => {
    const t0 = hmacBlake2s(ascii('test-key'), ascii('test-input'));
    assert.equal(
      hex(hmacBlake2s(t0, Uint8Array.of(1))),
      '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633',
    );
  });

  test('TAI64N: 2^62 + 10 + seconds, big-endian, nanoseconds whitened to 2^24 ns', () => {
    const t = tai64n(1_000_000_000_123);
    assert.equal(t.length, TAI64N_SIZE);
    const dv = new DataView(t.buffer);
    assert.equal(dv.getUint32(0), 0x40000000);
    assert.equal(dv.getUint32(4), 1_000_000_000 + 10);
    assert.equal(dv.getUint32(8), 123_000_000 - (123_000_000 % 0x1000000));
    assert.ok(tai64nAfter(tai64n(1_000_000_001_000), t));
    assert.ok(!tai64nAfter(t, t));
    assert.ok(!tai64nAfter(tai64n(1_000_000_000_120), t), 'inside one whitening step the stamps are equal');
  });
});

interface Fixture {
  si: Uint8Array;
  sr: Uint8Array;
  ei: Uint8Array;
  er: Uint8Array;
  psk: Uint8Array;
}

function fixture(seed: number, withPsk: boolean): Fixture {
  const r = seededRandom(seed);
  const key = () => {
    const k = new Uint8Array(KEY_SIZE);
    r(k);
    return clampPrivateKey(k);
  };
  const psk = new Uint8Array(KEY_SIZE);
  if (withPsk) r(psk);
  return { si: key(), sr: key(), ei: key(), er: key(), psk };
}

describe('handshake between two in-memory parties', () => {
  for (const withPsk of [false, true]) {
    test(`chain key and hash agree after each message (${withPsk ? 'with' : 'without'} preshared key)`, () => {
      const f = fixture(withPsk ? 7 : 8, withPsk);
      const li = localStatic(f.si);
      const lr = localStatic(f.sr);
      const hi = new Handshake(li, lr.publicKey, f.psk);
      const hr = new Handshake(lr, li.publicKey, f.psk);
      const now = 1_700_000_000_000;

      const init = createInitiation(li, hi, 0x11223344, f.ei, now);
      assert.ok(init);
      assert.equal(init.length, MESSAGE_INITIATION_SIZE);
      assert.equal(hi.state, 'initiation-created');
      const consumed = consumeInitiation(
        lr,
        init,
        (k) => (hex(k) === hex(li.publicKey) ? { handshake: hr } : undefined),
        now,
        20,
      );
      assert.equal(consumed.ok, true);
      assert.equal(hr.state, 'initiation-consumed');
      assert.equal(hex(hr.chainKey), hex(hi.chainKey), 'chain key after initiation');
      assert.equal(hex(hr.hash), hex(hi.hash), 'hash after initiation');
      assert.equal(hr.remoteIndex, 0x11223344);

      const resp = createResponse(hr, 0x55667788, f.er);
      assert.ok(resp);
      assert.equal(resp.length, MESSAGE_RESPONSE_SIZE);
      assert.ok(consumeResponse(li, hi, resp));
      assert.equal(hex(hr.chainKey), hex(hi.chainKey), 'chain key after response');
      assert.equal(hex(hr.hash), hex(hi.hash), 'hash after response');
      assert.equal(hi.remoteIndex, 0x55667788);

      const ki = beginSymmetricSession(hi)!;
      const kr = beginSymmetricSession(hr)!;
      assert.equal(ki.isInitiator, true);
      assert.equal(kr.isInitiator, false);
      assert.equal(hex(ki.sendKey), hex(kr.recvKey));
      assert.equal(hex(ki.recvKey), hex(kr.sendKey));
      assert.notEqual(hex(ki.sendKey), hex(ki.recvKey));
      assert.equal(hi.state, 'zeroed');
      assert.equal(hex(hi.chainKey), '00'.repeat(32), 'handshake secrets wiped');
    });
  }

  test('a different preshared key on one side makes the response fail to authenticate', () => {
    const f = fixture(9, true);
    const li = localStatic(f.si);
    const lr = localStatic(f.sr);
    const hi = new Handshake(li, lr.publicKey, f.psk);
    const hr = new Handshake(lr, li.publicKey, new Uint8Array(KEY_SIZE));
    const init = createInitiation(li, hi, 1, f.ei, 1_700_000_000_000)!;
    assert.equal(
      consumeInitiation(lr, init, () => ({ handshake: hr }), 0, 20).ok,
      true,
      'the PSK only enters at the response',
    );
    const resp = createResponse(hr, 2, f.er)!;
    assert.equal(consumeResponse(li, hi, resp), false);
    assert.equal(hi.state, 'initiation-created', 'a failed response changes nothing');
  });

  test('an initiation for another responder key does not decrypt', () => {
    const f = fixture(10, false);
    const li = localStatic(f.si);
    const lr = localStatic(f.sr);
    const other = localStatic(f.er);
    const hi = new Handshake(li, other.publicKey);
    const init = createInitiation(li, hi, 1, f.ei, 1_700_000_000_000)!;
    const r = consumeInitiation(lr, init, () => ({ handshake: new Handshake(lr, li.publicKey) }), 0, 20);
    assert.deepEqual(r, { ok: false, reason: 'decrypt' });
  });

  test('a replayed initiation is stale; a newer one is accepted', () => {
    const f = fixture(11, false);
    const li = localStatic(f.si);
    const lr = localStatic(f.sr);
    const hi = new Handshake(li, lr.publicKey);
    const hr = new Handshake(lr, li.publicKey);
    const lookup = () => ({ handshake: hr });
    const t = 1_700_000_000_000;
    const first = createInitiation(li, hi, 1, f.ei, t)!;
    assert.equal(consumeInitiation(lr, first, lookup, t, 20).ok, true);
    assert.deepEqual(consumeInitiation(lr, first, lookup, t + 5000, 20), { ok: false, reason: 'stale' });
    const older = createInitiation(li, hi, 2, f.ei, t - 1000)!;
    assert.deepEqual(consumeInitiation(lr, older, lookup, t + 5000, 20), { ok: false, reason: 'stale' });
    const newer = createInitiation(li, hi, 3, f.ei, t + 5000)!;
    assert.equal(consumeInitiation(lr, newer, lookup, t + 5000, 20).ok, true);
    assert.equal(hr.remoteIndex, 3);
  });
});

describe('fixed-key known answer, checked by an independent implementation', () => {
  const script = fileURLToPath(new URL('./fixtures/noise_reference.py', import.meta.url));
  const probe = spawnSync('python3', ['-c', 'import cryptography.hazmat.primitives.asymmetric.x25519'], {
    encoding: 'utf8',
  });
  const skip = probe.status !== 0 ? 'python3 with pyca/cryptography not available' : false;

  for (const withPsk of [false, true]) {
    test(`initiation and response bytes equal Python's computation (${withPsk ? 'psk' : 'no psk'})`, {
      skip,
    }, () => {
      const f = fixture(withPsk ? 21 : 22, withPsk);
      const li = localStatic(f.si);
      const lr = localStatic(f.sr);
      const hi = new Handshake(li, lr.publicKey, f.psk);
      const hr = new Handshake(lr, li.publicKey, f.psk);
      const now = 1_700_000_000_500;
      const init = createInitiation(li, hi, 0xa1b2c3d4, f.ei, now)!;
      new CookieGenerator(lr.publicKey, 120_000).addMacs(init, now);
      const initChain = hex(hi.chainKey);
      const initHash = hex(hi.hash);
      assert.equal(new CookieChecker(lr.publicKey, seededRandom(1), 120_000).checkMac1(init), true);
      assert.equal(consumeInitiation(lr, init, () => ({ handshake: hr }), now, 20).ok, true);
      const resp = createResponse(hr, 0x01020304, f.er)!;
      new CookieGenerator(li.publicKey, 120_000).addMacs(resp, now);
      assert.ok(consumeResponse(li, hi, resp));
      const respChain = hex(hi.chainKey);
      const respHash = hex(hi.hash);
      const keys = beginSymmetricSession(hi)!;

      const input = {
        initiator_static: hex(f.si),
        responder_static: hex(f.sr),
        initiator_ephemeral: hex(f.ei),
        responder_ephemeral: hex(f.er),
        psk: hex(f.psk),
        timestamp: hex(tai64n(now)),
        initiator_index: 0xa1b2c3d4,
        responder_index: 0x01020304,
      };
      const r = spawnSync('python3', [script], { input: JSON.stringify(input), encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const ref = JSON.parse(r.stdout);
      assert.equal(hex(init), ref.initiation);
      assert.equal(initChain, ref.initiation_chain_key);
      assert.equal(initHash, ref.initiation_hash);
      assert.equal(hex(resp), ref.response);
      assert.equal(respChain, ref.response_chain_key);
      assert.equal(respHash, ref.response_hash);
      assert.equal(hex(keys.sendKey), ref.initiator_send);
      assert.equal(hex(keys.recvKey), ref.initiator_recv);
    });
  }
});
