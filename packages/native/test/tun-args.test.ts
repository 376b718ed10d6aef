// SPDX-License-Identifier: Apache-2.0
// The TUN batch calls check their arguments before any syscall: a wrong type is a TypeError naming the
// call and the argument; a bad descriptor is an -errno result. The calls on a real TUN device are covered
// by test/e2e/nexd-agent.test.ts (as root).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadBinding } from '../src/index.js';

const load = loadBinding();

describe('tun batch calls', {
  skip: process.platform !== 'linux' ? 'the addon is Linux-only' : false,
}, () => {
  const b = load.binding;

  test('the addon is built (Linux CI has it)', () => {
    assert.ok(b, load.binding ? '' : (load as { reason: string }).reason);
  });

  test('wrong argument types are TypeErrors that name the call and the argument', () => {
    assert.ok(b);
    const data = new Uint8Array(64);
    const lens = new Uint32Array(4);
    assert.throws(() => b.tunRead(-1, 'x' as never, lens, 16), {
      name: 'TypeError',
      message: 'tunRead: data must be a Uint8Array',
    });
    assert.throws(() => b.tunWrite(-1, data, [] as never, 1), {
      name: 'TypeError',
      message: 'tunWrite: lengths must be a Uint32Array',
    });
    assert.throws(() => b.tunReadVnet(-1, data, lens, new Uint32Array(1)), {
      name: 'TypeError',
      message: 'tunReadVnet: counters must be a Uint32Array(2)',
    });
    assert.throws(() => b.tunWrite('3' as never, data, lens, 1), {
      name: 'TypeError',
      message: /tunWrite\(fd, data, lengths, \.\.\.\) needs a file descriptor/,
    });
    assert.throws(() => b.tunWrite(-1, data, lens, 5), {
      name: 'TypeError',
      message: 'tunWrite: count exceeds lengths',
    });
  });

  test('a bad fd is -EBADF, not an exception', () => {
    assert.ok(b);
    assert.equal(b.tunRead(-1, new Uint8Array(64), new Uint32Array(4), 16), -9);
  });
});
