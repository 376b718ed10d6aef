// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MemorySecretApi,
  SECRET_STATE_KEY,
  SecretConflictError,
  SecretStateStore,
} from '../src/state/secret-store.js';
import { stateStoreConformance } from './state-conformance.js';

stateStoreConformance('SecretStateStore (MemorySecretApi)', async () => {
  const api = new MemorySecretApi();
  return {
    open: () => new SecretStateStore(api),
    writeRaw: async (raw) => {
      api.snapshot = {
        data: { [SECRET_STATE_KEY]: Buffer.from(raw).toString('base64') },
        resourceVersion: '99',
      };
    },
    readRaw: async () => {
      const v = api.snapshot?.data[SECRET_STATE_KEY];
      return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
    },
    dispose: async () => {},
  };
});

test('SecretStateStore: keeps other keys of the Secret (i.e. mounted WireGuard keys)', async () => {
  const api = new MemorySecretApi();
  await api.create({ 'private.key': 'cHJpdg==' });
  await new SecretStateStore(api).save({ version: 1, deviceId: 'd', proxyRules: [] });
  assert.equal(api.snapshot?.data['private.key'], 'cHJpdg==');
});

class FlakySecretApi extends MemorySecretApi {
  conflicts = 0;
  override async replace(data: Record<string, string>, resourceVersion: string): Promise<void> {
    if (this.conflicts-- > 0) throw new SecretConflictError();
    return super.replace(data, resourceVersion);
  }
}

test('SecretStateStore: retries on a conflicting writer, then gives NEX_ERR_STATE_CONFLICT', async () => {
  const api = new FlakySecretApi();
  await api.create({});
  api.conflicts = 1;
  await new SecretStateStore(api).save({ version: 1, deviceId: 'after-retry', proxyRules: [] });
  assert.equal((await new SecretStateStore(api).load()).deviceId, 'after-retry');
  api.conflicts = 100;
  await assert.rejects(new SecretStateStore(api).save({ version: 1, proxyRules: [] }), {
    code: 'NEX_ERR_STATE_CONFLICT',
  });
  assert.equal((await new SecretStateStore(api).load()).deviceId, 'after-retry', 'nothing lost');
});
