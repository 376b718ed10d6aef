// SPDX-License-Identifier: Apache-2.0
// Server benchmark (SQLite and PostgreSQL): registrations/s; with 1,000 devices in a VPC and 200 open watch
// streams, the time from a device change to its arrival on all streams (p50, p99); server RSS.
// The server runs as a child process (the built CLI), so its RSS is its own. Last line: fanout_p99_ms (SQLite).
import { type ChildProcess, spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NexodusClient, OAuthClient, type WatchEvent } from '@nexodus/api';
import { startPostgres } from '../packages/server/test/helpers/postgres.js';
import { stopServer } from '../packages/server/test/helpers/spawn.js';
import { rssMiB } from './proc-status.js';

const DEVICES = 1000;
const STREAMS = 200;
/** Measured changes. A p99 needs at least 100 samples to be more than the maximum; 200 take ~10 s. */
const CHANGES = 200;
const REG_CONCURRENCY = 32;
const PW = 'bench-admin-password';
/** A change that has not reached every stream by then fails the run. */
const FANOUT_TIMEOUT_MS = 10_000;
/** Pause between measured changes, so each one fans out to an idle server. */
const CHANGE_GAP_MS = 20;
const CLI = join(import.meta.dirname, '../packages/server/dist/cli.js');

function key(): string {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return Buffer.from(b).toString('base64');
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

// Not packages/server/test/helpers/spawn.ts's spawnServer(): that one runs src/cli.ts through tsx, whose
// loader and transpile cache would count in the server RSS and startup this bench reports; here it is the
// built dist/cli.js alone. Stopping is the same, so stopServer() is shared.
function spawnServer(stateDir: string, databaseUrl?: string): Promise<{ proc: ChildProcess; url: string }> {
  const args = [CLI, '--state-dir', stateDir, '--http-listen', '127.0.0.1:0', '--log-level', 'warn'];
  if (databaseUrl) args.push('--database-url', databaseUrl);
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, NEXODUS_ADMIN_PASSWORD: PW },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.once('exit', (c) => reject(new Error(`server exited ${c}: ${out}`)));
  });
}

interface Result {
  regsPerSec: number;
  fanoutP50: number;
  fanoutP99: number;
  deliveryP50: number;
  deliveryP99: number;
  rss: number;
  initialListMs: number;
}

async function run(engine: string, databaseUrl?: string): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'nexsrv-bench-'));
  const { proc, url } = await spawnServer(dir, databaseUrl);
  try {
    const oauth = new OAuthClient({ baseUrl: url });
    const tok = await oauth.passwordGrant('admin', PW);
    await oauth.close();
    const client = new NexodusClient({ baseUrl: url, token: tok.access_token });
    const vpcId = (await client.getMe()).id;

    // 1. registrations/s
    let next = 0;
    const ids: string[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: REG_CONCURRENCY }, async () => {
        while (next < DEVICES) {
          const i = next++;
          const d = await client.createDevice({
            public_key: key(),
            hostname: `bench-${String(i).padStart(4, '0')}`,
            endpoints: [{ source: 'local', address: `10.0.${i >> 8}.${i & 255}:51820` }],
          });
          ids.push(d.id);
        }
      }),
    );
    const regsPerSec = DEVICES / ((performance.now() - t0) / 1000);

    // 2. 200 streams, each with the full initial list of 1,000 devices, then live changes.
    // revision -> arrival time on each stream; `all` fires on the last stream's arrival, so the figure is not
    // rounded up to a polling interval.
    const arrivals = new Map<number, { times: number[]; all: () => void }>();
    let allTailed: () => void = () => {};
    const tailed = new Promise<void>((r) => (allTailed = r));
    const ac = new AbortController();
    // One signal shared by all streams on purpose (abort them together).
    setMaxListeners(STREAMS + 10, ac.signal);
    let tails = 0;
    const tStreams = performance.now();
    const streams = Array.from({ length: STREAMS }, async () => {
      const c = new NexodusClient({ baseUrl: url, token: tok.access_token });
      try {
        for await (const ev of c.watchEvents(vpcId, [{ kind: 'device', gt_revision: 0 }], {
          signal: ac.signal,
        })) {
          const e = ev as WatchEvent;
          if (e.type === 'tail') {
            if (++tails === STREAMS) allTailed();
          } else if (e.type === 'change' && e.kind === 'device') {
            const a = arrivals.get(e.value.revision);
            if (a && a.times.push(performance.now()) === STREAMS) a.all();
          }
        }
      } finally {
        await c.close();
      }
    });
    await tailed;
    const initialListMs = performance.now() - tStreams;

    let lastRevision = Math.max(...(await client.listDevicesInVpc(vpcId)).map((d) => d.revision));
    const fanout: number[] = [];
    const delivery: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const target = ids[i % ids.length]!;
      const start = performance.now();
      // The change's revision is known only from the answer, so record arrivals by the next revision.
      const expected = lastRevision + 1;
      const times: number[] = [];
      let timer: NodeJS.Timeout | undefined;
      const reachedAll = new Promise<boolean>((resolve) => {
        arrivals.set(expected, { times, all: () => resolve(true) });
        timer = setTimeout(() => resolve(false), FANOUT_TIMEOUT_MS);
      });
      const d = await client.updateDevice(target, { hostname: `changed-${i}` });
      if (d.revision !== expected) throw new Error(`unexpected revision ${d.revision}, expected ${expected}`);
      lastRevision = d.revision;
      const ok = await reachedAll;
      clearTimeout(timer);
      arrivals.delete(expected);
      if (!ok) throw new Error(`change ${i} reached only ${times.length}/${STREAMS} streams`);
      for (const t of times) delivery.push(t - start);
      fanout.push(Math.max(...times) - start);
      await new Promise((r) => setTimeout(r, CHANGE_GAP_MS));
    }
    const rss = rssMiB(proc.pid!);
    ac.abort();
    await Promise.allSettled(streams);
    await client.close();
    const r: Result = {
      regsPerSec,
      fanoutP50: pct(fanout, 50),
      fanoutP99: pct(fanout, 99),
      deliveryP50: pct(delivery, 50),
      deliveryP99: pct(delivery, 99),
      rss,
      initialListMs,
    };
    console.log(
      `${engine}: registrations/s=${r.regsPerSec.toFixed(0)} initial_list_200x${DEVICES}_ms=${r.initialListMs.toFixed(0)} ` +
        `fanout_all_streams_ms p50=${r.fanoutP50.toFixed(1)} p99=${r.fanoutP99.toFixed(1)} ` +
        `per_delivery_ms p50=${r.deliveryP50.toFixed(1)} p99=${r.deliveryP99.toFixed(1)} server_rss_mib=${r.rss.toFixed(0)}`,
    );
    return r;
  } finally {
    // Returns at once for a server that died mid-run; SIGKILLs one that ignores SIGTERM.
    await stopServer(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

const sqlite = await run('sqlite');
const pg = await startPostgres();
try {
  await run('postgres', await pg.createDatabase());
} finally {
  await pg.stop();
}
console.log(`fanout_p99_ms=${sqlite.fanoutP99.toFixed(1)}`);
