// SPDX-License-Identifier: Apache-2.0
// SEGMENT ARRIVES (RFC 9293 3.10.7): what one incoming segment does to a connection, in the RFC's order of
// checks (sequence acceptability, RST, SYN, ACK, text, FIN), with RFC 5961 challenge ACKs, RFC 7323 PAWS and
// RFC 6191 TIME-WAIT reuse. socket.ts holds the state and the user calls; output.ts sends what this decides.
// Functions take the socket (as recovery.ts does): its fields are the state, changed only via setState().
import { TcpFlag, type TcpSegment } from '../wire/tcp.js';
import { onDupAck, onNewAck } from './recovery.js';
import { seqAdd, seqDiff, seqGt, seqInRange, seqLe, seqLt } from './seq.js';
import { TcpEvent, TcpSocket } from './socket.js';
import { armTimer, clearTimer } from './timers.js';

/**
 * Processes one segment addressed to sock's connection. Returns 'reopen' when a SYN may start a new
 * connection on this 4-tuple (TIME-WAIT assassination avoided per RFC 6191), otherwise undefined.
 */
export function segmentArrives(sock: TcpSocket, seg: TcpSegment, now: number): 'reopen' | undefined {
  const f = seg.flags;
  switch (sock.state) {
    case 'closed':
    case 'listen':
      return undefined; // not in the connection table; the interface answers with RST
    case 'syn-sent':
      processSynSent(sock, seg, now);
      return undefined;
    case 'time-wait':
      // RFC 6191: a new SYN with a higher timestamp (or sequence number) may reuse the 4-tuple.
      if (f & TcpFlag.SYN && !(f & TcpFlag.ACK) && !(f & TcpFlag.RST)) {
        const newer =
          sock.tsEnabled && seg.tsPresent ? seqGt(seg.tsVal, sock.tsRecent) : seqGt(seg.seq, sock.rcvNxt);
        if (newer) {
          sock.setState('closed');
          return 'reopen';
        }
      }
      break;
    default:
      break;
  }
  sock.lastRecvAt = now;
  sock.probes = 0;

  // SYN-RECEIVED: a retransmitted SYN means our SYN-ACK was lost; send it again.
  if (sock.state === 'syn-received' && f & TcpFlag.SYN && !(f & TcpFlag.ACK) && seg.seq === sock.irs) {
    sock.sndNxt = sock.iss;
    sock.host.markDirty(sock);
    return undefined;
  }

  // RFC 7323 5.3 PAWS: an old timestamp marks an old duplicate.
  if (sock.tsEnabled && seg.tsPresent && !(f & TcpFlag.RST) && seqLt(seg.tsVal, sock.tsRecent)) {
    sock.ackNow();
    return undefined;
  }

  // first: sequence number acceptability (RFC 9293 3.10.7.4 table).
  const segLen = seg.segLen;
  const wnd = sock.rcvWnd;
  let acceptable: boolean;
  if (segLen === 0) {
    acceptable =
      wnd === 0 ? seg.seq === sock.rcvNxt : seqInRange(seg.seq, sock.rcvNxt, seqAdd(sock.rcvNxt, wnd));
  } else {
    acceptable =
      wnd > 0 &&
      (seqInRange(seg.seq, sock.rcvNxt, seqAdd(sock.rcvNxt, wnd)) ||
        seqInRange(seqAdd(seg.seq, segLen - 1), sock.rcvNxt, seqAdd(sock.rcvNxt, wnd)));
  }
  let ackOnly = false;
  if (!acceptable) {
    if (f & TcpFlag.RST) return undefined;
    sock.ackNow();
    // TIME-WAIT: a retransmitted FIN (necessarily below RCV.NXT) is ACKed and restarts the 2*MSL timeout.
    if (sock.state === 'time-wait' && f & TcpFlag.FIN) {
      enterTimeWait(sock, now);
      sock.host.schedule(sock, sock.deadline());
      return undefined;
    }
    // RFC 2883: a duplicate segment is reported as a D-SACK block so the sender can undo (Eifel-like).
    if (seg.payloadLen > 0 && seqLe(seqAdd(seg.seq, seg.payloadLen), sock.rcvNxt)) {
      reportDsack(sock, seg.seq, seqAdd(seg.seq, seg.payloadLen));
    }
    // "special allowance should be made to accept valid ACKs" when our window is zero.
    if (!(wnd === 0 && seg.seq === sock.rcvNxt && f & TcpFlag.ACK)) return undefined;
    ackOnly = true;
  }

  // second: RST (RFC 5961 3.2: only an exact RCV.NXT match resets, others get a challenge ACK).
  if (f & TcpFlag.RST) {
    if (seg.seq !== sock.rcvNxt) {
      sock.challengeAck(now);
      return undefined;
    }
    onReset(sock);
    return undefined;
  }

  // RFC 9293 3.10.7.4 "timestamps": update TS.Recent for segments at or before the last ACK we sent.
  if (sock.tsEnabled && seg.tsPresent && seqLe(seg.seq, sock.lastAckSent)) sock.tsRecent = seg.tsVal;

  // fourth: SYN in a synchronized state (RFC 5961 4.2): challenge ACK, drop.
  if (f & TcpFlag.SYN) {
    sock.challengeAck(now);
    return undefined;
  }

  // fifth: the ACK field.
  if (!(f & TcpFlag.ACK)) return undefined;
  if (!processAck(sock, seg, now)) return undefined;
  if (ackOnly || sock.isClosed()) return undefined;

  // seventh: segment text.
  if (seg.payloadLen > 0) processData(sock, seg);

  // eighth: FIN, only once everything before it has arrived.
  if (f & TcpFlag.FIN && seqAdd(seg.seq, seg.payloadLen) === sock.rcvNxt) processFin(sock, now);
  afterInput(sock, now);
  return undefined;
}

/** RFC 9293 3.10.7.3: SYN-SENT. */
function processSynSent(sock: TcpSocket, seg: TcpSegment, now: number): void {
  const f = seg.flags;
  if (f & TcpFlag.ACK) {
    // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless RST) and discard."
    if (seqLe(seg.ack, sock.iss) || seqGt(seg.ack, sock.sndMax)) {
      if (!(f & TcpFlag.RST)) sock.host.sendRstFor(sock, seg);
      return;
    }
  }
  if (f & TcpFlag.RST) {
    // Only a RST acknowledging our SYN is believed (RFC 5961 3.2 for SYN-SENT).
    if (f & TcpFlag.ACK) sock.fail('ECONNREFUSED');
    return;
  }
  if (!(f & TcpFlag.SYN)) return;
  sock.synReceived(seg, now);
  if (f & TcpFlag.ACK) {
    // Our SYN is acknowledged: ESTABLISHED, and ACK their SYN.
    sock.sndUna = seg.ack;
    if (seqLt(sock.sndNxt, sock.sndUna)) sock.sndNxt = sock.sndUna;
    if (sock.tsEnabled && seg.tsEcr !== 0) sock.rtt.sample((sock.tsNow(now) - seg.tsEcr) >>> 0);
    else if (sock.retransmits === 0) sock.rtt.sample(now - sock.lastSendAt);
    sock.rtt.resetBackoff();
    sock.retransmits = 0;
    clearTimer(sock.timer);
    sock.setState('established');
    sock.emit(TcpEvent.Connected | TcpEvent.Writable);
    sock.ackNow();
    if (sock.closePending) {
      sock.closePending = false;
      sock.close();
    }
    afterInput(sock, now);
  } else {
    // Simultaneous open: SYN-RECEIVED, resend our SYN as a SYN-ACK.
    sock.sndNxt = sock.iss;
    sock.setState('syn-received');
    sock.host.markDirty(sock);
  }
}

/** RST with an exact sequence match (RFC 9293 3.10.7.4 "second", RFC 5961 3.2). */
function onReset(sock: TcpSocket): void {
  switch (sock.state) {
    case 'syn-received':
      // Passive open: "return to LISTEN" means the half-open connection disappears silently.
      if (sock.listener) sock.setState('closed');
      else sock.fail('ECONNREFUSED');
      return;
    case 'established':
    case 'fin-wait-1':
    case 'fin-wait-2':
    case 'close-wait':
      sock.fail('ECONNRESET');
      return;
    case 'closing':
    case 'last-ack':
    case 'time-wait':
      sock.setState('closed');
      return;
    case 'closed':
    case 'listen':
    case 'syn-sent':
      return;
    default: {
      const never: never = sock.state;
      throw new Error(`unhandled state ${never}`);
    }
  }
}

/** RFC 9293 3.10.7.4 "fifth". Returns false when the segment must be dropped. */
function processAck(sock: TcpSocket, seg: TcpSegment, now: number): boolean {
  const ack = seg.ack;
  if (sock.state === 'syn-received') {
    // "If SND.UNA < SEG.ACK =< SND.NXT, enter ESTABLISHED", else reset.
    if (!(seqGt(ack, sock.sndUna) && seqLe(ack, sock.sndMax))) {
      sock.host.sendRstFor(sock, seg);
      return false;
    }
    sock.sndUna = ack;
    if (seqLt(sock.sndNxt, ack)) sock.sndNxt = ack;
    updateWindow(sock, seg, true);
    if (sock.tsEnabled && seg.tsEcr !== 0) sock.rtt.sample((sock.tsNow(now) - seg.tsEcr) >>> 0);
    sock.rtt.resetBackoff();
    sock.retransmits = 0;
    clearTimer(sock.timer);
    sock.setState('established');
    sock.host.established(sock);
    sock.emit(TcpEvent.Connected | TcpEvent.Writable);
    if (sock.closePending) {
      sock.closePending = false;
      sock.close();
    }
    return true;
  }
  // RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
  if (seqGt(ack, sock.sndMax)) {
    sock.ackNow(); // acknowledges something not yet sent
    return false;
  }
  if (seqLt(ack, seqAdd(sock.sndUna, -sock.maxSndWnd))) {
    sock.challengeAck(now);
    return false;
  }
  const flight = seqDiff(sock.sndMax, sock.sndUna);
  const ackAdvanced = seqGt(ack, sock.sndUna);
  if (ackAdvanced) {
    onNewAck(sock, seg, now);
  } else if (ack === sock.sndUna) {
    // RFC 5681 2 "duplicate acknowledgment" (window-unchanged check relaxed when SACK blocks came along).
    const wndField = seg.window << sock.sndWndShift;
    if (flight > 0 && seg.payloadLen === 0 && !(seg.flags & TcpFlag.FIN)) {
      if (wndField === sock.sndWnd || seg.sackCount > 0) onDupAck(sock, seg, now);
    }
  }
  updateWindow(sock, seg, ackAdvanced);

  switch (sock.state) {
    case 'fin-wait-1':
      if (finAcked(sock)) {
        sock.setState('fin-wait-2');
        // Only an orphaned socket gives up on FIN-WAIT-2 (as Linux): a half-closed one may still be reading.
        if (sock.orphaned) armTimer(sock.timer, 'fin-wait-2', now + sock.cfg.finWait2TimeoutMs);
      }
      break;
    case 'closing':
      if (finAcked(sock)) enterTimeWait(sock, now);
      break;
    case 'last-ack':
      if (finAcked(sock)) {
        sock.setState('closed');
        return false;
      }
      break;
    case 'time-wait':
      // Only a retransmitted FIN arrives here: ACK it and restart the 2*MSL timeout.
      if (seg.flags & TcpFlag.FIN) {
        sock.ackNow();
        enterTimeWait(sock, now);
      }
      return false;
    default:
      break;
  }
  return true;
}

function finAcked(sock: TcpSocket): boolean {
  return seqGt(sock.sndUna, sock.finSeq);
}

/**
 * RFC 9293 3.10.7.4 SND.WND update, with Linux's tcp_may_update_window() rule: also take the window from
 * any segment whose ACK advanced SND.UNA. The RFC test (SND.WL1 < SEG.SEQ ...) ignores a retransmitted
 * segment (older SEQ) carrying a newer ACK; keeping the older, larger window then puts our right edge
 * SND.UNA + SND.WND beyond the receiver's, and once its window is zero neither side's segments are
 * acceptable to the other (found by the simulator stress run).
 */
function updateWindow(sock: TcpSocket, seg: TcpSegment, ackAdvanced: boolean): void {
  if (seqLt(seg.ack, sock.sndUna)) return;
  if (
    ackAdvanced ||
    seqLt(sock.sndWl1, seg.seq) ||
    (sock.sndWl1 === seg.seq && seqLe(sock.sndWl2, seg.ack))
  ) {
    const wasZero = sock.sndWnd === 0;
    sock.sndWnd = seg.window << sock.sndWndShift;
    if (sock.sndWnd > sock.maxSndWnd) sock.maxSndWnd = sock.sndWnd;
    sock.sndWl1 = seg.seq;
    sock.sndWl2 = seg.ack;
    if (wasZero && sock.sndWnd > 0) {
      if (sock.timer.kind === 'zero-window-probe') clearTimer(sock.timer);
      sock.host.markDirty(sock);
    }
  }
}

/** Queues a D-SACK block [left, right) for the next ACK (only with SACK negotiated). */
function reportDsack(sock: TcpSocket, left: number, right: number): void {
  if (!sock.sackEnabled) return;
  sock.dsackPending = true;
  sock.dsackLeft = left;
  sock.dsackRight = right;
}

/** RFC 9293 3.10.7.4 "seventh": place text in the receive buffer, in order or out of order. */
function processData(sock: TcpSocket, seg: TcpSegment): void {
  switch (sock.state) {
    case 'established':
    case 'fin-wait-1':
    case 'fin-wait-2':
      break;
    default:
      return; // after the peer's FIN no text is accepted
  }
  let off = seqDiff(seg.seq, sock.rcvNxt);
  let src = seg.payloadOffset;
  let n = seg.payloadLen;
  if (off < 0) {
    reportDsack(sock, seg.seq, sock.rcvNxt); // RFC 2883 4.1.2: the duplicated part
    src -= off;
    n += off;
    off = 0;
  }
  const free = sock.recvBuf.free;
  if (off + n > free) n = free - off; // trim to the window
  if (n <= 0) {
    sock.ackNow();
    return;
  }
  sock.recvBuf.writeAt(off, seg.buf, src, n);
  if (off === 0) {
    const end = sock.assembler.advance(sock.rcvStream + n);
    const k = end - sock.rcvStream;
    sock.recvBuf.commit(k);
    sock.rcvStream = end;
    sock.rcvNxt = seqAdd(sock.rcvNxt, k);
    sock.emit(TcpEvent.Readable);
    if (k > n) {
      sock.ackNow(); // RFC 5681 4.2: a segment filling a gap is acknowledged immediately
    } else {
      // RFC 5681 4.2: ACK at least every second full-sized segment, otherwise within delayedAckMs.
      if (n >= sock.mss) sock.segsUnacked++;
      if (sock.segsUnacked >= 2) sock.ackNow();
      else if (sock.ackState === TcpSocket.ACK_NONE) sock.ackState = TcpSocket.ACK_DELAYED;
    }
  } else {
    // Out of order: keep it if the assembler has room, and send a duplicate ACK with SACK now.
    sock.assembler.add(sock.rcvStream + off, sock.rcvStream + off + n);
    sock.ackNow();
  }
}

/** RFC 9293 3.10.7.4 "eighth": the peer's FIN. */
function processFin(sock: TcpSocket, now: number): void {
  sock.rcvNxt = seqAdd(sock.rcvNxt, 1);
  sock.rxEnded = true;
  sock.emit(TcpEvent.Readable);
  sock.ackNow();
  switch (sock.state) {
    case 'syn-received':
    case 'established':
      sock.setState('close-wait');
      break;
    case 'fin-wait-1':
      if (finAcked(sock)) enterTimeWait(sock, now);
      else sock.setState('closing');
      break;
    case 'fin-wait-2':
      enterTimeWait(sock, now);
      break;
    case 'close-wait':
    case 'closing':
    case 'last-ack':
      break; // a retransmitted FIN: the ACK is enough
    case 'time-wait':
      enterTimeWait(sock, now);
      break;
    case 'closed':
    case 'listen':
    case 'syn-sent':
      break;
    default: {
      const never: never = sock.state;
      throw new Error(`unhandled state ${never}`);
    }
  }
}

function enterTimeWait(sock: TcpSocket, now: number): void {
  sock.setState('time-wait');
  armTimer(sock.timer, 'time-wait', now + sock.cfg.timeWaitMs);
  sock.sendBuf.release();
}

/** Schedules output and deadlines after an input or a user call. */
function afterInput(sock: TcpSocket, now: number): void {
  if (sock.ackState === TcpSocket.ACK_DELAYED && sock.ackTimer.kind === 'idle') {
    armTimer(sock.ackTimer, 'delayed-ack', now + sock.cfg.delayedAckMs);
  }
  if (sock.ackState !== TcpSocket.ACK_NONE) sock.host.markDirty(sock);
  sock.host.schedule(sock, sock.deadline());
}
