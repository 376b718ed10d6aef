// SPDX-License-Identifier: Apache-2.0
// Table types of the identity tables. Conventions shared with server-core: ids text (UUID v4),
// timestamps ISO-8601 UTC text, booleans integer 0/1, counters bigint (read as numbers).

/** A local user. `users(id)` is what core tables reference as owner. */
export interface UsersTable {
  id: string;
  /** Lower-case login name, unique, e.g. `admin`, `alice@example.com`. */
  username: string;
  /** `scrypt$N$r$p$<salt b64url>$<hash b64url>` (see passwords.ts). */
  password_hash: string;
  /** 1 = may use the admin API. */
  admin: number;
  created_at: string;
  updated_at: string;
}

/** Token-signing keys, shared by every replica on the database (the first start generates one). */
export interface SigningKeysTable {
  /** JWS `kid`, a UUID. */
  kid: string;
  /** JWS `alg`, i.e. `ES256`. */
  alg: string;
  /** Private key as a JWK (JSON text). */
  private_jwk: string;
  /** Public key as a JWK (JSON text), served in the JWKS. */
  public_jwk: string;
  created_at: string;
}

/** Opaque refresh tokens, stored only as SHA-256; rotated on every use (RFC 9700 §4.14.2). */
export interface RefreshTokensTable {
  id: string;
  /** SHA-256 hex of the token. */
  token_hash: string;
  /** All tokens rotated from one login share a family; reuse of a rotated token revokes it. */
  family_id: string;
  user_id: string;
  client_id: string;
  /** Space-separated granted scope, e.g. `openid offline_access`. */
  scope: string;
  created_at: string;
  expires_at: string;
  /** Set when this token was exchanged for a new one; presenting it again is reuse. */
  rotated_at: string | null;
  /** Set when the family was revoked (reuse detected). */
  revoked_at: string | null;
}

/** RFC 8628 device authorization requests. */
export interface DeviceGrantsTable {
  id: string;
  /** SHA-256 hex of the device_code (the polling secret). */
  device_code_hash: string;
  /** Normalized user code without the dash, e.g. `BCDFGHJK`. */
  user_code: string;
  client_id: string;
  scope: string;
  /** 'pending' | 'approved' | 'denied' | 'consumed' */
  status: string;
  /** The approving/denying user, once decided. */
  user_id: string | null;
  /** Current minimum polling interval; slow_down adds 5 s (RFC 8628 §3.5). */
  poll_interval_seconds: number;
  last_polled_at: string | null;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
}

/** Failed-login windows shared by replicas (rate-limit-db.ts). */
export interface LoginFailuresTable {
  /** `u:<username>` or `a:<source address>` */
  key: string;
  /** When the current window opened (the first failure in it). */
  window_started_at: string;
  failures: number;
}

export interface IdentityTables {
  users: UsersTable;
  identity_signing_keys: SigningKeysTable;
  identity_refresh_tokens: RefreshTokensTable;
  identity_device_grants: DeviceGrantsTable;
  identity_login_failures: LoginFailuresTable;
}

/** Device grant states; one column, one union. */
export type DeviceGrantStatus = 'pending' | 'approved' | 'denied' | 'consumed';
