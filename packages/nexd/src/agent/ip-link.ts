// SPDX-License-Identifier: Apache-2.0
// Addresses, link state and routes of the agent's device through iproute2 (`ip`), as the original nexd
// does on Linux. Not on the packet path: called at start and when the peer set changes. Route changes
// run one at a time in order (a peer's removal must not overtake its addition); a failed route is
// logged and the rest still applies, so one bad allowed IP never stops the daemon.
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { NexdError } from '../errors.js';

export type RunIp = (args: readonly string[]) => Promise<void>;

/** `ip ARGS`; rejects with NEX_ERR_AGENT_LINK carrying ip's own message. */
export const runIp: RunIp = (args) =>
  new Promise((resolve, reject) => {
    execFile('ip', [...args], { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const why =
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'the ip command (iproute2) is not installed'
          : String(stderr).trim() || err.message;
      reject(new NexdError('NEX_ERR_AGENT_LINK', `ip ${args.join(' ')}: ${why}`, { cause: err }));
    });
  });

const familyFlag = (cidr: string): string[] => (cidr.includes(':') ? ['-6'] : ['-4']);

/**
 * Sets the MTU, the addresses and brings the device up; returns the addresses it could set (an IPv6
 * address the host refuses is logged and left out). IPv6 addresses skip duplicate address detection
 * (`nodad`): the VPC's IPAM already guarantees uniqueness, and DAD would leave the address unusable for
 * the first second or two.
 */
export async function configureLink(
  name: string,
  mtu: number,
  addresses: readonly string[],
  logger: Logger,
  ip: RunIp = runIp,
): Promise<string[]> {
  await ip(['link', 'set', 'dev', name, 'mtu', String(mtu)]);
  const applied: string[] = [];
  for (const a of addresses) {
    const v6 = a.includes(':');
    try {
      await ip([...familyFlag(a), 'addr', 'replace', a, 'dev', name, ...(v6 ? ['nodad'] : [])]);
      applied.push(a);
    } catch (err) {
      // A host (or container) with IPv6 disabled still gets an IPv4 tunnel, as with the original nexd.
      if (!v6) throw err;
      logger.warn({ address: a, err: String(err) }, 'cannot put the IPv6 address on the device; IPv6 is off');
    }
  }
  await ip(['link', 'set', 'dev', name, 'up']);
  return applied;
}

/**
 * The kernel routes of the agent's device: every peer's allowed IPs point at it (`ip route replace
 * CIDR dev NAME`). `set(peer, cidrs)` / `remove(peer)` are synchronous for the caller and applied in
 * order in the background; `idle()` resolves when everything queued has been applied.
 */
export class RouteTable {
  readonly #device: string;
  readonly #ip: RunIp;
  readonly #logger: Logger;
  /** Prefixes the device's own addresses already route (connected routes), never added again. */
  readonly #own: Set<string>;
  readonly #byPeer = new Map<string, Set<string>>();
  /** How many peers route each prefix (two peers may claim the same one during a key move). */
  readonly #refs = new Map<string, number>();
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  failures = 0;

  constructor(device: string, logger: Logger, own: readonly string[] = [], ip: RunIp = runIp) {
    this.#device = device;
    this.#ip = ip;
    this.#logger = logger;
    this.#own = new Set(own);
  }

  set(peer: string, cidrs: readonly string[]): void {
    const next = new Set(cidrs.filter((c) => !this.#own.has(c)));
    const prev = this.#byPeer.get(peer) ?? new Set<string>();
    this.#byPeer.set(peer, next);
    for (const c of next) if (!prev.has(c)) this.#ref(c, +1);
    for (const c of prev) if (!next.has(c)) this.#ref(c, -1);
  }

  remove(peer: string): void {
    const prev = this.#byPeer.get(peer);
    if (!prev) return;
    this.#byPeer.delete(peer);
    for (const c of prev) this.#ref(c, -1);
  }

  /** The prefixes routed now (after the queue has drained), sorted. */
  routes(): string[] {
    return [...this.#refs.keys()].sort();
  }

  idle(): Promise<void> {
    return this.#queue;
  }

  /** Stops applying; the device's routes go with the device. */
  close(): void {
    this.#closed = true;
  }

  #ref(cidr: string, delta: 1 | -1): void {
    const n = (this.#refs.get(cidr) ?? 0) + delta;
    if (n > 0) this.#refs.set(cidr, n);
    else this.#refs.delete(cidr);
    if (delta === 1 && n === 1) this.#apply(['route', 'replace', cidr, 'dev', this.#device], cidr);
    if (delta === -1 && n === 0) this.#apply(['route', 'del', cidr, 'dev', this.#device], cidr);
  }

  #apply(args: string[], cidr: string): void {
    const full = [...familyFlag(cidr), ...args];
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        await this.#ip(full);
        this.#logger.debug({ route: full.join(' ') }, 'route applied');
      } catch (err) {
        this.failures++;
        this.#logger.warn({ err: String(err) }, 'route change failed');
      }
    });
  }
}
