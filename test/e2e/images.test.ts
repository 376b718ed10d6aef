// SPDX-License-Identifier: Apache-2.0
// The container images of `npm run image`, run as a restricted pod runs them: uid 65532, no capability, no
// privilege escalation, a read-only root with only /tmp writable.
// 1. nexd: the seed's demo 1 `sh -c "ln -s ...; ln -s ...; nexd proxy --ingress ... https://try.nexodus.io"`
//    verbatim, keys mounted at /etc/wireguard/, in namespace `ctr`. Namespace `srv` holds our server (as
//    try.nexodus.io:443, TLS with a test CA), the backend (as nginx-service...:80) and a second nexd from the
//    build whose egress rule reaches the backend through the container's ingress rule.
// 2. server: SQLite in a volume; a user added survives a restart of the container, and a fresh volume has none.
// The images are built once per run (layers cached); a machine that cannot run an OCI runtime skips in one line.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OAuthClient } from '@nexodus/api';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  Child,
  NEXD_CLI,
  nexdNodeFlags,
  SERVER_CLI,
  waitFor,
} from '../../packages/nexd/test/harness/processes.js';
import { ensureSelfSigned } from '../../packages/server/src/tls.js';
import { exec } from './lib/exec.js';
import { containerSkipReason, NEXD_IMAGE, podman, podmanEnv, SERVER_IMAGE } from './lib/images.js';
import { Lab } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';

/** The seed's demo 1 command line (deploy/demos of the scenario), character for character. */
const DEMO1_COMMAND =
  'ln -s /etc/wireguard/private.key /private.key; ln -s /etc/wireguard/public.key /public.key; nexd proxy --ingress tcp:80:nginx-service.nexd-proxy-demo1.svc.cluster.local:80 https://try.nexodus.io';
/** The flags of a restricted pod: uid 65532, no capability, no escalation, read-only root, writable /tmp only. */
const RESTRICTED = [
  '--user',
  '65532',
  '--cap-drop=ALL',
  '--security-opt',
  'no-new-privileges',
  '--read-only',
  '--read-only-tmpfs=false',
  '--tmpfs',
  '/tmp:rw,mode=1777',
];
const SERVICE_NAMES = ['try.nexodus.io', 'api.try.nexodus.io', 'auth.try.nexodus.io'];

function skipReason(): string | undefined {
  const why = buildSkipReason() ?? rootSkipReason(['ip', 'curl']) ?? containerSkipReason();
  // In CI the images must build; only a machine without a working OCI runtime may skip.
  if (why && process.env.CI && /npm run image failed/.test(why)) throw new Error(why);
  return why;
}
const skip = skipReason();

/** `podman run` in the foreground, its JSON log lines kept by the harness's Child. */
function podmanRun(name: string, args: string[]): Child {
  return new Child('podman', ['run', '--rm', '--name', name, ...args], podmanEnv());
}

function podmanRemove(name: string): void {
  podman(['rm', '--force', '--time', '2', name]);
}

describe('container images run restricted (podman)', { skip, timeout: 600_000 }, () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.create('img');
  });
  after(async () => {
    await lab.cleanup();
  });

  test("nexd image: the seed's demo 1 command verbatim serves its ingress to another nexd", async () => {
    const srv = await lab.netns('srv');
    const ctr = await lab.netns('ctr');
    const s = await lab.subnet();
    await lab.veth({ ns: srv, addrs: [`${s.a4}/30`] }, { ns: ctr, addrs: [`${s.b4}/30`] });
    await exec(ctr, 'ip', ['route', 'add', 'default', 'via', s.a4]);
    const run = `${process.pid}-${Date.now().toString(36)}`;

    // `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts: the service's names in `srv`.
    const etc = `/etc/netns/${srv}`;
    mkdirSync(etc, { recursive: true });
    lab.defer(() => rmSync(etc, { recursive: true, force: true }));
    writeFileSync(
      join(etc, 'hosts'),
      `127.0.0.1 localhost\n::1 localhost\n${s.a4} ${SERVICE_NAMES.join(' ')}\n`,
    );

    // The server as https://try.nexodus.io (port 443 inside the namespace), with a certificate for its names.
    const tlsDir = lab.tempDir('tls');
    const tls = ensureSelfSigned(tlsDir, [...SERVICE_NAMES, s.a4]);
    const server = lab.spawn(
      srv,
      process.execPath,
      [
        SERVER_CLI,
        '--state-dir',
        lab.tempDir('server'),
        '--listen',
        '0.0.0.0:443',
        '--tls-cert',
        tls.certPath,
        '--tls-key',
        join(tlsDir, 'tls.key'),
        '--issuer',
        'https://try.nexodus.io',
        '--log-level',
        'warn',
      ],
      { env: { ...process.env, NEXODUS_ADMIN_PASSWORD: ADMIN_PASSWORD } },
    );
    await waitFor(
      'the server in srv',
      async () => {
        const r = await exec(
          srv,
          'curl',
          ['-sS', '--cacert', tls.certPath, 'https://try.nexodus.io/readyz'],
          {
            check: false,
          },
        );
        return r.code === 0 && r.stdout.includes('"UP"');
      },
      30_000,
    ).catch((err) => {
      throw new Error(`${String(err)}\n${server.stdout}\n${server.stderr}`);
    });

    // The Service behind the ingress rule: nginx-service.nexd-proxy-demo1.svc.cluster.local:80.
    lab.spawn(srv, process.execPath, [
      '-e',
      "require('http').createServer((q,r)=>r.end('Hello from the demo 1 backend\\n')).listen(80,'0.0.0.0')",
    ]);

    // The Secret the scenario mounts at /etc/wireguard/: a key pair made by nexd's own generator.
    const keysDir = lab.tempDir('keys');
    chmodSync(keysDir, 0o755); // as a Secret volume: readable by the pod's uid
    const { generateKeyPair } = await import('../../packages/nexd/src/keys.js');
    const kp = generateKeyPair();
    writeFileSync(join(keysDir, 'private.key'), `${kp.privateKey}\n`, { mode: 0o644 });
    writeFileSync(join(keysDir, 'public.key'), `${kp.publicKey}\n`, { mode: 0o644 });

    const name = `nexodus-img-nexd-${run}`;
    lab.defer(() => podmanRemove(name));
    const container = podmanRun(name, [
      '--network',
      `ns:/run/netns/${ctr}`,
      ...RESTRICTED,
      ...SERVICE_NAMES.flatMap((n) => ['--add-host', `${n}:${s.a4}`]),
      '--add-host',
      `nginx-service.nexd-proxy-demo1.svc.cluster.local:${s.a4}`,
      '-v',
      `${keysDir}:/etc/wireguard:ro`,
      '-v',
      `${tls.certPath}:/etc/nexodus-ca/ca.crt:ro`,
      '-e',
      'NEXD_USERNAME=admin',
      '-e',
      `NEXD_PASSWORD=${ADMIN_PASSWORD}`,
      '-e',
      'NEXD_CA_FILE=/etc/nexodus-ca/ca.crt',
      '-e',
      'NAMESPACE=nexd-proxy-demo1',
      NEXD_IMAGE,
      'sh',
      '-c',
      DEMO1_COMMAND,
    ]);
    await container.waitLog(
      'nexd proxy running in the container',
      (l) => l.msg === 'nexd proxy running',
      90_000,
    );
    const keysLine = container.logs.find((l) => l.msg === 'WireGuard keys loaded');
    assert.equal(keysLine?.publicKey, kp.publicKey, 'nexd used the keys mounted at /etc/wireguard/');
    // The image's own links made the seed's `ln -s` fail harmlessly (a non-root user on a read-only root).
    assert.match(container.stderr, /ln: failed to create symbolic link '\/private.key': File exists/);
    const addr = /IPv4 \[ (\S+) \]/.exec(
      String(container.logs.find((l) => /interface addresses assigned/.test(String(l.msg)))?.msg),
    )?.[1];
    assert.ok(addr, `the container's VPC address is logged:\n${container.stdout}`);

    // nexd's /readyz (NEXD_HEALTH_ADDR=:8080 in the image) answers from outside the container.
    await waitFor(
      'the container nexd /readyz',
      async () => {
        const r = await exec(
          srv,
          'curl',
          ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${s.b4}:8080/readyz`],
          {
            check: false,
          },
        );
        return r.stdout === '200';
      },
      30_000,
    );

    // Another nexd (from the build) in `srv` reaches the Service through the container's ingress rule.
    const client = new Child(
      'ip',
      [
        'netns',
        'exec',
        srv,
        process.execPath,
        ...nexdNodeFlags(),
        NEXD_CLI,
        '--state-dir',
        lab.tempDir('client'),
        '--service-url',
        'https://try.nexodus.io',
        'proxy',
        '--egress',
        `tcp:18080:${addr}:80`,
      ],
      {
        NEXD_USERNAME: 'admin',
        NEXD_PASSWORD: ADMIN_PASSWORD,
        NEXD_CA_FILE: tls.certPath,
        NEXD_LOG_LEVEL: 'info',
      },
    );
    lab.defer(async () => {
      await client.stop();
    });
    await client.waitLog('the client nexd running', (l) => l.msg === 'nexd proxy running', 60_000);
    const page = await waitFor(
      'the backend page through both proxies',
      async () => {
        const r = await exec(srv, 'curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:18080/'], {
          check: false,
        });
        return r.code === 0 ? r.stdout : undefined;
      },
      60_000,
    );
    assert.equal(page, 'Hello from the demo 1 backend\n');

    // nexctl on PATH finds nexd's control socket in the default state dir (/var/lib/nexd -> /tmp).
    const peers = podman(['exec', name, 'nexctl', '-o', 'json', 'nexd', 'peers']);
    assert.equal(peers.code, 0, peers.stderr);
    assert.ok(
      (JSON.parse(peers.stdout) as { publicKey: string }[]).some(
        (p) => p.publicKey === client.logs.find((l) => l.msg === 'WireGuard keys loaded')?.publicKey,
      ),
      `the client is a peer of the container: ${peers.stdout}`,
    );
    // It ran as uid 65532 with no capability, and the root file system refused a write.
    const status = podman([
      'exec',
      name,
      'sh',
      '-c',
      'id -u; grep CapEff /proc/1/status; touch /x 2>&1; true',
    ]);
    assert.match(status.stdout, /^65532\n/);
    assert.match(status.stdout, /CapEff:\s+0000000000000000/);
    assert.match(status.stdout, /Read-only file system/);
    await client.stop();
    podmanRemove(name);
  });

  test('server image: SQLite in a volume survives a restart; a fresh volume starts empty', async () => {
    const sim = await lab.netns('sim');
    const s = await lab.subnet();
    await lab.veth({ ns: null, addrs: [`${s.a4}/30`] }, { ns: sim, addrs: [`${s.b4}/30`] });
    const run = `${process.pid}-${Date.now().toString(36)}`;
    const volume = lab.tempDir('volume');
    chownSync(volume, 65532, 65532);
    const base = `http://${s.b4}:8080`;

    const start = (vol: string, tag: string) => {
      const name = `nexodus-img-server-${run}-${tag}`;
      lab.defer(() => podmanRemove(name));
      const c = podmanRun(name, [
        '--network',
        `ns:/run/netns/${sim}`,
        ...RESTRICTED,
        '-v',
        `${vol}:/var/lib/nexodus`,
        '-e',
        `NEXODUS_ADMIN_PASSWORD=${ADMIN_PASSWORD}`,
        SERVER_IMAGE,
      ]);
      return { name, c };
    };
    const ready = (c: Child) =>
      waitFor(
        'the server container /readyz',
        async () => {
          if (!c.running) throw new Error(`the container exited: ${c.stdout}${c.stderr}`);
          const r = await fetch(`${base}/readyz`).catch(() => undefined);
          return r?.status === 200;
        },
        60_000,
      ).catch((err) => {
        throw new Error(`${String(err)}\nstdout: ${c.stdout}\nstderr: ${c.stderr}`);
      });
    const canLogin = async (user: string, pw: string) =>
      new OAuthClient({ baseUrl: base })
        .passwordGrant(user, pw)
        .then(() => true)
        .catch(() => false);

    const first = start(volume, 'a');
    await ready(first.c);
    assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: 'UP' });
    const add = podman(
      ['exec', '-i', first.name, 'nexodus-server', 'user', 'add', 'bob', '--password-stdin'],
      {
        input: 'bob-password-1',
      },
    );
    assert.equal(add.code, 0, add.stderr);
    assert.ok(await canLogin('bob', 'bob-password-1'));
    podmanRemove(first.name);
    await first.c.exit;
    const db = statSync(join(volume, 'nexodus.db'));
    assert.equal(db.uid, 65532, 'the database file belongs to the server uid');

    const second = start(volume, 'b');
    await ready(second.c);
    assert.ok(await canLogin('bob', 'bob-password-1'), 'bob is still there after the restart');
    assert.ok(!(await canLogin('bob', 'wrong-password')));
    podmanRemove(second.name);
    await second.c.exit;

    const fresh = lab.tempDir('fresh');
    chownSync(fresh, 65532, 65532);
    const third = start(fresh, 'c');
    await ready(third.c);
    assert.ok(!(await canLogin('bob', 'bob-password-1')), 'a fresh volume has no bob');
    assert.ok(await canLogin('admin', ADMIN_PASSWORD));
    podmanRemove(third.name);
    await third.c.exit;
    assert.ok(readFileSync(join(fresh, 'nexodus.db')).length > 0);
  });
});
