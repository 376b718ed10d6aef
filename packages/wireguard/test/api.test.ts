// SPDX-License-Identifier: Apache-2.0
// The public API other packages build on, imported through the package name (the built exports map),
// checked at runtime and, through tsconfig.check.json, at the type level.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_TIMERS,
  type DeviceOptions,
  type DropCounters,
  decodeKey,
  type Endpoint,
  encodeKey,
  generatePrivateKey,
  type NodeOptions,
  type PeerConfig,
  type PeerStatus,
  publicKeyFromPrivate,
  type SendResult,
  type TimerConstants,
  WireGuardDevice,
  WireGuardError,
  WireGuardNode,
} from '@nexodus/wireguard';
import { MemoryNetwork, memoryPair, seededRandom } from '@nexodus/wireguard/testing';

describe('public API', () => {
  test('exports the documented names', () => {
    for (const m of [
      'addPeer',
      'updatePeer',
      'removePeer',
      'receiveDatagram',
      'sendPacket',
      'poll',
      'pollAt',
      'status',
      'connect',
    ]) {
      assert.equal(
        typeof (WireGuardDevice.prototype as unknown as Record<string, unknown>)[m],
        'function',
        m,
      );
    }
    for (const m of ['send', 'addPeer', 'updatePeer', 'removePeer', 'status', 'close', 'connect']) {
      assert.equal(typeof (WireGuardNode.prototype as unknown as Record<string, unknown>)[m], 'function', m);
    }
    assert.equal(typeof WireGuardNode.open, 'function');
    assert.equal(typeof MemoryNetwork, 'function');
    assert.equal(typeof memoryPair, 'function');
    assert.equal(DEFAULT_TIMERS.rekeyAfterTime, 120_000);
    assert.equal(DEFAULT_TIMERS.rejectAfterTime, 180_000);
    assert.equal(DEFAULT_TIMERS.rekeyAttemptTime, 90_000);
    assert.equal(DEFAULT_TIMERS.rekeyTimeout, 5_000);
    assert.equal(DEFAULT_TIMERS.keepaliveTimeout, 10_000);
    assert.equal(DEFAULT_TIMERS.rekeyAfterMessages, 2 ** 60);
    assert.ok(Object.isFrozen(DEFAULT_TIMERS));
  });

  test('types line up with the documented shapes', () => {
    const timers: Partial<TimerConstants> = { rekeyAfterTime: 3000 };
    const peer: PeerConfig = {
      publicKey: encodeKey(new Uint8Array(32).fill(9)),
      allowedIps: ['10.0.0.0/24'],
      persistentKeepalive: 25,
    };
    const ep: Endpoint = { address: 'fd00::1', port: 51820 };
    const nodeOpts: NodeOptions = {
      privateKey: encodeKey(generatePrivateKey()),
      listenPort: 0,
      peers: [peer],
      timers,
      socketBufferBytes: 1 << 20,
    };
    const sent: { data: Uint8Array; to: Endpoint }[] = [];
    const devOpts: DeviceOptions = {
      privateKey: generatePrivateKey(seededRandom(1)),
      random: seededRandom(2),
      output: {
        sendDatagram: (data, to) => sent.push({ data: new Uint8Array(data), to }),
        deliverPacket: () => {},
      },
      timers,
      cookieLoadThreshold: 8,
    };
    const dev = new WireGuardDevice(devOpts);
    dev.addPeer({ ...peer, endpoint: ep });
    const r: SendResult = dev.sendPacket(new Uint8Array(0), 0);
    const s: PeerStatus[] = dev.status();
    const d: Readonly<DropCounters> = dev.drops;
    assert.equal(r, 'malformed');
    assert.equal(s[0].allowedIps[0], '10.0.0.0/24');
    assert.equal(d.malformed, 0);
    assert.equal(nodeOpts.listenPort, 0);
    const k = generatePrivateKey();
    assert.deepEqual(decodeKey(encodeKey(publicKeyFromPrivate(k))), publicKeyFromPrivate(k));
    const e = new WireGuardError('WG_ERR_BAD_KEY', 'x');
    assert.equal(e.code, 'WG_ERR_BAD_KEY');
    assert.ok(e instanceof Error);
  });
});
