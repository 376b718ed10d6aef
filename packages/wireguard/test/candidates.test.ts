// SPDX-License-Identifier: Apache-2.0
// Candidate endpoints: initiations go to the endpoint and every candidate, the path that answers becomes
// the endpoint (roaming), and probe() re-tries every path while a session runs (a direct path taking
// over from a relay) without losing data.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ipv4Packet, memoryPair } from '../src/testing/memory-bind.js';
import { send, T0 } from './helpers.js';

const DEAD = { address: '198.51.100.99', port: 4000 };
/** How each side addresses the other through a relay: the relay delivers with its own placeholder as source. */
const RELAY_A = { address: '127.3.3.40', port: 1 };
const RELAY_B = { address: '127.3.3.40', port: 2 };

describe('candidate endpoints', () => {
  test('an initiation goes to every candidate; the one that answers becomes the endpoint', () => {
    const p = memoryPair({ bothEndpoints: false });
    p.a.updatePeer({ publicKey: p.keyB, endpoint: DEAD, candidates: [DEAD, p.endpointB] });
    assert.equal(send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 80), T0), 'queued');
    const firstTargets = p.net.log.filter((d) => d.data[0] === 1).map((d) => `${d.to.address}:${d.to.port}`);
    assert.deepEqual(firstTargets, ['198.51.100.99:4000', '192.0.2.2:51820'], 'once each, no duplicate');
    p.net.deliver(T0);
    assert.deepEqual(p.a.status()[0].endpoint, p.endpointB);
    assert.equal(p.deliveredB.length, 1, 'the staged packet went over the path that answered');
  });

  test('probe(): a better path answers and takes over; the session keeps delivering', () => {
    const p = memoryPair({ bothEndpoints: false });
    // Both sides start on a relay path: what goes to RELAY_B reaches B as from RELAY_A and back.
    p.net.attach(RELAY_B, { receiveDatagram: (d, _f, now) => p.b.receiveDatagram(d, RELAY_A, now) });
    p.net.attach(RELAY_A, { receiveDatagram: (d, _f, now) => p.a.receiveDatagram(d, RELAY_B, now) });
    p.a.updatePeer({ publicKey: p.keyB, endpoint: RELAY_B, candidates: [RELAY_B] });
    send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 80), T0);
    p.net.deliver(T0);
    assert.deepEqual(p.a.status()[0].endpoint, RELAY_B);
    assert.deepEqual(p.b.status()[0].endpoint, RELAY_A);
    // The direct path becomes known: probing sends the initiation both ways; the direct copy arrives
    // first (the relay is the slower path: its copy is moved behind), and its response comes back direct.
    p.a.updatePeer({ publicKey: p.keyB, candidates: [p.endpointB, RELAY_B] });
    const t1 = T0 + 10_000;
    p.a.probe(p.keyB, t1);
    assert.equal(p.net.queue.length, 2);
    p.net.queue.sort((x, y) => Number(x.to.port === RELAY_B.port) - Number(y.to.port === RELAY_B.port));
    p.net.deliver(t1);
    assert.deepEqual(p.a.status()[0].endpoint, p.endpointB, 'A moved to the direct path');
    assert.equal(send(p, 'a', ipv4Packet('10.0.0.1', '10.0.0.2', 90), t1 + 1), 'sent');
    p.net.deliver(t1 + 1);
    assert.equal(p.deliveredB.length, 2);
    assert.deepEqual(p.b.status()[0].endpoint, p.endpointA, 'B followed: direct both ways');
  });
});
