// SPDX-License-Identifier: Apache-2.0
// `spawnRelay()`: the UdpRelay of udp-relay.ts in its own node process (optionally inside a namespace), for
// bulk transfers where an in-process relay would share the event loop, and CPU time, with the code under test.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Lab, LabError, type Ns, type Proc, waitFor } from './netns.js';
import type { RelayCounters, UdpRelayOptions } from './udp-relay.js';
import type { Endpoint } from './wireguard-go.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');

export class RelayProcess {
  /** Bound address of side a / side b, as in UdpRelay. */
  readonly a: Endpoint;
  readonly b: Endpoint;
  readonly proc: Proc;
  private lines: string[] = [];
  private waiting: Array<(line: string) => void> = [];

  private constructor(proc: Proc, a: Endpoint, b: Endpoint, rest: string[]) {
    this.proc = proc;
    this.a = a;
    this.b = b;
    this.lines = rest;
  }

  /** Starts the relay process in `ns` (null = root namespace) and waits until both sides are bound. */
  static async start(lab: Lab, ns: Ns, opts: UdpRelayOptions): Promise<RelayProcess> {
    const proc = lab.spawn(
      ns,
      process.execPath,
      ['--import', 'tsx', join(here, 'relay-main.ts'), JSON.stringify(opts)],
      { stdin: 'pipe', cwd: repoRoot, rawStdout: true },
    );
    let buf = '';
    const lines: string[] = [];
    let relay: RelayProcess | undefined;
    proc.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (relay) relay.take(line);
        else lines.push(line);
      }
    });
    const first = await waitFor(
      'relay process bound',
      () => {
        if (proc.exit !== undefined) {
          throw new LabError(
            'NEX_ERR_E2E_COMMAND',
            `relay process exited with ${proc.exit}: ${proc.stderr.trim()}`,
          );
        }
        return lines.length > 0 ? lines.shift() : undefined;
      },
      10_000,
    );
    const bound = JSON.parse(first ?? '{}') as { a: Endpoint; b: Endpoint };
    relay = new RelayProcess(proc, bound.a, bound.b, lines);
    return relay;
  }

  private take(line: string): void {
    const w = this.waiting.shift();
    if (w) w(line);
    else this.lines.push(line);
  }

  private nextLine(timeoutMs = 5000): Promise<string> {
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new LabError('NEX_ERR_E2E_TIMEOUT', 'relay process did not answer within 5 s')),
        timeoutMs,
      );
      this.waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  }

  /** Current counters of the relay. */
  async counters(): Promise<RelayCounters> {
    this.proc.child.stdin?.write('counters\n');
    return JSON.parse(await this.nextLine()) as RelayCounters;
  }

  /** Closes the relay and returns its final counters. */
  async stop(): Promise<RelayCounters | undefined> {
    if (this.proc.exit !== undefined) return undefined;
    const last = this.nextLine().catch(() => undefined);
    this.proc.child.stdin?.end();
    const line = await last;
    await this.proc.stop();
    return line ? (JSON.parse(line) as RelayCounters) : undefined;
  }
}
