// SPDX-License-Identifier: Apache-2.0
// The served OpenAPI document describes every API route the app registers (method and path), and nothing
// the app does not serve, so a new route cannot ship undocumented.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openApiDocument } from '@nexodus/api';
import { createTestApp, type TestApp } from './helpers/app.js';

describe('OpenAPI document and route table', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp('sqlite', { uiDir: false });
  });
  after(async () => t?.close());

  /** `/api/vpcs/:id` -> `/api/vpcs/{id}`. */
  const openApiPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');
  // The admin user API is identity's own (documented in src/identity/README.md, not in the Nexodus contract).
  const isDocumented = (url: string) => url.startsWith('/api/') && !url.startsWith('/api/admin/');

  it('every /api route of the app is in the document, with its method', () => {
    const paths = openApiDocument.paths as Record<string, Record<string, unknown>>;
    const missing = t.app.routeTable
      .filter((r) => isDocumented(r.url))
      .filter((r) => !paths[openApiPath(r.url)]?.[r.method.toLowerCase()])
      .map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(missing, []);
  });

  it('every operation of the document is served', () => {
    const served = new Set(t.app.routeTable.map((r) => `${r.method} ${openApiPath(r.url)}`));
    const extra = Object.entries(openApiDocument.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, ops]) =>
        Object.keys(ops)
          .map((m) => `${m.toUpperCase()} ${path}`)
          .filter((k) => !served.has(k)),
    );
    assert.deepEqual(extra, []);
  });
});
