// SPDX-License-Identifier: Apache-2.0
// IdentityService: the one object the server core, the routes and the `nexodus-server user` CLI use.
// It wires the stores (users, signing keys, tokens, device grants) to the login throttle and the clock.
// Every time value comes from the injected `now()`, so tests move time instead of sleeping.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { AuthorizationCodes } from './authorization-codes.js';
import {
  DEFAULT_DEVICE_CODE_TTL_SECONDS,
  DEFAULT_POLL_INTERVAL_SECONDS,
  type DeviceAuthorization,
  DeviceGrants,
  normalizeUserCode,
} from './device-grant.js';
import { publishLogin } from './diagnostics.js';
import { IdentityError, OAuthError } from './errors.js';
import { HashGate, type HashGateOptions } from './hash-gate.js';
import { type ScryptParams, validScryptParams } from './passwords.js';
import {
  FailureWindow,
  type LoginRateLimitOptions,
  type LoginThrottle,
  MemoryLoginThrottle,
} from './rate-limit.js';
import { DatabaseLoginThrottle } from './rate-limit-db.js';
import type { IdentityTables } from './schema.js';
import { SigningKeys } from './signing-keys.js';
import {
  DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
  DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
  grantScope,
  SUPPORTED_SCOPES,
  TokenIssuer,
  type TokenResponse,
} from './tokens.js';
import { type UserRecord, UserStore } from './users.js';

/** Who made an API request with a user access token. */
export type UserPrincipal = { kind: 'user'; userId: string; username: string; admin: boolean };

/** The public OAuth2 clients we know; public clients (no secret), identified by client_id only. */
export const KNOWN_CLIENT_IDS: readonly string[] = ['nexodus-cli', 'nexodus-web'];
export const DEFAULT_CLIENT_ID = 'nexodus-cli';
/** The web UI: a public client that may only use the authorization code grant with PKCE (and refresh). */
export const WEB_CLIENT_ID = 'nexodus-web';
/** Internal client id of sign-in sessions (the authorization endpoint's cookie); never valid at /oauth2/token. */
export const SESSION_CLIENT_ID = 'nexodus-web-session';
/** How long a sign-in session lets the authorization endpoint answer without asking for the password. */
export const SESSION_TTL_SECONDS = 12 * 3600;
export const AUTHORIZATION_CODE_GRANT_TYPE = 'authorization_code';
export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';
export const ADMIN_USERNAME = 'admin';

/** Route paths, relative to the issuer. */
export const IDENTITY_PATHS = {
  discovery: '/.well-known/openid-configuration',
  jwks: '/.well-known/jwks.json',
  token: '/oauth2/token',
  authorize: '/oauth2/authorize',
  logout: '/oauth2/logout',
  deviceAuthorization: '/oauth2/device_authorization',
  verification: '/device',
  deviceStart: '/device/login/start',
  adminUsers: '/api/admin/users',
} as const;

/** Housekeeping (deleting expired refresh tokens and device requests) runs at most this often. */
const PURGE_EVERY_MS = 10 * 60 * 1000;
/** Expired device requests are kept this long, so a late poll still hears expired_token. */
const DEVICE_GRANT_RETENTION_MS = 60 * 60 * 1000;
/** Device authorization requests per source address per minute (the endpoint is unauthenticated). */
const DEVICE_AUTHORIZATIONS_PER_ADDRESS = 30;
const DEVICE_AUTHORIZATION_WINDOW_MS = 60_000;
/** Length of a generated admin password: 18 random bytes = 24 base64url characters. */
const GENERATED_PASSWORD_BYTES = 18;

export interface IdentityServiceOptions {
  db: Kysely<IdentityTables>;
  /** The server's external base URL, i.e. `https://localhost:8443`; the `iss` of every token. */
  issuer: string;
  /** Access-token lifetime (default 900 s). */
  accessTokenTtlSeconds?: number;
  /** Refresh-token lifetime (default 30 days). */
  refreshTokenTtlSeconds?: number;
  /** The clock (default `() => new Date()`). */
  now?: () => Date;
  /** Login throttling (defaults: 5 free failures per account+address then backoff, 30 per address per 300 s). */
  loginRateLimit?: LoginRateLimitOptions;
  /**
   * Where failure counts live: 'database' (default; replicas share them) or 'memory' (this process only,
   * one query fewer per login).
   */
  loginThrottleStore?: 'database' | 'memory';
  /** Device code lifetime (default 600 s) and initial polling interval (default 5 s). */
  deviceCodeTtlSeconds?: number;
  devicePollIntervalSeconds?: number;
  /** scrypt cost for new password hashes (default N=2^15, r=8, p=1). */
  scrypt?: ScryptParams;
  /** Bound on password checks in flight (default 4 running, 64 waiting; beyond: 503). */
  passwordChecks?: HashGateOptions;
}

export type PasswordCheck =
  | { ok: true; user: UserRecord }
  | { ok: false; reason: 'bad-credentials' }
  | { ok: false; reason: 'rate-limited'; retryAfterSeconds: number };

function normalizeIssuer(issuer: string): string {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new IdentityError(
      'IDENTITY_ERR_BAD_CONFIG',
      `issuer ${JSON.stringify(issuer)} is not a URL: expected https://host[:port]`,
    );
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username) {
    throw new IdentityError(
      'IDENTITY_ERR_BAD_CONFIG',
      `issuer ${JSON.stringify(issuer)} must be an http(s) URL without query, fragment or credentials`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

function loginThrottle(opts: IdentityServiceOptions): LoginThrottle {
  try {
    return opts.loginThrottleStore === 'memory'
      ? new MemoryLoginThrottle(opts.loginRateLimit)
      : new DatabaseLoginThrottle(opts.db, opts.loginRateLimit);
  } catch (err) {
    throw new IdentityError('IDENTITY_ERR_BAD_CONFIG', (err as Error).message, { cause: err });
  }
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v <= 0) {
    throw new IdentityError(
      'IDENTITY_ERR_BAD_CONFIG',
      `${name} must be a positive integer of seconds, got ${v}`,
    );
  }
  return v;
}

export class IdentityService {
  readonly issuer: string;
  readonly #now: () => Date;
  readonly #users: UserStore;
  readonly #keys: SigningKeys;
  readonly #tokens: TokenIssuer;
  readonly #devices: DeviceGrants;
  readonly #codes: AuthorizationCodes;
  readonly #throttle: LoginThrottle;
  readonly #deviceStarts = new FailureWindow({
    maxFailures: DEVICE_AUTHORIZATIONS_PER_ADDRESS,
    windowMs: DEVICE_AUTHORIZATION_WINDOW_MS,
  });
  #lastPurgeMs = Number.NEGATIVE_INFINITY;

  private constructor(parts: {
    issuer: string;
    now: () => Date;
    users: UserStore;
    keys: SigningKeys;
    tokens: TokenIssuer;
    devices: DeviceGrants;
    codes: AuthorizationCodes;
    throttle: LoginThrottle;
  }) {
    this.issuer = parts.issuer;
    this.#now = parts.now;
    this.#users = parts.users;
    this.#keys = parts.keys;
    this.#tokens = parts.tokens;
    this.#devices = parts.devices;
    this.#codes = parts.codes;
    this.#throttle = parts.throttle;
  }

  /** Loads (or on first start generates) the signing key. The identity migrations must have run. */
  static async create(opts: IdentityServiceOptions): Promise<IdentityService> {
    const now = opts.now ?? (() => new Date());
    const issuer = normalizeIssuer(opts.issuer);
    if (opts.scrypt && !validScryptParams(opts.scrypt)) {
      throw new IdentityError(
        'IDENTITY_ERR_BAD_CONFIG',
        `scrypt parameters ${JSON.stringify(opts.scrypt)} are invalid: expected N a power of two >= 1024, r >= 1, p >= 1`,
      );
    }
    const keys = await SigningKeys.load(opts.db, now);
    const tokens = new TokenIssuer({
      db: opts.db,
      keys,
      issuer,
      now,
      accessTtlSeconds: positive(
        'accessTokenTtlSeconds',
        opts.accessTokenTtlSeconds,
        DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
      ),
      refreshTtlSeconds: positive(
        'refreshTokenTtlSeconds',
        opts.refreshTokenTtlSeconds,
        DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
      ),
    });
    return new IdentityService({
      issuer,
      now,
      users: new UserStore(opts.db, now, opts.scrypt, new HashGate(opts.passwordChecks)),
      keys,
      tokens,
      devices: new DeviceGrants(opts.db, now, {
        ttlSeconds: positive(
          'deviceCodeTtlSeconds',
          opts.deviceCodeTtlSeconds,
          DEFAULT_DEVICE_CODE_TTL_SECONDS,
        ),
        intervalSeconds: positive(
          'devicePollIntervalSeconds',
          opts.devicePollIntervalSeconds,
          DEFAULT_POLL_INTERVAL_SECONDS,
        ),
      }),
      codes: new AuthorizationCodes({ keys, tokenEndpoint: `${issuer}${IDENTITY_PATHS.token}`, now }),
      throttle: loginThrottle(opts),
    });
  }

  // ---- API used by the server core and the CLI ----

  /** The user behind a valid access token of this service (any replica), else undefined. */
  async verifyAccessToken(token: string): Promise<UserPrincipal | undefined> {
    const sub = await this.#tokens.verifyAccess(token);
    if (sub === undefined) return undefined;
    // Looked up per request so that deleting a user (or changing admin) takes effect at once.
    const user = await this.#users.get(sub);
    return user && { kind: 'user', userId: user.id, username: user.username, admin: user.admin };
  }

  /** Throws IdentityError IDENTITY_ERR_BAD_USERNAME, IDENTITY_ERR_WEAK_PASSWORD or IDENTITY_ERR_USER_EXISTS. */
  createUser(
    username: string,
    password: string,
    opts: { admin?: boolean } = {},
  ): Promise<{ id: string; username: string }> {
    return this.#users.create(username, password, opts.admin === true);
  }

  /** All users ordered by username. */
  listUsers(): Promise<Array<{ id: string; username: string; admin: boolean; created_at: string }>> {
    return this.#users.list();
  }

  /** False when there is no such user; throws IDENTITY_ERR_LAST_ADMIN or IDENTITY_ERR_USER_IN_USE. */
  deleteUser(username: string): Promise<boolean> {
    return this.#users.delete(username);
  }

  /**
   * Sets a new password (e.g. `nexodus-server user passwd`, or a lost generated admin password) and revokes
   * the user's refresh tokens. False when there is no such user; throws IDENTITY_ERR_WEAK_PASSWORD.
   */
  setPassword(username: string, password: string): Promise<boolean> {
    return this.#users.setPassword(username, password);
  }

  /** The user with this id (what core tables store as owner_id), with its creation time. */
  getUser(
    id: string,
  ): Promise<{ id: string; username: string; admin: boolean; created_at: string } | undefined> {
    return this.#users.get(id);
  }

  /**
   * Creates the `admin` user when it does not exist yet, with `passwordFromEnv` or else a generated
   * password that is returned (only here, only on creation) for the caller to print once.
   */
  async ensureAdmin(
    passwordFromEnv: string | undefined,
  ): Promise<{ created: boolean; generatedPassword?: string }> {
    if (await this.#users.findByUsername(ADMIN_USERNAME)) return { created: false };
    const fromEnv = passwordFromEnv !== undefined && passwordFromEnv !== '';
    const password = fromEnv ? passwordFromEnv : randomBytes(GENERATED_PASSWORD_BYTES).toString('base64url');
    try {
      await this.#users.create(ADMIN_USERNAME, password, true);
    } catch (err) {
      // Another replica created it between our check and insert.
      if (err instanceof IdentityError && err.code === 'IDENTITY_ERR_USER_EXISTS') return { created: false };
      if (err instanceof IdentityError && err.code === 'IDENTITY_ERR_WEAK_PASSWORD') {
        throw new IdentityError(
          'IDENTITY_ERR_WEAK_PASSWORD',
          `NEXODUS_ADMIN_PASSWORD is not acceptable: ${err.message}`,
        );
      }
      throw err;
    }
    return fromEnv ? { created: true } : { created: true, generatedPassword: password };
  }

  // ---- used by the identity routes ----

  /** The current time (for `server_time` and rate-limit answers). */
  now(): Date {
    return this.#now();
  }

  isKnownClient(clientId: string): boolean {
    return KNOWN_CLIENT_IDS.includes(clientId);
  }

  /**
   * One throttled password check, shared by the password grant and the verification page.
   * Throws IDENTITY_ERR_BUSY when too many checks are in flight.
   */
  async checkPassword(username: string, password: string, address: string): Promise<PasswordCheck> {
    const nowMs = this.#now().getTime();
    const key = username.toLowerCase();
    const verdict = await this.#throttle.check(key, address, nowMs);
    if (!verdict.allowed) {
      publishLogin({ username: key, address, outcome: 'rate-limited' });
      return { ok: false, reason: 'rate-limited', retryAfterSeconds: verdict.retryAfterSeconds };
    }
    const user = await this.#users.verifyCredentials(username, password);
    if (!user) {
      await this.#throttle.recordFailure(key, address, this.#now().getTime());
      publishLogin({ username: key, address, outcome: 'bad-credentials' });
      return { ok: false, reason: 'bad-credentials' };
    }
    await this.#throttle.recordSuccess(key, address);
    publishLogin({ username: key, address, outcome: 'success' });
    return { ok: true, user };
  }

  /** RFC 6749 §4.3 resource owner password credentials grant. Throws OAuthError. */
  async passwordGrant(req: {
    username: string;
    password: string;
    clientId: string;
    scope?: string;
    address: string;
  }): Promise<TokenResponse> {
    let check: PasswordCheck;
    try {
      check = await this.checkPassword(req.username, req.password, req.address);
    } catch (err) {
      if (err instanceof IdentityError && err.code === 'IDENTITY_ERR_BUSY') {
        throw new OAuthError('temporarily_unavailable', err.message, {
          retryAfterSeconds: err.retryAfterSeconds,
        });
      }
      throw err;
    }
    if (!check.ok) {
      if (check.reason === 'rate-limited') {
        throw new OAuthError(
          'rate_limited',
          `too many failed logins for this user or from this address; retry in ${check.retryAfterSeconds} s`,
          { retryAfterSeconds: check.retryAfterSeconds },
        );
      }
      // The same answer for an unknown user and a wrong password: usernames are not revealed.
      throw new OAuthError('invalid_grant', 'the username or password is wrong');
    }
    await this.#maybePurge();
    return this.#tokens.issue(check.user, req.clientId, grantScope(req.scope));
  }

  /** RFC 6749 §6 refresh, with rotation and reuse detection. Throws OAuthError. */
  refreshGrant(req: { refreshToken: string; clientId: string }): Promise<TokenResponse> {
    return this.#tokens.rotate(req.refreshToken, req.clientId);
  }

  /** RFC 8628 §3.4 device code grant. Throws OAuthError (authorization_pending, slow_down, ...). */
  async deviceCodeGrant(req: { deviceCode: string; clientId: string }): Promise<TokenResponse> {
    const { userId, scope } = await this.#devices.poll(req.deviceCode, req.clientId);
    const user = await this.#users.get(userId);
    if (!user)
      throw new OAuthError('invalid_grant', 'the approving user no longer exists; start a new login');
    return this.#tokens.issue(user, req.clientId, scope);
  }

  /** RFC 8628 §3.1/3.2 device authorization request. Throws OAuthError. */
  async startDeviceAuthorization(req: {
    clientId: string;
    scope?: string;
    address: string;
  }): Promise<DeviceAuthorization & { verification_uri: string; verification_uri_complete: string }> {
    const nowMs = this.#now().getTime();
    const verdict = this.#deviceStarts.check(req.address, nowMs);
    if (!verdict.allowed) {
      throw new OAuthError(
        'rate_limited',
        `too many device authorization requests from this address; retry in ${verdict.retryAfterSeconds} s`,
        { retryAfterSeconds: verdict.retryAfterSeconds },
      );
    }
    this.#deviceStarts.recordFailure(req.address, nowMs);
    await this.#maybePurge();
    const auth = await this.#devices.start(req.clientId, grantScope(req.scope));
    const verification = `${this.issuer}${IDENTITY_PATHS.verification}`;
    return {
      ...auth,
      verification_uri: verification,
      verification_uri_complete: `${verification}?user_code=${encodeURIComponent(auth.user_code)}`,
    };
  }

  /** The decision of an authenticated user on the verification page. */
  async decideDeviceRequest(
    typedUserCode: string,
    userId: string,
    approve: boolean,
  ): Promise<'approved' | 'denied' | 'not-found' | 'expired' | 'already-decided' | 'malformed'> {
    const code = normalizeUserCode(typedUserCode);
    if (code === undefined) return 'malformed';
    return this.#devices.decide(code, userId, approve);
  }

  // ---- the web UI's sign-in: authorization code + PKCE, sessions of the authorization endpoint ----

  /** RFC 6749 §4.1.2: a code for a user who signed in (or has a session) at the authorization endpoint. */
  issueAuthorizationCode(grant: {
    userId: string;
    clientId: string;
    redirectUri: string;
    codeChallenge: string;
    scope?: string;
  }): Promise<string> {
    return this.#codes.issue({ ...grant, scope: grantScope(grant.scope) });
  }

  /** RFC 6749 §4.1.3 with RFC 7636 §4.5: the token request of the code grant. Throws OAuthError. */
  async authorizationCodeGrant(req: {
    code: string;
    clientId: string;
    redirectUri: string;
    codeVerifier: string;
  }): Promise<TokenResponse> {
    const { userId, scope } = await this.#codes.redeem(req.code, req);
    const user = await this.#users.get(userId);
    if (!user) throw new OAuthError('invalid_grant', 'the signed-in user no longer exists; sign in again');
    await this.#maybePurge();
    return this.#tokens.issue(user, req.clientId, scope);
  }

  /** A new sign-in session for the authorization endpoint's cookie (an opaque, revocable token). */
  startSession(user: { id: string; username: string }): Promise<string> {
    return this.#tokens.issueSession(user, SESSION_CLIENT_ID, SESSION_TTL_SECONDS);
  }

  /** The user of a live sign-in session, else undefined. */
  sessionUser(token: string): Promise<{ id: string; username: string } | undefined> {
    return this.#tokens.sessionSubject(token, SESSION_CLIENT_ID);
  }

  /** Sign-out: revokes a session or refresh token together with every token rotated from it. */
  revokeTokenFamily(token: string): Promise<void> {
    return this.#tokens.revokeFamilyOf(token);
  }

  /** OpenID Connect Discovery 1.0 §3 / RFC 8414 §2 metadata. */
  discoveryDocument(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      token_endpoint: `${this.issuer}${IDENTITY_PATHS.token}`,
      authorization_endpoint: `${this.issuer}${IDENTITY_PATHS.authorize}`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      device_authorization_endpoint: `${this.issuer}${IDENTITY_PATHS.deviceAuthorization}`,
      jwks_uri: `${this.issuer}${IDENTITY_PATHS.jwks}`,
      grant_types_supported: [
        'password',
        'refresh_token',
        DEVICE_CODE_GRANT_TYPE,
        AUTHORIZATION_CODE_GRANT_TYPE,
      ],
      token_endpoint_auth_methods_supported: ['none'],
      scopes_supported: [...SUPPORTED_SCOPES],
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'preferred_username'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    };
  }

  /** The RFC 7517 JWK Set of the token-signing public keys. */
  jwks(): { keys: Array<Record<string, unknown>> } {
    return this.#keys.jwks() as { keys: Array<Record<string, unknown>> };
  }

  async #maybePurge(): Promise<void> {
    const nowMs = this.#now().getTime();
    if (nowMs - this.#lastPurgeMs < PURGE_EVERY_MS) return;
    this.#lastPurgeMs = nowMs;
    await this.#tokens.purgeExpired(new Date(nowMs).toISOString());
    await this.#devices.purgeExpired(new Date(nowMs - DEVICE_GRANT_RETENTION_MS).toISOString());
    await this.#throttle.purge(nowMs);
  }
}
