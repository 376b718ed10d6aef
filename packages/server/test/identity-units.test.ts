// SPDX-License-Identifier: Apache-2.0
// Unit tests of the identity building blocks that need no database: the login throttle windows,
// password hashing, user codes, HTML escaping, scope granting and the error-code catalogue.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { formatUserCode, normalizeUserCode, USER_CODE_ALPHABET } from '../src/identity/device-grant.js';
import { IDENTITY_ERROR_STATUS, IdentityError, OAuthError } from '../src/identity/errors.js';
import { HashGate } from '../src/identity/hash-gate.js';
import {
  IdentityService,
  type IdentityTables,
  identityMigrations,
  identityRoutes,
  type UserPrincipal,
} from '../src/identity/index.js';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, verifyPassword } from '../src/identity/passwords.js';
import { FailureWindow, MemoryLoginThrottle } from '../src/identity/rate-limit.js';
import { grantScope } from '../src/identity/tokens.js';
import { escapeHtml, renderVerificationPage } from '../src/identity/verification-page.js';

const FAST = { N: 2 ** 10, r: 8, p: 1 };

describe('FailureWindow', () => {
  it('allows maxFailures failures, then refuses until the window that opened at the first failure ends', () => {
    const w = new FailureWindow({ maxFailures: 3, windowMs: 60_000 });
    w.recordFailure('k', 1_000);
    w.recordFailure('k', 20_000);
    assert.deepEqual(w.check('k', 20_000), { allowed: true });
    w.recordFailure('k', 30_000);
    assert.deepEqual(w.check('k', 30_000), { allowed: false, retryAfterSeconds: 31 });
    assert.deepEqual(
      w.check('k', 60_500),
      { allowed: false, retryAfterSeconds: 1 },
      'never 0: clients would spin',
    );
    assert.deepEqual(w.check('k', 61_000), { allowed: true });
    assert.equal(w.size, 0, 'an expired window is forgotten');
  });

  it('a failure after the window starts a new one; reset forgives', () => {
    const w = new FailureWindow({ maxFailures: 2, windowMs: 10_000 });
    w.recordFailure('k', 0);
    w.recordFailure('k', 10_000); // new window, count 1
    assert.deepEqual(w.check('k', 10_001), { allowed: true });
    w.recordFailure('k', 10_002);
    assert.equal(w.check('k', 10_003).allowed, false);
    w.reset('k');
    assert.equal(w.check('k', 10_003).allowed, true);
  });

  it('keeps at most maxKeys keys, evicting expired ones first, then the oldest', () => {
    const w = new FailureWindow({ maxFailures: 1, windowMs: 1_000, maxKeys: 3 });
    w.recordFailure('a', 0);
    w.recordFailure('b', 500);
    w.recordFailure('c', 900);
    w.recordFailure('d', 1_200); // 'a' has expired: it goes
    assert.equal(w.size, 3);
    assert.equal(w.check('b', 1_200).allowed, false);
    w.recordFailure('e', 1_300); // all live: the oldest ('b') goes
    assert.equal(w.size, 3);
    assert.equal(w.check('b', 1_300).allowed, true);
    assert.equal(w.check('c', 1_300).allowed, false);
  });

  it('rejects nonsense limits', () => {
    assert.throws(() => new FailureWindow({ maxFailures: 0, windowMs: 1 }), RangeError);
    assert.throws(() => new FailureWindow({ maxFailures: 1, windowMs: Number.NaN }), RangeError);
  });

  it('never holds more than maxKeys under any sequence (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 500 })), {
          maxLength: 200,
        }),
        (ops) => {
          const w = new FailureWindow({ maxFailures: 2, windowMs: 100, maxKeys: 5 });
          let t = 0;
          for (const [key, dt] of ops) {
            t += dt;
            w.recordFailure(String(key), t);
            if (w.size > 5) return false;
          }
          return true;
        },
      ),
      { numRuns: 100, seed: 4242 },
    );
  });
});

describe('MemoryLoginThrottle', () => {
  it('rejects nonsense limits', () => {
    assert.throws(
      () => new MemoryLoginThrottle({ perAccountSource: 0 }),
      /perAccountSource must be a positive integer/,
    );
    assert.throws(() => new MemoryLoginThrottle({ windowSeconds: 0.5 }), /windowSeconds/);
  });
  // Behaviour: the conformance suite in identity.test.ts runs it next to DatabaseLoginThrottle.
});

describe('HashGate', () => {
  function deferred() {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  }

  it('runs maxActive at once, queues maxQueued, refuses the rest with IDENTITY_ERR_BUSY', async () => {
    const gate = new HashGate({ maxActive: 2, maxQueued: 1 });
    const jobs = [deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = jobs.map((d, i) =>
      gate.run(async () => {
        started.push(i);
        await d.promise;
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(gate.load, { active: 2, queued: 1 });
    await assert.rejects(
      gate.run(async () => 9),
      (e: unknown) => {
        assert.ok(e instanceof IdentityError);
        assert.equal(e.code, 'IDENTITY_ERR_BUSY');
        assert.equal(e.statusCode, 503);
        assert.equal(e.retryAfterSeconds, 1);
        return true;
      },
    );
    jobs[0].reject(new Error('scrypt failed')); // a failing check still frees its slot
    await assert.rejects(runs[0], /scrypt failed/);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, [0, 1, 2], 'the queued check got the slot');
    assert.deepEqual(gate.load, { active: 2, queued: 0 });
    jobs[1].resolve();
    jobs[2].resolve();
    assert.deepEqual(await Promise.all(runs.slice(1)), [1, 2]);
    assert.deepEqual(gate.load, { active: 0, queued: 0 });
  });

  it('rejects nonsense bounds', () => {
    assert.throws(() => new HashGate({ maxActive: 0 }), /maxActive >= 1/);
    assert.throws(() => new HashGate({ maxQueued: -1 }), /maxQueued >= 0/);
  });
});

describe('passwords', () => {
  it('default cost: scrypt$32768$8$1$salt$hash, verifies, rejects a wrong password', async () => {
    const h = await hashPassword('correct horse');
    assert.match(h, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.equal(DEFAULT_SCRYPT_PARAMS.N, 32768);
    assert.equal(await verifyPassword('correct horse', h), true);
    assert.equal(await verifyPassword('correct horsE', h), false);
  });

  it('salts per hash, and NFC-normalizes so composed and decomposed accents match', async () => {
    const a = await hashPassword('caf\u00e9 au lait', FAST);
    const b = await hashPassword('caf\u00e9 au lait', FAST);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword('cafe\u0301 au lait', a), true);
  });

  it('an unreadable or hostile stored hash verifies as false instead of throwing', async () => {
    const good = await hashPassword('pw-pw-pw-pw', FAST);
    const parts = good.split('$');
    for (const bad of [
      '',
      'plain',
      'bcrypt$1$2$3$4$5',
      [parts[0], String(2 ** 30), ...parts.slice(2)].join('$'), // would need 128 GiB
      [parts[0], '1000', ...parts.slice(2)].join('$'), // N not a power of two
      [...parts.slice(0, 5), 'c2hvcnQ'].join('$'), // short key
    ]) {
      assert.equal(await verifyPassword('pw-pw-pw-pw', bad), false, bad);
    }
  });
});

describe('user codes', () => {
  it('normalize ignores case, spaces and dashes; rejects other letters and lengths', () => {
    assert.equal(normalizeUserCode('bcdf-ghjk'), 'BCDFGHJK');
    assert.equal(normalizeUserCode(' BCDF GHJK '), 'BCDFGHJK');
    for (const bad of ['', 'BCDF-GHJ', 'BCDF-GHJKL', 'ABCD-EFGH', 'BCDF-GHJ1', 'BCDF_GHJK']) {
      assert.equal(normalizeUserCode(bad), undefined, bad);
    }
  });

  it('format/normalize round-trip for every code over the alphabet (property)', () => {
    const code = fc
      .array(fc.constantFrom(...USER_CODE_ALPHABET), { minLength: 8, maxLength: 8 })
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(code, (c) => normalizeUserCode(formatUserCode(c).toLowerCase()) === c),
      { numRuns: 200, seed: 7 },
    );
  });
});

describe('verification page', () => {
  it('escapeHtml leaves no markup-significant character (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 100 }),
        (s) => !/[<>"']/.test(escapeHtml(s)) && !/&(?!amp;|lt;|gt;|quot;|#39;)/.test(escapeHtml(s)),
      ),
      { numRuns: 300, seed: 11 },
    );
  });

  it('renders the form with escaped values and the outcome pages', () => {
    const html = renderVerificationPage(
      { kind: 'form', userCode: '<b>', username: 'a"b', error: "it's & wrong" },
      '/device',
    );
    assert.ok(html.includes('value="&lt;b&gt;"'));
    assert.ok(html.includes('value="a&quot;b"'));
    assert.ok(html.includes('it&#39;s &amp; wrong'));
    assert.ok(!html.includes('<script'));
    assert.match(renderVerificationPage({ kind: 'approved' }, '/device'), /Device approved/);
    assert.match(renderVerificationPage({ kind: 'denied' }, '/device'), /Request denied/);
  });
});

describe('scopes', () => {
  it('grants the supported subset in canonical order', () => {
    assert.equal(grantScope('offline_access openid email'), 'openid offline_access');
    assert.equal(grantScope(undefined), '');
    assert.equal(grantScope('  '), '');
  });
});

describe('error catalogue', () => {
  const readme = readFileSync(new URL('../src/identity/README.md', import.meta.url), 'utf8');

  it('every code is documented in README.md with its status, and every documented code exists', () => {
    for (const [code, status] of Object.entries(IDENTITY_ERROR_STATUS)) {
      assert.match(
        readme,
        new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`),
        `${code} missing from README.md`,
      );
    }
    for (const m of readme.matchAll(/IDENTITY_ERR_[A-Z_]+/g)) {
      assert.ok(m[0] in IDENTITY_ERROR_STATUS, `README.md documents unknown code ${m[0]}`);
    }
  });

  it('errors carry code, status and retry hints', () => {
    const e = new IdentityError('IDENTITY_ERR_USER_EXISTS', 'taken');
    assert.deepEqual(
      [e.code, e.statusCode, e.message, e instanceof Error],
      ['IDENTITY_ERR_USER_EXISTS', 409, 'taken', true],
    );
    const o = new OAuthError('rate_limited', 'later', { retryAfterSeconds: 3 });
    assert.deepEqual(
      [o.code, o.statusCode, o.error, o.retryAfterSeconds],
      ['IDENTITY_ERR_RATE_LIMITED', 429, 'rate_limited', 3],
    );
    assert.equal(new OAuthError('invalid_client', 'x').statusCode, 401);
    assert.equal(new OAuthError('invalid_grant', 'x').statusCode, 400);
  });
});

// Compile-time check (tsc -p tsconfig.check.json) that the public API keeps the shape agreed with
// server-core: a change here breaks the type check, not only a runtime test.
interface IdentityContract {
  verifyAccessToken(token: string): Promise<UserPrincipal | undefined>;
  createUser(
    username: string,
    password: string,
    opts?: { admin?: boolean },
  ): Promise<{ id: string; username: string }>;
  listUsers(): Promise<Array<{ id: string; username: string; admin: boolean; created_at: string }>>;
  deleteUser(username: string): Promise<boolean>;
  getUser(id: string): Promise<{ id: string; username: string; admin: boolean } | undefined>;
  ensureAdmin(passwordFromEnv: string | undefined): Promise<{ created: boolean; generatedPassword?: string }>;
}
type CreateContract = (opts: {
  db: Kysely<IdentityTables>;
  issuer: string;
  accessTokenTtlSeconds?: number;
  now?: () => Date;
}) => Promise<IdentityService>;
type RoutesContract = (app: FastifyInstance, opts: { identity: IdentityService }) => Promise<void>;

describe('public API', () => {
  it('matches the contract with server-core (checked by the type checker)', () => {
    const create: CreateContract = IdentityService.create;
    const routes: RoutesContract = identityRoutes;
    const asContract = (s: IdentityService): IdentityContract => s;
    const principal: UserPrincipal = { kind: 'user', userId: 'u', username: 'n', admin: false };
    assert.equal(typeof create, 'function');
    assert.equal(typeof routes, 'function');
    assert.equal(typeof asContract, 'function');
    assert.equal(principal.kind, 'user');
    assert.equal(typeof identityMigrations['0001_identity_001_init']?.up, 'function');
    assert.ok(Object.keys(identityMigrations).every((name) => name.startsWith('0001_identity_')));
  });
});
