// SPDX-License-Identifier: Apache-2.0
// The user store: validation of usernames and passwords, creation, listing, deletion and the password
// check used by every login path (which costs the same whether or not the user exists).
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { isForeignKeyViolation, isUniqueViolation } from './constraint-errors.js';
import { IdentityError } from './errors.js';
import { HashGate } from './hash-gate.js';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, type ScryptParams, verifyPassword } from './passwords.js';
import type { IdentityTables } from './schema.js';

/** 1-64 characters, starting with a letter or digit; letters, digits, `.`, `_`, `-`, `@`. Stored lower-case. */
const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._@-]{0,63}$/;
export const USERNAME_RULE =
  "1-64 characters from a-z, 0-9, '.', '_', '-', '@', starting with a letter or digit";
export const MIN_PASSWORD_LENGTH = 8;
/** Bounded so a login request cannot make scrypt chew on megabytes. */
export const MAX_PASSWORD_LENGTH = 1024;

export interface UserRecord {
  id: string;
  username: string;
  admin: boolean;
  created_at: string;
}

/** Lower-cases and trims nothing else: usernames are case-insensitive, whitespace is an error. */
export function normalizeUsername(username: string): string {
  return username.toLowerCase();
}

/** Throws IDENTITY_ERR_BAD_USERNAME unless `username` (already normalized) is acceptable. */
export function checkUsername(username: string): void {
  if (!USERNAME_PATTERN.test(username)) {
    throw new IdentityError(
      'IDENTITY_ERR_BAD_USERNAME',
      `username ${JSON.stringify(username.slice(0, 80))} is not valid: expected ${USERNAME_RULE}`,
    );
  }
}

/** Throws IDENTITY_ERR_WEAK_PASSWORD unless `password` satisfies the policy. */
export function checkPassword(password: string, username: string): void {
  const length = [...password].length;
  let problem: string | undefined;
  if (length === 0) problem = 'the password is empty';
  else if (length < MIN_PASSWORD_LENGTH) problem = `the password has ${length} characters`;
  else if (length > MAX_PASSWORD_LENGTH) problem = `the password has ${length} characters`;
  else if (password.toLowerCase() === username) problem = 'the password equals the username';
  else if (new Set(password).size === 1) problem = 'the password repeats a single character';
  if (problem) {
    throw new IdentityError(
      'IDENTITY_ERR_WEAK_PASSWORD',
      `${problem}: expected ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters, not the username, not one repeated character`,
    );
  }
}

export class UserStore {
  readonly #db: Kysely<IdentityTables>;
  readonly #now: () => Date;
  readonly #scrypt: ScryptParams;
  #dummyHash: Promise<string> | undefined;

  readonly #gate: HashGate;

  constructor(
    db: Kysely<IdentityTables>,
    now: () => Date,
    scrypt: ScryptParams = DEFAULT_SCRYPT_PARAMS,
    gate: HashGate = new HashGate(),
  ) {
    this.#db = db;
    this.#now = now;
    this.#scrypt = scrypt;
    this.#gate = gate;
  }

  async create(
    username: string,
    password: string,
    admin: boolean,
  ): Promise<{ id: string; username: string }> {
    if (typeof username !== 'string' || typeof password !== 'string') {
      throw new IdentityError('IDENTITY_ERR_BAD_REQUEST', 'username and password must be strings');
    }
    const name = normalizeUsername(username);
    checkUsername(name);
    checkPassword(password, name);
    const existing = await this.#db
      .selectFrom('users')
      .select('id')
      .where('username', '=', name)
      .executeTakeFirst();
    if (existing) throw userExists(name);
    const id = randomUUID();
    const ts = this.#now().toISOString();
    try {
      await this.#db
        .insertInto('users')
        .values({
          id,
          username: name,
          password_hash: await hashPassword(password, this.#scrypt),
          admin: admin ? 1 : 0,
          created_at: ts,
          updated_at: ts,
        })
        .execute();
    } catch (err) {
      // Lost a race with a concurrent create of the same name (another request or replica).
      if (isUniqueViolation(err)) throw userExists(name);
      throw err;
    }
    return { id, username: name };
  }

  async list(): Promise<UserRecord[]> {
    const rows = await this.#db
      .selectFrom('users')
      .select(['id', 'username', 'admin', 'created_at'])
      .orderBy('username')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      username: r.username,
      admin: Number(r.admin) === 1,
      created_at: r.created_at,
    }));
  }

  async get(id: string): Promise<UserRecord | undefined> {
    const r = await this.#db
      .selectFrom('users')
      .select(['id', 'username', 'admin', 'created_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    return r && { id: r.id, username: r.username, admin: Number(r.admin) === 1, created_at: r.created_at };
  }

  async findByUsername(username: string): Promise<UserRecord | undefined> {
    const r = await this.#db
      .selectFrom('users')
      .select(['id', 'username', 'admin', 'created_at'])
      .where('username', '=', normalizeUsername(username))
      .executeTakeFirst();
    return r && { id: r.id, username: r.username, admin: Number(r.admin) === 1, created_at: r.created_at };
  }

  /**
   * Deletes `username`; false when there is no such user. Refuses to delete the last admin
   * (IDENTITY_ERR_LAST_ADMIN) and a user other tables still reference (IDENTITY_ERR_USER_IN_USE).
   */
  async delete(username: string): Promise<boolean> {
    const name = normalizeUsername(username);
    try {
      return await this.#db.transaction().execute(async (tx) => {
        const user = await tx
          .selectFrom('users')
          .select(['id', 'admin'])
          .where('username', '=', name)
          .executeTakeFirst();
        if (!user) return false;
        if (Number(user.admin) === 1) {
          const admins = await tx
            .selectFrom('users')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('admin', '=', 1)
            .executeTakeFirstOrThrow();
          if (Number(admins.n) <= 1) {
            throw new IdentityError(
              'IDENTITY_ERR_LAST_ADMIN',
              `user ${JSON.stringify(name)} is the only admin; create another admin before deleting it`,
            );
          }
        }
        const r = await tx.deleteFrom('users').where('id', '=', user.id).executeTakeFirst();
        return Number(r.numDeletedRows) === 1;
      });
    } catch (err) {
      if (isForeignKeyViolation(err)) {
        throw new IdentityError(
          'IDENTITY_ERR_USER_IN_USE',
          `user ${JSON.stringify(name)} still owns organizations, VPCs or devices; delete those first`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * Replaces the password of `username` and revokes its refresh tokens (other sessions must log in again).
   * False when there is no such user; throws IDENTITY_ERR_WEAK_PASSWORD.
   */
  async setPassword(username: string, password: string): Promise<boolean> {
    const name = normalizeUsername(username);
    checkPassword(password, name);
    const hash = await hashPassword(password, this.#scrypt);
    const nowIso = this.#now().toISOString();
    return this.#db.transaction().execute(async (tx) => {
      const user = await tx.selectFrom('users').select('id').where('username', '=', name).executeTakeFirst();
      if (!user) return false;
      await tx
        .updateTable('users')
        .set({ password_hash: hash, updated_at: nowIso })
        .where('id', '=', user.id)
        .execute();
      await tx
        .updateTable('identity_refresh_tokens')
        .set({ revoked_at: nowIso })
        .where('user_id', '=', user.id)
        .where('revoked_at', 'is', null)
        .execute();
      return true;
    });
  }

  /**
   * Checks a username/password pair. For an unknown user a dummy hash is still computed, so the answer
   * takes the same time either way and does not reveal which usernames exist. Throws IDENTITY_ERR_BUSY
   * when too many checks are in flight (see hash-gate.ts).
   */
  async verifyCredentials(username: string, password: string): Promise<UserRecord | undefined> {
    const name = normalizeUsername(username);
    const row = USERNAME_PATTERN.test(name)
      ? await this.#db
          .selectFrom('users')
          .select(['id', 'username', 'admin', 'created_at', 'password_hash'])
          .where('username', '=', name)
          .executeTakeFirst()
      : undefined;
    // The dummy hash is computed once, outside the gate (it is not a login).
    const against = row
      ? row.password_hash
      : await (this.#dummyHash ??= hashPassword('nexodus-dummy-password', this.#scrypt));
    const ok = await this.#gate.run(() => verifyPassword(password, against));
    if (!row || !ok) return undefined;
    return { id: row.id, username: row.username, admin: Number(row.admin) === 1, created_at: row.created_at };
  }
}

function userExists(name: string): IdentityError {
  return new IdentityError(
    'IDENTITY_ERR_USER_EXISTS',
    `user ${JSON.stringify(name)} already exists; choose another username or delete the existing user first`,
  );
}
