// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import type { StoredTokens } from '../src/state/state.js';
import { emptyState, type State } from '../src/state/state.js';
import type { StateStore } from '../src/state/store.js';
import { MAX_TIMER_DELAY_MS, TokenKeeper } from '../src/tokens.js';
import { captureLogs } from './helpers.js';

const T0 = Date.parse('2026-11-24T01:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

let clock: number;
let timers: { fn: () => void; ms: number; cleared: boolean }[];
/** The token keeper's store, in memory: these tests are about timing, not storage (see state-*.test.ts). */
class MemoryStateStore implements StateStore {
  readonly location = 'memory';
  #state: State = emptyState();
  async load(): Promise<State> {
    return structuredClone(this.#state);
  }
  async save(state: State): Promise<void> {
    this.#state = structuredClone(state);
  }
}
let store: MemoryStateStore;
const flush = () => new Promise((r) => setImmediate(r));

beforeEach(() => {
  clock = T0;
  timers = [];
  store = new MemoryStateStore();
});

function keeper(refresh: (rt: string) => Promise<StoredTokens>) {
  const logs = captureLogs();
  const k = new TokenKeeper({
    store,
    refresh,
    logger: logs.logger,
    now: () => clock,
    skewMs: 60_000,
    retryInitialMs: 1000,
    retryMaxMs: 4000,
    timers: {
      setTimeout: (fn, ms) => {
        const t = { fn, ms, cleared: false };
        timers.push(t);
        return t;
      },
      clearTimeout: (h) => {
        (h as { cleared: boolean }).cleared = true;
      },
    },
  });
  return { k, logs };
}

const live = () => timers.filter((t) => !t.cleared);

test('a new token set is persisted and refreshed at 80 % of a 1 h life (earlier than expiry - 60 s); the refresh is persisted', async () => {
  const calls: string[] = [];
  const { k } = keeper(async (rt) => {
    calls.push(rt);
    return { accessToken: 'a2', refreshToken: 'r2', expiresAt: iso(clock + 3_600_000) };
  });
  await k.set({ accessToken: 'a1', refreshToken: 'r1', expiresAt: iso(T0 + 3_600_000) });
  assert.equal((await store.load()).tokens?.accessToken, 'a1');
  assert.equal(live().length, 1);
  assert.equal(live()[0].ms, 2_880_000, 'min(expiry - 60 s, 80 % of 1 h)');
  clock += 2_880_000;
  live()[0].fn();
  await flush();
  await flush();
  assert.deepEqual(calls, ['r1']);
  assert.equal(k.accessToken, 'a2');
  assert.deepEqual((await store.load()).tokens, {
    accessToken: 'a2',
    refreshToken: 'r2',
    expiresAt: iso(clock + 3_600_000),
  });
  k.stop();
});

test('short-lived tokens refresh at 80 % of their life; a refresh without a new refresh token keeps the old', async () => {
  const { k } = keeper(async () => ({ accessToken: 'b2', expiresAt: iso(clock + 100_000) }));
  await k.set({ accessToken: 'b1', refreshToken: 'keep', expiresAt: iso(T0 + 100_000) });
  assert.equal(live()[0].ms, 40_000, 'min(expiry - 60 s, 80 % of 100 s)');
  live()[0].fn();
  await flush();
  await flush();
  assert.equal((await store.load()).tokens?.refreshToken, 'keep');
  k.stop();
});

test('a failing refresh is retried with capped backoff and logged per attempt', async () => {
  let fail = 3;
  const { k, logs } = keeper(async () => {
    if (fail-- > 0) throw new Error('503');
    return { accessToken: 'c2', refreshToken: 'r', expiresAt: iso(clock + 3_600_000) };
  });
  await k.set({ accessToken: 'c1', refreshToken: 'r', expiresAt: iso(T0 + 3_600_000) });
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t = live().at(-1)!;
    if (i > 0) delays.push(t.ms);
    t.cleared = true;
    t.fn();
    await flush();
    await flush();
  }
  assert.deepEqual(delays, [1000, 2000, 4000]);
  assert.equal(k.accessToken, 'c2');
  assert.equal(logs.lines.filter((l) => l.msg === 'access token refresh failed; will retry').length, 3);
  k.stop();
});

test('load: stored valid tokens are reused; nearly expired ones are refreshed at once and not handed out', async () => {
  await store.save({
    version: 1,
    proxyRules: [],
    tokens: { accessToken: 'd1', refreshToken: 'r', expiresAt: iso(T0 + 600_000) },
  });
  const { k } = keeper(async () => ({
    accessToken: 'd2',
    refreshToken: 'r',
    expiresAt: iso(clock + 600_000),
  }));
  assert.equal((await k.load())?.accessToken, 'd1');
  k.stop();
  clock = T0 + 590_000;
  timers = [];
  const { k: k2 } = keeper(async () => ({
    accessToken: 'd2',
    refreshToken: 'r',
    expiresAt: iso(clock + 600_000),
  }));
  assert.equal(await k2.load(), undefined);
  assert.equal(live()[0].ms, 0);
  live()[0].fn();
  await flush();
  await flush();
  assert.equal(k2.accessToken, 'd2');
  k2.stop();
});

test('after stop nothing is refreshed', async () => {
  let called = false;
  const { k } = keeper(async () => {
    called = true;
    return { accessToken: 'x' };
  });
  await k.set({ accessToken: 'e1', refreshToken: 'r', expiresAt: iso(T0 + 3_600_000) });
  const t = live()[0];
  k.stop();
  assert.equal(t.cleared, true);
  t.fn();
  await flush();
  assert.equal(called, false);
});

test('a token living shorter than the skew is refreshed after a quarter of its life, not at once (no refresh loop)', async () => {
  const { k } = keeper(async () => ({ accessToken: 'd2', refreshToken: 'r', expiresAt: iso(clock + 4_000) }));
  await k.set({ accessToken: 'd1', refreshToken: 'r', expiresAt: iso(T0 + 4_000) });
  assert.equal(live()[0].ms, 1_000);
  k.stop();
});

test('a token that lives a year is refreshed after at most 2^31 - 1 ms, not after the 1 ms Node gives an overflowing delay', async () => {
  const { k } = keeper(async () => ({
    accessToken: 'a2',
    refreshToken: 'r2',
    expiresAt: iso(clock + 3_600_000),
  }));
  await k.set({ accessToken: 'a1', refreshToken: 'r1', expiresAt: iso(T0 + 365 * 86_400_000) });
  assert.equal(live().length, 1);
  assert.equal(live()[0].ms, MAX_TIMER_DELAY_MS);
  k.stop();
});
