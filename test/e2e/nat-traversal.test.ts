// SPDX-License-Identifier: Apache-2.0
// Reachability across NAT (issue 13), demo 3's traffic (egress proxy -> ingress proxy -> HTTP server)
// between two sites behind their own iptables MASQUERADE NATs, the service in the "internet":
//  - direct: STUN through the WireGuard socket gives each side its reflexive address, both sides send
//    handshakes at once (hole punching), the path in use is the other NAT's address, and persistent
//    keepalives keep it open past a short conntrack UDP timeout.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildSkipReason } from '../../packages/nexd/test/harness/processes.js';
import { demo3Pair, httpBodyServer, type NatLab, type NexdInNs, natLab, nexdPeers } from './lib/nat-lab.js';
import { exec, Lab, waitFor } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';

const skip = rootSkipReason(['iptables', 'curl']) ?? buildSkipReason();
const HTTP_BODY = 'demo3-through-the-nats';

async function curl(ns: string, url: string): Promise<string | undefined> {
  const r = await exec(ns, 'curl', ['-sS', '--max-time', '3', url], { check: false });
  return r.code === 0 ? r.stdout : undefined;
}

describe('NAT traversal: direct path through STUN and hole punching', { skip, timeout: 180_000 }, () => {
  let lab: Lab;
  let nl: NatLab;
  let n1: NexdInNs;
  let n2: NexdInNs;
  before(async () => {
    lab = await Lab.create('nat');
    nl = await natLab(lab);
    // Short conntrack timeouts: without keepalives a mapping would be gone after 25 s idle.
    for (const s of nl.sites) {
      await exec(s.nat, 'sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_udp_timeout=25']);
      await exec(s.nat, 'sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_udp_timeout_stream=25']);
    }
    ({ n1, n2 } = demo3Pair(lab, nl, httpBodyServer(HTTP_BODY)));
  });
  after(async () => lab?.cleanup());

  it('both sides register their NAT address from STUN; the NATs are not symmetric', async () => {
    for (const [n, site] of [
      [n1, nl.sites[0]],
      [n2, nl.sites[1]],
    ] as const) {
      const l = await waitFor(
        'reflexive endpoints',
        () => n.logs().find((x) => x.msg === 'reflexive endpoints registered'),
        30_000,
      ).catch((err) => {
        throw new Error(`${err}\n${n.proc.stdout}\n${n.proc.stderr}`);
      });
      const eps = l.endpoints as { source: string; address: string }[];
      assert.ok(
        eps.some((e) => e.source === 'stun' && e.address.startsWith(`${site.publicIp}:`)),
        JSON.stringify(eps),
      );
      assert.equal(l.symmetricNat, false);
    }
  });

  it("demo 3's traffic flows, over the direct path between the NATs' addresses", async () => {
    const body = await waitFor(
      'HTTP through egress -> ingress',
      () => curl(nl.sites[0].host, 'http://127.0.0.1:8080/'),
      60_000,
    ).catch((err) => {
      throw new Error(
        `${err}\nnexd1:\n${n1.proc.stdout.slice(-4000)}\nnexd2:\n${n2.proc.stdout.slice(-4000)}`,
      );
    });
    assert.equal(body, HTTP_BODY);
    // The first answer may come over the relay (a hole opens only once both sides have sent); the
    // probes while relayed move the path to direct within a few seconds.
    const [p1, p2] = await waitFor(
      'the direct path on both sides',
      async () => {
        const [a] = await nexdPeers(nl.sites[0].host, n1);
        const [b] = await nexdPeers(nl.sites[1].host, n2);
        return a?.path === 'direct' && b?.path === 'direct' ? [a, b] : undefined;
      },
      45_000,
      500,
    );
    assert.match(String(p1.endpoint), /^100\.64\.2\.2:\d+$/, 'host1 talks to nat2 directly');
    assert.match(String(p2.endpoint), /^100\.64\.1\.2:\d+$/, 'host2 talks to nat1 directly');
    assert.equal(p1.path, 'direct');
  });

  it('persistent keepalives keep the NAT mappings past the 25 s conntrack timeout', async () => {
    const [before1] = await nexdPeers(nl.sites[0].host, n1);
    await new Promise((r) => setTimeout(r, 32_000));
    const body = await curl(nl.sites[0].host, 'http://127.0.0.1:8080/');
    assert.equal(body, HTTP_BODY);
    const [after1] = await nexdPeers(nl.sites[0].host, n1);
    assert.equal(after1.endpoint, before1.endpoint, 'the same mapping is in use');
    assert.ok(Number(after1.rxBytes) > Number(before1.rxBytes), 'keepalives arrived meanwhile');
  });
});
