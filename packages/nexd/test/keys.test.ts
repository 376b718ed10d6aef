// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { decodeKey, derivePublicKey, generateKeyPair, keyPairFromPrivate, loadKeys } from '../src/keys.js';
import { FileStateStore } from '../src/state/file-store.js';
import { tempDir } from './helpers.js';

// RFC 7748 section 6.1 test vector (Alice).
const ALICE_PRIVATE = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
const ALICE_PUBLIC = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';

function hasWg(): boolean {
  try {
    execFileSync('wg', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('key material', () => {
  test('derivePublicKey matches the RFC 7748 known answer', () => {
    assert.equal(derivePublicKey(ALICE_PRIVATE).toString('hex'), ALICE_PUBLIC);
  });

  test('generated private keys are clamped and their public keys match wg pubkey', (t) => {
    const kp = generateKeyPair();
    const priv = decodeKey(kp.privateKey, 'k');
    assert.equal(priv[0] & 7, 0);
    assert.equal(priv[31] & 128, 0);
    assert.equal(priv[31] & 64, 64);
    assert.notEqual(generateKeyPair().privateKey, kp.privateKey);
    if (!hasWg()) return t.skip('wireguard-tools not installed');
    const wgPub = execFileSync('wg', ['pubkey'], { input: `${kp.privateKey}\n` })
      .toString()
      .trim();
    assert.equal(kp.publicKey, wgPub);
  });

  test('bad key text is a KeyError naming the source', () => {
    for (const bad of ['', 'abc', 'A'.repeat(43), `${'A'.repeat(43)}=x`, '!!!!']) {
      assert.throws(() => keyPairFromPrivate(bad, '/private.key'), {
        code: 'NEX_ERR_KEYS',
        message: /\/private\.key is not a WireGuard key: expected 44 characters of base64/,
      });
    }
  });
});

describe('loadKeys', () => {
  let dir: { path: string; remove(): Promise<void> };
  let store: FileStateStore;
  let paths: { mountedPrivateKey: string; mountedPublicKey: string };
  beforeEach(async () => {
    dir = await tempDir();
    store = new FileStateStore(join(dir.path, 'state'));
    paths = {
      mountedPrivateKey: join(dir.path, 'private.key'),
      mountedPublicKey: join(dir.path, 'public.key'),
    };
  });
  afterEach(() => dir.remove());

  test('first start generates keys and stores them; the second start reads them back', async () => {
    const first = await loadKeys(store, paths);
    assert.equal(first.source, 'generated');
    const state = await store.load();
    assert.equal(state.privateKey, first.keys.privateKey);
    const second = await loadKeys(new FileStateStore(join(dir.path, 'state')), paths);
    assert.equal(second.source, 'state');
    assert.deepEqual(second.keys, first.keys);
  });

  test('mounted /private.key + /public.key win over the state store (scenario Secret)', async () => {
    await loadKeys(store, paths);
    const kp = generateKeyPair();
    await writeFile(paths.mountedPrivateKey, `${kp.privateKey}\n`);
    await writeFile(paths.mountedPublicKey, `${kp.publicKey}\n`);
    const got = await loadKeys(store, paths);
    assert.equal(got.source, 'mounted-files');
    assert.deepEqual(got.keys, kp);
  });

  test('a mounted public key that does not match the private key is refused', async () => {
    await writeFile(paths.mountedPrivateKey, generateKeyPair().privateKey);
    await writeFile(paths.mountedPublicKey, generateKeyPair().publicKey);
    await assert.rejects(loadKeys(store, paths), { code: 'NEX_ERR_KEYS', message: /does not belong to/ });
  });

  test('--private-key-file wins over everything and must exist', async () => {
    const kp = generateKeyPair();
    const file = join(dir.path, 'wg.key');
    await writeFile(file, kp.privateKey);
    await writeFile(paths.mountedPrivateKey, generateKeyPair().privateKey);
    const got = await loadKeys(store, { ...paths, privateKeyFile: file });
    assert.equal(got.source, 'private-key-file');
    assert.deepEqual(got.keys, kp);
    await assert.rejects(loadKeys(store, { ...paths, privateKeyFile: join(dir.path, 'missing.key') }), {
      code: 'NEX_ERR_KEYS',
      message: /missing\.key does not exist/,
    });
  });

  test('a corrupt state store is reported, not replaced by new keys', async () => {
    await store.save({ version: 1, proxyRules: [] });
    await writeFile(store.location, '{"version":1,"privateKey":');
    await assert.rejects(loadKeys(store, paths), { code: 'NEX_ERR_STATE_CORRUPT' });
  });
});
