// SPDX-License-Identifier: Apache-2.0
// Change notification fan-out. A notification only says "VPC X changed"; watch streams then read the rows with
// a revision above their cursor, so a lost, duplicated or reordered notification can never lose or repeat an
// event. Inside a process: an in-memory bus. Across replicas: PostgreSQL LISTEN/NOTIFY (NOTIFY is sent in the
// writing transaction, so PostgreSQL delivers it only after commit).
import { randomUUID } from 'node:crypto';
import pg from 'pg';

export const PG_CHANNEL = 'nexodus_vpc_changes';
/** Delay before re-establishing a lost LISTEN connection. */
const RELISTEN_DELAY_MS = 500;

type Listener = () => void;

export class ChangeBus {
  /** Identifies this process in NOTIFY payloads, so it ignores its own notifications (already delivered). */
  readonly instanceId = randomUUID();
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Count of all notifications of this process, bumped before listeners run (see shared-reads.ts). */
  private generationCount = 0;
  private client: pg.Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  /** Calls `fn` after every committed change in `vpcId`. Returns the unsubscribe function. */
  subscribe(vpcId: string, fn: Listener): () => void {
    let set = this.listeners.get(vpcId);
    if (!set) this.listeners.set(vpcId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(vpcId);
    };
  }

  /** Call after a transaction that changed `vpcId` committed. */
  publishLocal(vpcId: string): void {
    // Bumped even without listeners: a stream subscribing later must not reuse a read from before this change.
    this.generationCount++;
    const set = this.listeners.get(vpcId);
    if (!set) return;
    for (const fn of [...set]) fn();
  }

  /** How many notifications this process has seen (monotonic). */
  generation(): number {
    return this.generationCount;
  }

  /** The NOTIFY payload a writer sends inside its transaction. */
  payload(vpcId: string): string {
    return `${this.instanceId} ${vpcId}`;
  }

  /** Starts LISTENing on PostgreSQL for other replicas' changes. */
  async listen(url: string): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    client.on('notification', (msg) => {
      if (!msg.payload) return;
      const sp = msg.payload.indexOf(' ');
      if (sp < 0 || msg.payload.slice(0, sp) === this.instanceId) return;
      this.publishLocal(msg.payload.slice(sp + 1));
    });
    // An 'error' need not close the connection: end it, or a replaced client would stay connected and
    // LISTENing next to its successor (a leaked backend per hiccup).
    client.on('error', () => {
      client.end().catch(() => {});
      this.relisten(url);
    });
    client.on('end', () => this.relisten(url));
    await client.connect();
    await client.query(`LISTEN ${PG_CHANNEL}`);
    this.client = client;
    // Changes committed while we were not listening are invisible to NOTIFY: wake every stream once so
    // they re-read from their cursors.
    for (const vpcId of [...this.listeners.keys()]) this.publishLocal(vpcId);
  }

  private relisten(url: string): void {
    if (this.closed || this.retry) return;
    this.client = undefined;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.listen(url).catch(() => this.relisten(url));
    }, RELISTEN_DELAY_MS);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => {});
  }
}
