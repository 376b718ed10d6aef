// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { V1MicroTime } from '@kubernetes/client-node';
import { parseConfig } from '../src/config.js';
import { NexlinkError } from '../src/errors.js';
import { decide } from '../src/kube/leader.js';

const env = {
  NEXLINK_SERVICE_URL: 'https://nexodus.example',
  NEXLINK_USERNAME: 'admin',
  NEXLINK_PASSWORD: 'pw',
  NEXLINK_CREDENTIALS_SECRET: 'nexodus-credentials',
};

function refused(argv: string[], e: Record<string, string>, pattern: RegExp): void {
  assert.throws(
    () => parseConfig(argv, e, 'shop'),
    (err: unknown) =>
      err instanceof NexlinkError && err.code === 'NEX_ERR_NEXLINK_CONFIG' && pattern.test(err.message),
  );
}

describe('nexlink configuration', () => {
  test('from the environment: realm and namespace default to the Pod namespace, 2 replicas', () => {
    const c = parseConfig([], env, 'shop');
    assert.equal(c.namespace, 'shop');
    assert.equal(c.realm, 'shop');
    assert.equal(c.replicas, 2);
    assert.deepEqual(c.login, { kind: 'password', username: 'admin', password: 'pw' });
    assert.deepEqual(c.proxyCredentials, {
      kind: 'password',
      secret: 'nexodus-credentials',
      usernameKey: 'username',
      passwordKey: 'password',
    });
    assert.equal(c.healthPort, 8080);
  });

  test('flags win over variables; a registration key gives the proxies the reg-key Secret', () => {
    const c = parseConfig(
      ['--realm', 'blue', '--replicas', '3', '--health-addr', '127.0.0.1:0'],
      { ...env, NEXLINK_USERNAME: '', NEXLINK_REG_KEY: 'key' },
      'shop',
    );
    assert.equal(c.realm, 'blue');
    assert.equal(c.replicas, 3);
    assert.equal(c.healthHost, '127.0.0.1');
    assert.deepEqual(c.login, { kind: 'reg-key', regKey: 'key' });
    assert.deepEqual(c.proxyCredentials, { kind: 'reg-key', secret: 'nexodus-credentials', key: 'reg-key' });
  });

  test('bad values are refused, saying what is expected', () => {
    refused([], { ...env, NEXLINK_SERVICE_URL: 'nexodus.example' }, /expected the Nexodus service URL/);
    refused(['--realm', 'Bad_Realm'], env, /expected a DNS label/);
    refused(['--replicas', '0'], env, /expected 1 to 10/);
    refused([], { ...env, NEXLINK_PASSWORD: '' }, /give --username and --password/);
    refused([], { ...env, NEXLINK_CREDENTIALS_SECRET: '' }, /name the Secret the proxies log in with/);
    refused(['--bogus'], env, /unknown option/);
    assert.throws(() => parseConfig([], env, undefined), /name the namespace/);
  });
});

describe('leader election decisions', () => {
  const lease = (holder: string | undefined, renewedAt: number) => ({
    spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime: new V1MicroTime(renewedAt) },
  });
  test('no holder: acquire; our own: renew; another fresh holder: wait; expired: acquire', () => {
    const now = 1_000_000;
    assert.equal(decide(undefined, 'a', now), 'acquire');
    assert.equal(decide(lease(undefined, now), 'a', now), 'acquire');
    assert.equal(decide(lease('a', now - 60_000), 'a', now), 'renew');
    assert.equal(decide(lease('b', now - 14_999), 'a', now), 'wait');
    assert.equal(decide(lease('b', now - 15_000), 'a', now), 'acquire');
  });
  test('the lease name defaults to nexlink and "" turns leader election off', () => {
    assert.equal(parseConfig([], env, 'shop').leaseName, 'nexlink');
    assert.equal(parseConfig([], { ...env, NEXLINK_LEASE_NAME: '' }, 'shop').leaseName, undefined);
  });
});
