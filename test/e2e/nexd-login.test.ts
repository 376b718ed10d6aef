// SPDX-License-Identifier: Apache-2.0
// nexd's other two ways in: a registration key (`--reg-key`, the key as bearer token; the device token
// then follows the VPC) and interactive device authorization (the code and URL printed, approved here
// through the service's verification page as a person would, then polled). A restart without any
// credentials reuses the stored tokens.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NexodusClient, OAuthClient } from '@nexodus/api';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  NexdProcess,
  nexctl,
  nexdRun,
  ServerProcess,
  stopAll,
  tempDir,
} from '../../packages/nexd/test/harness/processes.js';

const skip = buildSkipReason();
const NO_PASSWORD = { NEXD_USERNAME: '', NEXD_PASSWORD: '' };

describe('nexd login with a registration key and with device authorization', { skip }, () => {
  let server: ServerProcess;
  let api: NexodusClient;
  let oauth: OAuthClient;
  let first: NexdProcess;

  before(async () => {
    server = await ServerProcess.start();
    oauth = new OAuthClient({ baseUrl: server.url });
    const t = await oauth.passwordGrant('admin', ADMIN_PASSWORD);
    api = new NexodusClient({ baseUrl: server.url, token: t.access_token });
    // A device registered the usual way, for the others to see as a peer.
    first = await NexdProcess.start({ tag: 'l1', args: ['proxy', server.url] });
  });

  after(async () => {
    await api?.close();
    await oauth?.close();
    await stopAll();
  });

  test("--reg-key: registers into the key's VPC and follows its peers with the device token", async () => {
    const [vpc] = await api.listVpcs();
    const key = await api.createRegKey({ vpc_id: vpc!.id, description: 'nexd e2e', single_use: true });
    assert.ok(key.bearer_token);
    const n = await NexdProcess.start({
      tag: 'rk',
      env: NO_PASSWORD,
      globals: ['--reg-key', key.bearer_token!],
      args: ['proxy', server.url],
    });
    assert.ok(n.child.logs.some((l) => l.msg === 'logged in' && l.method === 'reg-key'));
    await n.waitPeer(first.publicKey);
    const peers = await nexctl(['--state-dir', n.stateDir, '-o', 'json', 'nexd', 'peers']);
    assert.ok(
      (JSON.parse(peers.stdout) as { publicKey: string }[]).some((p) => p.publicKey === first.publicKey),
    );
    // A single-use key registers once; the restarted device is recognised by its key (409 -> PATCH).
    await n.stop();
    const again = await NexdProcess.start({
      tag: 'rk',
      stateDir: n.stateDir,
      env: NO_PASSWORD,
      globals: ['--reg-key', key.bearer_token!],
      args: ['proxy', server.url],
    });
    assert.equal(again.addresses.ipv4, n.addresses.ipv4);
    await again.stop();
    // The used single-use key is dead (401); the restart above ran on the device token kept in the state.
    const state = JSON.parse(await readFile(join(n.stateDir, 'state.json'), 'utf8')) as {
      deviceId: string;
      deviceToken?: string;
    };
    assert.ok(state.deviceToken, 'the device token is kept');
    await assert.rejects(new NexodusClient({ baseUrl: server.url, token: key.bearer_token! }).getMe(), {
      status: 401,
    });
    // A deleted device's token is refused: nexd registers again with the (reusable) key it was given.
    await api.deleteDevice(state.deviceId);
    const reusable = await api.createRegKey({ vpc_id: vpc!.id, description: 'nexd e2e reusable' });
    const third = await NexdProcess.start({
      tag: 'rk',
      stateDir: n.stateDir,
      env: NO_PASSWORD,
      globals: ['--reg-key', reusable.bearer_token!],
      args: ['proxy', server.url],
    });
    assert.ok(third.child.logs.some((l) => /stored device token was refused/.test(String(l.msg))));
    await third.stop();
  });

  test('device authorization: prints the code and URL, waits for approval, then runs; a restart reuses the tokens', async () => {
    const n = await NexdProcess.start({
      tag: 'da',
      env: NO_PASSWORD,
      args: ['proxy', server.url],
      wait: false,
    });
    const prompt = await n.child.waitOutput(
      'the login prompt',
      () => /To log in, open (\S+) and enter the code ([A-Z]{4}-[A-Z]{4})/.exec(n.child.stderr) ?? undefined,
    );
    const [, where, code] = prompt;
    assert.ok(where!.startsWith(`${server.url}/device`));
    // Approve as a person would on the verification page.
    const res = await fetch(`${server.url}/device`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        user_code: code!,
        username: 'admin',
        password: ADMIN_PASSWORD,
        action: 'approve',
      }),
    });
    assert.equal(res.status, 200);
    await n.running();
    assert.ok(n.child.logs.some((l) => l.msg === 'logged in' && l.method === 'device-authorization'));
    const state = JSON.parse(await readFile(join(n.stateDir, 'state.json'), 'utf8')) as {
      tokens?: { refreshToken?: string };
    };
    assert.ok(state.tokens?.refreshToken, 'tokens are stored');
    await n.stop();
    const restarted = await NexdProcess.start({
      tag: 'da',
      stateDir: n.stateDir,
      env: NO_PASSWORD,
      args: ['proxy', server.url],
    });
    assert.ok(restarted.child.logs.some((l) => l.msg === 'logged in' && l.method === 'stored-tokens'));
    assert.equal(restarted.addresses.ipv4, n.addresses.ipv4);
    await restarted.stop();
    // An expired access token with a valid refresh token: refreshed at start, no new device login.
    const file = join(n.stateDir, 'state.json');
    const saved = JSON.parse(await readFile(file, 'utf8')) as {
      tokens: { accessToken: string; expiresAt?: string };
    };
    const oldAccess = saved.tokens.accessToken;
    saved.tokens.expiresAt = new Date(Date.now() - 60_000).toISOString();
    await writeFile(file, JSON.stringify(saved));
    const refreshed = await NexdProcess.start({
      tag: 'da',
      stateDir: n.stateDir,
      env: NO_PASSWORD,
      args: ['proxy', server.url],
    });
    assert.ok(refreshed.child.logs.some((l) => l.msg === 'logged in' && l.method === 'stored-tokens'));
    assert.ok(!/To log in/.test(refreshed.child.stderr), 'no device login prompt');
    const after = JSON.parse(await readFile(file, 'utf8')) as {
      tokens: { accessToken: string; expiresAt: string };
    };
    assert.notEqual(after.tokens.accessToken, oldAccess);
    assert.ok(Date.parse(after.tokens.expiresAt) > Date.now());
    await refreshed.stop();
  });

  test('--request-ip: the device gets that address; a second device asking for it is refused clearly', async () => {
    const n = await NexdProcess.start({
      tag: 'rq',
      globals: ['--request-ip', '100.100.0.50'],
      args: ['proxy', server.url],
    });
    assert.equal(n.addresses.ipv4, '100.100.0.50');
    const other = await nexdRun(
      [
        '--state-dir',
        tempDir('rq2'),
        '--local-endpoint-ip',
        '127.0.0.1',
        '--request-ip',
        '100.100.0.50',
        'proxy',
        server.url,
      ],
      { NEXD_USERNAME: 'admin', NEXD_PASSWORD: ADMIN_PASSWORD },
    );
    assert.equal(other.code, 1);
    assert.match(other.stderr, /device registration failed .*100\.100\.0\.50 is already assigned/);
    await n.stop();
  });
});

describe('our nexd and nexctl against a server that only speaks the original login flow', { skip }, () => {
  let server: ServerProcess;

  before(async () => {
    // The issuer has a path (as a Keycloak realm has): /oauth2/token exists only under it, so nexd and
    // nexctl get in only through POST /device/login/start and OIDC discovery, as the original clients do.
    server = await ServerProcess.start({ issuerPath: '/realms/nexodus' });
  });
  after(stopAll);

  test('password login via discovery; peers; nexctl lists the devices; --reg-key URL#KEY names the service', async () => {
    const root = await fetch(`${server.url}/oauth2/token`, { method: 'POST' });
    assert.equal(root.status, 404, 'no OIDC route at the root in this mode');
    await root.text();
    const a = await NexdProcess.start({ tag: 'of1', args: ['proxy', server.url] });
    assert.ok(a.child.logs.some((l) => l.msg === 'logged in' && l.method === 'password'));
    const b = await NexdProcess.start({ tag: 'of2', args: ['proxy', server.url] });
    await a.waitPeer(b.publicKey);
    const list = await nexctl(['--service-url', server.url, '-o', 'json', 'device', 'list'], {
      NEXD_USERNAME: 'admin',
      NEXD_PASSWORD: ADMIN_PASSWORD,
    });
    assert.equal(list.code, 0, list.stderr);
    const keys = (JSON.parse(list.stdout) as { public_key: string }[]).map((d) => d.public_key);
    assert.ok(keys.includes(a.publicKey) && keys.includes(b.publicKey), list.stdout);
    // The original prints a registration key as https://HOST#KEY for `nexd --reg-key`: no other URL needed.
    const oauth = (await OAuthClient.discover({ serviceUrl: server.url })).oauth;
    const t = await oauth.passwordGrant('admin', ADMIN_PASSWORD);
    await oauth.close();
    const api = new NexodusClient({ baseUrl: server.url, token: t.access_token });
    const [vpc] = await api.listVpcs();
    const key = await api.createRegKey({ vpc_id: vpc!.id, description: 'url form' });
    await api.close();
    const c = await NexdProcess.start({
      tag: 'of3',
      env: NO_PASSWORD,
      globals: ['--reg-key', `${server.url}#${key.bearer_token}`],
      args: ['proxy'],
    });
    assert.ok(c.child.logs.some((l) => l.msg === 'logged in' && l.method === 'reg-key'));
    await c.waitPeer(a.publicKey);
  });
});
