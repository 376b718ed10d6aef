#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// nexodus-server: serve (the default command) and user administration.
import { readFileSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { STUN_DEFAULT_PORT } from '@nexodus/nat';
import { Command } from 'commander';
import type { Kysely } from 'kysely';
import { identityView } from './db/open.js';
import type { Database } from './db/schema.js';
import { IdentityError, IdentityService } from './identity/index.js';
import { startRelay } from './relay.js';
import { DEFAULT_HTTPS_LISTEN, DEFAULT_STATE_DIR, openConfiguredDatabase, startServer } from './server.js';
import { ensureSelfSigned } from './tls.js';

interface GlobalOpts {
  stateDir: string;
  databaseUrl?: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // One trailing newline (from `echo` or a here-string) is not part of the password.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function withIdentity<T>(
  g: GlobalOpts,
  fn: (identity: IdentityService, db: Kysely<Database>) => Promise<T>,
): Promise<T> {
  const db = await openConfiguredDatabase(g);
  try {
    // The issuer does not matter for user administration (no tokens are issued).
    const identity = await IdentityService.create({ db: identityView(db), issuer: 'https://localhost:8443' });
    return await fn(identity, db);
  } finally {
    await db.destroy();
  }
}

export function makeProgram(): Command {
  const program = new Command('nexodus-server')
    .description('The Nexodus control plane: API, identity, IPAM and watch streams in one process')
    .option(
      '--state-dir <dir>',
      'state directory (SQLite database, TLS certificate)',
      process.env.NEXODUS_STATE_DIR ?? DEFAULT_STATE_DIR,
    )
    .option(
      '--database-url <url>',
      'PostgreSQL URL (postgres://...) instead of the embedded SQLite',
      process.env.NEXODUS_DATABASE_URL,
    )
    .option('--listen <host:port>', 'HTTPS listen address', DEFAULT_HTTPS_LISTEN)
    .option('--http-listen <host:port>', 'serve plain HTTP on this address instead of HTTPS (explicit only)')
    .option('--tls-cert <file>', 'PEM certificate (default: a self-signed one in the state dir)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option(
      '--issuer <url>',
      'external base URL of this service (token issuer), i.e. https://nexodus.example.com',
    )
    .option('--log-level <level>', 'pino log level', 'info')
    .option(
      '--ui-dir <dir>',
      'the web UI build served at / (default: packages/ui/dist/web, or NEXODUS_UI_DIR)',
    )
    .option(
      '--stun-listen <host:port|off>',
      `STUN responder UDP address, or off (default: 0.0.0.0:${STUN_DEFAULT_PORT})`,
      process.env.NEXODUS_STUN_LISTEN,
    )
    .option(
      '--relay-listen <host:port|off>',
      'DERP relay (TLS like the API) on this TCP address, i.e. 0.0.0.0:443 (default: off)',
      process.env.NEXODUS_RELAY_LISTEN,
    )
    .option(
      '--relay-url <url>',
      'URL announced for the built-in relay (default: https://<issuer host>:<relay port>/derp)',
      process.env.NEXODUS_RELAY_URL,
    )
    .option(
      '--relay-announce <url>',
      'another relay to announce beside the built-in one, i.e. a `nexodus-server relay` elsewhere; ' +
        'repeatable (NEXODUS_RELAY_ANNOUNCE: comma-separated). Devices use every announced relay',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .action(
      async (
        o: GlobalOpts & {
          listen: string;
          httpListen?: string;
          tlsCert?: string;
          tlsKey?: string;
          issuer?: string;
          logLevel: string;
          uiDir?: string;
          stunListen?: string;
          relayListen?: string;
          relayUrl?: string;
          relayAnnounce?: string[];
        },
      ) => {
        const stun = o.stunListen ?? `0.0.0.0:${STUN_DEFAULT_PORT}`;
        // Flags replace the environment's list rather than adding to it.
        const announce =
          o.relayAnnounce ??
          (process.env.NEXODUS_RELAY_ANNOUNCE ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
        const server = await startServer({
          stateDir: o.stateDir,
          ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
          listen: o.listen,
          ...(o.httpListen ? { httpListen: o.httpListen } : {}),
          ...(o.tlsCert ? { tlsCert: o.tlsCert } : {}),
          ...(o.tlsKey ? { tlsKey: o.tlsKey } : {}),
          ...(o.issuer ? { issuer: o.issuer } : {}),
          logLevel: o.logLevel,
          ...(o.uiDir ? { uiDir: o.uiDir } : {}),
          stunListen: stun === 'off' ? false : stun,
          stunDefault: o.stunListen === undefined,
          ...(o.relayListen && o.relayListen !== 'off' ? { relayListen: o.relayListen } : {}),
          ...(o.relayUrl ? { relayUrl: o.relayUrl } : {}),
          ...(announce.length > 0 ? { relayAnnounce: announce } : {}),
          ...(process.env.NEXODUS_ADMIN_PASSWORD
            ? { adminPassword: process.env.NEXODUS_ADMIN_PASSWORD }
            : {}),
        });
        let stopping = false;
        const stop = () => {
          if (stopping) return;
          stopping = true;
          server.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      },
    );

  program
    .command('relay')
    .description('run only the DERP relay (Tailscale protocol), i.e. on another host than the API')
    .option('--bind <host:port>', 'TCP address to listen on', '0.0.0.0:443')
    .option('--tls-cert <file>', 'PEM certificate (default: a self-signed one in the state dir)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--plain', 'plain HTTP instead of TLS (tests only)')
    .action(async (o: { bind: string; tlsCert?: string; tlsKey?: string; plain?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOpts>();
      const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(o.bind);
      if (!m) throw new Error(`--bind: expected host:port, got ${JSON.stringify(o.bind)}`);
      const host = m[1] ?? (m[2] || '0.0.0.0');
      let tls: { cert: string; key: string } | undefined;
      if (!o.plain) {
        if (o.tlsCert || o.tlsKey) {
          if (!o.tlsCert || !o.tlsKey) throw new Error('--tls-cert and --tls-key go together');
          tls = { cert: readFileSync(o.tlsCert, 'utf8'), key: readFileSync(o.tlsKey, 'utf8') };
        } else {
          const c = ensureSelfSigned(g.stateDir, ['localhost', '127.0.0.1', '::1', hostname()]);
          tls = { cert: c.cert, key: c.key };
        }
      }
      const relay = await startRelay({ host, port: Number(m[3]) }, tls);
      process.stdout.write(
        `DERP relay listening on TCP port ${relay.port} (${tls ? 'TLS' : 'plain HTTP'})\n`,
      );
      const stop = () => void relay.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });

  const user = program.command('user').description('manage users of the built-in identity provider');
  user
    .command('add <name>')
    .description('create a user; the password is read from stdin')
    .option('--password-stdin', 'read the password from standard input (required)')
    .option('--admin', 'make the user an administrator')
    .option('--full-name <name>', "the user's full name (the API's full_name)")
    .action(
      async (
        name: string,
        o: { passwordStdin?: boolean; admin?: boolean; fullName?: string },
        cmd: Command,
      ) => {
        if (!o.passwordStdin) throw new Error('pass --password-stdin and the password on standard input');
        const password = await readStdin();
        const u = await withIdentity(cmd.optsWithGlobals<GlobalOpts>(), async (id, db) => {
          const created = await id.createUser(name, password, { admin: o.admin === true });
          if (o.fullName !== undefined) {
            await db
              .insertInto('user_profiles')
              .values({ user_id: created.id, full_name: o.fullName, picture: '' })
              .execute();
          }
          return created;
        });
        process.stdout.write(`created user ${u.username} (${u.id})\n`);
      },
    );
  user
    .command('list')
    .description('list users')
    .action(async (_o: unknown, cmd: Command) => {
      const users = await withIdentity(cmd.optsWithGlobals<GlobalOpts>(), (id) => id.listUsers());
      for (const u of users)
        process.stdout.write(`${u.username}\t${u.id}\t${u.admin ? 'admin' : '-'}\t${u.created_at}\n`);
    });
  user
    .command('delete <name>')
    .description('delete a user and everything it owns')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const ok = await withIdentity(cmd.optsWithGlobals<GlobalOpts>(), (id) => id.deleteUser(name));
      if (!ok) throw new Error(`no user named ${name}`);
      process.stdout.write(`deleted user ${name}\n`);
    });
  return program;
}

/** Executed directly (not imported by tests), also through a symlink (npm's .bin, the image's PATH). */
function invokedDirectly(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  if (/cli\.(js|ts)$/.test(arg)) return true;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  makeProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      const code = err instanceof IdentityError ? ` (${err.code})` : '';
      process.stderr.write(`nexodus-server: ${(err as Error).message ?? String(err)}${code}\n`);
      process.exit(1);
    });
}
