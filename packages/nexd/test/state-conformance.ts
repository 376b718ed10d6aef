// SPDX-License-Identifier: Apache-2.0
// One suite, run against every StateStore implementation (file, Kubernetes Secret).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { StateCorruptError } from '../src/errors.js';
import { emptyState, type State } from '../src/state/state.js';
import { type StateStore, updateState } from '../src/state/store.js';

export interface StoreHarness {
  /** A store over the backing storage (a second call gives a second instance: a "restart"). */
  open(): StateStore;
  /** Puts `raw` into the backing storage as-is, bypassing the store. */
  writeRaw(raw: string): Promise<void>;
  /** The backing storage's content as text, or undefined if nothing is stored. */
  readRaw(): Promise<string | undefined>;
  dispose(): Promise<void>;
}

const FULL: State = {
  version: 1,
  privateKey: 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=',
  publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=',
  deviceId: '6f1c2c9e-6c1c-4c55-9d7e-2a0f0b7f1a11',
  tokens: { accessToken: 'a.b.c', refreshToken: 'r', expiresAt: '2026-11-24T03:00:00.000Z' },
  proxyRules: [
    { type: 'ingress', rule: 'tcp:80:nginx.ns.svc.cluster.local:80' },
    { type: 'egress', rule: 'udp:53:[fd00::53]:53' },
  ],
};

export function stateStoreConformance(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`StateStore conformance: ${name}`, () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await h.dispose();
    });

    test('a store never written loads as the empty state', async () => {
      assert.deepEqual(await h.open().load(), emptyState());
      assert.equal(await h.readRaw(), undefined, 'load does not create anything');
    });

    test('save then load in a new instance gives back every field', async () => {
      await h.open().save(FULL);
      assert.deepEqual(await h.open().load(), FULL);
    });

    test('a later save replaces the earlier one completely', async () => {
      const s = h.open();
      await s.save(FULL);
      await s.save({ version: 1, privateKey: FULL.privateKey, proxyRules: [] });
      assert.deepEqual(await h.open().load(), { version: 1, privateKey: FULL.privateKey, proxyRules: [] });
    });

    test('concurrent saves are applied in call order and leave a readable state', async () => {
      const s = h.open();
      const saves = [];
      for (let i = 0; i < 10; i++) {
        saves.push(s.save({ ...FULL, deviceId: `device-${i}` }));
      }
      await Promise.all(saves);
      assert.equal((await h.open().load()).deviceId, 'device-9');
    });

    test('updateState applies a change on top of what is stored', async () => {
      const s = h.open();
      await s.save(FULL);
      await updateState(s, (st) => {
        st.proxyRules.push({ type: 'egress', rule: 'tcp:5432:db.example:5432' });
      });
      assert.equal((await h.open().load()).proxyRules.length, 3);
    });

    for (const [what, raw, detail] of [
      ['truncated JSON', '{"version":1,"privateKey":"abc', /not valid JSON/],
      ['a wrong version', '{"version":7,"proxyRules":[]}', /version must be 1, found 7/],
      [
        'a bad rule',
        '{"version":1,"proxyRules":[{"type":"ingress","rule":"tcp:99999:x:1"}]}',
        /port 99999 is out of range/,
      ],
      ['a non-object', '[1,2,3]', /top level must be an object/],
      [
        'tokens without accessToken',
        '{"version":1,"tokens":{"refreshToken":"r"}}',
        /tokens.accessToken is missing/,
      ],
    ] as const) {
      test(`stored data with ${what} fails load and save with StateCorruptError, and is kept`, async () => {
        await h.writeRaw(raw);
        const s = h.open();
        await assert.rejects(s.load(), (err: unknown) => {
          assert.ok(err instanceof StateCorruptError);
          assert.equal(err.code, 'NEX_ERR_STATE_CORRUPT');
          assert.match(err.message, detail);
          assert.match(err.message, /will not overwrite it/);
          assert.ok(err.message.includes(s.location));
          return true;
        });
        await assert.rejects(s.save(FULL), StateCorruptError);
        assert.equal(await h.readRaw(), raw, 'the corrupt data is untouched');
      });
    }

    test('save refuses a state it could not load back', async () => {
      const s = h.open();
      await s.save(FULL);
      const bad = { ...FULL, proxyRules: [{ type: 'ingress' as const, rule: 'tcp:0:x:1' }] };
      await assert.rejects(s.save(bad), { code: 'NEX_ERR_STATE_CORRUPT' });
      assert.deepEqual(await h.open().load(), FULL);
    });
  });
}
