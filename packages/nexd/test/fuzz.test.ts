// SPDX-License-Identifier: Apache-2.0
// Parser fuzzing with fast-check (seeded, modest runs): bad input gives the parser's typed error, never
// anything else (no TypeError from a missed case, no hang).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { resolveNexdArgs } from '../src/config.js';
import { StateCorruptError, WgConfigError } from '../src/errors.js';
import { decodeState } from '../src/state/state.js';
import { parseWgConfig } from '../src/wg-config.js';

const KEY = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const wgLine = fc.oneof(
  fc.constantFrom('[Interface]', '[Peer]', '[peer', '', '# c', `PrivateKey = ${KEY}`, `PublicKey = ${KEY}`),
  fc
    .tuple(
      fc.constantFrom(
        'Address',
        'ListenPort',
        'MTU',
        'Endpoint',
        'AllowedIPs',
        'PersistentKeepalive',
        'PresharedKey',
        'X',
      ),
      fc.oneof(fc.string({ maxLength: 12 }), fc.ipV4(), fc.ipV6(), fc.nat().map(String)),
    )
    .map(([k, v]) => `${k} = ${v}`),
  fc.string({ maxLength: 20 }),
);

test('parseWgConfig: arbitrary line soup gives a config or a WgConfigError with a line inside the file', () => {
  fc.assert(
    fc.property(fc.array(wgLine, { maxLength: 12 }), (lines) => {
      const text = lines.join('\n');
      try {
        parseWgConfig(text, 'f.conf');
      } catch (err) {
        assert.ok(err instanceof WgConfigError, String(err));
        assert.ok(
          err.line >= 1 && err.line <= Math.max(1, lines.length),
          `line ${err.line} of ${lines.length}`,
        );
      }
    }),
    { numRuns: 400, seed: 11 },
  );
});

test('resolveNexdArgs: arbitrary argv and env never throw', () => {
  const token = fc.oneof(
    fc.constantFrom(
      'proxy',
      'version',
      '--ingress',
      '--egress',
      '--service-url',
      '--listen-port',
      '--help',
      '-h',
      '--',
      'https://a',
    ),
    fc.string({ maxLength: 12 }),
  );
  const env = fc.dictionary(
    fc.constantFrom(
      'NEXD_SERVICE_URL',
      'NEXD_LISTEN_PORT',
      'NEXD_USERNAME',
      'NEXD_LOG_LEVEL',
      'NEXD_HEALTH_ADDR',
    ),
    fc.string({ maxLength: 10 }),
  );
  fc.assert(
    fc.property(fc.array(token, { maxLength: 8 }), env, (argv, e) => {
      const r = resolveNexdArgs(argv, e);
      if (!r.ok) assert.match(r.error.code, /^NEX_ERR_/);
    }),
    { numRuns: 400, seed: 13 },
  );
});

test('decodeState: arbitrary JSON gives a State or a StateCorruptError', () => {
  fc.assert(
    fc.property(fc.oneof(fc.json(), fc.string({ maxLength: 30 })), (text) => {
      try {
        decodeState(text, 'x');
      } catch (err) {
        assert.ok(err instanceof StateCorruptError, String(err));
      }
    }),
    { numRuns: 400, seed: 17 },
  );
});
