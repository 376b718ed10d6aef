// SPDX-License-Identifier: Apache-2.0
// Entry point: one Session (tokens in memory), one API client, one query cache, the router.
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { UiApi } from './api/client.js';
import { ServicesProvider } from './api/context.js';
import { browserEnv, Session } from './auth/session.js';
import { routes } from './routes.js';
import './styles.css';

const session = new Session(browserEnv());
// A 401 after the session lost its tokens (refresh refused: signed out elsewhere, user deleted) starts a
// new sign-in for this page; with valid tokens a 401 is shown as an error instead, so this cannot loop.
const api = new UiApi(
  () => session.accessToken(),
  '',
  () => {
    if (!session.signedIn) void session.signIn(window.location.pathname);
  },
);
const queries = new QueryClient({
  defaultOptions: { queries: { staleTime: 30_000, refetchOnWindowFocus: false, retry: 1 } },
});
const router = createBrowserRouter(routes);

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <ServicesProvider api={api} session={session}>
        <QueryClientProvider client={queries}>
          <RouterProvider router={router} />
        </QueryClientProvider>
      </ServicesProvider>
    </StrictMode>,
  );
}
