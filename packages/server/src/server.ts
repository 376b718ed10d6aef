// SPDX-License-Identifier: Apache-2.0
// Starting a complete service: database (SQLite in the state dir or PostgreSQL), migrations, identity,
// the admin user, TLS, and the listener. The CLI's main command is a thin wrapper around startServer.
import { mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import pino, { type Logger } from 'pino';
import { buildApp } from './app.js';
import { migrateToLatest } from './db/migrate.js';
import { identityView, openDatabase } from './db/open.js';
import type { Database } from './db/schema.js';
import { IdentityService } from './identity/index.js';
import { type RelayListen, startRelay } from './relay.js';
import { type StunListen, startStun } from './stun.js';
import { ensureSelfSigned } from './tls.js';

export const DEFAULT_STATE_DIR = './.state/server';
export const DEFAULT_HTTPS_LISTEN = '0.0.0.0:8443';
export const SQLITE_FILE = 'nexodus.db';

export interface ServerOptions {
  stateDir: string;
  databaseUrl?: string;
  /** HTTPS address host:port (default 0.0.0.0:8443). */
  listen?: string;
  /** Plain HTTP address instead of HTTPS; only when asked for explicitly. */
  httpListen?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** External base URL (token issuer). Default: derived from the listener. */
  issuer?: string;
  logLevel?: string;
  adminPassword?: string;
  /** The web UI build to serve (default packages/ui/dist/web or NEXODUS_UI_DIR). */
  uiDir?: string;
  /**
   * The STUN responders' UDP addresses (`host:port[,host:port]`, port 0 = ephemeral), or false/absent for none. The CLI
   * passes `0.0.0.0:3478` unless told otherwise; `stunDefault` marks that value as not asked for, so a port
   * taken by another process only warns.
   */
  stunListen?: string | false;
  stunDefault?: boolean;
  /** The DERP relay's TCP address (`host:port`, port 0 = ephemeral), or false/absent for none. */
  relayListen?: string | false;
  /** The relay URL announced to devices; default `https://<issuer host>:<relay port>/derp`. */
  relayUrl?: string;
  /**
   * More relays announced beside the built-in one (i.e. `nexodus-server relay` on other hosts), in order;
   * devices connect to every one, so a VPC keeps a relay path when one of them goes away.
   */
  relayAnnounce?: string[];
  /** Where human-facing lines go (generated admin password, CA path). Default: stdout. */
  print?: (line: string) => void;
}

export interface RunningServer {
  app: FastifyInstance;
  db: Kysely<Database>;
  url: string;
  /** The STUN responder's UDP port, when one runs. */
  stunPort?: number;
  /** The relay, when one runs. */
  relay?: RelayListen;
  /** The relay URL announced to devices. */
  relayUrl?: string;
  close(): Promise<void>;
}

/** An announced relay must be a URL nexd can dial: http(s)://host[:port]/path. */
function checkRelayUrl(text: string, flag: string): string {
  let u: URL | undefined;
  try {
    u = new URL(text);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.hostname === '')
    throw new Error(
      `${flag}: expected a relay URL like https://relay.example:443/derp, got ${JSON.stringify(text)}`,
    );
  return u.href;
}

function splitHostPort(addr: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`${flag}: expected host:port (i.e. 0.0.0.0:8443), got ${JSON.stringify(addr)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`${flag}: port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Opens and migrates the configured database (shared by `serve` and the `user` commands). */
export async function openConfiguredDatabase(opts: {
  stateDir: string;
  databaseUrl?: string;
}): Promise<Kysely<Database>> {
  let db: Kysely<Database>;
  if (opts.databaseUrl) db = await openDatabase({ url: opts.databaseUrl });
  else {
    mkdirSync(opts.stateDir, { recursive: true });
    db = await openDatabase({ sqlitePath: join(opts.stateDir, SQLITE_FILE) });
  }
  try {
    await migrateToLatest(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return db;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const print = opts.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const log: Logger = pino({ level: opts.logLevel ?? 'info' });
  const plain = opts.httpListen !== undefined;
  const { host, port } = splitHostPort(
    plain ? opts.httpListen! : (opts.listen ?? DEFAULT_HTTPS_LISTEN),
    plain ? '--http-listen' : '--listen',
  );
  const announced = (opts.relayAnnounce ?? []).map((u) => checkRelayUrl(u, '--relay-announce'));
  let https: { key: string; cert: string } | undefined;
  if (!plain) {
    if (opts.tlsCert || opts.tlsKey) {
      if (!opts.tlsCert || !opts.tlsKey) throw new Error('--tls-cert and --tls-key go together');
      https = { cert: readFileSync(opts.tlsCert, 'utf8'), key: readFileSync(opts.tlsKey, 'utf8') };
    } else {
      // The machine's name too, so clients on the network can verify it with the CA file.
      const names = [
        'localhost',
        '127.0.0.1',
        '::1',
        hostname(),
        ...(host !== '0.0.0.0' && host !== '::' ? [host] : []),
      ];
      const s = ensureSelfSigned(opts.stateDir, [...new Set(names)]);
      https = { cert: s.cert, key: s.key };
      print(
        `TLS: ${s.created ? 'generated a self-signed certificate' : 'using the self-signed certificate'}; clients trust it with the CA file ${s.certPath}`,
      );
    }
  }
  const db = await openConfiguredDatabase(opts);
  const scheme = plain ? 'http' : 'https';
  const displayHost =
    host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  let app: FastifyInstance | undefined;
  const stuns: StunListen[] = [];
  let relay: RelayListen | undefined;
  try {
    // The issuer must be known before listening; with port 0 it is fixed up from the bound port below only
    // when not given, which is what tests use.
    const issuer = opts.issuer ?? `${scheme}://${displayHost}:${port}`;
    const identity = await IdentityService.create({ db: identityView(db), issuer });
    const admin = await identity.ensureAdmin(opts.adminPassword);
    if (admin.generatedPassword) {
      print(`Created user "admin" with generated password: ${admin.generatedPassword}`);
      print('(shown once; set NEXODUS_ADMIN_PASSWORD to choose it yourself)');
    }
    let relayUrl: string | undefined;
    if (opts.relayListen) {
      relay = await startRelay(splitHostPort(opts.relayListen, '--relay-listen'), https);
      const issuerHost = new URL(issuer).hostname;
      relayUrl = opts.relayUrl ?? `${https ? 'https' : 'http'}://${issuerHost}:${relay.port}/derp`;
      print(`DERP relay listening on TCP port ${relay.port}, announced as ${relayUrl}`);
    }
    // The built-in relay first, then the others, each once.
    const relays = [...new Set([...(relayUrl ? [relayUrl] : []), ...announced])];
    if (relays.length > (relayUrl ? 1 : 0)) print(`Relays announced to devices: ${relays.join(' ')}`);
    app = await buildApp({
      db,
      identity,
      logger: log,
      ...(https ? { https } : {}),
      ...(opts.uiDir ? { uiDir: opts.uiDir } : {}),
      ...(relays.length > 0 ? { relays } : {}),
    });
    await app.listen({ host, port });
    // One responder per address (comma-separated): two ports let devices tell a symmetric NAT, which
    // maps each destination to another port, from one that keeps its mapping.
    for (const a of opts.stunListen ? opts.stunListen.split(',') : []) {
      const one = await startStun(
        { ...splitHostPort(a.trim(), '--stun-listen'), isDefault: opts.stunDefault === true },
        log,
      );
      if (one) {
        stuns.push(one);
        print(`STUN responder listening on UDP port ${one.port}`);
      }
    }
    const addr = app.server.address();
    const bound = typeof addr === 'object' && addr ? addr.port : port;
    const url = `${scheme}://${displayHost}:${bound}`;
    print(`nexodus-server listening on ${url}`);
    const running = app;
    return {
      app: running,
      db,
      url,
      ...(stuns[0] ? { stunPort: stuns[0].port } : {}),
      ...(relay ? { relay } : {}),
      ...(relayUrl ? { relayUrl } : {}),
      async close() {
        for (const x of stuns) await x.close();
        await relay?.close();
        await running.close();
        await db.destroy();
      },
    };
  } catch (err) {
    for (const x of stuns) await x.close();
    await relay?.close();
    await app?.close().catch(() => {});
    await db.destroy();
    throw err;
  }
}
