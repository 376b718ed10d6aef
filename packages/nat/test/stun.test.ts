// SPDX-License-Identifier: Apache-2.0
// STUN codec (RFC 8489) and responder: a known-answer vector from RFC 5769, round trips, the client's
// matching rules, fuzzing (never throws) and the UDP server under random bytes.
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  answerBinding,
  BINDING_ERROR,
  BINDING_REQUEST,
  BINDING_SUCCESS,
  classifyNat,
  createBindingRequest,
  createBindingSuccess,
  errorCode,
  formatAddress,
  looksLikeStun,
  mappedAddress,
  parseAddress,
  parseStun,
  StunClient,
  StunServer,
} from '../src/index.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// RFC 5769 section 2.2, "Sample IPv4 Response" (with MESSAGE-INTEGRITY and FINGERPRINT).
const RFC5769_IPV4_RESPONSE = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);

describe('stun message', () => {
  it('RFC 5769 IPv4 response: fingerprint verifies, XOR-MAPPED-ADDRESS is 192.0.2.1:32853', () => {
    const m = parseStun(RFC5769_IPV4_RESPONSE);
    assert.ok(typeof m !== 'string', `parse failed: ${m}`);
    assert.equal(m.type, BINDING_SUCCESS);
    assert.deepEqual(mappedAddress(m), { address: '192.0.2.1', port: 32853 });
    assert.ok(looksLikeStun(RFC5769_IPV4_RESPONSE));
  });

  it('a flipped bit under the fingerprint is rejected', () => {
    const bad = Uint8Array.from(RFC5769_IPV4_RESPONSE);
    bad[30] ^= 1;
    assert.equal(parseStun(bad), 'bad-fingerprint');
  });

  it('binding request round trip: type, transaction id, fingerprint', () => {
    const tid = hex('0102030405060708090a0b0c');
    const req = createBindingRequest(tid);
    assert.equal(req.length, 28);
    const m = parseStun(req);
    assert.ok(typeof m !== 'string');
    assert.equal(m.type, BINDING_REQUEST);
    assert.deepEqual([...m.transactionId], [...tid]);
  });

  it('success response round trip for IPv4 and IPv6 addresses', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.ipV4(), fc.ipV6()),
        fc.integer({ min: 0, max: 65535 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        (ip, port, tid) => {
          const r = createBindingSuccess(tid, { address: ip, port });
          assert.ok(r);
          const m = parseStun(r);
          assert.ok(typeof m !== 'string');
          const got = mappedAddress(m)!;
          assert.equal(got.port, port);
          assert.deepEqual(parseAddress(got.address), parseAddress(ip));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('address text: IPv4-mapped IPv6 becomes IPv4, IPv6 is written compressed', () => {
    assert.equal(formatAddress(parseAddress('::ffff:198.51.100.7')!), '198.51.100.7');
    assert.equal(formatAddress(parseAddress('2001:db8:0:0:0:0:0:1')!), '2001:db8::1');
    assert.equal(formatAddress(parseAddress('64:ff9b::192.0.2.1')!), '64:ff9b::c000:201');
    assert.equal(parseAddress('fe80::1%eth0'), undefined);
    assert.equal(parseAddress('example.com'), undefined);
  });

  it('WireGuard messages are never taken for STUN (type 1-4, three zero bytes, random index)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.uint8Array({ minLength: 28, maxLength: 200 }),
        (t, rest) => {
          const msg = Uint8Array.from(rest);
          msg[0] = t;
          msg[1] = msg[2] = msg[3] = 0;
          assert.equal(looksLikeStun(msg), false);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('stun responder', () => {
  it('answers a Binding request with the source as XOR-MAPPED-ADDRESS', () => {
    const req = createBindingRequest(hex('aabbccddeeff001122334455'));
    const v = answerBinding(req, { address: '203.0.113.9', port: 40001 });
    assert.equal(v.kind, 'answer');
    const m = parseStun((v as { response: Uint8Array }).response);
    assert.ok(typeof m !== 'string');
    assert.equal(m.type, BINDING_SUCCESS);
    assert.deepEqual([...m.transactionId], [...hex('aabbccddeeff001122334455')]);
    assert.deepEqual(mappedAddress(m), { address: '203.0.113.9', port: 40001 });
  });

  it('a request with an unknown comprehension-required attribute gets 420 (RFC 8489 6.3.1)', () => {
    // Binding request with attribute 0x7777 (4 bytes) and no fingerprint.
    const req = hex('0001 0008 2112a442 000102030405060708090a0b 7777 0004 deadbeef');
    const v = answerBinding(req, { address: '10.0.0.1', port: 1 });
    assert.equal(v.kind, 'answer');
    const m = parseStun((v as { response: Uint8Array }).response);
    assert.ok(typeof m !== 'string');
    assert.equal(m.type, BINDING_ERROR);
    assert.equal(errorCode(m), 420);
  });

  it('responses and garbage get no answer', () => {
    assert.deepEqual(answerBinding(RFC5769_IPV4_RESPONSE, { address: '10.0.0.1', port: 1 }), {
      kind: 'drop',
      reason: 'not-a-request',
    });
    assert.equal(answerBinding(new Uint8Array(3), { address: '10.0.0.1', port: 1 }).kind, 'drop');
  });

  it('fuzz: random bytes and mutated requests never throw', () => {
    const base = createBindingRequest(hex('000102030405060708090a0b'));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1600 }),
          fc
            .array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })
            .map((edits) => {
              const m = Uint8Array.from(base);
              for (const [i, v] of edits) m[i] = v;
              return m;
            }),
          fc.uint8Array({ minLength: 0, maxLength: 80 }).map((tail) => {
            // A valid header with a random body of a matching length.
            const m = new Uint8Array(20 + tail.length - (tail.length % 4));
            m.set(base.subarray(0, 20));
            m.set(tail.subarray(0, m.length - 20), 20);
            m[2] = ((m.length - 20) >> 8) & 0xff;
            m[3] = (m.length - 20) & 0xff;
            return m;
          }),
        ),
        (buf) => {
          parseStun(buf);
          looksLikeStun(buf);
          answerBinding(buf, { address: '192.0.2.1', port: 9 });
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('stun client', () => {
  it('matches responses by transaction id and source; retransmits until answered', async () => {
    const sent: { data: Uint8Array; to: { address: string; port: number } }[] = [];
    const timers: (() => void)[] = [];
    const c = new StunClient({
      send: (data, to) => sent.push({ data, to }),
      random: (b) => randomFillSync(b),
      timers: { setTimeout: (fn) => timers.push(fn), clearTimeout: () => {} },
    });
    const server = { address: '192.0.2.10', port: 3478 };
    const p = c.query(server);
    assert.equal(sent.length, 1);
    timers.shift()!(); // RTO: retransmitted
    assert.equal(sent.length, 2);
    const req = parseStun(sent[0].data);
    assert.ok(typeof req !== 'string');
    const resp = createBindingSuccess(req.transactionId, { address: '198.51.100.4', port: 61000 })!;
    assert.equal(c.handle(resp, { address: '192.0.2.99', port: 3478 }), false, 'wrong source');
    const other = createBindingSuccess(hex('ffffffffffffffffffffffff'), { address: '1.1.1.1', port: 1 })!;
    assert.equal(c.handle(other, server), false, 'unknown transaction');
    assert.equal(c.handle(resp, server), true);
    assert.deepEqual(await p, { address: '198.51.100.4', port: 61000 });
  });

  it('gives up after its attempts', async () => {
    const timers: (() => void)[] = [];
    const c = new StunClient({
      send: () => {},
      random: (b) => randomFillSync(b),
      timers: { setTimeout: (fn) => timers.push(fn), clearTimeout: () => {} },
    });
    const p = c.query({ address: '192.0.2.10', port: 3478 }, 2);
    timers.shift()!();
    timers.shift()!();
    assert.equal(await p, undefined);
  });

  it('classifies: same mapping from two servers is not symmetric, different ports are', () => {
    const a = { address: '198.51.100.4', port: 61000 };
    assert.deepEqual(classifyNat([a, { ...a }]), { reflexive: [a], symmetric: false });
    const b = { address: '198.51.100.4', port: 61001 };
    assert.deepEqual(classifyNat([a, b]), { reflexive: [a, b], symmetric: true });
    assert.deepEqual(classifyNat([a, undefined]), { reflexive: [a], symmetric: undefined });
  });
});

describe('stun server (UDP)', () => {
  it('answers on its port; random bytes do not stop it', async () => {
    const server = await StunServer.listen({ port: 0, host: '127.0.0.1', ipv6: false });
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    try {
      const client = new StunClient({
        send: (data, to) => sock.send(data, to.port, to.address),
        random: (b) => randomFillSync(b),
      });
      sock.on('message', (m, r) => client.handle(m, { address: r.address, port: r.port }));
      for (let i = 0; i < 300; i++)
        sock.send(randomFillSync(new Uint8Array(i % 90)), server.port, '127.0.0.1');
      const got = await client.query({ address: '127.0.0.1', port: server.port });
      assert.deepEqual(got, { address: '127.0.0.1', port: sock.address().port });
      assert.ok(server.counters.malformed + server.counters.ignored > 0, 'random datagrams were counted');
      assert.ok(server.counters.answered >= 1);
    } finally {
      sock.close();
      await server.close();
    }
  });
});
