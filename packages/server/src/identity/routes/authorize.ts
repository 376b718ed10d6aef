// SPDX-License-Identifier: Apache-2.0
// The web UI's sign-in: the RFC 6749 §4.1 authorization endpoint with RFC 7636 PKCE (GET shows the sign-in
// page, POST checks the password), and sign-out (POST /oauth2/logout).
//
// Sessions: the authorization endpoint remembers a signed-in browser in an HttpOnly, SameSite=Strict cookie
// scoped to /oauth2 (an opaque, revocable token stored like a refresh token), so a reload of the UI gets a
// new code without the password. The UI keeps its access and refresh tokens in memory only: no token ever
// sits in a URL, in localStorage or in a cookie, and the API stays bearer-only (no cookie ever authenticates
// an API call, so the API has no CSRF surface). The one value in a URL is the code of the redirect: single
// use, a minute long, and useless without the PKCE verifier held by the tab that asked for it.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CODE_CHALLENGE_PATTERN } from '../authorization-codes.js';
import { IdentityError } from '../errors.js';
import { IDENTITY_PATHS, type IdentityService, SESSION_TTL_SECONDS, WEB_CLIENT_ID } from '../service.js';
import { type AuthorizationParams, renderSignInPage, type SignInView } from '../sign-in-page.js';
import { MAX_PASSWORD_LENGTH } from '../users.js';
import { VERIFICATION_PAGE_HEADERS } from '../verification-page.js';

/** The UI's redirect URI path (packages/ui routes it); on the issuer's origin or the one serving the page. */
export const UI_CALLBACK_PATH = '/callback';
export const SESSION_COOKIE = 'nexodus_session';
const COOKIE_PATH = '/oauth2';
const SMALL_BODY_LIMIT = 16 * 1024;

const paramProperties = {
  response_type: { type: 'string', maxLength: 32 },
  client_id: { type: 'string', maxLength: 200 },
  redirect_uri: { type: 'string', maxLength: 2048 },
  code_challenge: { type: 'string', maxLength: 128 },
  code_challenge_method: { type: 'string', maxLength: 16 },
  state: { type: 'string', maxLength: 512 },
  scope: { type: 'string', maxLength: 1000 },
} as const;

const querySchema = { type: 'object', properties: paramProperties } as const;
const formSchema = {
  type: 'object',
  properties: {
    ...paramProperties,
    username: { type: 'string', maxLength: 256 },
    password: { type: 'string', maxLength: MAX_PASSWORD_LENGTH },
  },
} as const;
const logoutSchema = {
  type: ['object', 'null'],
  properties: { refresh_token: { type: 'string', maxLength: 512 } },
} as const;

type Params = Partial<AuthorizationParams>;
type Form = Params & { username?: string; password?: string };

function requestOrigin(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

/** RFC 6749 §3.1.2.4: an invalid client or redirect URI is shown to the user, never redirected to. */
function checkClient(p: Params, req: FastifyRequest, issuer: string): string | undefined {
  if (p.client_id !== WEB_CLIENT_ID) {
    return `Unknown client ${JSON.stringify(p.client_id ?? '')}: only the Nexodus web console (${WEB_CLIENT_ID}) signs in here.`;
  }
  let uri: URL;
  try {
    uri = new URL(p.redirect_uri ?? '');
  } catch {
    return 'The sign-in link has no valid redirect_uri; open the web console again.';
  }
  const origins = new Set([new URL(issuer).origin, requestOrigin(req)]);
  if (!origins.has(uri.origin) || uri.pathname !== UI_CALLBACK_PATH || uri.hash !== '' || uri.search !== '') {
    return `redirect_uri must be ${UI_CALLBACK_PATH} on this service's own address, got ${JSON.stringify(p.redirect_uri)}.`;
  }
  return undefined;
}

/** RFC 6749 §4.1.2.1 / RFC 7636 §4.4.1: request errors go back to the client as `error` parameters. */
function checkRequest(p: Params): string | undefined {
  if (p.response_type !== 'code') return 'response_type must be code';
  if (p.code_challenge_method !== 'S256') return 'code_challenge_method must be S256 (RFC 7636 §4.3)';
  if (!CODE_CHALLENGE_PATTERN.test(p.code_challenge ?? ''))
    return 'code_challenge must be 43 base64url characters (RFC 7636 §4.2)';
  return undefined;
}

function redirectTo(reply: FastifyReply, status: 302 | 303, p: Params, extra: Record<string, string>) {
  const uri = new URL(p.redirect_uri as string);
  for (const [k, v] of Object.entries(extra)) uri.searchParams.set(k, v);
  if (p.state !== undefined) uri.searchParams.set('state', p.state);
  return reply.code(status).header('cache-control', 'no-store').header('location', uri.href).send();
}

/** As the verification page, but the form's POST must carry our Origin (no-referrer would make it `null`). */
const SIGN_IN_PAGE_HEADERS = { ...VERIFICATION_PAGE_HEADERS, 'referrer-policy': 'same-origin' };

function sendPage(reply: FastifyReply, status: number, view: SignInView): FastifyReply {
  return reply
    .code(status)
    .headers(SIGN_IN_PAGE_HEADERS)
    .send(renderSignInPage(view, IDENTITY_PATHS.authorize));
}

function readCookie(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function sessionCookie(req: FastifyRequest, value: string, maxAge: number): string {
  const secure = req.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=${COOKIE_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`;
}

/**
 * Login CSRF: a browser marks every request with Sec-Fetch-Site (and a cross-origin POST with Origin), so a
 * form on another site cannot sign a victim in (or out). Sec-Fetch-Site decides when present; otherwise an
 * Origin (even `null`) must be ours. Requests with neither (not from a browser) pass.
 */
function crossOrigin(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site !== 'same-origin' && site !== 'none';
  const origin = req.headers.origin;
  return origin !== undefined && origin !== requestOrigin(req);
}

export async function authorizeRoutes(
  app: FastifyInstance,
  opts: { identity: IdentityService },
): Promise<void> {
  const { identity } = opts;

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof IdentityError && err.code === 'IDENTITY_ERR_BUSY') {
      reply.header('retry-after', String(err.retryAfterSeconds ?? 1));
      return sendPage(reply, 503, {
        kind: 'bad-request',
        error: 'The server is busy; try again in a moment.',
      });
    }
    const e = err as { validation?: unknown; statusCode?: number; message?: string };
    if (e.validation || (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)) {
      return sendPage(reply, e.statusCode ?? 400, {
        kind: 'bad-request',
        error: `The sign-in request is malformed (${e.message}); open the web console again.`,
      });
    }
    req.log.error({ err }, 'identity: sign-in failed');
    return sendPage(reply, 500, {
      kind: 'bad-request',
      error: 'Something went wrong on the server; try again.',
    });
  });

  /** Shared by GET and POST: answers a bad request, or returns undefined when it may proceed. */
  const refuse = (req: FastifyRequest, reply: FastifyReply, p: Params): FastifyReply | undefined => {
    const clientError = checkClient(p, req, identity.issuer);
    if (clientError) return sendPage(reply, 400, { kind: 'bad-request', error: clientError });
    const requestError = checkRequest(p);
    if (requestError) {
      return redirectTo(reply, 302, p, { error: 'invalid_request', error_description: requestError });
    }
    return undefined;
  };

  const codeFor = (p: Params, userId: string) =>
    identity.issueAuthorizationCode({
      userId,
      clientId: WEB_CLIENT_ID,
      redirectUri: p.redirect_uri as string,
      codeChallenge: p.code_challenge as string,
      scope: p.scope,
    });

  app.get<{ Querystring: Params }>(
    IDENTITY_PATHS.authorize,
    { schema: { querystring: querySchema } },
    async (req, reply) => {
      const p = req.query;
      const refused = refuse(req, reply, p);
      if (refused) return refused;
      const session = readCookie(req, SESSION_COOKIE);
      const user = session ? await identity.sessionUser(session) : undefined;
      if (user) return redirectTo(reply, 302, p, { code: await codeFor(p, user.id) });
      return sendPage(reply, 200, { kind: 'form', params: p as AuthorizationParams });
    },
  );

  app.post<{ Body: Form }>(
    IDENTITY_PATHS.authorize,
    { bodyLimit: SMALL_BODY_LIMIT, schema: { body: formSchema } },
    async (req, reply) => {
      const { username, password, ...p } = req.body ?? {};
      if (crossOrigin(req)) {
        return sendPage(reply, 403, {
          kind: 'bad-request',
          error: 'The sign-in form was sent from another site; open the web console and sign in there.',
        });
      }
      const refused = refuse(req, reply, p);
      if (refused) return refused;
      const params = p as AuthorizationParams;
      if (!username || !password) {
        return sendPage(reply, 400, {
          kind: 'form',
          params,
          username,
          error: 'Enter both your username and your password.',
        });
      }
      const check = await identity.checkPassword(username, password, req.ip);
      if (!check.ok) {
        if (check.reason === 'rate-limited') {
          reply.header('retry-after', String(check.retryAfterSeconds));
          return sendPage(reply, 429, {
            kind: 'form',
            params,
            username,
            error: `Too many failed sign-ins; try again in ${check.retryAfterSeconds} seconds.`,
          });
        }
        return sendPage(reply, 401, {
          kind: 'form',
          params,
          username,
          error: 'The username or password is wrong.',
        });
      }
      const session = await identity.startSession(check.user);
      reply.header('set-cookie', sessionCookie(req, session, SESSION_TTL_SECONDS));
      // 303: the browser follows with a GET (RFC 9110 §15.4.4), never re-posting the password.
      return redirectTo(reply, 303, p, { code: await codeFor(p, check.user.id) });
    },
  );

  app.post<{ Body: { refresh_token?: string } | null }>(
    IDENTITY_PATHS.logout,
    { bodyLimit: SMALL_BODY_LIMIT, schema: { body: logoutSchema } },
    async (req, reply) => {
      if (crossOrigin(req)) {
        return reply
          .code(403)
          .send({ error: 'access_denied', error_description: 'sign-out must come from this service' });
      }
      const session = readCookie(req, SESSION_COOKIE);
      if (session) await identity.revokeTokenFamily(session);
      const refresh = req.body?.refresh_token;
      if (refresh) await identity.revokeTokenFamily(refresh);
      return reply
        .code(204)
        .header('cache-control', 'no-store')
        .header('set-cookie', sessionCookie(req, '', 0))
        .send();
    },
  );
}
