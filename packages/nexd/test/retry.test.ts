// SPDX-License-Identifier: Apache-2.0
// Start-up retries (service/retry.ts): which failures are retried, the backoff bounds, one log per attempt.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '@nexodus/api';
import { NexdError } from '../src/errors.js';
import { serviceError } from '../src/service/failures.js';
import { isTransient, retryDelayMs, retryTransient } from '../src/service/retry.js';
import { captureLogs } from './helpers.js';

const URL_ = 'http://svc.example:8080';
const refused = () =>
  new ApiError(0, 'NEX_CLIENT_ERR_NETWORK', 'fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
  });

test('transient: no answer, 5xx and 429; final: login refused, conflicts, TLS, anything else', () => {
  assert.equal(isTransient(serviceError('login', URL_, refused())), true);
  assert.equal(
    isTransient(serviceError('device registration', URL_, new ApiError(503, 'X', 'db down'))),
    true,
  );
  assert.equal(
    isTransient(serviceError('device registration', URL_, new ApiError(429, 'X', 'slow down'))),
    true,
  );
  assert.equal(isTransient(serviceError('login', URL_, new ApiError(401, 'X', 'bad password'))), false);
  assert.equal(
    isTransient(serviceError('device registration', URL_, new ApiError(409, 'X', 'taken'))),
    false,
  );
  assert.equal(isTransient(new NexdError('NEX_ERR_TLS', 'not trusted', { cause: refused() })), false);
  assert.equal(isTransient(new Error('programmer error')), false);
});

test('backoff: full jitter under a ceiling that doubles from the initial delay up to the maximum', () => {
  assert.equal(
    retryDelayMs(1, 1000, 30_000, () => 0.999),
    999,
  );
  assert.equal(
    retryDelayMs(3, 1000, 30_000, () => 0.5),
    2000,
  );
  assert.equal(
    retryDelayMs(50, 1000, 30_000, () => 0.999),
    29_970,
  );
  assert.equal(
    retryDelayMs(2, 1000, 30_000, () => 0),
    1,
    'never a zero wait',
  );
});

test('retryTransient: retries transient failures, logging each, and returns the first success', async () => {
  const logs = captureLogs();
  let calls = 0;
  const v = await retryTransient(
    'start-up',
    async () => {
      calls++;
      if (calls < 3) throw serviceError('login', URL_, refused());
      return 'ok';
    },
    { logger: logs.logger, initialMs: 2, maxMs: 4 },
  );
  assert.equal(v, 'ok');
  assert.equal(calls, 3);
  const warns = logs.lines.filter((l) => /not reachable yet; retrying/.test(String(l.msg)));
  assert.deepEqual(
    warns.map((l) => l.attempt),
    [1, 2],
  );
  assert.equal(warns[0]!.code, 'NEX_ERR_SERVICE_UNREACHABLE');
});

test('retryTransient: a final failure is thrown at once; an abort ends the wait', async () => {
  const logs = captureLogs();
  let calls = 0;
  await assert.rejects(
    retryTransient(
      'start-up',
      async () => {
        calls++;
        throw serviceError('login', URL_, new ApiError(401, 'X', 'bad password'));
      },
      { logger: logs.logger },
    ),
    { code: 'NEX_ERR_LOGIN' },
  );
  assert.equal(calls, 1);
  const abort = new AbortController();
  const p = retryTransient('start-up', () => Promise.reject(serviceError('login', URL_, refused())), {
    logger: logs.logger,
    signal: abort.signal,
    initialMs: 60_000,
    maxMs: 60_000,
    random: () => 0.99,
  });
  setTimeout(() => abort.abort(), 10);
  await assert.rejects(p, { code: 'NEX_ERR_SERVICE_UNREACHABLE' });
});
