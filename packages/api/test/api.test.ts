// SPDX-License-Identifier: Apache-2.0
// The api package on its own: watch-stream parsing (any chunking), error parsing, the OpenAPI document.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ApiError,
  MAX_WATCH_LINE,
  OAuthClient,
  openApiDocument,
  parseWatchStream,
  untrustedCertificateCode,
  type WatchEvent,
} from '../src/index.js';

async function collect(chunks: Array<string | Uint8Array>): Promise<WatchEvent[]> {
  async function* src() {
    yield* chunks;
  }
  const out: WatchEvent[] = [];
  for await (const e of parseWatchStream(src())) out.push(e);
  return out;
}

const event = fc.record({
  type: fc.constantFrom('change', 'delete', 'tail', 'bookmark'),
  kind: fc.constantFrom('device', 'device-metadata', 'security-group', ''),
  value: fc.record({ id: fc.uuid(), revision: fc.nat(), hostname: fc.string({ maxLength: 20 }) }),
});

describe('parseWatchStream', () => {
  it('yields the same events however the byte stream is cut (multi-byte UTF-8 included)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        async (evs, cuts) => {
          const bytes = new TextEncoder().encode(`${evs.map((e) => JSON.stringify(e)).join('\n')}\n`);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks: Uint8Array[] = [];
          let prev = 0;
          for (const p of [...points, bytes.length]) {
            chunks.push(bytes.subarray(prev, p));
            prev = p;
          }
          assert.deepEqual(await collect(chunks), JSON.parse(JSON.stringify(evs)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('ignores blank lines, accepts a last line without newline, rejects malformed lines', async () => {
    assert.deepEqual(
      await collect(['\n{"type":"tail","kind":"device"}\n\n', '{"type":"bookmark","kind":""}']),
      [
        { type: 'tail', kind: 'device' },
        { type: 'bookmark', kind: '' },
      ],
    );
    await assert.rejects(collect(['{"type":1,"kind":"device"}\n']), /malformed watch event/);
    await assert.rejects(collect(['not json\n']), SyntaxError);
    await assert.rejects(collect(['x'.repeat(MAX_WATCH_LINE + 1)]), /exceeds/);
  });

  it('a malformed event or an endless line is a bad response (the server is at fault), not a network error', async () => {
    const badResponse = (e: unknown) => e instanceof ApiError && e.code === 'NEX_CLIENT_ERR_BAD_RESPONSE';
    await assert.rejects(collect(['{"type":"change"}\n']), badResponse);
    await assert.rejects(
      collect(['{"type":"tail","kind":"device"}\n', 'x'.repeat(MAX_WATCH_LINE + 1)]),
      badResponse,
    );
  });
});

describe('ApiError.fromResponse', () => {
  it('reads {error, code, field, id}, OAuth2 bodies and non-JSON bodies', () => {
    const v = ApiError.fromResponse(
      400,
      '{"error":"hostname: must be string","code":"NEX_ERR_VALIDATION","field":"hostname"}',
    );
    assert.deepEqual(
      [v.status, v.code, v.field, v.message],
      [400, 'NEX_ERR_VALIDATION', 'hostname', 'hostname: must be string'],
    );
    assert.equal(
      ApiError.fromResponse(409, '{"error":"exists","code":"NEX_ERR_CONFLICT","id":"abc"}').id,
      'abc',
    );
    const o = ApiError.fromResponse(400, '{"error":"invalid_grant","error_description":"bad password"}');
    assert.deepEqual([o.code, o.message], ['invalid_grant', 'bad password']);
    const h = ApiError.fromResponse(502, '<html>bad gateway</html>');
    assert.deepEqual([h.status, h.code], [502, 'HTTP_502']);
  });
});

describe('OAuthClient', () => {
  it('a 200 that is not a JSON object is a bad response, not an empty token response', async () => {
    // Something other than the service answers (a captive portal, a wrong URL): sockets are the subject here.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>sign in to the wifi</html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const client = new OAuthClient({ baseUrl: `http://127.0.0.1:${port}` });
    try {
      await assert.rejects(
        client.passwordGrant('alice', 'pw'),
        (e: unknown) =>
          e instanceof ApiError &&
          e.code === 'NEX_CLIENT_ERR_BAD_RESPONSE' &&
          e.status === 200 &&
          /expected a JSON object/.test(e.message),
      );
    } finally {
      await client.close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('untrustedCertificateCode', () => {
  const coded = (message: string, code: string, cause?: unknown) =>
    Object.assign(new Error(message, { cause }), { code });

  it('finds the TLS verification code along the cause chain (ApiError -> fetch failed -> socket)', () => {
    const socketErr = coded('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT');
    const err = new ApiError(0, 'NEX_CLIENT_ERR_NETWORK', 'request failed', {
      cause: new Error('fetch failed', { cause: socketErr }),
    });
    assert.equal(untrustedCertificateCode(err), 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('is undefined for failures that are not about the certificate', () => {
    assert.equal(
      untrustedCertificateCode(coded('fetch failed', 'UND_ERR', coded('refused', 'ECONNREFUSED'))),
      undefined,
    );
    assert.equal(untrustedCertificateCode(new Error('certificate mentioned, no code')), undefined);
    assert.equal(untrustedCertificateCode(undefined), undefined);
  });
});

describe('openApiDocument', () => {
  it('every $ref resolves, operation ids are unique, the reference field names are there', () => {
    const text = JSON.stringify(openApiDocument);
    for (const m of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      assert.ok(m[1]! in openApiDocument.components.schemas, `dangling $ref ${m[1]}`);
    }
    const ids = Object.values(openApiDocument.paths).flatMap((p) =>
      Object.values(p).map((op) => (op as { operationId: string }).operationId),
    );
    assert.equal(new Set(ids).size, ids.length);
    const device = openApiDocument.components.schemas.Device.properties;
    for (const f of [
      'public_key',
      'ipv4_tunnel_ips',
      'ipv6_tunnel_ips',
      'allowed_ips',
      'bearer_token',
      'revision',
      'vpc_id',
      'owner_id',
      'endpoints',
    ]) {
      assert.ok(f in device, f);
    }
    assert.ok(
      (
        openApiDocument.paths['/api/vpcs/{id}/events'].post.responses as Record<
          string,
          { content: Record<string, unknown> }
        >
      )['200']?.content['application/json;stream=watch'],
    );
  });
});
