// SPDX-License-Identifier: Apache-2.0
// The nexodus-server command: HTTPS with the generated self-signed certificate (trusted via its CA file),
// and `user add|list|delete`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ApiError, NexodusClient, OAuthClient } from '@nexodus/api';
import { startServer } from '../src/server.js';
import { createSelfSignedCertificate } from '../src/tls.js';

const CLI = join(import.meta.dirname, '../src/cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'nexsrv-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], stdin?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', CLI, '--state-dir', join(dir, 'users'), ...args],
      (err, stdout, stderr) =>
        resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 }),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

describe('nexodus-server', { timeout: 120_000 }, () => {
  it('runs through a symlink to its bin (npm .bin, the image PATH), not only as cli.js', async () => {
    const link = join(dir, 'nexodus-server');
    symlinkSync(CLI, link);
    const out = await new Promise<string>((resolve) =>
      execFile(process.execPath, ['--import', 'tsx', link, '--help'], (_e, stdout) => resolve(stdout)),
    );
    assert.match(out, /^Usage: nexodus-server/);
  });

  it('self-signed certificate: parses, names localhost and the loopback addresses, verifies itself', () => {
    const { certPem } = createSelfSignedCertificate(['localhost', '127.0.0.1', '::1']);
    const x = new X509Certificate(certPem);
    assert.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.ok(x.checkHost('localhost'));
    assert.ok(x.verify(x.publicKey));
  });

  it('serves HTTPS with a certificate generated on first start and kept across restarts', async () => {
    const stateDir = join(dir, 'tls');
    const lines: string[] = [];
    const o = {
      stateDir,
      listen: '127.0.0.1:0',
      adminPassword: 'tls-admin-pw-1',
      logLevel: 'warn',
      print: (l: string) => lines.push(l),
    };
    const s = await startServer(o);
    const caFile = join(stateDir, 'tls.crt');
    try {
      assert.ok(
        lines.some((l) => l.includes(caFile)),
        'the CA file path is printed',
      );
      assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const trusted = new OAuthClient({ baseUrl: s.url, caFile });
      const tok = await trusted.passwordGrant('admin', 'tls-admin-pw-1');
      await trusted.close();
      const c = new NexodusClient({ baseUrl: s.url, caFile, token: tok.access_token });
      assert.equal((await c.getMe()).username, 'admin');
      await c.close();
      const insecure = new NexodusClient({
        baseUrl: s.url,
        insecureSkipTlsVerify: true,
        token: tok.access_token,
      });
      assert.equal((await insecure.getMe()).username, 'admin');
      await insecure.close();
      const untrusted = new NexodusClient({ baseUrl: s.url, token: tok.access_token });
      await assert.rejects(
        untrusted.getMe(),
        (e: unknown) => e instanceof ApiError && e.code === 'NEX_CLIENT_ERR_NETWORK',
      );
    } finally {
      await s.close();
    }
    const pem = readFileSync(caFile, 'utf8');
    const s2 = await startServer(o);
    await s2.close();
    assert.equal(readFileSync(caFile, 'utf8'), pem, 'the certificate is reused');
  });

  it('user add --password-stdin, user list, user delete', async () => {
    const add = await cli(['user', 'add', 'carol', '--password-stdin'], 'carol-password-1\n');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /created user carol/);
    const dup = await cli(['user', 'add', 'carol', '--password-stdin'], 'carol-password-1\n');
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /IDENTITY_ERR_USER_EXISTS/);
    const weak = await cli(['user', 'add', 'dave', '--password-stdin'], 'x\n');
    assert.notEqual(weak.code, 0);
    const list = await cli(['user', 'list']);
    assert.match(list.stdout, /^carol\t/m);
    assert.doesNotMatch(list.stdout, /^dave\t/m);
    const del = await cli(['user', 'delete', 'carol']);
    assert.equal(del.code, 0, del.stderr);
    assert.doesNotMatch((await cli(['user', 'list'])).stdout, /^carol\t/m);
    assert.notEqual((await cli(['user', 'delete', 'carol'])).code, 0);
  });

  it('user add --full-name: /api/users/me shows it as full_name', async () => {
    const add = await cli(
      ['user', 'add', 'erin', '--full-name', 'Erin Example', '--password-stdin'],
      'erin-password-1\n',
    );
    assert.equal(add.code, 0, add.stderr);
    const server = await startServer({
      stateDir: join(dir, 'users'),
      listen: '127.0.0.1:0',
      httpListen: '127.0.0.1:0',
      adminPassword: 'erin-admin-pw-1',
      logLevel: 'silent',
      print: () => {},
    });
    try {
      const oauth = new OAuthClient({ baseUrl: server.url });
      const t = await oauth.passwordGrant('erin', 'erin-password-1');
      const c = new NexodusClient({ baseUrl: server.url, token: t.access_token });
      const me = await c.getMe();
      assert.deepEqual(me, { id: me.id, full_name: 'Erin Example', picture: '', username: 'erin' });
      await c.close();
      await oauth.close();
    } finally {
      await server.close();
    }
  });
});
