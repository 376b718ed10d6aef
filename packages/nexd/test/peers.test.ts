// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { NexdMetrics } from '../src/health/metrics.js';
import { Readiness } from '../src/health/readiness.js';
import { type OpenWatch, PeerStreamFollower, type WatchEvent } from '../src/peers/follower.js';
import {
  applyPeerChanges,
  desiredPeers,
  diffPeers,
  type PeerConfig,
  peerFromDevice,
  type VpcDevice,
} from '../src/peers/reconcile.js';
import { startPeerSync } from '../src/peers/sync.js';
import { captureLogs } from './helpers.js';

const K = (n: number) => `${String(n).padStart(43, 'A')}=`;

function device(n: number, revision: number, extra: Partial<VpcDevice> = {}): VpcDevice {
  return {
    id: `dev-${n}`,
    public_key: K(n),
    ipv4_tunnel_ips: [{ address: `100.100.0.${n}`, cidr: '100.100.0.0/16' }],
    ipv6_tunnel_ips: [{ address: `200::${n}`, cidr: '200::/64' }],
    endpoints: [
      { source: 'local', address: `198.18.0.${n}:51820` },
      { source: 'stun', address: `203.0.113.${n}:40000` },
    ],
    revision,
    ...extra,
  };
}

class MapSink {
  readonly peers = new Map<string, PeerConfig>();
  setPeer(p: PeerConfig) {
    this.peers.set(p.publicKey, p);
  }
  removePeer(k: string) {
    this.peers.delete(k);
  }
}

describe('peer reconciliation', () => {
  test('a device becomes a peer: its tunnel addresses as /32 and /128, the STUN endpoint preferred', () => {
    assert.deepEqual(peerFromDevice(device(1, 1), 25), {
      publicKey: K(1),
      allowedIps: ['100.100.0.1/32', '200::1/128'],
      endpoint: '203.0.113.1:40000',
      persistentKeepalive: 25,
      candidates: ['198.18.0.1:51820', '203.0.113.1:40000'],
    });
    assert.deepEqual(
      peerFromDevice({ id: 'x', public_key: K(9), endpoints: [{ source: 'local', address: '10.0.0.1:1' }] }),
      {
        publicKey: K(9),
        allowedIps: [],
        endpoint: '10.0.0.1:1',
      },
    );
  });

  test('desiredPeers leaves out this device', () => {
    const peers = desiredPeers([device(1, 1), device(2, 2), device(3, 3)], K(2));
    assert.deepEqual(
      peers.map((p) => p.publicKey),
      [K(1), K(3)],
    );
  });

  test('diffPeers: add, remove, update with the changed fields, nothing for equal peers', () => {
    const a = peerFromDevice(device(1, 1));
    const b = peerFromDevice(device(2, 2));
    const b2 = { ...b, endpoint: '198.18.0.99:51820' };
    const c = peerFromDevice(device(3, 3));
    assert.deepEqual(diffPeers([a, b], [b2, c]), [
      { op: 'remove', publicKey: K(1) },
      { op: 'update', peer: b2, changed: ['endpoint'] },
      { op: 'add', peer: c },
    ]);
    assert.deepEqual(diffPeers([a, b], [a, b]), []);
  });

  test('applying the diff always yields the desired set (property)', () => {
    const peer = fc.record({
      publicKey: fc.integer({ min: 1, max: 8 }).map(K),
      endpoint: fc.option(fc.constantFrom('198.18.0.1:1', '198.18.0.2:2'), { nil: undefined }),
      allowedIps: fc.constantFrom(['100.100.0.1/32'], ['100.100.0.2/32', '200::2/128'], []),
    });
    const set = fc.uniqueArray(peer, { selector: (p) => p.publicKey, maxLength: 6 });
    const clean = (p: {
      publicKey: string;
      endpoint?: string | undefined;
      allowedIps: readonly string[];
    }): PeerConfig => {
      const out: PeerConfig = { publicKey: p.publicKey, allowedIps: [...p.allowedIps] };
      if (p.endpoint !== undefined) out.endpoint = p.endpoint;
      return out;
    };
    fc.assert(
      fc.property(set, set, (cur, want) => {
        const sink = new MapSink();
        for (const p of cur) sink.setPeer(clean(p));
        applyPeerChanges(sink, diffPeers(cur.map(clean), want.map(clean)));
        const got = [...sink.peers.values()].sort((x, y) => x.publicKey.localeCompare(y.publicKey));
        const exp = want.map(clean).sort((x, y) => x.publicKey.localeCompare(y.publicKey));
        assert.deepEqual(got, exp);
      }),
      { numRuns: 200, seed: 3 },
    );
  });
});

/** A watch stream the test feeds by hand. */
class FakeStream {
  readonly #queue: WatchEvent[] = [];
  #wake: (() => void) | undefined;
  #error: Error | undefined;
  aborted = false;
  push(...evs: WatchEvent[]) {
    this.#queue.push(...evs);
    this.#wake?.();
  }
  fail(err: Error) {
    this.#error = err;
    this.#wake?.();
  }
  async *iterate(signal: AbortSignal): AsyncIterable<WatchEvent> {
    signal.addEventListener('abort', () => {
      this.aborted = true;
      this.#wake?.();
    });
    while (true) {
      const ev = this.#queue.shift();
      if (ev) {
        yield ev;
        continue;
      }
      if (this.#error) throw this.#error;
      if (signal.aborted) return;
      await new Promise<void>((r) => {
        this.#wake = r;
      });
      this.#wake = undefined;
    }
  }
}

const tick = () => new Promise((r) => setImmediate(r));
const change = (d: VpcDevice): WatchEvent => ({ kind: 'device', type: 'change', value: d });
const del = (d: VpcDevice): WatchEvent => ({ kind: 'device', type: 'delete', value: d });
const TAIL: WatchEvent = { kind: 'device', type: 'tail' };

function harness(random = 0.5) {
  const opened: { gtRevision: number | undefined; stream: FakeStream }[] = [];
  const open: OpenWatch = (gtRevision, signal) => {
    const stream = new FakeStream();
    opened.push({ gtRevision, stream });
    return stream.iterate(signal);
  };
  const snapshots: string[][] = [];
  const reconnects: { attempt: number; delay: number }[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  let tails = 0;
  const follower = new PeerStreamFollower({
    open,
    onDevices: (m) => snapshots.push([...m.keys()].sort()),
    onReconnect: (attempt, delay) => reconnects.push({ attempt, delay }),
    onTail: () => {
      tails++;
    },
    random: () => random,
    initialBackoffMs: 1000,
    maxBackoffMs: 5000,
    timers: {
      setTimeout: (fn, ms) => timers.push({ fn, ms }),
      clearTimeout: () => {},
    },
  });
  return { follower, opened, snapshots, reconnects, timers, tails: () => tails };
}

describe('PeerStreamFollower', () => {
  test('listing: nothing is handed out before tail; after tail every change is', async () => {
    const h = harness();
    h.follower.start();
    assert.equal(h.opened[0].gtRevision, undefined);
    h.opened[0].stream.push(change(device(1, 5)), change(device(2, 7)));
    await tick();
    assert.deepEqual(h.snapshots, [], 'a partial listing must not become the peer set');
    h.opened[0].stream.push(TAIL);
    await tick();
    assert.deepEqual(h.snapshots, [['dev-1', 'dev-2']]);
    assert.equal(h.tails(), 1);
    h.opened[0].stream.push(change(device(3, 9)), del(device(1, 10)));
    await tick();
    assert.deepEqual(h.snapshots.slice(1), [
      ['dev-1', 'dev-2', 'dev-3'],
      ['dev-2', 'dev-3'],
    ]);
    assert.equal(h.follower.revision, 10);
    await h.follower.stop();
    assert.equal(h.opened[0].stream.aborted, true);
  });

  test('a listing that fails before its tail is redone from nothing: a device deleted meanwhile is not handed out', async () => {
    const h = harness();
    h.follower.start();
    h.opened[0].stream.push(change(device(1, 3)), change(device(2, 4)));
    await tick();
    h.opened[0].stream.fail(new Error('ECONNRESET'));
    await tick();
    h.timers[0].fn();
    assert.equal(h.opened[1].gtRevision, undefined, 'no tail yet, so list again');
    h.opened[1].stream.push(change(device(2, 4)), TAIL);
    await tick();
    assert.deepEqual(h.snapshots, [['dev-2']]);
    await h.follower.stop();
  });

  test('a failed stream keeps the devices, backs off, and resumes after the last revision', async () => {
    const h = harness(0.5);
    h.follower.start();
    h.opened[0].stream.push(change(device(1, 3)), change(device(2, 4)), TAIL);
    await tick();
    h.opened[0].stream.fail(new Error('ECONNRESET'));
    await tick();
    assert.equal(h.follower.state, 'waiting');
    assert.deepEqual([...h.follower.devices.keys()].sort(), ['dev-1', 'dev-2'], 'last known peers kept');
    assert.deepEqual(h.reconnects, [{ attempt: 1, delay: 500 }]);
    assert.equal(h.timers[0].ms, 500);
    h.timers[0].fn();
    assert.equal(h.opened[1].gtRevision, 4);
    h.opened[1].stream.push(del(device(1, 5)), TAIL);
    await tick();
    assert.deepEqual(h.snapshots.at(-1), ['dev-2']);
    assert.equal(h.tails(), 2);
    await h.follower.stop();
  });

  test('backoff doubles up to the cap with full jitter, and resets after a tail', async () => {
    const h = harness(0.999);
    h.follower.start();
    for (let i = 0; i < 5; i++) {
      h.opened.at(-1)!.stream.fail(new Error('down'));
      await tick();
      h.timers.at(-1)!.fn();
    }
    assert.deepEqual(
      h.reconnects.map((r) => r.delay),
      [999, 1998, 3996, 4995, 4995],
    );
    h.opened.at(-1)!.stream.push(TAIL);
    await tick();
    h.opened.at(-1)!.stream.fail(new Error('down again'));
    await tick();
    assert.equal(h.reconnects.at(-1)!.delay, 999, 'reset after reaching the tail');
    await h.follower.stop();
  });

  test('an error event or a clean end of stream also reconnects; after stop nothing does', async () => {
    const h = harness(0);
    h.follower.start();
    h.opened[0].stream.push({ kind: 'device', type: 'error', value: { error: 'boom' } });
    await tick();
    assert.equal(h.reconnects.length, 1);
    h.timers[0].fn();
    await h.follower.stop();
    h.opened[1].stream.fail(new Error('late'));
    await tick();
    assert.equal(h.reconnects.length, 1);
    assert.equal(h.follower.state, 'stopped');
  });

  test('events without a device value and unknown types are ignored', async () => {
    const h = harness();
    h.follower.start();
    h.opened[0].stream.push(
      { kind: 'device', type: 'change', value: 42 },
      { kind: 'device', type: 'bookmark' },
      change(device(1, 1)),
      TAIL,
    );
    await tick();
    assert.deepEqual(h.snapshots, [['dev-1']]);
    await h.follower.stop();
  });
});

describe('startPeerSync', () => {
  test('the tail tells which peers are online: an offline one is not worth waiting for', async () => {
    let opened: FakeStream | undefined;
    const tails: { peers: string[]; online: string[] }[] = [];
    const sync = startPeerSync({
      open: (_gt, signal) => {
        opened = new FakeStream();
        return opened.iterate(signal);
      },
      sink: new MapSink(),
      selfPublicKey: K(9),
      readiness: new Readiness(),
      metrics: new NexdMetrics(() => []),
      logger: captureLogs().logger,
      onTail: (peers, online) =>
        tails.push({ peers: peers.map((p) => p.publicKey), online: [...online].sort() }),
    });
    // Device 1 online, device 2 offline (a replaced proxy's old device), device 3 from a service that does
    // not say (counted online, as before).
    opened!.push(
      change(device(1, 1, { online: true })),
      change(device(2, 2, { online: false })),
      change(device(3, 3)),
      TAIL,
    );
    await tick();
    assert.deepEqual(tails, [{ peers: [K(1), K(2), K(3)], online: [K(1), K(3)] }]);
    await sync.stop();
  });

  test('stream -> engine: tail-gated, self excluded, kept while disconnected, resumed, metrics and readiness', async () => {
    const opened: { gtRevision: number | undefined; stream: FakeStream }[] = [];
    const sink = new MapSink();
    const readiness = new Readiness();
    readiness.set('registered');
    const metrics = new NexdMetrics(() => []);
    const timers: (() => void)[] = [];
    const sync = startPeerSync({
      open: (gtRevision, signal) => {
        const stream = new FakeStream();
        opened.push({ gtRevision, stream });
        return stream.iterate(signal);
      },
      sink,
      selfPublicKey: K(2),
      readiness,
      metrics,
      logger: captureLogs().logger,
      follower: { random: () => 0, timers: { setTimeout: (fn) => timers.push(fn), clearTimeout: () => {} } },
    });
    const gauge = async () => (await metrics.peers.get()).values[0]?.value;
    const reconnects = async () => (await metrics.streamReconnects.get()).values[0]?.value;

    opened[0].stream.push(change(device(1, 1)), change(device(2, 2)), change(device(3, 3)));
    await tick();
    assert.equal(sink.peers.size, 0);
    assert.equal(readiness.ready, false);
    opened[0].stream.push(TAIL);
    await tick();
    assert.deepEqual([...sink.peers.keys()].sort(), [K(1), K(3)]);
    assert.deepEqual(sink.peers.get(K(1))?.allowedIps, ['100.100.0.1/32', '200::1/128']);
    assert.equal(readiness.ready, true);
    assert.equal(await gauge(), 2);

    opened[0].stream.fail(new Error('service down'));
    await tick();
    assert.equal(await reconnects(), 1);
    assert.equal(sink.peers.size, 2, 'the data plane keeps the last known peers');
    timers.shift()!();
    assert.equal(opened[1].gtRevision, 3);
    opened[1].stream.push(
      del(device(1, 4)),
      change(device(3, 5, { endpoints: [{ source: 'local', address: '198.18.0.33:51820' }] })),
      TAIL,
    );
    await tick();
    assert.deepEqual([...sink.peers.keys()], [K(3)]);
    assert.equal(sink.peers.get(K(3))?.endpoint, '198.18.0.33:51820');
    assert.equal(await gauge(), 1);
    assert.equal(sync.peers.length, 1);
    await sync.stop();
  });
});

describe('PeerStreamFollower and compacted tombstones', () => {
  test('NEX_ERR_WATCH_EXPIRED: the next connection lists again from nothing; peers kept until its tail', async () => {
    const h = harness();
    h.follower.start();
    h.opened[0].stream.push(change(device(1, 5)), change(device(2, 7)), TAIL);
    await tick();
    h.opened[0].stream.fail(new Error('ECONNRESET'));
    await tick();
    h.timers[0]!.fn();
    assert.equal(h.opened[1]!.gtRevision, 7, 'an ordinary reconnect resumes');
    h.opened[1]!.stream.push({
      kind: '',
      type: 'error',
      value: { error: 'revisions up to 9 were compacted', code: 'NEX_ERR_WATCH_EXPIRED' },
    });
    await tick();
    h.timers[1]!.fn();
    assert.equal(h.opened[2]!.gtRevision, undefined, 'after the expiry it lists everything again');
    const before = h.snapshots.length;
    h.opened[2]!.stream.push(change(device(2, 12)));
    await tick();
    assert.equal(h.snapshots.length, before, 'the partial listing is not handed out');
    h.opened[2]!.stream.push(TAIL);
    await tick();
    // dev-1 was deleted while its tombstone was purged: the new listing drops it.
    assert.deepEqual(h.snapshots.at(-1), ['dev-2']);
    await h.follower.stop();
  });
});
