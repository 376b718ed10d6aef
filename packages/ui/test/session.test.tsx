// SPDX-License-Identifier: Apache-2.0
// The PKCE session's client side: what it sends to the authorization and token endpoints, and what it refuses.
import { describe, expect, it } from 'vitest';
import { s256 } from '../src/auth/pkce.js';
import { Session, type SessionEnv } from '../src/auth/session.js';

function env(answer: (body: URLSearchParams) => Response) {
  const store = new Map<string, string>();
  const navigated: string[] = [];
  const sent: URLSearchParams[] = [];
  const e: SessionEnv = {
    origin: 'http://ui.test',
    storage: {
      getItem: (k) => store.get(k) ?? null,
      setItem: (k, v) => void store.set(k, v),
      removeItem: (k) => void store.delete(k),
    },
    navigate: (u) => void navigated.push(u),
    fetch: (async (_url: string, init?: RequestInit) => {
      const body = new URLSearchParams(String(init?.body ?? ''));
      sent.push(body);
      return answer(body);
    }) as typeof fetch,
    now: () => 1_000_000,
  };
  return { e, store, navigated, sent };
}

const tokens = () =>
  new Response(JSON.stringify({ access_token: 'at-1', refresh_token: 'rt-1', expires_in: 900 }), {
    status: 200,
  });

describe('sign-in session (authorization code + PKCE)', () => {
  it('sends the browser to /oauth2/authorize with an S256 challenge of the verifier it keeps', async () => {
    const { e, store, navigated } = env(tokens);
    await new Session(e).signIn('/reg-keys');
    const url = new URL(navigated[0]!, 'http://ui.test');
    expect(url.pathname).toBe('/oauth2/authorize');
    expect(url.searchParams.get('client_id')).toBe('nexodus-web');
    expect(url.searchParams.get('redirect_uri')).toBe('http://ui.test/callback');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    const flow = JSON.parse([...store.values()][0]!) as { verifier: string; state: string };
    expect(url.searchParams.get('code_challenge')).toBe(await s256(flow.verifier));
    expect(url.searchParams.get('state')).toBe(flow.state);
  });

  it('redeems the code with the verifier, keeps the tokens in memory only and returns where to go', async () => {
    const { e, store, navigated, sent } = env(tokens);
    const s = new Session(e);
    await s.signIn('/reg-keys');
    const flow = JSON.parse([...store.values()][0]!) as { verifier: string; state: string };
    const to = await s.completeSignIn(`?code=c-1&state=${flow.state}`);
    expect(to).toBe('/reg-keys');
    expect(sent[0]!.get('grant_type')).toBe('authorization_code');
    expect(sent[0]!.get('code_verifier')).toBe(flow.verifier);
    expect(store.size).toBe(0);
    expect(await s.accessToken()).toBe('at-1');
    expect(navigated).toHaveLength(1);
  });

  it('refuses a callback whose state is not the one it sent, and shows the server error in words', async () => {
    const { e } = env(tokens);
    const s = new Session(e);
    await s.signIn();
    await expect(s.completeSignIn('?code=c-1&state=forged')).rejects.toThrow(/not started in this tab/);
    await s.signIn();
    await expect(s.completeSignIn('?error=invalid_request&error_description=bad challenge')).rejects.toThrow(
      'bad challenge',
    );
    expect(s.signedIn).toBe(false);
  });
});
