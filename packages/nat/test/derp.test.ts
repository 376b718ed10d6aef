// SPDX-License-Identifier: Apache-2.0
// The DERP relay: our client and server together (routing by proven key, PeerGone, bad input), and
// interop with Tailscale's own implementation both ways: our client against derper, and derphttp's
// client (scripts/test-peers/derper/derpcli, our driver of the published module) against our server.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testPeerBin } from '../../../test/e2e/lib/test-peers.js';
import { DerpClient, DerpServer, encodeFrame, FrameReader, publicKeyOf, toHex } from '../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Inbox {
  got: { from: string; data: string }[];
  gone: string[];
}

function client(url: string, key = randomBytes(32)): { c: DerpClient; inbox: Inbox; key: Uint8Array } {
  const inbox: Inbox = { got: [], gone: [] };
  const c = new DerpClient({
    url,
    privateKey: key,
    onPacket: (src, data) => inbox.got.push({ from: toHex(src), data: Buffer.from(data).toString() }),
    onPeerGone: (peer) => inbox.gone.push(toHex(peer)),
  });
  return { c, inbox, key };
}

async function ourRelay(): Promise<{ url: string; port: number; relay: DerpServer; close(): Promise<void> }> {
  const relay = new DerpServer({ privateKey: randomBytes(32) });
  const srv = http.createServer();
  relay.attach(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/derp`,
    port,
    relay,
    close: async () => {
      relay.close();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

describe('derp frames', () => {
  it('the reader splits a stream cut anywhere and refuses frames above its bound', () => {
    const a = encodeFrame(4, new Uint8Array(40).fill(7));
    const b = encodeFrame(6);
    const all = new Uint8Array([...a, ...b]);
    for (let cut = 0; cut <= all.length; cut++) {
      const r = new FrameReader(100);
      const f1 = r.push(all.subarray(0, cut));
      assert.ok(f1 !== 'too-large');
      const types = f1.map((f) => f.type);
      const f2 = r.push(all.subarray(cut));
      assert.ok(f2 !== 'too-large');
      assert.deepEqual([...types, ...f2.map((f) => f.type)], [4, 6]);
    }
    assert.equal(new FrameReader(10).push(encodeFrame(4, new Uint8Array(11))), 'too-large');
  });
});

describe('derp relay (ours <-> ours)', { timeout: 60_000 }, () => {
  let r: Awaited<ReturnType<typeof ourRelay>>;
  before(async () => {
    r = await ourRelay();
  });
  after(async () => r?.close());

  it('routes by the key each client proved; a third client gets nothing; unknown keys get PeerGone', async () => {
    const a = client(r.url);
    const b = client(r.url);
    const eve = client(r.url);
    try {
      await Promise.all([a.c.ready(), b.c.ready(), eve.c.ready()]);
      a.c.send(publicKeyOf(b.key), new TextEncoder().encode('hello b'));
      await waitFor('b receives', () => b.inbox.got[0]);
      assert.deepEqual(b.inbox.got, [{ from: toHex(a.c.publicKey), data: 'hello b' }]);
      b.c.send(publicKeyOf(a.key), new TextEncoder().encode('hello a'));
      await waitFor('a receives', () => a.inbox.got[0]);
      assert.equal(a.inbox.got[0]!.data, 'hello a');
      const nobody = randomBytes(32);
      a.c.send(nobody, new TextEncoder().encode('lost'));
      await waitFor('peer gone', () => a.inbox.gone[0]);
      assert.deepEqual(a.inbox.gone, [toHex(nobody)]);
      await sleep(100);
      assert.equal(eve.inbox.got.length, 0, 'eve received nothing addressed to others');
    } finally {
      a.c.close();
      b.c.close();
      eve.c.close();
    }
  });

  it('claiming a key without its private half fails the login (the box does not open)', async () => {
    const victim = client(r.url);
    await victim.c.ready();
    const before = r.relay.counters.protocolErrors;
    // A raw client that sends the victim's public key with a box sealed by some other key.
    const s = net.connect(r.port, '127.0.0.1');
    s.resume();
    await new Promise<void>((res) => s.once('connect', () => res()));
    s.write('GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n');
    await sleep(100);
    s.write(encodeFrame(2, victim.c.publicKey, randomBytes(24 + 16 + 20)));
    await new Promise<void>((res) => s.once('close', () => res()));
    assert.equal(r.relay.counters.protocolErrors, before + 1);
    // The victim still gets its own packets.
    const a = client(r.url);
    await a.c.ready();
    a.c.send(victim.c.publicKey, new TextEncoder().encode('still mine'));
    await waitFor('victim receives', () => victim.inbox.got[0]);
    a.c.close();
    victim.c.close();
  });

  it('random bytes at the relay port (before and after the upgrade) never crash it', async () => {
    for (let i = 0; i < 30; i++) {
      const s = net.connect(r.port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise<void>((res) => s.once('connect', () => res()));
      if (i % 2 === 0)
        s.write('GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n');
      s.write(randomBytes(1 + ((i * 97) % 3000)));
      s.end();
    }
    await sleep(300);
    const a = client(r.url);
    const b = client(r.url);
    await Promise.all([a.c.ready(), b.c.ready()]);
    a.c.send(b.c.publicKey, new TextEncoder().encode('after the noise'));
    await waitFor('b receives', () => b.inbox.got[0]);
    a.c.close();
    b.c.close();
  });
});

/**
 * A TCP hop in front of the relay that can go silent: once frozen it forwards nothing either way and
 * closes nothing, as a relay host that died or a firewall that started dropping the flow would.
 */
async function freezableHop(to: number): Promise<{ url: string; freeze(): void; close(): Promise<void> }> {
  let frozen = false;
  const socks = new Set<net.Socket>();
  const srv = net.createServer((a) => {
    const b = net.connect(to, '127.0.0.1');
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      socks.add(x);
      x.on('error', () => {});
      x.on('data', (d) => {
        if (!frozen) y.write(d);
      });
      x.on('close', () => y.destroy());
    }
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/derp`,
    freeze: () => {
      frozen = true;
    },
    close: async () => {
      for (const x of socks) x.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

describe('derp client liveness', { timeout: 30_000 }, () => {
  it('pings a quiet relay and stays up; gives up one that went silent', async () => {
    const r = await ourRelay();
    const hop = await freezableHop(r.port);
    const states: string[] = [];
    let reason = '';
    const c = new DerpClient({
      url: hop.url,
      privateKey: randomBytes(32),
      onPacket: () => {},
      onState: (st, detail) => {
        states.push(st);
        if (st === 'backoff') reason = detail ?? '';
      },
      liveness: { intervalMs: 150, timeoutMs: 300 },
    });
    try {
      await c.ready();
      // Quiet for several ping intervals: pongs keep it up.
      await sleep(1000);
      assert.equal(c.state, 'ready', states.join(' '));
      assert.equal(c.counters.silentDrops, 0);
      hop.freeze();
      const t0 = Date.now();
      await waitFor('backoff', () => (c.state === 'backoff' ? true : undefined), 5000);
      const took = Date.now() - t0;
      assert.ok(took < 1500, `given up after ${took} ms`);
      assert.match(reason, /^no answer from the relay for \d+ ms$/);
      assert.equal(c.counters.silentDrops, 1);
      assert.deepEqual(states.slice(0, 3), ['connecting', 'ready', 'backoff']);
    } finally {
      c.close();
      await hop.close();
      await r.close();
    }
  });

  it('gives up a dial that never logs in (a listener that says nothing)', async () => {
    const held = new Set<net.Socket>();
    const mute = net.createServer((s) => {
      held.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((res) => mute.listen(0, '127.0.0.1', () => res()));
    let reason = '';
    const c = new DerpClient({
      url: `http://127.0.0.1:${(mute.address() as net.AddressInfo).port}/derp`,
      privateKey: randomBytes(32),
      onPacket: () => {},
      onState: (st, detail) => {
        if (st === 'backoff') reason = detail ?? '';
      },
      liveness: { intervalMs: 1000, timeoutMs: 1000, connectTimeoutMs: 300 },
    });
    try {
      await waitFor('backoff', () => (c.state === 'backoff' ? true : undefined), 3000);
      assert.equal(reason, 'not logged in to the relay within 300 ms');
    } finally {
      c.close();
      for (const s of held) s.destroy();
      await new Promise<void>((res) => mute.close(() => res()));
    }
  });
});

function startProc(bin: string, args: string[]): { p: ChildProcess; out: () => string } {
  const p = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  p.stderr!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  return { p, out: () => out };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("derp interop with Tailscale's implementation", { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nat-derp-'));
  const procs: ChildProcess[] = [];
  after(() => {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it("our client through Tailscale's derper", async (t) => {
    const bin = testPeerBin(t, 'derper', 'derper');
    if (!bin) return;
    const port = await freePort();
    const d = startProc(bin, [
      '-a',
      `127.0.0.1:${port}`,
      '-http-port',
      '-1',
      '-stun=false',
      '-c',
      join(dir, 'derper.json'),
    ]);
    procs.push(d.p);
    const url = `http://127.0.0.1:${port}/derp`;
    await waitFor(
      'derper to listen',
      () => (/derper: serving on|listening on|serving/i.test(d.out()) ? true : undefined),
      20_000,
    ).catch((e) => {
      throw new Error(`${e}\n${d.out()}`);
    });
    const a = client(url);
    const b = client(url);
    try {
      await Promise.all([a.c.ready(), b.c.ready()]);
      a.c.send(b.c.publicKey, new TextEncoder().encode('via derper'));
      await waitFor('b receives via derper', () => b.inbox.got[0]);
      assert.deepEqual(b.inbox.got[0], { from: toHex(a.c.publicKey), data: 'via derper' });
      b.c.send(a.c.publicKey, new TextEncoder().encode('back via derper'));
      await waitFor('a receives via derper', () => a.inbox.got[0]);
      assert.equal(a.inbox.got[0]!.data, 'back via derper');
    } finally {
      a.c.close();
      b.c.close();
    }
  });

  it("Tailscale's derphttp client (derpcli) through our relay, both directions", async (t) => {
    const bin = testPeerBin(t, 'derper', 'derpcli');
    if (!bin) return;
    const r = await ourRelay();
    const ours = client(r.url);
    const cli = startProc(bin, ['-url', r.url]);
    procs.push(cli.p);
    try {
      await ours.c.ready();
      const ready = await waitFor(
        'derpcli ready',
        () => /^ready ([0-9a-f]{64})$/m.exec(cli.out())?.[1] ?? undefined,
        20_000,
      ).catch((e) => {
        throw new Error(`${e}\n${cli.out()}`);
      });
      cli.p.stdin!.write(`send ${toHex(ours.c.publicKey)} ${Buffer.from('from go').toString('hex')}\n`);
      await waitFor('ours receives from go', () => ours.inbox.got[0]);
      assert.deepEqual(ours.inbox.got[0], { from: ready, data: 'from go' });
      ours.c.send(Buffer.from(ready, 'hex'), new TextEncoder().encode('from ts'));
      const line = await waitFor(
        'go receives',
        () => /^recv ([0-9a-f]{64}) ([0-9a-f]*)$/m.exec(cli.out()) ?? undefined,
      );
      assert.equal(line[1], toHex(ours.c.publicKey));
      assert.equal(Buffer.from(line[2]!, 'hex').toString(), 'from ts');
    } finally {
      ours.c.close();
      cli.p.stdin!.end();
      await r.close();
    }
  });
});
