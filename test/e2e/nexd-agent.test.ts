// SPDX-License-Identifier: Apache-2.0
// nexd agent mode end to end, as root in namespaces: the real nexodus-server in a hub namespace, agents
// on TUN devices (wg0) in their own namespaces, and a `nexd proxy` beside them. Asserts the kernel's
// own traffic (curl, ICMP through nexctl) crossing our WireGuard engine over IPv4 and IPv6, and demo 1's
// data path without Kubernetes: a remote device curling a proxy's ingress at its VPC address.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildSkipReason, nexctl, waitFor } from '../../packages/nexd/test/harness/processes.js';
import {
  AgentLab,
  NexdIn,
  type Spoke,
  STANDALONE,
  type StandalonePair,
  standaloneAgentPair,
} from './lib/agent-lab.js';
import { exec, ip, Lab, type Proc } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';

const skip = rootSkipReason(['ip', 'curl', 'ss']) ?? buildSkipReason();
const skipWg = rootSkipReason(['ip', 'curl', 'ss', 'wireguard-go', 'wg']) ?? buildSkipReason();

/** `curl -sS URL` inside `ns`, retried until the tunnel is up; returns the body. */
async function curlIn(ns: string, url: string): Promise<string> {
  const r = await exec(
    ns,
    'curl',
    ['-sS', '-g', '--max-time', '5', '--retry', '10', '--retry-all-errors', '--retry-delay', '1', url],
    {
      timeoutMs: 60_000,
    },
  );
  return r.stdout;
}

async function ping(stateDir: string, cmd: 'ping' | 'ping6', address?: string) {
  return nexctl(['--state-dir', stateDir, 'nexd', 'peers', cmd, ...(address ? [address] : []), '-c', '2']);
}

describe('nexd agent mode (TUN device, our engine, real server)', { skip }, () => {
  let lab: Lab;
  let hub: AgentLab;
  let sa: Spoke;
  let sb: Spoke;
  let sp: Spoke;
  let a: NexdIn;
  let b: NexdIn;
  let p: NexdIn;
  let webB: Proc;
  let webP: Proc;
  let blob: Buffer;

  before(async () => {
    lab = await Lab.create('agt');
    hub = await AgentLab.create(lab);
    sa = await hub.spoke('a');
    sb = await hub.spoke('b');
    sp = await hub.spoke('p');
    // B serves a page on every address (the VPC ones included), P's backend only on its loopback.
    const file = join(lab.tempDir('blob'), 'blob.bin');
    blob = randomBytes(16 * 1024 * 1024);
    writeFileSync(file, blob);
    webB = await web(lab, sb.ns, 80, '::', 'Hello from device B');
    await web(lab, sb.ns, 8080, '::', 'blob', file);
    webP = await web(lab, sp.ns, 8000, '127.0.0.1', 'Hello from the proxy backend');
    a = await NexdIn.start(hub, sa);
    // B reads its TUN with offloads (TSO super-packets split in the addon), A without: both paths, and
    // their interplay, carry the bulk download below.
    b = await NexdIn.start(hub, sb, {
      globals: ['--tunnel-iface', 'nexodus0'],
      env: { NEXD_TUN_IO: 'offload' },
    });
    p = await NexdIn.start(hub, sp, { args: ['proxy', '--ingress', 'tcp:80:127.0.0.1:8000'] });
    await a.waitPeer(b.publicKey);
    await a.waitPeer(p.publicKey);
  });

  after(async () => {
    await lab?.cleanup();
  });

  test('the agent logs the assignment line and puts the VPC addresses on its TUN device', async () => {
    const { ipv4, ipv6 } = a.addresses;
    assert.match(ipv4, /^100\.100\.\d+\.\d+$/);
    const link = (await ip(sa.ns, ['-d', 'link', 'show', 'wg0'])).stdout;
    assert.match(link, /\btun\b/, 'wg0 is a TUN device');
    assert.match(link, /mtu 1420/);
    const addrs = (await ip(sa.ns, ['addr', 'show', 'dev', 'wg0'])).stdout;
    assert.match(addrs, new RegExp(`inet ${ipv4.replaceAll('.', '\\.')}/32`));
    assert.match(addrs, new RegExp(`inet6 ${ipv6}/64`));
    // --tunnel-iface names the device.
    assert.match((await ip(sb.ns, ['link', 'show', 'nexodus0'])).stdout, /nexodus0/);
  });

  test("the peers' allowed IPs are routes to the device", async () => {
    const want = b.addresses.ipv4;
    const routes = await waitFor('the route to B', async () => {
      const r = (await ip(sa.ns, ['route', 'show', 'dev', 'wg0'])).stdout;
      return r.includes(want) ? r : undefined;
    });
    assert.match(routes, new RegExp(`${want.replaceAll('.', '\\.')} `));
    const r6 = (await ip(sa.ns, ['-6', 'route', 'show', 'dev', 'wg0'])).stdout;
    assert.match(r6, new RegExp(`${b.addresses.ipv6}`));
  });

  test('agent -> agent: HTTP over IPv4 and IPv6 through the tunnel', async () => {
    assert.equal((await curlIn(sa.ns, `http://${b.addresses.ipv4}/`)).trim(), 'Hello from device B');
    assert.equal((await curlIn(sa.ns, `http://[${b.addresses.ipv6}]/`)).trim(), 'Hello from device B');
    // The bytes went through our engine: the peer counters moved.
    const peers = JSON.parse(
      (await nexctl(['--state-dir', a.stateDir, '-o', 'json', 'nexd', 'peers'])).stdout,
    );
    const pb = peers.find((x: { publicKey: string }) => x.publicKey === b.publicKey);
    assert.ok(pb.rxBytes > 0 && pb.txBytes > 0, JSON.stringify(pb));
  });

  test('a 16 MiB download over IPv4 and IPv6 arrives intact (SHA-256), both TUN I/O paths', async () => {
    const want = createHash('sha256').update(blob).digest('hex');
    for (const host of [b.addresses.ipv4, `[${b.addresses.ipv6}]`]) {
      const r = await exec(
        sa.ns,
        'sh',
        [
          '-c',
          `curl -sSf -g --retry 5 --retry-all-errors --max-time 60 http://${host}:8080/blob.bin | sha256sum`,
        ],
        { timeoutMs: 90_000 },
      );
      assert.equal(r.stdout.split(' ')[0], want, host);
    }
  });

  test('agent -> nexd proxy: curl of the proxy ingress at its VPC address, IPv4 and IPv6 (demo 1 path)', async () => {
    assert.equal((await curlIn(sa.ns, `http://${p.addresses.ipv4}/`)).trim(), 'Hello from the proxy backend');
    assert.equal(
      (await curlIn(sa.ns, `http://[${p.addresses.ipv6}]/`)).trim(),
      'Hello from the proxy backend',
    );
  });

  test('nexctl nexd peers ping / ping6 from the agent reach an agent and a proxy', async () => {
    for (const [cmd, addr] of [
      ['ping', b.addresses.ipv4],
      ['ping6', b.addresses.ipv6],
      ['ping', p.addresses.ipv4],
      ['ping6', p.addresses.ipv6],
    ] as const) {
      const r = await ping(a.stateDir, cmd, addr);
      assert.equal(r.code, 0, `${cmd} ${addr}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`reply from ${addr}: seq=\\d+ time=`));
    }
  });

  test('nexctl nexd peers ping from the proxy (netstack) reaches the agent; all peers without an address', async () => {
    const r = await ping(p.stateDir, 'ping', a.addresses.ipv4);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /reply from/);
    const all = await ping(p.stateDir, 'ping6');
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, new RegExp(`reply from ${a.addresses.ipv6}`));
    assert.match(all.stdout, new RegExp(`reply from ${b.addresses.ipv6}`));
  });

  test('ping of an address no peer routes fails with exit 1 and says so', async () => {
    const r = await ping(a.stateDir, 'ping', '100.100.255.254');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /no reply from 100\.100\.255\.254: seq=\d+ no-route/);
    assert.match(r.stderr, /no reply from 100\.100\.255\.254/);
  });

  test('an agent on a host with IPv6 disabled still runs and carries IPv4', async () => {
    const sc = await hub.spoke('c');
    await sysctl(sc.ns, 'net.ipv6.conf.all.disable_ipv6', '1');
    await sysctl(sc.ns, 'net.ipv6.conf.default.disable_ipv6', '1');
    const c = await NexdIn.start(hub, sc);
    assert.ok(
      c.child.logs.some((l) => l.msg === 'cannot put the IPv6 address on the device; IPv6 is off'),
      'the IPv6 failure is logged',
    );
    await c.waitPeer(b.publicKey);
    assert.equal((await curlIn(sc.ns, `http://${b.addresses.ipv4}/`)).trim(), 'Hello from device B');
    await c.stop();
  });

  test('a restarted agent comes back with the same VPC address and is reachable again', async () => {
    const before = a.addresses;
    assert.equal((await a.stop()).code, 0);
    a = await NexdIn.start(hub, sa, { stateDir: a.stateDir });
    assert.deepEqual(a.addresses, before);
    assert.equal((await curlIn(sa.ns, `http://${b.addresses.ipv4}/`)).trim(), 'Hello from device B');
    const r = await ping(p.stateDir, 'ping', before.ipv4);
    assert.equal(r.code, 0, r.stderr);
  });

  test('nexctl nexd status shows the device; SIGTERM removes it', async () => {
    const s = JSON.parse((await nexctl(['--state-dir', b.stateDir, '-o', 'json', 'nexd', 'status'])).stdout);
    assert.deepEqual(s.device, { name: 'nexodus0', engine: 'userspace' });
    assert.equal((await b.stop()).code, 0);
    // B ran with offloads and served the 16 MiB download: the kernel handed it TSO super-packets.
    const closed = b.child.logs.find((l) => l.msg === 'TUN device closed');
    assert.ok(closed && Number(closed.superPackets) > 0 && closed.segmentDrops === 0, JSON.stringify(closed));
    const r = await ip(sb.ns, ['link', 'show', 'nexodus0'], { check: false });
    assert.notEqual(r.code, 0, 'the device is gone with the process');
    void webB;
    void webP;
  });
});

describe('nexd agent mode standalone (--wg-config) against wireguard-go', { skip: skipWg }, () => {
  let lab: Lab;
  let pair: StandalonePair;

  before(async () => {
    lab = await Lab.create('agw');
    pair = await standaloneAgentPair(lab);
    await web(lab, pair.wgNs, 80, '::', 'Hello from behind wireguard-go');
    await web(lab, pair.agentNs, 80, '::', 'Hello from the agent side');
  });

  after(async () => {
    await lab?.cleanup();
  });

  test('the device gets the file addresses; the peer is routed', async () => {
    const addrs = (await ip(pair.agentNs, ['addr', 'show', 'dev', 'wg0'])).stdout;
    assert.match(addrs, /inet 10\.77\.0\.1\/24/);
    assert.match(addrs, /inet6 fd00:77::1\/64/);
  });

  test('HTTP both ways over IPv4 and IPv6 between the agent and wireguard-go', async () => {
    for (const url of [`http://${STANDALONE.wg4}/`, `http://[${STANDALONE.wg6}]/`]) {
      assert.equal((await curlIn(pair.agentNs, url)).trim(), 'Hello from behind wireguard-go', url);
    }
    for (const url of [`http://${STANDALONE.agent4}/`, `http://[${STANDALONE.agent6}]/`]) {
      assert.equal((await curlIn(pair.wgNs, url)).trim(), 'Hello from the agent side', url);
    }
    const wgPeer = await pair.wg.peer(pair.agent.publicKey);
    assert.ok(wgPeer && wgPeer.rxBytes > 0, 'wireguard-go received from our engine');
  });

  test("nexctl nexd peers ping / ping6 get wireguard-go's kernel to answer", async () => {
    const r4 = await ping(pair.agent.stateDir, 'ping', STANDALONE.wg4);
    assert.equal(r4.code, 0, r4.stderr);
    const r6 = await ping(pair.agent.stateDir, 'ping6');
    assert.equal(r6.code, 0, r6.stderr);
    assert.match(r6.stdout, /reply from fd00:77::2/);
  });
});

/**
 * A tiny HTTP server for `node -e`: argv port, bind address, body, and optionally a file served at
 * /blob.bin (dual-stack when bound to ::).
 */
const WEB_SERVER = `
const [port, host, body, file] = process.argv.slice(1);
require('node:http').createServer((req, res) => {
  if (file && req.url === '/blob.bin') return require('node:fs').createReadStream(file).pipe(res);
  res.end(body + '\\n');
}).listen(Number(port), host);
`;

/** Starts WEB_SERVER in `ns` and waits until it accepts on `port`. */
async function web(
  lab: Lab,
  ns: string,
  port: number,
  host: string,
  body: string,
  file?: string,
): Promise<Proc> {
  const proc = lab.spawn(ns, process.execPath, [
    '-e',
    WEB_SERVER,
    String(port),
    host,
    body,
    ...(file ? [file] : []),
  ]);
  await waitFor(`web server on port ${port}`, async () => {
    const r = await exec(ns, 'ss', ['-Htln', `sport = :${port}`]);
    return r.stdout.trim() ? true : undefined;
  });
  return proc;
}

/** Writes a sysctl inside `ns` (no procps needed). */
async function sysctl(ns: string, key: string, value: string): Promise<void> {
  await exec(ns, 'sh', ['-c', `echo ${value} > /proc/sys/${key.replaceAll('.', '/')}`]);
}
