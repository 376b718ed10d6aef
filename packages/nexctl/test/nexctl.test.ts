// SPDX-License-Identifier: Apache-2.0
// nexctl against a real control socket: a nexd daemon (started through @nexodus/nexd's public API with a
// loopback stand-in for the tunnel) in the same process, with real TCP traffic through added rules.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createLogger,
  type Daemon,
  type DataPlaneFactory,
  FileStateStore,
  NodeDatagramNetwork,
  NodeStreamNetwork,
  startDaemon,
} from '@nexodus/nexd';
import { runNexctl } from '../src/run.js';

const TUNNEL = '127.0.0.2';
const LOCAL = '127.0.0.1';

const side = (host: string) => ({
  stream: new NodeStreamNetwork({ listenHost: host }),
  datagram: new NodeDatagramNetwork({ listenHost: host }),
});

const dataPlane: DataPlaneFactory = async ({ readiness }) => {
  readiness.set('registered');
  return {
    tunnel: side(TUNNEL),
    addresses: { ipv4: ['100.100.0.7'], ipv6: ['200::7'] },
    peers: () => [
      {
        publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=',
        allowedIps: ['100.100.0.1/32'],
        rxBytes: 2048,
        txBytes: 10,
      },
    ],
    drops: () => ({ send: { noRoute: 3, socketTooBig: 0 }, receive: { decrypt: 0 } }),
    close: async () => {},
  };
};

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, LOCAL, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function roundTrip(port: number, host: string, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const c = net.connect({ port, host, allowHalfOpen: true }, () => c.end(data));
    c.on('data', (d) => {
      got += d;
    });
    c.on('end', () => resolve(got));
    c.on('error', reject);
  });
}

async function nexctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runNexctl(
    ['--state-dir', stateDir, ...argv],
    {},
    {
      stdout: (t) => {
        out += t;
      },
      stderr: (t) => {
        err += t;
      },
    },
  );
  return { code, out, err };
}

let dir: string;
let stateDir: string;
let daemon: Daemon;
let backend: net.Server;
let backendPort: number;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nexctl-test-'));
  stateDir = join(dir, 'state');
  backend = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.on('data', (d) => s.write(`B:${d}`));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => backend.listen(0, LOCAL, () => r()));
  backendPort = (backend.address() as net.AddressInfo).port;
  daemon = await startDaemon({
    config: {
      stateDir,
      insecureSkipTlsVerify: false,
      logLevel: 'silent',
      drainSeconds: 0,
      serviceUrl: 'http://127.0.0.1:1',
    },
    rules: [],
    logger: createLogger('silent'),
    store: new FileStateStore(stateDir),
    dataPlane,
    local: side(LOCAL),
    keyLocations: { mountedPrivateKey: join(dir, 'none.key') },
  });
});

after(async () => {
  await daemon?.stop(0);
  await new Promise<void>((r) => backend.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

describe('nexctl nexd', () => {
  test('version and status, as table and as JSON', async () => {
    const v = await nexctl('nexd', 'version');
    assert.equal(v.code, 0);
    assert.match(v.out, /^nexd \d+\.\d+\.\d+\n$/);
    const t = await nexctl('nexd', 'status');
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /^ipv4: +100\.100\.0\.7$/m);
    assert.match(t.out, /^ready: +no \(waiting for peer-stream-at-tail\)$/m);
    assert.ok(t.out.includes(daemon.keys.publicKey));
    assert.match(t.out, /^send drops: +noRoute 3$/m, 'the non-zero send drops, by reason');
    assert.match(t.out, /^receive drops: +none$/m);
    const j = await nexctl('--output', 'json', 'nexd', 'status');
    assert.deepEqual(JSON.parse(j.out).addresses, { ipv4: ['100.100.0.7'], ipv6: ['200::7'] });
    assert.deepEqual(JSON.parse(j.out).drops.send, { noRoute: 3, socketTooBig: 0 }, 'JSON has every counter');
  });

  test('peers as a table', async () => {
    const p = await nexctl('nexd', 'peers');
    assert.equal(p.code, 0);
    const [header, row] = p.out.trimEnd().split('\n');
    assert.match(header, /^PUBLIC KEY +PATH +ENDPOINT +ALLOWED IPS +LATEST HANDSHAKE +RX +TX$/);
    assert.match(row, /^HIgo9x\S+ +- +- +100\.100\.0\.1\/32 +- +2\.0KiB +10B$/);
  });

  test('peers ping: a non-address is a usage error; a data plane without ICMP says so (exit 1)', async () => {
    const bad = await nexctl('nexd', 'peers', 'ping', 'not-an-ip');
    assert.equal(bad.code, 2);
    const wrongFamily = await nexctl('nexd', 'peers', 'ping6', '100.100.0.1');
    assert.equal(wrongFamily.code, 2);
    const r = await nexctl('nexd', 'peers', 'ping', '100.100.0.1', '-c', '1');
    assert.equal(r.code, 1);
    assert.match(r.err, /this data plane cannot send ICMP echoes/);
  });

  test('proxy list with no rules prints nothing on stdout (table and flags); JSON is []', async () => {
    for (const args of [[], ['-o', 'flags']]) {
      const r = await nexctl(...args, 'nexd', 'proxy', 'list');
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, '', `nexctl ${args.join(' ')} nexd proxy list`);
    }
    assert.deepEqual(JSON.parse((await nexctl('-o', 'json', 'nexd', 'proxy', 'list')).out), []);
  });

  test('--version prints the nexctl version', async () => {
    const r = await nexctl('--version');
    assert.equal(r.code, 0);
    assert.match(r.out, /^nexctl \d+\.\d+\.\d+\n$/);
  });

  test('proxy add, list, remove drive the running proxy and its state', async () => {
    const [pi, pe] = [await freePort(), await freePort()];
    const add = await nexctl(
      'nexd',
      'proxy',
      'add',
      '--ingress',
      `tcp:${pi}:127.0.0.1:${backendPort}`,
      '--egress',
      `tcp:${pe}:127.0.0.1:${backendPort}`,
    );
    assert.equal(add.code, 0, add.err);
    assert.equal(
      add.out,
      `added ingress tcp:${pi}:127.0.0.1:${backendPort}\nadded egress tcp:${pe}:127.0.0.1:${backendPort}\n`,
    );
    assert.equal(await roundTrip(pi, TUNNEL, 'in'), 'B:in');
    assert.equal(await roundTrip(pe, LOCAL, 'out'), 'B:out');

    const list = await nexctl('nexd', 'proxy', 'list');
    const lines = list.out.trimEnd().split('\n');
    assert.match(lines[0], /^TYPE +RULE +ORIGIN +CONNECTIONS +ACTIVE +TO DEST +FROM DEST +DIAL FAILURES$/);
    assert.match(lines[1], new RegExp(`^ingress +tcp:${pi}:127\\.0\\.0\\.1:${backendPort} +runtime +1 +`));
    const json = JSON.parse((await nexctl('-o', 'json', 'nexd', 'proxy', 'list')).out);
    assert.equal(json.length, 2);
    const flags = await nexctl('-o', 'flags', 'nexd', 'proxy', 'list');
    assert.equal(
      flags.out,
      `--ingress tcp:${pi}:127.0.0.1:${backendPort}\n--egress tcp:${pe}:127.0.0.1:${backendPort}\n`,
      'lines to paste back',
    );
    assert.equal(json[1].bytesToDestination, 3);

    const rm1 = await nexctl('nexd', 'proxy', 'remove', '--ingress', `tcp:${pi}:127.0.0.1:${backendPort}`);
    assert.equal(rm1.code, 0, rm1.err);
    assert.equal(rm1.out, `removed ingress tcp:${pi}:127.0.0.1:${backendPort}\n`);
    await assert.rejects(roundTrip(pi, TUNNEL, 'x'), { code: 'ECONNREFUSED' });
    const saved = await new FileStateStore(stateDir).load();
    assert.deepEqual(saved.proxyRules, [{ type: 'egress', rule: `tcp:${pe}:127.0.0.1:${backendPort}` }]);
    assert.equal(
      (await nexctl('nexd', 'proxy', 'remove', '--egress', `tcp:${pe}:127.0.0.1:${backendPort}`)).code,
      0,
    );
  });

  test("nexd's errors come through with exit 1", async () => {
    const bad = await nexctl('nexd', 'proxy', 'add', '--ingress', 'tcp:80:[fd00::1:80');
    assert.equal(bad.code, 1);
    assert.match(
      bad.err,
      /^nexctl: invalid ingress rule "tcp:80:\[fd00::1:80": IPv6 destination has no closing "\]"/,
    );
    const missing = await nexctl('nexd', 'proxy', 'remove', '--egress', 'tcp:9:a.example:9');
    assert.equal(missing.code, 1);
    assert.match(missing.err, /egress tcp:9:a\.example:9 does not exist/);
  });

  test('no nexd on that state dir: exit 1 and a hint', async () => {
    let err = '';
    const code = await runNexctl(
      ['--state-dir', join(dir, 'elsewhere'), 'nexd', 'status'],
      {},
      {
        stdout: () => {},
        stderr: (t) => {
          err += t;
        },
      },
    );
    assert.equal(code, 1);
    assert.match(
      err,
      /cannot connect to nexd at .*elsewhere\/nexd\.sock \(ENOENT\): is nexd running with this --state-dir\?/,
    );
  });

  test('usage errors exit 2', async () => {
    const none = await nexctl('nexd', 'proxy', 'add');
    assert.equal(none.code, 2);
    assert.match(none.err, /give at least one --ingress or --egress rule/);
    const out = await nexctl('--output', 'xml', 'nexd', 'status');
    assert.equal(out.code, 2);
    assert.match(out.err, /Allowed choices are table, column, no-header, json, json-raw, yaml, flags/);
    const bare = await nexctl('nexd');
    assert.equal(bare.code, 2);
    assert.match(bare.err, /Usage: nexctl nexd \[options\] \[command\]/);
    assert.equal((await nexctl('help')).code, 0);
    const help = await nexctl('nexd', 'proxy', '--help');
    assert.equal(help.code, 0);
    assert.match(help.out, /Commands:\n {2}list/);
    const unknown = await nexctl('nexd', 'stauts');
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /Did you mean status\?/);
  });

  test('the nexctl bin finds nexd through NEXD_STATE_DIR', async () => {
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    // Asynchronous spawn: the daemon answering it runs in this process.
    const child = spawn(process.execPath, ['--import', 'tsx', cli, '-o', 'json', 'nexd', 'status'], {
      env: { PATH: process.env.PATH ?? '', NEXD_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 0);
    assert.equal(JSON.parse(out).publicKey, daemon.keys.publicKey);
  });
});

describe('the original nexctl forms', () => {
  test('nexd get tunnelip [-6]', async () => {
    const v4 = await nexctl('nexd', 'get', 'tunnelip');
    assert.equal(v4.code, 0, v4.err);
    assert.equal(v4.out, '100.100.0.7\n');
    const v6 = await nexctl('nexd', 'get', 'tunnelip', '-6');
    assert.equal(v6.out, '200::7\n');
    assert.equal((await nexctl('-o', 'json', 'nexd', 'get', 'tunnelip')).out, '"100.100.0.7"\n');
  });

  test('nexd set debug on|off changes the running log level', async () => {
    const on = await nexctl('nexd', 'set', 'debug', 'on');
    assert.equal(on.code, 0, on.err);
    assert.equal(on.out, 'log level debug\n');
    const off = await nexctl('-o', 'json-raw', 'nexd', 'set', 'debug', 'off');
    assert.notEqual(JSON.parse(off.out).level, 'debug');
    const bad = await nexctl('nexd', 'set', 'debug', 'maybe');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /takes on or off/);
  });

  test('--output yaml, json-raw, no-header and column', async () => {
    const yaml = await nexctl('-o', 'yaml', 'nexd', 'status');
    assert.match(yaml.out, /^addresses:\n {2}ipv4:\n {4}- 100\.100\.0\.7$/m);
    const raw = await nexctl('-o', 'json-raw', 'nexd', 'status');
    assert.equal(raw.out.trimEnd().split('\n').length, 1);
    assert.deepEqual(JSON.parse(raw.out).addresses.ipv4, ['100.100.0.7']);
    // A listing with rows (an empty rule list prints nothing at all, as the original nexctl).
    assert.equal((await nexctl('nexd', 'proxy', 'add', '--ingress', 'tcp:8080:127.0.0.1:80')).code, 0);
    const table = await nexctl('-o', 'column', 'nexd', 'proxy', 'list');
    const bare = await nexctl('-o', 'no-header', 'nexd', 'proxy', 'list');
    assert.equal(table.code, 0, table.err);
    assert.match(table.out.split('\n')[0]!, /^[A-Z ]+$/, 'column has the header row');
    // The same rows without the header (columns are as wide as the cells alone need).
    const cells = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/));
    assert.deepEqual(cells(bare.out), cells(table.out).slice(1), 'no-header is the same without it');
  });
});
