// SPDX-License-Identifier: Apache-2.0
// The RFC 8628 verification page: one small self-contained HTML document (no scripts, inline style only,
// served with a strict Content-Security-Policy). Every interpolated value goes through escapeHtml.

/** Escapes the five HTML-significant characters; safe for element content and quoted attributes. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => {
    switch (ch) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return '&#39;';
    }
  });
}

/** Headers for every page: no framing (clickjacking), no scripts, no caching of a page with a code. */
export const VERIFICATION_PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export type VerificationView =
  /** The form, optionally pre-filled and with an error line from the previous attempt. */
  | { kind: 'form'; userCode?: string; username?: string; error?: string }
  /** The outcome after the user decided. */
  | { kind: 'approved' }
  | { kind: 'denied' };

// The web UI's look (packages/ui/src/styles.css): same font, colours (WCAG AA on white) and buttons.
const STYLE = [
  'body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f;line-height:1.45}',
  'h1{font-size:1.6rem}',
  'label{display:block;margin-top:.8rem;font-weight:600}',
  'input{width:100%;padding:.4rem;box-sizing:border-box;font-size:1rem;border:1px solid #767680;border-radius:4px;font-weight:400}',
  '.code{text-transform:uppercase;letter-spacing:.2em}',
  '.error{color:#a4161a;font-weight:600}',
  'a{color:#0b57b3}',
  ':focus-visible{outline:3px solid #0b57b3;outline-offset:2px}',
  'button{margin-top:1rem;margin-right:.5rem;padding:.5rem 1rem;font-size:1rem;border:1px solid #0b57b3;background:#0b57b3;color:#fff;border-radius:4px;cursor:pointer}',
].join('');

/** One page of the identity's HTML (verification and sign-in pages share it); `body` must be escaped already. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

/** Renders one view of the verification page; `action` is the form's POST path. */
export function renderVerificationPage(view: VerificationView, action: string): string {
  switch (view.kind) {
    case 'form': {
      const error = view.error ? `<p class="error" role="alert">${escapeHtml(view.error)}</p>` : '';
      return page(
        'Connect a device to Nexodus',
        `<p>Enter the code your device shows, then log in to approve it.</p>
<p><strong>Only approve a code shown by a device you are setting up yourself</strong>: approving a code
someone sent you gives them access to your account (RFC 8628 §5.4).</p>
${error}
<form method="post" action="${escapeHtml(action)}">
<label>Code <input class="code" name="user_code" value="${escapeHtml(view.userCode ?? '')}" autocomplete="off" required maxlength="20" placeholder="BCDF-GHJK"></label>
<label>Username <input name="username" value="${escapeHtml(view.username ?? '')}" autocomplete="username" required maxlength="64"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>`,
      );
    }
    case 'approved':
      return page(
        'Device approved',
        '<p>The device is now logged in. You can close this page and return to it.</p>',
      );
    case 'denied':
      return page('Request denied', '<p>The device was not logged in. You can close this page.</p>');
    default: {
      const never: never = view;
      throw new Error(`unknown view ${JSON.stringify(never)}`);
    }
  }
}
