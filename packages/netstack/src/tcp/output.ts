// SPDX-License-Identifier: Apache-2.0
// Segment output for one socket (smoltcp's `dispatch`). The interface calls dispatch() from poll() for each
// dirty or expired socket. Numbered flow:
//   1. SYN or SYN-ACK while the handshake is incomplete (also after an RTO pulled SND.NXT back to ISS).
//   2. A probe (keepalive or zero-window): seq SND.UNA-1, no data, which the peer must ACK (RFC 9293 3.8.4).
//   3. In loss recovery: retransmit holes below the highest SACKed byte (RFC 6675 NextSeg rule 1), the first
//      one regardless of cwnd (fast retransmit), the rest while pipe < cwnd.
//   4. New data (or go-back-N after an RTO) within min(peer window, cwnd), Nagle (RFC 9293 3.7.4) and sender
//      SWS avoidance permitting; the FIN rides on the last data segment or goes alone.
//   5. A pure ACK if one is owed and nothing above carried it.
//   6. Arm the retransmit / zero-window-probe / keepalive timer and report the deadline.
import { MAX_SACK_BLOCKS, TcpFlag, type TcpSegment } from '../wire/tcp.js';
import { armLossTimer } from './recovery.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLt, seqMax } from './seq.js';
import { TcpSocket } from './socket.js';
import { armTimer, clearTimer } from './timers.js';

/** Builds and sends the packet for `tx` (filled by us) with payload from sock.sendBuf. */
export interface TcpEmitter {
  readonly tx: TcpSegment;
  /** payloadOff: byte offset from SND.UNA in the send buffer. Copies the payload into the packet. */
  emitTcp(sock: TcpSocket, payloadOff: number, payloadLen: number): void;
}

/** Upper bound of segments one socket sends per poll, so one bulk sender cannot starve the others. */
const MAX_SEGMENTS_PER_DISPATCH = 256;

export function dispatch(sock: TcpSocket, now: number, em: TcpEmitter): void {
  switch (sock.state) {
    case 'closed':
    case 'listen':
      return;
    case 'syn-sent':
    case 'syn-received':
      // 1. Handshake.
      if (sock.sndNxt === sock.iss) {
        const flags = sock.state === 'syn-sent' ? TcpFlag.SYN : TcpFlag.SYN | TcpFlag.ACK;
        emit(sock, em, flags, sock.iss, 0, 0, now);
        sock.sndNxt = seqAdd(sock.iss, 1);
        if (seqGt(sock.sndNxt, sock.sndMax)) sock.sndMax = sock.sndNxt;
        sock.lastSendAt = now;
        if (sock.timer.kind === 'idle') {
          armTimer(sock.timer, sock.state === 'syn-sent' ? 'retransmit' : 'syn-received', now + sock.rtt.rto);
        }
      } else if (sock.ackState === TcpSocket.ACK_NOW && sock.state === 'syn-received') {
        emit(sock, em, TcpFlag.ACK, sock.sndMax, 0, 0, now);
      }
      sock.host.schedule(sock, sock.deadline());
      return;
    case 'time-wait':
      if (sock.ackState !== TcpSocket.ACK_NONE) emit(sock, em, TcpFlag.ACK, sock.sndMax, 0, 0, now);
      sock.host.schedule(sock, sock.deadline());
      return;
    default:
      break;
  }

  // 2. Probe.
  if (sock.probePending) {
    sock.probePending = false;
    // The probe is unacceptable on purpose (it must elicit an ACK), so it cannot stand in for an ACK we owe:
    // keep that one pending for step 5 (else a peer with a zero window never learns what we received).
    emit(sock, em, TcpFlag.ACK, seqAdd(sock.sndUna, -1), 0, 0, now, true);
  }

  let sent = 0;
  if (sock.tlpPending) {
    sock.tlpPending = false;
    if (sendNew(sock, em, now, true) || probeLastSegment(sock, em, now)) sent++;
  }
  while (sent < MAX_SEGMENTS_PER_DISPATCH) {
    if (sock.inRecovery && retransmitHole(sock, em, now)) {
      sent++;
      continue;
    }
    if (sendNew(sock, em, now)) {
      sent++;
      continue;
    }
    break;
  }

  // Hit the per-poll budget: come back in the next poll rather than monopolise this one.
  if (sent >= MAX_SEGMENTS_PER_DISPATCH) sock.host.markDirty(sock);

  // 5. Owed ACK. Its sequence number is SND.MAX, not SND.NXT: after an RTO pulled SND.NXT back (go-back-N),
  // an ACK numbered below what the peer already received would fail its acceptability test, and with it
  // our window update and our acknowledgment (a deadlock once the peer's window is zero).
  if (sock.ackState === TcpSocket.ACK_NOW) emit(sock, em, TcpFlag.ACK, sock.sndMax, 0, 0, now);

  // 6. Timers.
  armTimers(sock, now);
  sock.host.schedule(sock, sock.deadline());
}

/**
 * Payload bytes that fit in one segment now: the MSS less the SACK option we will attach (RFC 2018 leaves
 * the sender to reduce its segment size, as Linux does), so header + payload never exceeds the MTU.
 */
function segmentSize(sock: TcpSocket): number {
  if (!sock.sackEnabled || (sock.assembler.isEmpty() && !sock.dsackPending)) return sock.mss;
  const max = sock.tsEnabled ? MAX_SACK_BLOCKS - 1 : MAX_SACK_BLOCKS;
  return sock.mss - 4 - 8 * Math.min(sock.assembler.count + (sock.dsackPending ? 1 : 0), max);
}

/** RFC 6675 "pipe": bytes believed in the network. */
export function pipe(sock: TcpSocket): number {
  const outstanding = seqDiff(sock.sndNxt, sock.sndUna);
  if (!sock.inRecovery) {
    return sock.scoreboard.sacked === 0
      ? outstanding
      : sock.scoreboard.holesBetween(sock.sndUna, sock.sndNxt);
  }
  let sacked: number;
  let lost: number;
  const from = seqMax(sock.highRxt, sock.sndUna);
  if (sock.sackEnabled) {
    sacked = sock.scoreboard.sacked;
    lost = sock.scoreboard.holesBetween(from, sock.scoreboard.highSack ?? sock.sndUna);
  } else {
    // NewReno without SACK: each duplicate ACK means one segment left the network (RFC 5681 3.2 step 4).
    sacked = Math.min(sock.dupAcks * sock.mss, outstanding);
    lost = Math.max(0, seqDiff(sock.rxtEnd, from));
  }
  return Math.max(0, outstanding - sacked - lost);
}

/** 3. One retransmission inside recovery; false when there is no hole to fill or cwnd forbids it. */
function retransmitHole(sock: TcpSocket, em: TcpEmitter, now: number): boolean {
  let s = seqMax(sock.highRxt, sock.sndUna);
  let end: number;
  if (sock.sackEnabled) {
    s = sock.scoreboard.skipSacked(s);
    end = sock.scoreboard.highSack ?? sock.sndUna;
  } else {
    end = sock.rxtEnd;
  }
  if (!seqLt(s, end)) return false;
  if (!sock.fastRetransmitPending && pipe(sock) >= sock.cc.cwnd) return false;
  const holeEnd = sock.sackEnabled ? sock.scoreboard.nextSackedAfter(s, end) : end;
  const off = seqDiff(s, sock.sndUna);
  let len = Math.min(segmentSize(sock), seqDiff(holeEnd, s), sock.sendBuf.length - off);
  let flags = TcpFlag.ACK;
  if (len <= 0) {
    // Nothing but our FIN is left in the hole.
    if (!(sock.finQueued && s === sock.finSeq)) return false;
    len = 0;
  }
  if (sock.finQueued && seqAdd(s, len) === sock.finSeq && seqGt(sock.sndMax, sock.finSeq))
    flags |= TcpFlag.FIN;
  if (len > 0) flags |= TcpFlag.PSH;
  emit(sock, em, flags, s, off, len, now);
  sock.counters.retransmitted++;
  if (!sock.rxtRoundActive) {
    sock.rxtRoundActive = true;
    sock.rxtRoundSeq = s;
    sock.rxtRoundMark = sock.sndMax;
    sock.rxtRoundAt = now;
  }
  sock.highRxt = seqAdd(s, len + (flags & TcpFlag.FIN ? 1 : 0));
  sock.fastRetransmitPending = false;
  if (sock.timer.kind !== 'retransmit') armTimer(sock.timer, 'retransmit', now + sock.rtt.rto);
  return true;
}

/** RFC 8985 7.3: with no new data to probe with, resend the last segment (and the FIN if it was sent). */
function probeLastSegment(sock: TcpSocket, em: TcpEmitter, now: number): boolean {
  const finSent = sock.finQueued && seqGt(sock.sndMax, sock.finSeq);
  const dataEnd = finSent ? sock.finSeq : sock.sndMax;
  const len = Math.max(0, Math.min(segmentSize(sock), seqDiff(dataEnd, sock.sndUna)));
  if (len === 0 && !finSent) return false;
  const s = seqAdd(dataEnd, -len);
  let flags = TcpFlag.ACK;
  if (len > 0) flags |= TcpFlag.PSH;
  if (finSent) flags |= TcpFlag.FIN;
  emit(sock, em, flags, s, seqDiff(s, sock.sndUna), len, now);
  sock.counters.retransmitted++;
  return true;
}

/** 4. One segment from SND.NXT (`probe`: past cwnd, as a TLP); false when nothing may be sent now. */
function sendNew(sock: TcpSocket, em: TcpEmitter, now: number, probe = false): boolean {
  // Resending after an RTO: skip ranges the receiver SACKed.
  if (sock.scoreboard.sacked > 0 && seqLt(sock.sndNxt, sock.sndMax)) {
    sock.sndNxt = sock.scoreboard.skipSacked(sock.sndNxt);
  }
  const s = sock.sndNxt;
  const off = seqDiff(s, sock.sndUna);
  const avail = sock.sendBuf.length - off;
  const finQueued = sock.finQueued;
  if (avail <= 0) {
    // Only the FIN may be left (it needs no window: it carries no data).
    if (finQueued && s === sock.finSeq) {
      emit(sock, em, TcpFlag.ACK | TcpFlag.FIN, s, off, 0, now);
      advance(sock, s, 1, now);
      return true;
    }
    return false;
  }
  const inFlight = seqDiff(sock.sndMax, sock.sndUna);
  const wndRemain = seqDiff(seqAdd(sock.sndUna, sock.sndWnd), s);
  if (wndRemain <= 0) return false;
  if (pipe(sock) >= sock.cc.cwnd && !probe) {
    // RFC 3042 limited transmit: one new segment for each of the first two duplicate ACKs.
    if (sock.inRecovery || sock.dupAcks === 0 || sock.limitedTransmits >= Math.min(sock.dupAcks, 2))
      return false;
    if (!seqGe(s, sock.sndMax)) return false;
    sock.limitedTransmits++;
  }
  const size = segmentSize(sock);
  let len = Math.min(size, avail, wndRemain);
  if (sock.scoreboard.sacked > 0 && seqLt(s, sock.sndMax)) {
    len = Math.min(len, seqDiff(sock.scoreboard.nextSackedAfter(s, sock.sndMax), s));
  }
  const lastData = len === avail;
  // Only new data is subject to SWS avoidance and Nagle; a resend after an RTO goes out whatever its size
  // (a small hole below a SACKed range would otherwise never be repaired).
  if (len < size && inFlight > 0 && !seqLt(s, sock.sndMax)) {
    // Sender SWS avoidance (RFC 9293 3.8.6.2.1): don't send a window-limited runt while data is in flight.
    if (!lastData) return false;
    // Nagle (RFC 9293 3.7.4): one small segment outstanding at a time, unless disabled or closing.
    if (!sock.noDelay && !finQueued && !seqLt(s, sock.sndMax)) return false;
  }
  let flags = TcpFlag.ACK;
  if (lastData) flags |= TcpFlag.PSH;
  if (finQueued && seqAdd(s, len) === sock.finSeq) flags |= TcpFlag.FIN;
  emit(sock, em, flags, s, off, len, now);
  if (seqLt(s, sock.sndMax)) sock.counters.retransmitted++;
  advance(sock, s, len + (flags & TcpFlag.FIN ? 1 : 0), now);
  return true;
}

function advance(sock: TcpSocket, s: number, n: number, now: number): void {
  const next = seqAdd(s, n);
  if (seqGt(next, sock.sndMax)) {
    // Karn timing of new data when timestamps are off (RFC 6298 3).
    if (!sock.tsEnabled && sock.rtt.timedSeq < 0) {
      sock.rtt.timedSeq = s;
      sock.rtt.timedAt = now;
    }
    sock.sndMax = next;
  }
  sock.sndNxt = next;
  sock.lastSendAt = now;
  if (sock.timer.kind !== 'retransmit' && sock.timer.kind !== 'tail-loss-probe') armLossTimer(sock, now);
}

/** Writes one segment into em.tx and emits it; every segment after the SYN carries an ACK. */
export function emit(
  sock: TcpSocket,
  em: TcpEmitter,
  flags: number,
  seq: number,
  payloadOff: number,
  payloadLen: number,
  now: number,
  probe = false,
): void {
  const t = em.tx.reset();
  t.srcPort = sock.localPort;
  t.dstPort = sock.remotePort;
  t.seq = seq;
  t.flags = flags;
  t.ack = flags & TcpFlag.ACK ? sock.rcvNxt : 0;
  const wnd = sock.rcvWnd;
  if (flags & TcpFlag.SYN) {
    t.window = Math.min(wnd, 0xffff);
    t.mss = sock.ourMss;
    if (
      sock.cfg.windowScaling &&
      (sock.state === 'syn-sent' || sock.rcvWndShift > 0 || sock.sndWndShift > 0)
    ) {
      t.windowScale = sock.rcvWndShift;
    }
    if (sock.state === 'syn-sent') {
      t.sackPermitted = sock.cfg.sack;
      t.tsPresent = sock.cfg.timestamps;
    } else {
      t.sackPermitted = sock.sackEnabled;
      t.tsPresent = sock.tsEnabled;
    }
    if (t.tsPresent) {
      t.tsVal = sock.tsNow(now);
      t.tsEcr = sock.state === 'syn-sent' ? 0 : sock.tsRecent;
    }
  } else {
    // The shift is at most 14 (RFC 7323 2.3); `2 ** shift` with a variable compiles to a pow() call.
    const scale = 1 << sock.rcvWndShift;
    const field = Math.min(Math.floor(wnd / scale), 0xffff);
    t.window = field;
    const right = seqAdd(sock.rcvNxt, field * scale);
    if (seqGt(right, sock.rcvAdvRight) || sock.rcvAdvRight === 0) sock.rcvAdvRight = right;
    if (sock.tsEnabled) {
      t.tsPresent = true;
      t.tsVal = sock.tsNow(now);
      t.tsEcr = sock.tsRecent;
    }
    if (sock.sackEnabled && flags & TcpFlag.ACK && (sock.dsackPending || !sock.assembler.isEmpty())) {
      const max = sock.tsEnabled ? MAX_SACK_BLOCKS - 1 : MAX_SACK_BLOCKS;
      // RFC 2883: a D-SACK block goes first, once.
      const d = sock.dsackPending ? 1 : 0;
      const n = sock.assembler.sackBlocks(t.sackLeft, t.sackRight, max);
      for (let i = Math.min(n, max - d) - 1; i >= 0; i--) {
        t.sackLeft[i + d] = sock.streamToSeq(t.sackLeft[i]);
        t.sackRight[i + d] = sock.streamToSeq(t.sackRight[i]);
      }
      if (d) {
        t.sackLeft[0] = sock.dsackLeft;
        t.sackRight[0] = sock.dsackRight;
        sock.dsackPending = false;
      }
      t.sackCount = Math.min(n, max - d) + d;
    }
  }
  if (flags & TcpFlag.SYN) sock.rcvAdvRight = seqAdd(sock.rcvNxt, t.window);
  if (flags & TcpFlag.ACK && !probe) {
    sock.lastAckSent = sock.rcvNxt;
    sock.ackState = TcpSocket.ACK_NONE;
    sock.segsUnacked = 0;
    clearTimer(sock.ackTimer);
  }
  em.emitTcp(sock, payloadOff, payloadLen);
}

/** 6. The connection timer when nothing else holds it. */
function armTimers(sock: TcpSocket, now: number): void {
  const outstanding = sock.sndMax !== sock.sndUna;
  const k = sock.timer.kind;
  if (outstanding) {
    if (k !== 'retransmit' && k !== 'tail-loss-probe') armLossTimer(sock, now);
    return;
  }
  if (k === 'retransmit' || k === 'tail-loss-probe') clearTimer(sock.timer);
  const hasData = sock.sendBuf.length > 0;
  if (sock.sndWnd === 0 && hasData) {
    if (sock.timer.kind !== 'zero-window-probe')
      armTimer(sock.timer, 'zero-window-probe', now + sock.rtt.rto);
    return;
  }
  if (sock.timer.kind === 'zero-window-probe') clearTimer(sock.timer);
  if (sock.keepAlive && (sock.state === 'established' || sock.state === 'close-wait')) {
    if (sock.timer.kind === 'idle') armTimer(sock.timer, 'keepalive', sock.lastRecvAt + sock.keepaliveIdleMs);
  } else if (sock.timer.kind === 'keepalive') {
    clearTimer(sock.timer);
  }
}
