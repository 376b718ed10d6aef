// SPDX-License-Identifier: Apache-2.0
// nexd and nexctl against the real service over HTTPS (its self-signed CA): --ca-file works, an unknown
// CA, a wrong password, an unreachable service, bad rules and bad flags each give a clear message and a
// non-zero exit and leave the stored state byte for byte as it was; /readyz; nexctl's API commands.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  freePort,
  httpGet,
  NEXD_CLI,
  NexdProcess,
  nexctl,
  nexdNodeFlags,
  nexdRun,
  REPO,
  ServerProcess,
  stopAll,
  waitFor,
} from '../../packages/nexd/test/harness/processes.js';

const skip = buildSkipReason();

describe('nexd and nexctl against an HTTPS service', { skip }, () => {
  let server: ServerProcess;
  let a: NexdProcess;
  let healthPort: number;
  let stateBefore: string;
  const login = () => ['--service-url', server.url, '--username', 'admin', '--password', ADMIN_PASSWORD];

  before(async () => {
    server = await ServerProcess.start({ https: true });
    assert.ok(server.caFile, 'the server printed its CA file');
    healthPort = await freePort();
    a = await NexdProcess.start({
      tag: 'tls',
      globals: ['--ca-file', server.caFile!, '--health-addr', `127.0.0.1:${healthPort}`],
      args: ['--service-url', server.url, 'proxy', '--ingress', 'tcp:8080:127.0.0.1:9'],
    });
    await a.stop();
    stateBefore = await readFile(join(a.stateDir, 'state.json'), 'utf8');
  });

  after(() => stopAll());

  /** Runs nexd on A's (stopped) state and checks that state is untouched. */
  async function failingRun(args: string[], env: Record<string, string> = {}) {
    const r = await nexdRun(['--state-dir', a.stateDir, '--local-endpoint-ip', '127.0.0.1', ...args], {
      NEXD_USERNAME: 'admin',
      NEXD_PASSWORD: ADMIN_PASSWORD,
      ...env,
    });
    assert.notEqual(r.code, 0, `exit code non-zero\n${r.stderr}`);
    assert.equal(await readFile(join(a.stateDir, 'state.json'), 'utf8'), stateBefore, 'state untouched');
    return r;
  }

  test('with --ca-file nexd logs in, registers and stores its device id and tokens', () => {
    const state = JSON.parse(stateBefore) as { deviceId?: string; tokens?: { accessToken?: string } };
    assert.match(state.deviceId ?? '', /^[0-9a-f-]{36}$/);
    assert.ok(state.tokens?.accessToken);
    assert.ok(a.child.logs.some((l) => l.msg === 'logged in' && l.method === 'password'));
  });

  test('/readyz turns 200 once registered and the peer stream is at its tail', async () => {
    const b = await NexdProcess.start({
      tag: 'rdy',
      globals: ['--ca-file', server.caFile!, '--health-addr', `127.0.0.1:${healthPort}`],
      args: ['proxy', server.url],
    });
    const r = await waitFor('ready', async () => {
      const x = await httpGet(`http://127.0.0.1:${healthPort}/readyz`, 2000).catch(() => undefined);
      return x?.status === 200 ? x : undefined;
    });
    assert.equal(r.status, 200);
    const metrics = await httpGet(`http://127.0.0.1:${healthPort}/metrics`);
    assert.match(metrics.body, /nexd_peers \d+/);
    await b.stop();
  });

  test('unknown CA: the message names --ca-file; exit 1; state intact', async () => {
    const r = await failingRun(['proxy', server.url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted .*--ca-file/);
  });

  test('wrong password: login refused, exit 1; state intact', async () => {
    const r = await failingRun(['--ca-file', server.caFile!, 'proxy', server.url], {
      NEXD_PASSWORD: 'wrong',
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /login to https:\/\/127\.0\.0\.1:\d+ refused.*--username\/--password/);
  });

  test('unreachable service: nexd keeps running and retrying (no crash loop), each attempt logged; state intact', async () => {
    const port = await freePort();
    const n = await NexdProcess.start({
      tag: 'unr',
      stateDir: a.stateDir,
      args: ['proxy', `http://127.0.0.1:${port}`],
      wait: false,
    });
    const retries = () =>
      n.child.logs.filter((l) => /the service is not reachable yet; retrying/.test(String(l.msg)));
    await n.child.waitOutput('two logged retries', () => (retries().length >= 2 ? true : undefined));
    assert.match(
      String(retries()[0]!.err),
      new RegExp(`cannot reach the service at http://127\\.0\\.0\\.1:${port}`),
    );
    assert.equal((await n.stop()).code, 0, 'SIGTERM still stops it cleanly');
    assert.equal(await readFile(join(a.stateDir, 'state.json'), 'utf8'), stateBefore, 'state untouched');
  });

  test('bad rules and bad flags: exit 2 naming the bad part; state intact', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['proxy', '--ingress', 'tcp:80:host', server.url],
        /ingress rule "tcp:80:host": it has only 3 of 4 parts/,
      ],
      [['proxy', '--egress', 'sctp:80:10.0.0.1:80', server.url], /sctp/],
      [['proxy', '--ingress', 'tcp:99999:10.0.0.1:80', server.url], /99999/],
      [['--listen-port', 'x', 'proxy', server.url], /--listen-port "x" is not a port/],
      [['--request-ip', '300.1.1.1', 'proxy', server.url], /--request-ip/],
      [['--no-such-flag', 'proxy', server.url], /--no-such-flag/],
      [['proxy', 'not-a-url'], /neither a command .* nor a service URL/],
    ];
    for (const [args, re] of cases) {
      const r = await failingRun(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });

  test('a --ca-file that cannot be read is a bad flag', async () => {
    const r = await failingRun(['--ca-file', '/nonexistent/ca.pem', 'proxy', server.url]);
    assert.match(r.stderr, /--ca-file \/nonexistent\/ca\.pem: cannot read it \(ENOENT\)/);
  });

  test('nexctl device list / vpc list with --ca-file, as JSON and as a table', async () => {
    const list = await nexctl([...login(), '--ca-file', server.caFile!, '-o', 'json', 'device', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const devices = JSON.parse(list.stdout) as { id: string; public_key: string; bearer_token?: string }[];
    const mine = devices.find((d) => d.public_key === a.publicKey);
    assert.ok(mine, 'A is listed');
    assert.ok(
      devices.every((d) => d.bearer_token === undefined),
      'no device token is printed',
    );
    const table = await nexctl([...login(), '--ca-file', server.caFile!, 'device', 'list']);
    assert.match(table.stdout, /^ID\s+HOSTNAME\s+ADDRESSES/);
    assert.ok(table.stdout.includes(mine.id));
    const vpcs = await nexctl([...login(), '--ca-file', server.caFile!, '-o', 'json', 'vpc', 'list']);
    assert.equal(vpcs.code, 0, vpcs.stderr);
    const v = JSON.parse(vpcs.stdout) as { ipv4_cidr: string }[];
    assert.ok(v.some((x) => x.ipv4_cidr === '100.100.0.0/16'));
  });

  test('nexctl without the CA says to pass --ca-file; a wrong password says so; exit 1', async () => {
    const noCa = await nexctl([...login(), 'device', 'list']);
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /not trusted .*--ca-file/);
    const insecure = await nexctl([...login(), '--insecure-skip-tls-verify', 'vpc', 'list']);
    assert.equal(insecure.code, 0, insecure.stderr);
    const wrong = await nexctl([
      '--service-url',
      server.url,
      '--username',
      'admin',
      '--password',
      'nope',
      '--ca-file',
      server.caFile!,
      'vpc',
      'list',
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /login to .* refused/);
    const none = await nexctl(['device', 'list'], {
      NEXD_SERVICE_URL: '',
      NEXD_USERNAME: '',
      NEXD_PASSWORD: '',
    });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no service URL/);
  });

  test('nexctl device delete ID removes the device; a restarted nexd registers afresh', async () => {
    const list = await nexctl([...login(), '--ca-file', server.caFile!, '-o', 'json', 'device', 'list']);
    const mine = (JSON.parse(list.stdout) as { id: string; public_key: string }[]).find(
      (d) => d.public_key === a.publicKey,
    )!;
    const del = await nexctl([...login(), '--ca-file', server.caFile!, 'device', 'delete', mine.id]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, new RegExp(`deleted device ${mine.id}`));
    const again = await nexctl([...login(), '--ca-file', server.caFile!, '-o', 'json', 'device', 'list']);
    assert.ok(!(JSON.parse(again.stdout) as { id: string }[]).some((d) => d.id === mine.id));
    const missing = await nexctl([...login(), '--ca-file', server.caFile!, 'device', 'delete', mine.id]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404/);
    const a2 = await NexdProcess.start({
      tag: 'tls',
      stateDir: a.stateDir,
      globals: ['--ca-file', server.caFile!],
      args: ['proxy', server.url],
    });
    assert.ok(a2.child.logs.some((l) => l.msg === 'device registered'));
    await a2.stop();
  });
});

describe('the installed nexd bin', { skip }, () => {
  test('runs through its shebang (the V8 flags it carries are the ones the harness passes)', async () => {
    // `nexd` on PATH, or `npx nexd`, is dist/cli.js executed through `#!/usr/bin/env -S node <flags>`.
    assert.deepEqual(nexdNodeFlags(), ['--initial-old-space-size=64']);
    const r = spawnSync(NEXD_CLI, ['version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^nexd \d+\.\d+\.\d+/);
    // The README's form: the workspace bin link, made by scripts/bins.mjs after the build (npm ci runs
    // before dist/ exists and skips it), with the flags of a global flag before the subcommand intact.
    const bin = join(REPO, 'node_modules/.bin/nexd');
    const r2 = spawnSync(bin, ['--state-dir', '/nonexistent/nexd-bin-test', 'version'], { encoding: 'utf8' });
    assert.equal(r2.status, 0, r2.stderr);
    assert.match(r2.stdout, /^nexd \d+\.\d+\.\d+/);
  });
});
