// SPDX-License-Identifier: Apache-2.0
// The UI's sign-in session: authorization code + PKCE against the service's own identity.
//
// Tokens live in this object only (memory): never in a URL, localStorage or a cookie. A reload loses them
// and signs in again through /oauth2/authorize, where the service's HttpOnly session cookie answers with a
// new code without the password. Only the PKCE verifier and state of a flow in progress sit in
// sessionStorage (this tab, this origin) for the length of one redirect; they are not tokens and are
// removed when the callback arrives.

import { randomVerifier, s256 } from './pkce.js';

export const CLIENT_ID = 'nexodus-web';
export const CALLBACK_PATH = '/callback';
const FLOW_KEY = 'nexodus.signin.flow';
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

interface Flow {
  verifier: string;
  state: string;
  /** where to go after signing in */
  returnTo: string;
}

interface Tokens {
  access: string;
  refresh: string;
  expiresAtMs: number;
}

export class SignInError extends Error {
  override readonly name = 'SignInError';
}

/** The outside world the session needs; tests pass their own. */
export interface SessionEnv {
  origin: string;
  fetch: typeof fetch;
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
  navigate: (url: string) => void;
  now: () => number;
}

export function browserEnv(): SessionEnv {
  return {
    origin: window.location.origin,
    fetch: (...a) => window.fetch(...a),
    storage: window.sessionStorage,
    navigate: (url) => window.location.assign(url),
    now: () => Date.now(),
  };
}

export class Session {
  #tokens: Tokens | undefined;
  #refreshing: Promise<void> | undefined;

  constructor(private readonly env: SessionEnv) {}

  get signedIn(): boolean {
    return this.#tokens !== undefined;
  }

  /** Starts the authorization code flow: a full-page navigation to the authorization endpoint. */
  async signIn(returnTo = '/devices'): Promise<void> {
    const verifier = randomVerifier();
    const state = randomVerifier();
    const flow: Flow = { verifier, state, returnTo };
    this.env.storage.setItem(FLOW_KEY, JSON.stringify(flow));
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: this.env.origin + CALLBACK_PATH,
      code_challenge: await s256(verifier),
      code_challenge_method: 'S256',
      state,
      scope: 'openid profile',
    });
    this.env.navigate(`/oauth2/authorize?${q}`);
  }

  /**
   * Completes the flow on /callback: checks `state`, redeems the code with the verifier. Returns where the
   * user wanted to go. Throws SignInError with a sentence on any failure.
   */
  async completeSignIn(search: string): Promise<string> {
    const params = new URLSearchParams(search);
    const raw = this.env.storage.getItem(FLOW_KEY);
    this.env.storage.removeItem(FLOW_KEY);
    const flow = raw ? (JSON.parse(raw) as Flow) : undefined;
    const error = params.get('error');
    if (error) throw new SignInError(params.get('error_description') ?? `The sign-in failed (${error}).`);
    const code = params.get('code');
    if (!flow || !code || params.get('state') !== flow.state) {
      throw new SignInError('This sign-in link is stale or was not started in this tab; sign in again.');
    }
    await this.#token({
      grant_type: 'authorization_code',
      client_id: CLIENT_ID,
      code,
      redirect_uri: this.env.origin + CALLBACK_PATH,
      code_verifier: flow.verifier,
    });
    return flow.returnTo.startsWith('/') && !flow.returnTo.startsWith('//') ? flow.returnTo : '/devices';
  }

  /** A valid access token (refreshed when close to expiry), or undefined when signed out. */
  async accessToken(): Promise<string | undefined> {
    const t = this.#tokens;
    if (!t) return undefined;
    if (this.env.now() < t.expiresAtMs - REFRESH_MARGIN_MS) return t.access;
    this.#refreshing ??= this.#token({
      grant_type: 'refresh_token',
      client_id: CLIENT_ID,
      refresh_token: t.refresh,
    })
      .catch(() => {
        this.#tokens = undefined;
      })
      .finally(() => {
        this.#refreshing = undefined;
      });
    await this.#refreshing;
    return this.#tokens?.access;
  }

  /** Revokes the refresh token and the service's session cookie, then forgets the tokens. */
  async signOut(): Promise<void> {
    const refresh = this.#tokens?.refresh;
    this.#tokens = undefined;
    await this.env
      .fetch('/oauth2/logout', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(refresh ? { refresh_token: refresh } : {}),
        credentials: 'same-origin',
      })
      .catch(() => undefined);
  }

  async #token(fields: Record<string, string>): Promise<void> {
    const res = await this.env.fetch('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    const body = (await res.json().catch(() => ({}))) as {
      access_token?: string;
      refresh_token?: string;
      expires_in?: number;
      error_description?: string;
    };
    if (!res.ok || !body.access_token || !body.refresh_token) {
      throw new SignInError(
        body.error_description ?? `The sign-in failed (HTTP ${res.status}); sign in again.`,
      );
    }
    this.#tokens = {
      access: body.access_token,
      refresh: body.refresh_token,
      expiresAtMs: this.env.now() + (body.expires_in ?? 900) * 1000,
    };
  }
}
