// SPDX-License-Identifier: Apache-2.0
// Commands and processes for the e2e harness: one-shot commands (`exec`, optionally inside a namespace) with
// stdout/stderr/exit code, long-running processes (`Proc`) that are always ended, and `waitFor` polling.

import { type ChildProcess, execFile } from 'node:child_process';

/** Result of a finished command. `code` is the exit status, or -1 when it was killed by a signal or timed out. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  /** Bytes or text written to the command's stdin, which is then closed. */
  input?: string | Uint8Array;
  /** Kill the command after this many milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Throw a `LabError` when the exit status is not 0 (default true). */
  check?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Error raised by the lab; `code` says which step failed, the message names the command and its stderr. */
export class LabError extends Error {
  readonly code: 'NEX_ERR_E2E_COMMAND' | 'NEX_ERR_E2E_INVALID' | 'NEX_ERR_E2E_TIMEOUT';
  constructor(code: LabError['code'], message: string) {
    super(message);
    this.name = 'LabError';
    this.code = code;
  }
}

/** Runs `cmd args` on the host (root namespace). */
export function execHost(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args as string[],
      {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 64 * 1024 * 1024,
        env: opts.env ?? process.env,
        cwd: opts.cwd,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        const result = { stdout, stderr, code };
        if (code !== 0 && opts.check !== false) {
          const what = `${cmd} ${args.join(' ')}`;
          const reason = err?.killed ? 'was killed (timeout?)' : `exited with ${code}`;
          reject(
            new LabError('NEX_ERR_E2E_COMMAND', `\`${what}\` ${reason}: ${stderr.trim() || stdout.trim()}`),
          );
          return;
        }
        resolve(result);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** A namespace name, or `null` for the root namespace the test process runs in. */
export type Ns = string | null;

export function nsArgv(ns: Ns, cmd: string, args: readonly string[]): [string, string[]] {
  return ns === null ? [cmd, [...args]] : ['ip', ['netns', 'exec', ns, cmd, ...args]];
}

/** Runs `cmd args` inside namespace `ns` (`ip netns exec`), or on the host when `ns` is null. */
export function exec(
  ns: Ns,
  cmd: string,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const [c, a] = nsArgv(ns, cmd, args);
  return execHost(c, a, opts);
}

/** A long-running child process; `stop()` always ends it (SIGTERM, then SIGKILL to its process group). */
export class Proc {
  readonly child: ChildProcess;
  readonly name: string;
  private out = '';
  private err = '';
  private exited: Promise<number>;
  private exitCode: number | undefined;

  /** `rawStdout`: leave stdout unread and undecoded for the caller (binary protocols). */
  constructor(child: ChildProcess, name: string, rawStdout = false) {
    this.child = child;
    this.name = name;
    // Keep a bounded tail of the output for error messages; a server that logs a lot must not grow the heap.
    const keep = (s: string, d: string) => (s + d).slice(-64 * 1024);
    if (!rawStdout)
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.out = keep(this.out, d)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.err = keep(this.err, d)));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : 0);
        resolve(this.exitCode);
      });
      child.once('error', () => {
        this.exitCode = -1;
        resolve(-1);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }
  /** Exit status once the process has ended, otherwise undefined. */
  get exit(): number | undefined {
    return this.exitCode;
  }
  /** Resolves with the exit status. */
  wait(): Promise<number> {
    return this.exited;
  }

  /** Sends SIGTERM, waits up to `graceMs`, then SIGKILLs the whole process group. Idempotent. */
  async stop(graceMs = 2000): Promise<number> {
    if (this.exitCode !== undefined) return this.exitCode;
    const pid = this.child.pid;
    if (pid === undefined) return this.exited;
    signalGroup(pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)));
    const first = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (first === 'timeout') {
      signalGroup(pid, 'SIGKILL');
      return this.exited;
    }
    return first;
  }
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone: nothing to stop.
    }
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls `probe` every `intervalMs` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new LabError(
        'NEX_ERR_E2E_TIMEOUT',
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
