// SPDX-License-Identifier: Apache-2.0
// The sign-in page of the authorization endpoint (GET/POST /oauth2/authorize): the same self-contained,
// script-free HTML as the device verification page. The authorization request's parameters travel as hidden
// fields, so the POST carries everything the code needs; every value goes through escapeHtml.
import { escapeHtml, page } from './verification-page.js';

/** The authorization request parameters (RFC 6749 §4.1.1, RFC 7636 §4.3) the form carries along. */
export interface AuthorizationParams {
  response_type: string;
  client_id: string;
  redirect_uri: string;
  code_challenge: string;
  code_challenge_method: string;
  state?: string;
  scope?: string;
}

export type SignInView =
  | { kind: 'form'; params: AuthorizationParams; username?: string; error?: string }
  /** The request itself is unusable (unknown client, bad redirect_uri): nothing to redirect to. */
  | { kind: 'bad-request'; error: string };

const HIDDEN: ReadonlyArray<keyof AuthorizationParams> = [
  'response_type',
  'client_id',
  'redirect_uri',
  'code_challenge',
  'code_challenge_method',
  'state',
  'scope',
];

export function renderSignInPage(view: SignInView, action: string): string {
  switch (view.kind) {
    case 'form': {
      const hidden = HIDDEN.filter((k) => view.params[k] !== undefined)
        .map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(view.params[k] ?? '')}">`)
        .join('\n');
      const error = view.error
        ? `<p class="error" role="alert" id="sign-in-error">${escapeHtml(view.error)}</p>`
        : '';
      const described = view.error ? ' aria-describedby="sign-in-error"' : '';
      return page(
        'Sign in to Nexodus',
        `<p>Sign in with your Nexodus username and password to open the web console.</p>
${error}
<form method="post" action="${escapeHtml(action)}">
${hidden}
<label>Username <input name="username" value="${escapeHtml(view.username ?? '')}" autocomplete="username" required maxlength="64" autofocus${described}></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024"${described}></label>
<button type="submit">Sign in</button>
</form>`,
      );
    }
    case 'bad-request':
      return page(
        'Cannot sign in',
        `<p class="error" role="alert">${escapeHtml(view.error)}</p><p><a href="/">Back to the start page</a></p>`,
      );
    default: {
      const never: never = view;
      throw new Error(`unknown view ${JSON.stringify(never)}`);
    }
  }
}
