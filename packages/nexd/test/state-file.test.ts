// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileStateStore } from '../src/state/file-store.js';
import { updateState } from '../src/state/store.js';
import { tempDir } from './helpers.js';
import { stateStoreConformance } from './state-conformance.js';

stateStoreConformance('FileStateStore', async () => {
  const dir = await tempDir();
  const stateDir = join(dir.path, 'state');
  const file = join(stateDir, 'state.json');
  return {
    open: () => new FileStateStore(stateDir),
    writeRaw: async (raw) => {
      await new FileStateStore(stateDir).save({ version: 1, proxyRules: [] });
      await writeFile(file, raw);
    },
    readRaw: () => readFile(file, 'utf8').catch(() => undefined),
    dispose: () => dir.remove(),
  };
});

test('FileStateStore: creates the directory 0700 and the file 0600, leaves no temp files', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const stateDir = join(dir.path, 'nested', 'state');
  const store = new FileStateStore(stateDir);
  await store.save({ version: 1, deviceId: 'd', proxyRules: [] });
  await store.save({ version: 1, deviceId: 'e', proxyRules: [] });
  assert.equal((await stat(stateDir)).mode & 0o777, 0o700);
  assert.equal((await stat(store.location)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(stateDir), ['state.json']);
});

test('FileStateStore: an existing world-readable file is replaced by an owner-only one', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const store = new FileStateStore(dir.path);
  await writeFile(store.location, '{"version":1}', { mode: 0o644 });
  await store.save({ version: 1, proxyRules: [] });
  assert.equal((await stat(store.location)).mode & 0o777, 0o600);
});

test('FileStateStore: a temp file left by a crash does not disturb load', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const store = new FileStateStore(dir.path);
  await store.save({ version: 1, deviceId: 'kept', proxyRules: [] });
  await writeFile(join(dir.path, '.state.json.1.deadbeef.tmp'), '{"version":1,"devi');
  assert.equal((await store.load()).deviceId, 'kept');
});

test('FileStateStore: an unreadable location gives NEX_ERR_STATE_IO naming the path', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  // The state "file" is a directory: reading fails with EISDIR.
  const store = new FileStateStore(dir.path, '.');
  await assert.rejects(store.load(), { code: 'NEX_ERR_STATE_IO', message: /cannot read .*EISDIR/ });
});

test('updateState: concurrent updates of one store (tokens, device id, rules) are all kept', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const store = new FileStateStore(join(dir.path, 'state'));
  await Promise.all([
    updateState(store, (s) => {
      s.tokens = { accessToken: 'a1' };
    }),
    updateState(store, (s) => {
      s.deviceId = 'dev-1';
    }),
    ...Array.from({ length: 10 }, (_, i) =>
      updateState(store, (s) => {
        s.proxyRules.push({ type: 'ingress', rule: `tcp:${8000 + i}:127.0.0.1:80` });
      }),
    ),
  ]);
  const s = await store.load();
  assert.equal(s.tokens?.accessToken, 'a1');
  assert.equal(s.deviceId, 'dev-1');
  assert.equal(s.proxyRules.length, 10);
  // A failing update does not block the ones after it.
  await assert.rejects(
    updateState(store, () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  await updateState(store, (x) => {
    x.deviceId = 'dev-2';
  });
  assert.equal((await store.load()).deviceId, 'dev-2');
});

test('FileStateStore: the original nexd’s state.json is read and migrated; the next save writes ours', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const store = new FileStateStore(dir.path);
  // The shape the Go nexd's fstore wrote: dashed keys, Go zero values, oauth2.Token, proxy-rules-config.
  await writeFile(
    store.location,
    JSON.stringify({
      'bearer-token': 'sealed',
      'auth-token': {
        access_token: 'at',
        token_type: 'Bearer',
        refresh_token: 'rt',
        expiry: '0001-01-01T00:00:00Z',
      },
      'public-key': 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=',
      'private-key': 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=',
      'proxy-rules-config': { egress: ['TCP:5432:100.100.0.1:5432'], ingress: ['tcp:80:web.ns.svc:80'] },
    }),
  );
  const s = await store.load();
  assert.deepEqual(s, {
    version: 1,
    privateKey: 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=',
    publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=',
    tokens: { accessToken: 'at', refreshToken: 'rt' },
    proxyRules: [
      { type: 'egress', rule: 'tcp:5432:100.100.0.1:5432' },
      { type: 'ingress', rule: 'tcp:80:web.ns.svc:80' },
    ],
  });
  await store.save(s);
  assert.equal(JSON.parse(await readFile(store.location, 'utf8')).version, 1);
  // A bad rule in the original's file is corrupt state like any other, and is kept.
  await writeFile(store.location, '{"proxy-rules-config":{"egress":["tcp:99999:x:1"],"ingress":null}}');
  await assert.rejects(store.load(), {
    code: 'NEX_ERR_STATE_CORRUPT',
    message: /original nexd state: .*99999/,
  });
});
