// SPDX-License-Identifier: Apache-2.0
// The token-signing key: ES256 (P-256), generated on the first start and stored in the database so every
// replica signs with the same key and verifies every replica's tokens. All stored keys are published in
// the JWKS; the oldest one signs. Two replicas racing on an empty database may both insert a key: both
// then sign with the oldest, and a verifier that meets an unknown `kid` reloads the table.
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Kysely } from 'kysely';
import { IdentityError } from './errors.js';
import type { IdentityTables } from './schema.js';

export const SIGNING_ALG = 'ES256';
/** Least time between two reloads triggered by an unknown `kid`, so garbage tokens cannot hammer the DB. */
const UNKNOWN_KID_RELOAD_MS = 10_000;

/** SQLite "no such table" / PostgreSQL undefined_table (42P01). */
function isMissingTable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === '42P01' || (typeof e?.message === 'string' && e.message.startsWith('no such table'));
}

type KeyObjectLike = Awaited<ReturnType<typeof importJWK>>;

interface LoadedKey {
  kid: string;
  alg: string;
  createdAt: string;
  publicJwk: JWK;
  publicKey: KeyObjectLike;
  privateKey: KeyObjectLike;
}

export class SigningKeys {
  readonly #db: Kysely<IdentityTables>;
  readonly #now: () => Date;
  #keys = new Map<string, LoadedKey>();
  #active: LoadedKey | undefined;
  /** When an unknown `kid` last caused a reload (the startup load does not count). */
  #lastUnknownKidReloadMs = Number.NEGATIVE_INFINITY;

  private constructor(db: Kysely<IdentityTables>, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  /** Loads the stored keys, generating the first one when the table is empty. */
  static async load(db: Kysely<IdentityTables>, now: () => Date): Promise<SigningKeys> {
    const keys = new SigningKeys(db, now);
    try {
      await keys.#reload();
    } catch (err) {
      if (isMissingTable(err)) {
        throw new IdentityError(
          'IDENTITY_ERR_BAD_CONFIG',
          'the identity tables do not exist: run the migrations (identityMigrations) before IdentityService.create',
          { cause: err },
        );
      }
      throw err;
    }
    if (keys.#keys.size === 0) {
      await keys.#generate();
      await keys.#reload();
    }
    return keys;
  }

  /** The key new tokens are signed with. */
  active(): { kid: string; alg: string; privateKey: KeyObjectLike } {
    if (!this.#active) throw new IdentityError('IDENTITY_ERR_CORRUPT_STATE', 'no signing key loaded');
    return this.#active;
  }

  /** The public keys as an RFC 7517 JWK Set. */
  jwks(): { keys: JWK[] } {
    return { keys: [...this.#keys.values()].map((k) => ({ ...k.publicJwk })) };
  }

  /** The public key for `kid`, reloading from the database (throttled) when it is unknown. */
  async publicKey(kid: string): Promise<KeyObjectLike | undefined> {
    const known = this.#keys.get(kid);
    if (known) return known.publicKey;
    const nowMs = this.#now().getTime();
    if (nowMs - this.#lastUnknownKidReloadMs < UNKNOWN_KID_RELOAD_MS) return undefined;
    this.#lastUnknownKidReloadMs = nowMs;
    await this.#reload();
    return this.#keys.get(kid)?.publicKey;
  }

  async #generate(): Promise<void> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const kid = randomUUID();
    const meta = { kid, alg: SIGNING_ALG, use: 'sig' };
    await this.#db
      .insertInto('identity_signing_keys')
      .values({
        kid,
        alg: SIGNING_ALG,
        private_jwk: JSON.stringify({ ...(await exportJWK(privateKey)), ...meta }),
        public_jwk: JSON.stringify({ ...(await exportJWK(publicKey)), ...meta }),
        created_at: this.#now().toISOString(),
      })
      .execute();
  }

  async #reload(): Promise<void> {
    const rows = await this.#db
      .selectFrom('identity_signing_keys')
      .selectAll()
      .orderBy('created_at')
      .orderBy('kid')
      .execute();
    const keys = new Map<string, LoadedKey>();
    for (const row of rows) {
      const previous = this.#keys.get(row.kid);
      if (previous) {
        keys.set(row.kid, previous);
        continue;
      }
      try {
        const publicJwk = JSON.parse(row.public_jwk) as JWK;
        const privateJwk = JSON.parse(row.private_jwk) as JWK;
        keys.set(row.kid, {
          kid: row.kid,
          alg: row.alg,
          createdAt: row.created_at,
          publicJwk,
          publicKey: await importJWK(publicJwk, row.alg),
          privateKey: await importJWK(privateJwk, row.alg),
        });
      } catch (cause) {
        throw new IdentityError(
          'IDENTITY_ERR_CORRUPT_STATE',
          `signing key ${row.kid} in identity_signing_keys cannot be imported; delete the row to have a new key generated`,
          { cause },
        );
      }
    }
    this.#keys = keys;
    this.#active = keys.values().next().value;
  }
}
