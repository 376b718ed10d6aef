// SPDX-License-Identifier: Apache-2.0
// OAuth2 client side for nexd/nexctl against the server's built-in identity provider:
// RFC 6749 password grant (NEXD_USERNAME/NEXD_PASSWORD) and refresh (§6), RFC 8628 device authorization grant.
import { type Dispatcher, request } from 'undici';
import { ApiError } from './errors.js';
import {
  discoverLogin,
  LOGIN_SCOPE,
  type LoginEndpoints,
  resolveApiUrl,
  verifyIdToken,
} from './login-flow.js';
import { makeDispatcher, type TlsOptions } from './transport.js';

export const DEFAULT_CLIENT_ID = 'nexodus-cli';
export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §3.5: on `slow_down` the interval grows by 5 seconds. */
const SLOW_DOWN_STEP_S = 5;
/** Refresh an access token this long before it expires. */
const REFRESH_MARGIN_MS = 30_000;

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  scope?: string;
  id_token?: string;
}

export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval?: number;
}

/** An RFC 6749 §5.2 error answer (`error` is i.e. `invalid_grant`, `authorization_pending`). */
export class OAuthClientError extends ApiError {
  readonly error: string;
  constructor(status: number, error: string, description: string) {
    super(status, `OAUTH_${error.toUpperCase()}`, description || error);
    this.name = 'OAuthClientError';
    this.error = error;
  }
}

export interface OAuthClientOptions extends TlsOptions {
  /** The server's base URL (the issuer), i.e. https://localhost:8443 */
  baseUrl: string;
  clientId?: string;
  /**
   * Endpoints found by the original login flow (`OAuthClient.discover`): grants go to them, ask for the
   * `openid` scope, and their `id_token` is verified as the original client verifies it.
   */
  endpoints?: LoginEndpoints;
}

export class OAuthClient {
  readonly baseUrl: string;
  readonly clientId: string;
  readonly endpoints: LoginEndpoints | undefined;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly tls: TlsOptions;

  constructor(opts: OAuthClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.endpoints = opts.endpoints;
    this.clientId = opts.clientId ?? opts.endpoints?.clientId ?? DEFAULT_CLIENT_ID;
    this.dispatcher = makeDispatcher(opts);
    this.tls = { ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}) };
  }

  /**
   * The original clients' login flow: the API at `apiUrlFor(serviceUrl)`, `POST /device/login/start`, OIDC
   * discovery at the issuer it names. `apiUrl` of the result is where the REST API is.
   */
  static async discover(
    opts: Omit<OAuthClientOptions, 'baseUrl' | 'endpoints'> & { serviceUrl: string },
  ): Promise<{ oauth: OAuthClient; apiUrl: string }> {
    const apiUrl = await resolveApiUrl(opts.serviceUrl);
    const { serviceUrl: _s, ...rest } = opts;
    const dispatcher = makeDispatcher(rest);
    const endpoints = await discoverLogin(apiUrl, { ...(dispatcher ? { dispatcher } : {}) });
    await dispatcher?.close();
    return { oauth: new OAuthClient({ ...rest, baseUrl: endpoints.issuer, endpoints }), apiUrl };
  }

  private url(path: '/oauth2/token' | '/oauth2/device_authorization'): string {
    if (!this.endpoints) return this.baseUrl + path;
    return path === '/oauth2/token'
      ? this.endpoints.tokenEndpoint
      : this.endpoints.deviceAuthorizationEndpoint;
  }

  /** With discovered endpoints: ask for the OIDC scopes, and check the id_token of a fresh login. */
  private async login(fields: Record<string, string>): Promise<TokenResponse> {
    if (!this.endpoints) return this.form('/oauth2/token', fields);
    const t = await this.form<TokenResponse>('/oauth2/token', { ...fields, scope: LOGIN_SCOPE });
    await verifyIdToken(t.id_token, this.endpoints, this.tls);
    return t;
  }

  private async form<T>(
    path: '/oauth2/token' | '/oauth2/device_authorization',
    fields: Record<string, string>,
  ): Promise<T> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.url(path), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(fields).toString(),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      });
    } catch (err) {
      throw new ApiError(0, 'NEX_CLIENT_ERR_NETWORK', `POST ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const text = await res.body.text();
    let body: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
    } catch {
      // not JSON: a success needs one (below); an error falls back to ApiError.fromResponse
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      // Returning {} here would hand the caller a token response without a token.
      if (body === undefined) {
        throw new ApiError(
          res.statusCode,
          'NEX_CLIENT_ERR_BAD_RESPONSE',
          `POST ${path}: expected a JSON object, got ${JSON.stringify(text.slice(0, 200))}; is the service URL right?`,
        );
      }
      return body as T;
    }
    if (typeof body?.error === 'string') {
      throw new OAuthClientError(
        res.statusCode,
        body.error,
        typeof body.error_description === 'string' ? body.error_description : '',
      );
    }
    throw ApiError.fromResponse(res.statusCode, text);
  }

  /** RFC 6749 §4.3: exchange a username and password for tokens. */
  passwordGrant(username: string, password: string): Promise<TokenResponse> {
    return this.login({
      grant_type: 'password',
      username,
      password,
      client_id: this.clientId,
    });
  }

  /** RFC 6749 §6: a new access token (and a rotated refresh token). */
  refresh(refreshToken: string): Promise<TokenResponse> {
    return this.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: this.clientId,
    });
  }

  /** RFC 8628 §3.1: starts a device login; show `user_code` and `verification_uri(_complete)` to the user. */
  startDeviceAuthorization(): Promise<DeviceAuthorization> {
    return this.form('/oauth2/device_authorization', {
      client_id: this.clientId,
      ...(this.endpoints ? { scope: LOGIN_SCOPE } : {}),
    });
  }

  /**
   * RFC 8628 §3.4-3.5: polls until the user approves (tokens), denies (`access_denied`), or the code expires
   * (`expired_token`). Honours `interval` and `slow_down`. `sleep` is injectable for tests.
   */
  async pollDeviceToken(
    auth: DeviceAuthorization,
    opts: { signal?: AbortSignal; sleep?: (ms: number) => Promise<void> } = {},
  ): Promise<TokenResponse> {
    const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    let intervalS = auth.interval ?? 5;
    for (;;) {
      if (opts.signal?.aborted) throw new ApiError(0, 'NEX_CLIENT_ERR_ABORTED', 'device login aborted');
      await sleep(intervalS * 1000);
      try {
        return await this.login({
          grant_type: DEVICE_CODE_GRANT_TYPE,
          device_code: auth.device_code,
          client_id: this.clientId,
        });
      } catch (err) {
        if (!(err instanceof OAuthClientError)) throw err;
        if (err.error === 'authorization_pending') continue;
        if (err.error === 'slow_down') {
          intervalS += SLOW_DOWN_STEP_S;
          continue;
        }
        throw err;
      }
    }
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}

/**
 * Keeps an access token fresh: `getToken()` refreshes shortly before expiry and falls back to `relogin`
 * (i.e. the password grant again) when the refresh token is rejected. Use as NexodusClient's tokenProvider.
 */
export class TokenSource {
  private tokens: TokenResponse;
  private expiresAt: number;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly oauth: OAuthClient,
    initial: TokenResponse,
    private readonly relogin?: () => Promise<TokenResponse>,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = initial;
    this.expiresAt = this.expiry(initial);
  }

  private expiry(t: TokenResponse): number {
    return this.now() + (t.expires_in ?? 900) * 1000;
  }

  getToken = (): Promise<string> => {
    if (this.now() < this.expiresAt - REFRESH_MARGIN_MS) return Promise.resolve(this.tokens.access_token);
    // One refresh at a time: concurrent callers share it (a rotated refresh token must not be reused).
    this.pending ??= this.renew().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  };

  private async renew(): Promise<string> {
    let next: TokenResponse | undefined;
    if (this.tokens.refresh_token) {
      try {
        next = await this.oauth.refresh(this.tokens.refresh_token);
      } catch (err) {
        if (!(err instanceof OAuthClientError) || !this.relogin) throw err;
      }
    }
    if (!next) {
      if (!this.relogin)
        throw new ApiError(
          401,
          'NEX_ERR_UNAUTHENTICATED',
          'the access token expired and cannot be refreshed; log in again',
        );
      next = await this.relogin();
    }
    this.tokens = { ...next, refresh_token: next.refresh_token ?? this.tokens.refresh_token };
    this.expiresAt = this.expiry(next);
    return next.access_token;
  }
}
