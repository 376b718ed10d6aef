// SPDX-License-Identifier: Apache-2.0
// Reachability across NAT through the relay (issue 13): one site's UDP is blocked at its NAT (only TCP
// gets out), so demo 3's traffic goes through the service's DERP relay; a 100 MB transfer arrives
// byte-identical; then UDP is unblocked and the path moves to direct while an open TCP connection
// through the tunnel keeps working.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildSkipReason } from '../../packages/nexd/test/harness/processes.js';
import {
  blockUdp,
  demo3Pair,
  HeldConnection,
  type NatLab,
  type NexdInNs,
  natLab,
  nexdPeers,
} from './lib/nat-lab.js';
import { exec, Lab, waitFor } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';

const skip = rootSkipReason(['iptables', 'curl', 'sha256sum']) ?? buildSkipReason();
/** NEXODUS_RELAY_TEST_MB overrides the size (the issue asks for 100 MB). */
const SIZE = Number(process.env.NEXODUS_RELAY_TEST_MB ?? 100) * 1024 * 1024;

describe('NAT traversal: UDP blocked on one side -> relay; unblocked -> direct', {
  skip,
  timeout: 420_000,
}, () => {
  let lab: Lab;
  let nl: NatLab;
  let n1: NexdInNs;
  let n2: NexdInNs;
  let sha = '';
  let holder: HeldConnection;
  const dump = () => `\nnexd1:\n${n1?.proc.stdout.slice(-3000)}\nnexd2:\n${n2?.proc.stdout.slice(-3000)}`;
  before(async () => {
    lab = await Lab.create('nrl');
    nl = await natLab(lab);
    await blockUdp(nl.sites[0], true);
    const file = join(lab.tempDir('blob'), 'blob.bin');
    const data = randomBytes(SIZE);
    writeFileSync(file, data);
    sha = createHash('sha256').update(data).digest('hex');
    ({ n1, n2 } = demo3Pair(
      lab,
      nl,
      `const fs=require('fs');require('http').createServer((q,s)=>{if(q.url!=='/blob')return s.end('small');s.setHeader('content-length',fs.statSync(${JSON.stringify(file)}).size);fs.createReadStream(${JSON.stringify(file)}).pipe(s)}).listen(8000,'127.0.0.1');` +
        `require('net').createServer((c)=>c.pipe(c)).listen(7000,'127.0.0.1')`,
      [
        [80, 8000],
        [81, 7000],
      ],
    ));
  });
  after(async () => lab?.cleanup());

  it('with its UDP blocked, a site is reached through the relay', async () => {
    await waitFor(
      'a connection through the tunnel',
      async () => {
        const r = await exec(
          nl.sites[0].host,
          'curl',
          ['-sS', '--max-time', '3', 'http://127.0.0.1:8080/small'],
          {
            check: false,
          },
        );
        return r.code === 0 && r.stdout === 'small' ? true : undefined;
      },
      60_000,
    ).catch(async (e) => {
      const peers = JSON.stringify([
        await nexdPeers(nl.sites[0].host, n1),
        await nexdPeers(nl.sites[1].host, n2),
      ]);
      throw new Error(`${e}\npeers: ${peers}${dump()}`);
    });
    const [p1] = await nexdPeers(nl.sites[0].host, n1);
    const [p2] = await nexdPeers(nl.sites[1].host, n2);
    assert.equal(p1.path, 'relay', JSON.stringify(p1));
    assert.equal(p2.path, 'relay', JSON.stringify(p2));
    assert.match(String(p1.endpoint), /^http:\/\/100\.64\.0\.1:443\/derp$/);
  });

  it(`${SIZE / 1024 / 1024} MB through the relay arrive byte-identical`, async () => {
    const r = await exec(
      nl.sites[0].host,
      'sh',
      ['-c', 'curl -sS --max-time 300 http://127.0.0.1:8080/blob | sha256sum'],
      {
        timeoutMs: 320_000,
      },
    );
    assert.equal(r.stdout.split(' ')[0], sha);
    const [p1] = await nexdPeers(nl.sites[0].host, n1);
    assert.equal(p1.path, 'relay', 'still relayed while UDP is blocked');
  });

  it('UDP unblocked: the path moves to direct; an open TCP connection keeps working', async () => {
    holder = await HeldConnection.open(lab, nl.sites[0].host, 8081);
    await holder.echo('before-unblock', 'echo over the relay');
    await blockUdp(nl.sites[0], false);
    await waitFor(
      'the direct path',
      async () => {
        const [p1] = await nexdPeers(nl.sites[0].host, n1);
        return p1.path === 'direct' ? p1 : undefined;
      },
      90_000,
      500,
    ).catch((e) => {
      throw new Error(`${e}${dump()}`);
    });
    const [p1] = await nexdPeers(nl.sites[0].host, n1);
    assert.match(String(p1.endpoint), /^100\.64\.2\.2:\d+$/, 'straight to the other NAT');
    await holder.echo('after-unblock', 'echo over the direct path');
    holder.assertNeverDropped();
  });
});
