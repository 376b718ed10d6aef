// SPDX-License-Identifier: Apache-2.0
// RFC 6749 §4.1 authorization codes with RFC 7636 PKCE (S256 only) for the web UI, a public client.
//
// A code is a short-lived JWT signed with the shared token key (typ `nexodus-code+jwt`, audience the token
// endpoint), so any replica can redeem a code another replica issued without a table. It carries the user,
// client, redirect URI and PKCE challenge; redeeming needs the matching `code_verifier`, which only the
// browser tab that started the flow holds, so a code that leaks (history, logs, Referer) is worthless.
// Single use (RFC 6749 §4.1.2) is enforced per process by remembering redeemed `jti`s until they expire.
import { createHash, randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { OAuthError } from './errors.js';
import { SIGNING_ALG, type SigningKeys } from './signing-keys.js';

/** RFC 6749 §4.1.2 recommends at most 10 minutes; the UI redeems its code within a second. */
export const AUTHORIZATION_CODE_TTL_SECONDS = 60;
const CODE_TYP = 'nexodus-code+jwt';
/** A code longer than this is not one of ours. */
const MAX_CODE_LENGTH = 4096;
/** RFC 7636 §4.1: 43-128 characters of the unreserved set. */
export const CODE_VERIFIER_PATTERN = /^[A-Za-z0-9\-._~]{43,128}$/;
/** RFC 7636 §4.2: S256 challenges are base64url(SHA-256), 43 characters. */
export const CODE_CHALLENGE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** Redeemed codes remembered at most (codes expire after a minute, so this is far above real traffic). */
const MAX_REMEMBERED_CODES = 100_000;

/** RFC 7636 §4.2 S256: BASE64URL(SHA256(ASCII(code_verifier))). */
export function s256Challenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

export interface CodeGrant {
  userId: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
}

export class AuthorizationCodes {
  readonly #keys: SigningKeys;
  readonly #audience: string;
  readonly #now: () => Date;
  /** jti -> expiry (ms) of redeemed codes. */
  readonly #redeemed = new Map<string, number>();

  constructor(opts: { keys: SigningKeys; tokenEndpoint: string; now: () => Date }) {
    this.#keys = opts.keys;
    this.#audience = opts.tokenEndpoint;
    this.#now = opts.now;
  }

  async issue(grant: CodeGrant): Promise<string> {
    const { kid, privateKey } = this.#keys.active();
    const iat = Math.floor(this.#now().getTime() / 1000);
    return new SignJWT({
      client_id: grant.clientId,
      redirect_uri: grant.redirectUri,
      code_challenge: grant.codeChallenge,
      scope: grant.scope,
    })
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: CODE_TYP })
      .setIssuer(this.#audience)
      .setAudience(this.#audience)
      .setSubject(grant.userId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + AUTHORIZATION_CODE_TTL_SECONDS)
      .setJti(randomUUID())
      .sign(privateKey);
  }

  /**
   * RFC 6749 §4.1.3 + RFC 7636 §4.6: checks the code, its client, its redirect URI and the verifier, and
   * marks it used. Throws OAuthError invalid_grant (one message per cause) or invalid_request.
   */
  async redeem(
    code: string,
    req: { clientId: string; redirectUri: string; codeVerifier: string },
  ): Promise<{ userId: string; scope: string }> {
    if (!CODE_VERIFIER_PATTERN.test(req.codeVerifier)) {
      throw new OAuthError(
        'invalid_request',
        'code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)',
      );
    }
    const invalid = new OAuthError('invalid_grant', 'the authorization code is not valid; sign in again');
    if (code.length > MAX_CODE_LENGTH || code.split('.').length !== 3) throw invalid;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(
        code,
        async (header) => {
          const key = header.kid === undefined ? undefined : await this.#keys.publicKey(header.kid);
          if (!key) throw new joseErrors.JWKSNoMatchingKey();
          return key;
        },
        {
          issuer: this.#audience,
          audience: this.#audience,
          algorithms: [SIGNING_ALG],
          typ: CODE_TYP,
          currentDate: this.#now(),
          requiredClaims: ['sub', 'exp', 'jti'],
        },
      ));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new OAuthError('invalid_grant', 'the authorization code has expired; sign in again');
      }
      if (err instanceof joseErrors.JOSEError) throw invalid;
      throw err;
    }
    if (payload.client_id !== req.clientId) {
      throw new OAuthError('invalid_grant', 'the authorization code was issued to another client_id');
    }
    // RFC 6749 §4.1.3: redirect_uri must be identical to the one of the authorization request.
    if (payload.redirect_uri !== req.redirectUri) {
      throw new OAuthError('invalid_grant', 'redirect_uri differs from the one of the authorization request');
    }
    if (payload.code_challenge !== s256Challenge(req.codeVerifier)) {
      throw new OAuthError(
        'invalid_grant',
        'code_verifier does not match the code_challenge (RFC 7636 §4.6)',
      );
    }
    const nowMs = this.#now().getTime();
    this.#forgetExpired(nowMs);
    const jti = payload.jti as string;
    if (this.#redeemed.has(jti)) {
      throw new OAuthError('invalid_grant', 'the authorization code was already used; sign in again');
    }
    if (this.#redeemed.size >= MAX_REMEMBERED_CODES) {
      throw new OAuthError(
        'temporarily_unavailable',
        'too many sign-ins in progress; try again in a minute',
        {
          retryAfterSeconds: AUTHORIZATION_CODE_TTL_SECONDS,
        },
      );
    }
    this.#redeemed.set(jti, (payload.exp as number) * 1000);
    return { userId: payload.sub as string, scope: typeof payload.scope === 'string' ? payload.scope : '' };
  }

  #forgetExpired(nowMs: number): void {
    // Insertion order is (nearly) expiry order: stop at the first live entry.
    for (const [jti, exp] of this.#redeemed) {
      if (exp > nowMs) break;
      this.#redeemed.delete(jti);
    }
  }
}
