// SPDX-License-Identifier: Apache-2.0
// The control socket answers clients that half-close after their request (`printf ... | nc -U -N`,
// `socat`, a shutdown(SHUT_WR) client): the reply comes after the client's FIN, then the server ends.
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { serveControl } from '../src/control/server.js';
import { captureLogs, tempDir } from './helpers.js';

/** Writes `text`, half-closes, and collects everything until the server ends the connection. */
function halfClosingCall(path: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ path, allowHalfOpen: true });
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      got += d;
    });
    c.on('end', () => {
      c.end();
      resolve(got);
    });
    c.on('error', reject);
    c.on('connect', () => c.end(text));
  });
}

test('a client that half-closes after its request still gets the answer of a slow handler', async () => {
  const dir = await tempDir();
  let applied = 0;
  const server = await serveControl(
    join(dir.path, 'nexd.sock'),
    {
      'proxy.add': async () => {
        await new Promise((r) => setTimeout(r, 50));
        applied++;
        return { added: [{ type: 'ingress', rule: 'tcp:80:127.0.0.1:80' }] };
      },
      version: () => ({ version: '1.2.3' }),
    },
    captureLogs().logger,
  );
  try {
    const out = await halfClosingCall(
      server.path,
      '{"id":1,"method":"proxy.add","params":{}}\n{"id":2,"method":"version"}\n',
    );
    assert.equal(applied, 1);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number });
    assert.deepEqual(lines.map((l) => l.id).sort(), [1, 2], 'both requests answered');
    assert.deepEqual(
      lines.find((l) => l.id === 1),
      {
        id: 1,
        result: { added: [{ type: 'ingress', rule: 'tcp:80:127.0.0.1:80' }] },
      },
    );
    // A last request without its newline counts too: the FIN ends the line.
    const last = await halfClosingCall(server.path, '{"id":3,"method":"version"}');
    assert.deepEqual(JSON.parse(last), { id: 3, result: { version: '1.2.3' } });
  } finally {
    await server.close();
    await dir.remove();
  }
});
