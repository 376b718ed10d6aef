// SPDX-License-Identifier: Apache-2.0
// Loss recovery for one connection: what an ACK does to the send side (RFC 5681, RFC 6582 NewReno, RFC 6675
// SACK-based recovery, RFC 3042 limited transmit, RFC 5827 early retransmit, RFC 3522/4015 Eifel undo of
// recoveries caused by reordering, lost-retransmission detection in the spirit of RFC 8985) and the response
// to a retransmission timeout (RFC 6298). socket.ts calls in here from its ACK processing and its timer;
// output.ts then sends whatever these decisions allow. Functions take the socket: its fields are the state.
import type { TcpSegment } from '../wire/tcp.js';
import { IDLE_RELEASE_MAX } from './config.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
import { TcpEvent, type TcpSocket } from './socket.js';
import { armTimer, clearTimer } from './timers.js';

/** RFC 8985 7.2 floor of the probe timeout, and the ACK delay assumed when only one segment is out. */
const PTO_MIN_MS = 10;

/**
 * Arms the timer for outstanding data: a tail loss probe at PTO = max(2*SRTT, 10 ms) (+ the peer's ACK
 * delay for a single segment) when that comes before the RTO and we are not recovering, else the RTO.
 */
export function armLossTimer(sock: TcpSocket, now: number): void {
  const rto = sock.rtt.rto;
  if (!sock.inRecovery && !sock.tlpDone && sock.rtt.hasSample && sock.synchronized) {
    let pto = Math.max(2 * sock.rtt.srtt, PTO_MIN_MS);
    if (seqDiff(sock.sndMax, sock.sndUna) <= sock.mss) pto += sock.cfg.delayedAckMs;
    if (pto < rto) {
      armTimer(sock.timer, 'tail-loss-probe', now + pto);
      return;
    }
  }
  armTimer(sock.timer, 'retransmit', now + rto);
}

/** Upper bound of the adaptive duplicate-ACK threshold (Linux caps tcp_max_reordering at 300). */
const MAX_REORDER_THRESH = 127;

/** Extra wait before a retransmission counts as lost by time (absorbs reordering and delayed ACKs). */
const REORDER_ALLOWANCE_MS = 4;

/** An ACK advancing SND.UNA: free send buffer, sample RTT, grow cwnd or leave recovery. */
export function onNewAck(sock: TcpSocket, seg: TcpSegment, now: number): void {
  const ack = seg.ack;
  const highSackBefore = sock.scoreboard.highSack;
  const prevUna = sock.sndUna;
  let acked = seqDiff(ack, sock.sndUna);
  // Our FIN occupies one sequence number but no buffer byte.
  const dataAcked = Math.min(acked, sock.sendBuf.length);
  sock.sendBuf.discard(dataAcked);
  if (sock.sendBuf.length === 0) sock.sendBuf.release(IDLE_RELEASE_MAX);
  // RFC 7661: grow cwnd only while it limits us (flight at least half of it), not while app/rwnd-limited.
  const cwndLimited = 2 * seqDiff(sock.sndMax, sock.sndUna) >= sock.cc.cwnd;
  sock.sndUna = ack;
  if (seqLt(sock.sndNxt, ack)) sock.sndNxt = ack;
  if (seqLt(sock.highRxt, ack)) sock.highRxt = ack;
  if (sock.tsEnabled && seg.tsPresent && seg.tsEcr !== 0) {
    // An echo older than our last RTO retransmission comes from a duplicate the peer answered with its
    // old TS.Recent (RFC 7323 4.3): it would measure the RTO itself and pin the RTO at its maximum.
    const sample = (sock.tsNow(now) - seg.tsEcr) >>> 0;
    if (sample < 0x7fffffff && !(sock.counters.rtos > 0 && seqLt(seg.tsEcr, sock.rtoTsVal)))
      sock.rtt.sample(sample);
  } else if (sock.rtt.timedSeq >= 0 && seqGt(ack, sock.rtt.timedSeq)) {
    sock.rtt.sample(now - sock.rtt.timedAt);
    sock.rtt.timedSeq = -1;
  }
  sock.rtt.resetBackoff();
  sock.retransmits = 0;
  sock.scoreboard.advance(ack);
  addSackBlocks(sock, seg);
  if (sock.inRecovery && sock.undoPossible && seqGt(ack, sock.undoSeq)) {
    sock.undoPossible = false;
    if (seg.tsPresent && seqLt(seg.tsEcr, sock.undoTsVal)) {
      // RFC 3522: the echo predates our retransmission, so the original arrived; RFC 4015: restore.
      sock.counters.spuriousRecoveries++;
      sock.inRecovery = false;
      sock.rxtRoundActive = false;
      sock.recoverSeq = ack;
      sock.cc.cwnd = Math.max(sock.cc.cwnd, sock.undoCwnd);
      sock.cc.ssthresh = Math.max(sock.cc.ssthresh, sock.undoSsthresh);
      // How far the original was displaced: up to the highest SACKed byte when it finally arrived.
      let degree = sock.undoDegree;
      if (highSackBefore !== undefined)
        degree = Math.max(degree, Math.ceil(seqDiff(highSackBefore, sock.undoSeq) / sock.mss));
      // 1.5x headroom: one sample of the displacement underestimates the path's worst case.
      sock.reorderThresh = Math.min(
        MAX_REORDER_THRESH,
        Math.max(sock.reorderThresh, Math.ceil(degree * 1.5) + 1),
      );
    }
  }
  if (sock.inRecovery) {
    if (seqGe(ack, sock.recoverSeq)) {
      // RFC 6582 3.2 step 3: full acknowledgment ends recovery.
      sock.inRecovery = false;
      sock.cc.onExitRecovery(seqDiff(sock.sndMax, sock.sndUna));
    } else if (sock.sackEnabled) {
      // Partial ACK: follow the retransmission now at SND.UNA (or end the round if all arrived).
      if (sock.rxtRoundActive && seqGt(ack, sock.rxtRoundSeq)) {
        if (seqLt(ack, sock.highRxt)) sock.rxtRoundSeq = ack;
        else sock.rxtRoundActive = false;
      }
    } else {
      // RFC 6582 3.2 step 3 partial ACK: the next segment is lost too; retransmit it now.
      sock.rxtEnd = seqAdd(ack, sock.mss);
      sock.highRxt = ack;
      sock.fastRetransmitPending = true;
      acked = 0;
    }
  } else if (cwndLimited) {
    // Grow by what this ACK delivered: bytes the receiver had SACKed arrived before. And after an RTO,
    // while the old flight is being repaired (SND.UNA below the recovery point), by at most one SMSS
    // per ACK (RFC 3465 2.3): one cumulative ACK over a whole repaired window must not turn into a
    // line-rate burst right after a congestion signal.
    let delivered = acked - sock.scoreboard.sackedBelow(ack);
    if (seqLt(prevUna, sock.recoverSeq)) delivered = Math.min(delivered, sock.mss);
    sock.cc.onAck(delivered);
  }
  sock.dupAcks = 0;
  sock.limitedTransmits = 0;
  detectLostRetransmit(sock, now);
  // RFC 6298 5.2/5.3: stop the timer when all is acknowledged, else restart it (as a TLP when eligible).
  sock.tlpDone = false;
  if (sock.sndUna === sock.sndMax) {
    if (sock.timer.kind === 'retransmit' || sock.timer.kind === 'tail-loss-probe') clearTimer(sock.timer);
  } else {
    armLossTimer(sock, now);
  }
  if (dataAcked > 0) sock.emit(TcpEvent.Writable);
  sock.host.markDirty(sock);
}

export function onDupAck(sock: TcpSocket, seg: TcpSegment, now: number): void {
  addSackBlocks(sock, seg);
  sock.dupAcks++;
  detectLostRetransmit(sock, now);
  if (!sock.inRecovery) {
    // RFC 5681 3.2 / RFC 6675 5: three duplicates, or enough SACKed above SND.UNA.
    // RFC 5827 early retransmit: with fewer than four segments outstanding and nothing new to send, the
    // threshold drops to outstanding - 1, so a small window's loss does not wait for the RTO.
    // Both are off once the path showed reordering (reorderThresh raised by an Eifel undo).
    let dupThresh = sock.reorderThresh;
    const flight = seqDiff(sock.sndMax, sock.sndUna);
    const segs = Math.ceil(flight / sock.mss);
    if (dupThresh === 3 && segs < 4 && sock.sendBuf.length <= flight) dupThresh = Math.max(1, segs - 1);
    // RFC 6675 4 IsLost: more than (DupThresh - 1) * SMSS bytes SACKed above it.
    const sackLoss = sock.sackEnabled && sock.scoreboard.sacked > (dupThresh - 1) * sock.mss;
    // RFC 6582 3.2 step 1: only for a new loss episode, i.e. once SND.UNA has passed "recover".
    if ((sock.dupAcks >= dupThresh || sackLoss) && seqGe(sock.sndUna, sock.recoverSeq))
      enterRecovery(sock, now);
  }
  sock.host.markDirty(sock);
}

function enterRecovery(sock: TcpSocket, now: number): void {
  sock.counters.recoveries++;
  sock.undoPossible = sock.tsEnabled;
  sock.undoCwnd = sock.cc.cwnd;
  sock.undoSsthresh = sock.cc.ssthresh;
  sock.undoTsVal = sock.tsNow(now);
  sock.undoSeq = sock.sndUna;
  // How far the reordering reached, in segments, if this turns out to be spurious.
  sock.undoDegree = Math.max(sock.dupAcks, Math.ceil(sock.scoreboard.sacked / sock.mss));
  sock.inRecovery = true;
  sock.rxtRoundActive = false;
  sock.recoverSeq = sock.sndMax;
  sock.highRxt = sock.sndUna;
  sock.rxtEnd = seqAdd(sock.sndUna, sock.mss);
  sock.fastRetransmitPending = true;
  sock.cc.onEnterRecovery(seqDiff(sock.sndMax, sock.sndUna));
}

/** See rxtRoundActive: restart the hole walk from SND.UNA when a retransmission was evidently lost. */
function detectLostRetransmit(sock: TcpSocket, now: number): void {
  if (!sock.inRecovery || !sock.sackEnabled || !sock.rxtRoundActive) return;
  if (!seqLe(sock.sndUna, sock.rxtRoundSeq)) return;
  const high = sock.scoreboard.highSack;
  const bySack = high !== undefined && seqGe(high, seqAdd(sock.rxtRoundMark, 3 * sock.mss));
  const byTime = sock.rtt.hasSample && now - sock.rxtRoundAt > 2 * sock.rtt.srtt + REORDER_ALLOWANCE_MS;
  if (bySack || byTime) {
    sock.counters.lostRetransmits++;
    sock.rxtRoundActive = false;
    sock.highRxt = sock.sndUna;
    sock.fastRetransmitPending = true;
    sock.host.markDirty(sock);
  }
}

function addSackBlocks(sock: TcpSocket, seg: TcpSegment): void {
  if (!sock.sackEnabled) return;
  for (let i = 0; i < seg.sackCount; i++) {
    sock.scoreboard.add(seg.sackLeft[i], seg.sackRight[i], sock.sndUna, sock.sndMax);
  }
}

/** RFC 6298 5.4-5.6 plus RFC 5681 3.1 eq. 4; gives up after the configured number of attempts. */
export function onRetransmitTimeout(sock: TcpSocket, now: number): void {
  sock.retransmits++;
  const limit =
    sock.state === 'syn-sent'
      ? sock.cfg.synRetries
      : sock.state === 'syn-received'
        ? sock.cfg.synAckRetries
        : sock.cfg.maxRetransmits;
  if (sock.retransmits > limit) {
    if (sock.state === 'syn-received' && sock.listener) sock.setState('closed');
    else sock.fail('ETIMEDOUT');
    return;
  }
  sock.rtt.backoff();
  sock.counters.rtos++;
  sock.rtoTsVal = sock.tsNow(now);
  const flight = seqDiff(sock.sndMax, sock.sndUna);
  if (sock.synchronized) sock.cc.onRetransmitTimeout(flight);
  sock.inRecovery = false;
  sock.rxtRoundActive = false;
  sock.fastRetransmitPending = false;
  sock.recoverSeq = sock.sndMax;
  sock.dupAcks = 0;
  // The scoreboard is kept (RFC 6675 5.1): go-back-N skips what the receiver already holds. Our receiver
  // never reneges; a peer that did would still be repaired by the next RTO, since SND.UNA cannot pass a hole.
  // Go back N: resend from the oldest unacknowledged byte (or the SYN).
  sock.sndNxt = sock.sndUna;
  sock.highRxt = sock.sndUna;
  armTimer(sock.timer, sock.state === 'syn-received' ? 'syn-received' : 'retransmit', now + sock.rtt.rto);
}
