// SPDX-License-Identifier: Apache-2.0
// End-to-end harness for nexd (used by test/e2e/nexd-*.test.ts and bench/proxy.bench.ts): the real
// nexodus-server CLI, real `nexd proxy` processes and nexctl, each a child process on loopback, with
// their JSON log lines captured. Everything started here is tracked and stopped by `stopAll()`.
// The built CLIs (dist/) are used: run `npx tsc -b` first (scripts/test.sh does).
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const SERVER_CLI = join(REPO, 'packages/server/dist/cli.js');
export const NEXD_CLI = join(REPO, 'packages/nexd/dist/cli.js');
export const NEXCTL_CLI = join(REPO, 'packages/nexctl/dist/cli.js');

/**
 * The node flags nexd's bin asks for in its shebang (`#!/usr/bin/env -S node <flags>`): processes started
 * here as `node <flags> cli.js` run as the installed `nexd` does.
 */
export function nexdNodeFlags(): string[] {
  if (!existsSync(NEXD_CLI)) return [];
  const first = readFileSync(NEXD_CLI, 'utf8').split('\n', 1)[0];
  const m = /^#!\S*env -S node(?<flags>( +-\S+)*)\s*$/.exec(first);
  return m?.groups?.flags?.trim().split(/ +/).filter(Boolean) ?? [];
}
export const ADMIN_PASSWORD = 'nexdint-admin-pw';

/** Why the e2e suites cannot run, or undefined when the built CLIs are there. */
export function buildSkipReason(): string | undefined {
  for (const f of [SERVER_CLI, NEXD_CLI, NEXCTL_CLI]) {
    if (!existsSync(f)) return `needs a build: ${f} is missing (run npx tsc -b)`;
  }
  return undefined;
}

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
// A runner that dies without `after()` (EPIPE on a closed pipe, an uncaught error) must not leave
// servers and proxies behind: kill them synchronously on exit.
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `nexdint-${tag}-`));
  dirs.add(d);
  return d;
}

export async function stopAll(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all([...children].map((c) => exited(c)));
  children.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((r) => c.once('exit', () => r()));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

export async function freePort(type: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (type === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const p = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return p;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const p = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return p;
}

/** A child process whose stdout/stderr are kept (stdout also split into JSON log lines). */
export class Child {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly logs: Record<string, unknown>[] = [];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: (() => void)[] = [];

  constructor(cmd: string, args: string[], env: Record<string, string | undefined>, input?: string) {
    this.proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(this.proc);
    let partial = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      this.stdout += s;
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        if (!l.startsWith('{')) continue;
        try {
          this.logs.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
      this.#wake();
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
      this.stderr += s;
      this.#wake();
    });
    if (input !== undefined) this.proc.stdin!.end(input);
    else this.proc.stdin!.end();
    this.exit = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        children.delete(this.proc);
        this.#wake();
        resolve({ code, signal });
      }),
    );
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Waits until `match` finds something in the output (or the process exits, which is an error). */
  async waitOutput<T>(what: string, match: () => T | undefined, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = match();
      if (v !== undefined) return v;
      if (!this.running) {
        throw new Error(
          `process exited while waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 500));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  waitLog(what: string, pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number) {
    return this.waitOutput(what, () => this.logs.find(pred), timeoutMs);
  }

  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.proc.kill(signal);
    return this.exit;
  }
}

export class ServerProcess {
  child!: Child;
  url: string;
  /** The self-signed CA file when serving HTTPS. */
  caFile: string | undefined;

  private constructor(
    readonly stateDir: string,
    readonly port: number,
    readonly https: boolean,
    /** Extra server flags, i.e. `['--relay-listen', '127.0.0.1:4443']`. */
    readonly extraArgs: string[] = [],
  ) {
    this.url = `${https ? 'https' : 'http'}://127.0.0.1:${port}`;
  }

  /** The issuer's path when started with `issuerPath` (the OIDC routes then live only under it). */
  issuerPath = '';

  /**
   * `issuerPath` (i.e. `/realms/nexodus`) forces the original login flow: the issuer gets a path of its own, as
   * a Keycloak realm has, so clients reach the token endpoint only through /device/login/start and discovery.
   * `args` go to the server after the harness's own.
   */
  static async start(
    opts: { https?: boolean; args?: string[]; issuerPath?: string } = {},
  ): Promise<ServerProcess> {
    const s = new ServerProcess(tempDir('srv'), await freePort(), opts.https === true, opts.args);
    s.issuerPath = opts.issuerPath ?? '';
    await s.start();
    return s;
  }

  /** Starts (or restarts) the server on the same port and state. */
  async start(): Promise<void> {
    const listen = this.https
      ? ['--listen', `127.0.0.1:${this.port}`]
      : ['--http-listen', `127.0.0.1:${this.port}`];
    this.child = new Child(
      process.execPath,
      [
        SERVER_CLI,
        '--state-dir',
        this.stateDir,
        ...listen,
        ...(this.issuerPath ? ['--issuer', `${this.url}${this.issuerPath}`] : []),
        '--log-level',
        'warn',
        '--stun-listen',
        'off',
        ...this.extraArgs,
      ],
      { NEXODUS_ADMIN_PASSWORD: ADMIN_PASSWORD },
    );
    await this.child.waitOutput('the server to listen', () =>
      /nexodus-server listening on/.test(this.child.stdout) ? true : undefined,
    );
    this.caFile = /with the CA file (\S+)/.exec(this.child.stdout)?.[1];
  }

  async addUser(name: string, password: string): Promise<void> {
    const c = new Child(
      process.execPath,
      [SERVER_CLI, '--state-dir', this.stateDir, 'user', 'add', name, '--password-stdin'],
      {},
      password,
    );
    const r = await c.exit;
    if (r.code !== 0) throw new Error(`user add failed: ${c.stderr}`);
  }

  stop(): Promise<unknown> {
    return this.child.stop();
  }
}

export interface NexdOptions {
  tag: string;
  /** Arguments after the global ones, i.e. `['proxy', '--ingress', 'tcp:...', url]`. */
  args: string[];
  env?: Record<string, string | undefined>;
  stateDir?: string;
  /** Extra global flags before the subcommand. */
  globals?: string[];
  /** Wait for "nexd proxy running" (default true). */
  wait?: boolean;
  /** Node flags before the script, i.e. `['--cpu-prof']` (not allowed in NODE_OPTIONS). */
  nodeArgs?: string[];
}

export class NexdProcess {
  readonly child: Child;
  readonly stateDir: string;

  constructor(opts: NexdOptions) {
    this.stateDir = opts.stateDir ?? tempDir(opts.tag);
    this.child = new Child(
      process.execPath,
      [
        // The bin's flags first: V8 takes the last value, so nodeArgs can override them.
        ...nexdNodeFlags(),
        ...(opts.nodeArgs ?? []),
        NEXD_CLI,
        '--state-dir',
        this.stateDir,
        '--local-endpoint-ip',
        '127.0.0.1',
        ...(opts.globals ?? []),
        ...opts.args,
      ],
      { NEXD_USERNAME: 'admin', NEXD_PASSWORD: ADMIN_PASSWORD, NEXD_LOG_LEVEL: 'info', ...opts.env },
    );
  }

  static async start(opts: NexdOptions): Promise<NexdProcess> {
    const n = new NexdProcess(opts);
    if (opts.wait !== false) await n.running();
    return n;
  }

  running() {
    return this.child.waitLog('nexd proxy running', (l) => l.msg === 'nexd proxy running');
  }

  /** The addresses from the scenario's assignment line. */
  get addresses(): { ipv4: string; ipv6: string } {
    for (const l of this.child.logs) {
      const m = /^New local Wireguard interface addresses assigned IPv4 \[ (\S+) \] IPv6 \[ (\S+) \]$/.exec(
        String(l.msg),
      );
      if (m) return { ipv4: m[1]!, ipv6: m[2]! };
    }
    throw new Error(`no address line yet:\n${this.child.stdout}`);
  }

  get publicKey(): string {
    const l = this.child.logs.find((x) => x.msg === 'WireGuard keys loaded');
    return String(l?.publicKey);
  }

  /** Waits until this nexd has added the peer with `publicKey`. */
  waitPeer(publicKey: string, timeoutMs?: number) {
    return this.child.waitLog(
      `peer ${publicKey}`,
      (l) => l.msg === 'peer add' && l.publicKey === publicKey,
      timeoutMs,
    );
  }

  stop(signal?: NodeJS.Signals) {
    return this.child.stop(signal);
  }
}

/** Runs nexctl to completion. */
export async function nexctl(args: string[], env: Record<string, string | undefined> = {}) {
  const c = new Child(process.execPath, [NEXCTL_CLI, ...args], env);
  const r = await c.exit;
  return { code: r.code, stdout: c.stdout, stderr: c.stderr };
}

/** Runs nexd to completion (for commands that are expected to exit). */
export async function nexdRun(
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 20_000,
) {
  const c = new Child(process.execPath, [...nexdNodeFlags(), NEXD_CLI, ...args], {
    NEXD_LOG_LEVEL: 'error',
    ...env,
  });
  const t = setTimeout(() => c.proc.kill('SIGKILL'), timeoutMs);
  const r = await c.exit;
  clearTimeout(t);
  return { code: r.code, signal: r.signal, stdout: c.stdout, stderr: c.stderr };
}

/** A local HTTP server answering every request with `body`. */
export async function httpBackend(body: string): Promise<{ port: number; close(): Promise<void> }> {
  const srv = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(body);
  });
  srv.keepAliveTimeout = 1;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** A local TCP echo server. */
export async function tcpEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** A local UDP echo server that prefixes replies with `prefix`. */
export async function udpEcho(prefix = ''): Promise<{ port: number; close(): Promise<void> }> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from(prefix), m]), r.port, r.address));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { port: s.address().port, close: () => new Promise<void>((r) => s.close(() => r())) };
}

/** GET with a fresh connection; rejects on any transport error. */
export function httpGet(url: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** Sends one datagram to 127.0.0.1:port and waits for one reply. */
export async function udpRequest(port: number, data: string, timeoutMs = 5000): Promise<string> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no UDP reply from port ${port}`)), timeoutMs);
      s.once('message', (m) => {
        clearTimeout(t);
        resolve(m.toString());
      });
      s.send(data, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}
