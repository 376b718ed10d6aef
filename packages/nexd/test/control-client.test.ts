// SPDX-License-Identifier: Apache-2.0
// ControlClient against misbehaving servers: no answer, a non-JSON answer, a closed connection.
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { ControlClient } from '../src/control/client.js';
import { tempDir } from './helpers.js';

let dir: { path: string; remove(): Promise<void> };
let server: net.Server | undefined;
const sockets = new Set<net.Socket>();

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  await dir.remove();
});

async function serve(onLine: (socket: net.Socket, line: string) => void): Promise<string> {
  const path = join(dir.path, 'fake.sock');
  server = net.createServer((s) => {
    sockets.add(s);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      for (const line of d.split('\n').filter(Boolean)) onLine(s, line);
    });
  });
  await new Promise<void>((r) => server!.listen(path, () => r()));
  return path;
}

test('a call nexd never answers times out with NEX_ERR_CONTROL; later answers still match their ids', async () => {
  const path = await serve((s, line) => {
    const req = JSON.parse(line);
    if (req.method === 'version')
      s.write(`${JSON.stringify({ id: req.id, result: { version: '9.9.9' } })}\n`);
  });
  const c = await ControlClient.connect(path);
  c.timeoutMs = 100;
  await assert.rejects(c.call('status'), {
    code: 'NEX_ERR_CONTROL',
    message: /did not answer status within 100 ms/,
  });
  assert.deepEqual(await c.call('version'), { version: '9.9.9' });
  c.close();
});

test('a non-JSON answer fails the call with NEX_ERR_CONTROL, and later calls too', async () => {
  const path = await serve((s) => s.write('garbage\n'));
  const c = await ControlClient.connect(path);
  await assert.rejects(c.call('peers'), { code: 'NEX_ERR_CONTROL' });
  await assert.rejects(c.call('peers'), { code: 'NEX_ERR_CONTROL' }, 'the client stays failed');
});

test('nexd closing the connection fails the pending call at once', async () => {
  const path = await serve((s) => s.destroy());
  const c = await ControlClient.connect(path);
  const started = Date.now();
  await assert.rejects(c.call('status'), { code: 'NEX_ERR_CONTROL', message: /closed the control socket/ });
  assert.ok(Date.now() - started < 1000);
});
