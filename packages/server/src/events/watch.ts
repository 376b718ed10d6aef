// SPDX-License-Identifier: Apache-2.0
// One watch stream (`POST /api/vpcs/{id}/events`). How it never misses or repeats an event:
//   1. every change takes its VPC's next revision inside its transaction (revisions.ts), so revisions become
//      visible in increasing order;
//   2. a poll first reads the VPC's committed revision R, then sends every row and tombstone with
//      cursor < revision <= R, sorted by revision, and sets cursor = R;
//   3. a notification (bus.ts) only triggers another poll; polls never overlap (one loop per stream).
// A row changed again after R is skipped by this poll and sent by the next one with its newer revision.

import type { ServerResponse } from 'node:http';
import type { Watch, WatchKind } from '@nexodus/api';
import type { Selectable } from 'kysely';
import type { ServerContext } from '../context.js';
import type { IpAllocationsTable } from '../db/schema.js';
import { NexError } from '../errors.js';
import { deviceView, metadataView, securityGroupView } from '../views.js';
import { currentRevision } from './revisions.js';
import { compactedRevision } from './tombstone-gc.js';

/** Up to this many changed devices, their addresses are fetched by id rather than for the whole VPC. */
const BY_ID_LIMIT = 200;

export interface WatchOptions {
  /** Keep-alive interval: a `bookmark` line carrying the current revision. */
  bookmarkMs: number;
  /** Set when a device token opened the stream: the stream ends when that device is deleted. */
  ownDeviceId?: string | undefined;
}

interface Pending {
  revision: number;
  line: string;
  /** for device deletes: the deleted device's id */
  deletedDevice?: string;
}

export class WatchStream {
  private readonly cursors = new Map<WatchKind, number>();
  private readonly unsubscribe: () => void;
  private readonly bookmarkTimer: NodeJS.Timeout;
  private dirty = false;
  private running = false;
  private closed = false;
  private lastRevision = 0;
  /** Resolves when the stream has ended (client gone or error). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly ctx: ServerContext,
    private readonly vpcId: string,
    private readonly watches: Watch[],
    private readonly res: ServerResponse,
    private readonly opts: WatchOptions,
    private readonly onError: (err: unknown) => void,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    for (const w of watches) this.cursors.set(w.kind, w.gt_revision ?? 0);
    this.unsubscribe = ctx.bus.subscribe(vpcId, () => this.wake());
    this.bookmarkTimer = setInterval(() => this.bookmark(), opts.bookmarkMs);
    this.bookmarkTimer.unref();
    res.on('close', () => this.close());
    res.on('drain', () => {
      if (this.dirty) this.wake();
    });
  }

  /** Sends the current state (the initial list), then `tail` per watch, then follows changes. */
  async start(): Promise<void> {
    this.running = true;
    try {
      // A resume from before the purged tombstones would miss deletes: tell the client to list again.
      const resumes = [...this.cursors.values()].filter((c) => c > 0);
      if (resumes.length > 0) {
        const compacted = await compactedRevision(this.ctx.db, this.vpcId);
        if (resumes.some((c) => c < compacted)) {
          throw new NexError(
            'NEX_ERR_WATCH_EXPIRED',
            `revisions up to ${compacted} were compacted; watch again without gt_revision to list everything`,
          );
        }
      }
      await this.poll();
      for (const w of this.watches) {
        if (!w.at_tail) this.write(`{"type":"tail","kind":${JSON.stringify(w.kind)}}\n`);
      }
    } catch (err) {
      this.fail(err);
      return;
    } finally {
      this.running = false;
    }
    if (this.dirty) this.wake();
  }

  /** Called on every change notification of the VPC; coalesces into one poll loop. */
  wake(): void {
    this.dirty = true;
    if (this.running || this.closed) return;
    // Respect backpressure: a slow client is polled again on 'drain', so nothing queues without bound.
    if (this.res.writableNeedDrain) return;
    this.running = true;
    void (async () => {
      try {
        while (this.dirty && !this.closed && !this.res.writableNeedDrain) {
          this.dirty = false;
          await this.poll();
        }
      } catch (err) {
        this.fail(err);
      } finally {
        this.running = false;
      }
    })();
  }

  private async poll(): Promise<void> {
    const db = this.ctx.db;
    const gen = this.ctx.bus.generation();
    const upTo = await this.ctx.reads.get(`rev|${this.vpcId}|${gen}`, () => currentRevision(db, this.vpcId));
    if (
      upTo === 0 &&
      !(await db.selectFrom('vpcs').select('id').where('id', '=', this.vpcId).executeTakeFirst())
    ) {
      throw new NexError('NEX_ERR_NOT_FOUND', 'the VPC was deleted');
    }
    const out: Pending[] = [];
    for (const [kind, cursor] of this.cursors) {
      if (upTo <= cursor) continue;
      const got = await this.ctx.reads.get(`range|${this.vpcId}|${kind}|${cursor}|${upTo}`, async () => {
        const list: Pending[] = [];
        await this.collect(kind, cursor, upTo, list);
        return list;
      });
      out.push(...got);
      this.cursors.set(kind, upTo);
    }
    this.lastRevision = Math.max(this.lastRevision, upTo);
    out.sort((a, b) => a.revision - b.revision);
    if (out.length > 0) this.write(out.map((p) => p.line).join(''));
    // A device token dies with its device: end that device's own stream after telling it.
    const own = this.opts.ownDeviceId;
    if (own && out.some((p) => p.deletedDevice === own)) {
      this.end({ error: 'this device was deleted; register again', code: 'NEX_ERR_UNAUTHENTICATED' });
    }
  }

  private async collect(kind: WatchKind, cursor: number, upTo: number, out: Pending[]): Promise<void> {
    const db = this.ctx.db;
    const change = (value: { revision: number }) =>
      out.push({
        revision: value.revision,
        line: `{"type":"change","kind":"${kind}","value":${JSON.stringify(value)}}\n`,
      });
    if (kind === 'device') {
      const rows = await db
        .selectFrom('devices')
        .selectAll()
        .where('vpc_id', '=', this.vpcId)
        .where('revision', '>', cursor)
        .where('revision', '<=', upTo)
        .execute();
      if (rows.length > 0) {
        // Few rows (live changes): fetch their addresses by id; many (an initial list): the whole VPC's.
        let q = db.selectFrom('ip_allocations').selectAll();
        q =
          rows.length <= BY_ID_LIMIT
            ? q.where(
                'device_id',
                'in',
                rows.map((r) => r.id),
              )
            : q.where('vpc_id', '=', this.vpcId);
        const byDevice = new Map<string, Selectable<IpAllocationsTable>[]>();
        for (const a of await q.execute()) {
          const l = byDevice.get(a.device_id);
          if (l) l.push(a);
          else byDevice.set(a.device_id, [a]);
        }
        for (const r of rows) change(deviceView(r, byDevice.get(r.id) ?? [], false));
      }
    } else if (kind === 'device-metadata') {
      const rows = await db
        .selectFrom('device_metadata')
        .selectAll()
        .where('vpc_id', '=', this.vpcId)
        .where('revision', '>', cursor)
        .where('revision', '<=', upTo)
        .execute();
      for (const r of rows) change(metadataView(r));
    } else {
      const rows = await db
        .selectFrom('security_groups')
        .selectAll()
        .where('vpc_id', '=', this.vpcId)
        .where('revision', '>', cursor)
        .where('revision', '<=', upTo)
        .execute();
      for (const r of rows) change(securityGroupView(r));
    }
    // A client starting from 0 has nothing to delete; a resumed one needs the deletes it missed.
    if (cursor > 0) {
      const tombs = await db
        .selectFrom('tombstones')
        .select(['revision', 'value', 'item_id'])
        .where('vpc_id', '=', this.vpcId)
        .where('kind', '=', kind)
        .where('revision', '>', cursor)
        .where('revision', '<=', upTo)
        .execute();
      for (const t of tombs) {
        out.push({
          revision: Number(t.revision),
          line: `{"type":"delete","kind":"${kind}","value":${t.value}}\n`,
          ...(kind === 'device' ? { deletedDevice: t.item_id } : {}),
        });
      }
    }
  }

  private bookmark(): void {
    if (this.closed) return;
    this.write(`{"type":"bookmark","kind":"","value":{"revision":${this.lastRevision}}}\n`);
  }

  private write(s: string): void {
    if (this.closed || this.res.destroyed) return;
    this.res.write(s);
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    if (err instanceof NexError) {
      this.end({ error: err.message, code: err.code });
      return;
    }
    this.onError(err);
    // Database details stay in the log; the client learns to reconnect.
    this.end({
      error: 'the watch stream failed; reconnect and resume from your last revision',
      code: 'NEX_ERR_INTERNAL',
    });
  }

  /** Ends the stream with a final `error` event. */
  private end(value: { error: string; code: string }): void {
    this.write(`${JSON.stringify({ type: 'error', kind: '', value })}\n`);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.bookmarkTimer);
    this.unsubscribe();
    if (!this.res.writableEnded) this.res.end();
    this.resolveDone();
  }
}
