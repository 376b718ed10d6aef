// SPDX-License-Identifier: Apache-2.0
// The client half of a Binding exchange (RFC 8489 section 6.2.1), over a socket it does not own: the
// caller gives `send` (i.e. the WireGuard socket, so the mapping learnt is the one WireGuard uses) and
// feeds received STUN datagrams to `handle`. Requests are retransmitted after 500 ms, doubling (the
// RTO of section 6.2.1), up to `attempts` times. Responses are matched by transaction id AND source, so
// an off-path sender cannot plant a reflexive address without guessing 96 random bits.
import {
  BINDING_SUCCESS,
  createBindingRequest,
  mappedAddress,
  parseStun,
  type TransportAddress,
} from './message.js';

export const STUN_INITIAL_RTO_MS = 500;
export const STUN_ATTEMPTS = 4;

export interface StunClientOptions {
  send(data: Uint8Array, to: TransportAddress): void;
  /** Fills its argument with random bytes (transaction ids). */
  random(buf: Uint8Array): void;
  timers?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void };
}

interface Pending {
  server: TransportAddress;
  request: Uint8Array;
  resolve(v: TransportAddress | undefined): void;
  timer: unknown;
}

export class StunClient {
  readonly #opts: StunClientOptions;
  readonly #pending = new Map<string, Pending>();

  constructor(opts: StunClientOptions) {
    this.#opts = opts;
  }

  /** Asks `server` (an IP literal and port) for our reflexive address; undefined if it never answers. */
  query(server: TransportAddress, attempts = STUN_ATTEMPTS): Promise<TransportAddress | undefined> {
    const tid = new Uint8Array(12);
    this.#opts.random(tid);
    const key = Buffer.from(tid).toString('hex');
    const request = createBindingRequest(tid);
    const timers = this.#opts.timers ?? (globalThis as unknown as NonNullable<StunClientOptions['timers']>);
    return new Promise((resolve) => {
      const p: Pending = { server, request, resolve, timer: undefined };
      this.#pending.set(key, p);
      let sent = 0;
      const attempt = (): void => {
        if (!this.#pending.has(key)) return;
        if (sent === attempts) {
          this.#pending.delete(key);
          resolve(undefined);
          return;
        }
        const rto = STUN_INITIAL_RTO_MS * 2 ** sent;
        sent++;
        this.#opts.send(request, server);
        p.timer = timers.setTimeout(attempt, rto);
        (p.timer as { unref?: () => void }).unref?.();
      };
      attempt();
    });
  }

  /** A received STUN datagram; true when it answered one of our queries. Never throws. */
  handle(datagram: Uint8Array, from: TransportAddress): boolean {
    const msg = parseStun(datagram);
    if (typeof msg === 'string' || msg.type !== BINDING_SUCCESS) return false;
    const key = Buffer.from(msg.transactionId).toString('hex');
    const p = this.#pending.get(key);
    if (!p || !sameAddress(p.server, from)) return false;
    const mapped = mappedAddress(msg);
    if (!mapped) return false;
    this.#pending.delete(key);
    const timers = this.#opts.timers ?? (globalThis as unknown as NonNullable<StunClientOptions['timers']>);
    timers.clearTimeout(p.timer);
    p.resolve(mapped);
    return true;
  }

  /** Gives up every query in flight (they resolve undefined). */
  close(): void {
    const timers = this.#opts.timers ?? (globalThis as unknown as NonNullable<StunClientOptions['timers']>);
    for (const p of this.#pending.values()) {
      timers.clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.#pending.clear();
  }
}

function sameAddress(a: TransportAddress, b: TransportAddress): boolean {
  const strip = (s: string) => s.replace(/^::ffff:/i, '');
  return a.port === b.port && strip(a.address) === strip(b.address);
}

export interface NatClassification {
  /** The distinct reflexive addresses the servers saw, in the order of the servers. */
  reflexive: TransportAddress[];
  /**
   * Two servers saw different mappings of one local socket: the NAT maps per destination ("symmetric",
   * address-and-port-dependent mapping, RFC 4787 section 4.1), so the address a third host would see
   * cannot be learnt and hole punching to it will not work. undefined with fewer than two answers.
   */
  symmetric: boolean | undefined;
}

export function classifyNat(answers: readonly (TransportAddress | undefined)[]): NatClassification {
  const got = answers.filter((a): a is TransportAddress => a !== undefined);
  const reflexive: TransportAddress[] = [];
  for (const a of got) if (!reflexive.some((r) => sameAddress(r, a))) reflexive.push(a);
  return { reflexive, symmetric: got.length < 2 ? undefined : reflexive.length > 1 };
}
