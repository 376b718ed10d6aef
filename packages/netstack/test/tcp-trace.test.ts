// SPDX-License-Identifier: Apache-2.0
// TCP state machine, one segment at a time: per state, the peer sends a segment and we expect the exact
// segments the core answers with (RFC 9293 3.10.7 unless another RFC is quoted).
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import type { TcpSocket, TcpState } from '../src/index.js';
import {
  established,
  Harness,
  LOCAL,
  LOCAL_PORT,
  PEER,
  PEER_ISS,
  PEER_PORT,
  sameState,
  synReceived,
} from './trace-helpers.js';

const MSS = 1420 - 40;

describe('listen', () => {
  it('listen: SYN gets SYN-ACK with our MSS (MTU 1420 - 40), SACK-permitted, ack = SEG.SEQ + 1', () => {
    const { h, sock, listener } = synReceived();
    assert.equal(sock.state, 'syn-received');
    assert.equal(listener.halfOpen, 1);
    h.expectNothing();
  });

  it('listen: SYN-ACK carries exactly the options offered (window scale only if the peer sent it)', () => {
    const h = new Harness({ windowScaling: true, recvBufferSize: 256 * 1024 });
    h.iface.tcpListen(LOCAL_PORT);
    h.send({ flags: 'SYN', seq: 1, mss: 1460, ws: 7 });
    h.expectSent([{ flags: 'SYN|ACK', ack: 2, mss: MSS, ws: 3, sackPerm: false, win: 65535 }]);
    h.send({ flags: 'SYN', seq: 1, mss: 1460, srcPort: 50000 });
    h.expectSent([{ flags: 'SYN|ACK', ack: 2, ws: -1 }]);
  });

  it('listen: an ACK without a connection gets <SEQ=SEG.ACK><CTL=RST>', () => {
    const h = new Harness();
    h.iface.tcpListen(LOCAL_PORT);
    h.send({ flags: 'ACK', seq: 5, ack: 777 });
    h.expectSent([{ flags: 'RST', seq: 777 }]);
  });

  it('listen: a RST is ignored', () => {
    const h = new Harness();
    h.iface.tcpListen(LOCAL_PORT);
    h.send({ flags: 'RST', seq: 5 });
    h.expectNothing();
  });

  it('closed port: SYN gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>', () => {
    const h = new Harness();
    h.send({ flags: 'SYN', seq: 99 });
    h.expectSent([{ flags: 'RST|ACK', seq: 0, ack: 100 }]);
    assert.equal(h.iface.stats().drops.noSocket, 1);
  });

  it('listen: backlog full refuses the SYN with RST, existing half-open untouched', () => {
    const { h, listener } = synReceived({}, { backlog: 1 });
    h.send({ flags: 'SYN', seq: 7, srcPort: 50001 });
    h.expectSent([{ flags: 'RST|ACK', ack: 8 }]);
    assert.equal(listener.halfOpen, 1);
    assert.equal(h.iface.stats().drops.backlog, 1);
  });
});

describe('syn-received', () => {
  it('syn-received: ACK of our SYN enters ESTABLISHED and the listener can accept', () => {
    const { h, iss, listener } = synReceived();
    h.send({ flags: 'ACK', seq: PEER_ISS + 1, ack: iss + 1 });
    h.expectNothing();
    const s = listener.accept() as TcpSocket;
    sameState(s, {
      state: 'established',
      sndUna: iss + 1,
      rcvNxt: PEER_ISS + 1,
      mss: MSS,
      sackEnabled: true,
    });
    assert.equal(listener.halfOpen, 0);
  });

  it('syn-received: RST returns to LISTEN (the half-open connection disappears silently)', () => {
    const { h, sock, listener } = synReceived();
    h.send({ flags: 'RST', seq: PEER_ISS + 1 });
    h.expectNothing();
    assert.equal(sock.state, 'closed');
    assert.equal(sock.error, undefined);
    assert.equal(listener.halfOpen, 0);
  });

  it('syn-received: a retransmitted SYN gets the SYN-ACK again', () => {
    const { h, iss } = synReceived();
    h.send({ flags: 'SYN', seq: PEER_ISS, mss: 1460 });
    h.expectSent([{ flags: 'SYN|ACK', seq: iss, ack: PEER_ISS + 1 }]);
  });

  it('syn-received: an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>', () => {
    const { h, iss, sock } = synReceived();
    h.send({ flags: 'ACK', seq: PEER_ISS + 1, ack: iss + 50 });
    h.expectSent([{ flags: 'RST', seq: iss + 50 }]);
    assert.equal(sock.state, 'syn-received');
  });

  it('syn-received: SYN-ACK retransmitted with backoff, then the half-open connection times out', () => {
    const { h, iss, sock, listener } = synReceived({ synAckRetries: 2 });
    h.expectNothing(999);
    h.expectSent([{ flags: 'SYN|ACK', seq: iss }], 1000);
    h.expectNothing(2999);
    h.expectSent([{ flags: 'SYN|ACK', seq: iss }], 3000);
    h.expectNothing(7000);
    assert.equal(sock.state, 'closed');
    assert.equal(listener.halfOpen, 0);
  });
});

describe('syn-sent', () => {
  function synSent(tcp = {}) {
    const h = new Harness(tcp);
    const s = h.iface.tcpConnect(PEER, PEER_PORT, 0, LOCAL, LOCAL_PORT) as TcpSocket;
    const [syn] = h.expectSent([{ flags: 'SYN', ack: 0, mss: MSS, sackPerm: true, win: 32768 }]);
    return { h, s, iss: syn.seq };
  }

  it('syn-sent: SYN-ACK gets ACK and enters ESTABLISHED', () => {
    const { h, s, iss } = synSent();
    h.send({ flags: 'SYN|ACK', seq: 5000, ack: iss + 1, mss: 1200 });
    h.expectSent([{ flags: 'ACK', seq: iss + 1, ack: 5001 }]);
    sameState(s, { state: 'established', mss: 1200, rcvNxt: 5001, sndUna: iss + 1 });
  });

  it('syn-sent: RST acknowledging our SYN means ECONNREFUSED', () => {
    const { h, s, iss } = synSent();
    h.send({ flags: 'RST|ACK', seq: 0, ack: iss + 1 });
    h.expectNothing();
    sameState(s, { state: 'closed', error: 'ECONNREFUSED' });
  });

  it('syn-sent: RST without ACK is ignored (RFC 5961 3.2)', () => {
    const { h, s } = synSent();
    h.send({ flags: 'RST', seq: 0 });
    h.expectNothing();
    assert.equal(s.state, 'syn-sent');
  });

  it('syn-sent: an ACK for something we never sent gets <SEQ=SEG.ACK><CTL=RST>', () => {
    const { h, s, iss } = synSent();
    h.send({ flags: 'SYN|ACK', seq: 5000, ack: iss + 9 });
    h.expectSent([{ flags: 'RST', seq: iss + 9 }]);
    assert.equal(s.state, 'syn-sent');
  });

  it('syn-sent: SYN alone (simultaneous open) goes to SYN-RECEIVED with a SYN-ACK', () => {
    const { h, s, iss } = synSent();
    h.send({ flags: 'SYN', seq: 5000, mss: 1460 });
    h.expectSent([{ flags: 'SYN|ACK', seq: iss, ack: 5001 }]);
    assert.equal(s.state, 'syn-received');
  });

  it('syn-sent: close() before the handshake completes sends FIN once ESTABLISHED (Node end() semantics)', () => {
    const { h, s, iss } = synSent();
    s.close();
    assert.equal(s.state, 'syn-sent');
    h.send({ flags: 'SYN|ACK', seq: 5000, ack: iss + 1 });
    h.expectSent([{ flags: 'FIN|ACK', seq: iss + 1, ack: 5001 }]);
    assert.equal(s.state, 'fin-wait-1');
  });

  it('syn-sent: abort() gives up silently (no RST for an unsynchronized connection)', () => {
    const { h, s } = synSent();
    s.abort();
    h.expectNothing(5000);
    assert.equal(s.state, 'closed');
  });

  it('syn-sent: SYN retransmitted at RTO 1 s, then 2 s later (RFC 6298 5.5), then ETIMEDOUT', () => {
    const { h, s, iss } = synSent({ synRetries: 2 });
    h.expectSent([{ flags: 'SYN', seq: iss }], 1000);
    h.expectNothing(2999);
    h.expectSent([{ flags: 'SYN', seq: iss }], 3000);
    h.expectNothing(7000);
    sameState(s, { state: 'closed', error: 'ETIMEDOUT' });
  });
});

describe('established', () => {
  it('established: one small segment is ACKed after the delayed-ACK time (40 ms)', () => {
    const { h, p, l, sock } = established();
    h.send({ flags: 'PSH|ACK', seq: p, ack: l, data: 'hello' });
    h.expectNothing();
    h.expectSent([{ flags: 'ACK', seq: l, ack: p + 5, win: 32768 - 5 }], 40);
    assert.equal(sock.recvAvailable, 5);
  });

  it('established: every second full-sized segment is ACKed at once (RFC 5681 4.2)', () => {
    const { h, p, l } = established();
    const seg = new Uint8Array(MSS);
    h.send({ flags: 'ACK', seq: p, ack: l, data: seg });
    h.expectNothing();
    h.send({ flags: 'ACK', seq: p + MSS, ack: l, data: seg });
    h.expectSent([{ flags: 'ACK', ack: p + 2 * MSS }]);
  });

  it('established: out-of-order data gets an immediate duplicate ACK with a SACK block; the gap fill ACKs all', () => {
    const { h, p, l, sock } = established();
    h.send({ flags: 'ACK', seq: p + 10, ack: l, data: 'world' });
    h.expectSent([{ flags: 'ACK', ack: p, sack: [[p + 10, p + 15]] }]);
    h.send({ flags: 'ACK', seq: p + 20, ack: l, data: 'again' });
    h.expectSent([
      {
        flags: 'ACK',
        ack: p,
        sack: [
          [p + 20, p + 25],
          [p + 10, p + 15],
        ],
      },
    ]);
    h.send({ flags: 'ACK', seq: p, ack: l, data: '0123456789' });
    h.expectSent([{ flags: 'ACK', ack: p + 15, sack: [[p + 20, p + 25]] }]);
    const buf = new Uint8Array(64);
    const n = sock.recv(buf);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n)), '0123456789world');
  });

  it('established: a duplicate segment is reported as a D-SACK block first (RFC 2883)', () => {
    const { h, p, l } = established();
    h.send({ flags: 'PSH|ACK', seq: p, ack: l, data: 'hello' });
    h.expectSent([{ flags: 'ACK', ack: p + 5, sack: [] }], 40);
    h.send({ flags: 'ACK', seq: p + 10, ack: l, data: 'later' });
    h.expectSent([{ flags: 'ACK', ack: p + 5, sack: [[p + 10, p + 15]] }]);
    h.send({ flags: 'PSH|ACK', seq: p, ack: l, data: 'hello' });
    h.expectSent([
      {
        flags: 'ACK',
        ack: p + 5,
        sack: [
          [p, p + 5],
          [p + 10, p + 15],
        ],
      },
    ]);
    h.send({ flags: 'PSH|ACK', seq: p + 3, ack: l, data: 'lo world' });
    h.expectSent([{ flags: 'ACK', ack: p + 15, sack: [[p + 3, p + 5]] }]);
  });

  it('established: out-of-window data is answered with an ACK and dropped', () => {
    const { h, p, l, sock } = established();
    h.send({ flags: 'ACK', seq: p + 100_000, ack: l, data: 'far' });
    h.expectSent([{ flags: 'ACK', seq: l, ack: p }]);
    assert.equal(sock.recvAvailable, 0);
  });

  it('established: an ACK of data never sent is answered with an ACK and dropped', () => {
    const { h, p, l, sock } = established();
    h.send({ flags: 'ACK', seq: p, ack: l + 100, data: 'x' });
    h.expectSent([{ flags: 'ACK', seq: l, ack: p }]);
    assert.equal(sock.recvAvailable, 0);
  });

  it('established: RST with SEG.SEQ = RCV.NXT resets (ECONNRESET)', () => {
    const { h, p, sock } = established();
    h.send({ flags: 'RST', seq: p });
    h.expectNothing();
    sameState(sock, { state: 'closed', error: 'ECONNRESET' });
  });

  it('established: in-window RST not at RCV.NXT gets a challenge ACK (RFC 5961 3.2)', () => {
    const { h, p, l, sock } = established();
    h.send({ flags: 'RST', seq: p + 100 });
    h.expectSent([{ flags: 'ACK', seq: l, ack: p }]);
    assert.equal(sock.state, 'established');
  });

  it('established: out-of-window RST is dropped silently', () => {
    const { h, p, sock } = established();
    h.send({ flags: 'RST', seq: p + 1_000_000 });
    h.expectNothing();
    assert.equal(sock.state, 'established');
  });

  it('established: SYN gets a challenge ACK (RFC 5961 4.2) and changes nothing', () => {
    const { h, p, l, sock } = established();
    h.send({ flags: 'SYN', seq: p + 5 });
    h.expectSent([{ flags: 'ACK', seq: l, ack: p }]);
    assert.equal(sock.state, 'established');
  });

  it('established: data is retransmitted at RTO, then after twice the RTO (RFC 6298 5.5)', () => {
    const { h, l, p, sock } = established();
    sock.send(new TextEncoder().encode('abc'));
    h.expectSent([{ flags: 'PSH|ACK', seq: l, len: 3, data: 'abc' }]);
    h.expectNothing(999);
    h.expectSent([{ flags: 'PSH|ACK', seq: l, len: 3 }], 1000);
    h.expectNothing(2999);
    h.expectSent([{ flags: 'PSH|ACK', seq: l, len: 3 }], 3000);
    h.send({ flags: 'ACK', seq: p, ack: l + 3 }, 3001);
    h.expectNothing(10_000);
    assert.equal(sock.counters.rtos, 2);
  });

  it('established: a lost tail is probed after PTO = 2*SRTT (+ ACK delay for one segment), before the RTO (RFC 8985 7)', () => {
    const { h, l, p, sock } = established();
    const enc = (t: string) => new TextEncoder().encode(t);
    sock.send(enc('abc'));
    h.expectSent([{ seq: l, data: 'abc' }], 0);
    h.send({ flags: 'ACK', seq: p, ack: l + 3 }, 10); // RTT sample: 10 ms
    sock.send(enc('def'));
    h.expectSent([{ seq: l + 3, data: 'def' }], 10);
    assert.equal(sock.timer.kind, 'tail-loss-probe');
    h.expectNothing(69);
    h.expectSent([{ seq: l + 3, data: 'def' }], 70); // 10 + max(2*10, 10) + 40
    assert.equal(sock.timer.kind, 'retransmit', 'the RTO stands behind the probe');
    h.expectNothing(269);
    h.expectSent([{ seq: l + 3, data: 'def' }], 270);
    assert.equal(sock.counters.rtos, 1);
  });

  it('established: three duplicate ACKs trigger fast retransmit of the first unacknowledged segment', () => {
    const { h, l, p, sock } = established();
    sock.send(new Uint8Array(5 * MSS));
    const sent = h.poll();
    assert.equal(sent.length, 5);
    for (let i = 0; i < 3; i++) {
      h.send({ flags: 'ACK', seq: p, ack: l, sack: [[l + MSS, l + (i + 2) * MSS]] }, 1 + i);
      if (i < 2) h.expectNothing();
    }
    h.expectSent([{ seq: l, len: MSS }]);
    assert.equal(sock.inRecovery, true);
    assert.equal(sock.counters.recoveries, 1);
  });

  it('established: in slow start a stretch ACK of 10 segments opens cwnd by 10 segments, not 2 (no RFC 3465 L cap)', () => {
    // A receiver that batches its input (Linux GRO; nexd's one ACK per event-loop turn) acknowledges
    // a whole burst at once. Counting all of it, as Linux does, keeps slow start doubling per RTT.
    const { h, l, p, sock } = established();
    sock.send(new Uint8Array(40 * MSS));
    assert.equal(h.poll().length, 10, 'initial window: 10 segments (RFC 6928)');
    h.send({ flags: 'ACK', seq: p, ack: l + 10 * MSS, win: 65535 }, 1);
    assert.equal(h.poll().length, 20, 'cwnd 20 segments after the stretch ACK');
    assert.equal(sock.cc.cwnd, 20 * MSS);
  });

  it('established: after an RTO, a cumulative ACK over the whole old flight opens cwnd by one segment, not a burst', () => {
    // RFC 3465 2.3: while the flight outstanding at the RTO is repaired, at most one SMSS per ACK.
    const { h, l, p, sock } = established();
    sock.send(new Uint8Array(40 * MSS));
    assert.equal(h.poll().length, 10);
    const rto = h.poll(1000);
    assert.deepEqual(
      rto.map((o) => o.seq),
      [l],
      'the RTO resends the first segment only (cwnd 1)',
    );
    assert.equal(sock.counters.rtos, 1);
    h.send({ flags: 'ACK', seq: p, ack: l + 10 * MSS, win: 65535 }, 1001);
    assert.equal(h.poll(1001).length, 2, 'cwnd 2 segments: 1 + one SMSS');
  });

  it('established: Nagle holds a second small segment until the first is ACKed; setNoDelay sends it', () => {
    const { h, l, p, sock } = established();
    sock.send(new TextEncoder().encode('a'));
    h.expectSent([{ seq: l, len: 1 }]);
    sock.send(new TextEncoder().encode('b'));
    h.expectNothing();
    h.send({ flags: 'ACK', seq: p, ack: l + 1 }, 5);
    h.expectSent([{ seq: l + 1, len: 1, data: 'b' }]);
    sock.setNoDelay(true);
    sock.send(new TextEncoder().encode('c'));
    h.expectSent([{ seq: l + 2, data: 'c' }]);
    sock.send(new TextEncoder().encode('d'));
    h.expectSent([{ seq: l + 3, data: 'd' }]);
  });

  it('established: zero window: no data, a probe at RTO (seq SND.UNA-1), data once the window opens', () => {
    const { h, l, p, sock } = established();
    h.send({ flags: 'ACK', seq: p, ack: l, win: 0 });
    sock.send(new TextEncoder().encode('queued'));
    h.expectNothing();
    assert.equal(sock.timer.kind, 'zero-window-probe');
    h.expectSent([{ flags: 'ACK', seq: l - 1, len: 0 }], 1000);
    h.send({ flags: 'ACK', seq: p, ack: l, win: 0 }, 1001);
    h.expectNothing(1001);
    h.send({ flags: 'ACK', seq: p, ack: l, win: 100 }, 1500);
    h.expectSent([{ seq: l, data: 'queued' }]);
  });

  it('established: a zero-window probe does not stand in for an ACK we owe (both go out)', () => {
    const { h, l, p, sock } = established();
    h.send({ flags: 'ACK', seq: p, ack: l, win: 0 });
    sock.send(new TextEncoder().encode('queued'));
    h.expectNothing();
    // The peer's data arrives in the same instant the probe timer fires.
    h.send({ flags: 'ACK', seq: p, ack: l, win: 0, data: 'x'.repeat(MSS) }, 1000);
    h.send({ flags: 'PSH|ACK', seq: p + MSS, ack: l, win: 0, data: 'x'.repeat(MSS) }, 1000);
    h.expectSent(
      [
        { flags: 'ACK', seq: l - 1, ack: p + 2 * MSS },
        { flags: 'ACK', seq: l, ack: p + 2 * MSS },
      ],
      1000,
    );
    assert.equal(sock.recvAvailable, 2 * MSS);
  });

  it('established: our window shrinks while the application does not read, and a read announces it', () => {
    const { h, p, l, sock } = established();
    const chunk = new Uint8Array(MSS);
    let seq = p;
    for (let i = 0; i < 23; i++) {
      h.send({ flags: 'ACK', seq, ack: l, data: chunk });
      seq += MSS;
    }
    const acks = h.poll();
    const last = acks[acks.length - 1];
    assert.equal(last.win, 32768 - 23 * MSS);
    h.send({ flags: 'ACK', seq, ack: l, data: chunk.subarray(0, 32768 - 23 * MSS) });
    h.expectSent([{ flags: 'ACK', win: 0 }], 40);
    sock.recv(new Uint8Array(32768));
    h.expectSent([{ flags: 'ACK', win: 32768, ack: p + 32768 }]);
  });

  it('established: keepalive probes after the idle time; unanswered probes end in ETIMEDOUT', () => {
    const { h, l, p, sock } = established({ keepaliveIntervalMs: 100, keepaliveCount: 2 });
    sock.setKeepAlive(true, 500);
    h.expectNothing();
    h.expectSent([{ flags: 'ACK', seq: l - 1, len: 0 }], 500);
    h.send({ flags: 'ACK', seq: p, ack: l }, 550);
    h.expectNothing(550);
    h.expectSent([{ flags: 'ACK', seq: l - 1 }], 1050);
    h.expectSent([{ flags: 'ACK', seq: l - 1 }], 1150);
    h.expectNothing(1250);
    sameState(sock, { state: 'closed', error: 'ETIMEDOUT' });
  });
});

describe('closing states', () => {
  it('established: FIN -> ACK and CLOSE-WAIT; close() -> FIN and LAST-ACK; ACK -> CLOSED', () => {
    const { h, p, l, sock } = established();
    h.send({ flags: 'FIN|ACK', seq: p, ack: l });
    h.expectSent([{ flags: 'ACK', seq: l, ack: p + 1 }]);
    sameState(sock, { state: 'close-wait', rxEnded: true });
    sock.send(new TextEncoder().encode('bye')); // half-close: we may still send
    sock.close();
    h.expectSent([{ flags: 'FIN|PSH|ACK', seq: l, len: 3, ack: p + 1 }]);
    assert.equal(sock.state, 'last-ack');
    h.send({ flags: 'ACK', seq: p + 1, ack: l + 4 });
    h.expectNothing();
    sameState(sock, { state: 'closed', error: undefined });
  });

  it('last-ack: the FIN is retransmitted at RTO', () => {
    const { h, p, l, sock } = established();
    h.send({ flags: 'FIN|ACK', seq: p, ack: l });
    h.poll();
    sock.close();
    h.expectSent([{ flags: 'FIN|ACK', seq: l }]);
    h.expectSent([{ flags: 'FIN|ACK', seq: l }], 1000);
  });

  it('close(): FIN-WAIT-1 -> (ACK) FIN-WAIT-2 -> (FIN) TIME-WAIT -> CLOSED after 2*MSL', () => {
    const { h, p, l, sock } = established({ timeWaitMs: 4000 });
    sock.close();
    h.expectSent([{ flags: 'FIN|ACK', seq: l, ack: p }]);
    assert.equal(sock.state, 'fin-wait-1');
    h.send({ flags: 'ACK', seq: p, ack: l + 1 }, 10);
    h.expectNothing();
    assert.equal(sock.state, 'fin-wait-2');
    h.send({ flags: 'PSH|ACK', seq: p, ack: l + 1, data: 'late' }, 20);
    h.expectNothing(20);
    h.send({ flags: 'FIN|ACK', seq: p + 4, ack: l + 1 }, 30);
    h.expectSent([{ flags: 'ACK', seq: l + 1, ack: p + 5 }]);
    assert.equal(sock.state, 'time-wait');
    assert.equal(sock.recvAvailable, 4, 'data received in FIN-WAIT-2 is readable');
    h.send({ flags: 'FIN|ACK', seq: p + 4, ack: l + 1 }, 1000);
    h.expectSent([{ flags: 'ACK', ack: p + 5 }], 1000);
    h.expectNothing(4999);
    assert.equal(sock.state, 'time-wait', 'a retransmitted FIN restarted the 2*MSL timer');
    h.expectNothing(5000);
    assert.equal(sock.state, 'closed');
    assert.equal(h.iface.stats().tcp.timeWait, 0);
  });

  it('fin-wait-1: FIN before our FIN is ACKed -> CLOSING -> (ACK) TIME-WAIT', () => {
    const { h, p, l, sock } = established();
    sock.close();
    h.poll();
    h.send({ flags: 'FIN|ACK', seq: p, ack: l });
    h.expectSent([{ flags: 'ACK', ack: p + 1 }]);
    assert.equal(sock.state, 'closing');
    h.send({ flags: 'ACK', seq: p + 1, ack: l + 1 });
    assert.equal(sock.state, 'time-wait');
  });

  it('fin-wait-1: FIN+ACK of our FIN together go straight to TIME-WAIT', () => {
    const { h, p, l, sock } = established();
    sock.close();
    h.poll();
    h.send({ flags: 'FIN|ACK', seq: p, ack: l + 1 });
    h.expectSent([{ flags: 'ACK', ack: p + 1 }]);
    assert.equal(sock.state, 'time-wait');
  });

  it('closing / last-ack / time-wait: an exact RST closes without error', () => {
    const { h, p, l, sock } = established();
    sock.close();
    h.poll();
    h.send({ flags: 'FIN|ACK', seq: p, ack: l });
    h.poll();
    assert.equal(sock.state, 'closing');
    h.send({ flags: 'RST', seq: p + 1 });
    sameState(sock, { state: 'closed', error: undefined });
  });

  it('time-wait: a new SYN with a higher sequence number reopens the 4-tuple (RFC 6191)', () => {
    const { h, p, l, sock, listener } = established();
    sock.close();
    h.poll();
    h.send({ flags: 'FIN|ACK', seq: p, ack: l + 1 });
    h.poll();
    assert.equal(sock.state, 'time-wait');
    h.send({ flags: 'SYN', seq: p + 100_000, mss: 1460 });
    h.expectSent([{ flags: 'SYN|ACK', ack: p + 100_001 }]);
    assert.equal(sock.state, 'closed');
    assert.equal(listener.halfOpen, 1);
  });

  it('abort(): RST with SND.NXT and RCV.NXT, then CLOSED', () => {
    const { h, p, l, sock } = established();
    sock.abort();
    h.expectSent([{ flags: 'RST|ACK', seq: l, ack: p }]);
    assert.equal(sock.state, 'closed');
  });
});

describe('observability', () => {
  it("every transition is published on 'netstack:tcp:state' as from => to", () => {
    const seen: string[] = [];
    const onState = (m: unknown) => {
      const { from, to } = m as { from: TcpState; to: TcpState };
      seen.push(`${from}=>${to}`);
    };
    subscribe('netstack:tcp:state', onState);
    try {
      const { h, p, l, sock } = established();
      sock.close();
      h.poll();
      h.send({ flags: 'FIN|ACK', seq: p, ack: l + 1 });
      h.poll();
    } finally {
      unsubscribe('netstack:tcp:state', onState);
    }
    assert.deepEqual(seen, [
      'closed=>syn-received',
      'syn-received=>established',
      'established=>fin-wait-1',
      'fin-wait-1=>fin-wait-2', // a FIN that also ACKs our FIN: the ACK is processed first (RFC 9293 3.10.7.4)
      'fin-wait-2=>time-wait',
    ]);
  });
});
