// SPDX-License-Identifier: Apache-2.0
// The service's DERP relay: TLS with the API's certificate on its own port, announced at
// /.well-known/nexodus-relays, relays between two clients, and survives random bytes on its port.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DerpClient, toHex } from '@nexodus/nat';
import { startServer } from '../src/server.js';

const dir = mkdtempSync(join(tmpdir(), 'nexsrv-relay-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function getJson(url: string, ca: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

describe('nexodus-server DERP relay', { timeout: 60_000 }, () => {
  it('is announced, speaks TLS with the API certificate, relays, and shrugs off random bytes', async () => {
    const stateDir = join(dir, 'a');
    const s = await startServer({
      stateDir,
      listen: '127.0.0.1:0',
      relayListen: '127.0.0.1:0',
      adminPassword: 'relay-admin-pw-1',
      logLevel: 'warn',
      print: () => {},
    });
    const ca = readFileSync(join(stateDir, 'tls.crt'), 'utf8');
    const got: string[] = [];
    const a = new DerpClient({ url: s.relayUrl!, privateKey: randomBytes(32), ca, onPacket: () => {} });
    const b = new DerpClient({
      url: s.relayUrl!,
      privateKey: randomBytes(32),
      ca,
      onPacket: (src, d) => got.push(`${toHex(src)} ${Buffer.from(d).toString()}`),
    });
    try {
      assert.match(s.relayUrl!, /^https:\/\/(localhost|127\.0\.0\.1):\d+\/derp$/);
      assert.deepEqual(await getJson(`${s.url}/.well-known/nexodus-relays`, ca), { relays: [s.relayUrl] });
      for (let i = 0; i < 20; i++) {
        const sock = net.connect(s.relay!.port, '127.0.0.1');
        sock.on('error', () => {});
        sock.on('connect', () => sock.end(randomBytes(10 + i * 50)));
      }
      await Promise.all([a.ready(), b.ready()]);
      a.send(b.publicKey, new TextEncoder().encode('over tls'));
      const deadline = Date.now() + 10_000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got, [`${toHex(a.publicKey)} over tls`]);
      assert.equal(s.relay!.relay.clients, 2);
    } finally {
      a.close();
      b.close();
      await s.close();
    }
  });

  it('announces several relays: the built-in one first, then --relay-announce, each once', async () => {
    const stateDir = join(dir, 'several');
    const s = await startServer({
      stateDir,
      listen: '127.0.0.1:0',
      relayListen: '127.0.0.1:0',
      relayAnnounce: [
        'https://relay-b.example/derp',
        'http://10.0.0.7:8443/derp',
        'https://relay-b.example/derp',
      ],
      adminPassword: 'relay-admin-pw-2',
      logLevel: 'warn',
      print: () => {},
    });
    try {
      const ca = readFileSync(join(stateDir, 'tls.crt'), 'utf8');
      assert.deepEqual(await getJson(`${s.url}/.well-known/nexodus-relays`, ca), {
        relays: [s.relayUrl, 'https://relay-b.example/derp', 'http://10.0.0.7:8443/derp'],
      });
    } finally {
      await s.close();
    }
    // Without a relay of its own the service still announces the others.
    const t = await startServer({
      stateDir,
      listen: '127.0.0.1:0',
      relayAnnounce: ['https://relay-b.example/derp'],
      adminPassword: 'relay-admin-pw-2',
      logLevel: 'warn',
      print: () => {},
    });
    try {
      const ca = readFileSync(join(stateDir, 'tls.crt'), 'utf8');
      assert.deepEqual(await getJson(`${t.url}/.well-known/nexodus-relays`, ca), {
        relays: ['https://relay-b.example/derp'],
      });
    } finally {
      await t.close();
    }
  });

  it('refuses an announced relay that is not an http(s) URL, saying what is expected', async () => {
    for (const bad of ['relay-b.example:443', 'ftp://relay-b.example/derp', '']) {
      await assert.rejects(
        startServer({
          stateDir: join(dir, 'bad'),
          listen: '127.0.0.1:0',
          relayAnnounce: [bad],
          adminPassword: 'relay-admin-pw-3',
          logLevel: 'warn',
          print: () => {},
        }),
        /--relay-announce: expected a relay URL like https:\/\/relay\.example:443\/derp/,
      );
    }
  });

  it('`nexodus-server relay` runs the relay alone (TLS with a self-signed certificate in the state dir)', async () => {
    const stateDir = join(dir, 'alone');
    const cli = join(import.meta.dirname, '../src/cli.ts');
    const p = spawn(process.execPath, [
      '--import',
      'tsx',
      cli,
      '--state-dir',
      stateDir,
      'relay',
      '--bind',
      '127.0.0.1:0',
    ]);
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (x: string) => {
      out += x;
    });
    try {
      const deadline = Date.now() + 20_000;
      let port: string | undefined;
      while (!(port = /listening on TCP port (\d+) \(TLS\)/.exec(out)?.[1]) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      assert.ok(port, out);
      const ca = readFileSync(join(stateDir, 'tls.crt'), 'utf8');
      const url = `https://localhost:${port}/derp`;
      const got: string[] = [];
      const a = new DerpClient({ url, privateKey: randomBytes(32), ca, onPacket: () => {} });
      const b = new DerpClient({
        url,
        privateKey: randomBytes(32),
        ca,
        onPacket: (_s, d) => got.push(Buffer.from(d).toString()),
      });
      await Promise.all([a.ready(), b.ready()]);
      a.send(b.publicKey, new TextEncoder().encode('standalone'));
      const until = Date.now() + 10_000;
      while (got.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      a.close();
      b.close();
      assert.deepEqual(got, ['standalone']);
    } finally {
      p.kill('SIGTERM');
    }
  });
});
