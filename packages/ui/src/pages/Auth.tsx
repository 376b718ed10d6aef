// SPDX-License-Identifier: Apache-2.0
// The sign-in edges: /callback (redeem the code), /signed-out, and the gate in front of every other page.
import { type ReactNode, useEffect, useRef, useState } from 'react';
import { Link, useLocation, useNavigate } from 'react-router';
import { useServices } from '../api/context.js';

export function CallbackPage() {
  const { session } = useServices();
  const navigate = useNavigate();
  const location = useLocation();
  const [error, setError] = useState<string | undefined>();
  const started = useRef(false);
  useEffect(() => {
    // StrictMode runs effects twice in development; a code can be redeemed only once.
    if (started.current) return;
    started.current = true;
    session.completeSignIn(location.search).then(
      (to) => navigate(to, { replace: true }),
      (err: Error) => setError(err.message),
    );
  }, [session, location.search, navigate]);
  if (!error) return <p className="center">Signing in…</p>;
  return (
    <main id="main" className="center">
      <h1>Sign-in failed</h1>
      <p role="alert">{error}</p>
      <button type="button" onClick={() => session.signIn()}>
        Sign in again
      </button>
    </main>
  );
}

export function SignedOutPage() {
  const { session } = useServices();
  return (
    <main id="main" className="center">
      <h1>You are signed out</h1>
      <p>Your tokens were discarded and this browser's sign-in session was ended.</p>
      <button type="button" onClick={() => session.signIn()}>
        Sign in
      </button>{' '}
      <Link to="/">Start page</Link>
    </main>
  );
}

/** Renders the children when signed in; otherwise starts the sign-in (a redirect) for this location. */
export function RequireSignIn(props: { children: ReactNode }) {
  const { session } = useServices();
  const location = useLocation();
  const signedIn = session.signedIn;
  useEffect(() => {
    if (!signedIn) void session.signIn(location.pathname === '/' ? '/devices' : location.pathname);
  }, [signedIn, session, location.pathname]);
  if (!signedIn) return <p className="center">Redirecting to sign-in…</p>;
  return <>{props.children}</>;
}
