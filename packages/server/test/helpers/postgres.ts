// SPDX-License-Identifier: Apache-2.0
// Starts a throw-away PostgreSQL (Debian's postgresql-15 binaries) for tests: initdb in a temp dir,
// a free 127.0.0.1 port, the unix socket inside the temp dir, stopped and removed by stop().
//
// A test process can die without calling stop(): the runner's timeout sends SIGTERM, a developer presses
// Ctrl-C, the OOM killer sends SIGKILL. None of these run JS exit handlers, and postgres does not notice its
// parent going away, so earlier versions left orphaned postmasters (and ~40 MB data dirs) behind. The server
// therefore runs under a small `sh` guard started through `setpriv --pdeathsig TERM` (util-linux): the kernel
// sends the guard SIGTERM when the test process dies however it dies (prctl PR_SET_PDEATHSIG), and the guard
// asks postgres for a fast shutdown, waits for it, and removes the temp dir. stop() takes the same path.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const PG_BIN = process.env.NEXODUS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const START_TIMEOUT_MS = 20_000;
/** How long stop() waits for the fast shutdown before it SIGKILLs the guard's whole process group. */
const STOP_GRACE_MS = 5_000;
const SETPRIV = '/usr/bin/setpriv';

/**
 * The guard: runs postgres ("$0" "$@") in the background; on SIGTERM/SIGINT (the parent-death signal or
 * stop()) it sends postgres SIGINT, i.e. "fast shutdown": disconnect clients, exit. `wait` returns early
 * when a trapped signal arrives, hence the loop; the temp dir goes once postgres is gone.
 */
const GUARD_SCRIPT = [
  '"$0" "$@" & pg=$!',
  'trap \'kill -INT "$pg" 2>/dev/null\' TERM INT',
  's=0',
  'while kill -0 "$pg" 2>/dev/null; do wait "$pg"; s=$?; done',
  'rm -rf "$NEXSRV_PG_DIR"',
  'exit "$s"',
].join('\n');

export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  url: string;
  /** The temp dir holding data dir and unix socket; gone after stop() or after the test process dies. */
  dir: string;
  /** Creates a fresh database on this server and returns its URL (isolates test files from each other). */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

/** Why PostgreSQL tests skip on this machine (the `skip` reason of node:test). */
export const POSTGRES_SKIP_REASON = `needs ${PG_BIN} (postgresql-15) and ${SETPRIV} (util-linux)`;

/** True when the Debian PostgreSQL binaries and setpriv are present (tests skip with a reason otherwise). */
export function postgresAvailable(): boolean {
  return existsSync(join(PG_BIN, 'initdb')) && existsSync(SETPRIV);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'nexsrv-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  // initdb refuses to run as root, so the cluster belongs to the `postgres` OS user when we are root.
  let uid: number | undefined;
  let gid: number | undefined;
  if (asRoot) {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const runOpts = { uid, gid, stdio: 'pipe' as const };
  execFileSync(
    join(PG_BIN, 'initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'],
    runOpts,
  );
  const port = await freePort();
  const proc = spawn(
    SETPRIV,
    [
      '--pdeathsig',
      'TERM',
      '--',
      '/bin/sh',
      '-c',
      GUARD_SCRIPT,
      join(PG_BIN, 'postgres'),
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
      '-c',
      'shared_buffers=32MB',
    ],
    {
      uid,
      gid,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NEXSRV_PG_DIR: dir },
      // Its own process group, so stop() can SIGKILL guard, postmaster and backends together.
      detached: true,
    },
  );
  const killGroup = (): void => {
    try {
      if (proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // ESRCH: the group is already gone.
    }
  };
  let stderr = '';
  proc.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 8192) stderr += b.toString();
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`postgres exited with ${proc.exitCode}: ${stderr}`);
    }
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      break;
    } catch {
      await c.end().catch(() => {});
      if (Date.now() > deadline) {
        killGroup();
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`postgres did not accept connections within ${START_TIMEOUT_MS} ms: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let counter = 0;
  return {
    url,
    dir,
    async createDatabase(name?: string) {
      const db = name ?? `t${process.pid}_${++counter}`;
      if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`bad database name ${db}`);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${db}`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${db}`;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        // The guard turns SIGTERM into a postgres fast shutdown; the whole group is killed after a grace period.
        proc.kill('SIGTERM');
        const t = setTimeout(killGroup, STOP_GRACE_MS);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
