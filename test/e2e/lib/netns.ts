// SPDX-License-Identifier: Apache-2.0
// Network-namespace lab for end-to-end tests.
//
// Reading guide: a `Lab` owns everything one test file creates (namespaces, veth pairs, temp dirs, child
// processes) and removes all of it in `cleanup()`, which tests call from an `after()` hook so it also runs when
// a test fails. Every name carries the lab's prefix `nxe-<tag>-<pid36>` (or, for interface names limited to 15
// bytes, `nx<tag><pid36>`), so that `Lab.create()` can sweep what an earlier crashed run with the same tag left
// behind: anything whose encoded pid is no longer alive. A process `exit` hook deletes what is left when the
// test process ends without running `cleanup()`.

import { spawn as spawnChild, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ExecOptions,
  type ExecResult,
  execHost,
  LabError,
  type Ns,
  nsArgv,
  Proc,
  pidAlive,
  signalGroup,
} from './exec.js';

// Re-exported so tests can import the whole harness surface from one module.
export {
  type ExecOptions,
  type ExecResult,
  exec,
  execHost,
  LabError,
  type Ns,
  Proc,
  waitFor,
} from './exec.js';

export interface VethEnd {
  /** Namespace of this end; null = root namespace. */
  ns: Ns;
  /** Addresses with prefix length, e.g. `198.18.0.1/30`, `fd00:18::1/64`. */
  addrs?: string[];
  mtu?: number;
}

export interface Veth {
  a: { ns: Ns; ifname: string };
  b: { ns: Ns; ifname: string };
}

/** Two ends of a point-to-point link: `a4`/`b4` in a /30, `a6`/`b6` in a /64. */
export interface Subnet {
  a4: string;
  b4: string;
  a6: string;
  b6: string;
  len4: 30;
  len6: 64;
}

const TAG_RE = /^[a-z0-9]{3}$/;
const PID36_WIDTH = 5; // pid_max is at most 4 194 304 = "2ylwg" in base 36.

/**
 * Everything one test file creates in the network. Create with `Lab.create('abc')` (a 3-character tag unique to
 * the test file), and call `await lab.cleanup()` from `after()`.
 */
export class Lab {
  /** Prefix of namespace and temp-dir names, e.g. `nxe-hrn-1a2b3`. */
  readonly prefix: string;
  /** Prefix of interface names (at most 15 bytes in Linux), e.g. `nxhrn01a2b3`: 11 bytes + a 2-character index. */
  readonly ifPrefix: string;
  readonly tag: string;
  readonly dir: string;
  private namespaces = new Set<string>();
  private rootLinks = new Set<string>();
  private procs = new Set<Proc>();
  private cleanups: Array<() => Promise<void> | void> = [];
  private seq = 0;
  private subnetSeq = 0;
  private exitHook: () => void;
  private cleaned = false;

  private constructor(tag: string) {
    this.tag = tag;
    const pid36 = process.pid.toString(36).padStart(PID36_WIDTH, '0');
    this.prefix = `nxe-${tag}-${pid36}`;
    this.ifPrefix = `nx${tag}${pid36}`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
    this.exitHook = () => this.cleanupSync();
    process.once('exit', this.exitHook);
    Lab.installSignalHandlers();
  }

  private static signalsInstalled = false;
  /**
   * A test runner that is interrupted (Ctrl-C, or a timeout's SIGTERM) would otherwise skip `exit` hooks and
   * leave namespaces and wireguard-go processes behind: turn those signals into a normal exit.
   */
  private static installSignalHandlers(): void {
    if (Lab.signalsInstalled) return;
    Lab.signalsInstalled = true;
    const codes: Array<[NodeJS.Signals, number]> = [
      ['SIGINT', 130],
      ['SIGTERM', 143],
      ['SIGHUP', 129],
    ];
    for (const [sig, code] of codes) {
      process.once(sig, () => process.exit(code));
    }
  }

  /** Sweeps leftovers of crashed runs with this tag, then returns a fresh lab. */
  static async create(tag: string): Promise<Lab> {
    if (!TAG_RE.test(tag)) {
      throw new LabError(
        'NEX_ERR_E2E_INVALID',
        `lab tag must be 3 characters [a-z0-9], got ${JSON.stringify(tag)}`,
      );
    }
    await Lab.sweep(tag);
    return new Lab(tag);
  }

  /**
   * Deletes namespaces, root-namespace links, UAPI sockets and temp dirs carrying `tag` whose owning test
   * process (pid encoded in the name) is gone. Live runs of the same tag are left alone.
   */
  static async sweep(tag: string): Promise<void> {
    const nsRe = new RegExp(`^nxe-${tag}-([0-9a-z]{${PID36_WIDTH}})-`);
    const ifRe = new RegExp(`^nx${tag}([0-9a-z]{${PID36_WIDTH}})`);
    const dead = (pid36: string) => !pidAlive(Number.parseInt(pid36, 36));
    const list = await execHost('ip', ['netns', 'list'], { check: false });
    for (const line of list.stdout.split('\n')) {
      const name = line.split(' ')[0];
      const m = name && nsRe.exec(name);
      if (m && dead(m[1])) await deleteNamespace(name);
    }
    const links = await execHost('ip', ['-o', 'link', 'show'], { check: false });
    for (const line of links.stdout.split('\n')) {
      const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
      const m = name && ifRe.exec(name);
      if (m && dead(m[1])) await execHost('ip', ['link', 'del', name], { check: false });
    }
    for (const dir of ['/var/run/wireguard', tmpdir()]) {
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const m = ifRe.exec(name) ?? nsRe.exec(`${name}-`);
        if (m && dead(m[1])) rmSync(join(dir, name), { recursive: true, force: true });
      }
    }
  }

  /** A fresh interface name (at most 15 bytes) carrying the lab prefix. */
  ifname(): string {
    const n = this.seq++;
    if (n >= 36 * 36) throw new LabError('NEX_ERR_E2E_INVALID', 'lab ran out of interface names');
    return `${this.ifPrefix}${n.toString(36).padStart(2, '0')}`;
  }

  /**
   * A point-to-point subnet pair no address on the host uses yet: an IPv4 /30 from 198.18.0.0/15 and an IPv6 /64
   * from fd18::/16 (ULA). Use it for links with one end in the root namespace, which all labs (and other helpers'
   * tests) share; addresses inside namespaces cannot collide and may be fixed.
   */
  async subnet(): Promise<Subnet> {
    const used = (await execHost('ip', ['-o', 'addr', 'show'])).stdout;
    const SLOTS = 1 << 15; // /30s in a /15
    let idx = (process.pid * 97 + this.subnetSeq * 7919) % SLOTS;
    for (let tries = 0; tries < SLOTS; tries++, idx = (idx + 1) % SLOTS) {
      if (idx === 0) continue;
      const base = (198 << 24) + (18 << 16) + idx * 4;
      const v4 = (n: number) =>
        [(base + n) >>> 24, ((base + n) >>> 16) & 0xff, ((base + n) >>> 8) & 0xff, (base + n) & 0xff].join(
          '.',
        );
      const s: Subnet = {
        a4: v4(1),
        b4: v4(2),
        a6: `fd18:${idx.toString(16)}::1`,
        b6: `fd18:${idx.toString(16)}::2`,
        len4: 30,
        len6: 64,
      };
      if (used.includes(` ${s.a4}/`) || used.includes(` ${s.b4}/`) || used.includes(` ${s.a6}/`)) continue;
      this.subnetSeq++;
      return s;
    }
    throw new LabError('NEX_ERR_E2E_INVALID', 'no free /30 left in 198.18.0.0/15');
  }

  /** Creates namespace `<prefix>-<name>` with loopback up; returns its full name. */
  async netns(name: string): Promise<string> {
    if (!/^[a-z0-9]{1,12}$/.test(name)) {
      throw new LabError(
        'NEX_ERR_E2E_INVALID',
        `namespace name must be 1-12 characters [a-z0-9], got ${name}`,
      );
    }
    const full = `${this.prefix}-${name}`;
    await execHost('ip', ['netns', 'add', full]);
    this.namespaces.add(full);
    await ip(full, ['link', 'set', 'lo', 'up']);
    return full;
  }

  /** Deletes one of this lab's namespaces before cleanup (a test node's Pod going away); idempotent. */
  async deleteNetns(full: string): Promise<void> {
    if (!this.namespaces.delete(full)) return;
    await deleteNamespace(full);
  }

  /** Creates a veth pair between two namespaces (null = root), with addresses (IPv6 without DAD) and links up. */
  async veth(a: VethEnd, b: VethEnd): Promise<Veth> {
    const an = this.ifname();
    const bn = this.ifname();
    await execHost('ip', ['link', 'add', an, 'type', 'veth', 'peer', 'name', bn]);
    // Until both ends have moved, the pair lives in the root namespace; deleting one end deletes both.
    this.rootLinks.add(an);
    for (const [end, name] of [
      [a, an],
      [b, bn],
    ] as const) {
      if (end.ns !== null) await execHost('ip', ['link', 'set', name, 'netns', end.ns]);
    }
    this.rootLinks.delete(an);
    if (a.ns === null) this.rootLinks.add(an);
    else if (b.ns === null) this.rootLinks.add(bn);
    for (const [end, name] of [
      [a, an],
      [b, bn],
    ] as const) {
      if (end.mtu) await ip(end.ns, ['link', 'set', name, 'mtu', String(end.mtu)]);
      for (const addr of end.addrs ?? []) await addAddress(end.ns, name, addr);
      await ip(end.ns, ['link', 'set', name, 'up']);
    }
    return { a: { ns: a.ns, ifname: an }, b: { ns: b.ns, ifname: bn } };
  }

  /** Starts a long-running process in `ns`; the lab stops it in `cleanup()` if the test did not. */
  spawn(
    ns: Ns,
    cmd: string,
    args: readonly string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: 'pipe' | 'ignore'; rawStdout?: boolean } = {},
  ): Proc {
    const [c, a] = nsArgv(ns, cmd, args);
    // detached: own process group, so stop() can signal whatever the command forks.
    const child = spawnChild(c, a, {
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
      detached: true,
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const p = new Proc(child, `${cmd} ${args.join(' ')}`, opts.rawStdout);
    this.procs.add(p);
    void p.wait().then(() => this.procs.delete(p));
    return p;
  }

  /** Registers an extra cleanup step; steps run in reverse order before namespaces are deleted. */
  defer(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  /** A fresh temp directory inside the lab's directory. */
  tempDir(name: string): string {
    return mkdtempSync(join(this.dir, `${name}-`));
  }

  /** Stops processes, runs deferred steps, deletes namespaces, links and temp dirs. Never throws; idempotent. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    const errors: string[] = [];
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        errors.push(String(e));
      }
    }
    await Promise.all([...this.procs].map((p) => p.stop()));
    for (const ns of this.namespaces) await deleteNamespace(ns);
    for (const link of this.rootLinks) await execHost('ip', ['link', 'del', link], { check: false });
    rmSync(this.dir, { recursive: true, force: true });
    process.removeListener('exit', this.exitHook);
    if (errors.length > 0) console.error(`lab ${this.prefix} cleanup: ${errors.join('; ')}`);
  }

  /** Last resort when the process exits without cleanup(): synchronous, best effort. */
  private cleanupSync(): void {
    if (this.cleaned) return;
    for (const p of this.procs) if (p.pid !== undefined) signalGroup(p.pid, 'SIGKILL');
    for (const ns of this.namespaces) {
      killNamespacePidsSync(ns);
      spawnSync('ip', ['netns', 'del', ns]);
    }
    for (const link of this.rootLinks) spawnSync('ip', ['link', 'del', link]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `ip -n ns args` (or plain `ip args` for the root namespace). */
export function ip(ns: Ns, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return execHost('ip', ns === null ? [...args] : ['-n', ns, ...args], opts);
}

/** Adds `addr` (with prefix) to `ifname`; IPv6 without duplicate address detection so it is usable at once. */
export async function addAddress(ns: Ns, ifname: string, addr: string): Promise<void> {
  const v6 = addr.includes(':');
  await ip(ns, [...(v6 ? ['-6'] : []), 'addr', 'add', addr, 'dev', ifname, ...(v6 ? ['nodad'] : [])]);
}

function killNamespacePidsSync(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  for (const s of (r.stdout ?? '').split(/\s+/)) {
    const pid = Number(s);
    if (pid > 0) signalGroup(pid, 'SIGKILL');
  }
}

/** Kills every process still inside `ns`, then deletes it (its veth ends and TUN devices go with it). */
async function deleteNamespace(ns: string): Promise<void> {
  const r = await execHost('ip', ['netns', 'pids', ns], { check: false });
  const pids = r.stdout
    .split(/\s+/)
    .map(Number)
    .filter((p) => p > 0);
  for (const pid of pids) signalGroup(pid, 'SIGKILL');
  // Give the killed processes a moment to release their TUN devices before the namespace goes.
  for (let i = 0; i < 20 && pids.some(pidAlive); i++) await new Promise((r) => setTimeout(r, 25));
  await execHost('ip', ['netns', 'del', ns], { check: false });
}
