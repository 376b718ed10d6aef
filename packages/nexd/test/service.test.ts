// SPDX-License-Identifier: Apache-2.0
// Service-mode helpers without a service: failure mapping (what the user is told), the addresses the
// netstack gets from a registered device, and the --local-endpoint-ip flag.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, type Device } from '@nexodus/api';
import { resolveNexdArgs } from '../src/config.js';
import { NexdError } from '../src/errors.js';
import { serviceError } from '../src/service/failures.js';
import { toStoredTokens } from '../src/service/login.js';
import { deviceAddresses } from '../src/service/registration.js';

const URL_ = 'https://svc.example:8443';

function withCause(code: string): ApiError {
  const inner = Object.assign(new Error(`inner ${code}`), { code });
  return new ApiError(0, 'NEX_CLIENT_ERR_NETWORK', 'POST /oauth2/token: fetch failed', {
    cause: Object.assign(new Error('fetch failed'), { cause: inner }),
  });
}

test('serviceError: an untrusted certificate names --ca-file', () => {
  for (const code of [
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  ]) {
    const e = serviceError('login', URL_, withCause(code));
    assert.equal(e.code, 'NEX_ERR_TLS');
    assert.match(e.message, /--ca-file FILE/);
    assert.ok(e.message.includes(code));
  }
});

test('serviceError: a refused connection names the URL and the errno', () => {
  const e = serviceError('login', URL_, withCause('ECONNREFUSED'));
  assert.equal(e.code, 'NEX_ERR_SERVICE_UNREACHABLE');
  assert.match(e.message, /cannot reach the service at https:\/\/svc\.example:8443 \(ECONNREFUSED/);
});

test('serviceError: says in words what failed, never OpenSSL text', () => {
  const openssl = new ApiError(0, 'NEX_CLIENT_ERR_NETWORK', 'fetch failed', {
    cause: Object.assign(
      new Error('C0F7A1B2:error:0A00010B:SSL routines:ssl3_get_record:wrong version number'),
      { code: 'ERR_SSL_WRONG_VERSION_NUMBER' },
    ),
  });
  const tls = serviceError('login', URL_, openssl);
  assert.equal(tls.code, 'NEX_ERR_SERVICE_UNREACHABLE');
  assert.doesNotMatch(tls.message, /SSL routines|0A00010B/);
  assert.match(tls.message, /TLS handshake failed/);
  for (const [code, words] of [
    ['ECONNREFUSED', /connection refused/],
    ['ENOTFOUND', /name not found/],
    ['ETIMEDOUT', /no answer before the timeout/],
  ] as const) {
    assert.match(serviceError('login', URL_, withCause(code)).message, words);
  }
});

test('serviceError: 401/403 are login errors, other statuses registration errors; NexdErrors pass through', () => {
  assert.equal(
    serviceError('x', URL_, new ApiError(401, 'NEX_ERR_UNAUTHENTICATED', 'no')).code,
    'NEX_ERR_LOGIN',
  );
  const reg = serviceError('device registration', URL_, new ApiError(409, 'NEX_ERR_ADDRESS_IN_USE', 'taken'));
  assert.equal(reg.code, 'NEX_ERR_REGISTRATION');
  assert.match(reg.message, /HTTP 409 taken/);
  const own = new NexdError('NEX_ERR_KEYS', 'k');
  assert.equal(serviceError('x', URL_, own), own);
});

test('deviceAddresses: netstack addresses carry the VPC prefix; no cidr means a host route', () => {
  const device = {
    ipv4_tunnel_ips: [{ address: '100.100.0.7', cidr: '100.100.0.0/16' }],
    ipv6_tunnel_ips: [{ address: '200::7' }],
  } as unknown as Device;
  assert.deepEqual(deviceAddresses(device), {
    addresses: ['100.100.0.7/16', '200::7/128'],
    ipv4: ['100.100.0.7'],
    ipv6: ['200::7'],
  });
});

test('toStoredTokens: expiry is absolute, refresh token kept when present', () => {
  const t = toStoredTokens(
    { access_token: 'a', token_type: 'Bearer', expires_in: 60, refresh_token: 'r' },
    0,
  );
  assert.deepEqual(t, { accessToken: 'a', refreshToken: 'r', expiresAt: '1970-01-01T00:01:00.000Z' });
  assert.deepEqual(toStoredTokens({ access_token: 'a', token_type: 'Bearer' }, 0), { accessToken: 'a' });
});

test('--local-endpoint-ip / NEXD_LOCAL_ENDPOINT_IP: an IP address, else a bad flag', () => {
  const ok = resolveNexdArgs(['--local-endpoint-ip', '127.0.0.1', 'proxy', 'https://a'], {});
  assert.ok(ok.ok && ok.command.kind === 'proxy' && ok.command.config.localEndpointIp === '127.0.0.1');
  const env = resolveNexdArgs(['proxy', 'https://a'], { NEXD_LOCAL_ENDPOINT_IP: 'fd00::2' });
  assert.ok(env.ok && env.command.kind === 'proxy' && env.command.config.localEndpointIp === 'fd00::2');
  const bad = resolveNexdArgs(['--local-endpoint-ip', 'localhost', 'proxy', 'https://a'], {});
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /--local-endpoint-ip "localhost" is not an IP address/);
});
