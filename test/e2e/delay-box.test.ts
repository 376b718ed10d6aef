// SPDX-License-Identifier: Apache-2.0
// The demos' underlay impairment (delay-box.ts): a router namespace between a and b delays the UDP it
// forwards without either end noticing anything else (the server sees the client's own address, the client
// gets its answers from the server's), and drops the given fraction.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DelayBox } from './lib/delay-box.js';
import { exec, ip, Lab, waitFor } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';

const skip = rootSkipReason(['ip', 'iptables', 'python3']);

/** Answers each datagram with "<sender address>:<port>". */
const WHO_SERVER = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(r.address+':'+r.port,r.port,r.address));s.bind(7000,()=>console.log('ready'));`;

/** Sends `count` requests one after another; prints {rtts, replies, from} as JSON. */
const CLIENT = `
const [dst, count, timeout] = process.argv.slice(1);
const s = require('dgram').createSocket('udp4');
const rtts = []; const replies = new Set(); const from = new Set(); let i = 0; let t0 = 0; let timer;
const next = () => {
  if (i++ >= Number(count)) { console.log(JSON.stringify({ rtts, replies: [...replies], from: [...from] })); process.exit(0); }
  t0 = performance.now(); s.send('x', 7000, dst); timer = setTimeout(next, Number(timeout));
};
s.on('message', (m, r) => { clearTimeout(timer); rtts.push(performance.now() - t0); replies.add(String(m)); from.add(r.address + ':' + r.port); next(); });
s.bind(40000, next);
`;

/** The median: one slow round trip on a busy machine is no evidence of a delay. */
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

describe('DelayBox: a transparent UDP delay and loss in a router namespace', {
  skip,
  timeout: 60_000,
}, () => {
  let lab: Lab;
  let a: string;
  let b: string;
  let router: string;

  before(async () => {
    lab = await Lab.create('dbx');
    [a, b, router] = [await lab.netns('a'), await lab.netns('b'), await lab.netns('r')];
    await lab.veth({ ns: a, addrs: ['10.77.1.2/24'] }, { ns: router, addrs: ['10.77.1.1/24'] });
    await lab.veth({ ns: b, addrs: ['10.77.2.2/24'] }, { ns: router, addrs: ['10.77.2.1/24'] });
    await ip(a, ['route', 'add', 'default', 'via', '10.77.1.1']);
    await ip(b, ['route', 'add', 'default', 'via', '10.77.2.1']);
    await exec(router, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    const server = lab.spawn(b, process.execPath, ['-e', WHO_SERVER]);
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (server.stdout.includes('ready')) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
  });
  after(() => lab?.cleanup());

  const run = async (count: number, timeoutMs = 1000) =>
    JSON.parse(
      (await exec(a, process.execPath, ['-e', CLIENT, '10.77.2.2', String(count), String(timeoutMs)])).stdout,
    ) as { rtts: number[]; replies: string[]; from: string[] };

  test('20 ms each way: the round trip takes >= 40 ms, and both ends see only each other', async () => {
    const direct = await run(5);
    assert.equal(direct.rtts.length, 5);
    assert.ok(median(direct.rtts) < 20, `direct RTTs ${direct.rtts}`);
    const box = await DelayBox.start(lab, router, { between: ['10.77.1.0/24', '10.77.2.0/24'], delayMs: 20 });
    const delayed = await run(10);
    assert.equal(delayed.rtts.length, 10, 'nothing lost without a loss rate');
    assert.ok(Math.min(...delayed.rtts) >= 40, `delayed RTTs ${delayed.rtts}`);
    assert.ok(Math.max(...delayed.rtts) < 200, `delayed RTTs ${delayed.rtts}`);
    assert.deepEqual(delayed.replies, ['10.77.1.2:40000'], 'the server saw the client itself');
    assert.deepEqual(delayed.from, ['10.77.2.2:7000'], 'the answers came from the server itself');
    await waitFor('the forwarded count', () => (box.forwarded >= 20 ? true : undefined), 5000, 100);
    await box.stop();
    const after = await run(5);
    assert.ok(median(after.rtts) < 20, `RTTs after stop ${after.rtts}`);
  });

  test('a loss rate drops that fraction of the datagrams each way', async () => {
    const box = await DelayBox.start(lab, router, {
      between: ['10.77.1.0/24', '10.77.2.0/24'],
      delayMs: 1,
      lossRate: 0.2,
    });
    try {
      const r = await run(200, 100);
      // Each request survives with 0.8 * 0.8 = 0.64: 128 of 200 expected (sd 6.8); a wide band.
      assert.ok(r.rtts.length > 95 && r.rtts.length < 165, `${r.rtts.length} of 200 answered`);
    } finally {
      await box.stop();
    }
  });
});
