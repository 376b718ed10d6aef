// SPDX-License-Identifier: Apache-2.0
// Runs the real `nexodus-server` command (src/cli.ts through tsx) in a child process on a free loopback port.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '../../src/cli.ts');

/** Starts the CLI with `args` (plain HTTP on 127.0.0.1:0); resolves with its URL once it listens. */
export function spawnServer(
  args: string[],
  adminPassword: string,
): Promise<{ proc: ChildProcess; url: string }> {
  // setpriv --pdeathsig: the kernel SIGTERMs the server when this test process dies without stopServer()
  // (runner timeout, Ctrl-C, kill -9), so no server is left holding a port and a database connection.
  const proc = spawn(
    '/usr/bin/setpriv',
    [
      '--pdeathsig',
      'TERM',
      '--',
      process.execPath,
      '--import',
      'tsx',
      CLI,
      '--log-level',
      'warn',
      '--http-listen',
      '127.0.0.1:0',
      ...args,
    ],
    {
      env: { ...process.env, NEXODUS_ADMIN_PASSWORD: adminPassword },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

/** SIGTERM and wait for exit (SIGKILL after 5 s). */
export async function stopServer(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}
