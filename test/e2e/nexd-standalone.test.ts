// SPDX-License-Identifier: Apache-2.0
// Standalone mode (`nexd --wg-config FILE proxy ...`) against Debian's wireguard-go in a network
// namespace (as root): the kernel's curl in the namespace reaches a local backend through our ingress
// rule, and our egress rule reaches nginx in the namespace (a 1 MiB file, checked by SHA-256), over
// IPv4 and IPv6, plus UDP echo through an egress rule.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  buildSkipReason,
  freePort,
  httpBackend,
  NexdProcess,
  stopAll,
  tempDir,
  udpRequest,
} from '../../packages/nexd/test/harness/processes.js';
import { type KernelPeer, kernelPeer } from './lib/kernel-peer.js';
import { exec, Lab } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';
import { wgKeyPair } from './lib/wireguard-go.js';

const skip = rootSkipReason(['ip', 'iptables', 'wireguard-go', 'wg', 'nginx', 'curl']) ?? buildSkipReason();

function download(url: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const h = createHash('sha256');
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          h.update(c);
        });
        res.on('end', () => resolve({ sha256: h.digest('hex'), size }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('nexd --wg-config against wireguard-go in a namespace', { skip }, () => {
  let lab: Lab;
  let peer: KernelPeer;
  let nexd: NexdProcess;
  let web: { port: number; close(): Promise<void> };
  const port: Record<string, number> = {};

  before(async () => {
    lab = await Lab.create('ndx');
    peer = await kernelPeer(lab, { iperf: false });
    web = await httpBackend('Hello from the standalone backend\n');
    const listenPort = await freePort('udp');
    for (const k of ['http4', 'http6']) port[k] = await freePort();
    port.udp = await freePort('udp');
    const ours = await wgKeyPair();
    const dir = tempDir('wgc');
    const file = join(dir, 'wg0.conf');
    writeFileSync(
      file,
      [
        '[Interface]',
        `PrivateKey = ${ours.privateKey}`,
        'Address = 198.19.0.2/24, fd00:19::2/64',
        `ListenPort = ${listenPort}`,
        '',
        '[Peer]',
        `PublicKey = ${peer.wg.publicKey}`,
        `Endpoint = ${peer.endpoint.address}:${peer.endpoint.port}`,
        `AllowedIPs = ${peer.tunnel4}/32, ${peer.tunnel6}/128`,
        '',
      ].join('\n'),
    );
    await peer.addPeer({
      publicKey: ours.publicKey,
      endpoint: { address: peer.rootAddress4, port: listenPort },
      allowedIps: ['198.19.0.2/32', 'fd00:19::2/128'],
    });
    nexd = await NexdProcess.start({
      tag: 'wgc',
      globals: ['--wg-config', file],
      args: [
        'proxy',
        '--ingress',
        `tcp:8080:127.0.0.1:${web.port}`,
        '--egress',
        `tcp:${port.http4}:${peer.tunnel4}:${peer.httpPort}`,
        '--egress',
        `tcp:${port.http6}:[${peer.tunnel6}]:${peer.httpPort}`,
        '--egress',
        `udp:${port.udp}:${peer.tunnel4}:${peer.udpEchoPort}`,
      ],
    });
  });

  after(async () => {
    await stopAll();
    await web?.close();
    await lab?.cleanup();
  });

  test('the address line shows the wg-config addresses', () => {
    assert.deepEqual(nexd.addresses, { ipv4: '198.19.0.2', ipv6: 'fd00:19::2' });
  });

  test('ingress: curl in the namespace reaches the local backend through 198.19.0.2:8080 and [fd00:19::2]:8080', async () => {
    const r4 = await exec(peer.ns, 'curl', ['-sS', '--max-time', '15', 'http://198.19.0.2:8080/']);
    assert.equal(r4.stdout, 'Hello from the standalone backend\n');
    const r6 = await exec(peer.ns, 'curl', ['-sS', '--max-time', '15', 'http://[fd00:19::2]:8080/']);
    assert.equal(r6.stdout, 'Hello from the standalone backend\n');
  });

  test('egress: nginx in the namespace serves its file through our tunnel, intact, over IPv4 and IPv6', async () => {
    for (const p of [port.http4, port.http6]) {
      const got = await download(`http://127.0.0.1:${p}${peer.file.path}`);
      assert.equal(got.size, peer.file.size);
      assert.equal(got.sha256, peer.file.sha256);
    }
  });

  test('egress UDP: the namespace echo server answers through the tunnel', async () => {
    assert.equal(await udpRequest(port.udp, 'standalone-udp'), 'standalone-udp');
  });

  test('wireguard-go saw a handshake with us', async () => {
    const dump = await peer.wg.dump();
    const p = dump.peers.find((x) => x.allowedIps.includes('198.19.0.2/32'));
    assert.ok(p && p.latestHandshake > 0, 'latest handshake recorded by wireguard-go');
  });
});
