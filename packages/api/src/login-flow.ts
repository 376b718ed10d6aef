// SPDX-License-Identifier: Apache-2.0
// The original Nexodus clients' way to a login, which we follow so that our nexd and nexctl work against an
// original service and against ours alike:
//   1. `--service-url https://HOST` means the API at `https://api.HOST` (IP literals and localhost as given);
//   2. `POST {api}/device/login/start` answers the OIDC issuer, the client id, the device authorization
//      endpoint and the server's clock;
//   3. OpenID Connect Discovery at `{issuer}/.well-known/openid-configuration` gives the token endpoint and
//      the JWK Set; the document's `issuer` must equal the issuer asked for (OIDC Discovery §4.3);
//   4. the password or device grant with scope `openid ...`; its `id_token` is checked as the original checks
//      it (signature from the issuer's JWK Set, `iss`, `aud` = client id, not expired, the server's clock);
//   5. the access token is the bearer for the API.
import { lookup } from 'node:dns/promises';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { type Dispatcher, request } from 'undici';
import { ApiError } from './errors.js';
import { makeDispatcher, type TlsOptions } from './transport.js';

/** What `POST /device/login/start` answers (models.DeviceStartResponse). */
export interface DeviceStartResponse {
  issuer: string;
  client_id: string;
  device_authorization_endpoint: string;
  server_time?: string;
}

/** Where to log in, found from the API URL. */
export interface LoginEndpoints {
  issuer: string;
  clientId: string;
  tokenEndpoint: string;
  deviceAuthorizationEndpoint: string;
  jwksUri: string;
  /** Server clock minus ours (ms, half the round trip accounted for); 0 when the server sent none. */
  clockSkewMs: number;
}

/** The scopes the original clients ask for (unknown ones are ignored by the issuer). */
export const LOGIN_SCOPE = 'openid profile email offline_access';

const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The API URL for a service URL, as the original clients derive it: the host gets an `api.` prefix, except
 * IP literals and `localhost` (and, unlike the original, a host that already starts with `api.`, which the
 * original would turn into `api.api.HOST`). Port and path are kept; a trailing slash is dropped.
 */
export function apiUrlFor(serviceUrl: string): string {
  const u = new URL(serviceUrl);
  const host = u.hostname;
  const literal = host.startsWith('[') || IPV4_RE.test(host) || host === 'localhost';
  if (!literal && !host.startsWith('api.')) u.hostname = `api.${host}`;
  u.hash = '';
  u.search = '';
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/** DNS answers that mean "no such name" (as opposed to a failing resolver, which is worth an error). */
const NO_SUCH_NAME = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME']);

/**
 * `apiUrlFor`, unless `api.HOST` has no DNS name while HOST is what the user gave: then the URL as given (a
 * service reached by an in-cluster Service name, which has no `api.` twin). The original would fail there.
 */
export async function resolveApiUrl(
  serviceUrl: string,
  resolve: (host: string) => Promise<unknown> = (h) => lookup(h),
): Promise<string> {
  const api = apiUrlFor(serviceUrl);
  const u = new URL(serviceUrl);
  const asGiven = `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  if (api === asGiven) return api;
  try {
    await resolve(new URL(api).hostname);
    return api;
  } catch (err) {
    if (NO_SUCH_NAME.has((err as NodeJS.ErrnoException).code ?? '')) return asGiven;
    // The resolver failed (i.e. EAI_AGAIN: no DNS server, names only in /etc/hosts): HOST as given when it
    // resolves, else the original's rule (the connect error then names api.HOST).
    try {
      await resolve(u.hostname);
      return asGiven;
    } catch {
      return api;
    }
  }
}

async function fetchJson(
  dispatcher: Dispatcher | undefined,
  method: 'GET' | 'POST',
  url: string,
): Promise<Record<string, unknown>> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method,
      // The original POSTs login/start with a JSON content type and no body.
      headers: {
        accept: 'application/json',
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      },
      ...(dispatcher ? { dispatcher } : {}),
    });
  } catch (err) {
    throw new ApiError(0, 'NEX_CLIENT_ERR_NETWORK', `${method} ${url}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode >= 300) throw ApiError.fromResponse(res.statusCode, text);
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // below
  }
  throw new ApiError(
    res.statusCode,
    'NEX_CLIENT_ERR_BAD_RESPONSE',
    `${method} ${url}: expected a JSON object, got ${JSON.stringify(text.slice(0, 200))}; is the service URL right?`,
  );
}

function field(doc: Record<string, unknown>, name: string, where: string): string {
  const v = doc[name];
  if (typeof v !== 'string' || v === '') {
    throw new ApiError(0, 'NEX_CLIENT_ERR_BAD_RESPONSE', `${where} has no ${name}`);
  }
  return v;
}

/** Steps 2 and 3: login/start at the API, then OIDC discovery at the issuer it names. */
export async function discoverLogin(
  apiUrl: string,
  opts: TlsOptions & { now?: () => number } = {},
): Promise<LoginEndpoints> {
  const dispatcher = makeDispatcher(opts);
  const now = opts.now ?? Date.now;
  try {
    const sent = now();
    const startUrl = `${apiUrl.replace(/\/+$/, '')}/device/login/start`;
    const start = await fetchJson(dispatcher, 'POST', startUrl);
    const rtt = now() - sent;
    const issuer = field(start, 'issuer', startUrl).replace(/\/+$/, '');
    const clientId = field(start, 'client_id', startUrl);
    const serverTime = typeof start.server_time === 'string' ? Date.parse(start.server_time) : Number.NaN;
    const clockSkewMs = Number.isFinite(serverTime) ? serverTime - (sent + rtt / 2) : 0;
    const discoveryUrl = `${issuer}/.well-known/openid-configuration`;
    let doc: Record<string, unknown>;
    let base = issuer;
    try {
      doc = await fetchJson(dispatcher, 'GET', discoveryUrl);
    } catch (err) {
      // An issuer this machine cannot reach (a server that derived it from its listen address, i.e.
      // https://localhost:8443, reached here by another name): the same paths at the API, where our server
      // serves them. The id_token must still name the announced issuer.
      if (!(err instanceof ApiError && err.status === 0)) throw err;
      const root = new URL(apiUrl).origin + new URL(issuer).pathname.replace(/\/+$/, '');
      if (root === issuer) throw err;
      doc = await fetchJson(dispatcher, 'GET', `${root}/.well-known/openid-configuration`);
      base = root;
    }
    const announced = field(doc, 'issuer', discoveryUrl).replace(/\/+$/, '');
    if (announced !== issuer) {
      throw new ApiError(
        0,
        'NEX_CLIENT_ERR_BAD_RESPONSE',
        `${discoveryUrl} names the issuer ${announced}, not ${issuer} (OIDC Discovery §4.3)`,
      );
    }
    const rebase = (url: string) => (base === issuer ? url : url.replace(issuer, base));
    const startDevice =
      typeof start.device_authorization_endpoint === 'string' ? start.device_authorization_endpoint : '';
    return {
      issuer,
      clientId,
      tokenEndpoint: rebase(field(doc, 'token_endpoint', discoveryUrl)),
      deviceAuthorizationEndpoint: rebase(
        startDevice || field(doc, 'device_authorization_endpoint', discoveryUrl),
      ),
      jwksUri: rebase(field(doc, 'jwks_uri', discoveryUrl)),
      clockSkewMs,
    };
  } finally {
    if (dispatcher && !opts.dispatcher) await dispatcher.close();
  }
}

/**
 * Step 4's check of an `id_token`, as the original client does it (go-oidc's verifier): signed by a key of the
 * issuer's JWK Set, `iss` the issuer, `aud` the client id, not expired by the server's clock.
 */
export async function verifyIdToken(
  idToken: string | undefined,
  endpoints: LoginEndpoints,
  opts: TlsOptions & { now?: () => number } = {},
): Promise<void> {
  if (!idToken) {
    throw new ApiError(
      0,
      'NEX_CLIENT_ERR_BAD_RESPONSE',
      `the token endpoint of ${endpoints.issuer} sent no id_token`,
    );
  }
  const now = opts.now ?? Date.now;
  // Fetched through our own dispatcher, so --ca-file and --insecure-skip-tls-verify apply here too.
  const dispatcher = makeDispatcher(opts);
  let keys: Record<string, unknown>;
  try {
    keys = await fetchJson(dispatcher, 'GET', endpoints.jwksUri);
  } finally {
    if (dispatcher && !opts.dispatcher) await dispatcher.close();
  }
  try {
    const jwks = createLocalJWKSet(keys as unknown as JSONWebKeySet);
    await jwtVerify(idToken, jwks, {
      issuer: endpoints.issuer,
      audience: endpoints.clientId,
      currentDate: new Date(now() + endpoints.clockSkewMs),
    });
  } catch (err) {
    throw new ApiError(
      0,
      'NEX_CLIENT_ERR_BAD_RESPONSE',
      `the id_token of ${endpoints.issuer} does not verify: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
