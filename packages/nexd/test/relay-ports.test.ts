// SPDX-License-Identifier: Apache-2.0
// The placeholder ports of relayed paths (reach/relay-ports.ts): one block per relay, a peer at the same
// offset in every block, ports that name no peer resolve to nothing, and more peers than a block holds
// are refused with port 0 rather than overlapping the next relay's block.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_RELAYS, RelayPorts } from '../src/reach/relay-ports.js';

const key = (n: number) => {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, n);
  return k;
};

describe('RelayPorts', () => {
  it('one relay uses the whole port space, as the single-relay path did', () => {
    const p = new RelayPorts(1);
    assert.equal(p.block, 65535);
    assert.equal(p.portOf(0, key(1)), 1);
    assert.equal(p.portOf(0, key(2)), 2);
    assert.equal(p.portOf(0, key(1)), 1, 'a key keeps its port');
    assert.equal(p.relayAt(2), 0);
    assert.deepEqual(p.keyAt(2), key(2));
  });

  it('gives each relay its own block and a peer the same offset in each', () => {
    const p = new RelayPorts(3);
    assert.equal(p.block, 21845);
    const a0 = p.portOf(0, key(7));
    const b0 = p.portOf(0, key(8));
    const a2 = p.portOf(2, key(7));
    const b1 = p.portOf(1, key(8));
    assert.deepEqual([a0, b0, b1, a2], [1, 2, 21845 + 2, 2 * 21845 + 1]);
    for (const [port, relay, k] of [
      [a0, 0, 7],
      [b0, 0, 8],
      [b1, 1, 8],
      [a2, 2, 7],
    ] as const) {
      assert.equal(p.relayAt(port), relay, `relay of port ${port}`);
      assert.deepEqual(p.keyAt(port), key(k), `key of port ${port}`);
    }
    assert.equal(p.move(a0, 1), 21845 + 1);
    assert.equal(p.move(a2, 0), a0);
    assert.equal(p.relayAt(p.move(b0, 2)), 2);
  });

  it('keys are copied: a reused receive buffer does not change them', () => {
    const p = new RelayPorts(2);
    const buf = key(5);
    const port = p.portOf(1, buf.subarray(0, 32));
    buf.fill(0xff);
    assert.deepEqual(p.keyAt(port), key(5));
    assert.equal(p.portOf(1, key(5)), port);
  });

  it('datagrams in one reused receive buffer from alternating peers each get their own peer', () => {
    const p = new RelayPorts(1);
    const a = p.portOf(0, key(1));
    const b = p.portOf(0, key(2));
    const rx = new Uint8Array(32);
    for (const [k, want] of [
      [1, a],
      [1, a],
      [2, b],
      [1, a],
      [2, b],
      [2, b],
    ] as const) {
      rx.set(key(k));
      assert.equal(p.portOf(0, rx), want, `key ${k}`);
    }
  });

  it('ports that name no peer, and ports beyond the last block, resolve to nothing', () => {
    const p = new RelayPorts(MAX_RELAYS);
    p.portOf(0, key(1));
    for (const port of [0, -1, 2, p.block + 2, p.block * MAX_RELAYS + 1, 65535, 70000, Number.NaN]) {
      assert.equal(p.relayAt(port), -1, `port ${port}`);
      assert.equal(p.keyAt(port), undefined, `port ${port}`);
    }
    assert.equal(p.relayAt(p.block * (MAX_RELAYS - 1) + 1), MAX_RELAYS - 1);
  });

  it('refuses more peers than a block holds with port 0, and fewer than 1 or more than 8 relays', () => {
    const p = new RelayPorts(MAX_RELAYS);
    for (let i = 0; i < p.block; i++) assert.notEqual(p.portOf(0, key(i)), 0);
    assert.equal(p.portOf(0, key(p.block)), 0, 'one peer too many');
    assert.equal(p.portOf(MAX_RELAYS - 1, key(p.block - 1)), p.block * MAX_RELAYS, 'the last port');
    assert.throws(() => new RelayPorts(0), /relays: expected 1\.\.8, got 0/);
    assert.throws(() => new RelayPorts(MAX_RELAYS + 1), /expected 1\.\.8/);
  });
});
