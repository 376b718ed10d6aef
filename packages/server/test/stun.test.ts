// SPDX-License-Identifier: Apache-2.0
// The service's STUN responder: on its own UDP port next to the API, answers Binding requests with the
// client's address, survives random bytes; an explicitly requested port that is taken fails the start.
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { StunClient } from '@nexodus/nat';
import { startServer } from '../src/server.js';

const dir = mkdtempSync(join(tmpdir(), 'nexsrv-stun-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function udpClient(): Promise<{ sock: dgram.Socket; client: StunClient }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const client = new StunClient({
    send: (d, to) => sock.send(d, to.port, to.address),
    random: (b) => randomFillSync(b),
  });
  sock.on('message', (m, r) => client.handle(m, { address: r.address, port: r.port }));
  return { sock, client };
}

describe('nexodus-server STUN responder', { timeout: 60_000 }, () => {
  it('answers Binding requests on its own port; random bytes do not crash it', async () => {
    const lines: string[] = [];
    const s = await startServer({
      stateDir: join(dir, 'a'),
      httpListen: '127.0.0.1:0',
      stunListen: '127.0.0.1:0',
      adminPassword: 'stun-admin-pw-1',
      logLevel: 'warn',
      print: (l) => lines.push(l),
    });
    const { sock, client } = await udpClient();
    try {
      assert.ok(s.stunPort && s.stunPort > 0);
      assert.ok(lines.some((l) => l.includes(`UDP port ${s.stunPort}`)));
      const junk = dgram.createSocket('udp4');
      for (let i = 0; i < 500; i++) junk.send(randomFillSync(Buffer.alloc(i % 200)), s.stunPort, '127.0.0.1');
      // A STUN-shaped header with a random body.
      const hdr = Buffer.from('000100302112a442000000000000000000000000', 'hex');
      for (let i = 0; i < 100; i++)
        junk.send(Buffer.concat([hdr, randomFillSync(Buffer.alloc(48))]), s.stunPort, '127.0.0.1');
      junk.close();
      const got = await client.query({ address: '127.0.0.1', port: s.stunPort });
      assert.deepEqual(got, { address: '127.0.0.1', port: sock.address().port });
      const res = await fetch(`${s.url}/api/users/me`);
      assert.equal(res.status, 401, 'the API still answers');
    } finally {
      sock.close();
      await s.close();
    }
  });

  it('an explicitly requested STUN port that is taken fails the start with a clear message', async () => {
    const blocker = dgram.createSocket('udp4');
    await new Promise<void>((r) => blocker.bind(0, '127.0.0.1', () => r()));
    try {
      await assert.rejects(
        startServer({
          stateDir: join(dir, 'b'),
          httpListen: '127.0.0.1:0',
          stunListen: `127.0.0.1:${blocker.address().port}`,
          adminPassword: 'stun-admin-pw-2',
          logLevel: 'silent',
          print: () => {},
        }),
        /--stun-listen 127\.0\.0\.1:\d+: cannot bind UDP/,
      );
    } finally {
      blocker.close();
    }
  });
});
