// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, formatAddressLine, logAddresses } from '../src/log.js';

test('the address line reads exactly as the scenario shows it', () => {
  assert.equal(
    formatAddressLine(['100.100.0.1'], ['200::1']),
    'New local Wireguard interface addresses assigned IPv4 [ 100.100.0.1 ] IPv6 [ 200::1 ]',
  );
  assert.equal(
    formatAddressLine(['100.100.0.1', '100.100.0.9'], []),
    'New local Wireguard interface addresses assigned IPv4 [ 100.100.0.1 100.100.0.9 ] IPv6 [  ]',
  );
});

test('logs are JSON lines with a level label and the address fields', () => {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (s: string) => lines.push(s) });
  logger.debug('hidden at info');
  logAddresses(logger, ['100.100.0.2'], ['200::2']);
  assert.equal(lines.length, 1);
  assert.ok(lines[0].endsWith('\n'));
  const rec = JSON.parse(lines[0]);
  assert.equal(rec.level, 'info');
  assert.equal(
    rec.msg,
    'New local Wireguard interface addresses assigned IPv4 [ 100.100.0.2 ] IPv6 [ 200::2 ]',
  );
  assert.deepEqual(rec.ipv4, ['100.100.0.2']);
  assert.equal(typeof rec.time, 'number');
});
