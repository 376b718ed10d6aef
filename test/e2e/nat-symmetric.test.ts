// SPDX-License-Identifier: Apache-2.0
// Reachability across NAT (issue 13) with one site behind a symmetric NAT (`MASQUERADE --random-fully`:
// a new port for every destination): STUN on two ports tells it, the device reports symmetric_nat, and
// demo 3's traffic still flows (through the relay: the other side cannot learn a mapping that works),
// with `nexctl nexd peers` saying which path it took. A third device with --relay-only is reached only
// through the relay although a direct path would work.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildSkipReason, NEXCTL_CLI } from '../../packages/nexd/test/harness/processes.js';
import {
  demo3Pair,
  httpBodyServer,
  type NatLab,
  type NexdInNs,
  natLab,
  nexdPeers,
  startNexd,
} from './lib/nat-lab.js';
import { exec, Lab, waitFor } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';

const skip = rootSkipReason(['iptables', 'curl']) ?? buildSkipReason();
const BODY = 'through-a-symmetric-nat';

describe('NAT traversal: symmetric NAT and --relay-only', { skip, timeout: 180_000 }, () => {
  let lab: Lab;
  let nl: NatLab;
  let n1: NexdInNs;
  let n2: NexdInNs;
  before(async () => {
    lab = await Lab.create('nsy');
    nl = await natLab(lab, ['symmetric', 'masquerade']);
    ({ n1, n2 } = demo3Pair(lab, nl, httpBodyServer(BODY)));
  });
  after(async () => lab?.cleanup());

  it('the device behind --random-fully reports symmetric_nat, the other does not', async () => {
    const l1 = await waitFor(
      'nexd1 reflexive endpoints',
      () => n1.logs().find((x) => x.msg === 'reflexive endpoints registered'),
      30_000,
    );
    assert.equal(l1.symmetricNat, true, JSON.stringify(l1));
    const l2 = await waitFor(
      'nexd2 reflexive endpoints',
      () => n2.logs().find((x) => x.msg === 'reflexive endpoints registered'),
      30_000,
    );
    assert.equal(l2.symmetricNat, false);
  });

  it('still connected; nexctl nexd peers says which path', async () => {
    const body = await waitFor(
      'HTTP through the tunnel',
      async () => {
        const r = await exec(nl.sites[0].host, 'curl', ['-sS', '--max-time', '3', 'http://127.0.0.1:8080/'], {
          check: false,
        });
        return r.code === 0 ? r.stdout : undefined;
      },
      60_000,
    ).catch((e) => {
      throw new Error(`${e}\n${n1.proc.stdout.slice(-3000)}\n${n2.proc.stdout.slice(-3000)}`);
    });
    assert.equal(body, BODY);
    const [p1] = await nexdPeers(nl.sites[0].host, n1);
    assert.ok(p1.path === 'relay' || p1.path === 'direct', JSON.stringify(p1));
    // With per-destination mappings on one side and a filtering router on the other, no direct path opens.
    assert.equal(p1.path, 'relay');
    const table = await exec(nl.sites[0].host, process.execPath, [
      NEXCTL_CLI,
      '--state-dir',
      n1.stateDir,
      'nexd',
      'peers',
    ]);
    assert.match(table.stdout, /PATH/);
    assert.match(table.stdout, /relay +http:\/\/100\.64\.0\.1:443\/derp/);
  });

  it('--relay-only: a device whose direct path would work is reached through the relay only', async () => {
    // A second device at site 2 (port-preserving NAT) next to nexd2, relay only.
    const n3 = startNexd(lab, nl, nl.sites[1], {
      requestIp: '100.100.0.13',
      globals: ['--relay-only'],
      args: ['proxy', '--egress', 'tcp:8090:100.100.0.12:80'],
    });
    const body = await waitFor(
      'HTTP from the relay-only device',
      async () => {
        const r = await exec(nl.sites[1].host, 'curl', ['-sS', '--max-time', '3', 'http://127.0.0.1:8090/'], {
          check: false,
        });
        return r.code === 0 ? r.stdout : undefined;
      },
      60_000,
    ).catch((e) => {
      throw new Error(`${e}\n${n3.proc.stdout.slice(-3000)}`);
    });
    assert.equal(body, BODY);
    const peers = await nexdPeers(nl.sites[1].host, n3);
    const toN2 = peers.find((p) => (p.allowedIps as string[]).includes('100.100.0.12/32'));
    assert.equal(toN2?.path, 'relay', JSON.stringify(peers));
  });
});
