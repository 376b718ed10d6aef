// SPDX-License-Identifier: Apache-2.0
// `nexd proxy` as a real child process (loopback data plane): SIGTERM stops accepting, lets open
// connections finish within --drain-timeout, then exits 0. Also the CLI's exit codes for bad input.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOCAL_HOST } from './fixtures/loopback-data-plane.js';
import { eventually, freePort, type TcpEcho, tcpEcho, tcpRoundTrip, tempDir } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/nexd-child.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

interface Child {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(script: string, args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child: Child = {
    proc,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  proc.stdout!.on('data', (d) => {
    child.stdout += d;
  });
  proc.stderr!.on('data', (d) => {
    child.stderr += d;
  });
  return child;
}

let dir: { path: string; remove(): Promise<void> };
let echo: TcpEcho;
const children: Child[] = [];
beforeEach(async () => {
  dir = await tempDir();
  echo = await tcpEcho('E');
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await c.exit;
  }
  await echo.close();
  await dir.remove();
});

async function startChild(port: number, drainSeconds: number): Promise<Child> {
  const c = run(FIXTURE, [
    '--state-dir',
    join(dir.path, 'state'),
    '--drain-timeout',
    String(drainSeconds),
    'proxy',
    '--egress',
    `tcp:${port}:127.0.0.1:${echo.port}`,
    'http://127.0.0.1:1',
  ]);
  children.push(c);
  await eventually(
    () => c.stdout.includes('nexd proxy running') || c.proc.exitCode !== null,
    15_000,
    'child start',
  );
  assert.equal(c.proc.exitCode, null, c.stderr);
  return c;
}

function openConnection(port: number) {
  const s = net.connect(port, LOCAL_HOST);
  const got: Buffer[] = [];
  s.on('data', (d) => got.push(d));
  s.on('error', () => {});
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  return { s, text: () => Buffer.concat(got).toString(), closed };
}

describe('graceful shutdown (child process)', () => {
  test('SIGTERM: refuse new connections, let the open one finish, exit 0 before the drain timeout', async () => {
    const port = await freePort();
    const c = await startChild(port, 20);
    const conn = openConnection(port);
    conn.s.write('a');
    await eventually(() => conn.text() === 'E:a');
    const t0 = Date.now();
    c.proc.kill('SIGTERM');
    await eventually(() => c.stdout.includes('shutting down'), 5000, 'shutdown log');
    await assert.rejects(tcpRoundTrip(port, 'new', LOCAL_HOST), { code: 'ECONNREFUSED' });
    conn.s.write('b');
    await eventually(() => conn.text() === 'E:ab', 5000, 'open connection still served');
    conn.s.end();
    const { code } = await c.exit;
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 10_000, 'exited once the connection finished, not at the 20 s timeout');
    assert.match(c.stdout, /shutdown complete/);
  });

  test('SIGTERM with an idle connection: it is closed at the drain timeout and nexd exits 0', async () => {
    const port = await freePort();
    const c = await startChild(port, 1);
    const conn = openConnection(port);
    conn.s.write('x');
    await eventually(() => conn.text() === 'E:x');
    const t0 = Date.now();
    c.proc.kill('SIGTERM');
    const { code } = await c.exit;
    const elapsed = Date.now() - t0;
    assert.equal(code, 0);
    assert.ok(elapsed >= 900, `waited for the drain timeout (${elapsed} ms)`);
    assert.ok(elapsed < 8000, `but not much longer (${elapsed} ms)`);
    await conn.closed;
    assert.match(c.stdout, /closed connections still open after the drain timeout/);
  });
});

describe('nexd CLI exit codes', () => {
  test('bad rule: exit 2, one clear line on stderr, nothing created', async () => {
    const c = run(CLI, [
      '--state-dir',
      join(dir.path, 'never'),
      'proxy',
      '--ingress',
      'tcp:80:x',
      'https://a',
    ]);
    children.push(c);
    const { code } = await c.exit;
    assert.equal(code, 2);
    assert.equal(
      c.stderr,
      'nexd: invalid ingress rule "tcp:80:x": it has only 3 of 4 parts; expected protocol:port:destination:destination_port, e.g. tcp:80:100.100.0.1:80 or udp:53:[fd00::53]:53\n',
    );
    await assert.rejects(stat(join(dir.path, 'never')), { code: 'ENOENT' });
  });

  test('version and help: exit 0 on stdout', async () => {
    const v = run(CLI, ['version']);
    const h = run(CLI, ['--help']);
    children.push(v, h);
    assert.equal((await v.exit).code, 0);
    assert.match(v.stdout, /^nexd \d+\.\d+\.\d+\n$/);
    assert.equal((await h.exit).code, 0);
    assert.match(h.stdout, /Usage: nexd \[global options\] \[command\] \[service-url\]/);
  });

  test('service unreachable: keys are generated and kept; nexd retries (logged) instead of exiting; SIGTERM ends it', async () => {
    const c = run(CLI, ['--state-dir', join(dir.path, 's'), 'proxy', 'http://127.0.0.1:1'], {
      NEXD_LOG_LEVEL: 'warn',
      NEXD_USERNAME: 'u',
      NEXD_PASSWORD: 'p',
    });
    children.push(c);
    await eventually(
      () => /the service is not reachable yet; retrying/.test(c.stdout),
      20_000,
      'a retry log',
    );
    assert.match(c.stdout, /cannot reach the service at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED/);
    assert.equal(c.proc.exitCode, null, 'still running');
    const state = JSON.parse(await readFile(join(dir.path, 's', 'state.json'), 'utf8'));
    assert.match(state.privateKey, /^[A-Za-z0-9+/]{43}=$/);
    c.proc.kill('SIGTERM');
    // Nothing runs yet to drain: the signal ends it as it is (no handler before the daemon is up).
    const end = await c.exit;
    assert.ok(end.code === 0 || end.signal === 'SIGTERM', JSON.stringify(end));
  });
});
