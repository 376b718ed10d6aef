// SPDX-License-Identifier: Apache-2.0
// `DelayBox`: the underlay impairment of the demos ("1 % loss and 20 ms delay"), in a namespace that
// routes between two networks: UDP forwarded between them is delayed by delay-box.py (transparent, via
// iptables TPROXY: the endpoints see their peers' own addresses), and `lossRate` of all UDP forwarded
// between them is dropped by an iptables `statistic` rule. Unlike UdpRelay (udp-relay.ts) nothing has to
// be configured at the endpoints, which the demos' Pods, running the seed's manifests, cannot be.
//
//   const box = await DelayBox.start(lab, hub, { between: ['198.18.1.0/24', '10.244.0.0/16'], delayMs: 20,
//     lossRate: 0.01 });
//   ... await box.stop();   // or lab.cleanup()
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './exec.js';
import { exec, ip, type Lab, LabError, type Proc } from './netns.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'delay-box.py');
const MARK = '0x1/0x1';
const TABLE = '100';

export interface DelayBoxOptions {
  /** The two networks (IPv4 CIDRs) whose UDP between each other is impaired, in both directions. */
  between: [string, string];
  /** One-way delay in ms. */
  delayMs: number;
  /** Fraction of the UDP datagrams between them dropped, per direction (default 0). */
  lossRate?: number;
  /** The TPROXY port of the delaying process (default 47000). */
  port?: number;
}

export class DelayBox {
  readonly #rules: string[][] = [];

  private constructor(
    readonly ns: string,
    readonly proc: Proc,
  ) {}

  static async start(lab: Lab, ns: string, opts: DelayBoxOptions): Promise<DelayBox> {
    const { delayMs, lossRate = 0 } = opts;
    if (!(delayMs > 0)) throw new LabError('NEX_ERR_E2E_INVALID', `delayMs must be > 0, got ${delayMs}`);
    if (!(lossRate >= 0 && lossRate < 1)) {
      throw new LabError('NEX_ERR_E2E_INVALID', `lossRate must be within [0, 1), got ${lossRate}`);
    }
    const port = String(opts.port ?? 47000);
    const proc = lab.spawn(ns, 'python3', [SCRIPT, port, String(delayMs)]);
    await waitFor(
      'the delay box to bind',
      () => (/^ready$/m.test(proc.stdout) ? true : undefined),
      10_000,
      50,
    );
    const box = new DelayBox(ns, proc);
    const [a, b] = opts.between;
    for (const [src, dst] of [
      [a, b],
      [b, a],
    ] as const) {
      // The mangle table's PREROUTING sees forwarded datagrams first: drop some, hand the rest to the box.
      const match = ['-t', 'mangle', '-p', 'udp', '-s', src, '-d', dst];
      if (lossRate > 0) {
        await box.#rule([
          ...match,
          '-I',
          'PREROUTING',
          '-m',
          'statistic',
          '--mode',
          'random',
          '--probability',
          String(lossRate),
          '-j',
          'DROP',
        ]);
      }
      await box.#rule([
        ...match,
        '-A',
        'PREROUTING',
        '-j',
        'TPROXY',
        '--on-port',
        port,
        '--tproxy-mark',
        MARK,
      ]);
    }
    await ip(ns, ['rule', 'add', 'fwmark', MARK, 'lookup', TABLE]);
    await ip(ns, ['route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', TABLE]);
    return box;
  }

  /** Datagrams sent on after their delay so far (reported by the process once a second). */
  get forwarded(): number {
    const all = [...this.proc.stdout.matchAll(/^forwarded (\d+) dropped \d+$/gm)];
    return all.length === 0 ? 0 : Number(all[all.length - 1]![1]);
  }

  async #rule(args: string[]): Promise<void> {
    await exec(this.ns, 'iptables', args);
    this.#rules.push(args);
  }

  /** Removes the rules and stops the delaying process: the path is as before. */
  async stop(): Promise<void> {
    for (const args of this.#rules.reverse()) {
      const del = args.map((x) => (x === '-A' || x === '-I' ? '-D' : x));
      await exec(this.ns, 'iptables', del, { check: false });
    }
    this.#rules.length = 0;
    await ip(this.ns, ['rule', 'del', 'fwmark', MARK, 'lookup', TABLE], { check: false });
    await ip(this.ns, ['route', 'del', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', TABLE], { check: false });
    await this.proc.stop();
  }
}
