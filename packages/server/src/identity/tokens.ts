// SPDX-License-Identifier: Apache-2.0
// Access tokens (RFC 9068 JWTs signed with the shared key) and refresh tokens (opaque, stored as SHA-256,
// rotated on every use; presenting a rotated token again revokes its whole family, RFC 9700 §4.14.2).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Kysely } from 'kysely';
import { publishRefreshReuse } from './diagnostics.js';
import { OAuthError } from './errors.js';
import type { IdentityTables } from './schema.js';
import { SIGNING_ALG, type SigningKeys } from './signing-keys.js';

/** `aud` of every access token: the Nexodus API. */
export const ACCESS_TOKEN_AUDIENCE = 'nexodus';
/** RFC 9068 §2.1 `typ` of access-token JWTs; an id_token (typ JWT) is therefore never accepted as one. */
const ACCESS_TOKEN_TYP = 'at+jwt';
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const DEFAULT_REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
/** Tolerated clock skew between replicas when checking exp/iat. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** A JWT longer than this is not one of ours; refuse before parsing. */
const MAX_JWT_LENGTH = 8192;
const REFRESH_TOKEN_PREFIX = 'nxrt_';
const REFRESH_TOKEN_BYTES = 32;
/** Scopes we grant; others a client asks for are dropped from the grant (RFC 6749 §3.3 allows it). */
export const SUPPORTED_SCOPES = ['openid', 'profile', 'offline_access'] as const;

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  /** the granted scope, when not empty */
  scope?: string;
  /** present when the grant includes `openid` */
  id_token?: string;
}

export interface TokenSubject {
  id: string;
  username: string;
}

/** SHA-256 hex; refresh tokens and device codes are high-entropy, so a fast hash is the right tool. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** The granted subset of a requested `scope` string, in our canonical order. */
export function grantScope(requested: string | undefined): string {
  const asked = new Set((requested ?? '').split(' ').filter(Boolean));
  return SUPPORTED_SCOPES.filter((s) => asked.has(s)).join(' ');
}

type RotateOutcome =
  | { kind: 'ok'; subject: TokenSubject; scope: string; familyId: string }
  | { kind: 'reuse'; userId: string; familyId: string }
  | { kind: 'unknown' | 'revoked' | 'expired' | 'client-mismatch' };

export class TokenIssuer {
  readonly #db: Kysely<IdentityTables>;
  readonly #keys: SigningKeys;
  readonly #issuer: string;
  readonly #now: () => Date;
  readonly accessTtlSeconds: number;
  readonly refreshTtlSeconds: number;

  constructor(opts: {
    db: Kysely<IdentityTables>;
    keys: SigningKeys;
    issuer: string;
    now: () => Date;
    accessTtlSeconds: number;
    refreshTtlSeconds: number;
  }) {
    this.#db = opts.db;
    this.#keys = opts.keys;
    this.#issuer = opts.issuer;
    this.#now = opts.now;
    this.accessTtlSeconds = opts.accessTtlSeconds;
    this.refreshTtlSeconds = opts.refreshTtlSeconds;
  }

  /** A fresh token set for a new login: a new refresh-token family. */
  async issue(subject: TokenSubject, clientId: string, scope: string): Promise<TokenResponse> {
    const refresh = await this.#storeRefresh(this.#db, subject.id, clientId, scope, randomUUID());
    return this.#respond(subject, clientId, scope, refresh);
  }

  /**
   * A sign-in session of the authorization endpoint: an opaque token stored like a refresh token (own
   * family, `clientId` an internal one no token request may name) that lives `ttlSeconds`. It is never
   * rotated, only looked up (`sessionSubject`) and revoked (`revokeFamilyOf`).
   */
  issueSession(subject: TokenSubject, clientId: string, ttlSeconds: number): Promise<string> {
    return this.#storeRefresh(this.#db, subject.id, clientId, '', randomUUID(), ttlSeconds);
  }

  /** The user of a live (not rotated, revoked or expired) token of `clientId`, else undefined. */
  async sessionSubject(token: string, clientId: string): Promise<TokenSubject | undefined> {
    const row = await this.#db
      .selectFrom('identity_refresh_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select(['t.client_id', 't.expires_at', 't.rotated_at', 't.revoked_at', 'u.id', 'u.username'])
      .where('t.token_hash', '=', sha256Hex(token))
      .executeTakeFirst();
    if (!row || row.client_id !== clientId || row.rotated_at !== null || row.revoked_at !== null) return;
    if (row.expires_at <= this.#now().toISOString()) return;
    return { id: row.id, username: row.username };
  }

  /** Revokes the whole family of a refresh or session token (sign-out); unknown tokens are ignored. */
  async revokeFamilyOf(token: string): Promise<void> {
    const row = await this.#db
      .selectFrom('identity_refresh_tokens')
      .select('family_id')
      .where('token_hash', '=', sha256Hex(token))
      .executeTakeFirst();
    if (!row) return;
    await this.#db
      .updateTable('identity_refresh_tokens')
      .set({ revoked_at: this.#now().toISOString() })
      .where('family_id', '=', row.family_id)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** Exchanges a refresh token for a new token set (RFC 6749 §6), rotating it. Throws OAuthError. */
  async rotate(refreshToken: string, clientId: string): Promise<TokenResponse> {
    const hash = sha256Hex(refreshToken);
    const nowIso = this.#now().toISOString();
    let issued: string | undefined;
    const outcome = await this.#db.transaction().execute(async (tx): Promise<RotateOutcome> => {
      const row = await tx
        .selectFrom('identity_refresh_tokens as t')
        .innerJoin('users as u', 'u.id', 't.user_id')
        .select([
          't.id',
          't.family_id',
          't.client_id',
          't.scope',
          't.expires_at',
          't.rotated_at',
          't.revoked_at',
        ])
        .select(['u.id as user_id', 'u.username'])
        .where('t.token_hash', '=', hash)
        .executeTakeFirst();
      if (!row) return { kind: 'unknown' };
      if (row.revoked_at !== null) return { kind: 'revoked' };
      if (row.client_id !== clientId) return { kind: 'client-mismatch' };
      const reuse = async (): Promise<RotateOutcome> => {
        await tx
          .updateTable('identity_refresh_tokens')
          .set({ revoked_at: nowIso })
          .where('family_id', '=', row.family_id)
          .where('revoked_at', 'is', null)
          .execute();
        return { kind: 'reuse', userId: row.user_id, familyId: row.family_id };
      };
      if (row.rotated_at !== null) return reuse();
      if (row.expires_at <= nowIso) return { kind: 'expired' };
      // The `rotated_at is null` guard makes two concurrent uses of one token count as reuse.
      const upd = await tx
        .updateTable('identity_refresh_tokens')
        .set({ rotated_at: nowIso })
        .where('id', '=', row.id)
        .where('rotated_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(upd.numUpdatedRows) !== 1) return reuse();
      issued = await this.#storeRefresh(tx, row.user_id, clientId, row.scope, row.family_id);
      return {
        kind: 'ok',
        subject: { id: row.user_id, username: row.username },
        scope: row.scope,
        familyId: row.family_id,
      };
    });
    // Thrown after commit, so the family revocation on reuse is kept.
    switch (outcome.kind) {
      case 'ok':
        return this.#respond(outcome.subject, clientId, outcome.scope, issued!);
      case 'unknown':
        throw new OAuthError('invalid_grant', 'the refresh token is not valid; log in again');
      case 'revoked':
        throw new OAuthError('invalid_grant', 'the refresh token was revoked; log in again');
      case 'expired':
        throw new OAuthError('invalid_grant', 'the refresh token has expired; log in again');
      case 'client-mismatch':
        throw new OAuthError('invalid_grant', 'the refresh token was issued to another client_id');
      case 'reuse':
        publishRefreshReuse({ userId: outcome.userId, familyId: outcome.familyId });
        throw new OAuthError(
          'invalid_grant',
          'the refresh token was already used; all tokens of this login are revoked, log in again',
        );
      default: {
        const never: never = outcome;
        throw new Error(`unhandled outcome ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * The user id (`sub`) of a valid access token signed by this service (any replica), or undefined for
   * anything else: malformed, wrong issuer/audience/type, expired, unknown key, bad signature.
   */
  async verifyAccess(token: string): Promise<string | undefined> {
    if (token.length > MAX_JWT_LENGTH || token.split('.').length !== 3) return undefined;
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          const key = header.kid === undefined ? undefined : await this.#keys.publicKey(header.kid);
          if (!key) throw new joseErrors.JWKSNoMatchingKey();
          return key;
        },
        {
          issuer: this.#issuer,
          audience: ACCESS_TOKEN_AUDIENCE,
          algorithms: [SIGNING_ALG],
          typ: ACCESS_TOKEN_TYP,
          currentDate: this.#now(),
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          // With a maximum age jose also refuses an iat in the future (beyond the tolerance): a token minted
          // by a replica whose clock runs ahead, or a forged one, is not good for longer than its lifetime.
          maxTokenAge: this.accessTtlSeconds,
          requiredClaims: ['sub', 'exp', 'iat', 'jti'],
        },
      );
      return payload.sub;
    } catch (err) {
      // Every jose failure means "not a valid token of ours"; anything else (the database) propagates.
      if (err instanceof joseErrors.JOSEError) return undefined;
      throw err;
    }
  }

  /** Deletes refresh tokens that expired before `beforeIso` (housekeeping). */
  async purgeExpired(beforeIso: string): Promise<void> {
    await this.#db.deleteFrom('identity_refresh_tokens').where('expires_at', '<', beforeIso).execute();
  }

  async #storeRefresh(
    db: Kysely<IdentityTables>,
    userId: string,
    clientId: string,
    scope: string,
    familyId: string,
    ttlSeconds = this.refreshTtlSeconds,
  ): Promise<string> {
    const token = REFRESH_TOKEN_PREFIX + randomBytes(REFRESH_TOKEN_BYTES).toString('base64url');
    const now = this.#now();
    await db
      .insertInto('identity_refresh_tokens')
      .values({
        id: randomUUID(),
        token_hash: sha256Hex(token),
        family_id: familyId,
        user_id: userId,
        client_id: clientId,
        scope,
        created_at: now.toISOString(),
        expires_at: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
        rotated_at: null,
        revoked_at: null,
      })
      .execute();
    return token;
  }

  async #respond(
    subject: TokenSubject,
    clientId: string,
    scope: string,
    refresh: string,
  ): Promise<TokenResponse> {
    const { kid, privateKey } = this.#keys.active();
    const iat = Math.floor(this.#now().getTime() / 1000);
    const exp = iat + this.accessTtlSeconds;
    const claims: Record<string, string> = { preferred_username: subject.username, client_id: clientId };
    if (scope !== '') claims.scope = scope;
    const access = await new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.#issuer)
      .setSubject(subject.id)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(privateKey);
    const res: TokenResponse = {
      access_token: access,
      token_type: 'Bearer',
      expires_in: this.accessTtlSeconds,
      refresh_token: refresh,
    };
    // RFC 6749 §5.1: scope is returned when it is meaningful; an empty grant is left out.
    if (scope !== '') res.scope = scope;
    if (scope.split(' ').includes('openid')) {
      // OIDC Core §2: the ID token's audience is the client.
      res.id_token = await new SignJWT({ preferred_username: subject.username })
        .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
        .setIssuer(this.#issuer)
        .setSubject(subject.id)
        .setAudience(clientId)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(privateKey);
    }
    return res;
  }
}
