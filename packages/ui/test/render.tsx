// SPDX-License-Identifier: Apache-2.0
// Renders a page with a query cache the test fills, a router, and a UiApi whose requests the test records.
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter } from 'react-router';
import { UiApi } from '../src/api/client.js';
import { ServicesProvider } from '../src/api/context.js';
import { Session } from '../src/auth/session.js';

export interface Recorded {
  method: string;
  url: string;
  body?: unknown;
}

export function renderPage(ui: ReactElement, fill: (qc: QueryClient) => void = () => {}) {
  const qc = new QueryClient({
    defaultOptions: { queries: { staleTime: Number.POSITIVE_INFINITY, retry: false } },
  });
  fill(qc);
  const requests: Recorded[] = [];
  const api = new UiApi(async () => 'test-token');
  // Every request the page makes is recorded and answered 200 with `{}`-like bodies.
  globalThis.fetch = (async (url: string, init?: RequestInit) => {
    requests.push({
      method: init?.method ?? 'GET',
      url: String(url),
      ...(init?.body ? { body: JSON.parse(String(init.body)) } : {}),
    });
    return new Response(JSON.stringify({}), { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  const session = new Session({
    origin: 'http://ui.test',
    fetch: globalThis.fetch,
    storage: new Map() as unknown as Storage,
    navigate: () => {},
    now: () => 0,
  });
  const view = render(
    <ServicesProvider api={api} session={session}>
      <QueryClientProvider client={qc}>
        <MemoryRouter>{ui}</MemoryRouter>
      </QueryClientProvider>
    </ServicesProvider>,
  );
  return { ...view, qc, requests };
}
