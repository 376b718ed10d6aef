// SPDX-License-Identifier: Apache-2.0
// RelayPath (reach/relay.ts) with several relays, in one process: real DERP relays (ours, plain HTTP on
// loopback) and real Tunnels reaching each other only through them (--relay-only). Each peer gets one
// candidate per relay; a device on relay B only is reached through B by one on A and B (the relay A
// answers "not here" and the peer moves); when the relay in use closes, peers move to the other at once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DerpServer } from '@nexodus/nat';
import { encodeKey, generatePrivateKey } from '@nexodus/wireguard';
import { pino } from 'pino';
import { createLogger } from '../src/log.js';
import { MAX_RELAYS, RelayPath } from '../src/reach/relay.js';
import { Tunnel } from '../src/tunnel/tunnel.js';

const logger = createLogger('silent');

async function relay(): Promise<{ url: string; close(): Promise<void> }> {
  const derp = new DerpServer({ privateKey: randomBytes(32) });
  const srv = http.createServer();
  derp.attach(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/derp`,
    close: async () => {
      derp.close();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms: number,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Device {
  tunnel: Tunnel;
  path: RelayPath;
  address: string;
}

describe('RelayPath with two relays (relay-only tunnels on loopback)', { timeout: 60_000 }, () => {
  let a: Awaited<ReturnType<typeof relay>>;
  let b: Awaited<ReturnType<typeof relay>>;
  const devices: Device[] = [];

  async function device(n: number, urls: string[]): Promise<Device> {
    const privateKey = encodeKey(generatePrivateKey());
    const tunnel = await Tunnel.open({
      privateKey,
      addresses: [`100.100.0.${n}/16`],
      logger,
      simultaneousPeers: true,
      relayOnly: true,
    });
    const path = new RelayPath({ urls, privateKey, tunnel, logger, relayOnly: true });
    const d = { tunnel, path, address: `100.100.0.${n}` };
    devices.push(d);
    return d;
  }

  const link = (x: Device, y: Device) => {
    for (const [p, q] of [
      [x, y],
      [y, x],
    ] as const)
      p.tunnel.setPeer({
        publicKey: q.tunnel.node.publicKey,
        allowedIps: [`${q.address}/32`],
        persistentKeepalive: 20,
      });
  };
  const pathTo = (x: Device, y: Device) =>
    x.tunnel.peers().find((p) => p.publicKey === y.tunnel.node.publicKey);
  const pings = async (x: Device, y: Device) => (await x.tunnel.ping(y.address, 1000)).rttMs !== undefined;

  before(async () => {
    a = await relay();
    b = await relay();
  });
  after(async () => {
    for (const d of devices) {
      d.path.close();
      await d.tunnel.close();
    }
    await a?.close();
    await b?.close();
  });

  it('a device on B only and one on A and B find the common relay', async () => {
    const both = await device(1, [a.url, b.url]);
    const onlyB = await device(3, [b.url]);
    link(both, onlyB);
    await until('a ping over the relay', () => pings(both, onlyB) || undefined, 15_000);
    assert.deepEqual(
      [pathTo(both, onlyB)?.path, pathTo(both, onlyB)?.endpoint],
      ['relay', new URL(b.url).href],
      JSON.stringify(pathTo(both, onlyB)),
    );
    assert.equal(pathTo(onlyB, both)?.endpoint, new URL(b.url).href);
  });

  it('the relay in use closes: peers move to the other relay at once', async () => {
    const [one] = devices;
    const two = await device(2, [a.url, b.url]);
    // Once both are on both relays, a new peer starts on the first relay's candidate.
    const probeKey = encodeKey(generatePrivateKey());
    await until(
      'both relays connected',
      () => [one!, two].every((d) => d.tunnel.peerSet.relayEndpoints?.(probeKey).length === 2) || undefined,
      10_000,
    );
    link(one!, two);
    await until('a ping over the relay', () => pings(one!, two) || undefined, 15_000);
    const first = pathTo(one!, two);
    assert.equal(first?.path, 'relay');
    assert.equal(first?.endpoint, new URL(a.url).href, JSON.stringify(first));
    const t0 = Date.now();
    await a.close();
    await until('pings over relay B', () => pings(one!, two) || undefined, 5000);
    const took = Date.now() - t0;
    assert.ok(took < 3000, `moved after ${took} ms`);
    console.log(`# moved to relay B ${took} ms after relay A closed`);
    assert.equal(pathTo(one!, two)?.endpoint, new URL(b.url).href);
    assert.equal(pathTo(two, one!)?.endpoint, new URL(b.url).href);
  });

  it(`uses at most ${MAX_RELAYS} relays and warns about the rest`, async () => {
    const lines: string[] = [];
    const warnLogger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const tunnel = await Tunnel.open({
      privateKey: encodeKey(generatePrivateKey()),
      addresses: ['100.100.0.9/16'],
      logger,
    });
    // Nothing listens on port 1: the clients only retry.
    const urls = Array.from({ length: MAX_RELAYS + 2 }, (_, i) => `http://127.0.0.1:1/derp${i}`);
    const path = new RelayPath({
      urls,
      privateKey: encodeKey(generatePrivateKey()),
      tunnel,
      logger: warnLogger,
    });
    try {
      assert.deepEqual(path.urls, urls.slice(0, MAX_RELAYS));
      const warn = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => /more than 8 relays/.test(String(l.msg)));
      assert.deepEqual(warn?.ignored, urls.slice(MAX_RELAYS), lines.join(''));
    } finally {
      path.close();
      await tunnel.close();
    }
  });
});
