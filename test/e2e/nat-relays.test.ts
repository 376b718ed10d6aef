// SPDX-License-Identifier: Apache-2.0
// Several relays serving one VPC (issue 13): the service announces its own relay (A, port 443) and a
// second one, a `nexodus-server relay` process (B, port 444). Site 1's UDP is blocked and so is its
// TCP to A, so site 1 reaches only B while site 2 reaches both: the common relay is found. Then site 1
// may reach A too, B is stopped while it carries the traffic, and within a bounded time the traffic
// flows through A, an open TCP connection through the tunnel included. B comes back and A goes silent
// (its packets dropped, no connection closed): the relay clients' pings notice, and the traffic moves
// to B. Last, UDP is unblocked and the direct path still takes over.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildSkipReason, SERVER_CLI } from '../../packages/nexd/test/harness/processes.js';
import {
  blockUdp,
  demo3Pair,
  HeldConnection,
  type NatLab,
  type NexdInNs,
  natLab,
  nexdPeers,
  RELAY_PORT,
  SERVICE_IP,
  type Site,
} from './lib/nat-lab.js';
import { exec, Lab, type Proc, waitFor } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';

const skip = rootSkipReason(['iptables', 'curl']) ?? buildSkipReason();
const RELAY_B_PORT = 444;
const RELAY_A = `http://${SERVICE_IP}:${RELAY_PORT}/derp`;
const RELAY_B = `http://${SERVICE_IP}:${RELAY_B_PORT}/derp`;
/** How long traffic may take to move to the other relay once the one in use is gone. */
const FAILOVER_MS = 15_000;

/** Refuses (TCP reset) the site's connections to one relay port, as a firewall that allows only some would. */
async function blockTcp(site: Site, port: number, block: boolean): Promise<void> {
  await exec(site.nat, 'iptables', [
    block ? '-I' : '-D',
    'FORWARD',
    '-p',
    'tcp',
    '-d',
    SERVICE_IP,
    '--dport',
    String(port),
    '-j',
    'REJECT',
    '--reject-with',
    'tcp-reset',
  ]);
}

describe('NAT traversal: two relays for one VPC; failover when the relay in use stops', {
  skip,
  timeout: 300_000,
}, () => {
  let lab: Lab;
  let nl: NatLab;
  let n1: NexdInNs;
  let n2: NexdInNs;
  let relayB: Proc;
  const dump = () => `\nnexd1:\n${n1?.proc.stdout.slice(-4000)}\nnexd2:\n${n2?.proc.stdout.slice(-4000)}`;
  const get = async () => {
    const r = await exec(nl.sites[0].host, 'curl', ['-sS', '--max-time', '2', 'http://127.0.0.1:8080/'], {
      check: false,
    });
    return r.code === 0 ? r.stdout : undefined;
  };
  const paths = async () => [
    (await nexdPeers(nl.sites[0].host, n1))[0],
    (await nexdPeers(nl.sites[1].host, n2))[0],
  ];
  const connected = (n: NexdInNs, url: string) =>
    n.logs().some((l) => l.msg === 'relay connected' && l.relay === url);

  const startRelayB = () =>
    lab.spawn(nl.inet, process.execPath, [
      SERVER_CLI,
      '--state-dir',
      lab.tempDir('relay-b'),
      'relay',
      '--plain',
      '--bind',
      `${SERVICE_IP}:${RELAY_B_PORT}`,
    ]);
  /** Drops everything to and from a relay port in the service's namespace: the relay is alive but mute. */
  const silence = async (port: number, on: boolean) => {
    for (const rule of [
      ['INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'DROP'],
      ['OUTPUT', '-p', 'tcp', '--sport', String(port), '-j', 'DROP'],
    ])
      await exec(nl.inet, 'iptables', [on ? '-I' : '-D', ...rule]);
  };

  before(async () => {
    lab = await Lab.create('nrs');
    nl = await natLab(lab, ['masquerade', 'masquerade'], ['--relay-announce', RELAY_B]);
    relayB = startRelayB();
    await waitFor(
      'relay B to listen',
      () => (/listening on TCP port/.test(relayB.stdout) ? true : undefined),
      20_000,
    );
    await blockUdp(nl.sites[0], true);
    await blockTcp(nl.sites[0], RELAY_PORT, true);
    ({ n1, n2 } = demo3Pair(
      lab,
      nl,
      `require('http').createServer((q,s)=>s.end('two-relays')).listen(8000,'127.0.0.1');` +
        `require('net').createServer((c)=>c.pipe(c)).listen(7000,'127.0.0.1')`,
      [
        [80, 8000],
        [81, 7000],
      ],
    ));
  });
  after(async () => lab?.cleanup());

  it('the service announces both relays; a device reaching only B talks through B to one on A and B', async () => {
    const body = await waitFor('HTTP through the tunnel', get, 60_000).catch(async (e) => {
      throw new Error(`${e}\npeers: ${JSON.stringify(await paths())}${dump()}`);
    });
    assert.equal(body, 'two-relays');
    await waitFor(
      'nexd2 on both relays',
      () => (connected(n2, RELAY_A) && connected(n2, RELAY_B)) || undefined,
      20_000,
    );
    assert.ok(connected(n1, RELAY_B), 'nexd1 is on relay B');
    assert.ok(!connected(n1, RELAY_A), 'nexd1 cannot reach relay A');
    assert.ok(
      n1.logs().some((l) => l.msg === 'cannot reach relay; retrying' && l.relay === RELAY_A),
      'nexd1 says it cannot reach relay A',
    );
    const [p1, p2] = await paths();
    assert.deepEqual([p1?.path, p1?.endpoint], ['relay', RELAY_B], JSON.stringify(p1));
    assert.deepEqual([p2?.path, p2?.endpoint], ['relay', RELAY_B], JSON.stringify(p2));
  });

  it(`relay B stops while in use: within ${FAILOVER_MS / 1000} s traffic flows through A, an open connection too`, async () => {
    await blockTcp(nl.sites[0], RELAY_PORT, false);
    // The client retries with a backoff of up to 30 s.
    await waitFor('nexd1 on relay A', () => connected(n1, RELAY_A) || undefined, 45_000).catch((e) => {
      throw new Error(`${e}${dump()}`);
    });
    const holder = await HeldConnection.open(lab, nl.sites[0].host, 8081);
    await holder.echo('before-failover', 'echo over relay B');
    // A probe for direct paths (every 10 s while relayed) makes a new handshake; it must not move the
    // peer to the other relay that works as well.
    const [p1] = await paths();
    await waitFor(
      'a probe handshake',
      async () => {
        const [p] = await paths();
        return p?.latestHandshake !== p1?.latestHandshake ? p : undefined;
      },
      25_000,
      250,
    );
    const [p1After] = await paths();
    assert.equal(p1After?.endpoint, RELAY_B, 'still on B while both are up');

    const t0 = Date.now();
    await relayB.stop();
    const body = await waitFor('HTTP through relay A', get, FAILOVER_MS, 250).catch(async (e) => {
      throw new Error(`${e}\npeers: ${JSON.stringify(await paths())}${dump()}`);
    });
    const failoverMs = Date.now() - t0;
    assert.equal(body, 'two-relays');
    const [q1, q2] = await waitFor(
      'both peer lists to name relay A',
      async () => {
        const ps = await paths();
        return ps.every((p) => p?.endpoint === RELAY_A) ? ps : undefined;
      },
      Math.max(1000, FAILOVER_MS - (Date.now() - t0)),
      250,
    ).catch(async (e) => {
      throw new Error(`${e}\npeers: ${JSON.stringify(await paths())}${dump()}`);
    });
    assert.equal(q1?.path, 'relay');
    assert.equal(q2?.path, 'relay');
    console.log(`# failover to relay A: HTTP answered ${failoverMs} ms after relay B stopped`);
    assert.ok(
      n1
        .logs()
        .some((l) => l.msg === 'peer moved to another relay' && l.relay === RELAY_A && l.from === RELAY_B),
      'nexd1 logs the move',
    );
    await holder.echo('after-failover', 'echo over relay A');
    holder.assertNeverDropped();
    await holder.stop();
  });

  it(`relay A goes silent (its packets dropped, nothing closed): within ${FAILOVER_MS / 1000} s traffic flows through B again`, async () => {
    const ups = (n: NexdInNs) =>
      n.logs().filter((l) => l.msg === 'relay connected' && l.relay === RELAY_B).length;
    const before = [ups(n1), ups(n2)];
    relayB = startRelayB();
    await waitFor(
      'relay B to listen again',
      () => (/listening on TCP port/.test(relayB.stdout) ? true : undefined),
      20_000,
    );
    // Both clients retry with a backoff of up to 30 s.
    await waitFor(
      'both nexds back on relay B',
      () => (ups(n1) > before[0]! && ups(n2) > before[1]!) || undefined,
      45_000,
    );
    const [p1] = await paths();
    assert.equal(p1?.endpoint, RELAY_A, 'still on A while both are up');
    const t0 = Date.now();
    await silence(RELAY_PORT, true);
    try {
      const body = await waitFor('HTTP through relay B', get, FAILOVER_MS, 250).catch(async (e) => {
        throw new Error(`${e}\npeers: ${JSON.stringify(await paths())}${dump()}`);
      });
      assert.equal(body, 'two-relays');
      console.log(`# failover to relay B: HTTP answered ${Date.now() - t0} ms after relay A went silent`);
      const ps = await paths();
      assert.deepEqual(
        ps.map((p) => p?.endpoint),
        [RELAY_B, RELAY_B],
        JSON.stringify(ps),
      );
      assert.ok(
        n1
          .logs()
          .some(
            (l) =>
              l.msg === 'relay connection lost; reconnecting' &&
              l.relay === RELAY_A &&
              /no answer/.test(String(l.reason)),
          ),
        'nexd1 gave relay A up for not answering',
      );
    } finally {
      await silence(RELAY_PORT, false);
    }
  });

  it('UDP unblocked: the direct path takes over from the relay', async () => {
    await blockUdp(nl.sites[0], false);
    await waitFor(
      'the direct path',
      async () => {
        const [p1] = await paths();
        return p1?.path === 'direct' ? p1 : undefined;
      },
      90_000,
      500,
    ).catch((e) => {
      throw new Error(`${e}${dump()}`);
    });
    const [p1] = await paths();
    assert.match(String(p1?.endpoint), /^100\.64\.2\.2:\d+$/, 'straight to the other NAT');
    assert.equal(await get(), 'two-relays');
  });
});
